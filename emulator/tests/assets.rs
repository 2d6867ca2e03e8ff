//! HTTP tests of the asset endpoints: direct (multipart/form-data) and URL creation, list with
//! filters and pagination, retrieve, delete with 409/force, processing and HLS/thumbnail status.

mod common;

use common::{assert_error, sha256_hex, test_bytes, test_config, Harness, KEY};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use twelvelabs_edge_upload::core::wire;

const MIB: usize = 1024 * 1024;

async fn create_direct(h: &Harness, form: Form) -> reqwest::Response {
    h.client
        .post(h.api("/assets"))
        .header("x-api-key", KEY)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn file_form(name: &str, mime: &str, bytes: Vec<u8>) -> Form {
    Form::new().text("method", "direct").part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

async fn direct_asset(h: &Harness, name: &str, mime: &str, bytes: Vec<u8>) -> wire::Asset {
    let response = create_direct(h, file_form(name, mime, bytes)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn direct_upload_creates_a_processing_asset_that_becomes_ready() {
    let mut config = test_config();
    config.faults.processing_ms = 60_000;
    let h = Harness::start(config).await;
    let bytes = test_bytes(MIB + 17, 5);
    let form = file_form("clip.mp4", "video/mp4", bytes.clone())
        .text("filename", "renamed.mp4")
        .text("enable_hls", "TRUE")
        .text("enable_thumbnail", "true")
        .text("user_metadata", r#"{"owner":"u1","n":3}"#);
    let response = create_direct(&h, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let asset: wire::Asset = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(asset.method, wire::AssetMethod::Direct);
    assert_eq!(asset.status, wire::AssetStatus::Processing);
    assert_eq!(asset.filename.as_deref(), Some("renamed.mp4"));
    assert_eq!(asset.file_type.as_deref(), Some("video/mp4"));
    assert_eq!(asset.user_metadata.unwrap()["owner"], "u1".into());
    assert!(
        body.get("size").is_none(),
        "size is absent while processing: {body}"
    );
    assert_eq!(
        asset.hls.unwrap().status,
        wire::DerivativeStatus::Processing
    );

    h.post_debug("/clock", &json!({"advance_secs": 61})).await;
    let ready: wire::Asset = h
        .get(&format!("/assets/{}", asset.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ready.status, wire::AssetStatus::Ready);
    assert_eq!(ready.size, Some(bytes.len() as u64));
    assert!(ready.duration.is_some());
    let hls = ready.hls.unwrap();
    assert_eq!(hls.status, wire::DerivativeStatus::Ready);
    assert!(hls.manifest_url.unwrap().ends_with("manifest.m3u8"));
    assert!(ready.thumbnail.unwrap().representative_url.is_some());
    assert_eq!(
        h.get_debug(&format!("/assets/{}/sha256", asset.id)).await["sha256"],
        sha256_hex(&bytes)
    );
    h.stop().await;
}

#[tokio::test]
async fn direct_upload_validates_fields_and_size_limits() {
    let h = Harness::default().await;
    let tiny = || Part::bytes(b"abc".to_vec()).file_name("a.mp4");
    let cases: Vec<(Form, &str, &str)> = vec![
        (
            Form::new().part("file", tiny()),
            "parameter_not_provided",
            "method",
        ),
        (
            Form::new().text("method", "upload").part("file", tiny()),
            "parameter_invalid",
            "method",
        ),
        (
            Form::new().text("method", "direct"),
            "parameter_not_provided",
            "file",
        ),
        (
            Form::new().text("method", "url"),
            "parameter_not_provided",
            "url",
        ),
        (
            Form::new()
                .text("method", "url")
                .text("url", "ftp://127.0.0.1/a.mp4"),
            "parameter_invalid",
            "url",
        ),
        (
            Form::new()
                .text("method", "url")
                .text("url", "https://example.com/a.mp4"),
            "parameter_invalid",
            "url",
        ),
        (
            Form::new()
                .text("method", "direct")
                .text("filename", "x".repeat(256))
                .part("file", tiny()),
            "parameter_invalid",
            "filename",
        ),
        (
            Form::new()
                .text("method", "direct")
                .text("enable_hls", "maybe")
                .part("file", tiny()),
            "parameter_invalid",
            "enable_hls",
        ),
        (
            Form::new()
                .text("method", "direct")
                .text("user_metadata", "{")
                .part("file", tiny()),
            "parameter_invalid",
            "user_metadata",
        ),
        (
            Form::new()
                .text("method", "direct")
                .text("user_metadata", r#"{"a":{}}"#)
                .part("file", tiny()),
            "parameter_invalid",
            "user_metadata",
        ),
    ];
    for (form, code, field) in cases {
        let message =
            assert_error(create_direct(&h, form).await, StatusCode::BAD_REQUEST, code).await;
        assert!(
            message.contains(&format!("`{field}`")),
            "{message} should name {field}"
        );
    }
    // Images: 32 MiB is the limit, one byte more is refused.
    let at_limit = direct_asset(&h, "a.png", "image/png", vec![0; 32 * MIB]).await;
    assert_eq!(at_limit.file_type.as_deref(), Some("image/png"));
    let over = create_direct(&h, file_form("b.png", "image/png", vec![0; 32 * MIB + 1])).await;
    assert_error(over, StatusCode::BAD_REQUEST, "parameter_invalid").await;
    // Not multipart/form-data at all.
    let json_body = h.post("/assets", &json!({"method": "direct"})).await;
    assert_error(json_body, StatusCode::BAD_REQUEST, "parameter_invalid").await;
    h.stop().await;
}

#[tokio::test]
async fn url_uploads_fetch_loopback_urls_in_the_background() {
    let h = Harness::default().await;
    let source_bytes = test_bytes(300_000, 8);
    let source = direct_asset(&h, "source.mp4", "video/mp4", source_bytes.clone()).await;
    let source_url = h.debug(&format!("/assets/{}/file", source.id));
    let form = Form::new().text("method", "url").text("url", source_url);
    let response = create_direct(&h, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: wire::Asset = response.json().await.unwrap();
    assert_eq!(created.method, wire::AssetMethod::Url);
    assert_eq!(created.filename.as_deref(), Some("file"));
    // Poll (no timing assumptions) until the background fetch has finished.
    let digest = loop {
        let response = h
            .client
            .get(h.debug(&format!("/assets/{}/sha256", created.id)))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            break response.json::<Value>().await.unwrap();
        }
        assert_eq!(response.status(), StatusCode::CONFLICT);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(digest["sha256"], sha256_hex(&source_bytes));

    // A URL that answers 404 makes the asset fail, with an error message.
    let broken = Form::new()
        .text("method", "url")
        .text("url", h.debug("/assets/000000000000000000000000/file"));
    let failed: wire::Asset = create_direct(&h, broken).await.json().await.unwrap();
    let failed = loop {
        let asset: wire::Asset = h
            .get(&format!("/assets/{}", failed.id))
            .await
            .json()
            .await
            .unwrap();
        if asset.status != wire::AssetStatus::Processing {
            break asset;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(failed.status, wire::AssetStatus::Failed);
    assert!(failed.error.unwrap().message.contains("404"));
    h.stop().await;
}

#[tokio::test]
async fn record_mode_accepts_any_url_without_fetching() {
    let mut config = test_config();
    config.url_mode = twelvelabs_emulator::UrlMode::Record;
    let h = Harness::start(config).await;
    let form = Form::new()
        .text("method", "url")
        .text("url", "https://cdn.example.com/videos/talk.mp4");
    let asset: wire::Asset = create_direct(&h, form).await.json().await.unwrap();
    assert_eq!(asset.filename.as_deref(), Some("talk.mp4"));
    let ready: wire::Asset = h
        .get(&format!("/assets/{}", asset.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ready.status, wire::AssetStatus::Ready);
    let digest = h
        .client
        .get(h.debug(&format!("/assets/{}/sha256", asset.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(digest.status(), StatusCode::CONFLICT);
    h.stop().await;
}

#[tokio::test]
async fn list_filters_paginates_and_orders_newest_first() {
    let h = Harness::default().await;
    let video = direct_asset(&h, "Holiday.MP4", "video/mp4", vec![1; 10]).await;
    let audio = direct_asset(&h, "song.mp3", "audio/mpeg", vec![2; 10]).await;
    let image = direct_asset(&h, "holiday.png", "image/png", vec![3; 10]).await;

    let all: wire::ListAssetsResponse = h.get("/assets").await.json().await.unwrap();
    let ids: Vec<&str> = all.data.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [image.id.as_str(), audio.id.as_str(), video.id.as_str()]
    );
    assert_eq!(
        all.page_info,
        wire::PageInfo {
            limit_per_page: 10,
            page: 1,
            total_page: 1,
            total_results: 3
        }
    );

    let query = |q: &str| {
        let path = format!("/assets?{q}");
        let h = &h;
        async move {
            let list: wire::ListAssetsResponse = h.get(&path).await.json().await.unwrap();
            list.data.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        query(&format!("asset_ids={}&asset_ids={}", video.id, image.id)).await,
        [image.id.clone(), video.id.clone()]
    );
    assert_eq!(
        query("asset_types=audio&asset_types=image").await,
        [image.id.clone(), audio.id.clone()]
    );
    assert_eq!(
        query("filename=HOLIDAY").await,
        [image.id.clone(), video.id.clone()]
    );
    assert_eq!(
        query("filename=holiday&asset_types=video").await,
        [video.id.as_str()]
    );
    assert_eq!(query("page=2&page_limit=2").await, [video.id.as_str()]);
    assert!(query("page=3&page_limit=2").await.is_empty());
    for bad in [
        "asset_types=document",
        "page=0",
        "page_limit=0",
        "page_limit=51",
        "page=x",
    ] {
        assert_error(
            h.get(&format!("/assets?{bad}")).await,
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
        )
        .await;
    }
    h.stop().await;
}

#[tokio::test]
async fn retrieve_and_delete_handle_missing_referenced_and_forced() {
    let h = Harness::default().await;
    let asset = direct_asset(&h, "a.mp4", "video/mp4", vec![1; 10]).await;
    let path = format!("/assets/{}", asset.id);
    let missing = h.get("/assets/000000000000000000000000").await;
    let message = assert_error(missing, StatusCode::NOT_FOUND, "resource_not_exist").await;
    assert!(message.contains("`000000000000000000000000`"));

    h.post_debug(&format!("/assets/{}/reference", asset.id), &json!({}))
        .await;
    let delete = |query: &'static str| {
        let url = h.api(&format!("{path}{query}"));
        let h = &h;
        async move {
            h.client
                .delete(url)
                .header("x-api-key", KEY)
                .send()
                .await
                .unwrap()
        }
    };
    assert_error(delete("").await, StatusCode::CONFLICT, "asset_in_use").await;
    assert_error(
        delete("?force=false").await,
        StatusCode::CONFLICT,
        "asset_in_use",
    )
    .await;
    assert_error(
        delete("?force=perhaps").await,
        StatusCode::BAD_REQUEST,
        "parameter_invalid",
    )
    .await;
    let forced = delete("?force=true").await;
    assert_eq!(forced.status(), StatusCode::NO_CONTENT);
    assert!(forced.bytes().await.unwrap().is_empty());
    assert_error(
        h.get(&path).await,
        StatusCode::NOT_FOUND,
        "resource_not_exist",
    )
    .await;
    assert_error(
        delete("").await,
        StatusCode::NOT_FOUND,
        "resource_not_exist",
    )
    .await;

    // An unreferenced asset is deleted without force.
    let other = direct_asset(&h, "b.mp4", "video/mp4", vec![1; 10]).await;
    h.post_debug(&format!("/assets/{}/reference", other.id), &json!({}))
        .await;
    let unref = h
        .client
        .delete(h.debug(&format!("/assets/{}/reference", other.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(unref.status(), StatusCode::OK);
    let plain = h
        .client
        .delete(h.api(&format!("/assets/{}", other.id)))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::NO_CONTENT);
    h.stop().await;
}

#[tokio::test]
async fn delete_can_answer_200_with_an_empty_object() {
    let mut config = test_config();
    config.delete_status = twelvelabs_emulator::DeleteStatus::OkEmptyObject;
    let h = Harness::start(config).await;
    let asset = direct_asset(&h, "a.mp4", "video/mp4", vec![1; 10]).await;
    let response = h
        .client
        .delete(h.api(&format!("/assets/{}", asset.id)))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    h.stop().await;
}

#[tokio::test]
async fn multipart_assets_are_processing_until_the_session_completes_and_can_fail() {
    let mut config = test_config();
    config.faults.processing_ms = 60_000;
    let h = Harness::start(config).await;
    let response = h
        .post(
            "/assets/multipart-uploads",
            &json!({"filename": "a.mp4", "type": "video", "total_size": 3, "enable_hls": true, "user_metadata": {"k": "v"}}),
        )
        .await;
    let session: Value = response.json().await.unwrap();
    let asset_id = session["asset_id"].as_str().unwrap();
    let pending: wire::Asset = h
        .get(&format!("/assets/{asset_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (pending.method, pending.status),
        (wire::AssetMethod::Multipart, wire::AssetStatus::Processing)
    );
    assert_eq!(pending.hls.unwrap().status, wire::DerivativeStatus::Pending);
    assert_eq!(pending.user_metadata.unwrap()["k"], "v".into());
    let etag = h
        .put_ok(
            session["upload_urls"][0]["url"].as_str().unwrap(),
            b"abc".to_vec(),
        )
        .await;
    h.report(session["upload_id"].as_str().unwrap(), &[(1, &etag, 3)])
        .await;
    let processing: wire::Asset = h
        .get(&format!("/assets/{asset_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        processing.hls.unwrap().status,
        wire::DerivativeStatus::Processing
    );
    // The session's metadata is the asset's (the Worker's owner check relies on it).
    assert_eq!(processing.user_metadata.unwrap()["k"], "v".into());

    h.post_debug(
        &format!("/assets/{asset_id}/fail"),
        &json!({"message": "codec not supported"}),
    )
    .await;
    let failed: wire::Asset = h
        .get(&format!("/assets/{asset_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed.status, wire::AssetStatus::Failed);
    assert_eq!(failed.error.unwrap().message, "codec not supported");
    assert_eq!(failed.hls.unwrap().status, wire::DerivativeStatus::Error);
    h.stop().await;
}

#[tokio::test]
async fn unknown_routes_answer_a_json_404() {
    let h = Harness::default().await;
    let response = h
        .client
        .get(format!("{}/v1.2/assets", h.emulator.url()))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "endpoint_not_found").await;
    h.stop().await;
}
