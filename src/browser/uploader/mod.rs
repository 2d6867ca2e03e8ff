//! The JS-facing `Uploader` and `UploadHandle`, and the adapter that drives the engine.
//!
//! The engine ([`crate::core::engine`]) decides; this module executes: it turns each
//! [`Action`](crate::core::engine::Action) into a `fetch` (with its own `AbortController`), feeds
//! the outcome back as an [`Input`](crate::core::engine::Input), arms one `setTimeout` for
//! [`Engine::next_wakeup`], persists the saved state in IndexedDB and forwards progress and
//! completion to JS. State lives in `Rc<RefCell<…>>` and no borrow is held across a call into user
//! code.
//!
//! `class` is the `Uploader`, `handle` the `UploadHandle`, `driver` executes the engine's
//! actions, `start` begins new and resumed uploads, `calls` makes the one-off API calls,
//! `persistence` keeps the saved records in IndexedDB, `lookup` reads them back, `connectivity` feeds `online`/`offline`
//! and `request` reads the per-upload options.

mod calls;
mod claim;
mod class;
mod connectivity;
mod driver;
mod executor;
mod forget;
mod grant;
mod handle;
mod lookup;
mod one_off;
mod ops;
mod persistence;
mod request;
mod start;

pub use self::class::Uploader;
pub use self::handle::UploadHandle;
pub(crate) use self::request::{OptionsOf, UploadRequest};

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, Blob};

use crate::browser::api::{Api, SessionRef};
use crate::browser::runtime::now_ms;
use crate::browser::store::Store;
use crate::browser::subscribe::Subscribers;
use crate::core::engine::{Engine, EngineConfig, FileId, Input, RequestId};
use crate::core::error::Error;
use crate::core::progress::Progress;
use crate::core::queue::QueuePhase;
use crate::core::resume::Fingerprint;
use crate::core::sorted_map::SortedMap;
use crate::core::wire::CreateMultipartUploadRequest;

use self::claim::SessionClaim;
use self::connectivity::Connectivity;
use self::lookup::StoreTask;
use self::ops::Op;

/// Per-upload bookkeeping on the adapter side.
struct FileEntry {
    blob: Blob,
    /// What the session creation (or the direct upload) sends; `None` for a resumed upload.
    create: Option<CreateMultipartUploadRequest>,
    /// The multipart session, once created (or restored).
    session: Option<SessionRef>,
    upload_headers: Vec<(String, String)>,
    handle: Rc<RefCell<HandleState>>,
    fingerprint: Option<Fingerprint>,
    /// The session's lock across pages, while this page sends the upload (`claim`).
    claim: Option<SessionClaim>,
    /// A request for that lock is in flight.
    claiming: bool,
}

/// What an `UploadHandle` shows and controls.
struct HandleState {
    file: Option<FileId>,
    phase: QueuePhase,
    progress: Progress,
    paused: bool,
    settled: bool,
    on_progress: Option<Function>,
    resolve: Function,
    reject: Function,
    upload_id: Option<String>,
    /// The asset the upload creates: reserved with the multipart session, or made by a direct
    /// upload.
    asset_id: Option<String>,
    /// The uploader driving this upload, held strongly until the upload settles: an upload in
    /// flight keeps alive everything it needs, even when the page drops its `Uploader`. The
    /// cycle this makes (the uploader's file entry holds this state) ends when `settle` clears it.
    driver: Option<Rc<Inner>>,
    /// The signal's `abort` listener (the uploader's sink, bound), removed when the upload
    /// settles.
    abort_listener: Option<(AbortSignal, Function)>,
    /// Why the upload failed, once settled with an error (for the queue's items).
    error: Option<Error>,
    /// `subscribe` listeners.
    subscribers: Subscribers,
    /// What `getSnapshot` returns until the next change.
    snapshot: Option<JsValue>,
}

struct Shared {
    engine: Engine,
    // Sorted vectors rather than hash maps: a handful of entries, and far less wasm code.
    files: SortedMap<FileId, FileEntry>,
    /// The executor's operations in flight, by id (an engine request's id, or a local one).
    ops: SortedMap<u64, Op>,
    /// The armed wake-up timer: its id and `setTimeout` handle.
    timer: Option<(u64, JsValue)>,
    /// Inputs waiting for the next microtask.
    deferred: Vec<Input>,
    /// Uploads whose signal aborted, to abort on the next microtask.
    aborting: Vec<Rc<RefCell<HandleState>>>,
    /// The uploads listening to their signal's `abort`, by the listener's id.
    abort_listeners: SortedMap<u64, Weak<RefCell<HandleState>>>,
    /// The last local operation id handed out.
    next_local: u64,
    /// What waits for the database to open, in order.
    store_tasks: Vec<StoreTask>,
}

struct Inner {
    state: RefCell<Shared>,
    /// The one callback every browser call on the upload path reports to (`executor`).
    sink: Closure<dyn Fn(u32, f64, JsValue)>,
    /// The uploader itself, held while an operation is in flight (`executor`).
    keepalive: RefCell<Option<Rc<Inner>>>,
    /// The requests the engine abandoned that are still in flight (each may still make an asset
    /// to delete), each as the page's work that `forget` waits for (`forget::PageWork`).
    abandoned_requests: RefCell<Vec<(RequestId, forget::PageWork)>>,
    api: Api,
    persist: PersistSetting,
    /// The IndexedDB database of this uploader's `persistScope`.
    database: String,
    store: RefCell<Option<Option<Store>>>,
    /// IndexedDB exists but did not open (an error, or no answer within
    /// `STORE_OPEN_TIMEOUT_MS`): unlike a runtime without it, saved records may exist.
    store_failed: std::cell::Cell<bool>,
    /// The engine's settings, for the retry policies of the calls made outside it.
    config: EngineConfig,
    _connectivity: Option<Connectivity>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PersistSetting {
    /// Persist where IndexedDB exists (the default).
    Auto,
    /// Never persist.
    Off,
}

fn now() -> u64 {
    // Date.now() is a non-negative integer number of milliseconds.
    now_ms() as u64
}

fn random_u64() -> u64 {
    // Jitter only (not security): Math.random's 52 bits are plenty.
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
}
