//! A deterministic simulation of the upload engine against a scripted fake server and storage,
//! on a virtual clock (in the spirit of quinn-proto's tests).
//!
//! The fake server follows `TWELVELABS_API.md`: sessions with a plan, presigned URLs with an
//! expiry on the *server's* clock (which may be skewed from the client's), PUTs that return an
//! ETag, reports checked against the stored ETags, paginated status, an asset that becomes ready.
//! Faults are drawn from a seeded generator: lost requests (network errors), 5xx, 429 with
//! `Retry-After`, stalls (a PUT that never answers), API calls lost on their way (never
//! answered), random latency (so outcomes are reordered), short URL lifetimes, chunks the server
//! marks `failed`, pause/resume, offline/online, and another page completing the session (then
//! PUTs meet `NoSuchUpload`, reports and URL requests `upload_completed`).
//!
//! A fatal fault ([`FatalFault`]) can be switched on for the first file, to check that the upload
//! ends with the right typed error while the other files complete.
//!
//! Every step checks the invariants the engine promises; a run fails with its seed in the message:
//! no URL used twice, PUTs and bytes in flight within the budget, at most one PUT per chunk and
//! one request per API lane in flight, request ids never reused, cancels only for requests in
//! flight, nothing left in flight when an upload finishes, progress monotonic and never above
//! the total, no busy loop (every wake-up lies in the future, and with uploads left the engine
//! always waits on an outcome or a deadline), no chunk uploaded again once the server completed
//! it (unless another page completed it, which this engine learns from the answers), every error typed (never `internal`, always with a message); and at the end, for every
//! successful file: the server completed the session with every chunk reported, and the last
//! progress event says so.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use twelvelabs_edge_upload::core::engine::{
    Action, Completion, Engine, EngineConfig, FileId, Input, NewFile, PauseMode, RequestId,
};
use twelvelabs_edge_upload::core::error::{Error, ErrorCode};
use twelvelabs_edge_upload::core::progress::Progress;
use twelvelabs_edge_upload::core::retry::{BackoffPolicy, HttpOutcome};
use twelvelabs_edge_upload::core::wire::{
    timestamp, Asset, AssetError, AssetMethod, AssetStatus, ChunkInfo, ChunkStatus,
    CreateMultipartUploadResponse, PageInfo, PresignedUrl, PresignedUrlsResponse,
    ReportChunksResponse, UploadStatus, UploadStatusResponse,
};

/// SplitMix64: the harness's own seeded randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0xA076_1D64_78BD_642F)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// Fault rates (per mille) and other knobs of a simulated run.
#[derive(Debug, Clone)]
pub struct Faults {
    pub put_network_error: u64,
    pub put_5xx: u64,
    pub put_429: u64,
    pub put_stall: u64,
    pub api_5xx: u64,
    pub api_429: u64,
    pub api_network_error: u64,
    /// An API call (creation included) is lost before it reaches the server and never
    /// answered: only the engine's deadline ends it.
    pub api_hang: u64,
    /// Per PUT: another page (a second tab, or the page a reload left running) uploads and
    /// reports every chunk of the session and so completes it. From then on the storage refuses
    /// PUTs with `NoSuchUpload`, and URL requests and reports are refused as `upload_completed`.
    pub completed_elsewhere: u64,
    /// The server marks a reported chunk `failed` (as if the proof did not check out).
    pub chunk_marked_failed: u64,
    /// Server clock minus client clock, ms.
    pub skew_ms: i64,
    /// Lifetime of a presigned URL on the server.
    pub url_ttl_ms: u64,
    /// Latency range of any request.
    pub latency_ms: (u64, u64),
    /// Per step: probability of a user pause (resumed later).
    pub pause: u64,
    /// Per step: probability of going offline (online again later).
    pub offline: u64,
    /// A fault that must end the first file with a typed error.
    pub fatal: Option<FatalFault>,
    /// The fatal fault starts once the first file has this many chunks stored.
    pub fatal_after_stored: u64,
    /// Initial URLs handed out at create.
    pub initial_urls: u32,
    /// Asset polls answered `processing` before `ready`.
    pub asset_processing_polls: u32,
    /// Per step: probability that the grant expires (the engine's grant is renewable when > 0):
    /// session creations, direct uploads and asset polls are then refused with 401 until the
    /// engine asks for a fresh one.
    pub grant_expiry: u64,
}

impl Faults {
    pub fn none() -> Self {
        Faults {
            put_network_error: 0,
            put_5xx: 0,
            put_429: 0,
            put_stall: 0,
            api_5xx: 0,
            api_429: 0,
            api_network_error: 0,
            api_hang: 0,
            completed_elsewhere: 0,
            chunk_marked_failed: 0,
            skew_ms: 0,
            url_ttl_ms: 3_600_000,
            latency_ms: (5, 50),
            pause: 0,
            offline: 0,
            fatal: None,
            fatal_after_stored: 0,
            initial_urls: 3,
            asset_processing_polls: 2,
            grant_expiry: 0,
        }
    }

    /// A randomised mix of every fault, drawn from `rng`.
    pub fn random(rng: &mut Rng) -> Self {
        Faults {
            put_network_error: rng.range(0, 80),
            put_5xx: rng.range(0, 80),
            put_429: rng.range(0, 40),
            put_stall: rng.range(0, 30),
            api_5xx: rng.range(0, 80),
            api_429: rng.range(0, 40),
            api_network_error: rng.range(0, 40),
            api_hang: rng.range(0, 20),
            completed_elsewhere: if rng.chance(300) { rng.range(1, 30) } else { 0 },
            chunk_marked_failed: rng.range(0, 30),
            skew_ms: rng.range(0, 4 * 3_600_000) as i64 - 2 * 3_600_000,
            url_ttl_ms: [20_000, 90_000, 600_000, 3_600_000][rng.range(0, 3) as usize],
            latency_ms: (rng.range(1, 20), rng.range(30, 3_000)),
            pause: rng.range(0, 8),
            offline: rng.range(0, 8),
            fatal: None,
            fatal_after_stored: 0,
            initial_urls: rng.range(0, 12) as u32,
            asset_processing_polls: rng.range(0, 4) as u32,
            grant_expiry: if rng.chance(500) { rng.range(1, 20) } else { 0 },
        }
    }
}

/// A fault that no retry can overcome, and the typed error it must end the upload with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalFault {
    /// PUTs answer 200 without a readable `ETag` (CORS does not expose it).
    HiddenEtag,
    /// The storage refuses the chunk (400 `InvalidDigest`).
    StorageRejects,
    /// The storage answers 503 to every PUT: retries run out.
    StorageDown,
    /// API calls answer 401 (the key or token was revoked).
    ApiUnauthorized,
    /// API calls answer 403.
    ApiForbidden,
    /// API calls answer 404 (the session is gone).
    ApiNotFound,
    /// The asset's processing fails.
    AssetFailed,
}

impl FatalFault {
    /// Every fatal fault.
    pub const ALL: [FatalFault; 7] = [
        FatalFault::HiddenEtag,
        FatalFault::StorageRejects,
        FatalFault::StorageDown,
        FatalFault::ApiUnauthorized,
        FatalFault::ApiForbidden,
        FatalFault::ApiNotFound,
        FatalFault::AssetFailed,
    ];

    /// The error code and HTTP status the upload must end with.
    pub fn expected(self) -> (ErrorCode, Option<u16>) {
        match self {
            FatalFault::HiddenEtag => (ErrorCode::EtagUnreadable, Some(200)),
            FatalFault::StorageRejects => (ErrorCode::StorageRejected, Some(400)),
            FatalFault::StorageDown => (ErrorCode::RetriesExhausted, Some(503)),
            FatalFault::ApiUnauthorized => (ErrorCode::Unauthorized, Some(401)),
            FatalFault::ApiForbidden => (ErrorCode::Forbidden, Some(403)),
            FatalFault::ApiNotFound => (ErrorCode::NotFound, Some(404)),
            FatalFault::AssetFailed => (ErrorCode::AssetFailed, None),
        }
    }

    fn put_outcome(self) -> Option<HttpOutcome> {
        match self {
            FatalFault::HiddenEtag => Some(HttpOutcome::status(200)),
            FatalFault::StorageRejects => {
                Some(HttpOutcome::status(400).with_error_code("InvalidDigest"))
            }
            FatalFault::StorageDown => Some(HttpOutcome::status(503)),
            _ => None,
        }
    }

    fn api_outcome(self) -> Option<HttpOutcome> {
        let (status, code) = match self {
            FatalFault::ApiUnauthorized => (401, "api_key_invalid"),
            FatalFault::ApiForbidden => (403, "forbidden"),
            FatalFault::ApiNotFound => (404, "resource_not_exist"),
            _ => return None,
        };
        Some(HttpOutcome::status(status).with_error_code(code))
    }
}

/// One file of a simulated run.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub size: u64,
    pub chunk_size: u64,
}

#[derive(Debug)]
struct Session {
    /// A direct upload: one request made the asset; no chunks, no reports.
    direct: bool,
    upload_id: String,
    size: u64,
    chunk_size: u64,
    total_chunks: u32,
    /// ETag of the bytes stored for each chunk (by the last successful PUT).
    stored: HashMap<u32, String>,
    /// Successful PUTs so far.
    stores: u64,
    completed: HashSet<u32>,
    failed: HashSet<u32>,
    reports_per_chunk: HashMap<u32, u32>,
    status_completed: bool,
    /// Another page completed the session (`completed_elsewhere`).
    completed_elsewhere: bool,
    asset_polls: u32,
}

/// What a request in flight occupies: a chunk, or one of an upload's API lanes (each holds at
/// most one request at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    /// Reading the resume fingerprint, before session creation.
    Fingerprint,
    /// Session creation or the direct upload.
    Create,
    Put(u32),
    Urls,
    Report,
    Status,
    Asset,
}

impl Pending {
    fn request(&self) -> Option<RequestId> {
        match self {
            Pending::Fingerprint { request, .. }
            | Pending::Create { request, .. }
            | Pending::Direct { request, .. }
            | Pending::Put { request, .. }
            | Pending::Urls { request, .. }
            | Pending::Report { request, .. }
            | Pending::Status { request, .. }
            | Pending::Asset { request, .. } => Some(*request),
            Pending::UserResume | Pending::NetworkOnline | Pending::Grant(_) => None,
        }
    }
}

#[derive(Debug)]
enum Pending {
    Fingerprint {
        request: RequestId,
        file: FileId,
    },
    Create {
        request: RequestId,
        result: Result<CreateMultipartUploadResponse, HttpOutcome>,
    },
    Direct {
        request: RequestId,
        result: Result<Asset, HttpOutcome>,
    },
    Put {
        request: RequestId,
        outcome: HttpOutcome,
    },
    Urls {
        request: RequestId,
        result: Result<PresignedUrlsResponse, HttpOutcome>,
    },
    Report {
        request: RequestId,
        result: Result<ReportChunksResponse, HttpOutcome>,
    },
    Status {
        request: RequestId,
        result: Result<UploadStatusResponse, HttpOutcome>,
    },
    Asset {
        request: RequestId,
        result: Result<Asset, HttpOutcome>,
    },
    UserResume,
    NetworkOnline,
    /// The fresh grant the engine asked for.
    Grant(u64),
}

/// The result of a simulated run.
#[derive(Debug)]
pub struct RunReport {
    pub finished: BTreeMap<FileId, Result<Completion, Error>>,
    pub steps: u64,
    /// Session creation requests (retries included).
    pub creations: u64,
    /// Direct upload requests (retries included).
    pub direct_uploads: u64,
    /// Fresh grants the engine asked for.
    pub grant_requests: u64,
    pub puts: u64,
    pub url_requests: u64,
    pub url_batch_sizes: Vec<u32>,
    pub reports: u64,
    pub max_puts_in_flight: u32,
    pub duplicate_reports: u64,
    pub virtual_ms: u64,
    /// The file another page took over while it was paused ([`Sim::set_take_over`]), if that
    /// happened.
    pub taken_over: Option<FileId>,
}

/// The simulator.
pub struct Sim {
    pub rng: Rng,
    pub faults: Faults,
    pub engine: Engine,
    pub now: u64,
    seed: u64,
    /// The files added, by the id the engine gave them.
    files: BTreeMap<FileId, FileSpec>,
    sessions: BTreeMap<FileId, Session>,
    /// URL → (file, chunk index, expiry on the server clock).
    issued_urls: HashMap<String, (FileId, u32, u64)>,
    used_urls: HashSet<String>,
    url_nonce: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Pending>,
    event_seq: u64,
    /// request → event key, so cancels drop the pending answer.
    request_events: HashMap<RequestId, u64>,
    /// PUTs in flight: request → bytes.
    puts_in_flight: HashMap<RequestId, (FileId, u64)>,
    /// Every request in flight (not yet answered, not cancelled), with what it occupies.
    outstanding: HashMap<RequestId, (FileId, Lane)>,
    /// Every request id the engine ever used.
    seen_requests: HashSet<RequestId>,
    last_progress: HashMap<FileId, Progress>,
    finished: BTreeMap<FileId, Result<Completion, Error>>,
    paused: bool,
    offline: bool,
    /// The grant the engine's calls carry is valid (with `grant_expiry`).
    grant_valid: bool,
    /// When the last fresh grant arrived.
    grant_issued_at: u64,
    /// A `NeedToken` is outstanding.
    grant_requested: bool,
    /// `NeedToken`s so far; a grant's answer carries the number of the ask it answers.
    grant_asks: u64,
    report: RunReport,
    max_chunk_size: u64,
    concurrency: u32,
    wait_for_asset: bool,
    /// Files are added with [`NewFile::fingerprint`] set.
    fingerprint: bool,
    /// Files whose fingerprint the engine asked for, and those whose fingerprint was read.
    fingerprints_asked: HashSet<FileId>,
    fingerprints_read: HashSet<FileId>,
    /// Files whose saved-state record the engine said to delete (`ForgetState`), or to keep as
    /// completed (`KeepCompleted`): either way the record's last word.
    forgotten: HashSet<FileId>,
    /// Files whose record the engine said to keep as completed (`KeepCompleted`).
    kept_completed: HashSet<FileId>,
    /// Files whose session the engine reported done (`Uploaded`).
    uploaded: HashSet<FileId>,
    /// When each session creation in flight was sent, and the creations the engine stopped
    /// waiting for (past their deadline it sends another without cancelling them).
    creations_sent_at: HashMap<RequestId, u64>,
    abandoned_creations: HashSet<RequestId>,
    /// The file whose session another page continues at the first resume after a pause.
    take_over: Option<FileId>,
    /// The other page gave `take_over` up instead of continuing it.
    given_up: bool,
    /// Files whose reserved asset the engine deleted, and those whose asset it must delete.
    assets_deleted: HashSet<FileId>,
    deletes_expected: HashSet<FileId>,
}

pub const T0: u64 = 1_764_586_800_000;

impl Sim {
    pub fn new(seed: u64, faults: Faults, config: EngineConfig) -> Self {
        let concurrency = config.concurrency;
        let config = EngineConfig {
            renewable_grant: faults.grant_expiry > 0,
            ..config
        };
        Sim {
            rng: Rng::new(seed),
            faults,
            engine: Engine::new(config).expect("valid config"),
            now: T0,
            seed,
            files: BTreeMap::new(),
            sessions: BTreeMap::new(),
            issued_urls: HashMap::new(),
            used_urls: HashSet::new(),
            url_nonce: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            event_seq: 0,
            request_events: HashMap::new(),
            puts_in_flight: HashMap::new(),
            outstanding: HashMap::new(),
            seen_requests: HashSet::new(),
            last_progress: HashMap::new(),
            finished: BTreeMap::new(),
            paused: false,
            offline: false,
            grant_valid: false,
            grant_issued_at: 0,
            grant_requested: false,
            grant_asks: 0,
            fingerprint: false,
            fingerprints_asked: HashSet::new(),
            fingerprints_read: HashSet::new(),
            forgotten: HashSet::new(),
            kept_completed: HashSet::new(),
            uploaded: HashSet::new(),
            creations_sent_at: HashMap::new(),
            abandoned_creations: HashSet::new(),
            take_over: None,
            given_up: false,
            assets_deleted: HashSet::new(),
            deletes_expected: HashSet::new(),
            report: RunReport {
                finished: BTreeMap::new(),
                steps: 0,
                creations: 0,
                direct_uploads: 0,
                grant_requests: 0,
                puts: 0,
                url_requests: 0,
                url_batch_sizes: Vec::new(),
                reports: 0,
                max_puts_in_flight: 0,
                duplicate_reports: 0,
                virtual_ms: 0,
                taken_over: None,
            },
            max_chunk_size: 0,
            concurrency,
            wait_for_asset: true,
        }
    }

    /// A config with small, fast timings suited to simulation.
    pub fn config(seed: u64, concurrency: u32) -> EngineConfig {
        EngineConfig {
            concurrency,
            pause_mode: if seed.is_multiple_of(2) {
                PauseMode::AbortInFlight
            } else {
                PauseMode::FinishInFlight
            },
            report_debounce_ms: 200,
            progress_interval_ms: 100,
            put_backoff: BackoffPolicy {
                base_ms: 100,
                cap_ms: 5_000,
                max_attempts: 12,
            },
            api_backoff: BackoffPolicy {
                base_ms: 100,
                cap_ms: 5_000,
                max_attempts: 12,
            },
            create_backoff: BackoffPolicy {
                base_ms: 100,
                cap_ms: 5_000,
                max_attempts: 12,
            },
            jitter_seed: seed,
            ..EngineConfig::default()
        }
    }

    pub fn set_wait_for_asset(&mut self, wait: bool) {
        self.wait_for_asset = wait;
    }

    /// Files added from now on ask the engine to read their resume fingerprint first.
    pub fn set_fingerprint(&mut self, fingerprint: bool) {
        self.fingerprint = fingerprint;
    }

    /// At the first user resume after a pause that finds `file`'s multipart session live,
    /// another page has continued that session meanwhile (`given_up`: or given it up, deleting
    /// its record): the page's lock request is refused (or its record is found gone) and the
    /// engine gets [`Input::TakenOver`] (or [`Input::GivenUpElsewhere`]) before the resume.
    pub fn set_take_over(&mut self, file: FileId, given_up: bool) {
        self.take_over = Some(file);
        self.given_up = given_up;
    }

    fn server_now(&self) -> u64 {
        (self.now as i64 + self.faults.skew_ms) as u64
    }

    fn mint_url(&mut self, file: FileId, index: u32) -> PresignedUrl {
        self.url_nonce += 1;
        let expires = self.server_now() + self.faults.url_ttl_ms;
        let url = format!(
            "https://storage.test/{}/{index}?n={}",
            file.0, self.url_nonce
        );
        self.issued_urls.insert(url.clone(), (file, index, expires));
        PresignedUrl {
            chunk_index: index,
            url,
            expires_at: timestamp::format(expires as i64),
        }
    }

    /// Hands a file to the engine, which creates its session on the fake server (or sends it
    /// directly, when it is small enough).
    pub fn add_file(&mut self, spec: &FileSpec) -> FileId {
        let new_file = NewFile {
            file_size: spec.size,
            wait_for_asset: self.wait_for_asset,
            fingerprint: self.fingerprint,
        };
        let id = self.engine.add(self.now, new_file).expect("a valid file");
        self.files.insert(id, spec.clone());
        id
    }

    /// The fake server creates a session for `file` (as `POST /assets/multipart-uploads`).
    fn create_session(&mut self, file: FileId) -> CreateMultipartUploadResponse {
        let spec = self.files[&file].clone();
        let total_chunks = spec.size.div_ceil(spec.chunk_size) as u32;
        self.max_chunk_size = self.max_chunk_size.max(spec.chunk_size);
        let upload_urls = (1..=total_chunks.min(self.faults.initial_urls))
            .map(|i| self.mint_url(file, i))
            .collect();
        self.sessions.insert(
            file,
            Session {
                direct: false,
                upload_id: format!("up{}", file.0),
                size: spec.size,
                chunk_size: spec.chunk_size,
                total_chunks,
                stored: HashMap::new(),
                stores: 0,
                completed: HashSet::new(),
                failed: HashSet::new(),
                reports_per_chunk: HashMap::new(),
                status_completed: false,
                completed_elsewhere: false,
                asset_polls: 0,
            },
        );
        CreateMultipartUploadResponse {
            upload_id: format!("up{}", file.0),
            asset_id: format!("as{}", file.0),
            upload_urls,
            upload_headers: Default::default(),
            chunk_size: spec.chunk_size,
            total_chunks,
            expires_at: timestamp::format((self.server_now() + 24 * 3_600_000) as i64),
            // What the Worker adds to every session it creates (the engine needs it with a grant).
            upload_token: Some("tok".into()),
        }
    }

    /// The fake server stores a direct upload of `file` whole (as `POST /assets`).
    fn create_direct_asset(&mut self, file: FileId) -> Asset {
        let size = self.files[&file].size;
        self.sessions.insert(
            file,
            Session {
                direct: true,
                upload_id: String::new(),
                size,
                chunk_size: size,
                total_chunks: 1,
                stored: HashMap::new(),
                stores: 1,
                completed: HashSet::from([1]),
                failed: HashSet::new(),
                reports_per_chunk: HashMap::new(),
                status_completed: true,
                completed_elsewhere: false,
                asset_polls: 0,
            },
        );
        let mut created = asset(&format!("as{}", file.0), AssetStatus::Processing);
        created.method = AssetMethod::Direct;
        created
    }

    fn latency(&mut self) -> u64 {
        let (lo, hi) = self.faults.latency_ms;
        self.rng.range(lo, hi)
    }

    fn schedule(&mut self, at: u64, event: Pending) -> u64 {
        self.event_seq += 1;
        let key = self.event_seq;
        self.queue.push(Reverse((at, key)));
        self.events.insert(key, event);
        key
    }

    fn schedule_answer(&mut self, request: RequestId, event: Pending) {
        let at = self.now + self.latency();
        let key = self.schedule(at, event);
        self.request_events.insert(request, key);
    }

    /// Another page uploads and reports every chunk of `file`'s session: it completes.
    fn complete_elsewhere(&mut self, file: FileId) {
        let session = self.sessions.get_mut(&file).unwrap();
        if session.status_completed {
            return;
        }
        for index in 1..=session.total_chunks {
            let len =
                (session.size - u64::from(index - 1) * session.chunk_size).min(session.chunk_size);
            session
                .stored
                .insert(index, format!("etag-{}-{index}-{len}", file.0));
            session.completed.insert(index);
            session.failed.remove(&index);
            *session.reports_per_chunk.entry(index).or_default() += 1;
        }
        session.status_completed = true;
        session.completed_elsewhere = true;
    }

    /// A URL request or report for a session another page completed.
    fn completed_fault(&self, file: FileId) -> Option<HttpOutcome> {
        self.sessions[&file]
            .completed_elsewhere
            .then(|| HttpOutcome::status(400).with_error_code("upload_completed"))
    }

    /// Whether this API call is lost on its way and never answered (`api_hang`).
    fn hangs(&mut self) -> bool {
        self.rng.chance(self.faults.api_hang)
    }

    fn api_fault(&mut self, file: FileId) -> Option<HttpOutcome> {
        if self.offline || self.rng.chance(self.faults.api_network_error) {
            return Some(HttpOutcome::network_error());
        }
        if let Some(fatal) = self.fatal_for(file).and_then(FatalFault::api_outcome) {
            return Some(fatal);
        }
        if self.rng.chance(self.faults.api_5xx) {
            return Some(HttpOutcome::status(503));
        }
        if self.rng.chance(self.faults.api_429) {
            let after = self.rng.range(0, 3) * 1_000;
            return Some(HttpOutcome::status(429).with_retry_after_ms(after));
        }
        None
    }

    /// A call that needs the grant, while the grant is expired (or was never given): 401.
    fn grant_fault(&self) -> Option<HttpOutcome> {
        let refused = self.faults.grant_expiry > 0 && !self.grant_valid;
        refused.then(|| HttpOutcome::status(401).with_error_code("unauthorized"))
    }

    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!("seed {}: at t+{} ms: {what}", self.seed, self.now - T0);
    }

    /// A count is within the file and never goes back, up to and including the final one.
    fn check_progress(&mut self, file: FileId, progress: Progress) {
        if progress.acknowledged_bytes > progress.total_bytes
            || progress.sent_bytes > progress.total_bytes
            || progress.reported_bytes > progress.total_bytes
            || progress.acknowledged_chunks > progress.total_chunks
        {
            self.fail(format!("progress above total: {progress:?}"));
        }
        if progress.sent_bytes < progress.acknowledged_bytes {
            self.fail(format!("sent below acknowledged: {progress:?}"));
        }
        if let Some(prev) = self.last_progress.get(&file) {
            if progress.sent_bytes < prev.sent_bytes
                || progress.acknowledged_bytes < prev.acknowledged_bytes
                || progress.reported_bytes < prev.reported_bytes
                || progress.acknowledged_chunks < prev.acknowledged_chunks
                || progress.reported_chunks < prev.reported_chunks
            {
                self.fail(format!("progress went backwards: {prev:?} → {progress:?}"));
            }
        }
        self.last_progress.insert(file, progress);
    }

    /// Records a request the engine started: a fresh id, and its chunk or lane free.
    fn open_request(&mut self, request: RequestId, file: FileId, lane: Lane) {
        if !self.seen_requests.insert(request) {
            self.fail(format!("request id {request:?} used twice"));
        }
        let known = if matches!(lane, Lane::Create | Lane::Fingerprint) {
            self.files.contains_key(&file) && !self.sessions.contains_key(&file)
        } else {
            self.sessions.contains_key(&file)
        };
        if !known || self.finished.contains_key(&file) {
            self.fail(format!(
                "{lane:?} for {file:?}, which is unknown or finished"
            ));
        }
        let earlier = self
            .outstanding
            .iter()
            .find(|(_, &(f, l))| f == file && l == lane)
            .map(|(&id, _)| id);
        if let Some(earlier) = earlier {
            // A session creation past its deadline is not cancelled but abandoned: another may
            // be sent, never sooner.
            let deadline = self
                .creations_sent_at
                .get(&earlier)
                .map(|sent| sent + self.engine.config().stall.min_ms);
            if deadline.is_none_or(|deadline| self.now < deadline) {
                self.fail(format!(
                    "a second {lane:?} request for {file:?} while one is in flight"
                ));
            }
            self.outstanding.remove(&earlier);
            self.abandoned_creations.insert(earlier);
        }
        self.outstanding.insert(request, (file, lane));
    }

    /// The fatal fault in force for `file`, if any: only the first file gets one, once it has
    /// `fatal_after_stored` chunks stored.
    fn fatal_for(&self, file: FileId) -> Option<FatalFault> {
        let fatal = self.faults.fatal?;
        let stores = self.sessions.get(&file)?.stores;
        (file == FileId(1) && stores >= self.faults.fatal_after_stored).then_some(fatal)
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::ReadFingerprint { request, file } => {
                let size = self.files[&file].size;
                if !self.fingerprint || size <= self.engine.config().direct_upload_max_bytes {
                    self.fail(format!("a fingerprint of {file:?}, which wants none"));
                }
                if !self.fingerprints_asked.insert(file) {
                    self.fail(format!("a second fingerprint of {file:?}"));
                }
                self.open_request(request, file, Lane::Fingerprint);
                self.schedule_answer(request, Pending::Fingerprint { request, file });
            }
            Action::CreateSession { request, file } => {
                self.report.creations += 1;
                if self.fingerprint && !self.fingerprints_read.contains(&file) {
                    self.fail(format!(
                        "a session for {file:?} before its fingerprint was read"
                    ));
                }
                self.open_request(request, file, Lane::Create);
                self.creations_sent_at.insert(request, self.now);
                let size = self.files[&file].size;
                if size <= self.engine.config().direct_upload_max_bytes {
                    self.fail(format!("{file:?} of {size} bytes was not sent directly"));
                }
                if self.hangs() {
                    return;
                }
                let result = match self.grant_fault().or_else(|| self.api_fault(file)) {
                    Some(fault) => Err(fault),
                    None => Ok(self.create_session(file)),
                };
                self.schedule_answer(request, Pending::Create { request, result });
            }
            Action::DirectUpload { request, file } => {
                self.report.direct_uploads += 1;
                self.open_request(request, file, Lane::Create);
                let size = self.files[&file].size;
                if size > self.engine.config().direct_upload_max_bytes {
                    self.fail(format!("{file:?} of {size} bytes was sent directly"));
                }
                if self.hangs() {
                    return;
                }
                let result = match self.grant_fault().or_else(|| self.api_fault(file)) {
                    Some(fault) => Err(fault),
                    None => Ok(self.create_direct_asset(file)),
                };
                self.schedule_answer(request, Pending::Direct { request, result });
            }
            Action::Put {
                request,
                file,
                chunk_index,
                url,
                range,
            } => {
                self.report.puts += 1;
                self.open_request(request, file, Lane::Put(chunk_index));
                // (A session completed by another page: this engine learns it from the answer.)
                let session = &self.sessions[&file];
                if session.completed.contains(&chunk_index) && !session.completed_elsewhere {
                    self.fail(format!(
                        "chunk {chunk_index} of {file:?} uploaded again after the server \
                         completed it"
                    ));
                }
                if !self.used_urls.insert(url.clone()) {
                    self.fail(format!("URL used twice: {url}"));
                }
                let Some(&(url_file, url_index, expires)) = self.issued_urls.get(&url) else {
                    self.fail(format!("PUT to a URL the server never issued: {url}"));
                };
                if url_file != file || url_index != chunk_index {
                    self.fail(format!(
                        "URL for chunk {url_index} used for chunk {chunk_index}"
                    ));
                }
                let session = &self.sessions[&file];
                let expected_start = u64::from(chunk_index - 1) * session.chunk_size;
                let expected_end = (expected_start + session.chunk_size).min(session.size);
                if (range.start, range.end) != (expected_start, expected_end) {
                    self.fail(format!("chunk {chunk_index} has range {range:?}"));
                }
                self.puts_in_flight.insert(request, (file, range.len()));
                let in_flight_bytes: u64 = self.puts_in_flight.values().map(|&(_, b)| b).sum();
                let count = self.puts_in_flight.len() as u32;
                self.report.max_puts_in_flight = self.report.max_puts_in_flight.max(count);
                if count > self.concurrency
                    || in_flight_bytes > u64::from(self.concurrency) * self.max_chunk_size
                {
                    self.fail(format!(
                        "{count} PUTs with {in_flight_bytes} bytes in flight"
                    ));
                }
                // Storage checks expiry when the request arrives, on its own clock.
                let fatal = self.fatal_for(file).and_then(FatalFault::put_outcome);
                // The fatal fault comes before random failures, so the last failure before
                // retries run out is the fatal one (offline failures do not count).
                // The file a fatal fault is meant for must meet it.
                let meant_to_fail = self.faults.fatal.is_some() && file == FileId(1);
                if !meant_to_fail
                    && !self.offline
                    && self.rng.chance(self.faults.completed_elsewhere)
                {
                    self.complete_elsewhere(file);
                }
                let outcome = if self.offline {
                    HttpOutcome::network_error()
                } else if self.sessions[&file].completed_elsewhere {
                    HttpOutcome::status(404).with_error_code("NoSuchUpload")
                } else if let Some(fatal) = fatal {
                    fatal
                } else if self.rng.chance(self.faults.put_network_error) {
                    HttpOutcome::network_error()
                } else if self.rng.chance(self.faults.put_stall) {
                    // Never answers: only the watchdog (or a pause/abort) ends it.
                    return;
                } else if self.server_now() >= expires {
                    HttpOutcome::status(403).with_error_code("AccessDenied")
                } else if self.rng.chance(self.faults.put_5xx) {
                    HttpOutcome::status(500)
                } else if self.rng.chance(self.faults.put_429) {
                    HttpOutcome::status(429).with_retry_after_ms(self.rng.range(0, 2) * 1_000)
                } else {
                    // The storage keeps the bytes even if the answer is lost on the way back.
                    let etag = format!("etag-{}-{chunk_index}-{}", file.0, range.len());
                    let session = self.sessions.get_mut(&file).unwrap();
                    session.stored.insert(chunk_index, etag.clone());
                    session.stores += 1;
                    if self.rng.chance(self.faults.put_network_error / 2) {
                        HttpOutcome::network_error()
                    } else {
                        HttpOutcome::stored(format!("\"{etag}\""))
                    }
                };
                self.schedule_answer(request, Pending::Put { request, outcome });
            }
            Action::RequestUrls {
                request,
                file,
                start,
                count,
            } => {
                self.report.url_requests += 1;
                self.open_request(request, file, Lane::Urls);
                self.report.url_batch_sizes.push(count);
                let total = self.sessions[&file].total_chunks;
                if count == 0 || count > 50 || start == 0 || start > total {
                    self.fail(format!(
                        "bad URL request start={start} count={count} (total {total})"
                    ));
                }
                if self.hangs() {
                    return;
                }
                let result = match self.api_fault(file).or_else(|| self.completed_fault(file)) {
                    Some(fault) => Err(fault),
                    None => {
                        let last = (start + count - 1).min(total);
                        let urls = (start..=last).map(|i| self.mint_url(file, i)).collect();
                        Ok(PresignedUrlsResponse {
                            upload_id: format!("up{}", file.0),
                            start_index: start,
                            count: last - start + 1,
                            upload_urls: urls,
                            generated_at: self
                                .rng
                                .chance(800)
                                .then(|| timestamp::format(self.server_now() as i64)),
                            expires_at: None,
                        })
                    }
                };
                self.schedule_answer(request, Pending::Urls { request, result });
            }
            Action::Report {
                request,
                file,
                chunks,
            } => {
                self.report.reports += 1;
                self.open_request(request, file, Lane::Report);
                if chunks.is_empty() || chunks.len() > 50 {
                    self.fail(format!("report of {} chunks", chunks.len()));
                }
                if self.hangs() {
                    return;
                }
                let result = match self.api_fault(file).or_else(|| self.completed_fault(file)) {
                    Some(fault) => Err(fault),
                    None => {
                        let mark_failed = self.faults.chunk_marked_failed;
                        let mut processed = 0;
                        let mut duplicates = 0u32;
                        let mut marks = Vec::new();
                        for _ in &chunks {
                            marks.push(self.rng.chance(mark_failed));
                        }
                        let session = self.sessions.get_mut(&file).unwrap();
                        for (chunk, mark) in chunks.iter().zip(marks) {
                            *session
                                .reports_per_chunk
                                .entry(chunk.chunk_index)
                                .or_default() += 1;
                            let expected_len = (session.size
                                - u64::from(chunk.chunk_index - 1) * session.chunk_size)
                                .min(session.chunk_size);
                            assert_eq!(
                                chunk.chunk_size, expected_len,
                                "seed {}: reported size",
                                self.seed
                            );
                            if session.completed.contains(&chunk.chunk_index) {
                                duplicates += 1;
                                continue;
                            }
                            let proof_ok =
                                session.stored.get(&chunk.chunk_index) == Some(&chunk.proof);
                            if proof_ok && !mark {
                                session.completed.insert(chunk.chunk_index);
                                session.failed.remove(&chunk.chunk_index);
                                processed += 1;
                            } else {
                                session.failed.insert(chunk.chunk_index);
                                processed += 1;
                            }
                        }
                        self.report.duplicate_reports += u64::from(duplicates);
                        let total_completed = session.completed.len() as u32;
                        let done = total_completed == session.total_chunks;
                        if done {
                            session.status_completed = true;
                        }
                        Ok(ReportChunksResponse {
                            url: done.then(|| format!("https://cdn.test/as{}", file.0)),
                            asset_id: format!("as{}", file.0),
                            processed_chunks: processed,
                            duplicate_chunks: duplicates,
                            total_completed,
                        })
                    }
                };
                self.schedule_answer(request, Pending::Report { request, result });
            }
            Action::FetchStatus {
                request,
                file,
                page,
                page_limit,
            } => {
                self.open_request(request, file, Lane::Status);
                if self.hangs() {
                    return;
                }
                let result = match self.api_fault(file) {
                    Some(fault) => Err(fault),
                    None => {
                        let s = &self.sessions[&file];
                        let all: Vec<ChunkInfo> = (1..=s.total_chunks)
                            .map(|i| ChunkInfo {
                                index: i,
                                status: if s.completed.contains(&i) {
                                    ChunkStatus::Completed
                                } else if s.failed.contains(&i) {
                                    ChunkStatus::Failed
                                } else {
                                    ChunkStatus::Pending
                                },
                                uploaded_at: None,
                                updated_at: None,
                                error: None,
                            })
                            .collect();
                        let from = ((page - 1) * page_limit) as usize;
                        let items: Vec<ChunkInfo> = all
                            .iter()
                            .skip(from)
                            .take(page_limit as usize)
                            .cloned()
                            .collect();
                        Ok(UploadStatusResponse {
                            upload_id: s.upload_id.clone(),
                            status: if s.status_completed {
                                UploadStatus::Completed
                            } else {
                                UploadStatus::Active
                            },
                            uploaded_chunks: items,
                            chunks_completed: s.completed.len() as u32,
                            chunks_failed: s.failed.len() as u32,
                            chunks_pending: s.total_chunks
                                - s.completed.len() as u32
                                - s.failed.len() as u32,
                            page_info: Some(PageInfo::for_page(
                                page,
                                page_limit,
                                u64::from(s.total_chunks),
                            )),
                            total_size: s.size,
                            uploaded_size: 0,
                            created_at: None,
                            updated_at: None,
                        })
                    }
                };
                self.schedule_answer(request, Pending::Status { request, result });
            }
            Action::FetchAsset {
                request,
                file,
                asset_id,
            } => {
                self.open_request(request, file, Lane::Asset);
                let processing_fails = self.fatal_for(file) == Some(FatalFault::AssetFailed);
                if self.hangs() {
                    return;
                }
                let result = match self.grant_fault().or_else(|| self.api_fault(file)) {
                    Some(fault) => Err(fault),
                    None => {
                        if !self.sessions[&file].status_completed {
                            self.fail("asset polled before the session completed");
                        }
                        let processing_polls = self.faults.asset_processing_polls;
                        let s = self.sessions.get_mut(&file).unwrap();
                        s.asset_polls += 1;
                        let status = if s.asset_polls <= processing_polls {
                            AssetStatus::Processing
                        } else if processing_fails {
                            AssetStatus::Failed
                        } else {
                            AssetStatus::Ready
                        };
                        let mut answer = asset(&asset_id, status);
                        if processing_fails {
                            answer.error = Some(AssetError {
                                message: "the media could not be decoded".into(),
                            });
                        }
                        Ok(answer)
                    }
                };
                self.schedule_answer(request, Pending::Asset { request, result });
            }
            Action::NeedToken => {
                if self.faults.grant_expiry == 0 {
                    self.fail("NeedToken without a renewable grant");
                }
                self.report.grant_requests += 1;
                if std::mem::replace(&mut self.grant_requested, true) {
                    self.fail("a second NeedToken while one is outstanding");
                }
                let at = self.now + self.latency();
                self.grant_asks += 1;
                self.schedule(at, Pending::Grant(self.grant_asks));
            }
            Action::TokenUnneeded => {
                if !std::mem::replace(&mut self.grant_requested, false) {
                    self.fail("TokenUnneeded without a NeedToken outstanding");
                }
                if self.engine.uploads().next().is_some() {
                    self.fail("TokenUnneeded while uploads remain");
                }
            }
            Action::DeleteAsset { asset_id } => {
                // Only the asset of a session that ends for good before it completed (checked
                // when it finishes), and once.
                let file = self.sessions.iter().find_map(|(&file, s)| {
                    (!s.direct && format!("as{}", file.0) == asset_id).then_some(file)
                });
                match file {
                    Some(file) if !self.sessions[&file].status_completed => {
                        if !self.assets_deleted.insert(file) {
                            self.fail(format!("asset {asset_id} deleted twice"));
                        }
                    }
                    _ => self.fail(format!(
                        "asset {asset_id} deleted, of no incomplete session"
                    )),
                }
            }
            Action::Cancel { request } => {
                if self.outstanding.remove(&request).is_none() {
                    self.fail(format!("cancel of {request:?}, which is not in flight"));
                }
                self.puts_in_flight.remove(&request);
                if let Some(key) = self.request_events.remove(&request) {
                    self.events.remove(&key);
                }
            }
            Action::Progress { file, progress } => {
                if self.finished.contains_key(&file) {
                    self.fail(format!("a Progress of {file:?} after its Finished"));
                }
                self.check_progress(file, progress);
            }
            Action::SaveState { file } => {
                if self.forgotten.contains(&file) {
                    self.fail(format!("SaveState of {file:?} after its record's end"));
                }
                if !self.fingerprint {
                    self.fail(format!("SaveState of {file:?}, which saves no record"));
                }
                let saved = self
                    .engine
                    .saved_state(file)
                    .unwrap_or_else(|| self.fail("SaveState for unknown file"));
                let json = serde_json::to_string(&saved).unwrap();
                let back: twelvelabs_edge_upload::core::resume::SavedUpload =
                    serde_json::from_str(&json).unwrap();
                assert_eq!(back, saved);
            }
            Action::ForgetState { file } => {
                if self.sessions.get(&file).is_none_or(|s| s.direct) {
                    self.fail(format!("ForgetState of {file:?}, which has no session"));
                }
                if !self.forgotten.insert(file) {
                    self.fail(format!("a second ForgetState of {file:?}"));
                }
            }
            Action::KeepCompleted { file, record } => {
                let session = self.sessions.get(&file).filter(|s| !s.direct);
                if session.is_none_or(|s| s.upload_id != record.upload_id) {
                    self.fail(format!("KeepCompleted of {file:?} for another session"));
                }
                if !record.completed || !self.uploaded.contains(&file) {
                    self.fail(format!("KeepCompleted of {file:?} before it completed"));
                }
                if !self.forgotten.insert(file) {
                    self.fail(format!("a second end of {file:?}'s record"));
                }
                self.kept_completed.insert(file);
            }
            Action::Uploaded { file, .. } => {
                if !self.sessions[&file].status_completed {
                    self.fail("Uploaded before the server completed the session");
                }
                self.uploaded.insert(file);
            }
            Action::Finished {
                file,
                outcome,
                progress,
            } => {
                self.check_progress(file, progress);
                // A multipart upload's record goes unless a later resume may still finish it;
                // one that saves no record (added without its fingerprint) is told so too.
                let multipart = self.sessions.get(&file).is_some_and(|s| !s.direct);
                let keeps_record = matches!(&outcome, Err(e) if twelvelabs_edge_upload::core::resume::keeps_record(e))
                    && self.fingerprint;
                if multipart && self.forgotten.contains(&file) == keeps_record {
                    self.fail(format!(
                        "{file:?} finished with {outcome:?}, its record forgotten: {}",
                        self.forgotten.contains(&file)
                    ));
                }
                // Done, and only done, keeps its record as completed, if it saves one.
                if multipart
                    && (outcome.is_ok() && self.fingerprint) != self.kept_completed.contains(&file)
                {
                    self.fail(format!(
                        "{file:?} finished with {outcome:?}, kept as completed: {}",
                        self.kept_completed.contains(&file)
                    ));
                }
                // An upload over for good before its session completed deletes the asset the
                // session reserved; any other keeps it. Without a record (files added without
                // their fingerprint) no error leaves it to a resume.
                let session_incomplete = multipart
                    && !self.sessions[&file].status_completed
                    && !self.uploaded.contains(&file);
                let over_for_good = outcome.is_err() && !keeps_record;
                if session_incomplete && over_for_good {
                    // Deleted now, or once a grant is at hand (checked when the run ends).
                    self.deletes_expected.insert(file);
                } else if self.assets_deleted.contains(&file) {
                    self.fail(format!(
                        "{file:?} finished with {outcome:?}, and its asset was deleted"
                    ));
                }
                if let Err(error) = &outcome {
                    if error.code == ErrorCode::Internal || error.message.is_empty() {
                        self.fail(format!("{file:?} failed with an untyped error: {error:?}"));
                    }
                }
                if self.outstanding.values().any(|&(f, _)| f == file) {
                    self.fail(format!("{file:?} finished with requests still in flight"));
                }
                if self.finished.insert(file, outcome).is_some() {
                    self.fail("finished twice");
                }
                self.puts_in_flight.retain(|_, (f, _)| *f != file);
            }
        }
    }

    fn drain(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            self.execute(action);
        }
        // Once the session is done, only the asset is still worth asking about.
        if let Some((request, (file, lane))) = self
            .outstanding
            .iter()
            .find(|(_, (file, lane))| self.uploaded.contains(file) && !matches!(lane, Lane::Asset))
        {
            self.fail(format!(
                "{request:?} ({lane:?}) of {file:?} still in flight after its session was done"
            ));
        }
        if self.engine.puts_in_flight() as usize != self.puts_in_flight.len() {
            self.fail(format!(
                "engine counts {} PUTs in flight, the storage sees {}",
                self.engine.puts_in_flight(),
                self.puts_in_flight.len()
            ));
        }
    }

    fn deliver(&mut self, event: Pending) {
        if let Some(request) = event.request() {
            if self.outstanding.remove(&request).is_none()
                && !self.abandoned_creations.remove(&request)
            {
                self.fail(format!("an answer to {request:?}, which is not in flight"));
            }
        }
        let input = match event {
            Pending::Fingerprint { request, file } => {
                self.request_events.remove(&request);
                self.fingerprints_read.insert(file);
                Input::FingerprintRead { request }
            }
            Pending::Create { request, result } => {
                self.request_events.remove(&request);
                Input::SessionCreated { request, result }
            }
            Pending::Direct { request, result } => {
                self.request_events.remove(&request);
                Input::DirectUploadDone { request, result }
            }
            Pending::Put { request, outcome } => {
                self.puts_in_flight.remove(&request);
                self.request_events.remove(&request);
                Input::PutDone { request, outcome }
            }
            Pending::Urls { request, result } => {
                self.request_events.remove(&request);
                Input::UrlsDone { request, result }
            }
            Pending::Report { request, result } => {
                self.request_events.remove(&request);
                Input::ReportDone { request, result }
            }
            Pending::Status { request, result } => {
                self.request_events.remove(&request);
                Input::StatusDone { request, result }
            }
            Pending::Asset { request, result } => {
                self.request_events.remove(&request);
                Input::AssetDone { request, result }
            }
            Pending::UserResume => {
                self.paused = false;
                let live_session = |file: &FileId| {
                    self.sessions.get(file).is_some_and(|s| !s.direct)
                        && !self.finished.contains_key(file)
                };
                if let Some(file) = self.take_over.filter(live_session) {
                    self.take_over = None;
                    self.report.taken_over = Some(file);
                    let input = match self.given_up {
                        true => Input::GivenUpElsewhere { file },
                        false => Input::TakenOver { file },
                    };
                    self.engine.handle(self.now, input);
                }
                Input::Resume { file: None }
            }
            Pending::NetworkOnline => {
                self.offline = false;
                Input::Online
            }
            // The adapter feeds only the answer of the ask still awaited.
            Pending::Grant(ask) if !self.grant_requested || ask != self.grant_asks => return,
            Pending::Grant(_) => {
                self.grant_requested = false;
                self.grant_valid = true;
                self.grant_issued_at = self.now;
                Input::TokenRefreshed
            }
        };
        self.engine.handle(self.now, input);
    }

    /// Runs until every file finished (or the step budget runs out, which fails the run).
    pub fn run(mut self, max_steps: u64) -> RunReport {
        self.drain();
        let expected = self.files.len();
        while self.finished.len() < expected {
            self.report.steps += 1;
            if self.report.steps > max_steps {
                self.fail(format!(
                    "no end after {max_steps} steps: {:?}",
                    self.engine.uploads().collect::<Vec<_>>()
                ));
            }
            // User and network disturbances.
            if !self.paused && self.rng.chance(self.faults.pause) {
                self.paused = true;
                self.engine.handle(self.now, Input::Pause { file: None });
                let at = self.now + self.rng.range(100, 20_000);
                self.schedule(at, Pending::UserResume);
                self.drain();
            }
            // A grant lives at least 5 s, so the resend with a fresh one is never refused again.
            if self.grant_valid
                && self.now >= self.grant_issued_at + 5_000
                && self.rng.chance(self.faults.grant_expiry)
            {
                self.grant_valid = false;
            }
            if !self.offline && self.rng.chance(self.faults.offline) {
                self.offline = true;
                self.engine.handle(self.now, Input::Offline);
                let at = self.now + self.rng.range(100, 30_000);
                self.schedule(at, Pending::NetworkOnline);
                self.drain();
            }
            let next_event = loop {
                match self.queue.peek() {
                    Some(Reverse((at, key))) if !self.events.contains_key(key) => {
                        let _ = at;
                        self.queue.pop();
                    }
                    Some(Reverse((at, _))) => break Some(*at),
                    None => break None,
                }
            };
            let wakeup = self.engine.next_wakeup();
            if let Some(w) = wakeup {
                if w <= self.now {
                    self.fail(format!("busy loop: wake-up at {w} is not after now"));
                }
            }
            match (next_event, wakeup) {
                (None, None) => {
                    if self.finished.len() < expected {
                        self.fail("stuck: no request outstanding and no deadline");
                    }
                }
                (Some(at), w) if w.is_none_or(|w| at <= w) => {
                    self.now = self.now.max(at);
                    let Reverse((_, key)) = self.queue.pop().unwrap();
                    if let Some(event) = self.events.remove(&key) {
                        self.deliver(event);
                    }
                }
                (_, Some(w)) => {
                    self.now = w;
                    self.engine.handle(self.now, Input::Tick);
                }
                (Some(_), None) => unreachable!(),
            }
            self.drain();
        }
        self.report.virtual_ms = self.now - T0;
        // What is still scheduled (a grant a deferred asset deletion waits for) runs out.
        for _ in 0..10_000 {
            let Some(Reverse((at, key))) = self.queue.pop() else {
                break;
            };
            if let Some(event) = self.events.remove(&key) {
                self.now = self.now.max(at);
                self.deliver(event);
                self.drain();
            }
        }
        if self.assets_deleted != self.deletes_expected {
            self.fail(format!(
                "assets deleted for {:?}, expected for {:?}",
                self.assets_deleted, self.deletes_expected
            ));
        }
        self.report.finished = std::mem::take(&mut self.finished);
        // End state on the server: every successful file is complete and every chunk was
        // reported with the ETag of the bytes the storage holds.
        for (file, outcome) in &self.report.finished {
            if outcome.is_ok() {
                let s = &self.sessions[file];
                if !s.status_completed || s.completed.len() as u32 != s.total_chunks {
                    self.fail(format!(
                        "file {file:?} finished but the server has {}/{}",
                        s.completed.len(),
                        s.total_chunks
                    ));
                }
                for i in (1..=s.total_chunks).filter(|_| !s.direct) {
                    if s.reports_per_chunk.get(&i).copied().unwrap_or(0) == 0 {
                        self.fail(format!("chunk {i} of {file:?} never reported"));
                    }
                }
                // What the user saw last agrees: everything reported, nothing more.
                let last = self.last_progress.get(file);
                if last.is_none_or(|p| {
                    (p.reported_bytes, p.reported_chunks) != (s.size, s.total_chunks)
                }) {
                    self.fail(format!(
                        "{file:?} finished but its last progress event is {last:?}"
                    ));
                }
            }
        }
        if !self.puts_in_flight.is_empty() || !self.outstanding.is_empty() {
            self.fail(format!(
                "requests left in flight after every file finished: {:?}",
                self.outstanding
            ));
        }
        self.report
    }
}

pub fn asset(id: &str, status: AssetStatus) -> Asset {
    Asset {
        id: id.to_string(),
        method: AssetMethod::Multipart,
        status,
        filename: Some("clip.mp4".into()),
        file_type: Some("video/mp4".into()),
        created_at: None,
        size: None,
        duration: None,
        user_metadata: None,
        hls: None,
        thumbnail: None,
        error: None,
    }
}

/// Whether a finished outcome is the error `code`.
pub fn is_error(outcome: &Result<Completion, Error>, code: ErrorCode) -> bool {
    matches!(outcome, Err(e) if e.code == code)
}
