// The signed completion webhook (issue 17, item 3): the Worker in workerd, the emulator behind
// it, and a receiver on loopback standing in for the application's backend. Every delivery is
// checked with the package's own `verifyWebhook` (pkg/server.js), so the JS verifier is proved
// to agree byte for byte with the Rust signer.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { getJson, ROOT, startEmulator } from '../support/harness.mjs';
import { callWorker, quietOutputEnd, signToken, startWorker } from '../support/worker.mjs';

const { verifyWebhook, WebhookVerificationError } = await import(
  pathToFileURL(path.join(ROOT, 'pkg/server.js')).href
);

const KIB = 1024;
const CHUNK_SIZE = 64 * KIB;
const GRANT_SECRET = randomBytes(32).toString('hex');
const TOKEN_SECRET = randomBytes(32).toString('hex');
const WEBHOOK_SECRET = randomBytes(32).toString('hex');
const API_KEY = `tlk_webhook_canary_${randomBytes(12).toString('hex')}`;

const now = () => Math.floor(Date.now() / 1000);
const grant = (extra = {}) => signToken({ sub: 'user-1', exp: now() + 600, ...extra }, GRANT_SECRET);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ── the receiver: records every delivery; answers `failures` 500s first, then 204 ──
const deliveries = [];
let failures = 0;
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const failed = failures > 0;
    if (failed) failures -= 1;
    deliveries.push({
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
      answered: failed ? 500 : 204,
    });
    res.writeHead(failed ? 500 : 204);
    res.end();
  });
});

let emulator;
let worker;
before(async () => {
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  emulator = await startEmulator({
    apiKey: API_KEY,
    args: ['--chunk-size', String(CHUNK_SIZE), '--processing-ms', '50', '--url-mode', 'record'],
  });
  worker = await startWorker({
    emulatorUrl: emulator.apiUrl,
    vars: { COMPLETION_WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/hooks/twelvelabs` },
    secrets: { TWELVELABS_API_KEY: API_KEY, GRANT_SECRET, TOKEN_SECRET, WEBHOOK_SECRET },
  });
});

after(async () => {
  await worker?.stop();
  await emulator?.stop();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

const call = (urlPath, options) => callWorker(worker.url, urlPath, options);

/** Waits until `count` deliveries for `assetId` arrived (gives up after `deadlineMs`). */
async function deliveriesFor(assetId, count = 1, deadlineMs = 20_000) {
  const start = Date.now();
  for (;;) {
    const found = deliveries.filter((d) => JSON.parse(d.body).asset_id === assetId);
    if (found.length >= count) return found;
    if (Date.now() - start > deadlineMs) {
      throw new Error(`${found.length} of ${count} deliveries for ${assetId}; worker log:\n${worker.output()}`);
    }
    await sleep(50);
  }
}

/** A delivery carries the payload and its signature only: never the API key. */
function assertNoApiKey(delivery) {
  assert.ok(!delivery.body.toString().includes(API_KEY), 'the API key is in the body');
  assert.ok(!delivery.rawHeaders.join('\n').includes(API_KEY), 'the API key is in a header');
  assert.equal(delivery.headers['x-api-key'], undefined);
  assert.equal(delivery.headers.authorization, undefined);
}

/** Verifies a delivery with the package's verifier and an independent HMAC; returns the event. */
async function verified(delivery) {
  assert.equal(delivery.method, 'POST');
  assert.equal(delivery.url, '/hooks/twelvelabs');
  assert.match(delivery.headers['content-type'], /^application\/json/);
  assertNoApiKey(delivery);
  const header = delivery.headers['webhook-signature'];
  const [, t, v1] = header.match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.ok(Math.abs(Number(t) - now()) <= 60, `t=${t} is not now`);
  const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${t}.`).update(delivery.body).digest('hex');
  assert.equal(v1, expected, 'HMAC-SHA256(secret, t + "." + body)');
  return verifyWebhook(WEBHOOK_SECRET, delivery.headers, delivery.body, { toleranceS: 300 });
}

/** Creates a multipart session for `bytes` through the Worker as `sub`. */
async function createSession(bytes, { filename = 'flow.mp4', metadata, sub } = {}) {
  const created = await call('/v1.3/assets/multipart-uploads', {
    method: 'POST',
    token: grant(sub ? { sub } : {}),
    json: { filename, type: 'video', total_size: bytes.length, user_metadata: metadata },
  });
  assert.equal(created.status, 201, created.text);
  return created.json;
}

/** PUTs every chunk of `bytes` to the session's presigned URLs; answers the report items. */
async function putChunks(session, bytes) {
  const items = [];
  for (const { chunk_index: index, url } of session.upload_urls) {
    const chunk = bytes.subarray((index - 1) * CHUNK_SIZE, index * CHUNK_SIZE);
    const put = await fetch(url, { method: 'PUT', headers: session.upload_headers, body: chunk });
    assert.equal(put.status, 200, await put.text());
    items.push({ chunk_index: index, proof: put.headers.get('etag'), proof_type: 'etag', chunk_size: chunk.length });
  }
  return items;
}

/** Reports one chunk of `session` through the Worker. */
const reportChunk = (session, item) => call(`/v1.3/assets/multipart-uploads/${session.upload_id}`, {
  method: 'POST', token: session.upload_token, json: { completed_chunks: [item] },
});

/** Uploads `bytes` as a multipart session through the Worker; the last report completes it. */
async function multipartUpload(bytes, { filename, metadata, complete = true } = {}) {
  const session = await createSession(bytes, { filename, metadata });
  const items = await putChunks(session, bytes);
  const reports = [];
  for (const item of complete ? items : items.slice(0, -1)) {
    const report = await reportChunk(session, item);
    assert.equal(report.status, 200, report.text);
    reports.push(report.json);
  }
  return { session, reports };
}

function directForm(bytes, { type = 'audio/mpeg', filename = 'song.mp3', metadata } = {}) {
  const form = new FormData();
  form.append('method', 'direct');
  if (metadata) form.append('user_metadata', JSON.stringify(metadata));
  form.append('file', new Blob([bytes], { type }), filename);
  return form;
}

const capturedDeliveries = [];

test('a completed multipart upload is delivered once, signed, as upload.completed', async () => {
  const bytes = randomBytes(CHUNK_SIZE * 2 + 1000);
  const { session, reports } = await multipartUpload(bytes, { metadata: { project: 'p1' } });
  assert.equal(reports.length, 3);
  assert.ok(reports.slice(0, 2).every((r) => !r.url), 'only the last report completes');
  assert.ok(reports[2].url, 'the completing report carries url');

  const [delivery] = await deliveriesFor(session.asset_id);
  capturedDeliveries.push(delivery);
  const event = await verified(delivery);
  assert.deepEqual(Object.keys(event), [
    'event', 'asset_id', 'upload_id', 'sub', 'filename', 'size', 'type', 'user_metadata', 'occurred_at',
  ]);
  assert.equal(event.event, 'upload.completed');
  assert.equal(event.asset_id, session.asset_id);
  assert.equal(event.upload_id, session.upload_id);
  assert.equal(event.sub, 'user-1');
  assert.equal(event.filename, 'flow.mp4');
  assert.equal(event.size, bytes.length);
  assert.equal(event.type, 'video');
  assert.deepEqual(event.user_metadata, { project: 'p1', edge_upload_owner: 'user-1' });
  assert.ok(Math.abs(Date.parse(event.occurred_at) / 1000 - now()) <= 60, event.occurred_at);

  // The two reports that did not complete the session sent nothing.
  await sleep(500);
  assert.equal((await deliveriesFor(session.asset_id)).length, 1);
  assert.match(worker.output(), /"outcome":"delivered"/);
});

test('a session completed by total_completed alone (no url in the answer) is delivered as upload.completed too', async () => {
  // TWELVELABS_API.md §4.4 gives two signals of a complete session: `url`, and `total_completed`
  // reaching `total_chunks`. The client's engine accepts either, so the Worker must too.
  await getJson(`${emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ omit_completion_url: true }),
  });
  try {
    const bytes = randomBytes(CHUNK_SIZE + 100);
    const { session, reports } = await multipartUpload(bytes);
    assert.deepEqual(reports.map((r) => [r.total_completed, r.url ?? null]), [[1, null], [2, null]]);
    const [delivery] = await deliveriesFor(session.asset_id);
    const event = await verified(delivery);
    assert.deepEqual([event.event, event.upload_id, event.size], ['upload.completed', session.upload_id, bytes.length]);
  } finally {
    await getJson(`${emulator.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ omit_completion_url: false }),
    });
  }
});

test('a direct upload and a URL upload are delivered as asset.created', async () => {
  const bytes = randomBytes(3000);
  const direct = await call('/v1.3/assets', {
    method: 'POST', token: grant({ sub: 'user-2' }), body: directForm(bytes, { metadata: { k: 'v' } }),
  });
  assert.equal(direct.status, 201, direct.text);
  const [directDelivery] = await deliveriesFor(direct.json._id);
  capturedDeliveries.push(directDelivery);
  const event = await verified(directDelivery);
  assert.equal(event.event, 'asset.created');
  assert.equal(event.asset_id, direct.json._id);
  assert.equal('upload_id' in event, false);
  assert.equal(event.sub, 'user-2');
  assert.equal(event.filename, 'song.mp3');
  assert.equal(event.type, 'audio');
  // The Worker counted every byte of the file as it streamed through.
  assert.equal(event.size, bytes.length);
  assert.deepEqual(event.user_metadata, { k: 'v', edge_upload_owner: 'user-2' });

  const form = new FormData();
  form.append('method', 'url');
  form.append('url', 'https://media.example.com/clips/talk.mp4');
  const byUrl = await call('/v1.3/assets', { method: 'POST', token: grant(), body: form });
  assert.equal(byUrl.status, 201, byUrl.text);
  const urlEvent = await verified((await deliveriesFor(byUrl.json._id))[0]);
  assert.equal(urlEvent.event, 'asset.created');
  assert.equal(urlEvent.filename, 'talk.mp4');
  assert.equal(urlEvent.type, 'video');
  assert.equal(urlEvent.size, null, 'a URL source is not fetched yet: its size is unknown');
  assert.equal(urlEvent.sub, 'user-1');
});

test('an upload whose asset was deleted before its last report sends no upload.completed', async () => {
  const bytes = randomBytes(2 * CHUNK_SIZE);
  const session = await createSession(bytes, { filename: 'gone.mp4', sub: 'deleter' });
  const items = await putChunks(session, bytes);
  const report = (item) => reportChunk(session, item);
  assert.equal((await report(items[0])).status, 200);
  const deleted = await call(`/v1.3/assets/${session.asset_id}`, { method: 'DELETE', token: grant({ sub: 'deleter' }) });
  assert.equal(deleted.status, 204, deleted.text);
  const logFrom = await quietOutputEnd(worker);
  const last = await report(items[1]);
  assert.equal(last.status, 200, last.text);
  // The Worker reads the asset before sending; it is gone, so nothing is sent, and it says so.
  const start = Date.now();
  while (!worker.output().slice(logFrom).includes('"outcome":"asset_gone"')) {
    assert.ok(Date.now() - start < 10_000, `no asset_gone log line:\n${worker.output().slice(logFrom)}`);
    await sleep(50);
  }
  await sleep(300);
  assert.deepEqual(deliveries.filter((d) => JSON.parse(d.body).asset_id === session.asset_id), []);
});

test('refused and aborted uploads send nothing', { timeout: 60_000 }, async () => {
  const before = deliveries.length;
  await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });

  // Refused before upstream: a type the grant does not allow, URL uploads it does not allow, a
  // private source URL, a size over its limit.
  const wrongType = await call('/v1.3/assets', {
    method: 'POST',
    token: grant({ types: ['video'] }),
    headers: { 'content-type': 'multipart/form-data; boundary=b0undary' },
    body: Buffer.from(
      '--b0undary\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n' +
        '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="song.mp3"\r\n' +
        'Content-Type: audio/mpeg\r\n\r\n0123456789\r\n--b0undary--\r\n',
    ),
  });
  assert.equal(wrongType.status, 403, wrongType.text);
  for (const [token, url, status] of [
    [grant({ url_uploads: false }), 'https://media.example.com/clips/talk.mp4', 403],
    [grant(), 'https://127.0.0.1/clips/talk.mp4', 400],
  ]) {
    const form = new FormData();
    form.append('method', 'url');
    form.append('url', url);
    const refused = await call('/v1.3/assets', { method: 'POST', token, body: form });
    assert.equal(refused.status, status, refused.text);
  }
  const tooBig = await call('/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grant({ max_bytes: 1000 }), json: { filename: 'a.mp4', type: 'video', total_size: 5000 },
  });
  assert.equal(tooBig.status, 403, tooBig.text);
  assert.equal(tooBig.json.code, 'payload_too_large');
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  assert.equal(stats.requests['POST /v1.3/assets'] || 0, 0, JSON.stringify(stats.requests));
  assert.equal(stats.requests['POST /v1.3/assets/multipart-uploads'] || 0, 0);

  // Aborted: a multipart session whose last chunk is never reported.
  const { session, reports } = await multipartUpload(randomBytes(CHUNK_SIZE + 10), { complete: false });
  assert.equal(reports.length, 1);
  assert.ok(!reports[0].url);

  // Aborted: a direct upload whose client gives up mid-body.
  const head = Buffer.from(
    '--b0undary\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n' +
      '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="cut.mp4"\r\nContent-Type: video/mp4\r\n\r\n',
  );
  let sent = 0;
  const abort = new AbortController();
  const body = new ReadableStream({
    async pull(controller) {
      if (sent > 0) await sleep(10);
      if (abort.signal.aborted || sent > 64) return controller.error(new Error('the client went away'));
      controller.enqueue(new Uint8Array(sent === 0 ? head : Buffer.alloc(16 * KIB)));
      sent += 1;
    },
  });
  // The client goes away once part of the file is out, whatever the Worker is doing.
  const aborting = (async () => {
    const deadline = Date.now() + 2000;
    while (sent < 4 && Date.now() < deadline) await sleep(20);
    await sleep(200);
    abort.abort();
  })();
  await assert.rejects(
    fetch(`${worker.url}/v1.3/assets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${grant()}`, 'content-type': 'multipart/form-data; boundary=b0undary' },
      body,
      signal: abort.signal,
    }),
  );
  await aborting;

  // A completed upload after all of that is the only delivery.
  const ok = await call('/v1.3/assets', { method: 'POST', token: grant(), body: directForm(randomBytes(10)) });
  assert.equal(ok.status, 201, ok.text);
  await deliveriesFor(ok.json._id);
  await sleep(1000);
  const since = deliveries.slice(before).map((d) => JSON.parse(d.body).asset_id);
  assert.deepEqual(since, [ok.json._id], `unexpected deliveries (the unfinished session was ${session.asset_id})`);
});

test('a receiver that fails twice gets the same event a third time, each attempt signed afresh', async () => {
  failures = 2;
  const logBefore = await quietOutputEnd(worker);
  const res = await call('/v1.3/assets', { method: 'POST', token: grant(), body: directForm(randomBytes(500)) });
  assert.equal(res.status, 201, res.text);
  const attempts = await deliveriesFor(res.json._id, 3);
  assert.deepEqual(attempts.map((a) => a.answered), [500, 500, 204]);
  assert.ok(attempts.every((a) => a.body.equals(attempts[0].body)), 'the body is the same every time');
  for (const attempt of attempts) await verified(attempt);
  await sleep(1000);
  const lines = worker.output().slice(logBefore).split('\n').filter((l) => l.includes('"webhook":"asset.created"'));
  assert.equal(lines.filter((l) => l.includes('"outcome":"retrying"')).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('"outcome":"delivered"')).length, 1, lines.join('\n'));
  assert.ok(lines.every((l) => !l.includes(res.json._id)), 'no identifiers in log lines');
  assert.equal((await deliveriesFor(res.json._id)).length, 3, 'no fourth attempt after success');
});

test('verifyWebhook refuses a tampered body, a wrong secret, stale or future timestamps, and bad headers', async () => {
  assert.ok(capturedDeliveries.length >= 2, 'needs the real deliveries of the tests above');
  for (const delivery of capturedDeliveries) {
    const header = delivery.headers['webhook-signature'];
    const t = Number(header.match(/^t=(\d+)/)[1]);
    const refused = async (code, secret, headers, body, options) => {
      await assert.rejects(verifyWebhook(secret, headers, body, options), (err) => {
        assert.ok(err instanceof WebhookVerificationError, String(err));
        assert.equal(err.code, code);
        assert.ok(!err.message.includes(WEBHOOK_SECRET));
        return true;
      });
    };
    const text = delivery.body.toString();
    // Tampered: another user, an added key, one changed byte, trailing whitespace.
    assert.ok(text.includes('"sub":"user-'), text);
    for (const tampered of [
      text.replace('"sub":"user-', '"sub":"admin-'),
      text.replace('{', '{"admin":true,'),
      Buffer.from(delivery.body).fill(0x20, 5, 6),
      `${text} `,
    ]) {
      await refused('signature_mismatch', WEBHOOK_SECRET, delivery.headers, tampered, { nowS: t });
    }
    await refused('signature_mismatch', randomBytes(32).toString('hex'), delivery.headers, delivery.body, { nowS: t });
    await refused('signature_mismatch', WEBHOOK_SECRET, { 'webhook-signature': header.replace(`t=${t}`, `t=${t + 1}`) }, delivery.body, { nowS: t });
    // Replays: older than the tolerance; and dated beyond it in the future.
    await refused('timestamp_expired', WEBHOOK_SECRET, delivery.headers, delivery.body, { nowS: t + 301, toleranceS: 300 });
    await refused('timestamp_expired', WEBHOOK_SECRET, delivery.headers, delivery.body, { nowS: t + 11, toleranceS: 10 });
    await refused('timestamp_in_future', WEBHOOK_SECRET, delivery.headers, delivery.body, { nowS: t - 301, toleranceS: 300 });
    // Within the tolerance, either way, it verifies; through a Fetch `Headers` too.
    const headers = new Headers({ 'Webhook-Signature': header });
    await verifyWebhook(WEBHOOK_SECRET, headers, text, { nowS: t + 300, toleranceS: 300 });
    await verifyWebhook(WEBHOOK_SECRET, headers, delivery.body.buffer.slice(delivery.body.byteOffset, delivery.body.byteOffset + delivery.body.length), { nowS: t - 300 });
    await refused('signature_missing', WEBHOOK_SECRET, {}, delivery.body, { nowS: t });
    for (const bad of [
      '', `v1=${'0'.repeat(64)}`, `t=${t}`, `t=${t},v1=abc`, `t=${t};v1=${'0'.repeat(64)}`,
      `t=${t},t=${t},${header.split(',')[1]}`, `t=-${t},${header.split(',')[1]}`,
    ]) {
      await refused('signature_malformed', WEBHOOK_SECRET, { 'Webhook-Signature': bad }, delivery.body, { nowS: t });
    }
    await refused('signature_malformed', WEBHOOK_SECRET, { 'webhook-signature': [header, header] }, delivery.body, { nowS: t });
    // A clock that is not a number of seconds would turn replay protection off: refused.
    for (const nowS of [Number.NaN, 'now', Infinity, -1, null, `${t}`]) {
      await assert.rejects(
        verifyWebhook(WEBHOOK_SECRET, delivery.headers, delivery.body, { nowS }),
        (error) => error instanceof TypeError && /nowS/.test(error.message),
        String(nowS),
      );
    }
  }
});

test('verifyWebhook refuses a body signed with the secret that is not an event object', async () => {
  const t = now();
  for (const body of ['null', '[]', '[{"event":"asset.created"}]', '"asset.created"', '42', 'true']) {
    const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${body}`).digest('hex');
    await assert.rejects(
      verifyWebhook(WEBHOOK_SECRET, { 'webhook-signature': `t=${t},v1=${signature}` }, body, { nowS: t }),
      (err) => err instanceof WebhookVerificationError && err.code === 'signature_malformed',
      body,
    );
  }
});

test('the Worker log never holds the webhook secret or the API key', () => {
  const output = worker.output();
  assert.ok(output.includes('"webhook"'), 'the delivery log lines are there');
  assert.ok(!output.includes(WEBHOOK_SECRET), 'the webhook secret leaked into the log');
  assert.ok(!output.includes(API_KEY), 'the API key leaked into the log');
});

test('the package exports the verifier as twelvelabs-edge-upload/server, with types, without wasm', () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'pkg/package.json'), 'utf8'));
  assert.deepEqual(manifest.exports['./server'], { types: './server.d.ts', default: './server.js' });
  for (const file of ['server.js', 'server.d.ts']) {
    assert.ok(manifest.files.includes(file), file);
    assert.ok(existsSync(path.join(ROOT, 'pkg', file)), file);
  }
  assert.doesNotMatch(readFileSync(path.join(ROOT, 'pkg/server.js'), 'utf8'), /import /, 'the entry imports nothing');
});
