// The package's one-off asset calls in Node (uploadUrl, waitUntilReady, getAsset, listAssets,
// deleteAsset): what each settles with, a server error retried as the core decides, and aborts.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, getJson, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
const SOURCE = 'https://media.example.com/clip.mp4';
let emulator;
let pkg;

before(async () => {
  // `record`: URL assets are accepted without the emulator fetching anything.
  emulator = await startEmulator({ args: ['--url-mode', 'record'] });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

const setFaults = (faults) =>
  getJson(`${emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });

const newUploader = (extra = {}) =>
  new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, ...extra });

test('uploadUrl, waitUntilReady, getAsset, listAssets and deleteAsset settle with what the API says', async () => {
  await setFaults({ processing_ms: 700 });
  const uploader = newUploader();
  const created = await uploader.uploadUrl(SOURCE, { filename: 'clip.mp4' });
  assert.equal(created.status === 'ready', false, `a fresh URL asset is not ready yet: ${created.status}`);
  const ready = await uploader.waitUntilReady(created.id);
  assert.equal(ready.id, created.id);
  assert.equal(ready.status, 'ready');
  assert.equal((await uploader.getAsset(created.id)).status, 'ready');
  const page = await uploader.listAssets({ page: 1, pageLimit: 50 });
  assert.ok(page.data.some((asset) => asset.id === created.id), 'the list holds the new asset');
  assert.equal(await uploader.deleteAsset(created.id), undefined);
  await assert.rejects(uploader.getAsset(created.id), (error) => error.code === 'not_found' && error.status === 404);

  const waited = await uploader.uploadUrl(SOURCE, { waitUntilReady: true });
  assert.equal(waited.status, 'ready', 'uploadUrl with waitUntilReady resolves with the ready asset');
});

test('server errors are retried as the core decides, and the call still resolves', async () => {
  await setFaults({ processing_ms: 0 });
  const uploader = newUploader({ retry: { baseDelayMs: 10, maxDelayMs: 20 } });
  const created = await uploader.uploadUrl(SOURCE);
  await setFaults({ api_fail_next: 2 });
  assert.equal((await uploader.getAsset(created.id)).id, created.id);
  await setFaults({ api_fail_next: 2 });
  assert.ok(Array.isArray((await uploader.listAssets()).data));
  // With one attempt allowed, the same error ends the call.
  await setFaults({ api_fail_next: 1 });
  await assert.rejects(
    newUploader({ retry: { maxAttempts: 1 } }).getAsset(created.id),
    (error) => error.code === 'retries_exhausted' && /HTTP 500/.test(error.message),
  );
});

test('an aborted signal rejects the call, also while waiting for the asset', async () => {
  await setFaults({ processing_ms: 60_000 });
  const uploader = newUploader();
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(uploader.listAssets({ signal: aborted.signal }), (error) => error.code === 'aborted');
  await assert.rejects(uploader.deleteAsset('000000000000000000000000', { signal: aborted.signal }), (error) => error.code === 'aborted');

  const created = await uploader.uploadUrl(SOURCE);
  const controller = new AbortController();
  const waiting = uploader.waitUntilReady(created.id, { signal: controller.signal });
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(waiting, (error) => error.code === 'aborted');

  await assert.rejects(
    uploader.waitUntilReady(created.id, { timeoutMs: 500 }),
    (error) => error.code === 'retries_exhausted' && /not ready in time/.test(error.message),
  );
  await setFaults({ processing_ms: 0 });
});

test('waitUntilReady waits its whole timeoutMs: it gives up only once the time is up, and an asset ready just before then is taken', async () => {
  await setFaults({ processing_ms: 4_000 });
  const uploader = newUploader();
  const created = await uploader.uploadUrl(SOURCE);
  const started = Date.now();
  await assert.rejects(uploader.waitUntilReady(created.id, { timeoutMs: 1_500 }), (error) => error.code === 'retries_exhausted');
  const gaveUpAfterMs = Date.now() - started;
  assert.ok(gaveUpAfterMs >= 1_400, `gave up after ${gaveUpAfterMs} ms of the 1500 ms it had`);
  // Ready about 4 s after its creation: a wait with time to spare gets it, whatever its polls' spacing.
  const ready = await uploader.waitUntilReady(created.id, { timeoutMs: 4_000 });
  assert.equal(ready.status, 'ready');
  await setFaults({ processing_ms: 0 });
});

test('bad arguments reject at once with invalid_input', async () => {
  const uploader = newUploader();
  await assert.rejects(uploader.uploadUrl('ftp://example.com/a.mp4'), (error) => error.code === 'invalid_input');
  await assert.rejects(uploader.waitUntilReady('x', { timeoutMs: 0 }), (error) => error.code === 'invalid_input');
});
