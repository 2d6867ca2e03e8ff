//! A session's lock across the pages of an origin ([`claim_name`]), with the Web Locks API: a
//! page holds it while it runs the upload, so that another tab neither resumes the same session
//! nor lists it as pending. Whether a resume may go on is decided in
//! [`crate::core::resume::check_claim`]; this module asks, holds and lets go.

use std::rc::Rc;

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::engine::FileId;
use crate::core::resume::{claim_name, is_claimed_elsewhere, ClaimOutcome};

use super::lookup::{ListRecords, Records};
use super::one_off::Settler;
use super::ops::{report, Op};
use super::Inner;

// The lock's callback hands back `held` (called with the function that lets go of the lock) or
// reports `refused` (with `null` when another page holds it, or what the runtime threw). No
// decision is made here.
#[wasm_bindgen(inline_js = r#"
export function request_claim(name, held, refused) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return false;
  locks.request(name, { ifAvailable: true }, (lock) => (lock === null ? refused(null) : new Promise(held))).catch(refused);
  return true;
}
export function query_claims(done, failed) {
  const locks = globalThis.navigator && navigator.locks;
  if (!locks) return false;
  locks.query().then(done, failed);
  return true;
}
"#)]
extern "C" {
    fn request_claim(name: &str, held: &Function, refused: &Function) -> bool;
    fn query_claims(done: &Function, failed: &Function) -> bool;
}

/// A session's lock this page holds: let go of when dropped (the upload's entry went: it
/// finished, or its uploader was freed). The page going away lets go of it too.
pub(super) struct SessionClaim(Function);

impl Drop for SessionClaim {
    fn drop(&mut self) {
        // Resolves the promise the lock waits on; it cannot throw.
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// How a lock request reported (`kind`, `value`): the outcome, and the lock when it is held.
pub(super) fn claim_reported(kind: u32, value: JsValue) -> (ClaimOutcome, Option<SessionClaim>) {
    match (kind, value.dyn_into::<Function>()) {
        (report::DONE, Ok(release)) => (ClaimOutcome::Held, Some(SessionClaim(release))),
        (report::FAILED, Err(value)) if value.is_null() => (ClaimOutcome::HeldElsewhere, None),
        _ => (ClaimOutcome::Unavailable, None),
    }
}

/// The names of the locks held in this origin, from a `LockManager.query()` snapshot.
fn held_names(snapshot: &JsValue) -> Vec<String> {
    let held = Reflect::get(snapshot, &"held".into()).unwrap_or(JsValue::UNDEFINED);
    let held: Array = held.dyn_into().unwrap_or_default();
    held.iter()
        .filter_map(|lock| Reflect::get(&lock, &"name".into()).ok()?.as_string())
        .collect()
}

impl Inner {
    /// Asks for the lock of session `upload_id`; the report comes with the returned operation
    /// id, which the caller begins. `None` where the runtime has no locks.
    pub(super) fn ask_claim(&self, upload_id: &str) -> Option<u64> {
        let id = self.local_id();
        let held = self.reporter(report::DONE, id);
        let refused = self.reporter(report::FAILED, id);
        request_claim(&claim_name(upload_id), &held, &refused).then_some(id)
    }

    /// Holds the lock of the session `file`'s upload just created, so that no other page resumes
    /// it while this one runs it.
    pub(super) fn claim_new_session(self: &Rc<Self>, file: FileId, upload_id: &str) {
        if let Some(id) = self.ask_claim(upload_id) {
            self.begin(id, Op::ClaimSession(file));
        }
    }

    /// The lock of a new session was answered: the upload's entry keeps it (an upload already
    /// over lets go of it at once).
    pub(super) fn session_claimed(&self, file: FileId, kind: u32, value: JsValue) {
        let (_, claim) = claim_reported(kind, value);
        let unheld = match (self.state.borrow_mut().files.get_mut(&file), claim) {
            (Some(entry), Some(claim)) => entry.claim.replace(claim),
            (_, claim) => claim,
        };
        drop(unheld);
    }

    /// Settles a list of records once the locks held in this origin are known: those whose
    /// session another page (or uploader) holds are running there, and are left out.
    pub(super) fn list_unclaimed(
        self: &Rc<Self>,
        records: Records,
        settler: Settler,
        list: ListRecords,
    ) {
        let id = self.local_id();
        let done = self.reporter(report::DONE, id);
        let failed = self.reporter(report::FAILED, id);
        if query_claims(&done, &failed) {
            self.begin(id, Op::QueryClaims(Box::new((records, settler, list))));
        } else {
            settler.settle(Ok(list(records)))
        }
    }

    /// The locks held in this origin were read (or could not be: then nothing is left out).
    pub(super) fn claims_queried(
        &self,
        (mut records, settler, list): (Records, Settler, ListRecords),
        kind: u32,
        value: JsValue,
    ) {
        if kind == report::DONE {
            let held = held_names(&value);
            let own: Vec<String> = (self.state.borrow().files.values())
                .filter_map(|entry| Some(entry.session.as_ref()?.upload_id.clone()))
                .collect();
            records
                .retain(|(_, record)| !is_claimed_elsewhere(&record.saved.upload_id, &held, &own));
        }
        settler.settle(Ok(list(records)))
    }
}
