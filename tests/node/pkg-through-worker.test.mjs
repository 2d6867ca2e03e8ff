// The package through the Worker behaves as it does against the API, under faults the emulator
// injects (`/_emulator/faults`): a session that expires mid-upload fails with `session_expired`
// (the Worker hands TwelveLabs' own code on, in `upstream_code`), and a request that runs out of
// retries keeps the HTTP status of its last answer. A file's name and media type are checked
// by the Worker before upstream (`core::media::check_name`), and a container of audio or video
// (`.webm`) holds either.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, seededBytes, startEmulator } from '../support/harness.mjs';
import { resetEmulatorStats, signToken, startWorker, upstreamCalls } from '../support/worker.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
const MiB = 1024 * 1024;
const GRANT_SECRET = randomBytes(32).toString('hex');
let emulator;
let worker;
let pkg;

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(MiB)] });
  worker = await startWorker({
    emulatorUrl: emulator.apiUrl,
    secrets: { TWELVELABS_API_KEY: emulator.apiKey, GRANT_SECRET, TOKEN_SECRET: randomBytes(32).toString('hex') },
  });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => {
  await worker?.stop();
  await emulator?.stop();
});

const getToken = () => signToken({ sub: 'through-worker', exp: Math.floor(Date.now() / 1000) + 600 }, GRANT_SECRET);
const rejection = (promise) => promise.then(() => null, (error) => error);

async function faults(patch) {
  const res = await fetch(`${emulator.url}/_emulator/faults`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch),
  });
  assert.equal(res.status, 200, await res.text());
}

test('a session that expires mid-upload fails with session_expired, through the Worker as against the API', async () => {
  for (const [label, options] of [
    ['API', { endpoint: emulator.url, apiKey: emulator.apiKey }],
    ['Worker', { endpoint: worker.url, getToken }],
  ]) {
    // Sessions live 2 s and every request takes 700 ms: the session expires after a few chunks.
    await faults({ session_ttl_secs: 2, latency_ms: 700 });
    try {
      const blob = new Blob([seededBytes(8 * MiB, 5)], { type: 'video/mp4' });
      const uploader = new pkg.Uploader({ ...options, concurrency: 1, persist: false });
      const error = await rejection(uploader.upload(blob, { filename: 'expiring.mp4' }).done);
      assert.equal(error?.code, 'session_expired', `${label}: ${error?.code}: ${error?.message}`);
      assert.equal(error.retryable, false);
      // The upload's reserved asset is deleted in the background: let that end here, so that
      // its request cannot take one of the next test's injected failures.
      await uploader.forget();
    } finally {
      await faults({ session_ttl_secs: 86400, latency_ms: 0 });
    }
  }
});

test('a request that runs out of retries keeps the HTTP status of its last answer', async () => {
  const retry = { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 3 };
  await faults({ rate_limit_rate: 1 });
  try {
    const created = await rejection(new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, retry, persist: false })
      .upload(new Blob([seededBytes(3 * MiB, 2)], { type: 'video/mp4' }), { filename: 'limited.mp4' }).done);
    assert.equal(created?.code, 'retries_exhausted', created?.message);
    assert.equal(created.status, 429, created.message);
  } finally {
    await faults({ rate_limit_rate: 0 });
  }
  await faults({ api_fail_next: 3 });
  try {
    const read = await rejection(new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, retry }).getAsset('0123456789abcdef01234567'));
    assert.equal(read?.code, 'retries_exhausted', read?.message);
    assert.equal(read.status, 500, read.message);
  } finally {
    await faults({ api_fail_next: 0 });
  }
});

test('a voice note recorded as .webm (audio/webm) uploads through the Worker, direct or multipart; a name that says another media type is refused before upstream', async () => {
  const uploader = new pkg.Uploader({ endpoint: worker.url, getToken, directUploadMaxBytes: 64 * 1024 });
  for (const size of [4096, 2 * MiB]) {
    const handle = uploader.upload(new Blob([seededBytes(size, 7)], { type: 'audio/webm' }), { filename: 'voice.webm' });
    const outcome = await handle.done.then((asset) => asset, (error) => error);
    assert.ok(outcome?.id, `${size} bytes: ${outcome?.code} ${outcome?.message}`);
  }
  // The Worker checks the name (the package leaves it to the Worker: BENCHMARKS.md, "Package").
  for (const size of [4096, 2 * MiB]) {
    for (const [type, filename] of [['image/png', 'clip.mp4'], ['audio/mpeg', 'movie.mkv'], ['image/jpeg', 'voice.webm']]) {
      await resetEmulatorStats(emulator);
      const error = await rejection(uploader.upload(new Blob([seededBytes(size, 8)], { type }), { filename }).done);
      assert.equal(error?.code, 'unsupported_type', `${size} bytes, ${type} ${filename}: ${error?.message}`);
      assert.equal(error?.retryable, false);
      assert.deepEqual(await upstreamCalls(emulator), {}, `${size} bytes, ${type} ${filename}: nothing reaches upstream`);
    }
  }
});
