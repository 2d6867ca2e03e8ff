// The parts of the npm package's API beyond the multipart upload itself, from Node with an API
// key straight against the emulator: direct uploads of small files, `uploadUrl`, `listAssets`,
// `getAsset`, `deleteAsset` and `waitUntilReady`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, getJson, seededBytes, startEmulator, startStatic } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
// Assets stay `processing` this long unless a test changes it through `/_emulator/faults`.
const PROCESSING_MS = 300;
// Long enough that an asset created with it is certainly still processing while a test looks.
const LONG_PROCESSING_MS = 600_000;
const CHUNK_BYTES = 1024 * 1024;
const ROUTE_CREATE_ASSET = 'POST /v1.3/assets';
const ROUTE_CREATE_SESSION = 'POST /v1.3/assets/multipart-uploads';

let emulator;
let pkg;

before(async () => {
  // `--url-mode fetch-loopback` (the default, spelled out because the uploadUrl test needs it):
  // the emulator downloads `method=url` sources from loopback hosts.
  emulator = await startEmulator({
    args: [
      '--chunk-size', String(CHUNK_BYTES),
      '--processing-ms', String(PROCESSING_MS),
      '--url-mode', 'fetch-loopback',
    ],
  });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

function newUploader(extra = {}) {
  return new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, ...extra });
}

async function resetStats() {
  const res = await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });
  assert.equal(res.status, 204);
}

const requestCount = (stats, route) => stats.requests[route] ?? 0;

async function setProcessingMs(ms) {
  const faults = await getJson(`${emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ processing_ms: ms }),
  });
  assert.equal(faults.processing_ms, ms);
}

/** Creates an asset by a direct upload (emulator-side, no package code) and returns its id. */
async function createDirectAsset(bytes, filename, mime) {
  const form = new FormData();
  form.append('method', 'direct');
  form.append('filename', filename);
  form.append('file', new Blob([bytes], { type: mime }), filename);
  const asset = await getJson(`${emulator.apiUrl}/assets`, {
    method: 'POST',
    headers: { 'x-api-key': emulator.apiKey },
    body: form,
  });
  return asset._id;
}

/**
 * A `fetch` for the Uploader that hands every `GET /v1.3/assets/{id}` answer's status to
 * `onAssetStatus` before the package sees the answer.
 */
function observingFetch(onAssetStatus) {
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method === 'GET' && /^\/v1\.3\/assets\/[^/]+$/.test(url.pathname) && response.ok) {
      const body = await response.clone().json();
      await onAssetStatus(body.status);
    }
    return response;
  };
}

test('a file up to directUploadMaxBytes goes as one direct POST /assets', async () => {
  const bytes = seededBytes(300 * 1024 + 17, 7);
  const uploader = newUploader({ directUploadMaxBytes: bytes.length });
  await resetStats();
  const events = [];
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
    filename: 'direct-small.mp4',
    onProgress: (p) => events.push(p),
  });
  for (const method of ['pause', 'resume', 'abort']) {
    assert.equal(typeof handle[method], 'function', `handle.${method}`);
  }
  assert.ok(handle.done instanceof Promise);
  const asset = await handle.done;

  assert.equal(asset.method, 'direct');
  assert.equal(asset.filename, 'direct-small.mp4');
  assert.equal(asset.fileType, 'video/mp4');
  assert.equal(handle.assetId, asset.id);
  assert.equal(handle.uploadId, undefined, 'no multipart session was created');

  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  assert.equal(requestCount(stats, ROUTE_CREATE_ASSET), 1, JSON.stringify(stats.requests));
  assert.equal(requestCount(stats, ROUTE_CREATE_SESSION), 0, JSON.stringify(stats.requests));
  assert.deepEqual(stats.chunk_puts, {}, 'no chunk was PUT to storage');

  assert.ok(events.length >= 2, `${events.length} progress events`);
  for (const key of ['sentBytes', 'acknowledgedBytes', 'reportedBytes']) {
    const values = events.map((p) => p[key]);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), `${key} never goes backwards`);
  }
  for (const p of events) {
    assert.equal(p.totalBytes, bytes.length);
    assert.equal(p.totalChunks, 1);
  }
  const last = events.at(-1);
  assert.equal(last.phase, 'done');
  assert.equal(last.acknowledgedBytes, bytes.length);
  assert.equal(last.reportedBytes, bytes.length);
  assert.equal(last.acknowledgedChunks, 1);
  assert.equal(last.fraction, 1);
  assert.equal(handle.progress.phase, 'done');
  assert.equal(handle.progress.acknowledgedBytes, bytes.length);

  const stored = await getJson(`${emulator.url}/_emulator/assets/${asset.id}/sha256`);
  assert.equal(stored.size, bytes.length);
  assert.equal(stored.sha256, sha256(bytes));
});

test('a file one byte above directUploadMaxBytes goes multipart', async () => {
  const bytes = seededBytes(2 * CHUNK_BYTES + 5, 8);
  const uploader = newUploader({ directUploadMaxBytes: bytes.length - 1 });
  await resetStats();
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), { filename: 'above.mp4' });
  const asset = await handle.done;

  assert.equal(asset.method, 'multipart');
  assert.equal(typeof handle.uploadId, 'string');
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  assert.equal(requestCount(stats, ROUTE_CREATE_SESSION), 1, JSON.stringify(stats.requests));
  assert.equal(requestCount(stats, ROUTE_CREATE_ASSET), 0, JSON.stringify(stats.requests));
  assert.deepEqual(Object.keys(stats.chunk_puts), [handle.uploadId]);
  assert.equal(handle.progress.totalChunks, 3);

  const stored = await getJson(`${emulator.url}/_emulator/assets/${asset.id}/sha256`);
  assert.equal(stored.sha256, sha256(bytes));
});

test('a direct upload with waitUntilReady resolves with the ready asset', async () => {
  const bytes = seededBytes(4096, 9);
  const uploader = newUploader({ directUploadMaxBytes: 1024 * 1024 });
  const asset = await uploader.upload(new Blob([bytes], { type: 'audio/mpeg' }), {
    filename: 'direct-ready.mp3',
    waitUntilReady: true,
  }).done;
  assert.equal(asset.method, 'direct');
  assert.equal(asset.status, 'ready');
  assert.equal(asset.size, bytes.length);
});

test('an empty file is refused at once with invalid_input, direct or multipart, and nothing is sent', async () => {
  for (const directUploadMaxBytes of [0, 1024]) {
    await resetStats();
    const handle = newUploader({ directUploadMaxBytes }).upload(new Blob([], { type: 'video/mp4' }), {
      filename: 'empty.mp4',
    });
    await assert.rejects(
      handle.done,
      (error) => error.code === 'invalid_input' && /empty file/.test(error.message),
    );
    assert.equal(handle.progress.phase, 'failed');
    assert.equal(handle.progress.fraction, 0);
    const stats = await getJson(`${emulator.url}/_emulator/stats`);
    assert.equal(requestCount(stats, ROUTE_CREATE_SESSION), 0, JSON.stringify(stats.requests));
    assert.equal(requestCount(stats, ROUTE_CREATE_ASSET), 0, JSON.stringify(stats.requests));
  }
});

test('uploadUrl with waitUntilReady: the emulator fetches a loopback URL', async () => {
  const bytes = seededBytes(700 * 1024 + 3, 10);
  const server = await startStatic({
    routes: {},
    dynamic: { '/media/clip.mp4': () => ({ type: 'video/mp4', body: Buffer.from(bytes) }) },
  });
  try {
    const uploader = newUploader();
    const asset = await uploader.uploadUrl(`${server.url}/media/clip.mp4`, {
      filename: 'from-url.mp4',
      userMetadata: { source: 'loopback', take: 3 },
      waitUntilReady: true,
    });
    assert.equal(asset.method, 'url');
    assert.equal(asset.status, 'ready');
    assert.equal(asset.filename, 'from-url.mp4');
    assert.equal(asset.size, bytes.length);
    assert.deepEqual(asset.userMetadata, { source: 'loopback', take: 3 });
    const stored = await getJson(`${emulator.url}/_emulator/assets/${asset.id}/sha256`);
    assert.equal(stored.sha256, sha256(bytes));
  } finally {
    await server.stop();
  }
});

test('uploadUrl rejects a URL that is not http(s)', async () => {
  await assert.rejects(
    newUploader().uploadUrl('file:///etc/passwd'),
    (error) => error.name === 'UploadError' && error.code === 'invalid_input',
  );
});

test('listAssets paginates newest first and filters by type and file name', async () => {
  // A marker no other test's file name contains, so the filter isolates these five assets.
  const marker = `lst${Date.now().toString(36)}`;
  const specs = [
    { name: `${marker}-a.mp4`, mime: 'video/mp4', type: 'video' },
    { name: `${marker}-b.mp3`, mime: 'audio/mpeg', type: 'audio' },
    { name: `${marker}-c.png`, mime: 'image/png', type: 'image' },
    { name: `${marker}-d.mp4`, mime: 'video/mp4', type: 'video' },
    { name: `${marker.toUpperCase()}-e.png`, mime: 'image/png', type: 'image' },
  ];
  const ids = [];
  for (const [i, spec] of specs.entries()) {
    ids.push(await createDirectAsset(seededBytes(1000 + i, 20 + i), spec.name, spec.mime));
  }
  const newestFirst = [...ids].reverse();
  const uploader = newUploader();

  const pages = [];
  for (let page = 1; page <= 3; page++) {
    const result = await uploader.listAssets({ page, pageLimit: 2, filename: marker });
    assert.deepEqual(result.pageInfo, { page, limitPerPage: 2, totalPage: 3, totalResults: 5 });
    pages.push(result.data.map((a) => a.id));
  }
  assert.deepEqual(pages, [newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);
  const past = await uploader.listAssets({ page: 4, pageLimit: 2, filename: marker });
  assert.deepEqual(past.data, [], 'a page past the end is empty');

  // The file-name filter is a case-insensitive substring match.
  const upper = await uploader.listAssets({ filename: marker.toUpperCase(), pageLimit: 50 });
  assert.deepEqual(upper.data.map((a) => a.id), newestFirst);
  const one = await uploader.listAssets({ filename: `${marker}-b` });
  assert.deepEqual(one.data.map((a) => a.id), [ids[1]]);
  assert.equal(one.data[0].filename, specs[1].name);

  const images = await uploader.listAssets({ filename: marker, assetTypes: ['image'] });
  assert.deepEqual(images.data.map((a) => a.id), [ids[4], ids[2]]);
  const avs = await uploader.listAssets({ filename: marker, assetTypes: ['video', 'audio'] });
  assert.deepEqual(avs.data.map((a) => a.id), [ids[3], ids[1], ids[0]]);
  assert.equal(avs.pageInfo.totalResults, 3);

  const byId = await uploader.listAssets({ assetIds: [ids[0], ids[2]] });
  assert.deepEqual(byId.data.map((a) => a.id), [ids[2], ids[0]]);

  await assert.rejects(
    uploader.listAssets({ pageLimit: 51 }),
    (error) => error.code === 'invalid_input',
  );
  await assert.rejects(
    uploader.listAssets({ assetTypes: ['document'] }),
    (error) => error.code === 'invalid_input',
  );
});

test('getAsset reads an asset; deleteAsset removes it', async () => {
  const bytes = seededBytes(2048, 30);
  const id = await createDirectAsset(bytes, 'to-delete.mp4', 'video/mp4');
  const uploader = newUploader();
  const asset = await uploader.getAsset(id);
  assert.equal(asset.id, id);
  assert.equal(asset.method, 'direct');
  assert.equal(asset.filename, 'to-delete.mp4');
  assert.equal(asset.fileType, 'video/mp4');
  assert.equal(typeof asset.createdAt, 'string');

  assert.equal(await uploader.deleteAsset(id), undefined);
  await assert.rejects(
    uploader.getAsset(id),
    (error) => error.name === 'UploadError' && error.code === 'not_found' && error.status === 404,
  );
  const listed = await uploader.listAssets({ assetIds: [id] });
  assert.deepEqual(listed.data, []);
  await assert.rejects(uploader.deleteAsset(id), (error) => error.code === 'not_found');
});

test('deleteAsset of an asset in use is a conflict unless forced', async () => {
  const id = await createDirectAsset(seededBytes(512, 31), 'in-use.mp4', 'video/mp4');
  const marked = await fetch(`${emulator.url}/_emulator/assets/${id}/reference`, { method: 'POST' });
  assert.ok(marked.ok, `reference: ${marked.status}`);
  const uploader = newUploader();
  await assert.rejects(
    uploader.deleteAsset(id),
    (error) => error.code === 'conflict' && error.retryable === false && error.status === 409,
  );
  assert.equal((await uploader.getAsset(id)).id, id, 'still there after the conflict');
  await uploader.deleteAsset(id, { force: true });
  await assert.rejects(uploader.getAsset(id), (error) => error.code === 'not_found');
});

test('waitUntilReady polls a processing asset until it is ready', async () => {
  // The asset would stay processing for minutes; once the package has seen it processing, the
  // emulator's clock is moved past that, so the next poll sees it ready.
  await setProcessingMs(LONG_PROCESSING_MS);
  let id;
  try {
    id = await createDirectAsset(seededBytes(1500, 40), 'wait-ready.mp4', 'video/mp4');
  } finally {
    await setProcessingMs(PROCESSING_MS);
  }
  const seen = [];
  const uploader = newUploader({
    fetch: observingFetch(async (status) => {
      seen.push(status);
      if (seen.length === 1) {
        await getJson(`${emulator.url}/_emulator/clock`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ advance_secs: LONG_PROCESSING_MS / 1000 + 1 }),
        });
      }
    }),
  });
  const asset = await uploader.waitUntilReady(id);
  assert.equal(asset.id, id);
  assert.equal(asset.status, 'ready');
  assert.equal(seen[0], 'processing');
  assert.equal(seen.at(-1), 'ready');
});

test('waitUntilReady rejects with aborted when its signal is aborted', async () => {
  await setProcessingMs(LONG_PROCESSING_MS);
  let id;
  try {
    id = await createDirectAsset(seededBytes(1500, 41), 'wait-abort.mp4', 'video/mp4');
  } finally {
    await setProcessingMs(PROCESSING_MS);
  }
  const controller = new AbortController();
  const seen = [];
  const uploader = newUploader({
    fetch: observingFetch((status) => {
      seen.push(status);
      controller.abort(); // after the first poll, while the asset is still processing
    }),
  });
  await assert.rejects(
    uploader.waitUntilReady(id, { signal: controller.signal }),
    (error) => error.name === 'UploadError' && error.code === 'aborted' && error.retryable === false,
  );
  assert.deepEqual(seen, ['processing']);

  const already = AbortSignal.abort();
  await assert.rejects(newUploader().waitUntilReady(id, { signal: already }), (error) => error.code === 'aborted');
});

test('waitUntilReady rejects with asset_failed when processing fails', async () => {
  await setProcessingMs(LONG_PROCESSING_MS);
  let id;
  try {
    id = await createDirectAsset(seededBytes(1500, 42), 'wait-fail.mp4', 'video/mp4');
  } finally {
    await setProcessingMs(PROCESSING_MS);
  }
  const failed = await fetch(`${emulator.url}/_emulator/assets/${id}/fail`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'codec not supported' }),
  });
  assert.ok(failed.ok, `fail: ${failed.status}`);
  await assert.rejects(
    newUploader().waitUntilReady(id),
    (error) => error.code === 'asset_failed' && /codec not supported/.test(error.message),
  );
});
