// Worker latency and load: the same two control-plane calls (create a session; mint a batch of
// 50 presigned URLs), and a health check that makes no upstream call, made straight to the
// emulator ("direct") and through the same built Worker served two ways:
//   - "workerd": workerd itself from a capnp config (bench/lib/workerd.mjs), nothing in front;
//     the production runtime, so what it adds is the Worker's own cost;
//   - "wrangler dev": `wrangler dev` (tests/support/worker.mjs), which puts its local dev proxy
//     and Miniflare's entry worker in front of workerd.
// At 1, 16 and 128 concurrent clients, with autocannon on loopback. Every response time is kept
// (autocannon's own histogram has 1 ms resolution, too coarse for the difference being
// measured), so p50/p99 here are exact over the run. Bounded by request count and time.
//
// On a small machine the load generator (autocannon, in this Node process), the emulator and
// the Worker's runtime share the cores, so each run also records how many cores each of them
// kept busy (from /proc): when the sum reaches the machine's cores, part of every latency here
// is waiting for a CPU, not work.
import autocannon from 'autocannon';
import { getJson } from '../tests/support/harness.mjs';
import { cpuMeter } from './lib/cpu.mjs';
import { GIB, median } from './lib/stats.mjs';

/** Requests per measured run, by concurrency (bounded so the section takes minutes, not more). */
const REQUESTS = { 1: 300, 16: 1500, 128: 3000 };
/** A run stops after this many seconds even if it has not made all its requests. */
const MAX_SECONDS = 20;

/** How the Worker is served, in measurement order; `direct` is the emulator with no Worker. */
export const WORKER_SIDES = ['workerd', 'wrangler_dev'];

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * One autocannon run; answers {requests, errors, reqPerSec, p50Ms, p99Ms, seconds}. The rate is
 * taken from the responses' own timestamps: autocannon reports its end on its next one-second
 * tick, which would understate short runs.
 */
function load({ url, method, headers, body, connections, amount }) {
  return new Promise((resolve, reject) => {
    const times = [];
    let bad = 0;
    let firstSentAt;
    let lastAnsweredAt;
    const instance = autocannon(
      { url, method, headers, body, connections, amount, timeout: 20 },
      (err, result) => {
        clearTimeout(cap);
        if (err) {
          reject(err);
          return;
        }
        const requests = times.length + bad;
        const seconds = requests ? (lastAnsweredAt - firstSentAt) / 1000 : 0;
        times.sort((a, b) => a - b);
        resolve({
          requests,
          errors: result.errors + result.timeouts + bad,
          reqPerSec: seconds > 0 ? requests / seconds : 0,
          p50Ms: percentile(times, 50),
          p99Ms: percentile(times, 99),
          seconds,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const now = performance.now();
      firstSentAt = Math.min(firstSentAt ?? Infinity, now - responseTime);
      lastAnsweredAt = now;
      if (statusCode >= 200 && statusCode < 300) times.push(responseTime);
      else bad += 1;
    });
    const cap = setTimeout(() => instance.stop(), MAX_SECONDS * 1000);
  });
}

/**
 * Waits until none of the servers in `groups` keeps more than `threshold` of a core busy over a
 * `windowMs` window (at most `maxMs`): a server still working off the previous run (wrangler
 * dev streams the Worker's log lines to its Node process after the answers went out) would
 * otherwise take CPU from the next run. Answers how long it waited.
 */
async function settle(groups, { threshold = 0.15, windowMs = 250, maxMs = 5000 } = {}) {
  const started = performance.now();
  for (;;) {
    const stop = cpuMeter(groups);
    await new Promise((r) => setTimeout(r, windowMs));
    const cpu = stop();
    const busy = Object.keys(groups).some((name) => cpu[name] > threshold);
    const waited = performance.now() - started;
    if (!busy || waited >= maxMs) return waited;
  }
}

/** A grant and one session (for its upload token) minted through `workerUrl`. */
async function credentials(workerUrl, createBody) {
  const { grant } = await getJson(`${workerUrl}/dev/grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'bench-load', ttl_secs: 3600 }),
  });
  const session = await getJson(`${workerUrl}/v1.3/assets/multipart-uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${grant}`, 'content-type': 'application/json' },
    body: createBody,
  });
  return { grant, session };
}

/**
 * Measures each endpoint at each concurrency, direct and through every Worker in `workers`
 * (`{workerd: {url, pid}, wrangler_dev: {url, pid}}`; either may be absent), `runs` times each,
 * the order of the sides rotated every run, and answers medians, the Worker's added latency
 * and the CPU each process used.
 */
export async function workerLoad({ emulator, workers, runs, clients = [1, 16, 128], log }) {
  const sides = ['direct', ...WORKER_SIDES.filter((s) => workers[s])];
  const createBody = JSON.stringify({ filename: 'load.mp4', type: 'video', total_size: GIB });
  const json = { 'content-type': 'application/json' };
  const creds = {};
  for (const side of sides.slice(1)) creds[side] = await credentials(workers[side].url, createBody);
  // The session the direct presign calls use: the workerd one if measured (any will do; the
  // emulator treats them alike).
  const anySession = creds[sides[1]].session;
  const presignPath = (session) => `/v1.3/assets/multipart-uploads/${session.upload_id}/presigned-urls`;
  const presignBody = JSON.stringify({ start: 1, count: 50 });

  const through = (side, route) => ({ ...route, url: `${workers[side].url}${route.path}` });
  const targets = {
    // No upstream call: what a Worker server adds here is its own request path (for wrangler
    // dev: the dev proxy too), which every other route pays as well.
    healthz: {
      direct: { url: `${emulator.url}/_emulator/health`, method: 'GET' },
      worker: () => ({ path: '/healthz', method: 'GET' }),
    },
    create_session: {
      direct: { url: `${emulator.url}/v1.3/assets/multipart-uploads`, headers: { ...json, 'x-api-key': emulator.apiKey }, body: createBody },
      worker: (side) => ({ path: '/v1.3/assets/multipart-uploads', headers: { ...json, authorization: `Bearer ${creds[side].grant}` }, body: createBody }),
    },
    presigned_batch_50: {
      direct: { url: `${emulator.url}${presignPath(anySession)}`, headers: { ...json, 'x-api-key': emulator.apiKey }, body: presignBody },
      worker: (side) => ({
        path: presignPath(creds[side].session),
        headers: { ...json, authorization: `Bearer ${creds[side].session.upload_token}` },
        body: presignBody,
      }),
    },
  };
  // Every process whose CPU is measured, by process group.
  const groups = { emulator: emulator.pid };
  for (const side of sides.slice(1)) groups[side] = workers[side].pid;

  const out = {};
  for (const [name, target] of Object.entries(targets)) {
    const request = Object.fromEntries(sides.map((side) => [side, side === 'direct' ? target.direct : through(side, target.worker(side))]));
    // Warm-up (not counted): workerd compiles and caches the Worker's wasm, sockets open.
    for (const side of sides) await load({ method: 'POST', ...request[side], connections: 16, amount: 300 });
    out[name] = {};
    for (const connections of clients) {
      const measured = Object.fromEntries(sides.map((side) => [side, []]));
      for (let run = 0; run < runs; run++) {
        const order = sides.map((_, i) => sides[(i + run) % sides.length]);
        for (const side of order) {
          const settledMs = await settle(groups);
          const stopCpu = cpuMeter(groups);
          const result = await load({ method: 'POST', ...request[side], connections, amount: REQUESTS[connections] ?? 2000 });
          result.cpu = stopCpu({ activeMs: result.seconds * 1000 });
          result.settledMs = settledMs;
          // CPU ms each process spent per request answered.
          result.cpuMsPerRequest = Object.fromEntries(
            Object.entries(result.cpu).filter(([k]) => k !== 'others').map(([k, cores]) => [k, result.requests ? (cores * result.seconds * 1000) / result.requests : NaN]),
          );
          measured[side].push(result);
        }
      }
      const summarize = (list) => ({
        reqPerSec: median(list.map((r) => r.reqPerSec)),
        p50Ms: median(list.map((r) => r.p50Ms)),
        p99Ms: median(list.map((r) => r.p99Ms)),
        requests: list.reduce((n, r) => n + r.requests, 0),
        errors: list.reduce((n, r) => n + r.errors, 0),
        // Median cores each process kept busy during this side's runs.
        cpu: Object.fromEntries(Object.keys(list[0].cpu).map((k) => [k, median(list.map((r) => r.cpu[k]))])),
        cpuMsPerRequest: Object.fromEntries(Object.keys(list[0].cpuMsPerRequest).map((k) => [k, median(list.map((r) => r.cpuMsPerRequest[k]))])),
        runs: list.map(({ reqPerSec, p50Ms, p99Ms, requests, errors, cpu, cpuMsPerRequest, settledMs }) => ({
          reqPerSec, p50Ms, p99Ms, requests, errors, cpu, cpuMsPerRequest, settledMs,
        })),
      });
      const row = { direct: summarize(measured.direct) };
      const parts = [`direct ${row.direct.reqPerSec.toFixed(0)} req/s p99 ${row.direct.p99Ms.toFixed(2)} ms`];
      for (const side of sides.slice(1)) {
        const s = summarize(measured[side]);
        s.addedP50Ms = s.p50Ms - row.direct.p50Ms;
        s.addedP99Ms = s.p99Ms - row.direct.p99Ms;
        row[side] = s;
        parts.push(`${side} ${s.reqPerSec.toFixed(0)} req/s p99 ${s.p99Ms.toFixed(2)} ms (added ${s.addedP99Ms.toFixed(2)}; ` +
          `cpu ${s.cpu.total.toFixed(2)} cores + ${s.cpu.others.toFixed(2)} others, ${s.cpuMsPerRequest[side].toFixed(3)} ms/req in ${side})`);
      }
      out[name][connections] = row;
      log(`  ${name} × ${String(connections).padStart(3)}: ${parts.join('; ')}`);
    }
  }
  return out;
}
