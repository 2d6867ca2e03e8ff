//! A small key → plain-object store on IndexedDB, for resumable uploads (IndexedDB stores JS
//! objects as they are: no JSON text in between).
//!
//! IndexedDB rather than `localStorage`: it exists in dedicated Web Workers too, it is not
//! limited to ~5 MB per origin, and writes do not block the main thread. Runtimes without
//! IndexedDB (Node) get `None` from [`Store::open_request`] and simply do not persist.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    IdbDatabase, IdbFactory, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use super::js_error::describe;
use crate::core::error::{Error, ErrorCode};

/// Schema version; bump with an upgrade step when the object stores change.
const DATABASE_VERSION: u32 = 1;
/// The object store holding one record per resumable upload.
pub const UPLOADS_STORE: &str = "uploads";

// The open request's own handlers: creating the store on `upgradeneeded`, closing a connection
// made once nobody waits for it. No decision is made here.
#[wasm_bindgen(inline_js = r#"
export function create_store_on_upgrade(request, store) {
  request.onupgradeneeded = () => {
    const db = request.result;
    if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
  };
}
export function close_late_connection(request) {
  request.onsuccess = () => request.result.close();
  request.onerror = null;
}
"#)]
extern "C" {
    fn create_store_on_upgrade(request: &IdbOpenDbRequest, store: &str);
    fn close_late_connection(request: &IdbOpenDbRequest);
}

/// The runtime's IndexedDB, if it has one.
fn factory() -> Option<IdbFactory> {
    Reflect::get(&js_sys::global(), &"indexedDB".into())
        .ok()
        .and_then(|f| f.dyn_into::<IdbFactory>().ok())
}

/// An open IndexedDB database with the uploads object store.
#[derive(Clone)]
pub struct Store {
    db: IdbDatabase,
}

impl Store {
    /// Whether the runtime has IndexedDB (Node has not).
    pub fn exists() -> bool {
        factory().is_some()
    }

    /// Starts opening (creating on first use) the database `name`
    /// ([`crate::core::resume::database_name`]): `Ok(None)` when the runtime has no
    /// IndexedDB (Node). The caller sets [`Store::create_schema_on_upgrade`] and reads the
    /// result with [`Store::opened`] on `success` (`None` after `error`: a browser that blocks
    /// storage, e.g. in private mode).
    pub fn open_request(name: &str) -> Result<Option<IdbOpenDbRequest>, Error> {
        let Some(factory) = factory() else {
            return Ok(None);
        };
        factory
            .open_with_u32(name, DATABASE_VERSION)
            .map(Some)
            .map_err(|e| storage_error("open", &e))
    }

    /// Creates the object store when the open upgrades the database (it is new, or older than
    /// `DATABASE_VERSION`). The handler is the request's own, not the executor's: an open that
    /// answers after the uploader gave up on it still creates the store, so the database never
    /// exists without it.
    pub fn create_schema_on_upgrade(request: &IdbOpenDbRequest) {
        create_store_on_upgrade(request, UPLOADS_STORE);
    }

    /// The executor is done with the open `request`: a connection it still makes is closed
    /// (it would block a later version change or deletion of the database).
    pub fn abandon_open(request: &IdbOpenDbRequest) {
        close_late_connection(request);
    }

    /// The database an open request that succeeded opened.
    pub fn opened(request: &IdbOpenDbRequest) -> Option<Store> {
        let db = request.result().ok()?.dyn_into::<IdbDatabase>().ok()?;
        Some(Store { db })
    }

    /// Starts writing `value` under `key` (deleting the key when `value` is `None`); the
    /// transaction's `complete` says it committed.
    pub fn write(&self, key: &str, value: Option<&JsValue>) -> Result<IdbTransaction, Error> {
        let key = JsValue::from_str(key);
        self.change(|store| match value {
            Some(value) => store.put_with_key(value, &key).map(drop),
            None => store.delete(&key).map(drop),
        })
    }

    /// Starts deleting the records `keys`; the transaction's `complete` says it committed.
    pub fn delete(&self, keys: &[String]) -> Result<IdbTransaction, Error> {
        self.change(|store| {
            keys.iter()
                .try_for_each(|key| store.delete(&JsValue::from_str(key)).map(drop))
        })
    }

    /// Starts a read-write transaction that makes `change` to the uploads store.
    fn change(
        &self,
        change: impl FnOnce(&IdbObjectStore) -> Result<(), JsValue>,
    ) -> Result<IdbTransaction, Error> {
        let transaction = self
            .db
            .transaction_with_str_and_mode(UPLOADS_STORE, IdbTransactionMode::Readwrite)
            .map_err(|e| storage_error("write", &e))?;
        let store = transaction
            .object_store(UPLOADS_STORE)
            .map_err(|e| storage_error("write", &e))?;
        change(&store).map_err(|e| storage_error("write", &e))?;
        Ok(transaction)
    }

    /// Starts reading every record: once the returned transaction completes, the two requests
    /// hold the keys and the values ([`Store::entries`]).
    pub fn read_all(&self) -> Result<(IdbTransaction, IdbRequest, IdbRequest), Error> {
        let transaction = self
            .db
            .transaction_with_str(UPLOADS_STORE)
            .map_err(|e| storage_error("read", &e))?;
        let store = transaction
            .object_store(UPLOADS_STORE)
            .map_err(|e| storage_error("read", &e))?;
        let keys = store
            .get_all_keys()
            .map_err(|e| storage_error("read", &e))?;
        let values = store.get_all().map_err(|e| storage_error("read", &e))?;
        Ok((transaction, keys, values))
    }

    /// The `(key, value)` pairs a completed [`Store::read_all`] read.
    pub fn entries(keys: &IdbRequest, values: &IdbRequest) -> Vec<(String, JsValue)> {
        let keys = js_sys::Array::from(&keys.result().unwrap_or_default());
        let values = js_sys::Array::from(&values.result().unwrap_or_default());
        keys.iter()
            .zip(values.iter())
            .filter_map(|(k, v)| Some((k.as_string()?, v)))
            .collect()
    }
}

/// Why a read-write transaction failed or aborted.
pub fn transaction_error(transaction: &IdbTransaction) -> Error {
    let cause = transaction
        .error()
        .map_or_else(|| "aborted".to_owned(), |e| e.message());
    Error::new(
        ErrorCode::Internal,
        format!("IndexedDB transaction failed: {cause}"),
    )
}
fn storage_error(what: &str, thrown: &JsValue) -> Error {
    Error::new(
        ErrorCode::Internal,
        format!("IndexedDB {what} failed: {}", describe(thrown)),
    )
}
