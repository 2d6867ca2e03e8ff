// @ts-check
// The demo page. It uses the npm package exactly as an app would (imported by its name through
// the import map) and gets grants from the Worker's `/dev/grant` route, which only the demo
// configuration enables; a real app gets them from its own backend.
import init, { UploadQueue, Uploader, version } from 'twelvelabs-edge-upload';

/** @typedef {import('twelvelabs-edge-upload').QueueItem} QueueItem */
/** @typedef {import('twelvelabs-edge-upload').QueueSnapshot} QueueSnapshot */
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
  unsupported_type: 'This kind of file is not accepted here: this upload may be limited to some kinds of media, or the file\'s type could not be told from it.',
  rate_limited: 'The upload service is busy. It kept asking to slow down; please try again in a moment.',
  upstream_unavailable: 'TwelveLabs cannot be reached right now. Please try again in a moment.',
  network: 'The network connection failed.',
  etag_unreadable: 'The storage accepted the data but the browser was not allowed to read its receipt. The storage must expose the ETag header to this site (a CORS setting).',
  session_expired: 'This upload waited too long: uploads must finish within 24 hours of starting. Please start it again.',
  session_failed: 'TwelveLabs gave up on this upload. Please start it again.',
  file_mismatch: 'That is not the file that was being uploaded. Choose the original file to continue.',
  aborted: 'Cancelled. Nothing more is sent for this file.',
  server_invalid: 'The upload service sent an answer the page could not understand.',
  storage_rejected: 'The storage refused a part of the file.',
  retries_exhausted: 'The upload kept failing and has stopped. Check your connection and try again.',
  asset_failed: 'The file arrived, but TwelveLabs could not process it.',
  conflict: 'This asset is still used by an index, so it cannot be deleted.',
  config_invalid: 'The upload service is not set up correctly, so it refuses every upload. Its operator must fix its settings (see Technical details).',
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
    // One scope per signed-in user: on a shared browser, nobody is offered another's uploads.
    persistScope: demoUser(),
  });
}

/** @type {Uploader} */
let uploader;
/** @type {UploadQueue} */
let queue;
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

// ───────────────────────────── the queue ─────────────────────────────
// Everything about the uploads (what runs, pausing, retrying, which saved upload a file
// continues, totals) is the package's UploadQueue; this page only draws its snapshots.

function uploadOptions() {
  return {
    enableThumbnail: /** @type {HTMLInputElement} */ ($('#opt-thumbnail')).checked,
    enableHls: /** @type {HTMLInputElement} */ ($('#opt-hls')).checked,
    userMetadata: { source: 'edge-upload-demo' },
    waitUntilReady: true,
  };
}

/** A queue on the current uploader, showing the uploads saved before a reload. */
function startQueue() {
  const started = new UploadQueue(uploader);
  started.subscribe(render);
  started
    .restorePending(uploadOptions())
    .then(loadExpiries, () => {})
    // Marks the list as complete (tests wait for it before they judge an empty list).
    .finally(() => ($('#resume-list').dataset.restored = 'true'));
  return started;
}

/** When each saved upload expires (shown next to it), by upload id. */
const expiries = new Map();
async function loadExpiries() {
  for (const pending of await uploader.pendingUploads().catch(() => [])) {
    expiries.set(pending.id, pending.expiresAt);
  }
  render();
}

/** @param {File[]} files */
function uploadFiles(files) {
  // The budget of parallel chunks is fixed per uploader: it can change only when nothing runs.
  if (readConcurrency() !== uploaderConcurrency && activeCount(queue.getSnapshot()) === 0) {
    uploaderConcurrency = readConcurrency();
    // The finished rows stay on the page, without buttons: their queue is released.
    for (const row of rows.values()) $('.actions', row.el).hidden = true;
    rows.clear();
    queue.free();
    uploader.free();
    uploader = makeUploader(uploaderConcurrency);
    queue = startQueue();
  }
  queue.add(files, uploadOptions());
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

// ───────────────────────────── drawing the queue ─────────────────────────────

/** What each phase is called on the page. `done` is `Ready`: uploads wait until the asset is. */
const PHASE_WORDS = {
  queued: 'Waiting',
  starting: 'Starting',
  uploading: 'Uploading',
  paused: 'Paused',
  finalizing: 'Reporting',
  processing: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
  aborted: 'Cancelled',
};
/** The phases of uploads that have not ended. */
const ACTIVE_PHASES = /** @type {const} */ (['queued', 'starting', 'uploading', 'paused', 'finalizing', 'processing']);

/** @param {QueueSnapshot} snapshot */
function activeCount(snapshot) {
  return ACTIVE_PHASES.reduce((sum, phase) => sum + snapshot.totals.counts[phase], 0);
}

/**
 * @typedef {object} Row
 * @property {HTMLLIElement} el
 * @property {QueueItem | null} item  the item as last drawn (items keep their object while unchanged)
 * @property {number} announcedQuarter  the last 25 % step announced to screen readers
 */

/** @type {Map<string, Row>} */
const rows = new Map();
/** @type {Map<string, HTMLLIElement>} */
const pendingRows = new Map();
const uploadList = $('#upload-list');
/** @type {QueueSnapshot | null} */
let drawn = null;

function render() {
  const snapshot = queue.getSnapshot();
  if (snapshot === drawn) return;
  drawn = snapshot;
  const shown = new Set();
  for (const item of snapshot.items) {
    shown.add(item.id);
    if (item.phase === 'awaiting_file') {
      drawPending(item);
      continue;
    }
    pendingRows.get(item.id)?.remove();
    pendingRows.delete(item.id);
    const row = rows.get(item.id) ?? addRow(item);
    if (row.item !== item) drawItem(row, item);
  }
  for (const [id, li] of pendingRows) {
    if (!shown.has(id)) {
      li.remove();
      pendingRows.delete(id);
    }
  }
  $('#resume-section').hidden = pendingRows.size === 0;
  drawTotals(snapshot);
}

/** @param {QueueSnapshot} snapshot */
function drawTotals(snapshot) {
  const { totals } = snapshot;
  const bar = /** @type {HTMLProgressElement} */ ($('#global-progress'));
  bar.value = totals.fraction;
  const { counts } = totals;
  const moving = counts.starting + counts.uploading + counts.finalizing + counts.processing;
  const active = activeCount(snapshot);
  let text = 'Nothing uploading';
  if (active) {
    text = [
      moving ? `${moving} uploading` : '',
      counts.queued ? `${counts.queued} waiting` : '',
      counts.paused ? `${counts.paused} paused` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    text += ` · ${formatBytes(totals.acknowledgedBytes)} of ${formatBytes(totals.totalBytes)} stored`;
    if (totals.bytesPerSecond) text += ` · ${formatBytes(totals.bytesPerSecond)}/s`;
    if (totals.etaMs) text += ` · ${formatEta(totals.etaMs)}`;
  } else if (uploadList.childElementCount) {
    text = counts.failed ? `Finished · ${counts.failed} failed` : 'All uploads finished';
  }
  $('#global-label').textContent = text;
  $('#uploads-empty').hidden = uploadList.childElementCount > 0;
  concurrencyInput.disabled = active > 0;
}

/** @param {QueueItem} item */
function addRow(item) {
  const template = /** @type {HTMLTemplateElement} */ ($('#upload-item'));
  const el = /** @type {HTMLLIElement} */ (template.content.firstElementChild?.cloneNode(true));
  $('.name', el).textContent = item.filename;
  $('.size', el).textContent = formatBytes(item.size);
  el.dataset.filename = item.filename;
  $('.cancel', el).setAttribute('aria-label', `Cancel ${item.filename}`);
  $('.retry', el).setAttribute('aria-label', `Retry ${item.filename}`);
  /** @type {Row} */
  const row = { el, item: null, announcedQuarter: 0 };
  $('.pause-toggle', el).addEventListener('click', () => {
    if (row.item?.phase === 'paused') queue.resume(item.id);
    else queue.pause(item.id);
  });
  $('.cancel', el).addEventListener('click', () => queue.cancel(item.id));
  $('.retry', el).addEventListener('click', () => queue.retry(item.id));
  uploadList.prepend(el);
  rows.set(item.id, row);
  return row;
}

/**
 * @param {Row} row
 * @param {QueueItem} item
 */
function drawItem(row, item) {
  const before = row.item;
  row.item = item;
  const { el } = row;
  const p = item.progress;
  const phase = item.phase === 'done' ? 'ready' : item.phase;
  const total = item.size || 1;
  const share = (/** @type {number} */ n) => `${Math.min(100, (100 * n) / total).toFixed(2)}%`;
  $('.bar-sent', el).style.width = share(p.sentBytes);
  $('.bar-acked', el).style.width = share(p.acknowledgedBytes);
  $('.bar-reported', el).style.width = share(p.reportedBytes);
  const percent = Math.floor((100 * p.acknowledgedBytes) / total);
  const bar = /** @type {HTMLProgressElement} */ ($('progress', el));
  bar.value = p.acknowledgedBytes / total;
  bar.setAttribute('aria-valuetext', `${percent} percent stored`);
  Object.assign(el.dataset, {
    phase,
    totalBytes: String(item.size),
    sentBytes: String(p.sentBytes),
    acknowledgedBytes: String(p.acknowledgedBytes),
    reportedBytes: String(p.reportedBytes),
  });
  $('.numbers', el).textContent =
    `${formatBytes(p.sentBytes)} sent · ${formatBytes(p.acknowledgedBytes)} stored · ` +
    `${formatBytes(p.reportedBytes)} confirmed of ${formatBytes(item.size)}`;
  let rate = '';
  if (p.retrying) {
    const seconds = Math.ceil(p.retrying.delayMs / 1000);
    rate = `Retrying (attempt ${p.retrying.attempt}, ${p.retrying.errorCode}) in ${seconds} s`;
  } else if (item.phase === 'uploading' && p.bytesPerSecond) {
    rate = `${formatBytes(p.bytesPerSecond)}/s · ${formatEta(p.etaMs)}`;
  }
  $('.rate', el).textContent = rate;
  if (item.uploadId && el.dataset.uploadId !== item.uploadId) {
    el.dataset.uploadId = item.uploadId;
    // The session exists, and with it the asset (processing): show it in the asset list.
    refreshAssetsSoon();
  }
  if (item.assetId) el.dataset.assetId = item.assetId;

  if (before?.phase !== item.phase) {
    const words = PHASE_WORDS[/** @type {keyof typeof PHASE_WORDS} */ (phase)] ?? phase;
    $('.phase', el).textContent = words;
    const toggle = $('.pause-toggle', el);
    const toggleWord = item.phase === 'paused' ? 'Resume' : 'Pause';
    toggle.textContent = toggleWord;
    toggle.setAttribute('aria-label', `${toggleWord} ${item.filename}`);
    // Pausing only matters while chunks are still to be sent.
    toggle.hidden = !['queued', 'starting', 'uploading', 'paused'].includes(item.phase);
    $('.cancel', el).hidden = !(/** @type {readonly string[]} */ (ACTIVE_PHASES)).includes(item.phase);
    $('.retry', el).hidden = !['failed', 'aborted'].includes(item.phase);
    $('.actions', el).hidden = item.phase === 'done';
    if (before) announce(`${item.filename}: ${words.toLowerCase()}`);
    if (item.phase === 'done') {
      showNote(el, `Asset ${item.assetId} is ready.`);
      refreshAssetsSoon();
    }
  }
  if (item.error) {
    if (before?.error !== item.error) showError(el, item);
  } else {
    $('.error', el).hidden = true;
    delete el.dataset.errorCode;
  }
  const quarter = Math.floor(percent / 25);
  if (quarter > row.announcedQuarter && quarter < 4) {
    row.announcedQuarter = quarter;
    announce(`${item.filename}: ${quarter * 25} percent stored`);
  }
}

/**
 * @param {HTMLElement} el
 * @param {QueueItem} item
 */
function showError(el, item) {
  const { code, words: reason, detail } = describeError(item.error);
  const nothingSent = item.progress.sentBytes === 0;
  const words = originRefused && nothingSent ? `${reason} Nothing was uploaded.` : reason;
  const box = $('.error', el);
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
  el.dataset.errorCode = code;
  if (code !== 'aborted') announce(`${item.filename} failed: ${words}`);
}

/**
 * @param {HTMLElement} el
 * @param {string} text
 */
function showNote(el, text) {
  const note = $('.note', el);
  note.textContent = text;
  note.hidden = false;
}

/**
 * A saved upload waiting for its file (phase `awaiting_file`), in the "Unfinished uploads" list.
 * @param {QueueItem} item
 */
function drawPending(item) {
  const existing = pendingRows.get(item.id);
  const li = existing ?? document.createElement('li');
  li.className = 'item pending';
  li.dataset.uploadId = item.uploadId ?? '';
  li.dataset.filename = item.filename;
  li.replaceChildren();
  const head = document.createElement('div');
  head.className = 'item-head';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = item.filename;
  const size = document.createElement('span');
  size.className = 'size';
  size.textContent = formatBytes(item.size);
  const phase = document.createElement('span');
  phase.className = 'phase';
  phase.textContent = `Stopped at ${Math.floor(item.progress.fraction * 100)} %`;
  head.append(name, size, phase);

  const foot = document.createElement('div');
  foot.className = 'item-foot';
  const numbers = document.createElement('span');
  numbers.className = 'numbers';
  const expiry = item.uploadId ? expiries.get(item.uploadId) : undefined;
  numbers.textContent =
    `${formatBytes(item.progress.acknowledgedBytes)} confirmed` + (expiry ? ` · continue before ${formatTime(expiry)}` : '');
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
  choose.setAttribute('aria-label', `Choose ${item.filename} again to continue its upload`);
  choose.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    try {
      queue.attachFile(item.id, file);
    } catch (error) {
      const { code, words } = describeError(error);
      numbers.textContent = `${words} (${code})`;
    }
  });
  const discard = document.createElement('button');
  discard.type = 'button';
  discard.className = 'forget danger';
  discard.textContent = 'Discard';
  discard.setAttribute('aria-label', `Discard the unfinished upload of ${item.filename}`);
  discard.addEventListener('click', () => {
    queue.remove(item.id);
    announce(`Discarded the unfinished upload of ${item.filename}`);
  });
  actions.append(input, choose, discard);
  foot.append(numbers, actions);
  li.append(head, foot);
  if (item.error) {
    const note = document.createElement('p');
    note.className = 'note';
    note.textContent = describeError(item.error).words;
    li.append(note);
  }
  if (!existing) {
    $('#resume-list').append(li);
    pendingRows.set(item.id, li);
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
  if (waiting || activeCount(queue.getSnapshot())) assetTimer = window.setTimeout(refreshAssets, 2000);
}
$('#refresh-assets').addEventListener('click', refreshAssets);

queue = startQueue();
refreshAssets();
render();
