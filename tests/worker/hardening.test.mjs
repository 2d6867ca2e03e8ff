// Hardening of the Worker (issue 14): upstream redirects are never followed, unknown methods
// are never served as another, unknown routes answer an allowed origin so its client sees the
// 404, a configuration that cannot be trusted refuses to serve, grants live at most
// MAX_GRANT_TTL_S, and a client that leaves mid-body is refused without harm to the next. Refusals are proved through the emulator's `/_emulator/stats` to have
// reached upstream zero times.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { startWorkerd } from '../../bench/lib/workerd.mjs';
import { logSince, quietOutputEnd, resetEmulatorStats, signToken, startWorker, upstreamCalls } from '../support/worker.mjs';
import { emulatorAndWorker } from '../support/worker-stack.mjs';

const ORIGIN = 'http://127.0.0.1:5173';
let emulator;
let worker;
const stack = emulatorAndWorker({
  ready: (started) => ({ emulator, worker } = started),
  vars: { ALLOWED_ORIGINS: ORIGIN, MAX_GRANT_TTL_S: '600' },
});
const { grantSecret: GRANT_SECRET, tokenSecret: TOKEN_SECRET } = stack;

const now = () => Math.floor(Date.now() / 1000);
const grant = (claims = {}, secret = GRANT_SECRET) => signToken({ sub: 'user-1', exp: now() + 300, ...claims }, secret);

const resetStats = () => resetEmulatorStats(emulator);

/** A raw HTTP request (any method spelling, exactly as given). */
function raw(baseUrl, method, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${path}`, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          /* asserted by callers */
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('methods a route does not list get 405 with Allow, never served as GET; nothing reaches upstream', async () => {
  const token = grant({ scope: 'admin' });
  await resetStats();
  for (const [path, allow] of [['/v1.3/assets', 'GET, POST'], ['/v1.3/assets/abc123', 'GET, DELETE'], ['/v1.3/assets/multipart-uploads/up1', 'GET, POST'], ['/healthz', 'GET']]) {
    // Lowercase `get`, `post`, `delete`, `put`, `head`, `options` are not here: Miniflare's proxy
    // upper-cases those six as the Fetch standard says, so they arrive as the methods they name
    // (plain workerd answers them 501 before the Worker runs).
    for (const method of ['PROPFIND', 'propfind', 'COPY', 'PURGE', 'purge', 'MOVE', 'LOCK', 'patch', 'Patch', 'PUT', 'PATCH', 'HEAD', 'REPORT', 'SEARCH', 'MKCOL']) {
      const res = await raw(worker.url, method, path, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 405, `${method} ${path}: ${res.text}`);
      assert.equal(res.headers.allow, allow, `${method} ${path}`);
      if (method !== 'HEAD') assert.equal(res.json.code, 'method_not_allowed', `${method} ${path}`);
    }
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
});

/** A raw `CONNECT` request line (origin-form or authority-form), as an attacker would send it; resolves with what came back. */
function rawConnect(baseUrl, target) {
  const { port, host } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`CONNECT ${target}: the connection was still open after 5 s (got ${JSON.stringify(got)})`));
    }, 5000);
    socket.on('data', (d) => (got += d));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', () => {});
  });
}

/** This suite's Worker in plain workerd (the production runtime, nothing in front), stopped after test `t`. */
async function plainWorkerd(t) {
  const worker = await startWorkerd({
    emulatorUrl: emulator.apiUrl,
    vars: { ALLOWED_ORIGINS: ORIGIN },
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET },
  });
  t.after(() => worker.stop());
  return worker;
}

// In plain workerd, the production runtime: under `wrangler dev`, Miniflare's own entry Worker
// receives a CONNECT first and logs it as an uncaught exception before ours could see it.
test('CONNECT, in either request form, is closed at once with one log line and no uncaught exception; nothing reaches upstream', async (t) => {
  const worker = await plainWorkerd(t);
  const { host } = new URL(worker.url);
  for (const target of ['/v1.3/assets', '/healthz', host, `${emulator.apiUrl.replace(/^https?:\/\//, '').split('/')[0]}`, '169.254.169.254:80']) {
    await resetStats();
    const logFrom = await quietOutputEnd(worker);
    const answer = await rawConnect(worker.url, target);
    // workerd answers a CONNECT itself before it hands the socket over; no tunnel may follow.
    assert.doesNotMatch(answer, /HTTP\/1\.1 200[^]*\r\n\r\n[^]+/, `CONNECT ${target}: nothing may be tunnelled: ${JSON.stringify(answer)}`);
    const log = await logSince(worker, logFrom);
    assert.ok(!/Uncaught|exception/i.test(log), `CONNECT ${target}: an uncaught exception was logged:\n${log}`);
    const lines = log.split('\n').filter((l) => l.startsWith('{"code":'));
    assert.equal(lines.length, 1, `CONNECT ${target}: exactly one log line:\n${log}`);
    const line = JSON.parse(lines[0]);
    assert.equal(line.method, 'CONNECT');
    assert.equal(line.code, 'method_not_allowed');
    assert.deepEqual(await upstreamCalls(emulator), {}, `CONNECT ${target}`);
  }
});

test('an unknown route answers an allowed origin\'s preflight, then a 404 not_found naming the path, with CORS headers', async () => {
  await resetStats();
  const path = '/v1.3/v1.3/assets/multipart-uploads';
  const preflight = await fetch(`${worker.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
  assert.match(preflight.headers.get('access-control-allow-headers'), /Authorization/i);
  const res = await fetch(`${worker.url}${path}`, {
    method: 'POST',
    headers: { origin: ORIGIN, authorization: `Bearer ${grant()}`, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(res.status, 404);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  const body = await res.json();
  assert.equal(body.code, 'not_found');
  assert.ok(body.message.includes(path), body.message);
  // A foreign origin still gets nothing it may read.
  const foreign = await fetch(`${worker.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  assert.deepEqual(await upstreamCalls(emulator), {});
});

test('ALLOWED_REQUEST_HEADERS lets a page add a tracing header to its calls; without it the preflight allows the client\'s own headers only', async () => {
  const preflight = (url, requested) =>
    fetch(`${url}/v1.3/assets`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': requested },
    });
  const plain = await preflight(worker.url, 'authorization, traceparent');
  assert.equal(plain.status, 204);
  assert.equal(plain.headers.get('access-control-allow-headers'), 'Authorization, Content-Type');
  const traced = await startWorker({
    emulatorUrl: emulator.apiUrl,
    vars: { ALLOWED_ORIGINS: ORIGIN, ALLOWED_REQUEST_HEADERS: ' traceparent , X-Request-Id,Authorization' },
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET },
  });
  try {
    await resetStats();
    const answer = await preflight(traced.url, 'authorization, traceparent, x-request-id');
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, traceparent, x-request-id');
    assert.equal(answer.headers.get('access-control-allow-origin'), ORIGIN);
    assert.deepEqual(await upstreamCalls(emulator), {}, 'a preflight reaches nothing upstream');
    const res = await fetch(`${traced.url}/v1.3/assets`, {
      headers: { origin: ORIGIN, authorization: `Bearer ${grant()}`, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  } finally {
    await traced.stop();
  }
});

test('a client that leaves mid-body: its request ends as a logged 400 with no upstream call, and the next is served', async () => {
  // The body's `arrayBuffer()` rejects: the request task (src/worker/task.rs) is stepped with a
  // rejected promise, which must end the request as a handled refusal and leave the Worker whole.
  const token = grant();
  await resetStats();
  const from = worker.output().length;
  const socket = net.connect(Number(new URL(worker.url).port), '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    'POST /v1.3/assets/multipart-uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
      `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"filename":`,
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  socket.destroy();
  const lines = (await logSince(worker, from)).split('\n').filter((line) => line.includes('"route":"create_upload"'));
  assert.equal(lines.length, 1, 'one log line for the abandoned request');
  const entry = JSON.parse(lines[0].slice(lines[0].indexOf('{')));
  assert.deepEqual([entry.status, entry.code, entry.upstream_status], [400, 'invalid_input', null]);
  assert.deepEqual(await upstreamCalls(emulator), {});

  const next = await fetch(`${worker.url}/v1.3/assets/multipart-uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ filename: 'next.mp4', type: 'video', total_size: 1000 }),
  });
  assert.equal(next.status, 201, await next.text());
  assert.deepEqual(await upstreamCalls(emulator), { 'POST /v1.3/assets/multipart-uploads': 1 });
});

test('a request refused on its headers while its body is still arriving gets the refusal, never a closed connection', async () => {
  // The refusal (a bad token, a declared size over a limit) is decided before the body is read.
  // Answering while the client still writes lets the connection close under it, and the client
  // sees EPIPE or a reset instead of the answer: a browser client would then retry a network
  // error instead of reading its 401. Bodies a client sends at its own pace, 30 times each.
  const forged = grant({}, 'x'.repeat(64));
  const slowBody = (bytes) => {
    let at = 0;
    return new ReadableStream({
      async pull(controller) {
        if (at >= bytes.length) return controller.close();
        await new Promise((r) => setTimeout(r, 1));
        controller.enqueue(bytes.subarray(at, at + 8 * 1024));
        at += 8 * 1024;
      },
    });
  };
  const json = new TextEncoder().encode(JSON.stringify({ filename: 'a'.repeat(40_000), type: 'video', total_size: 1000 }));
  const form = () => {
    const body = new FormData();
    body.append('method', 'url');
    body.append('url', 'https://media.example.com/clip.mp4');
    body.append('filename', 'b'.repeat(30_000));
    return body;
  };
  const cases = [
    ['a forged grant, a JSON body', () => ({ method: 'POST', path: '/v1.3/assets/multipart-uploads', token: forged, type: 'application/json', body: json }), 401],
    ['a forged grant, a JSON body sent in pieces', () => ({ method: 'POST', path: '/v1.3/assets/multipart-uploads', token: forged, type: 'application/json', body: slowBody(json) }), 401],
    ['a forged grant, a form', () => ({ method: 'POST', path: '/v1.3/assets', token: forged, body: form() }), 401],
    ['no token, a form', () => ({ method: 'POST', path: '/v1.3/assets', body: form() }), 401],
  ];
  await resetStats();
  for (const [label, make, status] of cases) {
    for (let round = 0; round < 30; round++) {
      const { method, path, token, type, body } = make();
      const headers = { origin: ORIGIN };
      if (token) headers.authorization = `Bearer ${token}`;
      if (type) headers['content-type'] = type;
      let res;
      try {
        res = await fetch(`${worker.url}${path}`, { method, headers, body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) });
      } catch (err) {
        assert.fail(`${label}, round ${round}: the connection failed (${err.cause?.code || err.message})`);
      }
      const text = await res.text();
      assert.equal(res.status, status, `${label}, round ${round}: ${text}`);
      assert.equal(JSON.parse(text).code, 'unauthorized', label);
    }
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
});

test('a refused request whose body trickles in a byte at a time gets its refusal within the drain bound, not when the client stops', async () => {
  // Each byte resets the drain's idle wait (250 ms), so only a bound on the whole drain
  // (handlers::DISCARD_TOTAL_MS, 10 s) keeps such a client from holding its answer, and the
  // Worker's CPU, for as long as it trickles. The client here would trickle for 40 s.
  const forged = grant({}, 'x'.repeat(64));
  const variants = [
    ['a forged grant, JSON', '/v1.3/assets/multipart-uploads', `Authorization: Bearer ${forged}\r\nContent-Type: application/json`],
    ['no token, a form', '/v1.3/assets', 'Content-Type: multipart/form-data; boundary=x'],
  ];
  await resetStats();
  for (const [label, path, headers] of variants) {
    const from = worker.output().length;
    const socket = net.connect(Number(new URL(worker.url).port), '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const started = Date.now();
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => {});
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\nContent-Length: 1000000\r\n\r\n`);
    while (!answer && Date.now() - started < 40_000) {
      socket.write('a');
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const answeredAfterMs = Date.now() - started;
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 401 /, `${label}: ${answer.slice(0, 80) || 'no answer'} after ${answeredAfterMs} ms`);
    assert.ok(answeredAfterMs < 30_000, `${label}: answered after ${answeredAfterMs} ms, while the client was still trickling`);
    const logged = (await logSince(worker, from)).split('\n').filter((line) => line.includes('"status":401'));
    assert.equal(logged.length, 1, `${label}: one log line`);
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
});

/** How many assets the emulator holds (all users'): a refused upload must leave none behind. */
const assetTotal = async () =>
  (await (await fetch(`${emulator.apiUrl}/assets?page_limit=1`, { headers: { 'x-api-key': emulator.apiKey } })).json()).page_info.total_results;

/**
 * Whether `answer`, a raw HTTP/1.1 response as read so far, is whole: its head has ended and its
 * body holds the bytes its Content-Length names (head and body may come in separate reads).
 */
function wholeAnswer(answer) {
  const end = answer.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(answer.slice(0, end))?.[1];
  return length === undefined || Buffer.byteLength(answer.slice(end + 4)) >= Number(length);
}

/** A raw HTTP/1.1 request to the Worker whose body is written piece by piece (`pieces`, `gapMs` apart). */
async function trickled(path, headers, pieces, { gapMs = 5, stopWhenAnswered = false } = {}) {
  const socket = net.connect(Number(new URL(worker.url).port), '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  socket.on('error', () => {});
  const started = Date.now();
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n\r\n`);
  let sent = 0;
  for (const [i, piece] of pieces.entries()) {
    if (stopWhenAnswered && answer) break;
    socket.write(piece);
    sent += 1;
    if (i < pieces.length - 1) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  for (let i = 0; i < 200 && !wholeAnswer(answer); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.destroy();
  return { answer, ms: Date.now() - started, sent };
}

test('a body sent a byte at a time is answered after a bounded number of pieces, not a bounded time: each piece read costs the Worker CPU', async () => {
  // Each piece the Worker reads costs it the same CPU whatever its size (review 12 measured
  // about 35 µs in workerd), so a time bound alone lets a client buy seconds of CPU with a few
  // kilobytes sent a byte at a time. Pieces 5 ms apart: a 10 s bound would read about 2000 of them
  // before answering; the answer must come within a few hundred.
  const boundary = 'pieces-bound';
  const forged = grant({}, 'x'.repeat(64));
  const bytes = (n) => Array.from({ length: n }, () => ' ');
  const chunked = (n) => Array.from({ length: n }, () => '1\r\n \r\n');
  const formOpening = `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n--${boundary}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"note":"`;
  const variants = [
    // Refused on its headers: the refused body is drained a piece at a time.
    ['a forged grant, its refused JSON body drained', '/v1.3/assets/multipart-uploads', `Authorization: Bearer ${forged}\r\nContent-Type: application/json\r\nContent-Length: 1000000`, bytes(3000), 401],
    ['no token, its refused form drained', '/v1.3/assets', 'Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000', bytes(3000), 401],
    // Read for use: a chunked JSON body, and a direct upload's form fields.
    ['a chunked JSON body', '/v1.3/assets/multipart-uploads', `Authorization: Bearer ${grant()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked`, chunked(3000), 408],
    ['a direct upload\'s form fields', '/v1.3/assets', `Authorization: Bearer ${grant()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 1000000`, [formOpening, ...bytes(3000)], 408],
  ];
  await resetStats();
  for (const [label, path, headers, pieces, status] of variants) {
    const from = worker.output().length;
    const { answer, ms, sent } = await trickled(path, headers, pieces, { gapMs: 5, stopWhenAnswered: true });
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${label}: ${answer.slice(0, 120) || 'no answer'} after ${ms} ms and ${sent} pieces`);
    assert.ok(sent < 600, `${label}: answered after ${sent} pieces (${ms} ms)`);
    const logged = (await logSince(worker, from)).split('\n').filter((line) => line.includes(`"status":${status}`));
    assert.equal(logged.length, 1, `${label}: one log line`);
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
});

test('a direct upload whose file part arrives a byte at a time is refused after a bounded number of pieces, leaving no asset upstream', async () => {
  // The fields (with the file's first bytes) arrive at once, then the file in 1-byte HTTP chunks,
  // 5 ms apart: without a bound on the file's pieces the Worker reads (and sends on) each one,
  // and a valid grant buys about 0.2 ms of CPU per byte (review 14: 10 s for 58 KB).
  const boundary = 'file-pieces';
  const opening =
    `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="trickle.mp4"\r\nContent-Type: video/mp4\r\n\r\n`;
  const chunk = (text) => `${text.length.toString(16)}\r\n${text}\r\n`;
  for (const [label, first] of [
    ['after the fields alone', opening],
    ['after the fields and 2000 bytes of the file', opening + 'f'.repeat(2000)],
  ]) {
    const before = await assetTotal();
    const from = worker.output().length;
    const pieces = [chunk(first), ...Array.from({ length: 3000 }, () => chunk('x')), chunk(`\r\n--${boundary}--\r\n`), '0\r\n\r\n'];
    const { answer, ms, sent } = await trickled(
      '/v1.3/assets',
      `Authorization: Bearer ${grant({ sub: 'file-trickler' })}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked`,
      pieces,
      { gapMs: 5, stopWhenAnswered: true },
    );
    assert.match(answer, /^HTTP\/1\.1 408 /, `${label}: ${answer.slice(0, 160) || 'no answer'} after ${ms} ms and ${sent} pieces`);
    assert.match(answer, /"code":"invalid_input"/, label);
    assert.ok(sent < 600, `${label}: answered after ${sent} pieces (${ms} ms)`);
    const logged = (await logSince(worker, from)).split('\n').filter((line) => line.includes('"status":408'));
    assert.equal(logged.length, 1, `${label}: one log line`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await assetTotal()) - before, 0, `${label}: no asset kept upstream`);
  }
});

test('a direct upload whose form fields trickle in is refused within 10 s (408), one log line, nothing upstream', async () => {
  await resetStats();
  const boundary = 'trickle-boundary';
  const opening = `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n--${boundary}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"note":"`;
  const from = worker.output().length;
  // One byte every 150 ms for up to 40 s: the fields never end.
  const pieces = [opening, ...Array.from({ length: 260 }, () => 'a')];
  const { answer, ms } = await trickled(
    '/v1.3/assets',
    `Authorization: Bearer ${grant()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 1000000`,
    pieces,
    { gapMs: 150, stopWhenAnswered: true },
  );
  assert.match(answer, /^HTTP\/1\.1 408 /, `${answer.slice(0, 120) || 'no answer'} after ${ms} ms`);
  assert.match(answer, /"code":"invalid_input"/);
  assert.ok(ms < 30_000, `answered after ${ms} ms, while the client was still trickling`);
  const logged = (await logSince(worker, from)).split('\n').filter((line) => line.includes('"status":408'));
  assert.equal(logged.length, 1, 'one log line');
  assert.deepEqual(await upstreamCalls(emulator), {});
});

// A body with a declared length is read by the runtime in one `arrayBuffer()`: the Worker spends
// no CPU while it stalls or trickles (DEPLOY.md "What it never does").
test('a chunked JSON body that stalls or trickles is refused within 10 s (408), one log line, nothing upstream', async () => {
  await resetStats();
  // Spaces before the JSON keep it valid while it takes 40 s to trickle in.
  const json = `${' '.repeat(200)}${JSON.stringify({ filename: 'slow.mp4', type: 'video', total_size: 1000 })}`;
  const auth = `Authorization: Bearer ${grant()}\r\nContent-Type: application/json`;
  for (const [label, headers, pieces, gapMs] of [
    ['chunked, stalled after 10 bytes', `${auth}\r\nTransfer-Encoding: chunked`, [`a\r\n${json.slice(0, 10)}\r\n`], 0],
    ['chunked, a byte every 150 ms', `${auth}\r\nTransfer-Encoding: chunked`, [...json].map((c) => `1\r\n${c}\r\n`), 150],
    ['chunked, 20 bytes every 150 ms', `${auth}\r\nTransfer-Encoding: chunked`, json.match(/.{1,20}/gs).map((c) => `${c.length.toString(16)}\r\n${c}\r\n`), 150],
  ]) {
    const from = worker.output().length;
    const socket = net.connect(Number(new URL(worker.url).port), '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    const started = Date.now();
    socket.write(`POST /v1.3/assets/multipart-uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n\r\n`);
    for (const piece of pieces) {
      if (answer) break;
      socket.write(piece);
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    while (!wholeAnswer(answer) && Date.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 50));
    const ms = Date.now() - started;
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 408 /, `${label}: ${answer.slice(0, 120) || 'no answer'} after ${ms} ms`);
    assert.match(answer, /"code":"invalid_input"/, label);
    assert.ok(ms < 20_000, `${label}: answered after ${ms} ms`);
    const logged = (await logSince(worker, from)).split('\n').filter((line) => line.includes('"status":408'));
    assert.equal(logged.length, 1, `${label}: one log line`);
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
});

test('a direct upload whose fields arrive at once and whose file bytes follow more than 10 s later is taken: the bound is on the fields alone', async () => {
  const boundary = 'late-file-boundary';
  const fields =
    `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.mp4"\r\nContent-Type: video/mp4\r\n\r\n`;
  const rest = `${'l'.repeat(3000)}\r\n--${boundary}--\r\n`;
  const { answer, ms } = await trickled(
    '/v1.3/assets',
    `Authorization: Bearer ${grant()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${fields.length + rest.length}`,
    [fields, rest],
    { gapMs: 11_000 },
  );
  assert.match(answer, /^HTTP\/1\.1 201 /, `${answer.slice(0, 300)} after ${ms} ms`);
});

test('a direct upload whose form arrives in small pieces is taken whole', async () => {
  const boundary = 'pieces-boundary';
  const content = Buffer.alloc(3000, 9);
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"note":"${'n'.repeat(2500)}"}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="pieces.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
    ),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const pieces = [];
  for (let at = 0; at < body.length; at += 97) pieces.push(body.subarray(at, at + 97));
  const { answer } = await trickled(
    '/v1.3/assets',
    `Authorization: Bearer ${grant()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}`,
    pieces,
    { gapMs: 2 },
  );
  assert.match(answer, /^HTTP\/1\.1 201 /, answer.slice(0, 300));
  const id = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))._id;
  const stored = await (await fetch(`${emulator.apiUrl}/assets/${id}`, { headers: { 'x-api-key': emulator.apiKey } })).json();
  assert.equal(stored.user_metadata.note, 'n'.repeat(2500));
  assert.equal(stored.file_type, 'video/mp4');
});

test('a direct upload refused after its closing boundary (an epilogue) leaves no asset upstream: the boundary is held back until the body ends', async () => {
  const boundary = 'epilogue-boundary';
  const form =
    `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n${'x'.repeat(1000)}\r\n--${boundary}--\r\n`;
  const epilogue = `--${boundary}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"edge_upload_owner":"victim"}\r\n--${boundary}--\r\n`;
  for (const [framing, gapMs] of [['content-length', 0], ['chunked', 0], ['content-length', 20], ['chunked', 20]]) {
    const before = await assetTotal();
    const chunked = framing === 'chunked';
    const pieces = chunked
      ? [`${form.length.toString(16)}\r\n${form}\r\n`, `${epilogue.length.toString(16)}\r\n${epilogue}\r\n0\r\n\r\n`]
      : [form, epilogue];
    const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${form.length + epilogue.length}`;
    const { answer } = await trickled(
      '/v1.3/assets',
      `Authorization: Bearer ${grant({ sub: 'epilogue' })}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n${length}`,
      pieces,
      { gapMs },
    );
    assert.match(answer, /^HTTP\/1\.1 400 /, `${framing}, ${gapMs} ms: ${answer.slice(0, 200)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await assetTotal()) - before, 0, `${framing}, ${gapMs} ms: no asset kept upstream`);
  }
});

test('a grant may not claim a longer life than MAX_GRANT_TTL_S', async () => {
  await resetStats();
  for (const exp of [now() + 600 + 120, now() + 86_400, now() + 10 * 365 * 86_400]) {
    const res = await fetch(`${worker.url}/v1.3/assets`, { headers: { authorization: `Bearer ${grant({ exp })}` } });
    const body = await res.json();
    assert.equal(res.status, 401, JSON.stringify(body));
    assert.match(body.message, /^token_lifetime_too_long/);
  }
  assert.deepEqual(await upstreamCalls(emulator), {});
  const ok = await fetch(`${worker.url}/v1.3/assets`, { headers: { authorization: `Bearer ${grant({ exp: now() + 590 })}` } });
  assert.equal(ok.status, 200, await ok.text());
});

test('an upstream redirect is never followed (the key stays home): 502 upstream_unavailable', async () => {
  const thief = [];
  const thiefServer = http.createServer((req, res) => {
    thief.push({ url: req.url, key: req.headers['x-api-key'] });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[],"page_info":{}}');
  });
  await new Promise((r) => thiefServer.listen(0, '127.0.0.1', r));
  const upstreamHits = [];
  const redirector = http.createServer((req, res) => {
    upstreamHits.push(req.url);
    req.resume();
    const status = [301, 302, 303, 307, 308][upstreamHits.length % 5];
    res.writeHead(status, { location: `http://127.0.0.1:${thiefServer.address().port}/steal${req.url}` }).end();
  });
  await new Promise((r) => redirector.listen(0, '127.0.0.1', r));
  const redirected = await startWorker({
    emulatorUrl: `http://127.0.0.1:${redirector.address().port}/v1.3`,
    secrets: { TWELVELABS_API_KEY: 'tlk_redirect_canary_key', GRANT_SECRET, TOKEN_SECRET },
  });
  try {
    const admin = grant({ scope: 'admin' });
    const calls = [
      ['GET', '/v1.3/assets/abc123', admin, undefined],
      ['GET', '/v1.3/assets', admin, undefined],
      ['POST', '/v1.3/assets/multipart-uploads', grant(), JSON.stringify({ filename: 'a.mp4', type: 'video', total_size: 10 })],
      ['DELETE', '/v1.3/assets/abc123', admin, undefined],
    ];
    for (const [method, path, token, body] of calls) {
      const res = await fetch(`${redirected.url}${path}`, {
        method, body, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      });
      const answer = await res.json();
      assert.equal(res.status, 502, `${method} ${path}: ${JSON.stringify(answer)}`);
      assert.equal(answer.code, 'upstream_unavailable');
    }
    assert.ok(upstreamHits.length >= calls.length, 'the Worker did call its upstream');
    assert.deepEqual(thief, [], 'no request followed a redirect');
    assert.ok(!redirected.output().includes('tlk_redirect_canary_key'));
  } finally {
    await redirected.stop();
    redirector.close();
    thiefServer.close();
  }
});

test('a configuration that cannot be trusted refuses every request with 500 config_invalid, naming the setting in the log', async () => {
  const strong = randomBytes(32).toString('hex');
  const cases = [
    ['TOKEN_SECRET', { GRANT_SECRET: strong, TOKEN_SECRET: 'short-token-secret-0123456789' }, {}],
    ['GRANT_SECRET', { GRANT_SECRET: 'short-grant-secret', TOKEN_SECRET: strong }, {}],
    ['TOKEN_SECRET', { GRANT_SECRET: strong, TOKEN_SECRET: strong }, {}],
    ['TWELVELABS_BASE_URL', { GRANT_SECRET: strong, TOKEN_SECRET: TOKEN_SECRET }, { TWELVELABS_BASE_URL: 'http://api.twelvelabs.example/v1.3' }],
    // An API key no header can carry: every upstream call would fail as if TwelveLabs were down.
    ['TWELVELABS_API_KEY', { GRANT_SECRET: strong, TOKEN_SECRET, TWELVELABS_API_KEY: 'tlk_line\nbreak_canary' }, {}],
    ['TWELVELABS_API_KEY', { GRANT_SECRET: strong, TOKEN_SECRET, TWELVELABS_API_KEY: 'tlk_inner space_canary' }, {}],
    ['TWELVELABS_API_KEY', { GRANT_SECRET: strong, TOKEN_SECRET, TWELVELABS_API_KEY: 'tlk_n\u00f6n_ascii_canary' }, {}],
    // A rotation's retiring secrets: as strong as the current ones, never a no-op, never shared
    // between grants and upload tokens, never without the secret that replaces them.
    ['GRANT_SECRET_PREVIOUS', { GRANT_SECRET: strong, GRANT_SECRET_PREVIOUS: 'short-previous-secret-canary', TOKEN_SECRET }, {}],
    ['GRANT_SECRET_PREVIOUS', { GRANT_SECRET: strong, GRANT_SECRET_PREVIOUS: strong, TOKEN_SECRET }, {}],
    ['TOKEN_SECRET_PREVIOUS', { GRANT_SECRET: strong, TOKEN_SECRET, TOKEN_SECRET_PREVIOUS: strong }, {}],
    ['TOKEN_SECRET_PREVIOUS', { GRANT_SECRET: strong, TOKEN_SECRET_PREVIOUS: TOKEN_SECRET }, {}],
    ['WEBHOOK_SECRET_PREVIOUS', { GRANT_SECRET: strong, TOKEN_SECRET, WEBHOOK_SECRET_PREVIOUS: randomBytes(32).toString('hex') }, {}],
    // The webhook's receiver holds its secret: it must not be able to sign upload tokens or grants.
    ['WEBHOOK_SECRET', { GRANT_SECRET: strong, TOKEN_SECRET, WEBHOOK_SECRET: TOKEN_SECRET }, { COMPLETION_WEBHOOK_URL: 'http://127.0.0.1:9/hook' }],
    ['WEBHOOK_SECRET', { GRANT_SECRET: strong, TOKEN_SECRET, WEBHOOK_SECRET: strong }, {}],
    ['GRANT_SECRET', { GRANT_SECRET: `hunter2${' '.repeat(32)}`, TOKEN_SECRET }, {}],
    // Extra CORS request headers: names only, never `*`.
    ['ALLOWED_REQUEST_HEADERS', { GRANT_SECRET: strong, TOKEN_SECRET }, { ALLOWED_REQUEST_HEADERS: 'traceparent, x-trace id' }],
    ['ALLOWED_REQUEST_HEADERS', { GRANT_SECRET: strong, TOKEN_SECRET }, { ALLOWED_REQUEST_HEADERS: '*' }],
    ['ALLOWED_REQUEST_HEADERS', { GRANT_SECRET: strong, TOKEN_SECRET }, { ALLOWED_REQUEST_HEADERS: 'x-a:b' }],
  ];
  for (const [setting, secrets, vars] of cases) {
    const bad = await startWorker({
      emulatorUrl: vars.TWELVELABS_BASE_URL ? undefined : emulator.apiUrl,
      vars,
      secrets: { TWELVELABS_API_KEY: emulator.apiKey, ...secrets },
      expectHealthy: false,
    });
    try {
      await resetStats();
      const logFrom = await quietOutputEnd(bad);
      const token = grant({ scope: 'admin' }, secrets.GRANT_SECRET);
      for (const path of ['/healthz', '/v1.3/assets', '/v1.3/assets/abc123']) {
        const res = await fetch(`${bad.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.json();
        assert.equal(res.status, 500, `${setting}: ${JSON.stringify(body)}`);
        assert.equal(body.code, 'config_invalid');
        assert.ok(body.message.includes(setting), body.message);
      }
      assert.deepEqual(await upstreamCalls(emulator), {}, `${setting}: nothing may reach upstream`);
      const log = await logSince(bad, logFrom, { lines: 3 });
      // (The start-up probe's healthz line may land in this slice too, so routes are counted.)
      const lines = log.split('\n').filter((l) => l.startsWith('{"code":')).map((l) => JSON.parse(l));
      assert.equal(lines.filter((l) => l.route === 'list_assets').length, 1, log);
      assert.equal(lines.filter((l) => l.route === 'get_asset').length, 1, log);
      for (const line of lines) assert.equal(line.setting, setting, JSON.stringify(line));
      for (const value of Object.values(secrets)) assert.ok(!bad.output().includes(value), `${setting}: a secret value was logged`);
    } finally {
      await bad.stop();
    }
  }
});

/** Sets emulator faults (`POST /_emulator/faults`). */
const setFaults = (patch) =>
  fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) }).then((res) => {
    assert.equal(res.status, 200);
    return res.arrayBuffer();
  });

const createSession = (token = grant()) =>
  fetch(`${worker.url}/v1.3/assets/multipart-uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ filename: 'timing.mp4', type: 'video', total_size: 1000 }),
  });

test("upstream's Retry-After is passed on as the seconds it means, in either of its forms, up to an hour", async () => {
  try {
    for (const [faults, low, high] of [
      [{ retry_after_secs: 60, retry_after_http_date: true }, 58, 61],
      [{ retry_after_secs: 7, retry_after_http_date: false }, 7, 7],
      [{ retry_after_secs: 7_200, retry_after_http_date: true }, 3_600, 3_600],
      [{ retry_after_secs: 1_000_000, retry_after_http_date: false }, 3_600, 3_600],
    ]) {
      await setFaults({ rate_limit_next: 1, ...faults });
      await resetStats();
      const res = await createSession();
      const body = await res.json();
      assert.equal(res.status, 429, JSON.stringify(body));
      assert.equal(body.code, 'rate_limited');
      const seconds = Number(res.headers.get('retry-after'));
      assert.ok(seconds >= low && seconds <= high, `${JSON.stringify(faults)}: Retry-After ${res.headers.get('retry-after')}`);
      assert.deepEqual(await upstreamCalls(emulator), { 'POST /v1.3/assets/multipart-uploads': 1 });
    }
  } finally {
    await setFaults({ rate_limit_next: 0, retry_after_secs: 1, retry_after_http_date: false });
  }
});

test("an upstream 408 is TwelveLabs' timeout, not the client's mistake: a retryable upstream_unavailable, and a read is tried again", async () => {
  const created = await createSession();
  assert.equal(created.status, 201);
  const { asset_id: assetId } = await created.json();
  try {
    // A session's creation is not repeated (it would reserve a second asset): the client is
    // told to try again.
    await setFaults({ api_fail_next: 1, api_fail_status: 408 });
    await resetStats();
    const refused = await createSession();
    const body = await refused.json();
    assert.deepEqual([refused.status, body.code], [502, 'upstream_unavailable'], JSON.stringify(body));
    assert.deepEqual(await upstreamCalls(emulator), { 'POST /v1.3/assets/multipart-uploads': 1 });
    // A read is repeated once by the Worker, as after a 5xx.
    await setFaults({ api_fail_next: 1, api_fail_status: 408 });
    await resetStats();
    const read = await fetch(`${worker.url}/v1.3/assets/${assetId}`, { headers: { authorization: `Bearer ${grant()}` } });
    assert.equal(read.status, 200, await read.text());
    assert.deepEqual(await upstreamCalls(emulator), { 'GET /v1.3/assets/{asset_id}': 2 });
  } finally {
    await setFaults({ api_fail_next: 0, api_fail_status: 500 });
  }
});

// In plain workerd, the production runtime: wrangler dev's proxy does not pass a client's
// disconnect on to the Worker.
test('a client that resets its connection right after a valid request does not cut the Worker short: every asset TwelveLabs created is indexed and logged', async (t) => {
  const plain = await plainWorkerd(t);
  const { port, host } = new URL(plain.url);
  const token = grant({ sub: `leaver-${Date.now()}` });
  const json = JSON.stringify({ filename: 'left.mp4', type: 'video', total_size: 1000 });
  const request =
    `POST /v1.3/assets/multipart-uploads HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`;
  const sessionsCreated = async () => (await upstreamCalls(emulator))['POST /v1.3/assets/multipart-uploads'] ?? 0;
  // Each client leaves once TwelveLabs has its request, while the Worker waits for the answer.
  await setFaults({ latency_ms: 300 });
  await resetStats();
  const logFrom = await quietOutputEnd(plain);
  const created = 5;
  try {
    for (let i = 1; i <= created; i++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(request);
      while ((await sessionsCreated()) < i) await new Promise((resolve) => setTimeout(resolve, 5));
      socket.resetAndDestroy();
    }
  } finally {
    await setFaults({ latency_ms: 0 });
  }
  const log = await logSince(plain, logFrom, { lines: created });
  const logged = log.split('\n').filter((l) => l.includes('"route":"create_upload"'));
  assert.equal(logged.length, created, `one log line for each of the ${created} sessions TwelveLabs created:\n${log}`);
  const listed = await fetch(`${plain.url}/v1.3/assets?page_limit=50`, { headers: { authorization: `Bearer ${token}` } });
  const page = await listed.json();
  assert.equal(page.page_info?.total_results, created, `each created asset is in its owner's index: ${JSON.stringify(page.page_info)}`);
});
