//! The asset endpoints (`TWELVELABS_API.md` §3): direct and URL creation, list, retrieve, delete.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::{DeleteStatus, UrlMode};
use crate::errors::ApiError;
use crate::params::{
    limits, mime_from_filename, parse_text_bool, validate_filename, validate_user_metadata, Query,
};
use crate::state::{rfc3339, AppState, Asset, AssetContent, AssetMethod, MediaType};

const ASSETS_COLLECTION: &str = "assets";

type Shared = State<Arc<AppState>>;

/// The status of an asset at `now`, as the API spells it.
fn asset_status(asset: &Asset, now: DateTime<Utc>) -> &'static str {
    match (&asset.failed, asset.ready_at) {
        (Some(_), _) => "failed",
        (None, Some(ready_at)) if now >= ready_at => "ready",
        _ => "processing",
    }
}

/// Renders an asset as `AssetDetail` (a superset of `Asset`, also used for create answers).
pub fn asset_json(asset: &Asset, now: DateTime<Utc>, public_url: &str) -> Value {
    let status = asset_status(asset, now);
    let mut body = Map::new();
    body.insert("_id".into(), json!(asset.id));
    body.insert("method".into(), json!(asset.method));
    body.insert("status".into(), json!(status));
    body.insert("filename".into(), json!(asset.filename));
    body.insert("file_type".into(), json!(asset.file_type));
    body.insert("created_at".into(), json!(rfc3339(asset.created_at)));
    if let (Some(size), "ready") = (asset.size, status) {
        body.insert("size".into(), json!(size));
        if asset.media_type != MediaType::Image {
            // No media is decoded: a made-up duration of one second per megabyte.
            body.insert(
                "duration".into(),
                json!((size as f64 / 100_000.0).round() / 10.0),
            );
        }
        body.insert(
            "technical_metadata".into(),
            json!({"file_size_bytes": size, "file_mime_type": asset.file_type}),
        );
    }
    if let Some(metadata) = &asset.user_metadata {
        body.insert("user_metadata".into(), Value::Object(metadata.clone()));
    }
    // HLS and thumbnails wait for the bytes, then process alongside the asset (the bytes count
    // as there once every part is reported, while the emulator still assembles them).
    let sub_status = match status {
        "failed" => "error",
        "ready" => "ready",
        _ if asset.ready_at.is_none() && asset.content != AssetContent::Assembling => "pending",
        _ => "processing",
    };
    if asset.hls {
        let mut hls = json!({"status": sub_status});
        if sub_status == "ready" {
            hls["manifest_url"] = json!(format!(
                "{public_url}/_emulator/assets/{}/hls/manifest.m3u8",
                asset.id
            ));
        }
        body.insert("hls".into(), hls);
    }
    if asset.thumbnail {
        let mut thumbnail = json!({"status": sub_status});
        if sub_status == "ready" {
            thumbnail["representative_url"] = json!(format!(
                "{public_url}/_emulator/assets/{}/thumbnail.jpg",
                asset.id
            ));
        }
        body.insert("thumbnail".into(), thumbnail);
    }
    if let Some(message) = &asset.failed {
        body.insert("error".into(), json!({"message": message}));
    }
    Value::Object(body)
}

/// Media type of a file from its MIME type, else its name; unknown counts as video.
fn media_type_of(mime: Option<&str>, filename: Option<&str>) -> MediaType {
    let guessed = mime
        .filter(|mime| !mime.is_empty() && *mime != "application/octet-stream")
        .or_else(|| filename.and_then(mime_from_filename))
        .unwrap_or("");
    if guessed.starts_with("image/") {
        MediaType::Image
    } else if guessed.starts_with("audio/") {
        MediaType::Audio
    } else {
        MediaType::Video
    }
}

/// A file part streamed to disk.
struct ReceivedFile {
    path: PathBuf,
    size: u64,
    sha256: String,
    mime: Option<String>,
    original_name: Option<String>,
    media_type: MediaType,
}

/// Removes a received file unless it became an asset.
struct FileGuard(Option<PathBuf>);

impl Drop for FileGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `POST /assets` (multipart/form-data): `method=direct` with `file`, or `method=url` with `url`.
pub async fn create_asset(State(state): Shared, request: Request) -> Result<Response, ApiError> {
    let mut form = Multipart::from_request(request, &()).await.map_err(|_| {
        ApiError::parameter_invalid("body", "The request must be `multipart/form-data`.")
    })?;
    let asset_id = state.new_id();
    let mut fields: Map<String, Value> = Map::new();
    let mut received: Option<ReceivedFile> = None;
    let mut guard = FileGuard(None);
    let form_error = |error: axum::extract::multipart::MultipartError| {
        ApiError::parameter_invalid(
            "body",
            &format!("The multipart body is malformed: {error}."),
        )
    };
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let text = field.text().await.map_err(form_error)?;
            fields.insert(name, Value::String(text));
            continue;
        }
        let mime = field.content_type().map(str::to_owned);
        let original_name = field.file_name().map(str::to_owned);
        let media_type = media_type_of(mime.as_deref(), original_name.as_deref());
        let limit = match media_type {
            MediaType::Image => limits::IMAGE_MAX,
            MediaType::Video | MediaType::Audio => limits::DIRECT_MEDIA_MAX,
        };
        let path = state.asset_path(&asset_id);
        guard.0 = Some(path.clone());
        let mut file = tokio::io::BufWriter::new(
            tokio::fs::File::create(&path)
                .await
                .map_err(|e| ApiError::internal("store the file", e))?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(bytes) = field.chunk().await.map_err(form_error)? {
            size += bytes.len() as u64;
            if size > limit {
                return Err(ApiError::parameter_invalid(
                    "file",
                    &format!("The file is larger than the {limit}-byte limit for direct uploads of this type."),
                ));
            }
            hasher.update(&bytes);
            file.write_all(&bytes)
                .await
                .map_err(|e| ApiError::internal("store the file", e))?;
        }
        file.flush()
            .await
            .map_err(|e| ApiError::internal("store the file", e))?;
        received = Some(ReceivedFile {
            path,
            size,
            sha256: hex::encode(hasher.finalize()),
            mime,
            original_name,
            media_type,
        });
    }

    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let method = match text("method") {
        None => return Err(ApiError::parameter_not_provided("method")),
        Some("direct") => AssetMethod::Direct,
        Some("url") => AssetMethod::Url,
        Some(_) => {
            return Err(ApiError::parameter_invalid(
                "method",
                "It must be `direct` or `url`.",
            ))
        }
    };
    let enable_hls = text("enable_hls")
        .map(|t| parse_text_bool("enable_hls", t))
        .transpose()?;
    let enable_thumbnail = text("enable_thumbnail")
        .map(|t| parse_text_bool("enable_thumbnail", t))
        .transpose()?;
    let user_metadata = match text("user_metadata") {
        None => None,
        Some(encoded) => {
            let value: Value = serde_json::from_str(encoded).map_err(|_| {
                ApiError::parameter_invalid("user_metadata", "It must be a JSON-encoded object.")
            })?;
            Some(validate_user_metadata(&value)?)
        }
    };
    let now = state.clock.now();
    let processing = chrono::Duration::milliseconds(state.faults().processing_ms as i64);
    let mut asset = Asset {
        id: asset_id.clone(),
        method,
        media_type: MediaType::Video,
        filename: String::new(),
        file_type: String::new(),
        created_at: now,
        sequence: state.next_sequence(),
        size: None,
        ready_at: None,
        failed: None,
        content: AssetContent::Pending,
        hls: enable_hls.unwrap_or(false),
        thumbnail: enable_thumbnail.unwrap_or(false),
        user_metadata,
        source_url: None,
        referenced: false,
    };
    let mut fetch_url = None;
    match method {
        AssetMethod::Direct => {
            let Some(file) = received else {
                return Err(ApiError::parameter_not_provided("file"));
            };
            asset.filename = text("filename")
                .map(str::to_owned)
                .or(file.original_name.clone())
                .unwrap_or_else(|| "upload".to_owned());
            asset.file_type = file_type(file.mime.as_deref(), &asset.filename);
            asset.media_type = file.media_type;
            asset.size = Some(file.size);
            asset.ready_at = Some(now + processing);
            asset.content = AssetContent::Stored {
                path: file.path,
                sha256: file.sha256,
            };
        }
        AssetMethod::Url => {
            let Some(url) = text("url") else {
                return Err(ApiError::parameter_not_provided("url"));
            };
            let parsed = reqwest::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| ApiError::parameter_invalid("url", "It must be an http(s) URL."))?;
            let last_segment = parsed
                .path_segments()
                .and_then(|mut segments| segments.next_back().map(str::to_owned))
                .filter(|segment| !segment.is_empty());
            asset.filename = text("filename")
                .map(str::to_owned)
                .or(last_segment)
                .unwrap_or_else(|| "upload".to_owned());
            asset.file_type = file_type(None, &asset.filename);
            asset.media_type = media_type_of(None, Some(&asset.filename));
            asset.source_url = Some(url.to_owned());
            match state.config.url_mode {
                UrlMode::Record => {
                    asset.content = AssetContent::Recorded;
                    asset.ready_at = Some(now + processing);
                }
                UrlMode::FetchLoopback => {
                    if !is_loopback(&parsed) {
                        return Err(ApiError::parameter_invalid(
                            "url",
                            "The emulator only fetches loopback URLs (start it with `--url-mode record` to accept any URL without fetching it).",
                        ));
                    }
                    fetch_url = Some(parsed);
                }
            }
            // A file sent along with `method=url` is ignored (and its bytes discarded).
            if let Some(file) = received {
                let _ = tokio::fs::remove_file(file.path).await;
            }
        }
        AssetMethod::Multipart => unreachable!("`method` is only ever direct or url here"),
    }
    validate_filename(&asset.filename)?;
    if asset.media_type == MediaType::Image {
        asset.hls = false;
    }
    guard.0 = None;
    let body = asset_json(&asset, now, &state.public_url);
    state
        .assets
        .write()
        .expect("assets lock")
        .insert(asset_id.clone(), asset);
    if let Some(url) = fetch_url {
        tokio::spawn(fetch_url_asset(state.clone(), asset_id, url));
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn file_type(mime: Option<&str>, filename: &str) -> String {
    mime.filter(|mime| !mime.is_empty() && *mime != "application/octet-stream")
        .or_else(|| mime_from_filename(filename))
        .unwrap_or("application/octet-stream")
        .to_owned()
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Downloads a `method=url` asset in the background, as the real API processes it async.
async fn fetch_url_asset(state: Arc<AppState>, asset_id: String, url: reqwest::Url) {
    let path = state.asset_path(&asset_id);
    let outcome = download(&state, &asset_id, &url, &path).await;
    let processing = chrono::Duration::milliseconds(state.faults().processing_ms as i64);
    let mut assets = state.assets.write().expect("assets lock");
    let Some(asset) = assets.get_mut(&asset_id) else {
        let _ = std::fs::remove_file(&path);
        return;
    };
    match outcome {
        Ok((size, sha256)) => {
            asset.size = Some(size);
            asset.content = AssetContent::Stored { path, sha256 };
            asset.ready_at = Some(state.clock.now() + processing);
        }
        Err(message) => {
            let _ = std::fs::remove_file(&path);
            asset.failed = Some(message);
        }
    }
}

async fn download(
    state: &AppState,
    asset_id: &str,
    url: &reqwest::Url,
    path: &std::path::Path,
) -> Result<(u64, String), String> {
    let limit = {
        let assets = state.assets.read().expect("assets lock");
        match assets.get(asset_id).map(|asset| asset.media_type) {
            Some(MediaType::Image) => limits::IMAGE_MAX,
            _ => limits::URL_MEDIA_MAX,
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|error| format!("Could not build an HTTP client: {error}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|error| format!("Could not fetch the URL: {error}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "Fetching the URL answered HTTP {}.",
            response.status().as_u16()
        ));
    }
    let mut file = tokio::io::BufWriter::new(
        tokio::fs::File::create(path)
            .await
            .map_err(|error| error.to_string())?,
    );
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|error| format!("The download broke off: {error}"))?;
        size += bytes.len() as u64;
        if size > limit {
            return Err(format!(
                "The file at the URL is larger than the {limit}-byte limit."
            ));
        }
        hasher.update(&bytes);
        file.write_all(&bytes)
            .await
            .map_err(|error| error.to_string())?;
    }
    file.flush().await.map_err(|error| error.to_string())?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// `GET /assets`: newest first, filters `asset_ids`, `asset_types`, `filename`, paginated.
pub async fn list_assets(
    State(state): Shared,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let pagination = query.pagination()?;
    let ids = query.all("asset_ids");
    let mut types = Vec::new();
    for name in query.all("asset_types") {
        types.push(MediaType::parse(&name).ok_or_else(|| {
            ApiError::parameter_invalid(
                "asset_types",
                "Each value must be `image`, `video` or `audio`.",
            )
        })?);
    }
    let filename = query.one("filename").map(str::to_lowercase);
    let now = state.clock.now();
    let assets = state.assets.read().expect("assets lock");
    let mut matching: Vec<&Asset> = assets
        .values()
        .filter(|asset| ids.is_empty() || ids.contains(&asset.id))
        .filter(|asset| types.is_empty() || types.contains(&asset.media_type))
        .filter(|asset| {
            filename
                .as_ref()
                .is_none_or(|needle| asset.filename.to_lowercase().contains(needle))
        })
        .collect();
    matching.sort_by_key(|asset| std::cmp::Reverse(asset.sequence));
    let (range, page_info) = pagination.slice(matching.len() as u64);
    let data: Vec<Value> = matching[range]
        .iter()
        .map(|asset| asset_json(asset, now, &state.public_url))
        .collect();
    Ok(Json(json!({"data": data, "page_info": page_info})).into_response())
}

/// `GET /assets/{asset_id}`.
pub async fn retrieve_asset(
    State(state): Shared,
    Path(asset_id): Path<String>,
) -> Result<Response, ApiError> {
    let assets = state.assets.read().expect("assets lock");
    let asset = assets
        .get(&asset_id)
        .ok_or_else(|| ApiError::resource_not_exist(&asset_id, ASSETS_COLLECTION))?;
    Ok(Json(asset_json(asset, state.clock.now(), &state.public_url)).into_response())
}

/// `DELETE /assets/{asset_id}?force=`: 409 while referenced unless `force=true`.
pub async fn delete_asset(
    State(state): Shared,
    Path(asset_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let force = match Query::parse(raw.as_deref()).one("force") {
        None => false,
        Some(text) => parse_text_bool("force", text)?,
    };
    let removed = {
        let mut assets = state.assets.write().expect("assets lock");
        let asset = assets
            .get(&asset_id)
            .ok_or_else(|| ApiError::resource_not_exist(&asset_id, ASSETS_COLLECTION))?;
        if asset.referenced && !force {
            return Err(ApiError::asset_in_use(&asset_id));
        }
        assets.remove(&asset_id).expect("checked above")
    };
    if let AssetContent::Stored { path, .. } = removed.content {
        let _ = tokio::fs::remove_file(path).await;
    }
    Ok(match state.config.delete_status {
        DeleteStatus::NoContent => StatusCode::NO_CONTENT.into_response(),
        DeleteStatus::OkEmptyObject => Json(json!({})).into_response(),
    })
}
