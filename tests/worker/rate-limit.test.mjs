// The per-user upload rate limit (docs/DEPLOY.md "Rate limit"): with the UPLOAD_RATE_LIMIT
// binding, each grant's `sub` may start `limit` uploads (sessions or assets) per period; the
// next is refused with 429 `rate_limited` and `Retry-After`, before anything reaches
// TwelveLabs. Other users, the upload token's routes and reads are not counted. A Worker
// without the binding has no limit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startEmulator } from '../support/harness.mjs';
import { callWorker, logSince, quietOutputEnd, resetEmulatorStats, signToken, startWorker, upstreamCalls } from '../support/worker.mjs';

const LIMIT = 3;
const GRANT_SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const grant = (sub) => signToken({ sub, exp: now() + 600 }, GRANT_SECRET);

let emulator;
let limited;
let unlimited;
before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(64 * 1024)] });
  const secrets = { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET: randomBytes(32).toString('hex') };
  [limited, unlimited] = await Promise.all([
    startWorker({
      emulatorUrl: emulator.apiUrl,
      secrets,
      extraToml: ['[[ratelimits]]', 'name = "UPLOAD_RATE_LIMIT"', 'namespace_id = "1001"', `simple = { limit = ${LIMIT}, period = 60 }`],
    }),
    startWorker({ emulatorUrl: emulator.apiUrl, secrets }),
  ]);
});
after(async () => {
  await Promise.all([limited?.stop(), unlimited?.stop()]);
  await emulator?.stop();
});

/**
 * Waits for the next period when fewer than `neededS` seconds are left of this one: the local
 * rate limiter (Miniflare's) counts in windows aligned to the wall clock, so a test whose
 * requests straddled two windows would see its count start over.
 */
async function withinOnePeriod(neededS, periodS = 60) {
  const left = periodS * 1000 - (Date.now() % (periodS * 1000));
  if (left < neededS * 1000) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

const createSession = (worker, sub, filename = 'clip.mp4') =>
  callWorker(worker.url, '/v1.3/assets/multipart-uploads', {
    method: 'POST',
    token: grant(sub),
    json: { filename, type: 'video', total_size: 1000 },
  });

function directUpload(worker, sub) {
  const form = new FormData();
  form.append('method', 'direct');
  form.append('file', new Blob([new Uint8Array(1000)], { type: 'audio/mpeg' }), 'song.mp3');
  return callWorker(worker.url, '/v1.3/assets', { method: 'POST', token: grant(sub), body: form });
}

test('a user may start the limit of uploads per period; the next is refused with 429 and Retry-After, and reaches TwelveLabs zero times', async () => {
  await withinOnePeriod(20);
  const sessions = [];
  for (let i = 0; i < LIMIT; i++) {
    const created = await createSession(limited, 'eager-user');
    assert.equal(created.status, 201, created.text);
    sessions.push(created.json);
  }
  await resetEmulatorStats(emulator);
  const logFrom = await quietOutputEnd(limited);
  // Sessions and direct uploads share the budget; each refusal is one handled log line.
  for (const attempt of [() => createSession(limited, 'eager-user'), () => directUpload(limited, 'eager-user')]) {
    const refused = await attempt();
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json.code, 'rate_limited');
    assert.equal(refused.headers.get('retry-after'), '60');
  }
  assert.deepEqual(await upstreamCalls(emulator), {}, 'nothing reached upstream');
  const lines = (await logSince(limited, logFrom, { lines: 2 })).split('\n').filter((l) => l.startsWith('{"code":'));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.ok(!limited.output().includes('Uncaught'), limited.output());

  // Another user has a budget of their own; the upload token's routes and reads are not counted.
  const other = await createSession(limited, 'another-user');
  assert.equal(other.status, 201, other.text);
  const urls = await callWorker(limited.url, `/v1.3/assets/multipart-uploads/${sessions[0].upload_id}/presigned-urls`, {
    method: 'POST',
    token: sessions[0].upload_token,
    json: { start: 1, count: 1 },
  });
  assert.equal(urls.status, 200, urls.text);
  const list = await callWorker(limited.url, '/v1.3/assets', { token: grant('eager-user') });
  assert.equal(list.status, 200, list.text);
});

test('only an upload that would reach TwelveLabs counts: refused requests leave the budget whole', async () => {
  const refusedForm = () => {
    const form = new FormData();
    form.append('method', 'direct');
    form.append('file', new Blob([new Uint8Array(100)], { type: 'application/pdf' }), 'notes.pdf');
    return callWorker(limited.url, '/v1.3/assets', { method: 'POST', token: grant('careful-user'), body: form });
  };
  const refusedSession = () => callWorker(limited.url, '/v1.3/assets/multipart-uploads', {
    method: 'POST',
    token: grant('careful-user'),
    json: { filename: 'huge.mp4', type: 'video', total_size: 2 ** 50 },
  });
  await withinOnePeriod(20);
  await resetEmulatorStats(emulator);
  for (const refused of [refusedForm, refusedForm, refusedSession, refusedSession]) {
    const answer = await refused();
    assert.ok(answer.status >= 400 && answer.status < 500 && answer.status !== 429, `${answer.status} ${answer.text}`);
  }
  assert.deepEqual(await upstreamCalls(emulator), {}, 'nothing reached upstream');
  for (let i = 0; i < LIMIT; i++) {
    const created = i % 2 ? await directUpload(limited, 'careful-user') : await createSession(limited, 'careful-user');
    assert.ok([200, 201].includes(created.status), `upload ${i + 1}: ${created.status} ${created.text}`);
  }
});

test('without the binding there is no limit', async () => {
  for (let i = 0; i < LIMIT + 2; i++) {
    const created = await createSession(unlimited, 'unlimited-user');
    assert.equal(created.status, 201, created.text);
  }
});
