// Node sections: throughput of our package (pkg/ Node entry) vs the official SDK's
// `uploadFile`, each in a fresh process, against the same emulator and the same file; and the
// control-plane cost of both (API requests per GiB, from the emulator's counters).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../tests/support/harness.mjs';
import { apiRequestCount, assertAssembled, deleteAsset, resetStats } from './lib/services.mjs';
import { median, mibPerSec } from './lib/stats.mjs';

const CHILD = path.join(ROOT, 'bench/node-upload.mjs');

/** Runs one upload in a child process; answers its JSON result. */
function uploadInChild(options) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', CHILD, JSON.stringify(options)], {
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
 * `runs` rounds of (ours, sdk), order alternating. Answers per-impl runs and medians, with the
 * API requests each upload made.
 */
export async function nodeThroughput({ emulator, file, runs, concurrency, log }) {
  const results = { ours: [], sdk: [] };
  const one = async (impl) => {
    await resetStats(emulator);
    const result = await uploadInChild({
      impl,
      file,
      apiUrl: emulator.apiUrl,
      apiKey: emulator.apiKey,
      concurrency,
    });
    result.requests = await apiRequestCount(emulator);
    await assertAssembled(emulator, result.assetId, result.bytes);
    await deleteAsset(emulator, result.assetId);
    log(`  ${impl.padEnd(8)} ${(result.ms / 1000).toFixed(2)} s  ${mibPerSec(result.bytes, result.ms).toFixed(0)} MiB/s  ${result.requests.api} API requests`);
    return result;
  };
  log('node: warm-up (not counted)');
  await one('ours');
  for (let round = 0; round < runs; round++) {
    log(`node: round ${round + 1}/${runs}`);
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
    };
  }
  return summary;
}
