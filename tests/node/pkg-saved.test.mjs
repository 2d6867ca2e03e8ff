// The saved-upload calls and an upload's `signal`, as a page sees them, in headless Chromium
// against the emulator and the Worker in workerd: `pendingUploads` drops records that expired or
// cannot be read, `forget` deletes one, `resume` refuses what it cannot continue, and an upload
// stops listening to its signal once it settles (no listener left behind per upload).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPackageTab } from '../support/browser.mjs';
import { chromiumStack } from '../support/chromium-stack.mjs';
import { assetStatus as assetStatusOf, getJson } from '../support/harness.mjs';

const MiB = 1024 * 1024;

const env = chromiumStack({ emulatorArgs: ['--chunk-size', String(MiB)] });

/** A tab with the package, an empty uploads database, and helpers that read it directly. */
async function openTab() {
  const { tab } = await openPackageTab(env.browser, env.stack, { sub: 'saved-test' });
  await tab.evaluate(async () => {
    await new Promise((resolve, reject) => {
      const request = indexedDB.deleteDatabase('twelvelabs-edge-upload');
      request.onsuccess = resolve;
      request.onerror = () => reject(request.error);
    });
    // One transaction on the package's database (of `scope`, an uploader's `persistScope`);
    // resolves with `run(store)`'s request result.
    window.onUploads = (mode, run, scope) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open(scope ? `twelvelabs-edge-upload/scope/${scope}` : 'twelvelabs-edge-upload');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const transaction = db.transaction('uploads', mode);
          const request = run(transaction.objectStore('uploads'));
          transaction.oncomplete = () => {
            db.close();
            resolve(request.result);
          };
          transaction.onerror = () => reject(transaction.error);
        };
      });
    // `uploader.forget(id)` of an upload another uploader has just paused: refused with
    // `conflict` until that pause settles (its PUTs let finish and their report), then done.
    window.forgetOnceSettled = async (uploader, id) => {
      for (let i = 0; ; i++) {
        const code = await uploader.forget(id).then(() => null, (e) => e.code);
        if (code === null) return;
        if (code !== 'conflict' || i === 60) throw new Error(`forget: ${code}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    // Makes the saved record `id` (of `scope`) one whose session expired long ago.
    window.expireRecord = async (id, scope) => {
      const record = await window.onUploads('readonly', (store) => store.get(id), scope);
      record.saved.expires_at = '2000-01-01T00:00:00Z';
      await window.onUploads('readwrite', (store) => store.put(record, id), scope);
    };
    // The 24 MiB file of `name` and `seed`: the same file each time (contents and dates).
    window.sampleFile = async (name, seed) =>
      new File([(await window.seededSample(24, seed)).blob], name, { type: 'video/mp4', lastModified: 1_700_000_000_000 + seed });
    // A 24 MiB upload (of `uploader`, else a new one), paused once 1 MiB of it is stored: far
    // from its end, so no chunk left in flight completes the session.
    window.pausedMidway = async (name, seed, uploader) => {
      uploader ??= new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 });
      const handle = uploader.upload(await window.sampleFile(name, seed));
      while (handle.progress.acknowledgedBytes < 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 20));
      handle.pause();
      return handle;
    };
    // Holds the Web Lock of `uploadId` as a tab sending that upload would; resolves to the
    // function that lets it go.
    window.holdAsAnotherPage = (uploadId) =>
      new Promise((held) =>
        navigator.locks.request(`twelvelabs-edge-upload/${uploadId}`, () => new Promise((release) => held(release))),
      );
    // Waits until a paused upload (saved under `persistScope`, if given) is saved and its
    // uploader has let go of it (its chunks in flight stored and reported): until then, other
    // uploaders and pages leave it out.
    window.untilLetGo = async (id, persistScope) => {
      const observer = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, persistScope });
      for (let i = 0; i < 600; i++) {
        if ((await observer.pendingUploads()).some((p) => p.id === id)) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`upload ${id} was never let go of`);
    };
    // The sign-out of a page that continued an upload left paused by an earlier one, on its
    // upload token alone (no grant yet, so `getToken` is first asked for the abort's asset
    // deletion): once it has stored more, it is aborted, then forgotten. Resolves with its handle.
    window.continuedThenSignedOut = async (name, seed, getToken) => {
      const left = await window.pausedMidway(name, seed);
      await window.untilLetGo(left.uploadId);
      const next = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken });
      const handle = next.resume(await window.sampleFile(name, seed), { id: left.uploadId });
      handle.done.catch(() => {});
      while (handle.progress.acknowledgedBytes <= left.progress.acknowledgedBytes) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      handle.abort();
      await next.forget();
      return handle;
    };
    window.errors = [];
    window.addEventListener('error', (event) => window.errors.push(String(event.message)));
    window.addEventListener('unhandledrejection', (event) => window.errors.push(String(event.reason)));
  });
  return tab;
}

/** Makes storage answer each request after `ms` (0: at once). */
async function storageLatency(ms) {
  await getJson(`${env.stack.emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latency_ms: ms }),
  });
}

/** Runs `run(tab)` in a new tab with storage answering after `latencyMs`; both undone after. */
async function inTab(latencyMs, run) {
  const tab = await openTab();
  try {
    await storageLatency(latencyMs);
    return await run(tab);
  } finally {
    await storageLatency(0);
    await tab.close();
  }
}

test('pendingUploads drops expired and unreadable records; forget deletes one; resume finds no other', async () => {
  const tab = await openTab();
  try {
    // Storage answers slowly, so the upload can be paused half-way.
    await storageLatency(200);
    const seen = await tab.evaluate(async () => {
      const { blob } = await window.seededSample(6, 31);
      const file = new File([blob], 'saved.mp4', { type: 'video/mp4' });
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const handle = uploader.upload(file);
      for (let i = 0; i < 400 && handle.progress.acknowledgedBytes < 2 * 1024 * 1024; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      handle.pause();
      const id = handle.uploadId;
      // The record is written after the session is created; wait until it is listed.
      let listed = [];
      for (let i = 0; i < 400 && !listed.some((p) => p.id === id); i++) {
        listed = await uploader.pendingUploads();
        if (!listed.some((p) => p.id === id)) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // Beside it: the same record expired, and something that is no record at all.
      const record = await window.onUploads('readonly', (store) => store.get(id));
      const expired = structuredClone(record);
      expired.saved.expires_at = '2000-01-01T00:00:00Z';
      await window.onUploads('readwrite', (store) => store.put(expired, 'expired-copy'));
      await window.onUploads('readwrite', (store) => store.put({ garbage: true }, 'unreadable'));
      const keysBefore = await window.onUploads('readonly', (store) => store.getAllKeys());
      const pending = await uploader.pendingUploads();
      const keysAfterListing = await window.onUploads('readonly', (store) => store.getAllKeys());
      const forgotten = await uploader.forget(id);
      const forgottenUnknown = await uploader.forget('no-such-upload');
      const pendingAfterForget = await uploader.pendingUploads();
      const keysAfterForget = await window.onUploads('readonly', (store) => store.getAllKeys());
      const resumed = await uploader
        .resume(file)
        .done.then(
          () => null,
          (e) => e.code,
        );
      handle.abort();
      await handle.done.catch(() => {});
      return {
        id,
        listed: listed.map((p) => p.id),
        keysBefore: keysBefore.sort(),
        pending,
        keysAfterListing,
        forgotten: forgotten === undefined,
        forgottenUnknown: forgottenUnknown === undefined,
        pendingAfterForget,
        keysAfterForget,
        resumed,
        errors: window.errors,
      };
    });
    assert.ok(seen.id, 'the upload has a session');
    assert.deepEqual(seen.listed, [seen.id], 'the paused upload was listed');
    assert.deepEqual(seen.keysBefore, ['expired-copy', seen.id, 'unreadable'].sort());
    assert.deepEqual(
      seen.pending.map((p) => p.id),
      [seen.id],
      'only the usable record is listed',
    );
    assert.equal(seen.pending[0].filename, 'saved.mp4');
    assert.equal(seen.pending[0].size, 6 * MiB);
    assert.deepEqual(seen.keysAfterListing, [seen.id], 'the expired and unreadable records were deleted');
    assert.ok(seen.forgotten, 'forget resolves with undefined');
    assert.ok(seen.forgottenUnknown, 'forgetting an unknown id resolves too');
    assert.deepEqual(seen.pendingAfterForget, []);
    assert.deepEqual(seen.keysAfterForget, []);
    assert.equal(seen.resumed, 'not_found', 'no saved upload is left to continue');
    assert.deepEqual(seen.errors, []);
  } finally {
    await storageLatency(0);
    await tab.close();
  }
});

test('a record met past its session expiry goes with the asset its session reserved, unless that session completed; listing never waits for a grant', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const expire = window.expireRecord;
    const keys = () => window.onUploads('readonly', (store) => store.getAllKeys());
    // A completed upload (its record kept, marked completed) and one left paused midway.
    const first = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
    const { blob } = await window.seededSample(2, 37);
    const done = first.upload(new File([blob], 'done.mp4', { type: 'video/mp4' }));
    const completed = await done.done;
    const left = await window.pausedMidway('left.mp4', 38);
    await window.untilLetGo(left.uploadId);
    await expire(done.uploadId);
    await expire(left.uploadId);
    const keysBefore = await keys();
    // The next page, a day later, lists what it can resume.
    const later = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
    const pending = (await later.pendingUploads()).map((p) => p.id);
    const keysAfter = await keys();
    // Another, whose getToken never answers: its listing does not wait for the grant.
    const stuck = await window.pausedMidway('stuck.mp4', 39);
    await window.untilLetGo(stuck.uploadId);
    await expire(stuck.uploadId);
    const noGrant = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: () => new Promise(() => {}) });
    const listing = await Promise.race([noGrant.pendingUploads().then((list) => list.map((p) => p.id)), sleep(10_000).then(() => 'pending after 10 s')]);
    return {
      ids: { done: done.uploadId, left: left.uploadId, stuck: stuck.uploadId },
      assets: { done: completed.id, left: left.assetId },
      keysBefore,
      pending,
      keysAfter,
      listing,
      keysAtLast: await keys(),
      errors: window.errors,
    };
  });
  const { ids, assets } = seen;
  assert.deepEqual(seen.keysBefore.sort(), [ids.done, ids.left].sort(), JSON.stringify(seen));
  assert.deepEqual(seen.pending, [], 'nothing expired is listed');
  assert.deepEqual(seen.keysAfter, [], 'both expired records are deleted by the time the list settles');
  assert.equal(await assetStatus(assets.left, { gone: true }), null, "the expired session's reserved asset is deleted");
  assert.equal(await assetStatus(assets.done), 'ready', "the completed session's asset stays");
  assert.deepEqual(seen.listing, [], JSON.stringify(seen));
  assert.ok(!seen.keysAtLast.includes(ids.stuck), 'the expired record is deleted without a grant');
  assert.deepEqual(seen.errors, []);
  }));

test('an expired record whose asset could not be deleted for want of a grant comes back, and a lookup with a grant deletes both', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const keys = () => window.onUploads('readonly', (store) => store.getAllKeys());
      const left = await window.pausedMidway('no-grant-yet.mp4', 69);
      await window.untilLetGo(left.uploadId);
      await window.expireRecord(left.uploadId);
      // The page lists before its user has signed in: no grant to delete the asset with.
      const signedOut = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: async () => { throw new Error('not signed in'); } });
      const first = (await signedOut.pendingUploads()).map((p) => p.id);
      let back = false;
      for (let i = 0; i < 200 && !back; i++) {
        back = (await keys()).includes(left.uploadId);
        if (!back) await sleep(25);
      }
      // Signed in, the next listing gives it up with its asset.
      const signedIn = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const second = (await signedIn.pendingUploads()).map((p) => p.id);
      return { id: left.uploadId, assetId: left.assetId, first, back, second, keysAfter: await keys(), errors: window.errors };
    });
    assert.deepEqual(seen.first, [], JSON.stringify(seen));
    assert.ok(seen.back, 'the record is saved again while its asset may still be there');
    assert.deepEqual(seen.second, []);
    assert.ok(!seen.keysAfter.includes(seen.id), 'then the record goes');
    assert.equal(await assetStatus(seen.assetId, { gone: true }), null, 'and the asset with it');
    assert.deepEqual(seen.errors, []);
  }));

test('forget() while a lookup still retries the asset deletion of an expired record leaves no record behind', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const saved = async (id) => (await window.onUploads('readonly', (store) => store.getAllKeys())).includes(id);
      const left = await window.pausedMidway('signing-out.mp4', 70);
      await window.untilLetGo(left.uploadId);
      await window.expireRecord(left.uploadId);
      // A listing whose grant cannot be fetched (the network: retried for a few seconds).
      const offline = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: async () => { throw new TypeError('Failed to fetch'); } });
      const listed = (await offline.pendingUploads()).map((p) => p.id);
      // The user signs out meanwhile.
      await new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken }).forget();
      const whenSettled = await saved(left.uploadId);
      // Past the listing's last retry.
      await sleep(8000);
      return { listed, whenSettled, later: await saved(left.uploadId), errors: window.errors };
    });
    assert.deepEqual(seen.listed, [], JSON.stringify(seen));
    assert.equal(seen.whenSettled, false, 'no record once forget() settles');
    assert.equal(seen.later, false, 'nor after the listing gave up on the asset');
    assert.deepEqual(seen.errors, []);
  }));

test('a lookup that gives up expired records leaves the uploads its uploader runs saving theirs', () =>
  inTab(150, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const orphan = await window.pausedMidway('orphan.mp4', 67);
      await window.untilLetGo(orphan.uploadId);
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 });
      const { blob } = await window.seededSample(6, 68);
      const run = uploader.upload(new File([blob], 'run.mp4', { type: 'video/mp4' }));
      while (run.progress.acknowledgedBytes < 2 * 1024 * 1024) await sleep(10);
      await window.expireRecord(orphan.uploadId);
      // Each kind of lookup of the running upload's own uploader meets the expired record.
      const listed = (await uploader.pendingUploads()).map((p) => p.id);
      const elsewhere = (await new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken }).pendingUploads()).map((p) => p.id);
      const asset = await run.done;
      const record = await window.onUploads('readonly', (store) => store.get(run.uploadId));
      return { runId: run.uploadId, orphanId: orphan.uploadId, listed, elsewhere, asset: asset.id, completed: record?.saved?.completed ?? null, errors: window.errors };
    });
    assert.ok(!seen.listed.includes(seen.orphanId), JSON.stringify(seen));
    assert.ok(!seen.elsewhere.includes(seen.runId), 'another uploader leaves the running upload out: its page still holds it');
    assert.equal(seen.completed, true, 'the running upload kept saving its record, kept as completed at its end');
    assert.deepEqual(seen.errors, []);
  }));

test('forget of an upload this uploader has paused sticks: the chunks in flight and the reports that land after it write no record back', async () => {
  const tab = await openTab();
  try {
    // Storage answers slowly, so chunks are in flight when the upload is paused.
    await storageLatency(300);
    const seen = await tab.evaluate(async (MIB) => {
      const { blob } = await window.seededSample(6, 32);
      const file = new File([blob], 'forgotten.mp4', { type: 'video/mp4' });
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const handle = uploader.upload(file);
      for (let i = 0; i < 400 && handle.progress.acknowledgedBytes < MIB; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      handle.pause();
      const id = handle.uploadId;
      const inFlightAtForget = handle.progress.sentBytes - handle.progress.acknowledgedBytes;
      await uploader.forget(id);
      // Past the chunks in flight (300 ms each) and the debounced report (1 s).
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const acknowledgedAfter = handle.progress.acknowledgedBytes;
      const pending = await uploader.pendingUploads();
      const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
      handle.abort();
      await handle.done.catch(() => {});
      return { id, inFlightAtForget, acknowledgedAfter, pending, keys, errors: window.errors };
    }, MiB);
    assert.ok(seen.id, 'the upload has a session');
    assert.ok(seen.inFlightAtForget > 0, `chunks were in flight when the record was forgotten: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.pending, [], 'nothing to resume');
    assert.deepEqual(seen.keys, [], 'no record written back');
    assert.deepEqual(seen.errors, []);
  } finally {
    await storageLatency(0);
    await tab.close();
  }
});

/**
 * The asset `id` as TwelveLabs has it: its status, or `null` once it is gone. `forget` settles
 * once the records are deleted, and deletes the assets after: a deletion is polled for.
 */
const assetStatus = (id, options) => assetStatusOf(env.stack.emulator, id, options);

test('forget of a saved upload no page runs deletes its record and the asset its session reserved; one this uploader runs keeps it', () =>
  inTab(200, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const options = { endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 };
    const pauseMidway = async (uploader, name, seed) => {
      const handle = await window.pausedMidway(name, seed, uploader);
      await window.untilLetGo(handle.uploadId);
      return handle;
    };
    // The page that paused it is gone as far as the upload is concerned: a second uploader
    // (as after a reload) forgets it.
    const first = new window.pkg.Uploader(options);
    const abandoned = await pauseMidway(first, 'abandoned.mp4', 33);
    const later = new window.pkg.Uploader(options);
    // Refused with `conflict` while the pause settles (a PUT let finish, its report).
    await window.forgetOnceSettled(later, abandoned.uploadId);
    const keysAfterForget = await window.onUploads('readonly', (store) => store.getAllKeys());
    // An upload this uploader has paused keeps its asset: its handle still owns the upload.
    const own = await pauseMidway(first, 'own.mp4', 34);
    await first.forget(own.uploadId);
    return {
      abandoned: { uploadId: abandoned.uploadId, assetId: abandoned.assetId },
      own: { uploadId: own.uploadId, assetId: own.assetId },
      keysAfterForget,
      errors: window.errors,
    };
  });
  assert.ok(seen.abandoned.assetId && seen.own.assetId, JSON.stringify(seen));
  assert.ok(!seen.keysAfterForget.includes(seen.abandoned.uploadId), 'the record is deleted');
  assert.equal(await assetStatus(seen.abandoned.assetId, { gone: true }), null, 'the reserved asset is deleted');
  assert.equal(await assetStatus(seen.own.assetId), 'processing', 'the running upload keeps its asset');
  assert.deepEqual(seen.errors, []);
  }));

test('forget settles once the reserved asset is deleted: a user signing out right after leaves nothing behind', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const handle = await window.pausedMidway('signed-out.mp4', 35);
    // The page after a reload; its backend answers for a grant in 100 ms while signed in.
    let signedIn = true;
    const getToken = async () => {
      await sleep(100);
      if (!signedIn) throw new Error('signed out');
      return window.getToken();
    };
    const later = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken });
    await window.forgetOnceSettled(later, handle.uploadId);
    // The sign-out: no grant from now on.
    signedIn = false;
    const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
    return { uploadId: handle.uploadId, assetId: handle.assetId, keys, errors: window.errors };
  });
  assert.ok(seen.assetId, JSON.stringify(seen));
  assert.ok(!seen.keys.includes(seen.uploadId), 'the record is deleted');
  assert.equal(await assetStatus(seen.assetId, { gone: true }), null, 'the reserved asset is deleted before forget settles');
  assert.deepEqual(seen.errors, []);
  }));

test('forget settles 10 s after the records went when getToken never answers, with the record gone; a later forget does not wait for that deletion again', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const handle = await window.pausedMidway('no-grant.mp4', 36);
    const later = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: () => new Promise(() => {}) });
    const started = performance.now();
    const settled = await Promise.race([
      window.forgetOnceSettled(later, handle.uploadId).then(() => 'resolved', (e) => `rejected: ${e.message}`),
      sleep(30_000).then(() => 'still pending after 30 s'),
    ]);
    const elapsedMs = performance.now() - started;
    // The asset's deletion still waits for a grant; a forget with nothing of its own to delete
    // does not wait its whole deadline for it again.
    const again = await Promise.race([
      later.forget().then(() => 'resolved', (e) => `rejected: ${e.message}`),
      sleep(5_000).then(() => 'still pending after 5 s'),
    ]);
    const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
    return { settled, elapsedMs, again, uploadId: handle.uploadId, assetId: handle.assetId, keys, errors: window.errors };
  });
  assert.equal(seen.settled, 'resolved', JSON.stringify(seen));
  assert.ok(seen.elapsedMs >= 9_900, `it waited for the asset's deletion first: ${seen.elapsedMs} ms`);
  assert.equal(seen.again, 'resolved', JSON.stringify(seen));
  assert.ok(!seen.keys.includes(seen.uploadId), 'the record is deleted');
  assert.deepEqual(seen.errors, []);
  }));

/** Whether the asset is gone upstream now: one read, no waiting for it to go. */
async function goneNow(id) {
  const { emulator } = env.stack;
  const response = await fetch(`${emulator.apiUrl}/assets/${id}`, { headers: { 'x-api-key': emulator.apiKey } });
  return response.status === 404;
}

test('forget settles only once every asset deletion the page has under way is over: an aborted upload, another uploader, the same record twice', () =>
  inTab(100, async (tab) => {
  // Two uploads left by earlier pages, and one this page runs.
  const setup = await tab.evaluate(async () => {
    const left = [await window.pausedMidway('left-1.mp4', 61), await window.pausedMidway('left-2.mp4', 62)];
    for (const handle of left) await window.untilLetGo(handle.uploadId);
    const { blob } = await window.seededSample(24, 63);
    window.signingOut = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 });
    window.running = window.signingOut.upload(new File([blob], 'running.mp4', { type: 'video/mp4' }));
    window.running.done.catch(() => {});
    while (window.running.progress.acknowledgedBytes < 1024 * 1024) await new Promise((r) => setTimeout(r, 20));
    return { left: left.map((h) => ({ uploadId: h.uploadId, assetId: h.assetId })), running: window.running.assetId };
  });
  // Every API call now takes 300 ms: an asset's deletion through the Worker (a read, then the
  // delete) takes twice that, so a forget that settled before it would be caught here.
  await storageLatency(300);
  // The README's sign-out: abort what runs, then forget; a second uploader of the page (a
  // queue, say) forgets at the same moment, and a third asks for one of the same records.
  await tab.evaluate(async (left) => {
    const options = { endpoint: window.workerUrl, getToken: window.getToken };
    const other = new window.pkg.Uploader(options);
    const third = new window.pkg.Uploader(options);
    window.otherForget = other.forget().then(() => 'resolved', (e) => e.code);
    // Once it has deleted the records, it is deleting their assets.
    const ids = left.map((l) => l.uploadId);
    while ((await window.onUploads('readonly', (store) => store.getAllKeys())).some((k) => ids.includes(k))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    window.sameRecord = third.forget(left[0].uploadId).then(() => 'resolved', (e) => e.code);
    window.running.abort();
    await window.signingOut.forget();
  }, setup.left);
  const gone = {
    running: await goneNow(setup.running),
    left: [await goneNow(setup.left[0].assetId), await goneNow(setup.left[1].assetId)],
  };
  const seen = await tab.evaluate(async () => ({ sameRecord: await window.sameRecord, other: await window.otherForget, errors: window.errors }));
  assert.deepEqual(gone, { running: true, left: [true, true] }, `every asset is deleted by the time forget settles: ${JSON.stringify({ setup, seen })}`);
  assert.equal(seen.sameRecord, 'resolved', "a forget of a record another uploader of the page is giving up waits for it, no conflict");
  assert.equal(seen.other, 'resolved');
  assert.deepEqual(seen.errors, []);
  }));

test('forget waits for the asset deletion of an aborted upload that first waits for a grant', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // Its backend takes a second to give a grant.
      const slowToken = async () => (await sleep(1000), window.getToken());
      const handle = await window.continuedThenSignedOut('continued.mp4', 66, slowToken);
      return { assetId: handle.assetId, errors: window.errors };
    });
    assert.ok(seen.assetId, JSON.stringify(seen));
    assert.ok(await goneNow(seen.assetId), 'the asset is deleted by the time forget settles');
    assert.deepEqual(seen.errors, []);
  }));

test('an aborted upload continued after a reload has its asset deleted though getToken fails once first', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      // The app's token endpoint fails once, as a network blip would, then answers.
      let tokenCalls = 0;
      const flakyToken = async () => {
        tokenCalls += 1;
        if (tokenCalls === 1) throw new TypeError('Failed to fetch');
        return window.getToken();
      };
      const handle = await window.continuedThenSignedOut('blip.mp4', 67, flakyToken);
      return { assetId: handle.assetId, tokenCalls, errors: window.errors };
    });
    assert.ok(seen.assetId, JSON.stringify(seen));
    assert.ok(await goneNow(seen.assetId), `the asset is deleted by the time forget settles: ${JSON.stringify(seen)}`);
    assert.equal(seen.tokenCalls, 2, 'getToken was asked again after its failure');
    assert.deepEqual(seen.errors, []);
  }));

test("forget waits for an aborted upload's slow asset deletion however long ago it began, when no forget has waited for it yet", () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // The page's fetch holds every DELETE 13 s: a slow answer.
      const slowDeletes = (input, init) => (init?.method === 'DELETE' ? sleep(13_000).then(() => fetch(input, init)) : fetch(input, init));
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2, fetch: slowDeletes });
      const { blob } = await window.seededSample(12, 81);
      const handle = uploader.upload(new File([blob], 'slow-delete.mp4', { type: 'video/mp4' }));
      while (handle.progress.acknowledgedBytes === 0) await sleep(20);
      handle.abort();
      const outcome = await handle.done.then(() => 'resolved', (e) => e.code);
      // The sign-out comes 11 s after the abort, its DELETE still on its way.
      await sleep(11_000);
      const started = performance.now();
      await uploader.forget();
      return { outcome, assetId: handle.assetId, forgetMs: performance.now() - started, errors: window.errors };
    });
    assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
    assert.ok(await goneNow(seen.assetId), `the asset is deleted by the time forget settles: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.errors, []);
  }));

test('an upload aborted after its grant expired has its asset deleted with a fresh grant from getToken', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // The first grant lives one second (past the Worker's 30 s leeway by the abort); the
      // upload itself runs on its upload token, which lives as long as its session.
      const grant = async (ttl_secs) => {
        const response = await fetch(`${window.workerUrl}/dev/grant`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sub: 'saved-test', ...(ttl_secs ? { ttl_secs } : {}) }),
        });
        return (await response.json()).grant;
      };
      let tokenCalls = 0;
      const getToken = () => grant(tokenCalls++ === 0 ? 1 : undefined);
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken, concurrency: 2 });
      const handle = await window.pausedMidway('outlived.mp4', 82, uploader);
      await sleep(32_000);
      handle.abort();
      const outcome = await handle.done.then(() => 'resolved', (e) => e.code);
      // The sign-out waits for the asset deletion the abort started.
      await uploader.forget();
      return { outcome, tokenCalls, assetId: handle.assetId, errors: window.errors };
    });
    assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
    assert.ok(await goneNow(seen.assetId), `the asset is deleted: ${JSON.stringify(seen)}`);
    assert.equal(seen.tokenCalls, 2, 'a fresh grant was asked for once, after the 401');
    assert.deepEqual(seen.errors, []);
  }));

test('forget waits for an upload aborted while its session was being created: the asset that creation made is deleted before the page leaves', async () => {
  const tab = await openTab();
  let seen;
  try {
    seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // The creation's answer reaches the page 1.5 s after TwelveLabs made the session.
      const made = {};
      const slowCreation = async (input, init) => {
        const response = await fetch(input, init);
        if (init?.method === 'POST' && String(input).endsWith('/multipart-uploads')) {
          made.assetId = (await response.clone().json()).asset_id;
          await sleep(1_500);
        }
        return response;
      };
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, fetch: slowCreation });
      const { blob } = await window.seededSample(3, 83);
      const handle = uploader.upload(new File([blob], 'abandoned.mp4', { type: 'video/mp4' }));
      while (!made.assetId) await sleep(10);
      handle.abort();
      const outcome = await handle.done.then(() => 'resolved', (e) => e.code);
      await uploader.forget();
      return { outcome, assetId: made.assetId, errors: window.errors };
    });
  } finally {
    // The sign-out navigation.
    await tab.close();
  }
  assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
  assert.ok(await goneNow(seen.assetId), `the asset the creation made is deleted by the time forget settles: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.errors, []);
});

test('forget waits for an abandoned creation of its own though an earlier forget waited out an older one of the same uploader', async () => {
  const tab = await openTab();
  let seen;
  try {
    seen = await tab.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // The first upload's creation never answers the page; the second's answer reaches the
      // page 1.5 s after TwelveLabs made its session.
      const made = [];
      let creations = 0;
      const heldCreations = async (input, init) => {
        if (init?.method !== 'POST' || !String(input).endsWith('/multipart-uploads')) return fetch(input, init);
        creations += 1;
        if (creations === 1) return new Promise(() => {});
        const response = await fetch(input, init);
        made.push((await response.clone().json()).asset_id);
        await sleep(1_500);
        return response;
      };
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, fetch: heldCreations });
      const first = uploader.upload(new File([(await window.seededSample(3, 84)).blob], 'hung.mp4', { type: 'video/mp4' }));
      while (creations < 1) await sleep(10);
      first.abort();
      await first.done.catch(() => {});
      // This forget waits its whole deadline for the creation that never answers.
      let started = performance.now();
      await uploader.forget();
      const firstForgetMs = performance.now() - started;
      const second = uploader.upload(new File([(await window.seededSample(3, 85)).blob], 'second.mp4', { type: 'video/mp4' }));
      while (made.length < 1) await sleep(10);
      second.abort();
      const outcome = await second.done.then(() => 'resolved', (e) => e.code);
      started = performance.now();
      await uploader.forget();
      return { outcome, firstForgetMs, secondForgetMs: performance.now() - started, assetId: made[0], errors: window.errors };
    });
  } finally {
    // The sign-out navigation.
    await tab.close();
  }
  assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
  assert.ok(seen.firstForgetMs >= 9_000, `the first forget waited out the hung creation: ${JSON.stringify(seen)}`);
  assert.ok(await goneNow(seen.assetId), `the asset the second creation made is deleted by the time forget settles: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.errors, []);
});

test('forget() stops an upload of this uploader that has no session yet from saving a record', () =>
  inTab(300, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const { blob } = await window.seededSample(3, 64);
    const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
    const handle = uploader.upload(new File([blob], 'starting.mp4', { type: 'video/mp4' }));
    const phase = handle.progress.phase;
    await uploader.forget();
    const asset = await handle.done;
    const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
    return { phase, uploadId: handle.uploadId, asset: asset.id, keys, errors: window.errors };
  });
  assert.equal(seen.phase, 'starting', JSON.stringify(seen));
  assert.ok(seen.asset, 'the upload itself goes on to the end');
  assert.deepEqual(seen.keys, [], 'no record of it is left');
  assert.deepEqual(seen.errors, []);
  }));

test('forget() without an id gives up every saved upload, completed ones included, but one another page sends', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async (MIB) => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const options = { endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 };
    const file = async (name, mib, seed) => new File([(await window.seededSample(mib, seed)).blob], name, { type: 'video/mp4' });
    const pausedAt = async (uploader, f) => {
      const handle = uploader.upload(f);
      while (handle.progress.acknowledgedBytes < MIB) await sleep(20);
      handle.pause();
      await window.untilLetGo(handle.uploadId);
      return handle;
    };
    const first = new window.pkg.Uploader(options);
    // A completed upload: its record stays, marked completed, and is never pending.
    const done = first.upload(await file('done.mp4', 3, 41));
    const asset = await done.done;
    // A paused one no page runs any more, and one "another page" sends (this page holds its
    // lock, as a tab sending it would).
    const idle = await pausedAt(first, await file('idle.mp4', 24, 42));
    const busy = await pausedAt(first, await file('busy.mp4', 24, 43));
    const release = await window.holdAsAnotherPage(busy.uploadId);
    const keysBefore = (await window.onUploads('readonly', (store) => store.getAllKeys())).sort();
    // The page after a reload, as the user signs out.
    const later = new window.pkg.Uploader(options);
    const refused = await later.forget(busy.uploadId).then(() => null, (e) => e.code);
    await later.forget();
    const keysAfter = await window.onUploads('readonly', (store) => store.getAllKeys());
    release();
    return {
      keysBefore,
      keysAfter,
      refused,
      ids: { done: done.uploadId, idle: idle.uploadId, busy: busy.uploadId },
      assets: { done: asset.id, idle: idle.assetId, busy: busy.assetId },
      errors: window.errors,
    };
  }, MiB);
  const { ids, assets } = seen;
  assert.deepEqual(seen.keysBefore, [ids.done, ids.idle, ids.busy].sort(), JSON.stringify(seen));
  assert.equal(seen.refused, 'conflict', 'forget(id) of the upload another page sends');
  assert.deepEqual(seen.keysAfter, [ids.busy], 'every record but the one another page sends');
  assert.equal(await assetStatus(assets.idle, { gone: true }), null, "the idle upload's reserved asset is deleted");
  assert.equal(await assetStatus(assets.done), 'ready', 'a completed upload keeps its asset');
  assert.equal(await assetStatus(assets.busy), 'processing', "the other page's upload keeps its asset");
  assert.deepEqual(seen.errors, []);
  }));

test('a resumed upload that waits for its lock shows one phase, starting, in progress and getSnapshot alike, then completes', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const handle = await window.pausedMidway('phase-while-locked.mp4', 48);
    await window.untilLetGo(handle.uploadId);
    const release = await window.holdAsAnotherPage(handle.uploadId);
    const events = [];
    handle.subscribe(() => events.push(handle.getSnapshot().phase));
    handle.resume();
    const phases = [];
    for (let i = 0; i < 5; i++) {
      phases.push([handle.getSnapshot().phase, handle.progress.phase, handle.getSnapshot().phase]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    release();
    const done = await handle.done.then((asset) => asset.id, (e) => e.code);
    return { phases, events, done, assetId: handle.assetId, final: handle.getSnapshot().phase, errors: window.errors };
  });
  for (const read of seen.phases) assert.deepEqual(read, ['starting', 'starting', 'starting'], JSON.stringify(seen));
  assert.equal(seen.done, seen.assetId, JSON.stringify(seen));
  assert.equal(seen.final, 'done');
  assert.ok(!seen.events.includes('paused'), `no paused after resume(): ${seen.events}`);
  assert.deepEqual(seen.errors, []);
  }));

test("forget(id) refused with conflict still waits for the page's asset deletions before it rejects", () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    // Every DELETE reaches the Worker 3 s late.
    const slowDeletes = (input, init) => (init?.method === 'DELETE' ? sleep(3_000).then(() => fetch(input, init)) : fetch(input, init));
    const options = { endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2, fetch: slowDeletes };
    const file = async (name, mib, seed) => new File([(await window.seededSample(mib, seed)).blob], name, { type: 'video/mp4' });
    const uploader = new window.pkg.Uploader(options);
    // One upload "another page" sends (this page holds its lock, as a tab sending it would).
    const busy = await window.pausedMidway('busy-elsewhere.mp4', 44, uploader);
    await window.untilLetGo(busy.uploadId);
    const release = await window.holdAsAnotherPage(busy.uploadId);
    // An upload aborted: its asset's deletion is under way, 3 s long.
    const aborted = uploader.upload(await file('aborted.mp4', 12, 45));
    while (aborted.progress.acknowledgedBytes === 0) await sleep(20);
    aborted.abort();
    const outcome = await aborted.done.then(() => 'resolved', (e) => e.code);
    // The user gives up the upload the other page sends (from an uploader that does not run
    // it), then leaves.
    const later = new window.pkg.Uploader(options);
    const started = performance.now();
    const refused = await later.forget(busy.uploadId).then(() => null, (e) => e.code);
    const waitedMs = performance.now() - started;
    release();
    return { outcome, refused, waitedMs, abortedAsset: aborted.assetId, busyAsset: busy.assetId, errors: window.errors };
  });
  assert.equal(seen.outcome, 'aborted', JSON.stringify(seen));
  assert.equal(seen.refused, 'conflict', JSON.stringify(seen));
  const { emulator } = env.stack;
  const abortedAsset = await fetch(`${emulator.apiUrl}/assets/${seen.abortedAsset}`, { headers: { 'x-api-key': emulator.apiKey } });
  assert.equal(abortedAsset.status, 404, `the aborted upload's asset is deleted by the time forget rejects (${Math.round(seen.waitedMs)} ms)`);
  assert.equal(await assetStatus(seen.busyAsset), 'processing', "the other page's upload keeps its asset");
  assert.deepEqual(seen.errors, []);
  }));

test("a queue's sign-out (README: every item cancelled, then forget()) leaves no record and no reserved asset: running, queued and restored items alike", () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async (MIB) => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const options = { endpoint: window.workerUrl, getToken: window.getToken, concurrency: 2 };
    // Saved before a reload: paused midway by a page that is gone.
    const left = await window.pausedMidway('signout-restored.mp4', 61);
    await window.untilLetGo(left.uploadId);
    const uploader = new window.pkg.Uploader(options);
    const queue = new window.pkg.UploadQueue(uploader);
    await queue.restorePending();
    // One file at a time (concurrency 2): the first runs, the second waits.
    queue.add([await window.sampleFile('signout-running.mp4', 62), await window.sampleFile('signout-queued.mp4', 63)]);
    const item = (name) => queue.getSnapshot().items.find((i) => i.filename === name);
    while (item('signout-running.mp4').progress.acknowledgedBytes < MIB) await sleep(20);
    const before = Object.fromEntries(queue.getSnapshot().items.map((i) => [i.filename, i.phase]));
    const runningAsset = item('signout-running.mp4').assetId;
    // The sign-out, as the README gives it.
    for (const { id } of queue.getSnapshot().items) queue.cancel(id);
    await uploader.forget();
    const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
    const after = Object.fromEntries(queue.getSnapshot().items.map((i) => [i.filename, i.phase]));
    // Later: nothing that waited starts or saves anything.
    await sleep(1500);
    const keysLater = await window.onUploads('readonly', (store) => store.getAllKeys());
    return {
      before,
      after,
      keys,
      keysLater,
      assets: { restored: left.assetId, running: runningAsset, queued: item('signout-queued.mp4').assetId },
      errors: window.errors,
    };
  }, MiB);
  assert.deepEqual(
    seen.before,
    { 'signout-restored.mp4': 'awaiting_file', 'signout-running.mp4': 'uploading', 'signout-queued.mp4': 'queued' },
    JSON.stringify(seen),
  );
  assert.deepEqual(seen.after, { 'signout-restored.mp4': 'aborted', 'signout-running.mp4': 'aborted', 'signout-queued.mp4': 'aborted' });
  assert.deepEqual(seen.keys, [], 'no record once forget() settles');
  assert.deepEqual(seen.keysLater, [], 'none later either');
  assert.equal(seen.assets.queued, null, 'the queued file never reserved an asset');
  const { emulator } = env.stack;
  for (const which of ['restored', 'running']) {
    const asset = await fetch(`${emulator.apiUrl}/assets/${seen.assets[which]}`, { headers: { 'x-api-key': emulator.apiKey } });
    assert.equal(asset.status, 404, `the ${which} upload's reserved asset is deleted by the time forget() settles`);
  }
  assert.deepEqual(seen.errors, []);
  }));

/** Sets emulator faults. */
async function faults(patch) {
  await getJson(`${env.stack.emulator.url}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
}

test('forget keeps the asset of a session that completed while its page waited for processing, and the page was then closed', async () => {
  const first = await openTab();
  let second;
  try {
    await faults({ processing_ms: 120_000 });
    const left = await first.evaluate(async () => {
      const { blob } = await window.seededSample(3, 51);
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const handle = uploader.upload(new File([blob], 'whole.mp4', { type: 'video/mp4' }), { waitUntilReady: true });
      for (let i = 0; i < 600 && handle.progress.phase !== 'processing'; i++) await new Promise((r) => setTimeout(r, 50));
      const pending = (await uploader.pendingUploads()).map((p) => p.id);
      return { phase: handle.progress.phase, uploadId: handle.uploadId, assetId: handle.assetId, pending };
    });
    assert.equal(left.phase, 'processing', JSON.stringify(left));
    assert.ok(left.pending.includes(left.uploadId), 'its record is pending, for a resume of the wait');
    await first.close();
    ({ tab: second } = await openPackageTab(env.browser, env.stack, { sub: 'saved-test' }));
    const seen = await second.evaluate(async (id) => {
      const uploader = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      await uploader.forget(id);
      return { pending: (await uploader.pendingUploads()).map((p) => p.id) };
    }, left.uploadId);
    assert.deepEqual(seen.pending, [], 'the record is gone');
    // Give a wrong deletion time to land before reading that the asset stays.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await assetStatus(left.assetId), 'processing', 'the whole asset stays');
  } finally {
    await faults({ processing_ms: 0 });
    await first.close().catch(() => {});
    await second?.close();
  }
});

test('forget holds the upload lock while it deletes the asset: a tab resuming meanwhile ends with conflict, nothing completes', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    // Tab A: uploading, then paused (its lock let go of, its record saved).
    const handle = await window.pausedMidway('raced.mp4', 52);
    await window.untilLetGo(handle.uploadId);
    // Tab B forgets it; its backend takes 2 s to answer getToken before the asset's DELETE.
    const slowToken = async () => (await sleep(2000), window.getToken());
    const b = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: slowToken });
    const forgotten = window.forgetOnceSettled(b, handle.uploadId);
    // A's user resumes while B still deletes the asset: B has deleted the record.
    while ((await window.onUploads('readonly', (store) => store.getAllKeys())).includes(handle.uploadId)) await sleep(20);
    handle.resume();
    const outcome = await handle.done.then((asset) => ({ done: asset.id }), (e) => ({ code: e.code }));
    await forgotten;
    return { outcome, uploadId: handle.uploadId, assetId: handle.assetId, errors: window.errors };
  });
  assert.deepEqual(seen.outcome, { code: 'conflict' }, JSON.stringify(seen));
  assert.equal(await assetStatus(seen.assetId, { gone: true }), null, 'the asset is deleted');
  assert.deepEqual(seen.errors, []);
  }));

test('a page that resumes an upload another page gave up while it was paused here ends with conflict, sending nothing more', () =>
  inTab(100, async (tab) => {
  const seen = await tab.evaluate(async () => {
    const handle = await window.pausedMidway('given-up.mp4', 65);
    await window.untilLetGo(handle.uploadId);
    const other = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
    await window.forgetOnceSettled(other, handle.uploadId);
    const acknowledged = handle.progress.acknowledgedBytes;
    handle.resume();
    const outcome = await handle.done.then((asset) => ({ done: asset.id }), (e) => ({ code: e.code, message: e.message }));
    const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
    return { outcome, acknowledged, after: handle.progress.acknowledgedBytes, phase: handle.progress.phase, assetId: handle.assetId, keys, errors: window.errors };
  });
  assert.equal(seen.outcome.code, 'conflict', JSON.stringify(seen));
  assert.match(seen.outcome.message, /given up/);
  assert.equal(seen.after, seen.acknowledged, 'nothing more was sent');
  assert.deepEqual(seen.keys, [], 'no record comes back');
  assert.ok(await goneNow(seen.assetId), 'the asset stays deleted');
  assert.deepEqual(seen.errors, []);
  }));

test('a page that pauses with a chunk in flight keeps the upload to itself until that settles: a forget elsewhere is not undone by the late chunk', async () => {
  const tab = await openTab();
  try {
    // Each chunk PUT takes a second: the pause lets one finish after it.
    await storageLatency(1000);
    const seen = await tab.evaluate(async (MIB) => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const { blob } = await window.seededSample(8, 53);
      const a = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, concurrency: 1 });
      const handle = a.upload(new File([blob], 'inflight.mp4', { type: 'video/mp4' }));
      while (handle.progress.acknowledgedBytes < MIB) await sleep(10);
      await sleep(100);
      const inFlight = handle.progress.sentBytes > handle.progress.acknowledgedBytes;
      handle.pause();
      // Another uploader (as another tab would) forgets it: refused while the pause settles.
      const b = new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken });
      const refusals = [];
      for (let i = 0; i < 40; i++) {
        const code = await b.forget(handle.uploadId).then(() => null, (e) => e.code);
        if (code === null) break;
        refusals.push(code);
        await sleep(250);
      }
      // Past anything the paused page could still write.
      await sleep(3000);
      const keys = await window.onUploads('readonly', (store) => store.getAllKeys());
      return { inFlight, refusals, keys, uploadId: handle.uploadId, assetId: handle.assetId, errors: window.errors };
    }, MiB);
    assert.ok(seen.inFlight, `a chunk was in flight at the pause: ${JSON.stringify(seen)}`);
    assert.ok(seen.refusals.every((code) => code === 'conflict'), JSON.stringify(seen.refusals));
    assert.ok(seen.refusals.length < 40, 'forget went through once the pause settled');
    assert.deepEqual(seen.keys, [], 'the record stays forgotten');
    assert.equal(await assetStatus(seen.assetId, { gone: true }), null);
    assert.deepEqual(seen.errors, []);
  } finally {
    await storageLatency(0);
    await tab.close();
  }
});

test('persistScope keeps one user\'s saved uploads apart: another scope neither lists, resumes, forgets nor cleans them up', () =>
  inTab(100, async (tab) => {
    const seen = await tab.evaluate(async () => {
      const scoped = (persistScope) => new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken, persistScope });
      // Alice pauses an upload and leaves; Bob, then an unscoped uploader, use the same browser.
      const alice = await window.pausedMidway('alice.mp4', 71, scoped('alice'));
      await window.untilLetGo(alice.uploadId, 'alice');
      const bob = scoped('bob');
      const listedToBob = (await bob.pendingUploads()).map((p) => p.id);
      const listedUnscoped = (await new window.pkg.Uploader({ endpoint: window.workerUrl, getToken: window.getToken }).pendingUploads()).map((p) => p.id);
      const bobResume = await bob.resume(await window.sampleFile('alice.mp4', 71)).done.then(() => 'resolved', (e) => e.code);
      const bobResumeById = await bob.resume(await window.sampleFile('alice.mp4', 71), { id: alice.uploadId }).done.then(() => 'resolved', (e) => e.code);
      await bob.forget();
      await bob.forget(alice.uploadId);
      const listedToAlice = (await scoped('alice').pendingUploads()).map((p) => p.id);
      // Her record, expired: Bob's lookup leaves it (and its asset) alone, hers gives both up.
      await window.expireRecord(alice.uploadId, 'alice');
      await bob.pendingUploads();
      const keptFromBob = await window.onUploads('readonly', (store) => store.getAllKeys(), 'alice');
      await scoped('alice').pendingUploads();
      const afterAlice = await window.onUploads('readonly', (store) => store.getAllKeys(), 'alice');
      return { uploadId: alice.uploadId, assetId: alice.assetId, listedToBob, listedUnscoped, bobResume, bobResumeById, listedToAlice, keptFromBob, afterAlice, errors: window.errors };
    });
    assert.ok(seen.assetId, JSON.stringify(seen));
    assert.deepEqual(seen.listedToBob, [], 'another scope lists none of hers');
    assert.deepEqual(seen.listedUnscoped, [], 'nor does an uploader without a scope');
    assert.equal(seen.bobResume, 'not_found');
    assert.equal(seen.bobResumeById, 'not_found');
    assert.deepEqual(seen.listedToAlice, [seen.uploadId], "Bob's forget calls left hers");
    assert.deepEqual(seen.keptFromBob, [seen.uploadId], "Bob's lookup leaves her expired record");
    assert.deepEqual(seen.afterAlice, [], 'her own lookup gives it up');
    assert.equal(await assetStatus(seen.assetId, { gone: true }), null, "with the asset her session reserved");
    assert.deepEqual(seen.errors, []);
  }));

test('resume without persistence rejects with invalid_input', async () => {
  const tab = await openTab();
  try {
    const seen = await tab.evaluate(async () => {
      const file = new File([new Uint8Array(1024)], 'x.mp4', { type: 'video/mp4' });
      const uploader = new window.pkg.Uploader({
        endpoint: window.workerUrl,
        getToken: window.getToken,
        persist: false,
      });
      const handle = uploader.resume(file);
      const error = await handle.done.then(
        () => null,
        (e) => ({ code: e.code, message: e.message }),
      );
      return { error, phase: handle.progress.phase, pending: await uploader.pendingUploads() };
    });
    assert.equal(seen.error?.code, 'invalid_input', JSON.stringify(seen.error));
    assert.match(seen.error.message, /resume needs persistence/);
    assert.equal(seen.phase, 'failed');
    assert.deepEqual(seen.pending, [], 'without persistence nothing is listed');
  } finally {
    await tab.close();
  }
});

test("an upload's signal aborts it mid-way, and no upload listens to its signal once settled", async () => {
  const tab = await openTab();
  try {
    // Storage answers slowly, so the upload is still running when its signal aborts.
    await storageLatency(300);
    const seen = await tab.evaluate(async () => {
      // Counts the `abort` listeners each signal holds.
      const watched = (controller) => {
        const signal = controller.signal;
        signal.listening = 0;
        const add = signal.addEventListener.bind(signal);
        const remove = signal.removeEventListener.bind(signal);
        signal.addEventListener = (type, listener, options) => {
          if (type === 'abort') signal.listening += 1;
          add(type, listener, options);
        };
        signal.removeEventListener = (type, listener, options) => {
          if (type === 'abort') signal.listening -= 1;
          remove(type, listener, options);
        };
        return controller;
      };
      const uploader = new window.pkg.Uploader({
        endpoint: window.workerUrl,
        getToken: window.getToken,
        persist: false,
      });
      // One that finishes: its listener goes when it settles; a later abort changes nothing.
      const finishing = watched(new AbortController());
      const small = await window.seededSample(1, 32);
      const finished = uploader.upload(small.blob, { filename: 'finishes.mp4', signal: finishing.signal });
      const whileRunning = finishing.signal.listening;
      await finished.done;
      const afterDone = finishing.signal.listening;
      finishing.abort();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // One aborted through its signal while chunks are in flight.
      const aborting = watched(new AbortController());
      const large = await window.seededSample(6, 33);
      const aborted = uploader.upload(large.blob, { filename: 'aborted.mp4', signal: aborting.signal });
      for (let i = 0; i < 400 && aborted.progress.acknowledgedBytes < 1024 * 1024; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const acknowledged = aborted.progress.acknowledgedBytes;
      aborting.abort();
      const error = await aborted.done.then(
        () => null,
        (e) => e.code,
      );
      return {
        whileRunning,
        afterDone,
        finishedPhase: finished.progress.phase,
        acknowledged,
        error,
        abortedPhase: aborted.progress.phase,
        afterAbort: aborting.signal.listening,
        errors: window.errors,
      };
    });
    assert.equal(seen.whileRunning, 1, 'a running upload listens to its signal');
    assert.equal(seen.afterDone, 0, 'a finished upload no longer listens');
    assert.equal(seen.finishedPhase, 'done', 'an abort after the upload finished changes nothing');
    assert.ok(seen.acknowledged >= MiB, 'the second upload was under way when aborted');
    assert.equal(seen.error, 'aborted');
    assert.equal(seen.abortedPhase, 'aborted');
    assert.equal(seen.afterAbort, 0, 'an aborted upload no longer listens');
    assert.deepEqual(seen.errors, []);
  } finally {
    await storageLatency(0);
    await tab.close();
  }
});
