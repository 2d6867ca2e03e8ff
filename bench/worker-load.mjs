// Worker latency and load: the same control-plane calls (create a session; mint a batch of 50
// presigned URLs; list the caller's assets, a page of 10 of the 51 they created through that Worker
// among 50 of another user's), and a health check that makes no upstream call,
// made straight to the emulator ("direct") and through the same built Worker served two ways:
//   - "workerd": workerd itself from a capnp config (bench/lib/workerd.mjs), nothing in front;
//     the production runtime, so what it adds is the Worker's own cost;
//   - "wrangler dev": `wrangler dev` (tests/support/worker.mjs), which puts its local dev proxy
//     and Miniflare's entry worker in front of workerd;
// and through the reference ("reference"): bench/reference-worker/, the same routes written as a
// plain JS Worker, in the same workerd binary with the same config, vars and secrets. Its CPU per
// request is the peer of ours (`worker_cpu_ratio_vs_js` in the report).
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
import { signToken } from '../tests/support/worker.mjs';
import { cpuMeter } from './lib/cpu.mjs';
import { GIB, median } from './lib/stats.mjs';

/** Requests per measured run, by concurrency (bounded so the section takes minutes, not more). */
const REQUESTS = { 1: 300, 16: 1500, 128: 3000 };
/** A run stops after this many seconds even if it has not made all its requests. */
const MAX_SECONDS = 20;

/** How the Worker is served, in measurement order; `direct` is the emulator with no Worker. */
export const WORKER_SIDES = ['workerd', 'wrangler_dev', 'reference'];

/** The user every load request is made as, and another one whose assets it must not see. */
const BENCH_SUB = 'bench-load';
const OTHER_SUB = 'bench-other';
/** Assets created through each Worker before the list route is measured, half the bench user's. */
export const LISTED_ASSETS = 100;
/** The list route's query: one page, as a client would ask for it. */
export const LIST_QUERY = '?page=1&page_limit=10';

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
export async function settle(groups, { threshold = 0.15, windowMs = 250, maxMs = 5000 } = {}) {
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

/** The routes measured, in order. `list_assets` goes before the session routes fill the emulator. */
export const ROUTES = ['healthz', 'list_assets', 'create_session', 'presigned_batch_50'];
const JSON_TYPE = { 'content-type': 'application/json' };
const CREATE_BODY = JSON.stringify({ filename: 'load.mp4', type: 'video', total_size: GIB });
const PRESIGN_BODY = JSON.stringify({ start: 1, count: 50 });

/**
 * A grant for the bench user, signed as an app's backend signs it (every Worker side shares
 * GRANT_SECRET), and one session (for its upload token) created through the Worker at `url`.
 */
export async function credentials(url, grantSecret) {
  // Within any sane cap on a grant's lifetime, and longer than the load section takes.
  const grant = signToken({ sub: BENCH_SUB, exp: Math.floor(Date.now() / 1000) + 3000 }, grantSecret);
  const session = await getJson(`${url}/v1.3/assets/multipart-uploads`, {
    method: 'POST',
    headers: { ...JSON_TYPE, authorization: `Bearer ${grant}` },
    body: CREATE_BODY,
  });
  return { grant, session };
}

/**
 * The measured requests (autocannon options, one per name in ROUTES) through the Worker at `url`,
 * as the bench user with `credentials`; also answers the `session` they use.
 */
export function workerRequests(url, { grant, session }) {
  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  return {
    session,
    // No upstream call: what a Worker server adds here is its own request path (for wrangler
    // dev: the dev proxy too), which every other route pays as well.
    healthz: { url: `${url}/healthz`, method: 'GET' },
    list_assets: { url: `${url}/v1.3/assets${LIST_QUERY}`, method: 'GET', headers: bearer(grant) },
    create_session: { url: `${url}/v1.3/assets/multipart-uploads`, method: 'POST', headers: { ...JSON_TYPE, ...bearer(grant) }, body: CREATE_BODY },
    presigned_batch_50: {
      url: `${url}/v1.3/assets/multipart-uploads/${session.upload_id}/presigned-urls`,
      method: 'POST',
      headers: { ...JSON_TYPE, ...bearer(session.upload_token) },
      body: PRESIGN_BODY,
    },
  };
}

/**
 * Creates `count` sessions (each reserves an asset) through the Worker at `url`, owned alternately
 * by the bench user and another user, so that the list route's page is cut from an index (or an
 * upstream page) that holds both users' assets and ownership filtering has work to do.
 */
export async function seedAssets(url, grantSecret, count) {
  const exp = Math.floor(Date.now() / 1000) + 600;
  const grants = [BENCH_SUB, OTHER_SUB].map((sub) => signToken({ sub, exp }, grantSecret));
  for (let i = 0; i < count; i++) {
    await getJson(`${url}/v1.3/assets/multipart-uploads`, {
      method: 'POST',
      headers: { ...JSON_TYPE, authorization: `Bearer ${grants[i % 2]}` },
      body: JSON.stringify({ filename: `seed-${i}.mp4`, type: 'video', total_size: 1000 }),
    });
  }
}

/**
 * Measures each endpoint at each concurrency, direct and through every Worker in `workers`
 * (`{workerd: {url, pid}, wrangler_dev: {url, pid}, reference: {url, pid}}`; any may be absent),
 * `runs` times each, the order of the sides rotated every run, and answers medians, the Worker's
 * added latency and the CPU each process used. `grantSecret` is the Workers' GRANT_SECRET.
 */
export async function workerLoad({ emulator, workers, grantSecret, runs, clients = [1, 16, 128], log }) {
  const sides = ['direct', ...WORKER_SIDES.filter((s) => workers[s])];
  const requests = {};
  for (const side of sides.slice(1)) {
    await seedAssets(workers[side].url, grantSecret, LISTED_ASSETS);
    requests[side] = workerRequests(workers[side].url, await credentials(workers[side].url, grantSecret));
  }
  // The session the direct presign calls use: the first Worker's (any will do; the emulator
  // treats them alike).
  const { upload_id: anyUploadId } = requests[sides[1]].session;
  const api = { 'x-api-key': emulator.apiKey };
  const direct = {
    healthz: { url: `${emulator.url}/_emulator/health`, method: 'GET' },
    list_assets: { url: `${emulator.apiUrl}/assets${LIST_QUERY}`, method: 'GET', headers: api },
    create_session: { url: `${emulator.apiUrl}/assets/multipart-uploads`, method: 'POST', headers: { ...JSON_TYPE, ...api }, body: CREATE_BODY },
    presigned_batch_50: {
      url: `${emulator.apiUrl}/assets/multipart-uploads/${anyUploadId}/presigned-urls`,
      method: 'POST',
      headers: { ...JSON_TYPE, ...api },
      body: PRESIGN_BODY,
    },
  };
  // Every process whose CPU is measured, by process group.
  const groups = { emulator: emulator.pid };
  for (const side of sides.slice(1)) groups[side] = workers[side].pid;

  const out = {};
  for (const name of ROUTES) {
    const request = Object.fromEntries(sides.map((side) => [side, side === 'direct' ? direct[name] : requests[side][name]]));
    // Warm-up (not counted): workerd compiles and caches the Worker's wasm, sockets open.
    for (const side of sides) await load({ ...request[side], connections: 16, amount: 300 });
    out[name] = {};
    for (const connections of clients) {
      const measured = Object.fromEntries(sides.map((side) => [side, []]));
      for (let run = 0; run < runs; run++) {
        const order = sides.map((_, i) => sides[(i + run) % sides.length]);
        for (const side of order) {
          const settledMs = await settle(groups);
          const stopCpu = cpuMeter(groups);
          const result = await load({ ...request[side], connections, amount: REQUESTS[connections] ?? 2000 });
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
