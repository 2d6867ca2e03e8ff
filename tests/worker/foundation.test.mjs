// The Worker slice of the foundation: the built bundle runs in workerd, /healthz reports the
// crate version, and CORS follows ALLOWED_ORIGINS. No upstream needed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../support/harness.mjs';
import { startWorker } from '../support/worker.mjs';

const ALLOWED = 'http://127.0.0.1:5173';
const crateVersion = readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(
  /\[package\][^[]*?\nversion\s*=\s*"([^"]+)"/,
)[1];

let worker;
before(async () => {
  worker = await startWorker({ vars: { ALLOWED_ORIGINS: `${ALLOWED},https://app.example.com` } });
});
after(async () => worker?.stop());

test('GET /healthz answers JSON with the crate version and no upstream configured', async () => {
  const res = await fetch(`${worker.url}/healthz`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const body = await res.json();
  assert.equal(body.version, crateVersion);
  assert.equal(body.upstream_configured, false);
});

test('an allowed origin gets its CORS allow header, and a preflight names the route methods', async () => {
  const res = await fetch(`${worker.url}/healthz`, { headers: { Origin: ALLOWED } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
  assert.equal(res.headers.get('access-control-allow-credentials'), null);

  const pre = await fetch(`${worker.url}/v1.3/assets/abc`, {
    method: 'OPTIONS',
    headers: {
      Origin: ALLOWED,
      'Access-Control-Request-Method': 'DELETE',
      'Access-Control-Request-Headers': 'authorization',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, DELETE');
  assert.equal(pre.headers.get('access-control-allow-headers'), 'Authorization, Content-Type');
});

test('an origin outside ALLOWED_ORIGINS gets no CORS allow header', async () => {
  const res = await fetch(`${worker.url}/healthz`, { headers: { Origin: 'https://evil.example' } });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  assert.equal(res.status, 403);
  assert.equal((await res.json()).code, 'forbidden');

  const pre = await fetch(`${worker.url}/healthz`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' },
  });
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  assert.equal(pre.status, 403);
});

test('every answer carries an IMF-fixdate Date header on the server clock (formatted by the Worker)', async () => {
  for (const [url, init] of [
    [`${worker.url}/healthz`, {}],
    [`${worker.url}/no-such-route`, {}],
    [`${worker.url}/healthz`, { headers: { Origin: 'https://evil.example' } }],
  ]) {
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(url, init);
    await res.arrayBuffer();
    const after = Math.ceil(Date.now() / 1000);
    const date = res.headers.get('date');
    assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
    const secs = Date.parse(date) / 1000;
    assert.ok(secs >= before - 1 && secs <= after + 1, `${date} is not now`);
    assert.equal(new Date(secs * 1000).toUTCString(), date, 'the text JS prints for the same instant');
  }
});
