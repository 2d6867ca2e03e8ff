//! The browser package reads and writes JSON with the JS engine and converts field by field
//! (`src/browser/wire_js.rs`) instead of using serde_json (which would double the package).
//! These tests pin the two to each other: what serde_json writes for a wire type, the hand-written
//! readers read back to the same value, and what the writers produce, serde reads back.
#![cfg(target_arch = "wasm32")]

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use twelvelabs_edge_upload::browser::convert;
use twelvelabs_edge_upload::browser::wire_js::{self, Unreadable};
use twelvelabs_edge_upload::core::resume::{SavedUpload, SAVED_UPLOAD_VERSION};
use twelvelabs_edge_upload::core::wire::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `value` as serde_json writes it, parsed by the JS engine.
fn as_js<T: Serialize>(value: &T) -> JsValue {
    js_sys::JSON::parse(&serde_json::to_string(value).unwrap()).unwrap()
}

/// A JS value as serde reads its JSON text.
fn from_js<T: DeserializeOwned>(value: &JsValue) -> T {
    let text: String = js_sys::JSON::stringify(value).unwrap().into();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn parse(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap()
}

fn url(index: u32) -> PresignedUrl {
    PresignedUrl {
        chunk_index: index,
        url: format!("https://storage.test/up/{index}?sig=x"),
        expires_at: "2026-08-01T12:00:00Z".into(),
    }
}

/// A user-metadata value, read as the Worker reads it.
fn meta(value: serde_json::Value) -> MetadataValue {
    serde_json::from_value(value).expect("a scalar")
}

#[wasm_bindgen_test]
fn responses_read_back_to_what_serde_wrote() {
    let create = CreateMultipartUploadResponse {
        upload_id: "up1".into(),
        asset_id: "as1".into(),
        upload_urls: vec![url(1), url(2)],
        upload_headers: [("x-amz-acl".to_string(), "private".to_string())].into(),
        chunk_size: 5 * 1024 * 1024,
        total_chunks: 2_000,
        expires_at: "2026-08-02T11:00:00Z".into(),
        upload_token: Some("tok".into()),
    };
    assert_eq!(
        wire_js::create_response(&as_js(&create)),
        Ok(create.clone())
    );
    let upstream = CreateMultipartUploadResponse {
        upload_token: None,
        upload_headers: Default::default(),
        ..create
    };
    assert_eq!(wire_js::create_response(&as_js(&upstream)), Ok(upstream));

    let urls = PresignedUrlsResponse {
        upload_id: "up1".into(),
        start_index: 3,
        count: 2,
        upload_urls: vec![url(3), url(4)],
        generated_at: Some("2026-08-01T11:00:00Z".into()),
        expires_at: None,
    };
    assert_eq!(wire_js::presigned_urls_response(&as_js(&urls)), Ok(urls));

    let report = ReportChunksResponse {
        url: Some("https://cdn.test/as1".into()),
        asset_id: "as1".into(),
        processed_chunks: 49,
        duplicate_chunks: 1,
        total_completed: 2_000,
    };
    assert_eq!(wire_js::report_response(&as_js(&report)), Ok(report));

    let mut chunks = Vec::new();
    for (index, status) in [
        ChunkStatus::Completed,
        ChunkStatus::Pending,
        ChunkStatus::Failed,
    ]
    .into_iter()
    .enumerate()
    {
        chunks.push(ChunkInfo {
            index: index as u32 + 1,
            status,
            uploaded_at: (status == ChunkStatus::Completed).then(|| "2026-08-01T11:00:01Z".into()),
            updated_at: Some("2026-08-01T11:00:02Z".into()),
            error: (status == ChunkStatus::Failed).then(|| "checksum mismatch".into()),
        });
    }
    for status in [
        UploadStatus::Active,
        UploadStatus::Completed,
        UploadStatus::Failed,
        UploadStatus::Expired,
    ] {
        let page = UploadStatusResponse {
            upload_id: "up1".into(),
            status,
            uploaded_chunks: chunks.clone(),
            chunks_completed: 1,
            chunks_failed: 1,
            chunks_pending: 1,
            page_info: Some(PageInfo::for_page(1, 50, 3)),
            total_size: 12_000_000_000,
            uploaded_size: 5_242_880,
            created_at: Some("2026-08-01T11:00:00Z".into()),
            updated_at: None,
        };
        assert_eq!(wire_js::status_response(&as_js(&page)), Ok(page));
    }

    let mut metadata = UserMetadata::new();
    metadata.insert("project".into(), meta(json!("x")));
    metadata.insert("take".into(), meta(json!(3)));
    metadata.insert("ratio".into(), meta(json!(1.5)));
    metadata.insert("approved".into(), meta(json!(true)));
    for (method, status, hls) in [
        (
            AssetMethod::Multipart,
            AssetStatus::Ready,
            DerivativeStatus::Ready,
        ),
        (
            AssetMethod::Direct,
            AssetStatus::Processing,
            DerivativeStatus::Pending,
        ),
        (
            AssetMethod::Url,
            AssetStatus::Failed,
            DerivativeStatus::Error,
        ),
        (
            AssetMethod::Multipart,
            AssetStatus::Waiting,
            DerivativeStatus::Processing,
        ),
    ] {
        let asset = Asset {
            id: "as1".into(),
            method,
            status,
            filename: Some("clip.mp4".into()),
            file_type: Some("video/mp4".into()),
            created_at: Some("2026-08-01T11:00:00Z".into()),
            size: Some(123_456_789),
            duration: Some(12.5),
            user_metadata: Some(metadata.clone()),
            hls: Some(Hls {
                manifest_url: Some("https://cdn.test/as1.m3u8".into()),
                status: hls,
            }),
            thumbnail: Some(Thumbnail {
                representative_url: None,
                status: hls,
            }),
            error: (status == AssetStatus::Failed).then(|| AssetError {
                message: "unsupported codec".into(),
            }),
        };
        let read = wire_js::asset(&as_js(&asset)).unwrap();
        // Integral metadata numbers come back as numbers of the same value.
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&asset).unwrap()
        );
        // The camelCase object of the public API spells enums as serde does.
        let public = convert::asset(&read);
        for (key, expected) in [
            ("method", serde_json::to_value(method).unwrap()),
            ("status", serde_json::to_value(status).unwrap()),
        ] {
            let spelled = js_sys::Reflect::get(&public, &key.into()).unwrap();
            assert_eq!(spelled.as_string().as_deref(), expected.as_str(), "{key}");
        }
        let page = ListAssetsResponse {
            data: vec![asset.clone(), asset],
            page_info: PageInfo::for_page(2, 2, 7),
        };
        let read = wire_js::asset_page(&as_js(&page)).unwrap();
        assert_eq!(read.data.len(), 2);
        assert_eq!(read.page_info, page.page_info);
    }
}

#[wasm_bindgen_test]
fn values_added_later_read_as_unknown_and_bad_fields_are_named() {
    let asset = parse(r#"{"_id":"a","method":"s3_import","status":"archived","extra":{"x":1}}"#);
    let read = wire_js::asset(&asset).unwrap();
    assert_eq!(read.method, AssetMethod::Unknown);
    assert_eq!(read.status, AssetStatus::Unknown);
    assert_eq!(
        wire_js::status_response(&parse(r#"{"upload_id":"u","status":"archived"}"#))
            .unwrap()
            .status,
        UploadStatus::Unknown
    );
    // What serde refuses, the readers refuse, naming the field.
    for (text, field) in [
        (r#"{"method":"direct","status":"ready"}"#, "_id"),
        (
            r#"{"_id":"a","method":"direct","status":"ready","size":-1}"#,
            "size",
        ),
        (
            r#"{"_id":"a","method":"direct","status":"ready","size":1.5}"#,
            "size",
        ),
        (r#"{"_id":"a","method":"direct","status":7}"#, "status"),
    ] {
        assert_eq!(
            wire_js::asset(&parse(text)).map(|_| ()),
            Err(Unreadable(field)),
            "{text}"
        );
        assert!(serde_json::from_str::<Asset>(text).is_err(), "{text}");
    }
    assert_eq!(
        wire_js::create_response(&parse(r#"{"upload_id":"u","asset_id":"a"}"#)).map(|_| ()),
        Err(Unreadable("chunk_size"))
    );
    assert_eq!(
        wire_js::presigned_urls_response(&JsValue::UNDEFINED).map(|_| ()),
        Err(Unreadable("upload_id"))
    );
    assert_eq!(
        wire_js::error_body(&parse(r#"{"code":"parameter_invalid","message":"bad"}"#)),
        Some(("parameter_invalid".into(), "bad".into()))
    );
    assert_eq!(wire_js::error_body(&parse(r#"{"message":"bad"}"#)), None);
}

#[wasm_bindgen_test]
fn request_bodies_are_what_serde_reads() {
    let mut metadata = UserMetadata::new();
    metadata.insert("take".into(), meta(json!(3)));
    metadata.insert("ratio".into(), meta(json!(0.25)));
    metadata.insert("note".into(), meta(json!("a \"quoted\" ünïcode")));
    let create = CreateMultipartUploadRequest {
        filename: "clip.mp4".into(),
        media_type: MediaType::Audio,
        total_size: 9_000_000_000,
        enable_hls: Some(true),
        enable_thumbnail: None,
        user_metadata: Some(metadata),
    };
    let read: CreateMultipartUploadRequest = from_js(&wire_js::create_request(&create));
    assert_eq!(read, create);
    let text = wire_js::stringify(&wire_js::create_request(&create));
    assert!(
        !text.contains("enable_thumbnail"),
        "absent options are omitted: {text}"
    );

    let read: PresignedUrlsRequest = from_js(&wire_js::presigned_urls_request(51, 50));
    assert_eq!(
        read,
        PresignedUrlsRequest {
            start: 51,
            count: 50
        }
    );

    let chunks = vec![
        CompletedChunk {
            chunk_index: 1,
            proof: "d41d8cd98f00b204e9800998ecf8427e".into(),
            proof_type: ProofType::Etag,
            chunk_size: 5_242_880,
        },
        CompletedChunk {
            chunk_index: 2,
            proof: "0cc175b9c0f1b6a831c399e269772661".into(),
            proof_type: ProofType::Etag,
            chunk_size: 17,
        },
    ];
    let read: ReportChunksRequest = from_js(&wire_js::report_request(&chunks));
    assert_eq!(read.completed_chunks, chunks);
}

#[wasm_bindgen_test]
fn saved_records_round_trip_and_match_their_serde_form() {
    let saved = SavedUpload {
        version: SAVED_UPLOAD_VERSION,
        upload_id: "up1".into(),
        asset_id: "as1".into(),
        upload_token: Some("tok".into()),
        upload_headers: [("x-amz-acl".to_string(), "private".to_string())].into(),
        total_size: 10_000_000_000,
        chunk_size: 5 * 1024 * 1024,
        total_chunks: 1_908,
        expires_at: "2026-08-02T11:00:00Z".into(),
        clock_offset_ms: -1_234,
        reported: vec![[1, 40], [42, 42]],
        etags: vec![(41, "\"e41\"".into()), (43, "e43".into())],
        completed: false,
    };
    let object = wire_js::saved_upload_object(&saved);
    assert_eq!(wire_js::saved_upload(&object), Ok(saved.clone()));
    let read: SavedUpload = from_js(&object);
    assert_eq!(read, saved);
    assert_eq!(wire_js::saved_upload(&as_js(&saved)), Ok(saved.clone()));
    // A completed record keeps its mark; the mark is absent from a pending one.
    assert_eq!(
        js_sys::Reflect::has(&object, &"completed".into()),
        Ok(false)
    );
    let completed = SavedUpload {
        completed: true,
        ..saved
    };
    let object = wire_js::saved_upload_object(&completed);
    assert_eq!(wire_js::saved_upload(&object), Ok(completed.clone()));
    assert_eq!(wire_js::saved_upload(&as_js(&completed)), Ok(completed));
    js_sys::Reflect::set(&object, &"completed".into(), &"yes".into()).unwrap();
    assert_eq!(
        wire_js::saved_upload(&object).map(|_| ()),
        Err(Unreadable("completed"))
    );
    assert_eq!(
        wire_js::saved_upload(&parse(r#"{"version":1,"reported":[[1]]}"#)).map(|_| ()),
        Err(Unreadable("reported"))
    );
}
