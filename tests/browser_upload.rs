//! Uploads through the real JS API of the package (the exported `Uploader`), in headless
//! Chromium, straight to the emulators started by `tests/support/run-browser-tests.mjs` (the
//! Worker path is `browser_worker.rs`). Bytes are generated in the browser from a seeded PRNG
//! and compared by SHA-256 with what the emulator assembled; the emulator's counters and an
//! instrumented `fetch` show which requests were made.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::*;
use serde_json::json;
use twelvelabs_edge_upload::browser::uploader::Uploader;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The chunk size of the fault emulator.
const FAULT_CHUNK_MIB: f64 = 1.0;

fn asset_id_of(result: Result<JsValue, JsValue>) -> String {
    let asset = result.unwrap_or_else(|e| panic!("upload failed: {:?}", to_json(&e)));
    prop(&asset, "id").as_string().expect("asset id")
}

#[wasm_bindgen_test]
async fn a_64_mib_upload_completes_intact_with_each_chunk_put_once() {
    let (url, key) = emulator();
    let file = make_file(64.0, 64, "sixty-four.mp4");
    let uploader = direct_uploader(url, key, json!({ "persist": false }), &[]);
    let handle = uploader.upload(file.clone().into(), None);
    let asset_id = asset_id_of(finish(&handle).await);
    let upload_id = handle.upload_id().expect("upload id known");
    assert_stored_intact(url, &asset_id, &file).await;

    let puts = assert_each_chunk_stored_once(url, &upload_id, 13).await;
    for (index, chunk) in &puts {
        assert_eq!(
            chunk["attempts"], 1,
            "chunk {index} was PUT more than once: {chunk}"
        );
    }
    let progress = handle.progress();
    assert_eq!(prop(&progress, "phase"), "done");
    assert_eq!(
        prop(&progress, "acknowledgedBytes"),
        prop(&progress, "totalBytes")
    );
}

#[wasm_bindgen_test]
async fn the_uploader_holds_itself_only_while_work_is_in_flight() {
    let (url, key) = emulator();
    let file = make_file(8.0, 81, "held.mp4");
    // Persisted: the record's save and deletion in IndexedDB are work in flight too.
    let uploader = direct_uploader(url, key, json!({}), &[]);
    assert!(!uploader.holds_itself(), "a new uploader holds nothing");
    let handle = uploader.upload(file.into(), None);
    assert!(
        uploader.holds_itself(),
        "an upload in flight holds its uploader"
    );
    asset_id_of(finish(&handle).await);
    // `done` may settle while the record's deletion is still committing.
    let mut waited_ms = 0.0;
    while uploader.holds_itself() && waited_ms < 5_000.0 {
        sleep(50.0).await;
        waited_ms += 50.0;
    }
    assert!(
        !uploader.holds_itself(),
        "an idle uploader must not hold itself (it would never be collected)"
    );
}

#[wasm_bindgen_test]
async fn abort_before_start_rejects_with_aborted() {
    let (url, key) = emulator();
    let file = make_file(12.0, 7, "aborted.mp4");
    let handle =
        direct_uploader(url, key, json!({ "persist": false }), &[]).upload(file.into(), None);
    handle.abort();
    let error = finish(&handle).await.expect_err("aborted upload rejects");
    assert_eq!(prop(&error, "code"), "aborted");
    assert_eq!(prop(&error, "name"), "UploadError");
    assert_eq!(prop(&error, "retryable"), false);
    assert!(error.is_instance_of::<js_sys::Error>());
}

/// Holds the next `Blob.arrayBuffer()` call (the first read of a resume fingerprint's samples)
/// until `release` is called: `{ started, release }`, `started` resolving once a read waits (or
/// rejecting after 5 s). The patch is removed at the first call or the timeout, whichever comes
/// first, so no other read is held.
fn hold_next_blob_read() -> JsValue {
    js_sys::Function::new_no_args(
        r#"
        const original = Blob.prototype.arrayBuffer;
        let release;
        const released = new Promise((resolve) => { release = resolve; });
        let started;
        let timer;
        const waiting = new Promise((resolve, reject) => {
          started = resolve;
          timer = setTimeout(() => {
            Blob.prototype.arrayBuffer = original;
            reject(new Error('no Blob read within 5 s'));
          }, 5000);
        });
        Blob.prototype.arrayBuffer = function () {
          Blob.prototype.arrayBuffer = original;
          clearTimeout(timer);
          started();
          return released.then(() => original.call(this));
        };
        return { started: waiting, release };
        "#,
    )
    .call0(&JsValue::NULL)
    .expect("the Blob read gate")
}

/// An upload aborted while its resume fingerprint is being read (before its session is asked
/// for) never creates the session: the create waiting on the samples is not sent at all.
#[wasm_bindgen_test]
async fn abort_while_the_fingerprint_is_read_creates_no_session() {
    let (url, key) = emulator();
    let file = make_file(12.0, 8, "aborted-while-sampling.mp4");
    let server_before = api_and_storage_requests(url).await;
    let gate = hold_next_blob_read();
    let handle =
        direct_uploader(url, key, json!({ "persist": true }), &[]).upload(file.into(), None);
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(prop(&gate, "started")))
        .await
        .expect("the create reads the fingerprint's samples first");
    handle.abort();
    let release: js_sys::Function = prop(&gate, "release").unchecked_into();
    release.call0(&JsValue::NULL).expect("release the read");
    let error = finish(&handle).await.expect_err("aborted upload rejects");
    assert_eq!(prop(&error, "code"), "aborted");
    // Every sample is read and any create would be answered well within this.
    sleep(500.0).await;
    assert_eq!(
        api_and_storage_requests(url).await,
        server_before,
        "an upload aborted before its session was asked for sent nothing"
    );
}

#[wasm_bindgen_test]
async fn bad_options_throw_invalid_input() {
    let (url, key) = emulator();
    for (option, value) in [("concurrency", json!(0)), ("stallTimeoutMs", json!(10))] {
        let options = js_options(
            json!({ "endpoint": url, "apiKey": key, option: value }),
            &[],
        );
        let error = Uploader::new(options.unchecked_into())
            .err()
            .unwrap_or_else(|| panic!("{option} {value} is refused"));
        assert_eq!(prop(&error, "code"), "invalid_input");
        let message = prop(&error, "message").as_string().unwrap();
        assert!(message.contains(option), "{message}");
    }
}

#[wasm_bindgen_test]
async fn a_hidden_etag_fails_fast_with_etag_unreadable() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "hide_etag": true })).await;
    let file = make_file(3.0, 3, "hidden-etag.mp4");
    let handle =
        direct_uploader(url, key, json!({ "persist": false }), &[]).upload(file.into(), None);
    let outcome = finish(&handle).await;
    set_faults(url, json!({})).await;
    let error = outcome.expect_err("an unreadable ETag is fatal");
    assert_eq!(prop(&error, "code"), "etag_unreadable");
    let message = prop(&error, "message").as_string().unwrap();
    assert!(
        message.contains("Access-Control-Expose-Headers"),
        "{message}"
    );
}

/// Uploads `mib` MiB to the fault emulator with the faults in effect; asserts integrity and
/// returns the PUT counters.
async fn upload_through_faults(
    seed: u32,
    mib: f64,
    options: serde_json::Value,
    fetch: &CountingFetch,
) -> serde_json::Map<String, serde_json::Value> {
    let url = fault_emulator();
    let (_, key) = emulator();
    let file = make_file(mib, seed, "faulty.mp4");
    let uploader = direct_uploader(url, key, options, &[("fetch", &fetch.function())]);
    let handle = uploader.upload(file.clone().into(), None);
    let asset_id = asset_id_of(finish(&handle).await);
    assert_stored_intact(url, &asset_id, &file).await;
    let upload_id = handle.upload_id().expect("upload id");
    assert_each_chunk_stored_once(url, &upload_id, (mib / FAULT_CHUNK_MIB) as usize).await
}

#[wasm_bindgen_test]
async fn twenty_percent_put_resets_and_stalls_still_complete_intact() {
    let url = fault_emulator();
    // Fast retries: the faults are the point here, not the backoff.
    let options = json!({
        "persist": false,
        "retry": { "baseDelayMs": 50, "maxDelayMs": 500, "maxAttempts": 20 },
        "stallTimeoutMs": 1500,
    });

    // Connection resets: 2 certain, then 20 % of the rest.
    set_faults(
        url,
        json!({ "put_failure_kind": "reset", "put_failure_rate": 0.2, "put_fail_next": 2 }),
    )
    .await;
    let fetch = CountingFetch::new();
    let outcome = upload_through_faults(20, 12.0, options.clone(), &fetch).await;
    set_faults(url, json!({})).await;
    assert!(total(&outcome, "injected_failures") >= 2, "{outcome:?}");

    // Stalls: the emulator reads half the chunk and then hangs for a minute; the stall
    // watchdog must cancel the PUT (its AbortSignal fires) and retry with a fresh URL.
    set_faults(
        url,
        json!({
            "put_failure_kind": "stall", "put_failure_rate": 0.2, "put_fail_next": 1,
            "put_stall_secs": 60,
        }),
    )
    .await;
    let fetch = CountingFetch::new();
    let outcome = upload_through_faults(21, 12.0, options, &fetch).await;
    set_faults(url, json!({})).await;
    let stalled = total(&outcome, "injected_failures");
    assert!(stalled >= 1, "{outcome:?}");
    assert!(
        fetch.count("abortedPuts") >= stalled,
        "{stalled} stalled PUTs but only {} were cancelled",
        fetch.count("abortedPuts")
    );
}

#[wasm_bindgen_test]
async fn urls_that_expire_during_the_upload_are_refreshed() {
    let url = fault_emulator();
    let (_, key) = emulator();
    // 3 s URLs; 8 chunks fit in the create answer's 10 URLs, so any URL request is a refresh.
    // Each request takes 100 ms, so that the pause below lands with chunks left to send.
    set_faults(url, json!({ "url_ttl_secs": 3, "latency_ms": 100 })).await;
    let file = make_file(8.0, 30, "short-urls.mp4");
    let fetch = CountingFetch::new();
    let uploader = direct_uploader(
        url,
        key,
        json!({ "persist": false, "concurrency": 1 }),
        &[("fetch", &fetch.function())],
    );
    let handle = uploader.upload(file.clone().into(), None);
    until_acknowledged(&handle, 1.0).await;
    handle.pause();
    fetch.until_idle().await;
    let url_requests_before = fetch.count("urlRequests");
    // Outlive every URL the uploader holds.
    sleep(4_000.0).await;
    handle.resume();
    let outcome = finish(&handle).await;
    set_faults(url, json!({})).await;
    let asset_id = asset_id_of(outcome);
    assert_stored_intact(url, &asset_id, &file).await;
    assert!(
        fetch.count("urlRequests") > url_requests_before,
        "no fresh URLs were requested after the old ones expired"
    );
    assert_each_chunk_stored_once(url, &handle.upload_id().unwrap(), 8).await;
}

#[wasm_bindgen_test]
async fn pause_sends_nothing_and_resume_completes() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "latency_ms": 20 })).await;
    let file = make_file(10.0, 40, "paused.mp4");
    let fetch = CountingFetch::new();
    let uploader = direct_uploader(
        url,
        key,
        json!({ "persist": false, "concurrency": 2, "progressIntervalMs": 0 }),
        &[("fetch", &fetch.function())],
    );
    let handle = uploader.upload(file.clone().into(), None);
    until_acknowledged(&handle, 2.0).await;
    handle.pause();
    assert_eq!(prop(&handle.progress(), "phase"), "paused");
    // Chunks acknowledged before the pause are still reported; then nothing may happen.
    until_settled(&handle, &fetch).await;
    let calls = fetch.count("calls");
    let server_before = api_and_storage_requests(url).await;
    sleep(1_500.0).await;
    assert_eq!(
        fetch.count("calls"),
        calls,
        "requests were made while paused"
    );
    assert_eq!(api_and_storage_requests(url).await, server_before);

    handle.resume();
    let outcome = finish(&handle).await;
    set_faults(url, json!({})).await;
    let asset_id = asset_id_of(outcome);
    assert_stored_intact(url, &asset_id, &file).await;
    let puts = assert_each_chunk_stored_once(url, &handle.upload_id().unwrap(), 10).await;
    assert_eq!(
        total(&puts, "attempts"),
        10,
        "a chunk was sent twice: {puts:?}"
    );
}

#[wasm_bindgen_test]
async fn abort_mid_upload_rejects_and_stops_every_request() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "latency_ms": 20 })).await;
    let file = make_file(16.0, 50, "aborted-mid-way.mp4");
    let fetch = CountingFetch::new();
    let uploader = direct_uploader(
        url,
        key,
        json!({ "persist": true, "concurrency": 3 }),
        &[("fetch", &fetch.function())],
    );
    let handle = uploader.upload(file.into(), None);
    until_acknowledged(&handle, 2.0).await;
    let asset_id = handle.asset_id().expect("the session reserved an asset");
    assert_eq!(asset_status(url, &asset_id).await, 200, "reserved asset");
    handle.abort();
    let error = finish(&handle).await.expect_err("aborted upload rejects");
    assert_eq!(prop(&error, "code"), "aborted");
    assert_eq!(prop(&handle.progress(), "phase"), "aborted");
    // The reserved asset would stay `processing` forever: the abort deletes it.
    assert_asset_deleted(url, &asset_id).await;
    fetch.until_idle().await;
    // Requests sent before the abort may still be arriving at the emulator: let them land.
    sleep(300.0).await;
    let calls = fetch.count("calls");
    let server_before = api_and_storage_requests(url).await;
    sleep(1_500.0).await;
    set_faults(url, json!({})).await;
    assert_eq!(fetch.count("calls"), calls, "requests after abort");
    assert_eq!(api_and_storage_requests(url).await, server_before);
    // An aborted upload leaves no resumable record behind.
    let upload_id = handle.upload_id().expect("upload id");
    let pending = pending_records(&uploader).await;
    assert!(record_of(&pending, &upload_id).is_none(), "{pending:?}");
}

#[wasm_bindgen_test]
async fn offline_holds_every_request_until_online() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "latency_ms": 20 })).await;
    let file = make_file(10.0, 60, "offline.mp4");
    let fetch = CountingFetch::new();
    let uploader = direct_uploader(
        url,
        key,
        json!({ "persist": false, "concurrency": 2 }),
        &[("fetch", &fetch.function())],
    );
    let handle = uploader.upload(file.clone().into(), None);
    until_acknowledged(&handle, 2.0).await;
    dispatch_global_event("offline");
    fetch.until_idle().await;
    let calls = fetch.count("calls");
    sleep(1_500.0).await;
    let calls_while_offline = fetch.count("calls");
    dispatch_global_event("online");
    let outcome = finish(&handle).await;
    set_faults(url, json!({})).await;
    assert_eq!(
        calls_while_offline, calls,
        "requests were started while offline"
    );
    let asset_id = asset_id_of(outcome);
    assert_stored_intact(url, &asset_id, &file).await;
}

#[wasm_bindgen_test]
async fn a_reloaded_page_resumes_with_only_the_missing_chunks() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "latency_ms": 20 })).await;
    let file = make_file(12.0, 70, "resumable.mp4");
    let options = json!({ "persist": true, "concurrency": 2 });

    // First "page": upload a part, then stop as a reload would.
    let fetch = CountingFetch::new();
    let first = direct_uploader(url, key, options.clone(), &[("fetch", &fetch.function())]);
    let handle = first.upload(file.clone().into(), None);
    until_acknowledged(&handle, 4.0).await;
    handle.pause();
    fetch.until_idle().await;
    let upload_id = handle.upload_id().expect("upload id");
    let acknowledged = number(&handle.progress(), "acknowledgedBytes");
    // Wait until the saved record knows every acknowledged chunk (reports and the IndexedDB
    // write are asynchronous).
    let mut saved = serde_json::Value::Null;
    for _ in 0..200 {
        saved = record_of(&pending_records(&first).await, &upload_id)
            .cloned()
            .unwrap_or_default();
        if saved["uploadedBytes"].as_f64() == Some(acknowledged) {
            break;
        }
        sleep(50.0).await;
    }
    assert_eq!(
        saved["uploadedBytes"].as_f64(),
        Some(acknowledged),
        "{saved}"
    );
    assert_eq!(saved["filename"], "resumable.mp4");
    assert_eq!(saved["size"], file.size());
    let stored_before = total(&chunk_puts(url, &upload_id).await, "stored");
    assert!(
        stored_before >= 4,
        "{stored_before} chunks stored before the reload"
    );
    drop(handle);
    drop(first);

    // Second "page": a different file of the same name and size is refused…
    let second = direct_uploader(url, key, options, &[]);
    let impostor = make_file(12.0, 71, "resumable.mp4");
    let resume_options = js_options(json!({ "id": upload_id }), &[]);
    let refused = second.resume(
        impostor.into(),
        Some(resume_options.clone().unchecked_into()),
    );
    let error = finish(&refused).await.expect_err("another file is refused");
    assert_eq!(prop(&error, "code"), "file_mismatch");

    // …and the same file continues where the first page stopped.
    let resumed = second.resume(file.clone().into(), Some(resume_options.unchecked_into()));
    let outcome = finish(&resumed).await;
    set_faults(url, json!({})).await;
    let asset_id = asset_id_of(outcome);
    assert_stored_intact(url, &asset_id, &file).await;
    let puts = assert_each_chunk_stored_once(url, &upload_id, 12).await;
    for (index, chunk) in &puts {
        assert_eq!(
            chunk["attempts"], 1,
            "chunk {index} was sent again: {chunk}"
        );
    }
    let pending = pending_records(&second).await;
    assert!(
        record_of(&pending, &upload_id).is_none(),
        "a finished upload keeps no record: {pending:?}"
    );
}

#[wasm_bindgen_test]
async fn a_record_lives_until_the_upload_is_done_and_no_longer() {
    let url = fault_emulator();
    let (_, key) = emulator();
    // The asset stays `processing` long enough to look at the saved records meanwhile.
    set_faults(url, json!({ "processing_ms": 4_000 })).await;
    let file = make_file(12.0, 72, "processed.mp4");
    let uploader = direct_uploader(url, key, json!({ "persist": true }), &[]);
    let options = js_options(json!({ "waitUntilReady": true }), &[]);
    let handle = uploader.upload(file.clone().into(), Some(options.unchecked_into()));
    let mut phase = JsValue::UNDEFINED;
    for _ in 0..600 {
        phase = prop(&handle.progress(), "phase");
        if phase == "processing" {
            break;
        }
        sleep(20.0).await;
    }
    assert_eq!(phase, "processing");
    let upload_id = handle.upload_id().expect("upload id");
    // While the asset is processed the record stays, every byte counted: a reload now can
    // resume the wait.
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = record_of(&pending_records(&uploader).await, &upload_id)
            .cloned()
            .unwrap_or_default();
        if listed["uploadedBytes"].as_f64() == Some(file.size()) {
            break;
        }
        sleep(20.0).await;
    }
    let outcome = finish(&handle).await;
    set_faults(url, json!({})).await;
    outcome.expect("the asset becomes ready");
    assert_eq!(
        listed["uploadedBytes"].as_f64(),
        Some(file.size()),
        "{listed}"
    );
    // Done: the record is gone once its delete lands.
    let mut pending = pending_records(&uploader).await;
    for _ in 0..50 {
        if record_of(&pending, &upload_id).is_none() {
            break;
        }
        sleep(20.0).await;
        pending = pending_records(&uploader).await;
    }
    assert!(
        record_of(&pending, &upload_id).is_none(),
        "a finished upload keeps no record: {pending:?}"
    );
}

#[wasm_bindgen_test]
async fn an_upload_whose_asset_polls_failed_resumes_by_waiting_without_sending_a_byte() {
    let url = fault_emulator();
    let (_, key) = emulator();
    set_faults(url, json!({ "processing_ms": 1_500 })).await;
    let file = make_file(6.0, 73, "polled.mp4");
    let fetch = CountingFetch::new();
    // Few, short retries: the asset polls give up quickly.
    let options = json!({
        "persist": true,
        "retry": { "baseDelayMs": 10, "maxDelayMs": 20, "maxAttempts": 2 },
    });
    let uploader = direct_uploader(url, key, options, &[("fetch", &fetch.function())]);
    fetch.fail_asset_reads(true);
    let wait = js_options(json!({ "waitUntilReady": true }), &[]);
    let handle = uploader.upload(file.clone().into(), Some(wait.unchecked_into()));
    let error = finish(&handle).await.expect_err("the asset polls fail");
    assert_eq!(prop(&error, "code"), "retries_exhausted");
    assert_eq!(prop(&error, "retryable"), true);
    assert!(fetch.count("assetReads") >= 2, "the asset was polled");
    let upload_id = handle.upload_id().expect("upload id");
    let asset_id = handle.asset_id().expect("asset id");
    let puts = fetch.count("puts");
    // The failure may pass, so the record stays; resuming it sends nothing again and waits for
    // the asset.
    fetch.fail_asset_reads(false);
    let options = js_options(json!({ "id": upload_id, "waitUntilReady": true }), &[]);
    let resumed = uploader.resume(file.into(), Some(options.unchecked_into()));
    let outcome = finish(&resumed).await;
    set_faults(url, json!({})).await;
    let asset = outcome.expect("the resumed upload waits for the asset");
    assert_eq!(prop(&asset, "id"), asset_id.as_str());
    assert_eq!(prop(&asset, "status"), "ready");
    assert_eq!(fetch.count("puts"), puts, "no chunk was sent again");
}

#[wasm_bindgen_test]
async fn a_report_that_never_answers_is_given_up_and_sent_again() {
    let (url, key) = emulator();
    let file = make_file(12.0, 91, "hung-report.mp4");
    let fetch = CountingFetch::new();
    // The watchdog's bound, lowered so that the test waits 3 s rather than 30 s for the
    // unanswered report (API calls get the lower of 30 s and this bound).
    let options = json!({ "persist": false, "stallTimeoutMs": 3_000 });
    let uploader = direct_uploader(url, key, options, &[("fetch", &fetch.function())]);
    fetch.hang_reports(1);
    let handle = uploader.upload(file.clone().into(), None);
    let asset_id = asset_id_of(finish(&handle).await);
    assert_eq!(fetch.count("hungReports"), 1, "the first report was held");
    assert_eq!(
        fetch.count("abortedHungReports"),
        1,
        "the held report was given up (its request aborted)"
    );
    assert!(fetch.count("reports") >= 2, "and sent again");
    assert_stored_intact(url, &asset_id, &file).await;
}

#[wasm_bindgen_test]
async fn a_session_creation_answered_late_is_replaced_and_its_session_deleted() {
    let (url, key) = emulator();
    let file = make_file(30.0, 93, "late-creation.mp4");
    let fetch = CountingFetch::new();
    // API calls get the lower of 30 s and this bound: the held creation is given up after 3 s.
    let options = json!({ "persist": false, "stallTimeoutMs": 3_000 });
    let uploader = direct_uploader(url, key, options, &[("fetch", &fetch.function())]);
    fetch.hold_creations(1);
    let handle = uploader.upload(file.clone().into(), None);
    // The creation sent in its place made the session the chunks go to.
    until_acknowledged(&handle, 1.0).await;
    handle.pause();
    // The first creation's answer comes now, late: its session is not this upload's.
    fetch.release_creations();
    for _ in 0..100 {
        if !fetch.late_asset_id().is_empty() {
            break;
        }
        sleep(50.0).await;
    }
    let late_asset = fetch.late_asset_id();
    assert!(!late_asset.is_empty(), "the held creation made a session");
    handle.resume();
    let asset_id = asset_id_of(finish(&handle).await);
    assert_ne!(asset_id, late_asset);
    assert_stored_intact(url, &asset_id, &file).await;
    assert_eq!(fetch.count("heldCreations"), 1);
    assert_eq!(
        fetch.count("abortedHeldCreations"),
        0,
        "the creation given up on was waited for, not aborted"
    );
    assert_asset_deleted(url, &late_asset).await;
}

#[wasm_bindgen_test]
async fn a_report_cut_off_by_an_outage_is_sent_again_as_soon_as_the_network_is_back() {
    let (url, key) = emulator();
    let file = make_file(12.0, 92, "cut-off-report.mp4");
    let fetch = CountingFetch::new();
    let uploader = direct_uploader(
        url,
        key,
        json!({ "persist": false }),
        &[("fetch", &fetch.function())],
    );
    fetch.hang_reports(1);
    let handle = uploader.upload(file.clone().into(), None);
    for _ in 0..600 {
        if fetch.count("hungReports") == 1 {
            break;
        }
        sleep(50.0).await;
    }
    assert_eq!(fetch.count("hungReports"), 1, "a report is held");
    dispatch_global_event("offline");
    assert_eq!(
        fetch.count("abortedHungReports"),
        0,
        "going offline alone cancels nothing"
    );
    dispatch_global_event("online");
    // At once, well within the 30 s bound: the report sent before the outage is given up as the
    // network comes back.
    assert_eq!(fetch.count("abortedHungReports"), 1);
    let asset_id = asset_id_of(finish(&handle).await);
    assert_stored_intact(url, &asset_id, &file).await;
    let progress = handle.progress();
    assert_eq!(prop(&progress, "phase"), "done");
}
