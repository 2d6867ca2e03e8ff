// Worker latency and load: the same two control-plane calls (create a session; mint a batch of
// 50 presigned URLs), and a health check as the baseline of the local dev server, made straight to the emulator and through the Worker (wrangler dev,
// workerd), at 1, 16 and 128 concurrent clients, with autocannon on loopback. Every response
// time is kept (autocannon's own histogram has 1 ms resolution, too coarse for the difference
// being measured), so p50/p99 here are exact over the run. Bounded by request count and time.
import autocannon from 'autocannon';
import { getJson } from '../tests/support/harness.mjs';
import { GIB, median } from './lib/stats.mjs';

/** Requests per measured run, by concurrency (bounded so the section takes minutes, not more). */
const REQUESTS = { 1: 300, 16: 1500, 128: 3000 };
/** A run stops after this many seconds even if it has not made all its requests. */
const MAX_SECONDS = 20;

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
 * Measures both endpoints at each concurrency, direct and through the Worker, `runs` times
 * each (direct and Worker alternating), and answers medians and the Worker's added latency.
 */
export async function workerLoad({ emulator, worker, runs, clients = [1, 16, 128], log }) {
  const { grant } = await getJson(`${worker.url}/dev/grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'bench-load', ttl_secs: 3600 }),
  });
  const createBody = JSON.stringify({ filename: 'load.mp4', type: 'video', total_size: GIB });
  // One session (through the Worker, so it has an upload token) to mint URL batches for.
  const session = await getJson(`${worker.url}/v1.3/assets/multipart-uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${grant}`, 'content-type': 'application/json' },
    body: createBody,
  });
  const presignPath = `/v1.3/assets/multipart-uploads/${session.upload_id}/presigned-urls`;
  const presignBody = JSON.stringify({ start: 1, count: 50 });
  const json = { 'content-type': 'application/json' };
  // `healthz` answers without calling upstream: what the Worker adds there is the cost of
  // wrangler dev's local proxy and workerd's request handling, which every other route pays too.
  const targets = {
    healthz: {
      direct: { url: `${emulator.url}/_emulator/health`, method: 'GET' },
      worker: { url: `${worker.url}/healthz`, method: 'GET' },
    },
    create_session: {
      direct: { url: `${emulator.url}/v1.3/assets/multipart-uploads`, headers: { ...json, 'x-api-key': emulator.apiKey }, body: createBody },
      worker: { url: `${worker.url}/v1.3/assets/multipart-uploads`, headers: { ...json, authorization: `Bearer ${grant}` }, body: createBody },
    },
    presigned_batch_50: {
      direct: { url: `${emulator.url}${presignPath}`, headers: { ...json, 'x-api-key': emulator.apiKey }, body: presignBody },
      worker: { url: `${worker.url}${presignPath}`, headers: { ...json, authorization: `Bearer ${session.upload_token}` }, body: presignBody },
    },
  };

  const out = {};
  for (const [name, pair] of Object.entries(targets)) {
    // Warm-up (not counted): workerd compiles and caches the Worker's wasm, sockets open.
    for (const side of ['direct', 'worker']) {
      await load({ method: 'POST', ...pair[side], connections: 16, amount: 300 });
    }
    out[name] = {};
    for (const connections of clients) {
      const measured = { direct: [], worker: [] };
      for (let run = 0; run < runs; run++) {
        const order = run % 2 ? ['worker', 'direct'] : ['direct', 'worker'];
        for (const side of order) {
          measured[side].push(
            await load({ method: 'POST', ...pair[side], connections, amount: REQUESTS[connections] ?? 2000 }),
          );
        }
      }
      const summarize = (list) => ({
        reqPerSec: median(list.map((r) => r.reqPerSec)),
        p50Ms: median(list.map((r) => r.p50Ms)),
        p99Ms: median(list.map((r) => r.p99Ms)),
        requests: list.reduce((n, r) => n + r.requests, 0),
        errors: list.reduce((n, r) => n + r.errors, 0),
      });
      const direct = summarize(measured.direct);
      const viaWorker = summarize(measured.worker);
      out[name][connections] = {
        direct,
        worker: viaWorker,
        addedP50Ms: viaWorker.p50Ms - direct.p50Ms,
        addedP99Ms: viaWorker.p99Ms - direct.p99Ms,
      };
      log(
        `  ${name} × ${String(connections).padStart(3)}: direct ${direct.reqPerSec.toFixed(0)} req/s p99 ${direct.p99Ms.toFixed(2)} ms; ` +
          `Worker ${viaWorker.reqPerSec.toFixed(0)} req/s p99 ${viaWorker.p99Ms.toFixed(2)} ms; errors ${direct.errors + viaWorker.errors}`,
      );
    }
  }
  return out;
}
