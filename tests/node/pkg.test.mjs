// The npm package in Node ≥ 20: imported through its `node` export condition (the .wasm is
// loaded from disk), uploading a Blob to the emulator with fetch/Blob from the runtime.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, getJson, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
let emulator;
let pkg;

before(async () => {
  emulator = await startEmulator();
  pkg = await import(pathToFileURL(path.join(PKG_DIR, 'node.js')).href);
});
after(async () => emulator?.stop());

function seededBytes(size, seed) {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

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
