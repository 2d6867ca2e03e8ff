// UploadQueue in headless Chromium against the emulator and the Worker in workerd: three files
// where one is paused and one cancelled while the third completes; retry after injected
// failures continues the same session; remove; pauseAll/resumeAll; the snapshot contract of
// useSyncExternalStore (same object while nothing changed, unchanged items keep their object,
// frozen); a throwing listener; and UploadHandle.subscribe/getSnapshot.
// (Reload → restorePending → awaiting_file → attachFile is the demo page's reload test in
// upload.test.mjs: the page runs on UploadQueue.)
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { openPackageTab } from '../support/browser.mjs';
import { chromiumStack } from '../support/chromium-stack.mjs';
import { NO_FAULTS, assetDigest, emulatorStats, resetStats, setFaults } from './helpers.mjs';

const MiB = 1024 * 1024;

const env = chromiumStack({ emulatorArgs: ['--chunk-size', String(MiB)] });

afterEach(async () => {
  await setFaults(env.stack.emulator, NO_FAULTS);
  await resetStats(env.stack.emulator);
});

/**
 * A tab with the package as `window.pkg`, `window.makeQueue(options)` (an Uploader and its
 * queue), `window.sample(mib, seed, name)` (a seeded `video/mp4` File and its SHA-256) and
 * `window.until(queue, predicate)` (resolves with the first snapshot, announced to a
 * subscriber, for which `predicate` holds).
 */
async function openTab() {
  const { tab, problems } = await openPackageTab(env.browser, env.stack, { sub: 'queue-test' });
  await tab.evaluate(() => {
    window.makeQueue = (options) => {
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, progressIntervalMs: 50, ...options });
      return new window.pkg.UploadQueue(uploader);
    };
    window.sample = async (mib, seed, name) => {
      const { blob, sha256 } = await window.seededSample(mib, seed);
      return { file: new File([blob], name, { type: 'video/mp4', lastModified: 1_700_000_000_000 + seed }), sha256 };
    };
    window.until = (queue, predicate, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const snapshot = queue.getSnapshot();
          if (predicate(snapshot)) {
            unsubscribe();
            clearTimeout(timer);
            resolve(snapshot);
          }
        };
        const unsubscribe = queue.subscribe(check);
        const timer = setTimeout(() => {
          unsubscribe();
          reject(new Error(`timed out; last snapshot: ${JSON.stringify(queue.getSnapshot())}`));
        }, timeoutMs);
        check();
      });
  });
  return { tab, problems };
}

test('three files: one paused, one cancelled, the third completes; the paused one then completes too', async () => {
  await setFaults(env.stack.emulator, { latency_ms: 200 });
  const { tab, problems } = await openTab();
  const result = await tab.evaluate(async () => {
    const queue = window.makeQueue({ concurrency: 6, persist: false });
    const files = [];
    for (const [i, name] of ['pause.mp4', 'cancel.mp4', 'finish.mp4'].entries()) files.push(await window.sample(24, i + 1, name));
    const ids = queue.add(files.map((f) => f.file));
    const item = (s, id) => s.items.find((i) => i.id === id);
    const result = {};
    // The first is paused at its first stored chunk, so at most the six chunks then in flight
    // land after it: it cannot have finished, however the slots were shared until then.
    const firstStored = await window.until(queue, (s) => item(s, ids[0]).progress.acknowledgedBytes > 0);
    queue.pause(ids[0]);
    result.phaseAtPause = item(firstStored, ids[0]).phase;
    // The three run at once (six chunk slots: three files), not one after another.
    const running = await window.until(queue, (s) => item(s, ids[1]).phase === 'uploading');
    queue.cancel(ids[1]);
    result.runningPhases = running.items.map((i) => i.phase);
    const end = await window.until(queue, (s) => item(s, ids[2]).phase === 'done');
    const pausedAtEnd = item(end, ids[0]);
    const cancelled = item(end, ids[1]);
    Object.assign(result, {
      ids,
      sha256: files.map((f) => f.sha256),
      paused: { phase: pausedAtEnd.phase, acknowledged: pausedAtEnd.progress.acknowledgedBytes, uploadId: pausedAtEnd.uploadId },
      cancelled: { phase: cancelled.phase, error: cancelled.error },
      finished: item(end, ids[2]),
      counts: end.totals.counts,
    });
    // Still paused a while later, and once the chunks in flight at the pause have landed,
    // nothing more is stored (the queue did not start it again).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    result.pausedLater = item(queue.getSnapshot(), ids[0]).phase;
    result.pausedBytesSettled = item(queue.getSnapshot(), ids[0]).progress.acknowledgedBytes;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    result.pausedBytesLater = item(queue.getSnapshot(), ids[0]).progress.acknowledgedBytes;
    queue.resume(ids[0]);
    const resumed = await window.until(queue, (s) => ['done', 'failed'].includes(item(s, ids[0]).phase));
    result.resumed = item(resumed, ids[0]);
    result.finalTotals = resumed.totals;
    return result;
  });
  assert.equal(result.phaseAtPause, 'uploading');
  assert.equal(result.runningPhases[0], 'paused');
  assert.equal(result.runningPhases[1], 'uploading');
  assert.ok(['starting', 'uploading'].includes(result.runningPhases[2]), 'the third runs too, not queued');
  assert.equal(result.paused.phase, 'paused');
  assert.ok(result.pausedBytesSettled < 24 * MiB, 'paused before the end');
  assert.equal(result.pausedBytesLater, result.pausedBytesSettled, 'nothing more stored while paused');
  assert.equal(result.pausedLater, 'paused');
  assert.equal(result.cancelled.phase, 'aborted');
  assert.equal(result.cancelled.error.code, 'aborted');
  assert.equal(result.finished.phase, 'done');
  assert.equal(result.finished.progress.acknowledgedBytes, 24 * MiB);
  assert.deepEqual(
    Object.entries(result.counts).filter(([, n]) => n > 0),
    [['paused', 1], ['done', 1], ['aborted', 1]],
  );
  assert.equal(result.resumed.phase, 'done', JSON.stringify(result.resumed));
  assert.equal(result.resumed.uploadId, result.paused.uploadId, 'the paused upload continued its session');
  for (const [item, sha256] of [[result.finished, result.sha256[2]], [result.resumed, result.sha256[0]]]) {
    const digest = await assetDigest(env.stack.emulator, item.assetId);
    assert.equal(digest.sha256, sha256, `${item.filename} arrived intact`);
  }
  // Totals leave the cancelled file out: two files of 24 MiB, all stored.
  assert.equal(result.finalTotals.totalBytes, 48 * MiB);
  assert.equal(result.finalTotals.acknowledgedBytes, 48 * MiB);
  assert.equal(result.finalTotals.fraction, 1);
  assert.deepEqual(problems, []);
});

test('retry after the upload gave up on injected PUT failures continues the same session', async () => {
  await setFaults(env.stack.emulator, { latency_ms: 60 });
  const { tab, problems } = await openTab();
  const first = await tab.evaluate(async () => {
    window.queue = window.makeQueue({ concurrency: 1, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
    const { file, sha256 } = await window.sample(10, 7, 'retry-me.mp4');
    window.retrySha = sha256;
    [window.retryId] = window.queue.add(file);
    const s = await window.until(window.queue, (s) => s.items[0].progress.acknowledgedBytes >= 3 * (1 << 20));
    // Held while the faults are set, so that chunks are left to fail however fast the rest goes.
    window.queue.pause(window.retryId);
    return s.items[0];
  });
  await setFaults(env.stack.emulator, { put_failure_rate: 1, put_failure_kind: '500' });
  const failed = await tab.evaluate(async () => {
    window.queue.resume(window.retryId);
    return (await window.until(window.queue, (s) => s.items[0].phase === 'failed')).items[0];
  });
  assert.equal(failed.error.code, 'retries_exhausted', JSON.stringify(failed));
  assert.equal(failed.uploadId, first.uploadId);
  const storedBefore = failed.progress.acknowledgedBytes;
  await setFaults(env.stack.emulator, NO_FAULTS);
  const statsBefore = await emulatorStats(env.stack.emulator);
  const done = await tab.evaluate(async () => {
    window.queue.retry(window.retryId);
    const retried = window.queue.getSnapshot().items[0];
    const end = await window.until(window.queue, (s) => ['done', 'failed'].includes(s.items[0].phase));
    return { retried, end: end.items[0] };
  });
  assert.equal(done.retried.error, null, 'retry clears the error');
  assert.ok(done.retried.progress.acknowledgedBytes >= storedBefore, 'the bytes already stored still count');
  assert.equal(done.end.phase, 'done', JSON.stringify(done.end));
  assert.equal(done.end.uploadId, first.uploadId, 'the same session was continued');
  const digest = await assetDigest(env.stack.emulator, done.end.assetId);
  assert.equal(digest.sha256, await tab.evaluate(() => window.retrySha));
  const stats = await emulatorStats(env.stack.emulator);
  assert.deepEqual(Object.keys(stats.chunk_puts), [first.uploadId], 'no second session was started');
  // Chunks stored before the failure were not sent again.
  for (const [index, counts] of Object.entries(statsBefore.chunk_puts[first.uploadId])) {
    if (counts.stored === 1) {
      assert.equal(stats.chunk_puts[first.uploadId][index].stored, 1, `chunk ${index} stored once`);
    }
  }
  assert.deepEqual(problems, []);
});

test('snapshots: same object until a change, unchanged items keep theirs, frozen; throwing listeners; pauseAll, resumeAll, remove', async () => {
  await setFaults(env.stack.emulator, { latency_ms: 60 });
  const { tab, problems } = await openTab();
  const result = await tab.evaluate(async () => {
    const out = {};
    // Two chunk slots: one file at a time, so the second waits, unchanged, while the first moves.
    const queue = window.makeQueue({ concurrency: 2, persist: false });
    let calls = 0;
    queue.subscribe(() => {
      throw new Error('a listener that throws');
    });
    queue.subscribe(() => (calls += 1));
    const files = [await window.sample(6, 11, 'first.mp4'), await window.sample(6, 12, 'second.mp4'), await window.sample(3, 13, 'third.mp4')];
    const empty = queue.getSnapshot();
    out.emptyIsSame = queue.getSnapshot() === empty;
    out.emptyTotals = empty.totals;
    const ids = queue.add(files.map((f) => f.file));
    const added = queue.getSnapshot();
    out.changedAfterAdd = added !== empty;
    out.addedPhases = added.items.map((i) => i.phase);
    out.frozen = [added, added.items, added.items[0], added.items[0].progress, added.totals, added.totals.counts].every(Object.isFrozen);
    const moving = await window.until(queue, (s) => s.items[0].progress.acknowledgedBytes > 0);
    out.sameUntilChange = queue.getSnapshot() === queue.getSnapshot();
    out.movedItemIsNew = moving.items[0] !== added.items[0];
    out.waitingItemKept = moving.items[1] === added.items[1] && moving.items[2] === added.items[2];
    out.listenerCalls = calls;

    queue.remove(ids[2]);
    out.afterRemove = queue.getSnapshot().items.map((i) => i.id);
    try {
      queue.remove(ids[2]);
    } catch (error) {
      out.removeUnknown = error.code;
    }
    queue.pauseAll();
    out.afterPauseAll = queue.getSnapshot().items.map((i) => i.phase);
    out.pausedCounts = queue.getSnapshot().totals.counts.paused;
    queue.resumeAll();
    out.afterResumeAll = queue.getSnapshot().items.map((i) => i.phase);
    const end = await window.until(queue, (s) => s.items.every((i) => i.phase === 'done'));
    out.end = end.items.map((i) => [i.filename, i.phase, i.progress.acknowledgedBytes]);
    out.endCounts = end.totals.counts.done;
    out.listenerCallsAtEnd = calls;
    return out;
  });
  assert.equal(result.emptyIsSame, true);
  assert.deepEqual(result.emptyTotals, {
    totalBytes: 0,
    acknowledgedBytes: 0,
    fraction: 0,
    bytesPerSecond: null,
    etaMs: null,
    counts: { queued: 0, awaiting_file: 0, starting: 0, uploading: 0, paused: 0, finalizing: 0, processing: 0, done: 0, failed: 0, aborted: 0 },
  });
  assert.equal(result.changedAfterAdd, true);
  assert.deepEqual(result.addedPhases, ['starting', 'queued', 'queued']);
  assert.equal(result.frozen, true);
  assert.equal(result.sameUntilChange, true);
  assert.equal(result.movedItemIsNew, true);
  assert.equal(result.waitingItemKept, true, 'items that did not change keep their object');
  assert.ok(result.listenerCalls > 0, 'the second listener is called although the first throws');
  assert.equal(result.afterRemove.length, 2);
  assert.equal(result.removeUnknown, 'not_found');
  assert.deepEqual(result.afterPauseAll, ['paused', 'paused']);
  assert.equal(result.pausedCounts, 2);
  assert.deepEqual(result.afterResumeAll, ['uploading', 'queued']);
  assert.deepEqual(result.end, [
    ['first.mp4', 'done', 6 * MiB],
    ['second.mp4', 'done', 6 * MiB],
  ]);
  assert.equal(result.endCounts, 2);
  assert.ok(result.listenerCallsAtEnd > result.listenerCalls);
  assert.deepEqual(problems, []);
});

test('UploadHandle.subscribe/getSnapshot: the same frozen object until the upload changes', async () => {
  const { tab, problems } = await openTab();
  const result = await tab.evaluate(async () => {
    const uploader = new window.pkg.Uploader({
      endpoint: (await (await fetch('/demo-config.json')).json()).workerUrl,
      getToken: async () => {
        const cfg = await (await fetch('/demo-config.json')).json();
        const res = await fetch(`${cfg.workerUrl}/dev/grant`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sub":"handle-test"}' });
        return (await res.json()).grant;
      },
      persist: false,
      progressIntervalMs: 50,
    });
    const { file } = await window.sample(4, 31, 'handle.mp4');
    const handle = uploader.upload(file);
    const first = handle.getSnapshot();
    const seen = [first];
    let thrown = 0;
    handle.subscribe(() => {
      thrown += 1;
      throw new Error('throwing listener');
    });
    const unsubscribe = handle.subscribe(() => {
      const s = handle.getSnapshot();
      if (s !== seen[seen.length - 1]) seen.push(s);
    });
    const sameAtOnce = handle.getSnapshot() === first;
    await handle.done;
    await new Promise((resolve) => setTimeout(resolve, 100));
    unsubscribe();
    unsubscribe();
    return {
      sameAtOnce,
      frozen: Object.isFrozen(first),
      phases: seen.map((s) => s.phase),
      last: seen[seen.length - 1],
      lastIsCurrent: handle.getSnapshot() === seen[seen.length - 1],
      thrown,
    };
  });
  assert.equal(result.sameAtOnce, true);
  assert.equal(result.frozen, true);
  assert.equal(result.phases[0], 'starting');
  assert.equal(result.last.phase, 'done');
  assert.equal(result.last.acknowledgedBytes, 4 * MiB);
  assert.equal(result.lastIsCurrent, true);
  assert.ok(result.phases.includes('uploading'), result.phases.join());
  assert.ok(result.thrown > 0);
  assert.deepEqual(problems, []);
});

test('a queue the page dropped (garbage-collected) still starts its waiting files', async () => {
  await setFaults(env.stack.emulator, { latency_ms: 300 });
  const { tab, problems } = await openTab();
  await tab.evaluate(async () => {
    window.queueCollected = false;
    const watch = new FinalizationRegistry(() => (window.queueCollected = true));
    window.keepWatch = watch;
    const files = [await window.sample(4, 41, 'dropped-1.mp4'), await window.sample(4, 42, 'dropped-2.mp4')];
    // One file at a time; the page keeps no reference to the queue once this function returns.
    const queue = window.makeQueue({ concurrency: 1, persist: false });
    watch.register(queue, 'queue');
    queue.add(files.map((f) => f.file));
  });
  const cdp = await tab.context().newCDPSession(tab);
  for (let i = 0; i < 50 && !(await tab.evaluate(() => window.queueCollected)); i++) {
    await cdp.send('HeapProfiler.collectGarbage');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await tab.evaluate(() => window.queueCollected), true, 'the queue object was collected');
  const firstDone = async () => {
    const stats = await emulatorStats(env.stack.emulator);
    return Object.values(stats.chunk_puts).filter((chunks) => Object.values(chunks).filter((c) => c.stored === 1).length === 4).length;
  };
  assert.ok((await firstDone()) < 2, 'collected before both files were stored');
  const deadline = Date.now() + 60_000;
  while ((await firstDone()) < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(await firstDone(), 2, 'both files were stored, the second started after the queue was dropped');
  assert.deepEqual(problems, []);
});
