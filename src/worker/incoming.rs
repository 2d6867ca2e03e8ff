//! The incoming request, read lazily from the runtime's `web_sys::Request`.
//!
//! `worker::Request`'s conversion reads `request.cf` (a JS object the runtime builds on first
//! access, then copied field by field into a Rust `Cf`) and the URL on every request, though
//! the Worker needs neither: that read was a measurable share of its CPU per request. This
//! wrapper reads only what a handler asks for, with the same accessors (and the same
//! semantics: method, path, body-used rule) as `worker::Request`.

use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, ByteStream, Headers, Method, Url};

/// An incoming request from the runtime.
pub struct Request {
    raw: web_sys::Request,
    headers: Headers,
    body_used: bool,
}

impl From<web_sys::Request> for Request {
    fn from(raw: web_sys::Request) -> Request {
        Request {
            headers: Headers(raw.headers()),
            raw,
            body_used: false,
        }
    }
}

impl Request {
    /// The request's headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The method as the client sent it (for the log line, at most 16 characters).
    pub fn method_name(&self) -> String {
        self.raw.method().chars().take(16).collect()
    }

    /// The method, when it is one the Worker knows, spelled exactly (methods are
    /// case-sensitive): `get`, `PROPFIND` or `PURGE` are `None`, so they can never be served as
    /// a `GET` (which `worker::Method::from` would make of them).
    pub fn method(&self) -> Option<Method> {
        Some(match self.raw.method().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            _ => return None,
        })
    }

    /// The URL's path (no query, no fragment).
    pub fn path(&self) -> String {
        path_from_url(&self.raw.url())
    }

    /// The parsed URL (for the query string).
    pub fn url(&self) -> worker::Result<Url> {
        Url::parse(&self.raw.url()).map_err(|e| worker::Error::RustError(e.to_string()))
    }

    /// The runtime's request.
    pub fn inner(&self) -> &web_sys::Request {
        &self.raw
    }

    /// The whole body, with one `arrayBuffer()`; the body can be read once.
    pub async fn bytes(&mut self) -> worker::Result<Vec<u8>> {
        if std::mem::replace(&mut self.body_used, true) {
            return Err(worker::Error::BodyUsed);
        }
        Ok(whole_body(self.raw.array_buffer()?).await?)
    }

    /// The body as a stream of chunks; the body can be read once.
    pub fn stream(&mut self) -> worker::Result<ByteStream> {
        if std::mem::replace(&mut self.body_used, true) {
            return Err(worker::Error::BodyUsed);
        }
        let body = self
            .raw
            .body()
            .ok_or_else(|| worker::Error::RustError("no body for request".into()))?;
        Ok(ByteStream::from(body))
    }
}

/// The bytes of an `arrayBuffer()` promise (of a `Request` or a `Response`): a small body read
/// whole, in one promise, rather than through a stream reader (a promise per chunk and a lock
/// release, which showed up as a large share of the Worker's CPU per request).
pub async fn whole_body(array_buffer: js_sys::Promise) -> Result<Vec<u8>, JsValue> {
    let buffer = JsFuture::from(array_buffer).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The path of an already-serialised WHATWG URL (what `Request.url` gives), as
/// `worker::Request` extracts it: special-scheme serialisation never emits an empty path, so the
/// first `/` after the host begins it, and within it `?` and `#` are always percent-encoded.
pub fn path_from_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not reachable for a runtime request (its URL is absolute); kept as worker's all the same.
        return if url.starts_with('/') {
            url.to_owned()
        } else {
            format!("/{url}")
        };
    };
    let after_scheme = &url[scheme_end + 3..];
    match after_scheme.find('/') {
        Some(i) => {
            let path = &after_scheme[i..];
            path[..path.find(['?', '#']).unwrap_or(path.len())].to_owned()
        }
        None => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cut_from_serialised_urls() {
        for (url, path) in [
            ("http://127.0.0.1:8787/v1.3/assets?page=2", "/v1.3/assets"),
            ("https://w.example/healthz#x", "/healthz"),
            ("https://w.example/", "/"),
            ("https://w.example", "/"),
            ("healthz", "/healthz"),
            (
                "https://w.example/v1.3/assets/a%3Fb?x=/y",
                "/v1.3/assets/a%3Fb",
            ),
        ] {
            assert_eq!(path_from_url(url), path, "{url}");
        }
    }
}
