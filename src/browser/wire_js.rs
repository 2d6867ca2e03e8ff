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

use std::cell::Cell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::convert::{number, user_metadata as user_metadata_object, JsObject};
use crate::core::resume::SavedUpload;
use crate::core::wire::{
    Asset, AssetError, AssetMethod, AssetStatus, ChunkInfo, ChunkStatus, CompletedChunk,
    CreateMultipartUploadRequest, CreateMultipartUploadResponse, DerivativeStatus, Hls,
    ListAssetsResponse, MetadataValue, PageInfo, PresignedUrl, PresignedUrlsResponse,
    ReportChunksResponse, Thumbnail, UploadHeaders, UploadStatus, UploadStatusResponse,
    UserMetadata,
};

/// Why a value could not be read: the name of the first missing or malformed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

type Read<T> = Result<T, Unreadable>;

/// The largest integer a JS number holds exactly (2^53).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Reads the fields of one parsed JSON object. `null` counts as absent, as the API omits
/// optional fields and may spell an absent one `null`.
///
/// A field that is missing or malformed is remembered (the first one only) and read as a
/// placeholder, and [`Fields::finish`] reports it: a reader is then one straight sequence of
/// reads with one error exit, instead of an early return (and the drops of the fields read so
/// far) after every field, which was most of the readers' code.
struct Fields<'a> {
    value: &'a JsValue,
    unreadable: Cell<Option<&'static str>>,
}

impl<'a> Fields<'a> {
    fn new(value: &'a JsValue) -> Self {
        Fields {
            value,
            unreadable: Cell::new(None),
        }
    }

    /// Remembers `key` as the unreadable field, unless an earlier one was.
    #[inline(never)]
    fn fail(&self, key: &'static str) {
        if self.unreadable.get().is_none() {
            self.unreadable.set(Some(key));
        }
    }

    /// `value` when every field read so far was readable; otherwise the first unreadable one.
    fn finish<T>(&self, value: T) -> Read<T> {
        match self.unreadable.get() {
            None => Ok(value),
            Some(key) => Err(Unreadable(key)),
        }
    }

    /// Keeps `read`'s value, or remembers its unreadable field.
    fn keep<T>(&self, read: Read<T>) -> Option<T> {
        read.map_err(|Unreadable(key)| self.fail(key)).ok()
    }

    #[inline(never)]
    fn get(&self, key: &'static str) -> Option<JsValue> {
        if !self.value.is_object() {
            return None;
        }
        Reflect::get(self.value, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    #[inline(never)]
    fn opt_string(&self, key: &'static str) -> Option<String> {
        let value = self.get(key)?;
        let text = value.as_string();
        if text.is_none() {
            self.fail(key);
        }
        text
    }

    #[inline(never)]
    fn string(&self, key: &'static str) -> String {
        self.opt_string(key).unwrap_or_else(|| {
            self.fail(key);
            String::new()
        })
    }

    #[inline(never)]
    fn opt_number(&self, key: &'static str) -> Option<f64> {
        let value = self.get(key)?;
        let number = value.as_f64();
        if number.is_none() {
            self.fail(key);
        }
        number
    }

    /// A boolean that is `false` when absent.
    fn flag(&self, key: &'static str) -> bool {
        let value = self.get(key).map(|v| v.as_bool());
        if value == Some(None) {
            self.fail(key);
        }
        value.flatten().unwrap_or(false)
    }

    fn number(&self, key: &'static str) -> f64 {
        self.opt_number(key).unwrap_or_else(|| {
            self.fail(key);
            0.0
        })
    }

    /// A non-negative integer no larger than `max`.
    #[inline(never)]
    fn opt_whole(&self, key: &'static str, max: f64) -> Option<u64> {
        let n = self.opt_number(key)?;
        if n >= 0.0 && n <= max && n.fract() == 0.0 {
            Some(n as u64)
        } else {
            self.fail(key);
            None
        }
    }

    /// A non-negative integer no larger than `max`, required.
    #[inline(never)]
    fn whole(&self, key: &'static str, max: f64) -> u64 {
        self.opt_whole(key, max).unwrap_or_else(|| {
            self.fail(key);
            0
        })
    }

    fn u64(&self, key: &'static str) -> u64 {
        self.whole(key, MAX_EXACT)
    }

    fn u32(&self, key: &'static str) -> u32 {
        self.whole(key, f64::from(u32::MAX)) as u32
    }

    /// A `u32` that defaults to 0 when absent (`#[serde(default)]`).
    fn u32_or_zero(&self, key: &'static str) -> u32 {
        self.opt_whole(key, f64::from(u32::MAX)).unwrap_or(0) as u32
    }

    /// The items of an array field; absent reads as empty (`#[serde(default)]`).
    #[inline(never)]
    fn array(&self, key: &'static str) -> Array {
        match self.get(key) {
            Some(v) if Array::is_array(&v) => v.unchecked_into(),
            Some(_) => {
                self.fail(key);
                Array::new()
            }
            None => Array::new(),
        }
    }

    fn list<T>(&self, key: &'static str, read: fn(&JsValue) -> Read<T>) -> Vec<T> {
        let items = self.array(key);
        let mut list = Vec::with_capacity(items.length() as usize);
        for item in items.iter() {
            if let Some(value) = self.keep(read(&item)) {
                list.push(value);
            }
        }
        list
    }

    /// An object field, if present.
    #[inline(never)]
    fn object(&self, key: &'static str) -> Option<JsValue> {
        let value = self.get(key)?;
        if value.is_object() && !Array::is_array(&value) {
            Some(value)
        } else {
            self.fail(key);
            None
        }
    }

    fn opt<T>(&self, key: &'static str, read: fn(&JsValue) -> Read<T>) -> Option<T> {
        self.keep(read(&self.object(key)?))
    }

    /// An enum spelled as a string, read with its core spelling table (`parse`: unknown
    /// spellings are `Unknown`).
    fn spelled<T>(&self, key: &'static str, parse: fn(&str) -> T) -> T {
        parse(&self.string(key))
    }

    /// A string map (`upload_headers`); absent reads as empty.
    fn string_map(&self, key: &'static str) -> UploadHeaders {
        let mut map = UploadHeaders::new();
        if let Some(object) = self.object(key) {
            for (name, value) in entries(&object) {
                match value.as_string() {
                    Some(value) => {
                        map.insert(name, value);
                    }
                    None => self.fail(key),
                }
            }
        }
        map
    }
}

/// The own enumerable `(key, value)` pairs of an object.
fn entries(object: &JsValue) -> impl Iterator<Item = (String, JsValue)> {
    Object::entries(object.unchecked_ref())
        .into_iter()
        .map(|pair| {
            let pair: Array = pair.unchecked_into();
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
}

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
