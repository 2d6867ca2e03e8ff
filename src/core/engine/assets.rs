//! Asset polling after the upload, and waiting for an asset outside an upload.

use serde::{Deserialize, Serialize};

use super::io::{Completion, RequestId};
use super::state::InFlight;
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{HttpOutcome, Operation};
use crate::core::wire::{Asset, AssetStatus};

/// How the asset is polled after the upload completed: delay `initial_ms · 2^n`, capped at
/// `max_ms`, minus up to 20 % jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetPollPolicy {
    /// Delay before the first poll and base of the backoff.
    pub initial_ms: u64,
    /// Longest delay between polls.
    pub max_ms: u64,
}

impl AssetPollPolicy {
    /// The wait after poll number `polls` (1 for the first) found the asset still processing:
    /// `initial_ms · 2^polls`, capped at `max_ms`, minus up to 20 % jitter drawn from `random`.
    pub fn delay_ms(&self, polls: u32, random: u64) -> u64 {
        let exponent = polls.min(20);
        let delay = self
            .initial_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_ms);
        delay - random % (delay / 5 + 1)
    }
}

impl Default for AssetPollPolicy {
    fn default() -> Self {
        AssetPollPolicy {
            initial_ms: 1_000,
            max_ms: 15_000,
        }
    }
}

impl Engine {
    pub(super) fn on_asset_done(
        &mut self,
        now_ms: u64,
        request: RequestId,
        result: Result<Asset, HttpOutcome>,
    ) {
        let Some(InFlight { file, .. }) = self.take_request(request) else {
            return;
        };
        let random = self.jitter.next_u64();
        let poll = self.config.asset_poll;
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        u.asset_lane.in_flight = None;
        let asset = match result {
            Ok(asset) => asset,
            Err(outcome) => {
                return self.lane_failure(
                    now_ms,
                    file,
                    |u| &mut u.asset_lane,
                    Operation::Asset,
                    &outcome,
                )
            }
        };
        u.asset_lane.failures = 0;
        u.asset_lane.grant_refreshed = false;
        u.progress.set_retrying(None);
        match asset_readiness(&asset) {
            Some(Ok(())) => {
                let completion = Completion {
                    asset_id: u.asset_id.clone(),
                    url: u.completion_url.clone(),
                    asset: Some(Box::new(asset)),
                };
                self.finish(now_ms, file, Ok(completion));
            }
            Some(Err(error)) => self.finish(now_ms, file, Err(error)),
            None => {
                u.asset_polls += 1;
                u.asset_lane.not_before_ms = now_ms + poll.delay_ms(u.asset_polls, random);
            }
        }
    }
}

/// Whether an asset is done processing: `Some(Ok)` when `ready`, `Some(Err(asset_failed))`
/// when `failed` (with the reason it gives), `None` while it is still processing.
pub fn asset_readiness(asset: &Asset) -> Option<Result<(), Error>> {
    match asset.status {
        AssetStatus::Ready => Some(Ok(())),
        AssetStatus::Failed => {
            let reason = asset
                .error
                .as_ref()
                .map_or("no reason given", |e| e.message.as_str());
            Some(Err(Error::new(
                ErrorCode::AssetFailed,
                format!("asset {} failed processing: {reason}", asset.id),
            )))
        }
        AssetStatus::Processing | AssetStatus::Waiting | AssetStatus::Unknown => None,
    }
}

/// What to do after a poll of an asset that is being waited for outside an upload.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum AssetWaitStep {
    /// The asset is ready.
    Ready,
    /// Stop with this error: processing failed, or the time limit would pass before the next
    /// poll (`retries_exhausted`).
    Fail(Error),
    /// Poll again after this many milliseconds.
    PollAfterMs(u64),
}

/// Waiting until an asset is ready outside an upload (`waitUntilReady`): the engine's jittered
/// asset polling ([`AssetPollPolicy::delay_ms`]), with an optional time limit. The adapter
/// polls, sleeps and stops as told.
#[derive(Debug, Clone)]
pub struct AssetWait {
    policy: AssetPollPolicy,
    started_ms: u64,
    timeout_ms: Option<u64>,
    polls: u32,
}

impl AssetWait {
    /// Starts waiting at `now_ms`, for at most `timeout_ms` when given.
    pub fn new(policy: AssetPollPolicy, now_ms: u64, timeout_ms: Option<u64>) -> Self {
        AssetWait {
            policy,
            started_ms: now_ms,
            timeout_ms,
            polls: 0,
        }
    }

    /// Decides after a poll (at `now_ms`) read `asset`; `random` draws the jitter.
    pub fn after(&mut self, asset: &Asset, now_ms: u64, random: u64) -> AssetWaitStep {
        match asset_readiness(asset) {
            Some(Ok(())) => AssetWaitStep::Ready,
            Some(Err(error)) => AssetWaitStep::Fail(error),
            None => {
                self.polls += 1;
                let delay = self.policy.delay_ms(self.polls, random);
                let waited = now_ms.saturating_sub(self.started_ms);
                match self.timeout_ms.map(|limit| limit.saturating_sub(waited)) {
                    // The time is up: this poll was the last.
                    Some(0) => AssetWaitStep::Fail(Error::new(
                        ErrorCode::RetriesExhausted,
                        format!("asset {} was not ready in time", asset.id),
                    )),
                    // The last poll lands on the limit rather than giving up before it.
                    Some(left) => AssetWaitStep::PollAfterMs(delay.min(left)),
                    None => AssetWaitStep::PollAfterMs(delay),
                }
            }
        }
    }
}
