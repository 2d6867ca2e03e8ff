//! The Worker's configuration: secrets and vars, read from the environment once per isolate
//! (see `CONFIG` in the module above: they cannot change during an isolate's life).
//!
//! Parsing is pure (it takes a lookup function), so defaults and refusals are unit-tested
//! natively. Secrets are kept in [`Secret`], whose `Debug` never prints the value.

use crate::core::wire::MediaType;
use crate::worker::cors::{AllowedHeaders, AllowedOrigins};
use crate::worker::policy::{parse_types, Policy};

/// The TwelveLabs API root used when `TWELVELABS_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "https://api.twelvelabs.io/v1.3";

/// `MAX_UPLOAD_BYTES` when unset: the API's own multipart ceiling for video and audio.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = crate::core::wire::limits::MULTIPART_MEDIA_MAX_BYTES;

/// `UPSTREAM_TIMEOUT_MS` when unset.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 30_000;

/// `MAX_GRANT_TTL_S` when unset: the longest lifetime (`exp - now`) a grant may claim.
pub const DEFAULT_MAX_GRANT_TTL_SECS: i64 = 3600;

/// The largest `MAX_GRANT_TTL_S` accepted (a day).
pub const MAX_GRANT_TTL_LIMIT_SECS: i64 = 24 * 60 * 60;

/// `MAX_LISTED_ASSETS` when unset: the most assets of one user a list reads from the index
/// (KV lists a thousand keys per call; a user with more is refused rather than cut short).
pub const DEFAULT_MAX_LISTED_ASSETS: usize = 5_000;

/// The largest `MAX_LISTED_ASSETS` accepted.
pub const MAX_LISTED_ASSETS_LIMIT: usize = 100_000;

/// The shortest `GRANT_SECRET` and `TOKEN_SECRET` accepted, in bytes (HS256's key size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Why the configuration is unusable: the setting at fault (its name, never its value) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The var or secret at fault, e.g. `TOKEN_SECRET`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub why: String,
}

impl ConfigError {
    fn new(setting: &'static str, why: impl Into<String>) -> ConfigError {
        ConfigError {
            setting,
            why: why.into(),
        }
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {}", self.setting, self.why)
    }
}

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

/// A signing secret and, while a rotation lasts, the secret it replaces (`<NAME>_PREVIOUS`).
/// The current one signs what the Worker mints; both verify, so grants, upload tokens and
/// webhook receivers keyed with the old secret keep working until it is removed.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    /// `<NAME>`: signs and verifies.
    pub current: Secret,
    /// `<NAME>_PREVIOUS`: the secret being retired.
    pub previous: Option<Secret>,
}

impl SigningKeys {
    fn secrets(&self) -> impl Iterator<Item = &Secret> {
        core::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// Where completion webhooks go and the keys that sign them.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// `COMPLETION_WEBHOOK_URL`, as the URL parser serialised it.
    pub url: String,
    /// `WEBHOOK_SECRET` and `WEBHOOK_SECRET_PREVIOUS`: a delivery carries one signature each.
    pub keys: SigningKeys,
}

/// The names the Worker reads from its environment (secrets first): every name
/// [`Config::from_lookup`] asks for, and no other.
pub const CONFIG_NAMES: &[&str] = &[
    "TWELVELABS_API_KEY",
    "GRANT_SECRET",
    "GRANT_SECRET_PREVIOUS",
    "TOKEN_SECRET",
    "TOKEN_SECRET_PREVIOUS",
    "TWELVELABS_BASE_URL",
    "ALLOWED_ORIGINS",
    "ALLOWED_REQUEST_HEADERS",
    "MAX_UPLOAD_BYTES",
    "ALLOWED_TYPES",
    "DEV_GRANTS",
    "UPSTREAM_TIMEOUT_MS",
    "MAX_GRANT_TTL_S",
    "MAX_LISTED_ASSETS",
    "COMPLETION_WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_PREVIOUS",
];

/// Everything the Worker reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TWELVELABS_API_KEY` (secret).
    pub api_key: Option<Secret>,
    /// `GRANT_SECRET` (shared with the application's backend) and `GRANT_SECRET_PREVIOUS`.
    pub grant_keys: Option<SigningKeys>,
    /// `TOKEN_SECRET` (the Worker's own, for upload tokens) and `TOKEN_SECRET_PREVIOUS`.
    pub token_keys: Option<SigningKeys>,
    /// `TWELVELABS_BASE_URL` without a trailing slash.
    pub base_url: String,
    /// `ALLOWED_ORIGINS`.
    pub allowed_origins: AllowedOrigins,
    /// `ALLOWED_REQUEST_HEADERS`, with the client's own.
    pub allowed_request_headers: AllowedHeaders,
    /// `MAX_UPLOAD_BYTES` and `ALLOWED_TYPES`.
    pub policy: Policy,
    /// `DEV_GRANTS=true` enables `POST /dev/grant`.
    pub dev_grants: bool,
    /// `UPSTREAM_TIMEOUT_MS`: how long one TwelveLabs API call may take.
    pub upstream_timeout_ms: u64,
    /// `MAX_GRANT_TTL_S`: the longest `exp - now` a grant may claim.
    pub max_grant_ttl_secs: i64,
    /// `MAX_LISTED_ASSETS`: the most assets of one user a list reads from the index.
    pub max_listed_assets: usize,
    /// `COMPLETION_WEBHOOK_URL` and the `WEBHOOK_SECRET` keys: completion webhooks are sent when set.
    pub webhook: Option<WebhookTarget>,
}

impl Config {
    /// Reads the configuration through `lookup` (name → value). Empty values count as unset.
    /// A malformed var is an error naming it: better a clear 500 than a silently wrong policy.
    /// Secrets may be absent (the routes that need one say so), but one that is present must be
    /// at least [`MIN_SECRET_BYTES`] long, without control characters or surrounding whitespace.
    /// A `_PREVIOUS` secret needs its current one and must differ from it, and no secret may
    /// serve two purposes (grants, upload tokens, webhooks): else whoever holds one could sign
    /// the other's tokens.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &'static str| {
            get(name)
                .map(|value| checked_secret(name, value))
                .transpose()
        };
        let signing_keys = |name: &'static str, previous_name: &'static str| {
            signing_keys(name, secret(name)?, previous_name, secret(previous_name)?)
        };
        let grant_keys = signing_keys("GRANT_SECRET", "GRANT_SECRET_PREVIOUS")?;
        let token_keys = signing_keys("TOKEN_SECRET", "TOKEN_SECRET_PREVIOUS")?;
        let webhook_keys = signing_keys("WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS")?;
        one_purpose_each(&[
            (
                ["GRANT_SECRET", "GRANT_SECRET_PREVIOUS"],
                grant_keys.as_ref(),
            ),
            (
                ["TOKEN_SECRET", "TOKEN_SECRET_PREVIOUS"],
                token_keys.as_ref(),
            ),
            (
                ["WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS"],
                webhook_keys.as_ref(),
            ),
        ])?;

        // The key goes out as the `x-api-key` header on every upstream call: a value no header
        // can carry would fail each call as if TwelveLabs were unreachable. Surrounding whitespace
        // (a secret pasted with its line break) is dropped, as a header value's would be.
        let api_key = get("TWELVELABS_API_KEY").map(|key| key.trim().to_owned());
        if let Some(key) = &api_key {
            if !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    "TWELVELABS_API_KEY",
                    "must be printable ASCII without spaces",
                ));
            }
        }

        let base_url = get("TWELVELABS_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        check_base_url(&base_url)?;

        let max_upload_bytes = match get("MAX_UPLOAD_BYTES") {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ConfigError::new(
                        "MAX_UPLOAD_BYTES",
                        "must be a positive integer",
                    ))
                }
            },
        };
        let allowed_types = match get("ALLOWED_TYPES") {
            None => vec![MediaType::Video, MediaType::Audio, MediaType::Image],
            Some(v) => parse_types(&v).map_err(|_| {
                ConfigError::new(
                    "ALLOWED_TYPES",
                    "must list one or more of video, audio, image",
                )
            })?,
        };
        let dev_grants = match get("DEV_GRANTS").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ConfigError::new("DEV_GRANTS", "must be `true` or `false`")),
        };

        let upstream_timeout_ms = bounded_integer(
            get("UPSTREAM_TIMEOUT_MS"),
            "UPSTREAM_TIMEOUT_MS",
            DEFAULT_UPSTREAM_TIMEOUT_MS,
            600_000,
        )?;
        let max_grant_ttl_secs = bounded_integer(
            get("MAX_GRANT_TTL_S"),
            "MAX_GRANT_TTL_S",
            DEFAULT_MAX_GRANT_TTL_SECS as u64,
            MAX_GRANT_TTL_LIMIT_SECS as u64,
        )? as i64;
        let max_listed_assets = bounded_integer(
            get("MAX_LISTED_ASSETS"),
            "MAX_LISTED_ASSETS",
            DEFAULT_MAX_LISTED_ASSETS as u64,
            MAX_LISTED_ASSETS_LIMIT as u64,
        )? as usize;

        let webhook = webhook_target(get("COMPLETION_WEBHOOK_URL"), webhook_keys)?;
        let allowed_request_headers =
            AllowedHeaders::parse(&get("ALLOWED_REQUEST_HEADERS").unwrap_or_default())
                .map_err(|why| ConfigError::new("ALLOWED_REQUEST_HEADERS", why))?;

        Ok(Config {
            api_key: api_key.map(Secret),
            grant_keys,
            token_keys,
            base_url,
            allowed_origins: AllowedOrigins::parse(&get("ALLOWED_ORIGINS").unwrap_or_default()),
            allowed_request_headers,
            policy: Policy {
                max_upload_bytes,
                allowed_types,
            },
            dev_grants,
            upstream_timeout_ms,
            max_grant_ttl_secs,
            max_listed_assets,
            webhook,
        })
    }
}

/// A signing secret as configured, or why it cannot be used. HMAC pads a key shorter than its
/// block with NUL bytes, so `k` and `k\0` would sign alike while comparing unequal here: no
/// control character is accepted. Surrounding whitespace (a secret pasted with its line break)
/// would count towards the length and differ from what the backend signs with: refused too.
fn checked_secret(name: &'static str, value: String) -> Result<Secret, ConfigError> {
    if value.chars().any(char::is_control) {
        return Err(ConfigError::new(
            name,
            "must not contain control characters",
        ));
    }
    if value.trim() != value {
        return Err(ConfigError::new(
            name,
            "must not begin or end with whitespace",
        ));
    }
    if value.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            name,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        ));
    }
    Ok(Secret(value))
}

/// No secret may serve two purposes: a grant secret that is also a token or webhook secret
/// (current or previous) would let whoever holds one sign the other's tokens. The error names
/// the later purpose's setting.
fn one_purpose_each(
    purposes: &[([&'static str; 2], Option<&SigningKeys>)],
) -> Result<(), ConfigError> {
    for (at, (names, keys)) in purposes.iter().enumerate() {
        let Some(keys) = keys else { continue };
        for (name, secret) in names.iter().zip(keys.secrets()) {
            for (earlier_names, earlier) in &purposes[..at] {
                if earlier.is_some_and(|earlier| earlier.secrets().any(|s| s == secret)) {
                    return Err(ConfigError::new(
                        name,
                        format!(
                            "must differ from {} and {}",
                            earlier_names[0], earlier_names[1]
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The keys of the signing secret `name` and of `previous_name`, the one it replaces while a
/// rotation lasts: none, or a current one with at most one previous that differs from it.
fn signing_keys(
    name: &'static str,
    current: Option<Secret>,
    previous_name: &'static str,
    previous: Option<Secret>,
) -> Result<Option<SigningKeys>, ConfigError> {
    match (current, previous) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ConfigError::new(
            previous_name,
            format!("is set but {name} is not (set the new secret as {name})"),
        )),
        (Some(current), Some(previous)) if current == previous => Err(ConfigError::new(
            previous_name,
            format!("must differ from {name} (it is the secret being retired)"),
        )),
        (Some(current), previous) => Ok(Some(SigningKeys { current, previous })),
    }
}

/// The integer setting `name` (its `value`, if set): `default` when unset, else an integer in
/// `1..=max`.
fn bounded_integer(
    value: Option<String>,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            name,
            format!("must be an integer in 1..={max}"),
        )),
    }
}

/// `TWELVELABS_BASE_URL` must be https. Plain http is accepted for a loopback host only: that is
/// how local development (the emulator) is recognised, with no extra switch, and it is harmless
/// in production, where a Worker cannot reach a loopback address.
fn check_base_url(base_url: &str) -> Result<(), ConfigError> {
    https_or_loopback_http("TWELVELABS_BASE_URL", base_url).map(drop)
}

/// The rule for every URL the Worker sends to (`TWELVELABS_BASE_URL`, `COMPLETION_WEBHOOK_URL`):
/// https, or http to a loopback host (local development), without credentials. Answers the URL
/// as the parser serialised it.
fn https_or_loopback_http(setting: &'static str, value: &str) -> Result<String, ConfigError> {
    let refuse = |why: &str| Err(ConfigError::new(setting, why));
    let Ok(url) = url::Url::parse(value) else {
        return refuse("is not a URL");
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url.into()),
        "http" if loopback => Ok(url.into()),
        _ => refuse(
            "must be an https:// URL (http:// only for a loopback host, in local development)",
        ),
    }
}

/// The webhook target from `COMPLETION_WEBHOOK_URL` and the `WEBHOOK_SECRET` keys (already
/// checked for length). A URL needs a secret; a secret alone sends nothing (it may be put before
/// the URL is deployed). Errors name the setting, never its value.
fn webhook_target(
    url: Option<String>,
    keys: Option<SigningKeys>,
) -> Result<Option<WebhookTarget>, ConfigError> {
    let Some(url) = url else {
        return Ok(None);
    };
    let url = https_or_loopback_http("COMPLETION_WEBHOOK_URL", url.trim())?;
    let Some(keys) = keys else {
        return Err(ConfigError::new(
            "WEBHOOK_SECRET",
            "must be set when COMPLETION_WEBHOOK_URL is",
        ));
    };
    Ok(Some(WebhookTarget { url, keys }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn every_setting_read_is_one_the_worker_looks_up() {
        let asked = std::cell::RefCell::new(Vec::new());
        let _ = Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        });
        let asked = asked.into_inner();
        for name in &asked {
            assert!(
                CONFIG_NAMES.contains(&name.as_str()),
                "{name} is read but never looked up"
            );
        }
        for name in CONFIG_NAMES {
            assert!(
                asked.iter().any(|a| a == name),
                "{name} is looked up but never read"
            );
        }
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
        assert_eq!(
            c.allowed_request_headers.value(),
            "Authorization, Content-Type"
        );
        let traced = config(&[("ALLOWED_REQUEST_HEADERS", "traceparent")]).unwrap();
        assert_eq!(
            traced.allowed_request_headers.value(),
            "Authorization, Content-Type, traceparent"
        );
        let pasted = config(&[("TWELVELABS_API_KEY", " tlk_pasted_key\n")]).unwrap();
        assert_eq!(pasted.api_key.unwrap().expose(), "tlk_pasted_key");

        for (name, value) in [
            ("MAX_UPLOAD_BYTES", "10GB"),
            ("MAX_UPLOAD_BYTES", "0"),
            ("ALLOWED_TYPES", "movies"),
            ("DEV_GRANTS", "yes"),
            ("TWELVELABS_BASE_URL", "api.twelvelabs.io"),
            ("UPSTREAM_TIMEOUT_MS", "0"),
            ("ALLOWED_REQUEST_HEADERS", "x-trace id"),
            ("ALLOWED_REQUEST_HEADERS", "*"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.setting, name, "{err}");
            assert!(!err.to_string().contains(value) || value.len() < 3, "{err}");
        }
    }

    #[test]
    fn weak_or_shared_secrets_and_plain_http_upstreams_are_refused() {
        let strong = "s".repeat(MIN_SECRET_BYTES);
        let other = "t".repeat(MIN_SECRET_BYTES);
        for (pairs, setting) in [
            (vec![("GRANT_SECRET", "short-secret")], "GRANT_SECRET"),
            (vec![("TOKEN_SECRET", &strong[1..])], "TOKEN_SECRET"),
            (
                vec![
                    ("GRANT_SECRET", strong.as_str()),
                    ("TOKEN_SECRET", strong.as_str()),
                ],
                "TOKEN_SECRET",
            ),
            (
                vec![("TWELVELABS_BASE_URL", "http://api.twelvelabs.io/v1.3")],
                "TWELVELABS_BASE_URL",
            ),
            (
                vec![("TWELVELABS_BASE_URL", "http://10.0.0.2:8080/v1.3")],
                "TWELVELABS_BASE_URL",
            ),
            (
                vec![("TWELVELABS_BASE_URL", "https://u:p@api.twelvelabs.io/v1.3")],
                "TWELVELABS_BASE_URL",
            ),
            (
                vec![("TWELVELABS_API_KEY", "tlk_line\nbreak")],
                "TWELVELABS_API_KEY",
            ),
            (
                vec![("TWELVELABS_API_KEY", "tlk_bell\u{7}key")],
                "TWELVELABS_API_KEY",
            ),
            (
                vec![("TWELVELABS_API_KEY", "tlk_inner space")],
                "TWELVELABS_API_KEY",
            ),
            (
                vec![("TWELVELABS_API_KEY", "tlk_n\u{f6}n_ascii")],
                "TWELVELABS_API_KEY",
            ),
            (vec![("MAX_GRANT_TTL_S", "0")], "MAX_GRANT_TTL_S"),
            (vec![("MAX_GRANT_TTL_S", "86401")], "MAX_GRANT_TTL_S"),
            (vec![("MAX_LISTED_ASSETS", "0")], "MAX_LISTED_ASSETS"),
            (vec![("MAX_LISTED_ASSETS", "100001")], "MAX_LISTED_ASSETS"),
            (vec![("MAX_LISTED_ASSETS", "many")], "MAX_LISTED_ASSETS"),
        ] {
            let err = config(&pairs).unwrap_err();
            assert_eq!(err.setting, setting, "{pairs:?}");
            for (_, value) in pairs.iter().filter(|(_, v)| v.len() > 5) {
                assert!(!err.to_string().contains(value), "the value leaked: {err}");
            }
        }
        for url in [
            "http://127.0.0.1:8787/v1.3",
            "http://[::1]:8787/v1.3",
            "http://localhost:8787/v1.3",
            "https://api.twelvelabs.io/v1.3",
        ] {
            let c = config(&[
                ("TWELVELABS_BASE_URL", url),
                ("GRANT_SECRET", strong.as_str()),
                ("TOKEN_SECRET", other.as_str()),
            ])
            .unwrap();
            assert_eq!(c.max_grant_ttl_secs, DEFAULT_MAX_GRANT_TTL_SECS);
            assert_eq!(c.max_listed_assets, DEFAULT_MAX_LISTED_ASSETS);
        }
    }

    #[test]
    fn the_webhook_needs_an_https_url_or_loopback_http_and_a_strong_secret() {
        let strong = "w".repeat(MIN_SECRET_BYTES);
        assert!(config(&[]).unwrap().webhook.is_none());
        assert!(config(&[("WEBHOOK_SECRET", &strong)])
            .unwrap()
            .webhook
            .is_none());
        for url in [
            "https://hooks.example.com/edge",
            "http://127.0.0.1:9000/hook",
            "http://127.8.0.1/hook",
            "http://[::1]:9000/hook",
            "http://localhost:9000/hook",
        ] {
            let c =
                config(&[("COMPLETION_WEBHOOK_URL", url), ("WEBHOOK_SECRET", &strong)]).unwrap();
            let target = c.webhook.unwrap();
            assert!(target.url.starts_with(&url[..12]), "{}", target.url);
            assert_eq!(target.keys.current.expose(), strong);
            assert!(target.keys.previous.is_none());
        }
        let short_secret = "a-secret-that-is-too-short";
        for (pairs, setting) in [
            (
                vec![("COMPLETION_WEBHOOK_URL", "http://hooks.example.com/edge")],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![("COMPLETION_WEBHOOK_URL", "http://10.0.0.2/edge")],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![("COMPLETION_WEBHOOK_URL", "http://127.0.0.1.example.com/")],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![(
                    "COMPLETION_WEBHOOK_URL",
                    "https://user:pw@hooks.example.com/",
                )],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![("COMPLETION_WEBHOOK_URL", "ftp://hooks.example.com/")],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![("COMPLETION_WEBHOOK_URL", "hooks.example.com/edge")],
                "COMPLETION_WEBHOOK_URL",
            ),
            (
                vec![("COMPLETION_WEBHOOK_URL", "https://hooks.example.com/")],
                "WEBHOOK_SECRET",
            ),
            (vec![("WEBHOOK_SECRET", short_secret)], "WEBHOOK_SECRET"),
        ] {
            let mut pairs = pairs;
            if setting == "COMPLETION_WEBHOOK_URL" {
                pairs.push(("WEBHOOK_SECRET", strong.as_str()));
            }
            let err = config(&pairs).unwrap_err();
            assert_eq!(err.setting, setting, "{pairs:?}: {err}");
            let text = err.to_string();
            assert!(
                !text.contains(short_secret) && !text.contains(&strong),
                "{text}"
            );
            assert!(!text.contains("pw@"), "{text}");
        }
    }

    #[test]
    fn a_rotation_keeps_the_previous_secret_for_verifying_and_refuses_what_would_weaken_it() {
        let [g, g0, t, t0, w, w0] =
            ["g", "h", "t", "u", "w", "x"].map(|c| c.repeat(MIN_SECRET_BYTES));
        let c = config(&[
            ("GRANT_SECRET", &g),
            ("GRANT_SECRET_PREVIOUS", &g0),
            ("TOKEN_SECRET", &t),
            ("TOKEN_SECRET_PREVIOUS", &t0),
            ("WEBHOOK_SECRET", &w),
            ("WEBHOOK_SECRET_PREVIOUS", &w0),
            ("COMPLETION_WEBHOOK_URL", "https://hooks.example.com/edge"),
        ])
        .unwrap();
        let grant = c.grant_keys.unwrap();
        assert_eq!(grant.current.expose(), g);
        assert_eq!(grant.previous.unwrap().expose(), g0);
        assert_eq!(c.token_keys.unwrap().previous.unwrap().expose(), t0);
        assert_eq!(c.webhook.unwrap().keys.previous.unwrap().expose(), w0);

        for (pairs, setting) in [
            (
                vec![("GRANT_SECRET_PREVIOUS", g0.as_str())],
                "GRANT_SECRET_PREVIOUS",
            ),
            (
                vec![("TOKEN_SECRET_PREVIOUS", t0.as_str())],
                "TOKEN_SECRET_PREVIOUS",
            ),
            (
                vec![("WEBHOOK_SECRET_PREVIOUS", w0.as_str())],
                "WEBHOOK_SECRET_PREVIOUS",
            ),
            (
                vec![("GRANT_SECRET", &g), ("GRANT_SECRET_PREVIOUS", &g)],
                "GRANT_SECRET_PREVIOUS",
            ),
            (
                vec![("TOKEN_SECRET", &t), ("TOKEN_SECRET_PREVIOUS", &t)],
                "TOKEN_SECRET_PREVIOUS",
            ),
            (
                vec![("WEBHOOK_SECRET", &w), ("WEBHOOK_SECRET_PREVIOUS", &w)],
                "WEBHOOK_SECRET_PREVIOUS",
            ),
            (
                vec![("GRANT_SECRET", &g), ("GRANT_SECRET_PREVIOUS", &g0[1..])],
                "GRANT_SECRET_PREVIOUS",
            ),
            // No grant secret, current or retiring, may be a token secret, either way round.
            (
                vec![
                    ("GRANT_SECRET", &g),
                    ("GRANT_SECRET_PREVIOUS", &g0),
                    ("TOKEN_SECRET", &g0),
                ],
                "TOKEN_SECRET",
            ),
            (
                vec![
                    ("GRANT_SECRET", &g),
                    ("TOKEN_SECRET", &t),
                    ("TOKEN_SECRET_PREVIOUS", &g),
                ],
                "TOKEN_SECRET_PREVIOUS",
            ),
            (
                vec![
                    ("GRANT_SECRET", &g),
                    ("GRANT_SECRET_PREVIOUS", &t0),
                    ("TOKEN_SECRET", &t),
                    ("TOKEN_SECRET_PREVIOUS", &t0),
                ],
                "TOKEN_SECRET_PREVIOUS",
            ),
        ] {
            let err = config(&pairs).unwrap_err();
            assert_eq!(err.setting, setting, "{pairs:?}: {err}");
            for (_, value) in &pairs {
                assert!(!err.to_string().contains(value), "the value leaked: {err}");
            }
        }
    }

    #[test]
    fn no_secret_serves_two_purposes_and_none_hides_behind_padding() {
        let [g, t, w, w0] = ["g", "t", "w", "x"].map(|c| c.repeat(MIN_SECRET_BYTES));
        let hook = ("COMPLETION_WEBHOOK_URL", "https://hooks.example.com/edge");
        let nul_padded = format!("{t}\0");
        let spaced = format!("hunter2{}", " ".repeat(MIN_SECRET_BYTES));
        let line_break = format!("{g}\n");
        for (pairs, setting) in [
            // The receiver holds the webhook secret: it must not sign upload tokens or grants.
            (
                vec![
                    ("GRANT_SECRET", g.as_str()),
                    ("TOKEN_SECRET", &t),
                    ("WEBHOOK_SECRET", &t),
                    hook,
                ],
                "WEBHOOK_SECRET",
            ),
            (
                vec![
                    ("GRANT_SECRET", g.as_str()),
                    ("TOKEN_SECRET", &t),
                    ("WEBHOOK_SECRET", &g),
                    hook,
                ],
                "WEBHOOK_SECRET",
            ),
            (
                vec![
                    ("GRANT_SECRET", g.as_str()),
                    ("TOKEN_SECRET", &t),
                    ("WEBHOOK_SECRET", &w),
                    ("WEBHOOK_SECRET_PREVIOUS", &t),
                    hook,
                ],
                "WEBHOOK_SECRET_PREVIOUS",
            ),
            // HMAC pads a short key with NUL bytes: `t` and `t\0` sign alike.
            (
                vec![("GRANT_SECRET", g.as_str()), ("TOKEN_SECRET", &nul_padded)],
                "TOKEN_SECRET",
            ),
            (vec![("GRANT_SECRET", spaced.as_str())], "GRANT_SECRET"),
            (vec![("GRANT_SECRET", line_break.as_str())], "GRANT_SECRET"),
        ] {
            let err = config(&pairs).unwrap_err();
            assert_eq!(err.setting, setting, "{pairs:?}: {err}");
            for (_, value) in pairs.iter().filter(|(_, v)| v.len() > 8) {
                assert!(!err.to_string().contains(value), "the value leaked: {err}");
            }
        }
        // Three purposes, three secrets (and a retiring one): served.
        let c = config(&[
            ("GRANT_SECRET", &g),
            ("TOKEN_SECRET", &t),
            ("WEBHOOK_SECRET", &w),
            ("WEBHOOK_SECRET_PREVIOUS", &w0),
            hook,
        ])
        .unwrap();
        assert!(c.webhook.is_some());
    }
}
