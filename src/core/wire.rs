//! Serde types for the TwelveLabs v1.3 upload API.
//!
//! One set of types serves the emulator (which emits them), the Worker (which re-serves them with
//! policy) and the browser client (which consumes them). They follow `TWELVELABS_API.md` §3–§5:
//! snake_case on the wire, the asset id spelled `_id`, optional fields omitted rather than `null`.
//!
//! Compatibility rules, because the API changed several times in 2026:
//! * unknown response fields are ignored (serde's default) and unknown enum values in responses
//!   decode to an `Unknown` variant instead of failing;
//! * request types accept the union of documented fields;
//! * timestamps stay RFC 3339 strings on the wire; [`timestamp`] converts them when a decision
//!   needs numbers.

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, ErrorCode};
use crate::core::sorted_map::SortedMap;

/// Documented limits of the upload API.
pub mod limits {
    /// The longest grant or upload token, in bytes: far above any legitimate token.
    pub const TOKEN_MAX_LEN: usize = 4096;
    /// Filenames are 1–255 characters.
    pub const FILENAME_MAX_CHARS: usize = 255;
    /// At most this many URLs per presigned-URL request and chunks per report batch.
    pub const MAX_BATCH: u32 = 50;
    /// The longest chunk `proof` (its storage ETag) a report may carry: an S3 ETag is 32–40
    /// characters (`-N` added for a multipart object); anything far longer is not one.
    pub const PROOF_MAX_LEN: usize = 256;
    /// Default and maximum `page_limit` for paginated endpoints.
    pub const PAGE_LIMIT_DEFAULT: u32 = 10;
    /// Maximum `page_limit`.
    pub const PAGE_LIMIT_MAX: u32 = 50;
    /// Multipart uploads of video or audio: up to 10 GB (2026-07 contract).
    pub const MULTIPART_MEDIA_MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;
    /// Images, by any method: up to 32 MB (2026-07 contract).
    pub const IMAGE_MAX_BYTES: u64 = 32 * 1024 * 1024;
    /// Direct (`multipart/form-data`) uploads of local video or audio: up to 200 MB.
    pub const DIRECT_MEDIA_MAX_BYTES: u64 = 200 * 1024 * 1024;
    /// Uploads by URL of video or audio: up to 4 GB.
    pub const URL_MEDIA_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;
    /// Multipart sessions live 24 hours.
    pub const SESSION_TTL_SECS: u64 = 24 * 60 * 60;
    /// The chunk size TwelveLabs' examples use (5 MiB).
    pub const DEFAULT_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
}

/// The error body of every endpoint in this area: `{code, message[, docs_url]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code such as `parameter_invalid` (upstream) or one of ours (`unauthorized`, …).
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// A link to the documentation of the code (present in most upstream snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// The Worker's answer to a 4xx from TwelveLabs: TwelveLabs' own `code` (`upload_expired`,
    /// `upload_completed`, …), beside ours in `code`. A client reads it where TwelveLabs' code
    /// decides (see `core::retry::session_no_longer_active`), so that it behaves the same
    /// through the Worker as against the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_code: Option<String>,
}

impl ErrorBody {
    /// An error body with our stable code and a message.
    pub fn from_error(error: &Error) -> Self {
        ErrorBody {
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
            docs_url: None,
            upstream_code: None,
        }
    }
}

/// Pagination metadata of list responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageInfo {
    /// Items per page.
    pub limit_per_page: u32,
    /// The page number (1-based).
    pub page: u32,
    /// Number of pages.
    pub total_page: u32,
    /// Number of items across pages.
    pub total_results: u64,
}

impl PageInfo {
    /// Page metadata for `total_results` items at `page` with `limit_per_page` items each.
    pub fn for_page(page: u32, limit_per_page: u32, total_results: u64) -> Self {
        let limit = limit_per_page.max(1) as u64;
        PageInfo {
            limit_per_page,
            page,
            total_page: total_results.div_ceil(limit) as u32,
            total_results,
        }
    }
}

/// The kind of media an asset holds (`type` on multipart create, `asset_types` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// Video.
    Video,
    /// Audio.
    Audio,
    /// Still image.
    Image,
}

impl MediaType {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::Image => "image",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<MediaType> {
        match s {
            "video" => Some(MediaType::Video),
            "audio" => Some(MediaType::Audio),
            "image" => Some(MediaType::Image),
            _ => None,
        }
    }

    /// Infers the media type from a MIME type such as `video/mp4`.
    pub fn from_mime(mime: &str) -> Option<MediaType> {
        let top = mime.split('/').next()?.trim().to_ascii_lowercase();
        MediaType::parse(&top)
    }

    /// The largest multipart upload the API accepts for this type.
    pub const fn multipart_max_bytes(self) -> u64 {
        match self {
            MediaType::Video | MediaType::Audio => limits::MULTIPART_MEDIA_MAX_BYTES,
            MediaType::Image => limits::IMAGE_MAX_BYTES,
        }
    }

    /// The largest direct (form) upload the API accepts for this type.
    pub const fn direct_max_bytes(self) -> u64 {
        match self {
            MediaType::Video | MediaType::Audio => limits::DIRECT_MEDIA_MAX_BYTES,
            MediaType::Image => limits::IMAGE_MAX_BYTES,
        }
    }
}

/// User metadata: string keys, scalar values (string, number, bool).
pub type UserMetadata = SortedMap<String, MetadataValue>;

/// One user-metadata value. The API stores only strings, numbers (integer or float) and
/// booleans, so only those are representable: a nested value is refused when it is read.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// A string.
    String(String),
    /// A number, as JSON holds it (exact for every integer JSON can carry).
    Number(serde_json::Number),
    /// A boolean.
    Bool(bool),
}

impl MetadataValue {
    /// The value `json` holds, if it is a string, a number or a boolean.
    pub fn from_json(json: serde_json::Value) -> Option<MetadataValue> {
        match json {
            serde_json::Value::String(text) => Some(MetadataValue::String(text)),
            serde_json::Value::Number(number) => Some(MetadataValue::Number(number)),
            serde_json::Value::Bool(flag) => Some(MetadataValue::Bool(flag)),
            _ => None,
        }
    }
}

impl From<&str> for MetadataValue {
    fn from(text: &str) -> MetadataValue {
        MetadataValue::String(text.to_owned())
    }
}

impl Serialize for MetadataValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MetadataValue::String(text) => serializer.serialize_str(text),
            MetadataValue::Number(number) => number.serialize(serializer),
            MetadataValue::Bool(flag) => serializer.serialize_bool(*flag),
        }
    }
}

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        MetadataValue::from_json(serde_json::Value::deserialize(deserializer)?).ok_or_else(|| {
            serde::de::Error::custom("`user_metadata` values must be strings, numbers or booleans")
        })
    }
}

/// Reads user metadata from parsed JSON: an object whose values are strings, numbers or
/// booleans, with no empty key. The error names the first key at fault.
pub fn user_metadata_from_json(value: serde_json::Value) -> Result<UserMetadata, Error> {
    let serde_json::Value::Object(object) = value else {
        return Err(Error::invalid("`user_metadata` must be a JSON object."));
    };
    let mut metadata = UserMetadata::new();
    for (key, item) in object {
        let Some(item) = MetadataValue::from_json(item) else {
            return Err(Error::invalid(format!(
                "`user_metadata.{key}` must be a string, number or boolean."
            )));
        };
        metadata.insert(key, item);
    }
    validate_user_metadata(&metadata)?;
    Ok(metadata)
}

/// `user_metadata` in a request body, read by [`user_metadata_from_json`] (`null` is absent).
fn deserialize_user_metadata<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<UserMetadata>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        value => user_metadata_from_json(value)
            .map(Some)
            .map_err(|error| serde::de::Error::custom(error.message)),
    }
}

/// Headers to send on every chunk PUT, as returned at session creation.
pub type UploadHeaders = SortedMap<String, String>;

// ───────────────────────────── multipart uploads ─────────────────────────────

/// `POST /assets/multipart-uploads` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateMultipartUploadRequest {
    /// The file name, 1–255 characters.
    pub filename: String,
    /// The media type. Required since 2025-12; older clients omitted it (treated as video).
    #[serde(rename = "type", default = "default_media_type")]
    pub media_type: MediaType,
    /// The file size in bytes.
    pub total_size: u64,
    /// Ask for an HLS rendition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hls: Option<bool>,
    /// Ask for a thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_thumbnail: Option<bool>,
    /// User metadata stored with the asset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_user_metadata"
    )]
    pub user_metadata: Option<UserMetadata>,
}

fn default_media_type() -> MediaType {
    MediaType::Video
}

/// One presigned chunk URL (`PresignedURLChunk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedUrl {
    /// 1-based chunk index.
    pub chunk_index: u32,
    /// The URL to `PUT` the chunk's bytes to.
    pub url: String,
    /// When the URL stops working (RFC 3339, server clock).
    pub expires_at: String,
}

/// `POST /assets/multipart-uploads` 201 response (`CreateAssetUploadResponse`), plus the
/// `upload_token` our Worker adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMultipartUploadResponse {
    /// The session id (valid 24 h).
    pub upload_id: String,
    /// The reserved asset id.
    pub asset_id: String,
    /// Initial URLs; may not cover every chunk.
    #[serde(default)]
    pub upload_urls: Vec<PresignedUrl>,
    /// Headers to send with every chunk PUT.
    #[serde(default)]
    pub upload_headers: UploadHeaders,
    /// Bytes per chunk (all but the last).
    pub chunk_size: u64,
    /// Number of chunks: `ceil(total_size / chunk_size)`.
    pub total_chunks: u32,
    /// When the session expires (RFC 3339, server clock).
    pub expires_at: String,
    /// Added by our Worker (absent upstream): the token that authorises the upload-scoped calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_token: Option<String>,
}

/// `POST /assets/multipart-uploads/{id}/presigned-urls` request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedUrlsRequest {
    /// First chunk index (≥ 1).
    pub start: u32,
    /// Number of URLs (1–50).
    pub count: u32,
}

/// `POST /assets/multipart-uploads/{id}/presigned-urls` 200 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedUrlsResponse {
    /// The session id.
    pub upload_id: String,
    /// Echoes `start`.
    pub start_index: u32,
    /// Number of URLs returned.
    pub count: u32,
    /// The URLs.
    pub upload_urls: Vec<PresignedUrl>,
    /// When the URLs were generated (server clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// When the URLs expire (server clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The only documented proof type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofType {
    /// The chunk PUT's `ETag`, quotes stripped.
    Etag,
}

/// One uploaded chunk in a report batch (`CompletedChunk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedChunk {
    /// 1-based chunk index.
    pub chunk_index: u32,
    /// The `ETag` returned by the PUT, without surrounding quotes.
    pub proof: String,
    /// Always `etag`.
    pub proof_type: ProofType,
    /// Bytes in this chunk.
    pub chunk_size: u64,
}

/// `POST /assets/multipart-uploads/{id}` request body (report chunks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportChunksRequest {
    /// 1–50 uploaded chunks, in any order.
    pub completed_chunks: Vec<CompletedChunk>,
}

/// `POST /assets/multipart-uploads/{id}` 200 response (`ReportChunkBatchResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportChunksResponse {
    /// Present only once every chunk is reported and the upload is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The asset id.
    #[serde(default)]
    pub asset_id: String,
    /// Chunks accepted by this request (request count − duplicates).
    #[serde(default)]
    pub processed_chunks: u32,
    /// Chunks in this request that were already reported (harmless).
    #[serde(default)]
    pub duplicate_chunks: u32,
    /// Unique chunks reported so far.
    #[serde(default)]
    pub total_completed: u32,
}

impl ReportChunksResponse {
    /// Whether this answer says the session is complete (TWELVELABS_API.md §4.4): it carries the
    /// asset's `url`, or every chunk of the session (`total_chunks`) is reported.
    pub fn completes(&self, total_chunks: u32) -> bool {
        self.completion_url().is_some() || self.total_completed >= total_chunks
    }

    /// The asset's `url`, when the answer carries one (an empty one is none).
    pub fn completion_url(&self) -> Option<&str> {
        self.url.as_deref().filter(|url| !url.is_empty())
    }
}

/// `as_str` and `parse` for a wire enum with an `Unknown` variant, from one table of spellings
/// (the same as serde's `snake_case`, which a test checks). Written out rather than through serde
/// so that the browser reads and writes them without serde's machinery in its wasm.
macro_rules! wire_spellings {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The wire spelling; `"unknown"` for [`Self::Unknown`].
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)+
                    $ty::Unknown => "unknown",
                }
            }

            /// Reads a wire spelling; one this client does not know is [`Self::Unknown`].
            pub fn parse(text: &str) -> $ty {
                match text {
                    $($text => $ty::$variant,)+
                    _ => $ty::Unknown,
                }
            }
        }
    };
}

wire_spellings!(UploadStatus {
    Active => "active",
    Completed => "completed",
    Failed => "failed",
    Expired => "expired",
});
wire_spellings!(ChunkStatus {
    Pending => "pending",
    Completed => "completed",
    Failed => "failed",
});
wire_spellings!(AssetMethod {
    Direct => "direct",
    Url => "url",
    Multipart => "multipart",
});
wire_spellings!(AssetStatus {
    Processing => "processing",
    Ready => "ready",
    Failed => "failed",
    Waiting => "waiting",
});
wire_spellings!(DerivativeStatus {
    Pending => "pending",
    Processing => "processing",
    Ready => "ready",
    Error => "error",
});

/// Status of a multipart session (`MultipartUploadStatusType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Accepting chunks.
    Active,
    /// Every chunk reported; the asset is being finalised.
    Completed,
    /// The session failed; start a new one.
    Failed,
    /// Past its 24 h lifetime.
    Expired,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// Status of one chunk (`ChunkInfoStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkStatus {
    /// Not yet reported (may be uploaded).
    Pending,
    /// Uploaded and reported with a valid proof.
    Completed,
    /// Must be uploaded again (see `error`).
    Failed,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// One chunk in a status response (`ChunkInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    /// 1-based chunk index.
    pub index: u32,
    /// The chunk's status.
    pub status: ChunkStatus,
    /// When the chunk was completed (absent for pending/failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Why the chunk failed (only when `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /assets/multipart-uploads/{id}` 200 response (`GetUploadStatusResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatusResponse {
    /// The session id.
    pub upload_id: String,
    /// The session status.
    pub status: UploadStatus,
    /// One page of per-chunk statuses (every chunk is listed, pending ones too).
    #[serde(default)]
    pub uploaded_chunks: Vec<ChunkInfo>,
    /// Chunks uploaded and reported.
    #[serde(default)]
    pub chunks_completed: u32,
    /// Chunks that must be uploaded again.
    #[serde(default)]
    pub chunks_failed: u32,
    /// Chunks neither completed nor failed.
    #[serde(default)]
    pub chunks_pending: u32,
    /// Pagination of `uploaded_chunks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_info: Option<PageInfo>,
    /// File size from create.
    #[serde(default)]
    pub total_size: u64,
    /// Bytes of completed chunks.
    #[serde(default)]
    pub uploaded_size: u64,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// One entry of `GET /assets/multipart-uploads` (`IncompleteUploadSummary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteUploadSummary {
    /// The session id.
    pub upload_id: String,
    /// The session status.
    pub status: UploadStatus,
    /// File size.
    pub total_size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Number of chunks.
    pub total_chunks: u32,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Expiry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `GET /assets/multipart-uploads` 200 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListIncompleteUploadsResponse {
    /// One page of active sessions.
    pub data: Vec<IncompleteUploadSummary>,
    /// Pagination.
    pub page_info: PageInfo,
}

// ─────────────────────────────────── assets ──────────────────────────────────

/// How an asset was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetMethod {
    /// `multipart/form-data` upload.
    Direct,
    /// Fetched from a URL.
    Url,
    /// Multipart session.
    Multipart,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// Processing status of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// Being processed (or, for multipart, the upload has not completed).
    Processing,
    /// Usable.
    Ready,
    /// Processing failed (see `error`).
    Failed,
    /// Older contract's spelling of "not yet processed".
    Waiting,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// Status of an HLS rendition or thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivativeStatus {
    /// Queued.
    Pending,
    /// Being made.
    Processing,
    /// Available.
    Ready,
    /// Failed.
    Error,
    /// A value this client does not know.
    #[serde(other)]
    Unknown,
}

/// The HLS sub-object of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hls {
    /// The manifest, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
    /// Status.
    pub status: DerivativeStatus,
}

/// The thumbnail sub-object of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The thumbnail, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative_url: Option<String>,
    /// Status.
    pub status: DerivativeStatus,
}

/// Why an asset failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetError {
    /// A message (its text is not a contract).
    pub message: String,
}

/// An asset: `Asset` (create response) and `AssetDetail` (retrieve/list) in one type, the detail
/// fields optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// The asset id (`_id` on the wire).
    #[serde(rename = "_id")]
    pub id: String,
    /// How it was created.
    pub method: AssetMethod,
    /// Processing status.
    pub status: AssetStatus,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// MIME type, e.g. `video/mp4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Size in bytes (absent while processing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Duration in seconds (video/audio, absent while processing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// User metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<UserMetadata>,
    /// HLS status, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls: Option<Hls>,
    /// Thumbnail status, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Thumbnail>,
    /// Why processing failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AssetError>,
    // `technical_metadata`, `source` and fields added later are tolerated and not kept: no
    // client shows them, and a JSON tree type here costs the browser package its clone and drop.
}

/// `GET /assets` 200 response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListAssetsResponse {
    /// One page of assets, newest first.
    pub data: Vec<Asset>,
    /// Pagination.
    pub page_info: PageInfo,
}

// ─────────────────────── request forms and query strings ───────────────────────

/// `method` of `POST /assets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateAssetMethod {
    /// A local file in the `file` part.
    Direct,
    /// A public URL in the `url` field, fetched by the platform.
    Url,
}

impl CreateAssetMethod {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CreateAssetMethod::Direct => "direct",
            CreateAssetMethod::Url => "url",
        }
    }
}

/// The text fields of `POST /assets` (always `multipart/form-data`); for `direct` the file
/// travels beside them as the `file` part.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateAssetFields {
    /// `direct` or `url`.
    pub method: CreateAssetMethod,
    /// The source URL (`method = url` only).
    pub url: Option<String>,
    /// The asset's filename; derived from the file or URL when absent.
    pub filename: Option<String>,
    /// Ask for an HLS rendition (video/audio).
    pub enable_hls: Option<bool>,
    /// Ask for a thumbnail.
    pub enable_thumbnail: Option<bool>,
    /// User metadata; sent as a JSON-encoded string field.
    pub user_metadata: Option<UserMetadata>,
}

impl CreateAssetFields {
    /// The fields in wire encoding, in a stable order: booleans as `true`/`false`,
    /// `user_metadata` JSON-encoded; absent options are omitted (never sent empty).
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        // A map of JSON values always serialises.
        self.form_fields_with(|metadata| {
            serde_json::to_string(metadata).unwrap_or_else(|_| "{}".to_owned())
        })
    }

    /// [`CreateAssetFields::form_fields`], with `user_metadata` encoded to JSON by
    /// `encode_metadata` (the browser uses the runtime's `JSON.stringify`, which costs no wasm).
    pub fn form_fields_with(
        &self,
        encode_metadata: impl FnOnce(&UserMetadata) -> String,
    ) -> Vec<(&'static str, String)> {
        let flag = |value: bool| flag_text(value).to_owned();
        let mut fields = vec![("method", self.method.as_str().to_owned())];
        if let Some(url) = &self.url {
            fields.push(("url", url.clone()));
        }
        if let Some(filename) = &self.filename {
            fields.push(("filename", filename.clone()));
        }
        if let Some(value) = self.enable_hls {
            fields.push(("enable_hls", flag(value)));
        }
        if let Some(value) = self.enable_thumbnail {
            fields.push(("enable_thumbnail", flag(value)));
        }
        if let Some(metadata) = &self.user_metadata {
            fields.push(("user_metadata", encode_metadata(metadata)));
        }
        fields
    }
}

/// Pagination query of `GET /assets/multipart-uploads` and `GET /assets/multipart-uploads/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageQuery {
    /// 1-based page (server default 1).
    pub page: Option<u32>,
    /// Items per page, 1–50 (server default 10).
    pub page_limit: Option<u32>,
}

impl PageQuery {
    /// The query pairs; absent values are omitted.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(page) = self.page {
            pairs.push(("page", page.to_string()));
        }
        if let Some(limit) = self.page_limit {
            pairs.push(("page_limit", limit.to_string()));
        }
        pairs
    }

    /// Checks the values that are present against the documented limits.
    pub fn validate(&self) -> Result<(), Error> {
        validate_page(
            self.page.unwrap_or(1),
            self.page_limit.unwrap_or(limits::PAGE_LIMIT_DEFAULT),
        )
    }
}

/// Query of `GET /assets`. Arrays travel as repeated keys (`asset_ids=a&asset_ids=b`). The
/// one model of this query: the browser client builds it, and the Worker parses and checks a
/// client's (`ListAssetsQuery::parse`, Worker builds) and builds upstream's from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAssetsQuery {
    /// 1-based page.
    pub page: u32,
    /// Items per page, 1–50.
    pub page_limit: u32,
    /// Only these asset ids.
    pub asset_ids: Vec<String>,
    /// Only these media types.
    pub asset_types: Vec<MediaType>,
    /// Case-insensitive substring of the filename.
    pub filename: Option<String>,
}

impl Default for ListAssetsQuery {
    /// The first page at the server's default size, unfiltered.
    fn default() -> Self {
        ListAssetsQuery {
            page: 1,
            page_limit: limits::PAGE_LIMIT_DEFAULT,
            asset_ids: Vec::new(),
            asset_types: Vec::new(),
            filename: None,
        }
    }
}

impl ListAssetsQuery {
    /// The query pairs, arrays as repeated keys.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let page = PageQuery {
            page: Some(self.page),
            page_limit: Some(self.page_limit),
        };
        let mut pairs = page.to_query_pairs();
        pairs.extend(self.asset_ids.iter().map(|id| ("asset_ids", id.clone())));
        pairs.extend(
            self.asset_types
                .iter()
                .map(|t| ("asset_types", t.as_str().to_owned())),
        );
        if let Some(filename) = &self.filename {
            pairs.push(("filename", filename.clone()));
        }
        pairs
    }
}

/// Whether `text` can be sent as `Authorization: Bearer <text>`: RFC 6750's `b64token`, as every
/// grant and upload token is, of at most [`limits::TOKEN_MAX_LEN`] bytes.
pub fn is_bearer_token(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    !body.is_empty()
        && text.len() <= limits::TOKEN_MAX_LEN
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// A boolean parameter (a form field such as `enable_hls`, the `force` query): `true` or
/// `false` in any case (other languages' encoders send `True`), anything else `None`. The one
/// rule the Worker reads both with; it sends them on as [`flag_text`] spells them.
pub fn parse_flag(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// How the API spells a boolean parameter.
pub const fn flag_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// Query of `DELETE /assets/{asset_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeleteAssetQuery {
    /// Delete even if indexed assets reference it (otherwise 409).
    pub force: bool,
}

impl DeleteAssetQuery {
    /// Reads the `force` parameter as a caller sent it: absent, or a flag ([`parse_flag`]).
    pub fn parse(force: Option<&str>) -> Result<DeleteAssetQuery, Error> {
        match force.map(parse_flag) {
            None => Ok(DeleteAssetQuery { force: false }),
            Some(Some(force)) => Ok(DeleteAssetQuery { force }),
            Some(None) => Err(Error::invalid(
                "The `force` parameter must be true or false.",
            )),
        }
    }

    /// The path's query: `?force=true` only when set (the server default is `false`).
    pub const fn query_suffix(self) -> &'static str {
        if self.force {
            "?force=true"
        } else {
            ""
        }
    }
}

/// Encodes query pairs as `k=v&k=v`, percent-encoding everything but RFC 3986 unreserved
/// characters. Empty input gives an empty string (no `?`).
///
/// By hand rather than with `url::form_urlencoded` (which the crate has): the serializer made the
/// browser's package 918 B larger gzipped (measured 2026-12-07, 102,256 → 103,174 B).
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    fn encode(text: &str, out: &mut String) {
        // By hand rather than `format!("%{byte:02X}")`: no formatting machinery in the wasm.
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
        }
    }
    let mut query = String::new();
    for (position, (key, value)) in pairs.iter().enumerate() {
        if position > 0 {
            query.push('&');
        }
        encode(key, &mut query);
        query.push('=');
        encode(value, &mut query);
    }
    query
}

// ───────────────────────────────── validation ────────────────────────────────

/// Checks a filename: 1–255 characters, no control characters.
pub fn validate_filename(filename: &str) -> Result<(), Error> {
    // Counts what `chars().count()` counts (UTF-8 lead bytes) without core's unrolled counter,
    // 0.8 KB of the browser's wasm.
    let chars = filename.bytes().filter(|b| b & 0xC0 != 0x80).count();
    if chars == 0 {
        return Err(Error::invalid(
            "The `filename` parameter must not be empty.",
        ));
    }
    if chars > limits::FILENAME_MAX_CHARS {
        return Err(Error::invalid(format!(
            "The `filename` parameter is {chars} characters long; at most {} are allowed.",
            limits::FILENAME_MAX_CHARS
        )));
    }
    if filename.chars().any(char::is_control) {
        return Err(Error::invalid(
            "The `filename` parameter must not contain control characters.",
        ));
    }
    Ok(())
}

/// Checks `user_metadata`: no empty key (its values are scalars by type).
pub fn validate_user_metadata(metadata: &UserMetadata) -> Result<(), Error> {
    if metadata.iter().any(|(key, _)| key.is_empty()) {
        return Err(Error::invalid("`user_metadata` keys must not be empty."));
    }
    Ok(())
}

/// Checks a create-session request against the documented limits.
pub fn validate_create_multipart(request: &CreateMultipartUploadRequest) -> Result<(), Error> {
    validate_filename(&request.filename)?;
    if request.total_size == 0 {
        return Err(Error::invalid(
            "The `total_size` parameter must be at least 1.",
        ));
    }
    let max = request.media_type.multipart_max_bytes();
    if request.total_size > max {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The `total_size` parameter ({}) exceeds the {} limit of {max} bytes.",
                request.total_size,
                request.media_type.as_str()
            ),
        ));
    }
    if let Some(metadata) = &request.user_metadata {
        validate_user_metadata(metadata)?;
    }
    Ok(())
}

/// Checks a presigned-URL request: `start ≥ 1`, `count` 1–50 and, when the session's chunk
/// count is known, `start + count - 1 ≤ total_chunks`.
pub fn validate_presigned_request(
    request: &PresignedUrlsRequest,
    total_chunks: Option<u32>,
) -> Result<(), Error> {
    if request.start < 1 {
        return Err(Error::invalid("The `start` parameter must be at least 1."));
    }
    if request.count < 1 || request.count > limits::MAX_BATCH {
        return Err(Error::invalid(format!(
            "The `count` parameter must be between 1 and {}.",
            limits::MAX_BATCH
        )));
    }
    if let Some(total) = total_chunks {
        let last = request.start as u64 + request.count as u64 - 1;
        if last > total as u64 {
            return Err(Error::invalid(format!(
                "Chunks {}..={last} are out of range: the upload has {total} chunks.",
                request.start
            )));
        }
    }
    Ok(())
}

/// Checks a report batch: 1–50 chunks, indices ≥ 1 (and ≤ `total_chunks` when known),
/// non-empty proofs, positive sizes.
pub fn validate_report(
    request: &ReportChunksRequest,
    total_chunks: Option<u32>,
    total_size: Option<u64>,
) -> Result<(), Error> {
    let n = request.completed_chunks.len();
    if n == 0 || n > limits::MAX_BATCH as usize {
        return Err(Error::invalid(format!(
            "The `completed_chunks` parameter must hold between 1 and {} items; it holds {n}.",
            limits::MAX_BATCH
        )));
    }
    for chunk in &request.completed_chunks {
        if chunk.chunk_index < 1 || total_chunks.is_some_and(|t| chunk.chunk_index > t) {
            return Err(Error::invalid(format!(
                "`chunk_index` {} is out of range.",
                chunk.chunk_index
            )));
        }
        if chunk.proof.trim().is_empty() || chunk.proof.len() > limits::PROOF_MAX_LEN {
            return Err(Error::invalid(format!(
                "`proof` of chunk {} must hold between 1 and {} characters.",
                chunk.chunk_index,
                limits::PROOF_MAX_LEN
            )));
        }
        if chunk.chunk_size == 0 || total_size.is_some_and(|size| chunk.chunk_size > size) {
            return Err(Error::invalid(format!(
                "`chunk_size` of chunk {} must be at least 1 and at most the file's size.",
                chunk.chunk_index
            )));
        }
    }
    Ok(())
}

/// Checks pagination parameters: `page ≥ 1`, `page_limit` 1–50.
pub fn validate_page(page: u32, page_limit: u32) -> Result<(), Error> {
    if page < 1 {
        return Err(Error::invalid("The `page` parameter must be at least 1."));
    }
    if !(1..=limits::PAGE_LIMIT_MAX).contains(&page_limit) {
        return Err(Error::invalid(format!(
            "The `page_limit` parameter must be between 1 and {}.",
            limits::PAGE_LIMIT_MAX
        )));
    }
    Ok(())
}

/// Strips the quotes S3-style storage puts around an `ETag` (and a weak `W/` prefix).
pub fn normalize_etag(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

/// The create-session answer a client gets from the Worker: TwelveLabs' JSON object as it was
/// sent, with `upload_token` added as its last member. The object is spliced, not parsed into a
/// tree and printed again: it carries the first batch of presigned URLs, and a round trip of
/// those was a visible share of the Worker's CPU per create session. `None` when `upstream` is
/// not a JSON object's text (a caller has already read its typed fields from it). An
/// `upload_token` TwelveLabs might send is overridden: JSON readers keep a name's last value.
pub fn with_upload_token(upstream: &[u8], token: &str) -> Option<Vec<u8>> {
    let text = upstream.trim_ascii();
    let inner = text.strip_prefix(b"{")?.strip_suffix(b"}")?;
    let token = serde_json::to_string(token).ok()?;
    let mut answer = Vec::with_capacity(text.len() + token.len() + 20);
    answer.push(b'{');
    answer.extend_from_slice(inner);
    if !inner.trim_ascii().is_empty() {
        answer.push(b',');
    }
    answer.extend_from_slice(b"\"upload_token\":");
    answer.extend_from_slice(token.as_bytes());
    answer.push(b'}');
    Some(answer)
}

/// The API's paths under its version prefix, spelled once for the browser client's calls and
/// the Worker's upstream calls (the Worker's route table reads [`API_PREFIX`](paths::API_PREFIX)
/// too). Identifiers go in as given: callers pass ones safe in a path segment (the browser
/// client percent-encodes them; the Worker's routes accept only `[A-Za-z0-9_-]`).
pub mod paths {
    /// The API version every path lives under.
    pub const API_PREFIX: &str = "/v1.3";

    /// `/assets`: create an asset (`POST`), list assets (`GET`).
    pub const ASSETS: &str = "/assets";

    /// `/assets/multipart-uploads`: create a session (`POST`), list sessions (`GET`).
    pub const UPLOADS: &str = "/assets/multipart-uploads";

    /// `/assets/{asset_id}`.
    pub fn asset(asset_id: &str) -> String {
        joined(ASSETS, asset_id, "")
    }

    /// `/assets/multipart-uploads/{upload_id}`: report chunks (`POST`), status (`GET`).
    pub fn upload(upload_id: &str) -> String {
        joined(UPLOADS, upload_id, "")
    }

    /// `/assets/multipart-uploads/{upload_id}/presigned-urls`.
    pub fn presigned_urls(upload_id: &str) -> String {
        joined(UPLOADS, upload_id, "/presigned-urls")
    }

    // By hand rather than `format!`/`concat`: one small function in the browser's wasm.
    fn joined(collection: &str, id: &str, tail: &str) -> String {
        let mut path = String::with_capacity(collection.len() + id.len() + tail.len() + 1);
        path.push_str(collection);
        path.push('/');
        path.push_str(id);
        path.push_str(tail);
        path
    }
}

/// RFC 3339 timestamps ↔ milliseconds since the Unix epoch, without a date library.
pub mod timestamp {
    /// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC, seconds precision).
    pub fn format(unix_ms: i64) -> String {
        let secs = unix_ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// Parses an RFC 3339 timestamp (`Z` or `±HH:MM` offset, optional fraction) to milliseconds
    /// since the epoch. Returns `None` when it is not one.
    pub fn parse(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let num = |r: core::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            let frac = s.get(start..i.min(start + 3))?;
            millis = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
        }
        let offset_secs = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                let off = oh * 3600 + om * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
        Some(secs * 1000 + millis)
    }

    /// Parses an HTTP date in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`, the one form
    /// RFC 9110 §5.6.7 lets servers send) to milliseconds since the epoch. Written here rather
    /// than taken from `httpdate`: measured with `make pkg`, that crate made the browser's wasm
    /// 4.0 KB larger gzipped (94.5 KB against 90.5 KB with this function).
    pub fn parse_http_date(s: &str) -> Option<i64> {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let b = s.as_bytes();
        if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
            return None;
        }
        if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
            return None;
        }
        let num = |r: core::ops::Range<usize>| -> Option<i64> {
            let part = b.get(r)?;
            part.iter().try_fold(0i64, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
            })
        };
        let month = MONTHS.iter().position(|m| m[..] == b[8..11])? as i64 + 1;
        let (day, year) = (num(5..7)?, num(12..16)?);
        let (h, mi, se) = (num(17..19)?, num(20..22)?, num(23..25)?);
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + se;
        Some(secs * 1000)
    }

    // Howard Hinnant's civil-calendar algorithms.
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian `(year, month 1–12, day 1–31)` of `z` days since 1970-01-01.
    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_bearer_token_is_an_rfc_6750_b64token_of_bounded_length() {
        for token in ["eyJhbGciOiJIUzI1NiJ9.e30.c2ln-_", "abc", "a+b/c~d==", "x"] {
            assert!(is_bearer_token(token), "{token}");
        }
        let too_long = "a".repeat(limits::TOKEN_MAX_LEN + 1);
        for token in [
            "",
            "==",
            "abc\ndef",
            "abc def",
            "Bearer abc",
            "grånt",
            "a=b",
            &too_long,
        ] {
            assert!(!is_bearer_token(token), "{token:?}");
        }
    }
    use super::*;

    #[test]
    fn the_upload_token_is_added_to_the_upstream_object_as_its_last_member() {
        let upstream = br#" {"upload_id":"u1","upload_urls":[{"chunk_index":1,"url":"https://s/1?a=b&c=\u0026"}],"upload_token":"theirs"}
"#;
        let answer = with_upload_token(upstream, "h.p.s").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(value["upload_token"], "h.p.s");
        assert_eq!(value["upload_id"], "u1");
        assert_eq!(value["upload_urls"][0]["url"], "https://s/1?a=b&c=&");
        assert_eq!(
            with_upload_token(b"{ }", "t").unwrap(),
            br#"{ "upload_token":"t"}"#
        );
        for not_an_object in [&b"[1]"[..], b"", b"{", b"null", b"\"{}\""] {
            assert_eq!(with_upload_token(not_an_object, "t"), None);
        }
    }

    /// The hand-written spellings agree with serde's, both ways, for every variant.
    fn assert_spellings<T>(variants: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> T)
    where
        T: Copy + PartialEq + core::fmt::Debug + Serialize + serde::de::DeserializeOwned,
    {
        for &variant in variants {
            let text = as_str(variant);
            assert_eq!(serde_json::to_value(variant).unwrap(), text, "{variant:?}");
            assert_eq!(parse(text), variant);
            assert_eq!(
                serde_json::from_value::<T>(serde_json::Value::from(text)).unwrap(),
                variant
            );
        }
        assert_eq!(parse("something new"), parse("unknown"));
    }

    #[test]
    fn enum_spellings_have_one_source_that_matches_serde() {
        use AssetStatus as A;
        use ChunkStatus as C;
        use DerivativeStatus as D;
        use UploadStatus as U;
        assert_spellings(
            &[U::Active, U::Completed, U::Failed, U::Expired],
            U::as_str,
            U::parse,
        );
        assert_spellings(&[C::Pending, C::Completed, C::Failed], C::as_str, C::parse);
        assert_spellings(
            &[
                AssetMethod::Direct,
                AssetMethod::Url,
                AssetMethod::Multipart,
            ],
            AssetMethod::as_str,
            AssetMethod::parse,
        );
        assert_spellings(
            &[A::Processing, A::Ready, A::Failed, A::Waiting],
            A::as_str,
            A::parse,
        );
        assert_spellings(
            &[D::Pending, D::Processing, D::Ready, D::Error],
            D::as_str,
            D::parse,
        );
    }
    use serde_json::json;

    /// The documented example of "create multipart upload session" (TWELVELABS_API.md §4.1).
    const CREATE_RESPONSE_EXAMPLE: &str = r#"{
      "upload_id": "507f1f77bcf86cd799439011",
      "asset_id": "507f1f77bcf86cd799439012",
      "upload_urls": [
        {"chunk_index": 1, "url": "https://s3.amazonaws.com/bucket/key?signature=...", "expires_at": "2025-12-01T11:00:00Z"}
      ],
      "upload_headers": {"Content-Type": "application/octet-stream"},
      "chunk_size": 5242880,
      "total_chunks": 20,
      "expires_at": "2025-12-02T10:00:00Z"
    }"#;

    #[test]
    fn create_session_response_round_trips_the_documented_example() {
        let parsed: CreateMultipartUploadResponse =
            serde_json::from_str(CREATE_RESPONSE_EXAMPLE).unwrap();
        assert_eq!(parsed.upload_id, "507f1f77bcf86cd799439011");
        assert_eq!(parsed.asset_id, "507f1f77bcf86cd799439012");
        assert_eq!(parsed.chunk_size, 5_242_880);
        assert_eq!(parsed.total_chunks, 20);
        assert_eq!(parsed.expires_at, "2025-12-02T10:00:00Z");
        assert_eq!(
            parsed.upload_urls,
            vec![PresignedUrl {
                chunk_index: 1,
                url: "https://s3.amazonaws.com/bucket/key?signature=...".into(),
                expires_at: "2025-12-01T11:00:00Z".into(),
            }]
        );
        assert_eq!(
            parsed
                .upload_headers
                .get("Content-Type")
                .map(String::as_str),
            Some("application/octet-stream")
        );
        assert_eq!(parsed.upload_token, None);
        // Serialising gives back exactly the documented JSON (no `upload_token`, no nulls).
        let expected: serde_json::Value = serde_json::from_str(CREATE_RESPONSE_EXAMPLE).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
    }

    #[test]
    fn create_session_response_tolerates_unknown_fields_and_carries_upload_token() {
        let mut value: serde_json::Value = serde_json::from_str(CREATE_RESPONSE_EXAMPLE).unwrap();
        value["some_future_field"] = json!({"x": 1});
        value["upload_token"] = json!("tok");
        let parsed: CreateMultipartUploadResponse = serde_json::from_value(value).unwrap();
        assert_eq!(parsed.upload_token.as_deref(), Some("tok"));
    }

    #[test]
    fn create_request_uses_type_on_the_wire_and_defaults_to_video() {
        let req: CreateMultipartUploadRequest =
            serde_json::from_value(json!({"filename": "a.mp4", "total_size": 10})).unwrap();
        assert_eq!(req.media_type, MediaType::Video);
        let req = CreateMultipartUploadRequest {
            media_type: MediaType::Audio,
            ..req
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"filename": "a.mp4", "type": "audio", "total_size": 10})
        );
    }

    #[test]
    fn report_request_and_response_match_documented_examples() {
        let req: ReportChunksRequest = serde_json::from_value(json!({"completed_chunks": [
            {"chunk_index": 1, "proof": "d41d8cd98f00b204e9800998ecf8427e", "proof_type": "etag", "chunk_size": 5242880}
        ]}))
        .unwrap();
        assert_eq!(req.completed_chunks[0].proof_type, ProofType::Etag);
        validate_report(&req, Some(20), Some(100 << 20)).unwrap();
        let with = |proof: String, chunk_size: u64| ReportChunksRequest {
            completed_chunks: vec![CompletedChunk {
                proof,
                chunk_size,
                ..req.completed_chunks[0].clone()
            }],
        };
        let longest = "e".repeat(limits::PROOF_MAX_LEN);
        assert!(validate_report(&with(longest.clone(), 1000), Some(20), Some(1000)).is_ok());
        for (proof, chunk_size) in [
            (format!("{longest}e"), 1000),
            (" ".to_owned(), 1000),
            (longest.clone(), 1001),
            (longest, 0),
        ] {
            assert_eq!(
                validate_report(&with(proof, chunk_size), Some(20), Some(1000))
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidInput
            );
        }
        let resp: ReportChunksResponse = serde_json::from_value(json!(
            {"url": "https://cdn.example.com/assets/video.mp4", "asset_id": "507f1f77bcf86cd799439012", "processed_chunks": 5, "duplicate_chunks": 0, "total_completed": 15}
        ))
        .unwrap();
        assert_eq!(resp.total_completed, 15);
        assert_eq!(
            resp.url.as_deref(),
            Some("https://cdn.example.com/assets/video.mp4")
        );
    }

    #[test]
    fn asset_uses_underscore_id_and_tolerates_unknown_status() {
        let asset: Asset = serde_json::from_value(json!({
            "_id": "6298d673f1090f1100476d4c", "method": "direct", "status": "processing",
            "filename": "my-video.mp4", "file_type": "video/mp4", "created_at": "2026-05-01T10:30:00Z"
        }))
        .unwrap();
        assert_eq!(asset.id, "6298d673f1090f1100476d4c");
        assert_eq!(asset.status, AssetStatus::Processing);
        assert_eq!(
            serde_json::to_value(&asset).unwrap()["_id"],
            "6298d673f1090f1100476d4c"
        );
        let odd: Asset = serde_json::from_value(
            json!({"_id": "x", "method": "telepathy", "status": "dreaming"}),
        )
        .unwrap();
        assert_eq!(
            (odd.method, odd.status),
            (AssetMethod::Unknown, AssetStatus::Unknown)
        );
    }

    #[test]
    fn validation_enforces_documented_limits() {
        assert!(validate_filename("").is_err());
        assert!(validate_filename(&"x".repeat(255)).is_ok());
        assert!(validate_filename(&"x".repeat(256)).is_err());
        // Characters, not bytes: two-, three- and four-byte UTF-8 sequences count as one each.
        for one in ["é", "界", "🎬"] {
            assert!(validate_filename(&one.repeat(255)).is_ok(), "{one}");
            assert!(validate_filename(&one.repeat(256)).is_err(), "{one}");
            assert!(
                validate_filename(&format!("{}x", one.repeat(254))).is_ok(),
                "{one}"
            );
        }
        let ok = PresignedUrlsRequest {
            start: 1,
            count: 50,
        };
        assert!(validate_presigned_request(&ok, Some(50)).is_ok());
        assert!(
            validate_presigned_request(&PresignedUrlsRequest { start: 0, count: 1 }, None).is_err()
        );
        assert!(validate_presigned_request(
            &PresignedUrlsRequest {
                start: 1,
                count: 51
            },
            None
        )
        .is_err());
        assert!(validate_presigned_request(
            &PresignedUrlsRequest {
                start: 2,
                count: 50
            },
            Some(50)
        )
        .is_err());
        let big = CreateMultipartUploadRequest {
            filename: "a.jpg".into(),
            media_type: MediaType::Image,
            total_size: limits::IMAGE_MAX_BYTES + 1,
            enable_hls: None,
            enable_thumbnail: None,
            user_metadata: None,
        };
        assert_eq!(
            validate_create_multipart(&big).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        assert!(validate_page(1, 50).is_ok());
        assert!(validate_page(0, 10).is_err());
        assert!(validate_page(1, 51).is_err());
        let mut md = UserMetadata::new();
        md.insert(String::new(), "v".into());
        assert!(validate_user_metadata(&md).is_err());
    }

    #[test]
    fn user_metadata_holds_scalars_exactly_and_refuses_the_rest() {
        for nested in [r#"{"k":[1]}"#, r#"{"k":{"a":1}}"#, r#"{"k":null}"#] {
            assert!(
                serde_json::from_str::<UserMetadata>(nested).is_err(),
                "{nested}"
            );
        }
        let scalars =
            r#"{"big":18446744073709551615,"f":1.5,"flag":true,"i":-3,"one":1.0,"s":"x\"y"}"#;
        let parsed: UserMetadata = serde_json::from_str(scalars).unwrap();
        assert_eq!(parsed["flag"], MetadataValue::Bool(true));
        assert_eq!(parsed["s"], "x\"y".into());
        assert_eq!(serde_json::to_string(&parsed).unwrap(), scalars);

        // A request body's metadata: the error names the key at fault; `null` is absent.
        let create = |metadata: serde_json::Value| {
            serde_json::from_value::<CreateMultipartUploadRequest>(json!({
                "filename": "a.mp4", "type": "video", "total_size": 1, "user_metadata": metadata
            }))
        };
        for (metadata, message) in [
            (
                json!({"ok": 1, "k": [1]}),
                "`user_metadata.k` must be a string, number or boolean.",
            ),
            (
                json!({"k": {"a": 1}}),
                "`user_metadata.k` must be a string, number or boolean.",
            ),
            (json!({"": "v"}), "`user_metadata` keys must not be empty."),
            (json!([1]), "`user_metadata` must be a JSON object."),
            (json!("text"), "`user_metadata` must be a JSON object."),
        ] {
            let error = create(metadata.clone()).unwrap_err().to_string();
            assert!(error.starts_with(message), "{metadata}: {error}");
        }
        assert_eq!(create(json!(null)).unwrap().user_metadata, None);
        let read = create(json!({"n": 2, "s": "x"}))
            .unwrap()
            .user_metadata
            .unwrap();
        assert_eq!(read["n"], MetadataValue::Number(2.into()));
        assert_eq!(
            user_metadata_from_json(json!({"k": null}))
                .unwrap_err()
                .message,
            "`user_metadata.k` must be a string, number or boolean."
        );
    }

    #[test]
    fn etag_quotes_are_stripped() {
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("abc"), "abc");
    }

    /// §3.1: the documented create-asset answer.
    #[test]
    fn asset_create_example_parses() {
        let asset: Asset = serde_json::from_str(
            r#"{
  "_id": "6298d673f1090f1100476d4c",
  "method": "direct",
  "status": "processing",
  "filename": "my-video.mp4",
  "file_type": "video/mp4",
  "created_at": "2026-05-01T10:30:00Z"
}"#,
        )
        .unwrap();
        assert_eq!(asset.method, AssetMethod::Direct);
        assert_eq!(asset.file_type.as_deref(), Some("video/mp4"));
        assert_eq!((asset.size, asset.hls, asset.error), (None, None, None));
    }

    /// §3.2: the documented list example (values illustrative and inconsistent, kept as is).
    #[test]
    fn list_assets_example_parses_with_detail_fields() {
        let list: ListAssetsResponse = serde_json::from_str(
            r#"{
  "data": [
    {
      "_id": "6298d673f1090f1100476d4c",
      "created_at": "2022-06-02T10:30:00Z",
      "duration": 120.5,
      "file_type": "image/jpeg",
      "filename": "image-01.jpg",
      "hls": {"manifest_url": "https://cdn.example.com/assets/6298d673f1090f1100476d4c/manifest.m3u8", "status": "ready"},
      "method": "direct",
      "size": 104857600,
      "status": "ready",
      "thumbnail": {"representative_url": "https://cdn.example.com/assets/6298d673f1090f1100476d4c/thumbnail.jpg", "status": "ready"},
      "user_metadata": {}
    }
  ],
  "page_info": {"limit_per_page": 10, "page": 1, "total_page": 1, "total_results": 2}
}"#,
        )
        .unwrap();
        let asset = &list.data[0];
        assert_eq!(
            (asset.size, asset.duration),
            (Some(104_857_600), Some(120.5))
        );
        let hls = asset.hls.as_ref().unwrap();
        assert_eq!(hls.status, DerivativeStatus::Ready);
        assert!(hls
            .manifest_url
            .as_deref()
            .unwrap()
            .ends_with("manifest.m3u8"));
        assert_eq!(
            asset.thumbnail.as_ref().unwrap().status,
            DerivativeStatus::Ready
        );
        assert_eq!(asset.user_metadata.as_ref().map(|m| m.len()), Some(0));
        assert_eq!(list.page_info, PageInfo::for_page(1, 10, 2));
    }

    /// §5.2: failed assets carry `error`, unknown fields (`technical_metadata`, `source`) pass.
    #[test]
    fn asset_detail_tolerates_error_and_newer_fields() {
        let asset: Asset = serde_json::from_value(json!({
            "_id": "a", "method": "multipart", "status": "failed",
            "error": {"message": "Unsupported codec"},
            "technical_metadata": {"file_size_bytes": 10, "video_codec": "h264"},
            "source": {"type": "connector", "details": {"provider": "google_drive"}},
            "some_2027_field": true
        }))
        .unwrap();
        assert_eq!(asset.method, AssetMethod::Multipart);
        assert_eq!(asset.error.unwrap().message, "Unsupported codec");
    }

    /// §4.2: the documented list-incomplete example.
    #[test]
    fn list_incomplete_example_parses() {
        let list: ListIncompleteUploadsResponse = serde_json::from_str(
            r#"{
  "data": [
    {
      "upload_id": "507f1f77bcf86cd799439011",
      "status": "active",
      "total_size": 10485760,
      "chunk_size": 5242880,
      "total_chunks": 2,
      "created_at": "2025-12-01T10:00:00Z",
      "expires_at": "2025-12-01T18:00:00Z"
    }
  ],
  "page_info": {"limit_per_page": 10, "page": 1, "total_page": 1, "total_results": 2}
}"#,
        )
        .unwrap();
        let session = &list.data[0];
        assert_eq!(session.status, UploadStatus::Active);
        assert_eq!(
            (session.total_size, session.chunk_size, session.total_chunks),
            (10_485_760, 5_242_880, 2)
        );
        assert_eq!(session.expires_at.as_deref(), Some("2025-12-01T18:00:00Z"));
    }

    /// §4.3: the documented status example (a completed chunk with an `error`, kept as is).
    #[test]
    fn upload_status_example_parses() {
        let status: UploadStatusResponse = serde_json::from_str(
            r#"{
  "upload_id": "507f1f77bcf86cd799439011",
  "status": "active",
  "uploaded_chunks": [
    {"index": 1, "status": "completed", "uploaded_at": "2025-12-01T10:15:00Z", "updated_at": "2025-12-01T10:00:00Z", "error": "Upload timeout"}
  ],
  "chunks_completed": 15,
  "chunks_failed": 0,
  "chunks_pending": 5,
  "page_info": {"limit_per_page": 10, "page": 1, "total_page": 1, "total_results": 2},
  "total_size": 104857600,
  "uploaded_size": 78643200,
  "created_at": "2025-12-01T10:00:00Z",
  "updated_at": "2025-12-01T10:00:00Z"
}"#,
        )
        .unwrap();
        assert_eq!(status.status, UploadStatus::Active);
        assert_eq!(
            (
                status.chunks_completed,
                status.chunks_failed,
                status.chunks_pending
            ),
            (15, 0, 5)
        );
        assert_eq!(
            (status.total_size, status.uploaded_size),
            (104_857_600, 78_643_200)
        );
        let chunk = &status.uploaded_chunks[0];
        assert_eq!((chunk.index, chunk.status), (1, ChunkStatus::Completed));
        assert_eq!(chunk.error.as_deref(), Some("Upload timeout"));
        assert_eq!(status.page_info.unwrap().total_results, 2);
    }

    /// §4.5: the documented presigned-URL example and request.
    #[test]
    fn presigned_urls_example_parses() {
        let request: PresignedUrlsRequest =
            serde_json::from_str(r#"{"start": 21, "count": 10}"#).unwrap();
        assert_eq!(
            request,
            PresignedUrlsRequest {
                start: 21,
                count: 10
            }
        );
        let response: PresignedUrlsResponse = serde_json::from_str(
            r#"{
  "upload_id": "507f1f77bcf86cd799439011",
  "start_index": 1,
  "count": 10,
  "upload_urls": [{"chunk_index": 1, "url": "https://s3.amazonaws.com/bucket/key?signature=...", "expires_at": "2025-12-01T18:00:00Z"}],
  "generated_at": "2025-12-01T11:30:00Z",
  "expires_at": "2025-12-01T18:00:00Z"
}"#,
        )
        .unwrap();
        assert_eq!((response.start_index, response.count), (1, 10));
        assert_eq!(response.upload_urls[0].chunk_index, 1);
        assert_eq!(
            response.generated_at.as_deref(),
            Some("2025-12-01T11:30:00Z")
        );
    }

    /// §2.4: the documented error body, with and without `docs_url`.
    #[test]
    fn error_body_example_round_trips() {
        let text = r#"{"code":"generic_error","message":"An error occurred.","docs_url":"https://docs.twelvelabs.io/api-reference/error-codes"}"#;
        let body: ErrorBody = serde_json::from_str(text).unwrap();
        assert_eq!(body.code, "generic_error");
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
        let bare: ErrorBody =
            serde_json::from_str(r#"{"code":"parameter_invalid","message":"m"}"#).unwrap();
        assert_eq!(bare.docs_url, None);
    }

    #[test]
    fn list_query_uses_repeated_keys_and_percent_encoding() {
        let query = ListAssetsQuery {
            page: 2,
            page_limit: 50,
            asset_ids: vec!["a1".into(), "b2".into()],
            asset_types: vec![MediaType::Video, MediaType::Image],
            filename: Some("my clip&co.mp4".into()),
        };
        assert_eq!(
            encode_query(&query.to_query_pairs()),
            "page=2&page_limit=50&asset_ids=a1&asset_ids=b2&asset_types=video&asset_types=image&filename=my%20clip%26co.mp4"
        );
        assert_eq!(
            encode_query(&ListAssetsQuery::default().to_query_pairs()),
            "page=1&page_limit=10"
        );
        for forced in ["true", "TRUE", "True"] {
            assert_eq!(
                DeleteAssetQuery::parse(Some(forced)).map(DeleteAssetQuery::query_suffix),
                Ok("?force=true")
            );
        }
        for unforced in [None, Some("false"), Some("False")] {
            assert_eq!(
                DeleteAssetQuery::parse(unforced).unwrap().query_suffix(),
                ""
            );
        }
        for bad in ["1", "", "true ", "yes", "tru"] {
            assert_eq!(
                DeleteAssetQuery::parse(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidInput
            );
        }
        assert!(PageQuery {
            page: Some(0),
            page_limit: None
        }
        .validate()
        .is_err());
        assert!(PageQuery {
            page: None,
            page_limit: Some(51)
        }
        .validate()
        .is_err());
        assert!(PageQuery::default().validate().is_ok());
    }

    #[test]
    fn create_asset_form_encodes_booleans_and_metadata_as_text() {
        let mut metadata = UserMetadata::new();
        metadata.insert("owner".into(), "u1".into());
        let fields = CreateAssetFields {
            method: CreateAssetMethod::Direct,
            url: None,
            filename: Some("a.mp4".into()),
            enable_hls: Some(true),
            enable_thumbnail: Some(false),
            user_metadata: Some(metadata),
        };
        assert_eq!(
            fields.form_fields(),
            vec![
                ("method", "direct".to_owned()),
                ("filename", "a.mp4".to_owned()),
                ("enable_hls", "true".to_owned()),
                ("enable_thumbnail", "false".to_owned()),
                ("user_metadata", r#"{"owner":"u1"}"#.to_owned()),
            ]
        );
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = timestamp::parse("2025-12-01T11:00:00Z").unwrap();
        assert_eq!(ms, 1_764_586_800_000);
        assert_eq!(timestamp::format(ms), "2025-12-01T11:00:00Z");
        assert_eq!(timestamp::parse("2025-12-01T12:00:00+01:00"), Some(ms));
        assert_eq!(timestamp::parse("2025-12-01T11:00:00.250Z"), Some(ms + 250));
        assert_eq!(timestamp::parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp::parse("not a time"), None);
        assert_eq!(timestamp::parse("2025-13-01T11:00:00Z"), None);
    }
}
