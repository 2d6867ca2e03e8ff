// The engine tier's probe page. Storage refusal is emulated before the package is loaded, as the
// engines do it: `?idb=throw` — indexedDB.open throws a SecurityError (Firefox with storage
// blocked); `?idb=missing` — no indexedDB at all (storage disabled); `?idb=error` — the open
// request fails with an error event (older private modes).
const idbMode = new URLSearchParams(location.search).get('idb');
if (idbMode === 'throw') {
  IDBFactory.prototype.open = function open() {
    throw new DOMException('The operation is insecure.', 'SecurityError');
  };
} else if (idbMode === 'missing') {
  Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
} else if (idbMode === 'error') {
  IDBFactory.prototype.open = function open() {
    const request = new EventTarget();
    Object.assign(request, { result: undefined, readyState: 'pending', onerror: null, onsuccess: null, onupgradeneeded: null, onblocked: null });
    const error = new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError');
    Object.defineProperty(request, 'error', { get: () => error });
    setTimeout(() => {
      request.readyState = 'done';
      const event = new Event('error');
      request.dispatchEvent(event);
      request.onerror?.(event);
    }, 0);
    return request;
  };
}

const { default: init, Uploader } = await import('twelvelabs-edge-upload');
const wasm = await init();
const config = await (await fetch('/demo-config.json')).json();

async function getToken() {
  const res = await fetch(`${config.workerUrl}/dev/grant`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'engine-lab' }),
  });
  return (await res.json()).grant;
}

async function sha256Hex(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A plain summary of an error, as each engine shapes it. */
function describe(error) {
  return {
    name: error?.name ?? null,
    code: error?.code ?? null,
    message: String(error?.message ?? error),
    isTypeError: error instanceof TypeError,
  };
}

/** The file chosen last (WebDriver's Send Keys adds to an input's files where it allows several). */
const picked = () => {
  if (window.lab.file) return window.lab.file;
  const { files } = document.querySelector('#pick');
  return files[files.length - 1];
};

/** An `onProgress` that pauses `handle()` once, at the first report with a chunk stored. */
const pauser = (handle) => {
  let paused = false;
  return (progress) => {
    if (!paused && progress.acknowledgedBytes > 0) {
      paused = true;
      handle().pause();
    }
  };
};

/** The frame opened by `openFrame(name)`. */
const frame = (name) => document.querySelector(`iframe[name="${name}"]`);

window.lab = {
  uploader: null,
  outcome: null,

  /** Size of the package's wasm linear memory: file bytes must never enter it. */
  wasmMemoryBytes() {
    return wasm.memory.buffer.byteLength;
  },

  /** How often the uploader of `startUpload` asked for a grant. */
  tokenCalls: 0,

  /**
   * Uploads the chosen file; `lab.outcome` becomes `{asset}` or `{error}` when it settles.
   * `firstGrant`, when given, is the grant `getToken` answers first (e.g. one about to expire).
   * `pauseOnFirstAck` pauses the upload from its first progress report with a chunk stored, in
   * the page: a test driving the pause from outside could be too late for a small file.
   */
  startUpload(options = {}, firstGrant = null, { pauseOnFirstAck = false } = {}) {
    this.tokenCalls = 0;
    const tokens = async () => {
      this.tokenCalls += 1;
      return this.tokenCalls === 1 && firstGrant ? firstGrant : getToken();
    };
    this.uploader = new Uploader({ endpoint: config.workerUrl, getToken: tokens, concurrency: 2, progressIntervalMs: 50, ...options });
    this.outcome = null;
    this.handle = this.uploader.upload(picked(), { waitUntilReady: true, onProgress: pauseOnFirstAck ? pauser(() => this.handle) : undefined });
    this.handle.done.then(
      (asset) => (this.outcome = { asset: { id: asset.id, status: asset.status } }),
      (error) => (this.outcome = { error: describe(error) }),
    );
    return true;
  },

  /**
   * Starts an upload and keeps only its handle, not its `Uploader` (for the GC scenario: the page
   * may drop the uploader). `lab.orphan` holds the handle and what the callbacks report.
   */
  startOrphanUpload(options = {}) {
    const orphan = (this.orphan = { acknowledgedBytes: 0, outcome: null, handle: null });
    const pause = pauser(() => orphan.handle);
    orphan.handle = new Uploader({ endpoint: config.workerUrl, getToken, concurrency: 2, progressIntervalMs: 50, persist: false, ...options })
      .upload(picked(), {
        onProgress: (p) => {
          orphan.acknowledgedBytes = p.acknowledgedBytes;
          pause(p);
        },
      });
    orphan.handle.done.then(
        (asset) => (orphan.outcome = { asset: { id: asset.id, status: asset.status } }),
        (error) => (orphan.outcome = { error: describe(error) }),
      );
    return true;
  },

  progress() {
    const p = this.handle.progress;
    return { phase: p.phase, acknowledgedBytes: p.acknowledgedBytes, reportedBytes: p.reportedBytes, totalBytes: p.totalBytes, uploadId: this.handle.uploadId ?? null };
  },

  /**
   * Setup mistakes, as an app could make them: each must fail at once with its stable code.
   * Resolves to `{name: {code, name, message}}`.
   */
  async setupMistakes() {
    const out = {};
    for (const [option, value] of [['concurrency', 0], ['stallTimeoutMs', 10]]) {
      try {
        new Uploader({ endpoint: config.workerUrl, getToken, [option]: value });
        out[option] = 'accepted';
      } catch (error) {
        out[option] = describe(error);
      }
    }
    const uploader = new Uploader({ endpoint: config.workerUrl, getToken });
    const controller = new AbortController();
    controller.abort();
    out.abortedSignal = await uploader
      .upload(new Blob([new Uint8Array(1024)], { type: 'video/mp4' }), { signal: controller.signal })
      .done.then(() => 'completed', describe);
    uploader.free();
    return out;
  },

  /** The file the helpers use instead of the input's (set in a frame by `openFrame`). */
  file: null,

  /**
   * Opens this page again in a same-origin frame named `name`: another page of the app, with its
   * own uploader and the same storage and locks, as another tab has. The frame gets the chosen
   * file as a `File` of its own realm (the package checks `instanceof Blob` in the realm it
   * runs in).
   */
  async openFrame(name) {
    const opened = document.createElement('iframe');
    opened.name = name;
    opened.src = location.pathname;
    document.body.append(opened);
    while (opened.contentDocument?.body?.dataset.ready !== 'true') {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const file = picked();
    const { File: FrameFile, lab } = opened.contentWindow;
    lab.file = new FrameFile([file], file.name, { type: file.type, lastModified: file.lastModified });
    return true;
  },

  /** Calls `lab[method](...args)` in the frame `name`. */
  inFrame(name, method, ...args) {
    return frame(name).contentWindow.lab[method](...args);
  },

  /** Pauses (`true`) or resumes (`false`) the upload of `lab.handle`. */
  setPaused(paused) {
    if (paused) this.handle.pause();
    else this.handle.resume();
    return true;
  },

  /** `lab.outcome` of the frame `name`. */
  frameOutcome(name) {
    return frame(name).contentWindow.lab.outcome;
  },

  /** Removes the frame `name`, as closing a tab ends its page. */
  closeFrame(name) {
    frame(name).remove();
    return true;
  },

  /**
   * Continues the saved upload `id` (without one: the record the package picks for the file)
   * with the chosen file (a new uploader unless there is one);
   * `lab.outcome` becomes `{asset}` or `{error}` when it settles.
   */
  resumeUpload(id) {
    this.uploader ??= new Uploader({ endpoint: config.workerUrl, getToken, concurrency: 2, progressIntervalMs: 50 });
    this.outcome = null;
    this.handle = this.uploader.resume(picked(), { ...(id ? { id } : {}), waitUntilReady: true });
    this.handle.done.then(
      (asset) => (this.outcome = { asset: { id: asset.id, status: asset.status } }),
      (error) => (this.outcome = { error: describe(error) }),
    );
    return true;
  },

  /** `forget(id)` on this page's uploader: `{forgotten: true}` or `{error}`. */
  async forgetUpload(id) {
    this.uploader ??= new Uploader({ endpoint: config.workerUrl, getToken });
    try {
      await this.uploader.forget(id);
      return { forgotten: true };
    } catch (error) {
      return { error: describe(error) };
    }
  },

  /** What `pendingUploads()` gives: `{list}` or `{error}` (it must never throw). */
  async pending() {
    this.uploader ??= new Uploader({ endpoint: config.workerUrl, getToken });
    try {
      const list = await this.uploader.pendingUploads();
      return { list: list.map((p) => ({ id: p.id, filename: p.filename })) };
    } catch (error) {
      return { error: describe(error) };
    }
  },

  /** The ids `pendingUploads()` lists to a new uploader of `persistScope` (none: unscoped). */
  async pendingIn(persistScope) {
    const uploader = new Uploader({ endpoint: config.workerUrl, getToken, ...(persistScope ? { persistScope } : {}) });
    return (await uploader.pendingUploads()).map((p) => p.id);
  },

  /** Where storage is, as the engine reports it: whether IndexedDB opens and takes a write. */
  async indexedDbState() {
    try {
      const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open('engine-lab-probe', 1);
        request.onupgradeneeded = () => request.result.createObjectStore('s');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      await new Promise((resolve, reject) => {
        const tx = db.transaction('s', 'readwrite');
        tx.objectStore('s').put(1, 'k');
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
      });
      db.close();
      return { opens: true };
    } catch (error) {
      return { opens: false, error: describe(error) };
    }
  },

  /**
   * Reads `length` bytes at each offset of the chosen file with `Blob.slice` and returns them as
   * Latin-1 text (or the error the engine raised for that offset).
   */
  async readAt(offsets, length) {
    const file = picked();
    const out = [];
    for (const offset of offsets) {
      try {
        const bytes = new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
        out.push({ offset, text: String.fromCharCode(...bytes) });
      } catch (error) {
        out.push({ offset, error: describe(error) });
      }
    }
    return { size: file.size, reads: out };
  },

  /** PUTs `file.slice(start, end)` as a fetch body (as the package sends a chunk) to `url`. */
  async putSlice(url, start, end) {
    const file = picked();
    const slice = file.slice(start, end);
    const local = await sha256Hex(await slice.arrayBuffer());
    const res = await fetch(url, { method: 'PUT', body: slice });
    return { status: res.status, echoed: await res.json(), local };
  },

  /** A fetch PUT to `url`: its status and readable ETag, or the error the engine reports. */
  async tryPut(url) {
    try {
      const res = await fetch(url, { method: 'PUT', body: new Blob([new Uint8Array(64 * 1024)]) });
      await res.arrayBuffer();
      return { status: res.status, ok: res.ok, etag: res.headers.get('etag') };
    } catch (error) {
      return { error: describe(error) };
    }
  },
};
document.body.dataset.ready = 'true';
