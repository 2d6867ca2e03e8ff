//! Presigned-URL requests: when to ask, how many, and what to keep from the answer.

use super::io::{Action, FileId, RequestId};
use super::state::{ChunkState, InFlight, Phase, RequestKind};
use super::Engine;
use crate::core::clock::parse_server_time;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{HttpOutcome, Operation};
use crate::core::urls::UrlBatch;
use crate::core::wire::{limits, PresignedUrlsResponse};

impl Engine {
    pub(super) fn on_urls_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<PresignedUrlsResponse, HttpOutcome>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.url_lane.in_flight = None;
        let response = match result {
            Ok(response) => response,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.url_lane,
                    Operation::RequestUrls,
                    &outcome,
                )
            }
        };
        // Server times are compared with server times: `generated_at` dates this batch on the
        // server's clock at the moment it arrived here.
        if let Some(generated) = response.generated_at.as_deref().and_then(parse_server_time) {
            self.clock.observe(generated, now_ms);
        }
        let margin = self.config.url_expiry_margin_ms;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        let plan = u.plan;
        let chunks = &u.chunks;
        let inserted = u
            .urls
            .insert(&response.upload_urls, &self.clock, now_ms, margin, |i| {
                plan.contains(i)
                    && chunks
                        .get((i - 1) as usize)
                        .is_some_and(|c| c.state == ChunkState::Pending)
            });
        if inserted.accepted > 0 || inserted.refused == 0 && !response.upload_urls.is_empty() {
            u.url_lane.failures = 0;
            u.progress.set_retrying(None);
        } else {
            // Nothing usable came back (already used, already expired, or an empty list): wait
            // before asking again so a confused server cannot make us spin.
            let cause = Error::new(
                ErrorCode::ServerInvalid,
                format!(
                    "the server returned no usable presigned URL for chunks {}..{}",
                    response.start_index,
                    response.start_index.saturating_add(response.count)
                ),
            );
            self.lane_retry(now_ms, file, |u| &mut u.url_lane, None, cause);
        }
    }

    pub(super) fn drive_urls(&mut self, now_ms: u64, file: FileId) {
        if !self.online {
            return;
        }
        let lookahead = self.config.effective_lookahead();
        let budget_free = self.puts_in_flight < self.config.concurrency;
        let speed = match self.speed.bytes_per_second() {
            0 => self.config.stall.fallback_bytes_per_second,
            measured => measured,
        };
        let uploading = self
            .uploads
            .values()
            .filter(|u| u.phase == Phase::Uploading && !u.paused)
            .count() as u64;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        if u.paused || u.phase != Phase::Uploading || !u.url_lane.ready(now_ms) {
            return;
        }
        u.urls.drop_expiring(now_ms);
        let u = &*u;
        let upcoming = u
            .indices()
            .filter(|&i| u.chunk(i).state == ChunkState::Pending);
        // Urgent: a slot is free and a due chunk waits for nothing but its URL.
        let urgent = budget_free
            && u.indices().any(|i| {
                let c = u.chunk(i);
                c.state == ChunkState::Pending
                    && c.not_before_ms <= now_ms
                    && !u.urls.has_usable(i, now_ms)
            });
        let batch_limit = url_batch_limit(
            u.urls.last_usable_lifetime_ms(),
            speed / uploading.max(1),
            u.plan.chunk_size(),
            lookahead,
        );
        let Some(UrlBatch { start, count }) =
            u.urls
                .plan_request(upcoming, lookahead, batch_limit, now_ms, urgent)
        else {
            return;
        };
        let request = self.new_request(now_ms, file, RequestKind::Urls);
        if let Some(u) = self.uploads.get_mut(&file) {
            u.url_lane.in_flight = Some(request);
        }
        self.actions.push_back(Action::RequestUrls {
            request,
            file,
            start,
            count,
        });
    }
}

/// How many URLs one presigned-URL request may ask for: 50 (the API's maximum, so that a GiB
/// costs a handful of requests), but no more than this upload can start before they expire at
/// its share of the observed speed, and never fewer than the lookahead. `lifetime_ms` is the
/// usable lifetime of the last batch (unknown before the first one: the lookahead is asked for).
pub(super) fn url_batch_limit(
    lifetime_ms: Option<u64>,
    bytes_per_second: u64,
    chunk_size: u64,
    lookahead: u32,
) -> u32 {
    let Some(lifetime_ms) = lifetime_ms else {
        return lookahead;
    };
    // In u64, not u128: 128-bit division costs the browser package 1 KB of compiler builtins. A
    // product past u64 (18 EB·ms/s) means at least 2^64 / 1000 / chunk_size usable chunks, far
    // past the cap for any chunk under 369 TB, so it reads as "no limit".
    let usable_chunks = lifetime_ms
        .checked_mul(bytes_per_second)
        .map_or(u64::MAX, |bytes| bytes / 1_000 / chunk_size.max(1));
    let usable_chunks = u32::try_from(usable_chunks).unwrap_or(u32::MAX);
    usable_chunks.clamp(lookahead.min(limits::MAX_BATCH), limits::MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule in exact 128-bit arithmetic.
    fn reference(lifetime_ms: u64, bytes_per_second: u64, chunk_size: u64, lookahead: u32) -> u32 {
        let usable = u128::from(lifetime_ms) * u128::from(bytes_per_second)
            / 1_000
            / u128::from(chunk_size.max(1));
        u32::try_from(usable)
            .unwrap_or(u32::MAX)
            .clamp(lookahead.min(limits::MAX_BATCH), limits::MAX_BATCH)
    }

    #[test]
    fn batch_limit_agrees_with_exact_arithmetic_up_to_the_largest_chunks() {
        const GIB: u64 = 1 << 30;
        let lifetimes = [
            0,
            1,
            999,
            1_000,
            60_000,
            3_600_000,
            7 * 86_400_000,
            u64::MAX / 2,
            u64::MAX,
        ];
        let speeds = [
            0,
            1,
            1_000,
            5 << 20,
            100 << 20,
            10 * GIB,
            u64::MAX / 3,
            u64::MAX,
        ];
        let chunks = [0, 1, 5 << 20, 100 << 20, 5 * GIB, 1 << 48];
        for lifetime in lifetimes {
            for speed in speeds {
                for chunk in chunks {
                    for lookahead in [0, 4, 50, 80] {
                        assert_eq!(
                            url_batch_limit(Some(lifetime), speed, chunk, lookahead),
                            reference(lifetime, speed, chunk, lookahead),
                            "lifetime {lifetime} ms, {speed} B/s, chunk {chunk}, lookahead {lookahead}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn batch_limit_without_a_lifetime_is_the_lookahead() {
        assert_eq!(url_batch_limit(None, 1 << 30, 5 << 20, 7), 7);
    }
}
