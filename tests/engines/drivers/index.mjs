// The engines of the tier, by name. Each module launches its browser and resolves to
// `{name, version, newTab(), stop()}`; a tab is a `Tab` (tab.mjs).
export { Unsupported } from './tab.mjs';

export const ENGINES = {
  chromium: () => import('./chromium.mjs'),
  firefox: () => import('./firefox.mjs'),
  webkit: () => import('./webkit.mjs'),
};

/** Launches the engine `name` with its module's `options`. */
export async function launchEngine(name, options) {
  const load = ENGINES[name];
  if (!load) throw new Error(`unknown engine ${name}: one of ${Object.keys(ENGINES).join(', ')}`);
  return (await load()).launch(options);
}

/**
 * The engine's own storage-limiting modes (private windows, blocked storage) that its driver can
 * set at launch: `{modeName: launchOptions}`; empty where the driver has none.
 */
export async function storageModes(name) {
  return (await ENGINES[name]()).storageModes ?? {};
}
