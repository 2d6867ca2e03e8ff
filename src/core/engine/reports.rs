//! Reporting acknowledged chunks: batching, debounce and outcomes.

use super::io::{Action, FileId, RequestId};
use super::state::{ChunkState, InFlight, Phase, RequestKind};
use super::Engine;
use crate::core::retry::{HttpOutcome, Operation};
use crate::core::wire::{limits, CompletedChunk, ProofType, ReportChunksResponse};

impl Engine {
    pub(super) fn on_report_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<ReportChunksResponse, HttpOutcome>,
    ) {
        let Some(InFlight {
            file,
            kind: RequestKind::Report { indices },
            ..
        }) = self.take_request(request)
        else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.report_lane.in_flight = None;
        match result {
            Ok(response) => {
                u.report_lane.failures = 0;
                u.progress.set_retrying(None);
                for index in indices {
                    if u.chunk(index).state == ChunkState::Reporting(request) {
                        u.chunk_mut(index).state = ChunkState::Reported;
                    }
                }
                u.advance_frontier();
                if response.completes(u.plan.total_chunks()) {
                    u.server_confirmed = true;
                }
                if let Some(url) = response.completion_url() {
                    u.completion_url = Some(url.to_owned());
                }
                u.dirty = true;
                u.throttle.mark();
            }
            Err(outcome) => {
                for index in indices {
                    if u.chunk(index).state == ChunkState::Reporting(request) {
                        u.chunk_mut(index).state = ChunkState::Acked;
                    }
                }
                self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.report_lane,
                    Operation::Report,
                    &outcome,
                );
            }
        }
    }

    pub(super) fn drive_reports(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let debounce = self.config.report_debounce_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        // After a restore, or an answer saying the session is over, the server's status
        // decides first what still needs reporting.
        if u.phase == Phase::Reconciling || u.session_over.is_some() || !u.report_lane.ready(now_ms)
        {
            return;
        }
        let waiting: Vec<u32> = u
            .indices()
            .filter(|&i| u.chunk(i).state == ChunkState::Acked)
            .collect();
        let Some(oldest) = waiting.iter().map(|&i| u.chunk(i).acked_at_ms).min() else {
            return;
        };
        let due = waiting.len() >= limits::MAX_BATCH as usize
            || now_ms >= oldest.saturating_add(debounce)
            || !u.has_work_left_to_put()
            || u.phase != Phase::Uploading
            // Paused: no companion is coming, and the pause settles once this is reported.
            || u.held();
        if !due {
            return;
        }
        let batch: Vec<u32> = waiting
            .into_iter()
            .take(limits::MAX_BATCH as usize)
            .collect();
        let chunks: Vec<CompletedChunk> = batch
            .iter()
            .map(|&i| CompletedChunk {
                chunk_index: i,
                proof: u.chunk(i).etag.clone().unwrap_or_default(),
                proof_type: ProofType::Etag,
                chunk_size: u.plan.chunk_len(i),
            })
            .collect();
        let request = self.new_request(
            now_ms,
            file,
            RequestKind::Report {
                indices: batch.clone(),
            },
        );
        if let Some(u) = self.uploads.get_mut(&file) {
            u.report_lane.in_flight = Some(request);
            for i in batch {
                u.chunk_mut(i).state = ChunkState::Reporting(request);
            }
        }
        self.actions.push_back(Action::Report {
            request,
            file,
            chunks,
        });
    }
}
