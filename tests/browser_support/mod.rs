//! Helpers shared by the headless-Chromium test binaries (`tests/browser_*.rs`): where the
//! services started by `tests/support/run-browser-tests.mjs` are, test files generated in the
//! browser, the emulator's debug routes, grants, and an instrumented `fetch`.
//!
//! Each test binary uses a different subset of these helpers, hence `dead_code` is allowed.
#![allow(dead_code)]

use js_sys::{Function, Promise, Reflect};
use twelvelabs_edge_upload::browser::uploader::{UploadHandle, Uploader};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
export function makeFile(size, seed, name) {
  // xorshift32 in 1 MiB pieces: the Blob is assembled from parts, never one huge array.
  let x = seed >>> 0 || 1;
  const parts = [];
  for (let done = 0; done < size; ) {
    const n = Math.min(1 << 20, size - done);
    const piece = new Uint8Array(n);
    const words = new Uint32Array(piece.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      words[i] = x;
    }
    parts.push(piece);
    done += n;
  }
  return new File(parts, name, { type: 'video/mp4', lastModified: 1700000000000 });
}
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
export async function fetchJson(url, method, body) {
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = body;
  }
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
export async function apiStatus(url, apiKey) {
  const res = await fetch(url, { headers: { 'x-api-key': apiKey } });
  await res.arrayBuffer();
  return res.status;
}
export function sleepMs(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
// An HS256 JWT, minted the way an app's backend does (docs/npm-README.md), with WebCrypto.
export async function mintGrant(secret, sub, expSecs) {
  const b64 = (bytes) => btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const json = (value) => b64(new TextEncoder().encode(JSON.stringify(value)));
  const input = `${json({ alg: 'HS256', typ: 'JWT' })}.${json({ sub, exp: expSecs })}`;
  const key = await crypto.subtle.importKey(
    'raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input));
  return `${input}.${b64(new Uint8Array(mac))}`;
}
// A `fetch` that counts what the uploader asks for: every call, the calls still pending, PUTs,
// PUTs whose AbortSignal fired (cancelled by the uploader), presigned-URL requests and asset
// reads (`GET /assets/{id}`). While `counts.failAssetReads` is set, asset reads answer 503.
// While `counts.hangReports` is above 0, a report (`POST …/multipart-uploads/{id}`) is held
// forever, as over a connection that hangs (it counts down); a held report settles only when
// its AbortSignal fires (`abortedHungReports`). While `counts.holdCreations` is above 0, a
// session creation is sent, but its answer is handed over only at `releaseCreations()`, as one
// that comes late (`heldCreations`; `abortedHeldCreations` if its AbortSignal fires first;
// `lateAssetId` is the asset its session reserved).
export function countingFetch() {
  const counts = { calls: 0, pending: 0, puts: 0, abortedPuts: 0, urlRequests: 0, assetReads: 0, failAssetReads: false,
    reports: 0, hangReports: 0, hungReports: 0, abortedHungReports: 0,
    holdCreations: 0, heldCreations: 0, abortedHeldCreations: 0, lateAssetId: '' };
  const held = [];
  counts.releaseCreations = () => { for (const release of held.splice(0)) release(); };
  const fetchFn = (input, init) => {
    counts.calls++;
    if (init?.method === 'POST' && /\/multipart-uploads$/.test(new URL(String(input)).pathname) && counts.holdCreations > 0) {
      counts.holdCreations--;
      counts.heldCreations++;
      init.signal?.addEventListener('abort', () => counts.abortedHeldCreations++, { once: true });
      const answer = fetch(input, init).then(async (response) => {
        counts.lateAssetId = (await response.clone().json()).asset_id ?? '';
        return response;
      });
      return new Promise((resolve, reject) => held.push(() => answer.then(resolve, reject)));
    }
    if (init?.method === 'POST' && /\/multipart-uploads\/[^/]+$/.test(new URL(String(input)).pathname)) {
      counts.reports++;
      if (counts.hangReports > 0) {
        counts.hangReports--;
        counts.hungReports++;
        return new Promise((_, reject) => {
          init.signal?.addEventListener('abort', () => {
            counts.abortedHungReports++;
            reject(new DOMException('The operation was aborted.', 'AbortError'));
          }, { once: true });
        });
      }
    }
    if ((init?.method ?? 'GET') === 'GET' && /\/assets\/[^/?]+$/.test(new URL(String(input)).pathname)) {
      counts.assetReads++;
      if (counts.failAssetReads) {
        const body = JSON.stringify({ code: 'upstream_unavailable', message: 'injected' });
        return Promise.resolve(new Response(body, { status: 503, headers: { 'content-type': 'application/json' } }));
      }
    }
    counts.pending++;
    if (init && init.method === 'PUT') {
      counts.puts++;
      init.signal?.addEventListener('abort', () => counts.abortedPuts++, { once: true });
    }
    if (String(input).includes('/presigned-urls')) counts.urlRequests++;
    const settled = () => { counts.pending--; };
    const promise = fetch(input, init);
    promise.then(settled, settled);
    return promise;
  };
  return { fetch: fetchFn, counts };
}
export function dispatchGlobalEvent(name) {
  globalThis.dispatchEvent(new Event(name));
}
export function memoryBytes(memory) {
  return memory.buffer.byteLength;
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = makeFile)]
    fn make_file_js(size: f64, seed: u32, name: &str) -> web_sys::File;
    #[wasm_bindgen(js_name = sha256Hex)]
    fn sha256_hex_js(blob: &web_sys::Blob) -> Promise;
    #[wasm_bindgen(js_name = fetchJson)]
    fn fetch_json_js(url: &str, method: &str, body: JsValue) -> Promise;
    #[wasm_bindgen(js_name = apiStatus)]
    fn api_status_js(url: &str, api_key: &str) -> Promise;
    #[wasm_bindgen(js_name = sleepMs)]
    fn sleep_ms_js(ms: f64) -> Promise;
    #[wasm_bindgen(js_name = mintGrant)]
    fn mint_grant_js(secret: &str, sub: &str, exp_secs: f64) -> Promise;
    #[wasm_bindgen(js_name = countingFetch)]
    fn counting_fetch_js() -> JsValue;
    #[wasm_bindgen(js_name = dispatchGlobalEvent)]
    fn dispatch_global_event_js(name: &str);
    #[wasm_bindgen(js_name = memoryBytes)]
    fn memory_bytes_js(memory: &JsValue) -> f64;
}

/// Bytes in a mebibyte.
pub const MIB: f64 = 1024.0 * 1024.0;

fn required(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| {
        panic!("{name} is not set: run these tests via tests/support/run-browser-tests.mjs")
    })
}

/// The emulator with default settings (5 MiB chunks): base URL and API key.
pub fn emulator() -> (&'static str, &'static str) {
    (
        required(
            option_env!("TLEU_TEST_EMULATOR_URL"),
            "TLEU_TEST_EMULATOR_URL",
        ),
        required(
            option_env!("TLEU_TEST_EMULATOR_API_KEY"),
            "TLEU_TEST_EMULATOR_API_KEY",
        ),
    )
}

/// The emulator reserved for fault, pause and resume tests: 1 MiB chunks, so a few MiB make many
/// chunks and the tests stay fast. Base URL (its API key is the same as [`emulator`]'s).
pub fn fault_emulator() -> &'static str {
    required(
        option_env!("TLEU_TEST_FAULT_EMULATOR_URL"),
        "TLEU_TEST_FAULT_EMULATOR_URL",
    )
}

/// The Worker (in workerd, in front of [`emulator`]) and the secret its grants are signed with.
pub fn worker() -> (&'static str, &'static str) {
    (
        required(option_env!("TLEU_TEST_WORKER_URL"), "TLEU_TEST_WORKER_URL"),
        required(
            option_env!("TLEU_TEST_GRANT_SECRET"),
            "TLEU_TEST_GRANT_SECRET",
        ),
    )
}

/// A `File` of `mib` MiB of seeded pseudo-random bytes, `video/mp4`, fixed `lastModified`.
pub fn make_file(mib: f64, seed: u32, name: &str) -> web_sys::File {
    make_file_js(mib * MIB, seed, name)
}

/// SHA-256 of a blob, lowercase hex.
pub async fn sha256_hex(blob: &web_sys::Blob) -> String {
    JsFuture::from(sha256_hex_js(blob))
        .await
        .expect("SHA-256 of the test file")
        .as_string()
        .expect("hex string")
}

/// Waits `ms` milliseconds (a settle delay, never a measured duration).
pub async fn sleep(ms: f64) {
    let _ = JsFuture::from(sleep_ms_js(ms)).await;
}

/// Sends a request to a debug route and parses its JSON answer (`Null` when empty).
pub async fn call_json(url: &str, method: &str, body: Option<&str>) -> serde_json::Value {
    let body = body.map_or(JsValue::UNDEFINED, JsValue::from_str);
    let value = JsFuture::from(fetch_json_js(url, method, body))
        .await
        .unwrap_or_else(|e| panic!("{method} {url} failed: {e:?}"));
    to_json(&value)
}

/// The HTTP status of `GET {emulator_url}/v1.3/assets/{asset_id}`, asked with the API key
/// (the emulator's view, not the Worker's).
pub async fn asset_status(emulator_url: &str, asset_id: &str) -> u16 {
    let (_, api_key) = emulator();
    let url = format!("{emulator_url}/v1.3/assets/{asset_id}");
    let status = JsFuture::from(api_status_js(&url, api_key))
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e:?}"));
    status.as_f64().expect("a status") as u16
}

/// Asserts that the emulator deletes `asset_id` within ~10 s (an aborted upload deletes its
/// reserved asset in the background, after `done` rejected).
pub async fn assert_asset_deleted(emulator_url: &str, asset_id: &str) {
    let mut status = 0;
    for _ in 0..200 {
        status = asset_status(emulator_url, asset_id).await;
        if status == 404 {
            return;
        }
        sleep(50.0).await;
    }
    panic!("asset {asset_id} still answers {status} 10 s after the abort");
}

/// A JS value as JSON.
pub fn to_json(value: &JsValue) -> serde_json::Value {
    if value.is_undefined() || value.is_null() {
        return serde_json::Value::Null;
    }
    let text: String = js_sys::JSON::stringify(value).expect("JSON").into();
    serde_json::from_str(&text).expect("JSON")
}

/// Sets every fault knob these tests touch back to "no faults", then applies `overrides`
/// (a JSON object). Tests start with this so that a failed test cannot leak faults.
pub async fn set_faults(emulator_url: &str, overrides: serde_json::Value) {
    let mut faults = serde_json::json!({
        "put_failure_rate": 0.0,
        "put_failure_kind": "500",
        "put_fail_next": 0,
        "put_stall_secs": 300,
        "url_ttl_secs": 3600,
        "single_use_urls": false,
        "hide_etag": false,
        "latency_ms": 0,
        // The emulator's default (`DEFAULT_PROCESSING_MS`): how long a new asset stays
        // `processing`.
        "processing_ms": 200,
    });
    if let (Some(all), Some(extra)) = (faults.as_object_mut(), overrides.as_object()) {
        for (key, value) in extra {
            all.insert(key.clone(), value.clone());
        }
    }
    call_json(
        &format!("{emulator_url}/_emulator/faults"),
        "POST",
        Some(&faults.to_string()),
    )
    .await;
}

/// The emulator's per-chunk PUT counters of one upload (`{index: {attempts, stored, …}}`).
pub async fn chunk_puts(
    emulator_url: &str,
    upload_id: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let stats = call_json(&format!("{emulator_url}/_emulator/stats"), "GET", None).await;
    stats["chunk_puts"][upload_id]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Requests the emulator counted per route, debug routes excluded (they are the test's own).
pub async fn api_and_storage_requests(emulator_url: &str) -> serde_json::Value {
    let stats = call_json(&format!("{emulator_url}/_emulator/stats"), "GET", None).await;
    let counted: serde_json::Map<String, serde_json::Value> = stats["requests"]
        .as_object()
        .expect("requests in the stats")
        .iter()
        .filter(|(route, _)| !route.contains("/_emulator"))
        .map(|(route, count)| (route.clone(), count.clone()))
        .collect();
    serde_json::Value::Object(counted)
}

/// Asserts that the emulator assembled exactly `file`'s bytes for `asset_id`.
pub async fn assert_stored_intact(emulator_url: &str, asset_id: &str, file: &web_sys::File) {
    let expected = sha256_hex(file).await;
    let stored = call_json(
        &format!("{emulator_url}/_emulator/assets/{asset_id}/sha256"),
        "GET",
        None,
    )
    .await;
    assert_eq!(stored["sha256"], expected.as_str(), "asset {asset_id}");
    assert_eq!(stored["size"], file.size(), "asset {asset_id}");
}

/// Asserts that every chunk of the upload was stored exactly once, and returns the counters.
pub async fn assert_each_chunk_stored_once(
    emulator_url: &str,
    upload_id: &str,
    total_chunks: usize,
) -> serde_json::Map<String, serde_json::Value> {
    let puts = chunk_puts(emulator_url, upload_id).await;
    assert_eq!(puts.len(), total_chunks, "PUT counters: {puts:?}");
    for (index, chunk) in &puts {
        assert_eq!(chunk["stored"], 1, "chunk {index}: {chunk}");
    }
    puts
}

/// Sum of one counter (`"attempts"`, `"injected_failures"`, …) over the chunks.
pub fn total(puts: &serde_json::Map<String, serde_json::Value>, counter: &str) -> u64 {
    puts.values().filter_map(|c| c[counter].as_u64()).sum()
}

/// A property of a JS object.
pub fn prop(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).expect("property")
}

/// A numeric property of a JS object.
pub fn number(value: &JsValue, key: &str) -> f64 {
    prop(value, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

/// Builds an options object from JSON plus JS-only values (functions).
pub fn js_options(json: serde_json::Value, extra: &[(&str, &JsValue)]) -> JsValue {
    let object = js_sys::JSON::parse(&json.to_string()).expect("JSON options");
    for (key, value) in extra {
        Reflect::set(&object, &(*key).into(), value).expect("set option");
    }
    object
}

/// An uploader talking to an emulator directly with its API key.
pub fn direct_uploader(
    emulator_url: &str,
    api_key: &str,
    json: serde_json::Value,
    extra: &[(&str, &JsValue)],
) -> Uploader {
    let mut options = serde_json::json!({ "endpoint": emulator_url, "apiKey": api_key });
    if let (Some(all), Some(more)) = (options.as_object_mut(), json.as_object()) {
        for (key, value) in more {
            all.insert(key.clone(), value.clone());
        }
    }
    Uploader::new(js_options(options, extra).unchecked_into()).expect("valid options")
}

/// The instrumented `fetch` (pass `fetch_fn()` as the `fetch` option) and its counters.
pub struct CountingFetch {
    pair: JsValue,
}

impl CountingFetch {
    /// A fresh instrumented `fetch`.
    pub fn new() -> Self {
        CountingFetch {
            pair: counting_fetch_js(),
        }
    }

    /// The function to pass as `UploaderOptions.fetch`.
    pub fn function(&self) -> JsValue {
        let function: Function = prop(&self.pair, "fetch").unchecked_into();
        function.into()
    }

    /// One counter: `calls`, `pending`, `puts`, `abortedPuts`, `urlRequests`, `assetReads`,
    /// `reports`, `hungReports`, `abortedHungReports`, `heldCreations`, `abortedHeldCreations`.
    pub fn count(&self, name: &str) -> u64 {
        number(&prop(&self.pair, "counts"), name) as u64
    }

    /// While `fail` holds, every asset read (`GET /assets/{id}`) answers 503.
    pub fn fail_asset_reads(&self, fail: bool) {
        Reflect::set(
            &prop(&self.pair, "counts"),
            &"failAssetReads".into(),
            &fail.into(),
        )
        .expect("set failAssetReads");
    }

    /// Holds the next `count` reports forever (until the uploader aborts them).
    pub fn hang_reports(&self, count: u32) {
        Reflect::set(
            &prop(&self.pair, "counts"),
            &"hangReports".into(),
            &count.into(),
        )
        .expect("set hangReports");
    }

    /// Sends the next `count` session creations but holds their answers until
    /// [`CountingFetch::release_creations`].
    pub fn hold_creations(&self, count: u32) {
        Reflect::set(
            &prop(&self.pair, "counts"),
            &"holdCreations".into(),
            &count.into(),
        )
        .expect("set holdCreations");
    }

    /// Hands over the answers of the held session creations.
    pub fn release_creations(&self) {
        let release: Function =
            prop(&prop(&self.pair, "counts"), "releaseCreations").unchecked_into();
        release
            .call0(&JsValue::UNDEFINED)
            .expect("releaseCreations");
    }

    /// The asset the session of the held creation reserved (empty until its answer came).
    pub fn late_asset_id(&self) -> String {
        prop(&prop(&self.pair, "counts"), "lateAssetId")
            .as_string()
            .unwrap_or_default()
    }

    /// Waits until no request of the uploader is pending (bounded: panics after ~30 s).
    pub async fn until_idle(&self) {
        for _ in 0..600 {
            if self.count("pending") == 0 {
                return;
            }
            sleep(50.0).await;
        }
        panic!("requests still pending after 30 s");
    }
}

impl Default for CountingFetch {
    fn default() -> Self {
        Self::new()
    }
}

/// Waits until `handle`'s progress has `acknowledgedChunks >= chunks` (bounded: ~60 s).
pub async fn until_acknowledged(handle: &UploadHandle, chunks: f64) {
    for _ in 0..1200 {
        if number(&handle.progress(), "acknowledgedChunks") >= chunks {
            return;
        }
        sleep(50.0).await;
    }
    panic!(
        "fewer than {chunks} chunks acknowledged after 60 s: {:?}",
        to_json(&handle.progress())
    );
}

/// Waits until no request is pending and every acknowledged chunk is reported: what is left
/// once a paused upload has wound down (bounded: ~30 s; use `progressIntervalMs: 0`).
pub async fn until_settled(handle: &UploadHandle, fetch: &CountingFetch) {
    for _ in 0..600 {
        let progress = handle.progress();
        if fetch.count("pending") == 0
            && number(&progress, "reportedChunks") == number(&progress, "acknowledgedChunks")
        {
            return;
        }
        sleep(50.0).await;
    }
    panic!("not settled after 30 s: {:?}", to_json(&handle.progress()));
}

/// The saved records `uploader.pendingUploads()` lists.
pub async fn pending_records(uploader: &Uploader) -> Vec<serde_json::Value> {
    let listed = JsFuture::from(uploader.pending_uploads())
        .await
        .expect("pendingUploads resolves");
    match to_json(&listed) {
        serde_json::Value::Array(records) => records,
        other => panic!("pendingUploads is not an array: {other}"),
    }
}

/// The record of upload `id` among `records`, if listed.
pub fn record_of<'a>(records: &'a [serde_json::Value], id: &str) -> Option<&'a serde_json::Value> {
    records.iter().find(|r| r["id"] == id)
}

/// Awaits `handle.done`: the asset, or the rejection.
pub async fn finish(handle: &UploadHandle) -> Result<JsValue, JsValue> {
    JsFuture::from(handle.done()).await
}

/// Mints a grant for `sub` expiring at `exp_secs` (Unix seconds).
pub async fn mint_grant(secret: &str, sub: &str, exp_secs: f64) -> String {
    JsFuture::from(mint_grant_js(secret, sub, exp_secs))
        .await
        .expect("grant minted")
        .as_string()
        .expect("grant string")
}

/// Fires `online` / `offline` on the global object, as the browser does.
pub fn dispatch_global_event(name: &str) {
    dispatch_global_event_js(name);
}

/// Current size of this module's wasm linear memory, bytes.
pub fn wasm_memory_bytes() -> f64 {
    memory_bytes_js(&wasm_bindgen::memory())
}

/// Sends a measurement to the test runner, which prints it (test output is otherwise only shown
/// for failing tests).
pub async fn record(name: &str, value: f64) {
    let url = required(option_env!("TLEU_TEST_RECORD_URL"), "TLEU_TEST_RECORD_URL");
    let body = serde_json::json!({ "name": name, "value": value }).to_string();
    call_json(url, "POST", Some(&body)).await;
}
