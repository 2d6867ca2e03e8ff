// The package's `getToken`, in Node against the Worker in workerd and the emulator: a grant lost
// to the network (what the application's own `fetch` throws, a `TypeError` worded differently by
// each runtime) is asked for again after the creation backoff, visibly, with one stable message;
// an application that refuses (throws anything else) fails the upload at once as `unauthorized`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, seededBytes, startEmulator } from '../support/harness.mjs';
import { signToken, startWorker } from '../support/worker.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
const GRANT_SECRET = randomBytes(32).toString('hex');
const TOKEN_SECRET = randomBytes(32).toString('hex');
let emulator;
let worker;
let pkg;

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(1024 * 1024)] });
  worker = await startWorker({
    emulatorUrl: emulator.apiUrl,
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET },
  });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => {
  await worker?.stop();
  await emulator?.stop();
});

const grant = () => signToken({ sub: 'grant-test', exp: Math.floor(Date.now() / 1000) + 600 }, GRANT_SECRET);
/** What `fetch` throws in Node when the network fails (`TypeError: fetch failed`). */
const networkFailure = () => fetch('http://127.0.0.1:1/grant').then(() => assert.fail('port 1 answered'));
const rejection = (promise) => promise.then(() => null, (error) => error);

/** An uploader whose `getToken` runs `answer(n)` on its n-th call; `calls()` counts them. */
function uploaderWith(answer) {
  let asked = 0;
  const uploader = new pkg.Uploader({
    endpoint: worker.url,
    persist: false,
    getToken: async () => answer(++asked),
  });
  return { uploader, calls: () => asked };
}

test('a grant lost to the network is asked for again, visibly, and the upload completes', async () => {
  const { uploader, calls } = uploaderWith(async (n) => {
    if (n <= 2) await networkFailure();
    return grant();
  });
  const retrying = [];
  const handle = uploader.upload(new Blob([seededBytes(3 * 1024 * 1024, 7)], { type: 'video/mp4' }), {
    filename: 'blip.mp4',
    onProgress: (p) => p.retrying && retrying.push(p.retrying),
  });
  const asset = await handle.done;
  assert.ok(asset.id);
  assert.equal(calls(), 3, 'getToken asked again after each blip');
  assert.deepEqual(retrying.map((r) => [r.attempt, r.errorCode]).slice(0, 2), [[1, 'network'], [2, 'network']]);
  // The one-off calls ride out a blip the same way.
  const fresh = uploaderWith(async (n) => {
    if (n === 1) await networkFailure();
    return grant();
  });
  assert.equal((await fresh.uploader.getAsset(asset.id)).id, asset.id);
  assert.equal(fresh.calls(), 2);
});

test('a grant that keeps failing on the network gives up with one stable message; a refusal fails at once', async () => {
  const offline = uploaderWith(() => networkFailure());
  const error = await rejection(offline.uploader.upload(new Blob([seededBytes(2 * 1024 * 1024, 8)], { type: 'video/mp4' }), { filename: 'off.mp4' }).done);
  assert.equal(error?.code, 'retries_exhausted', error?.message);
  assert.equal(error.message, 'gave up after 5 attempts: getToken failed: no response (network error)');
  assert.equal(offline.calls(), 5);

  const refusing = uploaderWith(() => {
    throw new Error('not signed in');
  });
  const refused = await rejection(refusing.uploader.upload(new Blob([seededBytes(2 * 1024 * 1024, 9)], { type: 'video/mp4' }), { filename: 'no.mp4' }).done);
  assert.equal(refused?.code, 'unauthorized', refused?.message);
  assert.equal(refused.message, 'getToken failed: not signed in');
  assert.equal(refusing.calls(), 1, 'a refusal is not asked again');
});
