//! A session's lock across the pages of an origin ([`claim_name`]), with the Web Locks API: a
//! page holds it while it sends the session's chunks, so that another tab neither resumes the
//! same session nor lists it as pending. A paused upload lets go of it and asks for it again
//! when it resumes. Whether an upload may go on is decided in
//! [`crate::core::resume::check_claim`]; this module asks, holds and lets go.

use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser::js_error::error_name;
use crate::core::engine::{FileId, Input};
use crate::core::resume::{
    after_claim, after_reclaim, claim_name, is_claimed_elsewhere, resume_claim, AfterClaim,
    ClaimOutcome, Reclaim, ResumeClaim, CLAIM_WAIT_MS,
};

use super::forget::ForgetDone;
use super::handle::changed;
use super::lookup::{ListRecords, Lookup, Records, Resume, StoreTask};
use super::one_off::Settler;
use super::ops::{report, Op};
use super::{Inner, Shared};

// A lock request hands back `held` (called with the function that lets go of the lock) or
// reports `refused` (with what the runtime threw: a `TimeoutError` once `waitMs` passed while
// someone else held it); a query reports the names of the held locks. No decision is made here.
#[wasm_bindgen(inline_js = r#"
export function request_claim(name, waitMs, held, refused) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks || !AbortSignal.timeout) return false;
  locks.request(name, { signal: AbortSignal.timeout(waitMs) }, () => new Promise(held)).catch(refused);
  return true;
}
export function query_claims(done, failed) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return false;
  locks.query().then((snapshot) => done(snapshot.held.map((lock) => lock.name)), failed);
  return true;
}
"#)]
extern "C" {
    fn request_claim(name: &str, wait_ms: u32, held: &Function, refused: &Function) -> bool;
    fn query_claims(done: &Function, failed: &Function) -> bool;
}

/// A session's lock this page holds: let go of when dropped (the upload paused or ended, or its
/// uploader was freed). The page going away lets go of it too.
pub(super) struct SessionClaim(Function);

impl Drop for SessionClaim {
    fn drop(&mut self) {
        // Resolves the promise the lock waits on; it cannot throw.
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// How a lock request reported (`kind`, `value`): the outcome, and the lock when it is held.
pub(super) fn claim_reported(kind: u32, value: JsValue) -> (ClaimOutcome, Option<SessionClaim>) {
    if kind == report::DONE {
        if let Ok(release) = value.dyn_into::<Function>() {
            return (ClaimOutcome::Held, Some(SessionClaim(release)));
        }
        return (ClaimOutcome::Unavailable, None);
    }
    match error_name(&value).as_deref() {
        Some("TimeoutError" | "AbortError") => (ClaimOutcome::HeldElsewhere, None),
        _ => (ClaimOutcome::Unavailable, None),
    }
}

impl Inner {
    /// Asks for the lock of session `upload_id`; its report comes with the returned operation
    /// id, which the caller begins. `None` where the runtime has no locks.
    pub(super) fn ask_claim(&self, upload_id: &str) -> Option<u64> {
        let id = self.local_id();
        let held = self.reporter(report::DONE, id);
        let refused = self.reporter(report::FAILED, id);
        request_claim(&claim_name(upload_id), CLAIM_WAIT_MS, &held, &refused).then_some(id)
    }

    /// Holds the lock of the session `file`'s upload just created, so that no other page resumes
    /// it while this one sends it.
    pub(super) fn claim_new_session(self: &Rc<Self>, file: FileId, upload_id: &str) {
        if let Some(id) = self.ask_claim(upload_id) {
            self.begin_claim(file, id);
        }
    }

    /// Records the lock request `id` of the upload `file` as in flight: one at a time.
    fn begin_claim(self: &Rc<Self>, file: FileId, id: u64) {
        if let Some(entry) = self.state.borrow_mut().files.get_mut(&file) {
            entry.claiming = true;
        }
        self.begin(id, Op::Claim(file));
    }

    /// Pauses the upload `file`. Its session's lock goes once the pause has settled
    /// ([`Inner::release_settled_claims`]): another page may then continue it.
    pub(super) fn pause_upload(self: &Rc<Self>, file: FileId) {
        self.feed(Input::Pause { file: Some(file) });
    }

    /// Lets go of the lock of each paused upload whose pause has settled
    /// ([`crate::core::engine::Engine::is_settled_paused`]): until then a PUT let finish or a
    /// report writes its record again, which would undo another page's `forget`.
    pub(super) fn release_settled_claims(&self) {
        let unheld: Vec<SessionClaim> = {
            let mut state = self.state.borrow_mut();
            let Shared { engine, files, .. } = &mut *state;
            files
                .iter_mut()
                .filter(|(&file, _)| engine.is_settled_paused(file))
                .filter_map(|(_, entry)| entry.claim.take())
                .collect()
        };
        drop(unheld);
    }

    /// Resumes the upload `file` (`handle.resume()`): at once while it holds its session's lock
    /// (or saves no record, or the runtime has no locks), else once it holds it again. A lock
    /// request already in flight resumes it when answered.
    pub(super) fn continue_upload(self: &Rc<Self>, file: FileId) {
        let (step, upload_id) = {
            let state = self.state.borrow();
            let Some(entry) = state.files.get(&file) else {
                return;
            };
            let step = resume_claim(
                entry.claiming,
                entry.fingerprint.is_some(),
                entry.session.is_some(),
                entry.claim.is_some(),
            );
            (step, entry.session.as_ref().map(|s| s.upload_id.clone()))
        };
        let asked = match (step, upload_id) {
            (ResumeClaim::Wait, _) => return,
            (ResumeClaim::Ask, Some(upload_id)) => self.ask_claim(&upload_id),
            _ => None,
        };
        match asked {
            Some(id) => self.begin_claim(file, id),
            None => self.resumed(file),
        }
    }

    /// A lock request of the upload `file` was answered; what follows is
    /// [`crate::core::resume::after_claim`]'s.
    pub(super) fn claim_answered(
        self: &Rc<Self>,
        file: FileId,
        outcome: ClaimOutcome,
        claim: Option<SessionClaim>,
    ) {
        let step = {
            let mut state = self.state.borrow_mut();
            let paused_by_user = state.files.get_mut(&file).map(|entry| {
                entry.claiming = false;
                entry.handle.borrow().paused
            });
            let held = state.engine.is_paused(file);
            after_claim(
                outcome,
                paused_by_user.is_some(),
                paused_by_user == Some(true),
                held,
            )
        };
        match step {
            AfterClaim::LetGo => drop(claim),
            AfterClaim::Keep => self.keep_claim(file, claim),
            AfterClaim::TakenOver => self.feed(Input::TakenOver { file }),
            AfterClaim::CheckRecord => {
                self.keep_claim(file, claim);
                self.with_store(StoreTask::Read(Lookup::Reclaimed(file)));
            }
        }
    }

    /// The records, read once the paused upload `file` held its lock again (`None`: there is no
    /// store to read, or it could not be read): it resumes, or ends if another page gave it up
    /// ([`after_reclaim`]). Not if it was paused again meanwhile.
    pub(super) fn reclaimed(self: &Rc<Self>, file: FileId, entries: Option<&[(String, JsValue)]>) {
        let (upload_id, paused) = match self.state.borrow().files.get(&file) {
            Some(entry) => (
                entry.session.as_ref().map(|s| s.upload_id.clone()),
                entry.handle.borrow().paused,
            ),
            None => return,
        };
        if paused {
            return;
        }
        let saved = entries
            .zip(upload_id)
            .map(|(entries, id)| entries.iter().any(|(key, _)| *key == id));
        match after_reclaim(saved) {
            Reclaim::Resume => self.resumed(file),
            Reclaim::GivenUpElsewhere => self.feed(Input::GivenUpElsewhere { file }),
        }
    }

    /// Resumes the engine's upload `file`, and shows its phase.
    fn resumed(self: &Rc<Self>, file: FileId) {
        self.feed(Input::Resume { file: Some(file) });
        let Some(handle) = (self.state.borrow().files.get(&file)).map(|e| Rc::clone(&e.handle))
        else {
            return;
        };
        let updated = {
            let mut state = handle.borrow_mut();
            let phase = self.shown_phase(file, state.phase, state.paused);
            let update = !state.settled && state.phase != phase;
            if update {
                state.phase = phase;
            }
            update
        };
        if updated {
            changed(&handle);
        }
    }

    /// The upload `file`'s entry keeps its lock ([`after_claim`] let go of it for an upload
    /// paused meanwhile); an upload over lets go of it at once.
    fn keep_claim(&self, file: FileId, claim: Option<SessionClaim>) {
        let unheld = match (self.state.borrow_mut().files.get_mut(&file), claim) {
            (Some(entry), Some(claim)) => entry.claim.replace(claim),
            (_, claim) => claim,
        };
        drop(unheld);
    }

    /// Goes on with `after` once the locks held in this origin are known.
    pub(super) fn with_claims(self: &Rc<Self>, after: AfterClaims) {
        let id = self.local_id();
        let done = self.reporter(report::DONE, id);
        let failed = self.reporter(report::FAILED, id);
        if query_claims(&done, &failed) {
            self.begin(id, Op::QueryClaims(Box::new(after)));
        } else {
            self.claims_known(after, &[])
        }
    }

    /// The locks held in this origin were read (or could not be: then none is known).
    pub(super) fn claims_queried(self: &Rc<Self>, after: AfterClaims, kind: u32, value: JsValue) {
        let held: Vec<String> = match kind {
            report::DONE => js_sys::Array::from(&value)
                .iter()
                .filter_map(|name| name.as_string())
                .collect(),
            _ => Vec::new(),
        };
        self.claims_known(after, &held)
    }

    fn claims_known(self: &Rc<Self>, after: AfterClaims, held: &[String]) {
        // This uploader's own uploads, whatever their lock's state (one just paused may still
        // be listed as held while the runtime lets go of it).
        let own: Vec<String> = (self.state.borrow().files.values())
            .filter_map(|entry| Some(entry.session.as_ref()?.upload_id.clone()))
            .collect();
        let elsewhere = |upload_id: &str| is_claimed_elsewhere(upload_id, held, &own);
        match after {
            AfterClaims::List(mut records, settler, list) => {
                records.retain(|(_, record)| !elsewhere(&record.saved.upload_id));
                settler.settle(Ok(list(records)))
            }
            AfterClaims::Resume(records, resume) => self.resume_matched(resume, records, elsewhere),
            AfterClaims::Forget(targets, every, done) => {
                self.start_forget(targets, every, done, elsewhere)
            }
        }
    }
}

impl Inner {
    /// A forgotten upload this uploader still runs (of session `upload_id`; `None`: every
    /// one) saves no record from now on (its next progress would write it back), and so holds
    /// no lock: no page could resume it, and the engine treats its failures as final. Whether
    /// this uploader runs it.
    pub(super) fn stop_saving(self: &Rc<Self>, upload_id: Option<&str>) -> bool {
        let mut dropped = Vec::new();
        let mut unheld = Vec::new();
        for (&file, entry) in self.state.borrow_mut().files.iter_mut() {
            let session = entry.session.as_ref();
            if upload_id.is_none_or(|id| session.is_some_and(|s| s.upload_id == id)) {
                entry.fingerprint = None;
                unheld.extend(entry.claim.take());
                dropped.push(file);
            }
        }
        drop(unheld);
        let runs_here = !dropped.is_empty();
        for file in dropped {
            self.feed(Input::RecordDropped { file });
        }
        runs_here
    }
}

/// What waits for the locks held in this origin.
pub(super) enum AfterClaims {
    /// `pendingUploads()` and the queue's restore: the records, less those another page sends.
    List(Records, Settler, ListRecords),
    /// `resume()`: the record for the chosen file, one another page sends only if no other fits.
    Resume(Records, Box<Resume>),
    /// `forget(id)` (or `forget()` of every record: `true`), or a lookup's expired records: the
    /// records to give up, but those another page sends.
    Forget(Vec<String>, bool, ForgetDone),
}
