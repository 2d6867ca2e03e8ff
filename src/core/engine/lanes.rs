//! Failures of the API request lanes (URLs, reports, status, asset): backoff or give up.

use super::io::FileId;
use super::state::{Lane, Upload};
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{
    backoff_delay_ms, classify, session_no_longer_active, wants_fresh_grant, HttpOutcome,
    Operation, Verdict,
};

impl Engine {
    /// Records a failed API request on a lane: backoff, or the upload fails when retries run out
    /// or the verdict is fatal. An asset read refused with a 401 first asks for a fresh grant,
    /// when the grant is renewable ([`wants_fresh_grant`]).
    pub(super) fn lane_failure(
        &mut self,
        now_ms: u64,
        file: FileId,
        lane_of: fn(&mut Upload) -> &mut Lane,
        operation: Operation,
        outcome: &HttpOutcome,
    ) {
        let renewable = self.config.renewable_grant && operation == Operation::Asset;
        if let Some(u) = self.uploads.get_mut(&file) {
            let lane = lane_of(u);
            lane.grant_refreshed = renewable && wants_fresh_grant(outcome, lane.grant_refreshed);
            if lane.grant_refreshed {
                // Sent again at once, once a fresh grant is at hand.
                lane.not_before_ms = now_ms;
                return self.grant_refused();
            }
        }
        match classify(operation, outcome) {
            Verdict::Fatal(error) if session_no_longer_active(operation, outcome) => {
                self.ask_whether_the_session_is_over(file, error)
            }
            Verdict::Success { .. } => {
                // A success reported as a failure (a 2xx without a readable body) is classified
                // as a retry by `classify`; nothing else reaches here.
                let error = Error::new(
                    ErrorCode::Internal,
                    "an API success was reported as a failure",
                );
                self.finish(now_ms, file, Err(error));
            }
            Verdict::Retry {
                not_before_ms,
                cause,
                ..
            } => self.lane_retry(now_ms, file, lane_of, not_before_ms, cause),
            Verdict::Fatal(error) => self.finish(now_ms, file, Err(error)),
        }
    }

    pub(super) fn lane_retry(
        &mut self,
        now_ms: u64,
        file: FileId,
        lane_of: fn(&mut Upload) -> &mut Lane,
        retry_after: Option<u64>,
        cause: Error,
    ) {
        let online = self.online;
        let policy = self.config.api_backoff;
        let random = self.jitter.next_u64();
        let Some(u) = self.uploads.get_mut(&file) else {
            return;
        };
        let lane = lane_of(u);
        if !online {
            lane.not_before_ms = now_ms;
            return;
        }
        lane.failures += 1;
        if lane.failures >= policy.max_attempts {
            let error = Error {
                code: ErrorCode::RetriesExhausted,
                message: format!(
                    "gave up after {} attempts; last error: {}",
                    lane.failures, cause
                ),
                status: cause.status,
            };
            self.finish(now_ms, file, Err(error));
            return;
        }
        let delay_ms = backoff_delay_ms(&policy, lane.failures, random, retry_after);
        lane.not_before_ms = now_ms + delay_ms;
        let attempt = lane.failures;
        u.show_retry(attempt, delay_ms, &cause);
    }
}
