// The npm package in Node ≥ 20: imported through its `node` export condition (the .wasm is
// loaded from disk), uploading a Blob to the emulator with fetch/Blob from the runtime.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, getJson, seededBytes, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
let emulator;
let pkg;

// 1 MiB chunks (the emulator's default is 5 MiB): a few MiB make many chunks.
const CHUNK_BYTES = 1024 * 1024;

before(async () => {
  emulator = await startEmulator({ args: ['--chunk-size', String(CHUNK_BYTES)] });
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

test('package.json describes an ES module with types and a Node entry', () => {
  const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'twelvelabs-edge-upload');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.exports['.'].node, './node.js');
  assert.ok(manifest.files.includes('twelvelabs_edge_upload_bg.wasm'));
  const cargoVersion = readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"/m)[1];
  assert.equal(manifest.version, cargoVersion);
  assert.equal(pkg.version(), cargoVersion);
});

test('uploads a 12 MiB Blob intact from Node', async () => {
  const bytes = seededBytes(12 * 1024 * 1024, 42);
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey });
  const progress = [];
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
    filename: 'node.mp4',
    onProgress: (p) => progress.push(p.acknowledgedBytes),
  });
  const asset = await handle.done;
  const stored = await getJson(`${emulator.url}/_emulator/assets/${asset.id}/sha256`);
  assert.equal(stored.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes backwards');
  assert.equal(handle.progress.acknowledgedBytes, bytes.length);
});

test('with progressIntervalMs: 0 every acknowledged chunk is reported in order', async () => {
  // Regression: the engine's throttle once answered "emit now" to callers that ignored the
  // answer, so due events were lost and only the final one arrived.
  const bytes = seededBytes(10 * CHUNK_BYTES + 4321, 43);
  const totalChunks = Math.ceil(bytes.length / CHUNK_BYTES);
  const uploader = new pkg.Uploader({
    endpoint: emulator.url,
    apiKey: emulator.apiKey,
    progressIntervalMs: 0,
    concurrency: 2,
  });
  const events = [];
  const handle = uploader.upload(new Blob([bytes], { type: 'video/mp4' }), {
    filename: 'every-step.mp4',
    onProgress: (p) => events.push(p),
  });
  await handle.done;
  assert.ok(events.length > 2, `only ${events.length} progress events for ${totalChunks} chunks`);
  for (const key of ['sentBytes', 'acknowledgedBytes', 'reportedBytes', 'acknowledgedChunks', 'reportedChunks']) {
    const values = events.map((p) => p[key]);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), `${key} never goes backwards`);
  }
  // Every acknowledgement is its own input to the engine, and none is throttled away.
  const seen = new Set(events.map((p) => p.acknowledgedChunks));
  for (let chunks = 1; chunks <= totalChunks; chunks++) {
    assert.ok(seen.has(chunks), `no event with ${chunks} acknowledged chunks: ${[...seen]}`);
  }
  assert.equal(events.at(-1).acknowledgedBytes, bytes.length);
});

test('bad input is a typed UploadError', async () => {
  assert.throws(
    () => new pkg.Uploader({ endpoint: 'ftp://nope', apiKey: 'k' }),
    (error) => error instanceof Error && error.code === 'invalid_input' && error.retryable === false,
  );
  const uploader = new pkg.Uploader({ endpoint: emulator.url, apiKey: emulator.apiKey });
  await assert.rejects(
    uploader.upload(new Blob(['x'], { type: 'text/plain' })).done,
    (error) => error.name === 'UploadError' && error.code === 'unsupported_type',
  );
  await assert.rejects(uploader.getAsset('000000000000000000000000'), (error) => error.code === 'not_found' && error.status === 404);
});
