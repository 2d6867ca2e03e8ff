//! The client for the TwelveLabs API: adds `x-api-key`, bounds each call with a timeout, sends a
//! call again when `core::retry::proxy_should_retry` says so, and maps failures to [`ApiError`]s.

use std::cell::Cell;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, web_sys, Delay, Method};

use crate::core::error::ErrorCode;
use crate::core::retry::{proxy_should_retry, HttpOutcome};
use crate::core::wire::paths;
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
    /// `GET /assets/{asset_id}`: the asset as TwelveLabs has it (a 2xx reply), or the mapped
    /// error (`not_found` when there is none).
    pub async fn get_asset(&self, asset_id: &str) -> Result<Reply, ApiError> {
        let path = paths::asset(asset_id);
        self.call(Method::Get, &path, Body::Empty, Idempotency::Idempotent)
            .await
    }

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

    /// One attempt, as one JS step ([`call_upstream`]): the request is built, sent and its
    /// answer read whole in JS, so an attempt costs two crossings and one awaited promise instead
    /// of a dozen crossings (a `Headers`, each header, a `RequestInit` field by field, the
    /// `Request`, the global's `fetch`, the status, `arrayBuffer()`, its copy) and two promises.
    async fn once(
        &self,
        method: &Method,
        url: &str,
        body: Body,
        timeout_ms: u64,
    ) -> Result<Reply, Failure> {
        // The call's abort switch: for a streamed body, the stream's own controller with a timer
        // here (its producer aborts the call too); else the runtime's native timeout signal,
        // made in JS, which costs no JS closure, timer or second future per call.
        let (content_type, payload, stream_abort) = match body {
            Body::Empty => (None, JsValue::UNDEFINED, None),
            Body::Json(bytes) => (
                Some("application/json".to_owned()),
                js_sys::Uint8Array::from(bytes.as_slice()).into(),
                None,
            ),
            Body::Form {
                bytes,
                content_type,
            } => (
                Some(content_type),
                js_sys::Uint8Array::from(bytes.as_slice()).into(),
                None,
            ),
            Body::Stream {
                stream,
                content_type,
                abort,
            } => (Some(content_type), stream, Some(abort)),
        };
        let signal = stream_abort.as_ref().map(web_sys::AbortController::signal);
        let sending = crate::worker::task::promise(call_upstream(
            url,
            method.as_ref(),
            self.api_key.expose(),
            content_type.as_deref(),
            &payload,
            signal.as_ref(),
            timeout_ms as f64,
        ));
        let answer: UpstreamAnswer = match &stream_abort {
            // The JS step never rejects: every failure is a `failure` code in its answer.
            None => sending.await.map_err(|_| no_answer(unreachable()))?,
            Some(abort) => {
                let deadline = Delay::from(Duration::from_millis(timeout_ms));
                match select(sending, deadline).await {
                    Either::Left((answer, _)) => answer.map_err(|_| no_answer(unreachable()))?,
                    Either::Right(((), _)) => {
                        abort.abort();
                        return Err(timed_out(timeout_ms));
                    }
                }
            }
        }
        .unchecked_into();
        let status = answer.status();
        if status != 0 {
            self.last_status.set(Some(status));
        }
        match answer.failure() {
            0 => {}
            TIMED_OUT => return Err(timed_out(timeout_ms)),
            CUT_OFF => return Err(no_answer(unavailable("TwelveLabs' answer was cut off."))),
            // The JS error text is not forwarded: it could name the request.
            UNREACHABLE => return Err(no_answer(unreachable())),
            _ => {
                return Err(no_answer(ApiError::new(
                    ErrorCode::Internal,
                    "The upstream call ended in an unknown way.",
                )))
            }
        }
        let body = answer.body();
        if (200..300).contains(&status) {
            return Ok(Reply { status, body });
        }
        Err(Failure {
            status: Some(status),
            error: map_upstream_failure(
                status,
                &body,
                answer.retry_after().as_deref(),
                crate::worker::now_ms(),
            ),
        })
    }
}

// `failure` codes of an [`UpstreamAnswer`] (0: none), as `call_upstream` sets them.
/// No answer: a network error, or a call aborted by its producer.
const UNREACHABLE: u8 = 2;
/// The call's own timeout signal fired before the answer was read.
const TIMED_OUT: u8 = 3;
/// The answer's body could not be read whole.
const CUT_OFF: u8 = 4;

// One upstream attempt in JS: never follows a redirect (it would carry `x-api-key` to whatever
// host it names; a 3xx is answered as an unavailable upstream), bounded by `signal` or else by
// the runtime's `AbortSignal.timeout`, the answer read whole with one `arrayBuffer()` (small
// JSON; a stream reader costs a promise per chunk). It never rejects. The failure codes are the
// constants above. `fetch` is given the URL and init itself, not a `Request` built first (one
// object fewer per call; measured with `respond`'s plain headers in BENCHMARKS.md): what the
// constructor could refuse is checked once, in the configuration (the base URL parses, the API
// key is a valid header value).
#[wasm_bindgen(inline_js = r#"
export async function call_upstream(url, method, apiKey, contentType, body, signal, timeoutMs) {
  signal ??= AbortSignal.timeout(timeoutMs);
  const headers = { 'x-api-key': apiKey, accept: 'application/json' };
  if (contentType !== undefined) headers['content-type'] = contentType;
  let response;
  try {
    response = await fetch(url, { method, headers, body, redirect: 'manual', signal });
  } catch {
    return { status: 0, failure: signal.aborted ? 3 : 2 };
  }
  const status = response.status;
  try {
    const body = new Uint8Array(await response.arrayBuffer());
    return { status, failure: 0, body, retryAfter: response.headers.get('retry-after') ?? undefined };
  } catch {
    return { status, failure: 4 };
  }
}
"#)]
extern "C" {
    fn call_upstream(
        url: &str,
        method: &str,
        api_key: &str,
        content_type: Option<&str>,
        body: &JsValue,
        signal: Option<&web_sys::AbortSignal>,
        timeout_ms: f64,
    ) -> js_sys::Promise;

    /// What [`call_upstream`] resolves to.
    type UpstreamAnswer;

    #[wasm_bindgen(method, getter)]
    fn status(this: &UpstreamAnswer) -> u16;

    #[wasm_bindgen(method, getter)]
    fn failure(this: &UpstreamAnswer) -> u8;

    /// The answer's body (empty when it has none).
    #[wasm_bindgen(method, getter)]
    fn body(this: &UpstreamAnswer) -> Vec<u8>;

    #[wasm_bindgen(method, getter, js_name = retryAfter)]
    fn retry_after(this: &UpstreamAnswer) -> Option<String>;
}

fn timed_out(timeout_ms: u64) -> Failure {
    no_answer(unavailable(&format!(
        "TwelveLabs did not answer within {timeout_ms} ms."
    )))
}

fn unreachable() -> ApiError {
    unavailable("TwelveLabs could not be reached.")
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
