//! Chunk PUTs: scheduling within the concurrency budget, outcomes, retries, the stall watchdog
//! and pausing.

use super::config::PauseMode;
use super::io::{Action, FileId, RequestId};
use super::state::{ChunkState, InFlight, Phase, RequestKind};
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{backoff_delay_ms, classify, HttpOutcome, Operation, Verdict};

impl Engine {
    pub(super) fn on_put_progress(&mut self, now_ms: u64, request: RequestId, bytes_sent: u64) {
        let in_flight = self.puts_in_flight;
        let bound = |bytes: u64, this: &Engine| this.stall_bound_ms(bytes, in_flight);
        let Some(InFlight {
            kind: RequestKind::Put { bytes, sent, .. },
            ..
        }) = self.requests.get(&request).cloned()
        else {
            return;
        };
        let new_sent = bytes_sent.min(bytes);
        let remaining_bound = bound(bytes - new_sent, self);
        if let Some(InFlight {
            kind: RequestKind::Put {
                sent, deadline_ms, ..
            },
            file,
        }) = self.requests.get_mut(&request)
        {
            if new_sent > *sent {
                *sent = new_sent;
                // Bytes are moving: the watchdog measures from this sign of life.
                *deadline_ms = now_ms.saturating_add(remaining_bound);
                let file = *file;
                if let Some(u) = self.uploads.get_mut(&file) {
                    u.throttle.mark();
                }
            }
        }
        let _ = sent;
    }

    pub(super) fn on_put_done(&mut self, now_ms: u64, request: RequestId, outcome: HttpOutcome) {
        let Some(InFlight {
            file,
            kind: RequestKind::Put {
                chunk_index, bytes, ..
            },
        }) = self.take_request(request)
        else {
            return;
        };
        if !self.uploads.contains_key(&file) {
            return;
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
        if chunk.attempts > policy.max_attempts {
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

    pub(super) fn stall_bound_ms(&self, bytes: u64, puts_in_flight: u32) -> u64 {
        let policy = &self.config.stall;
        let speed = match self.speed.bytes_per_second() {
            0 => policy.fallback_bytes_per_second,
            measured => measured,
        };
        let expected = bytes
            .saturating_mul(u64::from(puts_in_flight.max(1)))
            .saturating_mul(1_000)
            / speed;
        expected
            .saturating_mul(policy.factor)
            .clamp(policy.min_ms, policy.max_ms)
    }

    pub(super) fn check_stalls(&mut self, now_ms: u64) {
        // Oldest first (the map iterates in id order).
        let stalled: Vec<(RequestId, FileId, u32)> = self
            .requests
            .iter()
            .filter_map(|(&id, r)| match r.kind {
                RequestKind::Put {
                    chunk_index,
                    deadline_ms,
                    ..
                } if deadline_ms <= now_ms => Some((id, r.file, chunk_index)),
                _ => None,
            })
            .collect();
        for (request, file, index) in stalled {
            self.cancel(request);
            let cause = Error::new(
                ErrorCode::UpstreamUnavailable,
                format!("chunk {index} stalled: no completion within the watchdog's bound"),
            );
            self.retry_chunk(now_ms, file, index, None, cause);
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
                let bound = self.stall_bound_ms(range.len(), self.puts_in_flight + 1);
                let request = self.new_request(
                    file,
                    RequestKind::Put {
                        chunk_index: index,
                        bytes: range.len(),
                        sent: 0,
                        deadline_ms: now_ms.saturating_add(bound),
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
