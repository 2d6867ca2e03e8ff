// The harness's signal handling, as `make demo` and `make worker-dev` rely on it: Ctrl-C runs the
// launcher's graceful stop and exits 0; without a launcher, or on a second signal while stopping,
// every service is killed and the exit code is 130. Each case runs a child Node process that
// starts a real service (a `sleep`) through the harness and reports its PID.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { ROOT } from '../support/harness.mjs';

const HARNESS = new URL('../support/harness.mjs', import.meta.url).href;

/** A child launcher; resolves to `{child, servicePid, exited, output()}` once it is ready. */
function launcher(body) {
  const script = `
    import { spawnService, stopOnSignal } from ${JSON.stringify(HARNESS)};
    const service = await spawnService({ name: 'sleeper', cmd: 'sh', args: ['-c', 'echo up; exec sleep 60'], readyPattern: /up/ });
    ${body}
    console.log('service ' + service.pid);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = /service (\d+)/.exec(output);
      if (match) resolve({ child, servicePid: Number(match[1]), exited, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then(({ code }) => reject(new Error(`launcher exited early (${code}): ${output}`)));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid) {
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`${signal} runs the launcher's stop once and exits 0`, async () => {
    const run = await launcher(`stopOnSignal(async () => { console.log('stopping'); await service.stop(); console.log('stopped'); });`);
    run.child.kill(signal);
    const { code } = await run.exited;
    assert.equal(code, 0, run.output());
    assert.equal(run.output().match(/stopping/g)?.length, 1, run.output());
    assert.match(run.output(), /stopped/);
    assert.ok(await gone(run.servicePid), 'the service was stopped');
  });
}

test('a second SIGINT while the stop runs kills every service and exits 130', async () => {
  const run = await launcher(`stopOnSignal(() => { console.log('stopping'); return new Promise(() => {}); });`);
  run.child.kill('SIGINT');
  for (let i = 0; i < 250 && !run.output().includes('stopping'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(run.output(), /stopping/, 'the first SIGINT started the stop');
  run.child.kill('SIGINT');
  const { code } = await run.exited;
  assert.equal(code, 130, run.output());
  assert.ok(await gone(run.servicePid), 'the service was killed');
});

test('without a launcher, SIGINT kills every service and exits 130', async () => {
  const run = await launcher('');
  run.child.kill('SIGINT');
  const { code } = await run.exited;
  assert.equal(code, 130, run.output());
  assert.ok(await gone(run.servicePid), 'the service was killed');
});
