// The bench's reference JS Worker (bench/reference-worker/) is a fair peer of ours only if it does
// the same work: the same grant and upload-token checks, the same policy refusals before any
// upstream call, and the same owner filtering. Both run in workerd (as the bench runs them)
// against one emulator and one asset index (KV), and every request here must get the same status
// from both; each refusal must reach the emulator zero times through either.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { getJson, startEmulator } from '../support/harness.mjs';
import { signToken } from '../support/worker.mjs';
import { startKvServer } from '../../bench/lib/kv.mjs';
import { REFERENCE_WORKER_MODULES, startWorkerd } from '../../bench/lib/workerd.mjs';

const GRANT_SECRET = randomBytes(32).toString('hex');
const TOKEN_SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const grant = (claims = {}, secret = GRANT_SECRET, header) => signToken({ sub: 'alice', exp: now() + 600, ...claims }, secret, header);
const json = { 'content-type': 'application/json' };
const session = (extra = {}) => JSON.stringify({ filename: 'clip.mp4', type: 'video', total_size: 12 * 1024 * 1024, ...extra });

let emulator;
let kv;
const workers = {};

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(5 * 1024 * 1024)] });
  const env = {
    emulatorUrl: emulator.apiUrl,
    vars: { MAX_UPLOAD_BYTES: String(1024 ** 3), ALLOWED_TYPES: 'video,audio,image', DEV_GRANTS: 'false' },
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET },
  };
  // One asset index for both, so each lists the assets the other created too.
  kv = await startKvServer();
  workers.ours = await startWorkerd({ ...env, kv });
  workers.reference = await startWorkerd({ ...env, kv, modules: REFERENCE_WORKER_MODULES });
});

after(async () => {
  await Promise.allSettled([workers.ours?.stop(), workers.reference?.stop(), emulator?.stop()]);
  await kv?.stop();
});

/** Upstream API requests the emulator has answered so far. */
async function apiRequests() {
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  return Object.entries(stats.requests).reduce((n, [route, count]) => n + (route.includes(' /v1.3/') ? count : 0), 0);
}

/** Sends the same request to both Workers; answers {ours, reference} statuses and bodies. */
async function both(path, init = {}) {
  const out = {};
  for (const [name, worker] of Object.entries(workers)) {
    const res = await fetch(`${worker.url}${path}`, init);
    const text = await res.text();
    out[name] = { status: res.status, body: text ? JSON.parse(text) : null };
  }
  return out;
}

/** Both Workers answer `status` and neither called upstream. */
async function refusedByBoth(status, path, init) {
  const before = await apiRequests();
  const answers = await both(path, init);
  assert.equal(answers.ours.status, status, `ours: ${JSON.stringify(answers.ours.body)}`);
  assert.equal(answers.reference.status, status, `reference: ${JSON.stringify(answers.reference.body)}`);
  assert.equal(await apiRequests(), before, 'a refused request reached upstream');
}

const create = (token, body = session()) => ({ method: 'POST', headers: { ...json, authorization: `Bearer ${token}` }, body });

test('create-session refusals are the same in both, before any upstream call', async () => {
  const good = grant();
  const [head, claims] = good.split('.');
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', { method: 'POST', headers: json, body: session() });
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(`${head}.${claims}.${'A'.repeat(43)}`));
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(grant({}, 'another-secret-of-at-least-32-bytes!')));
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(grant({}, GRANT_SECRET, { alg: 'none', typ: 'JWT' })));
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(grant({ exp: now() - 120 })));
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(grant({ kind: 'upload' })));
  await refusedByBoth(401, '/v1.3/assets/multipart-uploads', create(grant({ exp: now() + 7200 })));
  await refusedByBoth(403, '/v1.3/assets/multipart-uploads', create(grant({ types: ['audio'] })));
  await refusedByBoth(403, '/v1.3/assets/multipart-uploads', create(grant({ max_bytes: 1000 })));
  await refusedByBoth(403, '/v1.3/assets/multipart-uploads', create(good, session({ total_size: 2 * 1024 ** 3 })));
  await refusedByBoth(400, '/v1.3/assets/multipart-uploads', create(good, session({ owner: 'bob' })));
  await refusedByBoth(400, '/v1.3/assets/multipart-uploads', create(good, session({ total_size: 0 })));
  await refusedByBoth(400, '/v1.3/assets/multipart-uploads', create(good, '{"filename":'));
});

test('presigned-URL refusals are the same in both, before any upstream call', async () => {
  const created = {};
  for (const [name, worker] of Object.entries(workers)) {
    created[name] = [
      await getJson(`${worker.url}/v1.3/assets/multipart-uploads`, create(grant())),
      await getJson(`${worker.url}/v1.3/assets/multipart-uploads`, create(grant())),
    ];
  }
  // Each Worker's own tokens, on its own sessions (the paths name one upload in both).
  for (const name of Object.keys(workers)) {
    const [a, b] = created[name];
    assert.equal(a.total_chunks, 3);
    const urls = (upload, token, body) => [`/v1.3/assets/multipart-uploads/${upload.upload_id}/presigned-urls`,
      { method: 'POST', headers: { ...json, authorization: `Bearer ${token}` }, body: JSON.stringify(body) }];
    const refused = async (status, path, init) => {
      const before = await apiRequests();
      const res = await fetch(`${workers[name].url}${path}`, init);
      await res.arrayBuffer();
      assert.equal(res.status, status, `${name}: ${path}`);
      assert.equal(await apiRequests(), before, `${name}: a refused request reached upstream`);
    };
    await refused(401, ...urls(a, grant(), { start: 1, count: 1 }));
    await refused(403, ...urls(a, b.upload_token, { start: 1, count: 1 }));
    await refused(400, ...urls(a, a.upload_token, { start: 0, count: 1 }));
    await refused(400, ...urls(a, a.upload_token, { start: 1, count: 51 }));
    await refused(400, ...urls(a, a.upload_token, { start: 2, count: 3 }));
    await refused(400, ...urls(a, a.upload_token, { start: 1, count: 1, extra: true }));
    const [path, init] = urls(a, a.upload_token, { start: 1, count: 3 });
    const ok = await getJson(`${workers[name].url}${path}`, init);
    assert.equal(ok.upload_urls.length, 3, name);
  }
});

test('the list route shows each user only their own assets, the same in both', async () => {
  // Created through the reference alone: ours lists them whether it reads the shared index or
  // filters upstream's page by owner tag.
  for (const sub of ['carol', 'dave', 'carol', 'dave', 'carol']) {
    await getJson(`${workers.reference.url}/v1.3/assets/multipart-uploads`, create(grant({ sub })));
  }
  const asUser = (sub) => ({ headers: { authorization: `Bearer ${grant({ sub })}` } });
  for (const [sub, count] of [['carol', 3], ['dave', 2]]) {
    const answers = await both('/v1.3/assets?page=1&page_limit=50', asUser(sub));
    for (const name of Object.keys(workers)) {
      assert.equal(answers[name].status, 200, name);
      assert.equal(answers[name].body.data.length, count, `${name}: ${sub}'s assets`);
      for (const asset of answers[name].body.data) assert.equal(asset.user_metadata.edge_upload_owner, sub, name);
    }
    const ids = (name) => answers[name].body.data.map((asset) => asset.id).sort();
    assert.deepEqual(ids('ours'), ids('reference'));
  }
  await refusedByBoth(401, '/v1.3/assets', {});
  await refusedByBoth(400, '/v1.3/assets?page_limit=0', asUser('carol'));
  await refusedByBoth(400, '/v1.3/assets?owner=dave', asUser('carol'));
  await refusedByBoth(400, '/v1.3/assets?page=1&page=2', asUser('carol'));
  await refusedByBoth(400, '/v1.3/assets?page_limit=10&page_limit=51', asUser('carol'));
});
