//! Restoring an upload from its saved record, and producing that record.

use super::io::FileId;
use super::state::{ChunkState, Phase, Upload};
use super::Engine;
use crate::core::clock::{parse_server_time, ClockOffset};
use crate::core::error::{Error, ErrorCode};
use crate::core::plan::ChunkPlan;
use crate::core::resume::{to_ranges, SavedUpload, SAVED_UPLOAD_VERSION};
use crate::core::wire::CreateMultipartUploadResponse;

impl Engine {
    /// Resumes an upload from its saved record (after a reload, with the re-selected file of
    /// `file_size` bytes). The server's status is read first; then only what is missing is sent.
    /// A record kept as [`SavedUpload::completed`] completes at once (its asset waited for, with
    /// `wait_for_asset`).
    ///
    /// Fails with `invalid_input` for a malformed record, `file_mismatch` when the file's size
    /// differs, `session_expired` when the record is expired ([`SavedUpload::is_expired`], on
    /// its own clock offset: the one expiry rule for records, so a refused record is exactly one
    /// that [`SavedUpload::is_usable`] says to delete). A session that the engine's own, fresher
    /// clock finds expired is restored and then ends with `session_expired` like any other, its
    /// record forgotten ([`Action::ForgetState`]).
    ///
    /// [`Action::ForgetState`]: super::Action::ForgetState
    pub fn restore_upload(
        &mut self,
        now_ms: u64,
        saved: SavedUpload,
        file_size: u64,
        wait_for_asset: bool,
    ) -> Result<FileId, Error> {
        saved.validate()?;
        self.check_upload_token(saved.upload_token.as_deref())?;
        if saved.total_size != file_size {
            return Err(Error::new(
                ErrorCode::FileMismatch,
                format!(
                    "the saved upload is for a file of {} bytes, the chosen file has {file_size}",
                    saved.total_size
                ),
            ));
        }
        if saved.is_expired(now_ms) {
            return Err(Error::new(
                ErrorCode::SessionExpired,
                format!(
                    "upload session {} expired at {}; start a new upload",
                    saved.upload_id, saved.expires_at
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
            Some(&session),
            expires_server,
            wait_for_asset,
            Phase::Reconciling,
        );
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
        if saved.completed {
            // Its session is known to have completed: no status to read, nothing to send.
            self.completed_on_the_server(now_ms, id);
        }
        self.drive(now_ms);
        Ok(id)
    }

    /// The record to persist for resuming the upload after a reload (`None` before its session
    /// exists, for a direct upload, and once it finished).
    pub fn saved_state(&self, file: FileId) -> Option<SavedUpload> {
        let u = self.uploads.get(&file)?;
        if matches!(u.phase, Phase::CreatingSession | Phase::DirectUploading) {
            return None;
        }
        Some(self.record_of(u))
    }

    /// `u`'s record as it stands.
    pub(super) fn record_of(&self, u: &Upload) -> SavedUpload {
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
        SavedUpload {
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
            completed: false,
        }
    }
}
