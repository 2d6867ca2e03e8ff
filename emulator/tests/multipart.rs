//! HTTP tests of the five multipart endpoints: documented shapes, limits, error paths, expiry,
//! and one complete ~23 MiB upload with the emulator's defaults checked by SHA-256.

mod common;

use common::{assert_error, md5_hex, sha256_hex, test_bytes, Harness, KEY};
use reqwest::StatusCode;
use serde_json::{json, Value};
use twelvelabs_edge_upload::core::wire;

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn create_answers_the_documented_session_shape() {
    let h = Harness::default().await;
    let body = h.create_session("movie.mp4", 100 * MIB).await;
    // The product crate's wire types must read what the emulator writes.
    let session: wire::CreateMultipartUploadResponse =
        serde_json::from_value(body.clone()).unwrap();
    assert_eq!(session.chunk_size, 5 * MIB);
    assert_eq!(session.total_chunks, 20);
    assert_eq!(session.upload_id.len(), 24);
    assert_eq!(session.asset_id.len(), 24);
    // An initial batch smaller than the total, so that the presigned-URL endpoint is needed.
    assert_eq!(session.upload_urls.len(), 10);
    let indices: Vec<u32> = session.upload_urls.iter().map(|u| u.chunk_index).collect();
    assert_eq!(indices, (1..=10).collect::<Vec<_>>());
    assert!(session.upload_urls[0]
        .url
        .starts_with(&format!("{}/_storage/", h.emulator.url())));
    assert_eq!(
        session.upload_headers["Content-Type"],
        "application/octet-stream"
    );
    let session_expiry = wire::timestamp::parse(body["expires_at"].as_str().unwrap()).unwrap();
    let url_expiry = wire::timestamp::parse(&session.upload_urls[0].expires_at).unwrap();
    // Session 24 h, URLs 1 h: compare the two lifetimes with each other, not with a clock (the
    // two stamps may straddle a second boundary).
    let gap_secs = (session_expiry - url_expiry) / 1000;
    assert!(
        (23 * 3600 - 1..=23 * 3600).contains(&gap_secs),
        "gap {gap_secs} s"
    );
    h.stop().await;
}

#[tokio::test]
async fn create_validates_every_documented_limit() {
    let h = Harness::default().await;
    let path = "/assets/multipart-uploads";
    let cases = [
        (
            json!({"type": "video", "total_size": 10}),
            "parameter_not_provided",
            "filename",
        ),
        (
            json!({"filename": "", "type": "video", "total_size": 10}),
            "parameter_invalid",
            "filename",
        ),
        (
            json!({"filename": "x".repeat(256), "type": "video", "total_size": 10}),
            "parameter_invalid",
            "filename",
        ),
        (
            json!({"filename": "a.mp4", "total_size": 10}),
            "parameter_not_provided",
            "type",
        ),
        (
            json!({"filename": "a.mp4", "type": "document", "total_size": 10}),
            "parameter_invalid",
            "type",
        ),
        (
            json!({"filename": "a.mp4", "type": "video"}),
            "parameter_not_provided",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 0}),
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": -5}),
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 10 * 1024 * MIB + 1}),
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.png", "type": "image", "total_size": 32 * MIB + 1}),
            "parameter_invalid",
            "total_size",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 10, "enable_hls": "yes"}),
            "parameter_invalid",
            "enable_hls",
        ),
        (
            json!({"filename": "a.mp4", "type": "video", "total_size": 10, "user_metadata": {"a": [1]}}),
            "parameter_invalid",
            "user_metadata",
        ),
    ];
    for (body, code, field) in cases {
        let message = assert_error(h.post(path, &body).await, StatusCode::BAD_REQUEST, code).await;
        assert!(
            message.contains(&format!("`{field}`")),
            "{message} should name {field}"
        );
    }
    // The largest legal sizes are accepted; 255 characters is a legal filename.
    for body in [
        json!({"filename": "x".repeat(255), "type": "video", "total_size": 10 * 1024 * MIB}),
        json!({"filename": "a.png", "type": "image", "total_size": 32 * MIB}),
        json!({"filename": "a.wav", "type": "audio", "total_size": 1, "user_metadata": {"k": "v", "n": 1.5, "b": true}}),
    ] {
        assert_eq!(
            h.post(path, &body).await.status(),
            StatusCode::CREATED,
            "{body}"
        );
    }
    let not_json = h
        .client
        .post(h.api(path))
        .header("x-api-key", KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::BAD_REQUEST, "parameter_invalid").await;
    h.stop().await;
}

#[tokio::test]
async fn every_api_endpoint_requires_the_api_key() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 10).await;
    let upload = session["upload_id"].as_str().unwrap();
    let requests = [
        h.client
            .post(h.api("/assets/multipart-uploads"))
            .json(&json!({})),
        h.client.get(h.api("/assets/multipart-uploads")),
        h.client
            .get(h.api(&format!("/assets/multipart-uploads/{upload}"))),
        h.client
            .post(h.api(&format!("/assets/multipart-uploads/{upload}")))
            .json(&json!({})),
        h.client
            .post(h.api(&format!(
                "/assets/multipart-uploads/{upload}/presigned-urls"
            )))
            .json(&json!({})),
        h.client.get(h.api("/assets")),
        h.client.get(h.api("/assets/abc")),
        h.client.delete(h.api("/assets/abc")),
    ];
    for (position, request) in requests.into_iter().enumerate() {
        for key in [None, Some("wrong-key")] {
            let request = request.try_clone().unwrap();
            let request = match key {
                Some(key) => request.header("x-api-key", key),
                None => request,
            };
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["x-api-version"], "1.3");
            let message = assert_error(response, StatusCode::UNAUTHORIZED, "api_key_invalid").await;
            assert!(
                message.starts_with("API Key is either invalid or expired"),
                "request {position}"
            );
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn presigned_urls_validate_and_clamp_to_the_last_chunk() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 23 * MIB).await; // 5 chunks
    let upload = session["upload_id"].as_str().unwrap();
    let path = format!("/assets/multipart-uploads/{upload}/presigned-urls");
    for (body, code) in [
        (json!({"start": 0, "count": 1}), "parameter_invalid"),
        (json!({"start": 1, "count": 0}), "parameter_invalid"),
        (json!({"start": 1, "count": 51}), "parameter_invalid"),
        (json!({"start": 6, "count": 1}), "parameter_invalid"),
        (json!({"count": 1}), "parameter_not_provided"),
        (json!({"start": 1}), "parameter_not_provided"),
    ] {
        assert_error(h.post(&path, &body).await, StatusCode::BAD_REQUEST, code).await;
    }
    let response = h.post(&path, &json!({"start": 4, "count": 50})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: wire::PresignedUrlsResponse = response.json().await.unwrap();
    assert_eq!(
        (body.upload_id.as_str(), body.start_index, body.count),
        (upload, 4, 2)
    );
    assert_eq!(
        body.upload_urls
            .iter()
            .map(|u| u.chunk_index)
            .collect::<Vec<_>>(),
        [4, 5]
    );
    assert!(body.generated_at.is_some() && body.expires_at.is_some());
    let missing = h
        .post(
            "/assets/multipart-uploads/000000000000000000000000/presigned-urls",
            &json!({"start": 1, "count": 1}),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "resource_not_exist").await;
    h.stop().await;
}

#[tokio::test]
async fn status_lists_every_chunk_and_pages_end_empty() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 12 * MIB).await; // 3 chunks: 5, 5, 2 MiB
    let upload = session["upload_id"].as_str().unwrap();
    let first_url = session["upload_urls"][0]["url"].as_str().unwrap();
    let chunk = test_bytes((5 * MIB) as usize, 1);
    let etag = h.put_ok(first_url, chunk.clone()).await;
    assert_eq!(etag, md5_hex(&chunk));
    assert_eq!(
        h.report(upload, &[(1, &etag, 5 * MIB)]).await.status(),
        StatusCode::OK
    );

    let response = h
        .get(&format!(
            "/assets/multipart-uploads/{upload}?page=1&page_limit=2"
        ))
        .await;
    let body: wire::UploadStatusResponse = response.json().await.unwrap();
    assert_eq!(body.status, wire::UploadStatus::Active);
    assert_eq!(
        (
            body.chunks_completed,
            body.chunks_failed,
            body.chunks_pending
        ),
        (1, 0, 2)
    );
    assert_eq!(body.uploaded_size, 5 * MIB);
    assert_eq!(body.total_size, 12 * MIB);
    let statuses: Vec<_> = body
        .uploaded_chunks
        .iter()
        .map(|c| (c.index, c.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, wire::ChunkStatus::Completed),
            (2, wire::ChunkStatus::Pending)
        ]
    );
    assert!(body.uploaded_chunks[0].uploaded_at.is_some());
    assert!(body.uploaded_chunks[1].uploaded_at.is_none());
    let page_info = body.page_info.unwrap();
    assert_eq!((page_info.total_page, page_info.total_results), (2, 3));

    let second: wire::UploadStatusResponse = h
        .get(&format!(
            "/assets/multipart-uploads/{upload}?page=2&page_limit=2"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second.uploaded_chunks.len(), 1);
    let past_end: wire::UploadStatusResponse = h
        .get(&format!(
            "/assets/multipart-uploads/{upload}?page=3&page_limit=2"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(past_end.uploaded_chunks.is_empty());
    let bad = h
        .get(&format!("/assets/multipart-uploads/{upload}?page_limit=51"))
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "parameter_invalid").await;
    let missing = h
        .get("/assets/multipart-uploads/000000000000000000000000")
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "resource_not_exist").await;
    h.stop().await;
}

#[tokio::test]
async fn report_counts_duplicates_and_fails_wrong_proofs() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 10).await; // one 10-byte chunk
    let upload = session["upload_id"].as_str().unwrap();
    let url = session["upload_urls"][0]["url"].as_str().unwrap();

    // Reported before any upload: the chunk is marked failed with an error.
    let before = h
        .report(upload, &[(1, "0123456789abcdef0123456789abcdef", 10)])
        .await;
    let before: wire::ReportChunksResponse = before.json().await.unwrap();
    assert_eq!((before.processed_chunks, before.total_completed), (1, 0));
    let etag = h.put_ok(url, b"0123456789".to_vec()).await;
    // A proof that matches no stored part: failed with an error, listed as such.
    let wrong: wire::ReportChunksResponse = h
        .report(upload, &[(1, "ffffffffffffffffffffffffffffffff", 10)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            wrong.processed_chunks,
            wrong.duplicate_chunks,
            wrong.total_completed
        ),
        (1, 0, 0)
    );
    assert!(wrong.url.is_none());
    let status: wire::UploadStatusResponse = h
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status.uploaded_chunks[0].status, wire::ChunkStatus::Failed);
    assert!(status.uploaded_chunks[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("ETag")));
    assert_eq!(status.chunks_failed, 1);

    // The right proof (quoted, as some clients send it) completes the chunk and the session.
    let quoted = format!("\"{etag}\"");
    let done: wire::ReportChunksResponse = h
        .report(upload, &[(1, &quoted, 10)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            done.processed_chunks,
            done.duplicate_chunks,
            done.total_completed
        ),
        (1, 0, 1)
    );
    let asset_id = session["asset_id"].as_str().unwrap();
    assert_eq!(done.asset_id, asset_id);
    assert_eq!(
        done.url.as_deref(),
        Some(format!("{}/_emulator/assets/{asset_id}/file", h.emulator.url()).as_str())
    );
    let again: wire::ReportChunksResponse = h
        .report(upload, &[(1, &etag, 10)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            again.processed_chunks,
            again.duplicate_chunks,
            again.total_completed
        ),
        (0, 1, 1)
    );
    assert!(again.url.is_some());
    let file = h
        .client
        .get(done.url.unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&file[..], b"0123456789");
    h.stop().await;
}

#[tokio::test]
async fn report_refuses_malformed_batches_without_changing_state() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 6 * MIB).await; // 2 chunks: 5 MiB + 1 MiB
    let upload = session["upload_id"].as_str().unwrap();
    let path = format!("/assets/multipart-uploads/{upload}");
    let item = |index: u64, size: u64| json!({"chunk_index": index, "proof": "abc", "proof_type": "etag", "chunk_size": size});
    let fifty_one: Vec<Value> = (0..51).map(|_| item(1, 5 * MIB)).collect();
    for (body, code, field) in [
        (json!({}), "parameter_not_provided", "completed_chunks"),
        (
            json!({"completed_chunks": []}),
            "parameter_invalid",
            "completed_chunks",
        ),
        (
            json!({"completed_chunks": fifty_one}),
            "parameter_invalid",
            "completed_chunks",
        ),
        (
            json!({"completed_chunks": [item(3, MIB)]}),
            "parameter_invalid",
            "completed_chunks[0].chunk_index",
        ),
        (
            json!({"completed_chunks": [item(0, MIB)]}),
            "parameter_invalid",
            "completed_chunks[0].chunk_index",
        ),
        (
            json!({"completed_chunks": [item(1, 5 * MIB), item(2, 5 * MIB)]}),
            "parameter_invalid",
            "completed_chunks[1].chunk_size",
        ),
        (
            json!({"completed_chunks": [{"chunk_index": 1, "proof": "abc", "proof_type": "md5", "chunk_size": 5 * MIB}]}),
            "parameter_invalid",
            "completed_chunks[0].proof_type",
        ),
        (
            json!({"completed_chunks": [{"chunk_index": 1, "proof_type": "etag", "chunk_size": 5 * MIB}]}),
            "parameter_not_provided",
            "completed_chunks[0].proof",
        ),
    ] {
        let message = assert_error(h.post(&path, &body).await, StatusCode::BAD_REQUEST, code).await;
        assert!(
            message.contains(&format!("`{field}`")),
            "{message} should name {field}"
        );
    }
    let status: wire::UploadStatusResponse = h.get(&path).await.json().await.unwrap();
    assert_eq!(
        (
            status.chunks_completed,
            status.chunks_failed,
            status.chunks_pending
        ),
        (0, 0, 2)
    );
    let missing = h.report("000000000000000000000000", &[(1, "abc", 1)]).await;
    assert_error(missing, StatusCode::NOT_FOUND, "resource_not_exist").await;
    h.stop().await;
}

#[tokio::test]
async fn list_incomplete_shows_active_sessions_newest_first() {
    let h = Harness::default().await;
    let first = h.create_session("first.mp4", 10).await;
    let second = h.create_session("second.mp4", 10).await;
    let done = h.create_session("done.mp4", 3).await;
    let etag = h
        .put_ok(
            done["upload_urls"][0]["url"].as_str().unwrap(),
            b"abc".to_vec(),
        )
        .await;
    h.report(done["upload_id"].as_str().unwrap(), &[(1, &etag, 3)])
        .await;

    let body: wire::ListIncompleteUploadsResponse = h
        .get("/assets/multipart-uploads")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body.data.iter().map(|s| s.upload_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            second["upload_id"].as_str().unwrap(),
            first["upload_id"].as_str().unwrap()
        ]
    );
    assert!(body
        .data
        .iter()
        .all(|s| s.status == wire::UploadStatus::Active && s.total_chunks == 1));
    assert_eq!(body.page_info.total_results, 2);
    let page: wire::ListIncompleteUploadsResponse = h
        .get("/assets/multipart-uploads?page=2&page_limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.data[0].upload_id, first["upload_id"].as_str().unwrap());
    let past: wire::ListIncompleteUploadsResponse = h
        .get("/assets/multipart-uploads?page=3&page_limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert!(past.data.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn sessions_and_urls_expire_by_the_emulator_clock() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 10).await;
    let upload = session["upload_id"].as_str().unwrap();
    let url = session["upload_urls"][0]["url"].as_str().unwrap();

    // One hour later the URL is expired (S3-style 403) but the session is still active.
    h.post_debug("/clock", &json!({"advance_secs": 3601})).await;
    let expired = h.put(url, b"0123456789".to_vec()).await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let xml = expired.text().await.unwrap();
    assert!(
        xml.contains("<Code>AccessDenied</Code>") && xml.contains("Request has expired"),
        "{xml}"
    );
    let fresh: wire::PresignedUrlsResponse = h
        .post(
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            &json!({"start": 1, "count": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    h.put_ok(&fresh.upload_urls[0].url, b"0123456789".to_vec())
        .await;

    // A day after creation the session is expired: listed as such, refused elsewhere.
    h.post_debug("/clock", &json!({"advance_secs": 23 * 3600}))
        .await;
    let status: wire::UploadStatusResponse = h
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status.status, wire::UploadStatus::Expired);
    let presign = h
        .post(
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            &json!({"start": 1, "count": 1}),
        )
        .await;
    assert_error(presign, StatusCode::BAD_REQUEST, "upload_expired").await;
    assert_error(
        h.report(upload, &[(1, "abc", 10)]).await,
        StatusCode::BAD_REQUEST,
        "upload_expired",
    )
    .await;
    let list: wire::ListIncompleteUploadsResponse = h
        .get("/assets/multipart-uploads")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.data.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn completed_session_refuses_new_urls_and_new_puts() {
    let h = Harness::default().await;
    let session = h.create_session("a.mp4", 4).await;
    let upload = session["upload_id"].as_str().unwrap();
    let url = session["upload_urls"][0]["url"].as_str().unwrap();
    let etag = h.put_ok(url, b"abcd".to_vec()).await;
    h.report(upload, &[(1, &etag, 4)]).await;
    let presign = h
        .post(
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            &json!({"start": 1, "count": 1}),
        )
        .await;
    assert_error(presign, StatusCode::BAD_REQUEST, "upload_completed").await;
    let put = h.put(url, b"abcd".to_vec()).await;
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    assert!(put
        .text()
        .await
        .unwrap()
        .contains("<Code>NoSuchUpload</Code>"));
    h.stop().await;
}

#[tokio::test]
async fn a_failed_session_says_so_and_refuses_urls_reports_and_puts() {
    let h = Harness::default().await;
    let session = h.create_session("f.mp4", 4).await;
    let upload = session["upload_id"].as_str().unwrap();
    let url = session["upload_urls"][0]["url"].as_str().unwrap();
    let etag = h.put_ok(url, b"abcd".to_vec()).await;
    let failed = h
        .post_debug(&format!("/sessions/{upload}/fail"), &json!({}))
        .await;
    assert_eq!(failed["status"], "failed");
    let status: Value = h
        .get(&format!("/assets/multipart-uploads/{upload}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "failed");
    let presign = h
        .post(
            &format!("/assets/multipart-uploads/{upload}/presigned-urls"),
            &json!({"start": 1, "count": 1}),
        )
        .await;
    assert_error(presign, StatusCode::BAD_REQUEST, "upload_failed").await;
    let report = h.report(upload, &[(1, &etag, 4)]).await;
    assert_error(report, StatusCode::BAD_REQUEST, "upload_failed").await;
    let put = h.put(url, b"abcd".to_vec()).await;
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    // An unknown session is a 404.
    let unknown = h
        .client
        .post(h.debug("/sessions/no-such-upload/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    h.stop().await;
}

/// The acceptance test of the issue: a ~23 MiB file with the emulator's own defaults, every
/// chunk uploaded once, the assembled bytes checked by SHA-256, the asset becoming ready.
#[tokio::test]
async fn complete_23_mib_upload_with_defaults_matches_sha256() {
    let mut config = twelvelabs_emulator::Config {
        api_key: KEY.to_owned(),
        ..Default::default()
    };
    config.faults.processing_ms = 0;
    config.initial_urls = twelvelabs_emulator::config::DEFAULT_INITIAL_URLS;
    let h = Harness::start(config).await;
    let file = test_bytes((23 * MIB + 12_345) as usize, 23);
    let response = h
        .post(
            "/assets/multipart-uploads",
            &json!({"filename": "big.mp4", "type": "video", "total_size": file.len(), "enable_thumbnail": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session: wire::CreateMultipartUploadResponse = response.json().await.unwrap();
    assert_eq!(session.chunk_size, 5 * MIB);
    assert_eq!(session.total_chunks, 5);

    // Upload all chunks in parallel, then report them in reverse order, in two batches.
    let puts = session.upload_urls.iter().map(|entry| {
        let start = (entry.chunk_index as u64 - 1) * session.chunk_size;
        let end = (start + session.chunk_size).min(file.len() as u64);
        let bytes = file[start as usize..end as usize].to_vec();
        let size = bytes.len() as u64;
        let h = &h;
        async move {
            (
                entry.chunk_index as u64,
                h.put_ok(&entry.url, bytes).await,
                size,
            )
        }
    });
    let mut uploaded = futures_util::future::join_all(puts).await;
    uploaded.reverse();
    let reports: Vec<(u64, &str, u64)> = uploaded
        .iter()
        .map(|(i, e, s)| (*i, e.as_str(), *s))
        .collect();
    let first: wire::ReportChunksResponse = h
        .report(&session.upload_id, &reports[..2])
        .await
        .json()
        .await
        .unwrap();
    assert!(first.url.is_none());
    let last: wire::ReportChunksResponse = h
        .report(&session.upload_id, &reports[2..])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last.total_completed, 5);
    assert!(last.url.is_some());

    let digest = h
        .get_debug(&format!("/assets/{}/sha256", session.asset_id))
        .await;
    assert_eq!(digest["sha256"], sha256_hex(&file));
    assert_eq!(digest["size"], file.len());
    let asset: wire::Asset = h
        .get(&format!("/assets/{}", session.asset_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asset.status, wire::AssetStatus::Ready);
    assert_eq!(asset.method, wire::AssetMethod::Multipart);
    assert_eq!(asset.size, Some(file.len() as u64));
    assert_eq!(
        asset.thumbnail.unwrap().status,
        wire::DerivativeStatus::Ready
    );

    let stats = h.get_debug("/stats").await;
    let puts = &stats["chunk_puts"][&session.upload_id];
    for index in 1..=5 {
        assert_eq!(
            puts[index.to_string()]["stored"],
            1,
            "chunk {index} stored once: {stats}"
        );
        assert_eq!(puts[index.to_string()]["attempts"], 1);
    }
    assert_eq!(
        stats["requests"]["POST /v1.3/assets/multipart-uploads/{upload_id}"],
        2
    );
    assert_eq!(
        stats["requests"]["PUT /_storage/{upload_id}/{chunk_index}"],
        5
    );
    h.stop().await;
}

/// Uploads `file` in one session of `h` (URLs of the create answer only) and answers the session
/// with the `(index, etag, size)` of every chunk, in order.
async fn upload_all_chunks(
    h: &Harness,
    file: &[u8],
) -> (wire::CreateMultipartUploadResponse, Vec<(u64, String, u64)>) {
    let response = h
        .post(
            "/assets/multipart-uploads",
            &json!({"filename": "big.mp4", "type": "video", "total_size": file.len()}),
        )
        .await;
    let session: wire::CreateMultipartUploadResponse = response.json().await.unwrap();
    let mut uploaded = Vec::new();
    for entry in &session.upload_urls {
        let start = (entry.chunk_index as u64 - 1) * session.chunk_size;
        let end = (start + session.chunk_size).min(file.len() as u64);
        let bytes = file[start as usize..end as usize].to_vec();
        let size = bytes.len() as u64;
        uploaded.push((
            entry.chunk_index as u64,
            h.put_ok(&entry.url, bytes).await,
            size,
        ));
    }
    (session, uploaded)
}

/// The completing report does not wait for the assembly: here the assembly is held up on
/// purpose (chunk 1's stored part is swapped for a FIFO that only delivers its bytes when the
/// test writes them), yet the report answers `completed` with its `url`, the asset stays
/// `processing` without a size, and the SHA-256 route waits for the assembly and is right.
#[tokio::test]
async fn completing_report_answers_at_once_and_the_asset_is_processing_until_assembled() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config();
    config.data_dir = Some(data_dir.path().to_path_buf());
    let h = Harness::start(config).await;
    let file = test_bytes((2 * 5 * MIB + 4_321) as usize, 7);
    let (session, uploaded) = upload_all_chunks(&h, &file).await;
    assert_eq!(uploaded.len(), 3);

    let part = data_dir
        .path()
        .join("parts")
        .join(&session.upload_id)
        .join(format!("1-{}", uploaded[0].1));
    assert!(
        part.is_file(),
        "{part:?} is where the emulator keeps chunk 1"
    );
    std::fs::remove_file(&part).unwrap();
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(&part)
        .status()
        .unwrap();
    assert!(mkfifo.success());

    let reports: Vec<(u64, &str, u64)> = uploaded
        .iter()
        .map(|(i, e, s)| (*i, e.as_str(), *s))
        .collect();
    // Were the report to assemble before answering, it would block on the FIFO forever: the
    // deadline turns that hang into a failure (it is a deadlock guard, not a timing check).
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        h.report(&session.upload_id, &reports),
    )
    .await
    .expect("the completing report answers while the assembly is blocked");
    let done: wire::ReportChunksResponse = done.json().await.unwrap();
    assert_eq!(done.total_completed, 3);
    assert!(done.url.is_some());
    let status: wire::UploadStatusResponse = h
        .get(&format!("/assets/multipart-uploads/{}", session.upload_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status.status, wire::UploadStatus::Completed);
    let assembling: wire::Asset = h
        .get(&format!("/assets/{}", session.asset_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(assembling.status, wire::AssetStatus::Processing);
    assert_eq!(assembling.size, None);

    // Ask for the digest first (it must wait), then let the assembly read chunk 1.
    let digest = {
        let h = &h;
        let asset_id = session.asset_id.clone();
        async move { h.get_debug(&format!("/assets/{asset_id}/sha256")).await }
    };
    let first_chunk = file[..(5 * MIB) as usize].to_vec();
    let feed = tokio::task::spawn_blocking(move || std::fs::write(&part, first_chunk));
    let (digest, fed) = tokio::join!(digest, feed);
    fed.unwrap().unwrap();
    assert_eq!(digest["sha256"], sha256_hex(&file));
    assert_eq!(digest["size"], file.len());
    let asset: wire::Asset = h
        .get(&format!("/assets/{}", session.asset_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asset.status, wire::AssetStatus::Ready);
    assert_eq!(asset.size, Some(file.len() as u64));
    h.stop().await;
}

/// An assembly that cannot be written fails the asset; the report had already answered.
#[tokio::test]
async fn failed_background_assembly_fails_the_asset() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config();
    config.data_dir = Some(data_dir.path().to_path_buf());
    let h = Harness::start(config).await;
    let file = test_bytes(1_000, 9);
    let (session, uploaded) = upload_all_chunks(&h, &file).await;
    // A directory where the assembled file should go makes its creation fail.
    std::fs::create_dir(data_dir.path().join("assets").join(&session.asset_id)).unwrap();
    let (index, etag, size) = &uploaded[0];
    let done: wire::ReportChunksResponse = h
        .report(&session.upload_id, &[(*index, etag, *size)])
        .await
        .json()
        .await
        .unwrap();
    assert!(done.url.is_some());
    let digest = h
        .client
        .get(h.debug(&format!("/assets/{}/sha256", session.asset_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(digest.status(), StatusCode::CONFLICT);
    let asset: wire::Asset = h
        .get(&format!("/assets/{}", session.asset_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asset.status, wire::AssetStatus::Failed);
    h.stop().await;
}
