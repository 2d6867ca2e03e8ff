//! # twelvelabs-emulator
//!
//! A local stand-in for the TwelveLabs v1.3 upload API (`/v1.3/assets…`, the five multipart
//! endpoints) and for the presigned storage its chunk URLs point at. The demo, every test tier
//! and the benchmarks run against it; `emulator/README.md` says what it models and what not.
//!
//! Use it in-process from Rust tests:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = twelvelabs_emulator::serve(twelvelabs_emulator::Config::default()).await?;
//! println!("API at {}/v1.3", emulator.url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! or spawn the `twelvelabs-emulator` binary (see `--help`).
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub mod config;
pub mod connection;
pub mod errors;
pub mod params;
pub mod state;

mod assets;
mod debug;
mod http;
mod multipart;
mod storage;

pub use config::{Config, DeleteStatus, Faults, FaultsPatch, PutFailureKind, UrlMode};

/// A running emulator. Dropping it without [`Emulator::shutdown`] leaves it running until the
/// tokio runtime ends.
pub struct Emulator {
    address: SocketAddr,
    url: String,
    state: Arc<state::AppState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Emulator {
    /// The bound address (the real port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// `http://IP:PORT` of the listener, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The base URL put into presigned URLs (`--public-url`, else [`Emulator::url`]).
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The directory holding chunk and asset bytes.
    pub fn data_dir(&self) -> &std::path::Path {
        self.state.data_root()
    }

    /// Stops accepting, aborts open connections and waits for the accept loop to end. The
    /// temporary data directory (if any) is removed once the last request task has finished.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Binds `config.listen` and starts serving in a background task.
pub async fn serve(config: Config) -> std::io::Result<Emulator> {
    config.faults.validate().map_err(std::io::Error::other)?;
    if config.chunk_size == 0 {
        return Err(std::io::Error::other(
            "the chunk size must be at least 1 byte",
        ));
    }
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    let public_url = config.public_url.clone().unwrap_or_else(|| url.clone());
    let public_url = public_url.trim_end_matches('/').to_owned();
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(state::AppState::new(config, public_url, stopped.clone())?);
    let router = http::router(state.clone());
    let task = tokio::spawn(connection::accept_loop(listener, router, stopped));
    Ok(Emulator {
        address,
        url,
        state,
        stop,
        task,
    })
}
