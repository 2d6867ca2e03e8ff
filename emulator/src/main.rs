//! `twelvelabs-emulator`: the CLI around [`twelvelabs_emulator::serve`]. The first line on
//! stdout is `listening on http://IP:PORT`; it runs until SIGINT or SIGTERM, then removes its
//! temporary data directory.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use twelvelabs_emulator::config::{self, Config, DeleteStatus, Faults, PutFailureKind, UrlMode};

/// A local emulator of the TwelveLabs v1.3 upload API (assets + multipart uploads) and of the
/// presigned storage behind its chunk URLs. Every flag can also be set by the environment
/// variable shown with it; flags win. Debug routes (stats, SHA-256, runtime faults, clock) are
/// under /_emulator/ — see emulator/README.md.
#[derive(Debug, Parser)]
#[command(name = "twelvelabs-emulator", version, about, long_about = None)]
struct Cli {
    /// Address to listen on; port 0 picks a free port. Only loopback addresses make sense.
    #[arg(long, env = "EMULATOR_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// The only API key accepted in `x-api-key` (dev default: emulator-dev-key).
    #[arg(long, env = "EMULATOR_API_KEY", default_value = config::DEFAULT_API_KEY)]
    api_key: String,

    /// Base URL put into presigned chunk URLs and asset URLs [default: the listen URL].
    #[arg(long, env = "EMULATOR_PUBLIC_URL")]
    public_url: Option<String>,

    /// Comma-separated origins allowed by CORS on the API, storage and debug routes; `*` allows
    /// any origin [default: none].
    #[arg(long, env = "EMULATOR_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,

    /// Directory for chunk and asset bytes (kept on exit) [default: a temporary directory,
    /// removed on exit]. State (sessions, assets) is in memory either way.
    #[arg(long, env = "EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Chunk size of new multipart sessions, in bytes (raised if a file needs > 10000 chunks).
    #[arg(long, env = "EMULATOR_CHUNK_SIZE", default_value_t = config::DEFAULT_CHUNK_SIZE)]
    chunk_size: u64,

    /// Presigned URLs in the create-session answer, at most (the rest via presigned-urls).
    #[arg(long, env = "EMULATOR_INITIAL_URLS", default_value_t = config::DEFAULT_INITIAL_URLS)]
    initial_urls: u32,

    /// Success answer of DELETE /assets/{id}: 204 (empty) or 200 (body `{}`).
    #[arg(long, env = "EMULATOR_DELETE_STATUS", default_value = "204", value_parser = ["204", "200"])]
    delete_status: String,

    /// What `POST /assets` with method=url does: `fetch-loopback` downloads loopback URLs
    /// and refuses other hosts; `record` never downloads and just keeps the URL.
    #[arg(long, env = "EMULATOR_URL_MODE", default_value = "fetch-loopback",
          value_parser = ["fetch-loopback", "record"])]
    url_mode: String,

    /// How long a new asset stays `processing` before `ready`, in milliseconds.
    #[arg(long, env = "EMULATOR_PROCESSING_MS", default_value_t = config::DEFAULT_PROCESSING_MS)]
    processing_ms: u64,

    /// Seed of ids, signing key and fault decisions: the same seed replays the same decisions
    /// for the same sequence of requests.
    #[arg(long, env = "EMULATOR_SEED", default_value_t = 0)]
    seed: u64,

    /// Seconds added to the wall clock (expiry tests; also POST /_emulator/clock at runtime).
    #[arg(
        long,
        env = "EMULATOR_CLOCK_OFFSET",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    clock_offset: i64,

    /// Fault: probability (0–1) that a chunk PUT fails with --put-failure-kind.
    #[arg(long, env = "EMULATOR_PUT_FAILURE_RATE", default_value_t = 0.0)]
    put_failure_rate: f64,

    /// Fault: how failed PUTs fail: `500` (InternalError after reading the body), `reset`
    /// (connection reset mid-body) or `stall` (half the body read, then silence).
    #[arg(long, env = "EMULATOR_PUT_FAILURE_KIND", default_value = "500",
          value_parser = ["500", "reset", "stall"])]
    put_failure_kind: String,

    /// Fault: the next N chunk PUTs fail with --put-failure-kind (deterministic).
    #[arg(long, env = "EMULATOR_PUT_FAIL_NEXT", default_value_t = 0)]
    put_fail_next: u64,

    /// Fault: how long a stalled PUT is held open before its connection is dropped, seconds.
    #[arg(long, env = "EMULATOR_PUT_STALL_SECS", default_value_t = config::DEFAULT_PUT_STALL_SECS)]
    put_stall_secs: u64,

    /// Fault: lifetime of presigned URLs in seconds (documented: 3600).
    #[arg(long, env = "EMULATOR_URL_TTL_SECS", default_value_t = config::DEFAULT_URL_TTL_SECS)]
    url_ttl_secs: u64,

    /// Fault: a presigned URL works for one PUT attempt only; later attempts get 403.
    #[arg(long, env = "EMULATOR_SINGLE_USE_URLS")]
    single_use_urls: bool,

    /// Fault: CORS does not expose `ETag` on storage answers (browsers cannot read it).
    #[arg(long, env = "EMULATOR_HIDE_ETAG")]
    hide_etag: bool,

    /// Fault: probability (0–1) that a /v1.3 API request is answered 429.
    #[arg(long, env = "EMULATOR_RATE_LIMIT_RATE", default_value_t = 0.0)]
    rate_limit_rate: f64,

    /// Fault: the next N /v1.3 API requests are answered 429 (deterministic).
    #[arg(long, env = "EMULATOR_RATE_LIMIT_NEXT", default_value_t = 0)]
    rate_limit_next: u64,

    /// Fault: `Retry-After` seconds on injected 429 answers.
    #[arg(long, env = "EMULATOR_RETRY_AFTER_SECS", default_value_t = 1)]
    retry_after_secs: u64,

    /// Fault: the next N /v1.3 API requests are answered 500 `internal_error` (deterministic).
    #[arg(long, env = "EMULATOR_API_FAIL_NEXT", default_value_t = 0)]
    api_fail_next: u64,

    /// Fault: lifetime of new multipart sessions in seconds (documented: 86400).
    #[arg(long, env = "EMULATOR_SESSION_TTL_SECS", default_value_t = config::DEFAULT_SESSION_TTL_SECS)]
    session_ttl_secs: u64,

    /// Fault: milliseconds added before every API and storage request is handled.
    #[arg(long, env = "EMULATOR_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
}

impl Cli {
    fn into_config(self) -> Result<Config, String> {
        let faults = Faults {
            put_failure_rate: self.put_failure_rate,
            put_failure_kind: PutFailureKind::parse(&self.put_failure_kind)?,
            put_fail_next: self.put_fail_next,
            put_fail_sequence: Vec::new(),
            put_stall_secs: self.put_stall_secs,
            url_ttl_secs: self.url_ttl_secs,
            single_use_urls: self.single_use_urls,
            hide_etag: self.hide_etag,
            rate_limit_rate: self.rate_limit_rate,
            rate_limit_next: self.rate_limit_next,
            retry_after_secs: self.retry_after_secs,
            api_fail_next: self.api_fail_next,
            session_ttl_secs: self.session_ttl_secs,
            latency_ms: self.latency_ms,
            processing_ms: self.processing_ms,
            ..Faults::default()
        };
        faults.validate()?;
        if self.chunk_size == 0 {
            return Err("--chunk-size must be at least 1".to_owned());
        }
        Ok(Config {
            listen: self.listen,
            api_key: self.api_key,
            public_url: self.public_url,
            allowed_origins: self
                .allowed_origins
                .into_iter()
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            data_dir: self.data_dir,
            chunk_size: self.chunk_size,
            initial_urls: self.initial_urls,
            delete_status: if self.delete_status == "200" {
                DeleteStatus::OkEmptyObject
            } else {
                DeleteStatus::NoContent
            },
            url_mode: if self.url_mode == "record" {
                UrlMode::Record
            } else {
                UrlMode::FetchLoopback
            },
            seed: self.seed,
            clock_offset_secs: self.clock_offset,
            faults,
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match Cli::parse().into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("twelvelabs-emulator: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    // Install the handlers before announcing readiness: a harness may send SIGTERM the moment it
    // reads the first line, and an uninstalled handler would let the default action kill us
    // without removing the temporary data directory.
    let shutdown = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("twelvelabs-emulator: cannot install signal handlers: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let emulator = match twelvelabs_emulator::serve(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("twelvelabs-emulator: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Test harnesses wait for exactly this first line.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", emulator.url());
    let _ = stdout.flush();
    drop(stdout);
    eprintln!(
        "twelvelabs-emulator: API {url}/v1.3, presigned URLs on {public}, data in {dir}",
        url = emulator.url(),
        public = emulator.public_url(),
        dir = emulator.data_dir().display()
    );

    shutdown.wait().await;
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// SIGINT and SIGTERM streams, registered up front (test harnesses stop the emulator with
/// SIGTERM by PID).
struct ShutdownSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the first SIGINT or SIGTERM.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
