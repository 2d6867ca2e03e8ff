// @ts-check
// The demo page. It uses the npm package exactly as an app would (imported by its name through
// the import map) and gets grants from the Worker's `/dev/grant` route, which only the demo
// configuration enables; a real app gets them from its own backend.
import init, { Uploader, version } from 'twelvelabs-edge-upload';

/** @typedef {import('twelvelabs-edge-upload').UploadProgress} UploadProgress */
/** @typedef {import('twelvelabs-edge-upload').UploadHandle} UploadHandle */
/** @typedef {import('twelvelabs-edge-upload').PendingUpload} PendingUpload */
/** @typedef {import('twelvelabs-edge-upload').Asset} Asset */

/**
 * One element by selector; the page's markup guarantees it exists.
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {T}
 */
function $(selector, root = document) {
  const element = root.querySelector(selector);
  if (!element) throw new Error(`the page has no ${selector}`);
  return /** @type {T} */ (/** @type {unknown} */ (element));
}

const runtimeStatus = $('#runtime-status');
const announcer = $('#announcer');

// ───────────────────────────── words for people ─────────────────────────────

/** What each stable error code means, in words a person understands. The code is shown too. */
const ERROR_WORDS = {
  invalid_input: 'The file or its details were not accepted.',
  unauthorized: 'Signing in to the upload service failed, or the sign-in expired.',
  forbidden: 'The upload service does not allow this upload (the file may be too large, of a type that is not accepted, or this site may not be allowed to upload).',
  not_found: 'The upload service does not know this upload or asset (any more).',
  method_not_allowed: 'The upload service does not support this request. The page and the service may be out of date with each other.',
  payload_too_large: 'The file is larger than the upload service allows.',
  unsupported_type: 'This kind of file is not accepted. Choose a video, an audio file or an image.',
  rate_limited: 'The upload service is busy. It kept asking to slow down; please try again in a moment.',
  upstream_unavailable: 'TwelveLabs cannot be reached right now. Please try again in a moment.',
  network: 'The network connection failed.',
  etag_unreadable: 'The storage accepted the data but the browser was not allowed to read its receipt. The storage must expose the ETag header to this site (a CORS setting).',
  session_expired: 'This upload waited too long: uploads must finish within 24 hours of starting. Please start it again.',
  file_mismatch: 'That is not the file that was being uploaded. Choose the original file to continue.',
  aborted: 'Cancelled. Nothing more is sent for this file.',
  server_invalid: 'The upload service sent an answer the page could not understand.',
  storage_rejected: 'The storage refused a part of the file.',
  retries_exhausted: 'The upload kept failing and has stopped. Check your connection and try again.',
  asset_failed: 'The file arrived, but TwelveLabs could not process it.',
  conflict: 'This asset is still used by an index, so it cannot be deleted.',
  internal: 'Something went wrong inside the page.',
};

/** Set when the Worker is reachable but refuses this page's origin (see `diagnoseWorker`). */
let originRefused = false;

/**
 * @param {unknown} error
 * @returns {{code: string, words: string, detail: string}}
 */
function describeError(error) {
  const object = /** @type {{code?: unknown, message?: unknown}} */ (error ?? {});
  const code = typeof object.code === 'string' ? object.code : 'internal';
  const detail = typeof object.message === 'string' ? object.message : String(error);
  let words = ERROR_WORDS[/** @type {keyof typeof ERROR_WORDS} */ (code)] ?? detail;
  if (originRefused && ['forbidden', 'unauthorized', 'network'].includes(code)) {
    words = `The upload service does not accept requests from this page (${location.origin}): this address is not in its list of allowed sites (ALLOWED_ORIGINS), so the browser blocked the request.`;
  }
  return { code, words, detail };
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** @param {number} bytes */
function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '–';
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${BYTE_UNITS[unit]}`;
}

/** @param {number | null} ms */
function formatEta(ms) {
  if (ms === null || !Number.isFinite(ms)) return '';
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `about ${seconds} s left`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

/** @param {string | undefined} when */
function formatTime(when) {
  if (!when) return '';
  const date = new Date(when);
  return Number.isNaN(date.getTime()) ? when : date.toLocaleString();
}

/** @param {string} text */
function announce(text) {
  // Replacing the text of a polite live region makes screen readers read the new text once.
  announcer.textContent = text;
}

// ───────────────────────────── the Worker and grants ─────────────────────────────

/** @type {{workerUrl?: string}} */
const config = await fetch('/demo-config.json')
  .then((r) => (r.ok ? r.json() : {}))
  .catch(() => ({}));
const workerUrl = (config.workerUrl || location.origin).replace(/\/+$/, '');

/**
 * A browser cannot tell a CORS refusal from a network failure (both are a `TypeError`). When a
 * request to the Worker fails that way, ask again in `no-cors` mode: if that one gets an (opaque)
 * answer, the Worker is up and refuses this page's origin.
 * @returns {Promise<'ok' | 'origin-refused' | 'unreachable'>}
 */
async function diagnoseWorker() {
  try {
    const res = await fetch(`${workerUrl}/healthz`, { cache: 'no-store' });
    await res.arrayBuffer();
    return 'ok';
  } catch {
    try {
      await fetch(`${workerUrl}/healthz`, { mode: 'no-cors', cache: 'no-store' });
      originRefused = true;
      return 'origin-refused';
    } catch {
      return 'unreachable';
    }
  }
}

/** A stable pseudonymous user for the demo, so that "your assets" survive a reload. */
function demoUser() {
  let id = localStorage.getItem('demo-user');
  if (!id) {
    id = `demo-${crypto.randomUUID()}`;
    localStorage.setItem('demo-user', id);
  }
  return id;
}

/**
 * An error carrying one of the package's stable codes, so that the uploader passes it on as is.
 * @param {string} code
 * @param {string} message
 */
function codedError(code, message) {
  return Object.assign(new Error(message), { code });
}

/** The uploader's `getToken`: a grant for the demo user from the Worker's `/dev/grant`. */
async function getToken() {
  let res;
  try {
    res = await fetch(`${workerUrl}/dev/grant`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: demoUser() }),
    });
  } catch (error) {
    const diagnosis = await diagnoseWorker();
    if (diagnosis === 'origin-refused') {
      throw codedError('forbidden', `the Worker at ${workerUrl} refuses the origin ${location.origin} (ALLOWED_ORIGINS)`);
    }
    throw codedError('network', `the Worker at ${workerUrl} could not be reached: ${String(error)}`);
  }
  /** @type {{grant?: string, code?: string, message?: string}} */
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.grant) {
    const code = body.code || (res.status === 404 ? 'not_found' : 'unauthorized');
    throw codedError(code, body.message || `the grant route answered ${res.status}`);
  }
  return body.grant;
}

// ───────────────────────────── the uploader ─────────────────────────────

const concurrencyInput = /** @type {HTMLInputElement} */ ($('#opt-concurrency'));
concurrencyInput.value = localStorage.getItem('demo-concurrency') ?? concurrencyInput.value;
concurrencyInput.addEventListener('change', () => {
  localStorage.setItem('demo-concurrency', String(readConcurrency()));
});

function readConcurrency() {
  const value = Math.round(Number(concurrencyInput.value));
  return Number.isFinite(value) ? Math.min(16, Math.max(1, value)) : 4;
}

/** @param {number} concurrency */
function makeUploader(concurrency) {
  return new Uploader({
    endpoint: workerUrl,
    getToken,
    concurrency,
    progressIntervalMs: 200,
    persist: true,
  });
}

/** @type {Uploader} */
let uploader;
let uploaderConcurrency = readConcurrency();
try {
  await init();
  uploader = makeUploader(uploaderConcurrency);
  $('#package-version').textContent = `v${version()}`;
} catch (error) {
  const { code, words } = describeError(error);
  runtimeStatus.textContent = `The uploader could not start: ${words} (${code})`;
  runtimeStatus.dataset.state = 'error';
  throw error;
}

const diagnosis = await diagnoseWorker();
if (diagnosis === 'ok') {
  runtimeStatus.textContent = 'Ready. Uploads go through the Worker to the local TwelveLabs emulator.';
  runtimeStatus.dataset.state = 'ready';
} else if (diagnosis === 'origin-refused') {
  runtimeStatus.textContent = `The upload service at ${workerUrl} does not accept uploads from this page (${location.origin}): add this address to the Worker's ALLOWED_ORIGINS.`;
  runtimeStatus.dataset.state = 'error';
} else {
  runtimeStatus.textContent = `The upload service at ${workerUrl} cannot be reached. Is it running?`;
  runtimeStatus.dataset.state = 'error';
}
document.body.dataset.ready = 'true';

const networkStatus = $('#network-status');
const showConnectivity = () => {
  networkStatus.hidden = navigator.onLine;
};
window.addEventListener('online', showConnectivity);
window.addEventListener('offline', showConnectivity);
showConnectivity();

// ───────────────────────────── uploads ─────────────────────────────

/** Where an upload row is; the package's phases plus `ready` (the asset can be used). */
const PHASE_WORDS = {
  starting: 'Starting',
  uploading: 'Uploading',
  paused: 'Paused',
  finalizing: 'Reporting',
  processing: 'Processing',
  done: 'Uploaded',
  ready: 'Ready',
  failed: 'Failed',
  aborted: 'Cancelled',
};
const FINISHED = new Set(['done', 'ready', 'failed', 'aborted']);

/**
 * @typedef {object} Row
 * @property {HTMLLIElement} el
 * @property {File} file
 * @property {UploadHandle | null} handle
 * @property {string} phase
 * @property {UploadProgress | null} progress
 * @property {number} announcedQuarter  the last 25 % step announced to screen readers
 */

/** @type {Set<Row>} */
const rows = new Set();
const uploadList = $('#upload-list');

function activeRows() {
  return [...rows].filter((row) => !FINISHED.has(row.phase));
}

function updateGlobal() {
  let total = 0;
  let stored = 0;
  let speed = 0;
  const active = activeRows();
  for (const row of rows) {
    // Cancelled and failed uploads leave the total: the bar shows what is still meant to arrive.
    if (row.phase === 'aborted' || row.phase === 'failed') continue;
    const p = row.progress;
    total += p ? p.totalBytes : row.file.size;
    stored += p ? p.acknowledgedBytes : 0;
    if (p && !FINISHED.has(row.phase)) speed += p.bytesPerSecond ?? 0;
  }
  const bar = /** @type {HTMLProgressElement} */ ($('#global-progress'));
  bar.value = total ? stored / total : 0;
  let text = 'Nothing uploading';
  if (active.length) {
    const paused = active.filter((row) => row.phase === 'paused').length;
    const moving = active.length - paused;
    text = [moving ? `${moving} uploading` : '', paused ? `${paused} paused` : '']
      .filter(Boolean)
      .join(' · ');
    text += ` · ${formatBytes(stored)} of ${formatBytes(total)} stored`;
    if (speed) text += ` · ${formatBytes(speed)}/s`;
  } else if (rows.size) {
    const failed = [...rows].filter((row) => row.phase === 'failed').length;
    text = failed ? `Finished · ${failed} failed` : 'All uploads finished';
  }
  $('#global-label').textContent = text;
  $('#uploads-empty').hidden = rows.size > 0;
  // The budget of parallel chunks is fixed per uploader: it can change only when nothing runs.
  concurrencyInput.disabled = active.length > 0;
}

/**
 * @param {Row} row
 * @param {string} phase
 */
function setPhase(row, phase) {
  if (row.phase === phase) return;
  row.phase = phase;
  row.el.dataset.phase = phase;
  const words = PHASE_WORDS[/** @type {keyof typeof PHASE_WORDS} */ (phase)] ?? phase;
  $('.phase', row.el).textContent = words;
  const toggle = $('.pause-toggle', row.el);
  toggle.textContent = phase === 'paused' ? 'Resume' : 'Pause';
  toggle.setAttribute('aria-label', `${phase === 'paused' ? 'Resume' : 'Pause'} ${row.file.name}`);
  // Pausing only matters while chunks are still to be sent.
  toggle.hidden = !['starting', 'uploading', 'paused'].includes(phase);
  $('.actions', row.el).hidden = FINISHED.has(phase);
  announce(`${row.file.name}: ${words.toLowerCase()}`);
  updateGlobal();
}

/**
 * @param {Row} row
 * @param {UploadProgress} p
 */
function renderProgress(row, p) {
  row.progress = p;
  const total = p.totalBytes || row.file.size || 1;
  const share = (/** @type {number} */ n) => `${Math.min(100, (100 * n) / total).toFixed(2)}%`;
  $('.bar-sent', row.el).style.width = share(p.sentBytes);
  $('.bar-acked', row.el).style.width = share(p.acknowledgedBytes);
  $('.bar-reported', row.el).style.width = share(p.reportedBytes);
  const percent = Math.floor((100 * p.acknowledgedBytes) / total);
  const bar = /** @type {HTMLProgressElement} */ ($('progress', row.el));
  bar.value = p.acknowledgedBytes / total;
  bar.setAttribute('aria-valuetext', `${percent} percent stored`);
  Object.assign(row.el.dataset, {
    totalBytes: String(total),
    sentBytes: String(p.sentBytes),
    acknowledgedBytes: String(p.acknowledgedBytes),
    reportedBytes: String(p.reportedBytes),
  });
  $('.numbers', row.el).textContent =
    `${formatBytes(p.sentBytes)} sent · ${formatBytes(p.acknowledgedBytes)} stored · ` +
    `${formatBytes(p.reportedBytes)} confirmed of ${formatBytes(total)}`;
  let rate = '';
  if (p.retrying) {
    const seconds = Math.ceil(p.retrying.delayMs / 1000);
    rate = `Retrying (attempt ${p.retrying.attempt}, ${p.retrying.errorCode}) in ${seconds} s`;
  } else if (p.phase === 'uploading' && p.bytesPerSecond) {
    rate = `${formatBytes(p.bytesPerSecond)}/s · ${formatEta(p.etaMs)}`;
  }
  $('.rate', row.el).textContent = rate;
  const uploadId = row.handle?.uploadId;
  if (uploadId && row.el.dataset.uploadId !== uploadId) {
    row.el.dataset.uploadId = uploadId;
    // The session exists, and with it the asset (processing): show it in the asset list.
    refreshAssetsSoon();
  }
  // `done` is shown once the asset itself is known (see `track`), not from a progress event.
  if (p.phase !== 'done') setPhase(row, p.phase);
  const quarter = Math.floor(percent / 25);
  if (quarter > row.announcedQuarter && quarter < 4) {
    row.announcedQuarter = quarter;
    announce(`${row.file.name}: ${quarter * 25} percent stored`);
  }
  updateGlobal();
}

/**
 * @param {Row} row
 * @param {unknown} error
 */
function showError(row, error) {
  const { code, words: reason, detail } = describeError(error);
  const nothingSent = !row.progress || row.progress.sentBytes === 0;
  const words = originRefused && nothingSent ? `${reason} Nothing was uploaded.` : reason;
  const box = $('.error', row.el);
  box.replaceChildren();
  const sentence = document.createElement('p');
  sentence.append(`${words} `);
  const codeEl = document.createElement('code');
  codeEl.textContent = code;
  codeEl.title = 'Error code, for support';
  sentence.append(codeEl);
  box.append(sentence);
  if (detail && detail !== words) {
    const more = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'Technical details';
    const text = document.createElement('p');
    text.textContent = detail;
    more.append(summary, text);
    box.append(more);
  }
  box.hidden = false;
  row.el.dataset.errorCode = code;
  setPhase(row, code === 'aborted' ? 'aborted' : 'failed');
  if (code !== 'aborted') announce(`${row.file.name} failed: ${words}`);
}

/**
 * @param {Row} row
 * @param {string} text
 */
function showNote(row, text) {
  const note = $('.note', row.el);
  note.textContent = text;
  note.hidden = false;
}

/** @param {File} file */
function addRow(file) {
  const template = /** @type {HTMLTemplateElement} */ ($('#upload-item'));
  const el = /** @type {HTMLLIElement} */ (template.content.firstElementChild?.cloneNode(true));
  $('.name', el).textContent = file.name;
  $('.size', el).textContent = formatBytes(file.size);
  el.dataset.filename = file.name;
  $('.cancel', el).setAttribute('aria-label', `Cancel ${file.name}`);
  /** @type {Row} */
  const row = { el, file, handle: null, phase: '', progress: null, announcedQuarter: 0 };
  uploadList.prepend(el);
  rows.add(row);
  setPhase(row, 'starting');
  $('.pause-toggle', el).addEventListener('click', () => {
    if (!row.handle) return;
    if (row.phase === 'paused') row.handle.resume();
    else row.handle.pause();
    renderProgress(row, row.handle.progress);
  });
  $('.cancel', el).addEventListener('click', () => row.handle?.abort());
  return row;
}

/**
 * Runs one upload (new or resumed) and keeps its row up to date until it settles.
 * @param {Row} row
 * @param {(onProgress: (p: UploadProgress) => void) => UploadHandle} start
 */
async function track(row, start) {
  try {
    row.handle = start((p) => renderProgress(row, p));
    refreshAssetsSoon();
    const asset = await row.handle.done;
    renderProgress(row, row.handle.progress);
    row.el.dataset.assetId = asset.id;
    setPhase(row, asset.status === 'ready' ? 'ready' : 'done');
    showNote(row, `Asset ${asset.id} is ${asset.status}.`);
  } catch (error) {
    if (row.handle) renderProgress(row, row.handle.progress);
    showError(row, error);
  } finally {
    refreshPending();
    refreshAssetsSoon();
  }
}

function uploadOptions() {
  return {
    enableThumbnail: /** @type {HTMLInputElement} */ ($('#opt-thumbnail')).checked,
    enableHls: /** @type {HTMLInputElement} */ ($('#opt-hls')).checked,
    userMetadata: { source: 'edge-upload-demo' },
    waitUntilReady: true,
  };
}

/**
 * Continues a saved upload with `file` (which the user chose again).
 * @param {File} file
 * @param {PendingUpload} pending
 */
function resumeWith(file, pending) {
  const row = addRow(file);
  showNote(row, `Continuing an earlier upload (${Math.floor(pending.fraction * 100)} % was already confirmed).`);
  track(row, (onProgress) =>
    uploader.resume(file, { ...uploadOptions(), id: pending.id, onProgress }),
  );
}

/** @param {File[]} files */
async function uploadFiles(files) {
  if (readConcurrency() !== uploaderConcurrency && activeRows().length === 0) {
    uploaderConcurrency = readConcurrency();
    uploader.free();
    uploader = makeUploader(uploaderConcurrency);
  }
  const pending = await uploader.pendingUploads().catch(() => []);
  for (const file of files) {
    // Choosing a file that an interrupted upload was sending continues that upload.
    const match = pending.find(
      (p) => p.filename === file.name && p.size === file.size && p.lastModified === file.lastModified,
    );
    if (match && !uploadIdsInProgress().has(match.id)) {
      resumeWith(file, match);
      continue;
    }
    const row = addRow(file);
    track(row, (onProgress) => uploader.upload(file, { ...uploadOptions(), onProgress }));
  }
  refreshPending();
}

function uploadIdsInProgress() {
  return new Set(activeRows().map((row) => row.handle?.uploadId).filter(Boolean));
}

const fileInput = /** @type {HTMLInputElement} */ ($('#file-input'));
const dropZone = $('#drop-zone');
fileInput.addEventListener('change', () => {
  const files = [...(fileInput.files ?? [])];
  fileInput.value = '';
  if (files.length) uploadFiles(files);
});
dropZone.addEventListener('click', () => fileInput.click());
dropZone.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    fileInput.click();
  }
});
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('dragging');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length) uploadFiles(files);
});
// Dropping a file next to the zone must not navigate away from the page (and lose uploads).
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

// ───────────────────────── unfinished uploads ─────────────────────────

async function refreshPending() {
  const inProgress = uploadIdsInProgress();
  const pending = (await uploader.pendingUploads().catch(() => [])).filter((p) => !inProgress.has(p.id));
  const list = $('#resume-list');
  list.replaceChildren();
  $('#resume-section').hidden = pending.length === 0;
  for (const p of pending) {
    const li = document.createElement('li');
    li.className = 'item pending';
    li.dataset.uploadId = p.id;
    li.dataset.filename = p.filename;
    const head = document.createElement('div');
    head.className = 'item-head';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = p.filename;
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = formatBytes(p.size);
    const phase = document.createElement('span');
    phase.className = 'phase';
    phase.textContent = `Stopped at ${Math.floor(p.fraction * 100)} %`;
    head.append(name, size, phase);

    const foot = document.createElement('div');
    foot.className = 'item-foot';
    const numbers = document.createElement('span');
    numbers.className = 'numbers';
    numbers.textContent = `${formatBytes(p.uploadedBytes)} confirmed · continue before ${formatTime(p.expiresAt)}`;
    const actions = document.createElement('span');
    actions.className = 'actions';
    const input = document.createElement('input');
    input.type = 'file';
    input.className = 'resume-input visually-hidden';
    input.tabIndex = -1;
    input.setAttribute('aria-hidden', 'true');
    const choose = document.createElement('button');
    choose.type = 'button';
    choose.className = 'choose';
    choose.textContent = 'Choose the file to continue';
    choose.setAttribute('aria-label', `Choose ${p.filename} again to continue its upload`);
    choose.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      input.value = '';
      if (!file) return;
      li.remove();
      resumeWith(file, p);
    });
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'forget danger';
    discard.textContent = 'Discard';
    discard.setAttribute('aria-label', `Discard the unfinished upload of ${p.filename}`);
    discard.addEventListener('click', async () => {
      await uploader.forget(p.id);
      announce(`Discarded the unfinished upload of ${p.filename}`);
      refreshPending();
    });
    actions.append(input, choose, discard);
    foot.append(numbers, actions);
    li.append(head, foot);
    list.append(li);
  }
}

// ─────────────────────────────── assets ───────────────────────────────

let assetTimer = 0;
let assetsLoading = false;

/** Refreshes the asset list now (or right after the refresh in progress). */
function refreshAssetsSoon() {
  clearTimeout(assetTimer);
  assetTimer = window.setTimeout(refreshAssets, assetsLoading ? 500 : 0);
}

async function refreshAssets() {
  clearTimeout(assetTimer);
  assetsLoading = true;
  const statusLine = $('#assets-status');
  /** @type {Asset[]} */
  let assets = [];
  try {
    assets = (await uploader.listAssets({ page: 1, pageLimit: 50 })).data;
  } catch (error) {
    const { code, words } = describeError(error);
    statusLine.textContent = `Your assets could not be loaded: ${words} (${code})`;
    statusLine.hidden = false;
    assetsLoading = false;
    return;
  }
  assetsLoading = false;
  const tbody = $('#asset-rows');
  tbody.replaceChildren();
  for (const asset of assets) {
    const tr = document.createElement('tr');
    tr.dataset.assetId = asset.id;
    tr.dataset.status = asset.status;
    const name = asset.filename || asset.id;
    const cells = [name, asset.size === undefined ? '–' : formatBytes(asset.size), '', formatTime(asset.createdAt)];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 1) td.className = 'num';
      tr.append(td);
    }
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.status = asset.status;
    badge.textContent = asset.status;
    tr.children[2].append(badge);
    const actions = document.createElement('td');
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'delete danger';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${name}`);
    del.addEventListener('click', async () => {
      del.disabled = true;
      try {
        await uploader.deleteAsset(asset.id);
        statusLine.textContent = `Deleted ${name}.`;
      } catch (error) {
        const { code, words } = describeError(error);
        statusLine.textContent = `${name} could not be deleted: ${words} (${code})`;
      }
      statusLine.hidden = false;
      refreshAssets();
    });
    actions.append(del);
    tr.append(actions);
    tbody.append(tr);
  }
  $('#asset-table').hidden = assets.length === 0;
  if (assets.length === 0) {
    statusLine.textContent = 'No assets yet.';
    statusLine.hidden = false;
  } else if (statusLine.textContent === 'Loading…' || statusLine.textContent === 'No assets yet.') {
    statusLine.hidden = true;
  }
  // Poll while anything is still on its way to `ready`.
  const waiting = assets.some((a) => a.status === 'processing' || a.status === 'waiting');
  if (waiting || activeRows().length) assetTimer = window.setTimeout(refreshAssets, 2000);
}
$('#refresh-assets').addEventListener('click', refreshAssets);

refreshPending();
refreshAssets();
updateGlobal();
