//! A small key → plain-object store on IndexedDB, for resumable uploads (IndexedDB stores JS
//! objects as they are: no JSON text in between).
//!
//! IndexedDB rather than `localStorage`: it exists in dedicated Web Workers too, it is not
//! limited to ~5 MB per origin, and writes do not block the main thread. Runtimes without
//! IndexedDB (Node) get `None` from [`Store::open`] and simply do not persist.

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
};

use super::js_error::describe;
use crate::core::error::{Error, ErrorCode};

/// The IndexedDB database name (one per origin).
pub const DATABASE_NAME: &str = "twelvelabs-edge-upload";
/// Schema version; bump with an upgrade step when the object stores change.
const DATABASE_VERSION: u32 = 1;
/// The object store holding one record per resumable upload.
pub const UPLOADS_STORE: &str = "uploads";

/// An open IndexedDB database with the uploads object store.
#[derive(Clone)]
pub struct Store {
    db: IdbDatabase,
}

impl Store {
    /// Starts opening (creating on first use) the database: `Ok(None)` when the runtime has no
    /// IndexedDB (Node). The caller runs [`Store::create_schema`] on `upgradeneeded` and reads
    /// the result with [`Store::opened`] on `success`.
    pub fn open_request() -> Result<Option<IdbOpenDbRequest>, Error> {
        let Some(factory) = Reflect::get(&js_sys::global(), &"indexedDB".into())
            .ok()
            .and_then(|f| f.dyn_into::<IdbFactory>().ok())
        else {
            return Ok(None);
        };
        factory
            .open_with_u32(DATABASE_NAME, DATABASE_VERSION)
            .map(Some)
            .map_err(|e| storage_error("open", &e))
    }

    /// Creates the object store; runs only when the database is new (or older than
    /// `DATABASE_VERSION`).
    pub fn create_schema(request: &IdbOpenDbRequest) {
        if let Ok(db) = request.result().and_then(|db| db.dyn_into::<IdbDatabase>()) {
            // Version 1 is the first schema, so an upgrade means the database is new.
            // A failure here aborts the open request, which then fails.
            let _ = db.create_object_store(UPLOADS_STORE);
        }
    }

    /// The database an open request that succeeded opened.
    pub fn opened(request: &IdbOpenDbRequest) -> Option<Store> {
        let db = request.result().ok()?.dyn_into::<IdbDatabase>().ok()?;
        Some(Store { db })
    }

    /// Opens (creating on first use) the database. `Ok(None)` when the runtime has no
    /// IndexedDB (Node, or a browser that disables it, e.g. some private modes).
    pub async fn open() -> Result<Option<Store>, Error> {
        let Some(request) = Self::open_request()? else {
            return Ok(None);
        };
        let upgrade_request = request.clone();
        let on_upgrade = Closure::<dyn FnMut()>::new(move || Self::create_schema(&upgrade_request));
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let opened = settle_request(&request).await;
        request.set_onupgradeneeded(None);
        drop(on_upgrade);
        // A browser that blocks storage (e.g. private mode) fails the open: run without it.
        if opened.is_err() {
            return Ok(None);
        }
        Ok(Self::opened(&request))
    }

    /// Starts writing `value` under `key` (deleting the key when `value` is `None`); the
    /// transaction's `complete` says it committed.
    pub fn write(&self, key: &str, value: Option<&JsValue>) -> Result<IdbTransaction, Error> {
        let transaction = self
            .db
            .transaction_with_str_and_mode(UPLOADS_STORE, IdbTransactionMode::Readwrite)
            .map_err(|e| storage_error("write", &e))?;
        let store = transaction
            .object_store(UPLOADS_STORE)
            .map_err(|e| storage_error("write", &e))?;
        let key = JsValue::from_str(key);
        match value {
            Some(value) => store.put_with_key(value, &key),
            None => store.delete(&key),
        }
        .map_err(|e| storage_error("write", &e))?;
        Ok(transaction)
    }

    /// Reads the value stored under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<JsValue>, Error> {
        let store = self.read_store()?;
        let request = store
            .get(&JsValue::from_str(key))
            .map_err(|e| storage_error("read", &e))?;
        settle_request(&request).await?;
        Ok(request.result().ok().filter(|v| !v.is_undefined()))
    }

    /// Every `(key, value)` pair in the store.
    pub async fn entries(&self) -> Result<Vec<(String, JsValue)>, Error> {
        let store = self.read_store()?;
        let keys = store
            .get_all_keys()
            .map_err(|e| storage_error("read", &e))?;
        let values = store.get_all().map_err(|e| storage_error("read", &e))?;
        settle_request(&keys).await?;
        settle_request(&values).await?;
        let keys = js_sys::Array::from(&keys.result().unwrap_or_default());
        let values = js_sys::Array::from(&values.result().unwrap_or_default());
        Ok(keys
            .iter()
            .zip(values.iter())
            .filter_map(|(k, v)| Some((k.as_string()?, v)))
            .collect())
    }

    /// Deletes the value under `key` (no error when there is none) and waits until the
    /// transaction has committed.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        settle_transaction(&self.write(key, None)?).await
    }

    fn read_store(&self) -> Result<web_sys::IdbObjectStore, Error> {
        self.db
            .transaction_with_str(UPLOADS_STORE)
            .and_then(|t| t.object_store(UPLOADS_STORE))
            .map_err(|e| storage_error("read", &e))
    }
}

/// Waits for an IndexedDB request to succeed or fail. The promise's own resolve/reject
/// functions are installed as the event handlers, so no Rust closure outlives the wait.
async fn settle_request(request: &IdbRequest) -> Result<(), Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    outcome.map(|_| ()).map_err(|_| {
        let cause = request
            .error()
            .ok()
            .flatten()
            .map_or_else(|| "unknown".to_owned(), |e| e.message());
        Error::new(
            ErrorCode::Internal,
            format!("IndexedDB request failed: {cause}"),
        )
    })
}

/// Waits for a read-write transaction to commit (or to fail or abort).
async fn settle_transaction(transaction: &IdbTransaction) -> Result<(), Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onerror(Some(&reject));
        transaction.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    transaction.set_oncomplete(None);
    transaction.set_onerror(None);
    transaction.set_onabort(None);
    outcome.map(|_| ()).map_err(|_| {
        let cause = transaction
            .error()
            .map_or_else(|| "aborted".to_owned(), |e| e.message());
        Error::new(
            ErrorCode::Internal,
            format!("IndexedDB transaction failed: {cause}"),
        )
    })
}

fn storage_error(what: &str, thrown: &JsValue) -> Error {
    Error::new(
        ErrorCode::Internal,
        format!("IndexedDB {what} failed: {}", describe(thrown)),
    )
}
