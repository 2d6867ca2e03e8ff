#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently.
# Each step checks first and does nothing when it is already done, so a second run takes seconds.
# Follows ../shared/TOOLCHAIN.md: the wasm32 std comes from rustup where it can, else from
# Debian's rustc-web with a std built once from source and linked as the `debian-web` toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE_DIR=$ROOT/target/bootstrap
mkdir -p "$STATE_DIR"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }
fail() { printf 'bootstrap: FAILED at step "%s": %s\n' "$CURRENT_STEP" "$*" >&2; exit 1; }
trap 'fail "command exited with status $? (line $LINENO)"' ERR
CURRENT_STEP=start

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  local missing=() log="$STATE_DIR/apt.log"
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "apt-get install ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then
    $SUDO apt-get update -qq >"$log" 2>&1 ||
      fail "apt-get update failed ($(grep -m1 -E '^(E|Err):' "$log")): Debian's mirror is unreachable or refused; full log: $log"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >"$log" 2>&1 ||
    fail "apt-get install ${missing[*]} failed ($(grep -m1 -E '^E:' "$log")). A package this machine's Debian release no longer ships needs its replacement named in scripts/bootstrap.sh; full log: $log"
}

wasm_std_present() { # $1 = rustup toolchain name or "" for the default
  local tc=${1:+"+$1"} dir
  dir=$(rustc $tc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || return 1
  compgen -G "$dir/libstd-*.rlib" >/dev/null
}

# 1. A toolchain that can target wasm32-unknown-unknown. The chosen name is written to
#    target/bootstrap/wasm-toolchain (empty = the default toolchain) for scripts/env.sh.
CURRENT_STEP="wasm32 toolchain"
WASM_TC=""
# TLEU_FORCE_DEBIAN_WASM=1 takes the Debian path even where rustup works (to test that path).
if [ "${TLEU_FORCE_DEBIAN_WASM:-}" = 1 ]; then
  step "TLEU_FORCE_DEBIAN_WASM=1: using the Debian rustc-web path"
  force_debian=1
else
  force_debian=""
fi
if [ -z "$force_debian" ] && wasm_std_present ""; then
  WASM_TC=""
elif wasm_std_present debian-web; then
  WASM_TC=debian-web
elif [ -z "$force_debian" ] && timeout 120 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && wasm_std_present ""; then
  step "installed wasm32-unknown-unknown with rustup"
  WASM_TC=""
else
  step "rustup cannot add wasm32 here: using Debian's rustc-web with a std built from source"
  apt_install rustc-web cargo-web rust-web-src rust-web-clippy lld-22
  D=/usr/lib/rustlib/wasm32-unknown-unknown/lib
  if ! compgen -G "$D/libstd-*.rlib" >/dev/null; then
    step "building the wasm32 standard library (about a minute)"
    tmp=$(mktemp -d)
    (
      cd "$tmp" && /usr/bin/cargo new -q --lib sysroot-build && cd sysroot-build
      RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" PATH=/usr/bin:$PATH \
        /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort,test
      $SUDO mkdir -p "$D"
      $SUDO cp target/wasm32-unknown-unknown/release/deps/lib*.rlib "$D"/
      $SUDO rm -f "$D"/libsysroot_build-*.rlib
    )
    rm -rf "$tmp"
  fi
  rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web /usr
  wasm_std_present debian-web || fail "debian-web toolchain has no wasm32 std after the build"
  WASM_TC=debian-web
fi
echo -n "$WASM_TC" > "$STATE_DIR/wasm-toolchain"
# clippy for the wasm toolchain
if [ "$WASM_TC" = debian-web ]; then apt_install rust-web-clippy; fi

# 2. Tools whose versions must equal the crates' versions in Cargo.lock.
lock_version() { # first version of package $1 in Cargo.lock
  awk -v n="$1" '$0=="name = \""n"\"" {getline; gsub(/version = |"/,""); print; exit}' Cargo.lock
}
tool_version() { "$1" --version 2>/dev/null | grep -oE "[0-9]+\.[0-9]+\.[0-9]+" | head -1; }
CURRENT_STEP="Cargo.lock"
[ -f Cargo.lock ] || cargo generate-lockfile
WB_VERSION=$(lock_version wasm-bindgen)
WORKER_VERSION=$(lock_version worker)
[ -n "$WB_VERSION" ] || fail "no wasm-bindgen in Cargo.lock"
[ -n "$WORKER_VERSION" ] || fail "no worker in Cargo.lock"

# Each tool is built from its .crate with the lock committed in scripts/tool-locks/ (see the README
# there): the same dependency versions on every machine, whatever the registry added or lost since.
cargo_install() { # $1 = crate, $2 = version
  local locks=$ROOT/scripts/tool-locks log="$STATE_DIR/cargo-install-$1.log" tmp src
  [ -f "$locks/$1-$2.Cargo.lock" ] ||
    fail "no committed lock for $1 $2: run scripts/update-tool-lock.sh $1 $2 and commit what it writes"
  # Outside the checkout: inside it, cargo would take the source for a member of our workspace.
  tmp=$(mktemp -d) src="$tmp/$1-$2"
  curl -sSf --retry 3 -o "$src.crate" "https://static.crates.io/crates/$1/$1-$2.crate" ||
    fail "could not download $1 $2 from static.crates.io"
  (cd "$tmp" && grep " $1-$2.crate\$" "$locks/SHA256SUMS" | sha256sum -c --status) ||
    fail "$1-$2.crate does not match scripts/tool-locks/SHA256SUMS"
  tar xzf "$src.crate" -C "$tmp"
  cp "$locks/$1-$2.Cargo.lock" "$src/Cargo.lock"
  cargo install -q --path "$src" --locked --force --root "$HOME/.cargo" \
      --target-dir "$STATE_DIR/tools-target" 2>"$log" ||
    fail "cargo install $1 $2 --locked failed: $(grep -m1 -E '^error' "$log" || tail -n1 "$log").
  Full log: $log. If the registry no longer serves a version that scripts/tool-locks/$1-$2.Cargo.lock
  names, pin one it serves (scripts/update-tool-lock.sh explains how) and commit the lock."
  rm -rf "$tmp"
}

CURRENT_STEP="wasm-bindgen-cli $WB_VERSION"
if [ "$(tool_version wasm-bindgen)" != "$WB_VERSION" ] ||
   ! command -v wasm-bindgen-test-runner >/dev/null; then
  step "cargo install wasm-bindgen-cli $WB_VERSION (about 4 minutes)"
  cargo_install wasm-bindgen-cli "$WB_VERSION"
fi

CURRENT_STEP="worker-build $WORKER_VERSION"
if [ "$(tool_version worker-build)" != "$WORKER_VERSION" ]; then
  step "cargo install worker-build $WORKER_VERSION (about 3 minutes)"
  cargo_install worker-build "$WORKER_VERSION"
fi

# 3. npm dev tooling (wrangler, esbuild, binaryen, playwright-core, typescript), exactly as locked.
CURRENT_STEP="npm ci"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  node scripts/check-lock.mjs || fail "package-lock.json is incomplete (see above)"
  npm ci --no-audit --no-fund --loglevel=error 2>"$STATE_DIR/npm-ci.log" ||
    fail "$(grep -m3 'npm error' "$STATE_DIR/npm-ci.log" || tail -n3 "$STATE_DIR/npm-ci.log").
  Full log: $STATE_DIR/npm-ci.log. If npm says the lock is out of sync with package.json, run
  'npm install --package-lock-only' and commit package-lock.json."
  touch node_modules/.package-lock.json
fi

# 4. Chromium and ChromeDriver for the browser and end-to-end tests.
CURRENT_STEP="chromium"
apt_install chromium chromium-driver

# 5. Firefox and WebKit for the engine tier (tests/engines/): Debian's Firefox ESR, driven by
#    puppeteer-core over WebDriver BiDi (no geckodriver), and WebKitGTK's MiniBrowser through
#    WebKitWebDriver, under an Xvfb display (MiniBrowser has no headless mode).
CURRENT_STEP="firefox and webkit"
apt_install firefox-esr webkit2gtk-driver xvfb
for binary in /usr/bin/firefox-esr /usr/bin/WebKitWebDriver /usr/bin/Xvfb; do
  [ -x "$binary" ] ||
    fail "$binary is missing although its package is installed: reinstall it (apt-get install --reinstall firefox-esr webkit2gtk-driver xvfb)"
done
compgen -G "/usr/lib/*/webkit2gtk-4.1/MiniBrowser" >/dev/null ||
  fail "WebKitGTK's MiniBrowser is missing (it comes with libwebkit2gtk-4.1-0, a dependency of webkit2gtk-driver): apt-get install --reinstall libwebkit2gtk-4.1-0"

step "ready (wasm toolchain: ${WASM_TC:-default}, wasm-bindgen $WB_VERSION, worker-build $WORKER_VERSION)"
