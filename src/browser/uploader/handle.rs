//! The JS-facing `UploadHandle`: progress, pause, resume, abort and the `done` promise.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

use crate::browser::convert;
use crate::browser::js_error::{from_js, js_error, listener_argument, to_js_error};
use crate::browser::subscribe::{frozen, Subscribers};
use crate::browser::types::*;
use crate::core::engine::Input;
use crate::core::error::{Error, ErrorCode};
use crate::core::progress::Progress;
use crate::core::queue::QueuePhase;

use super::ops::report;
use super::request::UploadRequest;
use super::{HandleState, Inner};

/// Shows `progress`, and the phase the core says follows (`shown`: from the phase shown).
pub(super) fn emit_progress(
    handle: &Rc<RefCell<HandleState>>,
    shown: impl FnOnce(QueuePhase) -> QueuePhase,
    progress: Progress,
) {
    let (callback, phase) = {
        let mut state = handle.borrow_mut();
        state.progress = progress;
        state.phase = shown(state.phase);
        (state.on_progress.clone(), state.phase)
    };
    changed(handle);
    if let Some(callback) = callback {
        let value = convert::progress(phase, &progress);
        // An exception in the application's callback must not break the upload.
        let _ = callback.call1(&JsValue::UNDEFINED, &value);
    }
}

pub(super) fn settle(
    handle: &Rc<RefCell<HandleState>>,
    phase: QueuePhase,
    result: Result<JsValue, JsValue>,
) {
    let (resolve, reject, driver, abort_listener) = {
        let mut state = handle.borrow_mut();
        if state.settled {
            return;
        }
        state.settled = true;
        if let Err(error) = &result {
            state.error = Some(from_js(error, ErrorCode::Internal));
        }
        state.phase = phase;
        state.progress = if phase == QueuePhase::Done {
            state.progress.finished()
        } else {
            state.progress.stopped()
        };
        (
            state.resolve.clone(),
            state.reject.clone(),
            state.driver.take(),
            state.abort_listener.take(),
        )
    };
    if let Some((signal, listener)) = abort_listener {
        let _ = signal.remove_event_listener_with_callback("abort", &listener);
    }
    // Released outside the borrow: this may be the last reference to the uploader.
    drop(driver);
    let progress = handle.borrow().progress;
    emit_progress(handle, |ended| ended, progress);
    let _ = match result {
        Ok(value) => resolve.call1(&JsValue::UNDEFINED, &value),
        Err(error) => reject.call1(&JsValue::UNDEFINED, &error),
    };
}

/// Settles the handle with `error`: `done` rejects with it, and the phase shows how it ended.
pub(super) fn fail(handle: &Rc<RefCell<HandleState>>, error: &Error) {
    settle(
        handle,
        QueuePhase::failed_with(error.code),
        Err(to_js_error(error)),
    );
}

/// Marks the handle's snapshot stale and tells its subscribers.
pub(super) fn changed(handle: &Rc<RefCell<HandleState>>) {
    let subscribers = {
        let mut state = handle.borrow_mut();
        state.snapshot = None;
        state.subscribers.clone()
    };
    subscribers.notify();
}

/// What the upload queue reads of one of its uploads.
pub(crate) struct HandleView {
    pub phase: QueuePhase,
    pub progress: Progress,
    pub upload_id: Option<String>,
    pub asset_id: Option<String>,
    pub error: Option<Error>,
}

/// One upload in progress: pause, resume, abort, progress and the final asset.
#[wasm_bindgen]
#[derive(Clone)]
pub struct UploadHandle {
    state: Rc<RefCell<HandleState>>,
    done: Promise,
}

impl UploadHandle {
    /// A handle for a file of `total_bytes`, before anything is known about its upload.
    pub(super) fn create(total_bytes: u64) -> (UploadHandle, Rc<RefCell<HandleState>>) {
        let mut slots: Option<(Function, Function)> = None;
        let done = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
        // The Promise constructor calls its executor synchronously.
        let (resolve, reject) = slots.expect("Promise executor ran");
        let state = Rc::new(RefCell::new(HandleState {
            file: None,
            phase: QueuePhase::Starting,
            progress: Progress::starting(total_bytes),
            paused: false,
            settled: false,
            on_progress: None,
            resolve,
            reject,
            upload_id: None,
            asset_id: None,
            driver: None,
            abort_listener: None,
            error: None,
            subscribers: Subscribers::new(),
            snapshot: None,
        }));
        let handle = UploadHandle {
            state: Rc::clone(&state),
            done,
        };
        (handle, state)
    }

    /// The state as last announced to subscribers.
    pub(crate) fn view(&self) -> HandleView {
        let state = self.state.borrow();
        HandleView {
            phase: state.phase,
            progress: state.progress,
            upload_id: state.upload_id.clone(),
            asset_id: state.asset_id.clone(),
            error: state.error.clone(),
        }
    }

    /// Calls `observer` (in a microtask) after each change of the upload.
    pub(crate) fn watch(&self, observer: Rc<dyn Fn()>) {
        let subscribers = self.state.borrow().subscribers.clone();
        subscribers.watch(observer);
    }

    pub(super) fn attach(&self, request: &UploadRequest) {
        self.state.borrow_mut().on_progress = request.on_progress.clone();
        if let Some(signal) = &request.signal {
            if signal.aborted() {
                self.abort();
                return;
            }
            if let Some(inner) = self.inner() {
                inner.listen_abort(signal, &self.state);
            }
        }
    }

    pub(super) fn inner(&self) -> Option<Rc<Inner>> {
        self.state.borrow().driver.clone()
    }
}

impl Inner {
    /// Listens to an upload's `signal` with the sink: no closure per upload, and the listener
    /// is removed when the upload settles.
    pub(super) fn listen_abort(
        self: &Rc<Self>,
        signal: &AbortSignal,
        handle: &Rc<RefCell<HandleState>>,
    ) {
        let id = self.local_id();
        let listener = self.reporter(report::ABORT, id);
        let _ = signal.add_event_listener_with_callback("abort", &listener);
        {
            let mut state = self.state.borrow_mut();
            // Uploads that settled no longer listen.
            state.abort_listeners.retain(|_, listening| {
                listening
                    .upgrade()
                    .is_some_and(|h| h.try_borrow().map_or(true, |h| !h.settled))
            });
            state.abort_listeners.insert(id, Rc::downgrade(handle));
        }
        handle.borrow_mut().abort_listener = Some((signal.clone(), listener));
    }
}

pub(super) fn abort_state(state: &Rc<RefCell<HandleState>>) {
    let (inner, file) = {
        let state = state.borrow();
        (state.driver.clone(), state.file)
    };
    match (inner, file) {
        (Some(inner), Some(file)) => inner.feed(Input::Abort { file: Some(file) }),
        _ => settle(
            state,
            QueuePhase::Aborted,
            Err(js_error(ErrorCode::Aborted, "the upload was aborted")),
        ),
    }
}

#[wasm_bindgen]
impl UploadHandle {
    /// Stops starting new chunk PUTs (those in flight finish), and lets another tab of the app
    /// continue the upload meanwhile. No-op once finished.
    pub fn pause(&self) {
        let file = {
            let mut state = self.state.borrow_mut();
            if state.settled {
                return;
            }
            state.paused = true;
            state.phase = state.phase.paused();
            state.file
        };
        changed(&self.state);
        if let (Some(inner), Some(file)) = (self.inner(), file) {
            inner.pause_upload(file);
        }
    }

    /// Continues after `pause()`. If another tab of the app continued the upload while it was
    /// paused here, `done` rejects with `conflict` and nothing more is sent.
    pub fn resume(&self) {
        let file = {
            let mut state = self.state.borrow_mut();
            if state.settled {
                return;
            }
            state.paused = false;
            state.phase = state.phase.resumed();
            state.file
        };
        changed(&self.state);
        if let (Some(inner), Some(file)) = (self.inner(), file) {
            inner.continue_upload(file);
        }
    }

    /// Cancels every request of this upload; `done` rejects with `aborted`, the saved record is
    /// deleted and so, unless the upload had already completed, is the asset its session
    /// reserved (best effort, in the background).
    pub fn abort(&self) {
        if !self.state.borrow().settled {
            abort_state(&self.state);
        }
    }

    /// The current progress. Read from the engine while the upload runs, so it is exact
    /// between the throttled `onProgress` calls too.
    #[wasm_bindgen(getter)]
    pub fn progress(&self) -> JsUploadProgress {
        let live = {
            let state = self.state.borrow();
            match (state.settled, state.file, state.driver.clone()) {
                (false, Some(file), Some(inner)) => inner.live_progress(file).map(|progress| {
                    let phase = inner.shown_phase(file, state.phase, state.paused);
                    (phase, progress)
                }),
                _ => None,
            }
        };
        let phase_changed = {
            let mut state = self.state.borrow_mut();
            let mut phase_changed = false;
            if let Some((phase, progress)) = live {
                state.progress = progress;
                phase_changed = state.phase != phase;
                state.phase = phase;
            }
            phase_changed
        };
        // Read before an event said it, a new phase is news to `getSnapshot` too.
        if phase_changed {
            changed(&self.state);
        }
        let state = self.state.borrow();
        convert::progress(state.phase, &state.progress).unchecked_into()
    }

    /// Calls `listener` (in a microtask, once per burst of changes) after the snapshot of
    /// `getSnapshot()` changed: at most once per `progressIntervalMs` for byte progress, at once
    /// for a phase change. Returns the function that unsubscribes it.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "() => void")] listener: JsValue,
    ) -> Result<Function, JsValue> {
        let listener = listener_argument(listener)?;
        let subscribers = self.state.borrow().subscribers.clone();
        Ok(subscribers.subscribe(listener))
    }

    /// The progress as last announced to subscribers: a frozen object, the same one until the
    /// next change (what `useSyncExternalStore` needs).
    #[wasm_bindgen(js_name = getSnapshot)]
    pub fn get_snapshot(&self) -> JsUploadProgress {
        let mut state = self.state.borrow_mut();
        if let Some(snapshot) = &state.snapshot {
            return snapshot.clone().unchecked_into();
        }
        let snapshot = frozen(convert::progress(state.phase, &state.progress));
        state.snapshot = Some(snapshot.clone());
        snapshot.unchecked_into()
    }

    /// The multipart session id, once created (also the id of its saved record).
    #[wasm_bindgen(getter, js_name = uploadId)]
    pub fn upload_id(&self) -> Option<String> {
        self.state.borrow().upload_id.clone()
    }

    /// The id of the asset this upload creates, once known: reserved with the multipart session
    /// (an aborted upload deletes it again), or made by a direct upload.
    #[wasm_bindgen(getter, js_name = assetId)]
    pub fn asset_id(&self) -> Option<String> {
        self.state.borrow().asset_id.clone()
    }

    /// Resolves with the asset when the upload completes (and, with `waitUntilReady`, when the
    /// asset is ready); rejects with an `UploadError`.
    #[wasm_bindgen(getter, unchecked_return_type = "Promise<Asset>")]
    pub fn done(&self) -> Promise {
        self.done.clone()
    }
}
