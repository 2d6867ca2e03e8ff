// The Worker's security matrix against a scripted stand-in upstream ("canary") that records
// every call: refusals must happen before any upstream call; upstream failures are mapped;
// the API key never appears in any response or log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { callWorker, signToken, startWorker } from '../support/worker.mjs';

const API_KEY = `tlk_canary_${randomBytes(12).toString('hex')}`;
const GRANT_SECRET = randomBytes(32).toString('hex');
const TOKEN_SECRET = randomBytes(32).toString('hex');
const ORIGIN = 'http://127.0.0.1:5173';

/** Mints an HS256 JWT exactly as an app backend would (only `crypto`). */
const sign = (claims, secret = GRANT_SECRET, header) => signToken(claims, secret, header);
const now = () => Math.floor(Date.now() / 1000);
const grant = (extra = {}) => sign({ sub: 'user-1', exp: now() + 600, ...extra });

// ── the canary upstream ──
const calls = [];
let script = () => ({ status: 500, body: { code: 'unscripted', message: 'no script' } });
const canary = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const call = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
    calls.push(call);
    const { status, body, headers = {} } = script(call);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  });
});

let worker;
const responses = [];
/** `text` as a body of unknown length (chunked), in 16 KiB pieces. */
function chunkedBody(text) {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + 16 * 1024));
      at += 16 * 1024;
    },
  });
}

async function call(path, options) {
  const res = await callWorker(worker.url, path, options);
  responses.push({ path, status: res.status, headers: [...res.headers], text: res.text });
  return res;
}

before(async () => {
  await new Promise((r) => canary.listen(0, '127.0.0.1', r));
  worker = await startWorker({
    emulatorUrl: `http://127.0.0.1:${canary.address().port}/v1.3`,
    vars: { ALLOWED_ORIGINS: ORIGIN, MAX_UPLOAD_BYTES: '1000000', ALLOWED_TYPES: 'video,audio', UPSTREAM_TIMEOUT_MS: '2000' },
    secrets: { TWELVELABS_API_KEY: API_KEY, GRANT_SECRET, TOKEN_SECRET },
  });
});

after(async () => {
  await worker?.stop();
  canary.close();
  canary.closeAllConnections?.();
});

const create = { filename: 'clip.mp4', type: 'video', total_size: 20_000 };

test('token refusals happen before any upstream call', async () => {
  calls.length = 0;
  const expired = sign({ sub: 'user-1', exp: now() - 3600 });
  const cases = [
    [undefined, 'token_missing'],
    ['not-a-token', 'token_malformed'],
    [sign({ sub: 'user-1', exp: now() + 600 }, 'wrong-secret'), 'token_signature_invalid'],
    [expired, 'token_expired'],
    [sign({ sub: 'user-1', exp: now() + 600 }, GRANT_SECRET, { alg: 'none' }), 'token_algorithm_unsupported'],
    [sign({ sub: 'user-1', exp: now() + 600 }, GRANT_SECRET, { alg: 'HS512' }), 'token_algorithm_unsupported'],
    [sign({ kind: 'upload', sub: 'u', upload_id: 'a', asset_id: 'b', total_size: 1, total_chunks: 1, exp: now() + 600 }, TOKEN_SECRET), 'token_wrong_kind'],
    // Validly signed, but naming extensions the verifier must understand (RFC 7515 §4.1.11).
    [sign({ sub: 'user-1', exp: now() + 600 }, GRANT_SECRET, { alg: 'HS256', crit: ['exp'] }), 'token_malformed'],
    [sign({ sub: 'user-1', exp: now() + 600 }, GRANT_SECRET, { alg: 'HS256', crit: [] }), 'token_malformed'],
    // `types` a minter misspelt would refuse every upload with a message that hides the cause.
    ...[['Video'], ['videos'], ['video', 'VIDEO'], [''], ['video/mp4'], [], [1], 'video'].map((types) =>
      [sign({ sub: 'user-1', exp: now() + 600, types }, GRANT_SECRET), 'token_malformed']),
  ];
  for (const [token, reason] of cases) {
    const res = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token, json: create });
    assert.equal(res.status, 401, `${reason}: ${res.text}`);
    assert.equal(res.json.code, 'unauthorized');
    assert.ok(res.json.message.startsWith(reason), `${reason} vs ${res.json.message}`);
  }
  // A grant used where an upload token is needed.
  const res = await call('/v1.3/assets/multipart-uploads/abc/presigned-urls', { method: 'POST', token: grant(), json: { start: 1, count: 1 } });
  assert.equal(res.status, 401);
  assert.match(res.json.message, /^token_wrong_kind/);
  assert.equal(calls.length, 0, 'no upstream call for any refusal');
});

test('policy refusals (size, type, strict bodies) happen before any upstream call', async () => {
  calls.length = 0;
  const cases = [
    [create, { total_size: 1_000_001 }, 403, 'payload_too_large'],
    [create, { type: 'image', filename: 'photo.png' }, 403, 'unsupported_type'],
    [create, { colour: 'red' }, 400, 'invalid_input'],
    [create, { filename: '' }, 400, 'invalid_input'],
    [create, { user_metadata: { nested: { no: 1 } } }, 400, 'invalid_input'],
  ];
  for (const [base, patch, status, code] of cases) {
    const res = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), json: { ...base, ...patch } });
    assert.equal(res.status, status, res.text);
    assert.equal(res.json.code, code);
  }
  const small = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant({ max_bytes: 100 }), json: create });
  assert.equal(small.status, 403, 'the grant max_bytes tightens the policy');
  assert.equal(small.json.code, 'payload_too_large');
  const audioOnly = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant({ types: ['audio'] }), json: create });
  assert.equal(audioOnly.status, 403, 'the grant types narrow the policy');
  assert.equal(audioOnly.json.code, 'unsupported_type');
  const huge = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), headers: { 'content-type': 'application/json' }, body: `{"filename":"${'a'.repeat(70_000)}"}` });
  assert.equal(huge.status, 413, 'a JSON body over 64 KiB is a protocol refusal, not a policy one');
  // Without a declared length the body is read piece by piece and refused at the limit.
  const hugeChunked = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), headers: { 'content-type': 'application/json' }, body: chunkedBody(`{"filename":"${'a'.repeat(70_000)}"}`) });
  assert.equal(hugeChunked.status, 413, 'a chunked JSON body over 64 KiB is refused too');
  assert.equal(hugeChunked.json.code, 'payload_too_large');
  const badChunked = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), headers: { 'content-type': 'application/json' }, body: chunkedBody(JSON.stringify({ ...create, filename: '' })) });
  assert.equal(badChunked.status, 400, 'a chunked JSON body is read and validated');
  assert.equal(badChunked.json.code, 'invalid_input');
  assert.equal(calls.length, 0);
});

test('a chunked JSON body far over the limit, still arriving when it is refused, gets its 413', async () => {
  calls.length = 0;
  // 768 KiB in 16 KiB pieces, a macrotask apart: the Worker has decided long before the client
  // has sent it all. Answering then, without reading on, lets the connection close under the
  // client's upload, which it sees as a reset instead of the 413.
  for (let round = 0; round < 5; round++) {
    const text = `{"filename":"${'a'.repeat(768 * 1024)}"}`;
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (at >= bytes.length) return controller.close();
        await new Promise((r) => setTimeout(r, 1));
        controller.enqueue(bytes.slice(at, at + 16 * 1024));
        at += 16 * 1024;
      },
    });
    const res = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 413, `round ${round}: ${res.text}`);
    assert.equal(res.json.code, 'payload_too_large');
  }
  assert.equal(calls.length, 0);
});

test('create adds the owner tag and an upload token bound to that upload', async () => {
  calls.length = 0;
  script = (c) =>
    c.method === 'POST' && c.url === '/v1.3/assets/multipart-uploads'
      ? { status: 201, body: { upload_id: 'up1', asset_id: 'as1', upload_urls: [], upload_headers: {}, chunk_size: 10_000, total_chunks: 2, expires_at: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z') } }
      : { status: 200, body: { upload_id: 'up1', start_index: 1, count: 1, upload_urls: [] } };
  const res = await call('/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grant(),
    json: { ...create, user_metadata: { project: 'p', edge_upload_owner: 'mallory' } },
  });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.upload_id, 'up1');
  const sent = JSON.parse(calls[0].body);
  assert.equal(calls[0].headers['x-api-key'], API_KEY);
  assert.deepEqual(sent.user_metadata, { project: 'p', edge_upload_owner: 'user-1' });
  const uploadToken = res.json.upload_token;
  assert.ok(uploadToken);

  calls.length = 0;
  for (const body of [{ start: 0, count: 1 }, { start: 1, count: 51 }, { start: 2, count: 2 }, { start: 1 }]) {
    const bad = await call('/v1.3/assets/multipart-uploads/up1/presigned-urls', { method: 'POST', token: uploadToken, json: body });
    assert.equal(bad.status, 400, JSON.stringify(body));
  }
  const other = await call('/v1.3/assets/multipart-uploads/up2/presigned-urls', { method: 'POST', token: uploadToken, json: { start: 1, count: 1 } });
  assert.equal(other.status, 403, 'a token for upload A is refused on upload B');
  const report = await call('/v1.3/assets/multipart-uploads/up1', {
    method: 'POST', token: uploadToken,
    json: { completed_chunks: [{ chunk_index: 3, proof: 'x', proof_type: 'etag', chunk_size: 1 }] },
  });
  assert.equal(report.status, 400, 'chunk index beyond total_chunks');
  // A proof longer than any ETag, or a chunk larger than the session's file.
  for (const [proof, chunkSize] of [['e'.repeat(257), 1], ['e', 20_001], ['e', 0]]) {
    const refused = await call('/v1.3/assets/multipart-uploads/up1', {
      method: 'POST', token: uploadToken,
      json: { completed_chunks: [{ chunk_index: 1, proof, proof_type: 'etag', chunk_size: chunkSize }] },
    });
    assert.equal(refused.status, 400, `${proof.length}-character proof, chunk_size ${chunkSize}: ${refused.text}`);
    assert.equal(refused.json.code, 'invalid_input');
  }
  assert.equal(calls.length, 0);

  const ok = await call('/v1.3/assets/multipart-uploads/up1/presigned-urls', { method: 'POST', token: uploadToken, json: { start: 1, count: 2 } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(calls.length, 1);
});

test('upstream failures are mapped: 5xx → 502 after one retry for reads, 429 keeps Retry-After, 4xx keep code and message', async () => {
  calls.length = 0;
  script = () => ({ status: 503, body: { code: 'x', message: `internal detail ${API_KEY}` } });
  let res = await call('/v1.3/assets/as1', { token: grant({ scope: 'admin' }) });
  assert.equal(res.status, 502);
  assert.equal(res.json.code, 'upstream_unavailable');
  assert.equal(calls.length, 2, 'an idempotent GET is retried once');

  calls.length = 0;
  res = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token: grant(), json: create });
  assert.equal(res.status, 502);
  assert.equal(calls.length, 1, 'a create is never retried');

  script = () => ({ status: 429, body: { code: 'too_many_requests', message: 'slow down' }, headers: { 'retry-after': '7' } });
  res = await call('/v1.3/assets/as1', { token: grant({ scope: 'admin' }) });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '7');
  assert.equal(res.json.code, 'rate_limited');

  script = () => ({ status: 404, body: { code: 'resource_not_exist', message: 'Resource with id `as1` does not exist.' } });
  res = await call('/v1.3/assets/as1', { token: grant({ scope: 'admin' }) });
  assert.equal(res.status, 404);
  assert.equal(res.json.code, 'not_found');
  assert.match(res.json.message, /does not exist/);

  script = () => ({ status: 401, body: { code: 'api_key_invalid', message: 'bad key' } });
  res = await call('/v1.3/assets/as1', { token: grant({ scope: 'admin' }) });
  assert.equal(res.status, 502, 'upstream refusing our key is not the caller\'s fault');
});

test('ownership: a non-owner cannot read or delete an asset, nor learn it exists; the owner and admins can', async () => {
  calls.length = 0;
  script = (c) =>
    c.method === 'GET'
      ? { status: 200, body: { _id: 'as1', status: 'ready', user_metadata: { edge_upload_owner: 'user-1' } } }
      : { status: 204 };
  const stranger = grant({ sub: 'user-2' });
  // Answered as a missing asset would be (attacks.test.mjs compares the two answers whole).
  for (const method of ['GET', 'DELETE']) {
    const res = await call('/v1.3/assets/as1', { method, token: stranger });
    assert.equal(res.status, 404, `${method}: ${res.text}`);
    assert.equal(res.json.code, 'not_found');
  }
  assert.ok(calls.every((c) => c.method === 'GET'), 'no DELETE reached upstream for a non-owner');
  assert.equal((await call('/v1.3/assets/as1', { method: 'DELETE', token: grant() })).status, 204);
  assert.equal(calls.at(-1).method, 'DELETE');
  assert.equal((await call('/v1.3/assets/multipart-uploads', { token: grant() })).status, 403, 'listing sessions needs admin');
});

test('routing: unknown routes are 404 JSON, wrong methods 405 with Allow, /dev/grant absent by default', async () => {
  let res = await call('/v1.3/nope');
  assert.equal(res.status, 404);
  assert.equal(res.json.code, 'not_found');
  res = await call('/v1.3/assets/as1', { method: 'PUT', token: grant() });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, DELETE');
  res = await call('/dev/grant', { method: 'POST', json: { sub: 'x' } });
  assert.equal(res.status, 404);
});

test('the API key never appears in any response or log line', () => {
  assert.ok(responses.length > 20);
  for (const r of responses) {
    const all = `${r.text} ${JSON.stringify(r.headers)}`;
    assert.ok(!all.includes(API_KEY), `${r.path} leaked the key`);
  }
  const logs = worker.output();
  assert.ok(!logs.includes(API_KEY), 'a log line leaked the key');
  assert.match(logs, /"route":"create_upload"/, 'one JSON log line per request');
});
