// scripts/wasm-size.mjs: what `make pkg` prints about the package's size and what `make bench`'s
// size section judges and breaks down. Checked on small files made here, so each expected figure
// is known exactly.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  forbiddenFunctions,
  formatPackageSizes,
  LOW_MEMORY_BYTES,
  lowestDataAddress,
  packageSizes,
  PACKAGE_GZIP_TARGET_BYTES,
  wasmBreakdown,
} from '../../scripts/wasm-size.mjs';
import { ROOT } from '../support/harness.mjs';

const work = mkdtempSync(path.join(tmpdir(), 'wasm-size-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const NAME = 'twelvelabs_edge_upload';
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

test('the package size is wasm + glue, and every other JS entry is listed apart', () => {
  const dir = path.join(work, 'pkg');
  mkdirSync(dir, { recursive: true });
  const files = {
    [`${NAME}_bg.wasm`]: Buffer.alloc(3000, 7),
    [`${NAME}.js`]: Buffer.from('export const glue = 1;\n'.repeat(40)),
    'node.js': Buffer.from('export * from "./x.js";\n'),
    'react.js': Buffer.from('export function useUpload() { return 1; }\n'),
    [`${NAME}.d.ts`]: Buffer.from('export {};\n'),
    'README.md': Buffer.from('# readme\n'),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  const sizes = packageSizes(dir);
  const wasm = files[`${NAME}_bg.wasm`];
  const glue = files[`${NAME}.js`];
  assert.equal(sizes.total.raw, wasm.length + glue.length);
  assert.equal(sizes.total.gzip, gz(wasm) + gz(glue));
  assert.deepEqual(sizes.entries.map((e) => path.basename(e.file)), ['node.js', 'react.js']);
  assert.deepEqual(sizes.entries.map((e) => e.gzip), [gz(files['node.js']), gz(files['react.js'])]);
  const lines = formatPackageSizes(sizes).join('\n');
  assert.match(lines, /react\.js/);
  assert.match(lines, /within the 40\.0 KB target/);
});

test('the printed verdict says by how much the target is missed', () => {
  const over = PACKAGE_GZIP_TARGET_BYTES + 4_800;
  const sizes = {
    wasm: { file: 'pkg/a_bg.wasm', raw: 90_000, gzip: over - 1_000 },
    glue: { file: 'pkg/a.js', raw: 9_000, gzip: 1_000 },
    total: { raw: 99_000, gzip: over },
    entries: [],
  };
  const verdict = formatPackageSizes(sizes).find((l) => l.includes('=>'));
  assert.equal(verdict.trim(), `=> a browser downloads ${(over / 1000).toFixed(1)} KB gzipped: 4.8 KB (12 %) over the 40.0 KB target`);
  assert.ok(!formatPackageSizes(sizes).some((l) => l.includes('other JS entries')));
});

test('the breakdown puts each function with its owner and adds up to the shipped module', () => {
  const dir = path.join(work, 'names');
  mkdirSync(dir, { recursive: true });
  const named = (name, body) => `(func $"${name}" (result i32) ${body})`;
  const functions = [
    named('twelvelabs_edge_upload::browser::uploader::driver::pump::h0123456789abcdef', '(i32.const 1)'),
    named('twelvelabs_edge_upload::browser::wire_js::asset::h0123456789abcdef', '(i32.add (i32.const 1) (i32.const 2))'),
    named('twelvelabs_edge_upload::core::engine::Engine::drive::h0123456789abcdef', '(i32.mul (i32.const 3) (i32.const 4))'),
    named('<talc::Talc>::malloc', '(i32.const 5)'),
    named('core[c5930c85a12de822]::fmt::write', '(i32.const 6)'),
    named('js_sys::futures::future_to_promise::{{closure}}', '(i32.const 7)'),
  ];
  const wat = `(module
    (import "./${NAME}_bg.js" "__wbg_a_long_generated_import_name_0123456789abcdef" (func (param i32)))
    ${functions.join('\n    ')}
    ${functions.map((_, i) => `(export "f${i}" (func ${i + 1}))`).join('\n    ')})`;
  writeFileSync(path.join(work, 'm.wat'), wat);
  const wasmAs = path.join(ROOT, 'node_modules/.bin/wasm-as');
  execFileSync(wasmAs, ['-g', path.join(work, 'm.wat'), '-o', path.join(dir, `${NAME}_bg.wasm`)]);
  // No optimizing pass, so every function stays as written.
  writeFileSync(path.join(dir, 'wasm-opt-args'), '--strip-producers\n');
  // The shipped module: the same without names, and its import renamed short (as shrink-glue does).
  const shipped = path.join(work, 'shipped.wasm');
  const shortWat = wat.replace(`"./${NAME}_bg.js" "__wbg_a_long_generated_import_name_0123456789abcdef"`, '"wbg" "a"');
  writeFileSync(path.join(work, 'short.wat'), shortWat);
  execFileSync(wasmAs, [path.join(work, 'short.wat'), '-o', shipped]);

  const b = wasmBreakdown({ dir, shipped, largest: 3 });
  const group = (prefix) => b.groups.find((g) => g.name.startsWith(prefix));
  assert.equal(group('upload executor').functions, 1);
  assert.equal(group('browser adapter').functions, 1);
  assert.equal(group('IO-free core').functions, 1);
  assert.equal(group('allocator').functions, 1);
  assert.equal(group('fmt and panics').functions, 1);
  assert.equal(group('async runtime').functions, 1);
  assert.equal(b.closures, group('async runtime').rawBytes);
  // The whole is the shipped module's size: its import section, and the rest from the named copy.
  assert.equal(b.rawBytes, readFileSync(shipped).length);
  assert.equal(b.largest.length, 3);
  assert.equal(b.largest[0].name.includes('::h0123456789abcdef'), false);
});

test('the check names a forbidden function in the named build, and passes one without', () => {
  const wasmAs = path.join(ROOT, 'node_modules/.bin/wasm-as');
  const build = (dirName, names) => {
    const dir = path.join(work, dirName);
    mkdirSync(dir, { recursive: true });
    const wat = `(module ${names.map((name, i) => `(func $"${name}" (result i32) (i32.const ${i})) (export "f${i}" (func ${i}))`).join(' ')})`;
    writeFileSync(path.join(work, `${dirName}.wat`), wat);
    execFileSync(wasmAs, ['-g', path.join(work, `${dirName}.wat`), '-o', path.join(dir, `${NAME}_bg.wasm`)]);
    return dir;
  };
  const clean = build('clean', ['<&str as core[c5930c85a12de822]::fmt::Display>::fmt', 'twelvelabs_edge_upload::browser::queue::QueueInner::item_id::h0123456789abcdef']);
  assert.deepEqual(forbiddenFunctions(clean), []);
  const debug = build('debug', ['<char>::escape_debug_ext::h0123456789abcdef', 'twelvelabs_edge_upload::browser::queue::QueueInner::item_id::h0123456789abcdef']);
  const found = forbiddenFunctions(debug);
  assert.deepEqual(found.map((f) => f.name), ['<char>::escape_debug_ext']);
  assert.match(found[0].why, /\{:\?\}/);
});

test('the lowest data address is read from the named build, passive segments aside', () => {
  const wasmAs = path.join(ROOT, 'node_modules/.bin/wasm-as');
  const build = (dirName, segments) => {
    const dir = path.join(work, dirName);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(work, `${dirName}.wat`), `(module (memory 20) ${segments})`);
    execFileSync(wasmAs, ['--enable-bulk-memory', path.join(work, `${dirName}.wat`), '-o', path.join(dir, `${NAME}_bg.wasm`)]);
    return dir;
  };
  assert.equal(lowestDataAddress(build('stack-first', '(data (i32.const 1048592) "abc") (data (i32.const 1048576) "d") (data "passive")')), 1048576);
  assert.equal(lowestDataAddress(build('low', '(data (i32.const 1048576) "a") (data (i32.const 1000) "b")')), 1000);
  assert.ok(lowestDataAddress(build('low', '(data (i32.const 1000) "b")')) < LOW_MEMORY_BYTES);
  assert.equal(lowestDataAddress(build('none', '')), Infinity);
});
