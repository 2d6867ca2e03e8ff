// CPU time of the processes a load test involves, from /proc (Linux): how much of the machine's
// cores the load generator, the emulator and the Worker's runtime each used during a run. On a
// small shared machine they compete for the same cores; these figures say how much.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of /proc/<pid>/stat's utime/stime (USER_HZ; 100 on Linux). */
const TICK_MS = 10;

/** The stat fields after the command name: index 0 is field 3 (state), 2 is pgrp, 11/12 utime/stime. */
function statFields(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // gone, or not Linux
  }
}

/**
 * CPU time (user + system, ms) used so far by every live process in process group `pgid`
 * (the harness starts each service as its own group: wrangler's Node process and its workerd
 * child count together). Processes that already exited are not counted.
 */
export function groupCpuMs(pgid) {
  let ticks = 0;
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(name);
    if (!fields || Number(fields[2]) !== pgid) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}

/** CPU time (user + system, ms) this Node process has used so far (the in-process load generator). */
export const selfCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * CPU time (ms) every CPU of the machine has spent busy so far (all of /proc/stat's first line
 * but idle and iowait): with the figures above, what other people's processes took.
 */
export function machineBusyMs() {
  try {
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return (total - fields[3] - (fields[4] || 0)) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Logical CPUs this process may use. */
export const cores = () => (os.availableParallelism ? os.availableParallelism() : os.cpus().length);

/**
 * Starts measuring: `groups` maps a name to a process group id. Answers
 * `stop({activeMs})` → `{[name]: cores busy on average}` (CPU ms / wall ms), `loadgen` for this
 * process, `total` (their sum) and `others`: the cores the rest of the machine kept busy
 * meanwhile (other people's processes on a shared machine). `activeMs`, when given, is the part
 * of the wall time in which the work happened (autocannon only reports its end on its next
 * one-second tick, so a short run's wall time has an idle tail that would dilute our figures);
 * otherwise the time between the two calls. `others` is always over the whole time.
 */
export function cpuMeter(groups) {
  const started = performance.now();
  const before = Object.fromEntries(Object.entries(groups).map(([name, pgid]) => [name, groupCpuMs(pgid)]));
  const selfBefore = selfCpuMs();
  const machineBefore = machineBusyMs();
  return ({ activeMs } = {}) => {
    const fullMs = performance.now() - started;
    const wallMs = activeMs > 0 ? activeMs : fullMs;
    const usedMs = { loadgen: selfCpuMs() - selfBefore };
    for (const [name, pgid] of Object.entries(groups)) usedMs[name] = groupCpuMs(pgid) - before[name];
    const oursMs = Object.values(usedMs).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const out = Object.fromEntries(Object.entries(usedMs).map(([name, ms]) => [name, ms / wallMs]));
    out.total = oursMs / wallMs;
    out.others = Math.max(0, machineBusyMs() - machineBefore - oursMs) / fullMs;
    return out;
  };
}
