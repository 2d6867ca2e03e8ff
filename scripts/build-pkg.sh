#!/usr/bin/env bash
# Builds the npm package `twelvelabs-edge-upload` into pkg/ (what `make pkg` runs):
#   1. the crate for wasm32 with the `browser` feature (release profile: size-tuned),
#   2. wasm-bindgen --target web (an ES module that loads its .wasm next to itself),
#   3. wasm-opt, size passes (binaryen from node_modules: Debian's is too old for current rustc output),
#      then scripts/shrink-glue.mjs (short import names in the wasm and the glue, minified glue),
#   4. a Node ≥ 20 entry that loads the .wasm from disk synchronously,
#   5. the backend entry `twelvelabs-edge-upload/server` (js/server.js: webhook verification) and
#      the React bindings `twelvelabs-edge-upload/react` (js/react.js; `react` is a peer dependency),
#   6. package.json, README.md (from docs/npm-README.md), and prints raw/gzipped sizes against the
#      40 KB target (scripts/wasm-size.mjs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT_DIR=${PKG_OUT_DIR:-$ROOT/pkg}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NAME=twelvelabs_edge_upload
WASM_OPT=$ROOT/node_modules/.bin/wasm-opt
WASM_BINDGEN=${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}

step() { printf '\033[1mbuild-pkg:\033[0m %s\n' "$*"; }
die() { printf 'build-pkg: error: %s\n' "$*" >&2; exit 1; }

[ -n "$WASM_BINDGEN" ] || die "wasm-bindgen not found: run scripts/bootstrap.sh (make bootstrap) first"
[ -x "$WASM_OPT" ] || die "$WASM_OPT not found: run npm ci first"
lock_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
cli_version=$("$WASM_BINDGEN" --version | awk '{print $2}')
[ "$lock_version" = "$cli_version" ] ||
  die "wasm-bindgen CLI $cli_version does not match the crate version $lock_version in Cargo.lock"
version=$(awk -F'"' '/^\[package\]/{p=1} p && /^version *=/{print $2; exit}' Cargo.toml)
[ -n "$version" ] || die "could not read the package version from Cargo.toml"

step "cargo build (wasm32, release, --features browser)"
# Keep the `target_features` section wasm-bindgen reads (the profile strips symbols; wasm-opt
# strips the rest below, target_features included, once wasm-bindgen has read it).
CARGO_PROFILE_RELEASE_STRIP=debuginfo \
  cargo build --release --target wasm32-unknown-unknown --features browser --lib

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

step "wasm-bindgen --target web"
"$WASM_BINDGEN" --target web --out-dir "$staging" --out-name "$NAME" \
  "$TARGET_DIR/wasm32-unknown-unknown/release/$NAME.wasm"

step "wasm-opt --flatten --rereloop -Oz -Oz"
# Flattening and re-looping first, then two -Oz rounds, measured ~0.5 KB smaller gzipped than one
# -Oz (each round exposes more to the next; -O4 before -Oz and --converge were larger; adding
# --gufa, --merge-similar-functions, --inlining-optimizing or a third -Oz moved it by < 40 bytes).
# --low-memory-unused lets -Oz fold `load(p + C)` (C < 1024) into `load offset=C (p)`: 0.6 KB
# smaller gzipped. The two differ only when `p + C` wraps past 2^32 into the first KiB, which no
# pointer of this module does: rustc links the 1 MiB stack first (it starts at 1 MiB and grows
# down to 0) and the data and heap above it, all far below 4 GiB (`wasm-size.mjs --check` below
# fails the build if data is ever placed in the first KiB).
# The features rustc enables by default for wasm32-unknown-unknown; binaryen must accept them
# and must not introduce any others (the module has to load in every current browser).
wasm_opt_args=(--flatten --rereloop -Oz -Oz --low-memory-unused
  --strip-debug --strip-producers --strip-target-features
  --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-reference-types --enable-multivalue)
# The size breakdown (scripts/wasm-size.mjs --breakdown, `make bench`) re-runs these passes with
# names kept on this named copy.
named_dir=$TARGET_DIR/pkg-names
rm -rf "$named_dir" && mkdir -p "$named_dir"
cp "$staging/${NAME}_bg.wasm" "$named_dir/"
printf '%s\n' "${wasm_opt_args[@]}" >"$named_dir/wasm-opt-args"
# Fails the build if a function that costs kilobytes for nothing slipped in (e.g. `{:?}` of a str),
# or if data lies where --low-memory-unused assumes nothing is.
node scripts/wasm-size.mjs --check
"$WASM_OPT" "${wasm_opt_args[@]}" -o "$staging/${NAME}_bg.opt.wasm" "$staging/${NAME}_bg.wasm"
mv "$staging/${NAME}_bg.opt.wasm" "$staging/${NAME}_bg.wasm"

step "shrink the glue (short import names, minified JS)"
node scripts/shrink-glue.mjs "$staging/${NAME}_bg.wasm" "$staging/$NAME.js"
# The glue now holds the snippets it imported.
rm -rf "$staging/snippets"

# Node ≥ 20 cannot fetch() a file: URL, which is how the web target's default init finds the
# .wasm. This entry (selected by the "node" export condition) compiles it from disk at import,
# so `await init()` is a no-op there and the same code runs in browsers and Node.
cat > "$staging/node.js" <<JS
// Node ≥ 20 entry: loads the WebAssembly module from disk synchronously at import.
import { readFileSync } from 'node:fs';
import init, { initSync } from './$NAME.js';

initSync({ module: readFileSync(new URL('./${NAME}_bg.wasm', import.meta.url)) });

export * from './$NAME.js';
export default init;
JS
cat > "$staging/node.d.ts" <<TS
export * from './$NAME.js';
export { default } from './$NAME.js';
TS

# The backend's entry (plain JS on WebCrypto, no wasm): verifies the Worker's signed webhooks.
cp js/server.js js/server.d.ts "$staging/"
# The React hooks (plain JS over the queue's and the handle's snapshots; `react` stays external).
cp js/react.js js/react.d.ts "$staging/"
cp docs/npm-README.md "$staging/README.md"

cat > "$staging/package.json" <<JSON
{
  "name": "twelvelabs-edge-upload",
  "version": "$version",
  "description": "Resumable, concurrent browser uploads of large media to TwelveLabs through presigned URLs, with the API key kept on a Cloudflare Worker.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./$NAME.js",
  "module": "./$NAME.js",
  "types": "./$NAME.d.ts",
  "exports": {
    ".": {
      "types": "./$NAME.d.ts",
      "node": "./node.js",
      "default": "./$NAME.js"
    },
    "./server": {
      "types": "./server.d.ts",
      "default": "./server.js"
    },
    "./react": {
      "types": "./react.d.ts",
      "default": "./react.js"
    },
    "./${NAME}_bg.wasm": "./${NAME}_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "$NAME.js",
    "$NAME.d.ts",
    "${NAME}_bg.wasm",
    "${NAME}_bg.wasm.d.ts",
    "node.js",
    "node.d.ts",
    "server.js",
    "server.d.ts",
    "react.js",
    "react.d.ts",
    "README.md"
  ],
  "peerDependencies": { "react": ">=18" },
  "peerDependenciesMeta": { "react": { "optional": true } },
  "sideEffects": ["./node.js"],
  "engines": { "node": ">=20" },
  "keywords": ["twelvelabs", "upload", "multipart", "resumable", "wasm", "cloudflare-workers"]
}
JSON

# `InitOutput` lists the raw wasm exports (an ABI detail nobody calls); wasm-bindgen types their
# externref values as `any`. `unknown` is the honest type there, and keeps the file `any`-free.
sed -i '/^export interface InitOutput {/,/^}/s/\bany\b/unknown/g' "$staging/$NAME.d.ts"

# wasm-bindgen declares `[Symbol.dispose]()` on the exported classes. `Symbol.dispose` is typed
# by TypeScript's `esnext.disposable` lib (TS ≥ 5.2), which a project targeting ES2022 does not
# load by default: without this reference its type check fails inside our .d.ts unless the
# user adds the lib or `skipLibCheck` (tests/types type-checks without either).
if grep -q 'Symbol\.dispose' "$staging/$NAME.d.ts"; then
  { printf '/// <reference lib="esnext.disposable" />\n'; cat "$staging/$NAME.d.ts"; } >"$staging/$NAME.d.ts.new"
  mv "$staging/$NAME.d.ts.new" "$staging/$NAME.d.ts"
fi

# The public declarations must stay precise: fail the build if an `any` slips in.
if grep -nE '\bany\b' "$staging/$NAME.d.ts" "$staging/server.d.ts" "$staging/react.d.ts"; then
  die "the package's declarations contain 'any' (lines above): give those items precise types"
fi

rm -rf "$OUT_DIR"
mkdir -p "$(dirname "$OUT_DIR")"
cp -r "$staging" "$OUT_DIR"
chmod 755 "$OUT_DIR"

step "package twelvelabs-edge-upload@$version in $OUT_DIR"
node scripts/wasm-size.mjs "$OUT_DIR"
