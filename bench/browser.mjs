// Browser sections: throughput of our package vs the raw-fetch ceiling vs @uppy/aws-s3, and
// the memory of our package (wasm linear memory + JS heap) while it uploads. Each run gets a
// fresh page in headless Chromium, so no run inherits another's heap, wasm memory or sockets.
import { launchChromium } from '../tests/support/browser.mjs';
import { apiRequestCount, assertAssembled, CHUNK_SIZE, deleteAsset, resetStats } from './lib/services.mjs';
import { median, mibPerSec } from './lib/stats.mjs';

/** How often the JS heap is read over CDP while our package uploads. */
const HEAP_SAMPLE_MS = 100;

/**
 * Samples `Runtime.getHeapUsage` of `page` over CDP until stopped. Answers `stop()` →
 * `{startUsedBytes, peakUsedBytes, peakTotalBytes, samples}`.
 */
async function sampleHeap(context, page) {
  const cdp = await context.newCDPSession(page);
  const first = await cdp.send('Runtime.getHeapUsage');
  const result = {
    startUsedBytes: first.usedSize,
    peakUsedBytes: first.usedSize,
    peakTotalBytes: first.totalSize,
    samples: 1,
  };
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
 * One upload in a fresh page: `kind` is `ours`, `ceiling` or `uppy`. Answers the page's
 * result plus the upstream API requests the emulator counted and, for `ours`, the heap samples.
 */
async function runInPage({ chromium, stack, file, kind, concurrency, log }) {
  const page = await chromium.context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  try {
    await page.goto(`${stack.page.url}/index.html`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.setInputFiles('#file', file);
    await resetStats(stack.emulator);
    const stopHeap = kind === 'ours' ? await sampleHeap(chromium.context, page) : null;
    let result;
    try {
      result = await page.evaluate(
        ([name, options]) => window.bench[name](options),
        [kind, { concurrency, chunkSize: CHUNK_SIZE }],
      );
    } catch (err) {
      throw new Error(`${kind} upload failed in the page: ${err.message}${pageErrors.length ? `\n${pageErrors.join('\n')}` : ''}`);
    }
    if (stopHeap) result.heap = await stopHeap();
    result.upstream = await apiRequestCount(stack.emulator);
    if (result.assetId) {
      await assertAssembled(stack.emulator, result.assetId, result.bytes);
      await deleteAsset(stack.emulator, result.assetId);
    }
    log(`  ${kind.padEnd(8)} ${(result.ms / 1000).toFixed(2)} s  ${mibPerSec(result.bytes, result.ms).toFixed(0)} MiB/s`);
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
      bytes: list[0].bytes,
    };
    summary[kind].mibPerSec = mibPerSec(summary[kind].bytes, summary[kind].medianMs);
  }
  return summary;
}

/**
 * Memory: our package uploading `file` (`runs` times, fresh page each); peaks of the wasm
 * linear memory and of the JS heap. Answers the medians of the peaks.
 */
export async function browserMemory({ stack, file, runs, concurrency, log }) {
  const chromium = await launchChromium();
  try {
    const list = [];
    for (let i = 0; i < runs; i++) {
      list.push(await runInPage({ chromium, stack, file, kind: 'ours', concurrency, log }));
    }
    return summarizeMemory(list);
  } finally {
    await chromium.close();
  }
}

/** Median peaks of a list of `ours` results (from the throughput or the memory runs). */
export function summarizeMemory(list) {
  return {
    bytes: list[0].bytes,
    runs: list.length,
    wasmStartBytes: median(list.map((r) => r.wasmAtStartBytes)),
    wasmPeakBytes: median(list.map((r) => r.wasmPeakBytes)),
    heapStartUsedBytes: median(list.map((r) => r.heap.startUsedBytes)),
    heapPeakUsedBytes: median(list.map((r) => r.heap.peakUsedBytes)),
    heapPeakTotalBytes: median(list.map((r) => r.heap.peakTotalBytes)),
    heapSamples: median(list.map((r) => r.heap.samples)),
    medianMs: median(list.map((r) => r.ms)),
  };
}
