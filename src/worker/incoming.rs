//! The incoming request, read from the runtime's `web_sys::Request` in one step.
//!
//! `worker::Request`'s conversion reads `request.cf` (a JS object the runtime builds on first
//! access, then copied field by field into a Rust `Cf`) and the URL on every request, though
//! the Worker needs neither: that read was a measurable share of its CPU per request. This
//! wrapper reads the method, the URL and the headers the Worker decides on in one crossing
//! ([`request_facts`]), with the same semantics (method, path, body-used rule) as
//! `worker::Request`; other headers are read when asked for.

use wasm_bindgen::prelude::wasm_bindgen;
use worker::{js_sys, web_sys, ByteStream, Method};

/// The headers [`request_facts`] reads with the method and URL, in its order.
const FACT_HEADERS: [&str; 5] = [
    "origin",
    "authorization",
    "content-type",
    "content-length",
    "access-control-request-method",
];

/// [`FACT_HEADERS`] as the one text [`request_facts`] takes.
const FACT_HEADER_LIST: &str =
    "origin,authorization,content-type,content-length,access-control-request-method";

// The method, the URL and the `FACT_HEADERS` as one text: fields separated by `\n` (which none
// of them can hold: a URL is serialised percent-encoded, and header values never hold a line
// break), each header `+value` when present and `-` when absent.
#[wasm_bindgen(inline_js = r#"
export function request_facts(request, names) {
  const headers = request.headers;
  let facts = `${request.method}\n${request.url}`;
  for (const name of names.split(',')) {
    const value = headers.get(name);
    facts += value === null ? '\n-' : `\n+${value}`;
  }
  return facts;
}
"#)]
extern "C" {
    fn request_facts(request: &web_sys::Request, names: &str) -> String;

}

/// An incoming request from the runtime.
pub struct Request {
    raw: web_sys::Request,
    method: String,
    url: String,
    /// The values of [`FACT_HEADERS`], in order.
    fact_headers: [Option<String>; FACT_HEADERS.len()],
    body_used: bool,
}

impl From<web_sys::Request> for Request {
    fn from(raw: web_sys::Request) -> Request {
        let facts = request_facts(&raw, FACT_HEADER_LIST);
        let (method, url, fact_headers) = split_facts(&facts);
        Request {
            raw,
            method,
            url,
            fact_headers,
            body_used: false,
        }
    }
}

/// The method, URL and header values of a [`request_facts`] text.
fn split_facts(facts: &str) -> (String, String, [Option<String>; FACT_HEADERS.len()]) {
    let mut fields = facts.split('\n');
    let method = fields.next().unwrap_or_default().to_owned();
    let url = fields.next().unwrap_or_default().to_owned();
    let headers = std::array::from_fn(|_| {
        fields
            .next()
            .and_then(|field| field.strip_prefix('+'))
            .map(str::to_owned)
    });
    (method, url, headers)
}

impl Request {
    /// The value of header `name` (case-insensitive), if the request has it.
    pub fn header(&self, name: &str) -> Option<String> {
        match FACT_HEADERS
            .iter()
            .position(|fact| fact.eq_ignore_ascii_case(name))
        {
            Some(i) => self.fact_headers[i].clone(),
            None => self.raw.headers().get(name).ok().flatten(),
        }
    }

    /// The method as the client sent it (for the log line, at most 16 characters).
    pub fn method_name(&self) -> String {
        self.method.chars().take(16).collect()
    }

    /// The method, when it is one the Worker knows, spelled exactly (methods are
    /// case-sensitive): `get`, `PROPFIND` or `PURGE` are `None`, so they can never be served as
    /// a `GET` (which `worker::Method::from` would make of them).
    pub fn method(&self) -> Option<Method> {
        Some(match self.method.as_str() {
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
        path_from_url(&self.url)
    }

    /// The query string's pairs, decoded as `Url::query_pairs` decodes them (the url crate's
    /// `form_urlencoded`), read from the runtime's already-serialised URL without parsing the whole
    /// URL again (its host parse showed in the list route's profile).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query_of_url(&self.url).as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    /// The runtime's request.
    pub fn inner(&self) -> &web_sys::Request {
        &self.raw
    }

    /// The whole body, with one `arrayBuffer()`: a small body read whole, in one promise,
    /// rather than through a stream reader (a promise per chunk and a lock release, which showed
    /// up as a large share of the Worker's CPU per request). The body can be read once.
    pub async fn bytes(&mut self) -> worker::Result<Vec<u8>> {
        if std::mem::replace(&mut self.body_used, true) {
            return Err(worker::Error::BodyUsed);
        }
        let body = crate::worker::task::promise(self.raw.array_buffer()?).await?;
        Ok(js_sys::Uint8Array::new(&body).to_vec())
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

/// The query of an already-serialised WHATWG URL, without its `?` (empty when there is none): in
/// the serialisation, the first `?` begins the query and the first `#` after it the fragment, as
/// `?` cannot appear unencoded before it and `#` cannot inside the query.
pub fn query_of_url(url: &str) -> &str {
    let Some(start) = url.find('?') else {
        return "";
    };
    let query = &url[start + 1..];
    &query[..query.find('#').unwrap_or(query.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fact_header_list_names_the_fact_headers() {
        assert_eq!(FACT_HEADER_LIST, FACT_HEADERS.join(","));
    }

    #[test]
    fn facts_split_into_method_url_and_headers() {
        let (method, url, headers) = split_facts(
            "POST\nhttps://w.example/v1.3/assets?a=1\n+https://app.example\n-\n+\n+12\n-",
        );
        assert_eq!(method, "POST");
        assert_eq!(url, "https://w.example/v1.3/assets?a=1");
        assert_eq!(
            headers,
            [
                Some("https://app.example".to_owned()),
                None,
                Some(String::new()),
                Some("12".to_owned()),
                None
            ]
        );
        // A short text (never produced) leaves the missing headers absent.
        let (method, url, headers) = split_facts("GET");
        assert_eq!((method.as_str(), url.as_str()), ("GET", ""));
        assert_eq!(headers, [None, None, None, None, None]);
    }

    #[test]
    fn query_pairs_read_as_the_url_crate_reads_them() {
        for url in [
            "http://127.0.0.1:8787/v1.3/assets?page=2&page_limit=10",
            "https://w.example/v1.3/assets?filename=a%20b+c&asset_ids=x&asset_ids=y#frag",
            "https://w.example/v1.3/assets?",
            "https://w.example/v1.3/assets",
            "https://w.example/v1.3/assets?a=%E2%82%AC&b&=c&d=%zz&e==",
            "https://w.example/v1.3/assets?x=1?y=2&z=%23",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            let expected: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let read: Vec<(String, String)> =
                url::form_urlencoded::parse(query_of_url(parsed.as_str()).as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            assert_eq!(read, expected, "{url}");
        }
    }

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
