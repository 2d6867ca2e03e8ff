//! The wasm linear memory does not grow with the file size: chunks are `Blob` views handed to
//! `fetch`, so file bytes never enter wasm memory. Its own test binary, so that the module's
//! memory is measured from a fresh start.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::*;
use serde_json::json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Uploads `mib` MiB to the emulator, checks it arrived intact, and returns the size of the
/// wasm linear memory afterwards.
async fn memory_after_upload(mib: f64, seed: u32) -> f64 {
    let (url, key) = emulator();
    let file = make_file(mib, seed, "memory.mp4");
    let uploader = direct_uploader(url, key, json!({ "persist": false, "concurrency": 4 }), &[]);
    let handle = uploader.upload(file.clone().into(), None);
    let asset = finish(&handle)
        .await
        .unwrap_or_else(|e| panic!("{mib} MiB upload failed: {:?}", to_json(&e)));
    let asset_id = prop(&asset, "id").as_string().expect("asset id");
    assert_stored_intact(url, &asset_id, &file).await;
    wasm_memory_bytes()
}

#[wasm_bindgen_test]
async fn wasm_memory_after_256_mib_is_no_larger_than_after_16_mib() {
    let after_16_mib = memory_after_upload(16.0, 16).await;
    let after_256_mib = memory_after_upload(256.0, 256).await;
    record("wasm_memory_bytes_after_16_mib_upload", after_16_mib).await;
    record("wasm_memory_bytes_after_256_mib_upload", after_256_mib).await;
    assert!(
        after_256_mib <= after_16_mib,
        "wasm memory grew from {after_16_mib} to {after_256_mib} bytes"
    );
}
