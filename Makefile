# twelvelabs-edge-upload — the README's two commands are `make demo` and `make test`.
# Every recipe sources scripts/env.sh (tool paths, the wasm-capable toolchain) after the bootstrap.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := . scripts/env.sh &&
CARGO_WASM := $(ENV) with_wasm_toolchain cargo
NODE_TESTS = $(shell find tests -name '*.test.mjs' -not -path '*/node_modules/*' | sort)

.PHONY: all bootstrap emulator pkg worker build lint fmt clippy test test-native test-browser \
        test-browser-webkit test-types test-node test-engines test-engines-gc e2e-large demo worker-dev bench lock-check

all: build

## Installs the toolchain and tools (idempotent; seconds when done).
bootstrap:
	@bash scripts/bootstrap.sh

## The TwelveLabs emulator (native, optimised).
emulator: bootstrap
	$(ENV) cargo build -q -p twelvelabs-emulator --profile emulator

## The npm package into pkg/.
pkg: bootstrap
	$(ENV) with_wasm_toolchain bash scripts/build-pkg.sh

## The Worker bundle into build/ (worker-build with local binaries).
worker: bootstrap
	$(ENV) with_wasm_toolchain bash scripts/build-worker.sh

build: emulator pkg worker

fmt:
	cargo fmt --all

## Formatting and clippy, native and both wasm32 features, warnings as errors.
lint: bootstrap
	$(ENV) cargo fmt --all -- --check
	$(ENV) cargo clippy -q --workspace --all-targets -- -D warnings
	$(CARGO_WASM) clippy -q --lib --target wasm32-unknown-unknown --features browser -- -D warnings
	$(CARGO_WASM) clippy -q --lib --target wasm32-unknown-unknown --features worker -- -D warnings
	@# The browser adapter stays split by concern: no file in src/browser over 600 lines.
	@long=$$(find src/browser -name '*.rs' -exec wc -l {} + | awk '$$2 != "total" && $$1 > 600'); \
	  if [ -n "$$long" ]; then echo "over 600 lines in src/browser:"; echo "$$long"; exit 1; fi

## Native unit, property, simulation and emulator HTTP tests.
test-native: bootstrap emulator
	$(ENV) cargo test --workspace
	$(ENV) cargo test --lib --features worker worker::

## wasm-bindgen tests in headless Chromium against the emulator and the Worker in workerd.
test-browser: emulator worker
	$(ENV) node tests/support/run-browser-tests.mjs

## The same wasm-bindgen tests in WebKit (WebKitGTK's MiniBrowser through WebKitWebDriver, under Xvfb).
## Firefox cannot run them: wasm-bindgen-test-runner needs geckodriver, which cannot be installed here.
test-browser-webkit: emulator worker
	$(ENV) node tests/engines/run-wasm-tests-webkit.mjs

## The generated TypeScript declarations, checked with tsc.
test-types: pkg
	$(ENV) tsc --noEmit -p tests/types/tsconfig.json

## Node tests: emulator wire-compat, Worker in workerd, the package in Node, end-to-end in Chromium.
test-node: emulator pkg worker
	$(ENV) node --test --test-concurrency=1 $(NODE_TESTS)

## The same scenarios in Chromium, Firefox and WebKit (tests/engines/), one engine after the other.
## ENGINES=firefox (or a space-separated list) runs fewer; each prints its version and wall-clock time.
ENGINES ?= chromium firefox webkit
test-engines: emulator pkg worker
	$(ENV) node --test --test-concurrency=1 $(foreach e,$(ENGINES),tests/engines/$(e).engine.mjs)

## An upload whose Uploader the page dropped survives a garbage collection, in every engine.
test-engines-gc: emulator pkg worker
	$(ENV) node --test --test-concurrency=1 tests/engines/uploader-gc.mjs

## npm ci with the committed lock still passes when the registry lacks other platforms' optional packages.
lock-check: bootstrap
	node scripts/check-lock-portable.mjs

## Everything, green. This is what CI runs.
test: bootstrap lock-check lint test-native test-browser test-browser-webkit test-types test-node test-engines test-engines-gc e2e-large
	@echo "make test: all tiers passed"

## The 1 GiB end-to-end upload through the page (also run by `make test`).
e2e-large: emulator pkg worker
	$(ENV) E2E_LARGE=1 node --test --test-concurrency=1 tests/e2e/large-upload.e2e.mjs

## Runs the product locally: emulator + Worker in workerd + the demo page.
demo: emulator pkg worker
	$(ENV) node scripts/demo.mjs

## Serves the already-built Worker (build/) in wrangler dev on 127.0.0.1:8787 (WORKER_PORT=… for
## another port), with wrangler.toml's [vars] and .dev.vars; never rebuilds (`make worker` does).
worker-dev: bootstrap
	$(ENV) node scripts/worker-dev.mjs

## Benchmarks (not part of `make test`).
bench: emulator pkg worker
	$(ENV) node bench/run.mjs
