//! The saved-upload records in IndexedDB and the file fingerprint that finds them again.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::File;

use crate::browser::convert;
use crate::browser::js_error::from_js;
use crate::browser::store::Store;
use crate::browser::wire_js;
use crate::core::engine::FileId;
use crate::core::error::{Error, ErrorCode};
use crate::core::resume::{Fingerprint, SavedUpload};

use super::{now, Inner, PersistSetting};

/// Bytes read from each of a few places of a file to tell it apart from another file with the
/// same name and size (the content sample of the resume fingerprint).
pub(super) const SAMPLE_BYTES: f64 = 64.0 * 1024.0;

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
    pub(super) async fn store(&self) -> Option<Store> {
        if self.persist == PersistSetting::Off {
            return None;
        }
        if let Some(opened) = self.store.borrow().clone() {
            return opened;
        }
        // A storage failure must not fail uploads: run without persistence then.
        let opened = Store::open().await.ok().flatten();
        *self.store.borrow_mut() = Some(opened.clone());
        opened
    }

    pub(super) fn save_state(self: &Rc<Self>, file: FileId) {
        if self.persist == PersistSetting::Off {
            return;
        }
        let record = {
            let state = self.state.borrow();
            let (Some(saved), Some(entry)) =
                (state.engine.saved_state(file), state.files.get(&file))
            else {
                return;
            };
            let Some(fingerprint) = entry.fingerprint.clone() else {
                return;
            };
            PersistedUpload {
                filename: fingerprint.name.clone(),
                fingerprint,
                saved,
            }
        };
        let inner = Rc::clone(self);
        spawn_local(async move {
            if let Some(store) = inner.store().await {
                // Persistence is best effort: a failed write only costs resumability.
                let _ = store.put(&record.saved.upload_id, &record.to_js()).await;
            }
        });
    }

    pub(super) fn forget_record(self: &Rc<Self>, file: FileId) {
        // Only a multipart session has a record (a direct upload never had one).
        let Some(upload_id) = self.session_of(file).map(|session| session.upload_id) else {
            return;
        };
        let inner = Rc::clone(self);
        spawn_local(async move {
            if let Some(store) = inner.store().await {
                let _ = store.delete(&upload_id).await;
            }
        });
    }

    /// Every readable saved record, `(id, record)`; expired and unreadable ones are deleted.
    pub(super) async fn saved_records(&self) -> Vec<(String, PersistedUpload)> {
        let Some(store) = self.store().await else {
            return Vec::new();
        };
        let mut records = Vec::new();
        for (id, value) in store.entries().await.unwrap_or_default() {
            let record = PersistedUpload::from_js(&value).ok();
            let usable =
                record.filter(|r| r.saved.validate().is_ok() && !r.saved.is_expired(now()));
            match usable {
                Some(record) => records.push((id, record)),
                None => {
                    let _ = store.delete(&id).await;
                }
            }
        }
        records
    }
}

/// Name, size, modification time and a hash of three 64 KiB samples (start, middle, end).
/// Only these samples are read: the file itself never enters wasm memory.
pub(super) async fn fingerprint(file: &File) -> Result<Fingerprint, Error> {
    let size = file.size();
    let mut hash = Fnv1a::new();
    let middle = (size / 2.0 - SAMPLE_BYTES / 2.0).max(0.0).floor();
    for start in [0.0, middle, (size - SAMPLE_BYTES).max(0.0)] {
        let end = (start + SAMPLE_BYTES).min(size);
        let slice = file
            .slice_with_f64_and_f64(start, end)
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
        let buffer = JsFuture::from(slice.array_buffer())
            .await
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
        hash.update(&js_sys::Uint8Array::new(&buffer).to_vec());
    }
    Ok(Fingerprint {
        name: file.name(),
        size: size as u64,
        last_modified: file.last_modified(),
        sample_hash: format!("{:016x}", hash.finish()),
    })
}

/// FNV-1a, 64 bit: tells samples apart (not a security property; the server verifies chunks).
pub(super) struct Fnv1a(u64);

impl Fnv1a {
    pub(super) fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    pub(super) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub(super) fn finish(&self) -> u64 {
        self.0
    }
}
