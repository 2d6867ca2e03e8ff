// The 1 GiB case of the end-to-end suite: `make e2e-large` runs it (E2E_LARGE=1 node --test
// tests/e2e/large-upload.e2e.mjs). Its name does not end in `.test.mjs`, so `make test`'s glob
// leaves it out: selection is by name, not by a skip. Same story as the first test of
// upload.test.mjs, with a file 4× larger (E2E_LARGE_MIB overrides the size, e.g. for 4 GiB).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchChromium } from '../support/browser.mjs';
import { startStack } from '../support/stack.mjs';
import { MiB, openDemo, tempDir, uploadThroughPage, writeTestFile } from './helpers.mjs';

const SIZE_MIB = Number(process.env.E2E_LARGE_MIB) || 1024;

let stack;
let browser;
let files;

before(async () => {
  assert.equal(process.env.E2E_LARGE, '1', 'run through `make e2e-large` (sets E2E_LARGE=1)');
  files = tempDir();
  stack = await startStack();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  files?.remove();
});

test(`a ${SIZE_MIB} MiB file goes through the page intact, each chunk PUT once, and shows as ready`, async () => {
  const file = await writeTestFile(files.dir, 'one-gibibyte.mp4', SIZE_MIB * MiB);
  const { page, problems } = await openDemo(browser.context, stack);
  await uploadThroughPage({ page, stack, file, screenshotPrefix: 'large' });
  assert.deepEqual(problems, []);
});
