//! The saved-upload records in IndexedDB and the file fingerprint that finds them again.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::File;

use crate::browser::convert;
use crate::browser::store::Store;
use crate::browser::wire_js;
use crate::core::engine::{FileId, Input, RequestId};
use crate::core::resume::{
    sample_starts, Fingerprint, SampleHash, SavedUpload, SAMPLE_BYTES, STORE_OPEN_TIMEOUT_MS,
};

use super::lookup::StoreTask;
use super::ops::{report, Op};
use super::{Inner, PersistSetting};

/// The record saved in IndexedDB for one resumable upload (stored as a plain object:
/// `{filename, fingerprint: {name, size, last_modified, sample_hash}, saved}`).
#[derive(Clone)]
pub(super) struct PersistedUpload {
    pub(super) filename: String,
    pub(super) fingerprint: Fingerprint,
    pub(super) saved: SavedUpload,
}

impl PersistedUpload {
    pub(super) fn to_js(&self) -> JsValue {
        let fingerprint = convert::JsObject::new()
            .set("name", self.fingerprint.name.as_str())
            .set("size", convert::number(self.fingerprint.size))
            .set("last_modified", self.fingerprint.last_modified)
            .set("sample_hash", self.fingerprint.sample_hash.as_str())
            .build();
        convert::JsObject::new()
            .set("filename", self.filename.as_str())
            .set("fingerprint", fingerprint)
            .set("saved", wire_js::saved_upload_object(&self.saved))
            .build()
    }

    pub(super) fn from_js(value: &JsValue) -> Result<PersistedUpload, wire_js::Unreadable> {
        let fingerprint = wire_js::read_object(value, "fingerprint")?;
        Ok(PersistedUpload {
            filename: wire_js::read_string(value, "filename")?,
            fingerprint: Fingerprint {
                name: wire_js::read_string(&fingerprint, "name")?,
                size: wire_js::read_u64(&fingerprint, "size")?,
                last_modified: wire_js::read_number(&fingerprint, "last_modified")?,
                sample_hash: wire_js::read_string(&fingerprint, "sample_hash")?,
            },
            saved: wire_js::saved_upload(&wire_js::read_object(value, "saved")?)?,
        })
    }
}

impl Inner {
    pub(super) fn save_state(self: &Rc<Self>, file: FileId) {
        if self.persist == PersistSetting::Off {
            return;
        }
        let saved = self.state.borrow().engine.saved_state(file);
        if let Some(saved) = saved {
            self.write_record(file, saved);
        }
    }

    /// Stores the record the engine keeps for an upload that ended done.
    pub(super) fn keep_completed(self: &Rc<Self>, file: FileId, record: SavedUpload) {
        self.write_record(file, record);
    }

    fn write_record(self: &Rc<Self>, file: FileId, saved: SavedUpload) {
        let Some(fingerprint) = self
            .with_file(file, |entry| entry.fingerprint.clone())
            .flatten()
        else {
            return;
        };
        let record = PersistedUpload {
            filename: fingerprint.name.clone(),
            fingerprint,
            saved,
        };
        self.store_write(record.saved.upload_id.clone(), Some(record.to_js()));
    }

    pub(super) fn forget_record(self: &Rc<Self>, file: FileId) {
        // Only a multipart session has a record (a direct upload never had one).
        if let Some(session) = self.session_of(file) {
            self.store_write(session.upload_id, None);
        }
    }

    /// Writes (or, with `None`, deletes) a record, in the order asked, once the database is
    /// open. Best effort: without a database, or when a write fails, only resumability is lost.
    pub(super) fn store_write(self: &Rc<Self>, key: String, value: Option<JsValue>) {
        if self.persist == PersistSetting::Off {
            return;
        }
        self.with_store(StoreTask::Write(key, value));
    }

    /// Runs `task` once the database is open (or known to be unavailable), after the tasks
    /// asked for before it.
    pub(super) fn with_store(self: &Rc<Self>, task: StoreTask) {
        if self.persist == PersistSetting::Off {
            return self.run_store_task(None, task);
        }
        let cached = self.store.borrow().clone();
        match cached {
            Some(opened) if self.state.borrow().store_tasks.is_empty() => {
                self.run_store_task(opened, task)
            }
            _ => {
                let first = {
                    let mut state = self.state.borrow_mut();
                    state.store_tasks.push(task);
                    state.store_tasks.len() == 1
                };
                if first && cached.is_none() {
                    self.start_open();
                }
            }
        }
    }

    fn start_open(self: &Rc<Self>) {
        let Ok(Some(request)) = Store::open_request(&self.database) else {
            return self.on_store_opened(None);
        };
        let id = self.local_id();
        Store::create_schema_on_upgrade(&request);
        request.set_onsuccess(Some(&self.reporter(report::DONE, id)));
        request.set_onerror(Some(&self.reporter(report::FAILED, id)));
        // An open that has not answered by then is reported as failed (the timer is cleared when
        // it answers first).
        let deadline = self.start_timer(report::FAILED, id, STORE_OPEN_TIMEOUT_MS);
        self.begin(id, Op::StoreOpen { request, deadline });
    }

    /// The database opened (or could not be: then the uploader runs without persistence); the
    /// tasks waiting for it run, in order.
    pub(super) fn on_store_opened(self: &Rc<Self>, opened: Option<Store>) {
        *self.store.borrow_mut() = Some(opened.clone());
        let tasks = std::mem::take(&mut self.state.borrow_mut().store_tasks);
        for task in tasks {
            self.run_store_task(opened.clone(), task);
        }
    }

    /// Saves (`Some`) or deletes (`None`) the record under `key` as an operation of its own; a
    /// write the store refuses is skipped (persistence is best effort).
    pub(super) fn start_write(self: &Rc<Self>, store: &Store, key: &str, value: Option<&JsValue>) {
        let Ok(transaction) = store.write(key, value) else {
            return;
        };
        self.begin_transaction(transaction, Op::StoreWrite);
    }

    /// Reads the next sample of the resume fingerprint the engine asked for with `request`;
    /// once all are read (or one is unreadable: persistence is best effort), keeps the
    /// fingerprint for the saved-state record and answers the input that tells the engine.
    pub(super) fn continue_sampling(
        self: &Rc<Self>,
        file: FileId,
        request: RequestId,
        reader: SampleReader,
    ) -> Option<Input> {
        if let Some(buffer) = reader.next_sample() {
            self.begin(
                request.0,
                Op::Sample {
                    file,
                    request,
                    reader,
                },
            );
            self.report_promise(&buffer, report::DONE, report::FAILED, request.0);
            return None;
        }
        // Gone when the upload was aborted meanwhile: the engine then ignores the input.
        let fingerprint = reader.finish();
        let unreadable = fingerprint.is_none();
        if let Some(entry) = self.state.borrow_mut().files.get_mut(&file) {
            entry.fingerprint = fingerprint;
        }
        if unreadable {
            // No record can be saved: no resume will continue the upload.
            self.deferred(Input::RecordDropped { file });
        }
        Some(Input::FingerprintRead { request })
    }
}

/// Reads a file's fingerprint samples one after the other and hashes them.
pub(super) struct SampleReader {
    file: File,
    hash: SampleHash,
    /// How many samples were hashed.
    read: usize,
    failed: bool,
}

impl SampleReader {
    pub(super) fn new(file: File) -> SampleReader {
        SampleReader {
            file,
            hash: SampleHash::new(),
            read: 0,
            failed: false,
        }
    }

    /// Starts reading the next sample: its bytes arrive as an `ArrayBuffer` through the
    /// promise. `None` when every sample is read, or a read failed.
    pub(super) fn next_sample(&self) -> Option<Promise> {
        let (start, end) = self.next_range()?;
        match self.file.slice_with_f64_and_f64(start as f64, end as f64) {
            Ok(slice) => Some(slice.array_buffer()),
            Err(thrown) => Some(Promise::reject(&thrown)),
        }
    }

    fn next_range(&self) -> Option<(u64, u64)> {
        if self.failed {
            return None;
        }
        // `File.size` is a non-negative integer below 2^53.
        let size = self.file.size() as u64;
        let start = *sample_starts(size).get(self.read)?;
        Some((start, (start + SAMPLE_BYTES).min(size)))
    }

    /// Hashes the sample just read.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        self.read += 1;
    }

    /// A sample could not be read: there is no fingerprint.
    pub(super) fn fail(&mut self) {
        self.failed = true;
    }

    /// The fingerprint, once every sample was read.
    pub(super) fn finish(&self) -> Option<Fingerprint> {
        if self.failed || self.next_range().is_some() {
            return None;
        }
        Some(Fingerprint {
            name: self.file.name(),
            size: self.file.size() as u64,
            last_modified: self.file.last_modified(),
            sample_hash: self.hash.to_hex(),
        })
    }
}
