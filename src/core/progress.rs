//! Progress of one upload: bytes sent, acknowledged by storage, reported to the API; chunk
//! counts; speed (an exponential moving average over time), ETA, and whether a request waits to
//! be retried.
//!
//! Users complain about progress that jumps, freezes, goes backwards or passes 100 %, and about
//! bars that show full for an upload that failed. So every byte counter here is a high-water
//! mark clamped to the total: a chunk that fails half-way and starts over does not pull "sent"
//! back, and a duplicate acknowledgement cannot push anything past the total. The total is the
//! file's size from the first moment ([`Progress::starting`]), and the fraction is the
//! acknowledged share: 0 until storage acknowledged bytes, whatever happens before. Speed and
//! ETA are unknown (`None`) until measured and while the upload is halted (paused or offline),
//! never a stale number. Emission is throttled by a caller-chosen interval ([`Throttle`]).

use crate::core::error::ErrorCode;

/// A progress snapshot, as handed to the application.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// The file's size.
    pub total_bytes: u64,
    /// Bytes handed to the network: the acknowledged bytes plus the bodies of the PUTs in
    /// flight (their part already sent, when the adapter can observe it). Never decreases, so a
    /// PUT that fails keeps its bytes counted.
    pub sent_bytes: u64,
    /// Bytes of chunks the storage acknowledged with an ETag.
    pub acknowledged_bytes: u64,
    /// Bytes of chunks the API confirmed as reported.
    pub reported_bytes: u64,
    /// The number of chunks (0 until the chunk plan is known).
    pub total_chunks: u32,
    /// Chunks acknowledged by storage.
    pub acknowledged_chunks: u32,
    /// Chunks reported to the API.
    pub reported_chunks: u32,
    /// Smoothed upload speed, bytes per second: `None` until measured and while halted.
    pub bytes_per_second: Option<u64>,
    /// Estimated milliseconds until every byte is acknowledged: `None` while the speed is
    /// unknown or the upload is halted; 0 when done.
    pub eta_ms: Option<u64>,
    /// Set while a request of this upload waits to be retried after a failure.
    pub retrying: Option<Retrying>,
}

/// A request waiting to be retried: which attempt comes next, after how long, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    /// The retry about to be made (1 for the first retry).
    pub attempt: u32,
    /// The wait before it, in milliseconds, as decided when the request failed.
    pub delay_ms: u64,
    /// The code of the failure being retried.
    pub error_code: ErrorCode,
}

/// The share of `total_bytes` that `done_bytes` is, in `[0, 1]`: what every progress figure shows
/// (an upload's, a queue's, a saved upload's); 0 for an empty total (nothing to show, not "all
/// done").
pub fn fraction(done_bytes: u64, total_bytes: u64) -> f64 {
    if total_bytes == 0 {
        return 0.0;
    }
    done_bytes as f64 / total_bytes as f64
}

impl Progress {
    /// The progress of a file of `total_bytes` before anything is known or sent.
    pub fn starting(total_bytes: u64) -> Progress {
        Progress {
            total_bytes,
            ..Progress::default()
        }
    }

    /// Acknowledged share of the file ([`fraction`]).
    pub fn fraction(&self) -> f64 {
        fraction(self.acknowledged_bytes, self.total_bytes)
    }

    /// The final progress of an upload that completed: every byte and chunk acknowledged and
    /// reported, nothing left to wait for.
    pub fn finished(self) -> Progress {
        Progress {
            sent_bytes: self.total_bytes,
            acknowledged_bytes: self.total_bytes,
            reported_bytes: self.total_bytes,
            acknowledged_chunks: self.total_chunks,
            reported_chunks: self.total_chunks,
            eta_ms: Some(0),
            retrying: None,
            ..self
        }
    }

    /// The final progress of an upload that failed or was aborted: the counters stay where
    /// they were; nothing is moving or being retried any more.
    pub fn stopped(self) -> Progress {
        Progress {
            bytes_per_second: None,
            eta_ms: None,
            retrying: None,
            ..self
        }
    }
}

/// Keeps the monotonic counters and the speed estimate of one upload.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressTracker {
    snapshot: Progress,
    speed: SpeedEstimator,
    halted: bool,
}

impl ProgressTracker {
    /// A tracker for a file of `total_bytes` in `total_chunks` chunks.
    pub fn new(total_bytes: u64, total_chunks: u32, speed_time_constant_ms: u64) -> Self {
        ProgressTracker {
            snapshot: Progress {
                total_chunks,
                ..Progress::starting(total_bytes)
            },
            speed: SpeedEstimator::new(speed_time_constant_ms),
            halted: false,
        }
    }

    /// Sets the counters from the engine's current view. Each counter only ever grows and never
    /// passes its total; newly acknowledged bytes feed the speed estimate.
    pub fn update(&mut self, now_ms: u64, counts: ProgressCounts) {
        let s = &mut self.snapshot;
        let total = s.total_bytes;
        let acknowledged = counts
            .acknowledged_bytes
            .min(total)
            .max(s.acknowledged_bytes);
        let newly_acknowledged = acknowledged - s.acknowledged_bytes;
        s.acknowledged_bytes = acknowledged;
        s.sent_bytes = counts
            .sent_bytes
            .max(acknowledged)
            .min(total)
            .max(s.sent_bytes);
        s.reported_bytes = counts.reported_bytes.min(total).max(s.reported_bytes);
        s.acknowledged_chunks = counts
            .acknowledged_chunks
            .min(s.total_chunks)
            .max(s.acknowledged_chunks);
        s.reported_chunks = counts
            .reported_chunks
            .min(s.total_chunks)
            .max(s.reported_chunks);
        if acknowledged == total {
            // The transfer is over: its last bytes count however short their sample, and the
            // speed stays what the transfer measured while the asset is finalised and processed.
            if newly_acknowledged > 0 {
                self.speed.record_last(now_ms, newly_acknowledged);
            }
        } else {
            self.speed.record(now_ms, newly_acknowledged);
        }
    }

    /// Lets the speed decay while nothing is acknowledged (call on timer ticks). Once every byte
    /// is acknowledged nothing is sent any more, and the speed measured stays.
    pub fn tick(&mut self, now_ms: u64) {
        if self.snapshot.acknowledged_bytes < self.snapshot.total_bytes {
            self.speed.record(now_ms, 0);
        }
    }

    /// Halts (paused or offline) or restarts the upload. Returns whether that changed anything.
    /// A halted upload has no speed and no ETA; a restarted one measures its speed afresh, so a
    /// speed from before the halt never reappears.
    pub fn set_halted(&mut self, halted: bool) -> bool {
        if self.halted == halted {
            return false;
        }
        self.halted = halted;
        self.speed = SpeedEstimator::new(self.speed.time_constant_ms as u64);
        true
    }

    /// Sets (or clears, with `None`) the retry a request of this upload waits for. Returns
    /// whether that changed anything.
    pub fn set_retrying(&mut self, retrying: Option<Retrying>) -> bool {
        let changed = self.snapshot.retrying != retrying;
        self.snapshot.retrying = retrying;
        changed
    }

    /// The current snapshot with speed and ETA filled in.
    pub fn snapshot(&self) -> Progress {
        let mut p = self.snapshot;
        let remaining = p.total_bytes - p.acknowledged_bytes;
        if self.halted {
            p.bytes_per_second = None;
            p.eta_ms = None;
            return p;
        }
        p.bytes_per_second = self.speed.measured_bytes_per_second();
        p.eta_ms = if remaining == 0 {
            Some(0)
        } else {
            p.bytes_per_second
                .and_then(|speed| remaining.saturating_mul(1_000).checked_div(speed))
        };
        p
    }
}

/// Raw counters computed by the engine; [`ProgressTracker::update`] makes them monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressCounts {
    /// Acknowledged bytes plus bytes of PUTs in flight that the adapter reported as sent.
    pub sent_bytes: u64,
    /// Bytes of chunks with an ETag.
    pub acknowledged_bytes: u64,
    /// Bytes of chunks the API confirmed.
    pub reported_bytes: u64,
    /// Chunks with an ETag.
    pub acknowledged_chunks: u32,
    /// Chunks the API confirmed.
    pub reported_chunks: u32,
}

/// Speed as a time-weighted exponential moving average of the acknowledged byte rate.
///
/// Bytes are accumulated into samples of at least [`SpeedEstimator::MIN_SAMPLE_MS`] so that a
/// burst of acknowledgements in the same millisecond does not read as infinite speed; each sample
/// moves the average by `1 − e^(−Δt/τ)`, so the weight of a sample depends on the time it covers,
/// not on how often the caller asks.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedEstimator {
    time_constant_ms: f64,
    sample_start_ms: Option<u64>,
    sample_bytes: u64,
    average_bps: Option<f64>,
}

impl SpeedEstimator {
    /// Shortest interval that makes a speed sample.
    pub const MIN_SAMPLE_MS: u64 = 250;

    /// An estimator with smoothing time constant `τ` in milliseconds.
    pub fn new(time_constant_ms: u64) -> Self {
        SpeedEstimator {
            time_constant_ms: time_constant_ms.max(1) as f64,
            sample_start_ms: None,
            sample_bytes: 0,
            average_bps: None,
        }
    }

    /// Records `bytes` acknowledged at `now_ms` (0 bytes just lets time pass).
    pub fn record(&mut self, now_ms: u64, bytes: u64) {
        let Some(start) = self.sample_start_ms else {
            // The first call only starts the clock: there is no interval to measure yet.
            self.sample_start_ms = Some(now_ms);
            self.sample_bytes = bytes;
            return;
        };
        self.sample_bytes += bytes;
        let elapsed = now_ms.saturating_sub(start);
        if elapsed < Self::MIN_SAMPLE_MS {
            return;
        }
        self.fold(now_ms, elapsed);
    }

    /// Records the last `bytes` of a transfer at `now_ms`: the sample they end is counted however
    /// short it is (a transfer quicker than [`Self::MIN_SAMPLE_MS`] still has a speed).
    pub fn record_last(&mut self, now_ms: u64, bytes: u64) {
        let Some(start) = self.sample_start_ms else {
            return;
        };
        self.sample_bytes += bytes;
        let elapsed = now_ms.saturating_sub(start);
        if elapsed > 0 {
            self.fold(now_ms, elapsed);
        }
    }

    /// Folds the sample of `elapsed` ms ending at `now_ms` into the average. Before any byte has
    /// arrived there is nothing to measure: an empty sample only moves the clock on, so the speed
    /// stays unknown rather than reading 0 (a stalled first chunk, say).
    fn fold(&mut self, now_ms: u64, elapsed: u64) {
        if self.average_bps.is_none() && self.sample_bytes == 0 {
            self.sample_start_ms = Some(now_ms);
            return;
        }
        let rate = self.sample_bytes as f64 * 1_000.0 / elapsed as f64;
        let weight = 1.0 - (-(elapsed as f64) / self.time_constant_ms).exp();
        self.average_bps = Some(match self.average_bps {
            None => rate,
            Some(avg) => avg + weight * (rate - avg),
        });
        self.sample_start_ms = Some(now_ms);
        self.sample_bytes = 0;
    }

    /// The current estimate in bytes per second (0 until the first sample).
    pub fn bytes_per_second(&self) -> u64 {
        self.measured_bytes_per_second().unwrap_or(0)
    }

    /// The current estimate in bytes per second, `None` until the first sample.
    pub fn measured_bytes_per_second(&self) -> Option<u64> {
        self.average_bps.map(|v| v.round() as u64)
    }
}

/// Lets an event through at most once per interval, and remembers that one was held back so the
/// final state is never lost (the caller flushes it at the next deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    interval_ms: u64,
    last_emit_ms: Option<u64>,
    pending: bool,
    /// The change pending goes out at the next poll, whatever the interval.
    urgent: bool,
}

impl Throttle {
    /// A throttle that lets one event through per `interval_ms`.
    pub const fn new(interval_ms: u64) -> Self {
        Throttle {
            interval_ms,
            last_emit_ms: None,
            pending: false,
            urgent: false,
        }
    }

    /// Marks that something changed. Emission is decided by [`Throttle::poll`] (or
    /// [`Throttle::flush`]) once the caller has applied all of an input's effects, so a change
    /// is never both "due" and dropped because nobody looked at the answer.
    pub fn mark(&mut self) {
        self.pending = true;
    }

    /// Marks a change that goes out at the next poll, whatever the interval: one a user must
    /// see even when it lasts less than an interval (a request that waits to be retried).
    pub fn mark_urgent(&mut self) {
        self.pending = true;
        self.urgent = true;
    }

    /// Emits a held-back change if its interval has passed.
    pub fn poll(&mut self, now_ms: u64) -> bool {
        if !self.pending {
            return false;
        }
        let due = self.urgent
            || self
                .last_emit_ms
                .is_none_or(|last| now_ms >= last.saturating_add(self.interval_ms));
        if due {
            self.pending = false;
            self.urgent = false;
            self.last_emit_ms = Some(now_ms);
        }
        due
    }

    /// Emits regardless of the interval (final states), if anything is pending.
    pub fn flush(&mut self, now_ms: u64) -> bool {
        let was_pending = self.pending;
        self.pending = false;
        self.urgent = false;
        if was_pending {
            self.last_emit_ms = Some(now_ms);
        }
        was_pending
    }

    /// When a held-back change becomes due, if one is.
    pub fn deadline(&self) -> Option<u64> {
        if !self.pending {
            return None;
        }
        if self.urgent {
            return Some(0);
        }
        Some(
            self.last_emit_ms
                .map_or(0, |last| last.saturating_add(self.interval_ms)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(sent: u64, acked: u64, reported: u64) -> ProgressCounts {
        ProgressCounts {
            sent_bytes: sent,
            acknowledged_bytes: acked,
            reported_bytes: reported,
            acknowledged_chunks: (acked / 10) as u32,
            reported_chunks: (reported / 10) as u32,
        }
    }

    #[test]
    fn counters_never_go_backwards_nor_past_the_total() {
        let mut t = ProgressTracker::new(100, 10, 1_000);
        t.update(0, counts(50, 20, 10));
        t.update(10, counts(30, 20, 10)); // a failed chunk restarted: sent drops underneath
        assert_eq!(t.snapshot().sent_bytes, 50);
        t.update(20, counts(500, 500, 500));
        let p = t.snapshot();
        assert_eq!(
            (p.sent_bytes, p.acknowledged_bytes, p.reported_bytes),
            (100, 100, 100)
        );
        assert_eq!((p.acknowledged_chunks, p.reported_chunks), (10, 10));
        assert_eq!(p.eta_ms, Some(0));
        assert_eq!(p.fraction(), 1.0);
    }

    #[test]
    fn sent_is_at_least_acknowledged() {
        let mut t = ProgressTracker::new(100, 10, 1_000);
        t.update(0, counts(0, 40, 0));
        assert_eq!(t.snapshot().sent_bytes, 40);
    }

    #[test]
    fn speed_converges_to_a_steady_rate_and_gives_an_eta() {
        let mut t = ProgressTracker::new(10_000_000, 10, 2_000);
        t.update(0, counts(0, 0, 0));
        for step in 1..=40u64 {
            // 1000 bytes every 500 ms = 2000 B/s.
            t.update(step * 500, counts(step * 1_000, step * 1_000, 0));
        }
        let p = t.snapshot();
        let speed = p.bytes_per_second.expect("a speed was measured");
        assert!((1_900..=2_100).contains(&speed), "{speed}");
        let expected_eta = (10_000_000 - 40_000) * 1_000 / speed;
        assert_eq!(p.eta_ms, Some(expected_eta));
    }

    #[test]
    fn speed_decays_when_nothing_arrives_and_bursts_are_not_infinite() {
        let mut s = SpeedEstimator::new(1_000);
        s.record(0, 0);
        s.record(0, 1_000_000); // same millisecond: no sample yet
        assert_eq!(s.bytes_per_second(), 0);
        s.record(1_000, 0);
        let first = s.bytes_per_second();
        assert_eq!(first, 1_000_000);
        s.record(5_000, 0);
        assert!(s.bytes_per_second() < first / 10);
    }

    #[test]
    fn no_speed_is_measured_before_any_byte_arrives() {
        let mut s = SpeedEstimator::new(1_000);
        s.record(0, 0);
        s.record(3_000, 0); // a first chunk that stalls
        assert_eq!(s.measured_bytes_per_second(), None, "unknown, not 0");
        s.record(3_100, 100_000);
        s.record(3_500, 0);
        assert_eq!(s.measured_bytes_per_second(), Some(200_000));
    }

    #[test]
    fn a_finished_transfer_keeps_the_speed_it_measured_even_a_short_one() {
        let mut t = ProgressTracker::new(8_000_000, 8, 1_000);
        t.update(0, counts(0, 0, 0));
        t.update(60, counts(4_000_000, 4_000_000, 0));
        t.update(100, counts(8_000_000, 8_000_000, 0));
        let done = t.snapshot();
        assert_eq!(done.bytes_per_second, Some(80_000_000));
        assert_eq!(done.eta_ms, Some(0));
        // Finalising and processing send nothing: the speed stays as measured.
        t.tick(1_000);
        t.tick(30_000);
        t.update(31_000, counts(8_000_000, 8_000_000, 8_000_000));
        assert_eq!(t.snapshot().bytes_per_second, Some(80_000_000));
    }

    #[test]
    fn no_eta_before_a_speed_is_known() {
        let t = ProgressTracker::new(100, 1, 1_000);
        assert_eq!(t.snapshot().eta_ms, None);
    }

    #[test]
    fn before_anything_is_acknowledged_the_total_is_known_and_the_share_is_zero() {
        let p = Progress::starting(5_000);
        assert_eq!((p.total_bytes, p.fraction()), (5_000, 0.0));
        assert_eq!((p.bytes_per_second, p.eta_ms), (None, None));
        let t = ProgressTracker::new(5_000, 5, 1_000);
        assert_eq!(t.snapshot().fraction(), 0.0);
        // An empty total shows an empty bar, not a full one; a failed upload stays where it was.
        assert_eq!(Progress::starting(0).fraction(), 0.0);
        assert_eq!(Progress::starting(0).stopped().fraction(), 0.0);
        assert_eq!(Progress::starting(5_000).stopped().fraction(), 0.0);
        assert_eq!(Progress::starting(5_000).finished().fraction(), 1.0);
    }

    #[test]
    fn halted_uploads_have_no_speed_nor_eta_and_measure_afresh_on_restart() {
        let mut t = ProgressTracker::new(10_000_000, 10, 1_000);
        t.update(0, counts(0, 0, 0));
        t.update(1_000, counts(100_000, 100_000, 0));
        assert_eq!(t.snapshot().bytes_per_second, Some(100_000));
        assert!(t.snapshot().eta_ms.is_some());
        assert!(t.set_halted(true));
        assert!(!t.set_halted(true), "halting twice changes nothing");
        let p = t.snapshot();
        assert_eq!((p.bytes_per_second, p.eta_ms), (None, None));
        assert_eq!(p.acknowledged_bytes, 100_000, "the counters stay");
        assert!(t.set_halted(false));
        assert_eq!(
            t.snapshot().bytes_per_second,
            None,
            "the old speed does not come back"
        );
        t.update(60_000, counts(100_000, 100_000, 0));
        t.update(61_000, counts(150_000, 150_000, 0));
        assert_eq!(t.snapshot().bytes_per_second, Some(50_000));
    }

    #[test]
    fn a_retry_shows_until_cleared_and_never_in_a_final_state() {
        let mut t = ProgressTracker::new(100, 1, 1_000);
        let retrying = Retrying {
            attempt: 2,
            delay_ms: 700,
            error_code: ErrorCode::Network,
        };
        assert!(t.set_retrying(Some(retrying)));
        assert!(!t.set_retrying(Some(retrying)));
        assert_eq!(t.snapshot().retrying, Some(retrying));
        assert_eq!(t.snapshot().stopped().retrying, None);
        assert_eq!(t.snapshot().finished().retrying, None);
        assert!(t.set_retrying(None));
        assert_eq!(t.snapshot().retrying, None);
    }

    #[test]
    fn throttle_holds_back_and_releases_at_the_deadline() {
        let mut th = Throttle::new(100);
        assert!(!th.poll(0), "nothing changed yet");
        th.mark();
        assert!(th.poll(0));
        th.mark();
        assert!(!th.poll(50));
        assert_eq!(th.deadline(), Some(100));
        assert!(!th.poll(99));
        assert!(th.poll(100));
        assert_eq!(th.deadline(), None);
        assert!(!th.poll(500));
        th.mark();
        assert!(th.poll(550));
        th.mark();
        assert!(!th.poll(560), "held back: the interval has not passed");
        assert!(th.flush(570), "a final state is emitted regardless");
        assert!(!th.flush(580));
    }
}
