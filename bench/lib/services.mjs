// What the benchmark sections run against: the emulator (no injected latency or faults), the
// Worker (workerd, wrangler dev), the benchmark page with the npm package and the Uppy bundle, and the
// benchmark files on disk. Everything is on free loopback ports and stopped by PID (the test
// harness kills whatever is left when Node exits, also on failure).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ROOT, freePort, getJson, startEmulator, startStatic } from '../../tests/support/harness.mjs';
import { startWorker } from '../../tests/support/worker.mjs';
import { REFERENCE_WORKER_MODULES, startWorkerd } from './workerd.mjs';
import { MIB } from './stats.mjs';

/** Where the bench writes its outputs (report, Uppy bundle, temporary files). */
export const OUT_DIR = path.join(ROOT, 'target/bench');
/** The Uppy bundle the page imports. */
export const UPPY_BUNDLE = path.join(OUT_DIR, 'dist/uppy.js');
/** The emulator's chunk size in every bench session (its default, stated so Uppy can split alike). */
export const CHUNK_SIZE = 5 * MIB;

/**
 * Bundles `@uppy/core` + `@uppy/aws-s3` for the page (minified, as an app would ship it).
 * Answers the bundle's path.
 */
export async function buildUppyBundle() {
  const esbuild = await import('esbuild');
  mkdirSync(path.dirname(UPPY_BUNDLE), { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'bench/page/uppy-entry.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: UPPY_BUNDLE,
    logLevel: 'error',
    absWorkingDir: ROOT,
  });
  return UPPY_BUNDLE;
}

/** Starts the emulator for throughput: no faults, no injected latency, assets ready at once. */
export function startBenchEmulator(extraArgs = []) {
  return startEmulator({
    args: ['--processing-ms', '0', '--chunk-size', String(CHUNK_SIZE), ...extraArgs],
  });
}

/**
 * The whole stack for browser runs: emulator, the Worker served two ways (workerd directly, the
 * production runtime with nothing in front; and wrangler dev, which puts its local proxy and
 * Miniflare's entry worker in front of the same workerd), and the page server on `pageOrigin`.
 * The page talks to `pageWorker` (`'workerd'` or `'wrangler_dev'`): wrangler dev's proxy costs
 * 4–10 ms of CPU per request, which the browser runs would pay on the two cores the uploads
 * need, and unequally (Uppy makes 20× our requests). The Worker's upstream timeout is raised so
 * that a slow emulator call on a loaded machine fails no run.
 * Resolves to `{emulator, workers: {workerd, wrangler_dev}, worker (the page's), workerEnv,
 * page, stop()}`; `workerEnv` is what both servers were started with (upstream, vars, secrets).
 * `wranglerDev: false` leaves wrangler dev out (and its idle process off the machine) unless
 * the page needs it. `reference: true` also starts the reference JS Worker
 * (bench/reference-worker/) in its own workerd, with the same vars and secrets, as
 * `workers.reference` (the page never uses it).
 */
export async function startBenchStack({ pageWorker = 'workerd', wranglerDev = true, reference = false } = {}) {
  const port = await freePort();
  const pageOrigin = `http://127.0.0.1:${port}`;
  const started = [];
  try {
    const emulator = await startBenchEmulator(['--allowed-origins', pageOrigin]);
    started.push(emulator);
    const workerEnv = benchWorkerEnv(emulator, { ALLOWED_ORIGINS: pageOrigin });
    const workers = {};
    if (wranglerDev || pageWorker === 'wrangler_dev') {
      workers.wrangler_dev = await startWorker(workerEnv);
      started.push(workers.wrangler_dev);
    }
    workers.workerd = await startWorkerd(workerEnv);
    started.push(workers.workerd);
    if (reference) {
      workers.reference = await startWorkerd({ ...workerEnv, modules: REFERENCE_WORKER_MODULES });
      started.push(workers.reference);
    }
    const worker = workers[pageWorker];
    if (!worker) throw new Error(`no Worker server named ${pageWorker} (know ${Object.keys(workers).join(', ')})`);
    const page = await startStatic({
      port,
      routes: { '/': 'bench/page', '/pkg/': 'pkg', '/dist/': path.relative(ROOT, path.dirname(UPPY_BUNDLE)) },
      dynamic: {
        '/bench-config.json': () => ({
          type: 'application/json',
          body: JSON.stringify({ workerUrl: worker.url }),
        }),
      },
    });
    started.push(page);
    const stop = () => Promise.allSettled([...started].reverse().map((s) => s.stop()));
    return { emulator, workers, worker, workerEnv, page, stop };
  } catch (err) {
    await Promise.allSettled([...started].reverse().map((s) => s.stop()));
    throw err;
  }
}

/**
 * What the bench's Worker runs with in front of `emulator`: its upstream, vars (dev grants on)
 * and fresh secrets. Answers `{emulatorUrl, vars, secrets}`, the arguments of `startWorker`
 * (wrangler dev) and of `startWorkerd` (bench/lib/workerd.mjs).
 */
export function benchWorkerEnv(emulator, vars = {}) {
  return {
    emulatorUrl: emulator.apiUrl,
    vars: { DEV_GRANTS: 'true', UPSTREAM_TIMEOUT_MS: '300000', ...vars },
    secrets: {
      TWELVELABS_API_KEY: emulator.apiKey,
      GRANT_SECRET: randomBytes(32).toString('hex'),
      TOKEN_SECRET: randomBytes(32).toString('hex'),
    },
  };
}

/** Counts of `/v1.3` API requests since the last reset, from `/_emulator/stats`. */
export async function apiRequestCount(emulator) {
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  let api = 0;
  let storagePuts = 0;
  for (const [route, n] of Object.entries(stats.requests)) {
    if (route.includes(' /v1.3/')) api += n;
    else if (route.startsWith('PUT /_storage/')) storagePuts += n;
  }
  return { api, storagePuts, byRoute: stats.requests };
}

/** Resets the emulator's counters. */
export async function resetStats(emulator) {
  const res = await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`DELETE /_emulator/stats → ${res.status}`);
}

/** Deletes an asset straight at the emulator, so its bytes stop taking disk space. */
export async function deleteAsset(emulator, assetId) {
  if (!assetId) return;
  const res = await fetch(`${emulator.apiUrl}/assets/${assetId}?force=true`, {
    method: 'DELETE',
    headers: { 'x-api-key': emulator.apiKey },
  });
  await res.arrayBuffer();
}

/** Checks the emulator assembled exactly `size` bytes for the asset. */
export async function assertAssembled(emulator, assetId, size) {
  const digest = await getJson(`${emulator.url}/_emulator/assets/${assetId}/sha256`);
  if (digest.size !== size) {
    throw new Error(`asset ${assetId} holds ${digest.size} bytes, expected ${size}`);
  }
}

/**
 * Writes a benchmark file of `size` bytes into `dir`. `sparse` files are holes (zeros, no disk
 * blocks); others are written with random data (one random 8 MiB block, repeated), so every
 * chunk's bytes are real disk data like a video's.
 * Answers the path; the caller removes it (see `removeFiles`).
 */
export function makeFile(dir, name, size, { sparse = false } = {}) {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  rmSync(file, { force: true });
  if (sparse) {
    closeSync(openSync(file, 'w'));
    truncateSync(file, size);
    return file;
  }
  const block = randomBytes(8 * MIB);
  const fd = openSync(file, 'w');
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(block.length, size - written);
      writeSync(fd, block, 0, n, written);
      written += n;
    }
    // On disk before anything is timed: its write-back must not overlap the first uploads.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return file;
}

/**
 * Writes every dirty page of the machine back to disk (`sync`) and answers how long it took.
 * Called before each timed Node upload: both uploaders and the emulator write to disk (the SDK
 * writes every chunk to a temporary file first), and an upload that starts while the previous
 * one's pages are still being written back is slowed by it, unevenly between the two.
 */
export function flushDirtyPages() {
  const started = performance.now();
  spawnSync('sync', { stdio: 'ignore' });
  return performance.now() - started;
}

/** Removes benchmark files (and their directory when it is left empty). */
export function removeFiles(dir) {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
