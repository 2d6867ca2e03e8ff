// Firefox: Debian's firefox-esr, headless, driven by puppeteer-core over WebDriver BiDi (no
// geckodriver: Debian has no package for it, and npm's downloads a binary).
import puppeteer from 'puppeteer-core';
import { puppeteerEngine } from './puppeteer.mjs';

/** Launches headless Firefox ESR; `prefs` are extra about:config preferences. */
export async function launch({ prefs = {} } = {}) {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_BIN || '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: prefs,
    protocolTimeout: 180_000,
  });
  return puppeteerEngine('firefox', browser, {
    // BiDi emulation.setNetworkConditions {type: 'offline'}.
    setOffline: (page, offline) => page.setOfflineMode(offline),
  });
}

/**
 * Firefox's own ways of limiting storage, as launch options: a private window (IndexedDB lives in
 * memory), and every cookie blocked (which blocks IndexedDB too).
 */
export const storageModes = {
  'private browsing': { prefs: { 'browser.privatebrowsing.autostart': true } },
  'cookies blocked': { prefs: { 'network.cookie.cookieBehavior': 2 } },
};
