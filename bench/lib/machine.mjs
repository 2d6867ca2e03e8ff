// The machine and tool versions a benchmark ran on, for the report and BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../tests/support/harness.mjs';

function command(cmd, args) {
  try {
    // trimEnd only: `free -h` aligns its header with leading spaces.
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return 'unknown';
  }
}

function npmVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    return line ? line.split(':')[1].trim() : os.cpus()[0]?.model || 'unknown';
  } catch {
    return os.cpus()[0]?.model || 'unknown';
  }
}

/** The 1-minute load average. */
export const load1 = () => os.loadavg()[0];

/**
 * Waits up to `maxSeconds` for the 1-minute load average to drop below `threshold` (other
 * builds on a shared machine skew every figure). Answers the load when it stopped waiting.
 */
export async function waitForIdle({ maxSeconds, threshold = 1.5, log }) {
  const deadline = Date.now() + maxSeconds * 1000;
  while (load1() >= threshold && Date.now() < deadline) {
    log(`waiting for the machine to settle: load average ${load1().toFixed(2)} ≥ ${threshold}`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
  return load1();
}

/** Describes this machine and the versions of everything measured. */
export function machineInfo() {
  const cargoVersion = readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"/m)?.[1];
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: cpuModel(),
    memory: command('free', ['-h']),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    chromium: command(process.env.CHROMIUM_BIN || '/usr/bin/chromium', ['--version']),
    rustc: command('rustc', ['--version']),
    // Uncommitted changes were measured too when the tree is dirty: say so next to the commit.
    commit: `${command('git', ['rev-parse', '--short', 'HEAD'])}${command('git', ['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no']) ? ' + uncommitted changes' : ''}`,
    package: `twelvelabs-edge-upload ${cargoVersion}`,
    npm: Object.fromEntries(
      ['wrangler', 'workerd', 'playwright-core', 'twelvelabs-js', '@uppy/core', '@uppy/aws-s3', 'autocannon', 'esbuild'].map(
        (name) => [name, npmVersion(name)],
      ),
    ),
  };
}
