// Shrinks the wasm-bindgen output of `make pkg` without changing what it does (build-pkg.sh runs
// it after wasm-opt):
//   node scripts/shrink-glue.mjs <module>_bg.wasm <module>.js
//
// 1. Import names. wasm-bindgen names every JS function the module imports
//    `__wbg_<name>_<16 hex digits>` under the module `./<name>_bg.js`; those ~150 names are stored
//    twice (the wasm's import section and the glue's import object), and their hashes do not
//    compress. They are renamed to short names (`a`, `b`, …, `aa`, …) in both places. Export
//    names are left alone: `InitOutput` in the `.d.ts` promises them.
// 2. The JS glue is bundled with the `inline_js` snippets it imports and minified by esbuild
//    without renaming identifiers (whitespace and syntax only), so class and function names stay
//    readable in stack traces and devtools.
//
// 3. One behaviour of the glue is changed, on purpose: `_assertClass`, the check that an argument
//    is an instance of one of the package's classes (`new UploadQueue(uploader)`), throws an error
//    of the package's shape (`name: 'UploadError'`, `code: 'invalid_input'`), as every other
//    refusal of a bad argument does, instead of a bare `Error` without a code.
//
// Every rename is checked: each old name must occur exactly once in the glue, as a key of the
// import object, and nowhere afterwards, or the build fails; so is the one changed line.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Reader, sections } from './lib/wasm-reader.mjs';

const [wasmPath, jsPath] = process.argv.slice(2);
if (!wasmPath || !jsPath) {
  console.error('usage: node scripts/shrink-glue.mjs <module>_bg.wasm <module>.js');
  process.exit(2);
}

function leb128(value) {
  const out = [];
  do {
    let b = value & 0x7f;
    value >>>= 7;
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

function encodeName(text) {
  const utf8 = new TextEncoder().encode(text);
  return [...leb128(utf8.length), ...utf8];
}

/** `a`, `b`, …, `z`, `A`, …, `Z`, `aa`, … (keys of the import object; keywords are valid keys). */
function shortName(index) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let name = '';
  let n = index;
  do {
    name = alphabet[n % alphabet.length] + name;
    n = Math.floor(n / alphabet.length) - 1;
  } while (n >= 0);
  return name;
}

/**
 * Rewrites the import section: every import from `module` gets a short field name, and the module
 * itself is renamed to `newModule`. Answers the new binary and the map old field → new field.
 */
function renameImports(bytes, module, newModule) {
  const renamed = new Map();
  const parts = [bytes.subarray(0, 8)];
  for (const section of sections(bytes)) {
    if (section.id !== 2) {
      parts.push(bytes.subarray(section.start, section.end));
      continue;
    }
    const reader = new Reader(bytes, section.bodyStart);
    const count = reader.u32();
    const body = [...leb128(count)];
    for (let i = 0; i < count; i++) {
      const importModule = reader.name();
      const field = reader.name();
      const descStart = reader.offset;
      reader.importDescription(`${importModule}.${field}`);
      const desc = bytes.subarray(descStart, reader.offset);
      if (importModule === module) {
        if (!renamed.has(field)) renamed.set(field, shortName(renamed.size));
        body.push(...encodeName(newModule), ...encodeName(renamed.get(field)), ...desc);
      } else {
        body.push(...encodeName(importModule), ...encodeName(field), ...desc);
      }
    }
    if (reader.offset !== section.end) throw new Error('import section: trailing bytes');
    parts.push(Uint8Array.from([2, ...leb128(body.length), ...body]));
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return { bytes: out, renamed };
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, 'utf8');
const wasmModuleName = `./${wasmPath.split('/').pop().replace(/\.wasm$/, '')}.js`;
const newModule = 'wbg';

const { bytes, renamed } = renameImports(wasm, wasmModuleName, newModule);
if (renamed.size === 0) throw new Error(`no imports from ${wasmModuleName} in ${wasmPath}`);

const moduleKey = new RegExp(`(["'])${escapeRegExp(wasmModuleName)}\\1(\\s*:)`, 'g');
const moduleKeys = js.match(moduleKey)?.length ?? 0;
if (moduleKeys !== 1) throw new Error(`expected the module key ${wasmModuleName} once in ${jsPath}, found ${moduleKeys}`);
js = js.replace(moduleKey, `${newModule}$2`);

for (const [oldName, newName] of renamed) {
  const asKey = new RegExp(`(^|[\\s,{])${escapeRegExp(oldName)}(\\s*:)`, 'gm');
  const keys = js.match(asKey)?.length ?? 0;
  if (keys !== 1) throw new Error(`expected the import ${oldName} once as a key in ${jsPath}, found ${keys}`);
  js = js.replace(asKey, `$1${newName}$2`);
  if (new RegExp(`\\b${escapeRegExp(oldName)}\\b`).test(js)) {
    throw new Error(`${oldName} is still referenced in ${jsPath} after renaming its import`);
  }
}

const assertClass = 'throw new Error(`expected instance of ${klass.name}`);';
const assertClasses = js.split(assertClass).length - 1;
if (assertClasses !== 1) throw new Error(`expected _assertClass's throw once in ${jsPath}, found ${assertClasses}`);
js = js.replace(
  assertClass,
  "throw Object.assign(new Error(`expected an instance of ${klass.name}`), { name: 'UploadError', code: 'invalid_input', retryable: false, status: undefined });",
);

// Bundled, so that the small modules wasm-bindgen writes for `inline_js` (snippets/) become part
// of the glue: a page then loads one JS file, not three, and the package has no other file the
// glue needs (build-pkg.sh drops snippets/).
const esbuild = await import('esbuild');
const built = await esbuild.build({
  stdin: { contents: js, resolveDir: path.dirname(path.resolve(jsPath)), sourcefile: path.basename(jsPath), loader: 'js' },
  bundle: true,
  write: false,
  platform: 'neutral',
  format: 'esm',
  minifyWhitespace: true,
  minifySyntax: true,
  target: 'esnext', // no syntax lowering: the glue runs as wasm-bindgen wrote it
  legalComments: 'none',
});
const code = built.outputFiles[0].text;
if (/\b(?:from|import)\s*\(?\s*["']\.{1,2}\//.test(code)) throw new Error(`${jsPath} still imports a module of its own after bundling`);

writeFileSync(wasmPath, bytes);
writeFileSync(jsPath, code);
console.log(`shrink-glue: ${renamed.size} imports renamed; glue ${js.length} → ${code.length} bytes, snippets bundled in`);
