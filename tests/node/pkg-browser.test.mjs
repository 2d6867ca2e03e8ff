// The `make pkg` output as applications consume it, in headless Chromium: a plain HTML page
// importing it with <script type="module"> (bare specifier through an import map), an esbuild
// bundle of a file importing it, and a dedicated module Web Worker uploading with it. Each one
// uploads to the emulator and the bytes are checked by SHA-256.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, freePort, getJson, startEmulator, startStatic } from '../support/harness.mjs';
import { SEEDED_SAMPLE_JS, launchChromium } from '../support/browser.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
const ESBUILD = process.env.ESBUILD_BIN || path.join(ROOT, 'node_modules/.bin/esbuild');
const PKG_URL = '/node_modules/twelvelabs-edge-upload/twelvelabs_edge_upload.js';
const WASM_NAME = 'twelvelabs_edge_upload_bg.wasm';

let emulator;
let site;
let browser;
let siteDir;

// Runs in the page or the worker: seeded bytes, an upload, and the SHA-256 of what was sent.
const UPLOAD_SNIPPET = `${SEEDED_SAMPLE_JS}
async function uploadSample(Uploader, config, mib, seed, onProgress) {
  const { blob, sha256 } = await seededSample(mib, seed);
  const uploader = new Uploader({ endpoint: config.endpoint, apiKey: config.apiKey, persist: false });
  const handle = uploader.upload(blob, {
    filename: 'sample.mp4',
    onProgress,
  });
  const asset = await handle.done;
  return { assetId: asset.id, sha256, phase: handle.progress.phase };
}
`;

before(async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  emulator = await startEmulator({
    args: ['--allowed-origins', origin, '--chunk-size', String(1024 * 1024)],
  });
  siteDir = mkdtempSync(path.join(os.tmpdir(), 'tleu-pkg-site-'));
  writeSite(siteDir, { endpoint: emulator.url, apiKey: emulator.apiKey });
  site = await startStatic({
    port,
    routes: { '/': siteDir, '/node_modules/twelvelabs-edge-upload/': PKG_DIR },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await emulator?.stop();
  if (siteDir) rmSync(siteDir, { recursive: true, force: true });
});

/** The pages, the worker script and the bundler's entry point. */
function writeSite(dir, config) {
  const configJs = `const config = ${JSON.stringify(config)};`;
  writeFileSync(
    path.join(dir, 'plain.html'),
    `<!doctype html>
<meta charset="utf-8">
<title>plain ES module page</title>
<script type="importmap">{"imports": {"twelvelabs-edge-upload": "${PKG_URL}"}}</script>
<script type="module">
  import init, { Uploader, version } from 'twelvelabs-edge-upload';
  ${configJs}
  ${UPLOAD_SNIPPET}
  try {
    await init();
    window.result = { version: version(), ...(await uploadSample(Uploader, config, 3, 11)) };
  } catch (error) {
    window.result = { error: String(error && error.stack || error) };
  }
</script>
`,
  );

  // The bundler's input: what an application's source looks like.
  const app = path.join(dir, 'app');
  mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  symlinkSync(PKG_DIR, path.join(app, 'node_modules', 'twelvelabs-edge-upload'), 'dir');
  writeFileSync(
    path.join(app, 'entry.js'),
    `import init, { Uploader, version } from 'twelvelabs-edge-upload';
${configJs}
${UPLOAD_SNIPPET}
export async function run() {
  await init();
  return { version: version(), ...(await uploadSample(Uploader, config, 3, 12)) };
}
`,
  );
  writeFileSync(
    path.join(dir, 'bundled.html'),
    `<!doctype html>
<meta charset="utf-8">
<title>esbuild bundle</title>
<script type="module">
  import { run } from '/dist/bundle.js';
  run().then((r) => (window.result = r), (e) => (window.result = { error: String(e && e.stack || e) }));
</script>
`,
  );

  // A dedicated module worker (import maps do not reach workers: the package is imported by URL).
  writeFileSync(
    path.join(dir, 'upload-worker.js'),
    `import init, { Uploader } from '${PKG_URL}';
${configJs}
${UPLOAD_SNIPPET}
self.onmessage = async ({ data }) => {
  try {
    await init();
    const progressPhases = new Set();
    const result = await uploadSample(Uploader, config, data.mib, data.seed, (p) => progressPhases.add(p.phase));
    self.postMessage({ ...result, inWorker: typeof window === 'undefined', progressPhases: [...progressPhases] });
  } catch (error) {
    self.postMessage({ error: String(error && error.stack || error) });
  }
};
`,
  );
  writeFileSync(
    path.join(dir, 'worker.html'),
    `<!doctype html>
<meta charset="utf-8">
<title>Web Worker</title>
<script type="module">
  const worker = new Worker('/upload-worker.js', { type: 'module' });
  worker.onmessage = ({ data }) => (window.result = data);
  worker.onerror = (event) => (window.result = { error: 'worker error: ' + event.message });
  worker.postMessage({ mib: 4, seed: 13 });
</script>
`,
  );
}

/** Opens `page`, waits for `window.result`, and returns it (failing on page errors). */
async function resultOf(page) {
  const tab = await browser.context.newPage();
  const problems = [];
  tab.on('pageerror', (error) => problems.push(error.message));
  try {
    await tab.goto(`${site.url}/${page}`);
    await tab.waitForFunction(() => window.result !== undefined, null, { timeout: 60_000 });
    const result = await tab.evaluate(() => window.result);
    assert.deepEqual(problems, [], `errors in ${page}`);
    assert.equal(result.error, undefined, result.error);
    return result;
  } finally {
    await tab.close();
  }
}

async function assertStored({ assetId, sha256 }) {
  const stored = await getJson(`${emulator.url}/_emulator/assets/${assetId}/sha256`);
  assert.equal(stored.sha256, sha256);
}

test('a plain HTML page imports the package with <script type="module"> and uploads', async () => {
  const result = await resultOf('plain.html');
  const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
  assert.equal(result.version, manifest.version);
  assert.equal(result.phase, 'done');
  await assertStored(result);
});

test('esbuild bundles the package, and the bundle uploads', async () => {
  const dist = path.join(siteDir, 'dist');
  execFileSync(
    ESBUILD,
    [
      path.join(siteDir, 'app', 'entry.js'),
      '--bundle',
      '--format=esm',
      '--platform=browser',
      `--outfile=${path.join(dist, 'bundle.js')}`,
      '--log-level=warning',
    ],
    { cwd: path.join(siteDir, 'app'), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const bundle = readFileSync(path.join(dist, 'bundle.js'), 'utf8');
  // The glue finds its module with `new URL('…_bg.wasm', import.meta.url)`: served next to it.
  assert.match(bundle, new RegExp(`new URL\\(["']${WASM_NAME.replace(/\./g, '\\.')}["'], import\\.meta\\.url\\)`));
  assert.doesNotMatch(bundle, /from ["']twelvelabs-edge-upload["']/, 'the import was resolved');
  cpSync(path.join(PKG_DIR, WASM_NAME), path.join(dist, WASM_NAME));

  const result = await resultOf('bundled.html');
  assert.equal(result.phase, 'done');
  await assertStored(result);
});

test('uploads from a dedicated module Web Worker', async () => {
  const result = await resultOf('worker.html');
  assert.equal(result.inWorker, true);
  assert.equal(result.phase, 'done');
  assert.ok(result.progressPhases.includes('done'), `phases: ${result.progressPhases}`);
  await assertStored(result);
});
