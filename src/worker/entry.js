// The Worker's entry module: what workerd calls for each request. It replaces the shim that
// worker-build generates (scripts/build-worker.sh puts it in the shim's place), because that shim
// costs a fixed amount on every request that this Worker does not need: `Error.stackTraceLimit =
// 100` (every `Error` built, ours or the runtime's, captures 100 frames), and a `Proxy` around a
// per-request `WorkerEntrypoint` instance and another around its `fetch`, there to reset the wasm
// instance after a trap. The wasm-bindgen glue that worker-build builds (`./index.js`, with its
// abort handler) already does that reset on its own: a trap marks the instance terminated, and
// the next call into the wasm instantiates a fresh one before it runs.
//
// The request itself runs as a task in the wasm (src/worker/task.rs): `start` makes it, and each
// `step` polls it with how the promise it last returned settled, until it returns the Response.
// This loop only awaits what it is given; the wasm decides everything. Measured in
// BENCHMARKS.md ("The Worker's CPU per request against a hand-written JS Worker").
import { connect_refused_log_line, start, step } from './index.js';

export default {
  /**
   * workerd's handler for an HTTP `CONNECT`, called with the client's socket once workerd has
   * answered 200 itself. The Worker tunnels nothing: the socket is closed at once, and the request
   * gets its one log line (the wasm writes it).
   */
  async connect(socket) {
    console.log(connect_refused_log_line());
    try {
      await socket.close();
    } catch {
      // The client closed it first.
    }
  },

  /**
   * workerd's module-syntax handler. The request's task also runs under `waitUntil`: a client
   * that leaves cancels its request, and with it whatever the task had still to do after an
   * upstream call TwelveLabs already acted on (the asset's index key, the completion webhook,
   * the log line). Work handed to `waitUntil` is not cancelled with it.
   */
  fetch(request, env, ctx) {
    const answer = run(start(request, env, ctx));
    ctx.waitUntil(answer.then(settled, settled));
    return answer;
  },
};

const settled = () => {};

/** Steps `task` with how each promise it returns settles, until it returns the Response. */
async function run(task) {
  let fulfilled = true;
  let value;
  for (;;) {
    const next = step(task, fulfilled, value);
    if (next instanceof Response) return next;
    try {
      value = await next;
      fulfilled = true;
    } catch (reason) {
      value = reason;
      fulfilled = false;
    }
  }
}
