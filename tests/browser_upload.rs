//! Uploads through the real JS API of the package (the exported `Uploader`), in headless
//! Chromium, against the emulator started by `tests/support/run-browser-tests.mjs`. Bytes are
//! generated in the browser from a seeded PRNG and compared by SHA-256 with what the emulator
//! assembled.
#![cfg(target_arch = "wasm32")]

use js_sys::{Promise, Reflect};
use twelvelabs_edge_upload::browser::uploader::Uploader;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

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
export async function getJson(url, init) {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json();
}
export function options(endpoint, apiKey, extra) {
  return Object.assign({ endpoint, apiKey, persist: false, concurrency: 4 }, extra || {});
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = makeFile)]
    fn make_file(size: f64, seed: u32, name: &str) -> web_sys::File;
    #[wasm_bindgen(js_name = sha256Hex)]
    fn sha256_hex(blob: &web_sys::Blob) -> Promise;
    #[wasm_bindgen(js_name = getJson)]
    fn get_json(url: &str, init: &JsValue) -> Promise;
    fn options(endpoint: &str, api_key: &str, extra: &JsValue) -> JsValue;
}

fn emulator() -> (&'static str, &'static str) {
    (
        option_env!("TLEU_TEST_EMULATOR_URL").expect(
            "TLEU_TEST_EMULATOR_URL is not set: run via tests/support/run-browser-tests.mjs",
        ),
        option_env!("TLEU_TEST_EMULATOR_API_KEY").expect(
            "TLEU_TEST_EMULATOR_API_KEY is not set: run via tests/support/run-browser-tests.mjs",
        ),
    )
}

async fn json(url: &str) -> serde_json::Value {
    let value = JsFuture::from(get_json(url, &JsValue::UNDEFINED))
        .await
        .expect("debug route");
    serde_wasm(&value)
}

fn serde_wasm(value: &JsValue) -> serde_json::Value {
    let text: String = js_sys::JSON::stringify(value).expect("JSON").into();
    serde_json::from_str(&text).expect("JSON")
}

fn uploader(extra: JsValue) -> Uploader {
    let (url, key) = emulator();
    Uploader::new(options(url, key, &extra).unchecked_into()).expect("valid options")
}

fn prop(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).expect("property")
}

#[wasm_bindgen_test]
async fn a_64_mib_upload_completes_intact_with_each_chunk_put_once() {
    let (url, _) = emulator();
    let file = make_file(64.0 * 1024.0 * 1024.0, 64, "sixty-four.mp4");
    let handle = uploader(JsValue::UNDEFINED).upload(file.clone().into(), None);
    let asset = JsFuture::from(handle.done())
        .await
        .expect("upload succeeds");
    let asset_id = prop(&asset, "id").as_string().expect("asset id");
    let upload_id = handle.upload_id().expect("upload id known");

    let expected = JsFuture::from(sha256_hex(&file))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let stored = json(&format!("{url}/_emulator/assets/{asset_id}/sha256")).await;
    assert_eq!(stored["sha256"], expected.as_str());
    assert_eq!(stored["size"], 64 * 1024 * 1024);

    let stats = json(&format!("{url}/_emulator/stats")).await;
    let puts = stats["chunk_puts"][&upload_id]
        .as_object()
        .expect("PUT stats of this upload");
    assert_eq!(puts.len(), 13, "64 MiB in 5 MiB chunks: {puts:?}");
    for (index, chunk) in puts {
        assert_eq!(
            chunk["attempts"], 1,
            "chunk {index} was PUT more than once: {chunk}"
        );
        assert_eq!(chunk["stored"], 1, "chunk {index}: {chunk}");
    }
    let progress = handle.progress();
    assert_eq!(prop(&progress, "phase"), "done");
    assert_eq!(
        prop(&progress, "acknowledgedBytes"),
        prop(&progress, "totalBytes")
    );
}

#[wasm_bindgen_test]
async fn abort_rejects_with_aborted() {
    let file = make_file(12.0 * 1024.0 * 1024.0, 7, "aborted.mp4");
    let handle = uploader(JsValue::UNDEFINED).upload(file.into(), None);
    handle.abort();
    let error = JsFuture::from(handle.done())
        .await
        .expect_err("aborted upload rejects");
    assert_eq!(prop(&error, "code"), "aborted");
    assert_eq!(prop(&error, "name"), "UploadError");
    assert_eq!(prop(&error, "retryable"), false);
    assert!(error.is_instance_of::<js_sys::Error>());
}

#[wasm_bindgen_test]
async fn bad_options_throw_invalid_input() {
    let bad = js_sys::JSON::parse(r#"{"concurrency": 0}"#).unwrap();
    let (url, key) = emulator();
    let error = Uploader::new(options(url, key, &bad).unchecked_into())
        .err()
        .expect("concurrency 0 is refused");
    assert_eq!(prop(&error, "code"), "invalid_input");
    let message = prop(&error, "message").as_string().unwrap();
    assert!(message.contains("concurrency"), "{message}");
}

#[wasm_bindgen_test]
async fn a_hidden_etag_fails_fast_with_etag_unreadable() {
    let (url, _) = emulator();
    let faults = |body: &str| {
        let init = js_sys::JSON::parse(&format!(
            r#"{{"method":"POST","headers":{{"content-type":"application/json"}},"body":{}}}"#,
            serde_json::Value::from(body)
        ))
        .unwrap();
        JsFuture::from(get_json(&format!("{url}/_emulator/faults"), &init))
    };
    faults(r#"{"hide_etag": true}"#).await.expect("faults set");
    let file = make_file(6.0 * 1024.0 * 1024.0, 3, "hidden-etag.mp4");
    let handle = uploader(JsValue::UNDEFINED).upload(file.into(), None);
    let outcome = JsFuture::from(handle.done()).await;
    faults(r#"{"hide_etag": false}"#)
        .await
        .expect("faults reset");
    let error = outcome.expect_err("an unreadable ETag is fatal");
    assert_eq!(prop(&error, "code"), "etag_unreadable");
    let message = prop(&error, "message").as_string().unwrap();
    assert!(
        message.contains("Access-Control-Expose-Headers"),
        "{message}"
    );
}
