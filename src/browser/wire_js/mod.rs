//! The wire types as JS values: readers for parsed API responses and saved records, writers
//! for request bodies and saved records.
//!
//! JSON is parsed and printed by the JS engine (`JSON.parse` / `JSON.stringify`); only the few
//! types the client exchanges are converted here, field by field. This keeps a JSON library out
//! of the wasm package (it was the largest part of it). The spellings follow the serde
//! definitions in [`crate::core::wire`] (snake_case, `_id`, unknown enum values read as
//! `Unknown`, absent optional fields omitted); `tests/browser_wire_js.rs` checks that both agree
//! by round-tripping values through serde_json and these readers.
//!
//! serde-wasm-bindgen 0.6 in their place (each reader and writer as `from_value`/`to_value` of
//! the serde type) was measured once: the package grew from 88,822 to 121,661 bytes gzipped
//! (+32.8 KB, +37 %), so the hand-written readers stay.

use js_sys::Array;
use wasm_bindgen::JsValue;

use super::convert::{number, user_metadata as user_metadata_object, JsObject};
use crate::core::resume::SavedUpload;
use crate::core::wire::{
    Asset, AssetError, AssetMethod, AssetStatus, ChunkInfo, ChunkStatus, CompletedChunk,
    CreateMultipartUploadRequest, CreateMultipartUploadResponse, DerivativeStatus, Hls,
    ListAssetsResponse, MetadataValue, PageInfo, PresignedUrl, PresignedUrlsResponse,
    ReportChunksResponse, Thumbnail, UploadHeaders, UploadStatus, UploadStatusResponse,
    UserMetadata,
};

mod fields;

pub use self::fields::Unreadable;
use self::fields::{entries, Fields, Read, MAX_EXACT};

// ───────────────────────────── responses ─────────────────────────────

fn presigned_url(value: &JsValue) -> Read<PresignedUrl> {
    let f = Fields::new(value);
    f.finish(PresignedUrl {
        chunk_index: f.u32("chunk_index"),
        url: f.string("url"),
        expires_at: f.string("expires_at"),
    })
}

/// `POST /assets/multipart-uploads` 201.
pub fn create_response(value: &JsValue) -> Read<CreateMultipartUploadResponse> {
    let f = Fields::new(value);
    f.finish(CreateMultipartUploadResponse {
        upload_id: f.string("upload_id"),
        asset_id: f.string("asset_id"),
        upload_urls: f.list("upload_urls", presigned_url),
        upload_headers: f.string_map("upload_headers"),
        chunk_size: f.u64("chunk_size"),
        total_chunks: f.u32("total_chunks"),
        expires_at: f.string("expires_at"),
        upload_token: f.opt_string("upload_token"),
    })
}

/// `POST …/presigned-urls` 200.
pub fn presigned_urls_response(value: &JsValue) -> Read<PresignedUrlsResponse> {
    let f = Fields::new(value);
    f.finish(PresignedUrlsResponse {
        upload_id: f.string("upload_id"),
        start_index: f.u32("start_index"),
        count: f.u32("count"),
        upload_urls: f.list("upload_urls", presigned_url),
        generated_at: f.opt_string("generated_at"),
        expires_at: f.opt_string("expires_at"),
    })
}

/// `POST …/{upload_id}` 200 (report).
pub fn report_response(value: &JsValue) -> Read<ReportChunksResponse> {
    let f = Fields::new(value);
    f.finish(ReportChunksResponse {
        url: f.opt_string("url"),
        asset_id: f.opt_string("asset_id").unwrap_or_default(),
        processed_chunks: f.u32_or_zero("processed_chunks"),
        duplicate_chunks: f.u32_or_zero("duplicate_chunks"),
        total_completed: f.u32_or_zero("total_completed"),
    })
}

fn page_info(value: &JsValue) -> Read<PageInfo> {
    let f = Fields::new(value);
    f.finish(PageInfo {
        limit_per_page: f.u32("limit_per_page"),
        page: f.u32("page"),
        total_page: f.u32("total_page"),
        total_results: f.u64("total_results"),
    })
}

fn chunk_info(value: &JsValue) -> Read<ChunkInfo> {
    let f = Fields::new(value);
    f.finish(ChunkInfo {
        index: f.u32("index"),
        status: f.spelled("status", ChunkStatus::parse),
        uploaded_at: f.opt_string("uploaded_at"),
        updated_at: f.opt_string("updated_at"),
        error: f.opt_string("error"),
    })
}

/// `GET …/{upload_id}` 200 (status page).
pub fn status_response(value: &JsValue) -> Read<UploadStatusResponse> {
    let f = Fields::new(value);
    f.finish(UploadStatusResponse {
        upload_id: f.string("upload_id"),
        status: f.spelled("status", UploadStatus::parse),
        uploaded_chunks: f.list("uploaded_chunks", chunk_info),
        chunks_completed: f.u32_or_zero("chunks_completed"),
        chunks_failed: f.u32_or_zero("chunks_failed"),
        chunks_pending: f.u32_or_zero("chunks_pending"),
        page_info: f.opt("page_info", page_info),
        total_size: f.opt_whole("total_size", MAX_EXACT).unwrap_or(0),
        uploaded_size: f.opt_whole("uploaded_size", MAX_EXACT).unwrap_or(0),
        created_at: f.opt_string("created_at"),
        updated_at: f.opt_string("updated_at"),
    })
}

/// A user-metadata value (string, number or boolean); `None` for anything else. Integral
/// numbers become JSON integers, as the official SDKs send them.
pub fn metadata_value(item: &JsValue) -> Option<MetadataValue> {
    if let Some(text) = item.as_string() {
        return Some(MetadataValue::String(text));
    }
    if let Some(flag) = item.as_bool() {
        return Some(MetadataValue::Bool(flag));
    }
    let number = item.as_f64().filter(|n| n.is_finite())?;
    Some(MetadataValue::Number(
        if number.fract() == 0.0 && number.abs() < 9.0e15 {
            serde_json::Number::from(number as i64)
        } else {
            serde_json::Number::from_f64(number)?
        },
    ))
}

/// User metadata as the API returns it: scalars are kept; anything else (the API stores only
/// scalars) is kept as its JSON text.
fn user_metadata(value: &JsValue) -> Read<UserMetadata> {
    let mut metadata = UserMetadata::new();
    for (key, item) in entries(value) {
        let json = metadata_value(&item).unwrap_or_else(|| {
            MetadataValue::String(
                js_sys::JSON::stringify(&item).map_or_else(|_| String::new(), String::from),
            )
        });
        metadata.insert(key, json);
    }
    Ok(metadata)
}

/// The URL field `url_field` and the `status` of a derivative (`hls`, `thumbnail`).
fn derivative(
    value: &JsValue,
    url_field: &'static str,
) -> Read<(Option<String>, DerivativeStatus)> {
    let f = Fields::new(value);
    f.finish((
        f.opt_string(url_field),
        f.spelled("status", DerivativeStatus::parse),
    ))
}

fn hls(value: &JsValue) -> Read<Hls> {
    let (manifest_url, status) = derivative(value, "manifest_url")?;
    Ok(Hls {
        manifest_url,
        status,
    })
}

fn thumbnail(value: &JsValue) -> Read<Thumbnail> {
    let (representative_url, status) = derivative(value, "representative_url")?;
    Ok(Thumbnail {
        representative_url,
        status,
    })
}

fn asset_error(value: &JsValue) -> Read<AssetError> {
    let f = Fields::new(value);
    f.finish(AssetError {
        message: f.string("message"),
    })
}

/// An asset (`GET /assets/{id}`, `POST /assets`). `technical_metadata` and `source` are not
/// read: this client never shows them.
pub fn asset(value: &JsValue) -> Read<Asset> {
    let f = Fields::new(value);
    f.finish(Asset {
        id: f.string("_id"),
        method: f.spelled("method", AssetMethod::parse),
        status: f.spelled("status", AssetStatus::parse),
        filename: f.opt_string("filename"),
        file_type: f.opt_string("file_type"),
        created_at: f.opt_string("created_at"),
        size: f.opt_whole("size", MAX_EXACT),
        duration: f.opt_number("duration"),
        user_metadata: f.opt("user_metadata", user_metadata),
        hls: f.opt("hls", hls),
        thumbnail: f.opt("thumbnail", thumbnail),
        error: f.opt("error", asset_error),
    })
}

/// `GET /assets` 200.
pub fn asset_page(value: &JsValue) -> Read<ListAssetsResponse> {
    let f = Fields::new(value);
    let data = f.list("data", asset);
    let page_info = f.opt("page_info", page_info);
    if page_info.is_none() {
        f.fail("page_info");
    }
    // With `page_info` absent, `finish` has already answered with the first unreadable field.
    f.finish(page_info.map(|page_info| ListAssetsResponse { data, page_info }))?
        .ok_or(Unreadable("page_info"))
}

/// An error body's `(code, message)`, when it is one (`{code, message[, docs_url]}`).
pub fn error_body(value: &JsValue) -> Option<(String, String)> {
    let f = Fields::new(value);
    let upstream_code = f.opt_string("upstream_code");
    let (code, message) = f.finish((f.string("code"), f.string("message"))).ok()?;
    // Through the Worker, TwelveLabs' own code of a 4xx (see `wire::ErrorBody::upstream_code`):
    // the core's rules read TwelveLabs' codes, as they do against the API.
    Some((upstream_code.unwrap_or(code), message))
}

// ───────────────────────────── requests ─────────────────────────────

fn headers_object(headers: &UploadHeaders) -> JsValue {
    headers
        .iter()
        .fold(JsObject::new(), |object, (name, value)| {
            object.set(name, value.as_str())
        })
        .build()
}

/// The JSON text of a value built here.
pub fn stringify(value: &JsValue) -> String {
    // Plain objects of strings, numbers and booleans always stringify.
    js_sys::JSON::stringify(value).map_or_else(|_| String::new(), String::from)
}

/// `POST /assets/multipart-uploads` body.
pub fn create_request(request: &CreateMultipartUploadRequest) -> JsValue {
    JsObject::new()
        .set("filename", request.filename.as_str())
        .set("type", request.media_type.as_str())
        .set("total_size", number(request.total_size))
        .opt("enable_hls", request.enable_hls)
        .opt("enable_thumbnail", request.enable_thumbnail)
        .opt(
            "user_metadata",
            request.user_metadata.as_ref().map(user_metadata_object),
        )
        .build()
}

/// `POST …/presigned-urls` body.
pub fn presigned_urls_request(start: u32, count: u32) -> JsValue {
    JsObject::new()
        .set("start", start)
        .set("count", count)
        .build()
}

/// `POST …/{upload_id}` body (report).
pub fn report_request(chunks: &[CompletedChunk]) -> JsValue {
    let list: Array = chunks
        .iter()
        .map(|chunk| {
            JsObject::new()
                .set("chunk_index", chunk.chunk_index)
                .set("proof", chunk.proof.as_str())
                .set("proof_type", "etag")
                .set("chunk_size", number(chunk.chunk_size))
                .build()
        })
        .collect();
    JsObject::new().set("completed_chunks", list).build()
}

// ───────────────────────────── saved records ─────────────────────────────

/// A saved upload as a plain object (stored in IndexedDB as is; same field names as its serde
/// form).
pub fn saved_upload_object(saved: &SavedUpload) -> JsValue {
    let reported: Array = saved
        .reported
        .iter()
        .map(|&[first, last]| JsValue::from(Array::of2(&first.into(), &last.into())))
        .collect();
    let etags: Array = saved
        .etags
        .iter()
        .map(|(index, etag)| JsValue::from(Array::of2(&(*index).into(), &etag.into())))
        .collect();
    JsObject::new()
        .set("version", saved.version)
        .set("upload_id", saved.upload_id.as_str())
        .set("asset_id", saved.asset_id.as_str())
        .opt("upload_token", saved.upload_token.as_deref())
        .set("upload_headers", headers_object(&saved.upload_headers))
        .set("total_size", number(saved.total_size))
        .set("chunk_size", number(saved.chunk_size))
        .set("total_chunks", saved.total_chunks)
        .set("expires_at", saved.expires_at.as_str())
        .set("clock_offset_ms", saved.clock_offset_ms as f64)
        .set("reported", reported)
        .set("etags", etags)
        .opt("completed", saved.completed.then_some(true))
        .build()
}

/// The `(number, …)` items of a two-element array.
fn pair(value: &JsValue, key: &'static str) -> Read<(u32, JsValue)> {
    if !Array::is_array(value) {
        return Err(Unreadable(key));
    }
    let items = Array::from(value);
    let first = items.get(0).as_f64().ok_or(Unreadable(key))?;
    if items.length() != 2 || !(0.0..=f64::from(u32::MAX)).contains(&first) || first.fract() != 0.0
    {
        return Err(Unreadable(key));
    }
    Ok((first as u32, items.get(1)))
}

/// A `[first, last]` range of reported chunks in a saved upload.
fn reported_range(item: &JsValue) -> Read<[u32; 2]> {
    let (first, last) = pair(item, "reported")?;
    let last = last.as_f64().ok_or(Unreadable("reported"))?;
    if !(0.0..=f64::from(u32::MAX)).contains(&last) || last.fract() != 0.0 {
        return Err(Unreadable("reported"));
    }
    Ok([first, last as u32])
}

/// A `[chunk index, ETag]` entry of a saved upload.
fn etag_entry(item: &JsValue) -> Read<(u32, String)> {
    let (index, etag) = pair(item, "etags")?;
    Ok((index, etag.as_string().ok_or(Unreadable("etags"))?))
}

/// Reads a saved upload written by [`saved_upload_object`].
pub fn saved_upload(value: &JsValue) -> Read<SavedUpload> {
    let f = Fields::new(value);
    let reported = f.list("reported", reported_range);
    let etags = f.list("etags", etag_entry);
    let offset = f.opt_number("clock_offset_ms").unwrap_or(0.0);
    if offset.fract() != 0.0 || offset.abs() > MAX_EXACT {
        f.fail("clock_offset_ms");
    }
    f.finish(SavedUpload {
        version: f.u32("version"),
        upload_id: f.string("upload_id"),
        asset_id: f.string("asset_id"),
        upload_token: f.opt_string("upload_token"),
        upload_headers: f.string_map("upload_headers"),
        total_size: f.u64("total_size"),
        chunk_size: f.u64("chunk_size"),
        total_chunks: f.u32("total_chunks"),
        expires_at: f.string("expires_at"),
        clock_offset_ms: offset as i64,
        reported,
        etags,
        completed: f.flag("completed"),
    })
}

/// A string field of a plain object (for records written by this package).
pub fn read_string(value: &JsValue, key: &'static str) -> Read<String> {
    let f = Fields::new(value);
    f.finish(f.string(key))
}

/// A number field of a plain object (for records written by this package).
pub fn read_number(value: &JsValue, key: &'static str) -> Read<f64> {
    let f = Fields::new(value);
    f.finish(f.number(key))
}

/// A non-negative integer field of a plain object (for records written by this package).
pub fn read_u64(value: &JsValue, key: &'static str) -> Read<u64> {
    let f = Fields::new(value);
    f.finish(f.u64(key))
}

/// An object field of a plain object (for records written by this package).
pub fn read_object(value: &JsValue, key: &'static str) -> Read<JsValue> {
    Fields::new(value).object(key).ok_or(Unreadable(key))
}
