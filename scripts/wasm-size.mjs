// The npm package's size: what a browser downloads (the .wasm + the JS glue) against the target,
// every other shipped JS entry, and where the wasm's bytes go (a twiggy-style breakdown by owner).
// `make pkg` prints the first two (scripts/build-pkg.sh); `make bench`'s size section all three.
//
//   node scripts/wasm-size.mjs [pkg-dir] [--breakdown] [--check]
//
// `--check` fails (exit 1) when a function that must not be in the package is there (FORBIDDEN),
// or when data lies in the first KiB `wasm-opt --low-memory-unused` assumes unused; alone, it
// prints nothing else.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Reader, sections } from './lib/wasm-reader.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NAME = 'twelvelabs_edge_upload';

/** The issue's target for the browser package (wasm + JS glue), gzip -9 bytes. */
export const PACKAGE_GZIP_TARGET_BYTES = 40_000;

/**
 * Where scripts/build-pkg.sh leaves the wasm-bindgen output before wasm-opt (function names
 * intact) and the wasm-opt arguments it used, for the breakdown.
 */
export const NAMED_BUILD_DIR = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'pkg-names');

const gzipBytes = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** A file's `{file (relative to the repository), raw, gzip}` bytes; `build` names what makes it. */
export function fileSize(file, build = 'make pkg') {
  if (!existsSync(file)) throw new Error(`${file} not found: run \`${build}\` first`);
  const bytes = readFileSync(file);
  return { file: path.relative(ROOT, file), raw: bytes.length, gzip: gzipBytes(bytes) };
}

/**
 * Sizes of the package in `pkgDir`: `{wasm, glue, total, entries}`; `total` is what a browser
 * downloads (wasm + glue), `entries` every other shipped JS entry (the Node and server entries,
 * and any later subpath), each `{file, raw, gzip}`.
 */
export function packageSizes(pkgDir = path.join(ROOT, 'pkg')) {
  const wasm = fileSize(path.join(pkgDir, `${NAME}_bg.wasm`));
  const glue = fileSize(path.join(pkgDir, `${NAME}.js`));
  const entries = readdirSync(pkgDir)
    .filter((f) => /\.(m?js)$/.test(f) && f !== `${NAME}.js`)
    .sort()
    .map((f) => fileSize(path.join(pkgDir, f)));
  return { wasm, glue, total: { raw: wasm.raw + glue.raw, gzip: wasm.gzip + glue.gzip }, entries };
}

const kb = (n) => `${(n / 1000).toFixed(1)} KB`;

/** The lines `make pkg` prints: each file, the total against the target, the other entries. */
export function formatPackageSizes(sizes) {
  const row = (label, raw, gzip) => `  ${label.padEnd(34)} ${String(raw).padStart(7)} B raw  ${String(gzip).padStart(6)} B gzip -9`;
  const { wasm, glue, total } = sizes;
  const over = total.gzip - PACKAGE_GZIP_TARGET_BYTES;
  const verdict = over <= 0
    ? `within the ${kb(PACKAGE_GZIP_TARGET_BYTES)} target (${kb(-over)} to spare)`
    : `${kb(over)} (${((over / PACKAGE_GZIP_TARGET_BYTES) * 100).toFixed(0)} %) over the ${kb(PACKAGE_GZIP_TARGET_BYTES)} target`;
  return [
    row(path.basename(wasm.file), wasm.raw, wasm.gzip),
    row(`${path.basename(glue.file)} (glue)`, glue.raw, glue.gzip),
    row('browser download (wasm + glue)', total.raw, total.gzip),
    `  => a browser downloads ${kb(total.gzip)} gzipped: ${verdict}`,
    ...(sizes.entries.length ? ['  other JS entries (loaded only where imported):'] : []),
    ...sizes.entries.map((e) => row(path.basename(e.file), e.raw, e.gzip)),
  ];
}

/**
 * Who owns each function, by its (demangled) name: the first group whose pattern matches.
 * Order matters: a closure of the upload driver counts as the driver, not as "closures".
 */
const GROUPS = [
  ['upload executor (browser::uploader)', /twelvelabs_edge_upload::browser::uploader::/],
  ['browser adapter (api, transport, store, options, wire_js, convert)', /twelvelabs_edge_upload::browser::/],
  ['async runtime (wasm-bindgen-futures, js_sys::futures)', /wasm_bindgen_futures|js_sys::futures/],
  ['wasm-bindgen, js-sys, web-sys bindings and export shims', /wasm_bindgen|js_sys|web_sys|shim|__wbg|__wbindgen|__externref|^[a-z]+_[A-Za-z]+$|^version$/],
  ['IO-free core (src/core)', /twelvelabs_edge_upload::core::/],
  ['fmt and panics (core::fmt, panic handler)', /::fmt::|::fmt$|panic|ToString|core::result::unwrap_failed|core::option::expect_failed/],
  ['allocator', /talc|dlmalloc|__rdl_|__rust_alloc|__rust_dealloc|__rust_realloc|__rg_|alloc::alloc::/],
  ['drop glue (drop_in_place)', /drop_in_place/],
  ['std/core/alloc generics (collections, strings, iterators)', /^<?(core|alloc|std)\b|^<(\[|&|\(|char|str|[A-Za-z0-9_]+ as (core|alloc))/],
  ['compiler builtins (128-bit arithmetic, memcpy)', /^__|compiler_builtins|^mem(cpy|set|move|cmp)$|^(round|fmax|fmin|floor|ceil|trunc)$/],
  ['other crates (serde, url, mime, ...)', /serde|url|mime|idna|smallvec|form_urlencoded|percent_encoding/],
];
const UNNAMED = 'unnamed functions';

const SECTION_NAMES = { 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global', 7: 'export', 8: 'start', 9: 'element', 10: 'code', 11: 'data', 12: 'data count' };

/** Reads the function bodies (byte ranges) and the name section of a wasm module. */
function functionsOf(bytes) {
  const all = sections(bytes);
  let imported = 0;
  const bodies = [];
  const names = new Map();
  for (const s of all) {
    const reader = new Reader(bytes, s.bodyStart);
    if (s.id === 0) {
      reader.name();
      if (s.name !== 'name') continue;
      while (reader.offset < s.end) {
        const sub = reader.byte();
        const size = reader.u32();
        const end = reader.offset + size;
        if (sub === 1) {
          const count = reader.u32();
          for (let i = 0; i < count; i++) names.set(reader.u32(), reader.name());
        }
        reader.offset = end;
      }
    } else if (s.id === 2) {
      const count = reader.u32();
      for (let i = 0; i < count; i++) {
        const what = `${reader.name()}.${reader.name()}`;
        if (reader.importDescription(what) === 0x00) imported++;
      }
    } else if (s.id === 10) {
      const count = reader.u32();
      for (let i = 0; i < count; i++) {
        const size = reader.u32();
        bodies.push({ start: reader.offset, end: reader.offset + size });
        reader.offset += size;
      }
    }
  }
  return {
    sections: all,
    functions: bodies.map((b, i) => ({ ...b, name: names.get(imported + i) ?? null })),
  };
}

/** A name without its `::h<16 hex>` hash and `[…]` crate disambiguators. */
const readable = (name) => name.replace(/::h[0-9a-f]{16}$/, '').replace(/\[[0-9a-f]{16}\]/g, '');

/**
 * Where the bytes of the package's wasm go. Re-runs wasm-opt with the arguments `make pkg` used,
 * plus `-g` to keep the names, on the named wasm-bindgen output build-pkg.sh left in
 * NAMED_BUILD_DIR (keeping names changes the optimized code by ~0.1 %); the import section is
 * measured in `shipped` (the package's wasm), whose names shrink-glue shortened. Answers `{rawBytes,
 * gzipBytes, groups, sections, largest}`: `groups` are `{name, rawBytes, gzipBytes, functions}`
 * (gzip of the group's code alone, so the groups' gzip figures do not add up to the module's).
 */
export function wasmBreakdown({ dir = NAMED_BUILD_DIR, shipped = path.join(ROOT, 'pkg', `${NAME}_bg.wasm`), largest = 15 } = {}) {
  const input = path.join(dir, `${NAME}_bg.wasm`);
  const argsFile = path.join(dir, 'wasm-opt-args');
  if (!existsSync(input) || !existsSync(argsFile)) throw new Error(`${input} not found: run \`make pkg\` first`);
  const args = readFileSync(argsFile, 'utf8').split('\n').filter(Boolean);
  const work = mkdtempSync(path.join(tmpdir(), 'wasm-size-'));
  try {
    const output = path.join(work, 'named.wasm');
    const run = spawnSync(path.join(ROOT, 'node_modules/.bin/wasm-opt'), [...args, '-g', '-o', output, input], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`wasm-opt failed: ${run.stderr}`);
    return breakdownOf(readFileSync(output), existsSync(shipped) ? readFileSync(shipped) : null, largest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function breakdownOf(bytes, shippedBytes, largest) {
  const { sections: all, functions } = functionsOf(bytes);
  // The import section as shipped: shrink-glue shortens its names after wasm-opt.
  const shippedImports = shippedBytes && sections(shippedBytes).find((s) => s.id === 2);
  const groups = new Map([...GROUPS.map(([name]) => [name, []]), [UNNAMED, []]]);
  for (const f of functions) {
    const group = f.name === null ? UNNAMED : (GROUPS.find(([, pattern]) => pattern.test(f.name))?.[0] ?? 'other');
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(f);
  }
  const gzipOf = (ranges) => gzipBytes(Buffer.concat(ranges.map((r) => bytes.subarray(r.start, r.end))));
  const rows = [...groups].filter(([, list]) => list.length).map(([name, list]) => ({
    name,
    rawBytes: list.reduce((n, f) => n + f.end - f.start, 0),
    gzipBytes: gzipOf(list),
    functions: list.length,
  }));
  // The sections other than code and names: data (strings, tables) and the module's own tables.
  let rawBytes = 8;
  for (const s of all) {
    if (s.id === 0 && s.name === 'name') continue;
    const size = s.id === 2 && shippedImports ? shippedImports.end - shippedImports.start : s.end - s.start;
    rawBytes += size;
    if (s.id === 10) continue;
    const gzip = s.id === 2 && shippedImports ? gzipBytes(shippedBytes.subarray(shippedImports.start, shippedImports.end)) : gzipOf([s]);
    rows.push({ name: s.id === 0 ? `custom section ${s.name}` : `${SECTION_NAMES[s.id] ?? s.id} section`, rawBytes: size, gzipBytes: gzip, functions: 0 });
  }
  rows.sort((a, b) => b.rawBytes - a.rawBytes);
  return {
    rawBytes,
    groups: rows,
    closures: functions.filter((f) => f.name?.includes('{{closure}}')).reduce((n, f) => n + f.end - f.start, 0),
    largest: [...functions].sort((a, b) => (b.end - b.start) - (a.end - a.start)).slice(0, largest)
      .map((f) => ({ name: f.name === null ? '(unnamed)' : readable(f.name), rawBytes: f.end - f.start })),
  };
}

/**
 * Functions that must not be in the package, each with the reason: one stray use costs kilobytes.
 * `make pkg` fails when one is there (`--check`).
 */
const FORBIDDEN = [
  [/escape_debug/, '`{:?}` of a string or a char on the wasm path (char::escape_debug and its Unicode tables: 4.3 KB gzipped when the queue had one); format with `{}`'],
];

/**
 * The forbidden functions (FORBIDDEN) in the named wasm-bindgen output `make pkg` keeps in `dir`,
 * each `{name, why}`.
 */
export function forbiddenFunctions(dir = NAMED_BUILD_DIR) {
  const found = [];
  for (const f of functionsOf(readFileSync(namedWasm(dir))).functions) {
    const rule = f.name && FORBIDDEN.find(([pattern]) => pattern.test(f.name));
    if (rule) found.push({ name: readable(f.name), why: rule[1] });
  }
  return found;
}

/** The first KiB of memory, which `wasm-opt --low-memory-unused` (build-pkg.sh) assumes unused. */
export const LOW_MEMORY_BYTES = 1024;

/**
 * The lowest address a data segment of the named build in `dir` is placed at (`Infinity` without
 * active segments). `wasm-opt --low-memory-unused` needs it at or above LOW_MEMORY_BYTES; an
 * offset that is not a constant counts as 0.
 */
export function lowestDataAddress(dir = NAMED_BUILD_DIR) {
  const bytes = readFileSync(namedWasm(dir));
  const data = sections(bytes).find((s) => s.id === 11);
  let lowest = Infinity;
  if (!data) return lowest;
  const reader = new Reader(bytes, data.bodyStart);
  for (let count = reader.u32(); count > 0; count--) {
    const flags = reader.u32();
    if (flags !== 1) {
      if (flags === 2) reader.u32(); // memory index
      const opcode = reader.byte();
      let offset = 0;
      if (opcode === 0x41) {
        // i32.const: a signed LEB128; addresses are its unsigned value.
        let shift = 0;
        let b;
        do {
          b = reader.byte();
          offset |= (b & 0x7f) << shift;
          shift += 7;
        } while (b & 0x80);
        offset >>>= 0;
        if (reader.byte() !== 0x0b) throw new Error('a data segment offset longer than one i32.const');
      } else {
        throw new Error(`a data segment offset starts with opcode 0x${opcode.toString(16)}, not i32.const`);
      }
      lowest = Math.min(lowest, offset);
    }
    const size = reader.u32();
    reader.offset += size;
  }
  return lowest;
}

function namedWasm(dir) {
  const input = path.join(dir, `${NAME}_bg.wasm`);
  if (!existsSync(input)) throw new Error(`${input} not found: run \`make pkg\` first`);
  return input;
}

/** The breakdown as aligned text lines. */
export function formatBreakdown(b) {
  const pct = (n) => `${((n / b.rawBytes) * 100).toFixed(1)} %`.padStart(7);
  return [
    `  wasm ${b.rawBytes} B raw (names stripped), by owner; gzip = that part compressed alone:`,
    ...b.groups.map((g) => `  ${pct(g.rawBytes)} ${String(g.rawBytes).padStart(7)} B raw ${String(g.gzipBytes).padStart(6)} B gzip  ${g.name}${g.functions ? ` (${g.functions} functions)` : ''}`),
    `  of which closures and async bodies ({{closure}}): ${b.closures} B raw (${pct(b.closures).trim()})`,
    '  largest functions:',
    ...b.largest.map((f) => `  ${String(f.rawBytes).padStart(7)} B  ${f.name}`),
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const pkgDir = args.find((a) => !a.startsWith('--')) ?? path.join(ROOT, 'pkg');
  // `--check` alone checks the named build only (build-pkg.sh runs it before pkg/ exists).
  if (!(args.length === 1 && args[0] === '--check')) console.log(formatPackageSizes(packageSizes(pkgDir)).join('\n'));
  if (args.includes('--breakdown')) console.log(formatBreakdown(wasmBreakdown()).join('\n'));
  if (args.includes('--check')) {
    const found = forbiddenFunctions();
    for (const f of found) console.error(`wasm-size: ${f.name} is in the package: ${f.why}`);
    const lowest = lowestDataAddress();
    if (lowest < LOW_MEMORY_BYTES) {
      console.error(`wasm-size: a data segment starts at ${lowest}, inside the first ${LOW_MEMORY_BYTES} bytes that \`wasm-opt --low-memory-unused\` (build-pkg.sh) assumes unused`);
    }
    if (found.length || lowest < LOW_MEMORY_BYTES) process.exit(1);
  }
}
