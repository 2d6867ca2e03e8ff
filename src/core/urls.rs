//! The presigned-URL window of one upload.
//!
//! Rules (each is a user complaint about other uploaders, see `ANCHORS.md`):
//! * URLs are asked for in contiguous batches of at most 50, just ahead of the upload frontier —
//!   not all at once (they would expire in the queue) and not one by one (a round trip per chunk).
//!   The lookahead decides *when* (the window runs low); the batch then reaches as far as the
//!   caller's batch limit, which it derives from how many URLs can be used before they expire.
//! * Every URL's expiry is kept in *local* time, converted from the server's `expires_at` with
//!   the measured [`ClockOffset`], so a wrong client clock does not make fresh URLs look expired.
//! * A URL that will expire within a margin is dropped before use and asked for again.
//! * A URL is used once: taking it removes it, and a URL that was handed out before is refused if
//!   the server ever sends it again (it is remembered by a 64-bit hash, to keep memory small).

use crate::core::clock::{parse_server_time, ClockOffset};
use crate::core::sorted_map::SortedMap;
use crate::core::wire::{limits::MAX_BATCH, PresignedUrl};

/// A URL for one chunk, with the local time after which it must not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlGrant {
    /// The presigned URL.
    pub url: String,
    /// Local time (ms) from which the URL counts as expiring and is no longer used.
    pub usable_until_ms: u64,
}

/// A contiguous range of chunk indices to ask URLs for (`start`, `count` ≤ 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlBatch {
    /// First chunk index (1-based).
    pub start: u32,
    /// Number of chunks (1–50).
    pub count: u32,
}

/// The URLs held for one upload.
#[derive(Debug, Clone, Default)]
pub struct UrlWindow {
    /// Chunk index → its URL.
    grants: SortedMap<u32, UrlGrant>,
    /// Hashes of the URLs handed out, sorted (binary search; no hash table code in the wasm).
    used: Vec<u64>,
    /// Usable lifetime (ms, margin deducted) of the last URL accepted, when it arrived: how long
    /// the next batch will probably be usable for.
    last_usable_lifetime_ms: Option<u64>,
}

/// What [`UrlWindow::insert`] did with a server batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertReport {
    /// URLs stored (new or replacing an older grant).
    pub accepted: u32,
    /// URLs refused: already used, unparsable expiry, or already expiring on arrival.
    pub refused: u32,
}

impl UrlWindow {
    /// An empty window.
    pub fn new() -> Self {
        UrlWindow::default()
    }

    /// Stores URLs the server sent at local time `now_ms`.
    ///
    /// `margin_ms` is how long before its expiry a URL stops being used; it is capped at a third
    /// of the URL's remaining lifetime so that short-lived URLs (tests, strict storages) are still
    /// usable. URLs for chunks that `wanted` rejects (already done) are not kept.
    pub fn insert(
        &mut self,
        urls: &[PresignedUrl],
        clock: &ClockOffset,
        now_ms: u64,
        margin_ms: u64,
        mut wanted: impl FnMut(u32) -> bool,
    ) -> InsertReport {
        let mut report = InsertReport::default();
        for presigned in urls {
            let expires_local = parse_server_time(&presigned.expires_at).map(|t| clock.to_local(t));
            let usable = expires_local.and_then(|expires| {
                let lifetime = expires.checked_sub(now_ms)?;
                let until = expires - margin_ms.min(lifetime / 3);
                (until > now_ms).then_some(until)
            });
            match usable {
                Some(until)
                    if self.used.binary_search(&url_hash(&presigned.url)).is_err()
                        && wanted(presigned.chunk_index) =>
                {
                    self.grants.insert(
                        presigned.chunk_index,
                        UrlGrant {
                            url: presigned.url.clone(),
                            usable_until_ms: until,
                        },
                    );
                    self.last_usable_lifetime_ms = Some(until - now_ms);
                    report.accepted += 1;
                }
                _ => report.refused += 1,
            }
        }
        report
    }

    /// Whether chunk `index` holds a URL that may be started at `now_ms`.
    pub fn has_usable(&self, index: u32, now_ms: u64) -> bool {
        self.grants
            .get(&index)
            .is_some_and(|g| g.usable_until_ms > now_ms)
    }

    /// Takes chunk `index`'s URL for a PUT starting at `now_ms`. The URL is marked used and will
    /// never be handed out again. `None` if there is no usable URL.
    pub fn take(&mut self, index: u32, now_ms: u64) -> Option<String> {
        if !self.has_usable(index, now_ms) {
            return None;
        }
        let grant = self.grants.remove(&index)?;
        let hash = url_hash(&grant.url);
        if let Err(at) = self.used.binary_search(&hash) {
            self.used.insert(at, hash);
        }
        Some(grant.url)
    }

    /// Forgets chunk `index`'s URL (the chunk is done, or its URL must not be used).
    pub fn discard(&mut self, index: u32) {
        self.grants.remove(&index);
    }

    /// Drops every URL that is expiring at `now_ms`; returns how many.
    pub fn drop_expiring(&mut self, now_ms: u64) -> usize {
        let before = self.grants.len();
        self.grants.retain(|_, g| g.usable_until_ms > now_ms);
        before - self.grants.len()
    }

    /// How many URLs are held.
    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Usable lifetime (ms) of the URLs of the last accepted batch when they arrived (the
    /// expiry margin deducted); `None` before any URL was accepted.
    pub fn last_usable_lifetime_ms(&self) -> Option<u64> {
        self.last_usable_lifetime_ms
    }

    /// Decides whether to ask for URLs, and for which range.
    ///
    /// `upcoming` lists, in ascending order, the chunks that still need a PUT. A batch is asked
    /// for when at most half of the first `lookahead` of them hold a usable URL, or when `urgent`
    /// (a chunk could start right now but has no URL). The batch starts at the first chunk
    /// without a URL and stretches over the upcoming chunks without a URL that fit in
    /// `max(batch_limit, lookahead)` consecutive indices (at most 50): the lookahead sets the
    /// low-water mark, the batch limit how far one request refills beyond it.
    pub fn plan_request(
        &self,
        upcoming: impl Iterator<Item = u32>,
        lookahead: u32,
        batch_limit: u32,
        now_ms: u64,
        urgent: bool,
    ) -> Option<UrlBatch> {
        let lookahead = lookahead.max(1);
        let reach = batch_limit.max(lookahead).min(MAX_BATCH);
        let mut considered = 0u32;
        let mut ready = 0u32;
        let mut first_missing: Option<u32> = None;
        let mut last_missing_in_reach = 0u32;
        for (position, index) in upcoming.enumerate() {
            let in_lookahead = (position as u64) < u64::from(lookahead);
            // Past the lookahead only the batch's extent is left to find.
            if !in_lookahead && first_missing.is_none_or(|start| index - start >= reach) {
                break;
            }
            let usable = self.has_usable(index, now_ms);
            if in_lookahead {
                considered += 1;
                ready += u32::from(usable);
            }
            if usable {
                continue;
            }
            match first_missing {
                None => {
                    first_missing = Some(index);
                    last_missing_in_reach = index;
                }
                Some(start) if index - start < reach => last_missing_in_reach = index,
                Some(_) => {}
            }
        }
        let start = first_missing?;
        if !(urgent || ready * 2 <= considered) {
            return None;
        }
        Some(UrlBatch {
            start,
            count: last_missing_in_reach - start + 1,
        })
    }
}

/// FNV-1a, 64-bit: enough to recognise a URL seen before without keeping its text.
fn url_hash(url: &str) -> u64 {
    url.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::timestamp;

    fn url(index: u32, expires_ms: i64) -> PresignedUrl {
        PresignedUrl {
            chunk_index: index,
            url: format!("https://storage.test/{index}?e={expires_ms}"),
            expires_at: timestamp::format(expires_ms),
        }
    }

    const HOUR: u64 = 3_600_000;
    const T0: u64 = 1_764_586_800_000;

    #[test]
    fn a_url_is_handed_out_once_and_never_accepted_again() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        let batch = [url(1, (T0 + HOUR) as i64)];
        assert_eq!(w.insert(&batch, &clock, T0, 300_000, |_| true).accepted, 1);
        assert!(w.take(1, T0).is_some());
        assert_eq!(w.take(1, T0), None);
        let again = w.insert(&batch, &clock, T0, 300_000, |_| true);
        assert_eq!((again.accepted, again.refused), (0, 1));
    }

    #[test]
    fn expiring_urls_are_not_used_and_the_margin_adapts_to_short_lifetimes() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        w.insert(&[url(1, (T0 + HOUR) as i64)], &clock, T0, 300_000, |_| true);
        assert!(w.has_usable(1, T0 + HOUR - 300_001));
        assert!(!w.has_usable(1, T0 + HOUR - 300_000));
        // A 9-second URL keeps 6 seconds of use instead of being refused outright.
        w.insert(&[url(2, (T0 + 9_000) as i64)], &clock, T0, 300_000, |_| {
            true
        });
        assert!(w.has_usable(2, T0 + 5_999));
        assert!(!w.has_usable(2, T0 + 6_000));
        assert_eq!(w.drop_expiring(T0 + 6_000), 1);
        // Already expired on arrival: refused.
        let late = w.insert(&[url(3, (T0 - 1) as i64)], &clock, T0, 300_000, |_| true);
        assert_eq!(late.refused, 1);
    }

    #[test]
    fn server_times_are_compared_through_the_clock_offset() {
        // The client's clock is two hours fast: a fresh one-hour URL must still be usable.
        let mut clock = ClockOffset::default();
        let local_now = T0 + 2 * HOUR;
        clock.observe(T0, local_now);
        let mut w = UrlWindow::new();
        w.insert(
            &[url(1, (T0 + HOUR) as i64)],
            &clock,
            local_now,
            300_000,
            |_| true,
        );
        assert!(w.has_usable(1, local_now + HOUR - 300_001));
    }

    #[test]
    fn batches_start_at_the_first_missing_chunk_and_stay_within_fifty() {
        let w = UrlWindow::new();
        assert_eq!(
            w.plan_request(1..=200, 80, 50, T0, false),
            Some(UrlBatch {
                start: 1,
                count: 50
            })
        );
        // A batch limit above 50 is still held to 50.
        assert_eq!(
            w.plan_request(1..=200, 16, 80, T0, false),
            Some(UrlBatch {
                start: 1,
                count: 50
            })
        );
        assert_eq!(
            w.plan_request(7..=9, 10, 50, T0, false),
            Some(UrlBatch { start: 7, count: 3 })
        );
        assert_eq!(
            w.plan_request([3, 9, 60].into_iter(), 10, 50, T0, false),
            Some(UrlBatch { start: 3, count: 7 })
        );
        assert_eq!(w.plan_request(std::iter::empty(), 10, 50, T0, false), None);
    }

    #[test]
    fn the_lookahead_decides_when_and_the_batch_limit_how_far() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        let urls: Vec<_> = (1..=10).map(|i| url(i, (T0 + HOUR) as i64)).collect();
        w.insert(&urls, &clock, T0, 0, |_| true);
        // 10 of the 16 upcoming chunks hold a URL: not low yet, whatever the batch limit.
        assert_eq!(w.plan_request(1..=100, 16, 50, T0, false), None);
        w.take(1, T0);
        w.take(2, T0);
        // 8 of 16 left: refill from chunk 11 as far as the batch limit reaches…
        assert_eq!(
            w.plan_request(3..=100, 16, 50, T0, false),
            Some(UrlBatch {
                start: 11,
                count: 50
            })
        );
        // …but never less far than the lookahead, even when the limit is smaller (short-lived
        // URLs at a low speed)…
        assert_eq!(
            w.plan_request(3..=100, 16, 4, T0, false),
            Some(UrlBatch {
                start: 11,
                count: 16
            })
        );
        // …and not past the last chunk.
        assert_eq!(
            w.plan_request(3..=30, 16, 50, T0, false),
            Some(UrlBatch {
                start: 11,
                count: 20
            })
        );
    }

    #[test]
    fn no_request_while_the_window_is_more_than_half_full_unless_urgent() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        let urls: Vec<_> = (1..=6).map(|i| url(i, (T0 + HOUR) as i64)).collect();
        w.insert(&urls, &clock, T0, 0, |_| true);
        assert_eq!(w.plan_request(1..=100, 10, 10, T0, false), None);
        assert_eq!(
            w.plan_request(1..=100, 10, 10, T0, true),
            Some(UrlBatch {
                start: 7,
                count: 10
            })
        );
        // Once two are used, 4 of 10 are ready: refill.
        w.take(1, T0);
        w.take(2, T0);
        assert_eq!(
            w.plan_request(3..=100, 10, 10, T0, false),
            Some(UrlBatch {
                start: 7,
                count: 10
            })
        );
    }

    #[test]
    fn the_usable_lifetime_of_the_last_batch_is_remembered() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        assert_eq!(w.last_usable_lifetime_ms(), None);
        w.insert(&[url(1, (T0 + HOUR) as i64)], &clock, T0, 300_000, |_| true);
        assert_eq!(w.last_usable_lifetime_ms(), Some(HOUR - 300_000));
        // A refused URL (expired on arrival) does not change it.
        w.insert(&[url(2, (T0 - 1) as i64)], &clock, T0, 300_000, |_| true);
        assert_eq!(w.last_usable_lifetime_ms(), Some(HOUR - 300_000));
    }

    #[test]
    fn unwanted_chunks_are_not_kept() {
        let mut w = UrlWindow::new();
        let clock = ClockOffset::default();
        let urls: Vec<_> = (1..=4).map(|i| url(i, (T0 + HOUR) as i64)).collect();
        let r = w.insert(&urls, &clock, T0, 0, |i| i % 2 == 0);
        assert_eq!((r.accepted, r.refused), (2, 2));
        assert_eq!(w.len(), 2);
        w.discard(2);
        assert!(!w.has_usable(2, T0));
    }
}
