#!/usr/bin/env node
// Runs the wasm-bindgen browser tests (tests/browser_*.rs) in headless Chromium against live
// services: the emulator (always) and the Worker in workerd (when its harness and bundle exist).
//
// The tests learn the URLs at compile time through TLEU_TEST_* environment variables (read with
// `option_env!`). Everything started here is stopped by PID, also when cargo fails or this
// process is interrupted (the harness kills registered services at exit). Exits with cargo's
// status. Extra arguments are passed to `cargo test` (e.g. `--test browser_fetch`).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT, freePort, startEmulator } from './harness.mjs';

/** Mints an HS256 JWT grant the way an app's backend does (see docs/npm-README.md). */
export function mintGrant(secret, claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

async function startWorkerIfAvailable(emulator, origin) {
  const harness = path.join(ROOT, 'tests/support/worker.mjs');
  if (!existsSync(harness)) {
    console.warn('run-browser-tests: tests/support/worker.mjs missing; Worker tests will fail');
    return null;
  }
  const { startWorker } = await import(harness);
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
  const now = Math.floor(Date.now() / 1000);
  const grant = mintGrant(grantSecret, { sub: 'browser-tests', exp: now + 3600 });
  return { worker, grant, grantSecret };
}

function runCargo(env, extraArgs) {
  const args = [
    'test',
    '--target',
    'wasm32-unknown-unknown',
    '--features',
    'browser',
    ...(extraArgs.length ? extraArgs : ['--tests']),
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
  let status = 1;
  try {
    const emulator = await startEmulator({ args: ['--allowed-origins', origin] });
    started.push(emulator);
    const env = {
      ...process.env,
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner',
      CHROMEDRIVER: process.env.CHROMEDRIVER || '/usr/bin/chromedriver',
      WASM_BINDGEN_TEST_ADDRESS: `127.0.0.1:${testPort}`,
      // Generous per-binary limit: the large uploads take a while on a shared 2-core machine.
      WASM_BINDGEN_TEST_TIMEOUT: process.env.WASM_BINDGEN_TEST_TIMEOUT || '600',
      TLEU_TEST_EMULATOR_URL: emulator.url,
      TLEU_TEST_EMULATOR_API_KEY: emulator.apiKey,
    };
    const workerStack = await startWorkerIfAvailable(emulator, origin);
    if (workerStack) {
      started.push(workerStack.worker);
      env.TLEU_TEST_WORKER_URL = workerStack.worker.url;
      env.TLEU_TEST_GRANT = workerStack.grant;
      env.TLEU_TEST_GRANT_SECRET = workerStack.grantSecret;
    }
    status = await runCargo(env, process.argv.slice(2));
  } catch (err) {
    console.error(`run-browser-tests: ${err.stack || err}`);
    status = 1;
  } finally {
    await Promise.allSettled(started.reverse().map((service) => service.stop()));
  }
  process.exit(status);
}

main();
