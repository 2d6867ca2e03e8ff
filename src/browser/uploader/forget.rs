//! `forget(id)` and `forget()` on the executor: giving up saved uploads for good. Each record
//! another page does not send is locked first (the session's Web Lock, as a page sending it
//! holds it), read again under the lock, and deleted; then, still under the lock, the asset of
//! a session that never completed is deleted. So no page resumes the upload while its asset is
//! being deleted, and a record that completed meanwhile keeps its asset. `forget` settles once
//! the asset deletions are over (a page signing out next may have no grant left to delete them
//! with), or [`FORGET_ASSET_WAIT_MS`] after the records went. A lookup that meets records past
//! their session's expiry gives them up the same way before it goes on ([`ForgetDone::Then`]).
//! Which record is given up, and which asset goes, is decided in [`crate::core::resume`].
//!
//! Unloading the page cuts off every deletion it has under way, whichever uploader (or queue)
//! started it. So `forget` also waits for the page's other work of this kind ([`PageWork`]):
//! other `forget`s, and the asset deletions of uploads that were aborted or failed for good, but
//! not those an earlier `forget` already waited its whole deadline for; the core's
//! [`PageDeletions`] decides which `forget` may settle. A record another `forget` of this page is
//! giving up is left to it, and waited for.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::browser::js_error::from_js;
use crate::browser::runtime::{cancel_call, now_ms};
use crate::core::error::{Error, ErrorCode};
use crate::core::page_deletions::{self, PageDeletions, WorkId};
use crate::core::resume::{
    expired_record_returns, forget_deletes_asset, forget_record, forget_stops_saving, ClaimOutcome,
    ForgetRecord, FORGET_ASSET_WAIT_MS,
};
use crate::core::retry::Operation;

use super::claim::{AfterClaims, SessionClaim};
use super::lookup::{Lookup, Records, StoreTask};
use super::one_off::{Answer, OneOff, OneOffRequest, Settler};
use super::ops::{report, Op};
use super::Inner;

/// A `forget` waiting for the page's deletions: its promise, its deadline's timer, and what it
/// settles with.
type Waiter = (Settler, JsValue, Result<(), Error>);

thread_local! {
    /// The page's deletions under way, across its uploaders (the core decides which `forget`
    /// may settle).
    static PAGE: RefCell<PageDeletions<Waiter>> = const { RefCell::new(PageDeletions::new()) };
}

/// Runs `f` on the page's ledger.
fn deletions<T>(f: impl FnOnce(&mut PageDeletions<Waiter>) -> T) -> T {
    PAGE.with(|page| f(&mut page.borrow_mut()))
}

/// Resolves the `forget`s the ledger handed back, and clears their timers (one whose deadline
/// settled it already is settled again, which does nothing).
fn settle(waiters: Vec<Waiter>) {
    for (settler, timer, outcome) in waiters {
        cancel_call(&timer);
        // Settling a promise calls no user code synchronously.
        settler.settle(outcome.map(|()| JsValue::UNDEFINED));
    }
}

/// A `forget`'s deadline, and the timer that settles it [`FORGET_ASSET_WAIT_MS`] after it began
/// deleting assets (or waiting).
struct Deadline {
    id: page_deletions::Deadline,
    timer: JsValue,
}

impl Deadline {
    /// Settles `settler` [`FORGET_ASSET_WAIT_MS`] from now: resolves it, or rejects it with
    /// `error`.
    fn start(settler: &Settler, error: Option<&Error>) -> Deadline {
        Deadline {
            id: deletions(|page| page.start_deadline(now_ms())),
            timer: settler.settle_later(FORGET_ASSET_WAIT_MS, error),
        }
    }
}

/// One deletion this page has under way (a `forget`, or an asset's deletion): `forget`s settle
/// once none they wait for is alive. Dropping it ends it.
pub(super) struct PageWork(WorkId);

impl PageWork {
    pub(super) fn begin() -> PageWork {
        PageWork(deletions(|page| page.begin(now_ms())))
    }

    /// Gives up the record `upload_id` as part of this work.
    fn take_record(&self, upload_id: &str) {
        deletions(|page| page.take_record(self.0, upload_id));
    }

    /// Settles `settler` with `outcome` once the page has no deletion under way that a `forget`
    /// waits for, or at its deadline (`deadline`, or one started now): a `forget` that failed
    /// waits too, as a page signing out after it would cut those deletions off all the same.
    fn settle_when_done(settler: Settler, deadline: Option<Deadline>, outcome: Result<(), Error>) {
        let Deadline { id, timer } =
            deadline.unwrap_or_else(|| Deadline::start(&settler, outcome.as_ref().err()));
        settle(deletions(|page| {
            page.wait(id, (settler, timer, outcome), now_ms())
        }));
    }
}

impl Drop for PageWork {
    fn drop(&mut self) {
        settle(deletions(|page| page.end(self.0, now_ms())));
    }
}

/// A `forget`'s own work is over (`outcome`): its locks and its share of the page's work go
/// first, then its promise settles with `outcome` once the page's deletions it waits for are
/// over, or at its deadline.
fn forget_over(forgetting: Forgetting, outcome: Result<(), Error>) {
    let Forgetting {
        done,
        deadline,
        claims,
        work,
        ..
    } = forgetting;
    drop(claims);
    drop(work);
    if let ForgetDone::Settle(settler) = done {
        PageWork::settle_when_done(settler, deadline, outcome);
    }
}

/// Who waits for a [`Forgetting`].
pub(super) enum ForgetDone {
    /// `forget`'s promise: it settles once the assets are deleted, or at its deadline.
    Settle(Settler),
    /// A lookup that met expired records: it goes on once they are deleted, whatever then
    /// happens to their assets.
    Then(Box<AfterClaims>),
    /// The same, once the lookup went on: what is left is their assets.
    WentOn,
}

/// A `forget` under way.
pub(super) struct Forgetting {
    /// `forget()` of every record, which leaves those another page sends.
    every: bool,
    done: ForgetDone,
    /// Records still to lock.
    to_claim: Vec<String>,
    /// Records locked (or unlockable: no Web Locks), to read again and delete.
    claimed: Vec<String>,
    /// The locks held until the last asset deletion is over.
    claims: Vec<SessionClaim>,
    /// Records to delete.
    keys: Vec<String>,
    /// Assets to delete once the records are gone, each with the record to save again if its
    /// deletion fails while the asset may still be there (a lookup's expired record:
    /// [`expired_record_returns`]).
    assets: Vec<(String, Option<(String, JsValue)>)>,
    /// The record to save again if the asset deletion under way fails.
    restore: Option<(String, JsValue)>,
    /// The page's `forget` calls when it began: a `forget` call since then wants every record
    /// gone.
    forgets_before: u32,
    /// The timer that settles `forget` if the asset deletions take longer than
    /// [`FORGET_ASSET_WAIT_MS`].
    deadline: Option<Deadline>,
    /// This `forget` as the page's work, until its last asset deletion is over.
    work: PageWork,
}

impl Forgetting {
    /// The records to delete.
    pub(super) fn keys(&self) -> &[String] {
        &self.keys
    }
}

impl Inner {
    /// Starts giving up `targets` (`every`: all records, else the one `forget(id)` named), given
    /// which another page sends (`elsewhere`).
    pub(super) fn start_forget(
        self: &Rc<Self>,
        targets: Vec<String>,
        every: bool,
        done: ForgetDone,
        elsewhere: impl Fn(&str) -> bool,
    ) {
        let mut forgetting = Box::new(Forgetting {
            every,
            done,
            to_claim: Vec::new(),
            claimed: Vec::new(),
            claims: Vec::new(),
            keys: Vec::new(),
            assets: Vec::new(),
            restore: None,
            forgets_before: deletions(|page| page.forgets()),
            deadline: None,
            work: PageWork::begin(),
        });
        let asked_by_page = matches!(forgetting.done, ForgetDone::Settle(_));
        if asked_by_page {
            deletions(|page| page.count_forget());
        }
        if forget_stops_saving(every, asked_by_page) {
            self.stop_saving(None);
        }
        for upload_id in targets {
            if deletions(|page| page.is_taken(&upload_id)) {
                // Another `forget` of this page gives it up; this one waits for it.
                continue;
            }
            match forget_record(every, elsewhere(&upload_id), &upload_id) {
                ForgetRecord::Forget => {
                    // One this uploader runs needs no lock, and its handle keeps the asset.
                    let own = self.stop_saving(Some(&upload_id));
                    forgetting.work.take_record(&upload_id);
                    let list = if own {
                        &mut forgetting.keys
                    } else {
                        &mut forgetting.to_claim
                    };
                    list.push(upload_id);
                }
                ForgetRecord::Leave => {}
                ForgetRecord::Refuse(error) => return self.forget_refused(*forgetting, error),
            }
        }
        self.claim_next(forgetting);
    }

    /// Asks for the next record's lock, or reads the locked records again once all are asked.
    fn claim_next(self: &Rc<Self>, mut forgetting: Box<Forgetting>) {
        let Some(upload_id) = forgetting.to_claim.pop() else {
            return self.with_store(StoreTask::Read(Lookup::Forgotten(forgetting)));
        };
        match self.ask_claim(&upload_id) {
            Some(id) => self.begin(id, Op::ForgetClaim(forgetting, upload_id)),
            None => {
                forgetting.claimed.push(upload_id);
                self.claim_next(forgetting);
            }
        }
    }

    /// `forget` where nothing is saved (no IndexedDB, or `persist: false`): it settles once the
    /// page's deletions under way are over, as any `forget` does.
    pub(super) fn forget_without_store(&self, settler: Settler, outcome: Result<(), Error>) {
        PageWork::settle_when_done(settler, None, outcome);
    }

    /// The lock of `upload_id` was asked for: held, it is forgotten; held by another page, it
    /// is left (`forget()`) or the whole `forget(id)` is refused.
    pub(super) fn forget_claimed(
        self: &Rc<Self>,
        mut forgetting: Box<Forgetting>,
        upload_id: String,
        outcome: ClaimOutcome,
        claim: Option<SessionClaim>,
    ) {
        let elsewhere = outcome == ClaimOutcome::HeldElsewhere;
        match forget_record(forgetting.every, elsewhere, &upload_id) {
            ForgetRecord::Forget => {
                forgetting.claims.extend(claim);
                forgetting.claimed.push(upload_id);
            }
            ForgetRecord::Leave => {}
            ForgetRecord::Refuse(error) => return self.forget_refused(*forgetting, error),
        }
        self.claim_next(forgetting);
    }

    /// The records, read again under their locks: each locked one goes, and the asset of each
    /// whose session never completed after it.
    pub(super) fn forget_locked(
        self: &Rc<Self>,
        mut forgetting: Box<Forgetting>,
        records: Records,
    ) {
        let expired = !matches!(forgetting.done, ForgetDone::Settle(_));
        for upload_id in std::mem::take(&mut forgetting.claimed) {
            let record = records.iter().find(|(id, _)| *id == upload_id);
            if let Some((_, record)) = record.filter(|(_, r)| forget_deletes_asset(&r.saved)) {
                let restore = expired.then(|| (upload_id.clone(), record.to_js()));
                forgetting
                    .assets
                    .push((record.saved.asset_id.clone(), restore));
            }
            forgetting.keys.push(upload_id);
        }
        self.with_store(StoreTask::Forget(forgetting));
    }

    /// `forget(id)` refused before anything was deleted (another page sends the upload): it
    /// rejects once the page's deletions are over, as a `forget` that fails does.
    fn forget_refused(self: &Rc<Self>, forgetting: Forgetting, error: Error) {
        if matches!(forgetting.done, ForgetDone::Settle(_)) {
            return forget_over(forgetting, Err(error));
        }
        if let ForgetDone::Then(after) = forgetting.done {
            // The lookup that met expired records goes on, with the locks read again.
            self.with_claims(*after);
        }
    }

    /// The records' deletion committed (`Ok`) or failed: the assets go only if the records did,
    /// and `forget` settles once they are gone (or at its deadline).
    pub(super) fn forget_stored(
        self: &Rc<Self>,
        mut forgetting: Box<Forgetting>,
        result: Result<(), Error>,
    ) {
        if let ForgetDone::Settle(settler) = &forgetting.done {
            match result {
                Err(error) => return forget_over(*forgetting, Err(error)),
                Ok(()) if !forgetting.assets.is_empty() => {
                    forgetting.deadline = Some(Deadline::start(settler, None));
                }
                Ok(()) => {}
            }
        } else if let ForgetDone::Then(after) =
            std::mem::replace(&mut forgetting.done, ForgetDone::WentOn)
        {
            // The lookup goes on, with the locks held in the origin read again.
            self.with_claims(*after);
            if result.is_err() {
                return;
            }
        }
        self.discard_assets(forgetting);
    }

    /// An asset's deletion ended (`kind`: `report::DONE`, or `report::FAILED` with the error as
    /// `value`): a lookup's expired record is saved again if the asset may still be there, so
    /// that a later lookup, with a grant at hand, tries again. Then the next asset.
    pub(super) fn asset_discarded(
        self: &Rc<Self>,
        mut forgetting: Box<Forgetting>,
        kind: u32,
        value: JsValue,
    ) {
        if let Some((key, record)) = forgetting.restore.take() {
            let error = (kind != report::DONE).then(|| from_js(&value, ErrorCode::Internal));
            let forgotten_since = deletions(|page| page.forgets()) != forgetting.forgets_before;
            if expired_record_returns(error.as_ref(), forgotten_since) {
                self.store_write(key, Some(record));
            }
        }
        self.discard_assets(forgetting);
    }

    /// Deletes the next asset, with the retries of `deleteAsset`; its outcome changes nothing
    /// (an asset already gone is what was wanted). The locks go with the last one, and
    /// `forget` settles then if its deadline has not settled it yet.
    pub(super) fn discard_assets(self: &Rc<Self>, mut forgetting: Box<Forgetting>) {
        let Some((asset_id, restore)) = forgetting.assets.pop() else {
            return forget_over(*forgetting, Ok(()));
        };
        let id = self.local_id();
        forgetting.restore = restore;
        self.begin(id, Op::DiscardAssets(forgetting));
        self.send_delete(asset_id, id);
    }

    /// Deletes the asset an upload that ended (aborted, or failed for good) reserved, as the
    /// page's work that `forget` waits for; its outcome changes nothing.
    pub(super) fn discard_asset(self: &Rc<Self>, asset_id: String) {
        let id = self.local_id();
        let _work = PageWork::begin();
        self.begin(id, Op::DiscardAsset { _work });
        self.send_delete(asset_id, id);
    }

    /// Sends `DELETE` of `asset_id` with the retries of `deleteAsset`, and a fresh grant after a
    /// 401 (a long upload outlives the grant it began with); how it ended is reported as the
    /// operation `id`'s.
    fn send_delete(self: &Rc<Self>, asset_id: String, id: u64) {
        let deleted = Settler::reporting(
            self.reporter(report::DONE, id),
            self.reporter(report::FAILED, id),
        );
        let call = OneOff::new(
            OneOffRequest::Delete {
                asset_id,
                force: false,
            },
            Answer::Nothing,
            self.one_off_retry(Operation::DeleteAsset),
            deleted,
        );
        self.send_one_off(self.local_id(), Box::new(call));
    }
}
