// Proves that `npm ci` with the committed lock passes on this platform even when the registry lacks
// every optional package for other platforms (as registry mirrors sometimes do): it runs `npm ci`
// in a scratch copy of package.json + package-lock.json against a loopback registry that forwards
// to the real one but answers 404 for each locked package whose `os`/`cpu` excludes this machine.
// Usage: node scripts/check-lock-portable.mjs   (`make lock-check`; needs the npm registry)
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const upstream = new URL(
  spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).stdout.trim() ||
    'https://registry.npmjs.org/',
);
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const fits = (list, value) =>
  !list || (list.some((v) => !v.startsWith('!')) ? list.includes(value) : !list.includes(`!${value}`));
const foreign = new Set(
  Object.entries(lock.packages)
    .filter(([path, e]) => path && (!fits(e.os, process.platform) || !fits(e.cpu, process.arch)))
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
);
if (foreign.size === 0) throw new Error('the lock names no package for another platform: nothing to prove');

const refused = [];
const server = http.createServer((req, res) => {
  const name = decodeURIComponent(req.url.split('/-/')[0].slice(1));
  if (foreign.has(name)) {
    refused.push(name);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    return;
  }
  const target = new URL(req.url.slice(1), upstream);
  const out = https.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  out.on('error', (e) => res.writeHead(502).end(String(e)));
  req.pipe(out);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const registry = `http://127.0.0.1:${server.address().port}/`;

const dir = mkdtempSync(join(tmpdir(), 'lock-portable-'));
try {
  cpSync('package.json', join(dir, 'package.json'));
  cpSync('package-lock.json', join(dir, 'package-lock.json'));
  const run = await new Promise((resolve) => {
    // An async child: spawnSync would block this process's loopback registry.
    const p = spawn(
        'npm',
        ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', `--registry=${registry}`,
          `--cache=${join(dir, '.npm-cache')}`],
        { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] },
      );
    p.on('exit', (code) => resolve(code));
  });
  console.log(`packages for other platforms, refused by the loopback registry: ${[...foreign].sort().join(', ')}`);
  console.log(`requests npm made for them: ${refused.length}`);
  if (run !== 0) {
    console.error(`npm ci FAILED (exit ${run}) when the registry lacks other platforms' optional packages`);
    process.exitCode = 1;
  } else {
    console.log('npm ci passed with the committed lock while the registry lacked them');
  }
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
