//! The `fetch` transport: JSON calls to the Worker (or the API) and chunk PUTs to presigned URLs.
//!
//! This layer performs requests and describes what happened — status, body, `ETag`,
//! `Retry-After`, network failure, abort — without deciding anything: whether to retry, refresh
//! or give up is the engine's call (`core`).
//!
//! Chunk bodies are `Blob` views (`file.slice(start, end)`) handed to `fetch` as they are: the
//! browser streams them from disk, and the bytes never enter wasm memory.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, FormData, Headers, RequestInit, RequestRedirect, Response};

use super::js_error::{describe, error_name, is_network_error};
use super::runtime::now_ms;
use crate::core::error::Error;
use crate::core::retry::parse_retry_after_ms;

/// How a request failed before any HTTP response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The request's `AbortSignal` fired (pause, abort, stall watchdog, or the caller's signal).
    Aborted,
    /// `fetch` rejected (offline, connection reset, DNS, a CORS refusal), or the request could
    /// not be built. The runtime's words differ by browser, so none are kept: the core reports
    /// every network error with one stable message.
    Network,
    /// `fetch` did what no runtime's `fetch` does: it threw something other than a `TypeError`
    /// or a `DOMException`, or resolved to something other than a `Response`. That is a bug in
    /// a `fetch` the application supplied; the text says what it did, for the error message.
    Misbehaved(String),
}

/// `value` as a `Response`: one of this realm's, or an object with what is read of one
/// (`status`, `headers.get`, `text()`), such as another realm's or the npm `undici`'s.
pub fn as_response(value: JsValue) -> Result<Response, JsValue> {
    if value.has_type::<Response>() {
        return Ok(value.unchecked_into());
    }
    let field = |object: &JsValue, name: &str| Reflect::get(object, &name.into()).ok();
    let headers = field(&value, "headers").filter(|h| h.is_object());
    let readable = field(&value, "status").is_some_and(|s| s.as_f64().is_some())
        && field(&value, "text").is_some_and(|f| f.is_function())
        && headers.is_some_and(|h| field(&h, "get").is_some_and(|f| f.is_function()));
    if readable {
        Ok(value.unchecked_into())
    } else {
        Err(value)
    }
}

impl SendFailure {
    /// What a `fetch` that resolved to `value`, not a `Response`, failed with.
    pub fn not_a_response(value: &JsValue) -> SendFailure {
        let what = match value.js_typeof().as_string() {
            Some(kind) if kind == "undefined" => kind,
            Some(kind) => format!("a value of type {kind}"),
            None => "a value".to_owned(),
        };
        SendFailure::Misbehaved(format!("fetch resolved to {what}, not a Response"))
    }
}

/// A credential sent with API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`: a grant or an upload token, for the Worker.
    Bearer(&'a str),
    /// `x-api-key: <key>`: TwelveLabs' own scheme, for server-side runtimes that hold a key.
    ApiKey(&'a str),
}

/// A request body for an API call.
#[derive(Clone, Copy)]
pub enum ApiBody<'a> {
    /// No body.
    Empty,
    /// A JSON document, sent with `Content-Type: application/json`.
    Json(&'a str),
    /// A `multipart/form-data` body (direct uploads); the runtime sets the boundary.
    Form(&'a FormData),
}

/// An API response: status, parsed body and the parsed `Retry-After`.
#[derive(Clone)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body parsed as JSON by the JS engine (`JSON.parse`); `undefined` when it is empty or
    /// not JSON.
    pub body: JsValue,
    /// `Retry-After` converted to milliseconds from now, when present and well-formed.
    pub retry_after_ms: Option<u64>,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What a chunk PUT returned.
#[derive(Debug, Clone, PartialEq)]
pub struct PutResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `ETag` header as sent (quotes included); `None` when absent or hidden by CORS (the
    /// storage must send `Access-Control-Expose-Headers: ETag` for a browser to read it).
    pub etag: Option<String>,
    /// `Retry-After` converted to milliseconds from now, when present and well-formed.
    pub retry_after_ms: Option<u64>,
    /// The start of the body (S3-style XML on errors), for error messages only.
    pub body_excerpt: String,
}

/// The longest body excerpt kept from a storage error response.
const BODY_EXCERPT_CHARS: usize = 300;

/// Performs requests with the runtime's `fetch` or a caller-supplied replacement.
#[derive(Clone)]
pub struct Transport {
    fetch: Function,
    /// `this` for the call: the global object for the built-in `fetch` (which throws "Illegal
    /// invocation" on any other receiver in browsers), `undefined` for a caller's function.
    receiver: JsValue,
}

impl Transport {
    /// Uses `fetch_override` when given, else `globalThis.fetch`.
    pub fn new(fetch_override: Option<Function>) -> Result<Transport, Error> {
        if let Some(fetch) = fetch_override {
            return Ok(Transport {
                fetch,
                receiver: JsValue::UNDEFINED,
            });
        }
        let global = js_sys::global();
        let fetch = Reflect::get(&global, &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| {
                Error::invalid(
                    "this runtime has no global fetch: use Node >= 20, a browser, or pass the `fetch` option",
                )
            })?;
        Ok(Transport {
            fetch,
            receiver: global.into(),
        })
    }

    /// Starts `fetch(url, init)`. A synchronous throw comes back as a rejected promise, so that
    /// every outcome arrives the same way: later, through the promise.
    pub fn start(&self, url: &str, init: &RequestInit) -> Promise {
        match self
            .fetch
            .call2(&self.receiver, &JsValue::from_str(url), init)
        {
            Ok(returned) => Promise::resolve(&returned),
            Err(thrown) => Promise::reject(&thrown),
        }
    }
}

/// The `RequestInit` of an API call: `Accept`, the credential, and the body with its type.
pub fn api_init(
    method: &str,
    credential: Option<Credential<'_>>,
    body: ApiBody<'_>,
    signal: Option<&AbortSignal>,
) -> Result<RequestInit, SendFailure> {
    let headers = new_headers()?;
    append(&headers, "Accept", "application/json")?;
    match credential {
        Some(Credential::Bearer(token)) => {
            append(&headers, "Authorization", &format!("Bearer {token}"))?
        }
        Some(Credential::ApiKey(key)) => append(&headers, "x-api-key", key)?,
        None => {}
    }
    let init = RequestInit::new();
    init.set_method(method);
    match body {
        ApiBody::Empty => {}
        ApiBody::Json(json) => {
            append(&headers, "Content-Type", "application/json")?;
            init.set_body(&JsValue::from_str(json));
        }
        ApiBody::Form(form) => init.set_body(form),
    }
    init.set_headers(&headers);
    if let Some(signal) = signal {
        init.set_signal(Some(signal));
    }
    Ok(init)
}

/// The `RequestInit` of a chunk PUT: one `Blob` view of the file to a presigned URL, with the
/// session's `upload_headers`.
pub fn put_init(
    upload_headers: &[(String, String)],
    chunk: &Blob,
    signal: &AbortSignal,
) -> Result<RequestInit, SendFailure> {
    let headers = new_headers()?;
    for (name, value) in upload_headers {
        append(&headers, name, value)?;
    }
    let init = RequestInit::new();
    init.set_method("PUT");
    init.set_headers(&headers);
    init.set_body(chunk);
    init.set_signal(Some(signal));
    // A presigned storage URL never redirects (S3 signs the exact host and path). Refusing
    // redirects also spares Node's fetch (undici) from cloning every request to be able to
    // replay it, which tees and copies the whole body: about a fifth of the uploading
    // process's CPU per GiB (bench/profile-node.mjs --compare-put-init). A redirect answer
    // becomes a network error, retried with a fresh URL like any other.
    init.set_redirect(RequestRedirect::Error);
    Ok(init)
}

/// The status and headers of a response, read as soon as it arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHead {
    /// The HTTP status.
    pub status: u16,
    /// The `ETag` header as sent (quotes included); `None` when absent or hidden by CORS (the
    /// storage must send `Access-Control-Expose-Headers: ETag` for a browser to read it).
    pub etag: Option<String>,
    /// `Retry-After` converted to milliseconds from now, when present and well-formed.
    pub retry_after_ms: Option<u64>,
}

impl ResponseHead {
    /// Reads the status, `ETag` and `Retry-After` of `response`.
    pub fn read(response: &Response) -> ResponseHead {
        ResponseHead {
            status: response.status(),
            etag: response.headers().get("etag").ok().flatten(),
            retry_after_ms: retry_after_ms(response),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The API response this head and its body `text` make.
    pub fn api_response(&self, text: &str) -> ApiResponse {
        ApiResponse {
            status: self.status,
            body: js_sys::JSON::parse(text).unwrap_or(JsValue::UNDEFINED),
            retry_after_ms: self.retry_after_ms,
        }
    }

    /// The chunk PUT's answer this head and its body `text` make (only the start of the body is
    /// kept, for error messages).
    pub fn put_response(self, text: &str) -> PutResponse {
        PutResponse {
            status: self.status,
            etag: self.etag,
            retry_after_ms: self.retry_after_ms,
            body_excerpt: text.chars().take(BODY_EXCERPT_CHARS).collect(),
        }
    }
}

/// Describes a rejected `fetch` or body read: an abort (through `signal`, or an `AbortError`),
/// a network failure (what `fetch` rejects with in every runtime, [`is_network_error`]), or
/// anything else, which only a broken `fetch` replacement throws.
pub fn classify_rejection(thrown: &JsValue, signal: Option<&AbortSignal>) -> SendFailure {
    let aborted_by_us = signal.is_some_and(|s| s.aborted());
    let name = error_name(thrown);
    if aborted_by_us || name.as_deref() == Some("AbortError") {
        SendFailure::Aborted
    } else if is_network_error(thrown) {
        SendFailure::Network
    } else {
        let words = describe(thrown);
        SendFailure::Misbehaved(match name {
            Some(name) => format!("fetch threw {name}: {words}"),
            None => format!("fetch threw {words}"),
        })
    }
}

fn new_headers() -> Result<Headers, SendFailure> {
    Headers::new().map_err(|_| SendFailure::Network)
}

fn append(headers: &Headers, name: &str, value: &str) -> Result<(), SendFailure> {
    headers
        .append(name, value)
        .map_err(|_| SendFailure::Network)
}

/// `Retry-After` as milliseconds from now (read by the core's one parser).
fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.headers().get("retry-after").ok().flatten()?;
    // Date.now() is a non-negative integer number of milliseconds.
    parse_retry_after_ms(&value, now_ms() as u64)
}
