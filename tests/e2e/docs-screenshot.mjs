// Regenerates docs/screenshot.png, the picture of the demo page in the README:
//   node tests/e2e/docs-screenshot.mjs
// (not a test: its name does not end in .test.mjs). It starts the whole stack like `make demo`,
// uploads three files through the page (one finishes, one is paused, one is mid-way), and saves
// a 1000 px wide screenshot, palette-quantised with sharp when it is installed (it comes with
// wrangler's miniflare) to keep the repository small.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchChromium } from '../support/browser.mjs';
import { ROOT } from '../support/harness.mjs';
import { startStack } from '../support/stack.mjs';
import {
  MiB,
  openDemo,
  setFaults,
  tempDir,
  uploadRow,
  waitForPhase,
  waitForStoredFraction,
  writeTestFile,
} from './helpers.mjs';

const OUTPUT = path.join(ROOT, 'docs/screenshot.png');
const files = tempDir();
let stack;
let browser;
try {
  stack = await startStack({ emulatorArgs: ['--processing-ms', '1500'] });
  browser = await launchChromium();
  const done = await writeTestFile(files.dir, 'interview-take-3.mp4', 24 * MiB);
  const paused = await writeTestFile(files.dir, 'podcast-episode-12.mp3', 60 * MiB);
  const moving = await writeTestFile(files.dir, 'drone-footage-4k.mp4', 320 * MiB);
  const { page } = await openDemo(browser.context, stack);
  await page.setViewportSize({ width: 1000, height: 900 });

  await page.setInputFiles('#file-input', done.path);
  await waitForPhase(page, 'interview-take-3.mp4', 'ready');
  // Slow enough that the picture catches uploads in motion.
  await setFaults(stack.emulator, { latency_ms: 120 });
  await page.setInputFiles('#file-input', paused.path);
  await waitForStoredFraction(page, 'podcast-episode-12.mp3', 0.35);
  await uploadRow(page, 'podcast-episode-12.mp3').getByRole('button', { name: /^Pause/ }).click();
  await waitForPhase(page, 'podcast-episode-12.mp3', 'paused');
  await page.setInputFiles('#file-input', moving.path);
  await waitForStoredFraction(page, 'drone-footage-4k.mp4', 0.55);
  await page.waitForSelector('#asset-rows tr .badge[data-status="ready"]');
  const png = await page.screenshot({ fullPage: true });
  let output = png;
  try {
    const { default: sharp } = await import('sharp');
    output = await sharp(png).png({ palette: true, colours: 128, compressionLevel: 9, effort: 10 }).toBuffer();
  } catch (error) {
    console.warn(`sharp is not available (${error.message}): writing the PNG as Chromium made it`);
  }
  writeFileSync(OUTPUT, output);
  console.log(`wrote ${path.relative(ROOT, OUTPUT)} (${output.length} bytes)`);
} finally {
  await browser?.close();
  await stack?.stop();
  files.remove();
}
