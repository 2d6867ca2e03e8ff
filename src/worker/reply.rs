//! Error replies: the `{code, message}` body, the status, `Retry-After`, and the mapping of
//! upstream failures. Pure apart from [`ApiError::into_response`].

use crate::core::error::{Error, ErrorCode};
use crate::core::wire::ErrorBody;

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Code, message and (when it differs from the code's default) the HTTP status.
    pub error: Error,
    /// `Retry-After` seconds, for 429.
    pub retry_after: Option<String>,
    /// Methods for the `Allow` header, for 405.
    pub allow: Option<String>,
}

impl ApiError {
    /// An error with the code's default status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        Error::new(code, message).into()
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.error
            .status
            .unwrap_or_else(|| self.error.code.http_status())
    }

    /// The JSON body `{code, message}`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody::from_error(&self.error)).unwrap_or_default()
    }

    /// Builds the Workers response (headers other than CORS).
    pub fn into_response(self) -> worker::Result<worker::Response> {
        let headers = worker::Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("Cache-Control", "no-store")?;
        if let Some(seconds) = &self.retry_after {
            headers.set("Retry-After", seconds)?;
        }
        if let Some(allow) = &self.allow {
            headers.set("Allow", allow)?;
        }
        Ok(worker::Response::builder()
            .with_status(self.status())
            .with_headers(headers)
            .fixed(self.body()))
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        ApiError {
            error,
            retry_after: None,
            allow: None,
        }
    }
}

/// `Retry-After` sent on a 429 when upstream gave none (or one we cannot read).
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 1;

/// Maps a non-2xx upstream answer to the error the client sees. `body` is the upstream body,
/// `retry_after` its `Retry-After` header. Messages are taken from upstream's `{code, message}`
/// (never its headers), so nothing the Worker sent upstream — the API key — can be echoed.
pub fn map_upstream_failure(status: u16, body: &[u8], retry_after: Option<&str>) -> ApiError {
    let upstream: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let detail = upstream
        .as_ref()
        .map(|b| format!("{} (upstream code: {})", b.message, b.code))
        .unwrap_or_else(|| format!("TwelveLabs answered HTTP {status}."));
    match status {
        429 => {
            let seconds = retry_after
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 6 && v.bytes().all(|b| b.is_ascii_digit()))
                .map_or_else(|| DEFAULT_RETRY_AFTER_SECS.to_string(), str::to_owned);
            ApiError {
                retry_after: Some(seconds),
                ..ApiError::new(ErrorCode::RateLimited, detail)
            }
        }
        401 => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs refused the Worker's own credentials: check the TWELVELABS_API_KEY secret.",
        ),
        500..=599 => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("TwelveLabs is unavailable (HTTP {status})."),
        ),
        400..=499 => {
            let code = match status {
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                409 => ErrorCode::Conflict,
                410 => ErrorCode::SessionExpired,
                413 => ErrorCode::PayloadTooLarge,
                415 => ErrorCode::UnsupportedType,
                _ => ErrorCode::InvalidInput,
            };
            Error::new(code, detail).with_status(status).into()
        }
        _ => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("TwelveLabs answered with an unexpected HTTP {status}."),
        ),
    }
}

/// Replaces every occurrence of `secret` in `text` (defence in depth for anything echoed).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_4xx_keep_their_status_and_message_with_our_code() {
        let e = map_upstream_failure(
            400,
            br#"{"code":"parameter_invalid","message":"The `start` parameter is invalid."}"#,
            None,
        );
        assert_eq!(e.status(), 400);
        assert_eq!(e.error.code, ErrorCode::InvalidInput);
        assert!(e.error.message.contains("`start`"));
        assert!(e.error.message.contains("parameter_invalid"));
        let e = map_upstream_failure(404, b"not json", None);
        assert_eq!((e.status(), e.error.code), (404, ErrorCode::NotFound));
        assert_eq!(
            map_upstream_failure(409, b"{}", None).error.code,
            ErrorCode::Conflict
        );
    }

    #[test]
    fn upstream_5xx_and_credential_failures_become_502() {
        for status in [500, 502, 503, 504, 401] {
            let e = map_upstream_failure(status, br#"{"code":"x","message":"boom"}"#, None);
            assert_eq!(e.status(), 502, "{status}");
            assert_eq!(e.error.code, ErrorCode::UpstreamUnavailable);
            assert!(!e.error.message.contains("boom"));
        }
    }

    #[test]
    fn rate_limits_carry_a_retry_after() {
        let e = map_upstream_failure(429, b"{}", Some("7"));
        assert_eq!(e.status(), 429);
        assert_eq!(e.retry_after.as_deref(), Some("7"));
        let e = map_upstream_failure(429, b"{}", Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(e.retry_after.as_deref(), Some("1"));
        assert_eq!(
            map_upstream_failure(429, b"{}", None)
                .retry_after
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn bodies_are_code_and_message() {
        let body: serde_json::Value =
            serde_json::from_slice(&ApiError::new(ErrorCode::Forbidden, "no").body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": "forbidden", "message": "no"})
        );
        assert_eq!(redact("key=abc123!", "abc123"), "key=[redacted]!");
    }
}
