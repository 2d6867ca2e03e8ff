// Failures a new user meets, found by a review of the packed package (2026-12-06), in Node against
// the emulator and loopback servers that stand in for a broken deployment: each fails fast with a
// code that says what to fix, `onProgress` reports an upload's end once and never as `done` when
// it failed, and every documented `retry` value is usable alone.
import assert from 'node:assert/strict';
import http from 'node:http';
import { appendFileSync, mkdtempSync, openAsBlob, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';
import vm from 'node:vm';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, assetStatus, freePort, seededBytes, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
const MiB = 1024 * 1024;
let emulator;
let pkg;

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(MiB)] });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

/**
 * A loopback server answering every request with `answer(req)` ({status, body}); records each
 * request's method and path (`seen`) and its Authorization header (`authorizations`).
 */
/** A loopback HTTP server answering `answer(req)` ({ status, body }; nothing: never answers). */
async function fakeEndpoint(answer) {
  const seen = [];
  const authorizations = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url.split('?')[0]}`);
    authorizations.push(req.headers.authorization);
    req.resume();
    const reply = answer(req);
    if (!reply) return; // never answers (stop() closes the connection)
    const { status, body } = reply;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    authorizations,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

const rejection = (promise) => promise.then(() => null, (error) => error);

test('a Worker that refuses its own configuration fails every call at once with config_invalid, naming the setting', async () => {
  const worker = await fakeEndpoint(() => ({
    status: 500,
    body: { code: 'config_invalid', message: 'The Worker is misconfigured: GRANT_SECRET must be at least 32 bytes.' },
  }));
  try {
    const uploader = new pkg.Uploader({ endpoint: worker.url, getToken: async () => 'a-grant', persist: false });
    const calls = [
      ['upload', () => uploader.upload(new Blob([seededBytes(3 * MiB, 1)], { type: 'video/mp4' }), { filename: 'c.mp4' }).done],
      ['direct upload', () => uploader.upload(new Blob([seededBytes(1000, 2)], { type: 'video/mp4' }), { filename: 'd.mp4' }).done],
      ['getAsset', () => uploader.getAsset('a1')],
      ['listAssets', () => uploader.listAssets()],
      ['deleteAsset', () => uploader.deleteAsset('a1')],
      ['uploadUrl', () => uploader.uploadUrl('https://media.example.com/a.mp4')],
    ];
    for (const [name, call] of calls) {
      const before = worker.seen.length;
      const error = await rejection(call());
      assert.equal(error?.code, 'config_invalid', `${name}: ${error?.code} ${error?.message}`);
      assert.equal(error.retryable, false, name);
      assert.match(error.message, /GRANT_SECRET/, name);
      assert.equal(worker.seen.length - before, 1, `${name}: asked once, never retried`);
    }
  } finally {
    await worker.stop();
  }
});

test('getAsset, listAssets and deleteAsset give up on an unreachable endpoint within seconds, saying what failed', async () => {
  const port = await freePort(); // nothing listens there
  const uploader = new pkg.Uploader({ endpoint: `http://127.0.0.1:${port}`, getToken: async () => 'a-grant', persist: false });
  const started = Date.now();
  const errors = await Promise.all([
    rejection(uploader.getAsset('a1')),
    rejection(uploader.listAssets()),
    rejection(uploader.deleteAsset('a1')),
  ]);
  const elapsedMs = Date.now() - started;
  for (const [error, words] of [[errors[0], 'reading the asset'], [errors[1], 'listing the assets'], [errors[2], 'deleting the asset']]) {
    assert.equal(error?.code, 'retries_exhausted', `${words}: ${error?.message}`);
    assert.match(error.message, new RegExp(`gave up after 5 attempts: ${words} failed: no response`));
  }
  // The creation default: at most 7.5 s of backoff (15 s is the promise; a loaded machine adds).
  assert.ok(elapsedMs < 15_000, `gave up after ${elapsedMs} ms`);
});

test('onProgress reports an upload\'s end once, and a failed upload never as done', async () => {
  const phasesOf = async (uploader, bytes) => {
    const phases = [];
    const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
      filename: 'phases.mp4',
      onProgress: (p) => phases.push(p.phase),
    });
    const error = await rejection(handle.done);
    return { phases, error, last: handle.progress };
  };
  const ok = await phasesOf(new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false }), seededBytes(3 * MiB, 3));
  assert.equal(ok.error, null);
  assert.equal(ok.phases.at(-1), 'done', ok.phases.join());
  assert.equal(ok.phases.filter((p) => p === 'done').length, 1, ok.phases.join());

  // Every chunk is stored, then reporting them is refused for good: the upload fails.
  const refusingReports = (url, init) => (init?.method === 'POST' && /multipart-uploads\/[^/]+$/.test(String(url))
    ? Promise.resolve(new Response(JSON.stringify({ code: 'parameter_invalid', message: 'no' }), { status: 400 }))
    : fetch(url, init));
  const failed = await phasesOf(
    new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: refusingReports }),
    seededBytes(3 * MiB, 4),
  );
  assert.equal(failed.error?.code, 'invalid_input', failed.error?.message);
  assert.ok(!failed.phases.includes('done'), `a failed upload showed done: ${failed.phases.join()}`);
  assert.equal(failed.phases.at(-1), 'failed', failed.phases.join());
  assert.equal(failed.phases.filter((p) => p === 'failed').length, 1, failed.phases.join());
  assert.equal(failed.last.phase, 'failed');
});

test('every retry value in its documented range is usable alone; a first delay above the largest is refused by name', async () => {
  const base = { endpoint: emulator.url, apiKey: emulator.apiKey, persist: false };
  for (const retry of [{ baseDelayMs: 5000 }, { baseDelayMs: 600000 }, { maxDelayMs: 100 }, { maxDelayMs: 1 }, { maxAttempts: 1 }]) {
    const uploader = new pkg.Uploader({ ...base, retry });
    const asset = await uploader.upload(new Blob([seededBytes(2 * MiB, 5)], { type: 'video/mp4' }), { filename: 'r.mp4' }).done;
    assert.ok(asset.id, JSON.stringify(retry));
  }
  assert.throws(
    () => new pkg.Uploader({ ...base, retry: { baseDelayMs: 5000, maxDelayMs: 1000 } }),
    (error) => error.code === 'invalid_input' && /retry\.baseDelayMs/.test(error.message) && /retry\.maxDelayMs/.test(error.message),
  );
});

test('upload() and resume() of something that is not a File or Blob reject done with invalid_input', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  for (const value of [null, undefined, { size: 5 }, 'text', new Uint8Array(4)]) {
    const handle = uploader.upload(value);
    const error = await rejection(handle.done);
    assert.equal(error?.name, 'UploadError', String(value));
    assert.equal(error.code, 'invalid_input', String(value));
    assert.match(error.message, /File or a Blob/);
    assert.equal(handle.progress.phase, 'failed');
    assert.equal(handle.progress.fraction, 0);
  }
  const resumed = uploader.resume({ name: 'x' });
  assert.equal((await rejection(resumed.done))?.code, 'invalid_input');
});

test('a misspelt option is refused by name in every options object, not ignored', async () => {
  const base = { endpoint: emulator.url, apiKey: emulator.apiKey, persist: false };
  const named = (owner, key) => (error) => {
    assert.equal(error?.name, 'UploadError');
    assert.equal(error.code, 'invalid_input');
    assert.equal(error.message, `${owner} has no option \`${key}\``);
    return true;
  };
  assert.throws(() => new pkg.Uploader({ ...base, concurrencyy: 8 }), named('UploaderOptions', 'concurrencyy'));
  assert.throws(() => new pkg.Uploader({ ...base, retry: { maxAtempts: 2 } }), named('UploaderOptions.retry', 'maxAtempts'));
  // A wrong value is still named first, as before.
  assert.throws(() => new pkg.Uploader({ ...base, concurrency: 0, concurrencyy: 8 }), /UploaderOptions\.concurrency must be/);
  // An unknown name whose value is undefined says nothing (spread props, optional fields).
  const uploader = new pkg.Uploader({ ...base, notAnOption: undefined });
  const blob = new Blob([seededBytes(1000, 6)], { type: 'video/mp4' });
  await assert.rejects(uploader.upload(blob, { filename: 'a.mp4', waitUntilRedy: true }).done, named('UploadOptions', 'waitUntilRedy'));
  await assert.rejects(uploader.listAssets({ pagelimit: 5 }), named('ListAssetsOptions', 'pagelimit'));
  await assert.rejects(uploader.deleteAsset('a1', { forse: true }), named('DeleteAssetOptions', 'forse'));
  await assert.rejects(uploader.waitUntilReady('a1', { timeout: 5 }), named('WaitOptions', 'timeout'));
  await assert.rejects(uploader.uploadUrl('https://media.example.com/a.mp4', { fileName: 'a.mp4' }), named('UrlUploadOptions', 'fileName'));
  const queue = new pkg.UploadQueue(uploader);
  assert.throws(() => queue.add(blob, { fileName: 'a.mp4' }), named('QueueAddOptions', 'fileName'));
  // Every documented option is still accepted.
  const asset = await uploader.upload(blob, {
    filename: 'all.mp4', type: 'video', enableHls: false, enableThumbnail: false,
    userMetadata: { project: 'p' }, onProgress: () => {}, waitUntilReady: false, signal: new AbortController().signal,
  }).done;
  assert.ok(asset.id);
  await uploader.listAssets({ page: 1, pageLimit: 5, assetTypes: ['video'], assetIds: [asset.id], filename: 'all.mp4', signal: new AbortController().signal });
});

test("an option of another call is refused by name too: uploadUrl takes no type, onProgress or id, upload and queue.add no id", async () => {
  // The three calls read their options with one reader; each takes only the names its TypeScript
  // type lists (UrlUploadOptions, UploadOptions, QueueAddOptions), and nothing is sent.
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  const named = (owner, key) => (error) => {
    assert.equal(error?.name, 'UploadError');
    assert.equal(error.code, 'invalid_input');
    assert.equal(error.message, `${owner} has no option \`${key}\``);
    return true;
  };
  const url = 'https://media.example.com/a.mp4';
  await assert.rejects(uploader.uploadUrl(url, { onProgress: () => {} }), named('UrlUploadOptions', 'onProgress'));
  await assert.rejects(uploader.uploadUrl(url, { type: 'video' }), named('UrlUploadOptions', 'type'));
  await assert.rejects(uploader.uploadUrl(url, { id: 'up1' }), named('UrlUploadOptions', 'id'));
  const blob = new Blob([seededBytes(1000, 8)], { type: 'video/mp4' });
  await assert.rejects(uploader.upload(blob, { filename: 'a.mp4', id: 'up1' }).done, named('UploadOptions', 'id'));
  const queue = new pkg.UploadQueue(uploader);
  assert.throws(() => queue.add(blob, { id: 'up1' }), named('QueueAddOptions', 'id'));
});

test('an argument of the wrong type is an UploadError invalid_input naming it, as a rejection where the call returns a promise, never a bare TypeError', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  const invalid = (pattern) => (error) => {
    assert.equal(error?.name, 'UploadError', String(error));
    assert.equal(error.code, 'invalid_input');
    assert.match(error.message, pattern);
    return true;
  };
  const asset = { id: 'a1' };
  // Promise-returning calls reject; none of them throws.
  const calls = [
    [() => uploader.getAsset(asset), /getAsset: assetId must be a string/],
    [() => uploader.getAsset(), /getAsset: assetId must be a string/],
    [() => uploader.deleteAsset(42), /deleteAsset: assetId must be a string/],
    [() => uploader.waitUntilReady(null), /waitUntilReady: assetId must be a string/],
    [() => uploader.uploadUrl(new URL('https://media.example.com/a.mp4')), /uploadUrl: url must be a string/],
    [() => uploader.forget({ id: 'up1' }), /forget: id must be a string/],
  ];
  for (const [call, pattern] of calls) {
    let promise;
    assert.doesNotThrow(() => (promise = call()), String(call));
    await assert.rejects(promise, invalid(pattern), String(call));
  }
  const queue = new pkg.UploadQueue(uploader);
  assert.throws(() => queue.pause({ id: 'x' }), invalid(/UploadQueue\.pause: id must be a string/));
  assert.throws(() => queue.cancel(), invalid(/UploadQueue\.cancel: id must be a string/));
  // A listener that is not a function would never be called: refused at once.
  const blob = new Blob([seededBytes(1000, 9)], { type: 'video/mp4' });
  const handle = uploader.upload(blob, { filename: 'a.mp4' });
  assert.throws(() => handle.subscribe(42), invalid(/subscribe: listener must be a function/));
  assert.throws(() => queue.subscribe(), invalid(/subscribe: listener must be a function/));
  await handle.done;
  assert.equal(typeof handle.subscribe(() => {}), 'function');
});

test('a file that changes on disk during its upload fails at once with file_mismatch, not as a network error retried for a minute', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-upload-changed-'));
  const file = path.join(dir, 'clip.mp4');
  const variants = [
    ['appended to', () => appendFileSync(file, Buffer.alloc(10, 1))],
    ['truncated', () => truncateSync(file, 5 * MiB)],
    ['rewritten with the same size', () => writeFileSync(file, seededBytes(8 * MiB, 99))],
  ];
  try {
    for (const [what, change] of variants) {
      writeFileSync(file, seededBytes(8 * MiB, 7));
      const blob = await openAsBlob(file, { type: 'video/mp4' });
      let changed = false;
      // The first chunk's PUT waits until the file has changed, so the change always lands
      // mid-upload; later PUTs (their bytes now unreadable) fail as they are sent.
      const changeFirst = async (input, init) => {
        if (!changed && init?.method === 'PUT') {
          changed = true;
          await new Promise((resolve) => setTimeout(resolve, 1100)); // past the mtime's resolution
          change();
        }
        return fetch(input, init);
      };
      const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: changeFirst });
      const started = Date.now();
      const error = await rejection(uploader.upload(blob, { filename: 'clip.mp4' }).done);
      const elapsedMs = Date.now() - started;
      assert.equal(error?.code, 'file_mismatch', `${what}: ${error?.code} ${error?.message}`);
      assert.equal(error.retryable, false, what);
      assert.match(error.message, /changed or can no longer be read/, what);
      assert.ok(elapsedMs < 10_000, `${what}: failed after ${elapsedMs} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a queue item whose upload is refused at once ends failed with the refusal, tells its subscribers, and lets the next item run', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  const queue = new pkg.UploadQueue(uploader);
  let notified = 0;
  const unsubscribe = queue.subscribe(() => { notified += 1; });
  try {
    const [untyped] = queue.add(new File([seededBytes(1000, 8)], 'clip.bin'));
    const [typed] = queue.add(new File([seededBytes(1000, 9)], 'clip.mp4', { type: 'video/mp4' }));
    const item = (id) => queue.getSnapshot().items.find((i) => i.id === id);
    const deadline = Date.now() + 10_000;
    while (item(typed)?.phase !== 'done' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(item(untyped).phase, 'failed', JSON.stringify(item(untyped)));
    assert.equal(item(untyped).error?.code, 'unsupported_type');
    assert.equal(item(typed).phase, 'done', JSON.stringify(item(typed)));
    const { counts } = queue.getSnapshot().totals;
    assert.equal(counts.starting, 0, JSON.stringify(counts));
    assert.equal(counts.failed, 1, JSON.stringify(counts));
    assert.ok(notified >= 2, `subscribers told ${notified} times`);
  } finally {
    unsubscribe();
  }
});

test('an upload whose session TwelveLabs marks failed ends at once with session_failed, not retried', async () => {
  let failedSession = false;
  // Once the first chunk is stored, the session fails (the emulator's hook for TwelveLabs'
  // undocumented `failed`): later PUTs get NoSuchUpload, and the status read says `failed`.
  const failAfterFirstPut = async (input, init) => {
    const response = await fetch(input, init);
    if (!failedSession && init?.method === 'PUT' && response.ok) {
      failedSession = true;
      const uploadId = new URL(String(input)).pathname.split('/')[2];
      const hook = await fetch(`${emulator.url}/_emulator/sessions/${uploadId}/fail`, { method: 'POST' });
      assert.equal(hook.status, 200, await hook.text());
    }
    return response;
  };
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, concurrency: 1, fetch: failAfterFirstPut });
  const started = Date.now();
  const error = await rejection(uploader.upload(new Blob([seededBytes(4 * MiB, 12)], { type: 'video/mp4' }), { filename: 'doomed.mp4' }).done);
  assert.ok(failedSession, 'the hook ran');
  assert.equal(error?.code, 'session_failed', `${error?.code} ${error?.message}`);
  assert.equal(error.retryable, false);
  assert.ok(Date.now() - started < 10_000, `failed after ${Date.now() - started} ms`);
});

test('in Node (no IndexedDB, so nothing to resume from) an upload that fails retryably deletes the asset its session reserved', async () => {
  const setFaults = (patch) =>
    fetch(`${emulator.url}/_emulator/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
  await setFaults({ put_failure_rate: 1 });
  try {
    const uploader = new pkg.Uploader({
      endpoint: emulator.url,
      apiKey: emulator.apiKey,
      retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
    });
    // A `File`, which a browser would fingerprint and save a record for.
    const file = new File([seededBytes(3 * MiB, 7)], 'node-file.mp4', { type: 'video/mp4' });
    const handle = uploader.upload(file);
    const error = await rejection(handle.done);
    assert.equal(error?.code, 'retries_exhausted', String(error));
    assert.ok(handle.assetId);
    assert.equal(await assetStatus(emulator, handle.assetId, { gone: true }), null, 'no resume can use the session: its asset is deleted');
    assert.deepEqual(await uploader.pendingUploads(), []);
  } finally {
    await setFaults({ put_failure_rate: 0 });
  }
});

test('a getToken that never answers fails the upload and getAsset after the watchdog bound and their retries, shown in retrying, never left waiting', { timeout: 30_000 }, async () => {
  const endpoint = await fakeEndpoint(() => ({ status: 500, body: {} }));
  let asked = 0;
  try {
    const uploader = new pkg.Uploader({
      endpoint: endpoint.url,
      getToken: () => { asked += 1; return new Promise(() => {}); },
      stallTimeoutMs: 1000,
      retry: { baseDelayMs: 1, maxDelayMs: 10, maxAttempts: 2 },
    });
    const handle = uploader.upload(new Blob([seededBytes(1000, 3)], { type: 'video/mp4' }), { filename: 'clip.mp4' });
    const retryCodes = new Set();
    const unsubscribe = handle.subscribe(() => {
      const retrying = handle.progress.retrying;
      if (retrying) retryCodes.add(retrying.errorCode);
    });
    const started = Date.now();
    const [upload, asset] = await Promise.all([rejection(handle.done), rejection(uploader.getAsset('a1'))]);
    unsubscribe();
    for (const [what, error] of [['upload', upload], ['getAsset', asset]]) {
      assert.equal(error?.name, 'UploadError', `${what}: ${error}`);
      assert.equal(error.code, 'retries_exhausted', `${what}: ${error.message}`);
      assert.match(error.message, /getToken failed: no answer within 1000 ms/, what);
    }
    assert.deepEqual([...retryCodes], ['network'], 'the wait for getToken shows as a retry');
    assert.ok(asked >= 2, `getToken asked again after going unanswered (${asked} calls)`);
    assert.ok(Date.now() - started < 10_000, `failed after ${Date.now() - started} ms`);
    assert.deepEqual(endpoint.seen, [], 'nothing was sent without a grant');
  } finally {
    await endpoint.stop();
  }
});

test('calls that need a grant at the same time share one getToken call', async () => {
  const endpoint = await fakeEndpoint(() => ({ status: 200, body: {} }));
  let asked = 0;
  try {
    const uploader = new pkg.Uploader({
      endpoint: endpoint.url,
      getToken: async () => {
        asked += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return 'grant';
      },
    });
    await Promise.all(['a1', 'a2', 'a3'].map((id) => uploader.deleteAsset(id)));
    assert.equal(asked, 1, 'one getToken call for three calls that waited for it');
    assert.equal(endpoint.seen.length, 3, endpoint.seen.join(', '));
  } finally {
    await endpoint.stop();
  }
});

test("a fetch option that misbehaves (throws its own error, or resolves to no Response) fails at once with invalid_input and its words, not as a network failure retried", async () => {
  const wrappers = [
    ['forgets to return', (input, init) => { fetch(input, init); }, /fetch resolved to undefined, not a Response/],
    ['throws its own Error', async () => { throw new Error('TRACE_ID env var missing'); }, /fetch threw Error: TRACE_ID env var missing/],
    ['throws a string', () => { throw 'no trace id'; }, /fetch threw no trace id/],
    ['resolves to the parsed body', async (input, init) => (await fetch(input, init)).json(), /fetch resolved to a value of type object, not a Response/],
  ];
  for (const [what, wrapper, words] of wrappers) {
    const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: wrapper });
    const handle = uploader.upload(new Blob([seededBytes(1000, 4)], { type: 'video/mp4' }), { filename: 'clip.mp4' });
    const [upload, asset] = await Promise.all([rejection(handle.done), rejection(uploader.getAsset('a1'))]);
    for (const [call, error] of [['upload', upload], ['getAsset', asset]]) {
      assert.equal(error?.code, 'invalid_input', `${what}, ${call}: ${error?.code} ${error?.message}`);
      assert.equal(error.retryable, false, `${what}, ${call}`);
      assert.match(error.message, words, `${what}, ${call}`);
    }
    assert.equal(handle.progress.retrying, null, `${what}: never retried`);
  }
  // A wrapper that breaks on a chunk's PUT, after the session was made.
  let puts = 0;
  const breaksOnPut = async (input, init) => {
    if (init?.method === 'PUT' && ++puts === 2) throw new RangeError('trace buffer full');
    return fetch(input, init);
  };
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: breaksOnPut, concurrency: 1 });
  const error = await rejection(uploader.upload(new Blob([seededBytes(3 * MiB, 5)], { type: 'video/mp4' }), { filename: 'clip.mp4' }).done);
  assert.equal(error?.code, 'invalid_input', `${error?.code} ${error?.message}`);
  assert.match(error.message, /fetch threw RangeError: trace buffer full/);
});

test('a grant no header can carry is refused at once as invalid_input; a grant with a final newline (a response body) is sent without it', async () => {
  const { url: endpoint, authorizations, stop } = await fakeEndpoint(() => ({ status: 200, body: {} }));
  try {
    for (const grant of ['abc\ndef', 'Bearer abc', 'abc def', 'grånt', '   ', 'a'.repeat(4097)]) {
      const uploader = new pkg.Uploader({ endpoint, getToken: async () => grant });
      const started = Date.now();
      const error = await rejection(uploader.deleteAsset('a1'));
      assert.equal(error?.code, 'invalid_input', `${JSON.stringify(grant)}: ${error?.code} ${error?.message}`);
      assert.match(error.message, /getToken must return \(or resolve to\) a grant/);
      assert.ok(Date.now() - started < 1000, `${JSON.stringify(grant)}: refused after ${Date.now() - started} ms`);
    }
    assert.deepEqual(authorizations, [], 'no request carried a refused grant');
    const uploader = new pkg.Uploader({ endpoint, getToken: async () => 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln-_\n' });
    await uploader.deleteAsset('a1');
    assert.deepEqual(authorizations, ['Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln-_']);
  } finally {
    await stop();
  }
});

test('userMetadata given as an array, and listAssets with an empty assetIds, are refused by name rather than read as something nobody meant', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  for (const metadata of [[1, 2], ['a'], []]) {
    const error = await rejection(uploader.upload(new Blob([seededBytes(100, 6)], { type: 'video/mp4' }), { filename: 'clip.mp4', userMetadata: metadata }).done);
    assert.equal(error?.code, 'invalid_input', `${JSON.stringify(metadata)}: ${error?.code} ${error?.message}`);
    assert.match(error.message, /userMetadata/);
  }
  const error = await rejection(uploader.listAssets({ assetIds: [] }));
  assert.equal(error?.code, 'invalid_input', `${error?.code} ${error?.message}`);
  assert.match(error.message, /assetIds must name at least one asset/);
  const page = await uploader.listAssets({ assetIds: ['no-such-asset'] });
  assert.deepEqual(page.data, []);
});

test('a grant the Worker refused is never sent again, even when the fresh getToken fails once', async () => {
  const endpoint = await fakeEndpoint((req) => (req.headers.authorization === 'Bearer refused'
    ? { status: 401, body: { code: 'unauthorized', message: 'token_expired' } }
    : { status: 200, body: {} }));
  const answers = ['refused', new TypeError('fetch failed'), 'fresh'];
  let asked = 0;
  try {
    const uploader = new pkg.Uploader({
      endpoint: endpoint.url,
      getToken: async () => {
        const answer = answers[asked++];
        if (answer instanceof Error) throw answer;
        return answer;
      },
      retry: { baseDelayMs: 1, maxDelayMs: 10 },
    });
    await uploader.deleteAsset('a1');
    assert.equal(asked, 3, 'getToken asked again after its failure');
    assert.deepEqual(endpoint.authorizations, ['Bearer refused', 'Bearer fresh']);
  } finally {
    await endpoint.stop();
  }
});

test("a one-off call's signal aborts it at once while it waits for getToken or for a retry, and an aborted signal fails it before anything", async () => {
  const endpoint = await fakeEndpoint(() => ({ status: 503, body: {} }));
  try {
    const waiting = new pkg.Uploader({ endpoint: endpoint.url, getToken: () => new Promise(() => {}) });
    const abortedLater = new AbortController();
    let started = Date.now();
    setTimeout(() => abortedLater.abort(), 100);
    let error = await rejection(waiting.listAssets({ signal: abortedLater.signal }));
    assert.equal(error?.code, 'aborted', `${error?.code} ${error?.message}`);
    assert.ok(Date.now() - started < 2000, `waiting for getToken: settled ${Date.now() - started} ms after the start`);
    started = Date.now();
    error = await rejection(waiting.deleteAsset('a1', { signal: AbortSignal.abort() }));
    assert.equal(error?.code, 'aborted');
    assert.ok(Date.now() - started < 500, `already aborted: settled after ${Date.now() - started} ms`);
    // Waiting out a long retry delay (the endpoint answers 503).
    const retrying = new pkg.Uploader({ endpoint: endpoint.url, apiKey: 'key', retry: { baseDelayMs: 20_000, maxDelayMs: 20_000 } });
    const abortedInRetry = new AbortController();
    started = Date.now();
    setTimeout(() => abortedInRetry.abort(), 300);
    error = await rejection(retrying.deleteAsset('a1', { signal: abortedInRetry.signal }));
    assert.equal(error?.code, 'aborted', `${error?.code} ${error?.message}`);
    assert.ok(Date.now() - started < 2000, `in a retry's delay: settled after ${Date.now() - started} ms`);
    error = await rejection(retrying.waitUntilReady('a1', { signal: abortedInRetry.signal }));
    assert.equal(error?.code, 'aborted', 'an already aborted signal');
    const abortedPolling = new AbortController();
    started = Date.now();
    setTimeout(() => abortedPolling.abort(), 300);
    error = await rejection(retrying.waitUntilReady('a1', { signal: abortedPolling.signal }));
    assert.equal(error?.code, 'aborted', `${error?.code} ${error?.message}`);
    assert.match(error.message, /waiting was aborted/);
    assert.ok(Date.now() - started < 2000, `in a retry's delay: settled after ${Date.now() - started} ms`);
  } finally {
    await endpoint.stop();
  }
  // Aborted while a poll's request is in flight: the same words as in a retry's delay.
  const silent = await fakeEndpoint(() => null);
  try {
    const polling = new pkg.Uploader({ endpoint: silent.url, apiKey: 'key' });
    const abortedInFlight = new AbortController();
    setTimeout(() => abortedInFlight.abort(), 300);
    const error = await rejection(polling.waitUntilReady('a1', { signal: abortedInFlight.signal }));
    assert.equal(error?.code, 'aborted', `${error?.code} ${error?.message}`);
    assert.match(error.message, /waiting was aborted/);
    assert.deepEqual(silent.seen, ['GET /v1.3/assets/a1'], 'the poll was in flight when the signal aborted');
  } finally {
    await silent.stop();
  }
});

test('Node exits promptly once an upload waiting for a getToken that never answers is aborted', async () => {
  const script = `
    const pkg = await import(${JSON.stringify(pathToFileURL(path.join(PKG_DIR, 'node.js')).href)});
    const uploader = new pkg.Uploader({ endpoint: 'http://127.0.0.1:9', getToken: () => new Promise(() => {}) });
    const handle = uploader.upload(new Blob([new Uint8Array(10)], { type: 'video/mp4' }), { filename: 'a.mp4' });
    setTimeout(() => handle.abort(), 100);
    await handle.done.catch((error) => console.log(error.code));
  `;
  const started = Date.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearTimeout(killer);
  assert.equal(output.trim(), 'aborted');
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`);
});

test('a fetch option from another realm or library works: a Response-like answer is read, a TypeError of another realm is a network failure', async () => {
  const likeResponse = async (input, init) => {
    const real = await fetch(input, init);
    const text = await real.text();
    return { status: real.status, headers: real.headers, text: async () => text };
  };
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: likeResponse });
  const asset = await uploader.upload(new Blob([seededBytes(1000, 12)], { type: 'video/mp4' }), { filename: 'clip.mp4' }).done;
  assert.equal(typeof asset.id, 'string');
  class FetchError extends TypeError {
    constructor(message) {
      super(message);
      this.name = 'FetchError';
    }
  }
  const networkFailures = [
    ['a TypeError of another realm', vm.runInNewContext('new TypeError("fetch failed")')],
    ['a DOMException of another realm', vm.runInNewContext('class DOMException extends Error {}; new DOMException("timed out")')],
    ['a TypeError subclass named otherwise', new FetchError('socket hang up')],
  ];
  for (const [what, thrown] of networkFailures) {
    const failing = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false, fetch: async () => { throw thrown; }, retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 } });
    const error = await rejection(failing.getAsset('a1'));
    assert.equal(error?.code, 'retries_exhausted', `${what}: ${error?.code} ${error?.message}`);
    assert.match(error.message, /no response \(network error\)/, what);
  }
});

test('userMetadata must be a plain object: typed arrays, String objects, Maps and Dates are refused; one of another realm or without a prototype is read', async () => {
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey, persist: false });
  const upload = (userMetadata) => uploader.upload(new Blob([seededBytes(100, 13)], { type: 'video/mp4' }), { filename: 'clip.mp4', userMetadata }).done;
  for (const metadata of [new Uint8Array([7, 8]), new String('ab'), new Map([['a', 1]]), new Date(0)]) {
    const error = await rejection(upload(metadata));
    assert.equal(error?.code, 'invalid_input', `${Object.prototype.toString.call(metadata)}: ${error?.code}`);
    assert.match(error.message, /userMetadata/);
  }
  const bare = Object.create(null);
  bare.take = 3;
  for (const [what, metadata] of [['no prototype', bare], ['another realm', vm.runInNewContext('({ take: 3 })')]]) {
    const asset = await upload(metadata);
    const status = await fetch(`${emulator.url}/v1.3/assets/${asset.id}`, { headers: { 'x-api-key': emulator.apiKey } }).then((r) => r.json());
    assert.equal(status.user_metadata?.take, 3, `${what}: ${JSON.stringify(status.user_metadata)}`);
  }
});

test('a grant read with a byte order mark is sent without it', async () => {
  const endpoint = await fakeEndpoint(() => ({ status: 200, body: {} }));
  try {
    const uploader = new pkg.Uploader({ endpoint: endpoint.url, getToken: async () => '\uFEFFgrant.e30.c2ln\r\n' });
    await uploader.deleteAsset('a1');
    assert.deepEqual(endpoint.authorizations, ['Bearer grant.e30.c2ln']);
  } finally {
    await endpoint.stop();
  }
});

test('new UploadQueue without an Uploader throws an UploadError invalid_input naming it, as every bad argument does', () => {
  for (const argument of [{}, undefined, null, 'uploader']) {
    assert.throws(() => new pkg.UploadQueue(argument), (error) => {
      assert.equal(error.name, 'UploadError', `${argument}: ${error}`);
      assert.equal(error.code, 'invalid_input');
      assert.equal(error.retryable, false);
      assert.match(error.message, /expected an instance of Uploader/);
      return true;
    });
  }
});
