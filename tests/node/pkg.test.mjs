// The npm package in Node ≥ 20: imported through its `node` export condition (the .wasm is
// loaded from disk), uploading a Blob to the emulator with fetch/Blob from the runtime.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, getJson, seededBytes, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
let emulator;
let pkg;

// 1 MiB chunks (the emulator's default is 5 MiB): a few MiB make many chunks.
const CHUNK_BYTES = 1024 * 1024;

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(CHUNK_BYTES)] });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

test('package.json describes an ES module with types and a Node entry', () => {
  const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'twelvelabs-edge-upload');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.exports['.'].node, './node.js');
  assert.ok(manifest.files.includes('twelvelabs_edge_upload_bg.wasm'));
  const cargoVersion = readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"/m)[1];
  assert.equal(manifest.version, cargoVersion);
  assert.equal(pkg.version(), cargoVersion);
});

test('uploads a 12 MiB Blob intact from Node', async () => {
  const bytes = seededBytes(12 * 1024 * 1024, 42);
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey });
  const progress = [];
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
    filename: 'node.mp4',
    onProgress: (p) => progress.push(p.acknowledgedBytes),
  });
  const asset = await handle.done;
  const stored = await getJson(`${emulator.url}/_emulator/assets/${asset.id}/sha256`);
  assert.equal(stored.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes backwards');
  assert.equal(handle.progress.acknowledgedBytes, bytes.length);
});

test('with progressIntervalMs: 0 every acknowledged chunk is reported in order', async () => {
  // Regression: the engine's throttle once answered "emit now" to callers that ignored the
  // answer, so due events were lost and only the final one arrived.
  const bytes = seededBytes(10 * CHUNK_BYTES + 4321, 43);
  const totalChunks = Math.ceil(bytes.length / CHUNK_BYTES);
  const uploader = new pkg.Uploader({
    endpoint: emulator.url,
    apiKey: emulator.apiKey,
    progressIntervalMs: 0,
    concurrency: 2,
  });
  const events = [];
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
    filename: 'every-step.mp4',
    onProgress: (p) => events.push(p),
  });
  await handle.done;
  assert.ok(events.length > 2, `only ${events.length} progress events for ${totalChunks} chunks`);
  for (const key of ['sentBytes', 'acknowledgedBytes', 'reportedBytes', 'acknowledgedChunks', 'reportedChunks']) {
    const values = events.map((p) => p[key]);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), `${key} never goes backwards`);
  }
  // Every acknowledgement is its own input to the engine, and none is throttled away.
  const seen = new Set(events.map((p) => p.acknowledgedChunks));
  for (let chunks = 1; chunks <= totalChunks; chunks++) {
    assert.ok(seen.has(chunks), `no event with ${chunks} acknowledged chunks: ${[...seen]}`);
  }
  assert.equal(events.at(-1).acknowledgedBytes, bytes.length);
});

test('forget() where nothing is saved (Node) still settles only once an aborted upload\'s asset deletion is over', async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // Every DELETE takes 2 s to be sent: a slow answer.
  const slowDeletes = (input, init) => (init?.method === 'DELETE' ? sleep(2_000).then(() => fetch(input, init)) : fetch(input, init));
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, concurrency: 1, fetch: slowDeletes });
  const handle = uploader.upload(new Blob([seededBytes(6 * CHUNK_BYTES, 9)], { type: 'video/mp4' }), { filename: 'forget-node.mp4' });
  while (handle.progress.acknowledgedBytes === 0) await sleep(10);
  handle.abort();
  await assert.rejects(handle.done, (error) => error.code === 'aborted');
  await uploader.forget();
  const gone = await fetch(`${emulator.apiUrl}/assets/${handle.assetId}`, { headers: { 'x-api-key': emulator.apiKey } });
  assert.equal(gone.status, 404, `the asset is deleted by the time forget settles (${gone.status})`);
});

test('bad input is a typed UploadError', async () => {
  assert.throws(
    () => new pkg.Uploader({ endpoint: 'ftp://nope', apiKey: 'k' }),
    (error) => error instanceof Error && error.code === 'invalid_input' && error.retryable === false,
  );
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey });
  await assert.rejects(
    uploader.upload(new Blob(['x'], { type: 'text/plain' })).done,
    (error) => error.name === 'UploadError' && error.code === 'unsupported_type',
  );
  await assert.rejects(uploader.getAsset('000000000000000000000000'), (error) => error.code === 'not_found' && error.status === 404);
});

test('attachFile with anything but a File throws invalid_input, and the queue goes on working', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  const queue = new pkg.UploadQueue(uploader);
  const bytes = seededBytes(3 * CHUNK_BYTES, 44);
  const [id] = queue.add(new File([bytes], 'queued.mp4', { type: 'video/mp4' }));
  for (const notAFile of [new Blob([bytes], { type: 'video/mp4' }), null, 'queued.mp4', { name: 'queued.mp4', size: bytes.length }]) {
    assert.throws(
      () => queue.attachFile(id, notAFile),
      (error) => error.name === 'UploadError' && error.code === 'invalid_input' && /File/.test(error.message),
      String(notAFile),
    );
  }
  // The queue still answers, and its file still arrives.
  const done = await new Promise((resolve) => {
    const check = () => {
      const item = queue.getSnapshot().items[0];
      if (['done', 'failed', 'aborted'].includes(item.phase)) resolve(item);
    };
    queue.subscribe(check);
    check();
  });
  assert.equal(done.phase, 'done', JSON.stringify(done));
  const stored = await getJson(`${emulator.url}/_emulator/assets/${done.assetId}/sha256`);
  assert.equal(stored.sha256, createHash('sha256').update(bytes).digest('hex'));
});

test('a refused option is named with what it must be; with several, the first one read', async () => {
  assert.equal((await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' })).status, 204);
  const base = { endpoint: emulator.url, apiKey: emulator.apiKey };
  const refusal = (message) => (error) => {
    assert.equal(error.name, 'UploadError');
    assert.equal(error.code, 'invalid_input');
    if (message instanceof RegExp) assert.match(error.message, message);
    else assert.equal(error.message, message);
    return true;
  };
  const integerFrom = (option) => new RegExp(`^${option.replaceAll('.', '\\.')} must be an integer from \\d+ to \\d+$`);
  for (const [options, message] of [
    [5, 'UploaderOptions must be an object'],
    [{ endpoint: 5, apiKey: 'k' }, 'UploaderOptions.endpoint must be a string'],
    [{ endpoint: 'ftp://x', apiKey: 'k' }, 'UploaderOptions.endpoint must be an http(s) URL'],
    [{ endpoint: emulator.url }, 'UploaderOptions needs exactly one of getToken and apiKey'],
    [{ endpoint: emulator.url, apiKey: '' }, 'UploaderOptions needs exactly one of getToken and apiKey'],
    [{ endpoint: emulator.url, getToken: 'x' }, 'UploaderOptions.getToken must be a function'],
    [{ ...base, concurrency: 0 }, integerFrom('UploaderOptions.concurrency')],
    [{ ...base, concurrency: 1.5, persist: 'no', fetch: 1 }, integerFrom('UploaderOptions.concurrency')],
    [{ ...base, progressIntervalMs: -1 }, integerFrom('UploaderOptions.progressIntervalMs')],
    [{ ...base, retry: 3 }, 'UploaderOptions.retry must be an object'],
    [{ ...base, retry: { baseDelayMs: 10, maxDelayMs: 'x', maxAttempts: 0 } }, integerFrom('UploaderOptions.retry.maxDelayMs')],
    [{ ...base, retry: { maxAttempts: 1 }, stallTimeoutMs: 'x' }, integerFrom('UploaderOptions.stallTimeoutMs')],
    [{ ...base, directUploadMaxBytes: -1 }, integerFrom('UploaderOptions.directUploadMaxBytes')],
    [{ ...base, persist: 'no' }, 'UploaderOptions.persist must be a boolean'],
    [{ ...base, fetch: 1 }, 'UploaderOptions.fetch must be a function'],
    [{ ...base, persistScope: '' }, 'UploaderOptions.persistScope must be a string of 1 to 128 characters'],
    [{ ...base, persistScope: 'u'.repeat(129) }, 'UploaderOptions.persistScope must be a string of 1 to 128 characters'],
    [{ ...base, persistScope: 7 }, 'UploaderOptions.persistScope must be a string of 1 to 128 characters'],
  ]) {
    assert.throws(() => new pkg.Uploader(options), refusal(message), JSON.stringify(options));
  }

  // The longest scope, in characters (not UTF-16 units or bytes), is taken.
  assert.ok(new pkg.Uploader({ ...base, persistScope: '\u{1F600}'.repeat(128) }));

  const uploader = new pkg.Uploader(base);
  const blob = new Blob(['x'], { type: 'video/mp4' });
  for (const [options, message] of [
    [7, 'UploadOptions must be an object'],
    [{ type: 'doc' }, 'UploadOptions.type must be "video", "audio" or "image"'],
    [{ type: 3 }, 'UploadOptions.type must be a string'],
    [{ filename: 1 }, 'UploadOptions.filename must be a string'],
    [{ enableHls: 'yes', enableThumbnail: 1 }, 'UploadOptions.enableHls must be a boolean'],
    [{ userMetadata: 'x' }, 'UploadOptions.userMetadata must be an object'],
    [{ userMetadata: { a: 1, b: {} } }, 'UploadOptions.userMetadata must be an object with string, number or boolean values'],
    [{ signal: {} }, 'UploadOptions.signal must be an AbortSignal'],
    [{ onProgress: 'x' }, 'UploadOptions.onProgress must be a function'],
    [{ waitUntilReady: 1 }, 'UploadOptions.waitUntilReady must be a boolean'],
  ]) {
    await assert.rejects(uploader.upload(blob, options).done, refusal(message), JSON.stringify(options));
  }
  await assert.rejects(uploader.uploadUrl('https://example.com/a.mp4', { filename: [] }), refusal('UrlUploadOptions.filename must be a string'));
  for (const [options, message] of [
    [{ assetTypes: 'video' }, 'ListAssetsOptions.assetTypes must be an array of strings'],
    [{ assetTypes: ['video', 1] }, 'ListAssetsOptions.assetTypes must be an array of strings'],
    [{ assetTypes: ['video', 'doc'], page: 0 }, 'ListAssetsOptions.assetTypes must hold "video", "audio" or "image"'],
    [{ page: 0 }, integerFrom('ListAssetsOptions.page')],
    [{ pageLimit: 1000 }, integerFrom('ListAssetsOptions.pageLimit')],
    [{ assetIds: [1] }, 'ListAssetsOptions.assetIds must be an array of strings'],
    [{ filename: 2 }, 'ListAssetsOptions.filename must be a string'],
    [{ signal: 1 }, 'ListAssetsOptions.signal must be an AbortSignal'],
  ]) {
    await assert.rejects(uploader.listAssets(options), refusal(message), JSON.stringify(options));
  }
  await assert.rejects(uploader.deleteAsset('a', { force: 'yes' }), refusal('DeleteAssetOptions.force must be a boolean'));
  await assert.rejects(uploader.waitUntilReady('a', { timeoutMs: 0 }), refusal(integerFrom('WaitOptions.timeoutMs')));
  await assert.rejects(uploader.waitUntilReady('a', { signal: 'x', timeoutMs: 0 }), refusal('WaitOptions.signal must be an AbortSignal'));

  const queue = new pkg.UploadQueue(uploader);
  assert.throws(() => queue.add(blob, { type: 'doc' }), refusal('QueueAddOptions.type must be "video", "audio" or "image"'));
  assert.throws(
    () => queue.add(blob, { onProgress() {} }),
    refusal('QueueAddOptions cannot have `signal` or `onProgress`: use the queue\'s cancel() and subscribe()'),
  );
  const notFiles = refusal('add() takes a File, a Blob, a FileList or an iterable of them');
  for (const files of [5, 'abc', null, {}, { length: 1, 0: blob }, [blob, 5], new Set([blob, {}])]) {
    assert.throws(() => queue.add(files), notFiles, String(files));
  }
  const failing = (function* files() {
    yield blob;
    throw new Error('no more files');
  })();
  assert.throws(() => queue.add(failing), refusal('no more files'));
  assert.throws(() => queue.pause('nope'), (error) => error.code === 'not_found' && error.message === 'the queue has no item "nope"');
  assert.equal(queue.getSnapshot().items.length, 0);
  // Every refusal came before any request.
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  assert.deepEqual(stats.requests, {});
});
