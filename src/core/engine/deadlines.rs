//! Requests the engine stops waiting for: the stall watchdog (a PUT, an API call or a direct
//! upload with no answer within its bound), and API reads and reports cut off by the network.
//!
//! A request given up on is cancelled and its outcome is a network error, fed to the request's
//! own handler: the same retry rules then apply as to any failure, and the late answer, if one
//! still comes, is ignored. A session creation is the exception: it is abandoned, not cancelled,
//! so that a session it still makes has its asset deleted.

use super::io::{Action, Input, RequestId};
use super::state::RequestKind;
use super::Engine;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::HttpOutcome;

impl Engine {
    /// How long a request may go without an answer (`None`: local work, which cannot hang).
    /// A body (a chunk, a direct upload) gets the time it should take at the observed speed,
    /// with the watchdog's tolerance; every other call gets the watchdog's minimum.
    pub(super) fn request_bound_ms(&self, kind: &RequestKind) -> Option<u64> {
        match *kind {
            RequestKind::Put { bytes, .. } | RequestKind::Direct { bytes } => {
                Some(self.stall_bound_ms(bytes, self.puts_in_flight + 1))
            }
            // Local work cannot hang; an abandoned creation's answer is waited for, however late,
            // so that an asset it still creates is deleted.
            RequestKind::Fingerprint | RequestKind::Abandoned => None,
            RequestKind::Urls
            | RequestKind::Report { .. }
            | RequestKind::Status
            | RequestKind::Asset
            | RequestKind::Create => Some(self.config.stall.min_ms),
        }
    }

    /// The watchdog's bound for `bytes` still to go while `puts_in_flight` PUTs share the link.
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

    /// Gives up on every request past its deadline, oldest first.
    pub(super) fn check_deadlines(&mut self, now_ms: u64) {
        let overdue: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline_ms.is_some_and(|d| d <= now_ms))
            .map(|(&id, _)| id)
            .collect();
        for request in overdue {
            self.give_up(now_ms, request, "no answer within the watchdog's bound");
        }
    }

    /// The network is back after `Offline`: an answer to a read or report sent before it went
    /// away may never come (a connection kept open across the outage can hang), and sending one
    /// again is harmless, so each is sent again at once. A session creation is not (a second
    /// one could make a second session); its deadline bounds it. Chunk PUTs keep their own
    /// watchdog, so that a flapping network does not restart whole chunks.
    pub(super) fn give_up_on_requests_cut_off(&mut self, now_ms: u64) {
        let cut_off: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.kind,
                    RequestKind::Urls
                        | RequestKind::Report { .. }
                        | RequestKind::Status
                        | RequestKind::Asset
                )
            })
            .map(|(&id, _)| id)
            .collect();
        for request in cut_off {
            self.give_up(now_ms, request, "sent before the network went away");
        }
    }

    /// Cancels `request` and feeds the engine a network error as its outcome (`why` names the
    /// cause in a stalled chunk's retry). A session creation is not cancelled but abandoned
    /// ([`Engine::creation_timed_out`]).
    fn give_up(&mut self, now_ms: u64, request: RequestId, why: &str) {
        let Some(in_flight) = self.requests.get(&request) else {
            return;
        };
        let kind = in_flight.kind.clone();
        let file = in_flight.file;
        if matches!(kind, RequestKind::Create) {
            return self.creation_timed_out(now_ms, request);
        }
        self.actions.push_back(Action::Cancel { request });
        let lost = HttpOutcome::network_error();
        let input = match kind {
            RequestKind::Put { chunk_index, .. } => {
                self.take_request(request);
                let cause = Error::new(
                    ErrorCode::UpstreamUnavailable,
                    format!("chunk {chunk_index} stalled: {why}"),
                );
                return self.retry_chunk(now_ms, file, chunk_index, None, cause);
            }
            RequestKind::Urls => Input::UrlsDone {
                request,
                result: Err(lost),
            },
            RequestKind::Report { .. } => Input::ReportDone {
                request,
                result: Err(lost),
            },
            RequestKind::Status => Input::StatusDone {
                request,
                result: Err(lost),
            },
            RequestKind::Asset => Input::AssetDone {
                request,
                result: Err(lost),
            },
            RequestKind::Create | RequestKind::Abandoned => Input::SessionCreated {
                request,
                result: Err(lost),
            },
            RequestKind::Direct { .. } => Input::DirectUploadDone {
                request,
                result: Err(lost),
            },
            RequestKind::Fingerprint => Input::FingerprintRead { request },
        };
        self.apply(now_ms, input);
    }
}
