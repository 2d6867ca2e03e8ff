// One timed upload in its own Node process (so neither uploader inherits the other's heap or
// sockets), straight to the emulator with its API key:
//   node bench/node-upload.mjs '{"impl":"ours"|"sdk","file":...,"apiUrl":...,"apiKey":...,"concurrency":4}'
// Prints one JSON line: {ms, bytes, assetId, maxRssBytes, cpuMs} (`cpuMs`: user + system CPU
// time of this process during the timed upload, all threads).
import { openAsBlob, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../tests/support/harness.mjs';

// `putInit` (experiments only, e.g. bench/profile-node.mjs --put-init '{"redirect":"error"}'):
// extra fetch options for our chunk PUTs, given through the package's documented `fetch` option,
// to measure a transport change without rebuilding the package.
const { impl, file, apiUrl, apiKey, concurrency, putInit } = JSON.parse(process.argv[2]);
const bytes = statSync(file).size;

/** CPU ms (user + system) this process used since `previous` (a `process.cpuUsage()`). */
function cpuMsSince(previous) {
  const { user, system } = process.cpuUsage(previous);
  return (user + system) / 1000;
}

/** Our package through its Node entry; the file is a disk-backed Blob (`fs.openAsBlob`). */
async function ours() {
  const pkg = await import(pathToFileURL(path.join(ROOT, 'pkg/node.js')).href);
  const endpoint = apiUrl.replace(/\/v1\.3$/, '');
  const fetchOption = putInit
    ? { fetch: (url, init) => fetch(url, init?.method === 'PUT' ? { ...init, ...putInit } : init) }
    : {};
  const uploader = new pkg.Uploader({ endpoint, apiKey, concurrency, persist: false, ...fetchOption });
  const blob = await openAsBlob(file, { type: 'video/mp4' });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const asset = await uploader.upload(blob, { type: 'video', filename: 'node-ours.mp4' }).done;
  return { ms: performance.now() - started, cpuMs: cpuMsSince(cpu), assetId: asset.id };
}

/**
 * The official SDK's helper with its defaults except `maxWorkers` (its only concurrency knob),
 * set to ours. It prints progress lines with console.log; they are silenced here.
 */
async function sdk() {
  const { MultipartUploadWrapper } = await import('twelvelabs-js');
  const uploader = new MultipartUploadWrapper({ apiKey, baseUrl: apiUrl });
  const log = console.log;
  console.log = () => {};
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await uploader.uploadFile(file, { filename: 'node-sdk.mp4', maxWorkers: concurrency });
    return { ms: performance.now() - started, cpuMs: cpuMsSince(cpu), assetId: result.assetId };
  } finally {
    console.log = log;
  }
}

const run = { ours, sdk }[impl];
if (!run) throw new Error(`unknown impl ${impl}`);
const result = await run();
// ru_maxrss is in KiB on Linux.
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
process.stdout.write(`${JSON.stringify({ ...result, bytes, maxRssBytes })}\n`);
// Keep-alive sockets of the SDK's fetch would hold the process open for a while.
process.exit(0);
