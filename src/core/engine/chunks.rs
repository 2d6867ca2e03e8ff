//! Chunk PUTs: scheduling within the concurrency budget, outcomes, retries, the stall watchdog
//! and pausing.

use super::config::PauseMode;
use super::io::{Action, FileId, RequestId};
use super::state::{ChunkState, InFlight, Phase, RequestKind};
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{
    backoff_delay_ms, classify, session_no_longer_active, HttpOutcome, Operation, Verdict,
};

impl Engine {
    pub(super) fn on_put_progress(&mut self, now_ms: u64, request: RequestId, bytes_sent: u64) {
        let Some(&InFlight {
            kind: RequestKind::Put { bytes, sent, .. },
            ..
        }) = self.requests.get(&request)
        else {
            return;
        };
        let new_sent = bytes_sent.min(bytes);
        if new_sent <= sent {
            return;
        }
        // Bytes are moving: the watchdog measures from this sign of life.
        let deadline_ms =
            now_ms.saturating_add(self.stall_bound_ms(bytes - new_sent, self.puts_in_flight));
        if let Some(InFlight {
            kind: RequestKind::Put { sent, .. },
            file,
            deadline_ms: deadline,
        }) = self.requests.get_mut(&request)
        {
            *sent = new_sent;
            *deadline = Some(deadline_ms);
            let file = *file;
            if let Some(u) = self.uploads.get_mut(&file) {
                u.throttle.mark();
            }
        }
    }

    pub(super) fn on_put_done(&mut self, now_ms: u64, request: RequestId, outcome: HttpOutcome) {
        let Some(InFlight {
            file,
            kind: RequestKind::Put {
                chunk_index, bytes, ..
            },
            ..
        }) = self.take_request(request)
        else {
            return;
        };
        if !self.uploads.contains_key(&file) {
            return;
        }
        if session_no_longer_active(Operation::StoragePut, &outcome) {
            return self.on_storage_gone(file, chunk_index, &outcome);
        }
        match classify(Operation::StoragePut, &outcome) {
            Verdict::Success { etag } => {
                self.speed.record(now_ms, bytes);
                let Some(u) = self.uploads.get_mut(&file) else {
                    return;
                };
                u.reset_attempts();
                u.progress.set_retrying(None);
                let chunk = u.chunk_mut(chunk_index);
                chunk.state = ChunkState::Acked;
                chunk.etag = etag;
                chunk.acked_at_ms = now_ms;
                u.dirty = true;
                u.throttle.mark();
            }
            // `refresh_url` needs no extra step: `retry_chunk` always drops the chunk's URL
            // (a URL is used once), so every retry gets a fresh one.
            Verdict::Retry {
                not_before_ms,
                cause,
                ..
            } => self.retry_chunk(now_ms, file, chunk_index, not_before_ms, cause),
            Verdict::Fatal(error) => self.finish(now_ms, file, Err(error)),
        }
    }

    /// The storage no longer knows the upload: the chunk waits, uncounted, until the session's
    /// status says why.
    fn on_storage_gone(&mut self, file: FileId, index: u32, outcome: &HttpOutcome) {
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.urls.discard(index);
        let chunk = u.chunk_mut(index);
        chunk.state = ChunkState::Pending;
        chunk.etag = None;
        let detail = outcome.message.as_deref().unwrap_or_default();
        let error = Error::new(
            ErrorCode::StorageRejected,
            format!(
                "the storage no longer knows upload {} (NoSuchUpload: {detail}) while the server \
                 lists the session as active",
                u.upload_id
            ),
        )
        .with_status(404);
        self.ask_whether_the_session_is_over(file, error);
    }

    /// Puts a chunk back in the queue after a failed or stalled PUT. Its URL is gone (used once);
    /// a fresh one is requested.
    pub(super) fn retry_chunk(
        &mut self,
        now_ms: u64,
        file: FileId,
        index: u32,
        retry_after: Option<u64>,
        cause: Error,
    ) {
        let online = self.online;
        let policy = self.config.put_backoff;
        let random = self.jitter.next_u64();
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.urls.discard(index);
        u.throttle.mark();
        let chunk = u.chunk_mut(index);
        chunk.state = ChunkState::Pending;
        chunk.etag = None;
        if !online {
            // Expected while offline: try again as soon as the network is back, uncounted.
            chunk.not_before_ms = now_ms;
            return;
        }
        chunk.attempts += 1;
        if chunk.attempts >= policy.max_attempts {
            let error = Error {
                code: ErrorCode::RetriesExhausted,
                message: format!(
                    "chunk {index} failed {} times without progress; last error: {}",
                    chunk.attempts, cause
                ),
                status: cause.status,
            };
            self.finish(now_ms, file, Err(error));
            return;
        }
        let delay_ms = backoff_delay_ms(&policy, chunk.attempts, random, retry_after);
        chunk.not_before_ms = now_ms + delay_ms;
        let attempt = chunk.attempts;
        u.show_retry(attempt, delay_ms, &cause);
    }

    pub(super) fn on_pause(&mut self, file: Option<FileId>) {
        let abort = self.config.pause_mode == PauseMode::AbortInFlight;
        for id in self.targets(file) {
            let Some(u) = self.uploads.get_mut(&id) else {
                continue;
            };
            u.paused = true;
            if !abort {
                continue;
            }
            let in_flight: Vec<(u32, RequestId)> = u
                .indices()
                .filter_map(|i| match u.chunk(i).state {
                    ChunkState::Uploading(r) => Some((i, r)),
                    _ => None,
                })
                .collect();
            for (index, request) in in_flight {
                if let Some(u) = self.uploads.get_mut(&id) {
                    let chunk = u.chunk_mut(index);
                    // Not a failure: the chunk simply goes back in line, uncounted.
                    chunk.state = ChunkState::Pending;
                    chunk.not_before_ms = 0;
                }
                self.cancel(request);
            }
        }
    }

    /// Fills the global budget: lowest file first, lowest chunk first, among chunks that are
    /// due and hold a usable URL.
    pub(super) fn schedule_puts(&mut self, now_ms: u64) {
        if !self.online {
            return;
        }
        let files: Vec<FileId> = self.uploads.keys().copied().collect();
        for file in files {
            loop {
                if self.puts_in_flight >= self.config.concurrency {
                    return;
                }
                let Some(u) = self.uploads.get_mut(&file) else {
                    break;
                };
                if u.paused || u.phase != Phase::Uploading {
                    break;
                }
                let next = u.indices().find(|&i| {
                    let c = u.chunk(i);
                    c.state == ChunkState::Pending
                        && c.not_before_ms <= now_ms
                        && u.urls.has_usable(i, now_ms)
                });
                let Some(index) = next else {
                    break;
                };
                let (Some(range), Some(url)) = (u.plan.range(index), u.urls.take(index, now_ms))
                else {
                    break;
                };
                let request = self.new_request(
                    now_ms,
                    file,
                    RequestKind::Put {
                        chunk_index: index,
                        bytes: range.len(),
                        sent: 0,
                    },
                );
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.chunk_mut(index).state = ChunkState::Uploading(request);
                }
                self.actions.push_back(Action::Put {
                    request,
                    file,
                    chunk_index: index,
                    url,
                    range,
                });
            }
        }
    }
}
