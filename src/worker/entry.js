// The Worker's entry module: what workerd calls for each request. It replaces the shim that
// worker-build generates (scripts/build-worker.sh puts it in the shim's place), because that shim
// costs a fixed amount on every request that this Worker does not need: `Error.stackTraceLimit =
// 100` (every `Error` built, ours or the runtime's, captures 100 frames), and a `Proxy` around a
// per-request `WorkerEntrypoint` instance and another around its `fetch`, there to reset the wasm
// instance after a trap. The wasm-bindgen glue that worker-build builds (`./index.js`, with its
// abort handler) already does that reset on its own: a trap marks the instance terminated, and
// the next call into the wasm instantiates a fresh one before it runs. Measured in BENCHMARKS.md
// ("The Worker's CPU per request against a hand-written JS Worker").
import { fetch as handle } from './index.js';

export default {
  /** workerd's module-syntax handler; `handle` is the Rust `#[event(fetch)]` function. */
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
};
