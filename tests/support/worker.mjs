// Runs the ALREADY BUILT Worker bundle (build/index.js, from scripts/build-worker.sh) in workerd
// via `wrangler dev`, on a free loopback port, with a throwaway config: no [build] step, vars in
// the config, secrets in a .dev.vars file next to it. Stopped by PID (process group), also when
// the test fails (the harness kills every service it started when Node exits).
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort, spawnService } from './harness.mjs';

/** The bundle `startWorker` serves. */
export const WORKER_MAIN = path.join(ROOT, 'build/index.js');

/**
 * wrangler's CLI entry. Run with this Node directly rather than through `node_modules/.bin/wrangler`:
 * that launcher refuses Node < 22.12, while `wrangler dev` itself runs fine on the Node 20 these
 * machines have (workerd is a native binary; the CLI only orchestrates it).
 */
const WRANGLER_CLI = path.join(ROOT, 'node_modules/wrangler/wrangler-dist/cli.js');

/** Same date as the repository's wrangler.toml. */
const COMPATIBILITY_DATE = '2025-10-01';

const tomlString = (value) => JSON.stringify(String(value)); // a TOML basic string

/** Quotes a .dev.vars value (dotenv syntax) so any character survives. */
const dotenvValue = (value) => JSON.stringify(String(value));

/** What wrangler prints when the port (or the inspector's) was taken before it could bind. */
const ADDRESS_IN_USE = /address already in use/i;

/**
 * Starts the Worker. `emulatorUrl` becomes TWELVELABS_BASE_URL (the API root; `/v1.3` is
 * appended if missing). `port`: where it listens on 127.0.0.1 (default: a free port); `echo`:
 * also print what wrangler and the Worker print (for `make worker-dev`); `expectHealthy: false`
 * waits for any answer instead of a 2xx one; `extraToml`: more `wrangler.toml` lines (a binding,
 * say). Resolves to `{url, pid, stop(), output()}`;
 * `output()` is everything wrangler and the Worker printed (the Worker's JSON log lines included).
 */
export async function startWorker({ emulatorUrl, vars = {}, secrets = {}, port, echo, expectHealthy = true, extraToml = [] } = {}) {
  if (!existsSync(WORKER_MAIN)) {
    throw new Error(`${WORKER_MAIN} not found: run \`bash scripts/build-worker.sh\` first`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-upload-worker-'));
  const allVars = { ...vars };
  if (emulatorUrl) {
    const base = emulatorUrl.replace(/\/+$/, '');
    allVars.TWELVELABS_BASE_URL = /\/v1\.3$/.test(base) ? base : `${base}/v1.3`;
  }
  const config = [
    'name = "twelvelabs-edge-upload-test"',
    `main = ${tomlString(WORKER_MAIN)}`,
    `compatibility_date = "${COMPATIBILITY_DATE}"`,
    '',
    '[vars]',
    ...Object.entries(allVars).map(([k, v]) => `${k} = ${tomlString(v)}`),
    '',
    // The per-owner asset index (docs/DEPLOY.md); Miniflare keeps it under --persist-to.
    '[[kv_namespaces]]',
    'binding = "ASSET_INDEX"',
    'id = "edge-upload-local-asset-index"',
    '',
    ...extraToml,
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'wrangler.toml'), config);
  writeFileSync(
    path.join(dir, '.dev.vars'),
    Object.entries(secrets)
      .map(([k, v]) => `${k}=${dotenvValue(v)}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  // A port freePort() found free can be taken before wrangler binds it; then try another.
  const attempts = port === undefined ? 4 : 1;
  let service;
  for (let attempt = 1; ; attempt++) {
    port = attempts > 1 ? await freePort() : port;
    try {
      service = await spawnService({
        name: 'worker',
        cmd: process.execPath,
        args: [
          '--no-warnings',
          WRANGLER_CLI,
          'dev',
          '--config', path.join(dir, 'wrangler.toml'),
          '--ip', '127.0.0.1',
          '--port', String(port),
          '--inspector-port', String(await freePort()),
          '--persist-to', path.join(dir, 'state'),
          '--show-interactive-dev-session=false',
          '--log-level', 'log',
        ],
        cwd: dir,
        // CLOUDFLARE_CF_FETCH_ENABLED: Miniflare would otherwise fetch request.cf data from
        // workers.cloudflare.com at start; everything here stays on loopback.
        env: {
          WRANGLER_SEND_METRICS: 'false',
          CLOUDFLARE_CF_FETCH_ENABLED: 'false',
          CI: '1',
          NO_COLOR: '1',
          FORCE_COLOR: '0',
        },
        readyPattern: /Ready on (http:\/\/127\.0\.0\.1:\d+)/,
        failPattern: ADDRESS_IN_USE,
        timeoutMs: 90_000,
        ...(echo === undefined ? {} : { echo }),
      });
      break;
    } catch (err) {
      if (attempt < attempts && ADDRESS_IN_USE.test(err.message)) continue;
      cleanup();
      throw err;
    }
  }
  const url = `http://127.0.0.1:${port}`;
  // Ready is printed when the socket listens; wait until the Worker itself answers.
  try {
    await waitForHealthz(url, { attempts: 100, output: service.output, anyAnswer: !expectHealthy });
  } catch (err) {
    await service.stop();
    cleanup();
    throw err;
  }
  return workerHandle(url, service, cleanup);
}

/**
 * What a started Worker resolves to: `{url, pid, exited, output(), stop()}`; `stop` also runs
 * `cleanup`.
 */
export function workerHandle(url, service, cleanup) {
  return {
    url,
    pid: service.pid,
    exited: service.exited,
    output: service.output,
    stop: async () => {
      await service.stop();
      await cleanup();
    },
  };
}

/**
 * Polls `${url}/healthz` every 100 ms until the Worker answers 2xx (any HTTP answer with
 * `anyAnswer`: a Worker started with a configuration it must refuse); after `attempts` tries it
 * throws with the server's last output. For any runtime serving the built Worker.
 */
export async function waitForHealthz(url, { attempts, output, anyAnswer = false }) {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.ok || anyAnswer) return;
      throw new Error(`status ${res.status}`);
    } catch (err) {
      if (i >= attempts) throw new Error(`the Worker did not answer /healthz: ${err.message}\n${output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const base64url = (text) => Buffer.from(text).toString('base64url');

/**
 * Signs `claims` as an HS256 JWT with `secret`, exactly as an application's backend mints a
 * grant (only `crypto`). `header` can be overridden to forge other algorithms in tests.
 */
export function signToken(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * One request to a Worker, as a client sends it: `token` as a bearer, `json` as a JSON body, and
 * a `ReadableStream` body chunked (half duplex). Resolves to `{status, headers, text, json}`,
 * `json` being `null` when the body is empty or not JSON (callers that expect JSON assert on it);
 * a failed connection throws, naming the request and the cause.
 */
export async function callWorker(baseUrl, urlPath, { method = 'GET', token, json, headers = {}, body } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    h['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  const duplex = body instanceof ReadableStream ? { duplex: 'half' } : {};
  let res;
  let text;
  try {
    res = await fetch(`${baseUrl}${urlPath}`, { method, headers: h, body, ...duplex });
    text = await res.text();
  } catch (err) {
    throw new Error(`${method} ${urlPath}: ${err.message} (${err.cause?.code || err.cause?.message})`);
  }
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, json: parsed };
}

/**
 * Where a Worker's output ends once it has gone quiet (no new output for `quietMs`, waiting at most
 * `maxMs`): a window of its log taken from there holds only the lines of what is sent next. A
 * request's log line is printed after its answer, and under load it can arrive after the client
 * has moved on to the next request.
 */
export async function quietOutputEnd(worker, { quietMs = 150, maxMs = 3000 } = {}) {
  const started = Date.now();
  let length = worker.output().length;
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = worker.output().length;
    if (now !== length) [length, since] = [now, Date.now()];
  }
  return length;
}

/**
 * The Worker's output from `from` on, once it holds at least `lines` log lines (waiting at most
 * `maxMs`) and has then gone quiet: a log line is printed after its answer, later still on a
 * busy machine, and a line beyond those expected must have its chance to show up too.
 */
export async function logSince(worker, from, { lines = 1, maxMs = 5000 } = {}) {
  const started = Date.now();
  const count = () => worker.output().slice(from).split('\n').filter((l) => l.startsWith('{"code":')).length;
  while (count() < lines && Date.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await quietOutputEnd(worker);
  return worker.output().slice(from);
}

/** Clears the emulator's request counters (`DELETE /_emulator/stats`). */
export async function resetEmulatorStats(emulator) {
  const res = await fetch(`${emulator.url}/_emulator/stats`, { method: 'DELETE' });
  await res.arrayBuffer();
}

/** The requests the emulator's API (`/v1.3`) received since its counters were last reset, per route. */
export async function upstreamCalls(emulator) {
  const res = await fetch(`${emulator.url}/_emulator/stats`);
  const stats = await res.json();
  return Object.fromEntries(Object.entries(stats.requests).filter(([route, n]) => route.includes('/v1.3') && n > 0));
}
