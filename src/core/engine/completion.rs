//! Confirming completion with the server (status reads), and every way an upload ends.

use super::io::{Action, Completion, FileId, RequestId};
use super::state::{Chunk, ChunkState, InFlight, Lane, Phase, RequestKind};
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{HttpOutcome, Operation};
use crate::core::wire::{limits, Asset, ChunkStatus, UploadStatus, UploadStatusResponse};

impl Engine {
    pub(super) fn on_status_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<UploadStatusResponse, HttpOutcome>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.status_lane.in_flight = None;
        let status = match result {
            Ok(status) => status,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.status_lane,
                    Operation::Status,
                    &outcome,
                )
            }
        };
        match status.status {
            UploadStatus::Expired => {
                let error = Error::new(
                    ErrorCode::SessionExpired,
                    format!(
                        "upload session {} has expired; start a new upload",
                        u.upload_id
                    ),
                );
                return self.finish(now_ms, file, Err(error));
            }
            UploadStatus::Failed => {
                let error = Error::new(
                    ErrorCode::SessionFailed,
                    format!(
                        "the server marked upload session {} as failed; start a new upload",
                        u.upload_id
                    ),
                );
                return self.finish(now_ms, file, Err(error));
            }
            UploadStatus::Completed => return self.completed_on_the_server(now_ms, file),
            UploadStatus::Active | UploadStatus::Unknown => {}
        }
        u.status_lane.failures = 0;
        u.progress.set_retrying(None);
        for info in &status.uploaded_chunks {
            if !u.plan.contains(info.index) {
                continue;
            }
            let chunk = u.chunk_mut(info.index);
            if matches!(
                chunk.state,
                ChunkState::Uploading(_) | ChunkState::Reporting(_)
            ) {
                continue;
            }
            let before = chunk.state;
            match info.status {
                ChunkStatus::Completed => chunk.state = ChunkState::Reported,
                ChunkStatus::Failed => {
                    // The server refused what it got: upload again, to a fresh URL.
                    *chunk = Chunk::pending();
                }
                ChunkStatus::Pending => {
                    if chunk.etag.is_some() {
                        if chunk.state == ChunkState::Reported {
                            chunk.state = ChunkState::Acked;
                            chunk.acked_at_ms = now_ms;
                        }
                    } else {
                        *chunk = Chunk::pending();
                    }
                }
                ChunkStatus::Unknown => {}
            }
            if before == ChunkState::Reported && chunk.state != ChunkState::Reported {
                u.status_reverted = true;
            }
        }
        u.frontier = 1;
        u.advance_frontier();
        u.dirty = true;
        u.throttle.mark();
        let page_limit = limits::PAGE_LIMIT_MAX;
        let last_page = match &status.page_info {
            Some(info) => u.status_page >= info.total_page,
            None => (status.uploaded_chunks.len() as u32) < page_limit,
        } || status.uploaded_chunks.is_empty();
        if !last_page {
            u.status_page += 1;
            return;
        }
        u.status_page = 1;
        if let Some(error) = u.session_over.take() {
            // An answer said the session is over, the server says it is active: neither a
            // resend nor a wait can mend that.
            return self.finish(now_ms, file, Err(error));
        }
        let reverted = std::mem::take(&mut u.status_reverted);
        match u.phase {
            Phase::Reconciling => u.phase = Phase::Uploading,
            Phase::Confirming if reverted || !u.all_reported() => u.phase = Phase::Uploading,
            Phase::Confirming if status.chunks_completed >= u.plan.total_chunks() => {
                self.session_completed(now_ms, file, None)
            }
            Phase::Confirming => {
                // Everything is reported and listed completed, but the session is not (yet):
                // the server may be finalising. Ask again later; give up eventually.
                let cause = Error::new(
                    ErrorCode::UpstreamUnavailable,
                    "every chunk is reported but the server does not confirm the upload as completed",
                );
                self.lane_retry(now_ms, file, |u| &mut u.status_lane, None, cause);
            }
            Phase::Uploading
            | Phase::AwaitingAsset
            | Phase::CreatingSession
            | Phase::DirectUploading => {}
        }
    }

    /// An answer said the session is no longer active (see
    /// [`session_no_longer_active`](crate::core::retry::session_no_longer_active)): no chunk is
    /// sent until its status is read. Completed ends the upload well, expired or failed with
    /// their codes, active with `error` (the first such answer's).
    pub(super) fn ask_whether_the_session_is_over(&mut self, file: FileId, error: Error) {
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.session_over.get_or_insert(error);
        if u.phase == Phase::Uploading {
            u.phase = Phase::Confirming;
            u.status_page = 1;
            u.status_reverted = false;
        }
    }

    /// The server lists the session as completed, so it holds every chunk (whoever sent them:
    /// this page, another tab, or the page a reload left running). PUTs, reports and URL
    /// requests still in flight are moot and cancelled; the upload is done.
    pub(super) fn completed_on_the_server(&mut self, now_ms: u64, file: FileId) {
        let moot: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| {
                r.file == file
                    && matches!(
                        r.kind,
                        RequestKind::Put { .. } | RequestKind::Report { .. } | RequestKind::Urls
                    )
            })
            .map(|(&id, _)| id)
            .collect();
        for request in moot {
            self.cancel(request);
        }
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.report_lane.in_flight = None;
        for chunk in &mut u.chunks {
            chunk.state = ChunkState::Reported;
        }
        u.advance_frontier();
        u.server_confirmed = true;
        u.status_page = 1;
        u.session_over = None;
        self.session_completed(now_ms, file, None);
    }

    pub(super) fn drive_completion(&mut self, now_ms: u64, file: FileId) {
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        if u.phase != Phase::Uploading || !u.all_reported() {
            return;
        }
        if u.server_confirmed {
            self.session_completed(now_ms, file, None);
        } else {
            u.phase = Phase::Confirming;
            u.status_page = 1;
            u.status_reverted = false;
        }
    }

    pub(super) fn drive_status_and_asset(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let Some(u) = self.uploads.get(&file) else {
            return;
        };
        if u.held() {
            return;
        }
        match u.phase {
            Phase::Reconciling | Phase::Confirming => {
                // Reports still on their way would make the status read stale.
                let reporting = u.report_lane.in_flight.is_some();
                if !u.status_lane.ready(now_ms) || reporting {
                    return;
                }
                let page = u.status_page;
                let request = self.new_request(now_ms, file, RequestKind::Status);
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.status_lane.in_flight = Some(request);
                }
                self.actions.push_back(Action::FetchStatus {
                    request,
                    file,
                    page,
                    page_limit: limits::PAGE_LIMIT_MAX,
                });
            }
            Phase::AwaitingAsset => {
                if !u.asset_lane.ready(now_ms) || !self.grant_ready() {
                    return;
                }
                let Some(u) = self.uploads.get(&file) else {
                    return;
                };
                let asset_id = u.asset_id.clone();
                let request = self.new_request(now_ms, file, RequestKind::Asset);
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.asset_lane.in_flight = Some(request);
                }
                self.actions.push_back(Action::FetchAsset {
                    request,
                    file,
                    asset_id,
                });
            }
            Phase::Uploading | Phase::CreatingSession | Phase::DirectUploading => {}
        }
    }

    /// Every byte is with the server: wait for the asset, or finish with `created`, the asset a
    /// direct upload made (a multipart upload has none to hand over).
    pub(super) fn session_completed(&mut self, now_ms: u64, file: FileId, created: Option<Asset>) {
        let poll_initial = self.config.asset_poll.initial_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.throttle.mark();
        let asset_id = u.asset_id.clone();
        let url = u.completion_url.clone();
        self.actions.push_back(Action::Uploaded {
            file,
            asset_id: asset_id.clone(),
            url: url.clone(),
        });
        if u.wait_for_asset {
            u.phase = Phase::AwaitingAsset;
            u.asset_lane = Lane {
                not_before_ms: now_ms + poll_initial,
                ..Lane::default()
            };
        } else {
            self.finish(
                now_ms,
                file,
                Ok(Completion {
                    asset_id,
                    url,
                    asset: created.map(Box::new),
                }),
            );
        }
    }

    /// Ends an upload with `aborted` ([`Engine::finish`] deletes what its session reserved).
    pub(super) fn abort_upload(&mut self, now_ms: u64, file: FileId) {
        let aborted = Err(Error::new(ErrorCode::Aborted, "the upload was aborted"));
        self.finish(now_ms, file, aborted);
    }

    /// Ends an upload: cancels its requests, flushes progress, emits `Finished`, forgets it.
    /// An upload that ends for good (aborted, with an error no later resume gets past:
    /// `keeps_record`, or with any error when it saves no record to resume from) before its
    /// session completed leaves nothing: the asset the session reserved holds no media and
    /// never will, so it is deleted (else it would stay `processing`). Once the session
    /// completed (the caller was only waiting for processing) the asset is whole and is kept.
    /// Before a session exists there is nothing to delete yet (see
    /// [`Engine::finish_and_delete`]).
    pub(super) fn finish(&mut self, now_ms: u64, file: FileId, outcome: Result<Completion, Error>) {
        let reserved_asset = self.uploads.get(&file).and_then(|u| {
            let resumable = matches!(&outcome, Err(e) if crate::core::resume::keeps_record(e));
            let over_for_good = outcome.is_err() && !(resumable && u.saves_record);
            let incomplete = matches!(
                u.phase,
                Phase::Reconciling | Phase::Uploading | Phase::Confirming
            );
            (over_for_good && incomplete).then(|| u.asset_id.clone())
        });
        self.finish_and_delete(now_ms, file, outcome, reserved_asset);
    }

    /// [`Engine::finish`], deleting `delete_asset` once the upload's requests are cancelled. A
    /// session creation or direct upload in flight is not cancelled (its request may already
    /// have made an asset): it is abandoned, and whatever it creates is deleted when it ends.
    pub(super) fn finish_and_delete(
        &mut self,
        now_ms: u64,
        file: FileId,
        outcome: Result<Completion, Error>,
        delete_asset: Option<String>,
    ) {
        let Some(mut u) = self.uploads.remove(&file) else {
            return;
        };
        // The saved record lives until the upload is over for good (`keeps_record`).
        let resumable_later = matches!(&outcome, Err(e) if crate::core::resume::keeps_record(e));
        if u.has_session() && outcome.is_ok() && u.saves_record {
            let mut record = self.record_of(&u);
            record.completed = true;
            self.actions.push_back(Action::KeepCompleted {
                file,
                record: Box::new(record),
            });
        } else if u.has_session() && !(resumable_later && u.saves_record) {
            // Also for one that saves no record: none may outlive it.
            self.actions.push_back(Action::ForgetState { file });
        }
        // Oldest first (the map iterates in id order).
        let owned: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.file == file)
            .map(|(&id, _)| id)
            .collect();
        for request in owned {
            match self.requests.get_mut(&request) {
                Some(r)
                    if matches!(
                        r.kind,
                        RequestKind::Create | RequestKind::Direct { .. } | RequestKind::Abandoned
                    ) =>
                {
                    // Waited for without a bound: an asset it still creates must be deleted.
                    r.kind = RequestKind::Abandoned;
                    r.deadline_ms = None;
                }
                _ => self.cancel(request),
            }
        }
        if let Some(asset_id) = delete_asset {
            self.delete_asset(asset_id);
        }
        u.progress.update(now_ms, u.counts(0));
        self.actions.push_back(Action::Finished {
            file,
            outcome,
            progress: u.progress.snapshot(),
        });
        self.release_grant_request();
    }
}
