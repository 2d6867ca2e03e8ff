// The built Worker (build/index.js + build/index_bg.wasm), or the bench's reference JS Worker
// (bench/reference-worker/), served by workerd itself, with nothing
// in front: no `wrangler dev`, no Miniflare entry worker, no dev proxy. This is the runtime
// Cloudflare runs in production, configured the way wrangler.toml would (same entry, same
// compatibility date, vars and secrets as plain-text bindings), so the load section can tell
// what the Worker costs apart from what the local dev server costs.
//
// The config is written to a fresh temp dir next to a copy of the bundle (so a concurrent
// rebuild of build/ cannot change what is measured mid-run). workerd listens on a free loopback
// port; it may fetch only loopback/private addresses besides public ones (the emulator is on
// 127.0.0.1). It runs in its own process group via the harness, so it is stopped by PID, also
// when the bench fails or is interrupted.
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort, spawnService } from '../../tests/support/harness.mjs';
import { WORKER_MAIN, waitForHealthz, workerHandle } from '../../tests/support/worker.mjs';
import { startKvServer } from './kv.mjs';

/** The KV binding of the Worker's per-owner asset index (wrangler.toml's `[[kv_namespaces]]`). */
export const ASSET_INDEX_BINDING = 'ASSET_INDEX';

/** The workerd binary wrangler itself runs (the npm `workerd` package). */
export const WORKERD_BIN = path.join(ROOT, 'node_modules/workerd/bin/workerd');

/** A built Worker's modules in `dir`: the bundle and its wasm, as wrangler uploads them. */
export const builtWorkerModules = (dir) => [
  { name: 'index.js', kind: 'esModule', file: path.join(dir, 'index.js') },
  { name: 'index_bg.wasm', kind: 'wasm', file: path.join(dir, 'index_bg.wasm') },
];

/** The built Worker's modules (build/). */
export const BUILT_WORKER_MODULES = builtWorkerModules(path.dirname(WORKER_MAIN));

/** The reference Worker's one module: what a user would write by hand (bench-only). */
export const REFERENCE_WORKER_MODULES = [
  { name: 'index.js', kind: 'esModule', file: path.join(ROOT, 'bench/reference-worker/index.mjs') },
];

/** Same date as wrangler.toml and tests/support/worker.mjs. */
const COMPATIBILITY_DATE = '2025-10-01';

/** A Cap'n Proto text literal (JSON string escapes are a subset of capnp's). */
const capnpString = (value) => JSON.stringify(String(value));

/**
 * The capnp config: one worker service ("main") with `modules` (`[{name, kind}]`, each embedded
 * from a file of that name next to the config), every var and secret as a text binding, the
 * ASSET_INDEX KV namespace served over HTTP at `kvAddress` (bench/lib/kv.mjs), its global
 * outbound network allowed to reach loopback, and one HTTP socket on 127.0.0.1:`port`.
 * `v8Flags`: V8 flags for the process (investigation only: Cloudflare sets its own in production).
 */
export function workerdConfig({ port, bindings, kvAddress, modules = BUILT_WORKER_MODULES, v8Flags = [] }) {
  const lines = [
    'using Workerd = import "/workerd/workerd.capnp";',
    '',
    'const config :Workerd.Config = (',
    '  services = [',
    '    (name = "main", worker = .worker),',
    // The default "internet" service allows public addresses only (SSRF protection); the emulator
    // is on loopback.
    '    (name = "internet", network = (allow = ["public", "private", "local"])),',
    `    (name = "asset-index", external = (address = ${capnpString(kvAddress)}, http = ())),`,
    '  ],',
    `  sockets = [ (name = "http", address = ${capnpString(`127.0.0.1:${port}`)}, http = (), service = "main") ],`,
    ...(v8Flags.length ? [`  v8Flags = [${v8Flags.map(capnpString).join(', ')}],`] : []),
    ');',
    '',
    'const worker :Workerd.Worker = (',
    '  modules = [',
    ...modules.map(({ name, kind }) => `    (name = ${capnpString(name)}, ${kind} = embed ${capnpString(name)}),`),
    '  ],',
    `  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},`,
    '  bindings = [',
    ...Object.entries(bindings).map(([name, value]) => `    (name = ${capnpString(name)}, text = ${capnpString(value)}),`),
    `    (name = ${capnpString(ASSET_INDEX_BINDING)}, kvNamespace = "asset-index"),`,
    '  ],',
    '  globalOutbound = "internet",',
    ');',
    '',
  ];
  return lines.join('\n');
}

/**
 * Starts workerd serving the built Worker (or other `modules`, e.g. REFERENCE_WORKER_MODULES).
 * Same arguments as tests/support/worker.mjs's `startWorker` (`emulatorUrl` becomes
 * TWELVELABS_BASE_URL, `/v1.3` appended if missing). `inspectorPort`: also serve the V8
 * inspector on 127.0.0.1 there (for profiling; see bench/profile-worker.mjs). `kv`: the
 * ASSET_INDEX namespace's server (`startKvServer()`, e.g. shared by two Workers); by default each
 * workerd gets its own, stopped with it. Resolves to `{url, pid, kv, stop(), output()}` once
 * `/healthz` answers.
 */
export async function startWorkerd({ emulatorUrl, vars = {}, secrets = {}, inspectorPort, modules = BUILT_WORKER_MODULES, kv, v8Flags } = {}) {
  const missing = modules.find(({ file }) => !existsSync(file));
  if (missing) throw new Error(`${missing.file} not found${modules === BUILT_WORKER_MODULES ? ': run `make worker` first' : ''}`);
  const bindings = { ...vars };
  if (emulatorUrl) {
    const base = emulatorUrl.replace(/\/+$/, '');
    bindings.TWELVELABS_BASE_URL = /\/v1\.3$/.test(base) ? base : `${base}/v1.3`;
  }
  Object.assign(bindings, secrets);
  const ownKv = kv ? null : await startKvServer();
  const index = kv ?? ownKv;
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-upload-workerd-'));
  const cleanup = () => {
    rmSync(dir, { recursive: true, force: true });
    return ownKv?.stop();
  };
  let service;
  try {
    for (const { name, file } of modules) copyFileSync(file, path.join(dir, name));
    const port = await freePort();
    // Holds the secrets: readable by this user only, removed on stop.
    writeFileSync(path.join(dir, 'config.capnp'), workerdConfig({ port, bindings, kvAddress: index.address, modules, v8Flags }), { mode: 0o600 });
    // workerd prints nothing when its socket listens. The shell prints a marker and then
    // becomes workerd (exec: same PID, same process group), and readiness is /healthz below.
    service = await spawnService({
      name: 'workerd',
      cmd: '/bin/sh',
      args: [
        '-c',
        // BENCH_WORKERD_CPU=N pins workerd to CPU N (`taskset`), so that the load generator,
        // the emulator and the KV server (left on the other CPUs) do not share its core.
        `echo workerd-exec; exec ${process.env.BENCH_WORKERD_CPU ? `taskset -c ${Number(process.env.BENCH_WORKERD_CPU)} ` : ''}"$0" serve config.capnp "$@"`,
        WORKERD_BIN,
        ...(inspectorPort ? ['--inspector-addr', `127.0.0.1:${inspectorPort}`] : []),
      ],
      cwd: dir,
      readyPattern: /workerd-exec/,
      timeoutMs: 30_000,
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHealthz(url, { attempts: 300, output: service.output });
    return { ...workerHandle(url, service, cleanup), kv: index };
  } catch (err) {
    await service?.stop();
    await cleanup();
    throw err;
  }
}
