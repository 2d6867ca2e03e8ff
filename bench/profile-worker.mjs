// Where the Worker spends its CPU per request: the built Worker in workerd (as the load section
// runs it, nothing in front), under load from autocannon, profiled over workerd's V8 inspector;
// the profile summed by where the time went (our wasm, the wasm-bindgen/worker-build JS glue,
// workerd's native code outside JS, GC, idle) and by function.
//
//   node --experimental-websocket bench/profile-worker.mjs
//        [--route create_session|presigned_batch_50|list_assets|healthz] [--worker ours|reference|both]
//        [--clients 16] [--requests 3000] [--rounds 3] [--top 25] [--no-profile]
//
// `--no-profile` leaves the inspector off and prints only the CPU per request and the latency,
// for quick A/B checks of a change (the load section of `make bench` is the reference).
// `--worker reference` serves bench/reference-worker/ (the plain JS peer) instead of ours;
// `--worker both` (implies --no-profile) runs ours and the reference in turn for `--rounds`
// rounds (the order rotated every round, each run started once every workerd is idle, as in the
// load section) and prints worker_cpu_ratio_vs_js (ours ÷ reference CPU per request, median of
// rounds).
// `--alt DIR` (with `--worker both`) also serves another build of ours (DIR/index.js and
// DIR/index_bg.wasm, e.g. a copy of build/ from before a change) in the same rounds, and prints
// its ratio too and ours ÷ alt: a paired A/B of one change on the same machine load.
// `--alt-v8-flags="FLAGS"` starts the alt side's workerd with these V8 flags (space-separated;
// `--alt build` serves the same build), e.g. `--no-liftoff` to price V8's baseline tier:
// investigation only, Cloudflare sets its own flags in production. `--v8-flags="FLAGS"` does the
// same for every other side, e.g. `--perf-basic-prof` so that a native `perf record -g -p <workerd
// pid>` taken during a `--no-profile` run names JS and wasm frames. `--warmup N`: requests to
// each side before anything is measured (default 1000).
// (Node 20 needs the flag for its WebSocket client; Node ≥ 22 has it built in.) Writes
// target/bench/profile/worker-<route>.cpuprofile and -summary.json, prints the summary. Not
// part of `make bench`. The inspector itself costs some CPU: compare the CPU per request printed
// here with the load section's.
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../tests/support/harness.mjs';
import { groupCpuMs } from './lib/cpu.mjs';
import { formatProfile, isWasm, pseudoCategory, summarizeProfile } from './lib/cpuprofile.mjs';
import { benchWorkerEnv, OUT_DIR, startBenchEmulator } from './lib/services.mjs';
import { median, medianInterval } from './lib/stats.mjs';
import { builtWorkerModules, REFERENCE_WORKER_MODULES, startWorkerd } from './lib/workerd.mjs';
import { credentials, LISTED_ASSETS, ROUTES, seedAssets, settle, workerRequests } from './worker-load.mjs';

const { values } = parseArgs({
  options: {
    route: { type: 'string', default: 'create_session' },
    clients: { type: 'string', default: '16' },
    requests: { type: 'string', default: '3000' },
    worker: { type: 'string', default: 'ours' },
    rounds: { type: 'string', default: '3' },
    top: { type: 'string', default: '25' },
    'no-profile': { type: 'boolean', default: false },
    alt: { type: 'string' },
    'alt-v8-flags': { type: 'string' },
    'v8-flags': { type: 'string' },
    warmup: { type: 'string', default: '1000' },
  },
});
if (!['ours', 'reference', 'both'].includes(values.worker)) throw new Error('--worker: ours, reference or both');
if (values.alt && values.worker !== 'both') throw new Error('--alt needs --worker both');
if (values['alt-v8-flags'] && !values.alt) throw new Error('--alt-v8-flags needs --alt');
if (!ROUTES.includes(values.route)) throw new Error(`--route: one of ${ROUTES.join(', ')}`);
const profiling = !values['no-profile'] && values.worker !== 'both';
if (profiling && typeof WebSocket !== 'function') {
  throw new Error('no WebSocket client: run with `node --experimental-websocket` (Node 20)');
}
const PROFILE_DIR = path.join(OUT_DIR, 'profile');

/** The bucket a frame's self time goes to. */
function category(frame) {
  const pseudo = pseudoCategory(frame);
  if (pseudo) return pseudo;
  if (isWasm(frame)) return 'our wasm (Rust Worker)';
  if (/index\.js$/.test(frame.url)) return values.worker === 'reference' ? 'the reference Worker (JS)' : 'JS glue (wasm-bindgen + worker-build shim)';
  if (frame.url === '') return 'runtime built-ins (no URL)';
  return 'other JS';
}

/** A minimal CDP client over the inspector's WebSocket. */
async function connect(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map();
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(event.data);
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${message.error.message}`));
    else waiter.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

const load = (options) =>
  new Promise((resolve, reject) => autocannon(options, (err, result) => (err ? reject(err) : resolve(result))));

mkdirSync(PROFILE_DIR, { recursive: true });
const started = [];
try {
  const emulator = await startBenchEmulator();
  started.push(emulator);
  const inspectorPort = profiling ? await freePort() : undefined;
  const env = benchWorkerEnv(emulator);
  const servers = {};
  const names = values.worker === 'both' ? ['ours', ...(values.alt ? ['alt'] : []), 'reference'] : [values.worker];
  for (const name of names) {
    const modules =
      name === 'reference' ? { modules: REFERENCE_WORKER_MODULES } : name === 'alt' ? { modules: builtWorkerModules(values.alt) } : {};
    const flags = name === 'alt' && values['alt-v8-flags'] ? values['alt-v8-flags'] : values['v8-flags'];
    const v8Flags = flags ? flags.split(/\s+/) : undefined;
    const server = await startWorkerd({ ...env, ...modules, inspectorPort, v8Flags });
    started.push(server);
    await seedAssets(server.url, env.secrets.GRANT_SECRET, LISTED_ASSETS);
    const request = workerRequests(server.url, await credentials(server.url, env.secrets.GRANT_SECRET))[values.route];
    servers[name] = { server, request };
  }
  const connections = Number(values.clients);
  const amount = Number(values.requests);
  // Warm-up: the wasm is compiled and tiered up before anything is measured.
  for (const { request } of Object.values(servers)) await load({ ...request, connections, amount: Number(values.warmup) });

  if (!profiling) {
    const perRequest = Object.fromEntries(Object.keys(servers).map((name) => [name, []]));
    const rounds = values.worker === 'both' ? Number(values.rounds) : 1;
    for (let round = 0; round < rounds; round++) {
      // As the load section does: the order rotates every round, and each side starts once the
      // emulator and every workerd are idle, so no side always runs right after the same other one.
      const order = Object.keys(servers).map((_, i, all) => all[(i + round) % all.length]);
      for (const name of order) {
        const { server, request } = servers[name];
        await settle({ emulator: emulator.pid, ...Object.fromEntries(Object.entries(servers).map(([n, s]) => [n, s.server.pid])) });
        const cpuBefore = groupCpuMs(server.pid);
        const result = await load({ ...request, connections, amount });
        const cpuMs = groupCpuMs(server.pid) - cpuBefore;
        const answered = result.requests.total;
        perRequest[name].push(cpuMs / answered);
        process.stdout.write(
          `${values.route}, ${name}, ${connections} clients: ${answered} requests (${result.non2xx} not 2xx); workerd used ` +
            `${(cpuMs / 1000).toFixed(2)} s CPU, ${(cpuMs / answered).toFixed(3)} ms per request; latency p50 ` +
            `${result.latency.p50} ms, p99 ${result.latency.p99} ms (no inspector)\n`,
        );
      }
    }
    if (values.worker === 'both') {
      const ratios = perRequest.ours.map((ours, i) => ours / perRequest.reference[i]);
      const [low, high] = medianInterval(ratios);
      process.stdout.write(
        `${values.route}: ours ${median(perRequest.ours).toFixed(3)} ms, reference ${median(perRequest.reference).toFixed(3)} ms CPU per request ` +
          `(medians of ${rounds} rounds); worker_cpu_ratio_vs_js ${median(ratios).toFixed(3)} ` +
          `(95 % bootstrap interval ${low.toFixed(3)}-${high.toFixed(3)}; ${ratios.filter((r) => r < 1).length} of ${rounds} rounds below 1)\n`,
      );
    }
    if (values.alt) {
      const altRatio = median(perRequest.alt.map((alt, i) => alt / perRequest.reference[i]));
      const oursVsAlt = median(perRequest.ours.map((ours, i) => ours / perRequest.alt[i]));
      process.stdout.write(
        `${values.route}: alt (${values.alt}) ${median(perRequest.alt).toFixed(3)} ms, worker_cpu_ratio_vs_js ${altRatio.toFixed(3)}; ` +
          `ours ÷ alt ${oursVsAlt.toFixed(3)} (median of paired rounds)\n`,
      );
    }
  } else {
    // One profiled run of one Worker.
    const [[workerName, { server: worker, request }]] = Object.entries(servers);
    const cdp = await connect(`ws://127.0.0.1:${inspectorPort}/main`);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
    const cpuBefore = groupCpuMs(worker.pid);
    const t0 = performance.now();
    const result = await load({ ...request, connections, amount });
    const wallMs = performance.now() - t0;
    const cpuMs = groupCpuMs(worker.pid) - cpuBefore;
    const { profile } = await cdp.send('Profiler.stop');
    cdp.close();
    const file = path.join(PROFILE_DIR, `worker-${workerName}-${values.route}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const answered = result.requests.total;
    const summary = {
      worker: workerName,
      route: values.route,
      clients: connections,
      requests: answered,
      non_2xx: result.non2xx,
      workerd_cpu_ms: Math.round(cpuMs),
      workerd_cpu_ms_per_request: cpuMs / answered,
      // Includes autocannon's idle tail (it ends on a one-second tick).
      wall_ms: Math.round(wallMs),
      profile: summarizeProfile(profile, { category, top: Number(values.top) }),
    };
    writeFileSync(path.join(PROFILE_DIR, `worker-${workerName}-${values.route}-summary.json`), `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(
      [
        `${values.route}, ${workerName}, ${connections} clients: ${answered} requests (${result.non2xx} not 2xx); workerd used ${(cpuMs / 1000).toFixed(2)} s CPU, ` +
          `${summary.workerd_cpu_ms_per_request.toFixed(3)} ms per request (inspector attached)`,
        `JS-thread profile, ${(summary.profile.totalMs / 1000).toFixed(2)} s sampled:`,
        ...formatProfile(summary.profile),
        `profile: ${path.relative(process.cwd(), file)}`,
        '',
      ].join('\n'),
    );
  }
} finally {
  await Promise.allSettled(started.reverse().map((s) => s.stop()));
}
process.exit(0);
