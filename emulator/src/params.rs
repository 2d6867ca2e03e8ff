//! Request parsing shared by the API handlers: JSON bodies read field by field (so that every
//! problem gets the documented `parameter_invalid` / `parameter_not_provided` answer naming the
//! field), query strings with repeated keys, and pagination.

use axum::body::Body;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::ApiError;

/// Largest JSON request body accepted (the biggest legal one, a 50-item report, is ~6 KiB).
pub const MAX_JSON_BODY: usize = 1024 * 1024;
/// Documented default `page_limit`.
pub const DEFAULT_PAGE_LIMIT: u64 = 10;
/// Documented maximum `page_limit`.
pub const MAX_PAGE_LIMIT: u64 = 50;

/// Reads a JSON object body.
pub async fn read_json_object(body: Body) -> Result<Map<String, Value>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|_| ApiError::body_too_large(MAX_JSON_BODY))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::parameter_not_provided("body"));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::parameter_invalid(
            "body",
            "The body must be a JSON object.",
        )),
        Err(error) => Err(ApiError::parameter_invalid(
            "body",
            &format!("The body is not valid JSON: {error}."),
        )),
    }
}

/// A required string field.
pub fn required_string<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Err(ApiError::parameter_not_provided(name)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(ApiError::parameter_invalid(name, "It must be a string.")),
    }
}

/// A required non-negative integer field.
pub fn required_u64(map: &Map<String, Value>, name: &str) -> Result<u64, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Err(ApiError::parameter_not_provided(name)),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| ApiError::parameter_invalid(name, "It must be a non-negative integer.")),
    }
}

/// An optional boolean field (default `false`).
pub fn optional_bool(map: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(ApiError::parameter_invalid(name, "It must be a boolean.")),
    }
}

/// Parses a boolean sent as text (`force`, form fields): `true`/`false`, any case.
pub fn parse_text_bool(name: &str, text: &str) -> Result<bool, ApiError> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::parameter_invalid(
            name,
            "It must be `true` or `false`.",
        ))
    }
}

/// Checks a `user_metadata` object: string keys, scalar values (string, number, boolean).
pub fn validate_user_metadata(value: &Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::parameter_invalid(
            "user_metadata",
            "It must be a JSON object.",
        ));
    };
    for (key, item) in map {
        if !matches!(item, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(ApiError::parameter_invalid(
                "user_metadata",
                &format!("The value of `{key}` must be a string, a number or a boolean."),
            ));
        }
    }
    Ok(map.clone())
}

/// Checks a filename against the documented 1–255 characters.
pub fn validate_filename(filename: &str) -> Result<(), ApiError> {
    let length = filename.chars().count();
    if length == 0 || length > 255 {
        return Err(ApiError::parameter_invalid(
            "filename",
            "It must be between 1 and 255 characters long.",
        ));
    }
    Ok(())
}

/// A parsed query string that keeps repeated keys (`asset_ids=a&asset_ids=b`).
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (`None` = no query).
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|text| {
                form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// The last value of `key`.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `key`: repeated keys, `key[]`, and comma-separated values all count.
    pub fn all(&self, key: &str) -> Vec<String> {
        let bracketed = format!("{key}[]");
        self.pairs
            .iter()
            .filter(|(name, _)| name == key || *name == bracketed)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `page` (≥ 1, default 1) and `page_limit` (1–50, default 10).
    pub fn pagination(&self) -> Result<Pagination, ApiError> {
        let page = match self.one("page") {
            None => 1,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|&page| page >= 1)
                .ok_or_else(|| ApiError::parameter_invalid("page", "It must be an integer ≥ 1."))?,
        };
        let limit = match self.one("page_limit") {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::parameter_invalid("page_limit", "It must be an integer from 1 to 50.")
                })?,
        };
        Ok(Pagination { page, limit })
    }
}

/// A requested page.
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
}

/// The documented `page_info` object.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PageInfo {
    /// Items per page.
    pub limit_per_page: u64,
    /// This page.
    pub page: u64,
    /// Number of pages.
    pub total_page: u64,
    /// Number of items over all pages.
    pub total_results: u64,
}

impl Pagination {
    /// The index range of this page within `total` items (empty past the last page) and its
    /// `page_info`.
    pub fn slice(&self, total: u64) -> (std::ops::Range<usize>, PageInfo) {
        let start = (self.page - 1).saturating_mul(self.limit).min(total);
        let end = start.saturating_add(self.limit).min(total);
        let info = PageInfo {
            limit_per_page: self.limit,
            page: self.page,
            total_page: total.div_ceil(self.limit),
            total_results: total,
        };
        (start as usize..end as usize, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_commas_and_brackets_all_count() {
        let query = Query::parse(Some("asset_ids=a&asset_ids=b,c&asset_ids%5B%5D=d&page=2"));
        assert_eq!(query.all("asset_ids"), ["a", "b", "c", "d"]);
        assert_eq!(query.one("page"), Some("2"));
    }

    #[test]
    fn pagination_limits_and_empty_pages() {
        let error = Query::parse(Some("page_limit=51"))
            .pagination()
            .unwrap_err();
        assert_eq!(error.code, "parameter_invalid");
        assert!(Query::parse(Some("page=0")).pagination().is_err());
        let page = Query::parse(Some("page=3&page_limit=2"))
            .pagination()
            .unwrap();
        let (range, info) = page.slice(5);
        assert_eq!(range, 4..5);
        assert_eq!(info.total_page, 3);
        let (range, _) = Pagination { page: 4, limit: 2 }.slice(5);
        assert!(range.is_empty());
    }

    #[test]
    fn text_bools_ignore_case() {
        assert!(parse_text_bool("force", "TRUE").unwrap());
        assert!(!parse_text_bool("force", "false").unwrap());
        assert!(parse_text_bool("force", "yes").is_err());
    }
}

/// Documented size limits, newest contract (2026-07): multipart video/audio up to 10 GB,
/// images up to 32 MB; direct uploads of local video/audio up to 200 MB; URL uploads up to 4 GB.
/// "GB"/"MB" are binary units here, as the documented 4 GB cap is written `4294967296`.
pub mod limits {
    /// Multipart `total_size` cap for video and audio.
    pub const MULTIPART_MEDIA_MAX: u64 = 10 * 1024 * 1024 * 1024;
    /// Image cap (multipart, direct and URL).
    pub const IMAGE_MAX: u64 = 32 * 1024 * 1024;
    /// Direct (local file) cap for video and audio.
    pub const DIRECT_MEDIA_MAX: u64 = 200 * 1024 * 1024;
    /// URL upload cap for video and audio.
    pub const URL_MEDIA_MAX: u64 = 4 * 1024 * 1024 * 1024;
    /// S3's part-count limit: chunk sizes grow so that no session needs more parts.
    pub const MAX_CHUNKS: u64 = 10_000;
    /// Items per report batch and URLs per presigned-URL request.
    pub const MAX_BATCH: u64 = 50;
}

/// MIME type from a filename extension, for `file_type` when the client gave none.
pub fn mime_from_filename(filename: &str) -> Option<&'static str> {
    let extension = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
}
