// Test and demo harness: starts the services a test needs on free loopback ports and stops them
// by PID (process group), also when the test fails or the Node process is interrupted.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The emulator binary the harness runs (built by `make emulator`). */
export const EMULATOR_BIN =
  process.env.EMULATOR_BIN || path.join(ROOT, 'target/emulator/twelvelabs-emulator');

/** The API key the harness gives the emulator unless a test picks another. */
export const EMULATOR_API_KEY = 'harness-emulator-key-0123456789';

const running = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal); // the whole process group: wrangler's workerd child included
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function killAllNow() {
  for (const service of running) killGroup(service.pid, 'SIGKILL');
  running.clear();
}
function killAllAndExit() {
  killAllNow();
  process.exit(130);
}
process.on('exit', killAllNow);
// One listener per signal, replaced by `stopOnSignal`: a second listener would race the first.
let onSignal = killAllAndExit;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => onSignal());

/**
 * For launchers that run until Ctrl-C (`make demo`, `make worker-dev`): on SIGINT, SIGTERM or
 * SIGHUP, runs `stop` once and exits 0. A second signal while `stop` runs kills every service
 * at once and exits 130.
 */
export function stopOnSignal(stop) {
  onSignal = async () => {
    onSignal = killAllAndExit;
    await stop();
    process.exit(0);
  };
}

/** Asks the OS for a free loopback TCP port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns a long-running process in its own process group and waits until a line of its output
 * matches `readyPattern`. Resolves to `{proc, pid, match, exited, output(), stop()}` (`exited`:
 * a promise of `{code, signal}` once the process ends); rejects (after
 * killing it) if it exits, prints a line matching `failPattern`, or does not become ready within
 * `timeoutMs`.
 */
export function spawnService({
  name,
  cmd,
  args = [],
  env = {},
  cwd = ROOT,
  readyPattern,
  failPattern,
  timeoutMs = 60_000,
  echo = Boolean(process.env.HARNESS_VERBOSE),
}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = { name, proc, pid: proc.pid, match: null };
    // Settles when the process exits, for launchers that must notice a service dying on its own.
    service.exited = new Promise((done) => proc.once('exit', (code, signal) => done({ code, signal })));
    let log = '';
    let settled = false;
    let exited = false;
    running.add(service);

    const stop = async () => {
      running.delete(service);
      if (exited) return;
      const gone = new Promise((r) => proc.once('exit', r));
      killGroup(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    };
    service.stop = stop;
    service.output = () => log;

    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop().finally(() =>
        reject(new Error(`${name}: ${why}\n--- output ---\n${log.slice(-4000)}`)),
      );
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);

    const onData = (chunk) => {
      const text = chunk.toString();
      log += text;
      if (log.length > 200_000) log = log.slice(-100_000);
      if (echo) process.stderr.write(`[${name}] ${text}`);
      if (!settled && failPattern?.test(log)) {
        fail(`printed ${failPattern}`);
        return;
      }
      if (!settled) {
        const match = log.match(readyPattern);
        if (match) {
          settled = true;
          clearTimeout(timer);
          service.match = match;
          resolve(service);
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('error', (err) => fail(`could not start ${cmd}: ${err.message}`));
    proc.on('exit', (code, signal) => {
      exited = true;
      running.delete(service);
      fail(`exited early (code ${code}, signal ${signal})`);
    });
  });
}

/**
 * Starts the TwelveLabs emulator on a free loopback port.
 * Resolves to `{url, apiUrl, apiKey, pid, stop(), output()}`; `apiUrl` includes `/v1.3`.
 */
export async function startEmulator({ args = [], env = {}, apiKey = EMULATOR_API_KEY } = {}) {
  if (!existsSync(EMULATOR_BIN)) {
    throw new Error(`emulator binary not found at ${EMULATOR_BIN}: run \`make emulator\` first`);
  }
  const service = await spawnService({
    name: 'emulator',
    cmd: EMULATOR_BIN,
    args: ['--listen', '127.0.0.1:0', '--api-key', apiKey, ...args],
    env,
    readyPattern: /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    timeoutMs: 30_000,
  });
  const url = service.match[1];
  return {
    url,
    apiUrl: `${url}/v1.3`,
    apiKey,
    pid: service.pid,
    stop: service.stop,
    output: service.output,
  };
}

/**
 * The asset `id`'s status as the emulator holds it, or `null` once it is gone. A deletion runs in
 * the background of whatever asked for it, so this polls (up to 3 s) until the asset is gone
 * (`gone`) or still there (the default), and answers what it last read.
 */
export async function assetStatus(emulator, id, { gone = false } = {}) {
  let status;
  for (let i = 0; i < 60; i++) {
    const response = await fetch(`${emulator.apiUrl}/assets/${id}`, { headers: { 'x-api-key': emulator.apiKey } });
    if (response.status !== 404 && response.status !== 200) throw new Error(`GET asset ${id} → ${response.status}`);
    status = response.status === 404 ? null : (await response.json()).status;
    if ((status === null) === gone) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return status;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

/**
 * Serves static files in-process on a free loopback port.
 * `routes` maps URL prefixes to directories, longest prefix first, e.g.
 * `{'/': 'www', '/node_modules/twelvelabs-edge-upload/': 'pkg'}`.
 * `inject` maps a URL path to a function returning extra response text (e.g. config for the demo).
 * Resolves to `{url, port, stop()}`.
 */
export async function startStatic({ routes, port = 0, host = '127.0.0.1', dynamic = {} }) {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (dynamic[pathname]) {
      const { type, body } = dynamic[pathname]();
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const prefix = prefixes.find((p) => pathname.startsWith(p));
    if (!prefix || req.method !== 'GET') {
      res.writeHead(prefix ? 405 : 404).end();
      return;
    }
    const base = path.resolve(ROOT, routes[prefix]);
    let file = path.resolve(base, '.' + path.sep + pathname.slice(prefix.length));
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Fetches JSON and throws with the body when the status is not 2xx. */
export async function getJson(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method || 'GET'} ${url} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * `size` pseudo-random bytes from `seed` (a 32-bit LCG): the same seed gives the same bytes, so a
 * test can upload content it can regenerate and hash.
 */
export function seededBytes(size, seed) {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}
