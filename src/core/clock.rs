//! Server time without a clock: mapping server timestamps onto the caller's local clock.
//!
//! Client clocks are often wrong by minutes (laptops after sleep, phones with manual time). A
//! presigned URL's `expires_at` is a *server* time, so it is never compared with the local clock
//! directly: the engine measures the offset between the two clocks from times the server sends
//! (`generated_at`, the `Date` header) at the moment they arrive, and converts every server
//! deadline into local time with that offset.

/// Milliseconds since the Unix epoch of an RFC 3339 server timestamp, or `None` when the text
/// is not one (or lies before 1970).
pub fn parse_server_time(text: &str) -> Option<u64> {
    crate::core::wire::timestamp::parse(text).and_then(|ms| u64::try_from(ms).ok())
}

/// The measured offset between the server's clock and the caller's local clock.
///
/// `offset = server − local`, taken from the most recent server timestamp observed. Before any
/// observation the clocks are assumed equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClockOffset {
    /// Server time minus local time, in milliseconds.
    pub server_minus_local_ms: i64,
    /// Whether any server time has been observed yet.
    pub measured: bool,
}

impl ClockOffset {
    /// Records that the server's clock read `server_ms` when the local clock read `local_ms`.
    pub fn observe(&mut self, server_ms: u64, local_ms: u64) {
        self.server_minus_local_ms = saturating_i64(server_ms) - saturating_i64(local_ms);
        self.measured = true;
    }

    /// Converts a server time into local time (saturating at 0).
    pub fn to_local(self, server_ms: u64) -> u64 {
        let local = saturating_i64(server_ms).saturating_sub(self.server_minus_local_ms);
        u64::try_from(local).unwrap_or(0)
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times_before_the_epoch_or_malformed_are_refused() {
        assert_eq!(parse_server_time("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(
            parse_server_time("2025-12-01T12:00:00+01:00"),
            Some(1_764_586_800_000)
        );
        assert_eq!(parse_server_time("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_server_time("yesterday"), None);
    }

    #[test]
    fn offset_maps_server_deadlines_to_local_time() {
        let mut offset = ClockOffset::default();
        assert_eq!(offset.to_local(5_000), 5_000);
        // The server is ten minutes ahead of this client.
        offset.observe(1_600_000, 1_000_000);
        assert_eq!(
            offset.to_local(1_600_000 + 3_600_000),
            1_000_000 + 3_600_000
        );
        // The server is behind: local deadlines move later, never below zero.
        offset.observe(0, 10);
        assert_eq!(offset.to_local(5), 15);
        offset.observe(10, 0);
        assert_eq!(offset.to_local(5), 0);
    }
}
