#!/usr/bin/env bash
# Builds the Cloudflare Worker bundle (what `make worker` runs): worker-build in release mode
# with the crate's `worker` feature, using local binaries only (worker-build would otherwise
# download wasm-bindgen, esbuild and wasm-opt from GitHub), then a size-focused wasm-opt pass,
# then prints the raw and gzipped sizes. The bundle's entry is ours (src/worker/entry.js, put in
# place of worker-build's generated shim by scripts/lib/worker-esbuild.sh; see there and the entry
# for why). Output: build/index.js + build/index_bg.wasm (build/worker/shim.mjs re-exports them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

fail() { echo "build-worker: $*" >&2; exit 1; }
command -v worker-build >/dev/null || fail "worker-build is not installed (run scripts/bootstrap.sh)"
WASM_BINDGEN_BIN=${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}
ESBUILD_BIN=${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}
WASM_OPT_BIN=${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}
for bin in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN" "$WASM_OPT_BIN"; do
  [ -x "$bin" ] || fail "$bin is missing (run scripts/bootstrap.sh)"
done
# worker-build runs esbuild through our wrapper, which bundles src/worker/entry.js as the entry.
export WORKER_ESBUILD_REAL="$ESBUILD_BIN" WORKER_ENTRY="$PWD/src/worker/entry.js"
ESBUILD_BIN="$PWD/scripts/lib/worker-esbuild.sh"
export WASM_BINDGEN_BIN ESBUILD_BIN WASM_OPT_BIN

# The wasm32 toolchain chosen by the bootstrap (empty = the default toolchain).
if [ -s target/bootstrap/wasm-toolchain ]; then
  export RUSTUP_TOOLCHAIN=$(cat target/bootstrap/wasm-toolchain)
fi

# Optimisation levels for the Worker: rustc's opt-level through Cargo's profile env var (Cargo.toml's
# release profile is the browser package's, size-tuned) and the wasm-opt pass below. The Worker is
# built for speed (`3`, `-O3`): its target is CPU per request against a hand-written JS Worker
# (`worker_cpu_ratio_vs_js` <= 1.0, BENCHMARKS.md), and its size only has to stay far below
# Cloudflare's script limit (3 MB gzipped on the free plan). Measured 2026-12-05 with
# bench/profile-worker.mjs (paired rounds, 16 clients, ours ÷ the size build): create session
# -6 %, presigned URLs -2 to -5 %, list -10 %, healthz -12 %; wasm 277 KB gzipped then (284 KB with today's code) against 231 KB.
# `s`/`-Os` saved 3-5 % for 246 KB; `+simd128` on top of `3` measured no gain.
# A deployment that prefers a smaller bundle can build with WORKER_OPT_LEVEL=z WORKER_WASM_OPT=-Oz.
WORKER_OPT_LEVEL=${WORKER_OPT_LEVEL:-3}
WORKER_WASM_OPT=${WORKER_WASM_OPT:--O3}
export CARGO_PROFILE_RELEASE_OPT_LEVEL="$WORKER_OPT_LEVEL"

# worker-build passes arguments it does not know on to `cargo build`.
worker-build --release --features worker

WASM=build/index_bg.wasm
[ -f "$WASM" ] || fail "worker-build did not produce $WASM"
[ -f build/worker/shim.mjs ] || fail "worker-build did not produce build/worker/shim.mjs"
# worker-build's own shim sets this; ours does not (a sign the bundle's entry is ours).
! grep -q 'stackTraceLimit' build/index.js || fail "build/index.js holds worker-build's shim, not src/worker/entry.js"

# worker-build's own pass is `-O --debuginfo` (it keeps the names section). Optimise (for speed by
# default, see above) and drop debug sections (names included: a profile with Rust function names
# needs CARGO_PROFILE_RELEASE_STRIP=none and this pass skipped), with the same wasm features worker-build enables (workerd supports
# exactly these; a newer encoding would not load).
"$WASM_OPT_BIN" "$WORKER_WASM_OPT" --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling \
  "$WASM" -o "$WASM.opt"
mv "$WASM.opt" "$WASM"

size_of() { wc -c <"$1" | tr -d ' '; }
gz_size_of() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
printf 'worker bundle: %s\n' "$WASM"
printf '  wasm: %8s bytes raw, %8s bytes gzip -9\n' "$(size_of "$WASM")" "$(gz_size_of "$WASM")"
for js in build/index.js build/worker/shim.mjs; do
  [ -f "$js" ] && printf '  %-22s %8s bytes raw, %8s bytes gzip -9\n' "$(basename "$js"):" "$(size_of "$js")" "$(gz_size_of "$js")"
done
