//! Reading the saved records on the executor: `pendingUploads`, `forget`, the queue's
//! `restorePending`, and `resume()`'s lookup (the record for the chosen file, then the file's
//! fingerprint). Each is a task on the database ([`StoreTask`]), then a few operations whose
//! reports continue it; which record matches and whether it expired is decided in
//! [`crate::core::resume`].

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::File;

use crate::browser::api::SessionRef;
use crate::browser::store::Store;
use crate::core::engine::{FileId, Input};
use crate::core::error::{Error, ErrorCode};
use crate::core::queue::SavedEntry;
use crate::core::resume::{
    check_claim, check_same_file, find_resumable, met_record, ClaimOutcome, Fingerprint, MetRecord,
    Standing,
};

use super::claim::{AfterClaims, SessionClaim};
use super::driver::headers;
use super::forget::{ForgetDone, Forgetting};
use super::handle::fail;
use super::one_off::Settler;
use super::ops::{report, Op};
use super::persistence::{PersistedUpload, SampleReader};
use super::request::UploadRequest;
use super::{now, FileEntry, HandleState, Inner};

/// What waits for the database to open.
pub(super) enum StoreTask {
    /// Write a record (`None`: delete it), best effort.
    Write(String, Option<JsValue>),
    /// `forget`: delete the records it gives up; it settles once that committed.
    Forget(Box<Forgetting>),
    /// Read every usable record.
    Read(Lookup),
}

/// The usable saved records, `(id, record)`.
pub(super) type Records = Vec<(String, PersistedUpload)>;

/// Makes a promise's value of the usable saved records.
pub(super) type ListRecords = Box<dyn FnOnce(Records) -> JsValue>;

/// What the usable records are read for.
pub(super) enum Lookup {
    /// Settle the promise with what the function makes of them.
    Records(Settler, ListRecords),
    /// Continue the saved upload of a chosen file.
    Resume(Box<Resume>),
    /// `forget(id)`: which records to give up (`None`: every record).
    Forget(Option<String>, Settler),
    /// `forget`: the records it locked, read again under their locks.
    Forgotten(Box<Forgetting>),
    /// A paused upload of this uploader holds its session's lock again: is its record still
    /// saved ([`crate::core::resume::after_reclaim`])?
    Reclaimed(FileId),
}

/// A `resume()` under way: the chosen file, its options and handle, and the record found.
pub(super) struct Resume {
    file: File,
    request: UploadRequest,
    handle: Rc<RefCell<HandleState>>,
    record: Option<(String, PersistedUpload)>,
    /// The chosen file's fingerprint, once read and found to be the record's.
    fingerprint: Option<Fingerprint>,
}

impl Resume {
    /// Settles the handle with the error (`aborted` for an abort).
    pub(super) fn fail(&self, error: Error) {
        fail(&self.handle, &error);
    }
}

impl Inner {
    /// Starts continuing the saved upload of `file`; the handle settles if that cannot be done.
    pub(super) fn start_resume(
        self: &Rc<Self>,
        file: File,
        request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) {
        let resume = Box::new(Resume {
            file,
            request,
            handle,
            record: None,
            fingerprint: None,
        });
        self.with_store(StoreTask::Read(Lookup::Resume(resume)));
    }

    /// A promise of what `list` makes of the usable saved records.
    pub(super) fn read_records(self: &Rc<Self>, list: ListRecords) -> js_sys::Promise {
        Settler::promise(|settler| {
            self.with_store(StoreTask::Read(Lookup::Records(settler, list)));
        })
    }

    /// Runs a task on the open database (`None`: there is none, or persistence is off).
    pub(super) fn run_store_task(self: &Rc<Self>, opened: Option<Store>, task: StoreTask) {
        match (task, opened) {
            (StoreTask::Write(key, value), Some(store)) => {
                self.start_write(&store, &key, value.as_ref())
            }
            (StoreTask::Write(..), None) => {}
            (StoreTask::Forget(forgetting), Some(store)) => match store.delete(forgetting.keys()) {
                Ok(transaction) => {
                    self.begin_transaction(transaction, |transaction| Op::StoreForget {
                        transaction,
                        forgetting,
                    })
                }
                Err(error) => self.forget_stored(forgetting, Err(error)),
            },
            // Without a database there is nothing to forget.
            (StoreTask::Forget(forgetting), None) => self.forget_stored(forgetting, Ok(())),
            (StoreTask::Read(lookup), Some(store)) => match store.read_all() {
                Ok((transaction, keys, values)) => {
                    self.begin_transaction(transaction, |transaction| Op::StoreRead {
                        transaction,
                        keys,
                        values,
                        lookup,
                    })
                }
                Err(_) => self.looked_up(lookup, None),
            },
            (StoreTask::Read(Lookup::Records(settler, list)), None) => {
                settler.settle(Ok(list(Vec::new())))
            }
            // Without a database there is nothing to forget (but the page's deletions to wait
            // for); one that would not open may still hold the records.
            (StoreTask::Read(Lookup::Forget(_, settler)), None) => {
                let outcome = match self.store_failed.get() {
                    false => Ok(()),
                    true => Err(Error::new(
                        ErrorCode::StorageUnavailable,
                        "forget: IndexedDB did not open (an error, or no answer within 5 s), so \
                         the saved uploads could not be deleted",
                    )),
                };
                self.forget_without_store(settler, outcome);
            }
            (StoreTask::Read(Lookup::Forgotten(forgetting)), None) => {
                self.forget_locked(forgetting, Vec::new())
            }
            (StoreTask::Read(Lookup::Reclaimed(file)), None) => self.reclaimed(file, None),
            (StoreTask::Read(Lookup::Resume(resume)), None) => resume.fail(Error::invalid(
                "resume needs persistence: IndexedDB is unavailable or `persist` is false",
            )),
        }
    }

    /// Begins the operation `op` makes of `transaction`, whose end (`complete`, or
    /// `error`/`abort`) is reported as that operation's.
    pub(super) fn begin_transaction(
        self: &Rc<Self>,
        transaction: web_sys::IdbTransaction,
        op: impl FnOnce(web_sys::IdbTransaction) -> Op,
    ) {
        let id = self.local_id();
        transaction.set_oncomplete(Some(&self.reporter(report::DONE, id)));
        transaction.set_onerror(Some(&self.reporter(report::FAILED, id)));
        transaction.set_onabort(Some(&self.reporter(report::FAILED, id)));
        self.begin(id, op(transaction));
    }

    /// The records were read (`None`: the store could not be read). Unreadable ones, and expired ones whose session completed, are
    /// deleted at once; expired ones whose session never completed are given up first, with
    /// their assets, as `forget()` gives up records ([`met_record`]); the others are
    /// used.
    pub(super) fn looked_up(
        self: &Rc<Self>,
        lookup: Lookup,
        entries: Option<Vec<(String, JsValue)>>,
    ) {
        if let Lookup::Reclaimed(file) = lookup {
            // Only a record read as gone ends the upload: an unreadable store does not.
            return self.reclaimed(file, entries.as_deref());
        }
        // An unreadable store lists nothing, like an empty one.
        let entries = entries.unwrap_or_default();
        let now = now();
        let mut records = Vec::new();
        // The expired records to give up first, and (for the lookup under `forget`'s locks)
        // the same records among `records`.
        let mut expired = Vec::new();
        let under_locks = matches!(lookup, Lookup::Forgotten(_));
        for (id, value) in entries {
            let Ok(record) = PersistedUpload::from_js(&value) else {
                self.store_write(id, None);
                continue;
            };
            match met_record(&record.saved, now) {
                MetRecord::Usable => records.push((id, record)),
                MetRecord::ExpiredReserving if under_locks => records.push((id, record)),
                MetRecord::ExpiredReserving => expired.push(id),
                MetRecord::Dropped => self.store_write(id, None),
            }
        }
        let after = match lookup {
            // Read again under the locks: which of them, expired ones included, to give up.
            Lookup::Forgotten(forgetting) => return self.forget_locked(forgetting, records),
            Lookup::Records(settler, list) => {
                records.retain(|(_, record)| record.saved.is_pending());
                AfterClaims::List(records, settler, list)
            }
            Lookup::Resume(resume) => AfterClaims::Resume(records, resume),
            Lookup::Reclaimed(_) => return,
            Lookup::Forget(target, settler) => {
                let every = target.is_none();
                let targets = match target {
                    // An upload of this uploader may not have written its record yet.
                    Some(id) => {
                        expired.retain(|other| *other != id);
                        vec![id]
                    }
                    // `forget()` gives up the expired records with the others.
                    None => {
                        let mut targets = std::mem::take(&mut expired);
                        for (id, _) in records {
                            targets.push(id);
                        }
                        targets
                    }
                };
                AfterClaims::Forget(targets, every, ForgetDone::Settle(settler))
            }
        };
        if expired.is_empty() {
            return self.with_claims(after);
        }
        // First the expired records, with the assets of sessions that never completed, as
        // `forget()` gives them up; the lookup goes on once the records are deleted.
        let done = ForgetDone::Then(Box::new(after));
        self.with_claims(AfterClaims::Forget(expired, true, done))
    }

    /// Finds the record of `resume`'s file (`elsewhere`: whether another page sends an upload)
    /// and reads the file's fingerprint.
    pub(super) fn resume_matched(
        self: &Rc<Self>,
        mut resume: Box<Resume>,
        records: Records,
        elsewhere: impl Fn(&str) -> bool,
    ) {
        let found = find_resumable(
            records.iter().map(|(id, record)| {
                let standing = match record.saved.is_pending() {
                    false => Standing::Completed,
                    true if elsewhere(&record.saved.upload_id) => Standing::SentElsewhere,
                    true => Standing::Pending,
                };
                (id.as_str(), &record.fingerprint, standing, (id, record))
            }),
            resume.request.resume_id.as_deref(),
            &resume.file.name(),
            resume.file.size() as u64,
            resume.file.last_modified(),
        )
        .map(|(id, record)| (id.clone(), record.clone()));
        let Some(record) = found else {
            return resume.fail(Error::new(
                ErrorCode::NotFound,
                "no saved upload matches this file (see pendingUploads())",
            ));
        };
        resume.record = Some(record);
        let reader = SampleReader::new(resume.file.clone());
        self.continue_fingerprint(self.local_id(), resume, reader);
    }

    /// Reads the next fingerprint sample of the chosen file as operation `id`; once all are
    /// read, compares the fingerprint with the record's and continues the upload.
    pub(super) fn continue_fingerprint(
        self: &Rc<Self>,
        id: u64,
        resume: Box<Resume>,
        reader: SampleReader,
    ) {
        if let Some(buffer) = reader.next_sample() {
            self.begin(id, Op::Fingerprint { resume, reader });
            return self.report_promise(&buffer, report::DONE, report::FAILED, id);
        }
        let (Some(actual), Some((_, record))) = (reader.finish(), &resume.record) else {
            return resume.fail(Error::new(
                ErrorCode::Internal,
                "the file could not be read",
            ));
        };
        if let Err(error) = check_same_file(&record.fingerprint, &actual, &record.filename) {
            return resume.fail(error);
        }
        // Before anything is sent: another page may be running this session.
        let asked = self.ask_claim(&record.saved.upload_id);
        let mut resume = resume;
        resume.fingerprint = Some(actual);
        match asked {
            Some(id) => self.begin(id, Op::ClaimResume(resume)),
            None => self.resume_claimed(resume, ClaimOutcome::Unavailable, None),
        }
    }

    /// The session's lock was asked for: the upload continues, unless another page runs it.
    pub(super) fn resume_claimed(
        self: &Rc<Self>,
        resume: Box<Resume>,
        outcome: ClaimOutcome,
        claim: Option<SessionClaim>,
    ) {
        if let Err(error) = self.restore_claimed(&resume, outcome, claim) {
            resume.fail(error);
        }
    }

    fn restore_claimed(
        self: &Rc<Self>,
        resume: &Resume,
        outcome: ClaimOutcome,
        claim: Option<SessionClaim>,
    ) -> Result<(), Error> {
        let (Some((id, record)), Some(actual)) = (&resume.record, &resume.fingerprint) else {
            return Ok(());
        };
        check_claim(outcome, &record.saved.upload_id)?;
        let handle = &resume.handle;
        // Aborted while its record was looked up: the upload is still restored, so that the
        // engine's abort deletes its record and reserved asset (or keeps a completed one).
        let aborted_early = handle.borrow().settled;
        let saved = &record.saved;
        let restored = self.state.borrow_mut().engine.restore_upload(
            now(),
            saved.clone(),
            resume.file.size() as u64,
            resume.request.wait_until_ready,
        );
        let file_id = match restored {
            Ok(file_id) => file_id,
            Err(error) => {
                // Expired since the records were listed: it is deleted, as it would have been
                // then.
                if !saved.is_usable(now()) {
                    self.store_write(id.clone(), None);
                }
                return Err(error);
            }
        };
        let entry = FileEntry {
            blob: resume.file.clone().into(),
            create: None,
            session: Some(SessionRef {
                upload_id: saved.upload_id.clone(),
                upload_token: saved.upload_token.clone(),
            }),
            upload_headers: headers(&saved.upload_headers),
            handle: Rc::clone(handle),
            fingerprint: Some(actual.clone()),
            claim,
            claiming: false,
        };
        {
            let mut state = handle.borrow_mut();
            state.upload_id = Some(saved.upload_id.clone());
            state.asset_id = Some(saved.asset_id.clone());
        }
        if aborted_early {
            // The handle already shows `aborted`: only the engine's abort is left to run.
            self.state.borrow_mut().files.insert(file_id, entry);
            self.feed(Input::Abort {
                file: Some(file_id),
            });
            return Ok(());
        }
        self.register(file_id, entry, handle);
        Ok(())
    }
}

/// `pendingUploads()`'s list: one `PendingUpload` per usable record.
pub(super) fn pending_list(records: Records) -> JsValue {
    let list = js_sys::Array::new();
    for (id, record) in records {
        let saved = &record.saved;
        let uploaded = saved.reported_bytes();
        let fraction = crate::core::progress::fraction(uploaded, saved.total_size);
        list.push(
            &crate::browser::convert::JsObject::new()
                .set("id", id.as_str())
                .set("filename", record.filename.as_str())
                .set("size", saved.total_size as f64)
                .set("lastModified", record.fingerprint.last_modified)
                .set("uploadedBytes", uploaded as f64)
                .set("fraction", fraction)
                .set("expiresAt", saved.expires_at.as_str())
                .build(),
        );
    }
    list.into()
}

/// A usable record as an upload queue restores it.
pub(super) fn saved_entry((id, record): (String, PersistedUpload)) -> SavedEntry {
    SavedEntry {
        uploaded_bytes: record.saved.reported_bytes(),
        uploaded_chunks: record.saved.reported_chunks().count() as u32,
        total_chunks: record.saved.total_chunks,
        asset_id: record.saved.asset_id,
        size: record.saved.total_size,
        last_modified: record.fingerprint.last_modified,
        filename: record.filename,
        upload_id: id,
    }
}
