// Chromium: Debian's /usr/bin/chromium, headless, driven by puppeteer-core over CDP.
import puppeteer from 'puppeteer-core';
import { CHROMIUM_ARGS } from '../../support/browser.mjs';
import { puppeteerEngine } from './puppeteer.mjs';

/** Launches headless Chromium. Resolves to an engine (see puppeteer.mjs). */
export async function launch() {
  const browser = await puppeteer.launch({
    browser: 'chrome',
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    protocolTimeout: 180_000,
  });
  return puppeteerEngine('chromium', browser, {
    // CDP Network.emulateNetworkConditions: requests fail and navigator.onLine / the events follow.
    setOffline: (page, offline) => page.setOfflineMode(offline),
    async collectGarbage(page) {
      const session = await page.createCDPSession();
      await session.send('HeapProfiler.collectGarbage');
      await session.detach();
    },
  });
}
