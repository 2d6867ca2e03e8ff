# Sourced by the Makefile's recipes: puts the bootstrapped tools on PATH and selects the toolchain
# that can target wasm32 (recorded by scripts/bootstrap.sh).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
export CHROMEDRIVER=/usr/bin/chromedriver
export CHROMIUM_BIN=/usr/bin/chromium
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
TLEU_WASM_TOOLCHAIN="$(cat "$ROOT/target/bootstrap/wasm-toolchain" 2>/dev/null || true)"
export TLEU_WASM_TOOLCHAIN
# Runs a command with the wasm-capable toolchain selected (a no-op where the default one is).
with_wasm_toolchain() {
  if [ -n "$TLEU_WASM_TOOLCHAIN" ]; then RUSTUP_TOOLCHAIN="$TLEU_WASM_TOOLCHAIN" "$@"; else "$@"; fi
}
