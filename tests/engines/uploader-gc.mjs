// An upload must finish although the page kept only its handle and the engine collected the
// `Uploader` (paused, GC, resume), in Chromium, Firefox and WebKit alike (`make test-engines-gc`,
// part of `make test`).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStack } from '../support/stack.mjs';
import { MiB, assetDigest, setFaults, tempDir, writeTestFile } from '../e2e/helpers.mjs';
import { ENGINES, launchEngine } from './drivers/index.mjs';

let stack;
let files;

before(async () => {
  files = tempDir();
  stack = await startStack({
    emulatorArgs: ['--chunk-size', String(MiB)],
    extraRoutes: { '/engine-lab/': 'tests/engines/lab' },
  });
});

after(async () => {
  await stack?.stop();
  files?.remove();
});

for (const engineName of Object.keys(ENGINES)) {
  test(`${engineName}: an upload whose Uploader the page dropped finishes after pause, GC and resume`, async () => {
    const file = await writeTestFile(files.dir, `${engineName}-orphan.mp4`, 8 * MiB);
    const engine = await launchEngine(engineName);
    const tab = await engine.newTab();
    try {
      await setFaults(stack.emulator, { latency_ms: 100 });
      await tab.goto(`${stack.page.url}/engine-lab/index.html`, 'document.body && document.body.dataset.ready === "true"');
      await tab.chooseFiles('#pick', file.path);
      // Paused (by the page, at the first chunk stored), nothing in flight: only the handle
      // refers to the upload while the GC runs, and the FinalizationRegistry callbacks get their
      // turn before the resume.
      await tab.evaluate(() => window.lab.startOrphanUpload());
      await tab.waitFor(() => window.lab.orphan.handle.progress.phase === 'paused', null, { timeout: 30_000, what: 'paused' });
      const paused = await tab.evaluate(() => {
        const { acknowledgedBytes, totalBytes } = window.lab.orphan.handle.progress;
        return { acknowledgedBytes, totalBytes };
      });
      assert.ok(paused.acknowledgedBytes > 0 && paused.acknowledgedBytes < paused.totalBytes, `paused mid-upload: ${JSON.stringify(paused)}`);
      for (let i = 0; i < 3; i++) {
        await tab.collectGarbage();
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await setFaults(stack.emulator, { latency_ms: 0 });
      await tab.evaluate(() => window.lab.orphan.handle.resume());
      const outcome = await tab.waitFor(() => window.lab.orphan.outcome, null, {
        timeout: 60_000,
        what: `${path.basename(file.path)} to finish after its Uploader was collected (it stalls while the bug is there)`,
      });
      assert.ok(outcome.asset, JSON.stringify(outcome));
      assert.equal((await assetDigest(stack.emulator, outcome.asset.id)).sha256, file.sha256);
    } finally {
      await tab.close();
      await engine.stop();
      await setFaults(stack.emulator, { latency_ms: 0 });
    }
  });
}
