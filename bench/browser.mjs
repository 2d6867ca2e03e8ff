// Browser sections: throughput of our package vs the raw-fetch ceiling vs @uppy/aws-s3, and
// the memory of our package (wasm linear memory + JS heap: raw, and live after forced GCs at
// fixed points of the upload) while it uploads. Each run gets a
// fresh page in headless Chromium, so no run inherits another's heap, wasm memory or sockets.
import { launchChromium } from '../tests/support/browser.mjs';
import { apiRequestCount, assertAssembled, CHUNK_SIZE, deleteAsset, flushDirtyPages, resetStats } from './lib/services.mjs';
import { median, mibPerSec } from './lib/stats.mjs';

/** How often the JS heap is read over CDP while our package uploads. */
const HEAP_SAMPLE_MS = 100;

/**
 * Samples `Runtime.getHeapUsage` of `page` over CDP until stopped: the raw `usedSize`, which
 * includes garbage not yet collected (when V8 collects is its own choice). With `checkpoints`,
 * also installs `window.benchHeapCheckpoint(label)` for the page (bench/page/bench.js calls it at
 * fixed points of the upload): each call forces a full garbage collection
 * (`HeapProfiler.collectGarbage`) and then reads `usedSize`, i.e. the heap that is still live.
 * Answers `stop()` → `{startUsedBytes, peakUsedBytes, peakTotalBytes, samples, checkpoints}`,
 * `checkpoints` being `[{label, usedBytes, atMs}]` in the order taken.
 */
async function sampleHeap(context, page, { checkpoints = false } = {}) {
  const cdp = await context.newCDPSession(page);
  const first = await cdp.send('Runtime.getHeapUsage');
  const result = {
    startUsedBytes: first.usedSize,
    peakUsedBytes: first.usedSize,
    peakTotalBytes: first.totalSize,
    samples: 1,
    checkpoints: [],
  };
  const since = performance.now();
  if (checkpoints) {
    // One at a time: the page does not wait for the in-progress ones.
    let queue = Promise.resolve();
    const take = async (label) => {
      await cdp.send('HeapProfiler.collectGarbage');
      const usage = await cdp.send('Runtime.getHeapUsage');
      result.checkpoints.push({ label, usedBytes: usage.usedSize, atMs: Math.round(performance.now() - since) });
    };
    await page.exposeBinding('benchHeapCheckpoint', (_source, label) => {
      queue = queue.then(() => take(String(label)));
      return queue;
    });
  }
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, HEAP_SAMPLE_MS));
      try {
        const usage = await cdp.send('Runtime.getHeapUsage');
        result.peakUsedBytes = Math.max(result.peakUsedBytes, usage.usedSize);
        result.peakTotalBytes = Math.max(result.peakTotalBytes, usage.totalSize);
        result.samples += 1;
      } catch {
        return; // the page went away
      }
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    await cdp.detach().catch(() => {});
    return result;
  };
}

/**
 * The page's main-thread CPU time from now until `stop()`: the growth of CDP
 * `Performance.getMetrics`' `TaskDuration` (seconds of tasks the renderer's main thread ran).
 * Taken around the whole upload call, so each kind's setup (grant, session, URLs) counts too.
 * Answers `{stop}`; `stop()` → milliseconds.
 */
async function pageCpu(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const taskSeconds = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const task = metrics.find((m) => m.name === 'TaskDuration');
    if (!task) throw new Error('Performance.getMetrics has no TaskDuration');
    return task.value;
  };
  const before = await taskSeconds();
  return {
    async stop() {
      try {
        return (await taskSeconds() - before) * 1000;
      } finally {
        await cdp.detach().catch(() => {});
      }
    },
  };
}

/**
 * One upload in a fresh page: `kind` is `ours`, `ceiling` or `uppy`. Answers the page's
 * result plus the upstream API requests the emulator counted, the page's main-thread CPU time
 * (`pageCpuMs`) and, for `ours` in memory runs, the heap samples.
 */
/**
 * A fresh bench page with `file` set on #file, ready to run one upload, and nothing of an
 * earlier run's still being written to disk. Answers `{page, pageErrors}`; the caller closes it.
 */
export async function openBenchPage(chromium, stack, file) {
  const page = await chromium.context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  try {
    await page.goto(`${stack.page.url}/index.html`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.setInputFiles('#file', file);
  } catch (err) {
    await page.close().catch(() => {});
    throw err;
  }
  // As before each timed Node upload: no run starts while an earlier one's disk writes (the
  // emulator's parts and assembled assets) are still being written back.
  flushDirtyPages();
  return { page, pageErrors };
}

/** Checks that the asset a run made holds all of its bytes, then deletes it (if it made one). */
export async function checkAndDeleteAsset(stack, result) {
  if (!result.assetId) return;
  await assertAssembled(stack.emulator, result.assetId, result.bytes);
  await deleteAsset(stack.emulator, result.assetId);
}

async function runInPage({ chromium, stack, file, kind, concurrency, log, heapCheckpoints = false }) {
  const { page, pageErrors } = await openBenchPage(chromium, stack, file);
  try {
    await resetStats(stack.emulator);
    // Only the memory runs sample the heap: CDP polling every 100 ms would tax ours alone in the
    // throughput runs, where the ceiling and Uppy are not sampled.
    const stopHeap = kind === 'ours' && heapCheckpoints ? await sampleHeap(chromium.context, page, { checkpoints: true }) : null;
    const cpu = await pageCpu(chromium.context, page);
    let result;
    try {
      result = await page.evaluate(
        ([name, options]) => window.bench[name](options),
        [kind, { concurrency, chunkSize: CHUNK_SIZE, heapCheckpoints }],
      );
    } catch (err) {
      throw new Error(`${kind} upload failed in the page: ${err.message}${pageErrors.length ? `\n${pageErrors.join('\n')}` : ''}`);
    }
    result.pageCpuMs = await cpu.stop();
    if (stopHeap) result.heap = await stopHeap();
    result.upstream = await apiRequestCount(stack.emulator);
    await checkAndDeleteAsset(stack, result);
    const lanes = result.lanes
      ? `  first PUT at ${result.lanes.firstPutStartMs} ms, lanes underfilled ${result.lanes.underfilledMs} ms` +
        ` (${result.lanes.underfilledDuringUrlCallsMs ?? 0} ms of it during URL requests)` +
        `; PUT p50 ${result.lanes.putMs.p50} / mean ${result.lanes.putMs.mean} ms` +
        (result.lanes.turnaroundMs ? `; next PUT after an answer: p50 ${result.lanes.turnaroundMs.p50} / p90 ${result.lanes.turnaroundMs.p90} / max ${result.lanes.turnaroundMs.max} ms` : '')
      : '';
    log(`  ${kind.padEnd(8)} ${(result.ms / 1000).toFixed(2)} s  ${mibPerSec(result.bytes, result.ms).toFixed(0)} MiB/s` +
      `  page main-thread CPU ${Math.round(result.pageCpuMs)} ms${lanes}`);
    return result;
  } finally {
    await page.close().catch(() => {});
  }
}

/**
 * Throughput, browser: `runs` rounds of (ours, ceiling, uppy) on the same file, the order
 * rotated every round so that drift on a shared machine spreads over all three.
 * Answers per-kind lists of results and their medians.
 */
export async function browserThroughput({ stack, file, runs, concurrency, log }) {
  const chromium = await launchChromium();
  try {
    const kinds = ['ours', 'ceiling', 'uppy'];
    const results = { ours: [], ceiling: [], uppy: [] };
    // One warm-up upload (not counted) lets Chromium, workerd and the page cache settle.
    log('browser: warm-up (not counted)');
    await runInPage({ chromium, stack, file, kind: 'ours', concurrency, log });
    for (let round = 0; round < runs; round++) {
      log(`browser: round ${round + 1}/${runs}`);
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length];
        results[kind].push(await runInPage({ chromium, stack, file, kind, concurrency, log }));
      }
    }
    return summarizeThroughput(results);
  } finally {
    await chromium.close();
  }
}

function summarizeThroughput(results) {
  const summary = {};
  for (const [kind, list] of Object.entries(results)) {
    summary[kind] = {
      runs: list,
      medianMs: median(list.map((r) => r.ms)),
      medianTransferMs: median(list.map((r) => r.transferMs)),
      medianPageCpuMs: median(list.map((r) => r.pageCpuMs)),
      bytes: list[0].bytes,
    };
    summary[kind].mibPerSec = mibPerSec(summary[kind].bytes, summary[kind].medianMs);
  }
  return summary;
}

/**
 * Memory: our package uploading `file` (`runs` times, fresh page each), with the live heap read
 * after a forced GC before the upload, at every tenth of the file acknowledged and after `done`
 * (see `sampleHeap`). Answers the medians (see `summarizeMemory`).
 */
export async function browserMemory({ stack, file, runs, concurrency, log }) {
  const chromium = await launchChromium();
  try {
    const list = [];
    for (let i = 0; i < runs; i++) {
      const result = await runInPage({ chromium, stack, file, kind: 'ours', concurrency, log, heapCheckpoints: true });
      const live = liveHeap(result.heap.checkpoints);
      log(`    JS heap raw peak ${mib(result.heap.peakUsedBytes)}; live after GC: start ${mib(live.startBytes)}, ` +
        `peak ${mib(live.peakBytes)} (${live.peakLabel}), end ${mib(live.endBytes)}; ${live.count} checkpoints`);
      list.push(result);
    }
    return summarizeMemory(list);
  } finally {
    await chromium.close();
  }
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

/**
 * The post-GC live heap of one run: at `start` (before the upload), its peak over the upload's
 * checkpoints (every tenth acknowledged, and `end`, after `done` with the handle still held),
 * and at `end`.
 */
function liveHeap(checkpoints) {
  const at = (label) => checkpoints.find((c) => c.label === label)?.usedBytes ?? NaN;
  const during = checkpoints.filter((c) => c.label !== 'start');
  const peak = during.reduce((best, c) => (!best || c.usedBytes > best.usedBytes ? c : best), null);
  return {
    startBytes: at('start'),
    endBytes: at('end'),
    peakBytes: peak ? peak.usedBytes : NaN,
    peakLabel: peak ? peak.label : 'none',
    count: checkpoints.length,
  };
}

/** Median figures of a list of memory-section `ours` results. */
export function summarizeMemory(list) {
  const lives = list.map((r) => liveHeap(r.heap.checkpoints));
  return {
    bytes: list[0].bytes,
    runs: list.length,
    wasmStartBytes: median(list.map((r) => r.wasmAtStartBytes)),
    wasmPeakBytes: median(list.map((r) => r.wasmPeakBytes)),
    heapStartUsedBytes: median(list.map((r) => r.heap.startUsedBytes)),
    heapPeakUsedBytes: median(list.map((r) => r.heap.peakUsedBytes)),
    heapPeakTotalBytes: median(list.map((r) => r.heap.peakTotalBytes)),
    heapSamples: median(list.map((r) => r.heap.samples)),
    liveStartBytes: median(lives.map((l) => l.startBytes)),
    livePeakBytes: median(lives.map((l) => l.peakBytes)),
    liveEndBytes: median(lives.map((l) => l.endBytes)),
    liveCheckpoints: median(lives.map((l) => l.count)),
    // Every run's figures, so the spread behind each median is in the report.
    perRun: list.map((r, i) => ({
      ms: r.ms,
      wasmPeakBytes: r.wasmPeakBytes,
      heapPeakUsedBytes: r.heap.peakUsedBytes,
      live: r.heap.checkpoints,
      livePeakBytes: lives[i].peakBytes,
      livePeakLabel: lives[i].peakLabel,
    })),
    medianMs: median(list.map((r) => r.ms)),
  };
}
