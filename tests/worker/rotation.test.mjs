// Rotating the Worker's signing secrets without stopping uploads (docs/DEPLOY.md "Rotating
// secrets"): `<NAME>_PREVIOUS` verifies what the retiring secret signed, the current secret signs
// everything new, and nothing else verifies. Three Workers share one emulator: before the
// rotation (old secrets), during it (new secrets plus the old ones as `_PREVIOUS`) and after it
// (new secrets only). Every refusal is checked to reach TwelveLabs zero times.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { ROOT, startEmulator } from '../support/harness.mjs';
import { callWorker, resetEmulatorStats, signToken, startWorker, upstreamCalls } from '../support/worker.mjs';

const { verifyWebhook } = await import(pathToFileURL(path.join(ROOT, 'pkg/server.js')).href);

const CHUNK_SIZE = 64 * 1024;
const secret = () => randomBytes(32).toString('hex');
const OLD = { grant: secret(), token: secret(), webhook: secret() };
const NEW = { grant: secret(), token: secret(), webhook: secret() };
const now = () => Math.floor(Date.now() / 1000);
const grantFrom = (grantSecret, extra = {}) =>
  signToken({ sub: 'rotating-user', exp: now() + 600, ...extra }, grantSecret);

const deliveries = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(204).end();
  });
});

let emulator;
let before_;
let during;
let after_;
before(async () => {
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  emulator = await startEmulator({ args: ['--chunk-size', String(CHUNK_SIZE), '--processing-ms', '50'] });
  const start = (secrets, vars = {}) =>
    startWorker({ emulatorUrl: emulator.apiUrl, vars, secrets: { TWELVELABS_API_KEY: emulator.apiKey, ...secrets } });
  const hook = { COMPLETION_WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/hook` };
  [before_, during, after_] = await Promise.all([
    start({ GRANT_SECRET: OLD.grant, TOKEN_SECRET: OLD.token }),
    start(
      {
        GRANT_SECRET: NEW.grant,
        GRANT_SECRET_PREVIOUS: OLD.grant,
        TOKEN_SECRET: NEW.token,
        TOKEN_SECRET_PREVIOUS: OLD.token,
        WEBHOOK_SECRET: NEW.webhook,
        WEBHOOK_SECRET_PREVIOUS: OLD.webhook,
      },
      hook,
    ),
    start({ GRANT_SECRET: NEW.grant, TOKEN_SECRET: NEW.token }),
  ]);
});

after(async () => {
  await Promise.all([before_?.stop(), during?.stop(), after_?.stop()]);
  await emulator?.stop();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

/** Creates a 2-chunk session through `worker` with `grant`; answers the Worker's reply. */
function createSession(worker, grant, filename = 'rotation.mp4') {
  return callWorker(worker.url, '/v1.3/assets/multipart-uploads', {
    method: 'POST',
    token: grant,
    json: { filename, type: 'video', total_size: 2 * CHUNK_SIZE },
  });
}

const urlBatch = (worker, session, token) =>
  callWorker(worker.url, `/v1.3/assets/multipart-uploads/${session.upload_id}/presigned-urls`, {
    method: 'POST',
    token,
    json: { start: 1, count: 2 },
  });

/** Every request in `attempts` is refused with `status` and reaches TwelveLabs zero times. */
async function refusedUpstreamFree(attempts, status, what) {
  await resetEmulatorStats(emulator);
  for (const [name, attempt] of attempts) {
    const answer = await attempt();
    assert.equal(answer.status, status, `${what}: ${name}: ${answer.text}`);
  }
  assert.deepEqual(await upstreamCalls(emulator), {}, `${what}: nothing may reach upstream`);
}

test('during a rotation, grants signed with either grant secret start uploads; the token comes from the new secret', async () => {
  for (const [name, grantSecret] of [['new', NEW.grant], ['previous', OLD.grant]]) {
    const created = await createSession(during, grantFrom(grantSecret));
    assert.equal(created.status, 201, `${name}: ${created.text}`);
    const [, claims, signature] = created.json.upload_token.split('.');
    const expected = createHmac('sha256', NEW.token)
      .update(created.json.upload_token.slice(0, -signature.length - 1))
      .digest('base64url');
    assert.equal(signature, expected, `${name}: the upload token is signed with TOKEN_SECRET`);
    assert.equal(JSON.parse(Buffer.from(claims, 'base64url')).sub, 'rotating-user');
  }
});

test('a grant signed with anything but the two grant secrets is refused, as is every tampered variant', async () => {
  const stranger = secret();
  const signedWithOld = grantFrom(OLD.grant);
  const [header, , signature] = signedWithOld.split('.');
  const widened = Buffer.from(JSON.stringify({ sub: 'rotating-user', exp: now() + 600, scope: 'admin' })).toString('base64url');
  await refusedUpstreamFree(
    [
      ['a third secret', () => createSession(during, grantFrom(stranger))],
      ['the previous token secret', () => createSession(during, grantFrom(OLD.token))],
      ['the current token secret', () => createSession(during, grantFrom(NEW.token))],
      ['the previous webhook secret', () => createSession(during, grantFrom(OLD.webhook))],
      ['claims widened under the previous secret', () => createSession(during, `${header}.${widened}.${signature}`)],
      ['the previous secret, expired', () => createSession(during, grantFrom(OLD.grant, { exp: now() - 120 }))],
      ['the previous secret, once it is removed', () => createSession(after_, signedWithOld)],
      ['the new secret, before the Worker has it', () => createSession(before_, grantFrom(NEW.grant))],
    ],
    401,
    'grant',
  );
});

test('an upload token minted before the rotation drives its upload during it and is refused once the old secret is gone', async () => {
  const created = await createSession(before_, grantFrom(OLD.grant), 'in-flight.mp4');
  assert.equal(created.status, 201, created.text);
  const session = created.json;
  const oldToken = session.upload_token;

  const urls = await urlBatch(during, session, oldToken);
  assert.equal(urls.status, 200, urls.text);
  const items = [];
  for (const { chunk_index: index, url } of urls.json.upload_urls) {
    const put = await fetch(url, { method: 'PUT', headers: session.upload_headers, body: new Uint8Array(CHUNK_SIZE).fill(index) });
    assert.equal(put.status, 200, await put.text());
    items.push({ chunk_index: index, proof: put.headers.get('etag'), proof_type: 'etag', chunk_size: CHUNK_SIZE });
  }
  assert.equal(items.length, 2, JSON.stringify(urls.json));

  // After the rotation the old token no longer verifies, nor do forgeries of it.
  const forged = signToken(JSON.parse(Buffer.from(oldToken.split('.')[1], 'base64url')), secret());
  const asGrantSecret = signToken(JSON.parse(Buffer.from(oldToken.split('.')[1], 'base64url')), OLD.grant);
  await refusedUpstreamFree(
    [
      ['the old token, the old secret removed', () => urlBatch(after_, session, oldToken)],
      ['a token re-signed with a third secret', () => urlBatch(during, session, forged)],
      ['a token re-signed with the previous grant secret', () => urlBatch(during, session, asGrantSecret)],
      ['a grant in place of the token', () => urlBatch(during, session, grantFrom(OLD.grant))],
    ],
    401,
    'upload token',
  );

  const report = await callWorker(during.url, `/v1.3/assets/multipart-uploads/${session.upload_id}`, {
    method: 'POST',
    token: oldToken,
    json: { completed_chunks: items },
  });
  assert.equal(report.status, 200, report.text);
});

test('while the webhook secret is rotated, each delivery carries a signature per secret, and a receiver with either verifies it', async () => {
  const created = await createSession(during, grantFrom(NEW.grant), 'hooked.mp4');
  assert.equal(created.status, 201, created.text);
  const session = created.json;
  const items = [];
  for (const { chunk_index: index, url } of session.upload_urls) {
    const put = await fetch(url, { method: 'PUT', headers: session.upload_headers, body: new Uint8Array(CHUNK_SIZE) });
    assert.equal(put.status, 200);
    items.push({ chunk_index: index, proof: put.headers.get('etag'), proof_type: 'etag', chunk_size: CHUNK_SIZE });
  }
  const report = await callWorker(during.url, `/v1.3/assets/multipart-uploads/${session.upload_id}`, {
    method: 'POST',
    token: session.upload_token,
    json: { completed_chunks: items },
  });
  assert.equal(report.status, 200, report.text);
  const started = Date.now();
  let delivery;
  while (!(delivery = deliveries.find((d) => JSON.parse(d.body).asset_id === session.asset_id))) {
    assert.ok(Date.now() - started < 20_000, `no delivery; worker log:\n${during.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const header = delivery.headers['webhook-signature'];
  const [, t, first, second] = header.match(/^t=(\d+),v1=([0-9a-f]{64}),v1=([0-9a-f]{64})$/) ?? [];
  assert.ok(t, header);
  const mac = (key) => createHmac('sha256', key).update(`${t}.`).update(delivery.body).digest('hex');
  assert.deepEqual([first, second], [mac(NEW.webhook), mac(OLD.webhook)]);

  for (const accepted of [NEW.webhook, OLD.webhook, [OLD.webhook, NEW.webhook], [secret(), NEW.webhook]]) {
    const event = await verifyWebhook(accepted, delivery.headers, delivery.body);
    assert.equal(event.asset_id, session.asset_id);
  }
  for (const refused of [secret(), [secret(), secret()], NEW.grant]) {
    await assert.rejects(verifyWebhook(refused, delivery.headers, delivery.body), { code: 'signature_mismatch' });
  }
  for (const misuse of [[], [NEW.webhook, ''], [NEW.webhook, 42], '']) {
    await assert.rejects(verifyWebhook(misuse, delivery.headers, delivery.body), TypeError);
  }
});
