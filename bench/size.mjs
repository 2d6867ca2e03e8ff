// Size: what a browser downloads for our package (the .wasm + the JS glue) and what the Worker
// deploys (worker-build's bundle), raw and gzip -9; Uppy's bundle for comparison.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../tests/support/harness.mjs';

function measure(files) {
  const parts = files.map((file) => {
    if (!existsSync(file)) throw new Error(`${file} not found: run \`make pkg worker\` first`);
    const bytes = readFileSync(file);
    return { file: path.relative(ROOT, file), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  return {
    parts,
    raw: parts.reduce((n, p) => n + p.raw, 0),
    gzip: parts.reduce((n, p) => n + p.gzip, 0),
  };
}

/** Answers `{browserPackage, worker, uppy?}`, each `{parts, raw, gzip}`. */
export function sizes({ uppyBundle } = {}) {
  const pkg = (name) => path.join(ROOT, 'pkg', name);
  const build = (name) => path.join(ROOT, 'build', name);
  return {
    browserPackage: measure([pkg('twelvelabs_edge_upload_bg.wasm'), pkg('twelvelabs_edge_upload.js')]),
    // What `wrangler deploy` uploads: the esbuild bundle (worker-build's shim is inlined in it)
    // and the module's .wasm.
    worker: measure([build('index_bg.wasm'), build('index.js')]),
    ...(uppyBundle ? { uppy: measure([uppyBundle]) } : {}),
  };
}
