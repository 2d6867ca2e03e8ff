// Where an upload's Node process spends its CPU: one upload (our package by default) of a
// random file straight to a loopback emulator, exactly as bench/node.mjs runs it, under
// `node --cpu-prof`; then the profile summed by where the time went (our wasm, our JS glue,
// undici/fetch, web streams, file reads, GC, idle, …) and by function.
//
//   node bench/profile-node.mjs [--impl ours|sdk] [--size-gib 1] [--concurrency 4]
//                               [--latency-ms 0] [--top 25] [--compare-put-init JSON]
//
// --compare-put-init '{"redirect":"error"}' instead times `--rounds` (default 3) rounds of our
// upload plain, ours with those extra fetch options on every chunk PUT (through the package's
// `fetch` option) and the SDK's uploadFile, rotating, without the profiler: what a transport
// change would save, and the ratio to the SDK it would give.
//
// Writes target/bench/profile/<impl>.cpuprofile (open it in Chrome DevTools or speedscope) and
// <impl>-summary.json, and prints the summary. Not part of `make bench`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { groupCpuMs } from './lib/cpu.mjs';
import { formatProfile, isWasm, pseudoCategory, summarizeProfile } from './lib/cpuprofile.mjs';
import { assertAssembled, deleteAsset, makeFile, OUT_DIR, removeFiles, startBenchEmulator } from './lib/services.mjs';
import { GIB, median, mibPerSec } from './lib/stats.mjs';
import { uploadInChild } from './node.mjs';

const { values } = parseArgs({
  options: {
    impl: { type: 'string', default: 'ours' },
    'size-gib': { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    'latency-ms': { type: 'string', default: '0' },
    top: { type: 'string', default: '25' },
    'compare-put-init': { type: 'string' },
    rounds: { type: 'string', default: '3' },
  },
});
const PROFILE_DIR = path.join(OUT_DIR, 'profile');

/** The bucket a profile frame's self time goes to. */
function category(frame) {
  const { url } = frame;
  const pseudo = pseudoCategory(frame);
  if (pseudo) return pseudo;
  if (isWasm(frame)) return 'our wasm';
  if (/twelvelabs_edge_upload\.js$|\/pkg\//.test(url)) return 'our JS glue (pkg/)';
  if (/undici/.test(url)) return 'undici (fetch, HTTP/1.1)';
  if (/internal\/webstreams/.test(url)) return 'web streams';
  if (/internal\/blob|internal\/fs/.test(url)) return 'Blob / fs';
  if (/node:|internal\//.test(url) || url === '') return 'other Node internals';
  if (/node_modules/.test(url)) return 'npm dependencies';
  return 'other JS';
}

/**
 * Our uploads plain and with `putInit` on every chunk PUT, and the official SDK's, in rotating
 * order, without the profiler; prints wall and CPU medians of each and the paired ratios.
 */
async function comparePutInit(options, putInit, rounds) {
  const kinds = { plain: { ...options, impl: 'ours' }, changed: { ...options, impl: 'ours', putInit }, sdk: { ...options, impl: 'sdk' } };
  const runs = { plain: [], changed: [], sdk: [] };
  const one = async (name) => {
    const emulatorBefore = groupCpuMs(emulator.pid);
    const r = await uploadInChild(kinds[name]);
    r.emulatorCpuMs = groupCpuMs(emulator.pid) - emulatorBefore;
    await assertAssembled(emulator, r.assetId, r.bytes);
    await deleteAsset(emulator, r.assetId);
    process.stderr.write(`  ${name.padEnd(8)} ${(r.ms / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU, emulator ${(r.emulatorCpuMs / 1000).toFixed(2)} s CPU\n`);
    return r;
  };
  await one('plain'); // warm-up
  const names = Object.keys(kinds);
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + i) % names.length];
      runs[name].push(await one(name));
    }
  }
  const med = (list, key) => median(list.map((r) => r[key])) / 1000;
  const label = { plain: 'ours as shipped', changed: `ours + PUT ${JSON.stringify(putInit)}`, sdk: 'SDK uploadFile' };
  for (const [name, list] of Object.entries(runs)) {
    process.stdout.write(`${label[name]}: median ${med(list, 'ms').toFixed(2)} s wall, ${med(list, 'cpuMs').toFixed(2)} s CPU, ` +
      `emulator ${med(list, 'emulatorCpuMs').toFixed(2)} s CPU\n`);
  }
  const ratio = (name) => median(runs.sdk.map((r, i) => r.ms / runs[name][i].ms));
  process.stdout.write(`SDK time / ours (paired by round): as shipped ${ratio('plain').toFixed(2)}×, with the change ${ratio('changed').toFixed(2)}×\n`);
}

const impl = values.impl;
const size = Math.round(Number(values['size-gib']) * GIB);
const latencyMs = Number(values['latency-ms']);
const concurrency = Number(values.concurrency);
mkdirSync(PROFILE_DIR, { recursive: true });
const filesDir = path.join(OUT_DIR, 'files-profile');
const emulator = await startBenchEmulator(latencyMs > 0 ? ['--latency-ms', String(latencyMs)] : []);
try {
  const file = makeFile(filesDir, 'profile.mp4', size);
  const options = { impl, file, apiUrl: emulator.apiUrl, apiKey: emulator.apiKey, concurrency };
  if (values['compare-put-init']) await comparePutInit(options, JSON.parse(values['compare-put-init']), Number(values.rounds));
  else await profileOne(options);
} finally {
  removeFiles(filesDir);
  await emulator.stop();
}
process.exit(0);

/** One warm-up upload, then one under `--cpu-prof`; writes and prints the summary. */
async function profileOne(options) {
  // A warm-up upload without the profiler: page cache and emulator in the same state as in the bench.
  const warm = await uploadInChild(options);
  await deleteAsset(emulator, warm.assetId);
  const emulatorBefore = groupCpuMs(emulator.pid);
  const result = await uploadInChild(options, {
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${impl}.cpuprofile`],
  });
  const emulatorCpuMs = groupCpuMs(emulator.pid) - emulatorBefore;
  await assertAssembled(emulator, result.assetId, result.bytes);
  await deleteAsset(emulator, result.assetId);
  const profile = JSON.parse(readFileSync(path.join(PROFILE_DIR, `${impl}.cpuprofile`), 'utf8'));
  const summary = {
    impl,
    file_bytes: size,
    concurrency,
    latency_ms: latencyMs,
    upload_ms: Math.round(result.ms),
    mib_per_s: Math.round(mibPerSec(size, result.ms)),
    // All threads of the uploading process during the upload (the profile covers the main
    // thread only, from process start to exit).
    process_cpu_ms: Math.round(result.cpuMs),
    emulator_cpu_ms: Math.round(emulatorCpuMs),
    profile: summarizeProfile(profile, { category, top: Number(values.top) }),
  };
  writeFileSync(path.join(PROFILE_DIR, `${impl}-summary.json`), `${JSON.stringify(summary, null, 2)}\n`);
  const out = [
    `${impl}: ${(size / GIB).toFixed(2)} GiB in ${(result.ms / 1000).toFixed(2)} s (${summary.mib_per_s} MiB/s), c=${concurrency}, latency ${latencyMs} ms`,
    `CPU during the upload: uploading process ${(result.cpuMs / 1000).toFixed(2)} s (all threads), emulator ${(emulatorCpuMs / 1000).toFixed(2)} s`,
    `main-thread profile, ${(summary.profile.totalMs / 1000).toFixed(2)} s sampled (whole process life):`,
    ...formatProfile(summary.profile),
    `profile: ${path.relative(process.cwd(), path.join(PROFILE_DIR, `${impl}.cpuprofile`))}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
