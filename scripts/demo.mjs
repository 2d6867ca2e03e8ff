// `make demo`: the emulator, the Worker in workerd and the demo page, on loopback, until Ctrl-C.
// The page imports the npm package from /node_modules/twelvelabs-edge-upload/ (served from pkg/)
// exactly as an app using an import map would, and gets grants from the Worker's /dev/grant
// route (DEV_GRANTS=true: the demo configuration is the only one that enables it).
//
// DEMO_PORT picks the page's port (default: a free one). The emulator reads its EMULATOR_*
// environment variables (see emulator/README.md), e.g. EMULATOR_LATENCY_MS=100 to watch the
// progress bars move, or EMULATOR_PUT_FAILURE_RATE=0.1 to see retries at work.
import { stopOnSignal } from '../tests/support/harness.mjs';
import { startStack } from '../tests/support/stack.mjs';

let stack;
try {
  stack = await startStack({
    pagePort: Number(process.env.DEMO_PORT) || undefined,
    // Long enough to see an asset go from "processing" to "ready" in the page.
    emulatorArgs: ['--processing-ms', process.env.EMULATOR_PROCESSING_MS || '3000'],
  });
} catch (error) {
  console.error(`make demo: could not start the stack: ${error.message}`);
  console.error('Build first with `make emulator pkg worker` (make demo does this).');
  process.exit(1);
}

console.log(`
  twelvelabs-edge-upload demo

  Open:      ${stack.page.url}/
  Worker:    ${stack.worker.url}   (wrangler dev in workerd, DEV_GRANTS on)
  Emulator:  ${stack.emulator.url}   (TwelveLabs API stand-in)

  Slower, to watch it work:   EMULATOR_LATENCY_MS=100 make demo
  With faults:                EMULATOR_PUT_FAILURE_RATE=0.1 EMULATOR_PUT_FAILURE_KIND=reset make demo
  Ctrl-C stops everything.
`);

stopOnSignal(() => stack.stop());
