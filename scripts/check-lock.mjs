// Checks that package-lock.json is complete before `npm ci` runs: every dependency that a locked
// package declares, optional ones for other platforms included, has its own entry. A lock written
// while the registry lacked some platform's package misses it, and `npm ci` then refuses the lock
// with "Missing: … from lock file" on every machine; this names the fix instead.
// Usage: node scripts/check-lock.mjs [path/to/package-lock.json]
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

const lockPath = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
if (lock.lockfileVersion < 2 || !lock.packages) {
  console.error(`${lockPath}: lockfileVersion ${lock.lockfileVersion} has no "packages" map; regenerate it with npm ≥ 7`);
  process.exit(1);
}
const packages = lock.packages;

/** Node's module resolution over the lock's paths: the nearest node_modules/<name> upwards. */
function resolves(fromPath, name) {
  let dir = fromPath;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (candidate in packages) return true;
    if (!dir) return false;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

const missing = [];
for (const [path, entry] of Object.entries(packages)) {
  if (entry.link) continue;
  const declared = { ...entry.dependencies, ...entry.optionalDependencies };
  if (path === '') Object.assign(declared, entry.devDependencies);
  for (const name of Object.keys(declared)) {
    if (!resolves(path, name)) missing.push(`${name} (needed by ${path || 'the root package'})`);
  }
}
if (missing.length) {
  console.error(`${lockPath} lacks ${missing.length} package(s) that locked packages declare:`);
  for (const m of missing) console.error(`  - ${m}`);
  console.error(`Fix: run 'npm install --package-lock-only' where the registry serves them all, and commit ${posix.basename(lockPath)}.`);
  process.exit(1);
}
