//! What the Worker answers: [`Answer`] (status, headers, body), error replies (the
//! `{code, message}` body, the status, `Retry-After`, `Allow`), and the mapping of upstream
//! failures. Pure: the runtime's `Response` is made from an [`Answer`] in one step, at the end of
//! the request (`crate::worker::respond`).

use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{is_transient_status, retry_after_secs};
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
    /// TwelveLabs' own `code`, for an error that maps a 4xx of its (see [`ErrorBody`]).
    pub upstream_code: Option<String>,
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

    /// The JSON body `{code, message[, upstream_code]}`.
    pub fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            upstream_code: self.upstream_code.clone(),
            ..ErrorBody::from_error(&self.error)
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The answer (headers other than CORS).
    pub fn into_answer(self) -> Answer {
        let mut answer = Answer::json(self.status(), self.body());
        if let Some(seconds) = self.retry_after {
            answer.set_header("Retry-After", seconds);
        }
        if let Some(allow) = self.allow {
            answer.set_header("Allow", allow);
        }
        answer
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        ApiError {
            error,
            retry_after: None,
            allow: None,
            upstream_code: None,
        }
    }
}

/// `Retry-After` sent on a 429 when upstream gave none (or one we cannot read).
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// Maps a non-2xx upstream answer to the error the client sees. `body` is the upstream body,
/// `retry_after` its `Retry-After` header, read at `now_ms` (an HTTP date becomes seconds from
/// then). Messages are taken from upstream's `{code, message}` (never its headers), so nothing
/// the Worker sent upstream — the API key — can be echoed.
pub fn map_upstream_failure(
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
    now_ms: u64,
) -> ApiError {
    let upstream: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let detail = upstream
        .as_ref()
        .map(|b| format!("{} (upstream code: {})", b.message, b.code))
        .unwrap_or_else(|| format!("TwelveLabs answered HTTP {status}."));
    match status {
        429 => {
            let seconds = retry_after
                .and_then(|value| retry_after_secs(value, now_ms))
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            ApiError {
                retry_after: Some(seconds.to_string()),
                ..ApiError::new(ErrorCode::RateLimited, detail)
            }
        }
        401 => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs refused the Worker's own credentials: check the TWELVELABS_API_KEY secret.",
        ),
        // A 408 is TwelveLabs giving up waiting for the Worker's request: a client's retry is
        // the cure, as for a 5xx, so it must not read as the client's own mistake.
        status if is_transient_status(status) => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("TwelveLabs is unavailable (HTTP {status})."),
        ),
        400..=499 => ApiError {
            upstream_code: upstream.map(|b| b.code),
            ..Error::new(ErrorCode::from_status(status), detail)
                .with_status(status)
                .into()
        },
        _ => ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("TwelveLabs answered with an unexpected HTTP {status}."),
        ),
    }
}

/// An answer on its way to the client, built in Rust and handed to the runtime whole (one
/// crossing for the status, headers, body and log line, rather than `worker::Response`'s
/// `Headers` object, a crossing per header, a `ResponseInit` and a body copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values, each name once (ASCII case-insensitively).
    headers: Vec<(&'static str, String)>,
    /// The body; `None` for an answer without one (a 204).
    pub body: Option<Vec<u8>>,
}

impl Answer {
    /// A JSON answer with `status`, never cached: every answer the Worker writes itself, success
    /// or error, starts here.
    pub fn json(status: u16, body: Vec<u8>) -> Answer {
        Answer {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
            ],
            body: Some(body),
        }
    }

    /// An answer without a body or headers (a 204 to a preflight, an upstream 204).
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Sets header `name` to `value`, replacing any value it had (as `Headers.set` does).
    pub fn set_header(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(header) => *header = (name, value),
            None => self.headers.push((name, value)),
        }
    }

    /// The value of header `name`, if set.
    #[cfg(test)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers as one text, `name\nvalue\n` for each, for the runtime's side to split; `None`
    /// when a name or value holds a line break or NUL (which `Headers.set` would refuse too).
    pub fn header_lines(&self) -> Option<String> {
        let mut lines = String::with_capacity(128);
        for (name, value) in &self.headers {
            if [*name, value.as_str()]
                .iter()
                .any(|part| part.contains(['\n', '\r', '\0']))
            {
                return None;
            }
            lines.push_str(name);
            lines.push('\n');
            lines.push_str(value);
            lines.push('\n');
        }
        Some(lines)
    }
}

/// `secs` since the Unix epoch as an HTTP date (IMF-fixdate, RFC 9110 §5.6.7), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`: the `Date` header, formatted by `httpdate` rather than through
/// a JS `Date` object and `toUTCString()` on every request (same text: JS prints this format too).
/// Only the epoch is read from `SystemTime`, never the clock (wasm32 has none).
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
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
            0,
        );
        assert_eq!(e.status(), 400);
        assert_eq!(e.error.code, ErrorCode::InvalidInput);
        assert!(e.error.message.contains("`start`"));
        assert!(e.error.message.contains("parameter_invalid"));
        let e = map_upstream_failure(404, b"not json", None, 0);
        assert_eq!((e.status(), e.error.code), (404, ErrorCode::NotFound));
        assert_eq!(
            map_upstream_failure(409, b"{}", None, 0).error.code,
            ErrorCode::Conflict
        );
    }

    #[test]
    fn upstream_5xx_and_credential_failures_become_502() {
        for status in [500, 502, 503, 504, 401, 408] {
            let e = map_upstream_failure(status, br#"{"code":"x","message":"boom"}"#, None, 0);
            assert_eq!(e.status(), 502, "{status}");
            assert_eq!(e.error.code, ErrorCode::UpstreamUnavailable);
            assert!(!e.error.message.contains("boom"));
        }
    }

    #[test]
    fn rate_limits_carry_a_retry_after_in_seconds_whatever_form_upstream_gave() {
        let retry_after = |value: Option<&str>, now_ms: u64| {
            map_upstream_failure(429, b"{}", value, now_ms).retry_after
        };
        assert_eq!(map_upstream_failure(429, b"{}", Some("7"), 0).status(), 429);
        assert_eq!(retry_after(Some("7"), 0).as_deref(), Some("7"));
        // An HTTP date 60 s after now (Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 s).
        let now_ms = 1_445_412_420_000;
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(retry_after(Some(date), now_ms).as_deref(), Some("60"));
        assert_eq!(
            retry_after(Some(date), now_ms + 59_500).as_deref(),
            Some("1")
        );
        assert_eq!(
            retry_after(Some(date), now_ms + 120_000).as_deref(),
            Some("0")
        );
        // Long waits are passed on up to an hour; the unreadable get the default.
        assert_eq!(retry_after(Some("1000000"), 0).as_deref(), Some("3600"));
        for unreadable in [None, Some(""), Some("soon"), Some("-5"), Some("1.5")] {
            assert_eq!(
                retry_after(unreadable, now_ms).as_deref(),
                Some("1"),
                "{unreadable:?}"
            );
        }
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
    fn answers_set_each_header_once_and_refuse_line_breaks() {
        let mut answer = ApiError {
            retry_after: Some("7".into()),
            allow: Some("GET, POST".into()),
            ..ApiError::new(ErrorCode::RateLimited, "slow down")
        }
        .into_answer();
        assert_eq!(answer.status, 429);
        answer.set_header("content-type", "text/plain");
        answer.set_header("Date", "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(answer.header("Content-Type"), Some("text/plain"));
        assert_eq!(
            answer.header_lines().as_deref(),
            Some(
                "content-type\ntext/plain\nCache-Control\nno-store\nRetry-After\n7\n\
                 Allow\nGET, POST\nDate\nThu, 01 Jan 1970 00:00:00 GMT\n"
            )
        );
        for bad in ["a\nb", "a\rb", "a\0b"] {
            let mut answer = Answer::empty(204);
            answer.set_header("Vary", bad);
            assert_eq!(answer.header_lines(), None, "{bad:?}");
        }
        assert_eq!(Answer::empty(204).header_lines().as_deref(), Some(""));
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
