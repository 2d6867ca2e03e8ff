// `make demo`: the emulator, the Worker in workerd and the demo page, on loopback, until Ctrl-C.
// The page imports the npm package from /node_modules/twelvelabs-edge-upload/ (served from pkg/)
// exactly as an app using an import map would, and gets grants from the Worker's /dev/grant route.
import { startStack } from '../tests/support/stack.mjs';

const stack = await startStack({
  pagePort: Number(process.env.DEMO_PORT) || undefined,
  emulatorArgs: ['--asset-processing-ms', '3000'],
});

console.log(`
  twelvelabs-edge-upload demo

  Open:      ${stack.page.url}/
  Worker:    ${stack.worker.url}   (wrangler dev in workerd, DEV_GRANTS on)
  Emulator:  ${stack.emulator.url}   (TwelveLabs API stand-in)

  Ctrl-C stops everything.
`);

const shutdown = async () => {
  await stack.stop();
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
