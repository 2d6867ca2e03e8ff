//! The start of an upload: direct upload or multipart session, the session's creation with its
//! retries, and an abort while either is in flight.

use super::io::{Action, FileId, NewFile, RequestId};
use super::state::{ChunkState, InFlight, Phase, RequestKind};
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::plan::ChunkPlan;
use crate::core::progress::ProgressTracker;
use crate::core::retry::{HttpOutcome, NextStep, OneOffRetry};
use crate::core::wire::{Asset, CreateMultipartUploadResponse};

impl Engine {
    /// Starts uploading a file. A file of at most [`EngineConfig::direct_upload_max_bytes`]
    /// goes as one direct upload ([`Action::DirectUpload`]); any other through a multipart
    /// session the engine creates ([`Action::CreateSession`]), retried with
    /// [`EngineConfig::create_backoff`]. Fails with `invalid_input` for an empty file.
    ///
    /// [`EngineConfig::direct_upload_max_bytes`]: super::EngineConfig::direct_upload_max_bytes
    /// [`EngineConfig::create_backoff`]: super::EngineConfig::create_backoff
    pub fn add(&mut self, now_ms: u64, file: NewFile) -> Result<FileId, Error> {
        file.validate()?;
        let size = file.file_size;
        // Until a session says otherwise, the whole file is one chunk: what a direct upload
        // sends.
        let plan = ChunkPlan::new(size, size, size, 1)?;
        let direct = size <= self.config.direct_upload_max_bytes;
        let phase = if direct {
            Phase::DirectUploading
        } else {
            Phase::CreatingSession
        };
        let mut state = self.new_upload_state(plan, None, None, file.wait_for_asset, phase);
        state.fingerprint_pending = file.fingerprint && !direct;
        // A new file's record is saved only with its fingerprint (`NewFile::fingerprint`).
        state.saves_record = state.fingerprint_pending;
        if !direct {
            // The chunk count is unknown until the session exists.
            state.progress = ProgressTracker::new(size, 0, self.config.speed_time_constant_ms);
        }
        let id = self.insert_upload(state);
        self.drive(now_ms);
        Ok(id)
    }

    /// Sends the session creation or direct upload when it is due, after the resume fingerprint
    /// when one is wanted (local work: it needs neither the network nor a grant). Pausing does
    /// not hold either: a paused upload starts paused once its session exists.
    pub(super) fn drive_creation(&mut self, now_ms: u64, file: FileId) {
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        if u.fingerprint_pending {
            if u.create_lane.in_flight.is_none() {
                let request = self.new_request(now_ms, file, RequestKind::Fingerprint);
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.create_lane.in_flight = Some(request);
                }
                self.actions
                    .push_back(Action::ReadFingerprint { request, file });
            }
            return;
        }
        if !self.online {
            return;
        }
        let kind = match u.phase {
            Phase::CreatingSession => RequestKind::Create,
            Phase::DirectUploading => RequestKind::Direct {
                bytes: u.plan.total_size(),
            },
            _ => return,
        };
        if !u.create_lane.ready(now_ms) || !self.grant_ready() {
            return;
        }
        let direct = matches!(kind, RequestKind::Direct { .. });
        let request = self.new_request(now_ms, file, kind);
        if let Some(u) = self.uploads.get_mut(&file) {
            u.create_lane.in_flight = Some(request);
            if direct {
                // The whole file is handed to the network now: show it.
                u.throttle.mark();
            }
        }
        self.actions.push_back(if direct {
            Action::DirectUpload { request, file }
        } else {
            Action::CreateSession { request, file }
        });
    }

    /// The fingerprint was read (or could not be): the session is created next.
    pub(super) fn on_fingerprint_read(&mut self, request: RequestId) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        if let Some(u) = self.uploads.get_mut(&file) {
            u.create_lane.in_flight = None;
            u.fingerprint_pending = false;
        }
    }

    pub(super) fn on_session_created(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<CreateMultipartUploadResponse, HttpOutcome>,
    ) {
        let created = result.as_ref().ok().map(|session| session.asset_id.clone());
        let Some(file) = self.creation_ended(request, created) else {
            return;
        };
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        let session = match result {
            Ok(session) => session,
            Err(outcome) => return self.creation_failure(now_ms, file, &outcome),
        };
        let (file_size, wait_for_asset) = (u.plan.total_size(), u.wait_for_asset);
        match self.session_state(now_ms, file_size, &session, wait_for_asset) {
            Ok(mut state) => {
                let Some(u) = self.uploads.get_mut(&file) else {
                    return;
                };
                state.paused = u.paused;
                state.saves_record = u.saves_record;
                // The upload's first event is its first acknowledged chunk, as for a session
                // created elsewhere; only a retry shown while creating is cleared at once.
                if u.progress.snapshot().retrying.is_some() {
                    state.throttle.mark();
                }
                *u = state;
            }
            // The session is unusable (a plan that does not add up): its asset, if it names
            // one, is deleted.
            Err(error) => {
                let asset = Some(session.asset_id).filter(|id| !id.is_empty());
                self.finish_and_delete(now_ms, file, Err(error), asset)
            }
        }
    }

    pub(super) fn on_direct_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<Asset, HttpOutcome>,
    ) {
        let Some(InFlight { file, kind, .. }) = self.take_request(request) else {
            return;
        };
        if matches!(kind, RequestKind::Abandoned) {
            if let Ok(asset) = result {
                // Aborted while it was being sent: an aborted upload leaves no asset behind.
                self.delete_asset(asset.id);
            }
            return;
        }
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.create_lane.in_flight = None;
        let asset = match result {
            Ok(asset) => asset,
            Err(outcome) => return self.creation_failure(now_ms, file, &outcome),
        };
        u.asset_id = asset.id.clone();
        u.chunk_mut(1).state = ChunkState::Reported;
        u.advance_frontier();
        u.server_confirmed = true;
        u.progress.set_retrying(None);
        u.throttle.mark();
        self.session_completed(now_ms, file, Some(asset));
    }

    /// A session creation with no answer within its deadline. It is not cancelled: if it did
    /// reach the server (only its answer is late or lost), the session it made would leave its
    /// reserved asset behind. So it is waited for as one an abort left (an asset it still makes
    /// is deleted), and the creation is retried as after a network error.
    pub(super) fn creation_timed_out(&mut self, now_ms: u64, request: RequestId) {
        let Some(in_flight) = self.requests.get_mut(&request) else {
            return;
        };
        in_flight.kind = RequestKind::Abandoned;
        in_flight.deadline_ms = None;
        let file = in_flight.file;
        if let Some(u) = self.uploads.get_mut(&file) {
            u.create_lane.in_flight = None;
        }
        self.creation_failure(now_ms, file, &HttpOutcome::network_error());
    }

    /// The upload a creation (or direct upload) that ended belongs to, its lane free again;
    /// `None` when there is none to go on with. An upload aborted meanwhile leaves no asset
    /// behind: `created`, the asset the request still made (a session's reserved asset, or a
    /// direct upload's), is deleted.
    fn creation_ended(&mut self, request: RequestId, created: Option<String>) -> Option<FileId> {
        let InFlight { file, kind, .. } = self.take_request(request)?;
        if matches!(kind, RequestKind::Abandoned) {
            if let Some(asset_id) = created {
                self.delete_asset(asset_id);
            }
            return None;
        }
        self.uploads.get_mut(&file)?.create_lane.in_flight = None;
        Some(file)
    }

    /// A failed creation (or direct upload): retried as [`OneOffRetry`] decides, or the upload
    /// fails. Failures while offline do not count; the request is sent again once online.
    ///
    /// [`OneOffRetry`]: crate::core::retry::OneOffRetry
    fn creation_failure(&mut self, now_ms: u64, file: FileId, outcome: &HttpOutcome) {
        self.creation_step(now_ms, file, |creation, random| {
            creation.after(outcome, random)
        });
    }

    /// The grant a creation waits for could not be had: a failed attempt of the creation (see
    /// [`OneOffRetry::after_token_failure`]).
    ///
    /// [`OneOffRetry::after_token_failure`]: crate::core::retry::OneOffRetry::after_token_failure
    pub(super) fn creation_token_failure(&mut self, now_ms: u64, file: FileId, error: Error) {
        self.creation_step(now_ms, file, |creation, random| {
            creation.after_token_failure(error, random)
        });
    }

    /// Applies what the creation's retry decisions say after a failed attempt.
    fn creation_step(
        &mut self,
        now_ms: u64,
        file: FileId,
        decide: impl FnOnce(&mut OneOffRetry, u64) -> NextStep,
    ) {
        let online = self.online;
        let random = self.jitter.next_u64();
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        if !online {
            u.create_lane.not_before_ms = now_ms;
            return;
        }
        match decide(&mut u.creation, random) {
            NextStep::RetryAfterMs(delay_ms) => {
                u.create_lane.not_before_ms = now_ms.saturating_add(delay_ms);
                let retrying = u.creation.retrying();
                u.set_retrying(retrying);
            }
            NextStep::Fail(error) => self.finish(now_ms, file, Err(error)),
            // Sent again at once, once a fresh grant is at hand.
            NextStep::RefreshGrant => {
                u.create_lane.not_before_ms = now_ms;
                self.grant_refused();
            }
            // Only a storage PUT classifies as a success; a 2xx gets here only unread.
            NextStep::Done => {
                let error = Error::new(
                    ErrorCode::Internal,
                    "a creation success was reported as a failure",
                );
                self.finish(now_ms, file, Err(error));
            }
        }
    }
}
