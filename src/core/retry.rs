//! What to do about the outcome of a request: succeed, retry (after how long, with a fresh URL
//! or not), or fail with a typed error.
//!
//! Adapters never decide this. They turn whatever their transport saw into an [`HttpOutcome`]
//! (status or network error, `ETag`, `Retry-After`, the error body's `code`) and hand it over;
//! [`classify`] says what it means and [`backoff_delay_ms`] how long to wait.
//!
//! | outcome | verdict |
//! |---|---|
//! | no response (network error, reset, CORS refusal, timeout) | retry |
//! | no response, and the request's own bytes unreadable (the file changed since it was chosen) | fatal `file_mismatch` |
//! | 408, 5xx | retry |
//! | 429 | retry, not before `Retry-After` |
//! | 403 on a storage PUT (expired or refused URL) | retry with a fresh URL |
//! | 400 `RequestTimeout` on a storage PUT (S3's idle-socket error) | retry with a fresh URL |
//! | 2xx on a storage PUT without a readable `ETag` | fatal `etag_unreadable` (names the CORS fix) |
//! | 2xx on an API call whose body did not parse | retry (then fatal `server_invalid`) |
//! | 401 / 403 / 404 / 410 / other 4xx on an API call | fatal, typed by status and body `code` |
//!
//! Backoff is "full jitter" (delay uniform in `[0, min(cap, base·2^attempt)]`), with the random
//! value supplied by the caller so every decision is reproducible.

use crate::core::error::{Error, ErrorCode};
use crate::core::progress::Retrying;
use crate::core::wire::{limits, normalize_etag};
use serde::{Deserialize, Serialize};

/// Which kind of request an outcome belongs to (the same status means different things).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `PUT` of a chunk to a presigned storage URL.
    StoragePut,
    /// `POST …/presigned-urls`.
    RequestUrls,
    /// `POST …/{upload_id}` (report completed chunks).
    Report,
    /// `GET …/{upload_id}` (session status).
    Status,
    /// `GET /assets/{asset_id}` while waiting for the asset to be ready.
    Asset,
    /// `POST /assets/multipart-uploads` (session creation; done by the adapter, classified here).
    CreateSession,
    /// `GET /assets/{asset_id}` asked for once by the application (`getAsset`).
    GetAsset,
    /// `GET /assets` (`listAssets`).
    ListAssets,
    /// `DELETE /assets/{asset_id}` (`deleteAsset`).
    DeleteAsset,
}

/// Whether an answer says the multipart session is no longer active: a storage PUT refused
/// because the storage no longer knows the upload (S3's 404 `NoSuchUpload`: completed, aborted
/// or expired), or a URL request or report refused as `upload_completed`, `upload_expired` or `upload_failed`.
/// Only the session's status can tell which (another tab may have completed it), so this is no
/// verdict on its own.
pub fn session_no_longer_active(operation: Operation, outcome: &HttpOutcome) -> bool {
    let code = outcome.error_code.as_deref().unwrap_or_default();
    match operation {
        Operation::StoragePut => outcome.status == Some(404) && code == "NoSuchUpload",
        Operation::RequestUrls | Operation::Report => {
            outcome.status.is_some_and(|s| (400..500).contains(&s))
                && matches!(
                    code,
                    "upload_completed" | "upload_expired" | "upload_failed"
                )
        }
        _ => false,
    }
}

/// The `error_code` of an [`HttpOutcome::source_unreadable`]: no response, and the request's
/// own bytes could not be read.
pub const SOURCE_UNREADABLE: &str = "source_unreadable";

/// The `error_code` of an [`HttpOutcome::fetch_misbehaved`]: no response, and `fetch` failed in
/// a way no network failure does.
pub const FETCH_MISBEHAVED: &str = "fetch_misbehaved";

/// What the transport observed, with nothing decided yet. Built by adapters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpOutcome {
    /// The HTTP status, or `None` when no response arrived (network error, reset, CORS refusal,
    /// timeout). For API calls, a 2xx here means "the body could not be parsed".
    pub status: Option<u16>,
    /// The `ETag` response header as read (quotes included or not); `None` when absent or
    /// unreadable (CORS not exposing it).
    pub etag: Option<String>,
    /// `Retry-After` (or `retry-after-ms`) converted to milliseconds, when present.
    pub retry_after_ms: Option<u64>,
    /// The `code` of an error body (`{code, message}` from the API, `<Code>` of an S3 XML error).
    pub error_code: Option<String>,
    /// A human-readable message from the error body, if any (never shown with secrets).
    pub message: Option<String>,
}

impl HttpOutcome {
    /// No response at all (network error, connection reset, CORS refusal, aborted by timeout).
    pub fn network_error() -> Self {
        HttpOutcome::default()
    }

    /// No response, and the chunk's bytes can no longer be read: the file changed on disk (or
    /// went away) since it was chosen. No retry can get past that.
    pub fn source_unreadable() -> Self {
        HttpOutcome {
            error_code: Some(SOURCE_UNREADABLE.to_owned()),
            ..HttpOutcome::default()
        }
    }

    /// No response, because `fetch` itself misbehaved: it threw something other than the
    /// `TypeError` a network failure is and an abort's `AbortError`, or resolved to something
    /// that is not a `Response` (a bug in a `fetch` the application supplied, as a wrapper that
    /// forgets to `return`). `what` says what it did. No retry can get past that.
    pub fn fetch_misbehaved(what: String) -> Self {
        HttpOutcome {
            error_code: Some(FETCH_MISBEHAVED.to_owned()),
            message: Some(what),
            ..HttpOutcome::default()
        }
    }

    /// A response with this status and nothing else known.
    pub fn status(status: u16) -> Self {
        HttpOutcome {
            status: Some(status),
            ..HttpOutcome::default()
        }
    }

    /// A successful storage PUT that returned this `ETag`.
    pub fn stored(etag: impl Into<String>) -> Self {
        HttpOutcome {
            status: Some(200),
            etag: Some(etag.into()),
            ..HttpOutcome::default()
        }
    }

    /// Adds a `Retry-After` delay.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// Adds the error body's `code`.
    pub fn with_error_code(mut self, code: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self
    }
}

impl HttpOutcome {
    /// What a storage PUT answered: its status, `ETag` and `Retry-After` as the transport read
    /// them, and (for a failure) the `<Code>` and `<Message>` of the S3-style XML error in the
    /// first bytes of the body.
    pub fn storage_response(
        status: u16,
        etag: Option<String>,
        retry_after_ms: Option<u64>,
        body_excerpt: &str,
    ) -> HttpOutcome {
        let failed = !(200..300).contains(&status);
        let tag = |name| failed.then(|| xml_tag(body_excerpt, name)).flatten();
        HttpOutcome {
            status: Some(status),
            etag,
            retry_after_ms,
            error_code: tag("Code"),
            message: tag("Message"),
        }
    }
}

/// The text of `<tag>…</tag>` in an S3-style XML error body.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = ["<", tag, ">"].concat();
    let close = ["</", tag, ">"].concat();
    let start = find_after(body, 0, &open)?;
    let end = find_after(body, start, &close)? - close.len();
    // `get` rather than indexing: both ends border ASCII `>`/`<`, and no panic path is linked.
    body.get(start..end).map(str::to_owned)
}

/// The byte offset just after the first `needle` in `haystack[from..]`. A plain window scan:
/// the excerpts are at most a few hundred bytes, and `str::find`'s two-way searcher costs
/// ~2 KB of wasm.
fn find_after(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| from + at + needle.len())
}

/// Whether an answer's status says "try again": the server gave up waiting for the request
/// (408) or failed (5xx). The one rule of the engine's retries, the Worker's proxy and its
/// answers, and the webhook's deliveries; 429 stands apart, as it says how long to wait.
pub const fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 500..=599)
}

/// The longest wait (seconds) a proxy passes on in `Retry-After`: past an hour, a client should
/// ask again rather than keep waiting on one answer.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// A `Retry-After` value as a proxy passes it on: whole seconds, rounded up, at most
/// [`MAX_RETRY_AFTER_SECS`]; `None` when it reads as neither delay-seconds nor an HTTP date.
pub fn retry_after_secs(value: &str, now_ms: u64) -> Option<u64> {
    parse_retry_after_ms(value, now_ms).map(|ms| ms.div_ceil(1_000).min(MAX_RETRY_AFTER_SECS))
}

/// A `Retry-After` value — delay-seconds or an HTTP date — as milliseconds after `now_ms`
/// (epoch ms); `None` when it reads as neither. A date in the past means "now" (0).
pub fn parse_retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1_000));
    }
    let at_ms = crate::core::wire::timestamp::parse_http_date(value)?;
    Some(u64::try_from(at_ms).unwrap_or(0).saturating_sub(now_ms))
}

/// The meaning of an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The request succeeded. For a storage PUT, carries the ETag with quotes stripped.
    Success {
        /// The chunk's ETag (storage PUTs only).
        etag: Option<String>,
    },
    /// Try again after a backoff.
    Retry {
        /// The server asked to wait at least this long (`Retry-After`).
        not_before_ms: Option<u64>,
        /// The presigned URL must not be used again: request a fresh one first.
        refresh_url: bool,
        /// The error to report if retries run out.
        cause: Error,
    },
    /// Retrying will not help.
    Fatal(Error),
}

/// Classifies an outcome of `operation`. See the module table.
pub fn classify(operation: Operation, outcome: &HttpOutcome) -> Verdict {
    let is_put = operation == Operation::StoragePut;
    let Some(status) = outcome.status else {
        match outcome.error_code.as_deref() {
            Some(SOURCE_UNREADABLE) => {
                return Verdict::Fatal(Error::new(
                    ErrorCode::FileMismatch,
                    "the file changed or can no longer be read since it was chosen; choose it again to upload it anew",
                ))
            }
            Some(FETCH_MISBEHAVED) => {
                return Verdict::Fatal(Error::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "{} failed: {}",
                        describe(operation),
                        outcome.message.as_deref().unwrap_or_default()
                    ),
                ))
            }
            _ => {}
        }
        // The transport's own words differ by browser ("Failed to fetch", "Load failed", …):
        // the message stays one stable text.
        return retry(
            Error::new(
                ErrorCode::Network,
                format!(
                    "{} failed: no response (network error)",
                    describe(operation)
                ),
            ),
            None,
            is_put,
        );
    };
    let body_code = outcome.error_code.as_deref().unwrap_or("");
    let with_detail = |text: String| match &outcome.message {
        Some(m) if !m.is_empty() => format!("{text}: {m}"),
        _ => text,
    };
    match status {
        200..=299 if is_put => match outcome.etag.as_deref().map(normalize_etag) {
            // A report could not carry it (`validate_report`): fail now, not after every byte.
            Some(etag) if etag.len() > limits::PROOF_MAX_LEN => Verdict::Fatal(
                Error::new(
                    ErrorCode::ServerInvalid,
                    "the storage answered the chunk with an ETag too long to be one",
                )
                .with_status(status),
            ),
            Some(etag) if !etag.is_empty() => Verdict::Success {
                etag: Some(etag.to_string()),
            },
            _ => Verdict::Fatal(
                Error::new(
                    ErrorCode::EtagUnreadable,
                    "the chunk was stored but its ETag response header is not readable: the \
                     storage bucket's CORS configuration must expose it (add `ETag` to \
                     ExposeHeaders, i.e. `Access-Control-Expose-Headers: ETag`)",
                )
                .with_status(status),
            ),
        },
        200..=299 => retry(
            Error::new(
                ErrorCode::ServerInvalid,
                format!(
                    "{} answered {status} with a body that could not be read",
                    describe(operation)
                ),
            )
            .with_status(status),
            None,
            false,
        ),
        // The Worker refuses to serve with a configuration it cannot trust, and answers every
        // request alike until its deployer fixes the setting it names: retrying cannot help.
        500 if !is_put && body_code == ErrorCode::ConfigInvalid.as_str() => Verdict::Fatal(
            api_error(operation, status, body_code, outcome.message.as_deref()),
        ),
        status if is_transient_status(status) => retry(
            Error::new(
                ErrorCode::UpstreamUnavailable,
                with_detail(format!("{} failed with HTTP {status}", describe(operation))),
            )
            .with_status(status),
            outcome.retry_after_ms,
            is_put,
        ),
        429 => retry(
            Error::new(
                ErrorCode::RateLimited,
                format!("{} was rate limited (HTTP 429)", describe(operation)),
            )
            .with_status(status),
            outcome.retry_after_ms,
            is_put,
        ),
        403 if is_put => retry(
            Error::new(
                ErrorCode::StorageRejected,
                with_detail(
                    "the storage refused the presigned URL (HTTP 403: expired or forbidden)"
                        .to_string(),
                ),
            )
            .with_status(status),
            None,
            true,
        ),
        400 if is_put && body_code == "RequestTimeout" => retry(
            Error::new(
                ErrorCode::UpstreamUnavailable,
                "the storage timed out reading the chunk (RequestTimeout)",
            )
            .with_status(status),
            None,
            true,
        ),
        _ if is_put => Verdict::Fatal(
            Error::new(
                ErrorCode::StorageRejected,
                with_detail(format!("the storage rejected the chunk with HTTP {status}")),
            )
            .with_status(status),
        ),
        _ => Verdict::Fatal(api_error(
            operation,
            status,
            body_code,
            outcome.message.as_deref(),
        )),
    }
}

fn retry(cause: Error, not_before_ms: Option<u64>, refresh_url: bool) -> Verdict {
    Verdict::Retry {
        not_before_ms,
        refresh_url,
        cause,
    }
}

/// Types a non-retryable API error: the body's `code` when it is one of ours (the Worker speaks
/// them), otherwise by status.
fn api_error(operation: Operation, status: u16, body_code: &str, message: Option<&str>) -> Error {
    let by_status = ErrorCode::from_status(status);
    let code = match ErrorCode::parse(body_code) {
        // A retryable code with a fatal status would loop; trust the status then.
        Some(code) if !code.is_retryable() => code,
        _ => by_status,
    };
    let mut text = format!("{} failed with HTTP {status}", describe(operation));
    if !body_code.is_empty() {
        text.push_str(&format!(" ({body_code})"));
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        text.push_str(": ");
        text.push_str(m);
    }
    Error::new(code, text).with_status(status)
}

fn describe(operation: Operation) -> &'static str {
    match operation {
        Operation::StoragePut => "the chunk upload",
        Operation::RequestUrls => "requesting presigned URLs",
        Operation::Report => "reporting chunks",
        Operation::Status => "reading the upload status",
        Operation::Asset | Operation::GetAsset => "reading the asset",
        Operation::CreateSession => "creating the upload",
        Operation::ListAssets => "listing the assets",
        Operation::DeleteAsset => "deleting the asset",
    }
}

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffPolicy {
    /// Upper bound of the first retry's delay.
    pub base_ms: u64,
    /// The largest delay ever chosen (before `Retry-After`, which may exceed it).
    pub cap_ms: u64,
    /// Failures in a row (without progress in between) after which the request fails with
    /// `retries_exhausted`.
    pub max_attempts: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base_ms: 500,
            cap_ms: 30_000,
            max_attempts: 10,
        }
    }
}

impl BackoffPolicy {
    /// Session creation: the first request of an upload, so an endpoint that cannot be reached
    /// (a wrong host, the Worker down) is reported within seconds rather than after minutes of
    /// silent retries. Five attempts wait at most 0.5 + 1 + 2 + 4 = 7.5 s in total, which
    /// leaves a refused connection failing well within 15 s.
    pub const SESSION_CREATION: BackoffPolicy = BackoffPolicy {
        base_ms: 500,
        cap_ms: 4_000,
        max_attempts: 5,
    };

    /// The longest total wait between the attempts of one request before it gives up (every
    /// jittered delay at its ceiling; a server's `Retry-After` may lengthen it).
    pub fn worst_case_wait_ms(&self) -> u64 {
        (1..self.max_attempts)
            .map(|retry| self.ceiling_ms(retry))
            .sum()
    }

    /// The upper bound of retry number `retry`'s delay.
    fn ceiling_ms(&self, retry: u32) -> u64 {
        let exponent = retry.saturating_sub(1).min(40);
        self.base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.cap_ms)
    }
}

/// The full-jitter delay before retry number `attempt` (1 for the first retry): uniform in
/// `[0, min(cap, base · 2^(attempt−1))]`, drawn from the caller's `random` value. A server
/// `Retry-After` is a floor.
pub fn backoff_delay_ms(
    policy: &BackoffPolicy,
    attempt: u32,
    random: u64,
    retry_after_ms: Option<u64>,
) -> u64 {
    let ceiling = policy.ceiling_ms(attempt);
    let jittered = random % (ceiling.saturating_add(1));
    jittered.max(retry_after_ms.unwrap_or(0))
}

/// What to do after one attempt of a request made outside the engine's upload loop (session
/// creation, asset calls), as [`OneOffRetry::after`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// The request succeeded (a 2xx whose body the adapter could read).
    Done,
    /// Wait this long, then send the request again.
    RetryAfterMs(u64),
    /// Stop: fatal, or retries exhausted (`retries_exhausted`, naming the last cause).
    Fail(Error),
    /// The grant was refused (HTTP 401): get a fresh one, then send the request again at once.
    RefreshGrant,
}

/// Whether a call authorised by a renewable grant (from the application's `getToken`) should get
/// a fresh grant and be sent once more: it was refused with HTTP 401 (the grant expired or was
/// revoked) and it is not already the resend with a fresh grant — a second 401 in a row is final.
pub fn wants_fresh_grant(outcome: &HttpOutcome, resent_with_fresh_grant: bool) -> bool {
    outcome.status == Some(401) && !resent_with_fresh_grant
}

/// The retry decisions for one request outside the engine: [`classify`] each outcome, back off
/// with full jitter, give up after [`BackoffPolicy::max_attempts`] failures. The adapter only
/// sends, sleeps and reports what it saw; it never counts attempts itself.
#[derive(Debug, Clone)]
pub struct OneOffRetry {
    operation: Operation,
    policy: BackoffPolicy,
    failures: u32,
    retrying: Option<Retrying>,
    renewable_grant: bool,
    grant_refreshed: bool,
}

impl OneOffRetry {
    /// Starts the decisions for one request of `operation`.
    pub fn new(operation: Operation, policy: BackoffPolicy) -> Self {
        OneOffRetry {
            operation,
            policy,
            failures: 0,
            retrying: None,
            renewable_grant: false,
            grant_refreshed: false,
        }
    }

    /// The request is authorised by a renewable grant: a 401 asks for a fresh one first
    /// ([`NextStep::RefreshGrant`], see [`wants_fresh_grant`]).
    pub fn with_renewable_grant(mut self) -> Self {
        self.renewable_grant = true;
        self
    }

    /// The retry the request waits for after [`OneOffRetry::after`] said
    /// [`NextStep::RetryAfterMs`] (`None` otherwise): for the caller to show.
    pub fn retrying(&self) -> Option<Retrying> {
        self.retrying
    }

    /// Decides after an attempt that ended with `outcome`; `random` draws the jitter.
    pub fn after(&mut self, outcome: &HttpOutcome, random: u64) -> NextStep {
        self.retrying = None;
        let refresh = self.renewable_grant && wants_fresh_grant(outcome, self.grant_refreshed);
        self.grant_refreshed = refresh;
        if refresh {
            return NextStep::RefreshGrant;
        }
        match classify(self.operation, outcome) {
            Verdict::Success { .. } => NextStep::Done,
            Verdict::Fatal(error) => NextStep::Fail(error),
            Verdict::Retry {
                not_before_ms,
                cause,
                ..
            } => self.retry_after(cause, not_before_ms, random),
        }
    }

    /// Decides after the grant this request waits for could not be had: `getToken` failed with
    /// `error`. A retryable failure (the network, as `getToken`'s own `fetch` saw it) counts as
    /// a failed attempt of this request and is tried again after the same backoff; any other
    /// is final.
    pub fn after_token_failure(&mut self, error: Error, random: u64) -> NextStep {
        self.retrying = None;
        if error.code.is_retryable() {
            self.retry_after(error, None, random)
        } else {
            NextStep::Fail(error)
        }
    }

    /// Counts a failed attempt that ended with `cause`: gives up after `max_attempts`, else
    /// waits the jittered backoff (at least `not_before_ms`).
    fn retry_after(&mut self, cause: Error, not_before_ms: Option<u64>, random: u64) -> NextStep {
        self.failures += 1;
        if self.failures >= self.policy.max_attempts {
            // The status of the last answer stays with the error, as on the upload's lanes.
            return NextStep::Fail(Error {
                code: ErrorCode::RetriesExhausted,
                message: format!(
                    "gave up after {} attempts: {}",
                    self.failures, cause.message
                ),
                status: cause.status,
            });
        }
        let delay_ms = backoff_delay_ms(&self.policy, self.failures, random, not_before_ms);
        self.retrying = Some(Retrying {
            attempt: self.failures,
            delay_ms,
            error_code: cause.code,
        });
        NextStep::RetryAfterMs(delay_ms)
    }
}

/// How many times a proxy (the Worker) sends one upstream API call at most: once more after a
/// transient failure. The client behind it retries with backoff anyway, so the proxy only hides
/// a single blip and never multiplies latency; 429s pass through for the client to honour.
pub const PROXY_MAX_ATTEMPTS: u32 = 2;

/// Whether a proxy should send an upstream call again after its `attempts_made`-th attempt
/// ended with `outcome`. Only calls that change nothing when repeated (`idempotent`: reads,
/// presigned-URL minting) and whose body can be sent again (`replayable`: not a consumed stream)
/// are repeated, and only after a network error, a timeout or a transient status
/// ([`is_transient_status`]).
pub fn proxy_should_retry(
    idempotent: bool,
    replayable: bool,
    attempts_made: u32,
    outcome: &HttpOutcome,
) -> bool {
    let transient = outcome.status.is_none_or(is_transient_status);
    idempotent && replayable && attempts_made < PROXY_MAX_ATTEMPTS && transient
}

/// A small, deterministic pseudo-random generator (SplitMix64) that turns the caller's seed into
/// a stream of jitter values. Not for cryptography.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitterSource {
    state: u64,
}

impl JitterSource {
    /// Starts the stream from a caller-supplied random seed.
    pub const fn new(seed: u64) -> Self {
        JitterSource { state: seed }
    }

    /// The next value of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(v: Verdict) -> ErrorCode {
        match v {
            Verdict::Fatal(e) => e.code,
            Verdict::Retry { cause, .. } => cause.code,
            Verdict::Success { .. } => panic!("unexpected success"),
        }
    }

    #[test]
    fn network_errors_and_server_errors_are_retried_with_a_fresh_url_for_puts() {
        for outcome in [
            HttpOutcome::network_error(),
            HttpOutcome::status(500),
            HttpOutcome::status(503),
            HttpOutcome::status(408),
        ] {
            match classify(Operation::StoragePut, &outcome) {
                Verdict::Retry { refresh_url, .. } => assert!(refresh_url),
                other => panic!("{other:?}"),
            }
            match classify(Operation::Report, &outcome) {
                Verdict::Retry { refresh_url, .. } => assert!(!refresh_url),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_fetch_that_misbehaves_fails_every_request_at_once_with_its_own_words() {
        let outcome = HttpOutcome::fetch_misbehaved("fetch threw Error: TRACE_ID missing".into());
        for operation in [
            Operation::StoragePut,
            Operation::CreateSession,
            Operation::RequestUrls,
            Operation::GetAsset,
        ] {
            match classify(operation, &outcome) {
                Verdict::Fatal(error) => {
                    assert_eq!(error.code, ErrorCode::InvalidInput);
                    assert!(
                        error
                            .message
                            .ends_with("failed: fetch threw Error: TRACE_ID missing"),
                        "{}",
                        error.message
                    );
                }
                other => panic!("{operation:?}: {other:?}"),
            }
        }
        let mut retry = OneOffRetry::new(Operation::ListAssets, BackoffPolicy::default());
        assert!(matches!(retry.after(&outcome, 0), NextStep::Fail(_)));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let v = classify(
            Operation::RequestUrls,
            &HttpOutcome::status(429).with_retry_after_ms(7_000),
        );
        assert!(matches!(
            v,
            Verdict::Retry {
                not_before_ms: Some(7_000),
                ..
            }
        ));
        assert_eq!(code_of(v), ErrorCode::RateLimited);
    }

    #[test]
    fn forbidden_put_refreshes_the_url_but_forbidden_api_call_is_fatal() {
        let put = classify(Operation::StoragePut, &HttpOutcome::status(403));
        assert!(matches!(
            put,
            Verdict::Retry {
                refresh_url: true,
                ..
            }
        ));
        assert_eq!(
            code_of(classify(Operation::Report, &HttpOutcome::status(403))),
            ErrorCode::Forbidden
        );
        assert!(matches!(
            classify(Operation::Report, &HttpOutcome::status(403)),
            Verdict::Fatal(_)
        ));
    }

    #[test]
    fn s3_request_timeout_is_retried_other_put_4xx_are_fatal() {
        let timeout = HttpOutcome::status(400).with_error_code("RequestTimeout");
        assert!(matches!(
            classify(Operation::StoragePut, &timeout),
            Verdict::Retry { .. }
        ));
        let v = classify(
            Operation::StoragePut,
            &HttpOutcome::status(400).with_error_code("InvalidDigest"),
        );
        assert!(
            matches!(v, Verdict::Fatal(ref e) if e.code == ErrorCode::StorageRejected && e.status == Some(400))
        );
    }

    #[test]
    fn put_success_needs_a_readable_etag() {
        let ok = classify(Operation::StoragePut, &HttpOutcome::stored("\"abc\""));
        assert_eq!(
            ok,
            Verdict::Success {
                etag: Some("abc".into())
            }
        );
        let longest = "e".repeat(limits::PROOF_MAX_LEN);
        assert_eq!(
            classify(Operation::StoragePut, &HttpOutcome::stored(longest.clone())),
            Verdict::Success {
                etag: Some(longest.clone())
            }
        );
        let too_long = classify(
            Operation::StoragePut,
            &HttpOutcome::stored(format!("\"{longest}e\"")),
        );
        assert!(
            matches!(too_long, Verdict::Fatal(ref e) if e.code == ErrorCode::ServerInvalid),
            "{too_long:?}"
        );
        for missing in [HttpOutcome::status(200), HttpOutcome::stored("\"\"")] {
            let v = classify(Operation::StoragePut, &missing);
            match v {
                Verdict::Fatal(e) => {
                    assert_eq!(e.code, ErrorCode::EtagUnreadable);
                    assert!(e.message.contains("ExposeHeaders"), "{}", e.message);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn api_errors_are_typed_by_body_code_then_status() {
        assert_eq!(
            code_of(classify(Operation::Status, &HttpOutcome::status(401))),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code_of(classify(Operation::Status, &HttpOutcome::status(404))),
            ErrorCode::NotFound
        );
        assert_eq!(
            code_of(classify(Operation::Status, &HttpOutcome::status(410))),
            ErrorCode::SessionExpired
        );
        assert_eq!(
            code_of(classify(Operation::Report, &HttpOutcome::status(400))),
            ErrorCode::InvalidInput
        );
        let expired = HttpOutcome::status(401).with_error_code("session_expired");
        assert_eq!(
            code_of(classify(Operation::Report, &expired)),
            ErrorCode::SessionExpired
        );
        // A retryable body code on a fatal status does not make it retryable.
        let odd = HttpOutcome::status(400).with_error_code("network");
        assert_eq!(
            code_of(classify(Operation::Report, &odd)),
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn a_worker_that_refuses_its_own_configuration_fails_at_once() {
        let misconfigured = HttpOutcome {
            message: Some("The Worker is misconfigured: GRANT_SECRET is too short.".into()),
            ..HttpOutcome::status(500).with_error_code("config_invalid")
        };
        for operation in [
            Operation::CreateSession,
            Operation::GetAsset,
            Operation::ListAssets,
            Operation::DeleteAsset,
            Operation::RequestUrls,
            Operation::Report,
            Operation::Status,
            Operation::Asset,
        ] {
            match classify(operation, &misconfigured) {
                Verdict::Fatal(error) => {
                    assert_eq!(error.code, ErrorCode::ConfigInvalid, "{operation:?}");
                    assert!(error.message.contains("GRANT_SECRET"), "{error}");
                }
                other => panic!("{operation:?}: {other:?}"),
            }
        }
        // Any other 5xx, and a storage PUT, are still retried.
        for (operation, outcome) in [
            (
                Operation::CreateSession,
                HttpOutcome::status(500).with_error_code("internal"),
            ),
            (Operation::CreateSession, HttpOutcome::status(500)),
            (
                Operation::StoragePut,
                HttpOutcome::status(500).with_error_code("config_invalid"),
            ),
        ] {
            assert!(
                matches!(classify(operation, &outcome), Verdict::Retry { .. }),
                "{operation:?} {outcome:?}"
            );
        }
    }

    #[test]
    fn a_request_that_runs_out_of_retries_keeps_the_status_of_its_last_answer() {
        let policy = BackoffPolicy {
            base_ms: 1,
            cap_ms: 1,
            max_attempts: 2,
        };
        for (operation, status) in [(Operation::CreateSession, 429), (Operation::GetAsset, 500)] {
            let mut retry = OneOffRetry::new(operation, policy);
            assert!(matches!(
                retry.after(&HttpOutcome::status(status), 0),
                NextStep::RetryAfterMs(_)
            ));
            match retry.after(&HttpOutcome::status(status), 0) {
                NextStep::Fail(error) => {
                    assert_eq!(error.code, ErrorCode::RetriesExhausted);
                    assert_eq!(error.status, Some(status), "{operation:?}");
                }
                other => panic!("{operation:?}: {other:?}"),
            }
        }
        // With no answer at all, there is no status to keep.
        let mut retry = OneOffRetry::new(Operation::ListAssets, policy);
        let _ = retry.after(&HttpOutcome::network_error(), 0);
        let NextStep::Fail(error) = retry.after(&HttpOutcome::network_error(), 0) else {
            panic!("gives up");
        };
        assert_eq!(error.status, None);
    }

    #[test]
    fn each_asset_call_is_described_by_what_it_does() {
        for (operation, words) in [
            (Operation::GetAsset, "reading the asset"),
            (Operation::ListAssets, "listing the assets"),
            (Operation::DeleteAsset, "deleting the asset"),
        ] {
            let Verdict::Retry { cause, .. } = classify(operation, &HttpOutcome::network_error())
            else {
                panic!("a network error is retried");
            };
            assert!(cause.message.starts_with(words), "{cause}");
        }
    }

    #[test]
    fn unreadable_api_bodies_are_retried() {
        let v = classify(Operation::RequestUrls, &HttpOutcome::status(200));
        assert!(matches!(
            v,
            Verdict::Retry {
                refresh_url: false,
                ..
            }
        ));
        assert_eq!(code_of(v), ErrorCode::ServerInvalid);
    }

    #[test]
    fn full_jitter_is_bounded_by_the_capped_exponential() {
        let policy = BackoffPolicy {
            base_ms: 100,
            cap_ms: 1_000,
            max_attempts: 5,
        };
        let mut rng = JitterSource::new(7);
        for attempt in 1..20 {
            let ceiling = (100u64 << (attempt - 1).min(40)).min(1_000);
            for _ in 0..50 {
                let d = backoff_delay_ms(&policy, attempt, rng.next_u64(), None);
                assert!(d <= ceiling, "attempt {attempt}: {d} > {ceiling}");
            }
        }
        assert_eq!(backoff_delay_ms(&policy, 1, 0, None), 0);
        assert_eq!(backoff_delay_ms(&policy, 1, 100, None), 100);
        assert_eq!(backoff_delay_ms(&policy, 3, u64::MAX, Some(60_000)), 60_000);
        assert_eq!(backoff_delay_ms(&policy, u32::MAX, 1_000, None), 1_000);
    }

    #[test]
    fn jitter_source_is_deterministic_and_spread() {
        let a: Vec<u64> = {
            let mut r = JitterSource::new(1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = JitterSource::new(1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] != w[1]));
    }
    #[test]
    fn one_off_retry_backs_off_then_gives_up_with_the_last_cause() {
        let policy = BackoffPolicy {
            base_ms: 100,
            cap_ms: 1_000,
            max_attempts: 3,
        };
        let mut retry = OneOffRetry::new(Operation::CreateSession, policy);
        // The jitter is `random % (ceiling + 1)`: 100 picks the first retry's ceiling, 100 ms.
        assert_eq!(
            retry.after(&HttpOutcome::status(503), 100),
            NextStep::RetryAfterMs(100)
        );
        assert_eq!(
            retry.after(&HttpOutcome::status(429).with_retry_after_ms(5_000), 0),
            NextStep::RetryAfterMs(5_000),
            "Retry-After is a floor over the jitter"
        );
        match retry.after(&HttpOutcome::network_error(), 0) {
            NextStep::Fail(error) => {
                assert_eq!(error.code, ErrorCode::RetriesExhausted);
                assert!(
                    error.message.starts_with("gave up after 3 attempts"),
                    "{}",
                    error.message
                );
                assert!(error.message.contains("no response"), "{}", error.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_off_retry_stops_at_once_on_fatal_outcomes_and_reports_success() {
        let mut retry = OneOffRetry::new(Operation::CreateSession, BackoffPolicy::default());
        match retry.after(&HttpOutcome::status(401), 0) {
            NextStep::Fail(error) => assert_eq!(error.code, ErrorCode::Unauthorized),
            other => panic!("{other:?}"),
        }
        let mut retry = OneOffRetry::new(Operation::StoragePut, BackoffPolicy::default());
        assert_eq!(
            retry.after(&HttpOutcome::stored("\"abc\""), 0),
            NextStep::Done
        );
        // Adapters hand an API 2xx over only when its body could not be read: that is retried
        // (and `server_invalid` is the cause if it never reads).
        let mut retry = OneOffRetry::new(Operation::Asset, BackoffPolicy::default());
        assert_eq!(
            retry.after(&HttpOutcome::status(200), 7),
            NextStep::RetryAfterMs(7)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let date_ms = 784_111_777_000;
        assert_eq!(parse_retry_after_ms("7", 0), Some(7_000));
        assert_eq!(parse_retry_after_ms(" 120 ", 5), Some(120_000));
        assert_eq!(
            parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms - 2_500),
            Some(2_500)
        );
        assert_eq!(
            parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms + 1),
            Some(0),
            "a date in the past means now"
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after_ms(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn storage_errors_are_read_from_their_xml_body() {
        let body = "<?xml version=\"1.0\"?><Error><Code>RequestTimeout</Code>\
                    <Message>Your socket connection was idle</Message></Error>";
        let outcome = HttpOutcome::storage_response(400, None, None, body);
        assert_eq!(outcome.error_code.as_deref(), Some("RequestTimeout"));
        assert_eq!(
            outcome.message.as_deref(),
            Some("Your socket connection was idle")
        );
        assert!(matches!(
            classify(Operation::StoragePut, &outcome),
            Verdict::Retry {
                refresh_url: true,
                ..
            }
        ));
        let stored =
            HttpOutcome::storage_response(200, Some("\"e\"".into()), None, "<Code>X</Code>");
        assert_eq!((stored.error_code, stored.message), (None, None));
        let cut = HttpOutcome::storage_response(403, None, Some(1_000), "<Error><Code>Acc");
        assert_eq!((cut.error_code, cut.retry_after_ms), (None, Some(1_000)));
    }

    #[test]
    fn one_off_retry_tells_which_retry_it_waits_for() {
        let mut retry = OneOffRetry::new(Operation::CreateSession, BackoffPolicy::default());
        assert_eq!(retry.retrying(), None);
        assert_eq!(
            retry.after(&HttpOutcome::network_error(), 300),
            NextStep::RetryAfterMs(300)
        );
        assert_eq!(
            retry.retrying(),
            Some(Retrying {
                attempt: 1,
                delay_ms: 300,
                error_code: ErrorCode::Network,
            })
        );
        retry.after(&HttpOutcome::status(503), 0);
        let second = retry.retrying().unwrap();
        assert_eq!(
            (second.attempt, second.error_code),
            (2, ErrorCode::UpstreamUnavailable)
        );
        retry.after(&HttpOutcome::status(404), 0);
        assert_eq!(
            retry.retrying(),
            None,
            "nothing waits after a fatal outcome"
        );
    }

    #[test]
    fn session_creation_gives_up_on_an_unreachable_endpoint_within_seconds() {
        let policy = BackoffPolicy::SESSION_CREATION;
        assert_eq!(policy.worst_case_wait_ms(), 7_500);
        assert!(policy.worst_case_wait_ms() < 15_000);
        // A refused connection answers at once: every attempt is a network error.
        let mut retry = OneOffRetry::new(Operation::CreateSession, policy);
        let mut waited = 0;
        let mut attempts = 1;
        let error = loop {
            match retry.after(&HttpOutcome::network_error(), u64::MAX) {
                NextStep::RetryAfterMs(delay) => {
                    waited += delay;
                    attempts += 1;
                }
                NextStep::Fail(error) => break error,
                NextStep::Done | NextStep::RefreshGrant => {
                    panic!("a network error is neither a success nor a refused grant")
                }
            }
        };
        assert_eq!(attempts, policy.max_attempts);
        assert!(waited <= policy.worst_case_wait_ms(), "{waited}");
        assert_eq!(error.code, ErrorCode::RetriesExhausted);
        assert!(error.message.contains("no response"), "{}", error.message);
        // The default policy of the other calls would have waited minutes.
        assert!(BackoffPolicy::default().worst_case_wait_ms() > 60_000);
    }

    #[test]
    fn proxy_retries_once_and_only_what_is_safe_to_repeat() {
        let transient = [
            HttpOutcome::network_error(),
            HttpOutcome::status(500),
            HttpOutcome::status(502),
            HttpOutcome::status(599),
        ];
        for outcome in &transient {
            assert!(proxy_should_retry(true, true, 1, outcome), "{outcome:?}");
            assert!(!proxy_should_retry(true, true, PROXY_MAX_ATTEMPTS, outcome));
            assert!(
                !proxy_should_retry(false, true, 1, outcome),
                "creates are never repeated"
            );
            assert!(
                !proxy_should_retry(true, false, 1, outcome),
                "a consumed stream cannot be"
            );
        }
        for status in [200, 201, 400, 401, 403, 404, 409, 429] {
            assert!(
                !proxy_should_retry(true, true, 1, &HttpOutcome::status(status)),
                "{status} is the client's to handle"
            );
        }
    }

    #[test]
    fn a_401_with_a_renewable_grant_refreshes_it_once_then_is_final() {
        let policy = BackoffPolicy::SESSION_CREATION;
        let unauthorized = HttpOutcome::status(401);
        let mut retry = OneOffRetry::new(Operation::Asset, policy).with_renewable_grant();
        assert_eq!(retry.after(&unauthorized, 0), NextStep::RefreshGrant);
        match retry.after(&unauthorized, 0) {
            NextStep::Fail(error) => assert_eq!(error.code, ErrorCode::Unauthorized),
            other => panic!("a second 401 in a row must be final: {other:?}"),
        }
        // Another outcome in between starts a new run: the next 401 refreshes again.
        let mut retry = OneOffRetry::new(Operation::Asset, policy).with_renewable_grant();
        assert_eq!(retry.after(&unauthorized, 0), NextStep::RefreshGrant);
        assert!(matches!(
            retry.after(&HttpOutcome::status(503), 0),
            NextStep::RetryAfterMs(_)
        ));
        assert_eq!(retry.after(&unauthorized, 0), NextStep::RefreshGrant);
        // Without a renewable grant (an API key) a 401 is final at once.
        let mut retry = OneOffRetry::new(Operation::Asset, policy);
        assert!(matches!(retry.after(&unauthorized, 0), NextStep::Fail(_)));
    }
}
