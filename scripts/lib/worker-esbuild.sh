#!/usr/bin/env bash
# worker-build's esbuild step (scripts/build-worker.sh points ESBUILD_BIN here): when worker-build
# bundles its generated entry (`./shim.js`, next to the wasm-bindgen glue `index.js` in its staging
# directory), our own entry (src/worker/entry.js) is bundled in its place; then the real esbuild
# runs with worker-build's arguments unchanged. worker-build 0.8.7 has no option for its own
# entry except CUSTOM_SHIM, and that one also turns off the glue's abort handler and instance
# reset (it builds the legacy bundler output), which this Worker keeps.
set -euo pipefail
fail() { echo "worker-esbuild: $*" >&2; exit 1; }
[ -x "${WORKER_ESBUILD_REAL:-}" ] || fail "WORKER_ESBUILD_REAL must name the esbuild binary"
[ -f "${WORKER_ENTRY:-}" ] || fail "WORKER_ENTRY must name the Worker's entry module"
for arg in "$@"; do
  if [ "$arg" = "./shim.js" ]; then
    [ -f shim.js ] && [ -f index.js ] || fail "expected worker-build's shim.js and index.js in $PWD"
    # The entry calls the glue's `start` and `step` exports: fail the build if either is gone.
    for export in start step; do
      grep -Eq "^export function $export\\(" index.js || fail "the wasm-bindgen glue in $PWD exports no $export function"
    done
    cp "$WORKER_ENTRY" shim.js
  fi
done
exec "$WORKER_ESBUILD_REAL" "$@"
