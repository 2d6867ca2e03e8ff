//! Which `forget` may settle: the page's deletions under way (its `forget`s, and the asset
//! deletions of uploads that were aborted or failed for good), and the `forget`s waiting for them.
//!
//! Unloading a page cuts off every deletion it has under way, whichever uploader started it, so a
//! `forget` (which a page calls before signing out) settles only once the deletions it waits for
//! ([`forget_waits_for`]) are over, or at its deadline ([`FORGET_ASSET_WAIT_MS`] after its
//! deadline started: when its own assets began to go, or when it began to wait without any).
//! IO-free: the adapter keeps one [`PageDeletions`] per page, hands each waiting
//! `forget` over as an opaque waiter `W` (its promise and its deadline's timer), and settles the
//! waiters each call hands back. A waiter whose deadline has passed is handed back too: its timer
//! has settled it already, and settling twice does nothing.

use super::resume::{forget_waits_for, FORGET_ASSET_WAIT_MS};

/// One deletion under way, from [`PageDeletions::begin`] to [`PageDeletions::end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkId(u64);

/// A `forget`'s deadline, from [`PageDeletions::start_deadline`]: the adapter settles the
/// `forget` [`FORGET_ASSET_WAIT_MS`] later (a timer), unless it is handed back first.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(u64);

/// A deadline started, when it fires (ms), and its `forget` once that waits.
#[derive(Debug)]
struct DeadlineAt<W> {
    id: u64,
    at_ms: f64,
    waiter: Option<W>,
}

/// The page's deletions under way and the `forget`s (`W`) waiting for them (see the module).
#[derive(Debug)]
pub struct PageDeletions<W> {
    /// When each deletion under way began (ms).
    work: Vec<(WorkId, f64)>,
    /// The records the page's `forget`s are giving up, each with the work giving it up.
    records: Vec<(WorkId, String)>,
    /// The deadlines whose `forget` has not been handed back.
    deadlines: Vec<DeadlineAt<W>>,
    /// `forget` calls made in the page so far.
    forgets: u32,
    /// The latest start of a deadline that has fired: what a `forget` waited out
    /// ([`forget_waits_for`]).
    waited_out_from: Option<f64>,
    next_id: u64,
}

impl<W> PageDeletions<W> {
    /// An empty ledger (a page that has deleted nothing yet).
    pub const fn new() -> PageDeletions<W> {
        PageDeletions {
            work: Vec::new(),
            records: Vec::new(),
            deadlines: Vec::new(),
            forgets: 0,
            waited_out_from: None,
            next_id: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A deletion begins at `now_ms`.
    pub fn begin(&mut self, now_ms: f64) -> WorkId {
        let id = WorkId(self.next_id());
        self.work.push((id, now_ms));
        id
    }

    /// The deletion `work` is over (whether it succeeded or not): the `forget`s to settle now.
    #[must_use]
    pub fn end(&mut self, work: WorkId, now_ms: f64) -> Vec<W> {
        self.work.retain(|(id, _)| *id != work);
        self.records.retain(|(id, _)| *id != work);
        let mut settle = self.expire(now_ms);
        if !self.busy() {
            self.deadlines.retain_mut(|d| match d.waiter.take() {
                Some(waiter) => {
                    settle.push(waiter);
                    false
                }
                None => true,
            });
        }
        settle
    }

    /// `work` gives up the record `upload_id`: the page's other `forget`s leave it to it.
    pub fn take_record(&mut self, work: WorkId, upload_id: &str) {
        self.records.push((work, upload_id.to_owned()));
    }

    /// Whether a `forget` of the page is giving up the record `upload_id`.
    pub fn is_taken(&self, upload_id: &str) -> bool {
        self.records.iter().any(|(_, id)| id == upload_id)
    }

    /// Counts a `forget` call of the page.
    pub fn count_forget(&mut self) {
        self.forgets = self.forgets.wrapping_add(1);
    }

    /// The `forget` calls made in the page so far.
    pub fn forgets(&self) -> u32 {
        self.forgets
    }

    /// Starts the deadline of a `forget` at `now_ms`: when its assets begin to go, or when it
    /// begins to wait without any.
    pub fn start_deadline(&mut self, now_ms: f64) -> Deadline {
        let id = self.next_id();
        self.deadlines.push(DeadlineAt {
            id,
            at_ms: now_ms + f64::from(FORGET_ASSET_WAIT_MS),
            waiter: None,
        });
        Deadline(id)
    }

    /// The `forget` `waiter`, whose own work is over, waits at `now_ms` for the page's
    /// deletions ([`forget_waits_for`]) until its `deadline`. Returns the `forget`s to settle
    /// now: `waiter` itself when nothing it waits for is under way (or its deadline passed while
    /// its assets went), and any whose deadline has passed.
    #[must_use]
    pub fn wait(&mut self, deadline: Deadline, waiter: W, now_ms: f64) -> Vec<W> {
        let mut settle = self.expire(now_ms);
        let busy = self.busy();
        match self.deadlines.iter().position(|d| d.id == deadline.0) {
            Some(i) if busy => self.deadlines[i].waiter = Some(waiter),
            Some(i) => {
                self.deadlines.swap_remove(i);
                settle.push(waiter);
            }
            None => settle.push(waiter),
        }
        settle
    }

    /// Drops the deadlines that have fired by `now_ms` (each `forget` waited its whole time, so
    /// later ones no longer wait for what it waited for), and returns their waiters.
    fn expire(&mut self, now_ms: f64) -> Vec<W> {
        let mut settle = Vec::new();
        let waited_out_from = &mut self.waited_out_from;
        self.deadlines.retain_mut(|d| {
            let fired = d.at_ms <= now_ms;
            if fired {
                let from = d.at_ms - f64::from(FORGET_ASSET_WAIT_MS);
                *waited_out_from = Some(waited_out_from.map_or(from, |f| f.max(from)));
                settle.extend(d.waiter.take());
            }
            !fired
        });
        settle
    }

    /// Whether a `forget` still waits for some deletion under way.
    fn busy(&self) -> bool {
        self.work
            .iter()
            .any(|(_, began)| forget_waits_for(*began, self.waited_out_from))
    }
}

impl<W> Default for PageDeletions<W> {
    fn default() -> Self {
        PageDeletions::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: f64 = FORGET_ASSET_WAIT_MS as f64;

    #[test]
    fn a_forget_with_nothing_under_way_settles_at_once() {
        let mut page = PageDeletions::new();
        let deadline = page.start_deadline(0.0);
        assert_eq!(page.wait(deadline, "forget", 5.0), vec!["forget"]);
        assert!(page.deadlines.is_empty(), "its deadline is dropped");
    }

    #[test]
    fn a_forget_waits_for_the_page_s_deletions_and_settles_when_the_last_ends() {
        let mut page = PageDeletions::new();
        let abort = page.begin(0.0);
        let other = page.begin(10.0);
        let deadline = page.start_deadline(20.0);
        assert_eq!(page.wait(deadline, "forget", 20.0), Vec::<&str>::new());
        assert_eq!(page.end(abort, 30.0), Vec::<&str>::new());
        assert_eq!(page.end(other, 40.0), vec!["forget"]);
        assert!(page.deadlines.is_empty());
    }

    #[test]
    fn a_forget_is_handed_back_at_its_deadline_and_later_ones_do_not_wait_for_what_it_waited_out() {
        let mut page = PageDeletions::new();
        let stuck = page.begin(0.0);
        let own = page.begin(1.0);
        let deadline = page.start_deadline(5.0);
        assert_eq!(page.end(own, 7.0), Vec::<&str>::new());
        assert_eq!(page.wait(deadline, "first", 8.0), Vec::<&str>::new());
        // Its deadline passes first: it is handed back at the next change.
        let next = page.begin(9.0);
        assert_eq!(page.end(next, 5.0 + WAIT), vec!["first"]);
        // A later forget no longer waits for the deletion that one waited out ...
        let second = page.start_deadline(6.0 + WAIT);
        assert_eq!(page.wait(second, "second", 6.0 + WAIT), vec!["second"]);
        // ... but does wait for one begun since that forget's deadline started.
        let newer = page.begin(7.0 + WAIT);
        let third = page.start_deadline(8.0 + WAIT);
        assert_eq!(page.wait(third, "third", 8.0 + WAIT), Vec::<&str>::new());
        assert_eq!(page.end(newer, 9.0 + WAIT), vec!["third"]);
        assert_eq!(page.end(stuck, 10.0 + WAIT), Vec::<&str>::new());
    }

    #[test]
    fn a_deadline_that_passed_while_the_assets_went_settles_its_forget_at_once() {
        let mut page = PageDeletions::new();
        let _slow = page.begin(0.0);
        let deadline = page.start_deadline(1.0);
        assert_eq!(page.wait(deadline, "forget", 2.0 + WAIT), vec!["forget"]);
    }

    #[test]
    fn waiters_past_their_deadline_are_handed_back_by_any_later_call() {
        let mut page = PageDeletions::new();
        let _slow = page.begin(0.0);
        let first = page.start_deadline(1.0);
        assert_eq!(page.wait(first, "first", 2.0), Vec::<&str>::new());
        let second = page.start_deadline(1.5 + WAIT);
        // The first's deadline has passed; the second waits for nothing begun since 1.0.
        let settled = page.wait(second, "second", 1.5 + WAIT);
        assert_eq!(settled, vec!["first", "second"]);
    }

    #[test]
    fn a_deletion_no_forget_waited_out_is_waited_for_however_old() {
        let mut page = PageDeletions::new();
        let _old = page.begin(0.0);
        let deadline = page.start_deadline(100.0 * WAIT);
        assert_eq!(
            page.wait(deadline, "forget", 100.0 * WAIT),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn records_taken_by_a_forget_are_left_to_it_until_its_work_ends() {
        let mut page = PageDeletions::<()>::new();
        let work = page.begin(0.0);
        page.take_record(work, "up-1");
        assert!(page.is_taken("up-1"));
        assert!(!page.is_taken("up-2"));
        let _ = page.end(work, 1.0);
        assert!(!page.is_taken("up-1"));
        page.count_forget();
        page.count_forget();
        assert_eq!(page.forgets(), 2);
    }
}
