//! The client for the TwelveLabs API: adds `x-api-key`, bounds each call with a timeout,
//! retries idempotent calls once, and maps failures to [`ApiError`]s.

use std::cell::Cell;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::core::error::ErrorCode;
use crate::worker::config::Secret;
use crate::worker::reply::{map_upstream_failure, ApiError};

/// How long a streamed direct upload may take (the body is up to 200 MB from a slow client).
pub const STREAMED_UPLOAD_TIMEOUT_MS: u64 = 30 * 60 * 1000;

/// A request body for upstream.
#[derive(Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// JSON bytes.
    Json(Vec<u8>),
    /// A complete `multipart/form-data` body (small: `method=url`).
    Form {
        /// The body.
        bytes: Vec<u8>,
        /// `multipart/form-data; boundary=…`.
        content_type: String,
    },
    /// A streamed `multipart/form-data` body (`method=direct`); consumed by the first attempt.
    Stream {
        /// A JS `ReadableStream`.
        stream: JsValue,
        /// `multipart/form-data; boundary=…`.
        content_type: String,
    },
}

/// Whether a call may be repeated after a 5xx or a network error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and presigned-URL minting: repeating them changes nothing, so one retry is safe.
    OnceOnTransientFailure,
    /// Creates (and anything with a streamed body): never repeated blindly.
    Never,
}

/// A successful (2xx) upstream answer.
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The TwelveLabs API, as seen by one request.
pub struct Upstream<'a> {
    /// The API root, e.g. `https://api.twelvelabs.io/v1.3`.
    pub base_url: &'a str,
    /// The API key.
    pub api_key: &'a Secret,
    /// Per-call timeout.
    pub timeout_ms: u64,
    /// The last upstream status seen (for the request's log line).
    pub last_status: &'a Cell<Option<u16>>,
}

impl Upstream<'_> {
    /// Calls `method path_and_query` (relative to the API root) and returns a 2xx reply, or the
    /// mapped error.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Body,
        retry: Retry,
    ) -> Result<Reply, ApiError> {
        let attempts = match (&retry, &body) {
            (_, Body::Stream { .. }) | (Retry::Never, _) => 1,
            (Retry::OnceOnTransientFailure, _) => 2,
        };
        let timeout_ms = match &body {
            Body::Stream { .. } => STREAMED_UPLOAD_TIMEOUT_MS,
            _ => self.timeout_ms,
        };
        let url = format!("{}{}", self.base_url, path_and_query);
        let mut outcome = Err(unavailable("TwelveLabs could not be reached."));
        for _ in 0..attempts {
            // Cloning a `Stream` body only clones the JS handle; streams get one attempt anyway.
            outcome = self.once(&method, &url, body.clone(), timeout_ms).await;
            // 502 here means 5xx, a network error or a timeout: worth one more try when safe.
            let transient = matches!(&outcome, Err(e) if e.status() == 502);
            if !transient {
                break;
            }
        }
        outcome
    }

    async fn once(
        &self,
        method: &Method,
        url: &str,
        body: Body,
        timeout_ms: u64,
    ) -> Result<Reply, ApiError> {
        let headers = Headers::new();
        let set = |name: &str, value: &str| {
            headers
                .set(name, value)
                .map_err(|_| ApiError::new(ErrorCode::Internal, "could not build a header"))
        };
        set("x-api-key", self.api_key.expose())?;
        set("Accept", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(method.clone());
        match body {
            Body::Empty => {}
            Body::Json(bytes) => {
                set("Content-Type", "application/json")?;
                init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
            }
            Body::Form {
                bytes,
                content_type,
            } => {
                set("Content-Type", &content_type)?;
                init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
            }
            Body::Stream {
                stream,
                content_type,
            } => {
                set("Content-Type", &content_type)?;
                init.with_body(Some(stream));
            }
        }
        init.with_headers(headers);
        let request = Request::new_with_init(url, &init)
            .map_err(|_| ApiError::new(ErrorCode::Internal, "TWELVELABS_BASE_URL is not a URL"))?;

        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sending = Box::pin(fetch.send_with_signal(&signal));
        let deadline = Delay::from(Duration::from_millis(timeout_ms));
        let mut response = match select(sending, deadline).await {
            Either::Left((Ok(response), _)) => response,
            // The JS error text is not forwarded: it could name the request.
            Either::Left((Err(_), _)) => {
                return Err(unavailable("TwelveLabs could not be reached."))
            }
            Either::Right(((), _)) => {
                controller.abort();
                return Err(unavailable(&format!(
                    "TwelveLabs did not answer within {timeout_ms} ms."
                )));
            }
        };
        let status = response.status_code();
        self.last_status.set(Some(status));
        let body = response
            .bytes()
            .await
            .map_err(|_| unavailable("TwelveLabs' answer was cut off."))?;
        if (200..300).contains(&status) {
            return Ok(Reply { status, body });
        }
        let retry_after = response.headers().get("Retry-After").ok().flatten();
        Err(map_upstream_failure(status, &body, retry_after.as_deref()))
    }
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(ErrorCode::UpstreamUnavailable, message)
}
