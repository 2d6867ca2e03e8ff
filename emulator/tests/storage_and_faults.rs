//! HTTP tests of the presigned storage (signature, expiry, sizes, ETag, CORS) and of every
//! fault knob (PUT failures 500/reset/stall, single-use URLs, hidden ETag, 429, latency, seed).

mod common;

use std::time::Duration;

use common::{assert_error, md5_hex, sha256_hex, test_bytes, test_config, Harness};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ORIGIN: &str = "http://app.test";

async fn one_chunk_session(h: &Harness, size: u64) -> (String, String, String) {
    let session = h.create_session("a.mp4", size).await;
    (
        session["upload_id"].as_str().unwrap().to_owned(),
        session["asset_id"].as_str().unwrap().to_owned(),
        session["upload_urls"][0]["url"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test]
async fn put_answers_quoted_md5_etag_and_cors_exposes_it_to_allowed_origins_only() {
    let h = Harness::default().await;
    let (_, _, url) = one_chunk_session(&h, 5).await;
    let allowed = h
        .client
        .put(&url)
        .header("origin", ORIGIN)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["etag"],
        format!("\"{}\"", md5_hex(b"hello")).as_str()
    );
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(allowed.headers()["access-control-expose-headers"], "ETag");

    let foreign = h
        .client
        .put(&url)
        .header("origin", "http://evil.test")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(
        foreign.status(),
        StatusCode::OK,
        "CORS is enforced by browsers, not by the server"
    );
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    h.stop().await;
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_and_refused_otherwise() {
    let h = Harness::default().await;
    let (_, _, url) = one_chunk_session(&h, 5).await;
    for target in [url.clone(), h.api("/assets/multipart-uploads")] {
        let preflight = h
            .client
            .request(reqwest::Method::OPTIONS, &target)
            .header("origin", ORIGIN)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type, x-api-key")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], ORIGIN);
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT"));
        assert_eq!(
            headers["access-control-allow-headers"],
            "content-type, x-api-key"
        );
        let refused = h
            .client
            .request(reqwest::Method::OPTIONS, &target)
            .header("origin", "http://evil.test")
            .header("access-control-request-method", "PUT")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused
            .headers()
            .get("access-control-allow-origin")
            .is_none());
    }
    // API answers (errors included) carry CORS and expose Retry-After for 429 handling.
    let api = h
        .client
        .get(h.api("/assets"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.headers()["access-control-allow-origin"], ORIGIN);
    assert!(api.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("Retry-After"));
    h.stop().await;
}

#[tokio::test]
async fn wildcard_origin_allows_any_origin() {
    let mut config = test_config();
    config.allowed_origins = vec!["*".to_owned()];
    let h = Harness::start(config).await;
    let (_, _, url) = one_chunk_session(&h, 5).await;
    let response = h
        .client
        .put(&url)
        .header("origin", "http://anything.test")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    h.stop().await;
}

#[tokio::test]
async fn tampered_or_incomplete_urls_are_refused_with_s3_xml() {
    let h = Harness::default().await;
    let (upload, _, url) = one_chunk_session(&h, 5).await;
    let (base, query) = url.split_once('?').unwrap();
    let other_chunk = base.replace(&format!("{upload}/1"), &format!("{upload}/2"));
    let later_expiry = url.replace("X-Amz-Expires=", "X-Amz-Expires=9");
    let cases = [
        (format!("{other_chunk}?{query}"), "SignatureDoesNotMatch"),
        (later_expiry, "SignatureDoesNotMatch"),
        (format!("{url}0"), "SignatureDoesNotMatch"),
        (base.to_owned(), "AccessDenied"),
    ];
    for (tampered, code) in cases {
        let response = h.put(&tampered, b"hello".to_vec()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{tampered}");
        assert_eq!(response.headers()["content-type"], "application/xml");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(&format!("<Code>{code}</Code>")));
    }
    h.stop().await;
}

#[tokio::test]
async fn bodies_of_the_wrong_length_are_refused_and_not_stored() {
    let h = Harness::default().await;
    let (upload, _, url) = one_chunk_session(&h, 5).await;
    let short = h.put(&url, b"hell".to_vec()).await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short
        .text()
        .await
        .unwrap()
        .contains("<Code>EntityTooSmall</Code>"));
    let long = h.put(&url, b"hello!".to_vec()).await;
    assert_eq!(long.status(), StatusCode::BAD_REQUEST);
    assert!(long
        .text()
        .await
        .unwrap()
        .contains("<Code>EntityTooLarge</Code>"));
    // Without Content-Length (chunked), the length is checked while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"hel".to_vec()), Ok(b"lo!!".to_vec())];
    let streamed = h
        .client
        .put(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::BAD_REQUEST);
    // Nothing was stored: reporting the would-be ETag fails the chunk.
    let report: Value = h
        .report(&upload, &[(1, &md5_hex(b"hell"), 5)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["total_completed"], 0);
    let stats = h.get_debug("/stats").await;
    assert_eq!(stats["chunk_puts"][&upload]["1"]["rejected"], 3);
    assert_eq!(
        stats["chunk_puts"][&upload]["1"]["rejections"],
        json!({"EntityTooSmall": 1, "EntityTooLarge": 2})
    );
    assert_eq!(stats["chunk_puts"][&upload]["1"]["stored"], 0);
    h.stop().await;
}

#[tokio::test]
async fn a_client_vanishing_mid_put_leaves_the_session_usable() {
    let h = Harness::default().await;
    let (upload, asset, url) = one_chunk_session(&h, 1024 * 1024).await;
    let bytes = test_bytes(1024 * 1024, 9);
    let first_half = bytes[..300_000].to_vec();
    let broken: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(first_half), Err(std::io::Error::other("client gave up"))];
    let attempt = h
        .client
        .put(&url)
        .header("content-length", bytes.len())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            broken,
        )))
        .send()
        .await;
    assert!(attempt.is_err() || attempt.unwrap().status() != StatusCode::OK);
    let etag = h.put_ok(&url, bytes.clone()).await;
    let report: Value = h
        .report(&upload, &[(1, &etag, bytes.len() as u64)])
        .await
        .json()
        .await
        .unwrap();
    assert!(report["url"].is_string());
    assert_eq!(
        h.get_debug(&format!("/assets/{asset}/sha256")).await["sha256"],
        sha256_hex(&bytes)
    );
    h.stop().await;
}

#[tokio::test]
async fn injected_500_reads_the_body_then_fails_once() {
    let mut config = test_config();
    config.faults.put_fail_next = 1;
    let h = Harness::start(config).await;
    let (upload, _, url) = one_chunk_session(&h, 5).await;
    let failed = h.put(&url, b"hello".to_vec()).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed
        .text()
        .await
        .unwrap()
        .contains("<Code>InternalError</Code>"));
    h.put_ok(&url, b"hello".to_vec()).await; // the same URL works again (not single-use)
    let stats = h.get_debug("/stats").await;
    assert_eq!(stats["chunk_puts"][&upload]["1"]["injected_failures"], 1);
    assert_eq!(stats["chunk_puts"][&upload]["1"]["stored"], 1);
    h.stop().await;
}

#[tokio::test]
async fn injected_reset_breaks_the_connection_without_an_answer() {
    let h = Harness::default().await;
    let (upload, _, url) = one_chunk_session(&h, 4 * 1024 * 1024).await;
    let faults = h
        .post_debug(
            "/faults",
            &json!({"put_fail_next": 1, "put_failure_kind": "reset"}),
        )
        .await;
    assert_eq!(faults["put_failure_kind"], "reset");
    let bytes = test_bytes(4 * 1024 * 1024, 3);
    let reset = h.client.put(&url).body(bytes.clone()).send().await;
    let error = reset.expect_err("a reset connection yields no response");
    assert!(!error.is_status());
    h.put_ok(&url, bytes).await;
    let stats = h.get_debug("/stats").await;
    assert_eq!(stats["chunk_puts"][&upload]["1"]["injected_failures"], 1);
    h.stop().await;
}

#[tokio::test]
async fn a_fail_sequence_fails_the_next_puts_with_its_kinds_in_order_before_the_counter() {
    let h = Harness::default().await;
    let (upload, _, url) = one_chunk_session(&h, 64 * 1024).await;
    let faults = h
        .post_debug(
            "/faults",
            &json!({"put_fail_sequence": ["reset", "500"], "put_fail_next": 1, "put_failure_kind": "500"}),
        )
        .await;
    assert_eq!(faults["put_fail_sequence"], json!(["reset", "500"]));
    let bytes = test_bytes(64 * 1024, 5);
    let reset = h.client.put(&url).body(bytes.clone()).send().await;
    assert!(!reset.expect_err("the first PUT is reset").is_status());
    assert_eq!(
        h.get_debug("/faults").await["put_fail_sequence"],
        json!(["500"])
    );
    for _ in 0..2 {
        let failed = h.put(&url, bytes.clone()).await;
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let faults = h.get_debug("/faults").await;
    assert_eq!(faults["put_fail_sequence"], json!([]));
    assert_eq!(faults["put_fail_next"], 0);
    h.put_ok(&url, bytes).await;
    let stats = h.get_debug("/stats").await;
    assert_eq!(stats["chunk_puts"][&upload]["1"]["injected_failures"], 3);
    assert_eq!(stats["chunk_puts"][&upload]["1"]["stored"], 1);
    h.stop().await;
}

#[tokio::test]
async fn injected_stall_never_answers_until_the_client_gives_up() {
    let h = Harness::default().await;
    let (_, _, url) = one_chunk_session(&h, 64 * 1024).await;
    h.post_debug(
        "/faults",
        &json!({"put_fail_next": 1, "put_failure_kind": "stall", "put_stall_secs": 600}),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let stalled = impatient
        .put(&url)
        .body(test_bytes(64 * 1024, 4))
        .send()
        .await;
    assert!(stalled
        .expect_err("a stalled PUT never answers")
        .is_timeout());
    // Shutting down does not wait for the stalled PUT's 600 s.
    h.stop().await;
}

#[tokio::test]
async fn single_use_urls_refuse_a_second_attempt() {
    let mut config = test_config();
    config.faults.single_use_urls = true;
    let h = Harness::start(config).await;
    let (upload, _, url) = one_chunk_session(&h, 5).await;
    h.put_ok(&url, b"hello".to_vec()).await;
    let again = h.put(&url, b"hello".to_vec()).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("single-use"));
    // A fresh URL for the same chunk works.
    let fresh: Value = h
        .post(
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            &json!({"start": 1, "count": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    h.put_ok(
        fresh["upload_urls"][0]["url"].as_str().unwrap(),
        b"hello".to_vec(),
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn hidden_etag_keeps_the_header_but_cors_does_not_expose_it() {
    let h = Harness::default().await;
    let (_, _, url) = one_chunk_session(&h, 5).await;
    h.post_debug("/faults", &json!({"hide_etag": true})).await;
    let response = h
        .client
        .put(&url)
        .header("origin", ORIGIN)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("etag"));
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    assert!(response
        .headers()
        .get("access-control-expose-headers")
        .is_none());
    h.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_on_the_api_only() {
    let mut config = test_config();
    config.faults.rate_limit_next = 1;
    config.faults.retry_after_secs = 7;
    let h = Harness::start(config).await;
    let limited = h.get("/assets").await;
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert_eq!(h.get("/assets").await.status(), StatusCode::OK);
    let (_, _, url) = one_chunk_session(&h, 5).await;
    h.post_debug("/faults", &json!({"rate_limit_rate": 1.0}))
        .await;
    assert_eq!(
        h.get("/assets").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    h.put_ok(&url, b"hello".to_vec()).await; // storage is not rate limited
    h.stop().await;
}

#[tokio::test]
async fn api_fail_next_answers_500_on_the_api_then_recovers() {
    let mut config = test_config();
    config.faults.api_fail_next = 1;
    let h = Harness::start(config).await;
    assert_error(
        h.get("/assets").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert_eq!(h.get("/assets").await.status(), StatusCode::OK);
    let (_, _, url) = one_chunk_session(&h, 5).await;
    let updated = h.post_debug("/faults", &json!({"api_fail_next": 2})).await;
    assert_eq!(updated["api_fail_next"], 2);
    h.put_ok(&url, b"hello".to_vec()).await; // storage never gets injected API failures
    for _ in 0..2 {
        assert_eq!(
            h.get("/assets").await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(h.get("/assets").await.status(), StatusCode::OK);
    assert_eq!(h.get_debug("/faults").await["api_fail_next"], 0);
    h.stop().await;
}

#[tokio::test]
async fn the_same_seed_replays_the_same_fault_decisions() {
    async fn decisions(seed: u64) -> Vec<u16> {
        let mut config = test_config();
        config.seed = seed;
        config.faults.rate_limit_rate = 0.5;
        let h = Harness::start(config).await;
        let mut statuses = Vec::new();
        for _ in 0..32 {
            statuses.push(h.get("/assets").await.status().as_u16());
        }
        h.stop().await;
        statuses
    }
    let first = decisions(42).await;
    assert_eq!(first, decisions(42).await);
    assert!(first.contains(&429) && first.contains(&200), "{first:?}");
    assert_ne!(first, decisions(43).await);
}

#[tokio::test]
async fn runtime_faults_are_validated_and_reported() {
    let h = Harness::default().await;
    let defaults = h.get_debug("/faults").await;
    assert_eq!(defaults["url_ttl_secs"], 3600);
    assert_eq!(defaults["session_ttl_secs"], 86400);
    for bad in [
        json!({"rate_limit_rate": 2.0}),
        json!({"hide_etags": true}),
        json!({"put_failure_kind": "boom"}),
    ] {
        let response = h
            .client
            .post(h.debug("/faults"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let updated = h
        .post_debug(
            "/faults",
            &json!({"latency_ms": 5, "url_ttl_secs": 60, "session_ttl_secs": 120}),
        )
        .await;
    assert_eq!(updated["latency_ms"], 5);
    // Short TTLs apply to sessions and URLs created from now on.
    let session = h.create_session("a.mp4", 5).await;
    let url_expiry = twelvelabs_edge_upload::core::wire::timestamp::parse(
        session["upload_urls"][0]["expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let session_expiry = twelvelabs_edge_upload::core::wire::timestamp::parse(
        session["expires_at"].as_str().unwrap(),
    )
    .unwrap();
    assert!((59..=60).contains(&((session_expiry - url_expiry) / 1000)));
    h.stop().await;
}

#[tokio::test]
async fn many_sessions_upload_in_parallel() {
    let mut config = test_config();
    config.chunk_size = 64 * 1024;
    let h = Harness::start(config).await;
    let uploads = (0..16u32).map(|n| {
        let h = &h;
        async move {
            let file = test_bytes(4 * 64 * 1024 - 100, n);
            let session = h
                .create_session(&format!("f{n}.mp4"), file.len() as u64)
                .await;
            let upload = session["upload_id"].as_str().unwrap();
            let puts = session["upload_urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| {
                    let index = entry["chunk_index"].as_u64().unwrap();
                    let start = ((index - 1) * 64 * 1024) as usize;
                    let bytes = file[start..(start + 64 * 1024).min(file.len())].to_vec();
                    async move {
                        let size = bytes.len() as u64;
                        (
                            index,
                            h.put_ok(entry["url"].as_str().unwrap(), bytes).await,
                            size,
                        )
                    }
                });
            let parts = futures_util::future::join_all(puts).await;
            let reports: Vec<(u64, &str, u64)> =
                parts.iter().map(|(i, e, s)| (*i, e.as_str(), *s)).collect();
            let done: Value = h.report(upload, &reports).await.json().await.unwrap();
            assert!(done["url"].is_string());
            let digest = h
                .get_debug(&format!(
                    "/assets/{}/sha256",
                    session["asset_id"].as_str().unwrap()
                ))
                .await;
            assert_eq!(digest["sha256"], sha256_hex(&file));
        }
    });
    futures_util::future::join_all(uploads).await;
    let stats = h.get_debug("/stats").await;
    assert_eq!(
        stats["requests"]["PUT /_storage/{upload_id}/{chunk_index}"],
        64
    );
    assert_eq!(stats["requests"]["POST /v1.3/assets/multipart-uploads"], 16);
    // Resetting the counters.
    let reset = h.client.delete(h.debug("/stats")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.get_debug("/stats").await["requests"], json!({}));
    h.stop().await;
}
