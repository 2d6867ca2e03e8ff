// WebKit: WebKitGTK's MiniBrowser (Safari's engine, not Safari) through Debian's WebKitWebDriver,
// driven by selenium-webdriver over classic WebDriver. MiniBrowser has no headless mode, so it
// draws into an Xvfb display started here. Xvfb and WebKitWebDriver (with the MiniBrowser
// processes it starts, in the same process group) are stopped by PID, also on failure.
import { existsSync, readdirSync } from 'node:fs';
import { Builder, By } from 'selenium-webdriver';
import { freePort, spawnService } from '../../support/harness.mjs';
import { Tab, Unsupported } from './tab.mjs';

const WEBDRIVER = process.env.WEBKIT_WEBDRIVER_BIN || '/usr/bin/WebKitWebDriver';

function miniBrowser() {
  const found =
    process.env.WEBKIT_MINIBROWSER_BIN ||
    readdirSync('/usr/lib')
      .map((triplet) => `/usr/lib/${triplet}/webkit2gtk-4.1/MiniBrowser`)
      .find((candidate) => existsSync(candidate));
  if (!found) throw new Error('WebKitGTK MiniBrowser not found: run `make bootstrap` (Debian webkit2gtk-driver)');
  return found;
}

/** Page-side wrapper: runs `source(arg)`, awaits it, and hands back `{ok, value}` or `{ok: false, error}`. */
const ASYNC_RUNNER = `
  const done = arguments[arguments.length - 1];
  const arg = arguments[0];
  Promise.resolve()
    .then(() => (%SOURCE%)(arg))
    .then((value) => done({ ok: true, value: value === undefined ? null : value }),
          (error) => done({ ok: false, error: String((error && error.stack) || error) }));`;

// The longest a WebDriver call may take before the tier fails naming it. WebKitWebDriver has
// been seen to never answer (a MiniBrowser left over from another run on the machine): without
// these a test would hang until CI's own limit.
const SESSION_MS = 60_000;
const SCRIPT_MS = 180_000;
const PAGE_LOAD_MS = 120_000;
const CALL_MARGIN_MS = 30_000;

/** `promise`, or a rejection naming `what` (with the driver's output) once `ms` have passed. */
function withDeadline(promise, ms, what, service) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`webkit: ${what} did not answer within ${ms} ms\n${service.output().slice(-4000)}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Starts Xvfb and WebKitWebDriver on free loopback resources. Resolves to `{url, capabilities,
 * pid, stop()}`: the WebDriver server's URL and the capabilities that open a MiniBrowser session.
 */
export async function startWebKitWebDriver() {
  const started = [];
  const stop = () => Promise.allSettled(started.reverse().map((service) => service.stop()));
  try {
    // -displayfd 1: Xvfb picks a free display and prints its number when it accepts clients.
    const xvfb = await spawnService({
      name: 'xvfb',
      cmd: 'Xvfb',
      args: ['-displayfd', '1', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'],
      readyPattern: /^(\d+)\s*$/m,
      timeoutMs: 30_000,
    });
    started.push(xvfb);
    const port = await freePort();
    // WebKitWebDriver prints nothing when it is ready: `echo` gives the harness its ready line,
    // `exec` keeps the PID, and readiness is then polled on /status.
    const driverService = await spawnService({
      name: 'webkitwebdriver',
      cmd: 'sh',
      args: ['-c', `echo starting; exec "${WEBDRIVER}" --host=127.0.0.1 --port=${port}`],
      env: { DISPLAY: `:${xvfb.match[1]}` },
      readyPattern: /starting/,
      timeoutMs: 10_000,
    });
    started.push(driverService);
    const url = `http://127.0.0.1:${port}`;
    await waitForStatus(url, driverService);
    const capabilities = {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: miniBrowser(), args: ['--automation'] },
    };
    return { url, capabilities, pid: driverService.pid, service: driverService, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts Xvfb and WebKitWebDriver. Resolves to an engine: `{name, version, newTab(), stop()}`. */
export async function launch() {
  const server = await startWebKitWebDriver();
  const { stop } = server;
  try {
    const call = (promise, ms, what) => withDeadline(promise, ms, what, server.service);
    const build = () => new Builder().usingServer(server.url).withCapabilities(server.capabilities).build();
    // WebKitWebDriver has been seen, once in many CI runs, not to answer a new session within
    // the deadline (the same scenario passed when run again): the session is asked for once more
    // before the scenario fails, naming the step.
    const newSession = async () => {
      try {
        return await call(build(), SESSION_MS, 'a new session');
      } catch (err) {
        if (!/did not answer/.test(err.message)) throw err;
        console.error(`webkit: a new session did not start within ${SESSION_MS} ms; asking once more`);
        return call(build(), SESSION_MS, 'a new session (asked a second time)');
      }
    };

    // One session to learn the version; each tab then gets its own session (its own storage).
    const probe = await newSession();
    const version = (await call(probe.getCapabilities(), SESSION_MS, 'getCapabilities')).get('browserVersion');
    await call(probe.quit(), SESSION_MS, 'quit');

    return {
      name: 'webkit',
      version: `WebKitGTK ${version}`,
      pid: server.pid,
      async newTab() {
        const driver = await newSession();
        await call(driver.manage().setTimeouts({ script: SCRIPT_MS, pageLoad: PAGE_LOAD_MS }), SESSION_MS, 'setTimeouts');
        return new Tab('webkit', {
          async run(source, arg) {
            const script = driver.executeAsyncScript(ASYNC_RUNNER.replace('%SOURCE%', source), arg);
            const result = await call(script, SCRIPT_MS + CALL_MARGIN_MS, 'a page script');
            if (!result || !result.ok) throw new Error(`webkit: page script failed: ${result?.error}`);
            return result.value;
          },
          load: (url) => call(driver.get(url), PAGE_LOAD_MS + CALL_MARGIN_MS, `loading ${url}`),
          reload: () => call(driver.navigate().refresh(), PAGE_LOAD_MS + CALL_MARGIN_MS, 'a reload'),
          async chooseFiles(selector, paths) {
            // WebDriver's Element Send Keys on a file input sets its files (no interactability
            // check for file inputs), and the page gets `input` and `change` as from a person.
            const input = await call(driver.findElement(By.css(selector)), SESSION_MS, `finding ${selector}`);
            await call(input.sendKeys(paths.join('\n')), SESSION_MS, 'choosing files');
          },
          setOffline() {
            throw new Unsupported(
              'webkit',
              'offline emulation',
              'classic WebDriver has no network-conditions command and WebKitWebDriver offers no extension for it',
            );
          },
          driver,
          close: () => call(driver.quit(), SESSION_MS, 'quit').catch(() => {}),
        });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitForStatus(server, service) {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${server}/status`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`WebKitWebDriver did not answer /status:\n${service.output()}`);
}
