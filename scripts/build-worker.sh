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
# release profile is the browser package's, size-tuned) and the wasm-opt pass below. Size (`z`,
# `-Oz`) is kept on purpose. Measured with bench/profile-worker.mjs (5000 requests, 16 clients,
# median of 6 interleaved runs), after the Worker's per-request JS and runtime work was cut:
#   z/-Oz  create_session 0.536 ms CPU, presigned_batch_50 0.514 ms; wasm 211 KB gzipped
#   s/-Os                  0.512 ms,                        0.506 ms;      222 KB (+5 %)
#   3/-O3                  0.505 ms,                        0.500 ms;      252 KB (+19 %)
# (before that cut, 3/-O3 saved ~7-12 %; now the wasm is a small share of the CPU per request).
# Again on 2026-12-05, with requests run as tasks (src/worker/task.rs): 3/-O3 saved 1-5 %, for a
# wasm of 277 KB gzipped against 229 KB.
# A few % of CPU does not pay for a fifth more bundle to fetch and compile on every cold start.
# A deployment that prefers CPU can build with WORKER_OPT_LEVEL=3 WORKER_WASM_OPT=-O3.
WORKER_OPT_LEVEL=${WORKER_OPT_LEVEL:-z}
WORKER_WASM_OPT=${WORKER_WASM_OPT:--Oz}
export CARGO_PROFILE_RELEASE_OPT_LEVEL="$WORKER_OPT_LEVEL"

# worker-build passes arguments it does not know on to `cargo build`.
worker-build --release --features worker

WASM=build/index_bg.wasm
[ -f "$WASM" ] || fail "worker-build did not produce $WASM"
[ -f build/worker/shim.mjs ] || fail "worker-build did not produce build/worker/shim.mjs"
# worker-build's own shim sets this; ours does not (a sign the bundle's entry is ours).
! grep -q 'stackTraceLimit' build/index.js || fail "build/index.js holds worker-build's shim, not src/worker/entry.js"

# worker-build's own pass is `-O --debuginfo` (it keeps the names section). Optimise (for size by
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
