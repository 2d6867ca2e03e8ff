// The per-owner asset index (Workers KV) behind a user's list: a user with more assets than the
// Worker lists (MAX_LISTED_ASSETS) gets a clear refusal, never a list silently cut short (KV
// lists keys by name, not by time, so a cut would drop assets, the newest among them); an asset
// deleted outside the Worker leaves the owner's list when the owner deletes it, and nobody else
// can touch another user's index. Refusals are proved through `/_emulator/stats`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callWorker, resetEmulatorStats, signToken, upstreamCalls } from '../support/worker.mjs';
import { emulatorAndWorker } from '../support/worker-stack.mjs';

const MAX_LISTED_ASSETS = 3;

let emulator;
let worker;
const stack = emulatorAndWorker({
  ready: (started) => ({ emulator, worker } = started),
  emulatorArgs: ['--url-mode', 'record', '--processing-ms', '20'],
  vars: { MAX_LISTED_ASSETS: String(MAX_LISTED_ASSETS) },
});
const { grantSecret: GRANT_SECRET } = stack;

const now = () => Math.floor(Date.now() / 1000);
const grant = (sub) => signToken({ sub, exp: now() + 600 }, GRANT_SECRET);
const call = (urlPath, options) => callWorker(worker.url, urlPath, options);

async function urlAsset(token, name) {
  const form = new FormData();
  form.append('method', 'url');
  form.append('url', `https://media.example.com/${name}.mp4`);
  const res = await call('/v1.3/assets', { method: 'POST', token, body: form });
  assert.equal(res.status, 201, res.text);
  return res.json._id;
}

const upstream = (method, urlPath) =>
  fetch(`${emulator.apiUrl}${urlPath}`, { method, headers: { 'x-api-key': emulator.apiKey } });

test('a user with more assets than MAX_LISTED_ASSETS is refused by name, never given a list cut short', async () => {
  const token = grant('many');
  const ids = [];
  for (let i = 0; i < MAX_LISTED_ASSETS; i++) ids.push(await urlAsset(token, `many-${i}`));
  const full = await call('/v1.3/assets?page_limit=50', { token });
  assert.equal(full.status, 200, full.text);
  assert.equal(full.json.page_info.total_results, MAX_LISTED_ASSETS);
  const newest = await urlAsset(token, 'one-too-many');
  for (const query of ['?page_limit=50', '', `?asset_ids=${newest}`, '?filename=one-too-many.mp4', '?page=2&page_limit=1']) {
    await resetEmulatorStats(emulator);
    const res = await call(`/v1.3/assets${query}`, { token });
    assert.equal(res.status, 413, `${query}: ${res.text}`);
    assert.equal(res.json.code, 'payload_too_large');
    assert.match(res.json.message, new RegExp(`more than ${MAX_LISTED_ASSETS} assets.*MAX_LISTED_ASSETS`));
    assert.deepEqual(await upstreamCalls(emulator), {}, `${query}: nothing reaches upstream`);
  }
  // Each asset is still readable by id, the newest included; other users are not affected.
  assert.equal((await call(`/v1.3/assets/${newest}`, { token })).status, 200);
  const other = await call('/v1.3/assets', { token: grant('someone-else') });
  assert.equal(other.status, 200, other.text);
  assert.equal(other.json.page_info.total_results, 0);
  // Deleting one brings the user back under the bound.
  assert.equal((await call(`/v1.3/assets/${ids[0]}`, { method: 'DELETE', token })).status, 204);
  const again = await call('/v1.3/assets?page_limit=50', { token });
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.json.data.map((a) => a._id).sort(), [...ids.slice(1), newest].sort());
});

test('an asset deleted outside the Worker leaves the owner\'s list once the owner deletes it; nobody else can clear it', async () => {
  const owner = grant('ghost-owner');
  const ids = [await urlAsset(owner, 'g1'), await urlAsset(owner, 'g2'), await urlAsset(owner, 'g3')];
  // Gone upstream by another path (TwelveLabs' console, an operator's script).
  assert.equal((await upstream('DELETE', `/assets/${ids[1]}`)).status, 204);
  const before = await call('/v1.3/assets?page_limit=50', { token: owner });
  // Another user deleting that id gets what any missing id gets, and leaves the owner's index as it was.
  const stranger = await call(`/v1.3/assets/${ids[1]}`, { method: 'DELETE', token: grant('ghost-stranger') });
  assert.equal(stranger.status, 404, stranger.text);
  const unchanged = await call('/v1.3/assets?page_limit=50', { token: owner });
  assert.deepEqual(unchanged.json.page_info, before.json.page_info, 'another user cannot change the owner\'s index');
  // The owner's delete answers 404 (it is gone) and drops the id from their index.
  const deleted = await call(`/v1.3/assets/${ids[1]}`, { method: 'DELETE', token: owner });
  assert.equal(deleted.status, 404, deleted.text);
  assert.equal(deleted.json.code, 'not_found');
  const after = await call('/v1.3/assets?page_limit=50', { token: owner });
  assert.equal(after.json.page_info.total_results, 2);
  assert.deepEqual(after.json.data.map((a) => a._id).sort(), [ids[0], ids[2]].sort());
  const paged = await call('/v1.3/assets?page_limit=2', { token: owner });
  assert.equal(paged.json.data.length, 2, 'a full first page');
});
