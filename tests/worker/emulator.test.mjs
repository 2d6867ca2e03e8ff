// The Worker in workerd against the real emulator: the complete multipart flow (create → PUT
// to the presigned URLs → report → completed → asset ready, SHA-256 equal), ownership of the
// assets it creates, direct and URL uploads, `/dev/grant`, every upstream failure mode through
// the emulator's fault knobs (proved with its request counters), and the request log.
//
// One emulator and one Worker serve the whole file (starting workerd dominates the cost).
// The tests run in order and share them; the last one stops the emulator.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { getJson, startEmulator } from '../support/harness.mjs';
import { callWorker, startWorker } from '../support/worker.mjs';

const KIB = 1024;
const CHUNK_SIZE = 256 * KIB;
const INITIAL_URLS = 2;
/** Short enough that the timeout test stays quick, long enough for a loaded CI machine. */
const UPSTREAM_TIMEOUT_MS = 1500;
const ORIGIN = 'http://127.0.0.1:5173';
const GRANT_SECRET = randomBytes(32).toString('hex');
const TOKEN_SECRET = randomBytes(32).toString('hex');

let emulator;
let worker;
let dataDir;
/** Every token the Worker handed out: none may appear in a log line. */
const issuedTokens = [];
/** Every Worker response: the API key must appear in none. */
const responses = [];
/** Requests this file made to the Worker, per logged route name. */
const requestsPerRoute = {};

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'edge-upload-emulator-data-'));
  emulator = await startEmulator({
    args: [
      '--chunk-size', String(CHUNK_SIZE),
      '--initial-urls', String(INITIAL_URLS),
      '--processing-ms', '50',
      // Accept any https `method=url` source without fetching it (the Worker only lets public
      // https hosts through, which the emulator could not reach offline).
      '--url-mode', 'record',
      '--data-dir', dataDir,
    ],
  });
  worker = await startWorker({
    emulatorUrl: emulator.apiUrl,
    vars: {
      ALLOWED_ORIGINS: ORIGIN,
      DEV_GRANTS: 'true',
      ALLOWED_TYPES: 'video,audio',
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    },
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET },
  });
});

after(async () => {
  await worker?.stop();
  await emulator?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Calls the Worker; `route` is the log name the Worker gives this request. */
async function call(route, urlPath, options) {
  requestsPerRoute[route] = (requestsPerRoute[route] || 0) + 1;
  const res = await callWorker(worker.url, urlPath, options);
  responses.push({ urlPath, status: res.status, headers: [...res.headers], text: res.text });
  return res;
}

async function devGrant(claims) {
  const res = await call('dev_grant', '/dev/grant', { method: 'POST', json: claims });
  assert.equal(res.status, 200, res.text);
  issuedTokens.push(res.json.grant);
  return res.json.grant;
}

const emulatorStats = () => getJson(`${emulator.url}/_emulator/stats`);
const setFaults = (faults) =>
  getJson(`${emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
/** The emulator's own view of an asset (with the key, not through the Worker). */
const upstreamAsset = (id) =>
  fetch(`${emulator.apiUrl}/assets/${id}`, { headers: { 'x-api-key': emulator.apiKey } });
/** How many `POST /v1.3/assets` the emulator has received. */
const upstreamCreateCount = async () => (await emulatorStats()).requests['POST /v1.3/assets'] || 0;
const upstreamAssetCount = async () =>
  (await getJson(`${emulator.apiUrl}/assets?page_limit=50`, { headers: { 'x-api-key': emulator.apiKey } }))
    .data.length;

/** Polls `probe` until it returns a truthy value (or fails after `deadlineMs`). */
async function eventually(what, probe, deadlineMs = 15_000) {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() - start > deadlineMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const grants = {};
let multipartAssetId;

test('POST /dev/grant mints working grants when DEV_GRANTS=true, and validates its input', async () => {
  grants.owner = await devGrant({ sub: 'user-1', ttl_secs: 600 });
  grants.stranger = await devGrant({ sub: 'user-2' });
  grants.admin = await devGrant({ sub: 'ops', scope: 'admin' });
  grants.small = await devGrant({ sub: 'user-1', max_bytes: 64 * KIB });
  const payload = JSON.parse(Buffer.from(grants.owner.split('.')[1], 'base64url').toString());
  assert.equal(payload.sub, 'user-1');
  assert.ok(payload.exp > Date.now() / 1000 && payload.exp <= Date.now() / 1000 + 601);

  for (const bad of [{}, { sub: 'u', ttl_secs: 0 }, { sub: 'u', colour: 'red' }]) {
    const res = await call('dev_grant', '/dev/grant', { method: 'POST', json: bad });
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.equal(res.json.code, 'invalid_input');
  }
});

test('a multipart upload through the Worker completes and the asset has the same SHA-256', async () => {
  const totalChunks = 5;
  const bytes = randomBytes(CHUNK_SIZE * (totalChunks - 1) + 12_345);
  await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });

  const created = await call('create_upload', '/v1.3/assets/multipart-uploads', {
    method: 'POST',
    token: grants.owner,
    json: { filename: 'flow.mp4', type: 'video', total_size: bytes.length, user_metadata: { project: 'p1' } },
  });
  assert.equal(created.status, 201, created.text);
  const session = created.json;
  assert.equal(session.total_chunks, totalChunks);
  assert.equal(session.chunk_size, CHUNK_SIZE);
  assert.equal(session.upload_urls.length, INITIAL_URLS, 'the rest must come from presigned-urls');
  const uploadToken = session.upload_token;
  issuedTokens.push(uploadToken);
  multipartAssetId = session.asset_id;

  const more = await call('presigned_urls', `/v1.3/assets/multipart-uploads/${session.upload_id}/presigned-urls`, {
    method: 'POST',
    token: uploadToken,
    json: { start: INITIAL_URLS + 1, count: totalChunks - INITIAL_URLS },
  });
  assert.equal(more.status, 200, more.text);
  const urls = [...session.upload_urls, ...more.json.upload_urls];
  assert.deepEqual(urls.map((u) => u.chunk_index), [1, 2, 3, 4, 5]);

  const completed = [];
  for (const { chunk_index: index, url } of urls) {
    const chunk = bytes.subarray((index - 1) * CHUNK_SIZE, index * CHUNK_SIZE);
    const put = await fetch(url, { method: 'PUT', headers: session.upload_headers, body: chunk });
    assert.equal(put.status, 200, await put.text());
    completed.push({ chunk_index: index, proof: put.headers.get('etag'), proof_type: 'etag', chunk_size: chunk.length });
  }
  // Two reports, like a client that reports as it goes.
  const first = await call('report_chunks', `/v1.3/assets/multipart-uploads/${session.upload_id}`, {
    method: 'POST', token: uploadToken, json: { completed_chunks: completed.slice(0, 3) },
  });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.total_completed, 3);
  const last = await call('report_chunks', `/v1.3/assets/multipart-uploads/${session.upload_id}`, {
    method: 'POST', token: uploadToken, json: { completed_chunks: completed.slice(3) },
  });
  assert.equal(last.status, 200, last.text);
  assert.equal(last.json.total_completed, totalChunks);

  const status = await call('upload_status', `/v1.3/assets/multipart-uploads/${session.upload_id}`, { token: uploadToken });
  assert.equal(status.status, 200, status.text);
  assert.equal(status.json.status, 'completed');

  const ready = await eventually('the asset to be ready', async () => {
    const res = await call('get_asset', `/v1.3/assets/${multipartAssetId}`, { token: grants.owner });
    assert.equal(res.status, 200, res.text);
    return res.json.status === 'ready' && res.json;
  });
  assert.equal(ready.size, bytes.length);
  const digest = await getJson(`${emulator.url}/_emulator/assets/${multipartAssetId}/sha256`);
  assert.equal(digest.sha256, sha256(bytes));

  const stats = await emulatorStats();
  assert.equal(stats.requests['POST /v1.3/assets/multipart-uploads'], 1);
  assert.equal(stats.requests['POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls'], 1);
  const puts = stats.chunk_puts[session.upload_id];
  assert.deepEqual(Object.keys(puts).sort(), ['1', '2', '3', '4', '5']);
  assert.ok(Object.values(puts).every((p) => p.stored === 1 && p.attempts === 1), JSON.stringify(puts));
});

test('a multipart asset belongs to its creator: owner and admin may read and delete, others may not', async () => {
  const assetPath = `/v1.3/assets/${multipartAssetId}`;
  const own = await call('get_asset', assetPath, { token: grants.owner });
  assert.equal(own.status, 200);
  assert.deepEqual(own.json.user_metadata, { project: 'p1', edge_upload_owner: 'user-1' });

  // Answered as a missing asset is, so that a stranger cannot tell the id exists.
  const foreign = await call('get_asset', assetPath, { token: grants.stranger });
  assert.equal(foreign.status, 404, foreign.text);
  assert.equal(foreign.json.code, 'not_found');
  const foreignDelete = await call('delete_asset', assetPath, { method: 'DELETE', token: grants.stranger });
  assert.equal(foreignDelete.status, 404);
  assert.equal((await upstreamAsset(multipartAssetId)).status, 200, 'a refused delete deletes nothing');

  assert.equal((await call('get_asset', assetPath, { token: grants.admin })).status, 200);

  // A second asset, by the stranger, to see the list filtered per caller.
  const theirs = await call('create_upload', '/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grants.stranger, json: { filename: 'theirs.mp4', type: 'video', total_size: 10 },
  });
  assert.equal(theirs.status, 201, theirs.text);
  issuedTokens.push(theirs.json.upload_token);
  const ids = async (grant) => {
    const res = await call('list_assets', '/v1.3/assets?page_limit=50', { token: grant });
    assert.equal(res.status, 200, res.text);
    return res.json.data.map((a) => a._id);
  };
  const mine = await ids(grants.owner);
  assert.ok(mine.includes(multipartAssetId) && !mine.includes(theirs.json.asset_id), JSON.stringify(mine));
  const strangers = await ids(grants.stranger);
  assert.ok(strangers.includes(theirs.json.asset_id) && !strangers.includes(multipartAssetId));
  const everything = await ids(grants.admin);
  assert.ok(everything.includes(multipartAssetId) && everything.includes(theirs.json.asset_id));

  const adminDelete = await call('delete_asset', `/v1.3/assets/${theirs.json.asset_id}`, { method: 'DELETE', token: grants.admin });
  assert.ok([200, 204].includes(adminDelete.status), adminDelete.text);
  const ownerDelete = await call('delete_asset', assetPath, { method: 'DELETE', token: grants.owner });
  assert.ok([200, 204].includes(ownerDelete.status), ownerDelete.text);
  assert.equal((await upstreamAsset(multipartAssetId)).status, 404);
  const gone = await call('get_asset', assetPath, { token: grants.owner });
  assert.equal(gone.status, 404);
  assert.equal(gone.json.code, 'not_found');
});

/** A `multipart/form-data` body for `POST /v1.3/assets` with `method=direct`, as parts. */
function directForm(boundary, fileBytes, { type = 'video/mp4', metadata } = {}) {
  const field = (name, value) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head =
    field('method', 'direct') +
    (metadata ? field('user_metadata', JSON.stringify(metadata)) : '') +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="direct.mp4"\r\nContent-Type: ${type}\r\n\r\n`;
  return { head: Buffer.from(head), fileBytes, tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

/**
 * Streams the parts as a body of unknown length (chunked), in 16 KiB pieces. The first
 * `HELD_BACK_AFTER` file bytes go out at once; the rest only once the emulator has received
 * the Worker's upstream request. So the upload succeeds only if the Worker streams (a Worker
 * that buffered the body would wait forever, and the test would give up).
 */
const HELD_BACK_AFTER = 32 * KIB;
function streamed({ head, fileBytes, tail }) {
  const pieces = [head];
  for (let i = 0; i < fileBytes.length; i += 16 * KIB) pieces.push(fileBytes.subarray(i, i + 16 * KIB));
  pieces.push(tail);
  let sentFileBytes = 0;
  let upstreamStarted = null;
  return new ReadableStream({
    async start() {
      upstreamStarted = upstreamCreateCount();
      await upstreamStarted;
    },
    async pull(controller) {
      const next = pieces.shift();
      if (!next) return controller.close();
      if (next !== head && next !== tail) {
        if (sentFileBytes === HELD_BACK_AFTER) {
          const before = await upstreamStarted;
          await eventually('the Worker to open its upstream request', async () =>
            (await upstreamCreateCount()) > before,
          );
        }
        sentFileBytes += next.length;
      }
      controller.enqueue(new Uint8Array(next));
    },
  });
}

test('a direct upload is streamed through the Worker and tagged with its owner', async () => {
  const bytes = randomBytes(300 * KIB);
  const boundary = 'edge-upload-test-boundary';
  const res = await call('create_asset', '/v1.3/assets', {
    method: 'POST',
    token: grants.owner,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    // No Content-Length: the Worker must stream a body of unknown length.
    body: streamed(directForm(boundary, bytes, { metadata: { edge_upload_owner: 'mallory', k: 'v' } })),
  });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.method, 'direct');
  const asset = await eventually('the direct asset to be ready', async () => {
    const r = await upstreamAsset(res.json._id);
    const body = await r.json();
    return body.status === 'ready' && body;
  });
  assert.equal(asset.size, bytes.length);
  assert.deepEqual(asset.user_metadata, { k: 'v', edge_upload_owner: 'user-1' });
  const digest = await getJson(`${emulator.url}/_emulator/assets/${res.json._id}/sha256`);
  assert.equal(digest.sha256, sha256(bytes));

  // Also through Node's own FormData (a known length, undici's boundary).
  const form = new FormData();
  form.append('method', 'direct');
  form.append('file', new Blob([bytes.subarray(0, 1000)], { type: 'audio/mpeg' }), 'song.mp3');
  const viaForm = await call('create_asset', '/v1.3/assets', { method: 'POST', token: grants.stranger, body: form });
  assert.equal(viaForm.status, 201, viaForm.text);
});

/**
 * POSTs to the Worker with node:http, writing the body with `write(req)`, which stops early and
 * never ends it. Resolves with the answer, then drops the connection. The answer can only
 * arrive if the Worker refuses without waiting for the rest of the body (workerd would
 * otherwise drain an unread body first); and since the client sends nothing after the point
 * where the Worker must refuse, no bytes in flight can turn the close into a reset that
 * destroys the answer (which made a fetch-based version of this test flaky).
 */
function postPartially(route, urlPath, { token, headers, write }) {
  requestsPerRoute[route] = (requestsPerRoute[route] || 0) + 1;
  return new Promise((resolve, reject) => {
    const req = http.request(`${worker.url}${urlPath}`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${token}` },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        responses.push({ urlPath, status: res.statusCode, headers: Object.entries(res.headers), text });
        req.destroy();
        resolve({ status: res.statusCode, json: JSON.parse(text), text });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(new Error(`POST ${urlPath}: ${err.message}`));
    });
    write(req).catch((err) => {
      req.destroy();
      reject(err);
    });
  });
}

test('an over-limit direct upload is cut off with 413 and nothing is stored upstream', async () => {
  const limit = 64 * KIB; // grants.small
  const assetsBefore = await upstreamAssetCount();
  const filesBefore = readdirSync(path.join(dataDir, 'assets')).sort();
  const createsBefore = await upstreamCreateCount();
  const boundary = 'edge-upload-limit-boundary';
  const { head, fileBytes, tail } = directForm(boundary, randomBytes(4 * limit));
  const contentType = `multipart/form-data; boundary=${boundary}`;

  // A declared length over the limit: refused on the headers alone, before TwelveLabs is called.
  const declared = await postPartially('create_asset', '/v1.3/assets', {
    token: grants.small,
    headers: { 'content-type': contentType, 'content-length': head.length + fileBytes.length + tail.length },
    write: async (req) => req.flushHeaders(),
  });
  assert.equal(declared.status, 413, declared.text);
  assert.equal(declared.json.code, 'payload_too_large');
  assert.equal(await upstreamCreateCount(), createsBefore, 'refused before any upstream call');

  // No declared length: the Worker opens its upstream request and streams; once more than the
  // limit has passed, it cuts the upstream body off and answers 413.
  const piece = 16 * KIB;
  const cut = await postPartially('create_asset', '/v1.3/assets', {
    token: grants.small,
    headers: { 'content-type': contentType, 'transfer-encoding': 'chunked' },
    write: async (req) => {
      req.write(head);
      let sent = 0;
      for (; sent < HELD_BACK_AFTER; sent += piece) req.write(fileBytes.subarray(sent, sent + piece));
      await eventually('the Worker to open its upstream request', async () =>
        (await upstreamCreateCount()) > createsBefore,
      );
      for (; sent <= limit; sent += piece) req.write(fileBytes.subarray(sent, sent + piece));
      // Stop here, past the limit, without ending the body: the Worker must refuse now.
    },
  });
  assert.equal(cut.status, 413, cut.text);
  assert.equal(cut.json.code, 'payload_too_large');
  assert.equal(await upstreamCreateCount(), createsBefore + 1, 'the upload was being streamed upstream');
  // The emulator drops a cut-off body's temporary file once it notices; nothing may remain.
  await eventually('the emulator to drop the partial file', () =>
    readdirSync(path.join(dataDir, 'assets')).sort().join() === filesBefore.join(),
  );
  assert.equal(await upstreamAssetCount(), assetsBefore, 'no asset was created upstream');
});

test('method=url passes the URL policy through to TwelveLabs; other URLs are refused first', async () => {
  const form = (url) => {
    const f = new FormData();
    f.append('method', 'url');
    f.append('url', url);
    return f;
  };
  // This Worker narrows ALLOWED_TYPES, so a URL upload needs a grant that allows it explicitly.
  const urlGrant = await devGrant({ sub: 'user-1', url_uploads: true });
  const narrowed = await call('create_asset', '/v1.3/assets', {
    method: 'POST', token: grants.owner, body: form('https://media.example.com/clips/talk.mp4'),
  });
  assert.equal(narrowed.status, 403, narrowed.text);
  const ok = await call('create_asset', '/v1.3/assets', {
    method: 'POST', token: urlGrant, body: form('https://media.example.com/clips/talk.mp4'),
  });
  assert.equal(ok.status, 201, ok.text);
  const asset = await (await upstreamAsset(ok.json._id)).json();
  assert.equal(asset.user_metadata.edge_upload_owner, 'user-1');
  assert.equal(asset.filename, 'talk.mp4');

  const createsBefore = (await emulatorStats()).requests['POST /v1.3/assets'];
  for (const url of ['http://media.example.com/a.mp4', `${emulator.url}/_emulator/health`, 'https://localhost/a.mp4', 'https://10.0.0.1/a.mp4']) {
    const res = await call('create_asset', '/v1.3/assets', { method: 'POST', token: urlGrant, body: form(url) });
    assert.equal(res.status, 400, `${url}: ${res.text}`);
    assert.equal(res.json.code, 'invalid_input');
  }
  assert.equal((await emulatorStats()).requests['POST /v1.3/assets'], createsBefore, 'refused before upstream');
});

test('upstream failures: 429 keeps Retry-After, 5xx and timeouts become 502, only idempotent calls are retried', async () => {
  const session = await call('create_upload', '/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grants.owner, json: { filename: 'faults.mp4', type: 'video', total_size: 3 * CHUNK_SIZE },
  });
  assert.equal(session.status, 201, session.text);
  const { upload_id: uploadId, upload_token: uploadToken, asset_id: assetId } = session.json;
  issuedTokens.push(uploadToken);
  const routes = {
    create: 'POST /v1.3/assets/multipart-uploads',
    status: 'GET /v1.3/assets/multipart-uploads/{upload_id}',
    urls: 'POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls',
    report: 'POST /v1.3/assets/multipart-uploads/{upload_id}',
    asset: 'GET /v1.3/assets/{asset_id}',
  };
  const attempts = {
    create: () => call('create_upload', '/v1.3/assets/multipart-uploads', {
      method: 'POST', token: grants.owner, json: { filename: 'again.mp4', type: 'video', total_size: 10 },
    }),
    status: () => call('upload_status', `/v1.3/assets/multipart-uploads/${uploadId}`, { token: uploadToken }),
    urls: () => call('presigned_urls', `/v1.3/assets/multipart-uploads/${uploadId}/presigned-urls`, {
      method: 'POST', token: uploadToken, json: { start: 1, count: 2 },
    }),
    report: () => call('report_chunks', `/v1.3/assets/multipart-uploads/${uploadId}`, {
      method: 'POST', token: uploadToken,
      json: { completed_chunks: [{ chunk_index: 1, proof: 'd41d8cd98f00b204e9800998ecf8427e', proof_type: 'etag', chunk_size: CHUNK_SIZE }] },
    }),
    asset: () => call('get_asset', `/v1.3/assets/${assetId}`, { token: grants.owner }),
  };
  /** Runs one call under `faults` and returns its answer and how many upstream requests it made. */
  async function under(faults, name) {
    await setFaults(faults);
    const before = (await emulatorStats()).requests[routes[name]] || 0;
    const res = await attempts[name]();
    const upstreamCalls = ((await emulatorStats()).requests[routes[name]] || 0) - before;
    return { res, upstreamCalls };
  }

  // 429: passed on with Retry-After, never retried by the Worker (the client owns the backoff).
  for (const name of ['create', 'asset']) {
    const { res, upstreamCalls } = await under({ rate_limit_next: 1, retry_after_secs: 3 }, name);
    assert.equal(res.status, 429, `${name}: ${res.text}`);
    assert.equal(res.json.code, 'rate_limited');
    assert.equal(res.headers.get('retry-after'), '3');
    assert.equal(upstreamCalls, 1, name);
  }

  // One 5xx: idempotent calls are retried once and succeed; creates and reports are not.
  for (const [name, expected] of [['status', 200], ['urls', 200], ['asset', 200], ['create', 502], ['report', 502]]) {
    const { res, upstreamCalls } = await under({ api_fail_next: 1 }, name);
    assert.equal(res.status, expected, `${name}: ${res.text}`);
    assert.equal(upstreamCalls, expected === 200 ? 2 : 1, `${name}: upstream calls`);
    if (expected === 502) assert.equal(res.json.code, 'upstream_unavailable');
  }
  // Two 5xx in a row: the retry fails too, and the client gets 502.
  {
    const { res, upstreamCalls } = await under({ api_fail_next: 2 }, 'asset');
    assert.equal(res.status, 502, res.text);
    assert.equal(res.json.code, 'upstream_unavailable');
    assert.equal(upstreamCalls, 2);
  }

  // Timeouts: an upstream slower than UPSTREAM_TIMEOUT_MS is a 502; reads are retried once.
  for (const [name, calls] of [['asset', 2], ['create', 1]]) {
    const { res, upstreamCalls } = await under({ latency_ms: UPSTREAM_TIMEOUT_MS * 2 }, name);
    assert.equal(res.status, 502, `${name}: ${res.text}`);
    assert.equal(res.json.code, 'upstream_unavailable');
    assert.match(res.json.message, /did not answer within/);
    assert.equal(upstreamCalls, calls, `${name}: upstream calls`);
  }
  await setFaults({ latency_ms: 0 });
  assert.equal((await attempts.asset()).status, 200, 'healthy again once the fault is gone');
});

test('CORS responses expose Date and Retry-After, and workerd sends a Date header', async () => {
  const res = await call('healthz', '/healthz', { headers: { Origin: ORIGIN } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('access-control-expose-headers'), 'Date, Retry-After');
  assert.ok(!Number.isNaN(Date.parse(res.headers.get('date'))), `Date: ${res.headers.get('date')}`);
});

test('one JSON log line per request, with route, status, upstream status and duration, and no secret', async () => {
  // Every Worker response so far: the API key in none of them.
  for (const r of responses) {
    assert.ok(!`${r.text} ${JSON.stringify(r.headers)}`.includes(emulator.apiKey), `${r.urlPath} leaked the key`);
  }
  const logLines = () =>
    worker
      .output()
      .split('\n')
      .map((line) => line.slice(line.indexOf('{')))
      .filter((line) => line.startsWith('{"'))
      .map((line) => JSON.parse(line))
      .filter((entry) => 'route' in entry);
  // Log lines may trail their responses slightly.
  const lines = await eventually('a log line for every request', () => {
    const all = logLines();
    const counts = {};
    for (const entry of all) counts[entry.route] = (counts[entry.route] || 0) + 1;
    const complete = Object.entries(requestsPerRoute).every(([route, n]) =>
      route === 'healthz' ? counts[route] >= n : counts[route] === n,
    );
    return complete && all;
  });
  for (const entry of lines) {
    assert.deepEqual(
      Object.keys(entry).sort(),
      ['code', 'duration_ms', 'method', 'route', 'status', 'upstream_status'],
      JSON.stringify(entry),
    );
    assert.equal(typeof entry.duration_ms, 'number');
  }
  const created = lines.find((e) => e.route === 'create_upload' && e.status === 201);
  assert.equal(created.upstream_status, 201);
  const limited = lines.find((e) => e.status === 429);
  assert.deepEqual([limited.upstream_status, limited.code], [429, 'rate_limited']);
  const unavailable = lines.find((e) => e.status === 502 && e.upstream_status === 500);
  assert.equal(unavailable.code, 'upstream_unavailable');

  const output = worker.output();
  for (const secret of [emulator.apiKey, GRANT_SECRET, TOKEN_SECRET, ...issuedTokens]) {
    assert.ok(!output.includes(secret), 'a secret or token reached the log');
  }
  // Token signatures alone must not appear either (a log line could hold a truncated token).
  for (const token of issuedTokens) assert.ok(!output.includes(token.split('.')[2]));
});

test('an unreachable upstream (emulator stopped) is a 502 upstream_unavailable', async () => {
  await emulator.stop();
  const read = await call('get_asset', '/v1.3/assets/0123456789abcdef01234567', { token: grants.admin });
  assert.equal(read.status, 502, read.text);
  assert.equal(read.json.code, 'upstream_unavailable');
  const create = await call('create_upload', '/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grants.owner, json: { filename: 'down.mp4', type: 'video', total_size: 10 },
  });
  assert.equal(create.status, 502, create.text);
  assert.equal(create.json.code, 'upstream_unavailable');
});
