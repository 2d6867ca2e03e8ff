// Where the bench page's main thread spends its CPU while it uploads: our package and the
// raw-fetch ceiling (bench/page/bench.js), each in a fresh page of headless Chromium against
// the emulator and the Worker in workerd (as the browser section runs them), profiled over CDP
// (`Profiler.start`/`stop`); the profile summed by where the time went (our wasm, its JS glue,
// the page's own JS, browser built-ins, GC, idle) and by function.
//
//   node bench/profile-page.mjs [--size-gib 0.5] [--kinds ours,ceiling] [--rounds 1] [--top 25]
//        [--interval-us 200]
//
// Writes target/bench/profile/page-<kind>-<round>.cpuprofile (open it in Chrome DevTools or
// speedscope) and prints each summary and the page's main-thread CPU (CDP `TaskDuration`, as
// the browser section reads it). Not part of `make bench`; the sampler itself costs some CPU, so
// compare the two kinds of one run, never a profiled run with the browser section's figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../tests/support/browser.mjs';
import { formatProfile, isWasm, pseudoCategory, summarizeProfile } from './lib/cpuprofile.mjs';
import { checkAndDeleteAsset, openBenchPage } from './browser.mjs';
import { CHUNK_SIZE, makeFile, OUT_DIR, removeFiles, startBenchStack } from './lib/services.mjs';

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '0.5' },
    kinds: { type: 'string', default: 'ours,ceiling' },
    rounds: { type: 'string', default: '1' },
    top: { type: 'string', default: '25' },
    'interval-us': { type: 'string', default: '200' },
  },
});
const kinds = values.kinds.split(',').map((k) => k.trim());
for (const kind of kinds) {
  if (!['ours', 'ceiling'].includes(kind)) throw new Error(`--kinds: ours or ceiling, not ${kind}`);
}
const PROFILE_DIR = path.join(OUT_DIR, 'profile');
const FILES_DIR = path.join(OUT_DIR, 'profile-files');

/** The bucket a frame's self time goes to. */
function category(frame) {
  const pseudo = pseudoCategory(frame);
  if (pseudo) return pseudo;
  if (isWasm(frame)) return 'our wasm';
  if (/\/pkg\//.test(frame.url)) return 'our JS glue (wasm-bindgen)';
  if (/bench\.js$/.test(frame.url)) return 'the bench page (its own JS, the ceiling\'s loop)';
  if (frame.url === '') return 'browser built-ins (no URL: fetch, Blob, IndexedDB, promises)';
  return 'other JS';
}

/** One profiled upload of `kind` in a fresh page; answers `{profile, taskMs, ms}`. */
async function profiledRun(chromium, stack, file, kind) {
  const { page } = await openBenchPage(chromium, stack, file);
  try {
    const cdp = await chromium.context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const taskSeconds = async () =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: Number(values['interval-us']) });
    const before = await taskSeconds();
    await cdp.send('Profiler.start');
    const result = await page.evaluate(
      ([name, options]) => window.bench[name](options),
      [kind, { concurrency: 4, chunkSize: CHUNK_SIZE }],
    );
    const { profile } = await cdp.send('Profiler.stop');
    const taskMs = ((await taskSeconds()) - before) * 1000;
    await cdp.detach().catch(() => {});
    await checkAndDeleteAsset(stack, result);
    return { profile, taskMs, ms: result.ms };
  } finally {
    await page.close().catch(() => {});
  }
}

async function main() {
  mkdirSync(PROFILE_DIR, { recursive: true });
  const stack = await startBenchStack({ pageWorker: 'workerd', wranglerDev: false });
  const file = makeFile(FILES_DIR, 'profile.mp4', Math.round(Number(values['size-gib']) * 2 ** 30));
  const chromium = await launchChromium();
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const kind of kinds) {
        const { profile, taskMs, ms } = await profiledRun(chromium, stack, file, kind);
        const out = path.join(PROFILE_DIR, `page-${kind}-${round}.cpuprofile`);
        writeFileSync(out, JSON.stringify(profile));
        const summary = summarizeProfile(profile, { category, top: Number(values.top) });
        console.log(`${kind}, round ${round}: ${(ms / 1000).toFixed(2)} s, main-thread CPU (TaskDuration) ` +
          `${Math.round(taskMs)} ms; profile ${path.relative(process.cwd(), out)}`);
        console.log(formatProfile(summary).join('\n'));
      }
    }
  } finally {
    await chromium.close();
    await stack.stop();
    removeFiles(FILES_DIR);
  }
}

await main();
