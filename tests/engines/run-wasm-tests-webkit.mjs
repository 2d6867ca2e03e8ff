#!/usr/bin/env node
// Runs the wasm-bindgen browser tests (tests/browser_*.rs, through tests/support/run-browser-tests.mjs)
// in WebKit: wasm-bindgen-test-runner speaks WebDriver to a "safaridriver" at SAFARIDRIVER_REMOTE,
// which here is WebKitWebDriver (under Xvfb), and the capabilities in
// WASM_BINDGEN_TEST_WEBDRIVER_JSON make it open WebKitGTK's MiniBrowser. Firefox is out of reach
// for that runner: it needs geckodriver, which these machines cannot install (no Debian package;
// npm's downloads a binary), and Firefox itself speaks only WebDriver BiDi.
// Everything started here is stopped by PID, also on failure. Extra arguments go to cargo test.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/harness.mjs';
import { startWebKitWebDriver } from './drivers/webkit.mjs';

const server = await startWebKitWebDriver();
const dir = mkdtempSync(path.join(tmpdir(), 'tleu-webkit-wasm-tests-'));
let status = 1;
try {
  const capabilitiesFile = path.join(dir, 'webdriver.json');
  writeFileSync(capabilitiesFile, JSON.stringify(server.capabilities));
  const child = spawn(process.execPath, [path.join(ROOT, 'tests/support/run-browser-tests.mjs'), ...process.argv.slice(2)], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, SAFARIDRIVER_REMOTE: server.url, WASM_BINDGEN_TEST_WEBDRIVER_JSON: capabilitiesFile },
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  status = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
