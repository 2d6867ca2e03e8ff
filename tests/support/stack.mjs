// The whole product on loopback: the emulator, the Worker in workerd, and the demo page with the
// npm package served where an app's import map points. Used by `make demo` and the e2e tests.
import { randomBytes } from 'node:crypto';
import { freePort, startEmulator, startStatic } from './harness.mjs';
import { startWorker } from './worker.mjs';

/**
 * Starts the stack. `pageOrigins` extra origins allowed by the Worker and the storage CORS
 * (the page's own origin is always allowed unless `allowPageOrigin` is false). `extraRoutes` adds
 * directories to the page server (URL prefix → directory), e.g. a test's own probe page.
 * Resolves to `{emulator, worker, page, grantSecret, stop()}` (`grantSecret`: the Worker's
 * GRANT_SECRET, for tests that mint grants as an app's backend does).
 */
export async function startStack({
  emulatorArgs = [],
  workerVars = {},
  allowPageOrigin = true,
  pagePort,
  extraRoutes = {},
} = {}) {
  const port = pagePort || (await freePort());
  const pageOrigin = `http://127.0.0.1:${port}`;
  const origins = allowPageOrigin ? pageOrigin : 'http://127.0.0.1:1';
  const started = [];
  const grantSecret = randomBytes(32).toString('hex');
  try {
    const emulator = await startEmulator({ args: ['--allowed-origins', origins, ...emulatorArgs] });
    started.push(emulator);
    const worker = await startWorker({
      emulatorUrl: emulator.apiUrl,
      vars: { ALLOWED_ORIGINS: origins, DEV_GRANTS: 'true', ...workerVars },
      secrets: {
        TWELVELABS_API_KEY: emulator.apiKey,
        GRANT_SECRET: grantSecret,
        TOKEN_SECRET: randomBytes(32).toString('hex'),
      },
    });
    started.push(worker);
    const page = await startStatic({
      port,
      routes: { '/': 'www', '/node_modules/twelvelabs-edge-upload/': 'pkg', ...extraRoutes },
      dynamic: {
        '/demo-config.json': () => ({
          type: 'application/json',
          body: JSON.stringify({ workerUrl: worker.url }),
        }),
      },
    });
    started.push(page);
    const stop = () => Promise.allSettled(started.reverse().map((s) => s.stop()));
    return { emulator, worker, page, grantSecret, stop };
  } catch (err) {
    await Promise.allSettled(started.reverse().map((s) => s.stop()));
    throw err;
  }
}
