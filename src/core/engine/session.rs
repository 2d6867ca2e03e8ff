//! Starting an upload from a created session, and the session's expiry.

use super::io::{FileId, NewUpload};
use super::state::{Chunk, ChunkState, Lane, Phase, Upload};
use super::Engine;
use crate::core::clock::parse_server_time;
use crate::core::error::{Error, ErrorCode};
use crate::core::plan::ChunkPlan;
use crate::core::progress::{ProgressTracker, Throttle};
use crate::core::retry::{OneOffRetry, Operation};
use crate::core::urls::UrlWindow;
use crate::core::wire::{limits, CreateMultipartUploadResponse};

/// Why a session through the Worker cannot be sent: it carries no upload token.
pub const NO_UPLOAD_TOKEN: &str = "the Worker's session carries no upload_token";

impl Engine {
    /// Starts uploading a session created elsewhere (by a server, or by a test). Fails with
    /// `server_invalid` when the server's plan does not add up for `file_size`,
    /// `session_expired` when the session is already past its expiry. [`Engine::add`] is the
    /// usual start: the engine then creates the session itself.
    pub fn add_upload(&mut self, now_ms: u64, upload: NewUpload) -> Result<FileId, Error> {
        let state = self.session_state(
            now_ms,
            upload.file_size,
            &upload.session,
            upload.wait_for_asset,
        )?;
        let id = self.insert_upload(state);
        self.drive(now_ms);
        Ok(id)
    }

    /// Through the Worker (a renewable grant), a session's calls carry the upload token it
    /// minted for it: a session without one cannot be sent, and is refused before any of them.
    pub(super) fn check_upload_token(&self, upload_token: Option<&str>) -> Result<(), Error> {
        if self.config.renewable_grant && upload_token.is_none_or(str::is_empty) {
            return Err(Error::new(ErrorCode::ServerInvalid, NO_UPLOAD_TOKEN));
        }
        Ok(())
    }

    /// The state of an upload to the freshly created `session`, or why it cannot be uploaded.
    pub(super) fn session_state(
        &mut self,
        now_ms: u64,
        file_size: u64,
        session: &CreateMultipartUploadResponse,
        wait_for_asset: bool,
    ) -> Result<Upload, Error> {
        // The ids name the session in every later call and key its saved record.
        if session.upload_id.is_empty() || session.asset_id.is_empty() {
            return Err(Error::new(
                ErrorCode::ServerInvalid,
                "the server created a session without an upload_id or asset_id",
            ));
        }
        self.check_upload_token(session.upload_token.as_deref())?;
        let plan = ChunkPlan::new(
            file_size,
            file_size,
            session.chunk_size,
            u64::from(session.total_chunks),
        )?;
        let expires_server = parse_server_time(&session.expires_at);
        // The session was created a moment ago and lives 24 h: that dates the server's clock
        // until a URL batch's `generated_at` dates it better.
        if let Some(expires) = expires_server.filter(|_| !self.clock.measured) {
            let created = expires.saturating_sub(limits::SESSION_TTL_SECS * 1_000);
            self.clock.observe(created, now_ms);
        }
        let mut state = self.new_upload_state(
            plan,
            Some(session),
            expires_server,
            wait_for_asset,
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
        Ok(state)
    }

    /// A fresh upload state in `phase`; without a `session` (still to be created), its ids are
    /// empty.
    pub(super) fn new_upload_state(
        &self,
        plan: ChunkPlan,
        session: Option<&CreateMultipartUploadResponse>,
        expires_server: Option<u64>,
        wait_for_asset: bool,
        phase: Phase,
    ) -> Upload {
        let text = |field: fn(&CreateMultipartUploadResponse) -> &String| {
            session.map(field).cloned().unwrap_or_default()
        };
        Upload {
            plan,
            upload_id: text(|s| &s.upload_id),
            asset_id: text(|s| &s.asset_id),
            upload_token: session.and_then(|s| s.upload_token.clone()),
            upload_headers: session
                .map(|s| s.upload_headers.clone())
                .unwrap_or_default(),
            session_expires_at: text(|s| &s.expires_at),
            session_expires_server_ms: expires_server,
            wait_for_asset,
            chunks: vec![Chunk::pending(); plan.total_chunks() as usize],
            frontier: 1,
            urls: UrlWindow::new(),
            url_lane: Lane::default(),
            report_lane: Lane::default(),
            status_lane: Lane::default(),
            asset_lane: Lane::default(),
            create_lane: Lane::default(),
            creation: {
                let retry = OneOffRetry::new(Operation::CreateSession, self.config.create_backoff);
                if self.config.renewable_grant {
                    retry.with_renewable_grant()
                } else {
                    retry
                }
            },
            fingerprint_pending: false,
            saves_record: true,
            phase,
            paused: false,
            status_page: 1,
            status_reverted: false,
            session_over: None,
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

    pub(super) fn insert_upload(&mut self, state: Upload) -> FileId {
        let id = FileId(self.next_file);
        self.next_file += 1;
        self.uploads.insert(id, state);
        id
    }

    pub(super) fn check_expiry(&self, u: &Upload, now_ms: u64) -> Option<Error> {
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

    pub(super) fn check_session_expiry(&mut self, now_ms: u64, file: FileId) {
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
}
