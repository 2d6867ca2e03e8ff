// The demo page: uses the npm package exactly as an app would (imported by name through the
// import map), and gets grants from the Worker's /dev/grant route, which only the demo enables.
import init, { Uploader } from 'twelvelabs-edge-upload';

const $ = (sel, root = document) => root.querySelector(sel);
const statusEl = $('#runtime-status');

/** Words a person understands, per stable error code; the code is shown too, for support. */
const FRIENDLY = {
  etag_unreadable: 'The storage answered, but the browser was not allowed to read its receipt (a CORS setting on the storage must expose the ETag header).',
  session_expired: 'This upload waited too long (uploads must finish within 24 hours). Start it again.',
  unauthorized: 'You are not signed in, or your sign-in expired.',
  forbidden: 'You are not allowed to do this (the file may be too large or of a type that is not accepted, or this site is not allowed to upload).',
  file_mismatch: 'That is not the same file that was being uploaded. Choose the original file to continue.',
  aborted: 'Cancelled.',
  network: 'The network connection failed. It will continue when the connection is back.',
  upstream_unavailable: 'TwelveLabs is not reachable right now. Please try again in a moment.',
  invalid_input: 'The file or its details were not accepted.',
  payload_too_large: 'The file is larger than allowed.',
  unsupported_type: 'This kind of file is not accepted. Choose a video, audio file or image.',
  rate_limited: 'Too many uploads at once. Please wait a moment.',
  asset_failed: 'TwelveLabs could not process this file.',
  retries_exhausted: 'The upload kept failing and stopped. Check your connection and try again.',
};

function describeError(err) {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : 'internal';
  const words = FRIENDLY[code] || (err && err.message) || 'Something went wrong.';
  return { code, words };
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min left`;
  return `${Math.floor(m / 60)} h ${m % 60} min left`;
}

// A stable pseudonymous user for the demo, so "your assets" survive a reload.
function demoUser() {
  let id = localStorage.getItem('demo-user');
  if (!id) {
    id = `demo-${crypto.randomUUID()}`;
    localStorage.setItem('demo-user', id);
  }
  return id;
}

const config = await fetch('/demo-config.json').then((r) => r.json()).catch(() => ({}));
const workerUrl = config.workerUrl || location.origin;

async function getToken() {
  const res = await fetch(`${workerUrl}/dev/grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: demoUser() }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const err = new Error(body.message || `The sign-in service answered ${res.status}.`);
    err.code = body.code || (res.status === 403 ? 'forbidden' : 'unauthorized');
    throw err;
  }
  return (await res.json()).grant;
}

let uploader;
try {
  await init();
  uploader = new Uploader({
    endpoint: workerUrl,
    getToken,
    concurrency: Number($('#opt-concurrency').value) || 4,
    progressInterval: 200,
    persist: true,
  });
  statusEl.textContent = 'Ready. Uploads go to the local TwelveLabs emulator through the Worker.';
  statusEl.dataset.state = 'ready';
  document.body.dataset.ready = 'true';
} catch (err) {
  const { code, words } = describeError(err);
  statusEl.textContent = `The uploader could not start: ${words} (${code})`;
  statusEl.dataset.state = 'error';
  throw err;
}

// ───────────────────────────── uploads ─────────────────────────────
const rows = new Map(); // key → { el, handle, total, progress }
const list = $('#upload-list');

function updateGlobal() {
  let total = 0;
  let done = 0;
  let active = 0;
  for (const row of rows.values()) {
    total += row.total;
    done += row.reported;
    if (!['ready', 'failed', 'cancelled', 'uploaded'].includes(row.el.dataset.phase)) active += 1;
  }
  $('#global-progress').value = total ? done / total : 0;
  $('#global-text').textContent = active
    ? `${active} uploading · ${formatBytes(done)} of ${formatBytes(total)} confirmed`
    : rows.size ? 'All uploads finished' : 'Nothing uploading';
  $('#uploads-empty').hidden = rows.size > 0;
}

const PHASE_WORDS = {
  starting: 'Starting', uploading: 'Uploading', reporting: 'Confirming', processing: 'Processing',
  ready: 'Ready', uploaded: 'Uploaded', failed: 'Failed', paused: 'Paused', cancelled: 'Cancelled',
  offline: 'Waiting for network',
};

function setPhase(row, phase) {
  row.el.dataset.phase = phase;
  $('.phase', row.el).textContent = PHASE_WORDS[phase] || phase;
  const finished = ['ready', 'failed', 'cancelled', 'uploaded'].includes(phase);
  $('.pause', row.el).hidden = finished || phase === 'paused';
  $('.resume', row.el).hidden = phase !== 'paused';
  $('.cancel', row.el).hidden = finished;
  updateGlobal();
}

function renderProgress(row, p) {
  const total = p.totalBytes || row.total || 1;
  row.total = total;
  row.reported = p.bytesReported;
  const pct = (n) => `${Math.min(100, (100 * n) / total).toFixed(2)}%`;
  $('.bar-sent', row.el).style.width = pct(p.bytesSent);
  $('.bar-acked', row.el).style.width = pct(p.bytesAcknowledged);
  $('.bar-reported', row.el).style.width = pct(p.bytesReported);
  const bar = $('progress', row.el);
  bar.value = p.bytesReported / total;
  bar.setAttribute('aria-valuetext', `${Math.floor((100 * p.bytesReported) / total)} percent confirmed`);
  $('.numbers', row.el).textContent =
    `${formatBytes(p.bytesSent)} sent · ${formatBytes(p.bytesAcknowledged)} stored · ${formatBytes(p.bytesReported)} confirmed of ${formatBytes(total)}`;
  $('.rate', row.el).textContent = p.speedBytesPerSec
    ? `${formatBytes(p.speedBytesPerSec)}/s ${formatDuration(p.etaSeconds)}`
    : '';
  if (p.phase && row.el.dataset.phase !== 'paused') setPhase(row, p.phase);
  updateGlobal();
}

function showError(row, err) {
  const { code, words } = describeError(err);
  const el = $('.error', row.el);
  el.hidden = false;
  el.innerHTML = '';
  el.append(`${words} `);
  const c = document.createElement('code');
  c.textContent = code;
  el.append(c);
  setPhase(row, code === 'aborted' ? 'cancelled' : 'failed');
}

function addRow(file) {
  const el = $('#upload-item').content.firstElementChild.cloneNode(true);
  $('.name', el).textContent = file.name;
  $('.size', el).textContent = formatBytes(file.size);
  el.dataset.filename = file.name;
  list.prepend(el);
  const row = { el, handle: null, total: file.size, reported: 0 };
  rows.set(el, row);
  setPhase(row, 'starting');
  $('.pause', el).addEventListener('click', () => { row.handle?.pause(); setPhase(row, 'paused'); });
  $('.resume', el).addEventListener('click', () => { row.handle?.resume(); setPhase(row, 'uploading'); });
  $('.cancel', el).addEventListener('click', () => row.handle?.abort());
  return row;
}

async function track(row, start) {
  try {
    row.handle = start((p) => renderProgress(row, p));
    const asset = await row.handle.done;
    setPhase(row, asset && asset.status === 'ready' ? 'ready' : 'uploaded');
    row.el.dataset.assetId = asset?._id || asset?.id || '';
    refreshAssets();
  } catch (err) {
    showError(row, err);
  } finally {
    refreshPending();
  }
}

function uploadFiles(files) {
  for (const file of files) {
    const row = addRow(file);
    track(row, (onProgress) =>
      uploader.upload(file, {
        enableHls: $('#opt-hls').checked,
        enableThumbnail: $('#opt-thumbnail').checked,
        userMetadata: { source: 'demo' },
        onProgress,
        waitUntilReady: true,
      }),
    );
  }
}

const input = $('#file-input');
const zone = $('#drop-zone');
input.addEventListener('change', () => {
  uploadFiles([...input.files]);
  input.value = '';
});
zone.addEventListener('click', () => input.click());
zone.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
});
zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
zone.addEventListener('drop', (e) => {
  e.preventDefault();
  zone.classList.remove('dragging');
  uploadFiles([...e.dataTransfer.files]);
});

// ───────────────────────── unfinished uploads ─────────────────────────
async function refreshPending() {
  const pending = await uploader.pendingUploads().catch(() => []);
  const ul = $('#resume-list');
  ul.innerHTML = '';
  $('#resume-section').hidden = pending.length === 0;
  for (const p of pending) {
    const li = document.createElement('li');
    li.className = 'item';
    li.dataset.uploadId = p.id;
    const pct = p.totalBytes ? Math.floor((100 * p.bytesReported) / p.totalBytes) : 0;
    li.innerHTML = `<div class="item-head"><span class="name"></span><span class="size"></span>
      <span class="phase">Interrupted at ${pct}%</span></div>
      <div class="item-foot"><span class="numbers"></span><span class="actions">
      <label class="secondary-label"><span class="visually-hidden">Choose the file to continue </span>
        <input type="file" class="resume-input"></label>
      <button type="button" class="forget danger">Forget</button></span></div>
      <p class="error" role="alert" hidden></p>`;
    $('.name', li).textContent = p.filename;
    $('.size', li).textContent = formatBytes(p.totalBytes);
    $('.numbers', li).textContent = p.expiresAt ? `Continue before ${new Date(p.expiresAt).toLocaleString()}` : '';
    $('.resume-input', li).setAttribute('aria-label', `Choose ${p.filename} again to continue`);
    $('.resume-input', li).addEventListener('change', (e) => {
      const file = e.target.files[0];
      if (!file) return;
      const row = addRow(file);
      track(row, (onProgress) => uploader.resume(file, { onProgress, waitUntilReady: true }));
    });
    $('.forget', li).addEventListener('click', async () => {
      await uploader.forget(p.id);
      refreshPending();
    });
    ul.append(li);
  }
}

// ─────────────────────────────── assets ───────────────────────────────
let assetTimer = 0;
async function refreshAssets() {
  clearTimeout(assetTimer);
  let assets = [];
  try {
    const page = await uploader.listAssets({ page: 1, pageLimit: 50 });
    assets = page.data || [];
  } catch (err) {
    const { code, words } = describeError(err);
    $('#assets-empty').textContent = `Could not load your assets: ${words} (${code})`;
  }
  const tbody = $('#asset-rows');
  tbody.innerHTML = '';
  for (const a of assets) {
    const tr = document.createElement('tr');
    tr.dataset.assetId = a._id;
    tr.innerHTML = '<td class="file"></td><td class="num size"></td><td><span class="badge"></span></td><td class="created"></td><td><button type="button" class="danger delete">Delete</button></td>';
    $('.file', tr).textContent = a.filename || a._id;
    $('.size', tr).textContent = a.size ? formatBytes(a.size) : '–';
    $('.badge', tr).textContent = a.status;
    $('.badge', tr).dataset.status = a.status;
    $('.created', tr).textContent = a.created_at ? new Date(a.created_at).toLocaleString() : '';
    $('.delete', tr).setAttribute('aria-label', `Delete ${a.filename || a._id}`);
    $('.delete', tr).addEventListener('click', async () => {
      try {
        await uploader.deleteAsset(a._id);
      } catch (err) {
        const { code, words } = describeError(err);
        alert(`${words} (${code})`);
      }
      refreshAssets();
    });
    tbody.append(tr);
  }
  $('#assets-empty').hidden = assets.length > 0;
  $('#asset-table').hidden = assets.length === 0;
  if (assets.some((a) => a.status === 'processing')) assetTimer = setTimeout(refreshAssets, 2000);
}
$('#refresh-assets').addEventListener('click', refreshAssets);

refreshPending();
refreshAssets();
updateGlobal();
window.demo = { uploader, rows };
