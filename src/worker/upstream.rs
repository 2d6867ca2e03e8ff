//! The client for the TwelveLabs API: adds `x-api-key`, bounds each call with a timeout, sends a
//! call again when `core::retry::proxy_should_retry` says so, and maps failures to [`ApiError`]s.

use std::cell::Cell;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Delay, Method};

use crate::core::error::ErrorCode;
use crate::core::retry::{proxy_should_retry, HttpOutcome};
use crate::worker::config::Secret;
use crate::worker::incoming::whole_body;
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
        /// Aborts the call: the stream's producer uses it when it refuses the client's body.
        abort: web_sys::AbortController,
    },
}

/// Whether sending a call twice changes nothing (what `core::retry::proxy_should_retry` needs to
/// know; it decides whether to repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads and presigned-URL minting.
    Idempotent,
    /// Creates, deletes and reports: a repeat could create twice, answer 404 for a deletion that
    /// happened, or meet a session the first report completed. The client retries those itself,
    /// and knows how to read what it then gets.
    NotIdempotent,
}

/// A failed attempt: the upstream status (`None`: no answer, a timeout, a cut-off body) and the
/// mapped error.
struct Failure {
    status: Option<u16>,
    error: ApiError,
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
        idempotency: Idempotency,
    ) -> Result<Reply, ApiError> {
        // A streamed body is consumed by the first attempt.
        let replayable = !matches!(body, Body::Stream { .. });
        let timeout_ms = match &body {
            Body::Stream { .. } => STREAMED_UPLOAD_TIMEOUT_MS,
            _ => self.timeout_ms,
        };
        let url = format!("{}{}", self.base_url, path_and_query);
        let mut attempts_made = 0;
        loop {
            // Cloning a `Stream` body only clones the JS handle; it is never sent twice.
            let failure = match self.once(&method, &url, body.clone(), timeout_ms).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            attempts_made += 1;
            let outcome = HttpOutcome {
                status: failure.status,
                ..HttpOutcome::default()
            };
            let idempotent = idempotency == Idempotency::Idempotent;
            if !proxy_should_retry(idempotent, replayable, attempts_made, &outcome) {
                return Err(failure.error);
            }
        }
    }

    /// One attempt. Works on the runtime's own `Request`/`Response` rather than `worker`'s
    /// wrappers: those cost a second `Request` (fetch with a request *and* an init copies it),
    /// read `cf` and `webSocket` off the answer, and needed a second `Response` around the
    /// answer's stream to read it with one `arrayBuffer()`; each was runtime work per call.
    async fn once(
        &self,
        method: &Method,
        url: &str,
        body: Body,
        timeout_ms: u64,
    ) -> Result<Reply, Failure> {
        let header_failure = |_| Failure {
            status: None,
            error: ApiError::new(ErrorCode::Internal, "could not build a header"),
        };
        let headers = web_sys::Headers::new().map_err(header_failure)?;
        // The call's abort switch: for a streamed body, the stream's own controller with a timer
        // here (its producer aborts the call too); else the runtime's native timeout signal,
        // which costs no JS closure, timer or second future per call.
        let mut stream_abort = None;
        let set = |name: &str, value: &str| headers.set(name, value).map_err(header_failure);
        set("x-api-key", self.api_key.expose())?;
        set("Accept", "application/json")?;
        let init = web_sys::RequestInit::new();
        init.set_method(method.as_ref());
        match body {
            Body::Empty => {}
            Body::Json(bytes) => {
                set("Content-Type", "application/json")?;
                init.set_body(&js_sys::Uint8Array::from(bytes.as_slice()));
            }
            Body::Form {
                bytes,
                content_type,
            } => {
                set("Content-Type", &content_type)?;
                init.set_body(&js_sys::Uint8Array::from(bytes.as_slice()));
            }
            Body::Stream {
                stream,
                content_type,
                abort,
            } => {
                set("Content-Type", &content_type)?;
                init.set_body(&stream);
                stream_abort = Some(abort);
            }
        }
        init.set_headers(&headers);
        // Never follow a redirect: it would carry `x-api-key` to whatever host it names. A 3xx
        // is answered as an unavailable upstream.
        init.set_redirect(web_sys::RequestRedirect::Manual);
        let timeout_signal = match &stream_abort {
            Some(abort) => abort.signal(),
            None => web_sys::AbortSignal::timeout_with_f64(timeout_ms as f64),
        };
        init.set_signal(Some(&timeout_signal));
        let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|_| Failure {
            status: None,
            error: ApiError::new(ErrorCode::Internal, "TWELVELABS_BASE_URL is not a URL"),
        })?;

        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let sending = JsFuture::from(global.fetch_with_request(&request));
        let timed_out = || {
            no_answer(unavailable(&format!(
                "TwelveLabs did not answer within {timeout_ms} ms."
            )))
        };
        let answer = match &stream_abort {
            None => sending.await.map_err(|_| timeout_signal.aborted()),
            Some(abort) => {
                let deadline = Delay::from(Duration::from_millis(timeout_ms));
                match select(sending, deadline).await {
                    Either::Left((answer, _)) => answer.map_err(|_| false),
                    Either::Right(((), _)) => {
                        abort.abort();
                        Err(true)
                    }
                }
            }
        };
        let response: web_sys::Response = match answer {
            // `fetch` resolves to a `Response`, always.
            Ok(response) => response.unchecked_into(),
            Err(true) => return Err(timed_out()),
            // The JS error text is not forwarded: it could name the request.
            Err(false) => return Err(no_answer(unavailable("TwelveLabs could not be reached."))),
        };
        let status = response.status();
        self.last_status.set(Some(status));
        let body = read_whole(&response)
            .await
            .map_err(|()| no_answer(unavailable("TwelveLabs' answer was cut off.")))?;
        if (200..300).contains(&status) {
            return Ok(Reply { status, body });
        }
        let retry_after = response.headers().get("Retry-After").ok().flatten();
        Err(Failure {
            status: Some(status),
            error: map_upstream_failure(status, &body, retry_after.as_deref()),
        })
    }
}

/// Reads a whole upstream answer (small JSON) with [`whole_body`] rather than
/// `worker::Response::bytes`'s stream reader. An answer without a body reads as empty.
async fn read_whole(response: &web_sys::Response) -> Result<Vec<u8>, ()> {
    whole_body(response.array_buffer().map_err(drop)?)
        .await
        .map_err(drop)
}

/// A failure without a usable answer (network error, timeout, cut-off body): transient.
fn no_answer(error: ApiError) -> Failure {
    Failure {
        status: None,
        error,
    }
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(ErrorCode::UpstreamUnavailable, message)
}
