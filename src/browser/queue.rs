//! The JS-facing `UploadQueue`: executes the decisions of [`crate::core::queue`] with an
//! [`Uploader`] and publishes frozen snapshots for `subscribe`/`getSnapshot`.
//!
//! The core decides which item starts, pauses, resumes or is retried, which saved upload a file
//! continues, and when a snapshot is due; this file calls the uploader, watches the handles it
//! gets, feeds their state back, and turns each published state into JS objects (an item that
//! did not change keeps its object).

use std::cell::{Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, File};

use super::convert::{self, JsObject};
use super::js_error::{listener_argument, string_argument, to_js_error};
use super::queue_files::{chosen_file, read_files};
use super::runtime::{now_ms, Timer};
use super::subscribe::{frozen, Subscribers};
use super::types::{JsQueueAddOptions, JsQueueSnapshot};
use super::uploader::{OptionsOf, UploadHandle, UploadRequest, Uploader};
use crate::core::error::{Error, ErrorCode};
use crate::core::queue::{ItemId, NewFile, Queue, QueueAction, QueueItem, QueuePhase, UploadView};
use crate::core::sorted_map::SortedMap;

/// The adapter's part of one item: its file, its options and its current upload.
struct Slot {
    file: Option<Blob>,
    options: JsValue,
    handle: Option<UploadHandle>,
}

struct State {
    core: Queue,
    slots: SortedMap<ItemId, Slot>,
    /// The options restored uploads continue with.
    restore_options: JsValue,
    timer: Option<Timer>,
    /// The published snapshot, and each item's object with the revision it shows.
    snapshot: JsValue,
    item_objects: SortedMap<ItemId, (u64, JsValue)>,
}

struct QueueInner {
    uploader: Uploader,
    /// Makes item ids unique across the queues of a page (`"q2-5"`: queue 2, item 5).
    prefix: String,
    state: RefCell<State>,
    subscribers: Subscribers,
    /// The queue itself, held while any item has work left: like an upload, a queue with work
    /// keeps alive what it needs whatever JS objects the page drops. Cleared when every item
    /// ended or waits for its file.
    keep_alive: RefCell<Option<Rc<QueueInner>>>,
}

thread_local! {
    static QUEUES_MADE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Many files under one uploader: per-item and global pause, resume, cancel, retry and remove,
/// totals, saved uploads restored after a reload, and `subscribe`/`getSnapshot` for UI stores.
///
/// While an item has work left (it is not `done`, `failed`, `aborted` or `awaiting_file`) the
/// queue keeps itself alive, as an upload does: the page may drop it, or `free()` it, and the
/// waiting files still start.
#[wasm_bindgen]
pub struct UploadQueue {
    inner: Rc<QueueInner>,
}

#[wasm_bindgen]
impl UploadQueue {
    /// A queue whose files upload with `uploader` (sharing its concurrency budget).
    #[wasm_bindgen(constructor)]
    pub fn new(uploader: &Uploader) -> UploadQueue {
        let (concurrency, interval_ms, persists) = uploader.queue_settings();
        let number = QUEUES_MADE.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        let inner = Rc::new(QueueInner {
            uploader: uploader.clone(),
            prefix: format!("q{number}-"),
            state: RefCell::new(State {
                core: Queue::new(concurrency, interval_ms, persists),
                slots: SortedMap::new(),
                restore_options: JsValue::UNDEFINED,
                timer: None,
                snapshot: JsValue::UNDEFINED,
                item_objects: SortedMap::new(),
            }),
            subscribers: Subscribers::new(),
            keep_alive: RefCell::new(None),
        });
        inner.build_snapshot();
        UploadQueue { inner }
    }

    /// Adds files (a `File`, a `Blob`, a `FileList` or an iterable of them) with the options of
    /// `uploader.upload` but `onProgress` and `signal` (the queue owns those). Returns the item
    /// ids. A file with the name, size and modification time of a restored item awaiting its
    /// file continues that item (its id is returned). Throws `invalid_input` for bad arguments.
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub fn add(
        &self,
        #[wasm_bindgen(unchecked_param_type = "File | Blob | FileList | Iterable<File | Blob>")]
        files: JsValue,
        options: Option<JsQueueAddOptions>,
    ) -> Result<Array, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let blobs = read_files(&files).map_err(|e| to_js_error(&e))?;
        let filename = check_options(&options).map_err(|e| to_js_error(&e))?;
        let mut new_files = Vec::with_capacity(blobs.len());
        for blob in &blobs {
            let file = blob.dyn_ref::<File>();
            new_files.push(NewFile {
                filename: filename
                    .clone()
                    .or_else(|| file.map(File::name).filter(|n| !n.is_empty()))
                    .unwrap_or_else(|| "upload".to_owned()),
                file_name: file.map(File::name),
                // `Blob.size` is a non-negative integer below 2^53.
                size: blob.size() as u64,
                last_modified: file.map(File::last_modified),
            });
        }
        let ids = {
            let mut state = self.inner.state();
            let ids = state.core.add(new_files);
            for (id, blob) in ids.iter().zip(blobs) {
                state.slots.insert(
                    *id,
                    Slot {
                        file: Some(blob),
                        options: options.clone(),
                        handle: None,
                    },
                );
            }
            ids
        };
        self.inner.run();
        Ok(ids
            .iter()
            .map(|id| JsValue::from(self.inner.id_string(*id)))
            .collect())
    }

    /// Pauses an item (a running upload finishes its chunks in flight). Throws `not_found` for
    /// an unknown id.
    pub fn pause(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.apply(&id, "UploadQueue.pause: id", Queue::pause)
    }

    /// Resumes a paused item as soon as one of the places of the files that run at once is free.
    pub fn resume(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<(), JsValue> {
        self.inner
            .apply(&id, "UploadQueue.resume: id", Queue::resume)
    }

    /// Cancels an item for good: its upload is aborted (session, reserved asset and saved record
    /// deleted); the item stays, as `aborted`.
    pub fn cancel(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<(), JsValue> {
        self.inner
            .apply(&id, "UploadQueue.cancel: id", Queue::cancel)
    }

    /// Starts a `failed` or `aborted` item again. After a failure that retrying may fix, or a
    /// `conflict` (another tab took the upload over), the same session continues (only the
    /// missing chunks are sent) when the uploader saved it; otherwise a new upload starts. Does
    /// nothing for other items.
    pub fn retry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.apply(&id, "UploadQueue.retry: id", Queue::retry)
    }

    /// Removes an item, cancelling its upload if it is still running. A restored item awaiting
    /// its file is discarded with its saved upload.
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<(), JsValue> {
        self.inner
            .apply(&id, "UploadQueue.remove: id", Queue::remove)
    }

    /// Pauses every item that can be paused.
    #[wasm_bindgen(js_name = pauseAll)]
    pub fn pause_all(&self) {
        self.inner.state().core.pause_all();
        self.inner.run();
    }

    /// Resumes every paused item (in the order they were added, as places free up).
    #[wasm_bindgen(js_name = resumeAll)]
    pub fn resume_all(&self) {
        self.inner.state().core.resume_all();
        self.inner.run();
    }

    /// Adds the uploads saved before a reload (`uploader.pendingUploads()`) as items in phase
    /// `awaiting_file`, once each; they continue, with `options`, when their file is chosen
    /// again (`attachFile`, or `add` of the same file).
    #[wasm_bindgen(js_name = restorePending, unchecked_return_type = "Promise<void>")]
    pub fn restore_pending(&self, options: Option<JsQueueAddOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        if let Err(error) = check_options(&options) {
            return Promise::reject(&to_js_error(&error));
        }
        let inner = Rc::clone(&self.inner);
        self.inner.uploader.restore_saved(move |entries| {
            {
                let mut state = inner.state();
                state.restore_options = options.clone();
                for id in state.core.restore(entries) {
                    state.slots.insert(
                        id,
                        Slot {
                            file: None,
                            options: options.clone(),
                            handle: None,
                        },
                    );
                }
            }
            inner.run();
        })
    }

    /// Gives a restored item (`awaiting_file`) its file again; it continues its saved upload.
    /// Throws `file_mismatch` when the name or size differ (a different content is found by the
    /// upload, which then waits for the right file again), `invalid_input` for an item that
    /// awaits no file, `not_found` for an unknown id.
    #[wasm_bindgen(js_name = attachFile)]
    pub fn attach_file(
        &self,
        id: &str,
        #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
    ) -> Result<(), JsValue> {
        let item = self.inner.item_id(id).map_err(|e| to_js_error(&e))?;
        // Read before the state is borrowed: a call into JS must never run under the borrow.
        let (file, name, size) = chosen_file(file).map_err(|e| to_js_error(&e))?;
        {
            let mut state = self.inner.state();
            state
                .core
                .attach_file(item, &name, size)
                .map_err(|e| to_js_error(&e))?;
            let restore_options = state.restore_options.clone();
            let slot = state.slots.get_mut(&item);
            if let Some(slot) = slot {
                slot.file = Some(file.into());
            } else {
                state.slots.insert(
                    item,
                    Slot {
                        file: Some(file.into()),
                        options: restore_options,
                        handle: None,
                    },
                );
            }
        }
        self.inner.run();
        Ok(())
    }

    /// Calls `listener` (in a microtask, once per burst of changes) after the snapshot changed:
    /// at once for a phase change (or another change than byte counts), at most once per the uploader's
    /// `progressIntervalMs` for byte progress. Returns the function that unsubscribes it.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        Ok(self
            .inner
            .subscribers
            .subscribe(listener_argument(listener)?))
    }

    /// The queue's state: frozen, and the same object until the next change; an item that did
    /// not change keeps its object.
    #[wasm_bindgen(js_name = getSnapshot)]
    pub fn get_snapshot(&self) -> JsQueueSnapshot {
        self.inner.state_ref().snapshot.clone().unchecked_into()
    }
}

impl QueueInner {
    /// The state, to change it. Every borrow goes through here or [`QueueInner::state_ref`]:
    /// each `RefCell` borrow site costs the package a panic location and its call.
    #[inline(never)]
    fn state(&self) -> RefMut<'_, State> {
        self.state.borrow_mut()
    }

    /// The state, to read it.
    #[inline(never)]
    fn state_ref(&self) -> Ref<'_, State> {
        self.state.borrow()
    }

    fn id_string(&self, id: ItemId) -> String {
        format!("{}{id}", self.prefix)
    }

    fn item_id(&self, id: &str) -> Result<ItemId, Error> {
        id.strip_prefix(&self.prefix)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("the queue has no item \"{id}\""),
                )
            })
    }

    fn apply(
        self: &Rc<Self>,
        id: &JsValue,
        what: &str,
        operation: fn(&mut Queue, ItemId) -> Result<(), Error>,
    ) -> Result<(), JsValue> {
        let item = string_argument(id, what)
            .and_then(|id| self.item_id(&id))
            .map_err(|e| to_js_error(&e))?;
        operation(&mut self.state().core, item).map_err(|e| to_js_error(&e))?;
        self.run();
        Ok(())
    }

    /// Executes the core's actions, publishes a snapshot when one is due, and arms the timer of
    /// held-back progress. No borrow is held while the uploader runs.
    fn run(self: &Rc<Self>) {
        loop {
            let actions = self.state().core.take_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.execute(action);
            }
        }
        let now = now_ms() as u64;
        let published = self.state().core.publish(now);
        if published {
            self.build_snapshot();
            self.subscribers.notify();
        }
        let deadline = self.state_ref().core.publish_deadline();
        let timer = deadline.map(|at| {
            let weak = Rc::downgrade(self);
            Timer::new(at.saturating_sub(now) as f64, move || {
                if let Some(inner) = weak.upgrade() {
                    inner.run();
                }
            })
        });
        self.state().timer = timer;
        let has_work = self
            .state_ref()
            .core
            .items()
            .any(|item| !item.phase.is_final() && item.phase != QueuePhase::AwaitingFile);
        let released = self.keep_alive.replace(has_work.then(|| Rc::clone(self)));
        // Dropped outside the borrow (the caller holds its own reference).
        drop(released);
    }

    fn execute(self: &Rc<Self>, action: QueueAction) {
        match action {
            QueueAction::Start { item, resume } => {
                let started = {
                    let state = self.state_ref();
                    state
                        .slots
                        .get(&item)
                        .and_then(|slot| Some((slot.file.clone()?, slot.options.clone())))
                };
                let Some((file, options)) = started else {
                    return;
                };
                let handle = match (resume, file.dyn_into::<File>()) {
                    (Some(upload_id), Ok(file)) => {
                        let options: JsValue = Object::assign(
                            &Object::new(),
                            options.dyn_ref::<Object>().unwrap_or(&Object::new()),
                        )
                        .into();
                        let _ = Reflect::set(&options, &"id".into(), &upload_id.into());
                        self.uploader
                            .resume(file.into(), Some(options.unchecked_into()))
                    }
                    (_, Ok(file)) => self
                        .uploader
                        .upload(file.into(), Some(options.unchecked_into())),
                    (_, Err(blob)) => self
                        .uploader
                        .upload(blob.into(), Some(options.unchecked_into())),
                };
                // The item shows the outcome; the promise's rejection is not left unhandled.
                ignore_outcome(&handle.done());
                let weak: Weak<QueueInner> = Rc::downgrade(self);
                handle.watch(Rc::new(move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.upload_changed(item);
                    }
                }));
                if let Some(slot) = self.state().slots.get_mut(&item) {
                    slot.handle = Some(handle);
                }
                // An upload refused at once (a type that cannot be inferred, say) settled
                // before it could be watched: its item learns it here, and `run` goes on
                // with what that changes.
                self.record_upload(item);
            }
            QueueAction::Pause { item } => self.with_handle(item, UploadHandle::pause),
            QueueAction::Resume { item } => self.with_handle(item, UploadHandle::resume),
            QueueAction::Abort { item } => self.with_handle(item, UploadHandle::abort),
            QueueAction::Drop { item } => {
                let mut state = self.state();
                if state.core.contains(item) {
                    if let Some(slot) = state.slots.get_mut(&item) {
                        slot.handle = None;
                    }
                } else {
                    state.slots.remove(&item);
                }
            }
            QueueAction::Release { item } => {
                if let Some(slot) = self.state().slots.get_mut(&item) {
                    slot.file = None;
                }
            }
            QueueAction::Forget { upload_id } => {
                // Best effort: a record left behind expires with its session.
                ignore_outcome(&self.uploader.forget(Some(upload_id.into())));
            }
        }
    }

    fn with_handle(&self, item: ItemId, act: fn(&UploadHandle)) {
        let handle = self
            .state_ref()
            .slots
            .get(&item)
            .and_then(|slot| slot.handle.clone());
        if let Some(handle) = handle {
            act(&handle);
        }
    }

    /// An item's upload announced a change: feed its current state to the core.
    fn upload_changed(self: &Rc<Self>, item: ItemId) {
        self.record_upload(item);
        self.run();
    }

    /// Hands the core what `item`'s upload shows now.
    fn record_upload(&self, item: ItemId) {
        let view = {
            let state = self.state_ref();
            let Some(handle) = state.slots.get(&item).and_then(|s| s.handle.as_ref()) else {
                return;
            };
            let view = handle.view();
            UploadView {
                phase: view.phase,
                progress: view.progress,
                upload_id: view.upload_id,
                asset_id: view.asset_id,
                error: view.error,
            }
        };
        self.state().core.upload_changed(item, view);
    }

    /// Turns the core's published state into the frozen snapshot.
    fn build_snapshot(&self) {
        let mut state = self.state();
        let state = &mut *state;
        let items = Array::new();
        let mut objects = SortedMap::new();
        for item in state.core.items() {
            let object = match state.item_objects.get(&item.id) {
                Some((revision, object)) if *revision == item.revision => object.clone(),
                _ => self.item_object(item),
            };
            items.push(&object);
            objects.insert(item.id, (item.revision, object));
        }
        state.item_objects = objects;
        let totals = state.core.totals();
        let counts = QueuePhase::ALL
            .iter()
            .fold(JsObject::new(), |o, phase| {
                o.set(phase.as_str(), totals.count(*phase))
            })
            .build();
        let totals = JsObject::new()
            .set("totalBytes", convert::number(totals.total_bytes))
            .set(
                "acknowledgedBytes",
                convert::number(totals.acknowledged_bytes),
            )
            .set("fraction", totals.fraction())
            .set(
                "bytesPerSecond",
                totals
                    .bytes_per_second
                    .map_or(JsValue::NULL, convert::number),
            )
            .set(
                "etaMs",
                totals.eta_ms.map_or(JsValue::NULL, convert::number),
            )
            .set("counts", counts)
            .build();
        let snapshot = JsObject::new()
            .set("items", frozen(items.into()))
            .set("totals", frozen(totals))
            .build();
        state.snapshot = frozen(snapshot);
    }

    fn item_object(&self, item: &QueueItem) -> JsValue {
        // `progress.phase` is the upload's phase: `starting` until the upload started.
        let upload_phase = if item.phase.is_upload_phase() {
            item.phase
        } else {
            QueuePhase::Starting
        };
        let error = item.error.as_ref().map_or(JsValue::NULL, |error| {
            frozen(
                JsObject::new()
                    .set("code", error.code.as_str())
                    .set("message", error.message.as_str())
                    .build(),
            )
        });
        frozen(
            JsObject::new()
                .set("id", self.id_string(item.id))
                .set("filename", item.filename.as_str())
                .set("size", convert::number(item.size))
                .set("phase", item.phase.as_str())
                .set(
                    "progress",
                    frozen(convert::progress(upload_phase, &item.progress)),
                )
                .set("error", error)
                .set(
                    "uploadId",
                    item.upload_id
                        .as_deref()
                        .map_or(JsValue::NULL, JsValue::from),
                )
                .set(
                    "assetId",
                    item.asset_id
                        .as_deref()
                        .map_or(JsValue::NULL, JsValue::from),
                )
                .build(),
        )
    }
}

/// Marks `promise`'s rejection as handled without a callback: `Promise.allSettled` handles it
/// (and never rejects itself).
fn ignore_outcome(promise: &Promise) {
    let _ = Promise::all_settled(&Array::of1(promise));
}

/// Checks the options of `add`/`restorePending` (`QueueAddOptions`) as `upload` reads them,
/// refusing the two the queue owns. Returns the `filename` option.
fn check_options(options: &JsValue) -> Result<Option<String>, Error> {
    let request = UploadRequest::read(options, OptionsOf::QueueAdd)?;
    if request.signal.is_some() || request.on_progress.is_some() {
        return Err(Error::invalid(
            "QueueAddOptions cannot have `signal` or `onProgress`: use the queue's cancel() and subscribe()",
        ));
    }
    Ok(request.filename)
}
