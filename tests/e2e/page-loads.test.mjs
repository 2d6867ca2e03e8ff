// End-to-end slice: the demo page, served with the npm package as an app would import it, loads
// the wasm module in real headless Chromium and reaches the Worker running in workerd.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium } from '../support/browser.mjs';
import { startStack } from '../support/stack.mjs';

let stack;
let chromium;

before(async () => {
  stack = await startStack();
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await stack?.stop();
});

test('the demo page loads the wasm module and is ready to upload', async () => {
  const page = await chromium.context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${stack.page.url}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  const status = await page.textContent('#runtime-status');
  assert.match(status, /Ready/);
  // The wasm module really was fetched and instantiated, with the right MIME type.
  const wasm = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.wasm')).length,
  );
  assert.equal(wasm, 1, 'exactly one .wasm module was loaded');
  assert.deepEqual(errors, []);
  await page.close();
});
