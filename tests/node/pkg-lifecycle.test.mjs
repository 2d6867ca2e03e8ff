// The package's upload lifecycle as a page sees it, in headless Chromium against the emulator and
// the Worker in workerd: an upload survives the page dropping its `Uploader` (forced garbage
// collection), a wrong endpoint path fails at once with `not_found`, an unreachable Worker shows
// that it is retrying and gives up quickly, and progress never claims bytes it does not have.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPackageTab } from '../support/browser.mjs';
import { chromiumStack } from '../support/chromium-stack.mjs';
import { assetStatus, freePort, getJson } from '../support/harness.mjs';

const MiB = 1024 * 1024;

const env = chromiumStack({ emulatorArgs: ['--chunk-size', String(MiB)] });

/**
 * A tab with the package loaded as `window.pkg` after the finalizers are wrapped: `window.freed`
 * counts what the package's finalizers free (wasm-bindgen frees a Rust object when the garbage
 * collector drops its JS wrapper), by the name of the free function they call.
 */
async function openTab() {
  const opened = await openPackageTab(env.browser, env.stack, {
    sub: 'lifecycle-test',
    beforeImport: () => {
      window.freed = {};
      const Native = FinalizationRegistry;
      window.FinalizationRegistry = class extends Native {
        constructor(callback) {
          const kind = /__wbg_(\w+?)_free/.exec(String(callback))?.[1] ?? 'other';
          super((held) => {
            window.freed[kind] = (window.freed[kind] ?? 0) + 1;
            callback(held);
          });
        }
      };
    },
  });
  await opened.tab.evaluate(() => {
    /**
     * The page an upload was started on, then left: `file` uploaded by a fresh Uploader until
     * `chunks` chunks are stored, paused, and its record saved. Resolves to
     * `{uploader, handle, id}` (`id`: the saved upload's).
     */
    window.leftPaused = async (file, { chunks = 2, concurrency = 2 } = {}) => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency });
      const handle = uploader.upload(file);
      while (handle.progress.acknowledgedChunks < chunks) await sleep(5);
      handle.pause();
      // Gone as far as other pages can tell: another uploader lists it once this one has let
      // go of it (its chunks in flight stored and reported).
      const observer = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      let id;
      for (let i = 0; i < 300 && !id; i++) {
        id = (await observer.pendingUploads()).find((p) => p.id === handle.uploadId && p.uploadedBytes > 0)?.id;
        if (!id) await sleep(50);
      }
      return { uploader, handle, id };
    };
  });
  return opened;
}

/** Waits until no request reached the emulator for `quietMs` (bounded by a minute). */
async function waitForQuiet(quietMs) {
  const total = async () => {
    const stats = await getJson(`${env.stack.emulator.url}/_emulator/stats`);
    return Object.entries(stats.requests)
      .filter(([route]) => !route.includes('/_emulator'))
      .reduce((sum, [, count]) => sum + count, 0);
  };
  let last = await total();
  let since = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() - since < quietMs) {
    assert.ok(Date.now() < deadline, 'the emulator never went quiet');
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await total();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}

test('an upload whose Uploader the page dropped continues after pause, GC and resume', async () => {
  const { tab } = await openTab();
  try {
    await tab.evaluate(async () => {
      const { blob, sha256 } = await window.seededSample(12, 21);
      window.sha256 = sha256;
      window.uploaderCollected = false;
      window.collectedWatch = new FinalizationRegistry(() => (window.uploaderCollected = true));
      // Only the handle is kept: the Uploader is unreachable once this function returns.
      const uploader = new window.pkg.Uploader({
        endpoint: window.workerUrl,
        getToken: window.getToken,
        persist: false,
      });
      window.collectedWatch.register(uploader, 'uploader');
      window.handle = uploader.upload(blob, {
        filename: 'kept-handle.mp4',
        // Paused once, in the middle, when the first chunk is stored.
        onProgress: (p) => {
          if (p.acknowledgedChunks > 0 && !window.pausedOnce) {
            window.pausedOnce = true;
            window.handle.pause();
          }
        },
      });
      window.outcome = undefined;
      window.handle.done.then(
        (asset) => (window.outcome = { assetId: asset.id }),
        (error) => (window.outcome = { error: `${error.code}: ${error.message}` }),
      );
    });
    await tab.waitForFunction(() => window.handle.progress.phase === 'paused', null, {
      timeout: 30_000,
    });

    const cdp = await tab.context().newCDPSession(tab);
    const uploaderFreed = () => tab.evaluate(() => (window.freed.uploader ?? 0) > 0);
    for (let i = 0; i < 50 && !(await uploaderFreed()); i++) {
      await cdp.send('HeapProfiler.collectGarbage');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The precondition of this test: the dropped Uploader was collected and its Rust side freed.
    assert.equal(await tab.evaluate(() => window.uploaderCollected), true, 'Uploader collected');
    assert.equal(await uploaderFreed(), true, 'the Rust Uploader was freed');
    // And nothing of the upload is in flight any more (PUTs started before the pause took
    // effect finish, and their report follows after a debounce): the page holds nothing but the
    // handle. Quiet = no request reached the emulator for longer than the report debounce.
    await waitForQuiet(2_500);

    await tab.evaluate(() => window.handle.resume());
    await tab.waitForFunction(() => window.outcome !== undefined, null, { timeout: 60_000 });
    const outcome = await tab.evaluate(() => window.outcome);
    assert.equal(outcome.error, undefined, outcome.error);
    const stored = await getJson(`${env.stack.emulator.url}/_emulator/assets/${outcome.assetId}/sha256`);
    assert.equal(stored.sha256, await tab.evaluate(() => window.sha256));
    assert.equal(await tab.evaluate(() => window.handle.progress.phase), 'done');
  } finally {
    await tab.close();
  }
});

test('progress before the session exists reads the file size and no share of it', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const { blob } = await window.seededSample(2, 22);
      // An endpoint nothing listens on: the upload never gets a session.
      const uploader = new window.pkg.Uploader({
        endpoint: 'http://127.0.0.1:9',
        getToken: window.getToken,
        persist: false,
        retry: { maxAttempts: 1 },
      });
      const handle = uploader.upload(blob, { filename: 'no-session.mp4' });
      const first = handle.progress;
      const error = await handle.done.then(
        () => null,
        (e) => ({ code: e.code, message: e.message }),
      );
      return { first, last: handle.progress, error, size: blob.size };
    });
    assert.equal(seen.error?.code, 'retries_exhausted', JSON.stringify(seen.error));
    assert.match(seen.error.message, /no response \(network error\)/);
    for (const p of [seen.first, seen.last]) {
      assert.equal(p.totalBytes, seen.size, `totalBytes is the file's size in ${p.phase}`);
      assert.equal(p.fraction, 0, `nothing is acknowledged in ${p.phase}`);
      assert.equal(p.acknowledgedBytes, 0);
    }
    assert.equal(seen.last.phase, 'failed');
  } finally {
    await tab.close();
  }
});

test('sentBytes counts PUTs in flight; speed and ETA are null while paused', async () => {
  const { tab } = await openTab();
  try {
    // Storage answers slowly, so PUTs are in flight long enough to be seen.
    await getJson(`${env.stack.emulator.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latency_ms: 1500 }),
    });
    const seen = await tab.evaluate(async () => {
      const { blob } = await window.seededSample(8, 23);
      const uploader = new window.pkg.Uploader({
        endpoint: window.workerUrl,
        getToken: window.getToken,
        persist: false,
        concurrency: 4,
      });
      const handle = uploader.upload(blob, { filename: 'in-flight.mp4' });
      let inFlight = null;
      for (let i = 0; i < 400 && !inFlight; i++) {
        const p = handle.progress;
        if (p.sentBytes > p.acknowledgedBytes) inFlight = p;
        else await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // Wait for a measured speed, then pause.
      for (let i = 0; i < 400 && handle.progress.bytesPerSecond === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const running = handle.progress;
      handle.pause();
      const paused = handle.progress;
      handle.resume();
      await handle.done;
      return { inFlight, running, paused };
    });
    assert.ok(seen.inFlight, 'some progress showed bytes sent beyond those acknowledged');
    assert.ok(seen.inFlight.sentBytes <= seen.inFlight.totalBytes);
    assert.ok(seen.running.bytesPerSecond > 0, 'a speed was measured while uploading');
    assert.equal(seen.paused.phase, 'paused');
    assert.equal(seen.paused.bytesPerSecond, null, 'no speed while paused');
    assert.equal(seen.paused.etaMs, null, 'no ETA while paused');
  } finally {
    await getJson(`${env.stack.emulator.url}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latency_ms: 0 }),
    });
    await tab.close();
  }
});

test('a wrong endpoint path fails at once with not_found naming the path', async () => {
  const { tab } = await openTab();
  try {
    const before = await getJson(`${env.stack.emulator.url}/_emulator/stats`);
    const seen = await tab.evaluate(async () => {
      const { blob } = await window.seededSample(1, 24);
      const uploader = new window.pkg.Uploader({
        endpoint: `${window.workerUrl}/v1.3`,
        getToken: window.getToken,
        persist: false,
      });
      const started = performance.now();
      const error = await uploader.upload(blob, { filename: 'wrong-path.mp4' }).done.then(
        () => null,
        (e) => ({ code: e.code, message: e.message }),
      );
      return { error, elapsedMs: performance.now() - started };
    });
    assert.equal(seen.error?.code, 'not_found', JSON.stringify(seen.error));
    assert.ok(
      seen.error.message.includes('/v1.3/v1.3/assets/multipart-uploads'),
      `the message names the path: ${seen.error.message}`,
    );
    // One attempt: no backoff at all (a generous bound for a loaded machine, not a timing test).
    assert.ok(seen.elapsedMs < 10_000, `failed after ${seen.elapsedMs} ms`);
    const after = await getJson(`${env.stack.emulator.url}/_emulator/stats`);
    assert.equal(
      after.requests['POST /v1.3/assets/multipart-uploads'] ?? 0,
      before.requests['POST /v1.3/assets/multipart-uploads'] ?? 0,
      'nothing reached TwelveLabs',
    );
  } finally {
    await tab.close();
  }
});

test('an unreachable Worker shows that it is retrying, then gives up within seconds', async () => {
  const { tab } = await openTab();
  try {
    const port = await freePort(); // nothing listens there
    const seen = await tab.evaluate(async (endpoint) => {
      const { blob } = await window.seededSample(1, 25);
      const uploader = new window.pkg.Uploader({
        endpoint,
        getToken: async () => 'unused-grant',
        persist: false,
      });
      const retrying = [];
      const handle = uploader.upload(blob, {
        filename: 'unreachable.mp4',
        onProgress: (p) => p.retrying && retrying.push(p.retrying),
      });
      const started = performance.now();
      const error = await handle.done.then(
        () => null,
        (e) => ({ code: e.code, message: e.message }),
      );
      return { error, retrying, last: handle.progress, elapsedMs: performance.now() - started };
    }, `http://127.0.0.1:${port}`);
    assert.equal(seen.error?.code, 'retries_exhausted', JSON.stringify(seen.error));
    assert.match(seen.error.message, /gave up after 5 attempts.*no response \(network error\)/);
    // At most 7.5 s of backoff by default (a generous bound for a loaded machine).
    assert.ok(seen.elapsedMs < 30_000, `gave up after ${seen.elapsedMs} ms`);
    assert.ok(seen.retrying.length > 0, 'onProgress showed the retries');
    const first = seen.retrying[0];
    assert.equal(first.attempt, 1);
    assert.equal(first.errorCode, 'network');
    assert.equal(typeof first.delayMs, 'number');
    const attempts = seen.retrying.map((r) => r.attempt);
    assert.deepEqual(attempts, [...attempts].sort((a, b) => a - b), 'attempts count up');
    assert.equal(seen.last.retrying, null, 'a failed upload is not retrying');
  } finally {
    await tab.close();
  }
});

test('pendingUploads and restorePending settle, and uploads still complete, when IndexedDB never answers its open', async () => {
  const { tab } = await openPackageTab(env.browser, env.stack, {
    sub: 'idb-hang',
    // A browser whose storage open hangs: the request never fires success, error or blocked.
    beforeImport: () => {
      indexedDB.open = () => {
        window.idbOpens = (window.idbOpens ?? 0) + 1;
        return {};
      };
    },
  });
  try {
    const seen = await tab.evaluate(async () => {
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const started = performance.now();
      const pending = await uploader.pendingUploads();
      const pendingMs = performance.now() - started;
      const queue = new window.pkg.UploadQueue(uploader);
      await queue.restorePending();
      // Records may exist that could not be reached: forget says so instead of resolving.
      const forgotten = await uploader.forget().then(() => 'resolved', (e) => e.code);
      const { blob } = await window.seededSample(2, 31);
      const asset = await uploader.upload(blob, { filename: 'no-storage.mp4' }).done;
      return { pending, pendingMs, opens: window.idbOpens, assetId: asset.id, forgotten };
    });
    assert.deepEqual(seen.pending, []);
    assert.equal(seen.forgotten, 'storage_unavailable');
    assert.equal(seen.opens, 1, 'the store is opened once per uploader');
    // The bound is STORE_OPEN_TIMEOUT_MS (5 s); a loaded machine adds to it.
    assert.ok(seen.pendingMs >= 4_500 && seen.pendingMs < 20_000, `pendingUploads settled after ${seen.pendingMs} ms`);
    assert.ok(seen.assetId);
  } finally {
    await tab.close();
  }
});

test('forget that cannot reach IndexedDB still waits for the page\'s asset deletions before it rejects storage_unavailable', async () => {
  const { tab } = await openPackageTab(env.browser, env.stack, {
    sub: 'idb-hang-forget',
    beforeImport: () => {
      indexedDB.open = () => ({});
    },
  });
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // Every DELETE reaches the Worker 8 s late: past the store's 5 s open bound.
      const slowDeletes = (input, init) => (init?.method === 'DELETE' ? sleep(8_000).then(() => fetch(input, init)) : fetch(input, init));
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2, fetch: slowDeletes });
      const { blob } = await window.seededSample(12, 33);
      const handle = uploader.upload(blob, { filename: 'idb-abort.mp4' });
      while (handle.progress.acknowledgedBytes === 0) await sleep(20);
      handle.abort();
      const outcome = await handle.done.then(() => 'resolved', (e) => e.code);
      // The sign-out: forget, whatever it answers, then leave.
      const forgotten = await uploader.forget().then(() => 'resolved', (e) => e.code);
      return { outcome, forgotten, assetId: handle.assetId };
    });
    assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
    assert.equal(seen.forgotten, 'storage_unavailable');
    const { emulator } = env.stack;
    const asset = await fetch(`${emulator.apiUrl}/assets/${seen.assetId}`, { headers: { 'x-api-key': emulator.apiKey } });
    assert.equal(asset.status, 404, 'the aborted upload\'s asset is deleted by the time forget settles');
  } finally {
    await tab.close();
  }
});

test('a tab resuming an upload that another tab completed resolves with its asset, through the Worker', async () => {
  const { tab } = await openTab();
  const setFaults = (patch) => fetch(`${env.stack.emulator.url}/_emulator/faults`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch),
  });
  try {
    // Slower requests, so that the second tab is still waiting when the first completes.
    assert.equal((await setFaults({ latency_ms: 40 })).status, 200);
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const { blob } = await window.seededSample(12, 33);
      const file = () => new File([blob], 'twice.mp4', { type: 'video/mp4', lastModified: 1 });
      const uploader = () => new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 });
      // The first page: a few chunks, then it goes away (paused, its record saved).
      const { id } = await window.leftPaused(file(), { chunks: 3 });
      // Two tabs resume it; the second waits, paused, while the first finishes.
      const second = uploader().resume(file(), { id });
      second.pause();
      const outcome = second.done.then((a) => ({ ok: true, id: a.id }), (e) => ({ ok: false, code: e.code, message: e.message }));
      const completed = await uploader().resume(file(), { id }).done;
      second.resume();
      return { completed: completed.id, second: await Promise.race([outcome, sleep(30_000).then(() => ({ timeout: true }))]) };
    });
    // The second tab learns from the session's status that the upload is complete.
    assert.deepEqual(seen.second, { ok: true, id: seen.completed }, JSON.stringify(seen));
  } finally {
    await setFaults({ latency_ms: 0 });
    await tab.close();
  }
});

test('aborting an upload continued by a page that never fetched a grant still deletes its reserved asset', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const { blob } = await window.seededSample(12, 41);
      const file = () => new File([blob], 'dropped.mp4', { type: 'video/mp4', lastModified: 2 });
      let grants = 0;
      const counted = () => { grants += 1; return window.getToken(); };
      // The first page: a few chunks, then it goes away (paused, its record saved).
      const { id } = await window.leftPaused(file(), { chunks: 3 });
      // The next page continues it with its saved upload token: no grant is needed for that.
      const next = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: counted, concurrency: 2 });
      const h1 = next.resume(file(), { id });
      const start = h1.progress.acknowledgedChunks;
      while (h1.progress.phase !== 'uploading' || h1.progress.acknowledgedChunks <= Math.max(start, 4)) await sleep(5);
      const grantsBeforeAbort = grants;
      h1.abort();
      const code = await h1.done.then(() => 'resolved', (e) => e.code);
      await sleep(1500);
      return { code, assetId: h1.assetId, grantsBeforeAbort, grants, pending: (await next.pendingUploads()).map((p) => p.id) };
    });
    assert.equal(seen.code, 'aborted', JSON.stringify(seen));
    assert.equal(seen.grantsBeforeAbort, 0, 'the continued upload ran on its upload token');
    assert.equal(seen.grants, 1, 'the delete asked for a grant once');
    assert.deepEqual(seen.pending, []);
    assert.equal(await assetStatusSettled(seen.assetId, true), null, `the reserved asset ${seen.assetId} is gone`);
  } finally {
    await tab.close();
  }
});

test('two saved uploads of files with one name and size each resume with their own file, without an id', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const twin = async (seed, lastModified) => {
        const { blob, sha256 } = await window.seededSample(6, seed);
        return { file: new File([blob], 'GOPR0001.MP4', { type: 'video/mp4', lastModified }), sha256 };
      };
      const twins = [await twin(51, 1_700_000_000_001), await twin(52, 1_700_000_000_002)];
      const first = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 1 });
      const ids = [];
      for (const { file } of twins) {
        const h = first.upload(file);
        while (h.progress.acknowledgedChunks < 2) await sleep(5);
        h.pause();
        ids.push(h.uploadId);
      }
      // The next page resumes them by file alone, the twin whose record is listed last first.
      // It lists a paused upload once the first page has let it go: when its last chunk in
      // flight is stored and reported.
      const next = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      let listed = [];
      for (let i = 0; i < 300 && listed.length < 2; i++) {
        if (i > 0) await sleep(50);
        listed = (await next.pendingUploads()).filter((p) => ids.includes(p.id) && p.uploadedBytes > 0).map((p) => p.lastModified);
      }
      const order = [...twins].sort((a, b) => listed.indexOf(b.file.lastModified) - listed.indexOf(a.file.lastModified));
      const outcomes = [];
      for (const { file } of order) {
        const h = next.resume(file);
        outcomes.push(await h.done.then((a) => ({ uploadId: h.uploadId, asset: a.id }), (e) => ({ code: e.code, message: e.message })));
      }
      return { ids, listed, outcomes, order: order.map((t) => t.file.lastModified) };
    });
    assert.equal(seen.listed.length, 2, JSON.stringify(seen));
    for (const [i, outcome] of seen.outcomes.entries()) {
      assert.ok(outcome.asset, `twin ${i}: ${JSON.stringify(outcome)}`);
    }
    // Each continued its own session, not a new one.
    assert.deepEqual(new Set(seen.outcomes.map((o) => o.uploadId)), new Set(seen.ids), JSON.stringify(seen));
  } finally {
    await tab.close();
  }
});

test('a queue item restored before another tab completed its upload ends done with that asset when its file is chosen, uploading nothing again', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const { blob } = await window.seededSample(8, 61);
      const file = () => new File([blob], 'elsewhere.mp4', { type: 'video/mp4', lastModified: 3 });
      const uploader = () => new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 });
      // Tab A: a few chunks, then paused (its record saved).
      const { uploader: a, handle: h0, id } = await window.leftPaused(file());
      // Tab B restores it and waits for the user to choose the file again.
      const queue = new window.pkg.UploadQueue(uploader());
      await queue.restorePending();
      const item = queue.getSnapshot().items.find((i) => i.uploadId === id);
      // Meanwhile tab A finishes the upload.
      h0.resume();
      const asset = await h0.done;
      const pendingAfterDone = (await a.pendingUploads()).map((p) => p.id);
      // Tab B's user chooses the file.
      queue.attachFile(item.id, file());
      const deadline = Date.now() + 20_000;
      let now = queue.getSnapshot().items.find((i) => i.id === item.id);
      while (!['done', 'failed', 'aborted'].includes(now.phase) && Date.now() < deadline) {
        await sleep(50);
        now = queue.getSnapshot().items.find((i) => i.id === item.id);
      }
      return { id, asset: asset.id, pendingAfterDone, item: { phase: now.phase, uploadId: now.uploadId, assetId: now.assetId, error: now.error } };
    });
    assert.deepEqual(seen.pendingAfterDone, [], 'a completed upload is not pending');
    assert.deepEqual(
      seen.item,
      { phase: 'done', uploadId: seen.id, assetId: seen.asset, error: null },
      JSON.stringify(seen),
    );
    const assets = await fetch(`${env.stack.emulator.apiUrl}/assets?filename=elsewhere.mp4`, {
      headers: { 'x-api-key': env.stack.emulator.apiKey },
    }).then((r) => r.json());
    assert.equal(assets.data.length, 1, `one asset for one file: ${JSON.stringify(assets.data)}`);
  } finally {
    await tab.close();
  }
});

test('cancel and remove of a queue item awaiting its file give up its saved upload: record and reserved asset deleted', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const left = [];
      for (const [seed, name] of [[71, 'cancelled.mp4'], [72, 'removed.mp4']]) {
        const { blob } = await window.seededSample(8, seed);
        const { handle, id } = await window.leftPaused(new File([blob], name, { type: 'video/mp4', lastModified: seed }));
        left.push({ name, id, assetId: handle.assetId });
      }
      // The next page: both restored, awaiting their files; the user gives them up instead.
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const queue = new window.pkg.UploadQueue(uploader);
      await queue.restorePending();
      const itemOf = (id) => queue.getSnapshot().items.find((i) => i.uploadId === id);
      const phases = left.map(({ id }) => itemOf(id)?.phase);
      const restored = left.map(({ id }) => {
        const { assetId, progress } = itemOf(id);
        const { totalChunks, acknowledgedChunks, reportedChunks, acknowledgedBytes } = progress;
        return { assetId, totalChunks, acknowledgedChunks, reportedChunks, acknowledgedBytes };
      });
      queue.cancel(itemOf(left[0].id).id);
      const cancelled = itemOf(left[0].id).phase;
      queue.remove(itemOf(left[1].id).id);
      const removed = itemOf(left[1].id) === undefined;
      let pending = [];
      for (let i = 0; i < 200; i++) {
        pending = (await uploader.pendingUploads()).map((p) => p.id).filter((id) => left.some((l) => l.id === id));
        if (pending.length === 0) break;
        await sleep(50);
      }
      return { left, phases, restored, cancelled, removed, pending };
    });
    assert.deepEqual(seen.phases, ['awaiting_file', 'awaiting_file'], JSON.stringify(seen));
    // A restored item's session exists: its chunks and its asset are shown with its bytes.
    seen.left.forEach(({ name, assetId }, i) => {
      const restored = seen.restored[i];
      assert.equal(restored.assetId, assetId, name);
      assert.equal(restored.totalChunks, 8, name);
      assert.ok(restored.acknowledgedBytes > 0, name);
      assert.equal(restored.acknowledgedChunks, restored.acknowledgedBytes / MiB, name);
      assert.equal(restored.reportedChunks, restored.acknowledgedChunks, name);
    });
    assert.equal(seen.cancelled, 'aborted');
    assert.ok(seen.removed);
    assert.deepEqual(seen.pending, [], 'both records are gone');
    for (const { name, assetId } of seen.left) {
      assert.ok(assetId, name);
      assert.equal(await assetStatusSettled(assetId, true), null, `the asset ${name}'s session reserved is deleted`);
    }
  } finally {
    await tab.close();
  }
});

/** The asset `id`'s status upstream, or `null` once it is gone (polled while a deletion runs). */
const assetStatusSettled = (id, expectGone) => assetStatus(env.stack.emulator, id, { gone: expectGone });

const setEmulatorFaults = (patch) =>
  getJson(`${env.stack.emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });

test('an upload that fails for good deletes the asset its session reserved with its record; one that fails retryably keeps both, unless it saves no record', async () => {
  const { tab } = await openTab();
  try {
    const run = (seed, persist = true) =>
      tab.evaluate(async ({ seed, persist }) => {
        const { blob } = await window.seededSample(4, seed);
        const uploader = new window.pkg.Uploader({
          endpoint: window.workerUrl,
          getToken: window.getToken,
          retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
          persist,
        });
        const handle = uploader.upload(new File([blob], `fails-${seed}.mp4`, { type: 'video/mp4' }));
        const code = await handle.done.then(() => null, (e) => e.code);
        const pending = (await uploader.pendingUploads()).map((p) => p.id);
        return { code, uploadId: handle.uploadId, assetId: handle.assetId, saved: pending.includes(handle.uploadId) };
      }, { seed, persist });
    // The storage hides ETag (its CORS rule is wrong): no resume can get past that.
    await setEmulatorFaults({ hide_etag: true });
    const forGood = await run(81);
    // Every PUT fails: a later resume may finish it.
    await setEmulatorFaults({ hide_etag: false, put_failure_rate: 1 });
    const retryable = await run(82);
    // The same failure of an upload that saves no record: nothing can resume it.
    const unsaved = await run(85, false);
    await setEmulatorFaults({ put_failure_rate: 0 });
    assert.deepEqual([forGood.code, forGood.saved], ['etag_unreadable', false], JSON.stringify(forGood));
    assert.ok(forGood.assetId);
    assert.equal(await assetStatusSettled(forGood.assetId, true), null, 'the reserved asset is deleted');
    assert.deepEqual([retryable.code, retryable.saved], ['retries_exhausted', true], JSON.stringify(retryable));
    assert.equal(await assetStatusSettled(retryable.assetId, false), 'processing', 'kept for a resume');
    assert.deepEqual([unsaved.code, unsaved.saved], ['retries_exhausted', false], JSON.stringify(unsaved));
    assert.equal(await assetStatusSettled(unsaved.assetId, true), null, 'without a record, nothing can resume it');
    // Leave no record to the next tests of this origin (a new uploader: the asset goes too).
    await tab.evaluate((id) => new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken }).forget(id), retryable.uploadId);
    assert.equal(await assetStatusSettled(retryable.assetId, true), null);
  } finally {
    await setEmulatorFaults({ hide_etag: false, put_failure_rate: 0 });
    await tab.close();
  }
});

test('cancel and remove of a failed queue item give up the upload its failure kept: record and reserved asset deleted, nothing back after a reload', async () => {
  const { tab } = await openTab();
  try {
    await setEmulatorFaults({ put_failure_rate: 1 });
    const failed = await tab.evaluate(async () => {
      const uploader = new window.pkg.Uploader({
        endpoint: window.workerUrl,
        getToken: window.getToken,
        retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
      });
      window.failingQueue = new window.pkg.UploadQueue(uploader);
      window.failingUploader = uploader;
      for (const seed of [83, 84]) {
        const { blob } = await window.seededSample(4, seed);
        window.failingQueue.add(new File([blob], `failed-${seed}.mp4`, { type: 'video/mp4' }));
      }
      const deadline = Date.now() + 60_000;
      while (!window.failingQueue.getSnapshot().items.every((i) => i.phase === 'failed') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      return window.failingQueue.getSnapshot().items.map((i) => ({ id: i.id, phase: i.phase, code: i.error?.code, uploadId: i.uploadId, assetId: i.assetId }));
    });
    await setEmulatorFaults({ put_failure_rate: 0 });
    assert.deepEqual(failed.map((i) => [i.phase, i.code]), [['failed', 'retries_exhausted'], ['failed', 'retries_exhausted']], JSON.stringify(failed));
    const seen = await tab.evaluate(async ({ ids, uploadIds }) => {
      const queue = window.failingQueue;
      queue.cancel(ids[0]);
      const cancelled = queue.getSnapshot().items.find((i) => i.id === ids[0]).phase;
      queue.remove(ids[1]);
      // The next page: nothing of them is pending, so nothing is restored.
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const ours = (list) => list.filter((uploadId) => uploadIds.includes(uploadId));
      let pending = [];
      for (let i = 0; i < 100; i++) {
        pending = ours((await uploader.pendingUploads()).map((p) => p.id));
        if (pending.length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const next = new window.pkg.UploadQueue(uploader);
      await next.restorePending();
      return { cancelled, pending, restored: ours(next.getSnapshot().items.map((i) => i.uploadId)).length };
    }, { ids: failed.map((i) => i.id), uploadIds: failed.map((i) => i.uploadId) });
    assert.deepEqual(seen, { cancelled: 'aborted', pending: [], restored: 0 });
    for (const item of failed) assert.equal(await assetStatusSettled(item.assetId, true), null, `${item.uploadId}'s asset`);
  } finally {
    await setEmulatorFaults({ put_failure_rate: 0 });
    await tab.close();
  }
});

test('a queue lets go of each in-memory Blob once its item is done, and keeps a failed one for a retry', async () => {
  const { tab } = await openTab();
  try {
    await tab.evaluate(async () => {
      const clip = (seed) => {
        const bytes = new Uint8Array(256 * 1024);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * seed) & 0xff;
        return new Blob([bytes], { type: 'video/mp4' });
      };
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, persist: false });
      window.queue = new window.pkg.UploadQueue(uploader);
      // Recorded clips: the page keeps only weak references.
      window.clips = [1, 2, 3].map((seed) => new WeakRef(clip(seed)));
      window.queue.add(window.clips.map((ref) => ref.deref()), { filename: 'clip.mp4' });
      // One refused at once (no media type): failed, and kept for a retry.
      window.refused = new WeakRef(new Blob([new Uint8Array(1000)], { type: 'application/pdf' }));
      window.queue.add(window.refused.deref(), { filename: 'notes.pdf' });
    });
    await tab.waitForFunction(() => window.queue.getSnapshot().items.every((i) => ['done', 'failed'].includes(i.phase)), null, { timeout: 30_000 });
    const phases = await tab.evaluate(() => window.queue.getSnapshot().items.map((i) => i.phase));
    assert.deepEqual(phases, ['done', 'done', 'done', 'failed']);
    const cdp = await tab.context().newCDPSession(tab);
    const alive = () => tab.evaluate(() => ({ clips: window.clips.filter((r) => r.deref()).length, refused: Boolean(window.refused.deref()) }));
    for (let i = 0; i < 30 && (await alive()).clips > 0; i++) {
      await cdp.send('HeapProfiler.collectGarbage');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(await alive(), { clips: 0, refused: true });
  } finally {
    await tab.close();
  }
});

test('aborting a resume before its saved record is even read still deletes the record and the reserved asset', async () => {
  const { tab } = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const { blob } = await window.seededSample(6, 71);
      const file = () => new File([blob], 'early-abort.mp4', { type: 'video/mp4', lastModified: 4 });
      const { handle: h0, id } = await window.leftPaused(file(), { concurrency: 1 });
      const next = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const h1 = next.resume(file());
      await sleep(0);
      h1.abort();
      const code = await h1.done.then(() => 'resolved', (e) => e.code);
      await sleep(1500);
      return { code, id, assetId: h0.assetId, pending: (await next.pendingUploads()).map((p) => p.id) };
    });
    assert.equal(seen.code, 'aborted');
    assert.ok(!seen.pending.includes(seen.id), `the record is gone: ${JSON.stringify(seen)}`);
    assert.equal(await assetStatusSettled(seen.assetId, true), null, `the reserved asset ${seen.assetId} is gone`);
  } finally {
    await tab.close();
  }
});
