// A test file's fixture: the stack and headless Chromium, started before its tests and stopped after.
import { after, before } from 'node:test';
import { launchChromium } from './browser.mjs';
import { startStack } from './stack.mjs';

/**
 * For a test file that drives the package in Chromium: starts the stack (`startStack(options)`)
 * and headless Chromium before the file's tests, and stops both after them, also on failure.
 * Returns an object whose `stack` and `browser` are set once they have started.
 */
export function chromiumStack(options) {
  const fixture = { stack: null, browser: null };
  before(async () => {
    fixture.stack = await startStack(options);
    fixture.browser = await launchChromium();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.stack?.stop();
  });
  return fixture;
}
