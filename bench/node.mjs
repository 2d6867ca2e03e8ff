// Node sections: throughput of our package (pkg/ Node entry) vs the official SDK's
// `uploadFile`, each in a fresh process, against the same emulator and the same file; and the
// control-plane cost of both (API requests per GiB, from the emulator's counters).
//
// Two network conditions, each measured in the same run: raw loopback (the emulator as the
// other sections use it: no injected latency) and, with `latencyMs` > 0, a second emulator that
// delays every API and storage request by that much (`--latency-ms`), which is closer to a
// real network, where every round trip costs tens of milliseconds. Every upload starts after a
// `sync`, so that no upload pays for the previous one's disk write-back.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../tests/support/harness.mjs';
import { groupCpuMs, machineBusyMs } from './lib/cpu.mjs';
import { apiRequestCount, assertAssembled, deleteAsset, flushDirtyPages, resetStats, startBenchEmulator } from './lib/services.mjs';
import { median, mibPerSec } from './lib/stats.mjs';

/** The child that runs one upload (see its header). */
export const CHILD = path.join(ROOT, 'bench/node-upload.mjs');

/** Runs one upload in a child process (`nodeArgs` before the script, e.g. `--cpu-prof`); answers its JSON result. */
export function uploadInChild(options, { nodeArgs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', ...nodeArgs, CHILD, JSON.stringify(options)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) {
        reject(new Error(`${options.impl} upload exited with ${code}\n${err.slice(-4000)}`));
        return;
      }
      resolve(JSON.parse(line));
    });
  });
}

/**
 * `runs` rounds of (ours, sdk) against `emulator`, order alternating. Answers per-impl runs
 * and medians, with the API requests each upload made and the CPU time the uploading process
 * and the emulator used.
 */
async function rounds({ emulator, file, runs, concurrency, log, label }) {
  const results = { ours: [], sdk: [] };
  const one = async (impl) => {
    await resetStats(emulator);
    const syncMs = flushDirtyPages();
    const emulatorCpuBefore = groupCpuMs(emulator.pid);
    const machineBefore = machineBusyMs();
    const windowStarted = performance.now();
    const result = await uploadInChild({
      impl,
      file,
      apiUrl: emulator.apiUrl,
      apiKey: emulator.apiKey,
      concurrency,
    });
    // Includes the child's start-up and the final poll; the upload is nearly all of it.
    result.emulatorCpuMs = groupCpuMs(emulator.pid) - emulatorCpuBefore;
    // Cores the whole machine kept busy meanwhile (uploader + emulator + anything else running;
    // the child's start-up is in the window too).
    result.machineCores = (machineBusyMs() - machineBefore) / (performance.now() - windowStarted);
    result.syncBeforeMs = syncMs;
    result.requests = await apiRequestCount(emulator);
    await assertAssembled(emulator, result.assetId, result.bytes);
    await deleteAsset(emulator, result.assetId);
    log(
      `  ${impl.padEnd(8)} ${(result.ms / 1000).toFixed(2)} s  ${mibPerSec(result.bytes, result.ms).toFixed(0)} MiB/s  ` +
        `${result.requests.api} API requests  cpu: uploader ${(result.cpuMs / 1000).toFixed(2)} s, emulator ${(result.emulatorCpuMs / 1000).toFixed(2)} s, ` +
        `machine busy ${result.machineCores.toFixed(2)} cores (sync before: ${syncMs.toFixed(0)} ms)`,
    );
    return result;
  };
  log(`node (${label}): warm-up (not counted)`);
  await one('ours');
  for (let round = 0; round < runs; round++) {
    log(`node (${label}): round ${round + 1}/${runs}`);
    const order = round % 2 ? ['sdk', 'ours'] : ['ours', 'sdk'];
    for (const impl of order) results[impl].push(await one(impl));
  }
  const summary = {};
  for (const [impl, list] of Object.entries(results)) {
    const bytes = list[0].bytes;
    const medianMs = median(list.map((r) => r.ms));
    summary[impl] = {
      runs: list,
      bytes,
      medianMs,
      mibPerSec: mibPerSec(bytes, medianMs),
      apiRequests: median(list.map((r) => r.requests.api)),
      storagePuts: median(list.map((r) => r.requests.storagePuts)),
      maxRssBytes: median(list.map((r) => r.maxRssBytes)),
      cpuMs: median(list.map((r) => r.cpuMs)),
      emulatorCpuMs: median(list.map((r) => r.emulatorCpuMs)),
      machineCores: median(list.map((r) => r.machineCores)),
    };
  }
  return summary;
}

/**
 * Loopback rounds against `emulator`, then (if `latencyMs` > 0) the same rounds against a second
 * emulator with `--latency-ms latencyMs`, started here and stopped afterwards. Answers
 * `{ours, sdk, latency: {latencyMs, ours, sdk} | null}`.
 */
export async function nodeThroughput({ emulator, file, runs, concurrency, latencyMs = 0, log }) {
  const loopback = await rounds({ emulator, file, runs, concurrency, log, label: 'loopback' });
  let latency = null;
  if (latencyMs > 0) {
    const slow = await startBenchEmulator(['--latency-ms', String(latencyMs)]);
    try {
      latency = { latencyMs, ...(await rounds({ emulator: slow, file, runs, concurrency, log, label: `+${latencyMs} ms per request` })) };
    } finally {
      await slow.stop();
    }
  }
  return { ...loopback, latency };
}
