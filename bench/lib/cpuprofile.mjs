// Sums a V8 CPU profile (`.cpuprofile`, from `node --cpu-prof` or the inspector's
// `Profiler.stop`) by self time: per category (a function of the frame) and per function.

/** Self time (ms) per node id, from the samples and their time deltas. */
function selfTimes(profile) {
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) || 0) + (profile.timeDeltas[i] || 0) / 1000);
  }
  return self;
}

/** V8's pseudo-frames, which every profile has. */
export function pseudoCategory({ functionName }) {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)') return 'idle (waiting for IO)';
  if (functionName === '(program)') return 'native, outside JS (program)';
  if (functionName === '(root)') return 'root';
  return null;
}

/** Whether a frame is WebAssembly code. */
export const isWasm = ({ functionName, url }) => /^wasm:|\.wasm/.test(url) || /^\$|^wasm-function/.test(functionName);

/**
 * Answers `{totalMs, byCategory: [{name, ms, share}], topFunctions: [{name, ms, share}]}`,
 * both sorted by time, `topFunctions` cut to `top`.
 */
export function summarizeProfile(profile, { category, top = 25 }) {
  const self = selfTimes(profile);
  const byCategory = new Map();
  const byFunction = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const ms = self.get(node.id) || 0;
    if (!ms) continue;
    total += ms;
    const cat = category(node.callFrame);
    byCategory.set(cat, (byCategory.get(cat) || 0) + ms);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|pkg)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) || 0) + ms);
  }
  const sorted = (map) => [...map.entries()].sort((a, b) => b[1] - a[1]).map(([name, ms]) => ({ name, ms: Math.round(ms), share: ms / total }));
  return { totalMs: Math.round(total), byCategory: sorted(byCategory), topFunctions: sorted(byFunction).slice(0, top) };
}

/** The summary as lines of text. */
export function formatProfile(summary) {
  const pct = (share) => `${(share * 100).toFixed(1).padStart(5)} %`;
  return [
    ...summary.byCategory.map((c) => `  ${pct(c.share)}  ${String(c.ms).padStart(6)} ms  ${c.name}`),
    'top functions by self time:',
    ...summary.topFunctions.map((f) => `  ${pct(f.share)}  ${String(f.ms).padStart(6)} ms  ${f.name}`),
  ];
}
