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
//! * Each file is handed over once, with [`Engine::add`]; the engine decides everything after it,
//!   session creation ([`Action::CreateSession`]) or a direct upload ([`Action::DirectUpload`])
//!   included. A session created elsewhere can be handed over with [`Engine::add_upload`].
//! * With a renewable grant ([`EngineConfig::renewable_grant`]), [`Action::NeedToken`] asks for a
//!   fresh one; answer with [`Input::TokenRefreshed`] or [`Input::TokenFailed`].
//!
//! # What it decides (see the modules for each rule)
//!
//! * Direct upload or multipart ([`EngineConfig::direct_upload_max_bytes`]); session creation and
//!   its retries ([`EngineConfig::create_backoff`]); abort while creating.
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
//! * Stall watchdog (`deadlines.rs`): a PUT with no completion (and no reported upload progress)
//!   within a bound derived from its size and the observed speed is cancelled and retried with a
//!   fresh URL; an API call with no answer within the watchdog's minimum is cancelled and
//!   retried by its own rules. Reads and reports in flight when the network went away are sent
//!   again as soon as it is back.
//! * Reports: acknowledged chunks are reported in batches ≤ 50, debounced by
//!   [`EngineConfig::report_debounce_ms`] (immediately when 50 are waiting, nothing else is
//!   left to upload, or the upload is paused); one report per file in flight; never blocking
//!   PUTs; retried; duplicates are harmless.
//! * Completion: once every chunk is reported, the report response's `url` or
//!   `total_completed == total_chunks` confirms it; otherwise the session status is read (all
//!   pages): chunks listed `failed` are uploaded again with a fresh URL, chunks listed `pending`
//!   are reported again. Then, if asked ([`NewFile::wait_for_asset`]), the asset is polled with
//!   backoff until `ready` or `failed`.
//! * The grant: asked for before the first call that needs it and after a 401
//!   ([`retry::wants_fresh_grant`](crate::core::retry::wants_fresh_grant)).
//! * [`progress`](crate::core::progress): monotonic counters, EMA speed, ETA, throttled events.
//! * Pause / resume / abort, online / offline: see [`Input`].
//! * [`resume`](crate::core::resume): the saved-state record and its reconciliation with the
//!   server's status after a reload.
//!
//! Pausing stops new PUTs, URL requests and status reads of the paused uploads (not the wait for
//! the asset once every byte is with the server: that is TwelveLabs' work, and goes on);
//! chunks already acknowledged are still reported (so the server knows as much as possible if the
//! pause turns into a reload). [`PauseMode`] decides whether PUTs in flight are aborted or allowed
//! to finish.
//!
//! # The driving loop
//!
//! ```
//! use twelvelabs_edge_upload::core::engine::{Action, Engine, EngineConfig, Input, NewFile};
//! use twelvelabs_edge_upload::core::retry::HttpOutcome;
//! use twelvelabs_edge_upload::core::wire::{CreateMultipartUploadResponse, PresignedUrl, ReportChunksResponse};
//!
//! let mut engine = Engine::new(EngineConfig::default()).unwrap();
//! let now = 1_764_586_800_000; // local time in ms; from `Date.now()` in a browser
//! let file = engine.add(now, NewFile::new(1_000)).unwrap();
//!
//! // The adapter's loop: drain actions, execute them, feed the outcomes back.
//! let mut finished = None;
//! let mut inbox: Vec<Input> = Vec::new();
//! loop {
//!     while let Some(action) = engine.poll_action() {
//!         match action {
//!             // POST /assets/multipart-uploads with the file's name, type and size …
//!             Action::CreateSession { request, .. } => inbox.push(Input::SessionCreated {
//!                 request,
//!                 result: Ok(CreateMultipartUploadResponse {
//!                     upload_id: "up1".into(),
//!                     asset_id: "as1".into(),
//!                     upload_urls: vec![PresignedUrl {
//!                         chunk_index: 1,
//!                         url: "https://storage.example/up1/1?sig=x".into(),
//!                         expires_at: "2025-12-01T12:00:00Z".into(),
//!                     }],
//!                     upload_headers: Default::default(),
//!                     chunk_size: 5 * 1024 * 1024,
//!                     total_chunks: 1,
//!                     expires_at: "2025-12-02T11:00:00Z".into(),
//!                     upload_token: None,
//!                 }),
//!             }),
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

mod assets;
mod chunks;
mod completion;
mod config;
mod creation;
mod deadlines;
mod grant;
mod io;
mod lanes;
mod reports;
mod resume;
mod session;
mod state;
mod urls;

pub use self::assets::{asset_readiness, AssetPollPolicy, AssetWait, AssetWaitStep};
pub use self::config::{option_limits, token_unanswered, EngineConfig, PauseMode, StallPolicy};
pub use self::io::{Action, Completion, FileId, Input, NewFile, NewUpload, RequestId};
pub use self::session::NO_UPLOAD_TOKEN;
pub use self::state::Phase;

use std::collections::VecDeque;

use self::state::{ChunkState, Grant, InFlight, RequestKind, Upload};
use crate::core::clock::ClockOffset;
use crate::core::error::Error;
use crate::core::progress::{Progress, SpeedEstimator};
use crate::core::retry::JitterSource;
use crate::core::sorted_map::SortedMap;

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
    grant: Grant,
}

impl Engine {
    /// A new engine with no uploads. Fails with `invalid_input` on bad settings.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        config.validate()?;
        Ok(Engine {
            grant: if config.renewable_grant {
                Grant::Missing
            } else {
                Grant::Held
            },
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

    /// Feeds one input at local time `now_ms`, then decides what to do next. Outcomes for
    /// unknown or cancelled requests are ignored.
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        // Time never runs backwards inside the engine, whatever the caller's clock does.
        let now_ms = now_ms.max(self.last_now_ms);
        self.apply(now_ms, input);
        self.drive(now_ms);
    }

    /// What one input changes, before `drive` decides what follows.
    fn apply(&mut self, now_ms: u64, input: Input) {
        match input {
            Input::SessionCreated { request, result } => {
                self.on_session_created(now_ms, request, result)
            }
            Input::DirectUploadDone { request, result } => {
                self.on_direct_done(now_ms, request, result)
            }
            Input::FingerprintRead { request } => self.on_fingerprint_read(request),
            Input::PutProgress {
                request,
                bytes_sent,
            } => self.on_put_progress(now_ms, request, bytes_sent),
            Input::PutDone { request, outcome } => self.on_put_done(now_ms, request, outcome),
            Input::UrlsDone { request, result } => self.on_urls_done(now_ms, request, result),
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
            Input::TakenOver { file } => {
                if let Some(u) = self.uploads.get(&file) {
                    let error = crate::core::resume::taken_over(&u.upload_id);
                    self.finish(now_ms, file, Err(error));
                }
            }
            Input::GivenUpElsewhere { file } => {
                if let Some(u) = self.uploads.get(&file) {
                    let error = crate::core::resume::given_up_elsewhere(&u.upload_id);
                    self.finish(now_ms, file, Err(error));
                }
            }
            Input::RecordDropped { file } => {
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.saves_record = false;
                }
            }
            Input::TokenRefreshed => self.on_token_refreshed(),
            Input::TokenFailed { error } => self.on_token_failed(now_ms, error),
            Input::Offline => self.online = false,
            Input::Online => {
                if !self.online {
                    // Before the flag flips: what the network took away is no failed attempt.
                    self.give_up_on_requests_cut_off(now_ms);
                }
                self.online = true;
                for u in self.uploads.values_mut() {
                    for chunk in &mut u.chunks {
                        chunk.not_before_ms = chunk.not_before_ms.min(now_ms);
                    }
                    for lane in [
                        &mut u.create_lane,
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
    }

    /// The next action for the adapter, if any. Drain until `None` after every call that feeds
    /// the engine.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The local time at which the engine wants [`Input::Tick`], if it waits on a deadline
    /// (backoff, debounce, stall watchdog, polling, throttled progress). Always later than the
    /// last `now_ms` the engine saw; `None` when it only waits on outcomes (or has nothing to do).
    #[must_use]
    pub fn next_wakeup(&self) -> Option<u64> {
        let now = self.last_now_ms;
        let mut best: Option<u64> = None;
        let mut consider = |t: u64| {
            if t > now {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        };
        for deadline in self.requests.values().filter_map(|r| r.deadline_ms) {
            consider(deadline);
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
            if matches!(u.phase, Phase::CreatingSession | Phase::DirectUploading) {
                // Creation goes on while paused.
                consider(u.create_lane.not_before_ms);
                continue;
            }
            if u.held() {
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
                Phase::CreatingSession | Phase::DirectUploading => {}
            }
        }
        best
    }

    /// The latest progress of an upload (`None` once it finished or for an unknown id).
    pub fn progress(&self, file: FileId) -> Option<Progress> {
        self.uploads.get(&file).map(|u| u.progress.snapshot())
    }

    /// Where an upload stands (`None` once it finished or for an unknown id).
    pub fn phase(&self, file: FileId) -> Option<Phase> {
        self.uploads.get(&file).map(|u| u.phase)
    }

    /// Whether a pause holds an upload now (not once its bytes are all with the server: see
    /// [`Input::Pause`]).
    pub fn is_paused(&self, file: FileId) -> bool {
        self.uploads.get(&file).is_some_and(|u| u.held())
    }

    /// Whether a paused upload has settled: no request of it in flight, and every chunk it
    /// stored reported. Until then the pause still changes its saved record (a PUT let finish,
    /// a report of acknowledged chunks), so its page keeps the session to itself.
    pub fn is_settled_paused(&self, file: FileId) -> bool {
        self.uploads.get(&file).is_some_and(|u| {
            u.held() && !u.indices().any(|i| u.chunk(i).state == ChunkState::Acked)
        }) && !self.requests.values().any(|r| r.file == file)
    }

    /// The session creations and direct uploads the engine gave up on (their upload was
    /// aborted, or the request passed its deadline) that are still in flight: whatever each
    /// creates is deleted ([`Action::DeleteAsset`]) when it answers. A page's `forget` waits
    /// for each, from when it was given up, as for the deletions under way.
    pub fn abandoned_requests(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.requests
            .iter()
            .filter(|(_, r)| matches!(r.kind, RequestKind::Abandoned))
            .map(|(id, _)| *id)
    }

    /// The uploads in progress, in scheduling order.
    pub fn uploads(&self) -> impl Iterator<Item = FileId> + '_ {
        self.uploads.keys().copied()
    }

    /// Chunk PUTs in flight, across all uploads (never above the configured concurrency).
    pub fn puts_in_flight(&self) -> u32 {
        self.puts_in_flight
    }

    /// Whether the answer to `request` would become its upload's session: a session creation
    /// the engine still waits on as such. False for one it gave up on or whose upload ended (a
    /// session that still makes is deleted), and for any other request. An adapter that keeps
    /// the session's URLs and token for the requests to come records them only then.
    pub fn awaits_session(&self, request: RequestId) -> bool {
        self.requests
            .get(&request)
            .is_some_and(|r| matches!(r.kind, RequestKind::Create))
    }

    fn targets(&self, file: Option<FileId>) -> Vec<FileId> {
        match file {
            Some(id) => vec![id],
            None => self.uploads.keys().copied().collect(),
        }
    }

    fn new_request(&mut self, now_ms: u64, file: FileId, kind: RequestKind) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let deadline_ms = self
            .request_bound_ms(&kind)
            .map(|bound| now_ms.saturating_add(bound));
        if matches!(kind, RequestKind::Put { .. }) {
            self.puts_in_flight += 1;
        }
        self.requests.insert(
            id,
            InFlight {
                file,
                kind,
                deadline_ms,
            },
        );
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

    /// Everything that follows from the current state at `now_ms`.
    fn drive(&mut self, now_ms: u64) {
        self.last_now_ms = now_ms;
        self.speed.record(now_ms, 0);
        self.check_deadlines(now_ms);
        let files: Vec<FileId> = self.uploads.keys().copied().collect();
        for &file in &files {
            self.check_session_expiry(now_ms, file);
            self.drive_creation(now_ms, file);
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
                    RequestKind::Put { bytes, .. } | RequestKind::Direct { bytes } => bytes,
                    _ => 0,
                })
                .sum();
            if u.progress.set_halted(u.held() || !online) {
                u.throttle.mark();
            }
            if u.dirty {
                u.dirty = false;
                // One given up (`RecordDropped`) writes none, even once its fingerprint is read.
                if u.saves_record {
                    self.actions.push_back(Action::SaveState { file });
                }
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
