#!/usr/bin/env node
// Runs the wasm-bindgen browser tests (tests/browser_*.rs) in headless Chromium against live
// services: two emulators (default settings; 1 MiB chunks for the fault tests) and the Worker in
// workerd in front of the first (built by `make worker`), plus a recorder for measurements.
//
// The tests learn the URLs at compile time through TLEU_TEST_* environment variables (read with
// `option_env!`). Everything started here is stopped by PID, also when cargo fails or this
// process is interrupted (the harness kills registered services at exit). Exits with cargo's
// status. Extra arguments are passed to `cargo test` (e.g. `--test browser_fetch`). The test
// runner, chromedriver and Chromium get a temporary directory of their own (TMPDIR), removed at
// the end: chromedriver's profiles and Chromium's scoped directories (about 120 MB a run) would
// otherwise stay behind in /tmp, since the runner ends the browser without its clean-up.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort, startEmulator } from './harness.mjs';
import { startWorker } from './worker.mjs';

/**
 * The Worker in workerd in front of `emulator`, allowing `origin`. Its grant secret is fresh and
 * handed to the tests, which mint grants with it as an app's backend does.
 */
async function startGrantWorker(emulator, origin) {
  const grantSecret = randomBytes(32).toString('hex');
  const worker = await startWorker({
    emulatorUrl: emulator.apiUrl,
    vars: { ALLOWED_ORIGINS: origin },
    secrets: {
      TWELVELABS_API_KEY: emulator.apiKey,
      GRANT_SECRET: grantSecret,
      TOKEN_SECRET: randomBytes(32).toString('hex'),
    },
  });
  return { worker, grantSecret };
}

/**
 * A loopback endpoint the tests POST measurements to (`{name, value}`): wasm-bindgen-test shows
 * a test's console output only when it fails, and these numbers are wanted on every run.
 */
async function startRecorder(origin, measurements) {
  const server = http.createServer((req, res) => {
    const cors = {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      try {
        const { name, value } = JSON.parse(body);
        measurements.push({ name: String(name), value });
        res.writeHead(204, cors).end();
      } catch {
        res.writeHead(400, cors).end();
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/record`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `--test browser_x` for every tests/browser_*.rs: the other test files are native-only. */
function browserTestTargets() {
  return readdirSync(path.join(ROOT, 'tests'))
    .filter((name) => /^browser_\w+\.rs$/.test(name))
    .sort()
    .flatMap((name) => ['--test', name.replace(/\.rs$/, '')]);
}

function runCargo(env, extraArgs) {
  const args = [
    'test',
    '--target',
    'wasm32-unknown-unknown',
    '--features',
    'browser',
    // Every test binary runs even when an earlier one fails: one run shows every failure.
    '--no-fail-fast',
    ...(extraArgs.length ? extraArgs : browserTestTargets()),
  ];
  return new Promise((resolve) => {
    const cargo = spawn('cargo', args, { cwd: ROOT, env, stdio: 'inherit' });
    const forward = (signal) => cargo.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    cargo.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main() {
  // A fixed, free port for the test runner's page, so the services can allow exactly its origin.
  const testPort = await freePort();
  const origin = `http://127.0.0.1:${testPort}`;
  const started = [];
  const measurements = [];
  let status = 1;
  const browserTmp = mkdtempSync(path.join(tmpdir(), 'tleu-browser-tests-'));
  const removeBrowserTmp = () => rmSync(browserTmp, { recursive: true, force: true });
  process.on('exit', removeBrowserTmp);
  try {
    const emulator = await startEmulator({ args: ['--allowed-origins', origin] });
    started.push(emulator);
    // Fault, pause and resume tests get their own emulator, with 1 MiB chunks so that a few MiB
    // make many chunks: fast on 2 cores, and their fault knobs cannot disturb the other tests.
    const faultEmulator = await startEmulator({
      args: ['--allowed-origins', origin, '--chunk-size', String(1024 * 1024), '--seed', '6'],
    });
    started.push(faultEmulator);
    const workerStack = await startGrantWorker(emulator, origin);
    started.push(workerStack.worker);
    const recorder = await startRecorder(origin, measurements);
    started.push(recorder);
    const env = {
      ...process.env,
      TMPDIR: browserTmp,
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner',
      CHROMEDRIVER: process.env.CHROMEDRIVER || '/usr/bin/chromedriver',
      WASM_BINDGEN_TEST_ADDRESS: `127.0.0.1:${testPort}`,
      // Generous per-binary limit: the large uploads take a while on a shared 2-core machine.
      WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT || '600',
      TLEU_TEST_EMULATOR_URL: emulator.url,
      TLEU_TEST_EMULATOR_API_KEY: emulator.apiKey,
      TLEU_TEST_FAULT_EMULATOR_URL: faultEmulator.url,
      TLEU_TEST_WORKER_URL: workerStack.worker.url,
      TLEU_TEST_GRANT_SECRET: workerStack.grantSecret,
      TLEU_TEST_RECORD_URL: recorder.url,
    };
    status = await runCargo(env, process.argv.slice(2));
    for (const { name, value } of measurements) {
      console.log(`run-browser-tests: ${name} = ${value}`);
    }
  } catch (err) {
    console.error(`run-browser-tests: ${err.stack || err}`);
    status = 1;
  } finally {
    await Promise.allSettled(started.reverse().map((service) => service.stop()));
    removeBrowserTmp();
  }
  process.exit(status);
}

main();
