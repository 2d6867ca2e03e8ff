// Turns the measurements into the report: ratios, targets met or missed (and by how much),
// the terminal table, and the Markdown table BENCHMARKS.md shows.
import { formatBytes, GIB, median, MIB, mibPerSec, round } from './stats.mjs';

/** The issue's targets. */
export const TARGETS = {
  ratioVsCeiling: 0.95,
  ratioVsUppy: 1.0,
  ratioVsOfficialSdk: 1.5,
  packageGzipBytes: 40_000,
  workerAddedP99Ms: 5,
  workerTargetClients: 16,
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
  const target = (name, value, goal, met, shortfall, unit) =>
    report.targets.push({ name, value: round(value, 3), target: goal, met, shortfall: met ? null : shortfall, unit });

  if (browser) {
    const { ours, ceiling, uppy } = browser;
    const side = (s) => ({
      median_ms: round(s.medianMs),
      median_transfer_ms: round(s.medianTransferMs),
      mib_per_s: round(mibPerSec(s.bytes, s.medianMs)),
      runs_ms: s.runs.map((r) => round(r.ms)),
      runs_transfer_ms: s.runs.map((r) => round(r.transferMs)),
    });
    report.throughput_browser = {
      file_bytes: ours.bytes,
      concurrency: options.values.concurrency,
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
    };
    const b = report.throughput_browser;
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
    const side = (m) => ({
      file_bytes: m.bytes,
      runs: m.runs,
      wasm_start_bytes: m.wasmStartBytes,
      wasm_peak_bytes: m.wasmPeakBytes,
      js_heap_start_used_bytes: m.heapStartUsedBytes,
      js_heap_peak_used_bytes: m.heapPeakUsedBytes,
      js_heap_peak_total_bytes: m.heapPeakTotalBytes,
      heap_samples: m.heapSamples,
      median_ms: round(m.medianMs),
    });
    report.memory = { small: side(small) };
    if (large) {
      report.memory.large = side(large);
      const wasmFlat = flat(small.wasmPeakBytes, large.wasmPeakBytes);
      const heapFlat = flat(small.heapPeakUsedBytes, large.heapPeakUsedBytes);
      report.memory.wasm_flat = wasmFlat;
      report.memory.js_heap_flat = heapFlat;
      const growth = (a, b) => `${formatBytes(b - a)} more at ${formatBytes(large.bytes)} than at ${formatBytes(small.bytes)}`;
      target(`wasm memory peak, ${formatBytes(large.bytes)} vs ${formatBytes(small.bytes)}`, large.wasmPeakBytes / small.wasmPeakBytes,
        'flat', wasmFlat, growth(small.wasmPeakBytes, large.wasmPeakBytes), '×');
      target(`JS heap peak, ${formatBytes(large.bytes)} vs ${formatBytes(small.bytes)}`, large.heapPeakUsedBytes / small.heapPeakUsedBytes,
        'flat', heapFlat, growth(small.heapPeakUsedBytes, large.heapPeakUsedBytes), '×');
    }
  }

  if (node) {
    const { ours, sdk } = node;
    const side = (s) => ({
      median_ms: round(s.medianMs),
      mib_per_s: round(s.mibPerSec),
      runs_ms: s.runs.map((r) => round(r.ms)),
      api_requests: s.apiRequests,
      api_requests_per_gib: round(s.apiRequests / (s.bytes / GIB), 1),
      storage_puts: s.storagePuts,
      max_rss_bytes: s.maxRssBytes,
    });
    report.throughput_node = {
      file_bytes: ours.bytes,
      concurrency: options.values.concurrency,
      ours: side(ours),
      official_sdk: side(sdk),
      ratio_vs_official_sdk: round(pairedRatio(sdk.runs.map((r) => r.ms), ours.runs.map((r) => r.ms)), 3),
    };
    const n = report.throughput_node;
    target('Node throughput vs official SDK uploadFile', n.ratio_vs_official_sdk, `≥ ${TARGETS.ratioVsOfficialSdk}×`,
      n.ratio_vs_official_sdk >= TARGETS.ratioVsOfficialSdk, `${round((TARGETS.ratioVsOfficialSdk - n.ratio_vs_official_sdk) * 100, 1)} points short`, '×');
    report.control_plane = {
      ours_api_requests_per_gib: n.ours.api_requests_per_gib,
      official_sdk_api_requests_per_gib: n.official_sdk.api_requests_per_gib,
    };
  }

  if (size) {
    const side = (s) => ({ raw_bytes: s.raw, gzip_bytes: s.gzip, parts: s.parts });
    report.size = {
      browser_package: side(size.browserPackage),
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
    for (const [endpoint, byClients] of Object.entries(load)) {
      report.worker_load[endpoint] = {};
      for (const [clients, r] of Object.entries(byClients)) {
        const side = (s) => ({ req_per_s: round(s.reqPerSec, 0), p50_ms: round(s.p50Ms, 3), p99_ms: round(s.p99Ms, 3), requests: s.requests, errors: s.errors });
        report.worker_load[endpoint][clients] = {
          direct: side(r.direct),
          worker: side(r.worker),
          added_p50_ms: round(r.addedP50Ms, 3),
          added_p99_ms: round(r.addedP99Ms, 3),
        };
        errors += r.direct.errors + r.worker.errors;
        if (Number(clients) === TARGETS.workerTargetClients && endpoint !== 'healthz') {
          target(`Worker added p99, ${endpoint}, ${clients} clients`, r.addedP99Ms, `≤ ${TARGETS.workerAddedP99Ms} ms`,
            r.addedP99Ms <= TARGETS.workerAddedP99Ms, `${round(r.addedP99Ms - TARGETS.workerAddedP99Ms, 2)} ms over`, 'ms');
        }
      }
    }
    target('load-test errors (direct + Worker)', errors, '0', errors === 0, `${errors} errors`, '');
  }
  return report;
}

const status = (t) => (t.met ? 'met' : `MISSED: ${t.shortfall}`);

/** The rows of the results table: [section, metric, ours, reference, ratio/verdict]. */
function rows(report) {
  const out = [];
  const b = report.throughput_browser;
  if (b) {
    const size = formatBytes(b.file_bytes);
    out.push(['browser', `${size} via Worker, end to end (c=${b.concurrency})`, `${ms(b.ours.median_ms)} · ${rate(b.file_bytes, b.ours.median_ms)}`,
      `ceiling ${ms(b.ceiling.median_ms)} · ${rate(b.file_bytes, b.ceiling.median_ms)}`, `ratio_vs_ceiling ${x(b.ratio_vs_ceiling)}`]);
    out.push(['browser', `${size}, until the last chunk is stored`, `${ms(b.ours.median_transfer_ms)} · ${rate(b.file_bytes, b.ours.median_transfer_ms)}`,
      `ceiling ${ms(b.ceiling.median_ms)}`, `transfer ratio ${x(b.ratio_vs_ceiling_transfer)}`]);
    out.push(['browser', `${size}, end to end`, `${ms(b.ours.median_ms)}`,
      `@uppy/aws-s3 ${ms(b.uppy.median_ms)} · ${rate(b.file_bytes, b.uppy.median_ms)}`, `ratio_vs_uppy ${x(b.ratio_vs_uppy)}`]);
    out.push(['browser', 'last chunk stored → done (final report, assembly)', ms(b.ours.median_finalize_ms),
      `@uppy/aws-s3 ${ms(b.uppy.median_finalize_ms)}`, '']);
  }
  const n = report.throughput_node;
  if (n) {
    out.push(['node', `${formatBytes(n.file_bytes)} direct to the API (c=${n.concurrency})`, `${ms(n.ours.median_ms)} · ${rate(n.file_bytes, n.ours.median_ms)}`,
      `SDK uploadFile ${ms(n.official_sdk.median_ms)} · ${rate(n.file_bytes, n.official_sdk.median_ms)}`, `ratio_vs_official_sdk ${x(n.ratio_vs_official_sdk)}`]);
    out.push(['node', 'peak RSS of the uploading process', formatBytes(n.ours.max_rss_bytes), `SDK ${formatBytes(n.official_sdk.max_rss_bytes)}`, '']);
  }
  const m = report.memory;
  if (m) {
    const s = m.small;
    const l = m.large;
    out.push(['memory', `wasm linear memory peak (${formatBytes(s.file_bytes)}${l ? ` / ${formatBytes(l.file_bytes)}` : ''})`,
      `${formatBytes(s.wasm_peak_bytes)}${l ? ` / ${formatBytes(l.wasm_peak_bytes)}` : ''}`, `at start ${formatBytes(s.wasm_start_bytes)}`,
      l ? `${m.wasm_flat ? 'flat' : 'GROWS'}: +${formatBytes(l.wasm_peak_bytes - s.wasm_peak_bytes)}` : '']);
    out.push(['memory', `JS heap used peak (${formatBytes(s.file_bytes)}${l ? ` / ${formatBytes(l.file_bytes)}` : ''})`,
      `${formatBytes(s.js_heap_peak_used_bytes)}${l ? ` / ${formatBytes(l.js_heap_peak_used_bytes)}` : ''}`, `at start ${formatBytes(s.js_heap_start_used_bytes)}`,
      l ? `${m.js_heap_flat ? 'flat' : 'GROWS'}: +${formatBytes(l.js_heap_peak_used_bytes - s.js_heap_peak_used_bytes)}` : '']);
  }
  const z = report.size;
  if (z) {
    out.push(['size', 'browser package (wasm + JS glue)', `${formatBytes(z.browser_package.gzip_bytes)} gz`, `${formatBytes(z.browser_package.raw_bytes)} raw`,
      z.uppy_core_aws_s3_bundle ? `Uppy core+aws-s3 ${formatBytes(z.uppy_core_aws_s3_bundle.gzip_bytes)} gz` : '']);
    out.push(['size', 'Worker bundle (wasm + JS)', `${formatBytes(z.worker_bundle.gzip_bytes)} gz`, `${formatBytes(z.worker_bundle.raw_bytes)} raw`, '']);
  }
  const w = report.worker_load;
  if (w) {
    for (const [endpoint, byClients] of Object.entries(w)) {
      for (const [clients, r] of Object.entries(byClients)) {
        out.push(['worker', `${endpoint}, ${clients} client${clients === '1' ? '' : 's'}`, `${r.worker.req_per_s} req/s · p50 ${r.worker.p50_ms} · p99 ${r.worker.p99_ms} ms`,
          `direct ${r.direct.req_per_s} req/s · p50 ${r.direct.p50_ms} · p99 ${r.direct.p99_ms} ms`,
          `added p50 ${r.added_p50_ms} / p99 ${r.added_p99_ms} ms · errors ${r.worker.errors + r.direct.errors}`]);
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
  for (const t of report.targets) out.push(`| ${cell(t.name)} | ${round(t.value, 3)} | ${cell(t.target)} | ${cell(t.met ? 'met' : `**missed**: ${t.shortfall}`)} |`);
  out.push('', '### Machine', '', `- CPU: ${m.cpuModel}, \`nproc\` = ${m.nproc}; ${m.kernel}; 1-minute load average before the run: ${report.load_average_before}`, '- `free -h`:', '', '```', m.memory, '```', '');
  out.push(`- ${m.package}; Node ${m.node}; ${m.chromium}; ${m.rustc}`);
  out.push(`- npm: ${Object.entries(m.npm).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`- options: ${Object.entries(report.options).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return out.join('\n');
}
