// Shared pieces of the end-to-end tests: test files on disk, the emulator's debug routes, and
// reading the demo page the way a person would see it (its rows and their data attributes).
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, getJson } from '../support/harness.mjs';

/** 1 MiB. */
export const MiB = 1024 * 1024;

/** Where the test run saves screenshots for a person to look at (not committed). */
/** The emulator's fault knobs with nothing injected (restored after every test). */
export const NO_FAULTS = {
  put_failure_rate: 0,
  put_failure_kind: '500',
  put_fail_next: 0,
  put_fail_sequence: [],
  put_stall_secs: 300,
  url_ttl_secs: 3600,
  single_use_urls: false,
  hide_etag: false,
  rate_limit_rate: 0,
  rate_limit_next: 0,
  retry_after_secs: 1,
  latency_ms: 0,
};

export const SCREENSHOT_DIR = path.join(ROOT, 'target/e2e-screenshots');

/** Generous bound for one upload to settle; a hang fails the test instead of blocking CI. */
export const UPLOAD_TIMEOUT_MS = 10 * 60_000;

/**
 * A directory in os.tmpdir() for the test's files; `remove()` deletes it (call it in `after`).
 * @returns {{dir: string, remove(): void}}
 */
export function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tleu-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Writes `size` pseudo-random bytes (the AES-128-CTR keystream of `seed`: every chunk differs
 * from every other, so a chunk stored at the wrong index changes the hash) to `dir/name`, in
 * 4 MiB pieces so that memory stays flat whatever the size. Resolves to `{path, size, sha256}`.
 * The `.mp4` extension gives the browser's `File` the `video/mp4` type.
 */
export async function writeTestFile(dir, name, size, seed = name) {
  const file = path.join(dir, name);
  const key = createHash('sha256').update(`tleu-e2e:${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(4 * MiB);
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for (let written = 0; written < size; ) {
    const n = Math.min(zeros.length, size - written);
    const piece = cipher.update(zeros.subarray(0, n));
    hash.update(piece);
    if (!out.write(piece)) await new Promise((resolve) => out.once('drain', resolve));
    written += n;
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return { path: file, size, sha256: hash.digest('hex') };
}

/** `GET /_emulator/stats`. */
export function emulatorStats(emulator) {
  return getJson(`${emulator.url}/_emulator/stats`);
}

/** `POST /_emulator/faults` (a partial update); resolves to the knobs now in force. */
export function setFaults(emulator, faults) {
  return getJson(`${emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
}

/** The assembled asset's `{sha256, size}` from the emulator. */
export function assetDigest(emulator, assetId) {
  return getJson(`${emulator.url}/_emulator/assets/${encodeURIComponent(assetId)}/sha256`);
}

/**
 * The multipart session's per-chunk status straight from the emulator (every page):
 * `[{index, status: 'pending' | 'completed' | 'failed', ...}]`.
 */
export async function sessionChunks(emulator, uploadId) {
  const chunks = [];
  for (let page = 1; ; page++) {
    const body = await getJson(
      `${emulator.apiUrl}/assets/multipart-uploads/${encodeURIComponent(uploadId)}?page=${page}&page_limit=50`,
      { headers: { 'x-api-key': emulator.apiKey } },
    );
    const items = body.uploaded_chunks;
    if (items.length === 0) return chunks;
    chunks.push(...items);
  }
}

/** The `PUT /_storage/...` attempts of the stats, over all uploads. */
export function storagePuts(stats) {
  return stats.requests['PUT /_storage/{upload_id}/{chunk_index}'] ?? 0;
}

/** Requests of the stats that reached the API or the storage (anything but debug routes). */
export function productRequests(stats) {
  return Object.entries(stats.requests).filter(
    ([route, count]) => count > 0 && !route.includes('/_emulator'),
  );
}

/**
 * Asserts what every successful upload must show in the emulator: one session for the file,
 * every chunk stored exactly once (nothing uploaded twice, nothing missing).
 * Returns the session's per-chunk counters.
 */
export function assertEachChunkStoredOnce(stats, uploadId, expectedChunks) {
  const chunks = stats.chunk_puts[uploadId];
  assert.ok(chunks, `the emulator saw PUTs for upload ${uploadId}`);
  const indexes = Object.keys(chunks).map(Number).sort((a, b) => a - b);
  assert.deepEqual(
    indexes,
    Array.from({ length: expectedChunks }, (_, i) => i + 1),
    'every chunk was PUT',
  );
  const storedTwiceOrNever = Object.entries(chunks).filter(([, c]) => c.stored !== 1);
  assert.deepEqual(storedTwiceOrNever, [], 'every chunk is stored exactly once');
  return chunks;
}

/** Number of 5 MiB chunks (the emulator's default chunk size) of a file. */
export function chunkCount(size, chunkSize = 5 * MiB) {
  return Math.ceil(size / chunkSize);
}

/** Opens the demo page in a new tab and waits until the uploader is ready. */
export async function openDemo(context, stack) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every failed request ("Failed to load resource: …"); injected faults cause
    // those on purpose. Anything else logged as an error is a problem of the page.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  await page.goto(`${stack.page.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, problems };
}

/** The upload row of `filename` (the newest one if the file was chosen more than once). */
export function uploadRow(page, filename) {
  return page.locator(`#upload-list li.upload[data-filename="${filename}"]`).first();
}

/** Waits until the row of `filename` reaches one of `phases` (its `data-phase`). */
export async function waitForPhase(page, filename, phases, timeout = UPLOAD_TIMEOUT_MS) {
  const wanted = Array.isArray(phases) ? phases : [phases];
  await page.waitForFunction(
    ({ filename, wanted }) => {
      const rows = document.querySelectorAll('#upload-list li.upload');
      const row = [...rows].find((r) => r.dataset.filename === filename);
      return row && wanted.includes(row.dataset.phase);
    },
    { filename, wanted },
    { timeout, polling: 100 },
  );
  return uploadRow(page, filename);
}

/** Waits until the row of `filename` shows at least `fraction` of the file stored. */
export async function waitForStoredFraction(page, filename, fraction, timeout = UPLOAD_TIMEOUT_MS) {
  await page.waitForFunction(
    ({ filename, fraction }) => {
      const rows = document.querySelectorAll('#upload-list li.upload');
      const row = [...rows].find((r) => r.dataset.filename === filename);
      if (!row || !row.dataset.totalBytes) return false;
      return Number(row.dataset.acknowledgedBytes) >= fraction * Number(row.dataset.totalBytes);
    },
    { filename, fraction },
    { timeout, polling: 50 },
  );
}

/** Saves a full-page screenshot under target/e2e-screenshots/. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * The whole story of one upload through the page, as test 1 and the 1 GiB run tell it: choose
 * `file` in the page, see it progress (screenshot mid-upload), reach `ready`, then check the
 * emulator (bytes identical, every chunk PUT exactly once) and the page's asset list.
 * `stack`'s emulator counters must have been reset before. Resolves to `{assetId, uploadId}`.
 */
export async function uploadThroughPage({ page, stack, file, screenshotPrefix }) {
  const name = path.basename(file.path);
  await page.setInputFiles('#file-input', file.path);
  const row = uploadRow(page, name);
  await waitForStoredFraction(page, name, 0.3);
  if (screenshotPrefix) await screenshot(page, `${screenshotPrefix}-mid-upload`);
  await waitForPhase(page, name, ['ready', 'failed', 'aborted']);
  assert.equal(
    await row.getAttribute('data-phase'),
    'ready',
    `the upload finished as ready (page says: ${await row.innerText()})`,
  );
  const assetId = await row.getAttribute('data-asset-id');
  const uploadId = await row.getAttribute('data-upload-id');
  assert.ok(assetId && uploadId, 'the row names its asset and upload');
  // The page's own numbers: everything sent, stored and confirmed.
  for (const counter of ['data-sent-bytes', 'data-acknowledged-bytes', 'data-reported-bytes']) {
    assert.equal(Number(await row.getAttribute(counter)), file.size, `${counter} = file size`);
  }

  const digest = await assetDigest(stack.emulator, assetId);
  assert.equal(digest.size, file.size, 'the emulator assembled the whole file');
  assert.equal(digest.sha256, file.sha256, 'the emulator holds exactly the bytes of the file');
  const stats = await emulatorStats(stack.emulator);
  assertEachChunkStoredOnce(stats, uploadId, chunkCount(file.size));

  // The asset list shows it, ready (it polls while anything is processing).
  const assetRow = page.locator(`#asset-rows tr[data-asset-id="${assetId}"]`);
  await assetRow.locator('.badge[data-status="ready"]').waitFor({ timeout: 30_000 });
  assert.match(await assetRow.innerText(), new RegExp(name.replace('.', '\\.')));
  if (screenshotPrefix) await screenshot(page, `${screenshotPrefix}-complete`);
  return { assetId, uploadId };
}

/** `DELETE /_emulator/stats`. */
export async function resetStats(emulator) {
  const res = await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });
  assert.ok(res.ok, `resetting the emulator's stats answered ${res.status}`);
}
