//! CORS by allowlist. Pure: decides which headers to send; the caller attaches them.
//!
//! Tokens travel in `Authorization`, never in cookies, so the Worker never sends
//! `Access-Control-Allow-Credentials`; a configured `*` therefore cannot be combined with
//! credentials. Requests that carry an `Origin` outside the list are refused outright (before
//! any work), so a foreign page cannot even trigger side effects it would not be allowed to read.

/// The request headers browsers may always send (what the client itself uses).
pub const CLIENT_REQUEST_HEADERS: &str = "Authorization, Content-Type";

/// Response headers a browser script may read beyond the CORS-safelisted ones: `Retry-After`
/// drives the client's backoff on 429, and `Date` is the server's clock, for a client that dates
/// it that way (the package's engine dates it by the session's expiry and the URL batches'
/// `generated_at` instead).
pub const EXPOSED_RESPONSE_HEADERS: &str = "Date, Retry-After";

/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

/// The configured allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedOrigins {
    origins: Vec<String>,
    any: bool,
}

impl AllowedOrigins {
    /// Parses `ALLOWED_ORIGINS`: comma-separated origins such as `https://app.example.com`;
    /// `*` allows every origin. Entries are trimmed; trailing slashes dropped; empty ones ignored.
    pub fn parse(list: &str) -> AllowedOrigins {
        let mut allowed = AllowedOrigins::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                allowed.any = true;
            } else {
                allowed
                    .origins
                    .push(entry.trim_end_matches('/').to_ascii_lowercase());
            }
        }
        allowed
    }

    /// Whether a request's `Origin` is allowed (exact match, ASCII case-insensitive).
    pub fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The value of `Access-Control-Allow-Origin` for an allowed origin.
    fn allow_origin_value(&self, origin: &str) -> String {
        if self.any {
            "*".to_owned()
        } else {
            origin.to_owned()
        }
    }
}

/// The request headers a page may send: the client's own ([`CLIENT_REQUEST_HEADERS`]) and those
/// the deployment adds with `ALLOWED_REQUEST_HEADERS` (a tracing header such as `traceparent`).
/// The Worker forwards no request header upstream, so an added header reaches the Worker's own
/// code only, never TwelveLabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHeaders(String);

impl Default for AllowedHeaders {
    fn default() -> AllowedHeaders {
        AllowedHeaders(CLIENT_REQUEST_HEADERS.to_owned())
    }
}

impl AllowedHeaders {
    /// Parses `ALLOWED_REQUEST_HEADERS`: comma-separated header names, trimmed, empty entries
    /// ignored. `Err` says why an entry cannot be one (never quoting the value): a name must be
    /// an HTTP field name, and `*` is refused because it would not cover `Authorization` and reads
    /// as "everything" to whoever reviews the setting.
    pub fn parse(list: &str) -> Result<AllowedHeaders, &'static str> {
        let mut value = CLIENT_REQUEST_HEADERS.to_owned();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return Err("`*` is not accepted: list the header names a page may add");
            }
            let name = http::HeaderName::from_bytes(entry.as_bytes())
                .map_err(|_| "each entry must be an HTTP header name, such as `x-request-id`")?;
            let listed = value
                .split(", ")
                .any(|n| n.eq_ignore_ascii_case(name.as_str()));
            if !listed {
                value.push_str(", ");
                value.push_str(name.as_str());
            }
        }
        Ok(AllowedHeaders(value))
    }

    /// The value of `Access-Control-Allow-Headers`.
    pub fn value(&self) -> &str {
        &self.0
    }
}

/// What CORS says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsDecision {
    /// No `Origin` header: not a browser cross-origin request; no CORS headers.
    NotCors,
    /// An allowed origin: attach these headers to the response.
    Allowed(Vec<(&'static str, String)>),
    /// An origin outside the allowlist: refuse, with no allow header.
    Refused,
}

/// Headers for an actual (non-preflight) request from `origin`.
pub fn for_request(allowed: &AllowedOrigins, origin: Option<&str>) -> CorsDecision {
    let Some(origin) = origin else {
        return CorsDecision::NotCors;
    };
    if !allowed.allows(origin) {
        return CorsDecision::Refused;
    }
    CorsDecision::Allowed(vec![
        (
            "Access-Control-Allow-Origin",
            allowed.allow_origin_value(origin),
        ),
        (
            "Access-Control-Expose-Headers",
            EXPOSED_RESPONSE_HEADERS.to_owned(),
        ),
        ("Vary", "Origin".to_owned()),
    ])
}

/// Headers for a preflight (`OPTIONS` with `Access-Control-Request-Method`) to a route that
/// answers `methods`. A method the route does not serve is refused like a foreign origin.
pub fn for_preflight(
    allowed: &AllowedOrigins,
    headers: &AllowedHeaders,
    origin: Option<&str>,
    requested_method: &str,
    methods: &[&str],
) -> CorsDecision {
    let Some(origin) = origin else {
        return CorsDecision::Refused;
    };
    if !allowed.allows(origin) || !methods.contains(&requested_method) {
        return CorsDecision::Refused;
    }
    CorsDecision::Allowed(vec![
        (
            "Access-Control-Allow-Origin",
            allowed.allow_origin_value(origin),
        ),
        ("Access-Control-Allow-Methods", methods.join(", ")),
        ("Access-Control-Allow-Headers", headers.value().to_owned()),
        ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECS.to_string()),
        ("Vary", "Origin".to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(decision: &'a CorsDecision, name: &str) -> Option<&'a str> {
        match decision {
            CorsDecision::Allowed(headers) => headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    #[test]
    fn allowlisted_origins_are_echoed_and_others_refused() {
        let allowed = AllowedOrigins::parse(" https://app.example.com/ , http://127.0.0.1:8080,");
        let ok = for_request(&allowed, Some("https://app.example.com"));
        assert_eq!(
            header(&ok, "Access-Control-Allow-Origin"),
            Some("https://app.example.com")
        );
        assert_eq!(header(&ok, "Vary"), Some("Origin"));
        assert_eq!(
            header(&ok, "Access-Control-Expose-Headers"),
            Some("Date, Retry-After")
        );
        assert_eq!(header(&ok, "Access-Control-Allow-Credentials"), None);
        assert_eq!(
            for_request(&allowed, Some("https://evil.example.com")),
            CorsDecision::Refused
        );
        assert_eq!(
            for_request(&allowed, Some("https://app.example.com.evil.com")),
            CorsDecision::Refused
        );
        assert_eq!(for_request(&allowed, None), CorsDecision::NotCors);
        assert_eq!(
            for_request(&AllowedOrigins::parse(""), Some("https://app.example.com")),
            CorsDecision::Refused
        );
    }

    #[test]
    fn preflight_names_the_routes_methods_and_the_headers_used() {
        let allowed = AllowedOrigins::parse("https://app.example.com");
        let headers = AllowedHeaders::default();
        let answer = for_preflight(
            &allowed,
            &headers,
            Some("https://app.example.com"),
            "DELETE",
            &["GET", "DELETE"],
        );
        assert_eq!(
            header(&answer, "Access-Control-Allow-Methods"),
            Some("GET, DELETE")
        );
        assert_eq!(
            header(&answer, "Access-Control-Allow-Headers"),
            Some("Authorization, Content-Type")
        );
        assert_eq!(
            for_preflight(
                &allowed,
                &headers,
                Some("https://app.example.com"),
                "PUT",
                &["GET"]
            ),
            CorsDecision::Refused
        );
        assert_eq!(
            for_preflight(
                &allowed,
                &headers,
                Some("https://other.example"),
                "GET",
                &["GET"]
            ),
            CorsDecision::Refused
        );
    }

    #[test]
    fn a_deployment_may_allow_more_request_headers_by_name_only() {
        let headers = AllowedHeaders::parse(" traceparent, X-Request-Id ,,authorization").unwrap();
        assert_eq!(
            headers.value(),
            "Authorization, Content-Type, traceparent, x-request-id"
        );
        assert_eq!(
            AllowedHeaders::parse("").unwrap().value(),
            CLIENT_REQUEST_HEADERS
        );
        for bad in [
            "*", "x-a, *", "x trace", "x-a;b", "x-\u{e9}", "a:b", "(x)", "\"x\"",
        ] {
            assert!(AllowedHeaders::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_wildcard_allows_any_origin_without_credentials() {
        let any = AllowedOrigins::parse("*");
        let answer = for_request(&any, Some("https://whatever.example"));
        assert_eq!(header(&answer, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(header(&answer, "Access-Control-Allow-Credentials"), None);
    }
}
