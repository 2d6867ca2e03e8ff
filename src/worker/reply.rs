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
        let mut builder = json_builder(self.status())?;
        if let Some(seconds) = &self.retry_after {
            builder = builder.with_header("Retry-After", seconds)?;
        }
        if let Some(allow) = &self.allow {
            builder = builder.with_header("Allow", allow)?;
        }
        Ok(builder.fixed(self.body()))
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
        400..=499 => Error::new(ErrorCode::from_status(status), detail)
            .with_status(status)
            .into(),
        _ => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("TwelveLabs answered with an unexpected HTTP {status}."),
        ),
    }
}

/// A response builder for a JSON answer with `status`, never cached: every answer the Worker
/// writes itself, success or error, starts here. Headers go on the builder's own `Headers` (it
/// always makes one), not on a second one put in its place.
pub fn json_builder(status: u16) -> worker::Result<worker::ResponseBuilder> {
    worker::Response::builder()
        .with_status(status)
        .with_header("Content-Type", "application/json")?
        .with_header("Cache-Control", "no-store")
}

/// `secs` since the Unix epoch as an HTTP date (IMF-fixdate, RFC 9110 §5.6.7), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`: the `Date` header, formatted here rather than through a JS
/// `Date` object and `toUTCString()` on every request (same text: JS prints this format too).
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // `u64` seconds never reach `i64`'s limits in days.
    let (year, month, day) = crate::core::wire::timestamp::civil_from_days(days as i64);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
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
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        // Values as JS `new Date(secs * 1000).toUTCString()` prints them.
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_445_412_480, "Wed, 21 Oct 2015 07:28:00 GMT"),
            (1_767_225_599, "Wed, 31 Dec 2025 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        ] {
            assert_eq!(http_date(secs), text, "{secs}");
        }
        // Day, month, year and time agree with core's RFC 3339 formatter across four centuries.
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for secs in (0..13_000_000_000u64).step_by(86_400 * 7 + 3_607) {
            let rfc = crate::core::wire::timestamp::format(secs as i64 * 1000);
            let (y, m, d) = (&rfc[0..4], &rfc[5..7], &rfc[8..10]);
            let month = MONTHS[m.parse::<usize>().unwrap() - 1];
            let expected = format!("{d} {month} {y} {} GMT", &rfc[11..19]);
            assert_eq!(&http_date(secs)[5..], expected, "{secs}");
        }
    }
}
