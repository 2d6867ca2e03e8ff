//! The engine's settings and the ranges an application may set them to.

use serde::{Deserialize, Serialize};

use super::assets::AssetPollPolicy;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{BackoffPolicy, Operation};
use crate::core::wire::limits;

/// What pausing does to chunk PUTs already in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseMode {
    /// Abort them (their bytes are sent again, to a fresh URL, on resume). Pauses at once.
    AbortInFlight,
    /// Let them finish and keep their results. Wastes no bytes.
    #[default]
    FinishInFlight,
}

/// The stall watchdog's bound for a PUT: `clamp(factor × expected, min_ms, max_ms)`, where
/// `expected` is the time the chunk should take at the observed speed shared by the PUTs in
/// flight (or at `fallback_bytes_per_second` before any speed is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallPolicy {
    /// Never declare a stall sooner than this.
    pub min_ms: u64,
    /// Always declare a stall after this long without completion or progress.
    pub max_ms: u64,
    /// Tolerance over the expected duration.
    pub factor: u64,
    /// Speed assumed before one has been measured.
    pub fallback_bytes_per_second: u64,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            min_ms: 30_000,
            max_ms: 300_000,
            factor: 4,
            fallback_bytes_per_second: 256 * 1024,
        }
    }
}

/// Engine settings. [`EngineConfig::default`] is a good start; `concurrency` is the one knob most
/// callers set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Chunk PUTs in flight at most, across all uploads (≥ 1).
    pub concurrency: u32,
    /// What pausing does to PUTs in flight.
    pub pause_mode: PauseMode,
    /// How many upcoming chunks the URL window watches (1–50). `0` = automatic:
    /// `clamp(4 × concurrency, 16, 50)`. URLs are asked for when half of them lack one; a batch
    /// then asks for up to 50 (as many as can be used before they expire at the observed
    /// speed), never for fewer than this.
    pub url_lookahead: u32,
    /// A URL expiring within this margin is not used (capped at a third of its lifetime).
    pub url_expiry_margin_ms: u64,
    /// How long an acknowledged chunk may wait for companions before it is reported.
    pub report_debounce_ms: u64,
    /// Minimum interval between two progress events of one upload.
    pub progress_interval_ms: u64,
    /// Time constant of the speed average.
    pub speed_time_constant_ms: u64,
    /// Backoff of chunk PUTs.
    pub put_backoff: BackoffPolicy,
    /// Backoff of API calls (URLs, reports, status, asset).
    pub api_backoff: BackoffPolicy,
    /// Backoff of session creation (and of direct uploads): bounded to seconds by default
    /// ([`BackoffPolicy::SESSION_CREATION`]), so an unreachable endpoint is reported quickly.
    pub create_backoff: BackoffPolicy,
    /// The stall watchdog.
    pub stall: StallPolicy,
    /// Asset polling.
    pub asset_poll: AssetPollPolicy,
    /// Session creation, direct uploads and asset polls are authorised by a grant the adapter can
    /// renew (the application's `getToken`): the engine asks for it ([`Action::NeedToken`])
    /// before the first such call and again after a 401. `false` (an API key): a 401 is final.
    ///
    /// [`Action::NeedToken`]: super::Action::NeedToken
    #[serde(default)]
    pub renewable_grant: bool,
    /// Files of at most this many bytes go as one direct `POST /assets` (method `direct`) rather
    /// than through a multipart session; `0` (the default) sends every file multipart.
    #[serde(default)]
    pub direct_upload_max_bytes: u64,
    /// Seed of the jitter stream (a random value chosen by the caller, e.g. from
    /// `crypto.getRandomValues`).
    pub jitter_seed: u64,
    /// Whether the adapter feeds [`Input::PutProgress`](super::Input::PutProgress) (it can observe how much of a PUT's
    /// body went out). Without it, a PUT's whole body counts as sent from the moment it is
    /// handed to the network, which is all `fetch` can tell.
    pub observes_put_progress: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 4,
            pause_mode: PauseMode::default(),
            url_lookahead: 0,
            url_expiry_margin_ms: 5 * 60_000,
            report_debounce_ms: 1_000,
            progress_interval_ms: 250,
            speed_time_constant_ms: 5_000,
            put_backoff: BackoffPolicy::default(),
            api_backoff: BackoffPolicy::default(),
            create_backoff: BackoffPolicy::SESSION_CREATION,
            stall: StallPolicy::default(),
            asset_poll: AssetPollPolicy::default(),
            renewable_grant: false,
            direct_upload_max_bytes: 0,
            jitter_seed: 0x5EED,
            observes_put_progress: false,
        }
    }
}

/// The ranges an application may set the engine's knobs to (the browser's `UploaderOptions`
/// read them from here). Each is `(min, max)`, inclusive.
pub mod option_limits {
    /// Chunk PUTs in flight (browsers cap connections per host anyway).
    pub const CONCURRENCY: (u64, u64) = (1, 32);
    /// Minimum interval between progress events, ms.
    pub const PROGRESS_INTERVAL_MS: (u64, u64) = (0, 60_000);
    /// Upper bound of the first retry's delay, ms.
    pub const BACKOFF_BASE_MS: (u64, u64) = (1, 600_000);
    /// The largest retry delay, ms.
    pub const BACKOFF_CAP_MS: (u64, u64) = (1, 3_600_000);
    /// Failures in a row before a request gives up.
    pub const BACKOFF_MAX_ATTEMPTS: (u64, u64) = (1, 1_000);
    /// The stall watchdog's upper bound, ms.
    pub const STALL_TIMEOUT_MS: (u64, u64) = (1_000, 3_600_000);
    /// The characters of `persistScope` ([`crate::core::resume::database_name`]).
    pub const PERSIST_SCOPE_CHARS: (u64, u64) = (1, 128);
    /// The largest file sent as one direct upload, bytes (up to JS's exact integers).
    pub const DIRECT_UPLOAD_MAX_BYTES: (u64, u64) = (0, 1 << 53);
}

impl EngineConfig {
    /// The backoff of a request made outside the upload loop (with [`OneOffRetry`]). A single
    /// call the application waits on (session creation, a direct or URL upload, `getAsset`,
    /// `listAssets`, `deleteAsset`) gets [`EngineConfig::create_backoff`], so an endpoint that
    /// cannot be reached is reported within seconds; waiting for an asset to be ready, which may
    /// ride out a network blip over minutes, gets [`EngineConfig::api_backoff`].
    ///
    /// [`OneOffRetry`]: crate::core::retry::OneOffRetry
    pub fn one_off_backoff(&self, operation: Operation) -> BackoffPolicy {
        match operation {
            Operation::CreateSession
            | Operation::GetAsset
            | Operation::ListAssets
            | Operation::DeleteAsset => self.create_backoff,
            Operation::StoragePut => self.put_backoff,
            Operation::RequestUrls | Operation::Report | Operation::Status | Operation::Asset => {
                self.api_backoff
            }
        }
    }

    /// How long the application's `getToken` may take to answer before the call waiting for
    /// it counts a failed attempt ([`token_unanswered`]): an API call's watchdog bound, as
    /// `getToken` is a call to the application's backend. A late answer is ignored.
    pub fn token_wait_ms(&self) -> u64 {
        self.stall.min_ms
    }

    /// Applies the application's `stallTimeoutMs`: the longest a chunk may go without
    /// completing or progressing before it is declared stalled and sent again.
    pub fn apply_stall_timeout(&mut self, bound_ms: u64) {
        // The engine may declare a stall sooner when the observed speed says the chunk is long
        // overdue, but never sooner than its own minimum, which the bound caps.
        self.stall.max_ms = bound_ms;
        self.stall.min_ms = self.stall.min_ms.min(bound_ms);
    }

    /// Applies the application's `retry` option to every backoff (chunk PUTs, API calls, and
    /// the tighter creation default): each field given replaces that field of each policy.
    /// Giving only a first delay above a policy's largest delay raises that largest delay to
    /// it, and giving only a largest delay below a policy's first delay lowers the first delay
    /// to it, so that any value in range is usable alone; both given with the first above the
    /// largest is an `invalid_input` naming the two options.
    pub fn apply_retry_option(
        &mut self,
        base_delay_ms: Option<u64>,
        max_delay_ms: Option<u64>,
        max_attempts: Option<u32>,
    ) -> Result<(), Error> {
        if let (Some(base), Some(cap)) = (base_delay_ms, max_delay_ms) {
            if base > cap {
                return Err(Error::invalid(
                    "UploaderOptions.retry.baseDelayMs must not exceed retry.maxDelayMs",
                ));
            }
        }
        for policy in [
            &mut self.put_backoff,
            &mut self.api_backoff,
            &mut self.create_backoff,
        ] {
            if let Some(base) = base_delay_ms {
                policy.base_ms = base;
                policy.cap_ms = policy.cap_ms.max(base);
            }
            if let Some(cap) = max_delay_ms {
                policy.cap_ms = cap;
                policy.base_ms = policy.base_ms.min(cap);
            }
            if let Some(attempts) = max_attempts {
                policy.max_attempts = attempts;
            }
        }
        Ok(())
    }

    /// Checks the settings; errors are `invalid_input` naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        let (min, max) = option_limits::CONCURRENCY;
        if !(min..=max).contains(&u64::from(self.concurrency)) {
            return Err(Error::invalid(format!(
                "concurrency must be from {min} to {max}"
            )));
        }
        if self.url_lookahead > limits::MAX_BATCH {
            return Err(Error::invalid(format!(
                "url_lookahead must be at most {}",
                limits::MAX_BATCH
            )));
        }
        for (name, policy) in [
            ("put_backoff", &self.put_backoff),
            ("api_backoff", &self.api_backoff),
            ("create_backoff", &self.create_backoff),
        ] {
            if policy.max_attempts == 0 || policy.cap_ms < policy.base_ms {
                return Err(Error::invalid(format!(
                    "{name} needs max_attempts ≥ 1 and cap_ms ≥ base_ms"
                )));
            }
        }
        if self.stall.min_ms == 0 || self.stall.max_ms < self.stall.min_ms || self.stall.factor == 0
        {
            return Err(Error::invalid(
                "stall needs 0 < min_ms ≤ max_ms and factor ≥ 1",
            ));
        }
        if self.stall.fallback_bytes_per_second == 0 {
            return Err(Error::invalid(
                "stall.fallback_bytes_per_second must be positive",
            ));
        }
        if self.asset_poll.initial_ms == 0 || self.asset_poll.max_ms < self.asset_poll.initial_ms {
            return Err(Error::invalid("asset_poll needs 0 < initial_ms ≤ max_ms"));
        }
        Ok(())
    }

    pub(super) fn effective_lookahead(&self) -> u32 {
        if self.url_lookahead > 0 {
            self.url_lookahead
        } else {
            self.concurrency
                .saturating_mul(4)
                .clamp(16, limits::MAX_BATCH)
        }
    }
}

/// What a call fails with when `getToken` gave no answer within
/// [`EngineConfig::token_wait_ms`]: retryable, like a grant request lost to the network.
pub fn token_unanswered(wait_ms: u64) -> Error {
    Error::new(
        ErrorCode::Network,
        format!("getToken failed: no answer within {wait_ms} ms"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_token_has_an_api_calls_bound_to_answer_and_a_late_one_is_a_retryable_failure() {
        let mut config = EngineConfig::default();
        assert_eq!(config.token_wait_ms(), 30_000);
        config.apply_stall_timeout(1_000);
        assert_eq!(config.token_wait_ms(), 1_000);
        let mut patient = EngineConfig::default();
        patient.apply_stall_timeout(600_000);
        assert_eq!(
            patient.token_wait_ms(),
            30_000,
            "a higher bound never lengthens it"
        );
        let error = token_unanswered(config.token_wait_ms());
        assert_eq!(error.code, ErrorCode::Network);
        assert!(error.is_retryable());
        assert_eq!(error.message, "getToken failed: no answer within 1000 ms");
    }

    #[test]
    fn a_single_asset_call_fails_as_fast_as_session_creation_and_waiting_rides_out_blips() {
        let config = EngineConfig::default();
        for operation in [
            Operation::CreateSession,
            Operation::GetAsset,
            Operation::ListAssets,
            Operation::DeleteAsset,
        ] {
            assert_eq!(
                config.one_off_backoff(operation),
                BackoffPolicy::SESSION_CREATION,
                "{operation:?}"
            );
        }
        assert!(BackoffPolicy::SESSION_CREATION.worst_case_wait_ms() < 15_000);
        assert_eq!(config.one_off_backoff(Operation::Asset), config.api_backoff);
    }

    #[test]
    fn any_retry_value_in_range_is_usable_alone() {
        let (_, max_base) = option_limits::BACKOFF_BASE_MS;
        let (min_cap, _) = option_limits::BACKOFF_CAP_MS;
        for (base, cap) in [
            (Some(5_000), None),
            (Some(max_base), None),
            (None, Some(100)),
            (None, Some(min_cap)),
            (Some(2_000), Some(2_000)),
        ] {
            let mut config = EngineConfig::default();
            config.apply_retry_option(base, cap, None).unwrap();
            config.validate().unwrap();
            for policy in [
                config.put_backoff,
                config.api_backoff,
                config.create_backoff,
            ] {
                if let Some(base) = base {
                    assert_eq!(policy.base_ms, base);
                }
                if let Some(cap) = cap {
                    assert_eq!(policy.cap_ms, cap);
                }
                assert!(policy.base_ms <= policy.cap_ms);
            }
        }
        // Both given, the first delay above the largest: refused, naming the two options.
        let mut config = EngineConfig::default();
        let error = config
            .apply_retry_option(Some(5_000), Some(1_000), None)
            .unwrap_err();
        assert_eq!(error.code, crate::core::error::ErrorCode::InvalidInput);
        assert!(error.message.contains("retry.baseDelayMs"), "{error}");
        assert!(error.message.contains("retry.maxDelayMs"), "{error}");
        assert_eq!(config, EngineConfig::default(), "nothing applied");
        // Attempts apply to every policy, creation's tighter default included.
        config.apply_retry_option(None, None, Some(2)).unwrap();
        assert_eq!(config.create_backoff.max_attempts, 2);
        assert_eq!(config.put_backoff.max_attempts, 2);
        assert_eq!(config.api_backoff.max_attempts, 2);
    }
}
