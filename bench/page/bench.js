// The benchmark page. bench/run.mjs opens a fresh page per run, puts the benchmark file into
// #file and calls one of `window.bench.{ours, ceiling, uppy}`; each answers a plain JSON result.
// Every upload goes from this page's origin to the Worker (workerd, or wrangler dev) for the
// control plane and straight to the emulator's presigned storage for the bytes.
import init, { Uploader } from '/pkg/twelvelabs_edge_upload.js';

const config = await fetch('/bench-config.json').then((r) => r.json());
const { workerUrl } = config;
// `init()` answers the module's exports: its linear memory is what the memory benchmark samples.
const wasm = await init();

function benchFile() {
  const file = document.getElementById('file').files[0];
  if (!file) throw new Error('no benchmark file was set on #file');
  return file;
}

/** A fresh grant from the Worker's dev route (the demo's stand-in for an app backend). */
async function grant() {
  const res = await fetch(`${workerUrl}/dev/grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'bench' }),
  });
  if (!res.ok) throw new Error(`POST /dev/grant → ${res.status}: ${await res.text()}`);
  return (await res.json()).grant;
}

/** Calls the Worker's TwelveLabs-shaped API with a bearer token; throws on non-2xx. */
async function workerCall(method, path, token, body) {
  const res = await fetch(`${workerUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

const SESSIONS = '/v1.3/assets/multipart-uploads';

/** Samples the wasm linear memory size while an upload runs; answers the peak. */
function sampleWasmMemory(intervalMs) {
  let peak = wasm.memory.buffer.byteLength;
  const timer = setInterval(() => {
    peak = Math.max(peak, wasm.memory.buffer.byteLength);
  }, intervalMs);
  return () => {
    clearInterval(timer);
    return Math.max(peak, wasm.memory.buffer.byteLength);
  };
}

/**
 * Starts recording the browser's own Resource Timing entries for this upload (the page is fresh
 * per run, but the buffer's default 250 entries would not hold a 4 GiB upload's PUTs). Answers
 * a function that, called once the upload is over, gives every storage PUT as `{startMs,
 * endMs}` on the clock of `since()` (the upload's start): when the request started and when its
 * answer had fully arrived, as the network stack saw it. Ours and the ceiling are timed the same
 * way, with nothing of the bench's in the PUTs' path.
 */
function recordStoragePuts(since) {
  performance.setResourceTimingBufferSize(100000);
  performance.clearResourceTimings();
  return () =>
    performance
      .getEntriesByType('resource')
      .filter((e) => new URL(e.name).pathname.startsWith('/_storage/'))
      .map((e) => ({ startMs: e.startTime - since(), endMs: e.responseEnd - since() }));
}

/**
 * How well `puts` (`[{startMs, endMs}]`, ms since the upload began) kept `concurrency` lanes busy:
 * when the first PUT left, and how long, between the first and the last PUT's start, fewer than
 * `concurrency` PUTs were in flight (time the lanes sat idle while work remained), and how much
 * of that fell while a presigned-URL request (`urlCalls`, same clock) was in flight.
 */
function laneStats(puts, concurrency, urlCalls = []) {
  if (puts.length === 0) return null;
  const events = [];
  for (const p of puts) events.push([p.startMs, 1], [p.endMs, -1]);
  events.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const lastStart = Math.max(...puts.map((p) => p.startMs));
  const firstStart = Math.min(...puts.map((p) => p.startMs));
  let inFlight = 0;
  let at = firstStart;
  let underfilledMs = 0;
  let waitingForUrlsMs = 0;
  const overlapWithUrlCalls = (from, to) =>
    urlCalls.reduce((sum, c) => sum + Math.max(0, Math.min(to, c.endMs) - Math.max(from, c.startMs)), 0);
  for (const [time, delta] of events) {
    const until = Math.min(time, lastStart);
    if (until > at && inFlight < concurrency) {
      underfilledMs += until - at;
      waitingForUrlsMs += overlapWithUrlCalls(at, until);
    }
    at = Math.max(at, until);
    inFlight += delta;
  }
  // For each answered PUT, how long until the next PUT left (the lane's turnaround).
  const starts = puts.map((p) => p.startMs).sort((a, b) => a - b);
  const turnarounds = puts
    .map((p) => {
      const next = starts.find((t) => t >= p.endMs);
      return next === undefined ? null : next - p.endMs;
    })
    .filter((g) => g !== null)
    .sort((a, b) => a - b);
  const quantile = (q) => (turnarounds.length ? turnarounds[Math.floor(q * (turnarounds.length - 1))] : 0);
  const durations = puts.map((p) => p.endMs - p.startMs).sort((a, b) => a - b);
  return {
    putMs: {
      p50: +durations[Math.floor(0.5 * (durations.length - 1))].toFixed(1),
      mean: +(durations.reduce((a, b) => a + b, 0) / durations.length).toFixed(1),
    },
    turnaroundMs: { p50: +quantile(0.5).toFixed(2), p90: +quantile(0.9).toFixed(2), max: +quantile(1).toFixed(2) },
    firstPutStartMs: Math.round(firstStart),
    underfilledMs: Math.round(underfilledMs),
    underfilledDuringUrlCallsMs: Math.round(waitingForUrlsMs),
    puts: puts.length,
  };
}

/** Does nothing with its arguments; calling it keeps them alive until the call. */
function keepAlive(...values) {
  return values.length;
}

/**
 * Asks the bench (Node, over a Playwright binding) to force a garbage collection and read the
 * live heap, labelled `label`; answers once it has. Only the memory section installs the
 * binding; without it this does nothing.
 */
async function heapCheckpoint(label) {
  if (typeof window.benchHeapCheckpoint !== 'function') return;
  try {
    await window.benchHeapCheckpoint(label);
  } catch {
    /* the bench records what it could; a failed sample must not fail the upload */
  }
}

/**
 * Our package, as an app uses it. A counting `fetch` (the documented `fetch` option) records the
 * control-plane requests. Storage PUTs pass straight through it (one comparison), unless the
 * memory runs' heap checkpoints need to see each stored chunk; their timings come from Resource
 * Timing, as the ceiling's do, so the bench adds nothing to ours' hot path that it does not add
 * to the ceiling's.
 */
async function ours({ concurrency, memorySampleMs = 50, heapCheckpoints = false }) {
  const file = benchFile();
  const counts = { workerRequests: 0 };
  // With `heapCheckpoints`: the live heap is read after a forced GC each time another tenth of
  // the file has been acknowledged by the storage (10 %, 20 %, … 100 %), not awaited so the
  // upload runs on; and before the upload and after `done` while the handle is still held.
  let storedBytes = 0;
  let storedTenths = 0;
  // Every control-plane request with its start and end (ms since the upload began): where the
  // time between the last stored chunk and `done` goes.
  const controlPlane = [];
  let started = 0;
  const storagePuts = recordStoragePuts(() => started);
  const countingFetch = (url, init) => {
    const isPut = init && init.method === 'PUT';
    if (isPut && !heapCheckpoints) return fetch(url, init);
    const sentAt = performance.now();
    if (!isPut) counts.workerRequests += 1;
    const answer = fetch(url, init);
    answer.then(
      () => {
        const now = performance.now();
        if (isPut) {
          storedBytes += init.body?.size ?? init.body?.byteLength ?? 0;
          const tenths = Math.min(10, Math.floor((storedBytes * 10) / file.size));
          if (tenths > storedTenths) {
            storedTenths = tenths;
            heapCheckpoint(`${tenths * 10}%`);
          }
        } else {
          const { pathname } = new URL(url);
          const what = `${init?.method || 'GET'} ${pathname.replace(/[0-9a-f]{24}/g, '{id}')}`;
          controlPlane.push({ what, startMs: Math.round(sentAt - started), endMs: Math.round(now - started) });
        }
      },
      () => {},
    );
    return answer;
  };
  const uploader = new Uploader({
    endpoint: workerUrl,
    getToken: grant,
    concurrency,
    persist: false,
    progressIntervalMs: 1000,
    fetch: countingFetch,
  });
  if (heapCheckpoints) await heapCheckpoint('start');
  const wasmAtStart = wasm.memory.buffer.byteLength;
  const stopSampling = sampleWasmMemory(memorySampleMs);
  started = performance.now();
  const handle = uploader.upload(file, { type: 'video', filename: 'bench.mp4' });
  const asset = await handle.done;
  const ms = performance.now() - started;
  const wasmPeakBytes = stopSampling();
  if (heapCheckpoints) {
    await heapCheckpoint('end');
    // Used after the checkpoint, so the handle stays live through it (V8 keeps only the locals
    // a suspended async function still needs): what it retains is counted.
    keepAlive(handle);
  }
  uploader.free?.();
  const puts = storagePuts();
  return {
    bytes: file.size,
    ms,
    transferMs: Math.max(...puts.map((p) => p.endMs)),
    assetId: asset.id,
    requests: { storagePuts: puts.length, ...counts },
    controlPlane,
    lanes: laneStats(
      puts,
      concurrency,
      controlPlane.filter((c) => c.what.endsWith('/presigned-urls')),
    ),
    wasmAtStartBytes: wasmAtStart,
    wasmPeakBytes,
  };
}

/**
 * The ceiling: a session and every presigned URL minted beforehand (not timed), then a plain
 * loop of `concurrency` workers PUTting the same `Blob.slice` chunks. No engine, no reports.
 */
async function ceiling({ concurrency }) {
  const file = benchFile();
  const token = await grant();
  const session = await workerCall('POST', SESSIONS, token, {
    filename: 'ceiling.mp4',
    type: 'video',
    total_size: file.size,
  });
  const uploadToken = session.upload_token;
  const urls = new Map(session.upload_urls.map((u) => [u.chunk_index, u.url]));
  for (let start = 1; start <= session.total_chunks; start += 50) {
    const count = Math.min(50, session.total_chunks - start + 1);
    const missing = Array.from({ length: count }, (_, i) => start + i).some((i) => !urls.has(i));
    if (!missing) continue;
    const batch = await workerCall('POST', `${SESSIONS}/${session.upload_id}/presigned-urls`, uploadToken, {
      start,
      count,
    });
    for (const u of batch.upload_urls) if (!urls.has(u.chunk_index)) urls.set(u.chunk_index, u.url);
  }
  const chunkSize = session.chunk_size;
  const chunkBytes = (index) => Math.min(chunkSize, file.size - (index - 1) * chunkSize);
  let next = 1;
  let started = 0;
  const storagePuts = recordStoragePuts(() => started);
  const etags = new Map();
  const putOne = async (index) => {
    const begin = (index - 1) * chunkSize;
    const res = await fetch(urls.get(index), {
      method: 'PUT',
      body: file.slice(begin, begin + chunkBytes(index)),
      headers: session.upload_headers,
    });
    await res.arrayBuffer();
    const etag = res.headers.get('etag');
    if (!res.ok || !etag) throw new Error(`ceiling PUT ${index} → ${res.status}`);
    etags.set(index, etag);
  };
  started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next <= session.total_chunks) {
        const index = next;
        next += 1;
        await putOne(index);
      }
    }),
  );
  const ms = performance.now() - started;
  const puts = storagePuts();
  // Untimed: the session is completed so that the runner checks and deletes the asset, as it
  // does after ours and Uppy. Left behind, the ceiling's gigabyte of parts would be written back
  // to disk by the kernel during a later run, slowing whichever upload runs then.
  const completed = [...etags].map(([chunk_index, etag]) => ({
    chunk_index,
    proof: etag.replaceAll('"', ''),
    proof_type: 'etag',
    chunk_size: chunkBytes(chunk_index),
  }));
  let location = '';
  for (let i = 0; i < completed.length; i += 50) {
    const answer = await workerCall('POST', `${SESSIONS}/${session.upload_id}`, uploadToken, {
      completed_chunks: completed.slice(i, i + 50),
    });
    if (answer && answer.url) location = answer.url;
  }
  const assetId = location.match(/assets\/([0-9a-f]+)\/file/)?.[1];
  if (!assetId) throw new Error('the ceiling\'s last report did not complete the session');
  return {
    bytes: file.size,
    ms,
    transferMs: ms,
    assetId,
    requests: { storagePuts: puts.length },
    lanes: laneStats(puts, concurrency),
  };
}

/**
 * `@uppy/aws-s3` (bundled from npm by bench/run.mjs) driving a session through its multipart
 * hooks, each backed by the Worker: createMultipartUpload → create, signPart → presigned-urls
 * (one URL, just in time, as the hook is designed), listParts → status, completeMultipartUpload
 * → report (batches of 50, in parallel). Its `limit` is the same concurrency as ours.
 */
async function uppy({ concurrency, chunkSize }) {
  const { Uppy, AwsS3 } = await import('/dist/uppy.js');
  const file = benchFile();
  const counts = { storagePuts: 0, workerRequests: 0 };
  const sessions = new Map(); // upload_id → {token, headers}
  let lastPutAnsweredAt = 0;
  const call = (...args) => {
    counts.workerRequests += 1;
    return workerCall(...args);
  };
  const token = await grant();

  const instance = new Uppy({ autoProceed: false });
  instance.use(AwsS3, {
    limit: concurrency,
    shouldUseMultipart: true,
    // Uppy splits before the session exists: give it the emulator's chunk size.
    getChunkSize: () => chunkSize,
    async createMultipartUpload(f) {
      const session = await call('POST', SESSIONS, token, {
        filename: f.name,
        type: 'video',
        total_size: f.size,
      });
      sessions.set(session.upload_id, { token: session.upload_token, headers: session.upload_headers });
      return { uploadId: session.upload_id, key: session.asset_id };
    },
    async signPart(f, { uploadId, partNumber }) {
      const session = sessions.get(uploadId);
      const batch = await call('POST', `${SESSIONS}/${uploadId}/presigned-urls`, session.token, {
        start: partNumber,
        count: 1,
      });
      counts.storagePuts += 1;
      return { url: batch.upload_urls[0].url, headers: session.headers };
    },
    async listParts(f, { uploadId }) {
      // Only chunks the API already accepted count as done; their proof is already reported,
      // so completeMultipartUpload skips them (marked by a null ETag).
      const session = sessions.get(uploadId);
      const parts = [];
      for (let page = 1; ; page += 1) {
        const status = await call('GET', `${SESSIONS}/${uploadId}?page=${page}&page_limit=50`, session.token);
        const chunks = status.uploaded_chunks || [];
        for (const c of chunks) if (c.status === 'completed') parts.push({ PartNumber: c.index, ETag: null });
        if (chunks.length === 0 || page >= status.page_info.total_page) break;
      }
      return parts;
    },
    async completeMultipartUpload(f, { uploadId, parts }) {
      lastPutAnsweredAt = performance.now();
      const session = sessions.get(uploadId);
      const items = parts
        .filter((p) => p.ETag)
        .map((p) => ({
          chunk_index: p.PartNumber,
          proof: p.ETag.replaceAll('"', ''),
          proof_type: 'etag',
          chunk_size: Math.min(chunkSize, f.size - (p.PartNumber - 1) * chunkSize),
        }));
      const batches = [];
      for (let i = 0; i < items.length; i += 50) batches.push(items.slice(i, i + 50));
      const answers = await Promise.all(
        batches.map((completed_chunks) =>
          call('POST', `${SESSIONS}/${uploadId}`, session.token, { completed_chunks }),
        ),
      );
      const done = answers.find((a) => a && a.url);
      if (!done) throw new Error('the last report did not complete the session');
      return { location: done.url };
    },
    async abortMultipartUpload() {
      // The API has no abort: an unfinished session expires on its own.
    },
  });
  instance.addFile({ name: 'uppy.mp4', type: file.type || 'video/mp4', data: file });
  const started = performance.now();
  const result = await instance.upload();
  const ms = performance.now() - started;
  if (!result || result.failed?.length || result.successful?.length !== 1) {
    const why = result?.failed?.[0]?.error;
    throw new Error(`Uppy upload failed: ${why?.message || why || 'no result'}`);
  }
  const location = result.successful[0].uploadURL || '';
  const assetId = location.match(/assets\/([0-9a-f]+)\/file/)?.[1];
  instance.destroy();
  return { bytes: file.size, ms, transferMs: lastPutAnsweredAt - started, assetId, requests: counts };
}

window.bench = { ours, ceiling, uppy };
document.body.dataset.ready = 'true';
