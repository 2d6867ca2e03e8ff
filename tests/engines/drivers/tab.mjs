// What every engine driver gives a scenario: a tab that can open a URL, run a function in the page,
// wait for a condition, choose files in an `<input type=file>`, and (where the driver can) go
// offline. Scenarios see only this, so each one is written once and runs in every engine.

/** Thrown by a driver for something its protocol cannot do; a scenario says so in its output. */
export class Unsupported extends Error {
  constructor(engine, what, why) {
    super(`${engine}: ${what} is out of reach: ${why}`);
    this.name = 'Unsupported';
    this.engine = engine;
    this.why = why;
  }
}

/**
 * Page-side listeners that collect uncaught errors and unhandled rejections, installed after each
 * load (classic WebDriver has no event for them): `tab.errors()` reads them back.
 */
export const WATCH_ERRORS = `
  if (!window.__engineErrors) {
    window.__engineErrors = [];
    addEventListener('error', (e) => window.__engineErrors.push('error: ' + (e.message || e.type)));
    addEventListener('unhandledrejection', (e) =>
      window.__engineErrors.push('unhandled rejection: ' + ((e.reason && e.reason.message) || String(e.reason))));
  }`;

/** Allocates and drops ~400 MB in short-lived pieces, yielding between rounds: engines collect. */
const ALLOCATION_PRESSURE = async () => {
  for (let round = 0; round < 20; round++) {
    let keep = [];
    for (let i = 0; i < 200; i++) keep.push(new Array(10_000).fill(round));
    keep = null;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
};

/**
 * The driver-independent part of a tab. A driver supplies `run(source, arg)`: evaluates the
 * expression `source` (a function's text), calls it with `arg`, awaits it and returns its
 * JSON-able result; plus `load(url)`, `reload()`, `chooseFiles(selector, paths)`,
 * `setOffline(offline)` and `close()`.
 */
export class Tab {
  constructor(engine, driver) {
    this.engine = engine;
    this.driver = driver;
  }

  /** Calls `fn(arg)` in the page and resolves to its (awaited, JSON-able) result. */
  evaluate(fn, arg = null) {
    return this.driver.run(fn.toString(), arg);
  }

  /** Opens `url` and waits until `readyExpression` (a page-side boolean expression) holds. */
  async goto(url, readyExpression = 'document.readyState === "complete"') {
    await this.driver.load(url);
    await this.#afterLoad(readyExpression);
  }

  /** Reloads the page and waits as `goto` does. */
  async reload(readyExpression = 'document.readyState === "complete"') {
    await this.driver.reload();
    await this.#afterLoad(readyExpression);
  }

  async #afterLoad(readyExpression) {
    await this.waitFor(new Function(`return ${readyExpression};`), null, { timeout: 60_000, what: readyExpression });
    await this.driver.run(`() => { ${WATCH_ERRORS} }`, null);
  }

  /**
   * Polls `fn(arg)` in the page every `interval` ms until it returns a truthy value, and resolves
   * to that value; rejects after `timeout` ms, naming `what`.
   */
  async waitFor(fn, arg = null, { timeout = 120_000, interval = 100, what = fn.toString().slice(0, 200) } = {}) {
    const source = fn.toString();
    const deadline = Date.now() + timeout;
    let lastError;
    for (;;) {
      try {
        const value = await this.driver.run(source, arg);
        if (value) return value;
      } catch (err) {
        // A navigation in progress destroys the context the poll ran in: try again.
        lastError = err;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.engine}: waited ${timeout} ms for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  /** Chooses `paths` in the `<input type=file>` at `selector`, as a person picking files would. */
  chooseFiles(selector, paths) {
    return this.driver.chooseFiles(selector, Array.isArray(paths) ? paths : [paths]);
  }

  /** Emulates losing (true) or regaining (false) the network; throws `Unsupported` where it cannot. */
  setOffline(offline) {
    return this.driver.setOffline(offline);
  }

  /**
   * Runs a full garbage collection where the protocol has a command for it (Chromium: CDP
   * HeapProfiler.collectGarbage); elsewhere, allocation pressure from page JS, which makes the
   * engine collect on its own (Firefox's BiDi and classic WebDriver have no GC command).
   */
  collectGarbage() {
    return this.driver.collectGarbage ? this.driver.collectGarbage() : this.evaluate(ALLOCATION_PRESSURE);
  }

  /** Uncaught errors and unhandled rejections the page saw since its last load. */
  errors() {
    return this.driver.run('() => window.__engineErrors || []', null);
  }

  close() {
    return this.driver.close();
  }
}
