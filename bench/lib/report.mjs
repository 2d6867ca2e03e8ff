// Turns the measurements into the report: ratios, targets met or missed (and by how much),
// the terminal table, and the Markdown table BENCHMARKS.md shows.
import { PACKAGE_GZIP_TARGET_BYTES } from '../../scripts/wasm-size.mjs';
import { formatBytes, GIB, median, MIB, mibPerSec, round } from './stats.mjs';

/** The issue's targets. */
export const TARGETS = {
  ratioVsCeiling: 0.95,
  ratioVsUppy: 1.0,
  ratioVsOfficialSdk: 1.5,
  packageGzipBytes: PACKAGE_GZIP_TARGET_BYTES,
  workerAddedP99Ms: 5,
  workerTargetClients: 16,
  // Our Worker's CPU per request ÷ the reference JS Worker's, per route (bench/reference-worker/).
  workerCpuRatioVsJs: 1.0,
  // The page's main-thread CPU per GiB, ours ÷ the raw-fetch ceiling's (same run, paired rounds).
  pageCpuRatioVsCeiling: 1.5,
  // "Flat": the 4 GiB peak may exceed the 1 GiB peak by at most this fraction plus slack
  // (GC timing moves the JS heap's peak by a few hundred KiB from run to run).
  memoryGrowthFraction: 0.1,
  memoryGrowthSlackBytes: MIB,
};

/**
 * The median of per-round ratios `theirs[i] / ours[i]` (higher = ours faster): rounds run
 * back to back, so pairing them cancels most of the drift a shared machine adds over a run.
 */
const pairedRatio = (theirs, ours) => median(ours.map((o, i) => theirs[i] / o));

/** The ways the load section serves the Worker (see bench/worker-load.mjs), in table order. */
const LOAD_SIDES = ['workerd', 'wrangler_dev', 'reference'];
/** The sides that serve our Worker (the added-latency targets are theirs). */
const OUR_SIDES = ['workerd', 'wrangler_dev'];
const SIDE_LABEL = { workerd: 'workerd', wrangler_dev: 'wrangler dev', reference: 'reference JS, workerd' };
const SIDE_WHAT = {
  workerd: 'the built Worker in workerd from a capnp config, nothing in front (the production runtime)',
  wrangler_dev: "the same Worker behind wrangler dev's local proxy and Miniflare's entry worker",
};

/** A load row in the current shape; runs before workerd was measured only had `worker` (wrangler dev). */
function normalizeLoadRow(r) {
  if (r.worker && !r.wrangler_dev) {
    return { direct: r.direct, wrangler_dev: { ...r.worker, addedP50Ms: r.addedP50Ms, addedP99Ms: r.addedP99Ms } };
  }
  return r;
}

const ms = (n) => `${(n / 1000).toFixed(2)} s`;
const rate = (bytes, t) => `${mibPerSec(bytes, t).toFixed(0)} MiB/s`;
const x = (n) => `${n.toFixed(2)}×`;

/**
 * Builds the report object (written as report.json) from the sections' results; sections that
 * did not run are absent.
 */
export function buildReport({ options, machine, loadBefore, browser, memory, node, size, load }) {
  const report = {
    generated_at: new Date().toISOString(),
    command: options.command,
    options: options.values,
    machine,
    load_average_before: round(loadBefore),
    under_load: loadBefore >= 1.5,
    targets: [],
  };
  const target = (name, value, goal, met, shortfall, unit, reason) =>
    report.targets.push({ name, value: round(value, 3), target: goal, met, shortfall: met ? null : shortfall, unit, ...(reason ? { reason } : {}) });

  if (browser) {
    const { ours, ceiling, uppy } = browser;
    // Raw results from before the page's CPU was measured lack it.
    const hasPageCpu = [ours, ceiling, uppy].every((k) => k.runs.every((r) => Number.isFinite(r.pageCpuMs)));
    const side = (s) => ({
      median_ms: round(s.medianMs),
      median_transfer_ms: round(s.medianTransferMs),
      mib_per_s: round(mibPerSec(s.bytes, s.medianMs)),
      runs_ms: s.runs.map((r) => round(r.ms)),
      runs_transfer_ms: s.runs.map((r) => round(r.transferMs)),
      // Main-thread CPU of the page per GiB uploaded (CDP TaskDuration around the upload call).
      ...(hasPageCpu ? {
        median_page_cpu_ms_per_gib: round(s.medianPageCpuMs / (s.bytes / GIB), 0),
        runs_page_cpu_ms: s.runs.map((r) => round(r.pageCpuMs)),
      } : {}),
    });
    report.throughput_browser = {
      file_bytes: ours.bytes,
      concurrency: options.values.concurrency,
      page_worker: options.values.page_worker,
      ours: {
        ...side(ours),
        median_finalize_ms: round(ours.medianMs - ours.medianTransferMs),
        // Control-plane requests of the last run, ms since the upload began: the evidence for
        // where the time between the last stored chunk and `done` goes.
        control_plane_timeline: ours.runs.at(-1).controlPlane,
      },
      ceiling: side(ceiling),
      uppy: { ...side(uppy), median_finalize_ms: round(uppy.medianMs - uppy.medianTransferMs) },
      ratio_vs_ceiling: round(pairedRatio(ceiling.runs.map((r) => r.ms), ours.runs.map((r) => r.ms)), 3),
      ratio_vs_ceiling_transfer: round(pairedRatio(ceiling.runs.map((r) => r.ms), ours.runs.map((r) => r.transferMs)), 3),
      ratio_vs_uppy: round(pairedRatio(uppy.runs.map((r) => r.ms), ours.runs.map((r) => r.ms)), 3),
      // Lower is better: ours' main-thread CPU ÷ the ceiling's, per round (same file, so per GiB alike).
      ...(hasPageCpu ? {
        page_cpu_ratio_vs_ceiling: round(median(ours.runs.map((r, i) => r.pageCpuMs / ceiling.runs[i].pageCpuMs)), 3),
      } : {}),
    };
    const b = report.throughput_browser;
    if (hasPageCpu) {
      target('page_cpu_ratio_vs_ceiling (main-thread CPU per GiB, ours ÷ ceiling)', b.page_cpu_ratio_vs_ceiling, `≤ ${TARGETS.pageCpuRatioVsCeiling}`,
        b.page_cpu_ratio_vs_ceiling <= TARGETS.pageCpuRatioVsCeiling,
        `${round((b.page_cpu_ratio_vs_ceiling - TARGETS.pageCpuRatioVsCeiling) * 100, 1)} points over`, '×',
        `ours ${b.ours.median_page_cpu_ms_per_gib} ms, the ceiling ${b.ceiling.median_page_cpu_ms_per_gib} ms of main-thread CPU per GiB; median of ${ours.runs.length} paired rounds`);
    }
    target('browser throughput vs ceiling (end to end)', b.ratio_vs_ceiling, `≥ ${TARGETS.ratioVsCeiling}×`,
      b.ratio_vs_ceiling >= TARGETS.ratioVsCeiling, `${round((TARGETS.ratioVsCeiling - b.ratio_vs_ceiling) * 100, 1)} points short`, '×');
    target('browser throughput vs ceiling (transfer only)', b.ratio_vs_ceiling_transfer, `≥ ${TARGETS.ratioVsCeiling}×`,
      b.ratio_vs_ceiling_transfer >= TARGETS.ratioVsCeiling, `${round((TARGETS.ratioVsCeiling - b.ratio_vs_ceiling_transfer) * 100, 1)} points short`, '×');
    target('browser throughput vs @uppy/aws-s3', b.ratio_vs_uppy, `≥ ${TARGETS.ratioVsUppy}×`,
      b.ratio_vs_uppy >= TARGETS.ratioVsUppy, `${round((TARGETS.ratioVsUppy - b.ratio_vs_uppy) * 100, 1)} points short`, '×');
    const perGiB = (n) => round(n / (ours.bytes / GIB), 1);
    report.control_plane_browser = {
      ours_worker_requests_per_gib: perGiB(median(ours.runs.map((r) => r.requests.workerRequests))),
      ours_upstream_api_requests_per_gib: perGiB(median(ours.runs.map((r) => r.upstream.api))),
      uppy_worker_requests_per_gib: perGiB(median(uppy.runs.map((r) => r.requests.workerRequests))),
      uppy_upstream_api_requests_per_gib: perGiB(median(uppy.runs.map((r) => r.upstream.api))),
    };
  }

  if (memory) {
    const { small, large } = memory;
    const flat = (a, b) => b <= a * (1 + TARGETS.memoryGrowthFraction) + TARGETS.memoryGrowthSlackBytes;
    const hasLive = (m) => Number.isFinite(m.livePeakBytes);
    const side = (m) => ({
      file_bytes: m.bytes,
      runs: m.runs,
      wasm_start_bytes: m.wasmStartBytes,
      wasm_peak_bytes: m.wasmPeakBytes,
      js_heap_start_used_bytes: m.heapStartUsedBytes,
      // Raw `usedSize` peak, sampled every 100 ms: includes garbage not yet collected.
      js_heap_peak_used_bytes: m.heapPeakUsedBytes,
      js_heap_peak_total_bytes: m.heapPeakTotalBytes,
      heap_samples: m.heapSamples,
      // Live heap after a forced full GC: before the upload, peak over every tenth of the file
      // acknowledged and after `done` (handle still held), and after `done`.
      ...(hasLive(m)
        ? {
            js_heap_live_start_bytes: m.liveStartBytes,
            js_heap_live_peak_bytes: m.livePeakBytes,
            js_heap_live_end_bytes: m.liveEndBytes,
            live_checkpoints: m.liveCheckpoints,
            per_run: m.perRun?.map((r) => ({
              ms: round(r.ms),
              wasm_peak_bytes: r.wasmPeakBytes,
              js_heap_peak_used_bytes: r.heapPeakUsedBytes,
              js_heap_live_peak_bytes: r.livePeakBytes,
              js_heap_live_peak_at: r.livePeakLabel,
              live_checkpoints: r.live,
            })),
          }
        : {}),
      median_ms: round(m.medianMs),
    });
    report.memory = { small: side(small) };
    if (large) {
      report.memory.large = side(large);
      const growth = (a, b) => `${formatBytes(b - a)} more at ${formatBytes(large.bytes)} than at ${formatBytes(small.bytes)}`;
      const wasmFlat = flat(small.wasmPeakBytes, large.wasmPeakBytes);
      report.memory.wasm_flat = wasmFlat;
      target(`wasm memory peak, ${formatBytes(large.bytes)} vs ${formatBytes(small.bytes)}`, large.wasmPeakBytes / small.wasmPeakBytes,
        'flat', wasmFlat, growth(small.wasmPeakBytes, large.wasmPeakBytes), '×');
      // The raw peak moves with GC timing (a longer upload has more chances of a late GC); it
      // is reported, but "grows with file size" means retention, judged on the post-GC heap.
      report.memory.js_heap_raw_peak_within_tolerance = flat(small.heapPeakUsedBytes, large.heapPeakUsedBytes);
      if (hasLive(small) && hasLive(large)) {
        const liveFlat = flat(small.livePeakBytes, large.livePeakBytes);
        report.memory.js_heap_live_flat = liveFlat;
        target(`JS heap live after GC, peak, ${formatBytes(large.bytes)} vs ${formatBytes(small.bytes)}`, large.livePeakBytes / small.livePeakBytes,
          'flat', liveFlat, growth(small.livePeakBytes, large.livePeakBytes), '×',
          `medians of ${small.runs} and ${large.runs} runs; ${formatBytes(small.livePeakBytes)} → ${formatBytes(large.livePeakBytes)}, ` +
            `tolerance ${TARGETS.memoryGrowthFraction * 100} % + ${formatBytes(TARGETS.memoryGrowthSlackBytes)}`);
      } else {
        // A run from before the post-GC checkpoints: the raw peak is all there is.
        const heapFlat = flat(small.heapPeakUsedBytes, large.heapPeakUsedBytes);
        report.memory.js_heap_flat = heapFlat;
        target(`JS heap peak, ${formatBytes(large.bytes)} vs ${formatBytes(small.bytes)}`, large.heapPeakUsedBytes / small.heapPeakUsedBytes,
          'flat', heapFlat, growth(small.heapPeakUsedBytes, large.heapPeakUsedBytes), '×');
      }
    }
  }

  if (node) {
    const side = (s) => ({
      median_ms: round(s.medianMs),
      mib_per_s: round(s.mibPerSec),
      runs_ms: s.runs.map((r) => round(r.ms)),
      api_requests: s.apiRequests,
      api_requests_per_gib: round(s.apiRequests / (s.bytes / GIB), 1),
      storage_puts: s.storagePuts,
      max_rss_bytes: s.maxRssBytes,
      // CPU time of the uploading process during the upload, and of the emulator meanwhile.
      ...(Number.isFinite(s.cpuMs) ? { median_cpu_ms: round(s.cpuMs), median_emulator_cpu_ms: round(s.emulatorCpuMs) } : {}),
      ...(Number.isFinite(s.machineCores) ? { median_machine_busy_cores: round(s.machineCores, 2) } : {}),
    });
    const pair = ({ ours, sdk }) => ({
      ours: side(ours),
      official_sdk: side(sdk),
      ratio_vs_official_sdk: round(pairedRatio(sdk.runs.map((r) => r.ms), ours.runs.map((r) => r.ms)), 3),
    });
    report.throughput_node = {
      file_bytes: node.ours.bytes,
      concurrency: options.values.concurrency,
      ...pair(node),
      ...(node.latency ? { with_latency: { latency_ms_per_request: node.latency.latencyMs, ...pair(node.latency) } } : {}),
    };
    const n = report.throughput_node;
    const verdict = (name, ratio, reason) =>
      target(name, ratio, `≥ ${TARGETS.ratioVsOfficialSdk}×`, ratio >= TARGETS.ratioVsOfficialSdk,
        `${round((TARGETS.ratioVsOfficialSdk - ratio) * 100, 1)} points short`, '×', reason);
    const cpuNote = (p) => (p.ours.median_cpu_ms !== undefined
      ? `per upload: ours ${ms(p.ours.median_cpu_ms)} CPU / ${ms(p.ours.median_ms)} wall with the emulator at ${ms(p.ours.median_emulator_cpu_ms)} CPU; ` +
        `SDK ${ms(p.official_sdk.median_cpu_ms)} CPU / ${ms(p.official_sdk.median_ms)} wall with the emulator at ${ms(p.official_sdk.median_emulator_cpu_ms)} CPU`
      : undefined);
    verdict('Node throughput vs official SDK uploadFile, loopback', n.ratio_vs_official_sdk, cpuNote(n));
    if (n.with_latency) {
      const l = n.with_latency;
      verdict(`Node throughput vs official SDK uploadFile, +${l.latency_ms_per_request} ms per request`, l.ratio_vs_official_sdk,
        `emulator --latency-ms ${l.latency_ms_per_request} (every API and storage request); ${cpuNote(l) ?? ''}`.replace(/; $/, ''));
    }
    report.control_plane = {
      ours_api_requests_per_gib: n.ours.api_requests_per_gib,
      official_sdk_api_requests_per_gib: n.official_sdk.api_requests_per_gib,
    };
  }

  if (size) {
    const side = (s) => ({ raw_bytes: s.raw, gzip_bytes: s.gzip, parts: s.parts });
    report.size = {
      browser_package: side(size.browserPackage),
      // Shipped JS a browser loads only where it is imported (the Node and server entries, subpaths).
      ...(size.otherEntries ? { other_js_entries: size.otherEntries } : {}),
      // Where the wasm's bytes go, by owner (scripts/wasm-size.mjs).
      ...(size.breakdown ? { wasm_breakdown: size.breakdown } : {}),
      worker_bundle: side(size.worker),
      ...(size.uppy ? { uppy_core_aws_s3_bundle: side(size.uppy) } : {}),
    };
    const gz = size.browserPackage.gzip;
    target('browser package (wasm + JS glue), gzip -9', gz, `≤ ${TARGETS.packageGzipBytes} B`,
      gz <= TARGETS.packageGzipBytes, `${gz - TARGETS.packageGzipBytes} B (${round(((gz - TARGETS.packageGzipBytes) / TARGETS.packageGzipBytes) * 100, 1)} %) over`, 'B');
  }

  if (load) {
    report.worker_load = {};
    let errors = 0;
    const nproc = machine?.nproc;
    const cpuSide = (cpu) => (cpu ? Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round(v, 2)])) : undefined);
    const side = (s) => ({
      req_per_s: round(s.reqPerSec, 0),
      p50_ms: round(s.p50Ms, 3),
      p99_ms: round(s.p99Ms, 3),
      requests: s.requests,
      errors: s.errors,
      // Median cores kept busy during this side's runs: loadgen (autocannon, the bench's own
      // process), emulator, each Worker server, and their total.
      cpu_cores: cpuSide(s.cpu),
      // Median CPU ms each of them spent per request answered.
      cpu_ms_per_request: s.cpuMsPerRequest
        ? Object.fromEntries(Object.entries(s.cpuMsPerRequest).filter(([k]) => k !== 'total' && k !== 'others').map(([k, v]) => [k, round(v, 3)]))
        : undefined,
    });
    for (const [endpoint, byClients] of Object.entries(load)) {
      report.worker_load[endpoint] = {};
      for (const [clients, raw] of Object.entries(byClients)) {
        const r = normalizeLoadRow(raw);
        const entry = { direct: side(r.direct) };
        errors += r.direct.errors;
        for (const name of LOAD_SIDES) {
          if (!r[name]) continue;
          entry[name] = { ...side(r[name]), added_p50_ms: round(r[name].addedP50Ms, 3), added_p99_ms: round(r[name].addedP99Ms, 3) };
          errors += r[name].errors;
        }
        report.worker_load[endpoint][clients] = entry;
      }
    }
    // The target at 16 clients, for each way of serving the Worker, with what explains it.
    for (const [endpoint, byClients] of Object.entries(report.worker_load)) {
      if (endpoint === 'healthz') continue;
      const r = byClients[TARGETS.workerTargetClients];
      if (!r) continue;
      for (const name of OUR_SIDES) {
        const s = r[name];
        if (!s) continue;
        const health = report.worker_load.healthz?.[TARGETS.workerTargetClients]?.[name];
        const why = [SIDE_WHAT[name]];
        if (health) why.push(`healthz (no upstream call) adds ${health.added_p99_ms} ms p99 through it at ${TARGETS.workerTargetClients} clients`);
        if (s.cpu_ms_per_request) {
          const perRequest = s.cpu_ms_per_request[name];
          // workerd runs the Worker on one thread: requests in flight take turns on it.
          why.push(name === 'workerd'
            ? `workerd spent ${perRequest} ms CPU per request on its one JS thread, so ${TARGETS.workerTargetClients} requests in flight ` +
              `wait about ${round(perRequest * TARGETS.workerTargetClients, 1)} ms for each other`
            : `wrangler dev (proxy and workerd) spent ${perRequest} ms CPU per request`);
        }
        if (s.cpu_cores) {
          why.push(`cores busy: load generator ${s.cpu_cores.loadgen}, ${SIDE_LABEL[name]} ${s.cpu_cores[name]}, emulator ${s.cpu_cores.emulator}` +
            `${nproc ? ` (total ${s.cpu_cores.total} of ${nproc})` : ''}` +
            `${s.cpu_cores.others !== undefined ? `, other processes on the machine ${s.cpu_cores.others}` : ''}`);
        }
        const met = s.added_p99_ms <= TARGETS.workerAddedP99Ms;
        target(`Worker added p99, ${endpoint}, ${TARGETS.workerTargetClients} clients, ${SIDE_LABEL[name]}`, s.added_p99_ms, `≤ ${TARGETS.workerAddedP99Ms} ms`,
          met, `${round(s.added_p99_ms - TARGETS.workerAddedP99Ms, 2)} ms over`, 'ms', why.join('; '));
      }
    }
    // Ours ÷ the reference's CPU per request, both in workerd, per route and concurrency: the
    // median of the runs' ratios (runs with the same index went back to back).
    const ratios = {};
    for (const [endpoint, byClients] of Object.entries(load)) {
      for (const [clients, r] of Object.entries(byClients)) {
        if (!r.workerd?.runs || !r.reference?.runs) continue;
        const ours = r.workerd.runs.map((run) => run.cpuMsPerRequest.workerd);
        const reference = r.reference.runs.map((run) => run.cpuMsPerRequest.reference);
        (ratios[endpoint] ??= {})[clients] = round(pairedRatio(ours, reference), 3);
      }
    }
    if (Object.keys(ratios).length) {
      report.worker_cpu_ratio_vs_js = ratios;
      for (const [endpoint, byClients] of Object.entries(ratios)) {
        const ratio = byClients[TARGETS.workerTargetClients];
        const r = report.worker_load[endpoint][TARGETS.workerTargetClients];
        if (endpoint === 'healthz' || ratio === undefined) continue;
        target(`worker_cpu_ratio_vs_js, ${endpoint}, ${TARGETS.workerTargetClients} clients`, ratio, `≤ ${TARGETS.workerCpuRatioVsJs}`,
          ratio <= TARGETS.workerCpuRatioVsJs, `${round((ratio - TARGETS.workerCpuRatioVsJs) * 100, 1)} % more CPU than the reference`, '×',
          `ours ${r.workerd.cpu_ms_per_request.workerd} ms CPU per request in workerd, the reference JS Worker (bench/reference-worker/) ` +
            `${r.reference.cpu_ms_per_request.reference} ms; median of ${load[endpoint][TARGETS.workerTargetClients].workerd.runs.length} paired runs`);
      }
    }
    target('load-test errors (direct + Worker)', errors, '0', errors === 0, `${errors} errors`, '');
  }
  return report;
}

const status = (t) => `${t.met ? 'met' : `MISSED: ${t.shortfall}`}${t.reason ? ` (${t.reason})` : ''}`;

/** The rows of the results table: [section, metric, ours, reference, ratio/verdict]. */
function rows(report) {
  const out = [];
  const b = report.throughput_browser;
  if (b) {
    const size = formatBytes(b.file_bytes);
    out.push(['browser', `${size} via Worker (${SIDE_LABEL[b.page_worker]}), end to end (c=${b.concurrency})`, `${ms(b.ours.median_ms)} · ${rate(b.file_bytes, b.ours.median_ms)}`,
      `ceiling ${ms(b.ceiling.median_ms)} · ${rate(b.file_bytes, b.ceiling.median_ms)}`, `ratio_vs_ceiling ${x(b.ratio_vs_ceiling)}`]);
    out.push(['browser', `${size}, until the last chunk is stored`, `${ms(b.ours.median_transfer_ms)} · ${rate(b.file_bytes, b.ours.median_transfer_ms)}`,
      `ceiling ${ms(b.ceiling.median_ms)}`, `transfer ratio ${x(b.ratio_vs_ceiling_transfer)}`]);
    out.push(['browser', `${size}, end to end`, `${ms(b.ours.median_ms)}`,
      `@uppy/aws-s3 ${ms(b.uppy.median_ms)} · ${rate(b.file_bytes, b.uppy.median_ms)}`, `ratio_vs_uppy ${x(b.ratio_vs_uppy)}`]);
    out.push(['browser', 'last chunk stored → done (final report, assembly)', ms(b.ours.median_finalize_ms),
      `@uppy/aws-s3 ${ms(b.uppy.median_finalize_ms)}`, '']);
    if (b.page_cpu_ratio_vs_ceiling !== undefined) {
      out.push(['browser', 'page main-thread CPU per GiB (CDP TaskDuration)', `${b.ours.median_page_cpu_ms_per_gib} ms`,
        `ceiling ${b.ceiling.median_page_cpu_ms_per_gib} ms · @uppy/aws-s3 ${b.uppy.median_page_cpu_ms_per_gib} ms`,
        `page_cpu_ratio_vs_ceiling ${x(b.page_cpu_ratio_vs_ceiling)}`]);
    }
  }
  const n = report.throughput_node;
  if (n) {
    const line = (label, p) => ['node', `${formatBytes(n.file_bytes)} direct to the API (c=${n.concurrency}), ${label}`,
      `${ms(p.ours.median_ms)} · ${rate(n.file_bytes, p.ours.median_ms)}`,
      `SDK uploadFile ${ms(p.official_sdk.median_ms)} · ${rate(n.file_bytes, p.official_sdk.median_ms)}`, `ratio_vs_official_sdk ${x(p.ratio_vs_official_sdk)}`];
    out.push(line('loopback', n));
    if (n.with_latency) out.push(line(`+${n.with_latency.latency_ms_per_request} ms per request`, n.with_latency));
    out.push(['node', 'peak RSS of the uploading process (loopback)', formatBytes(n.ours.max_rss_bytes), `SDK ${formatBytes(n.official_sdk.max_rss_bytes)}`, '']);
    if (n.ours.median_cpu_ms !== undefined) {
      out.push(['node', 'CPU per upload: uploader / emulator (loopback)', `${ms(n.ours.median_cpu_ms)} / ${ms(n.ours.median_emulator_cpu_ms)}`,
        `SDK ${ms(n.official_sdk.median_cpu_ms)} / ${ms(n.official_sdk.median_emulator_cpu_ms)}`,
        `wall: ${ms(n.ours.median_ms)} vs ${ms(n.official_sdk.median_ms)}` +
          `${n.ours.median_machine_busy_cores !== undefined ? `; machine busy ${n.ours.median_machine_busy_cores} vs ${n.official_sdk.median_machine_busy_cores} cores` : ''}`]);
    }
  }
  const m = report.memory;
  if (m) {
    const s = m.small;
    const l = m.large;
    const sizes = `${formatBytes(s.file_bytes)}${l ? ` / ${formatBytes(l.file_bytes)}` : ''}`;
    const pair = (key) => `${formatBytes(s[key])}${l ? ` / ${formatBytes(l[key])}` : ''}`;
    const delta = (key) => {
      const d = l[key] - s[key];
      return `${d < 0 ? '−' : '+'}${formatBytes(Math.abs(d))}`;
    };
    out.push(['memory', `wasm linear memory peak (${sizes})`, pair('wasm_peak_bytes'), `at start ${formatBytes(s.wasm_start_bytes)}`,
      l ? `${m.wasm_flat ? 'flat' : 'GROWS'}: ${delta('wasm_peak_bytes')}` : '']);
    if (s.js_heap_live_peak_bytes !== undefined) {
      out.push(['memory', `JS heap live after forced GC, peak (${sizes}; ${s.runs}${l ? ` / ${l.runs}` : ''} runs)`, pair('js_heap_live_peak_bytes'),
        `before the upload ${pair('js_heap_live_start_bytes')}; after done ${pair('js_heap_live_end_bytes')}`,
        l && m.js_heap_live_flat !== undefined ? `${m.js_heap_live_flat ? 'flat' : 'GROWS'}: ${delta('js_heap_live_peak_bytes')}` : '']);
      out.push(['memory', `JS heap used, raw peak incl. garbage (${sizes})`, pair('js_heap_peak_used_bytes'), `at start ${pair('js_heap_start_used_bytes')}`,
        l ? `${delta('js_heap_peak_used_bytes')} (GC timing; not the verdict)` : '']);
    } else {
      out.push(['memory', `JS heap used peak (${sizes})`, pair('js_heap_peak_used_bytes'), `at start ${formatBytes(s.js_heap_start_used_bytes)}`,
        l ? `${m.js_heap_flat ? 'flat' : 'GROWS'}: ${delta('js_heap_peak_used_bytes')}` : '']);
    }
  }
  const z = report.size;
  if (z) {
    out.push(['size', 'browser package (wasm + JS glue)', `${formatBytes(z.browser_package.gzip_bytes)} gz`, `${formatBytes(z.browser_package.raw_bytes)} raw`,
      z.uppy_core_aws_s3_bundle ? `Uppy core+aws-s3 ${formatBytes(z.uppy_core_aws_s3_bundle.gzip_bytes)} gz` : '']);
    for (const e of z.other_js_entries ?? []) {
      out.push(['size', `other JS entry ${e.file.split('/').pop()} (only where imported)`, `${formatBytes(e.gzip)} gz`, `${formatBytes(e.raw)} raw`, '']);
    }
    const wb = z.wasm_breakdown;
    if (wb) {
      const share = (n) => `${((n / wb.rawBytes) * 100).toFixed(1)} % of ${formatBytes(wb.rawBytes)}`;
      // Parts under 1 % (module sections, builtins, drop glue) share one row.
      const small = wb.groups.filter((g) => g.rawBytes < wb.rawBytes / 100);
      for (const g of wb.groups.filter((g) => !small.includes(g))) {
        out.push(['size: wasm', `${g.name}${g.functions ? ` (${g.functions} functions)` : ''}`, `${formatBytes(g.rawBytes)} raw`,
          `${formatBytes(g.gzipBytes)} gz alone`, share(g.rawBytes)]);
      }
      const rest = wb.rawBytes - wb.groups.filter((g) => !small.includes(g)).reduce((n, g) => n + g.rawBytes, 0);
      out.push(['size: wasm', `the rest (${small.length} parts under 1 % each, and the code section's framing)`, `${formatBytes(rest)} raw`, '', share(rest)]);
      out.push(['size: wasm', 'of which closures and async bodies ({{closure}})', `${formatBytes(wb.closures)} raw`, '',
        `${((wb.closures / wb.rawBytes) * 100).toFixed(1)} %`]);
    }
    out.push(['size', 'Worker bundle (wasm + JS)', `${formatBytes(z.worker_bundle.gzip_bytes)} gz`, `${formatBytes(z.worker_bundle.raw_bytes)} raw`, '']);
  }
  const w = report.worker_load;
  if (w) {
    for (const name of LOAD_SIDES) {
      for (const [endpoint, byClients] of Object.entries(w)) {
        for (const [clients, r] of Object.entries(byClients)) {
          const s = r[name];
          if (!s) continue;
          const cpu = s.cpu_cores
            ? ` · cores busy ${s.cpu_cores.total}${report.machine?.nproc ? `/${report.machine.nproc}` : ''}` +
              `${s.cpu_cores.others !== undefined ? ` (+${s.cpu_cores.others} others)` : ''}, ${s.cpu_ms_per_request[name]} ms CPU/req in ${SIDE_LABEL[name]}`
            : '';
          out.push([`worker (${SIDE_LABEL[name]})`, `${endpoint}, ${clients} client${clients === '1' ? '' : 's'}`,
            `${s.req_per_s} req/s · p50 ${s.p50_ms} · p99 ${s.p99_ms} ms`,
            `direct ${r.direct.req_per_s} req/s · p50 ${r.direct.p50_ms} · p99 ${r.direct.p99_ms} ms`,
            `added p50 ${s.added_p50_ms} / p99 ${s.added_p99_ms} ms · errors ${s.errors + r.direct.errors}${cpu}`]);
        }
      }
    }
  }
  const cpuRatio = report.worker_cpu_ratio_vs_js;
  if (cpuRatio) {
    for (const [endpoint, byClients] of Object.entries(cpuRatio)) {
      for (const [clients, ratio] of Object.entries(byClients)) {
        const r = w[endpoint][clients];
        out.push(['worker CPU', `${endpoint}, ${clients} client${clients === '1' ? '' : 's'}: CPU per request in workerd`,
          `${r.workerd.cpu_ms_per_request.workerd} ms`, `reference JS ${r.reference.cpu_ms_per_request.reference} ms`, `worker_cpu_ratio_vs_js ${x(ratio)}`]);
      }
    }
  }
  if (report.control_plane) {
    out.push(['control', 'API requests per GiB (Node, direct)', String(report.control_plane.ours_api_requests_per_gib),
      `SDK ${report.control_plane.official_sdk_api_requests_per_gib}`, '']);
  }
  if (report.control_plane_browser) {
    const c = report.control_plane_browser;
    out.push(['control', 'browser → Worker requests per GiB', String(c.ours_worker_requests_per_gib), `Uppy hooks ${c.uppy_worker_requests_per_gib}`, '']);
    out.push(['control', 'Worker → API requests per GiB', String(c.ours_upstream_api_requests_per_gib), `Uppy hooks ${c.uppy_upstream_api_requests_per_gib}`, '']);
  }
  return out;
}

/** The results and the targets as aligned plain text, for the terminal. */
export function renderText(report) {
  const header = ['section', 'metric', 'ours', 'reference', 'ratio / note'];
  const table = [header, ...rows(report)];
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line), ''];
  out.push('targets:');
  for (const t of report.targets) out.push(`  ${t.met ? '✓' : '✗'} ${t.name}: ${round(t.value, 3)} (target ${t.target}) ${status(t)}`);
  if (report.under_load) out.push(`NOTE: load average was ${report.load_average_before} before the run: numbers taken under load.`);
  return out.join('\n');
}

const cell = (s) => s.replaceAll('|', '\\|');

/** The generated part of BENCHMARKS.md. */
export function renderMarkdown(report) {
  const m = report.machine;
  const out = [];
  out.push(`Generated by \`${report.command}\` on ${report.generated_at} (commit \`${m.commit}\`).`, '');
  if (report.under_load) {
    out.push(`> **Taken under load**: the 1-minute load average was ${report.load_average_before} when the run began ` +
      '(other builds were running on this shared machine), so absolute times are pessimistic; ratios are measured ' +
      'in the same run and drift less.', '');
  }
  out.push('| section | metric | ours | reference | ratio / note |', '|---|---|---|---|---|');
  for (const r of rows(report)) out.push(`| ${r.map(cell).join(' | ')} |`);
  out.push('', '### Targets', '', '| target | value | goal | verdict |', '|---|---|---|---|');
  for (const t of report.targets) out.push(`| ${cell(t.name)} | ${round(t.value, 3)} | ${cell(t.target)} | ${cell(`${t.met ? 'met' : `**missed**: ${t.shortfall}`}${t.reason ? `. ${t.reason}` : ''}`)} |`);
  out.push('', '### Machine', '', `- CPU: ${m.cpuModel}, \`nproc\` = ${m.nproc}; ${m.kernel}; 1-minute load average before the run: ${report.load_average_before}`, '- `free -h`:', '', '```', m.memory, '```', '');
  out.push(`- ${m.package}; Node ${m.node}; ${m.chromium}; ${m.rustc}`);
  out.push(`- npm: ${Object.entries(m.npm).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`- options: ${Object.entries(report.options).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return out.join('\n');
}
