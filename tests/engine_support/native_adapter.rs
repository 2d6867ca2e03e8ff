//! A small native adapter for the upload engine, and a guard around the emulator binary.
//!
//! The adapter does what the browser adapter does, with reqwest and tokio instead of `fetch`: it
//! executes the engine's actions (one task per request), turns every HTTP result into an
//! [`HttpOutcome`] without judging it, honours [`Engine::next_wakeup`] with a real timer, reads
//! the real clock, and seeds the engine's jitter from the OS. Every decision (retry or not, when,
//! which URL, session creation and its retries) stays in the engine. It sends multipart sessions
//! only: a direct upload (`EngineConfig::direct_upload_max_bytes` above 0) is refused.
//!
//! It also counts what it saw (HTTP 500s, network errors, 429s, cancelled PUTs) so a test can
//! check that the faults it switched on really reached the engine.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, ETAG, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

// The emulator crate's test helper for stopping a spawned emulator (SIGTERM, then SIGKILL).
#[path = "../../emulator/tests/common/stop.rs"]
mod stop;
use twelvelabs_edge_upload::core::engine::{Action, Engine, FileId, Input, NewFile, RequestId};
use twelvelabs_edge_upload::core::error::Error;
use twelvelabs_edge_upload::core::retry::{parse_retry_after_ms, HttpOutcome};
use twelvelabs_edge_upload::core::wire::{
    Asset, CreateMultipartUploadRequest, CreateMultipartUploadResponse, ErrorBody,
    PresignedUrlsRequest, ReportChunksRequest, UploadHeaders, UploadStatusResponse,
};

/// Where `make emulator` puts the emulator binary.
pub const EMULATOR_BINARY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/emulator/twelvelabs-emulator"
);

/// The emulator's development API key (its default).
pub const EMULATOR_API_KEY: &str = "emulator-dev-key";

/// A running emulator process, stopped (by its PID) and reaped when dropped — also when the test
/// panics, since the guard is dropped while unwinding (SIGTERM first, so that it removes its
/// temporary data directory: see `stop`).
pub struct EmulatorProcess {
    child: Child,
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
}

impl EmulatorProcess {
    /// Starts `target/emulator/twelvelabs-emulator` on a free loopback port with `args` and
    /// waits for its first stdout line, `listening on http://…`.
    pub fn start(args: &[&str]) -> EmulatorProcess {
        assert!(
            std::path::Path::new(EMULATOR_BINARY).is_file(),
            "{EMULATOR_BINARY} is missing: run `make emulator` first (the Makefile builds it \
             before `cargo test`)"
        );
        let mut command = Command::new(EMULATOR_BINARY);
        // Only the flags below configure it, whatever EMULATOR_* the environment carries.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("EMULATOR_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {EMULATOR_BINARY}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        // The guard exists before anything can fail, so the process never outlives the test.
        let mut process = EmulatorProcess {
            child,
            url: String::new(),
        };
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("reading the emulator's first line");
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .filter(|url| url.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("unexpected first line from the emulator: {line:?}"));
        process.url = url.to_owned();
        // Keep draining stdout so the emulator can never block on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        process
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        stop::stop(&mut self.child);
    }
}

/// The local wall clock in milliseconds since the Unix epoch (what the engine calls `now_ms`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// 64 bits from the operating system's random source (jitter only, not for secrets).
pub fn os_random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS randomness");
    u64::from_le_bytes(bytes)
}

/// The TwelveLabs-shaped API (`{base}/v1.3`), authenticated with `x-api-key`.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: Arc<str>,
    api_key: Arc<str>,
}

impl Api {
    /// An API client for the server at `base_url` (without `/v1.3`).
    pub fn new(base_url: &str, api_key: &str) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        Api {
            client,
            base: format!("{base_url}/v1.3").into(),
            api_key: api_key.into(),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HttpOutcome> {
        let body = serde_json::to_vec(body).expect("encodable request");
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        self.send(request).await
    }

    /// `DELETE {path}`, best effort: the answer is not needed (see `Action::DeleteAsset`).
    async fn delete(&self, path: &str) {
        let request = self.client.delete(format!("{}{path}", self.base));
        let _ = request.header("x-api-key", &*self.api_key).send().await;
    }

    async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, HttpOutcome> {
        let request = self.client.get(format!("{}{path_and_query}", self.base));
        self.send(request).await
    }

    /// Sends an API request; a 2xx body is parsed, anything else described as an outcome.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, HttpOutcome> {
        let response = request
            .header("x-api-key", &*self.api_key)
            .send()
            .await
            .map_err(network_outcome)?;
        let status = response.status().as_u16();
        let retry_after_ms = retry_after_ms(response.headers());
        let body = response.bytes().await.map_err(network_outcome)?;
        if (200..300).contains(&status) {
            // A 2xx that does not parse is reported with its status: the engine retries it.
            return serde_json::from_slice(&body).map_err(|e| HttpOutcome {
                message: Some(format!("unreadable response body: {e}")),
                ..HttpOutcome::status(status)
            });
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(HttpOutcome {
            status: Some(status),
            etag: None,
            retry_after_ms,
            error_code: error.as_ref().map(|e| e.code.clone()),
            message: error.map(|e| e.message),
        })
    }
}

/// No HTTP answer (refused, reset, closed mid-body): the engine decides what that means.
fn network_outcome(error: reqwest::Error) -> HttpOutcome {
    HttpOutcome {
        message: Some(error.to_string()),
        ..HttpOutcome::network_error()
    }
}

/// `Retry-After` as milliseconds from now (the core's one parser).
fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    parse_retry_after_ms(value, now_ms)
}

/// `PUT`s `bytes` to a presigned URL and describes what came back.
async fn put_chunk(
    client: reqwest::Client,
    url: String,
    headers: UploadHeaders,
    bytes: Vec<u8>,
) -> HttpOutcome {
    let mut request = client.put(url).body(bytes);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return network_outcome(error),
    };
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after_ms = retry_after_ms(response.headers());
    // Read the body in full either way (so the connection can be reused); a body cut short is a
    // network error like any other.
    let body = match response.text().await {
        Ok(body) => body,
        Err(error) => return network_outcome(error),
    };
    HttpOutcome::storage_response(status, etag, retry_after_ms, &body)
}

/// What the adapter saw, for tests that check their faults reached the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Chunk PUTs started.
    pub puts: u32,
    /// Chunk PUTs answered with HTTP 500.
    pub put_server_errors: u32,
    /// Chunk PUTs that got no HTTP answer (reset, closed).
    pub put_network_errors: u32,
    /// Chunk PUTs answered 403 (expired or used URL).
    pub put_forbidden: u32,
    /// Chunk PUTs the engine cancelled (its stall watchdog, when nothing is paused or aborted).
    pub puts_cancelled: u32,
    /// API calls answered 429.
    pub api_rate_limited: u32,
    /// Presigned-URL requests.
    pub url_requests: u32,
    /// Chunks sent in reports (duplicates included).
    pub reported_chunks: u32,
}

/// One upload's bytes and session, as the adapter needs them to execute actions.
struct Source {
    bytes: Arc<[u8]>,
    /// What creating the session sends.
    create: CreateMultipartUploadRequest,
    /// The session, once created.
    session: Option<CreateMultipartUploadResponse>,
}

impl Source {
    fn session(&self) -> &CreateMultipartUploadResponse {
        self.session
            .as_ref()
            .expect("the engine asks for session requests only once the session exists")
    }
}

/// Drives an [`Engine`] with real IO.
pub struct Adapter {
    /// The engine (public so a test can read progress and add uploads).
    pub engine: Engine,
    /// What the adapter saw so far.
    pub observed: Observed,
    api: Api,
    sources: HashMap<FileId, Source>,
    in_flight: HashMap<RequestId, AbortHandle>,
    put_requests: std::collections::HashSet<RequestId>,
    /// Session creations in flight, by the upload they are for.
    creating: HashMap<RequestId, FileId>,
    outcomes_tx: mpsc::UnboundedSender<Input>,
    outcomes_rx: mpsc::UnboundedReceiver<Input>,
}

impl Adapter {
    /// An adapter executing `engine`'s actions against `api` (and the storage its URLs name).
    pub fn new(engine: Engine, api: Api) -> Adapter {
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        Adapter {
            engine,
            observed: Observed::default(),
            api,
            sources: HashMap::new(),
            in_flight: HashMap::new(),
            put_requests: Default::default(),
            creating: HashMap::new(),
            outcomes_tx,
            outcomes_rx,
        }
    }

    /// Hands a file to the engine, which creates its session (`create` is what that sends).
    pub fn add(
        &mut self,
        bytes: Arc<[u8]>,
        create: CreateMultipartUploadRequest,
        wait_for_asset: bool,
    ) -> Result<FileId, Error> {
        let file = self.engine.add(
            now_ms(),
            NewFile {
                file_size: bytes.len() as u64,
                wait_for_asset,
                // This adapter saves no record to resume from.
                fingerprint: false,
            },
        )?;
        let source = Source {
            bytes,
            create,
            session: None,
        };
        self.sources.insert(file, source);
        Ok(file)
    }

    /// The session the engine created for `file`, once it exists.
    pub fn session(&self, file: FileId) -> Option<&CreateMultipartUploadResponse> {
        self.sources.get(&file)?.session.as_ref()
    }

    /// Executes every action the engine has queued (IO actions start a task each); returns all
    /// of them so the caller can watch progress and endings.
    pub fn execute_pending(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some(action) = self.engine.poll_action() {
            self.execute(&action);
            actions.push(action);
        }
        actions
    }

    /// Waits for the next outcome or the engine's next deadline, whichever comes first, and feeds
    /// it to the engine. Panics if the engine waits on nothing at all (it would never wake up).
    pub async fn wait_and_feed(&mut self) {
        let deadline = self.engine.next_wakeup();
        assert!(
            deadline.is_some() || !self.in_flight.is_empty(),
            "the engine waits on no request and no deadline with uploads left: {:?}",
            self.engine.uploads().collect::<Vec<_>>()
        );
        let sleep = async {
            match deadline {
                Some(at) => {
                    let delay = at.saturating_sub(now_ms());
                    tokio::time::sleep(Duration::from_millis(delay)).await
                }
                None => std::future::pending().await,
            }
        };
        let input = tokio::select! {
            input = self.outcomes_rx.recv() => input.expect("the adapter holds a sender"),
            () = sleep => Input::Tick,
        };
        if let Some(request) = request_of(&input) {
            self.in_flight.remove(&request);
            self.put_requests.remove(&request);
        }
        if let Input::SessionCreated {
            request,
            result: Ok(session),
            ..
        } = &input
        {
            // Recorded before the engine hears of it: the requests it then asks for need it.
            // Not a session the engine gave up on (it deletes that one).
            if let Some(file) = self.creating.remove(request) {
                let awaited = self.engine.awaits_session(*request);
                if let Some(source) = self.sources.get_mut(&file).filter(|_| awaited) {
                    source.session = Some(session.clone());
                }
            }
        }
        self.observe(&input);
        self.engine.handle(now_ms(), input);
    }

    fn observe(&mut self, input: &Input) {
        let api_status = |result_status: Option<u16>, observed: &mut Observed| {
            if result_status == Some(429) {
                observed.api_rate_limited += 1;
            }
        };
        match input {
            Input::PutDone { outcome, .. } => match outcome.status {
                None => self.observed.put_network_errors += 1,
                Some(500) => self.observed.put_server_errors += 1,
                Some(403) => self.observed.put_forbidden += 1,
                Some(_) => {}
            },
            Input::SessionCreated { result: Err(o), .. } => {
                api_status(o.status, &mut self.observed)
            }
            Input::UrlsDone { result: Err(o), .. } => api_status(o.status, &mut self.observed),
            Input::ReportDone { result: Err(o), .. } => api_status(o.status, &mut self.observed),
            Input::StatusDone { result: Err(o), .. } => api_status(o.status, &mut self.observed),
            Input::AssetDone { result: Err(o), .. } => api_status(o.status, &mut self.observed),
            _ => {}
        }
    }

    fn spawn<F>(&mut self, request: RequestId, task: F)
    where
        F: std::future::Future<Output = Input> + Send + 'static,
    {
        let outcomes = self.outcomes_tx.clone();
        let handle = tokio::spawn(async move {
            // The receiver lives as long as the adapter; a send after it is gone is moot.
            let _ = outcomes.send(task.await);
        });
        self.in_flight.insert(request, handle.abort_handle());
    }

    fn execute(&mut self, action: &Action) {
        match action {
            // Never asked for (no file is added with `fingerprint`): answered as unreadable.
            Action::ReadFingerprint { request, .. } => {
                let request = *request;
                self.spawn(request, async move { Input::FingerprintRead { request } });
            }
            Action::CreateSession { request, file } => {
                let api = self.api.clone();
                let body = self.sources[file].create.clone();
                let request = *request;
                self.creating.insert(request, *file);
                self.spawn(request, async move {
                    Input::SessionCreated {
                        request,
                        result: api.post("/assets/multipart-uploads", &body).await,
                        // The `Date` header is not passed: the emulator's is its real clock
                        // even when its API clock is offset, and the engine dates the server
                        // from the session and `generated_at`.
                    }
                });
            }
            Action::NeedToken | Action::TokenUnneeded => {
                panic!("the native adapter authenticates with an API key: keep renewable_grant off")
            }
            Action::DirectUpload { .. } => {
                panic!("the native adapter sends multipart sessions only: keep direct_upload_max_bytes at 0")
            }
            Action::Put {
                request,
                file,
                url,
                range,
                ..
            } => {
                self.observed.puts += 1;
                let source = &self.sources[file];
                let bytes = source.bytes[range.start as usize..range.end as usize].to_vec();
                let put = put_chunk(
                    self.api.client.clone(),
                    url.clone(),
                    source.session().upload_headers.clone(),
                    bytes,
                );
                let request = *request;
                self.put_requests.insert(request);
                self.spawn(request, async move {
                    Input::PutDone {
                        request,
                        outcome: put.await,
                    }
                });
            }
            Action::RequestUrls {
                request,
                file,
                start,
                count,
            } => {
                self.observed.url_requests += 1;
                let api = self.api.clone();
                let path = format!(
                    "/assets/multipart-uploads/{}/presigned-urls",
                    self.sources[file].session().upload_id
                );
                let body = PresignedUrlsRequest {
                    start: *start,
                    count: *count,
                };
                let request = *request;
                self.spawn(request, async move {
                    Input::UrlsDone {
                        request,
                        result: api.post(&path, &body).await,
                    }
                });
            }
            Action::Report {
                request,
                file,
                chunks,
            } => {
                self.observed.reported_chunks += chunks.len() as u32;
                let api = self.api.clone();
                let path = format!(
                    "/assets/multipart-uploads/{}",
                    self.sources[file].session().upload_id
                );
                let body = ReportChunksRequest {
                    completed_chunks: chunks.clone(),
                };
                let request = *request;
                self.spawn(request, async move {
                    Input::ReportDone {
                        request,
                        result: api.post(&path, &body).await,
                    }
                });
            }
            Action::FetchStatus {
                request,
                file,
                page,
                page_limit,
            } => {
                let api = self.api.clone();
                let path = format!(
                    "/assets/multipart-uploads/{}?page={page}&page_limit={page_limit}",
                    self.sources[file].session().upload_id
                );
                let request = *request;
                self.spawn(request, async move {
                    Input::StatusDone {
                        request,
                        result: api.get::<UploadStatusResponse>(&path).await,
                    }
                });
            }
            Action::FetchAsset {
                request, asset_id, ..
            } => {
                let api = self.api.clone();
                let path = format!("/assets/{asset_id}");
                let request = *request;
                self.spawn(request, async move {
                    Input::AssetDone {
                        request,
                        result: api.get::<Asset>(&path).await,
                    }
                });
            }
            Action::DeleteAsset { asset_id } => {
                // No outcome goes back to the engine: nothing waits for this task.
                let api = self.api.clone();
                let path = format!("/assets/{asset_id}");
                tokio::spawn(async move { api.delete(&path).await });
            }
            Action::Cancel { request } => {
                if let Some(task) = self.in_flight.remove(request) {
                    // Dropping the request's future closes its connection mid-flight.
                    task.abort();
                }
                if self.put_requests.remove(request) {
                    self.observed.puts_cancelled += 1;
                }
            }
            // Nothing to persist natively; progress and endings are for the caller (the source
            // stays, so the caller can still read the session of a finished upload).
            Action::Progress { .. }
            | Action::SaveState { .. }
            | Action::ForgetState { .. }
            | Action::KeepCompleted { .. }
            | Action::Uploaded { .. }
            | Action::Finished { .. } => {}
        }
    }
}

fn request_of(input: &Input) -> Option<RequestId> {
    match input {
        Input::SessionCreated { request, .. }
        | Input::DirectUploadDone { request, .. }
        | Input::PutDone { request, .. }
        | Input::UrlsDone { request, .. }
        | Input::ReportDone { request, .. }
        | Input::StatusDone { request, .. }
        | Input::AssetDone { request, .. } => Some(*request),
        _ => None,
    }
}

/// `GET` a debug route of the emulator and parse its JSON.
pub async fn debug_get(emulator_url: &str, path: &str) -> serde_json::Value {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
        .get(format!("{emulator_url}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let body = response.text().await.expect("debug route body");
    assert!(status.is_success(), "GET {path}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// `POST /_emulator/faults` with a partial update.
pub async fn set_faults(emulator_url: &str, update: serde_json::Value) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
        .post(format!("{emulator_url}/_emulator/faults"))
        .header("content-type", "application/json")
        .body(update.to_string())
        .send()
        .await
        .expect("POST /_emulator/faults");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "POST /_emulator/faults: {status} {body}"
    );
}

/// The chunk PUT counters of one upload from `/_emulator/stats`, by chunk index.
pub fn chunk_counters(stats: &serde_json::Value, upload_id: &str) -> BTreeMap<u32, ChunkCounters> {
    let chunks = stats["chunk_puts"][upload_id]
        .as_object()
        .unwrap_or_else(|| panic!("no chunk_puts for {upload_id} in {stats}"));
    chunks
        .iter()
        .map(|(index, counters)| {
            let count = |name: &str| {
                counters[name]
                    .as_u64()
                    .unwrap_or_else(|| panic!("chunk {index}: no `{name}` in {counters}"))
            };
            (
                index.parse().expect("chunk index"),
                ChunkCounters {
                    attempts: count("attempts"),
                    stored: count("stored"),
                    injected_failures: count("injected_failures"),
                    rejected: count("rejected"),
                },
            )
        })
        .collect()
}

/// `/_emulator/stats` counters of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkCounters {
    /// PUTs with a valid signature.
    pub attempts: u64,
    /// PUTs answered 200 with an ETag.
    pub stored: u64,
    /// PUTs failed on purpose (`--put-failure-*`).
    pub injected_failures: u64,
    /// PUTs refused (expired or used URL, wrong size, client gone mid-body).
    pub rejected: u64,
}
