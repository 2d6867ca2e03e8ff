// Headless Debian Chromium driven by playwright-core (no browser download: none is possible here).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/**
 * Flags for headless Debian Chromium: root needs --no-sandbox; the rest keeps a run quiet and
 * offline (this machine refuses Chromium's background connections).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Launches headless Chromium with a fresh profile. Resolves to `{browser, close()}`. */
export async function launchChromium() {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'tleu-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Page-side source of `seededSample(mib, seed)`: `{blob, sha256}`, a `video/mp4` Blob of `mib`
 * MiB of seeded pseudo-random bytes and their SHA-256 (hex). Put it into a page or a worker
 * script as text.
 */
export const SEEDED_SAMPLE_JS = `
async function seededSample(mib, seed) {
  const bytes = new Uint8Array(mib << 20);
  let x = seed;
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  const sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { blob: new Blob([bytes], { type: 'video/mp4' }), sha256 };
}
`;

/** Where the stack's page server serves the built package's glue (from `node_modules`). */
export const PKG_URL = '/node_modules/twelvelabs-edge-upload/twelvelabs_edge_upload.js';

/**
 * Opens a tab of `stack`'s page origin (an origin the Worker and the emulator allow) without the
 * demo page, and loads the package there. The page gets `window.pkg` (the initialised module),
 * `window.workerUrl`, `window.getToken` (a fresh `/dev/grant` grant for `sub`) and
 * `window.seededSample` (see `SEEDED_SAMPLE_JS`). `beforeImport`, if given, runs in the page
 * before the package is first evaluated. Resolves to `{tab, problems}`; `problems` collects the
 * page's uncaught errors.
 */
export async function openPackageTab(browser, stack, { sub, beforeImport } = {}) {
  const tab = await browser.context.newPage();
  const problems = [];
  tab.on('pageerror', (error) => problems.push(error.message));
  await tab.goto(`${stack.page.url}/demo-config.json`);
  if (beforeImport) await tab.evaluate(beforeImport);
  await tab.evaluate(
    async ({ pkgUrl, workerUrl, sampleSource, sub }) => {
      const pkg = await import(pkgUrl);
      await pkg.default();
      window.pkg = pkg;
      window.workerUrl = workerUrl;
      window.getToken = async () => {
        const res = await fetch(`${workerUrl}/dev/grant`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sub }),
        });
        return (await res.json()).grant;
      };
      window.seededSample = new Function(`${sampleSource}; return seededSample;`)();
    },
    { pkgUrl: PKG_URL, workerUrl: stack.worker.url, sampleSource: SEEDED_SAMPLE_JS, sub },
  );
  return { tab, problems };
}
