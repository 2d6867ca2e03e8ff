// The page served from an origin the Worker does not allow (not in ALLOWED_ORIGINS): the page
// says so in words, an upload is refused with a clear message and its code, and nothing at all
// reaches the emulator (not even a CORS preflight: the Worker refuses before calling upstream).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium } from '../support/browser.mjs';
import { startStack } from '../support/stack.mjs';
import {
  MiB,
  emulatorStats,
  openDemo,
  productRequests,
  screenshot,
  tempDir,
  waitForPhase,
  writeTestFile,
} from './helpers.mjs';

let stack;
let browser;
let files;

before(async () => {
  files = tempDir();
  stack = await startStack({ allowPageOrigin: false });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  files?.remove();
});

test('a page from an origin outside ALLOWED_ORIGINS is told why, and nothing reaches TwelveLabs', async () => {
  const file = await writeTestFile(files.dir, 'not-allowed.mp4', 6 * MiB);
  const { page, problems } = await openDemo(browser.context, stack);
  const origin = stack.page.url;

  // Before any upload, the page already explains what is wrong and how to fix it.
  const status = page.locator('#runtime-status');
  assert.equal(await status.getAttribute('data-state'), 'error');
  assert.match(await status.innerText(), /does not accept uploads from this page/);
  assert.ok((await status.innerText()).includes(origin), 'the message names the refused origin');
  assert.match(await status.innerText(), /ALLOWED_ORIGINS/);

  await page.setInputFiles('#file-input', file.path);
  const row = await waitForPhase(page, 'not-allowed.mp4', ['failed', 'ready', 'aborted']);
  assert.equal(await row.getAttribute('data-phase'), 'failed');
  assert.equal(await row.getAttribute('data-error-code'), 'forbidden');
  const message = await row.locator('.error').innerText();
  assert.match(message, /does not accept requests from this page/);
  assert.match(message, /Nothing was uploaded/);
  assert.match(message, /forbidden/, 'the code is shown for support');
  await screenshot(page, 'origin-refused');

  const stats = await emulatorStats(stack.emulator);
  assert.deepEqual(productRequests(stats), [], 'no request reached the emulator');
  assert.deepEqual(stats.chunk_puts, {});
  // Chromium logs each refused request ("… has been blocked by CORS policy …"): that is the
  // refusal this test provokes. Anything else would be a problem of the page.
  assert.deepEqual(
    problems.filter((p) => !p.includes('has been blocked by CORS policy')),
    [],
  );
});
