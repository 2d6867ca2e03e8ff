// One emulator and one Worker for a Worker test file: started before its tests, stopped (by PID)
// after them, also on failure, with fresh signing secrets. A module of its own, so that only
// test files import `node:test` through it (the bench imports ./worker.mjs).
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { startEmulator } from './harness.mjs';
import { startWorker } from './worker.mjs';

/**
 * Registers the file's `before`/`after` hooks and answers the stack: `grantSecret` and
 * `tokenSecret` at once, `emulator` and `worker` once `before` has run, when `ready(stack)` is
 * called (node:test runs a file's top-level `before` hooks side by side, so another hook cannot
 * wait for this one).
 * @param {{ emulatorArgs?: string[], vars?: Record<string, string>, ready?: (stack: object) => void }} options
 */
export function emulatorAndWorker({ emulatorArgs, vars = {}, ready = () => {} } = {}) {
  const stack = {
    grantSecret: randomBytes(32).toString('hex'),
    tokenSecret: randomBytes(32).toString('hex'),
    emulator: undefined,
    worker: undefined,
  };
  before(async () => {
    stack.emulator = await startEmulator(emulatorArgs ? { args: emulatorArgs } : {});
    stack.worker = await startWorker({
      emulatorUrl: stack.emulator.apiUrl,
      vars,
      secrets: { TWELVELABS_API_KEY: stack.emulator.apiKey, GRANT_SECRET: stack.grantSecret, TOKEN_SECRET: stack.tokenSecret },
    });
    ready(stack);
  });
  after(async () => {
    await stack.worker?.stop();
    await stack.emulator?.stop();
  });
  return stack;
}
