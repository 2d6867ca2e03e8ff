//! The upload engine: an IO-free state machine that decides everything about an upload, for any
//! number of files sharing one concurrency budget.
//!
//! The engine never performs IO, never reads a clock and never draws randomness. An adapter (the
//! browser's `fetch` transport, or the native test adapter) feeds it [`Input`]s — outcomes of the
//! requests it asked for, user commands, connectivity changes, timer ticks — always together with
//! the current local time `now_ms`, and executes the [`Action`]s it emits. Jitter comes from
//! [`EngineConfig::jitter_seed`], so a run is reproducible from its inputs.
//!
//! # Contract with the adapter
//!
//! * Every action that needs IO carries a [`RequestId`]. The adapter performs it and reports the
//!   outcome with the same id (`Input::PutDone`, `Input::UrlsDone`, …), exactly once.
//! * [`Action::Cancel`] asks the adapter to abort a request (stall, pause, abort). The engine
//!   forgets the request at once: reporting its outcome afterwards is allowed and ignored.
//! * Outcomes are *observations*, not decisions: HTTP status or network error, `ETag`,
//!   `Retry-After`, the parsed body on success. What they mean is decided in
//!   [`retry`](crate::core::retry).
//! * After every [`Engine::handle`] (and after adding or restoring an upload), drain
//!   [`Engine::poll_action`] until it returns `None`, then arm one timer for
//!   [`Engine::next_wakeup`] and call `handle(now, Input::Tick)` when it fires. A returned
//!   wake-up time is always in the future: the engine never asks for a busy loop.
//! * Session creation (`POST /assets/multipart-uploads`) is done by the adapter, which then hands
//!   the response to [`Engine::add_upload`]. Its outcome can be classified with
//!   [`retry::classify`](crate::core::retry::classify) and [`Operation::CreateSession`].
//!
//! # What it decides (see the modules for each rule)
//!
//! * [`plan`](crate::core::plan): byte ranges; server values that do not add up are refused.
//! * Scheduling: at most [`EngineConfig::concurrency`] chunk PUTs in flight across all files,
//!   lowest file first, lowest chunk first; so bytes in flight ≤ N × chunk size.
//! * [`urls`](crate::core::urls): the presigned-URL window (refilled when it runs low, in batches
//!   of up to 50 ahead of the frontier — fewer when the URLs would expire before use at the
//!   observed speed —, expiry margin, clock skew, never reuse).
//! * [`retry`](crate::core::retry): classification and full-jitter backoff. Each chunk counts its
//!   failed attempts; the counters of a file reset whenever one of its chunks is acknowledged
//!   (progress), and a chunk that fails more than `put_backoff.max_attempts` times in a row
//!   without any progress fails the upload with `retries_exhausted`. Failures while offline do not
//!   count.
//! * Stall watchdog: a PUT with no completion (and no reported upload progress) within a bound
//!   derived from its size and the observed speed is cancelled and retried with a fresh URL.
//! * Reports: acknowledged chunks are reported in batches ≤ 50, debounced by
//!   [`EngineConfig::report_debounce_ms`] (immediately when 50 are waiting or nothing else is
//!   left to upload); one report per file in flight; never blocking PUTs; retried; duplicates are
//!   harmless.
//! * Completion: once every chunk is reported, the report response's `url` or
//!   `total_completed == total_chunks` confirms it; otherwise the session status is read (all
//!   pages): chunks listed `failed` are uploaded again with a fresh URL, chunks listed `pending`
//!   are reported again. Then, if asked ([`NewUpload::wait_for_asset`]), the asset is polled with
//!   backoff until `ready` or `failed`.
//! * [`progress`](crate::core::progress): monotonic counters, EMA speed, ETA, throttled events.
//! * Pause / resume / abort, online / offline: see [`Input`].
//! * [`resume`](crate::core::resume): the saved-state record and its reconciliation with the
//!   server's status after a reload.
//!
//! Pausing stops new PUTs, URL requests, status reads and asset polls of the paused uploads;
//! chunks already acknowledged are still reported (so the server knows as much as possible if the
//! pause turns into a reload). [`PauseMode`] decides whether PUTs in flight are aborted or allowed
//! to finish.
//!
//! # The driving loop
//!
//! ```
//! use twelvelabs_edge_upload::core::engine::{Action, Engine, EngineConfig, Input, NewUpload};
//! use twelvelabs_edge_upload::core::retry::HttpOutcome;
//! use twelvelabs_edge_upload::core::wire::{CreateMultipartUploadResponse, PresignedUrl, ReportChunksResponse};
//!
//! let mut engine = Engine::new(EngineConfig::default()).unwrap();
//! let now = 1_764_586_800_000; // local time in ms; from `Date.now()` in a browser
//! // The adapter created the session (POST /assets/multipart-uploads) and hands over the answer.
//! let session = CreateMultipartUploadResponse {
//!     upload_id: "up1".into(),
//!     asset_id: "as1".into(),
//!     upload_urls: vec![PresignedUrl {
//!         chunk_index: 1,
//!         url: "https://storage.example/up1/1?sig=x".into(),
//!         expires_at: "2025-12-01T12:00:00Z".into(),
//!     }],
//!     upload_headers: Default::default(),
//!     chunk_size: 5 * 1024 * 1024,
//!     total_chunks: 1,
//!     expires_at: "2025-12-02T11:00:00Z".into(),
//!     upload_token: None,
//! };
//! let file = engine.add_upload(now, NewUpload::new(1_000, session)).unwrap();
//!
//! // The adapter's loop: drain actions, execute them, feed the outcomes back.
//! let mut finished = None;
//! let mut inbox: Vec<Input> = Vec::new();
//! loop {
//!     while let Some(action) = engine.poll_action() {
//!         match action {
//!             // fetch(url, { method: "PUT", body: blob.slice(range.start, range.end) }) …
//!             Action::Put { request, .. } => {
//!                 inbox.push(Input::PutDone { request, outcome: HttpOutcome::stored("\"md5\"") })
//!             }
//!             // POST …/{upload_id} with {"completed_chunks": chunks} …
//!             Action::Report { request, chunks, .. } => inbox.push(Input::ReportDone {
//!                 request,
//!                 result: Ok(ReportChunksResponse {
//!                     url: Some("https://cdn.example/as1".into()),
//!                     asset_id: "as1".into(),
//!                     processed_chunks: chunks.len() as u32,
//!                     duplicate_chunks: 0,
//!                     total_completed: 1,
//!                 }),
//!             }),
//!             Action::Progress { progress, .. } => assert!(progress.acknowledged_bytes <= 1_000),
//!             Action::Finished { outcome, .. } => finished = Some(outcome),
//!             _ => {} // RequestUrls, FetchStatus, FetchAsset, Cancel, SaveState, Uploaded …
//!         }
//!     }
//!     if finished.is_some() {
//!         break;
//!     }
//!     match inbox.pop() {
//!         Some(input) => engine.handle(now, input),
//!         // Nothing to report: sleep until the engine's next deadline, then tick.
//!         None => match engine.next_wakeup() {
//!             Some(at) => engine.handle(at, Input::Tick),
//!             None => break,
//!         },
//!     }
//! }
//! let completion = finished.unwrap().unwrap();
//! assert_eq!(completion.asset_id, "as1");
//! assert!(engine.progress(file).is_none()); // finished uploads are forgotten
//! ```

use std::collections::VecDeque;

use crate::core::sorted_map::SortedMap;

use serde::{Deserialize, Serialize};

use crate::core::clock::{parse_server_time, ClockOffset};
use crate::core::error::{Error, ErrorCode};
use crate::core::plan::{ByteRange, ChunkPlan};
use crate::core::progress::{
    Progress, ProgressCounts, ProgressTracker, Retrying, SpeedEstimator, Throttle,
};
use crate::core::resume::{to_ranges, SavedUpload, SAVED_UPLOAD_VERSION};
use crate::core::retry::{
    backoff_delay_ms, classify, BackoffPolicy, HttpOutcome, JitterSource, Operation, Verdict,
};
use crate::core::urls::{UrlBatch, UrlWindow};
use crate::core::wire::{
    limits, Asset, AssetStatus, ChunkStatus, CompletedChunk, CreateMultipartUploadResponse,
    PresignedUrlsResponse, ProofType, ReportChunksResponse, UploadHeaders, UploadStatus,
    UploadStatusResponse,
};

/// Identifies one upload (file) inside an [`Engine`]. Lower ids are scheduled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// Identifies one request the engine asked the adapter to perform. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// What pausing does to chunk PUTs already in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseMode {
    /// Abort them (their bytes are sent again, to a fresh URL, on resume). Pauses at once.
    AbortInFlight,
    /// Let them finish and keep their results. Wastes no bytes.
    #[default]
    FinishInFlight,
}

/// The stall watchdog's bound for a PUT: `clamp(factor × expected, min_ms, max_ms)`, where
/// `expected` is the time the chunk should take at the observed speed shared by the PUTs in
/// flight (or at `fallback_bytes_per_second` before any speed is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallPolicy {
    /// Never declare a stall sooner than this.
    pub min_ms: u64,
    /// Always declare a stall after this long without completion or progress.
    pub max_ms: u64,
    /// Tolerance over the expected duration.
    pub factor: u64,
    /// Speed assumed before one has been measured.
    pub fallback_bytes_per_second: u64,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            min_ms: 30_000,
            max_ms: 300_000,
            factor: 4,
            fallback_bytes_per_second: 256 * 1024,
        }
    }
}

/// How the asset is polled after the upload completed: delay `initial_ms · 2^n`, capped at
/// `max_ms`, minus up to 20 % jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetPollPolicy {
    /// Delay before the first poll and base of the backoff.
    pub initial_ms: u64,
    /// Longest delay between polls.
    pub max_ms: u64,
}

impl AssetPollPolicy {
    /// The wait after poll number `polls` (1 for the first) found the asset still processing:
    /// `initial_ms · 2^polls`, capped at `max_ms`, minus up to 20 % jitter drawn from `random`.
    pub fn delay_ms(&self, polls: u32, random: u64) -> u64 {
        let exponent = polls.min(20);
        let delay = self
            .initial_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_ms);
        delay - random % (delay / 5 + 1)
    }
}

impl Default for AssetPollPolicy {
    fn default() -> Self {
        AssetPollPolicy {
            initial_ms: 1_000,
            max_ms: 15_000,
        }
    }
}

/// Engine settings. [`EngineConfig::default`] is a good start; `concurrency` is the one knob most
/// callers set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Chunk PUTs in flight at most, across all uploads (≥ 1).
    pub concurrency: u32,
    /// What pausing does to PUTs in flight.
    pub pause_mode: PauseMode,
    /// How many upcoming chunks the URL window watches (1–50). `0` = automatic:
    /// `clamp(4 × concurrency, 16, 50)`. URLs are asked for when half of them lack one; a batch
    /// then asks for up to 50 (as many as can be used before they expire at the observed
    /// speed), never for fewer than this.
    pub url_lookahead: u32,
    /// A URL expiring within this margin is not used (capped at a third of its lifetime).
    pub url_expiry_margin_ms: u64,
    /// How long an acknowledged chunk may wait for companions before it is reported.
    pub report_debounce_ms: u64,
    /// Minimum interval between two progress events of one upload.
    pub progress_interval_ms: u64,
    /// Time constant of the speed average.
    pub speed_time_constant_ms: u64,
    /// Backoff of chunk PUTs.
    pub put_backoff: BackoffPolicy,
    /// Backoff of API calls (URLs, reports, status, asset).
    pub api_backoff: BackoffPolicy,
    /// Backoff of session creation (and of direct uploads): bounded to seconds by default
    /// ([`BackoffPolicy::SESSION_CREATION`]), so an unreachable endpoint is reported quickly.
    pub create_backoff: BackoffPolicy,
    /// The stall watchdog.
    pub stall: StallPolicy,
    /// Asset polling.
    pub asset_poll: AssetPollPolicy,
    /// Seed of the jitter stream (a random value chosen by the caller, e.g. from
    /// `crypto.getRandomValues`).
    pub jitter_seed: u64,
    /// Whether the adapter feeds [`Input::PutProgress`] (it can observe how much of a PUT's
    /// body went out). Without it, a PUT's whole body counts as sent from the moment it is
    /// handed to the network, which is all `fetch` can tell.
    pub observes_put_progress: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 4,
            pause_mode: PauseMode::default(),
            url_lookahead: 0,
            url_expiry_margin_ms: 5 * 60_000,
            report_debounce_ms: 1_000,
            progress_interval_ms: 250,
            speed_time_constant_ms: 5_000,
            put_backoff: BackoffPolicy::default(),
            api_backoff: BackoffPolicy::default(),
            create_backoff: BackoffPolicy::SESSION_CREATION,
            stall: StallPolicy::default(),
            asset_poll: AssetPollPolicy::default(),
            jitter_seed: 0x5EED,
            observes_put_progress: false,
        }
    }
}

/// The ranges an application may set the engine's knobs to (the browser's `UploaderOptions`
/// read them from here). Each is `(min, max)`, inclusive.
pub mod option_limits {
    /// Chunk PUTs in flight (browsers cap connections per host anyway).
    pub const CONCURRENCY: (u64, u64) = (1, 32);
    /// Minimum interval between progress events, ms.
    pub const PROGRESS_INTERVAL_MS: (u64, u64) = (0, 60_000);
    /// Upper bound of the first retry's delay, ms.
    pub const BACKOFF_BASE_MS: (u64, u64) = (1, 600_000);
    /// The largest retry delay, ms.
    pub const BACKOFF_CAP_MS: (u64, u64) = (1, 3_600_000);
    /// Failures in a row before a request gives up.
    pub const BACKOFF_MAX_ATTEMPTS: (u64, u64) = (1, 1_000);
    /// The stall watchdog's upper bound, ms.
    pub const STALL_TIMEOUT_MS: (u64, u64) = (1_000, 3_600_000);
}

impl EngineConfig {
    /// The backoff of a request made outside the upload loop (with [`OneOffRetry`]): session
    /// creation and direct uploads get [`EngineConfig::create_backoff`], asset calls
    /// [`EngineConfig::api_backoff`].
    ///
    /// [`OneOffRetry`]: crate::core::retry::OneOffRetry
    pub fn one_off_backoff(&self, operation: Operation) -> BackoffPolicy {
        match operation {
            Operation::CreateSession => self.create_backoff,
            Operation::StoragePut => self.put_backoff,
            _ => self.api_backoff,
        }
    }

    /// Checks the settings; errors are `invalid_input` naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        let (min, max) = option_limits::CONCURRENCY;
        if !(min..=max).contains(&u64::from(self.concurrency)) {
            return Err(Error::invalid(format!(
                "concurrency must be from {min} to {max}"
            )));
        }
        if self.url_lookahead > limits::MAX_BATCH {
            return Err(Error::invalid(format!(
                "url_lookahead must be at most {}",
                limits::MAX_BATCH
            )));
        }
        for (name, policy) in [
            ("put_backoff", &self.put_backoff),
            ("api_backoff", &self.api_backoff),
            ("create_backoff", &self.create_backoff),
        ] {
            if policy.max_attempts == 0 || policy.cap_ms < policy.base_ms {
                return Err(Error::invalid(format!(
                    "{name} needs max_attempts ≥ 1 and cap_ms ≥ base_ms"
                )));
            }
        }
        if self.stall.min_ms == 0 || self.stall.max_ms < self.stall.min_ms || self.stall.factor == 0
        {
            return Err(Error::invalid(
                "stall needs 0 < min_ms ≤ max_ms and factor ≥ 1",
            ));
        }
        if self.stall.fallback_bytes_per_second == 0 {
            return Err(Error::invalid(
                "stall.fallback_bytes_per_second must be positive",
            ));
        }
        if self.asset_poll.initial_ms == 0 || self.asset_poll.max_ms < self.asset_poll.initial_ms {
            return Err(Error::invalid("asset_poll needs 0 < initial_ms ≤ max_ms"));
        }
        Ok(())
    }

    fn effective_lookahead(&self) -> u32 {
        if self.url_lookahead > 0 {
            self.url_lookahead
        } else {
            self.concurrency
                .saturating_mul(4)
                .clamp(16, limits::MAX_BATCH)
        }
    }
}

/// A freshly created session to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    /// Size of the local file (checked against the server's plan).
    pub file_size: u64,
    /// The create response (from TwelveLabs or the Worker).
    pub session: CreateMultipartUploadResponse,
    /// The server's clock when it answered (the `Date` header), if readable. Without it the
    /// offset is estimated from the session's 24 h expiry.
    pub server_time_ms: Option<u64>,
    /// Poll the asset after the upload until it is `ready` or `failed`.
    pub wait_for_asset: bool,
}

impl NewUpload {
    /// An upload of `file_size` bytes for `session`, without waiting for the asset.
    pub fn new(file_size: u64, session: CreateMultipartUploadResponse) -> Self {
        NewUpload {
            file_size,
            session,
            server_time_ms: None,
            wait_for_asset: false,
        }
    }
}

/// Everything the adapter tells the engine. Each is handled with the current local time.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Upload progress of a PUT in flight (bytes of its body sent so far), if the transport can
    /// observe it. Optional: without it "sent" advances when chunks are acknowledged.
    PutProgress {
        /// The PUT.
        request: RequestId,
        /// Bytes of this chunk sent so far.
        bytes_sent: u64,
    },
    /// A chunk PUT ended (successfully or not).
    PutDone {
        /// The PUT.
        request: RequestId,
        /// What the transport saw.
        outcome: HttpOutcome,
    },
    /// A presigned-URL request ended.
    UrlsDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<PresignedUrlsResponse, HttpOutcome>,
        /// The server's clock (`Date` header), if readable; `generated_at` is preferred.
        server_time_ms: Option<u64>,
    },
    /// A report request ended.
    ReportDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<ReportChunksResponse, HttpOutcome>,
    },
    /// A status page request ended.
    StatusDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<UploadStatusResponse, HttpOutcome>,
    },
    /// An asset request ended.
    AssetDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<Asset, HttpOutcome>,
    },
    /// Pause one upload, or all (`None`).
    Pause {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// Resume one upload, or all (`None`).
    Resume {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// Abort one upload, or all (`None`): every request is cancelled and the upload finishes
    /// with `aborted`.
    Abort {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// The network went away (`offline` event): nothing new starts; failures do not count.
    Offline,
    /// The network is back (`online` event): waiting retries start now.
    Online,
    /// A timer armed for [`Engine::next_wakeup`] fired (or any time passed).
    Tick,
}

/// Everything the engine asks of the adapter, or tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `PUT` the bytes `range` of the file to `url` (with the session's `upload_headers`), then
    /// report [`Input::PutDone`].
    Put {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// 1-based chunk index.
        chunk_index: u32,
        /// The presigned URL (used once).
        url: String,
        /// The bytes to send (`Blob.slice(range.start, range.end)`).
        range: ByteRange,
    },
    /// `POST …/{upload_id}/presigned-urls` with `{start, count}`, then report
    /// [`Input::UrlsDone`].
    RequestUrls {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// First chunk index.
        start: u32,
        /// Number of URLs (1–50).
        count: u32,
    },
    /// `POST …/{upload_id}` with `{"completed_chunks": chunks}`, then report
    /// [`Input::ReportDone`].
    Report {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// 1–50 chunks.
        chunks: Vec<CompletedChunk>,
    },
    /// `GET …/{upload_id}?page=&page_limit=`, then report [`Input::StatusDone`].
    FetchStatus {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// Page (1-based).
        page: u32,
        /// Page size.
        page_limit: u32,
    },
    /// `GET /assets/{asset_id}`, then report [`Input::AssetDone`].
    FetchAsset {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// The asset.
        asset_id: String,
    },
    /// `DELETE /assets/{asset_id}`, best effort: the asset a multipart session reserved, left
    /// behind by an aborted upload (it would otherwise stay `processing` in the user's asset
    /// list forever). No outcome is reported: a failure changes nothing (the upload already
    /// finished with `aborted`), so the adapter makes one attempt and ignores the result.
    DeleteAsset {
        /// The reserved asset.
        asset_id: String,
    },
    /// Abort this request; its outcome, if still reported, is ignored.
    Cancel {
        /// The request.
        request: RequestId,
    },
    /// A throttled progress update.
    Progress {
        /// The upload.
        file: FileId,
        /// The snapshot.
        progress: Progress,
    },
    /// The saved-state record changed: store [`Engine::saved_state`] (e.g. in IndexedDB).
    SaveState {
        /// The upload.
        file: FileId,
    },
    /// The session completed: every byte is with the server. Delete the saved record now (there
    /// is nothing left to resume). The asset may still be processing.
    Uploaded {
        /// The upload.
        file: FileId,
        /// The asset id.
        asset_id: String,
        /// The report response's `url`, if the server sent one.
        url: Option<String>,
    },
    /// The upload is over; the engine forgets it. On error, delete the saved record unless the
    /// code is retryable-later (`network`, `upstream_unavailable`, `rate_limited`,
    /// `retries_exhausted`), which a later resume may still finish.
    Finished {
        /// The upload.
        file: FileId,
        /// The asset, or why it failed (`aborted` after [`Input::Abort`]).
        outcome: Result<Completion, Error>,
    },
}

/// A successful upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The asset id.
    pub asset_id: String,
    /// The report response's `url`, if the server sent one.
    pub url: Option<String>,
    /// The final asset (status `ready`), when [`NewUpload::wait_for_asset`] was set (boxed: it
    /// is large and most completions do not carry one).
    pub asset: Option<Box<Asset>>,
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading the server's status after a restore, before sending anything.
    Reconciling,
    /// Uploading and reporting chunks.
    Uploading,
    /// Every chunk reported; confirming completion with the server.
    Confirming,
    /// The session completed; polling the asset until it is ready.
    AwaitingAsset,
}

// ───────────────────────────────── internals ─────────────────────────────────

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Needs a PUT.
    Pending,
    /// A PUT is in flight.
    Uploading(RequestId),
    /// Stored (ETag known), not yet reported.
    Acked,
    /// In a report in flight.
    Reporting(RequestId),
    /// Confirmed by the API.
    Reported,
}

#[derive(Debug, Clone)]
struct Chunk {
    state: ChunkState,
    etag: Option<String>,
    /// Failed attempts since the file last made progress.
    attempts: u32,
    /// No new PUT before this local time (backoff).
    not_before_ms: u64,
    /// When the chunk was acknowledged (report debounce).
    acked_at_ms: u64,
}

impl Chunk {
    fn pending() -> Self {
        Chunk {
            state: ChunkState::Pending,
            etag: None,
            attempts: 0,
            not_before_ms: 0,
            acked_at_ms: 0,
        }
    }

    fn is_acknowledged(&self) -> bool {
        matches!(
            self.state,
            ChunkState::Acked | ChunkState::Reporting(_) | ChunkState::Reported
        )
    }
}

/// One request stream of an upload (URLs, reports, status, asset): one request at a time.
#[derive(Debug, Clone, Copy, Default)]
struct Lane {
    in_flight: Option<RequestId>,
    failures: u32,
    not_before_ms: u64,
}

impl Lane {
    fn ready(&self, now_ms: u64) -> bool {
        self.in_flight.is_none() && self.not_before_ms <= now_ms
    }
}

#[derive(Debug, Clone)]
struct Upload {
    plan: ChunkPlan,
    upload_id: String,
    asset_id: String,
    upload_token: Option<String>,
    upload_headers: UploadHeaders,
    session_expires_at: String,
    session_expires_server_ms: Option<u64>,
    wait_for_asset: bool,
    chunks: Vec<Chunk>,
    /// Every chunk below this 1-based index is reported (skips the done prefix when scanning).
    frontier: u32,
    urls: UrlWindow,
    url_lane: Lane,
    report_lane: Lane,
    status_lane: Lane,
    asset_lane: Lane,
    phase: Phase,
    paused: bool,
    /// Next status page to read while reconciling or confirming.
    status_page: u32,
    /// A status walk found chunks to send again.
    status_reverted: bool,
    /// The server confirmed completion (report `url` or `total_completed`).
    server_confirmed: bool,
    completion_url: Option<String>,
    asset_polls: u32,
    progress: ProgressTracker,
    throttle: Throttle,
    dirty: bool,
}

impl Upload {
    fn chunk(&self, index: u32) -> &Chunk {
        &self.chunks[(index - 1) as usize]
    }

    fn chunk_mut(&mut self, index: u32) -> &mut Chunk {
        &mut self.chunks[(index - 1) as usize]
    }

    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.frontier..=self.plan.total_chunks()
    }

    fn advance_frontier(&mut self) {
        while self.frontier <= self.plan.total_chunks()
            && self.chunk(self.frontier).state == ChunkState::Reported
        {
            self.frontier += 1;
        }
    }

    fn all_reported(&self) -> bool {
        self.frontier > self.plan.total_chunks()
    }

    fn has_work_left_to_put(&self) -> bool {
        self.indices().any(|i| {
            matches!(
                self.chunk(i).state,
                ChunkState::Pending | ChunkState::Uploading(_)
            )
        })
    }

    /// Shows in the progress that a request waits `delay_ms` for retry number `attempt`.
    fn show_retry(&mut self, attempt: u32, delay_ms: u64, cause: &Error) {
        let retrying = Retrying {
            attempt,
            delay_ms,
            error_code: cause.code,
        };
        if self.progress.set_retrying(Some(retrying)) {
            self.throttle.mark();
        }
    }

    fn reset_attempts(&mut self) {
        for chunk in &mut self.chunks {
            chunk.attempts = 0;
        }
    }

    fn counts(&self, in_flight_sent: u64) -> ProgressCounts {
        let mut c = ProgressCounts::default();
        for (i, chunk) in self.chunks.iter().enumerate() {
            let len = self.plan.chunk_len(i as u32 + 1);
            if chunk.is_acknowledged() {
                c.acknowledged_bytes += len;
                c.acknowledged_chunks += 1;
            }
            if chunk.state == ChunkState::Reported {
                c.reported_bytes += len;
                c.reported_chunks += 1;
            }
        }
        c.sent_bytes = c.acknowledged_bytes + in_flight_sent;
        c
    }
}

#[derive(Debug, Clone)]
enum RequestKind {
    Put {
        chunk_index: u32,
        bytes: u64,
        sent: u64,
        deadline_ms: u64,
    },
    Urls,
    Report {
        indices: Vec<u32>,
    },
    Status,
    Asset,
}

#[derive(Debug, Clone)]
struct InFlight {
    file: FileId,
    kind: RequestKind,
}

/// The upload engine. See the [module documentation](self) for the driving loop.
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
    uploads: SortedMap<FileId, Upload>,
    requests: SortedMap<RequestId, InFlight>,
    actions: VecDeque<Action>,
    next_file: u32,
    next_request: u64,
    clock: ClockOffset,
    jitter: JitterSource,
    online: bool,
    /// Aggregate PUT throughput, for the stall watchdog.
    speed: SpeedEstimator,
    puts_in_flight: u32,
    last_now_ms: u64,
}

impl Engine {
    /// A new engine with no uploads. Fails with `invalid_input` on bad settings.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        config.validate()?;
        Ok(Engine {
            jitter: JitterSource::new(config.jitter_seed),
            speed: SpeedEstimator::new(config.speed_time_constant_ms),
            config,
            uploads: SortedMap::new(),
            requests: SortedMap::new(),
            actions: VecDeque::new(),
            next_file: 1,
            next_request: 1,
            clock: ClockOffset::default(),
            online: true,
            puts_in_flight: 0,
            last_now_ms: 0,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Starts uploading a freshly created session. Fails with `server_invalid` when the
    /// server's plan does not add up for `file_size`, `session_expired` when the session is
    /// already past its expiry.
    pub fn add_upload(&mut self, now_ms: u64, upload: NewUpload) -> Result<FileId, Error> {
        let session = upload.session;
        let plan = ChunkPlan::new(
            upload.file_size,
            upload.file_size,
            session.chunk_size,
            u64::from(session.total_chunks),
        )?;
        let expires_server = parse_server_time(&session.expires_at);
        match (upload.server_time_ms, expires_server) {
            (Some(server_now), _) => self.clock.observe(server_now, now_ms),
            // The session was created a moment ago and lives 24 h: that dates the server's clock.
            (None, Some(expires)) if !self.clock.measured => {
                let created = expires.saturating_sub(limits::SESSION_TTL_SECS * 1_000);
                self.clock.observe(created, now_ms);
            }
            _ => {}
        }
        let mut state = self.new_upload_state(
            plan,
            &session,
            expires_server,
            upload.wait_for_asset,
            Phase::Uploading,
        );
        if let Some(expired) = self.check_expiry(&state, now_ms) {
            return Err(expired);
        }
        let margin = self.config.url_expiry_margin_ms;
        let chunks = &state.chunks;
        state
            .urls
            .insert(&session.upload_urls, &self.clock, now_ms, margin, |i| {
                plan.contains(i)
                    && chunks
                        .get((i - 1) as usize)
                        .is_some_and(|c| c.state == ChunkState::Pending)
            });
        state.dirty = true;
        let id = self.insert_upload(state);
        self.drive(now_ms);
        Ok(id)
    }

    /// Resumes an upload from its saved record (after a reload, with the re-selected file of
    /// `file_size` bytes). The server's status is read first; then only what is missing is sent.
    ///
    /// Fails with `invalid_input` for a malformed record, `file_mismatch` when the file's size
    /// differs, `session_expired` when the session is past its expiry.
    pub fn restore_upload(
        &mut self,
        now_ms: u64,
        saved: SavedUpload,
        file_size: u64,
        wait_for_asset: bool,
    ) -> Result<FileId, Error> {
        saved.validate()?;
        if saved.total_size != file_size {
            return Err(Error::new(
                ErrorCode::FileMismatch,
                format!(
                    "the saved upload is for a file of {} bytes, the chosen file has {file_size}",
                    saved.total_size
                ),
            ));
        }
        let plan = ChunkPlan::new(
            file_size,
            saved.total_size,
            saved.chunk_size,
            u64::from(saved.total_chunks),
        )?;
        if !self.clock.measured {
            self.clock = ClockOffset {
                server_minus_local_ms: saved.clock_offset_ms,
                measured: true,
            };
        }
        let session = CreateMultipartUploadResponse {
            upload_id: saved.upload_id.clone(),
            asset_id: saved.asset_id.clone(),
            upload_urls: Vec::new(),
            upload_headers: saved.upload_headers.clone(),
            chunk_size: saved.chunk_size,
            total_chunks: saved.total_chunks,
            expires_at: saved.expires_at.clone(),
            upload_token: saved.upload_token.clone(),
        };
        let expires_server = parse_server_time(&saved.expires_at);
        let mut state = self.new_upload_state(
            plan,
            &session,
            expires_server,
            wait_for_asset,
            Phase::Reconciling,
        );
        if let Some(expired) = self.check_expiry(&state, now_ms) {
            return Err(expired);
        }
        for index in 1..=plan.total_chunks() {
            if saved.is_reported(index) {
                state.chunk_mut(index).state = ChunkState::Reported;
            }
        }
        for (index, etag) in &saved.etags {
            let chunk = state.chunk_mut(*index);
            if chunk.state != ChunkState::Reported {
                chunk.state = ChunkState::Acked;
                chunk.etag = Some(etag.clone());
                chunk.acked_at_ms = now_ms;
            }
        }
        state.advance_frontier();
        let id = self.insert_upload(state);
        self.drive(now_ms);
        Ok(id)
    }

    /// Feeds one input at local time `now_ms`, then decides what to do next. Outcomes for
    /// unknown or cancelled requests are ignored.
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        // Time never runs backwards inside the engine, whatever the caller's clock does.
        let now_ms = now_ms.max(self.last_now_ms);
        match input {
            Input::PutProgress {
                request,
                bytes_sent,
            } => self.on_put_progress(now_ms, request, bytes_sent),
            Input::PutDone { request, outcome } => self.on_put_done(now_ms, request, outcome),
            Input::UrlsDone {
                request,
                result,
                server_time_ms,
            } => self.on_urls_done(now_ms, request, result, server_time_ms),
            Input::ReportDone { request, result } => self.on_report_done(now_ms, request, result),
            Input::StatusDone { request, result } => self.on_status_done(now_ms, request, result),
            Input::AssetDone { request, result } => self.on_asset_done(now_ms, request, result),
            Input::Pause { file } => self.on_pause(file),
            Input::Resume { file } => {
                for id in self.targets(file) {
                    if let Some(u) = self.uploads.get_mut(&id) {
                        u.paused = false;
                    }
                }
            }
            Input::Abort { file } => {
                for id in self.targets(file) {
                    self.abort_upload(now_ms, id);
                }
            }
            Input::Offline => self.online = false,
            Input::Online => {
                self.online = true;
                for u in self.uploads.values_mut() {
                    for chunk in &mut u.chunks {
                        chunk.not_before_ms = chunk.not_before_ms.min(now_ms);
                    }
                    for lane in [
                        &mut u.url_lane,
                        &mut u.report_lane,
                        &mut u.status_lane,
                        &mut u.asset_lane,
                    ] {
                        lane.not_before_ms = lane.not_before_ms.min(now_ms);
                    }
                }
            }
            Input::Tick => {}
        }
        self.drive(now_ms);
    }

    /// The next action for the adapter, if any. Drain until `None` after every call that feeds
    /// the engine.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The local time at which the engine wants [`Input::Tick`], if it waits on a deadline
    /// (backoff, debounce, stall watchdog, polling, throttled progress). Always later than the
    /// last `now_ms` the engine saw; `None` when it only waits on outcomes (or has nothing to do).
    pub fn next_wakeup(&self) -> Option<u64> {
        let now = self.last_now_ms;
        let mut best: Option<u64> = None;
        let mut consider = |t: u64| {
            if t > now {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        };
        for request in self.requests.values() {
            if let RequestKind::Put { deadline_ms, .. } = request.kind {
                consider(deadline_ms);
            }
        }
        for u in self.uploads.values() {
            if let Some(t) = u.throttle.deadline() {
                consider(t);
            }
            if let Some(expires) = u.session_expires_server_ms {
                if u.phase != Phase::AwaitingAsset {
                    consider(self.clock.to_local(expires));
                }
            }
            if !self.online {
                continue;
            }
            consider(u.report_lane.not_before_ms);
            if let Some(first_acked) = u
                .indices()
                .filter(|&i| u.chunk(i).state == ChunkState::Acked)
                .map(|i| u.chunk(i).acked_at_ms)
                .min()
            {
                consider(first_acked.saturating_add(self.config.report_debounce_ms));
            }
            if u.paused {
                continue;
            }
            match u.phase {
                Phase::Uploading => {
                    consider(u.url_lane.not_before_ms);
                    for i in u.indices() {
                        let chunk = u.chunk(i);
                        if chunk.state == ChunkState::Pending {
                            consider(chunk.not_before_ms);
                        }
                    }
                }
                Phase::Reconciling | Phase::Confirming => consider(u.status_lane.not_before_ms),
                Phase::AwaitingAsset => consider(u.asset_lane.not_before_ms),
            }
        }
        best
    }

    /// A session the adapter created but will not upload (the user aborted while it was being
    /// created): its reserved asset is deleted ([`Action::DeleteAsset`]), as an aborted upload's
    /// is.
    pub fn abandon_session(&mut self, session: &CreateMultipartUploadResponse) {
        self.actions.push_back(Action::DeleteAsset {
            asset_id: session.asset_id.clone(),
        });
    }

    /// The latest progress of an upload (`None` once it finished or for an unknown id).
    pub fn progress(&self, file: FileId) -> Option<Progress> {
        self.uploads.get(&file).map(|u| u.progress.snapshot())
    }

    /// Where an upload stands (`None` once it finished or for an unknown id).
    pub fn phase(&self, file: FileId) -> Option<Phase> {
        self.uploads.get(&file).map(|u| u.phase)
    }

    /// Whether an upload is paused.
    pub fn is_paused(&self, file: FileId) -> bool {
        self.uploads.get(&file).is_some_and(|u| u.paused)
    }

    /// The uploads in progress, in scheduling order.
    pub fn uploads(&self) -> impl Iterator<Item = FileId> + '_ {
        self.uploads.keys().copied()
    }

    /// Chunk PUTs in flight, across all uploads (never above the configured concurrency).
    pub fn puts_in_flight(&self) -> u32 {
        self.puts_in_flight
    }

    /// The record to persist for resuming the upload after a reload (`None` once it finished).
    pub fn saved_state(&self, file: FileId) -> Option<SavedUpload> {
        let u = self.uploads.get(&file)?;
        let reported = to_ranges(
            (1..=u.plan.total_chunks()).filter(|&i| u.chunk(i).state == ChunkState::Reported),
        );
        let etags = (1..=u.plan.total_chunks())
            .filter(|&i| {
                matches!(
                    u.chunk(i).state,
                    ChunkState::Acked | ChunkState::Reporting(_)
                )
            })
            .filter_map(|i| u.chunk(i).etag.clone().map(|e| (i, e)))
            .collect();
        Some(SavedUpload {
            version: SAVED_UPLOAD_VERSION,
            upload_id: u.upload_id.clone(),
            asset_id: u.asset_id.clone(),
            upload_token: u.upload_token.clone(),
            upload_headers: u.upload_headers.clone(),
            total_size: u.plan.total_size(),
            chunk_size: u.plan.chunk_size(),
            total_chunks: u.plan.total_chunks(),
            expires_at: u.session_expires_at.clone(),
            clock_offset_ms: self.clock.server_minus_local_ms,
            reported,
            etags,
        })
    }

    // ─────────────────────────────── setup ───────────────────────────────

    fn new_upload_state(
        &self,
        plan: ChunkPlan,
        session: &CreateMultipartUploadResponse,
        expires_server: Option<u64>,
        wait_for_asset: bool,
        phase: Phase,
    ) -> Upload {
        Upload {
            plan,
            upload_id: session.upload_id.clone(),
            asset_id: session.asset_id.clone(),
            upload_token: session.upload_token.clone(),
            upload_headers: session.upload_headers.clone(),
            session_expires_at: session.expires_at.clone(),
            session_expires_server_ms: expires_server,
            wait_for_asset,
            chunks: vec![Chunk::pending(); plan.total_chunks() as usize],
            frontier: 1,
            urls: UrlWindow::new(),
            url_lane: Lane::default(),
            report_lane: Lane::default(),
            status_lane: Lane::default(),
            asset_lane: Lane::default(),
            phase,
            paused: false,
            status_page: 1,
            status_reverted: false,
            server_confirmed: false,
            completion_url: None,
            asset_polls: 0,
            progress: ProgressTracker::new(
                plan.total_size(),
                plan.total_chunks(),
                self.config.speed_time_constant_ms,
            ),
            throttle: Throttle::new(self.config.progress_interval_ms),
            dirty: false,
        }
    }

    fn insert_upload(&mut self, state: Upload) -> FileId {
        let id = FileId(self.next_file);
        self.next_file += 1;
        self.uploads.insert(id, state);
        id
    }

    fn check_expiry(&self, u: &Upload, now_ms: u64) -> Option<Error> {
        let expires = u.session_expires_server_ms?;
        (now_ms >= self.clock.to_local(expires)).then(|| {
            Error::new(
                ErrorCode::SessionExpired,
                format!(
                    "upload session {} expired at {}; start a new upload",
                    u.upload_id, u.session_expires_at
                ),
            )
        })
    }

    fn targets(&self, file: Option<FileId>) -> Vec<FileId> {
        match file {
            Some(id) => vec![id],
            None => self.uploads.keys().copied().collect(),
        }
    }

    fn new_request(&mut self, file: FileId, kind: RequestKind) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if matches!(kind, RequestKind::Put { .. }) {
            self.puts_in_flight += 1;
        }
        self.requests.insert(id, InFlight { file, kind });
        id
    }

    fn take_request(&mut self, id: RequestId) -> Option<InFlight> {
        let request = self.requests.remove(&id)?;
        if matches!(request.kind, RequestKind::Put { .. }) {
            self.puts_in_flight -= 1;
        }
        Some(request)
    }

    fn cancel(&mut self, id: RequestId) {
        if self.take_request(id).is_some() {
            self.actions.push_back(Action::Cancel { request: id });
        }
    }

    // ─────────────────────────────── outcomes ───────────────────────────────

    fn on_put_progress(&mut self, now_ms: u64, request: RequestId, bytes_sent: u64) {
        let in_flight = self.puts_in_flight;
        let bound = |bytes: u64, this: &Engine| this.stall_bound_ms(bytes, in_flight);
        let Some(InFlight {
            kind: RequestKind::Put { bytes, sent, .. },
            ..
        }) = self.requests.get(&request).cloned()
        else {
            return;
        };
        let new_sent = bytes_sent.min(bytes);
        let remaining_bound = bound(bytes - new_sent, self);
        if let Some(InFlight {
            kind: RequestKind::Put {
                sent, deadline_ms, ..
            },
            file,
        }) = self.requests.get_mut(&request)
        {
            if new_sent > *sent {
                *sent = new_sent;
                // Bytes are moving: the watchdog measures from this sign of life.
                *deadline_ms = now_ms.saturating_add(remaining_bound);
                let file = *file;
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.throttle.mark();
                }
            }
        }
        let _ = sent;
    }

    fn on_put_done(&mut self, now_ms: u64, request: RequestId, outcome: HttpOutcome) {
        let Some(InFlight {
            file,
            kind: RequestKind::Put {
                chunk_index, bytes, ..
            },
        }) = self.take_request(request)
        else {
            return;
        };
        if !self.uploads.contains_key(&file) {
            return;
        }
        match classify(Operation::StoragePut, &outcome) {
            Verdict::Success { etag } => {
                self.speed.record(now_ms, bytes);
                let Some(u) = self.uploads.get_mut(&file) else {
                    return;
                };
                u.reset_attempts();
                u.progress.set_retrying(None);
                let chunk = u.chunk_mut(chunk_index);
                chunk.state = ChunkState::Acked;
                chunk.etag = etag;
                chunk.acked_at_ms = now_ms;
                u.dirty = true;
                u.throttle.mark();
            }
            // `refresh_url` needs no extra step: `retry_chunk` always drops the chunk's URL
            // (a URL is used once), so every retry gets a fresh one.
            Verdict::Retry {
                not_before_ms,
                cause,
                ..
            } => self.retry_chunk(now_ms, file, chunk_index, not_before_ms, cause),
            Verdict::Fatal(error) => self.finish(now_ms, file, Err(error)),
        }
    }

    /// Puts a chunk back in the queue after a failed or stalled PUT. Its URL is gone (used once);
    /// a fresh one is requested.
    fn retry_chunk(
        &mut self,
        now_ms: u64,
        file: FileId,
        index: u32,
        retry_after: Option<u64>,
        cause: Error,
    ) {
        let online = self.online;
        let policy = self.config.put_backoff;
        let random = self.jitter.next_u64();
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.urls.discard(index);
        u.throttle.mark();
        let chunk = u.chunk_mut(index);
        chunk.state = ChunkState::Pending;
        chunk.etag = None;
        if !online {
            // Expected while offline: try again as soon as the network is back, uncounted.
            chunk.not_before_ms = now_ms;
            return;
        }
        chunk.attempts += 1;
        if chunk.attempts > policy.max_attempts {
            let error = Error {
                code: ErrorCode::RetriesExhausted,
                message: format!(
                    "chunk {index} failed {} times without progress; last error: {}",
                    chunk.attempts, cause
                ),
                status: cause.status,
            };
            self.finish(now_ms, file, Err(error));
            return;
        }
        let delay_ms = backoff_delay_ms(&policy, chunk.attempts, random, retry_after);
        chunk.not_before_ms = now_ms + delay_ms;
        let attempt = chunk.attempts;
        u.show_retry(attempt, delay_ms, &cause);
    }

    /// Records a failed API request on a lane: backoff, or the upload fails when retries run out
    /// or the verdict is fatal. Returns whether the upload is still alive.
    fn lane_failure(
        &mut self,
        now_ms: u64,
        file: FileId,
        lane_of: fn(&mut Upload) -> &mut Lane,
        operation: Operation,
        outcome: &HttpOutcome,
    ) {
        match classify(operation, outcome) {
            Verdict::Success { .. } => {
                // A success reported as a failure (a 2xx without a readable body) is classified
                // as a retry by `classify`; nothing else reaches here.
                let error = Error::new(
                    ErrorCode::Internal,
                    "an API success was reported as a failure",
                );
                self.finish(now_ms, file, Err(error));
            }
            Verdict::Retry {
                not_before_ms,
                cause,
                ..
            } => self.lane_retry(now_ms, file, lane_of, not_before_ms, cause),
            Verdict::Fatal(error) => self.finish(now_ms, file, Err(error)),
        }
    }

    fn lane_retry(
        &mut self,
        now_ms: u64,
        file: FileId,
        lane_of: fn(&mut Upload) -> &mut Lane,
        retry_after: Option<u64>,
        cause: Error,
    ) {
        let online = self.online;
        let policy = self.config.api_backoff;
        let random = self.jitter.next_u64();
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        let lane = lane_of(u);
        if !online {
            lane.not_before_ms = now_ms;
            return;
        }
        lane.failures += 1;
        if lane.failures > policy.max_attempts {
            let error = Error {
                code: ErrorCode::RetriesExhausted,
                message: format!(
                    "gave up after {} attempts; last error: {}",
                    lane.failures, cause
                ),
                status: cause.status,
            };
            self.finish(now_ms, file, Err(error));
            return;
        }
        let delay_ms = backoff_delay_ms(&policy, lane.failures, random, retry_after);
        lane.not_before_ms = now_ms + delay_ms;
        let attempt = lane.failures;
        u.show_retry(attempt, delay_ms, &cause);
    }

    fn on_urls_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<PresignedUrlsResponse, HttpOutcome>,
        server_time_ms: Option<u64>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.url_lane.in_flight = None;
        let response = match result {
            Ok(response) => response,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.url_lane,
                    Operation::RequestUrls,
                    &outcome,
                )
            }
        };
        // Server times are compared with server times: `generated_at` dates this batch on the
        // server's clock at the moment it arrived here.
        if let Some(generated) = response.generated_at.as_deref().and_then(parse_server_time) {
            self.clock.observe(generated, now_ms);
        } else if let Some(server_now) = server_time_ms {
            self.clock.observe(server_now, now_ms);
        }
        let margin = self.config.url_expiry_margin_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        let plan = u.plan;
        let chunks = &u.chunks;
        let inserted = u
            .urls
            .insert(&response.upload_urls, &self.clock, now_ms, margin, |i| {
                plan.contains(i)
                    && chunks
                        .get((i - 1) as usize)
                        .is_some_and(|c| c.state == ChunkState::Pending)
            });
        if inserted.accepted > 0 || inserted.refused == 0 && !response.upload_urls.is_empty() {
            u.url_lane.failures = 0;
            u.progress.set_retrying(None);
        } else {
            // Nothing usable came back (already used, already expired, or an empty list): wait
            // before asking again so a confused server cannot make us spin.
            let cause = Error::new(
                ErrorCode::ServerInvalid,
                format!(
                    "the server returned no usable presigned URL for chunks {}..{}",
                    response.start_index,
                    response.start_index.saturating_add(response.count)
                ),
            );
            self.lane_retry(now_ms, file, |u| &mut u.url_lane, None, cause);
        }
    }

    fn on_report_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<ReportChunksResponse, HttpOutcome>,
    ) {
        let Some(InFlight {
            file,
            kind: RequestKind::Report { indices },
        }) = self.take_request(request)
        else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.report_lane.in_flight = None;
        match result {
            Ok(response) => {
                u.report_lane.failures = 0;
                u.progress.set_retrying(None);
                for index in indices {
                    if u.chunk(index).state == ChunkState::Reporting(request) {
                        u.chunk_mut(index).state = ChunkState::Reported;
                    }
                }
                u.advance_frontier();
                if response.url.is_some() {
                    u.completion_url = response.url;
                    u.server_confirmed = true;
                }
                if response.total_completed >= u.plan.total_chunks() {
                    u.server_confirmed = true;
                }
                u.dirty = true;
                u.throttle.mark();
            }
            Err(outcome) => {
                for index in indices {
                    if u.chunk(index).state == ChunkState::Reporting(request) {
                        u.chunk_mut(index).state = ChunkState::Acked;
                    }
                }
                self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.report_lane,
                    Operation::Report,
                    &outcome,
                );
            }
        }
    }

    fn on_status_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<UploadStatusResponse, HttpOutcome>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.status_lane.in_flight = None;
        let status = match result {
            Ok(status) => status,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.status_lane,
                    Operation::Status,
                    &outcome,
                )
            }
        };
        match status.status {
            UploadStatus::Expired => {
                let error = Error::new(
                    ErrorCode::SessionExpired,
                    format!(
                        "upload session {} has expired; start a new upload",
                        u.upload_id
                    ),
                );
                return self.finish(now_ms, file, Err(error));
            }
            UploadStatus::Failed => {
                let error = Error::new(
                    ErrorCode::SessionFailed,
                    format!(
                        "the server marked upload session {} as failed; start a new upload",
                        u.upload_id
                    ),
                );
                return self.finish(now_ms, file, Err(error));
            }
            UploadStatus::Completed => {
                for chunk in &mut u.chunks {
                    if !matches!(
                        chunk.state,
                        ChunkState::Uploading(_) | ChunkState::Reporting(_)
                    ) {
                        chunk.state = ChunkState::Reported;
                    }
                }
                u.advance_frontier();
                u.server_confirmed = true;
                u.status_page = 1;
                if u.all_reported() {
                    return self.session_completed(now_ms, file);
                }
                return;
            }
            UploadStatus::Active | UploadStatus::Unknown => {}
        }
        u.status_lane.failures = 0;
        u.progress.set_retrying(None);
        for info in &status.uploaded_chunks {
            if !u.plan.contains(info.index) {
                continue;
            }
            let chunk = u.chunk_mut(info.index);
            if matches!(
                chunk.state,
                ChunkState::Uploading(_) | ChunkState::Reporting(_)
            ) {
                continue;
            }
            let before = chunk.state;
            match info.status {
                ChunkStatus::Completed => chunk.state = ChunkState::Reported,
                ChunkStatus::Failed => {
                    // The server refused what it got: upload again, to a fresh URL.
                    *chunk = Chunk::pending();
                }
                ChunkStatus::Pending => {
                    if chunk.etag.is_some() {
                        if chunk.state == ChunkState::Reported {
                            chunk.state = ChunkState::Acked;
                            chunk.acked_at_ms = now_ms;
                        }
                    } else {
                        *chunk = Chunk::pending();
                    }
                }
                ChunkStatus::Unknown => {}
            }
            if before == ChunkState::Reported && chunk.state != ChunkState::Reported {
                u.status_reverted = true;
            }
        }
        u.frontier = 1;
        u.advance_frontier();
        u.dirty = true;
        u.throttle.mark();
        let page_limit = limits::PAGE_LIMIT_MAX;
        let last_page = match &status.page_info {
            Some(info) => u.status_page >= info.total_page,
            None => (status.uploaded_chunks.len() as u32) < page_limit,
        } || status.uploaded_chunks.is_empty();
        if !last_page {
            u.status_page += 1;
            return;
        }
        u.status_page = 1;
        let reverted = std::mem::take(&mut u.status_reverted);
        match u.phase {
            Phase::Reconciling => u.phase = Phase::Uploading,
            Phase::Confirming if reverted || !u.all_reported() => u.phase = Phase::Uploading,
            Phase::Confirming if status.chunks_completed >= u.plan.total_chunks() => {
                self.session_completed(now_ms, file)
            }
            Phase::Confirming => {
                // Everything is reported and listed completed, but the session is not (yet):
                // the server may be finalising. Ask again later; give up eventually.
                let cause = Error::new(
                    ErrorCode::UpstreamUnavailable,
                    "every chunk is reported but the server does not confirm the upload as completed",
                );
                self.lane_retry(now_ms, file, |u| &mut u.status_lane, None, cause);
            }
            Phase::Uploading | Phase::AwaitingAsset => {}
        }
    }

    fn on_asset_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<Asset, HttpOutcome>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let random = self.jitter.next_u64();
        let poll = self.config.asset_poll;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.asset_lane.in_flight = None;
        let asset = match result {
            Ok(asset) => asset,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.asset_lane,
                    Operation::Asset,
                    &outcome,
                )
            }
        };
        u.asset_lane.failures = 0;
        u.progress.set_retrying(None);
        match asset_readiness(&asset) {
            Some(Ok(())) => {
                let completion = Completion {
                    asset_id: u.asset_id.clone(),
                    url: u.completion_url.clone(),
                    asset: Some(Box::new(asset)),
                };
                self.finish(now_ms, file, Ok(completion));
            }
            Some(Err(error)) => self.finish(now_ms, file, Err(error)),
            None => {
                u.asset_polls += 1;
                u.asset_lane.not_before_ms = now_ms + poll.delay_ms(u.asset_polls, random);
            }
        }
    }

    fn on_pause(&mut self, file: Option<FileId>) {
        let abort = self.config.pause_mode == PauseMode::AbortInFlight;
        for id in self.targets(file) {
            let Some(u) = self.uploads.get_mut(&id) else {
                continue;
            };
            u.paused = true;
            if !abort {
                continue;
            }
            let in_flight: Vec<(u32, RequestId)> = u
                .indices()
                .filter_map(|i| match u.chunk(i).state {
                    ChunkState::Uploading(r) => Some((i, r)),
                    _ => None,
                })
                .collect();
            for (index, request) in in_flight {
                if let Some(u) = self.uploads.get_mut(&id) {
                    let chunk = u.chunk_mut(index);
                    // Not a failure: the chunk simply goes back in line, uncounted.
                    chunk.state = ChunkState::Pending;
                    chunk.not_before_ms = 0;
                }
                self.cancel(request);
            }
        }
    }

    // ─────────────────────────────── endings ───────────────────────────────

    fn session_completed(&mut self, now_ms: u64, file: FileId) {
        let poll_initial = self.config.asset_poll.initial_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.throttle.mark();
        let asset_id = u.asset_id.clone();
        let url = u.completion_url.clone();
        self.actions.push_back(Action::Uploaded {
            file,
            asset_id: asset_id.clone(),
            url: url.clone(),
        });
        if u.wait_for_asset {
            u.phase = Phase::AwaitingAsset;
            u.asset_lane = Lane {
                not_before_ms: now_ms + poll_initial,
                ..Lane::default()
            };
        } else {
            self.finish(
                now_ms,
                file,
                Ok(Completion {
                    asset_id,
                    url,
                    asset: None,
                }),
            );
        }
    }

    /// Ends an upload with `aborted`. Until its session completed, the asset the session
    /// reserved holds no media and never will: it is deleted. Once the session completed (the
    /// caller was only waiting for processing) the asset is whole and is kept.
    fn abort_upload(&mut self, now_ms: u64, file: FileId) {
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        let reserved_asset = (u.phase != Phase::AwaitingAsset).then(|| u.asset_id.clone());
        let aborted = Err(Error::new(ErrorCode::Aborted, "the upload was aborted"));
        self.finish_and_delete(now_ms, file, aborted, reserved_asset);
    }

    /// Ends an upload: cancels its requests, flushes progress, emits `Finished`, forgets it.
    fn finish(&mut self, now_ms: u64, file: FileId, outcome: Result<Completion, Error>) {
        self.finish_and_delete(now_ms, file, outcome, None);
    }

    /// [`Engine::finish`], deleting `delete_asset` once the upload's requests are cancelled.
    fn finish_and_delete(
        &mut self,
        now_ms: u64,
        file: FileId,
        outcome: Result<Completion, Error>,
        delete_asset: Option<String>,
    ) {
        let Some(mut u) = self.uploads.remove(&file) else {
            return;
        };
        // Oldest first (the map iterates in id order).
        let owned: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.file == file)
            .map(|(&id, _)| id)
            .collect();
        for request in owned {
            self.cancel(request);
        }
        if let Some(asset_id) = delete_asset {
            self.actions.push_back(Action::DeleteAsset { asset_id });
        }
        u.progress.update(now_ms, u.counts(0));
        u.throttle.mark();
        if u.throttle.flush(now_ms) {
            self.actions.push_back(Action::Progress {
                file,
                progress: u.progress.snapshot(),
            });
        }
        self.actions.push_back(Action::Finished { file, outcome });
    }

    // ─────────────────────────────── deciding ───────────────────────────────

    fn stall_bound_ms(&self, bytes: u64, puts_in_flight: u32) -> u64 {
        let policy = &self.config.stall;
        let speed = match self.speed.bytes_per_second() {
            0 => policy.fallback_bytes_per_second,
            measured => measured,
        };
        let expected = bytes
            .saturating_mul(u64::from(puts_in_flight.max(1)))
            .saturating_mul(1_000)
            / speed;
        expected
            .saturating_mul(policy.factor)
            .clamp(policy.min_ms, policy.max_ms)
    }

    /// Everything that follows from the current state at `now_ms`.
    fn drive(&mut self, now_ms: u64) {
        self.last_now_ms = now_ms;
        self.speed.record(now_ms, 0);
        self.check_stalls(now_ms);
        let files: Vec<FileId> = self.uploads.keys().copied().collect();
        for &file in &files {
            self.check_session_expiry(now_ms, file);
            self.drive_completion(now_ms, file);
            self.drive_reports(now_ms, file);
            self.drive_status_and_asset(now_ms, file);
        }
        self.schedule_puts(now_ms);
        for &file in &files {
            self.drive_urls(now_ms, file);
        }
        self.emit_progress_and_saves(now_ms);
    }

    fn check_stalls(&mut self, now_ms: u64) {
        // Oldest first (the map iterates in id order).
        let stalled: Vec<(RequestId, FileId, u32)> = self
            .requests
            .iter()
            .filter_map(|(&id, r)| match r.kind {
                RequestKind::Put {
                    chunk_index,
                    deadline_ms,
                    ..
                } if deadline_ms <= now_ms => Some((id, r.file, chunk_index)),
                _ => None,
            })
            .collect();
        for (request, file, index) in stalled {
            self.cancel(request);
            let cause = Error::new(
                ErrorCode::UpstreamUnavailable,
                format!("chunk {index} stalled: no completion within the watchdog's bound"),
            );
            self.retry_chunk(now_ms, file, index, None, cause);
        }
    }

    fn check_session_expiry(&mut self, now_ms: u64, file: FileId) {
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        if u.phase == Phase::AwaitingAsset {
            return;
        }
        if let Some(error) = self.check_expiry(u, now_ms) {
            self.finish(now_ms, file, Err(error));
        }
    }

    fn drive_completion(&mut self, now_ms: u64, file: FileId) {
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        if u.phase != Phase::Uploading || !u.all_reported() {
            return;
        }
        if u.server_confirmed {
            self.session_completed(now_ms, file);
        } else {
            u.phase = Phase::Confirming;
            u.status_page = 1;
            u.status_reverted = false;
        }
    }

    fn drive_reports(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let debounce = self.config.report_debounce_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        // After a restore, the server's status decides first what still needs reporting.
        if u.phase == Phase::Reconciling || !u.report_lane.ready(now_ms) {
            return;
        }
        let waiting: Vec<u32> = u
            .indices()
            .filter(|&i| u.chunk(i).state == ChunkState::Acked)
            .collect();
        let Some(oldest) = waiting.iter().map(|&i| u.chunk(i).acked_at_ms).min() else {
            return;
        };
        let due = waiting.len() >= limits::MAX_BATCH as usize
            || now_ms >= oldest.saturating_add(debounce)
            || !u.has_work_left_to_put()
            || u.phase != Phase::Uploading;
        if !due {
            return;
        }
        let batch: Vec<u32> = waiting
            .into_iter()
            .take(limits::MAX_BATCH as usize)
            .collect();
        let chunks: Vec<CompletedChunk> = batch
            .iter()
            .map(|&i| CompletedChunk {
                chunk_index: i,
                proof: u.chunk(i).etag.clone().unwrap_or_default(),
                proof_type: ProofType::Etag,
                chunk_size: u.plan.chunk_len(i),
            })
            .collect();
        let request = self.new_request(
            file,
            RequestKind::Report {
                indices: batch.clone(),
            },
        );
        if let Some(u) = self.uploads.get_mut(&file) {
            u.report_lane.in_flight = Some(request);
            for i in batch {
                u.chunk_mut(i).state = ChunkState::Reporting(request);
            }
        }
        self.actions.push_back(Action::Report {
            request,
            file,
            chunks,
        });
    }

    fn drive_status_and_asset(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        if u.paused {
            return;
        }
        match u.phase {
            Phase::Reconciling | Phase::Confirming => {
                // Reports still on their way would make the status read stale.
                let reporting = u.report_lane.in_flight.is_some();
                if !u.status_lane.ready(now_ms) || reporting {
                    return;
                }
                let page = u.status_page;
                let request = self.new_request(file, RequestKind::Status);
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.status_lane.in_flight = Some(request);
                }
                self.actions.push_back(Action::FetchStatus {
                    request,
                    file,
                    page,
                    page_limit: limits::PAGE_LIMIT_MAX,
                });
            }
            Phase::AwaitingAsset => {
                if !u.asset_lane.ready(now_ms) {
                    return;
                }
                let asset_id = u.asset_id.clone();
                let request = self.new_request(file, RequestKind::Asset);
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.asset_lane.in_flight = Some(request);
                }
                self.actions.push_back(Action::FetchAsset {
                    request,
                    file,
                    asset_id,
                });
            }
            Phase::Uploading => {}
        }
    }

    /// Fills the global budget: lowest file first, lowest chunk first, among chunks that are
    /// due and hold a usable URL.
    fn schedule_puts(&mut self, now_ms: u64) {
        if !self.online {
            return;
        }
        let files: Vec<FileId> = self.uploads.keys().copied().collect();
        for file in files {
            loop {
                if self.puts_in_flight >= self.config.concurrency {
                    return;
                }
                let Some(u) = self.uploads.get_mut(&file) else {
                    break;
                };
                if u.paused || u.phase != Phase::Uploading {
                    break;
                }
                let next = u.indices().find(|&i| {
                    let c = u.chunk(i);
                    c.state == ChunkState::Pending
                        && c.not_before_ms <= now_ms
                        && u.urls.has_usable(i, now_ms)
                });
                let Some(index) = next else {
                    break;
                };
                let (Some(range), Some(url)) = (u.plan.range(index), u.urls.take(index, now_ms))
                else {
                    break;
                };
                let bound = self.stall_bound_ms(range.len(), self.puts_in_flight + 1);
                let request = self.new_request(
                    file,
                    RequestKind::Put {
                        chunk_index: index,
                        bytes: range.len(),
                        sent: 0,
                        deadline_ms: now_ms.saturating_add(bound),
                    },
                );
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.chunk_mut(index).state = ChunkState::Uploading(request);
                }
                self.actions.push_back(Action::Put {
                    request,
                    file,
                    chunk_index: index,
                    url,
                    range,
                });
            }
        }
    }

    fn drive_urls(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let lookahead = self.config.effective_lookahead();
        let budget_free = self.puts_in_flight < self.config.concurrency;
        let speed = match self.speed.bytes_per_second() {
            0 => self.config.stall.fallback_bytes_per_second,
            measured => measured,
        };
        let uploading = self
            .uploads
            .values()
            .filter(|u| u.phase == Phase::Uploading && !u.paused)
            .count() as u64;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        if u.paused || u.phase != Phase::Uploading || !u.url_lane.ready(now_ms) {
            return;
        }
        u.urls.drop_expiring(now_ms);
        let u = &*u;
        let upcoming = u
            .indices()
            .filter(|&i| u.chunk(i).state == ChunkState::Pending);
        // Urgent: a slot is free and a due chunk waits for nothing but its URL.
        let urgent = budget_free
            && u.indices().any(|i| {
                let c = u.chunk(i);
                c.state == ChunkState::Pending
                    && c.not_before_ms <= now_ms
                    && !u.urls.has_usable(i, now_ms)
            });
        let batch_limit = url_batch_limit(
            u.urls.last_usable_lifetime_ms(),
            speed / uploading.max(1),
            u.plan.chunk_size(),
            lookahead,
        );
        let Some(UrlBatch { start, count }) =
            u.urls
                .plan_request(upcoming, lookahead, batch_limit, now_ms, urgent)
        else {
            return;
        };
        let request = self.new_request(file, RequestKind::Urls);
        if let Some(u) = self.uploads.get_mut(&file) {
            u.url_lane.in_flight = Some(request);
        }
        self.actions.push_back(Action::RequestUrls {
            request,
            file,
            start,
            count,
        });
    }

    fn emit_progress_and_saves(&mut self, now_ms: u64) {
        let requests = &self.requests;
        let observes_put_progress = self.config.observes_put_progress;
        let online = self.online;
        for (&file, u) in self.uploads.iter_mut() {
            let in_flight_sent: u64 = requests
                .values()
                .filter(|r| r.file == file)
                .map(|r| match r.kind {
                    RequestKind::Put { sent, .. } if observes_put_progress => sent,
                    RequestKind::Put { bytes, .. } => bytes,
                    _ => 0,
                })
                .sum();
            if u.progress.set_halted(u.paused || !online) {
                u.throttle.mark();
            }
            if u.dirty {
                u.dirty = false;
                self.actions.push_back(Action::SaveState { file });
            }
            u.progress.update(now_ms, u.counts(in_flight_sent));
            if u.throttle.poll(now_ms) {
                self.actions.push_back(Action::Progress {
                    file,
                    progress: u.progress.snapshot(),
                });
            }
        }
    }
}

/// How many URLs one presigned-URL request may ask for: 50 (the API's maximum, so that a GiB
/// costs a handful of requests), but no more than this upload can start before they expire at
/// its share of the observed speed, and never fewer than the lookahead. `lifetime_ms` is the
/// usable lifetime of the last batch (unknown before the first one: the lookahead is asked for).
fn url_batch_limit(
    lifetime_ms: Option<u64>,
    bytes_per_second: u64,
    chunk_size: u64,
    lookahead: u32,
) -> u32 {
    let Some(lifetime_ms) = lifetime_ms else {
        return lookahead;
    };
    let usable_chunks = u128::from(lifetime_ms) * u128::from(bytes_per_second)
        / 1_000
        / u128::from(chunk_size.max(1));
    let usable_chunks = u32::try_from(usable_chunks).unwrap_or(u32::MAX);
    usable_chunks.clamp(lookahead.min(limits::MAX_BATCH), limits::MAX_BATCH)
}

/// Whether an asset is done processing: `Some(Ok)` when `ready`, `Some(Err(asset_failed))`
/// when `failed` (with the reason it gives), `None` while it is still processing.
pub fn asset_readiness(asset: &Asset) -> Option<Result<(), Error>> {
    match asset.status {
        AssetStatus::Ready => Some(Ok(())),
        AssetStatus::Failed => {
            let reason = asset
                .error
                .as_ref()
                .map_or("no reason given", |e| e.message.as_str());
            Some(Err(Error::new(
                ErrorCode::AssetFailed,
                format!("asset {} failed processing: {reason}", asset.id),
            )))
        }
        AssetStatus::Processing | AssetStatus::Waiting | AssetStatus::Unknown => None,
    }
}

/// What to do after a poll of an asset that is being waited for outside an upload.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum AssetWaitStep {
    /// The asset is ready.
    Ready,
    /// Stop with this error: processing failed, or the time limit would pass before the next
    /// poll (`retries_exhausted`).
    Fail(Error),
    /// Poll again after this many milliseconds.
    PollAfterMs(u64),
}

/// Waiting until an asset is ready outside an upload (`waitUntilReady`): the engine's jittered
/// asset polling ([`AssetPollPolicy::delay_ms`]), with an optional time limit. The adapter
/// polls, sleeps and stops as told.
#[derive(Debug, Clone)]
pub struct AssetWait {
    policy: AssetPollPolicy,
    started_ms: u64,
    timeout_ms: Option<u64>,
    polls: u32,
}

impl AssetWait {
    /// Starts waiting at `now_ms`, for at most `timeout_ms` when given.
    pub fn new(policy: AssetPollPolicy, now_ms: u64, timeout_ms: Option<u64>) -> Self {
        AssetWait {
            policy,
            started_ms: now_ms,
            timeout_ms,
            polls: 0,
        }
    }

    /// Decides after a poll (at `now_ms`) read `asset`; `random` draws the jitter.
    pub fn after(&mut self, asset: &Asset, now_ms: u64, random: u64) -> AssetWaitStep {
        match asset_readiness(asset) {
            Some(Ok(())) => AssetWaitStep::Ready,
            Some(Err(error)) => AssetWaitStep::Fail(error),
            None => {
                self.polls += 1;
                let delay = self.policy.delay_ms(self.polls, random);
                let waited = now_ms.saturating_sub(self.started_ms);
                if self
                    .timeout_ms
                    .is_some_and(|limit| waited.saturating_add(delay) > limit)
                {
                    return AssetWaitStep::Fail(Error::new(
                        ErrorCode::RetriesExhausted,
                        format!("asset {} was not ready in time", asset.id),
                    ));
                }
                AssetWaitStep::PollAfterMs(delay)
            }
        }
    }
}
