// The tab of the engines puppeteer-core drives: Chromium over CDP and Firefox over WebDriver BiDi.
// Each tab lives in its own browser context (its own cookies and IndexedDB), so tests share one
// browser process per engine and still cannot see each other's saved uploads.
import { Tab } from './tab.mjs';

/**
 * Wraps a launched puppeteer `browser` as an engine: `{name, version, pid, newTab(), stop()}`.
 * `setOffline(page, offline)` is the engine's offline switch; `collectGarbage(page)`, where
 * given, its GC command.
 */
export async function puppeteerEngine(name, browser, { setOffline, collectGarbage }) {
  const version = await browser.version();
  return {
    name,
    version,
    pid: browser.process()?.pid,
    async newTab() {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      page.setDefaultTimeout(120_000);
      return new Tab(name, {
        run: (source, arg) => page.evaluate(`(${source})(${JSON.stringify(arg)})`),
        load: (url) => page.goto(url, { waitUntil: 'load' }),
        reload: () => page.reload({ waitUntil: 'load' }),
        async chooseFiles(selector, paths) {
          const input = await page.waitForSelector(selector);
          await input.uploadFile(...paths);
          await input.dispose();
        },
        setOffline: (offline) => setOffline(page, offline),
        collectGarbage: collectGarbage && (() => collectGarbage(page)),
        page,
        close: () => context.close().catch(() => {}),
      });
    },
    stop: () => browser.close().catch(() => browser.process()?.kill('SIGKILL')),
  };
}
