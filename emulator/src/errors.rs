//! Error answers: the API's flat JSON body `{code, message, docs_url}` and the storage's
//! S3-style XML body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `docs_url` of every JSON error, as in the documented examples.
pub const ERROR_DOCS_URL: &str = "https://docs.twelvelabs.io/api-reference/error-codes";

/// An API error: HTTP status plus the documented body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `Retry-After`: delay-seconds or an HTTP date (429 only).
    pub retry_after: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    docs_url: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: String) -> ApiError {
        ApiError {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    /// 401 `api_key_invalid`, with the documented message.
    pub fn api_key_invalid() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "API Key is either invalid or expired. Please check your API key or generate a new one from the dashboard and try again.".to_owned(),
        )
    }

    /// 400 `parameter_invalid` for one named parameter, with a reason.
    pub fn parameter_invalid(parameter: &str, reason: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "parameter_invalid",
            format!("The `{parameter}` parameter is invalid. {reason}"),
        )
    }

    /// 400 `parameter_not_provided`, with the documented message.
    pub fn parameter_not_provided(parameter: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "parameter_not_provided",
            format!("The `{parameter}` parameter is required but was not provided."),
        )
    }

    /// 404 `resource_not_exist`, with the documented message.
    pub fn resource_not_exist(resource_id: &str, collection: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_exist",
            format!("Resource with id `{resource_id}` does not exist in `{collection}`."),
        )
    }

    /// 400 `upload_expired`: the session passed its 24 h lifetime (code not documented).
    pub fn upload_expired(upload_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "upload_expired",
            format!("The upload session `{upload_id}` has expired. Create a new upload session."),
        )
    }

    /// 400 `upload_failed`: the session failed and must be started again (code not documented,
    /// like the failure itself).
    pub fn upload_failed(upload_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "upload_failed",
            format!("The upload session `{upload_id}` has failed. Create a new upload session."),
        )
    }

    /// 400 `upload_completed`: the session is already complete (code not documented).
    pub fn upload_completed(upload_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "upload_completed",
            format!("The upload session `{upload_id}` is already completed."),
        )
    }

    /// 409 `asset_in_use` (the 409 code is not documented).
    pub fn asset_in_use(asset_id: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "asset_in_use",
            format!("The asset `{asset_id}` is referenced by one or more indexed assets. Use `force=true` to delete it anyway."),
        )
    }

    /// 429 `too_many_requests`, with the documented message and `Retry-After`.
    pub fn too_many_requests(retry_after: String) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("You have exceeded the rate limit (emulator fault injection). Please try again later (Retry-After: {retry_after})."),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// The failure the `api_fail_next` fault injects: 500 `internal_error` by default, 408
    /// `request_timeout`, or another 5xx (`api_fail_status`, checked when the faults are set).
    pub fn injected_failure(status: u16) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = if status == StatusCode::REQUEST_TIMEOUT {
            "request_timeout"
        } else {
            "internal_error"
        };
        ApiError::new(
            status,
            code,
            "The server encountered an error (emulator fault injection).".to_owned(),
        )
    }

    /// 404 for a path that is not an endpoint.
    pub fn not_found_route(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "endpoint_not_found",
            format!("No endpoint `{path}` in the emulated API."),
        )
    }

    /// 413 for a JSON body above the emulator's limit.
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "parameter_invalid",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 500 for an IO failure inside the emulator.
    pub fn internal(what: &str, error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("The emulator failed to {what}: {error}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            docs_url: ERROR_DOCS_URL,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(value) = self
            .retry_after
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A storage (S3-like) error with an XML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// HTTP status.
    pub status: StatusCode,
    /// S3 error code, e.g. `AccessDenied`.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

impl StorageError {
    /// Builds one.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> StorageError {
        StorageError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            xml_escape(&self.message)
        );
        (
            self.status,
            [(header::CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response()
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
