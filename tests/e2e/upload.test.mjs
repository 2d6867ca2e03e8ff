// End to end through the demo page, in headless Chromium: the page (with the npm package as an
// app imports it) → the Worker in workerd → the emulator. One stack for the file; each test gets
// a fresh browser profile (so no saved uploads leak between tests) and fresh emulator counters.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { launchChromium } from '../support/browser.mjs';
import { startStack } from '../support/stack.mjs';
import {
  MiB,
  NO_FAULTS,
  assetDigest,
  assertEachChunkStoredOnce,
  chunkCount,
  emulatorStats,
  openDemo,
  resetStats,
  screenshot,
  sessionChunks,
  setFaults,
  storagePuts,
  tempDir,
  uploadRow,
  uploadThroughPage,
  waitForPhase,
  waitForStoredFraction,
  writeTestFile,
} from './helpers.mjs';

/** Test 1's file: large enough for ~50 chunks and real concurrency, small enough for CI. */
const MAIN_SIZE = 256 * MiB;


let stack;
let files;
let browser;

before(async () => {
  files = tempDir();
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
  files?.remove();
});

beforeEach(async () => {
  await resetStats(stack.emulator);
  browser = await launchChromium();
});

afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await setFaults(stack.emulator, NO_FAULTS);
});

test('a large file goes through the page intact, each chunk PUT once, and shows as ready', async () => {
  const file = await writeTestFile(files.dir, 'big-video.mp4', MAIN_SIZE);
  const { page, problems } = await openDemo(browser.context, stack);
  assert.match(await page.textContent('#runtime-status'), /^Ready\./);
  // The package's wasm module is loaded once, from the package (import map), not from a CDN.
  const resources = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((entry) => entry.name),
  );
  const wasm = resources.filter((url) => url.endsWith('.wasm'));
  assert.deepEqual(wasm, [`${stack.page.url}/node_modules/twelvelabs-edge-upload/twelvelabs_edge_upload_bg.wasm`]);
  const foreign = resources.filter(
    (url) => !url.startsWith(stack.page.url) && !url.startsWith(stack.worker.url) && !url.startsWith(stack.emulator.url),
  );
  assert.deepEqual(foreign, [], 'nothing is loaded from anywhere else');

  await uploadThroughPage({ page, stack, file, screenshotPrefix: 'upload' });
  assert.match(await page.textContent('#global-label'), /All uploads finished/);
  assert.deepEqual(problems, []);
});

test('with PUT failures, resets, stalls, short-lived single-use URLs and 429s, the upload still completes intact', async () => {
  const file = await writeTestFile(files.dir, 'faulty-network.mp4', 128 * MiB);
  const name = 'faulty-network.mp4';
  const { page, problems } = await openDemo(browser.context, stack);
  // From the start: random 500s, URLs that live 4 s and work once, 429s on the API (the first
  // two calls certainly). Then, as the upload goes on, connection resets and stalls.
  await setFaults(stack.emulator, {
    put_failure_kind: '500',
    put_failure_rate: 0.15,
    put_fail_next: 2,
    url_ttl_secs: 4,
    single_use_urls: true,
    rate_limit_next: 2,
    rate_limit_rate: 0.15,
    retry_after_secs: 1,
    latency_ms: 20,
  });
  await page.setInputFiles('#file-input', file.path);
  await waitForStoredFraction(page, name, 0.25);
  await setFaults(stack.emulator, { put_failure_kind: 'reset', put_fail_next: 2 });
  await waitForStoredFraction(page, name, 0.5);
  await setFaults(stack.emulator, { put_failure_kind: 'stall', put_stall_secs: 1, put_fail_next: 2 });
  await screenshot(page, 'faults-mid-upload');
  const row = await waitForPhase(page, name, ['ready', 'failed', 'aborted']);
  assert.equal(await row.getAttribute('data-phase'), 'ready', await row.innerText());

  const assetId = await row.getAttribute('data-asset-id');
  const uploadId = await row.getAttribute('data-upload-id');
  const digest = await assetDigest(stack.emulator, assetId);
  assert.equal(digest.sha256, file.sha256, 'the emulator holds exactly the bytes of the file');
  const stats = await emulatorStats(stack.emulator);
  const chunks = assertEachChunkStoredOnce(stats, uploadId, chunkCount(file.size));
  const injected = Object.values(chunks).reduce((sum, c) => sum + c.injected_failures, 0);
  assert.ok(injected >= 6, `the faults really happened (${injected} injected PUT failures)`);
  assert.deepEqual(problems, []);
});

test('reloading the page at ~40 % and choosing the file again continues without resending finished chunks', async () => {
  const name = 'reload-me.mp4';
  const file = await writeTestFile(files.dir, name, 128 * MiB);
  // One chunk at a time, each slowed down: when 40 % is confirmed (reports trail the PUTs by
  // their debounce) most of the file is still to be sent.
  await setFaults(stack.emulator, { latency_ms: 150 });
  const first = await openDemo(browser.context, stack);
  await first.page.fill('#opt-concurrency', '1');
  await first.page.setInputFiles('#file-input', file.path);
  await first.page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll('#upload-list li.upload')].find((r) => r.dataset.filename === name);
      return row && Number(row.dataset.reportedBytes) >= 0.4 * Number(row.dataset.totalBytes);
    },
    name,
    { polling: 50 },
  );
  const uploadId = await uploadRow(first.page, name).getAttribute('data-upload-id');
  // What the server had confirmed, and how often each chunk had been PUT, before the reload.
  const confirmedBefore = (await sessionChunks(stack.emulator, uploadId))
    .filter((c) => c.status === 'completed')
    .map((c) => c.index);
  const putsBefore = (await emulatorStats(stack.emulator)).chunk_puts[uploadId];
  assert.ok(confirmedBefore.length >= 0.4 * chunkCount(file.size), 'about 40 % was confirmed before the reload');
  await first.page.reload();
  await first.page.waitForSelector('body[data-ready="true"]');

  // The page lists the interrupted upload and asks for the file again.
  const pending = first.page.locator(`#resume-list li[data-upload-id="${uploadId}"]`);
  await pending.waitFor();
  assert.match(await pending.innerText(), /reload-me\.mp4[\s\S]*Stopped at \d+ %/);
  await screenshot(first.page, 'reload-pending');
  await pending.locator('input.resume-input').setInputFiles(file.path);
  const row = await waitForPhase(first.page, name, ['ready', 'failed', 'aborted']);
  assert.equal(await row.getAttribute('data-phase'), 'ready', await row.innerText());
  assert.equal(await row.getAttribute('data-upload-id'), uploadId, 'the same session was continued');

  const digest = await assetDigest(stack.emulator, await row.getAttribute('data-asset-id'));
  assert.equal(digest.sha256, file.sha256, 'the emulator holds exactly the bytes of the file');
  const stats = await emulatorStats(stack.emulator);
  assert.deepEqual(Object.keys(stats.chunk_puts), [uploadId], 'no second session was started');
  const putsAfter = stats.chunk_puts[uploadId];
  for (const index of confirmedBefore) {
    assert.equal(putsAfter[index].stored, 1, `chunk ${index} (confirmed before the reload) stored once`);
    assert.equal(
      putsAfter[index].attempts,
      putsBefore[index].attempts,
      `chunk ${index} (confirmed before the reload) was not sent again`,
    );
  }
  // Every chunk arrived; the saved record is gone once the upload finished.
  assert.equal(Object.keys(putsAfter).length, chunkCount(file.size));
  await first.page.locator('#resume-section').waitFor({ state: 'hidden' });
  assert.deepEqual(first.problems, []);
});

test('pause holds the upload (nothing reaches storage), resume finishes it; cancel stops it for good', async () => {
  // One chunk at a time, each slowed down: the clicks land while most of the file is still to go.
  await setFaults(stack.emulator, { latency_ms: 100 });
  const paused = await writeTestFile(files.dir, 'pause-me.mp4', 64 * MiB);
  const cancelled = await writeTestFile(files.dir, 'cancel-me.mp4', 64 * MiB);
  const { page, problems } = await openDemo(browser.context, stack);
  await page.fill('#opt-concurrency', '1');

  // Pause at ~20 %: chunks in flight finish, then nothing more is sent until resume.
  await page.setInputFiles('#file-input', paused.path);
  await waitForStoredFraction(page, 'pause-me.mp4', 0.2);
  const row = uploadRow(page, 'pause-me.mp4');
  await row.getByRole('button', { name: 'Pause pause-me.mp4' }).click();
  await waitForPhase(page, 'pause-me.mp4', 'paused');
  const settledPuts = await waitUntilStoragePutsSettle();
  const storedWhilePaused = await row.getAttribute('data-acknowledged-bytes');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(storagePuts(await emulatorStats(stack.emulator)), settledPuts, 'no PUT while paused');
  assert.equal(await row.getAttribute('data-phase'), 'paused');
  assert.equal(await row.getAttribute('data-acknowledged-bytes'), storedWhilePaused);
  assert.ok(Number(storedWhilePaused) < paused.size, 'paused before the end');
  await row.getByRole('button', { name: 'Resume pause-me.mp4' }).click();
  await waitForPhase(page, 'pause-me.mp4', ['ready', 'failed', 'aborted']);
  assert.equal(await row.getAttribute('data-phase'), 'ready', await row.innerText());
  const pausedDigest = await assetDigest(stack.emulator, await row.getAttribute('data-asset-id'));
  assert.equal(pausedDigest.sha256, paused.sha256);
  assertEachChunkStoredOnce(
    await emulatorStats(stack.emulator),
    await row.getAttribute('data-upload-id'),
    chunkCount(paused.size),
  );

  // Cancel at ~20 %: the page says cancelled, the emulator gets nothing more and never
  // assembles the asset, and no unfinished upload is offered after a reload.
  await page.setInputFiles('#file-input', cancelled.path);
  await waitForStoredFraction(page, 'cancel-me.mp4', 0.2);
  const cancelRow = uploadRow(page, 'cancel-me.mp4');
  const cancelUploadId = await cancelRow.getAttribute('data-upload-id');
  await cancelRow.getByRole('button', { name: 'Cancel cancel-me.mp4' }).click();
  await waitForPhase(page, 'cancel-me.mp4', ['aborted', 'failed', 'ready']);
  assert.equal(await cancelRow.getAttribute('data-phase'), 'aborted');
  assert.equal(await cancelRow.getAttribute('data-error-code'), 'aborted');
  assert.match(await cancelRow.locator('.error').innerText(), /Cancelled/);
  const putsAfterCancel = await waitUntilStoragePutsSettle();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(storagePuts(await emulatorStats(stack.emulator)), putsAfterCancel, 'no PUT after cancel');
  const status = await sessionChunks(stack.emulator, cancelUploadId);
  assert.ok(
    status.some((c) => c.status !== 'completed'),
    'the emulator never received the whole file',
  );
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  // The page lists its saved uploads after it is ready; the list is judged once it has.
  await page.waitForFunction(() => document.querySelector('#resume-list')?.dataset.restored === 'true');
  assert.equal(await page.locator('#resume-list li').count(), 0, 'nothing left to resume');
  assert.deepEqual(problems, []);
});

test('two files at once share one concurrency budget and both complete', async () => {
  await setFaults(stack.emulator, { latency_ms: 40 });
  const a = await writeTestFile(files.dir, 'first-of-two.mp4', 64 * MiB);
  const b = await writeTestFile(files.dir, 'second-of-two.mp4', 48 * MiB);
  const { page, problems } = await openDemo(browser.context, stack);
  await page.fill('#opt-concurrency', '3');

  // Chunk PUTs in flight, seen from the browser's network events. A PUT counts from the moment
  // it is sent until its response (or failure) arrives, which is never later than the moment
  // the uploader frees its slot, so the count never exceeds what the uploader had in flight.
  let inFlight = 0;
  let maxInFlight = 0;
  const isChunkPut = (request) => request.method() === 'PUT' && request.url().includes('/_storage/');
  page.on('request', (request) => {
    if (!isChunkPut(request)) return;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
  });
  const settle = (request) => {
    if (isChunkPut(request)) inFlight -= 1;
  };
  page.on('response', (response) => settle(response.request()));
  page.on('requestfailed', settle);

  await page.setInputFiles('#file-input', [a.path, b.path]);
  await page.waitForFunction(() => /2 uploading/.test(document.querySelector('#global-label').textContent));
  for (const file of [a, b]) {
    const name = file.path.split('/').pop();
    const row = await waitForPhase(page, name, ['ready', 'failed', 'aborted']);
    assert.equal(await row.getAttribute('data-phase'), 'ready', await row.innerText());
    const digest = await assetDigest(stack.emulator, await row.getAttribute('data-asset-id'));
    assert.equal(digest.sha256, file.sha256, `${name} arrived intact`);
    assertEachChunkStoredOnce(
      await emulatorStats(stack.emulator),
      await row.getAttribute('data-upload-id'),
      chunkCount(file.size),
    );
  }
  assert.equal(maxInFlight, 3, 'at most 3 chunk PUTs in flight across both files, and the budget was used');
  await screenshot(page, 'two-files-complete');
  assert.deepEqual(problems, []);
});

test('while paused, chunks the server confirms after the pause show as confirmed in the page', async () => {
  // Pausing lets the PUTs in flight finish and still reports acknowledged chunks (engine.rs:
  // "chunks already acknowledged are still reported"), so the page's "confirmed" figure must
  // catch up with what the server confirmed, not stay frozen until resume.
  await setFaults(stack.emulator, { latency_ms: 150 });
  const name = 'confirm-while-paused.mp4';
  const file = await writeTestFile(files.dir, name, 60 * MiB);
  const { page, problems } = await openDemo(browser.context, stack);
  await page.fill('#opt-concurrency', '1');
  await page.setInputFiles('#file-input', file.path);
  await waitForStoredFraction(page, name, 0.35);
  const row = uploadRow(page, name);
  await row.getByRole('button', { name: `Pause ${name}` }).click();
  await waitForPhase(page, name, 'paused');
  const uploadId = await row.getAttribute('data-upload-id');
  // Wait until the server's confirmed chunks stop changing (the last report went through). A
  // quiet window must outlast the engine's report debounce (EngineConfig::report_debounce_ms,
  // 1 s) plus the injected latency, or a report still waiting looks like none to come.
  const confirmed = async () =>
    (await sessionChunks(stack.emulator, uploadId)).filter((c) => c.status === 'completed').length;
  const QUIET_MS = 1_000 + 150 + 500;
  let settled = await confirmed();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const now = await confirmed();
    if (now === settled) break;
    settled = now;
  }
  const chunkSize = 5 * MiB;
  const expected = Math.min(file.size, settled * chunkSize);
  assert.equal(
    Number(await row.getAttribute('data-acknowledged-bytes')),
    expected,
    'every stored chunk was reported while paused',
  );
  // The page hears of those reports within a few progress intervals (200 ms each).
  const shown = await page
    .waitForFunction(
      ({ name, expected }) => {
        const el = [...document.querySelectorAll('#upload-list li.upload')].find((r) => r.dataset.filename === name);
        return Number(el.dataset.reportedBytes) === expected;
      },
      { name, expected },
      { timeout: 5000, polling: 100 },
    )
    .then(() => true, () => false);
  const pageSays = Number(await row.getAttribute('data-reported-bytes'));
  await row.getByRole('button', { name: `Resume ${name}` }).click();
  await waitForPhase(page, name, ['ready', 'failed', 'aborted']);
  assert.ok(
    shown,
    `the server confirmed ${settled} chunks (${expected} bytes) during the pause, but the page's ` +
      `progress still says ${pageSays} bytes confirmed: no progress event after the paused ` +
      'upload\'s report completed',
  );
  assert.deepEqual(problems, []);
});

/**
 * Waits until the emulator's count of storage PUTs stops changing (the PUTs that were in flight
 * have finished), and returns it.
 */
async function waitUntilStoragePutsSettle() {
  let previous = storagePuts(await emulatorStats(stack.emulator));
  for (let i = 0; i < 60; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = storagePuts(await emulatorStats(stack.emulator));
    if (now === previous) return now;
    previous = now;
  }
  throw new Error('storage PUTs kept arriving for 30 s');
}
