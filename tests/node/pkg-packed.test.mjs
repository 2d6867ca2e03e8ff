// The npm package as `npm publish` would ship it: `npm pack` of pkg/, installed into a fresh
// project's node_modules, then imported by its name and used. The other package tests import
// pkg/ straight from the build directory, which holds files the tarball may leave out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, startEmulator } from '../support/harness.mjs';

const PKG_DIR = process.env.PKG_DIR || path.join(ROOT, 'pkg');
let project;
let packed;
let emulator;

before(async () => {
  project = mkdtempSync(path.join(os.tmpdir(), 'tleu-packed-'));
  const [{ filename, files }] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', project, PKG_DIR], { encoding: 'utf8' }),
  );
  packed = files.map((f) => f.path);
  const installed = path.join(project, 'node_modules', 'twelvelabs-edge-upload');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(project, filename), '-C', installed, '--strip-components=1']);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'packed-check', private: true, type: 'module' }));
  emulator = await startEmulator();
});
after(async () => {
  await emulator?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

test('every module a shipped entry imports, and the .wasm it loads, is in the tarball', () => {
  const entries = packed.filter((file) => file.endsWith('.js'));
  assert.ok(entries.includes('twelvelabs_edge_upload.js'), packed.join(', '));
  for (const entry of entries) {
    const source = readFileSync(path.join(PKG_DIR, entry), 'utf8');
    const relative = [
      ...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)["'](\.{1,2}\/[^"']+)["']/g),
      ...source.matchAll(/new URL\(\s*["'](\.{0,2}\/?[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g),
    ].map((match) => path.posix.normalize(path.posix.join(path.posix.dirname(entry), match[1])));
    for (const target of relative) assert.ok(packed.includes(target), `${entry} needs ${target}, which the tarball leaves out`);
  }
});

test('the installed package imports by its name and uploads from Node', () => {
  // A child process with the fresh project as its working directory, so that the package is
  // resolved from that project's node_modules, through its `exports`.
  const script = `
    import { Uploader, version } from 'twelvelabs-edge-upload';
    import { verifyWebhook } from 'twelvelabs-edge-upload/server';
    const uploader = new Uploader({ endpoint: ${JSON.stringify(emulator.url)}, apiKey: ${JSON.stringify(emulator.apiKey)} });
    const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const asset = await uploader.upload(new Blob([bytes], { type: 'video/mp4' }), { filename: 'packed.mp4' }).done;
    console.log(JSON.stringify({ version: version(), verifyWebhook: typeof verifyWebhook, asset: asset.id }));
  `;
  const scriptPath = path.join(project, 'use.mjs');
  writeFileSync(scriptPath, script);
  const output = execFileSync(process.execPath, [scriptPath], { cwd: project, encoding: 'utf8' });
  const seen = JSON.parse(output.trim().split('\n').pop());
  const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8'));
  assert.equal(seen.version, manifest.version);
  assert.equal(seen.verifyWebhook, 'function');
  assert.match(seen.asset, /^[0-9a-f]{24}$/);
});
