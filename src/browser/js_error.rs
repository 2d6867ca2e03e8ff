//! JS `Error` objects carrying the crate's stable error codes.
//!
//! Every rejection the package produces is a real `Error` (so stack traces and `instanceof Error`
//! work) with three extra own properties: `code` (a stable snake_case string from
//! [`ErrorCode`]), `retryable` (whether trying again later may succeed) and `status` (the HTTP
//! status that caused it, or `undefined`). `name` is `"UploadError"`.

use crate::core::error::{Error, ErrorCode};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

/// The `name` property of every error this package throws.
pub const ERROR_NAME: &str = "UploadError";

/// Converts a core error into a JS `Error` with `code`, `retryable` and `status`.
pub fn to_js_error(error: &Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.message);
    js_error.set_name(ERROR_NAME);
    let object: &JsValue = js_error.as_ref();
    // `Reflect::set` on a fresh, extensible Error cannot fail; ignoring its result is safe.
    let _ = Reflect::set(object, &"code".into(), &error.code.as_str().into());
    let _ = Reflect::set(object, &"retryable".into(), &error.is_retryable().into());
    let status = error.status.map_or(JsValue::UNDEFINED, JsValue::from);
    let _ = Reflect::set(object, &"status".into(), &status);
    js_error.into()
}

/// A call's string argument, or `invalid_input` naming it (`what`: `"getAsset: assetId"`). The
/// exported calls take such arguments as `JsValue` rather than `String`, whose generated glue
/// would throw a bare `TypeError` naming neither the call nor the argument.
pub fn string_argument(value: &JsValue, what: &str) -> Result<String, Error> {
    value
        .as_string()
        .ok_or_else(|| Error::invalid(format!("{what} must be a string")))
}

/// A listener given to `subscribe`, or `invalid_input`: one that is not a function would never
/// be called.
pub fn listener_argument(listener: JsValue) -> Result<js_sys::Function, JsValue> {
    listener
        .dyn_into()
        .map_err(|_| to_js_error(&Error::invalid("subscribe: listener must be a function")))
}

/// Builds a JS error directly from a code and a message.
pub fn js_error(code: ErrorCode, message: impl Into<String>) -> JsValue {
    to_js_error(&Error::new(code, message))
}

/// Turns an arbitrary thrown JS value (from `fetch`, a user callback, IndexedDB…) into a core
/// error. Errors this package created keep their code; an `AbortError` becomes
/// [`ErrorCode::Aborted`]; anything else takes `fallback`.
pub fn from_js(value: &JsValue, fallback: ErrorCode) -> Error {
    if let Some(code) = Reflect::get(value, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .and_then(|c| ErrorCode::parse(&c))
    {
        let status = Reflect::get(value, &"status".into())
            .ok()
            .and_then(|s| s.as_f64())
            .map(|s| s as u16);
        return Error {
            code,
            message: describe(value),
            status,
        };
    }
    let code = match error_name(value).as_deref() {
        Some("AbortError") => ErrorCode::Aborted,
        _ => fallback,
    };
    Error::new(code, describe(value))
}

/// The `name` of a thrown value (`AbortError`, `NotReadableError`, …), if it has one.
pub fn error_name(value: &JsValue) -> Option<String> {
    Reflect::get(value, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
}

/// Whether a thrown value is a `TypeError`: by its class (a subclass named otherwise counts), or
/// by its name, so that one of another realm (an iframe's, a test runner's VM context's) counts.
pub fn is_type_error(value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::TypeError>() || error_name(value).as_deref() == Some("TypeError")
}

/// Whether a thrown value is what `fetch` rejects with when the network fails: a `TypeError`
/// ([`is_type_error`]) or a `DOMException` (a file's `NotReadableError`, a `TimeoutError`; of
/// this realm or, by its constructor's name, another).
pub fn is_network_error(value: &JsValue) -> bool {
    is_type_error(value)
        || value.has_type::<web_sys::DomException>()
        || Reflect::get(value, &"constructor".into())
            .and_then(|c| Reflect::get(&c, &"name".into()))
            .ok()
            .and_then(|n| n.as_string())
            .as_deref()
            == Some("DOMException")
}

/// A readable description of any thrown JS value.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    if let Some(text) = value.as_string() {
        return text;
    }
    // An error of another realm (an iframe, a VM context) is not an `instanceof Error` here.
    if let Some(message) = Reflect::get(value, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
    {
        return message;
    }
    String::from(js_sys::JSON::stringify(value).unwrap_or_else(|_| "unknown error".into()))
        .chars()
        .take(500)
        .collect()
}
