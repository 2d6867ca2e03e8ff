//! One error type for the whole product, with stable string codes.
//!
//! The codes are part of the public contract: the browser client exposes them as `error.code`, the
//! Worker returns them in `{code, message}` bodies, and users switch on them. Never rename one;
//! add new variants at the end.

use core::fmt;

/// A stable, machine-readable error code. `as_str` gives the wire/JS spelling (snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A parameter is malformed, missing or outside the documented limits.
    InvalidInput,
    /// No credential, or one that is malformed, badly signed or expired.
    Unauthorized,
    /// A valid credential that does not allow this action (another user's upload, policy limits).
    Forbidden,
    /// The upload session, asset or route does not exist.
    NotFound,
    /// The HTTP method is not allowed on this route.
    MethodNotAllowed,
    /// The file (or request body) is larger than the policy or the API allows.
    PayloadTooLarge,
    /// The media type is not allowed by the policy or the API.
    UnsupportedType,
    /// Too many requests; retry after the indicated delay.
    RateLimited,
    /// TwelveLabs (or the storage behind it) failed, timed out or could not be reached.
    UpstreamUnavailable,
    /// The network request failed before any HTTP response (offline, reset, DNS, CORS refusal).
    Network,
    /// A chunk PUT succeeded but its `ETag` header could not be read: the storage CORS rule must
    /// expose it (`Access-Control-Expose-Headers: ETag`).
    EtagUnreadable,
    /// The multipart session is past its 24 h lifetime; a new upload must be started.
    SessionExpired,
    /// The file chosen to resume an upload is not the file that was being uploaded.
    FileMismatch,
    /// The upload was aborted by the caller.
    Aborted,
    /// The server answered with values that do not add up (e.g. a chunk plan that does not cover the file).
    ServerInvalid,
    /// The storage refused a chunk for a reason retrying will not fix.
    StorageRejected,
    /// Retries for a request were exhausted.
    RetriesExhausted,
    /// The asset finished processing with status `failed`.
    AssetFailed,
    /// The request conflicts with the resource's state (e.g. deleting an asset that is in use).
    Conflict,
    /// An unexpected internal error (a bug): please report it.
    Internal,
    /// The server marked the multipart session `failed`; a new upload must be started.
    SessionFailed,
    /// The Worker's configuration is unusable (a secret too short, a binding missing, …); the
    /// message names the setting, never its value.
    ConfigInvalid,
    /// The browser's storage for saved uploads (IndexedDB) did not open: the browser refuses
    /// it (a private mode, storage blocked) or did not answer in time.
    StorageUnavailable,
}

impl ErrorCode {
    /// Every code, in declaration order (for documentation and exhaustive tests).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidInput,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedType,
        ErrorCode::RateLimited,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Network,
        ErrorCode::EtagUnreadable,
        ErrorCode::SessionExpired,
        ErrorCode::FileMismatch,
        ErrorCode::Aborted,
        ErrorCode::ServerInvalid,
        ErrorCode::StorageRejected,
        ErrorCode::RetriesExhausted,
        ErrorCode::AssetFailed,
        ErrorCode::Conflict,
        ErrorCode::Internal,
        ErrorCode::SessionFailed,
        ErrorCode::ConfigInvalid,
        ErrorCode::StorageUnavailable,
    ];

    /// The stable snake_case spelling used on the wire and in JS.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedType => "unsupported_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::Network => "network",
            ErrorCode::EtagUnreadable => "etag_unreadable",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::FileMismatch => "file_mismatch",
            ErrorCode::Aborted => "aborted",
            ErrorCode::ServerInvalid => "server_invalid",
            ErrorCode::StorageRejected => "storage_rejected",
            ErrorCode::RetriesExhausted => "retries_exhausted",
            ErrorCode::AssetFailed => "asset_failed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
            ErrorCode::SessionFailed => "session_failed",
            ErrorCode::ConfigInvalid => "config_invalid",
            ErrorCode::StorageUnavailable => "storage_unavailable",
        }
    }

    /// The code of a client-error status (4xx) that retrying will not fix, for a response that
    /// carried no code of ours: the one status → code table of the client and the Worker.
    pub const fn from_status(status: u16) -> ErrorCode {
        match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            410 => ErrorCode::SessionExpired,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedType,
            _ => ErrorCode::InvalidInput,
        }
    }

    /// Parses a code from its string spelling.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// Whether an operation that failed with this code may succeed if tried again later
    /// (possibly after refreshing a credential). Fatal codes need a change by the caller.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::Network
                | ErrorCode::RetriesExhausted
        )
    }

    /// The HTTP status the Worker answers with for this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput | ErrorCode::ServerInvalid => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::StorageRejected => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::SessionExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedType => 415,
            ErrorCode::FileMismatch => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Aborted => 499,
            ErrorCode::UpstreamUnavailable | ErrorCode::Network | ErrorCode::RetriesExhausted => {
                502
            }
            ErrorCode::EtagUnreadable
            | ErrorCode::AssetFailed
            | ErrorCode::Internal
            | ErrorCode::ConfigInvalid
            | ErrorCode::StorageUnavailable => 500,
            ErrorCode::SessionFailed => 502,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a stable code, a human-readable message and, where known, the HTTP status
/// that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// A message for people; never contains secrets.
    pub message: String,
    /// The HTTP status of the response that caused the error, if there was one.
    pub status: Option<u16>,
}

impl Error {
    /// Creates an error with no HTTP status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// Attaches the HTTP status that caused the error.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Shorthand for an [`ErrorCode::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidInput, message)
    }

    /// Whether retrying later may succeed (see [`ErrorCode::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    /// The package's TypeScript `UploadErrorCode` union names exactly the codes of [`ErrorCode::ALL`].
    #[test]
    fn typescript_union_lists_every_code() {
        let declarations = include_str!("../browser/types.rs");
        let start = declarations
            .find("export type UploadErrorCode =")
            .expect("the union is declared");
        let union = &declarations[start..start + declarations[start..].find(';').unwrap()];
        let mut in_union: Vec<&str> = union.split('"').skip(1).step_by(2).collect();
        let mut expected: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        in_union.sort_unstable();
        expected.sort_unstable();
        assert_eq!(in_union, expected);
    }

    use super::*;

    #[test]
    fn client_error_statuses_map_to_fatal_codes() {
        let table = [
            (400, ErrorCode::InvalidInput),
            (401, ErrorCode::Unauthorized),
            (403, ErrorCode::Forbidden),
            (404, ErrorCode::NotFound),
            (405, ErrorCode::MethodNotAllowed),
            (409, ErrorCode::Conflict),
            (410, ErrorCode::SessionExpired),
            (413, ErrorCode::PayloadTooLarge),
            (415, ErrorCode::UnsupportedType),
            (422, ErrorCode::InvalidInput),
        ];
        for (status, code) in table {
            assert_eq!(ErrorCode::from_status(status), code, "{status}");
            assert!(!code.is_retryable(), "{status}");
        }
    }

    #[test]
    fn codes_round_trip_and_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert_eq!(ErrorCode::parse(s), Some(code));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn display_names_code_and_message() {
        let e = Error::new(ErrorCode::SessionExpired, "gone").with_status(410);
        assert_eq!(e.to_string(), "session_expired: gone");
        assert_eq!(e.status, Some(410));
        assert!(!e.is_retryable());
        assert!(Error::new(ErrorCode::Network, "x").is_retryable());
    }
}
