// What the benchmark sections run against: the emulator (no injected latency or faults), the
// Worker in workerd, the benchmark page with the npm package and the Uppy bundle, and the
// benchmark files on disk. Everything is on free loopback ports and stopped by PID (the test
// harness kills whatever is left when Node exits, also on failure).
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ROOT, freePort, getJson, startEmulator, startStatic } from '../../tests/support/harness.mjs';
import { startWorker } from '../../tests/support/worker.mjs';
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
 * The whole stack for browser runs: emulator, Worker, and the page server on `pageOrigin`.
 * The Worker's upstream timeout is raised because the emulator assembles the asset (a copy and
 * a SHA-256 of the whole file) inside the last report call, which takes longer than the
 * default 30 s for multi-GiB files on a loaded machine.
 * Resolves to `{emulator, worker, page, stop()}`.
 */
export async function startBenchStack() {
  const port = await freePort();
  const pageOrigin = `http://127.0.0.1:${port}`;
  const started = [];
  try {
    const emulator = await startBenchEmulator(['--allowed-origins', pageOrigin]);
    started.push(emulator);
    const worker = await startBenchWorker(emulator, { ALLOWED_ORIGINS: pageOrigin });
    started.push(worker);
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
    return { emulator, worker, page, stop };
  } catch (err) {
    await Promise.allSettled([...started].reverse().map((s) => s.stop()));
    throw err;
  }
}

/** The Worker in workerd in front of `emulator`, with dev grants on. */
export function startBenchWorker(emulator, vars = {}) {
  return startWorker({
    emulatorUrl: emulator.apiUrl,
    vars: { DEV_GRANTS: 'true', UPSTREAM_TIMEOUT_MS: '300000', ...vars },
    secrets: {
      TWELVELABS_API_KEY: emulator.apiKey,
      GRANT_SECRET: randomBytes(32).toString('hex'),
      TOKEN_SECRET: randomBytes(32).toString('hex'),
    },
  });
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
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Removes benchmark files (and their directory when it is left empty). */
export function removeFiles(dir) {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
