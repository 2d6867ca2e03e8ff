// The React bindings (`twelvelabs-edge-upload/react`) in headless Chromium: a small React 19 app
// (tests/react/app.jsx), bundled with esbuild against the built package as an app's bundler would
// resolve it, uploads through the Worker in workerd to the emulator. At each step its rendered DOM
// must equal the queue's snapshot, and it must not render when nothing changed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, mkdirSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as esbuild from 'esbuild';
import { launchChromium } from '../support/browser.mjs';
import { ROOT } from '../support/harness.mjs';
import { startStack } from '../support/stack.mjs';
import { MiB, NO_FAULTS, assetDigest, setFaults, tempDir, writeTestFile } from '../e2e/helpers.mjs';

const FILE_SIZE = 30 * MiB;

let stack;
let files;
let bundleDir;
let browser;

before(async () => {
  files = tempDir();
  // The app resolves `twelvelabs-edge-upload` the way a bundler does in a project that installed
  // the package: through node_modules and the package's `exports` map.
  bundleDir = mkdtempSync(path.join(os.tmpdir(), 'tleu-react-'));
  mkdirSync(path.join(bundleDir, 'node_modules'));
  symlinkSync(path.join(ROOT, 'pkg'), path.join(bundleDir, 'node_modules/twelvelabs-edge-upload'), 'dir');
  const built = await esbuild.build({
    entryPoints: [path.join(ROOT, 'tests/react/app.jsx')],
    outfile: path.join(bundleDir, 'app.js'),
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"development"' },
    nodePaths: [path.join(bundleDir, 'node_modules'), path.join(ROOT, 'node_modules')],
    metafile: true,
    logLevel: 'silent',
  });
  // One React in the bundle: the app's and the bindings' `react` are the same module.
  const reactCopies = Object.keys(built.metafile.inputs).filter((input) => /react\/cjs\/react\.development\.js$/.test(input));
  assert.equal(reactCopies.length, 1, `React bundled once, found: ${reactCopies.join(', ')}`);
  copyFileSync(path.join(ROOT, 'tests/react/index.html'), path.join(bundleDir, 'index.html'));
  stack = await startStack({ extraRoutes: { '/react/': bundleDir, '/pkg/': 'pkg' } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  files?.remove();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

async function openApp() {
  const page = await browser.context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(`${stack.page.url}/react/`);
  await page.waitForFunction(() => document.body.dataset.ready || document.body.dataset.error);
  assert.equal(await page.evaluate(() => document.body.dataset.error ?? null), null);
  return { page, problems };
}

/** The rendered list and totals must equal the queue's snapshot, read in the same task. */
async function assertDomMatchesQueue(page, step) {
  const { dom, state } = await page.evaluate(() => window.compareQueue());
  assert.deepEqual(dom, state, `rendered DOM differs from the queue's snapshot ${step}`);
  return state;
}

function phaseOf(page, filename) {
  return page.$eval(`#items li[data-filename="${filename}"]`, (li) => li.dataset.phase);
}

async function waitForRowPhase(page, filename, phases, timeout = 120_000) {
  await page.waitForFunction(
    ([name, wanted]) => {
      const li = document.querySelector(`#items li[data-filename="${name}"]`);
      return li && wanted.includes(li.dataset.phase);
    },
    [filename, phases],
    { timeout, polling: 20 },
  );
}

test('three files through useUploadQueue: pause one, cancel one; the DOM equals the queue at each step', async () => {
  const names = ['react-a.mp4', 'react-b.mp4', 'react-c.mp4'];
  const written = [];
  for (const name of names) written.push(await writeTestFile(files.dir, name, FILE_SIZE));
  const paths = written.map((file) => file.path);
  // Slow every request a little, so that pausing and cancelling happen mid-upload.
  await setFaults(stack.emulator, { ...NO_FAULTS, latency_ms: 300 });
  try {
    const { page, problems } = await openApp();
    await page.setInputFiles('#queue-files', paths);
    await page.waitForFunction(() => document.querySelectorAll('#items li').length === 3);
    const added = await assertDomMatchesQueue(page, 'after add');
    assert.deepEqual(added.rows.map((row) => row.filename), names, 'items in the order added');
    assert.equal(added.totals.totalBytes, 3 * FILE_SIZE, 'totals count every file from the start');

    // Pause the first once its bytes are moving.
    await page.waitForFunction(
      () => Number(document.querySelector('#items li[data-filename="react-a.mp4"]').dataset.acknowledgedBytes) > 0,
      null,
      { timeout: 120_000, polling: 20 },
    );
    await page.click('#items li[data-filename="react-a.mp4"] button.pause');
    await waitForRowPhase(page, 'react-a.mp4', ['paused']);
    await assertDomMatchesQueue(page, 'after pausing react-a.mp4');

    await page.click('#items li[data-filename="react-b.mp4"] button.cancel');
    await waitForRowPhase(page, 'react-b.mp4', ['aborted']);
    const cancelled = await assertDomMatchesQueue(page, 'after cancelling react-b.mp4');
    assert.equal(cancelled.rows[1].errorCode, 'aborted');

    // While the third uploads, the paused row's item is unchanged, so its row does not render.
    // Settled: the PUTs in flight at the pause have landed, and the paused upload has reported
    // every stored chunk (it still reports while paused, after the engine's report debounce).
    await page.waitForFunction(() => {
      const { progress } = window.queue.getSnapshot().items[0];
      return progress.sentBytes === progress.acknowledgedBytes && progress.reportedChunks === progress.acknowledgedChunks;
    });
    const before = await page.evaluate(() => ({ row: window.renders.rows[window.queue.getSnapshot().items[0].id], app: window.renders.app, item: window.queue.getSnapshot().items[0] }));
    await waitForRowPhase(page, 'react-c.mp4', ['done']);
    const during = await page.evaluate(() => ({ row: window.renders.rows[window.queue.getSnapshot().items[0].id], app: window.renders.app, item: window.queue.getSnapshot().items[0] }));
    assert.equal(await phaseOf(page, 'react-a.mp4'), 'paused');
    assert.ok(during.app > before.app, 'the list rendered while react-c.mp4 progressed');
    assert.deepEqual(during.item, before.item, 'the paused item did not change');
    assert.equal(during.row, before.row, 'the paused row did not render again');
    await assertDomMatchesQueue(page, 'after react-c.mp4 finished');

    await page.click('#items li[data-filename="react-a.mp4"] button.resume');
    await waitForRowPhase(page, 'react-a.mp4', ['done']);
    const finished = await assertDomMatchesQueue(page, 'after react-a.mp4 finished');
    assert.deepEqual(
      finished.rows.map((row) => row.phase),
      ['done', 'aborted', 'done'],
    );
    assert.equal(finished.totals.counts.done, 2);
    assert.equal(finished.totals.counts.aborted, 1);
    // The two finished files are stored whole.
    for (const index of [0, 2]) {
      assert.equal(finished.rows[index].acknowledgedBytes, FILE_SIZE);
      const stored = await assetDigest(stack.emulator, finished.rows[index].assetId);
      assert.deepEqual(stored, { asset_id: finished.rows[index].assetId, sha256: written[index].sha256, size: FILE_SIZE });
    }

    // Nothing changes any more: no render, and the very same snapshot object.
    const settled = await page.evaluate(() => {
      window.settledSnapshot = window.queue.getSnapshot();
      return { ...window.renders, rows: { ...window.renders.rows } };
    });
    await page.waitForTimeout(2000);
    const later = await page.evaluate(() => ({
      renders: { ...window.renders, rows: { ...window.renders.rows } },
      same: window.queue.getSnapshot() === window.settledSnapshot,
      frozen: Object.isFrozen(window.settledSnapshot) && Object.isFrozen(window.settledSnapshot.items),
    }));
    assert.deepEqual(later.renders, settled, 'no render while nothing changed');
    assert.ok(later.same, 'getSnapshot() returns the same object while nothing changed');
    assert.ok(later.frozen, 'the snapshot is immutable');
    assert.equal(settled.redundantApp, 0, 'the app never rendered with an unchanged snapshot');
    assert.equal(settled.redundantRows, 0, 'no row rendered with an unchanged item');

    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await setFaults(stack.emulator, NO_FAULTS);
  }
});

test('useUpload renders one handle\'s progress to the end', async () => {
  const file = await writeTestFile(files.dir, 'react-single.mp4', 12 * MiB);
  const { page, problems } = await openApp();
  assert.equal(await page.$eval('#single-progress', (p) => p.dataset.phase), 'none');
  await page.setInputFiles('#single-file', file.path);
  await page.waitForFunction(() => document.querySelector('#single-progress').dataset.phase === 'done', null, {
    timeout: 120_000,
    polling: 20,
  });
  const { dom, state } = await page.evaluate(() => {
    const p = document.querySelector('#single-progress').dataset;
    const s = window.singleHandle.getSnapshot();
    return {
      dom: { phase: p.phase, acknowledgedBytes: Number(p.acknowledgedBytes), totalBytes: Number(p.totalBytes) },
      state: { phase: s.phase, acknowledgedBytes: s.acknowledgedBytes, totalBytes: s.totalBytes },
    };
  });
  assert.deepEqual(dom, state);
  assert.deepEqual(state, { phase: 'done', acknowledgedBytes: file.size, totalBytes: file.size });
  const assetId = await page.evaluate(() => window.singleHandle.assetId);
  assert.deepEqual(await assetDigest(stack.emulator, assetId), { asset_id: assetId, sha256: file.sha256, size: file.size });
  const same = await page.evaluate(() => window.singleHandle.getSnapshot() === window.singleHandle.getSnapshot());
  assert.ok(same, 'the handle\'s snapshot is the same object while nothing changed');
  assert.deepEqual(problems, []);
  await page.close();
});
