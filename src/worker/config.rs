//! The Worker's configuration: secrets and vars, read from the environment once per isolate
//! (see `CONFIG` in the module above: they cannot change during an isolate's life).
//!
//! Parsing is pure (it takes a lookup function), so defaults and refusals are unit-tested
//! natively. Secrets are kept in [`Secret`], whose `Debug` never prints the value.

use crate::core::wire::MediaType;
use crate::worker::cors::AllowedOrigins;
use crate::worker::policy::{parse_types, Policy};

/// The TwelveLabs API root used when `TWELVELABS_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.twelvelabs.io/v1.3";

/// `MAX_UPLOAD_BYTES` when unset: the API's own multipart ceiling for video and audio.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = crate::core::wire::limits::MULTIPART_MEDIA_MAX_BYTES;

/// `UPSTREAM_TIMEOUT_MS` when unset.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 30_000;

/// A secret value. Its `Debug` output is redacted so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it (a header or a MAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the Worker reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TWELVELABS_API_KEY` (secret).
    pub api_key: Option<Secret>,
    /// `GRANT_SECRET` (secret shared with the application's backend).
    pub grant_secret: Option<Secret>,
    /// `TOKEN_SECRET` (the Worker's own secret for upload tokens).
    pub token_secret: Option<Secret>,
    /// `TWELVELABS_BASE_URL` without a trailing slash.
    pub base_url: String,
    /// `ALLOWED_ORIGINS`.
    pub allowed_origins: AllowedOrigins,
    /// `MAX_UPLOAD_BYTES` and `ALLOWED_TYPES`.
    pub policy: Policy,
    /// `DEV_GRANTS=true` enables `POST /dev/grant`.
    pub dev_grants: bool,
    /// `UPSTREAM_TIMEOUT_MS`: how long one TwelveLabs API call may take.
    pub upstream_timeout_ms: u64,
}

impl Config {
    /// Reads the configuration through `lookup` (name → value). Empty values count as unset.
    /// A malformed var is an error naming it: better a clear 500 than a silently wrong policy.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &str| get(name).map(Secret);

        let base_url = get("TWELVELABS_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err("TWELVELABS_BASE_URL must be an http(s) URL".to_owned());
        }

        let max_upload_bytes = match get("MAX_UPLOAD_BYTES") {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => return Err("MAX_UPLOAD_BYTES must be a positive integer".to_owned()),
            },
        };
        let allowed_types = match get("ALLOWED_TYPES") {
            None => vec![MediaType::Video, MediaType::Audio, MediaType::Image],
            Some(v) => parse_types(&v)?,
        };
        let dev_grants = match get("DEV_GRANTS").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err("DEV_GRANTS must be `true` or `false`".to_owned()),
        };

        let upstream_timeout_ms = match get("UPSTREAM_TIMEOUT_MS") {
            None => DEFAULT_UPSTREAM_TIMEOUT_MS,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=600_000).contains(&n) => n,
                _ => return Err("UPSTREAM_TIMEOUT_MS must be an integer in 1..=600000".to_owned()),
            },
        };

        Ok(Config {
            api_key: secret("TWELVELABS_API_KEY"),
            grant_secret: secret("GRANT_SECRET"),
            token_secret: secret("TOKEN_SECRET"),
            base_url,
            allowed_origins: AllowedOrigins::parse(&get("ALLOWED_ORIGINS").unwrap_or_default()),
            policy: Policy {
                max_upload_bytes,
                allowed_types,
            },
            dev_grants,
            upstream_timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = config(&[]).unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert!(c.api_key.is_none());
        assert!(!c.dev_grants);
        assert!(!c.allowed_origins.allows("https://anything.example"));
        assert_eq!(c.policy.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(c.policy.allowed_types.len(), 3);
    }

    #[test]
    fn vars_are_read_and_malformed_ones_named() {
        let c = config(&[
            ("TWELVELABS_BASE_URL", "http://127.0.0.1:9999/v1.3/"),
            ("MAX_UPLOAD_BYTES", "1048576"),
            ("ALLOWED_TYPES", "video"),
            ("DEV_GRANTS", "true"),
            ("TWELVELABS_API_KEY", "tlk_secret_value"),
        ])
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9999/v1.3");
        assert_eq!(c.policy.max_upload_bytes, 1_048_576);
        assert_eq!(c.policy.allowed_types, vec![MediaType::Video]);
        assert!(c.dev_grants);
        assert!(!format!("{c:?}").contains("tlk_secret_value"));

        for (name, value) in [
            ("MAX_UPLOAD_BYTES", "10GB"),
            ("MAX_UPLOAD_BYTES", "0"),
            ("ALLOWED_TYPES", "movies"),
            ("DEV_GRANTS", "yes"),
            ("TWELVELABS_BASE_URL", "api.twelvelabs.io"),
            ("UPSTREAM_TIMEOUT_MS", "0"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }
}
