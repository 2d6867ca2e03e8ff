// `make worker-dev`: serves the ALREADY BUILT Worker (build/, from `make worker`) locally in
// `wrangler dev` (workerd), without the rebuild that `wrangler dev` in the checkout runs on every
// start (wrangler.toml's [build]). The vars are wrangler.toml's [vars], overridden by .dev.vars
// (secrets and local overrides, as `wrangler dev` itself reads them), in a throwaway config
// without [build] (tests/support/worker.mjs). Listens on 127.0.0.1:$WORKER_PORT (default 8787,
// wrangler's own default) and prints the Worker's log lines until Ctrl-C.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ROOT, stopOnSignal } from '../tests/support/harness.mjs';
import { startWorker } from '../tests/support/worker.mjs';

const DEV_VARS = path.join(ROOT, '.dev.vars');
const port = Number(process.env.WORKER_PORT) || 8787;

if (!existsSync(DEV_VARS)) {
  console.error('make worker-dev: .dev.vars is missing. `cp .dev.vars.example .dev.vars` and fill in the secrets.');
  process.exit(1);
}
// wrangler's own reader of wrangler.toml (it validates the file as `wrangler dev` would).
const { unstable_readConfig: readConfig } = await import('wrangler');
const { vars } = readConfig({ config: path.join(ROOT, 'wrangler.toml') }, { hideWarnings: true });
const local = parseEnv(readFileSync(DEV_VARS, 'utf8'));

let worker;
try {
  worker = await startWorker({ vars, secrets: local, port, echo: true });
} catch (error) {
  console.error(`make worker-dev: the Worker did not start: ${error.message}`);
  process.exit(1);
}
console.log(`
  The built Worker (build/) in wrangler dev: ${worker.url}   (rebuild with \`make worker\`, then restart)
  Upstream:  ${local.TWELVELABS_BASE_URL ?? vars.TWELVELABS_BASE_URL}
  Origins:   ${local.ALLOWED_ORIGINS ?? vars.ALLOWED_ORIGINS ?? ''}
  Ctrl-C stops it.
`);

let stopping = false;
stopOnSignal(() => {
  stopping = true;
  return worker.stop();
});
// wrangler dev ending on its own (a crash, a killed process) must not look like a clean stop.
worker.exited.then(({ code, signal }) => {
  if (stopping) return;
  console.error(`make worker-dev: wrangler dev stopped on its own (exit code ${code}, signal ${signal}); its output is above.`);
  process.exit(1);
});
