//! Uploads from headless Chromium through the Worker (workerd, in front of the emulator), with
//! grants minted in the test the way an app's backend mints them.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use std::cell::Cell;
use std::rc::Rc;

use browser_support::*;
use js_sys::Promise;
use serde_json::json;
use twelvelabs_edge_upload::browser::uploader::Uploader;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Seconds since the Unix epoch (the clock the Worker judges `exp` with: same machine).
fn now_secs() -> f64 {
    (js_sys::Date::now() / 1000.0).floor()
}

/// A `getToken` that counts its calls and mints the grant `expiry(call number)` describes.
fn get_token(calls: Rc<Cell<u32>>, expiry: fn(u32) -> f64) -> JsValue {
    let (_, secret) = worker();
    let callback = Closure::<dyn FnMut() -> Promise>::new(move || {
        let call = calls.get() + 1;
        calls.set(call);
        let exp = expiry(call);
        future_to_promise(async move {
            Ok(JsValue::from(
                mint_grant(secret, "browser-tests", exp).await,
            ))
        })
    });
    // Lives as long as the test's uploaders (the test process ends with the test binary).
    callback.into_js_value()
}

fn grant_uploader(get_token: &JsValue) -> Uploader {
    let (url, _) = worker();
    let options = js_options(
        json!({ "endpoint": url, "persist": false }),
        &[("getToken", get_token)],
    );
    Uploader::new(options.unchecked_into()).expect("valid options")
}

#[wasm_bindgen_test]
async fn an_upload_through_the_worker_completes_intact() {
    let (emulator_url, _) = emulator();
    let calls = Rc::new(Cell::new(0));
    let uploader = grant_uploader(&get_token(Rc::clone(&calls), |_| now_secs() + 600.0));
    let file = make_file(16.0, 90, "through-the-worker.mp4");
    let handle = uploader.upload(file.clone().into(), None);
    let asset = finish(&handle)
        .await
        .unwrap_or_else(|e| panic!("upload failed: {:?}", to_json(&e)));
    let asset_id = prop(&asset, "id").as_string().expect("asset id");
    assert_stored_intact(emulator_url, &asset_id, &file).await;
    assert_each_chunk_stored_once(emulator_url, &handle.upload_id().unwrap(), 4).await;
    assert_eq!(calls.get(), 1, "one grant serves the whole upload");

    // The Worker tags the asset with the grant's subject, and lets its owner read it.
    let read = wasm_bindgen_futures::JsFuture::from(uploader.get_asset(asset_id.clone().into()))
        .await
        .unwrap_or_else(|e| panic!("getAsset failed: {:?}", to_json(&e)));
    let read = to_json(&read);
    assert_eq!(read["id"], asset_id.as_str());
    assert_eq!(read["userMetadata"]["edge_upload_owner"], "browser-tests");
}

#[wasm_bindgen_test]
async fn an_expired_grant_mid_upload_is_replaced_through_get_token() {
    let (emulator_url, _) = emulator();
    let calls = Rc::new(Cell::new(0));
    // The first grant is valid for a few seconds only (the Worker allows 30 s of skew);
    // every later one for ten minutes.
    let uploader = grant_uploader(&get_token(Rc::clone(&calls), |call| {
        if call == 1 {
            now_secs() - 25.0
        } else {
            now_secs() + 600.0
        }
    }));
    let file = make_file(6.0, 91, "expiring-grant.mp4");
    let options = js_options(json!({ "waitUntilReady": true }), &[]);
    let handle = uploader.upload(file.clone().into(), Some(options.unchecked_into()));
    // Hold the upload right after its session is created with the first grant…
    handle.pause();
    for _ in 0..600 {
        if handle.upload_id().is_some() {
            break;
        }
        sleep(50.0).await;
    }
    assert!(handle.upload_id().is_some(), "the session was not created");
    assert_eq!(calls.get(), 1);
    // …until that grant has certainly expired, then go on: waiting for the asset needs the
    // grant again, gets a 401, asks getToken for a new one and continues.
    // It was minted before now with `exp` = its mint time − 25 s, so the Worker refuses it
    // once more than `exp` + 30 s has passed: certainly after now + 5 s (+ 1 s for rounding).
    let first_grant_dead_after = now_secs() + 6.0;
    while now_secs() <= first_grant_dead_after {
        sleep(250.0).await;
    }
    handle.resume();
    let asset = finish(&handle)
        .await
        .unwrap_or_else(|e| panic!("upload failed: {:?}", to_json(&e)));
    assert_eq!(prop(&asset, "status"), "ready");
    assert_eq!(calls.get(), 2, "getToken was asked again after the 401");
    let asset_id = prop(&asset, "id").as_string().unwrap();
    assert_stored_intact(emulator_url, &asset_id, &file).await;
}

#[wasm_bindgen_test]
async fn abort_deletes_the_reserved_asset_through_the_worker() {
    let (emulator_url, _) = emulator();
    let calls = Rc::new(Cell::new(0));
    let uploader = grant_uploader(&get_token(Rc::clone(&calls), |_| now_secs() + 600.0));
    let file = make_file(16.0, 92, "aborted-through-the-worker.mp4");
    let handle = uploader.upload(file.into(), None);
    // Held from its session on, so that the abort below finds it still running.
    handle.pause();
    for _ in 0..600 {
        if handle.asset_id().is_some() {
            break;
        }
        sleep(50.0).await;
    }
    let asset_id = handle.asset_id().expect("the session reserved an asset");
    assert_eq!(asset_status(emulator_url, &asset_id).await, 200);
    handle.abort();
    let error = finish(&handle).await.expect_err("aborted upload rejects");
    assert_eq!(prop(&error, "code"), "aborted");
    // Deleted through the Worker with the uploader's grant (the owner's), as the emulator sees.
    assert_asset_deleted(emulator_url, &asset_id).await;
    assert_eq!(calls.get(), 1, "the grant in hand served the delete");
}
