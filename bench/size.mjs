// Size: what a browser downloads for our package (the .wasm + the JS glue, judged against the
// target), where the wasm's bytes go, and what the Worker deploys (worker-build's bundle), raw
// and gzip -9; Uppy's bundle for comparison.
import path from 'node:path';
import { fileSize, packageSizes, wasmBreakdown } from '../scripts/wasm-size.mjs';
import { ROOT } from '../tests/support/harness.mjs';

function measure(files) {
  const parts = files.map((file) => fileSize(file, 'make pkg worker'));
  return {
    parts,
    raw: parts.reduce((n, p) => n + p.raw, 0),
    gzip: parts.reduce((n, p) => n + p.gzip, 0),
  };
}

/**
 * Answers `{browserPackage, otherEntries, breakdown, worker, uppy?}`: the first and the last two
 * `{parts, raw, gzip}`, `otherEntries` the package's other JS entries (`{file, raw, gzip}`), and
 * `breakdown` the wasm by owner (scripts/wasm-size.mjs `wasmBreakdown`).
 */
export function sizes({ uppyBundle } = {}) {
  const pkg = packageSizes();
  const build = (name) => path.join(ROOT, 'build', name);
  return {
    browserPackage: { parts: [pkg.wasm, pkg.glue], raw: pkg.total.raw, gzip: pkg.total.gzip },
    otherEntries: pkg.entries,
    breakdown: wasmBreakdown(),
    // What `wrangler deploy` uploads: the esbuild bundle (worker-build's shim is inlined in it)
    // and the module's .wasm.
    worker: measure([build('index_bg.wasm'), build('index.js')]),
    ...(uppyBundle ? { uppy: measure([uppyBundle]) } : {}),
  };
}
