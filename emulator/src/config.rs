//! Emulator configuration: what the CLI flags (and environment variables) set, plus the fault
//! knobs that can also be changed at runtime through `POST /_emulator/faults`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default API key when neither `--api-key` nor `EMULATOR_API_KEY` is given.
pub const DEFAULT_API_KEY: &str = "emulator-dev-key";
/// Default multipart chunk size: 5 MiB, the value in every documented example.
pub const DEFAULT_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
/// Default number of presigned URLs handed out by the create-session response.
pub const DEFAULT_INITIAL_URLS: u32 = 10;
/// Documented lifetime of a multipart session: 24 hours.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 24 * 60 * 60;
/// Documented lifetime of one presigned chunk URL: 1 hour.
pub const DEFAULT_URL_TTL_SECS: u64 = 60 * 60;
/// Default time an asset spends in `processing` before it becomes `ready`.
pub const DEFAULT_PROCESSING_MS: u64 = 200;
/// Default time a stalled PUT is held open before the connection is closed.
pub const DEFAULT_PUT_STALL_SECS: u64 = 300;

/// Everything needed to start an emulator. `Config::default()` is a usable development setup
/// on `127.0.0.1:0`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 asks the OS for a free port.
    pub listen: SocketAddr,
    /// The only API key accepted in `x-api-key`.
    pub api_key: String,
    /// Scheme, host and port put into presigned URLs and asset URLs. `None` = the listen URL.
    pub public_url: Option<String>,
    /// Origins allowed by CORS (exact match, e.g. `http://127.0.0.1:8080`); `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Directory for chunk and asset bytes. `None` = a temporary directory removed on shutdown.
    pub data_dir: Option<PathBuf>,
    /// Chunk size of new multipart sessions, in bytes (raised automatically if a file would
    /// need more than 10 000 chunks, S3's part limit).
    pub chunk_size: u64,
    /// How many presigned URLs the create-session response carries at most.
    pub initial_urls: u32,
    /// Answer for a successful `DELETE /assets/{id}`.
    pub delete_status: DeleteStatus,
    /// What `POST /assets` with `method=url` does with the URL.
    pub url_mode: UrlMode,
    /// Seed of the random generator behind ids, signing key and fault decisions.
    pub seed: u64,
    /// Seconds added to the wall clock (positive = the emulator lives in the future).
    pub clock_offset_secs: i64,
    /// Fault injection and timing knobs (changeable at runtime).
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_API_KEY.to_owned(),
            public_url: None,
            allowed_origins: Vec::new(),
            data_dir: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            initial_urls: DEFAULT_INITIAL_URLS,
            delete_status: DeleteStatus::NoContent,
            url_mode: UrlMode::FetchLoopback,
            seed: 0,
            clock_offset_secs: 0,
            faults: Faults::default(),
        }
    }
}

/// The success answer of `DELETE /assets/{id}`: the spec changed from 204 to 200 in 2026-07.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteStatus {
    /// `204 No Content`, empty body (the documented answer until 2026-07-07).
    NoContent,
    /// `200 OK` with body `{}` (the 2026-07-16 spec and the docs page).
    OkEmptyObject,
}

/// How `method=url` direct uploads are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlMode {
    /// Fetch the URL when it points to a loopback host; refuse any other host with 400.
    FetchLoopback,
    /// Never fetch: record the URL and let the asset become ready without bytes.
    Record,
}

/// How an injected PUT failure manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutFailureKind {
    /// The body is read in full, then `500 InternalError` (S3 XML) is answered.
    #[serde(rename = "500")]
    ServerError,
    /// Half the body is read, then the connection is dropped without an answer.
    #[serde(rename = "reset")]
    Reset,
    /// Half the body is read, then nothing happens for `put_stall_secs`; then the connection
    /// is dropped.
    #[serde(rename = "stall")]
    Stall,
}

impl PutFailureKind {
    /// Parses the CLI spelling: `500`, `reset` or `stall`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "500" => Ok(PutFailureKind::ServerError),
            "reset" => Ok(PutFailureKind::Reset),
            "stall" => Ok(PutFailureKind::Stall),
            other => Err(format!(
                "unknown PUT failure kind `{other}` (expected 500, reset or stall)"
            )),
        }
    }
}

/// Fault injection and timing knobs. Serialised as-is by `GET /_emulator/faults`; every field
/// is optional in `POST /_emulator/faults` (see [`FaultsPatch`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faults {
    /// Probability (0–1) that a chunk PUT fails with `put_failure_kind`.
    pub put_failure_rate: f64,
    /// How injected PUT failures manifest.
    pub put_failure_kind: PutFailureKind,
    /// The next N chunk PUTs fail with `put_failure_kind` (deterministic, before the rate).
    pub put_fail_next: u64,
    /// The next chunk PUTs fail with these kinds, one each, in order (deterministic, before
    /// `put_fail_next`): a test can have every kind happen whatever the upload's pace.
    pub put_fail_sequence: Vec<PutFailureKind>,
    /// How long a stalled PUT is held open.
    pub put_stall_secs: u64,
    /// Lifetime of presigned URLs issued from now on.
    pub url_ttl_secs: u64,
    /// A presigned URL is consumed by its first PUT attempt; later attempts get 403.
    pub single_use_urls: bool,
    /// Do not list `ETag` in `Access-Control-Expose-Headers` (a browser cannot read it).
    pub hide_etag: bool,
    /// Probability (0–1) that a `/v1.3` API request is answered with 429.
    pub rate_limit_rate: f64,
    /// The next N `/v1.3` API requests are answered with 429 (deterministic, before the rate).
    pub rate_limit_next: u64,
    /// Value of `Retry-After` (seconds) on injected 429 answers.
    pub retry_after_secs: u64,
    /// Injected 429 answers carry their `Retry-After` as an HTTP date `retry_after_secs` from
    /// now instead of delay-seconds (RFC 9110 allows both).
    pub retry_after_http_date: bool,
    /// The next N `/v1.3` API requests are answered with `api_fail_status` (deterministic;
    /// consulted before the 429 faults), so clients can prove how they treat server errors.
    pub api_fail_next: u64,
    /// The status of the `api_fail_next` answers: 500 `internal_error` by default; 408
    /// `request_timeout`, or any other 5xx.
    pub api_fail_status: u16,
    /// The report answer that completes a session leaves out `url`: only `total_completed`
    /// (= `total_chunks`) says that it is complete, the other signal TWELVELABS_API.md §4.4
    /// documents.
    pub omit_completion_url: bool,
    /// Lifetime of multipart sessions created from now on.
    pub session_ttl_secs: u64,
    /// Delay added before every API and storage request is handled.
    pub latency_ms: u64,
    /// How long a new asset stays `processing` before it is `ready`.
    pub processing_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            put_failure_rate: 0.0,
            put_failure_kind: PutFailureKind::ServerError,
            put_fail_next: 0,
            put_fail_sequence: Vec::new(),
            put_stall_secs: DEFAULT_PUT_STALL_SECS,
            url_ttl_secs: DEFAULT_URL_TTL_SECS,
            single_use_urls: false,
            hide_etag: false,
            rate_limit_rate: 0.0,
            rate_limit_next: 0,
            retry_after_secs: 1,
            retry_after_http_date: false,
            api_fail_next: 0,
            api_fail_status: 500,
            omit_completion_url: false,
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            latency_ms: 0,
            processing_ms: DEFAULT_PROCESSING_MS,
        }
    }
}

/// A partial update of [`Faults`], the body of `POST /_emulator/faults`. Absent fields keep
/// their current value; unknown fields are refused so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsPatch {
    /// New value of [`Faults::put_failure_rate`].
    pub put_failure_rate: Option<f64>,
    /// New value of [`Faults::put_failure_kind`].
    pub put_failure_kind: Option<PutFailureKind>,
    /// New value of [`Faults::put_fail_next`].
    pub put_fail_next: Option<u64>,
    /// New value of [`Faults::put_fail_sequence`].
    pub put_fail_sequence: Option<Vec<PutFailureKind>>,
    /// New value of [`Faults::put_stall_secs`].
    pub put_stall_secs: Option<u64>,
    /// New value of [`Faults::url_ttl_secs`].
    pub url_ttl_secs: Option<u64>,
    /// New value of [`Faults::single_use_urls`].
    pub single_use_urls: Option<bool>,
    /// New value of [`Faults::hide_etag`].
    pub hide_etag: Option<bool>,
    /// New value of [`Faults::rate_limit_rate`].
    pub rate_limit_rate: Option<f64>,
    /// New value of [`Faults::rate_limit_next`].
    pub rate_limit_next: Option<u64>,
    /// New value of [`Faults::retry_after_secs`].
    pub retry_after_secs: Option<u64>,
    /// New value of [`Faults::retry_after_http_date`].
    pub retry_after_http_date: Option<bool>,
    /// New value of [`Faults::api_fail_next`].
    pub api_fail_next: Option<u64>,
    /// New value of [`Faults::api_fail_status`].
    pub api_fail_status: Option<u16>,
    /// New value of [`Faults::omit_completion_url`].
    pub omit_completion_url: Option<bool>,
    /// New value of [`Faults::session_ttl_secs`].
    pub session_ttl_secs: Option<u64>,
    /// New value of [`Faults::latency_ms`].
    pub latency_ms: Option<u64>,
    /// New value of [`Faults::processing_ms`].
    pub processing_ms: Option<u64>,
}

impl Faults {
    /// Checks the ranges that serde cannot: probabilities in 0–1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("put_failure_rate", self.put_failure_rate),
            ("rate_limit_rate", self.rate_limit_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("`{name}` must be between 0 and 1, got {rate}"));
            }
        }
        if !(self.api_fail_status == 408 || (500..=599).contains(&self.api_fail_status)) {
            return Err(format!(
                "`api_fail_status` must be 408 or a 5xx, got {}",
                self.api_fail_status
            ));
        }
        Ok(())
    }

    /// Returns these faults with the fields present in `patch` replaced.
    pub fn patched(&self, patch: &FaultsPatch) -> Faults {
        let mut next = self.clone();
        macro_rules! apply {
            ($($field:ident),*) => { $( if let Some(value) = &patch.$field { next.$field = value.clone(); } )* };
        }
        apply!(
            put_failure_rate,
            put_failure_kind,
            put_fail_next,
            put_fail_sequence,
            put_stall_secs,
            url_ttl_secs,
            single_use_urls,
            hide_etag,
            rate_limit_rate,
            rate_limit_next,
            retry_after_secs,
            retry_after_http_date,
            api_fail_next,
            api_fail_status,
            omit_completion_url,
            session_ttl_secs,
            latency_ms,
            processing_ms
        );
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_changes_only_present_fields() {
        let patch: FaultsPatch =
            serde_json::from_str(r#"{"put_failure_kind":"reset","hide_etag":true}"#).unwrap();
        let next = Faults::default().patched(&patch);
        assert_eq!(next.put_failure_kind, PutFailureKind::Reset);
        assert!(next.hide_etag);
        assert_eq!(next.url_ttl_secs, DEFAULT_URL_TTL_SECS);
    }

    #[test]
    fn patch_refuses_unknown_fields_and_bad_rates() {
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"hide_etags":true}"#).is_err());
        let faults = Faults {
            rate_limit_rate: 1.5,
            ..Faults::default()
        };
        assert!(faults.validate().unwrap_err().contains("rate_limit_rate"));
        for status in [200, 404, 429, 600] {
            let faults = Faults {
                api_fail_status: status,
                ..Faults::default()
            };
            assert!(faults.validate().unwrap_err().contains("api_fail_status"));
        }
        for status in [408, 500, 503] {
            let faults = Faults {
                api_fail_status: status,
                ..Faults::default()
            };
            assert!(faults.validate().is_ok());
        }
    }

    #[test]
    fn failure_kind_parses_cli_spelling() {
        assert_eq!(PutFailureKind::parse("stall"), Ok(PutFailureKind::Stall));
        assert!(PutFailureKind::parse("timeout").is_err());
    }
}
