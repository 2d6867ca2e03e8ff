//! Shared emulator state. Every lock here is a short, synchronous critical section: none is
//! ever held across an `.await`, so parallel PUTs and concurrent sessions never serialise on IO.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::{watch, Notify};

use crate::config::{Config, Faults};

/// Everything the handlers share.
pub struct AppState {
    /// Startup configuration (faults live in `faults`, which can change).
    pub config: Config,
    /// The base URL put into presigned and asset URLs, without a trailing slash.
    pub public_url: String,
    /// Where bytes live.
    pub data_dir: PathBuf,
    /// Keeps a temporary data directory alive; it is removed when the state is dropped.
    _temp_dir: Option<tempfile::TempDir>,
    /// Current fault knobs.
    pub faults: RwLock<Faults>,
    /// Wall clock plus an adjustable offset (tests move time forward to expire things).
    pub clock: Clock,
    /// Seeded randomness: ids, URL nonces and fault decisions.
    rng: Mutex<StdRng>,
    /// HMAC key of presigned URLs.
    signing_key: [u8; 32],
    /// Multipart sessions by upload id. The map lock is held only to find or insert a session.
    pub sessions: RwLock<HashMap<String, Arc<Mutex<Session>>>>,
    /// Assets by id.
    pub assets: RwLock<HashMap<String, Asset>>,
    /// Request counters for `/_emulator/stats`.
    pub stats: Mutex<Stats>,
    /// Monotonic sequence for "newest first" ordering of items created in the same second.
    sequence: AtomicI64,
    /// Flips to `true` once on shutdown; stalled PUTs watch it.
    pub shutdown: watch::Receiver<bool>,
    /// Woken (all waiters) whenever a background assembly ends, successfully or not.
    pub assembly_finished: Notify,
}

/// A multipart upload session.
#[derive(Debug)]
pub struct Session {
    /// `upload_id`.
    pub upload_id: String,
    /// The reserved asset.
    pub asset_id: String,
    /// Declared file size.
    pub total_size: u64,
    /// Bytes per chunk (all but the last).
    pub chunk_size: u64,
    /// `ceil(total_size / chunk_size)`.
    pub total_chunks: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Session expiry (24 h by default).
    pub expires_at: DateTime<Utc>,
    /// Set once every chunk was reported (the asset is then assembled in the background).
    pub completed: bool,
    /// Set by the test hook `POST /_emulator/sessions/{upload_id}/fail`: the API's `failed`
    /// ("restart with a new session"), whose trigger TwelveLabs does not document.
    pub failed: bool,
    /// Per chunk, index 0 = chunk 1.
    pub chunks: Vec<ChunkState>,
    /// Nonces of URLs already used (single-use fault).
    pub used_nonces: HashSet<String>,
    /// Creation order, for newest-first listing.
    pub sequence: i64,
}

/// One chunk of a session.
#[derive(Debug, Clone, Default)]
pub struct ChunkState {
    /// MD5 hex of every complete body stored for this chunk (a re-PUT adds a version).
    pub stored_etags: HashSet<String>,
    /// Set when reported with a proof matching a stored part: the ETag of that part.
    pub completed_etag: Option<String>,
    /// When it was reported completed.
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Last change of this chunk.
    pub updated_at: Option<DateTime<Utc>>,
    /// Set when a report's proof matched no stored part.
    pub failed_error: Option<String>,
}

/// Session status as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Accepting chunks.
    Active,
    /// Every chunk reported; the asset exists.
    Completed,
    /// Past `expires_at` without completing.
    Expired,
    /// Failed: the upload must start over with a new session.
    Failed,
}

impl Session {
    /// Expected byte length of chunk `index` (1-based).
    pub fn expected_chunk_len(&self, index: u64) -> u64 {
        if index < self.total_chunks {
            self.chunk_size
        } else {
            self.total_size - self.chunk_size * (self.total_chunks - 1)
        }
    }

    /// Status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> SessionStatus {
        if self.completed {
            SessionStatus::Completed
        } else if self.failed {
            SessionStatus::Failed
        } else if now >= self.expires_at {
            SessionStatus::Expired
        } else {
            SessionStatus::Active
        }
    }

    /// Chunks reported with a valid proof.
    pub fn completed_count(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| c.completed_etag.is_some())
            .count() as u64
    }

    /// Chunks whose last report failed.
    pub fn failed_count(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| c.completed_etag.is_none() && c.failed_error.is_some())
            .count() as u64
    }

    /// Bytes of the completed chunks.
    pub fn uploaded_size(&self) -> u64 {
        (1..=self.total_chunks)
            .filter(|&i| self.chunks[(i - 1) as usize].completed_etag.is_some())
            .map(|i| self.expected_chunk_len(i))
            .sum()
    }
}

/// How an asset was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetMethod {
    /// `POST /assets` with a file.
    Direct,
    /// `POST /assets` with a URL.
    Url,
    /// A multipart session.
    Multipart,
}

/// The broad media type, from the multipart `type` or the file's MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// Video.
    Video,
    /// Audio.
    Audio,
    /// Image.
    Image,
}

impl MediaType {
    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<MediaType> {
        match text {
            "video" => Some(MediaType::Video),
            "audio" => Some(MediaType::Audio),
            "image" => Some(MediaType::Image),
            _ => None,
        }
    }
}

/// Where the asset's bytes come from and whether they are there yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetContent {
    /// Not there yet (multipart session open, or URL being fetched).
    Pending,
    /// Every part is reported and a background task is concatenating and hashing them; the
    /// asset stays `processing`, and the debug routes wait for [`AppState::assembly_finished`].
    Assembling,
    /// Assembled file with its SHA-256.
    Stored {
        /// Path of the file.
        path: PathBuf,
        /// Lowercase hex SHA-256.
        sha256: String,
    },
    /// `method=url` in record mode: only the URL is kept.
    Recorded,
}

/// An asset.
#[derive(Debug, Clone)]
pub struct Asset {
    /// `_id`.
    pub id: String,
    /// How it was created.
    pub method: AssetMethod,
    /// Media type used for limits and for `duration`.
    pub media_type: MediaType,
    /// `filename`.
    pub filename: String,
    /// `file_type` (MIME).
    pub file_type: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Creation order.
    pub sequence: i64,
    /// Size in bytes once known.
    pub size: Option<u64>,
    /// When processing ends; `None` while bytes are still missing.
    pub ready_at: Option<DateTime<Utc>>,
    /// Set when processing failed: the error message.
    pub failed: Option<String>,
    /// Bytes.
    pub content: AssetContent,
    /// `enable_hls`.
    pub hls: bool,
    /// `enable_thumbnail`.
    pub thumbnail: bool,
    /// `user_metadata`, when given.
    pub user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The source URL of a `method=url` asset.
    pub source_url: Option<String>,
    /// Test hook: referenced by an indexed asset (DELETE answers 409 without `force`).
    pub referenced: bool,
}

/// Request counters, served by `GET /_emulator/stats`.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Requests per endpoint name (see the README), all outcomes included.
    pub requests: BTreeMap<String, u64>,
    /// Per upload id, per chunk index: PUT attempts and outcomes.
    pub chunk_puts: BTreeMap<String, BTreeMap<u64, ChunkPutStats>>,
}

/// PUT counters of one chunk.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChunkPutStats {
    /// Every PUT that named this chunk with a valid signature.
    pub attempts: u64,
    /// PUTs whose body was stored (answered 200 with an ETag).
    pub stored: u64,
    /// PUTs failed on purpose by fault injection.
    pub injected_failures: u64,
    /// PUTs refused (size mismatch, used URL, client gone mid-body, …).
    pub rejected: u64,
    /// The refused PUTs by the S3 error code they were answered with (`EntityTooSmall`, …), so
    /// a test that sees a refusal can say which.
    pub rejections: BTreeMap<&'static str, u64>,
}

/// Wall clock with an offset that tests can move.
#[derive(Debug)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock `offset_secs` ahead of the wall clock.
    pub fn new(offset_secs: i64) -> Clock {
        Clock {
            offset_ms: AtomicI64::new(offset_secs.saturating_mul(1000)),
        }
    }

    /// The emulator's "now".
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock by `secs` (may be negative).
    pub fn advance(&self, secs: i64) {
        self.offset_ms
            .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed);
    }

    /// Current offset in seconds (rounded toward zero).
    pub fn offset_secs(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed) / 1000
    }
}

/// What a PUT should suffer, decided before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutFate {
    /// Store normally.
    Store,
    /// Fail with the configured kind.
    Fail(crate::config::PutFailureKind),
}

impl AppState {
    /// Builds the state. `public_url` is the resolved base URL.
    pub fn new(
        config: Config,
        public_url: String,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<AppState> {
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("twelvelabs-emulator-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        std::fs::create_dir_all(data_dir.join("parts"))?;
        std::fs::create_dir_all(data_dir.join("assets"))?;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut signing_key = [0u8; 32];
        rng.fill_bytes(&mut signing_key);
        Ok(AppState {
            faults: RwLock::new(config.faults.clone()),
            clock: Clock::new(config.clock_offset_secs),
            config,
            public_url,
            data_dir,
            _temp_dir: temp_dir,
            rng: Mutex::new(rng),
            signing_key,
            sessions: RwLock::new(HashMap::new()),
            assets: RwLock::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            sequence: AtomicI64::new(0),
            shutdown,
            assembly_finished: Notify::new(),
        })
    }

    /// A snapshot of the current faults.
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock").clone()
    }

    /// A new 24-hex-digit id, like the ObjectIds of the real API.
    pub fn new_id(&self) -> String {
        let mut bytes = [0u8; 12];
        self.rng.lock().expect("rng lock").fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// The next creation sequence number.
    pub fn next_sequence(&self) -> i64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts one request to `endpoint`.
    pub fn count_request(&self, endpoint: &str) {
        let mut stats = self.stats.lock().expect("stats lock");
        *stats.requests.entry(endpoint.to_owned()).or_default() += 1;
    }

    /// Updates the PUT counters of one chunk.
    pub fn count_put(&self, upload_id: &str, index: u64, update: impl FnOnce(&mut ChunkPutStats)) {
        let mut stats = self.stats.lock().expect("stats lock");
        let entry = stats
            .chunk_puts
            .entry(upload_id.to_owned())
            .or_default()
            .entry(index)
            .or_default();
        update(entry);
    }

    /// The status of an injected failure for this API request, if it gets one (consumes one
    /// `api_fail_next`).
    pub fn take_api_failure(&self) -> Option<u16> {
        let mut faults = self.faults.write().expect("faults lock");
        if faults.api_fail_next == 0 {
            return None;
        }
        faults.api_fail_next -= 1;
        Some(faults.api_fail_status)
    }

    /// Whether this API request gets an injected 429; its `Retry-After` header value if so
    /// (deterministic counter first, then the seeded rate).
    pub fn take_rate_limit(&self) -> Option<String> {
        let mut faults = self.faults.write().expect("faults lock");
        let limited = if faults.rate_limit_next > 0 {
            faults.rate_limit_next -= 1;
            true
        } else {
            let rate = faults.rate_limit_rate;
            rate > 0.0 && self.rng.lock().expect("rng lock").random_bool(rate)
        };
        if !limited {
            return None;
        }
        let seconds = faults.retry_after_secs;
        Some(if faults.retry_after_http_date {
            let at = chrono::Utc::now() + chrono::Duration::seconds(seconds as i64);
            at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
        } else {
            seconds.to_string()
        })
    }

    /// Whether the report answer that completes a session leaves out `url`.
    pub fn omits_completion_url(&self) -> bool {
        self.faults.read().expect("faults lock").omit_completion_url
    }

    /// Decides what happens to a chunk PUT (the deterministic sequence and counter first).
    pub fn decide_put_fate(&self) -> PutFate {
        let mut faults = self.faults.write().expect("faults lock");
        if !faults.put_fail_sequence.is_empty() {
            return PutFate::Fail(faults.put_fail_sequence.remove(0));
        }
        if faults.put_fail_next > 0 {
            faults.put_fail_next -= 1;
            return PutFate::Fail(faults.put_failure_kind);
        }
        let rate = faults.put_failure_rate;
        if rate > 0.0 && self.rng.lock().expect("rng lock").random_bool(rate) {
            PutFate::Fail(faults.put_failure_kind)
        } else {
            PutFate::Store
        }
    }

    /// HMAC-SHA256 (hex) over everything a presigned URL grants.
    pub fn sign_chunk_url(&self, upload_id: &str, index: u64, expires: i64, nonce: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        mac.update(format!("PUT\n{upload_id}\n{index}\n{expires}\n{nonce}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks a presigned URL signature in constant time.
    pub fn verify_chunk_url(
        &self,
        upload_id: &str,
        index: u64,
        expires: i64,
        nonce: &str,
        signature_hex: &str,
    ) -> bool {
        let Ok(signature) = hex::decode(signature_hex) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        mac.update(format!("PUT\n{upload_id}\n{index}\n{expires}\n{nonce}").as_bytes());
        mac.verify_slice(&signature).is_ok()
    }

    /// A presigned PUT URL for chunk `index`, valid for the current URL TTL.
    pub fn presigned_url(&self, upload_id: &str, index: u64) -> (String, DateTime<Utc>) {
        let ttl = self.faults().url_ttl_secs;
        let expires_at = self.clock.now() + chrono::Duration::seconds(ttl as i64);
        let expires = expires_at.timestamp();
        let mut nonce_bytes = [0u8; 8];
        self.rng
            .lock()
            .expect("rng lock")
            .fill_bytes(&mut nonce_bytes);
        let nonce = hex::encode(nonce_bytes);
        let signature = self.sign_chunk_url(upload_id, index, expires, &nonce);
        let url = format!(
            "{}/_storage/{upload_id}/{index}?X-Amz-Expires={expires}&X-Amz-Nonce={nonce}&X-Amz-Signature={signature}",
            self.public_url
        );
        (url, expires_at)
    }

    /// Directory of one session's parts.
    pub fn parts_dir(&self, upload_id: &str) -> PathBuf {
        self.data_dir.join("parts").join(upload_id)
    }

    /// File of one stored part version.
    pub fn part_path(&self, upload_id: &str, index: u64, md5_hex: &str) -> PathBuf {
        self.parts_dir(upload_id).join(format!("{index}-{md5_hex}"))
    }

    /// File of an asset's bytes.
    pub fn asset_path(&self, asset_id: &str) -> PathBuf {
        self.data_dir.join("assets").join(asset_id)
    }

    /// The data directory root.
    pub fn data_root(&self) -> &Path {
        &self.data_dir
    }

    /// The asset's content and size once no background assembly is running for it (waits for
    /// that assembly to end); `None` when the asset does not exist (or was deleted meanwhile).
    pub async fn settled_content(&self, asset_id: &str) -> Option<(AssetContent, Option<u64>)> {
        loop {
            // Register interest before looking, so an assembly ending in between still wakes us.
            let finished = self.assembly_finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            {
                let assets = self.assets.read().expect("assets lock");
                let asset = assets.get(asset_id)?;
                if asset.content != AssetContent::Assembling {
                    return Some((asset.content.clone(), asset.size));
                }
            }
            finished.await;
        }
    }

    /// Looks up a session.
    pub fn session(&self, upload_id: &str) -> Option<Arc<Mutex<Session>>> {
        self.sessions
            .read()
            .expect("sessions lock")
            .get(upload_id)
            .cloned()
    }
}

/// Formats a timestamp the way the API examples do: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
