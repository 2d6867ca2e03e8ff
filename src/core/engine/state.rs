//! The engine's per-upload state: chunks, request lanes, phases and requests in flight.

use serde::{Deserialize, Serialize};

use super::io::{FileId, RequestId};
use crate::core::error::Error;
use crate::core::plan::ChunkPlan;
use crate::core::progress::{ProgressCounts, ProgressTracker, Retrying, Throttle};
use crate::core::retry::OneOffRetry;
use crate::core::urls::UrlWindow;
use crate::core::wire::UploadHeaders;

/// The grant that authorises session creation, direct uploads and asset polls, when the
/// adapter can renew it ([`EngineConfig::renewable_grant`](super::EngineConfig::renewable_grant)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grant {
    /// The adapter holds one (or the credential is not renewable: an API key).
    Held,
    /// None yet, or the last one was refused: ask for one before the next call.
    Missing,
    /// Asked for ([`Action::NeedToken`](super::Action::NeedToken)); calls wait for the answer.
    Requested,
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Creating the multipart session: its request is in flight or waits to be retried.
    CreatingSession,
    /// Sending the whole file in one direct upload request (in flight or waiting to be retried).
    DirectUploading,
    /// Reading the server's status after a restore, before sending anything.
    Reconciling,
    /// Uploading and reporting chunks.
    Uploading,
    /// Every chunk reported; confirming completion with the server.
    Confirming,
    /// The session completed; polling the asset until it is ready.
    AwaitingAsset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkState {
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
pub(super) struct Chunk {
    pub(super) state: ChunkState,
    pub(super) etag: Option<String>,
    /// Failed attempts since the file last made progress.
    pub(super) attempts: u32,
    /// No new PUT before this local time (backoff).
    pub(super) not_before_ms: u64,
    /// When the chunk was acknowledged (report debounce).
    pub(super) acked_at_ms: u64,
}

impl Chunk {
    pub(super) fn pending() -> Self {
        Chunk {
            state: ChunkState::Pending,
            etag: None,
            attempts: 0,
            not_before_ms: 0,
            acked_at_ms: 0,
        }
    }

    pub(super) fn is_acknowledged(&self) -> bool {
        matches!(
            self.state,
            ChunkState::Acked | ChunkState::Reporting(_) | ChunkState::Reported
        )
    }
}

/// One request stream of an upload (URLs, reports, status, asset): one request at a time.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lane {
    /// The last failure asked for a fresh grant (a 401 right after it is final).
    pub(super) grant_refreshed: bool,
    pub(super) in_flight: Option<RequestId>,
    pub(super) failures: u32,
    pub(super) not_before_ms: u64,
}

impl Lane {
    pub(super) fn ready(&self, now_ms: u64) -> bool {
        self.in_flight.is_none() && self.not_before_ms <= now_ms
    }
}

#[derive(Debug, Clone)]
pub(super) struct Upload {
    pub(super) plan: ChunkPlan,
    pub(super) upload_id: String,
    pub(super) asset_id: String,
    pub(super) upload_token: Option<String>,
    pub(super) upload_headers: UploadHeaders,
    pub(super) session_expires_at: String,
    pub(super) session_expires_server_ms: Option<u64>,
    pub(super) wait_for_asset: bool,
    pub(super) chunks: Vec<Chunk>,
    /// Every chunk below this 1-based index is reported (skips the done prefix when scanning).
    pub(super) frontier: u32,
    pub(super) urls: UrlWindow,
    pub(super) url_lane: Lane,
    pub(super) report_lane: Lane,
    pub(super) status_lane: Lane,
    pub(super) asset_lane: Lane,
    /// Session creation or the direct upload.
    pub(super) create_lane: Lane,
    /// The retry decisions of session creation (or the direct upload).
    pub(super) creation: OneOffRetry,
    /// The resume fingerprint is still to be read before the session is created.
    pub(super) fingerprint_pending: bool,
    /// A record of the upload is saved for a resume (a session handed over or restored, or a
    /// new file's with its fingerprint), unless [`Input::RecordDropped`] said otherwise.
    ///
    /// [`Input::RecordDropped`]: super::Input::RecordDropped
    pub(super) saves_record: bool,
    pub(super) phase: Phase,
    pub(super) paused: bool,
    /// Next status page to read while reconciling or confirming.
    pub(super) status_page: u32,
    /// A status walk found chunks to send again.
    pub(super) status_reverted: bool,
    /// An answer said the session is no longer active (a PUT refused as `NoSuchUpload`, a
    /// report or URL request refused as `upload_completed`): the next status read decides.
    /// Completed (elsewhere: another tab, or the page a reload left running) ends the upload
    /// well; active fails it with this error.
    pub(super) session_over: Option<Error>,
    /// The server confirmed completion (report `url` or `total_completed`).
    pub(super) server_confirmed: bool,
    pub(super) completion_url: Option<String>,
    pub(super) asset_polls: u32,
    pub(super) progress: ProgressTracker,
    pub(super) throttle: Throttle,
    pub(super) dirty: bool,
}

impl Upload {
    /// Whether a pause holds the upload now. A pause holds what still moves the file's bytes
    /// (PUTs, URL requests, reports' status reads); once every byte is with the server, waiting
    /// for the asset is TwelveLabs' work, and a pause neither stops nor hides it.
    pub(super) fn held(&self) -> bool {
        self.paused && self.phase != Phase::AwaitingAsset
    }

    /// Whether a multipart session exists (so a saved-state record may): a direct upload, or
    /// one whose session is still being created, has none.
    pub(super) fn has_session(&self) -> bool {
        !self.upload_id.is_empty()
    }

    pub(super) fn chunk(&self, index: u32) -> &Chunk {
        &self.chunks[(index - 1) as usize]
    }

    pub(super) fn chunk_mut(&mut self, index: u32) -> &mut Chunk {
        &mut self.chunks[(index - 1) as usize]
    }

    pub(super) fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.frontier..=self.plan.total_chunks()
    }

    pub(super) fn advance_frontier(&mut self) {
        while self.frontier <= self.plan.total_chunks()
            && self.chunk(self.frontier).state == ChunkState::Reported
        {
            self.frontier += 1;
        }
    }

    pub(super) fn all_reported(&self) -> bool {
        self.frontier > self.plan.total_chunks()
    }

    pub(super) fn has_work_left_to_put(&self) -> bool {
        self.indices().any(|i| {
            matches!(
                self.chunk(i).state,
                ChunkState::Pending | ChunkState::Uploading(_)
            )
        })
    }

    /// Shows in the progress that a request waits `delay_ms` for retry number `attempt`.
    pub(super) fn show_retry(&mut self, attempt: u32, delay_ms: u64, cause: &Error) {
        self.set_retrying(Some(Retrying {
            attempt,
            delay_ms,
            error_code: cause.code,
        }));
    }

    /// Shows in the progress the retry a request waits for (`None`: none); a new one goes out
    /// in the next progress event, whatever the interval.
    pub(super) fn set_retrying(&mut self, retrying: Option<Retrying>) {
        if self.progress.set_retrying(retrying) && retrying.is_some() {
            self.throttle.mark_urgent();
        }
    }

    pub(super) fn reset_attempts(&mut self) {
        for chunk in &mut self.chunks {
            chunk.attempts = 0;
        }
    }

    pub(super) fn counts(&self, in_flight_sent: u64) -> ProgressCounts {
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
pub(super) enum RequestKind {
    Put {
        chunk_index: u32,
        bytes: u64,
        sent: u64,
    },
    Urls,
    Report {
        indices: Vec<u32>,
    },
    Status,
    Asset,
    /// Reading the resume fingerprint (local work, before session creation).
    Fingerprint,
    /// Session creation.
    Create,
    /// A direct upload of `bytes`.
    Direct {
        bytes: u64,
    },
    /// A session creation or direct upload whose upload was aborted while it was in flight: a
    /// session or asset it still creates is deleted.
    Abandoned,
}

#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub(super) file: FileId,
    pub(super) kind: RequestKind,
    /// When the engine stops waiting for the answer (`None`: local work, which cannot hang).
    pub(super) deadline_ms: Option<u64>,
}
