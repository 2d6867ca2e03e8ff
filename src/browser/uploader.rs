//! The JS-facing `Uploader` and `UploadHandle`, and the adapter that drives the engine.
//!
//! The engine ([`crate::core::engine`]) decides; this file executes: it turns each [`Action`]
//! into a `fetch` (with its own `AbortController`), feeds the outcome back as an [`Input`],
//! arms one `setTimeout` for [`Engine::next_wakeup`], persists the saved state in IndexedDB
//! and forwards progress and completion to JS. State lives in `Rc<RefCell<…>>` and no borrow is
//! held across an `.await` or a call into user code.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{AbortController, AbortSignal, Blob, File, FormData};

use super::api::{
    outcome_of, parse, unreadable_outcome, Api, ApiFailure, AssetCall, Authority, EngineCall,
    GrantSource, SessionRef,
};
use super::convert;
use super::js_error::{from_js, js_error, to_js_error};
use super::options::OptionReader;
use super::runtime::{now_ms, sleep, Timer};
use super::store::Store;
use super::transport::{ApiResponse, PutResponse, SendFailure, Transport};
use super::types::*;
use super::wire_js;
use crate::core::engine::{
    option_limits, Action, AssetWait, AssetWaitStep, Engine, EngineConfig, FileId, Input,
    NewUpload, Phase, RequestId,
};
use crate::core::error::{Error, ErrorCode};
use crate::core::progress::{Progress, Retrying};
use crate::core::resume::{find_resumable, Fingerprint, SavedUpload};
use crate::core::retry::{HttpOutcome, NextStep, OneOffRetry, Operation};
use crate::core::sorted_map::SortedMap;
use crate::core::wire::{
    encode_query, limits, CreateMultipartUploadRequest, ListAssetsQuery, MediaType, PageQuery,
    UploadHeaders, UserMetadata,
};

/// Bytes read from each of a few places of a file to tell it apart from another file with the
/// same name and size (the content sample of the resume fingerprint).
const SAMPLE_BYTES: f64 = 64.0 * 1024.0;

// ───────────────────────────── shared state ─────────────────────────────

/// Per-upload bookkeeping on the adapter side.
struct FileEntry {
    blob: Blob,
    upload_id: String,
    upload_token: Option<String>,
    upload_headers: Vec<(String, String)>,
    handle: Rc<RefCell<HandleState>>,
    fingerprint: Option<Fingerprint>,
}

/// What an `UploadHandle` shows and controls.
struct HandleState {
    file: Option<FileId>,
    phase: &'static str,
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
}

struct Shared {
    engine: Engine,
    // Sorted vectors rather than hash maps: a handful of entries, and far less wasm code.
    files: SortedMap<FileId, FileEntry>,
    requests: SortedMap<RequestId, AbortController>,
    timer: Option<Timer>,
}

struct Inner {
    state: RefCell<Shared>,
    api: Api,
    persist: PersistSetting,
    store: RefCell<Option<Option<Store>>>,
    direct_upload_max_bytes: u64,
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

/// The record saved in IndexedDB for one resumable upload (stored as a plain object:
/// `{filename, fingerprint: {name, size, last_modified, sample_hash}, saved}`).
#[derive(Clone)]
struct PersistedUpload {
    filename: String,
    fingerprint: Fingerprint,
    saved: SavedUpload,
}

impl PersistedUpload {
    fn to_js(&self) -> JsValue {
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

    fn from_js(value: &JsValue) -> Result<PersistedUpload, wire_js::Unreadable> {
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

fn now() -> u64 {
    // Date.now() is a non-negative integer number of milliseconds.
    now_ms() as u64
}

impl Inner {
    /// Feeds one input to the engine and executes what it decides.
    fn feed(self: &Rc<Self>, input: Input) {
        self.state.borrow_mut().engine.handle(now(), input);
        self.pump();
    }

    /// Drains the engine's actions, executes them, and arms the wake-up timer.
    fn pump(self: &Rc<Self>) {
        loop {
            let action = self.state.borrow_mut().engine.poll_action();
            match action {
                Some(action) => self.execute(action),
                None => break,
            }
        }
        let wakeup = self.state.borrow().engine.next_wakeup();
        let timer = wakeup.map(|at| {
            let weak = Rc::downgrade(self);
            Timer::new(at.saturating_sub(now()) as f64, move || {
                // Deferred: the timer being replaced inside `feed` must not drop this running
                // callback.
                spawn_local(async move {
                    if let Some(inner) = weak.upgrade() {
                        inner.feed(Input::Tick);
                    }
                });
            })
        });
        self.state.borrow_mut().timer = timer;
    }

    fn execute(self: &Rc<Self>, action: Action) {
        match action {
            Action::Put {
                request,
                file,
                url,
                range,
                ..
            } => {
                let Some((blob, headers)) = self.with_file(file, |f| {
                    (
                        f.blob
                            .slice_with_f64_and_f64(range.start as f64, range.end as f64),
                        f.upload_headers.clone(),
                    )
                }) else {
                    return;
                };
                let chunk = match blob {
                    Ok(chunk) => chunk,
                    Err(_) => {
                        self.deferred(Input::PutDone {
                            request,
                            outcome: HttpOutcome::network_error(),
                        });
                        return;
                    }
                };
                let signal = self.controller_for(request);
                let inner = Rc::clone(self);
                spawn_local(async move {
                    let result = inner
                        .api
                        .transport()
                        .put_chunk(&url, &headers, &chunk, &signal)
                        .await;
                    inner.state.borrow_mut().requests.remove(&request);
                    let outcome = match result {
                        Ok(response) => put_outcome(response),
                        Err(failure) => failure_outcome(failure),
                    };
                    inner.feed(Input::PutDone { request, outcome });
                });
            }
            Action::RequestUrls {
                request,
                file,
                start,
                count,
            } => {
                if let Some(session) = self.session_of(file) {
                    self.spawn_engine_call(
                        request,
                        EngineCall::PresignedUrls {
                            session,
                            start,
                            count,
                        },
                    );
                }
            }
            Action::Report {
                request,
                file,
                chunks,
            } => {
                if let Some(session) = self.session_of(file) {
                    self.spawn_engine_call(request, EngineCall::Report { session, chunks });
                }
            }
            Action::FetchStatus {
                request,
                file,
                page,
                page_limit,
            } => {
                if let Some(session) = self.session_of(file) {
                    self.spawn_engine_call(
                        request,
                        EngineCall::Status {
                            session,
                            page,
                            page_limit,
                        },
                    );
                }
            }
            Action::FetchAsset {
                request, asset_id, ..
            } => self.spawn_engine_call(request, EngineCall::Asset { asset_id }),
            Action::DeleteAsset { asset_id } => {
                let inner = Rc::clone(self);
                spawn_local(async move {
                    // Best effort, one attempt: the upload already ended with `aborted`, and
                    // a failure here cannot change that.
                    let call = AssetCall::Delete {
                        asset_id: &asset_id,
                        force: false,
                    };
                    let _ = inner.api.asset_call(&call, None).await;
                });
            }
            Action::Cancel { request } => {
                let controller = self.state.borrow_mut().requests.remove(&request);
                if let Some(controller) = controller {
                    controller.abort();
                }
            }
            Action::Progress { file, progress } => {
                let phase = self.phase_name(file);
                if let Some(handle) = self.with_file(file, |f| Rc::clone(&f.handle)) {
                    emit_progress(&handle, phase, progress);
                }
            }
            Action::SaveState { file } => self.save_state(file),
            Action::Uploaded { file, .. } => {
                if let Some(handle) = self.with_file(file, |f| Rc::clone(&f.handle)) {
                    handle.borrow_mut().phase = "processing";
                }
                self.forget_record(file);
            }
            Action::Finished { file, outcome } => {
                let keep_record = matches!(&outcome, Err(e) if e.is_retryable());
                if !keep_record {
                    self.forget_record(file);
                }
                let entry = self.state.borrow_mut().files.remove(&file);
                if let Some(entry) = entry {
                    match outcome {
                        Ok(completion) => {
                            let value = match &completion.asset {
                                Some(asset) => convert::asset(asset),
                                None => convert::JsObject::new()
                                    .set("id", completion.asset_id.as_str())
                                    .set("method", "multipart")
                                    .set("status", "processing")
                                    .build(),
                            };
                            settle(&entry.handle, "done", Ok(value));
                        }
                        Err(error) => {
                            let phase = if error.code == ErrorCode::Aborted {
                                "aborted"
                            } else {
                                "failed"
                            };
                            settle(&entry.handle, phase, Err(to_js_error(&error)));
                        }
                    }
                }
            }
        }
    }

    /// Feeds an input on the next microtask (never re-entering the engine from `execute`).
    fn deferred(self: &Rc<Self>, input: Input) {
        let inner = Rc::clone(self);
        spawn_local(async move { inner.feed(input) });
    }

    fn controller_for(&self, request: RequestId) -> AbortSignal {
        // `new AbortController()` exists in every supported runtime.
        let controller = AbortController::new().expect("AbortController is available");
        let signal = controller.signal();
        self.state.borrow_mut().requests.insert(request, controller);
        signal
    }

    fn with_file<T>(&self, file: FileId, f: impl FnOnce(&FileEntry) -> T) -> Option<T> {
        self.state.borrow().files.get(&file).map(f)
    }

    fn session_of(&self, file: FileId) -> Option<SessionRef> {
        self.with_file(file, |f| SessionRef {
            upload_id: f.upload_id.clone(),
            upload_token: f.upload_token.clone(),
        })
    }

    /// Sends an API request the engine asked for and feeds its outcome back. One future type
    /// serves all of them, which keeps the wasm small.
    fn spawn_engine_call(self: &Rc<Self>, request: RequestId, call: EngineCall) {
        let signal = self.controller_for(request);
        let inner = Rc::clone(self);
        spawn_local(async move {
            let response = inner.api.engine_call(&call, Some(&signal)).await;
            inner.state.borrow_mut().requests.remove(&request);
            let input = match call {
                EngineCall::PresignedUrls { .. } => Input::UrlsDone {
                    request,
                    result: read_engine_response(response, wire_js::presigned_urls_response),
                    server_time_ms: None,
                },
                EngineCall::Report { .. } => Input::ReportDone {
                    request,
                    result: read_engine_response(response, wire_js::report_response),
                },
                EngineCall::Status { .. } => Input::StatusDone {
                    request,
                    result: read_engine_response(response, wire_js::status_response),
                },
                EngineCall::Asset { .. } => Input::AssetDone {
                    request,
                    result: read_engine_response(response, wire_js::asset),
                },
            };
            inner.feed(input);
        });
    }

    /// The engine's current progress of `file`, while it is in the engine.
    fn live_progress(&self, file: FileId) -> Option<Progress> {
        self.state.borrow().engine.progress(file)
    }

    fn phase_name(&self, file: FileId) -> &'static str {
        let state = self.state.borrow();
        if state.engine.is_paused(file) {
            return "paused";
        }
        match state.engine.phase(file) {
            Some(Phase::Reconciling) | Some(Phase::Uploading) => "uploading",
            Some(Phase::Confirming) => "finalizing",
            Some(Phase::AwaitingAsset) => "processing",
            None => "done",
        }
    }

    async fn store(&self) -> Option<Store> {
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

    fn save_state(self: &Rc<Self>, file: FileId) {
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

    fn forget_record(self: &Rc<Self>, file: FileId) {
        let Some(upload_id) = self.with_file(file, |f| f.upload_id.clone()) else {
            return;
        };
        let inner = Rc::clone(self);
        spawn_local(async move {
            if let Some(store) = inner.store().await {
                let _ = store.delete(&upload_id).await;
            }
        });
    }

    /// Runs a one-off API call with the core's decisions ([`OneOffRetry`]): sends, sleeps when
    /// told to, fails when told to, and returns the 2xx body read by `read`. Waits for a retry
    /// are shown in the progress of `shown_on`, the upload the call belongs to.
    async fn call_with_retries<T>(
        &self,
        operation: Operation,
        signal: Option<&AbortSignal>,
        call: AssetCall<'_>,
        read: fn(&JsValue) -> Result<T, wire_js::Unreadable>,
        shown_on: Option<&Rc<RefCell<HandleState>>>,
    ) -> Result<T, Error> {
        let response = self
            .retry_call(
                operation,
                signal,
                call,
                &|body| read(body).map(drop),
                shown_on,
            )
            .await;
        if let Some(handle) = shown_on {
            show_retrying(handle, None);
        }
        let response = response?;
        // `retry_call` only returns a body `read` accepted.
        read(&response.body)
            .map_err(|_| Error::new(ErrorCode::ServerInvalid, "unexpected response"))
    }

    /// The retry loop of [`Inner::call_with_retries`], not generic (one copy in the wasm):
    /// `readable` tells whether a 2xx body reads.
    async fn retry_call(
        &self,
        operation: Operation,
        signal: Option<&AbortSignal>,
        call: AssetCall<'_>,
        readable: &dyn Fn(&JsValue) -> Result<(), wire_js::Unreadable>,
        shown_on: Option<&Rc<RefCell<HandleState>>>,
    ) -> Result<ApiResponse, Error> {
        let mut retry = OneOffRetry::new(operation, self.config.one_off_backoff(operation));
        loop {
            let outcome = match self.api.asset_call(&call, signal).await {
                Ok(response) if response.is_success() => match readable(&response.body) {
                    Ok(()) => return Ok(response),
                    Err(unreadable) => unreadable_outcome(response.status, unreadable),
                },
                Ok(response) => outcome_of(&response),
                Err(ApiFailure::Aborted) => {
                    return Err(Error::new(ErrorCode::Aborted, "the request was aborted"))
                }
                Err(ApiFailure::Fatal(error)) => return Err(error),
                Err(ApiFailure::Outcome(outcome)) => outcome,
            };
            match retry.after(&outcome, random_u64()) {
                // Only a storage PUT classifies as success; an API 2xx gets here only unread.
                NextStep::Done => {
                    return Err(Error::new(ErrorCode::ServerInvalid, "unexpected response"))
                }
                NextStep::Fail(error) => return Err(error),
                NextStep::RetryAfterMs(delay) => {
                    if let Some(handle) = shown_on {
                        show_retrying(handle, retry.retrying());
                    }
                    sleep(delay as f64).await;
                    if signal.is_some_and(|s| s.aborted()) {
                        return Err(Error::new(ErrorCode::Aborted, "the request was aborted"));
                    }
                }
            }
        }
    }
}

/// Shows (or clears) the retry an upload's request waits for, with a progress event.
fn show_retrying(handle: &Rc<RefCell<HandleState>>, retrying: Option<Retrying>) {
    let (phase, progress) = {
        let mut state = handle.borrow_mut();
        if state.settled || state.progress.retrying == retrying {
            return;
        }
        state.progress.retrying = retrying;
        (state.phase, state.progress)
    };
    emit_progress(handle, phase, progress);
}

fn random_u64() -> u64 {
    // Jitter only (not security): Math.random's 52 bits are plenty.
    (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
}

fn put_outcome(response: PutResponse) -> HttpOutcome {
    HttpOutcome::storage_response(
        response.status,
        response.etag,
        response.retry_after_ms,
        &response.body_excerpt,
    )
}

fn failure_outcome(failure: SendFailure) -> HttpOutcome {
    match failure {
        // Aborted requests were cancelled by the engine, which ignores their outcome.
        SendFailure::Aborted => HttpOutcome::network_error(),
        SendFailure::Network(message) => HttpOutcome {
            message: Some(message),
            ..HttpOutcome::network_error()
        },
    }
}

/// An engine call's 2xx body read by `read`, or the outcome the engine judges.
fn read_engine_response<T>(
    response: Result<ApiResponse, ApiFailure>,
    read: fn(&JsValue) -> Result<T, wire_js::Unreadable>,
) -> Result<T, HttpOutcome> {
    response.and_then(|r| parse(r, read)).map_err(api_outcome)
}

fn api_outcome(failure: ApiFailure) -> HttpOutcome {
    match failure {
        ApiFailure::Aborted => HttpOutcome::network_error(),
        ApiFailure::Outcome(outcome) => outcome,
        // Only `getToken` fails before a request: treat it like the Worker refusing the grant.
        ApiFailure::Fatal(error) => HttpOutcome {
            error_code: Some(error.code.as_str().to_owned()),
            message: Some(error.message),
            ..HttpOutcome::status(error.status.unwrap_or(401))
        },
    }
}

fn emit_progress(handle: &Rc<RefCell<HandleState>>, phase: &'static str, progress: Progress) {
    let callback = {
        let mut state = handle.borrow_mut();
        state.progress = progress;
        if state.phase != "processing" || phase != "done" {
            state.phase = phase;
        }
        state.on_progress.clone()
    };
    if let Some(callback) = callback {
        let value = convert::progress(phase, &progress);
        // An exception in the application's callback must not break the upload.
        let _ = callback.call1(&JsValue::UNDEFINED, &value);
    }
}

fn settle(
    handle: &Rc<RefCell<HandleState>>,
    phase: &'static str,
    result: Result<JsValue, JsValue>,
) {
    let (resolve, reject, driver) = {
        let mut state = handle.borrow_mut();
        if state.settled {
            return;
        }
        state.settled = true;
        state.phase = phase;
        state.progress = if phase == "done" {
            state.progress.finished()
        } else {
            state.progress.stopped()
        };
        (
            state.resolve.clone(),
            state.reject.clone(),
            state.driver.take(),
        )
    };
    // Released outside the borrow: this may be the last reference to the uploader.
    drop(driver);
    let progress = handle.borrow().progress;
    emit_progress(handle, phase, progress);
    let _ = match result {
        Ok(value) => resolve.call1(&JsValue::UNDEFINED, &value),
        Err(error) => reject.call1(&JsValue::UNDEFINED, &error),
    };
}

// ───────────────────────────── online / offline ─────────────────────────────

/// `online`/`offline` listeners on the global object (windows and workers; Node has none).
struct Connectivity {
    target: web_sys::EventTarget,
    online: Closure<dyn FnMut()>,
    offline: Closure<dyn FnMut()>,
}

impl Connectivity {
    fn listen(inner: Weak<Inner>) -> Option<Connectivity> {
        let global = js_sys::global();
        let has_listener = js_sys::Reflect::get(&global, &"addEventListener".into())
            .ok()
            .is_some_and(|f| f.is_function());
        if !has_listener {
            return None;
        }
        let target: web_sys::EventTarget = global.unchecked_into();
        let make = |input: fn() -> Input, inner: Weak<Inner>| {
            Closure::<dyn FnMut()>::new(move || {
                if let Some(inner) = inner.upgrade() {
                    inner.feed(input());
                }
            })
        };
        let online = make(|| Input::Online, inner.clone());
        let offline = make(|| Input::Offline, inner);
        let _ = target.add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
        let _ =
            target.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref());
        Some(Connectivity {
            target,
            online,
            offline,
        })
    }
}

impl Drop for Connectivity {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback("online", self.online.as_ref().unchecked_ref());
        let _ = self
            .target
            .remove_event_listener_with_callback("offline", self.offline.as_ref().unchecked_ref());
    }
}

fn navigator_offline() -> bool {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    js_sys::Reflect::get(&navigator, &"onLine".into())
        .ok()
        .and_then(|v| v.as_bool())
        .is_some_and(|online| !online)
}

// ───────────────────────────── options ─────────────────────────────

/// What `upload`/`resume` were asked to do.
struct UploadRequest {
    media_type: Option<MediaType>,
    filename: Option<String>,
    enable_hls: Option<bool>,
    enable_thumbnail: Option<bool>,
    user_metadata: Option<UserMetadata>,
    signal: Option<AbortSignal>,
    on_progress: Option<Function>,
    wait_until_ready: bool,
    resume_id: Option<String>,
}

impl UploadRequest {
    fn read(options: &JsValue, owner: &'static str) -> Result<UploadRequest, Error> {
        let o = OptionReader::new(options, owner)?;
        Ok(UploadRequest {
            media_type: o.media_type("type")?,
            filename: o.string("filename")?,
            enable_hls: o.bool("enableHls")?,
            enable_thumbnail: o.bool("enableThumbnail")?,
            user_metadata: o.user_metadata("userMetadata")?,
            signal: o.signal("signal")?,
            on_progress: o.function("onProgress")?,
            wait_until_ready: o.bool("waitUntilReady")?.unwrap_or(false),
            resume_id: o.string("id")?,
        })
    }
}

fn file_name(blob: &Blob) -> Option<String> {
    blob.dyn_ref::<File>()
        .map(|f| f.name())
        .filter(|n| !n.is_empty())
}

// ───────────────────────────── JS API ─────────────────────────────

/// Uploads files to TwelveLabs through the Worker. See the package README for a complete example.
#[wasm_bindgen]
pub struct Uploader {
    inner: Rc<Inner>,
}

/// How an upload starts: a new session, or a saved one continued after a reload.
enum UploadStart {
    New(Blob),
    Resume(File),
}

impl Uploader {
    /// The common path of `upload` and `resume`: reads the options, returns the handle at once,
    /// and settles it with the outcome of the started upload.
    fn begin(
        &self,
        start: UploadStart,
        options: &JsValue,
        options_name: &'static str,
    ) -> UploadHandle {
        let size = match &start {
            UploadStart::New(blob) => blob.size(),
            UploadStart::Resume(file) => file.size(),
        };
        // `Blob.size` is a non-negative integer below 2^53.
        let (handle, state) = UploadHandle::create(size as u64);
        match UploadRequest::read(options, options_name) {
            Err(error) => settle(&state, "failed", Err(to_js_error(&error))),
            Ok(request) => {
                state.borrow_mut().driver = Some(Rc::clone(&self.inner));
                handle.attach(&request);
                let inner = Rc::clone(&self.inner);
                spawn_local(async move {
                    let started = match start {
                        UploadStart::New(file) => {
                            inner.start_new(file, request, Rc::clone(&state)).await
                        }
                        UploadStart::Resume(file) => {
                            inner.start_resume(file, request, Rc::clone(&state)).await
                        }
                    };
                    if let Err(error) = started {
                        let phase = if error.code == ErrorCode::Aborted {
                            "aborted"
                        } else {
                            "failed"
                        };
                        settle(&state, phase, Err(to_js_error(&error)));
                    }
                });
            }
        }
        handle
    }
}

#[wasm_bindgen]
impl Uploader {
    /// Creates an uploader. Throws an `UploadError` (`invalid_input`) for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsUploaderOptions) -> Result<Uploader, JsValue> {
        Self::from_options(options.as_ref()).map_err(|e| to_js_error(&e))
    }

    fn from_options(options: &JsValue) -> Result<Uploader, Error> {
        if options.is_undefined() || options.is_null() {
            return Err(Error::invalid(
                "UploaderOptions are required (at least `endpoint` and `getToken`)",
            ));
        }
        let o = OptionReader::new(options, "UploaderOptions")?;
        let endpoint = o
            .string("endpoint")?
            .filter(|e| e.starts_with("http://") || e.starts_with("https://"))
            .ok_or_else(|| Error::invalid("UploaderOptions.endpoint must be an http(s) URL"))?;
        let authority = match (o.function("getToken")?, o.string("apiKey")?) {
            (Some(get_token), None) => Authority::Grant(GrantSource::new(get_token)),
            (None, Some(key)) if !key.is_empty() => Authority::ApiKey(key),
            _ => {
                return Err(Error::invalid(
                    "UploaderOptions needs exactly one of getToken and apiKey",
                ))
            }
        };
        let mut config = EngineConfig::default();
        if let Some(concurrency) = o.integer_in("concurrency", option_limits::CONCURRENCY)? {
            config.concurrency = concurrency as u32;
        }
        if let Some(interval) =
            o.integer_in("progressIntervalMs", option_limits::PROGRESS_INTERVAL_MS)?
        {
            config.progress_interval_ms = interval;
        }
        if let Some(retry) = o.object("retry")? {
            let r = OptionReader::new(&retry, "UploaderOptions.retry")?;
            for policy in [
                &mut config.put_backoff,
                &mut config.api_backoff,
                &mut config.create_backoff,
            ] {
                if let Some(base) = r.integer_in("baseDelayMs", option_limits::BACKOFF_BASE_MS)? {
                    policy.base_ms = base;
                }
                if let Some(cap) = r.integer_in("maxDelayMs", option_limits::BACKOFF_CAP_MS)? {
                    policy.cap_ms = cap;
                }
                if let Some(attempts) =
                    r.integer_in("maxAttempts", option_limits::BACKOFF_MAX_ATTEMPTS)?
                {
                    policy.max_attempts = attempts as u32;
                }
            }
        }
        if let Some(bound) = o.integer_in("stallTimeoutMs", option_limits::STALL_TIMEOUT_MS)? {
            // The engine may declare a stall sooner when the observed speed says the chunk is
            // long overdue, but never sooner than its own minimum (which the bound caps).
            config.stall.max_ms = bound;
            config.stall.min_ms = config.stall.min_ms.min(bound);
        }
        config.jitter_seed = random_u64();
        let engine = Engine::new(config.clone())?;
        let persist = match o.bool("persist")? {
            Some(false) => PersistSetting::Off,
            _ => PersistSetting::Auto,
        };
        let direct_upload_max_bytes = o.integer("directUploadMaxBytes", 0, 1 << 53)?.unwrap_or(0);
        let transport = Transport::new(o.function("fetch")?)?;
        let api = Api::new(transport, &endpoint, authority);
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            state: RefCell::new(Shared {
                engine,
                files: SortedMap::new(),
                requests: SortedMap::new(),
                timer: None,
            }),
            api,
            persist,
            store: RefCell::new(None),
            direct_upload_max_bytes,
            config,
            _connectivity: Connectivity::listen(weak.clone()),
        });
        if navigator_offline() {
            inner.feed(Input::Offline);
        }
        Ok(Uploader { inner })
    }

    /// Starts uploading `file` (a `File` or `Blob`). Returns at once; await `handle.done`.
    pub fn upload(&self, file: Blob, options: Option<JsUploadOptions>) -> UploadHandle {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        self.begin(UploadStart::New(file), &options, "UploadOptions")
    }

    /// Continues a saved upload after a reload, once the user re-selected the same file. Only
    /// the chunks the server does not have are sent. `done` rejects with `file_mismatch` when
    /// the file is not the one that was being uploaded.
    pub fn resume(&self, file: File, options: Option<JsResumeOptions>) -> UploadHandle {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        self.begin(UploadStart::Resume(file), &options, "ResumeOptions")
    }

    /// The resumable uploads saved in IndexedDB (expired ones are removed, not listed).
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "Promise<PendingUpload[]>")]
    pub fn pending_uploads(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let list = js_sys::Array::new();
            for (id, record) in inner.saved_records().await {
                let saved = &record.saved;
                let uploaded = saved.reported_bytes();
                let fraction = if saved.total_size == 0 {
                    0.0
                } else {
                    uploaded as f64 / saved.total_size as f64
                };
                list.push(
                    &convert::JsObject::new()
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
            Ok(list.into())
        })
    }

    /// Deletes a saved upload record (the server session simply expires).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(&self, id: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            if let Some(store) = inner.store().await {
                store.delete(&id).await.map_err(|e| to_js_error(&e))?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Creates an asset from a public URL (TwelveLabs fetches it).
    #[wasm_bindgen(js_name = uploadUrl, unchecked_return_type = "Promise<Asset>")]
    pub fn upload_url(&self, url: String, options: Option<JsUrlUploadOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let request =
                UploadRequest::read(&options, "UrlUploadOptions").map_err(|e| to_js_error(&e))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(js_error(
                    ErrorCode::InvalidInput,
                    "uploadUrl needs an http(s) URL",
                ));
            }
            let form = asset_form("url", &request).map_err(|e| to_js_error(&e))?;
            let _ = form.append_with_str("url", &url);
            let asset = inner
                .call_with_retries(
                    Operation::CreateSession,
                    request.signal.as_ref(),
                    AssetCall::CreateAsset(&form),
                    wire_js::asset,
                    None,
                )
                .await
                .map_err(|e| to_js_error(&e))?;
            let asset = if request.wait_until_ready {
                inner
                    .wait_ready(&asset.id, request.signal.as_ref(), None)
                    .await
            } else {
                Ok(asset)
            };
            asset
                .map(|a| convert::asset(&a))
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Reads one asset.
    #[wasm_bindgen(js_name = getAsset, unchecked_return_type = "Promise<Asset>")]
    pub fn get_asset(&self, asset_id: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            inner
                .call_with_retries(
                    Operation::Asset,
                    None,
                    AssetCall::Get(&asset_id),
                    wire_js::asset,
                    None,
                )
                .await
                .map(|a| convert::asset(&a))
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Lists assets, newest first.
    #[wasm_bindgen(js_name = listAssets, unchecked_return_type = "Promise<AssetPage>")]
    pub fn list_assets(&self, options: Option<JsListAssetsOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let (query, signal) = list_query(&options).map_err(|e| to_js_error(&e))?;
            inner
                .call_with_retries(
                    Operation::Asset,
                    signal.as_ref(),
                    AssetCall::List(&query),
                    wire_js::asset_page,
                    None,
                )
                .await
                .map(|page| convert::asset_page(&page))
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Deletes an asset (`conflict` when indexed assets use it, unless `force`).
    #[wasm_bindgen(js_name = deleteAsset, unchecked_return_type = "Promise<void>")]
    pub fn delete_asset(&self, asset_id: String, options: Option<JsDeleteAssetOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let o =
                OptionReader::new(&options, "DeleteAssetOptions").map_err(|e| to_js_error(&e))?;
            let force = o
                .bool("force")
                .map_err(|e| to_js_error(&e))?
                .unwrap_or(false);
            let signal = o.signal("signal").map_err(|e| to_js_error(&e))?;
            inner
                .call_with_retries(
                    Operation::Asset,
                    signal.as_ref(),
                    AssetCall::Delete {
                        asset_id: &asset_id,
                        force,
                    },
                    |_| Ok(()),
                    None,
                )
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Resolves when the asset is `ready`; rejects with `asset_failed` if processing fails.
    #[wasm_bindgen(js_name = waitUntilReady, unchecked_return_type = "Promise<Asset>")]
    pub fn wait_until_ready(&self, asset_id: String, options: Option<JsWaitOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let o = OptionReader::new(&options, "WaitOptions").map_err(|e| to_js_error(&e))?;
            let signal = o.signal("signal").map_err(|e| to_js_error(&e))?;
            let timeout = o
                .integer("timeoutMs", 1, 1 << 40)
                .map_err(|e| to_js_error(&e))?;
            inner
                .wait_ready(&asset_id, signal.as_ref(), timeout)
                .await
                .map(|a| convert::asset(&a))
                .map_err(|e| to_js_error(&e))
        })
    }
}

fn asset_form(method: &str, request: &UploadRequest) -> Result<FormData, Error> {
    let form = FormData::new().map_err(|e| from_js(&e, ErrorCode::Internal))?;
    let append = |name: &str, value: &str| {
        form.append_with_str(name, value)
            .map_err(|e| from_js(&e, ErrorCode::Internal))
    };
    append("method", method)?;
    if let Some(filename) = &request.filename {
        crate::core::wire::validate_filename(filename)?;
        append("filename", filename)?;
    }
    if let Some(hls) = request.enable_hls {
        append("enable_hls", if hls { "true" } else { "false" })?;
    }
    if let Some(thumbnail) = request.enable_thumbnail {
        append("enable_thumbnail", if thumbnail { "true" } else { "false" })?;
    }
    if let Some(metadata) = &request.user_metadata {
        crate::core::wire::validate_user_metadata(metadata)?;
        append(
            "user_metadata",
            &wire_js::stringify(&convert::user_metadata(metadata)),
        )?;
    }
    Ok(form)
}

fn list_query(options: &JsValue) -> Result<(String, Option<AbortSignal>), Error> {
    let o = OptionReader::new(options, "ListAssetsOptions")?;
    let asset_types = o
        .strings("assetTypes")?
        .unwrap_or_default()
        .iter()
        .map(|kind| {
            MediaType::parse(kind).ok_or_else(|| {
                Error::invalid(
                    "ListAssetsOptions.assetTypes must hold \"video\", \"audio\" or \"image\"",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query = ListAssetsQuery {
        page: PageQuery {
            page: Some(o.integer("page", 1, u64::from(u32::MAX))?.unwrap_or(1) as u32),
            page_limit: Some(
                o.integer("pageLimit", 1, u64::from(limits::PAGE_LIMIT_MAX))?
                    .map_or(limits::PAGE_LIMIT_DEFAULT, |limit| limit as u32),
            ),
        },
        asset_ids: o.strings("assetIds")?.unwrap_or_default(),
        asset_types,
        filename: o.string("filename")?,
    };
    Ok((encode_query(&query.to_query_pairs()), o.signal("signal")?))
}

impl Inner {
    async fn start_new(
        self: &Rc<Self>,
        blob: Blob,
        request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        let size = blob.size();
        if size <= 0.0 {
            return Err(Error::invalid("the file is empty"));
        }
        let size = size as u64;
        let media_type = match request.media_type {
            Some(t) => t,
            None => MediaType::from_mime(&blob.type_()).ok_or_else(|| {
                Error::new(
                    ErrorCode::UnsupportedType,
                    format!(
                        "cannot infer the media type from file.type \"{}\": pass `type`",
                        blob.type_()
                    ),
                )
            })?,
        };
        let filename = request
            .filename
            .clone()
            .or_else(|| file_name(&blob))
            .unwrap_or_else(|| "upload".to_owned());
        let signal = request.signal.clone();
        if size <= self.direct_upload_max_bytes {
            return self
                .direct_upload(blob, size, filename, request, handle)
                .await;
        }
        let fingerprint = match (self.persist, blob.dyn_ref::<File>()) {
            (PersistSetting::Auto, Some(file)) => Some(fingerprint(file).await?),
            _ => None,
        };
        let create = CreateMultipartUploadRequest {
            filename,
            media_type,
            total_size: size,
            enable_hls: request.enable_hls,
            enable_thumbnail: request.enable_thumbnail,
            user_metadata: request.user_metadata.clone(),
        };
        crate::core::wire::validate_create_multipart(&create)?;
        let session = self
            .call_with_retries(
                Operation::CreateSession,
                signal.as_ref(),
                AssetCall::CreateSession(&create),
                wire_js::create_response,
                Some(&handle),
            )
            .await?;
        if handle.borrow().settled {
            // Aborted while the session was being created: nothing will be uploaded to it.
            self.state.borrow_mut().engine.abandon_session(&session);
            self.pump();
            return Ok(());
        }
        let entry = FileEntry {
            blob,
            upload_id: session.upload_id.clone(),
            upload_token: session.upload_token.clone(),
            upload_headers: headers(&session.upload_headers),
            handle: Rc::clone(&handle),
            fingerprint,
        };
        let asset_id = session.asset_id.clone();
        let new_upload = NewUpload {
            file_size: size,
            session,
            server_time_ms: None,
            wait_for_asset: request.wait_until_ready,
        };
        let file = self
            .state
            .borrow_mut()
            .engine
            .add_upload(now(), new_upload)?;
        self.register(file, entry, asset_id, &handle);
        Ok(())
    }

    async fn start_resume(
        self: &Rc<Self>,
        file: File,
        request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        if self.store().await.is_none() {
            return Err(Error::invalid(
                "resume needs persistence: IndexedDB is unavailable or `persist` is false",
            ));
        }
        let records = self.saved_records().await;
        let size = file.size() as u64;
        let found = find_resumable(
            records
                .iter()
                .map(|(id, record)| (id.as_str(), &record.fingerprint, (id, record))),
            request.resume_id.as_deref(),
            &file.name(),
            size,
        )
        .map(|(id, record)| (id.clone(), record.clone()));
        let Some((id, record)) = found else {
            return Err(Error::new(
                ErrorCode::NotFound,
                "no saved upload matches this file (see pendingUploads())",
            ));
        };
        let actual = fingerprint(&file).await?;
        if actual != record.fingerprint {
            return Err(Error::new(
                ErrorCode::FileMismatch,
                format!(
                    "the chosen file is not the one that was being uploaded as \"{}\"",
                    record.filename
                ),
            ));
        }
        if handle.borrow().settled {
            return Ok(());
        }
        let saved = record.saved;
        let restored = self.state.borrow_mut().engine.restore_upload(
            now(),
            saved.clone(),
            size,
            request.wait_until_ready,
        );
        let file_id = match restored {
            Ok(id) => id,
            Err(error) => {
                if error.code == ErrorCode::SessionExpired {
                    if let Some(store) = self.store().await {
                        let _ = store.delete(&id).await;
                    }
                }
                return Err(error);
            }
        };
        let entry = FileEntry {
            blob: file.into(),
            upload_id: saved.upload_id.clone(),
            upload_token: saved.upload_token.clone(),
            upload_headers: headers(&saved.upload_headers),
            handle: Rc::clone(&handle),
            fingerprint: Some(actual),
        };
        self.register(file_id, entry, saved.asset_id.clone(), &handle);
        Ok(())
    }

    fn register(
        self: &Rc<Self>,
        file: FileId,
        entry: FileEntry,
        asset_id: String,
        handle: &Rc<RefCell<HandleState>>,
    ) {
        let upload_id = entry.upload_id.clone();
        self.state.borrow_mut().files.insert(file, entry);
        let paused = {
            let mut state = handle.borrow_mut();
            state.file = Some(file);
            state.upload_id = Some(upload_id);
            state.asset_id = Some(asset_id);
            state.phase = "uploading";
            state.paused
        };
        if paused {
            self.feed(Input::Pause { file: Some(file) });
        } else {
            self.pump();
        }
    }

    async fn direct_upload(
        self: &Rc<Self>,
        blob: Blob,
        size: u64,
        filename: String,
        mut request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        request.filename = Some(filename.clone());
        let form = asset_form("direct", &request)?;
        form.append_with_blob_and_filename("file", &blob, &filename)
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
        // One request carries the whole file: handed to the network at once.
        let progress = Progress {
            total_chunks: 1,
            sent_bytes: size,
            ..Progress::starting(size)
        };
        emit_progress(&handle, "uploading", progress);
        let signal = request.signal.clone();
        let asset = self
            .call_with_retries(
                Operation::CreateSession,
                signal.as_ref(),
                AssetCall::CreateAsset(&form),
                wire_js::asset,
                Some(&handle),
            )
            .await?;
        handle.borrow_mut().asset_id = Some(asset.id.clone());
        emit_progress(&handle, "processing", progress.finished());
        let asset = if request.wait_until_ready {
            self.wait_ready(&asset.id, signal.as_ref(), None).await?
        } else {
            asset
        };
        settle(&handle, "done", Ok(convert::asset(&asset)));
        Ok(())
    }

    /// Polls the asset until it is `ready` or `failed`, as [`AssetWait`] decides (the engine's
    /// jittered asset polling, with the optional time limit).
    async fn wait_ready(
        &self,
        asset_id: &str,
        signal: Option<&AbortSignal>,
        timeout_ms: Option<u64>,
    ) -> Result<crate::core::wire::Asset, Error> {
        let mut wait = AssetWait::new(self.config.asset_poll, now(), timeout_ms);
        loop {
            let asset = self
                .call_with_retries(
                    Operation::Asset,
                    signal,
                    AssetCall::Get(asset_id),
                    wire_js::asset,
                    None,
                )
                .await?;
            match wait.after(&asset, now(), random_u64()) {
                AssetWaitStep::Ready => return Ok(asset),
                AssetWaitStep::Fail(error) => return Err(error),
                AssetWaitStep::PollAfterMs(delay) => sleep(delay as f64).await,
            }
            if signal.is_some_and(|s| s.aborted()) {
                return Err(Error::new(ErrorCode::Aborted, "waiting was aborted"));
            }
        }
    }

    /// Every readable saved record, `(id, record)`; expired and unreadable ones are deleted.
    async fn saved_records(&self) -> Vec<(String, PersistedUpload)> {
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

fn headers(upload_headers: &UploadHeaders) -> Vec<(String, String)> {
    upload_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Name, size, modification time and a hash of three 64 KiB samples (start, middle, end).
/// Only these samples are read: the file itself never enters wasm memory.
async fn fingerprint(file: &File) -> Result<Fingerprint, Error> {
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
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

// ───────────────────────────── the handle ─────────────────────────────

/// One upload in progress: pause, resume, abort, progress and the final asset.
#[wasm_bindgen]
pub struct UploadHandle {
    state: Rc<RefCell<HandleState>>,
    done: Promise,
}

impl UploadHandle {
    /// A handle for a file of `total_bytes`, before anything is known about its upload.
    fn create(total_bytes: u64) -> (UploadHandle, Rc<RefCell<HandleState>>) {
        let mut slots: Option<(Function, Function)> = None;
        let done = Promise::new(&mut |resolve, reject| slots = Some((resolve, reject)));
        // The Promise constructor calls its executor synchronously.
        let (resolve, reject) = slots.expect("Promise executor ran");
        let state = Rc::new(RefCell::new(HandleState {
            file: None,
            phase: "starting",
            progress: Progress::starting(total_bytes),
            paused: false,
            settled: false,
            on_progress: None,
            resolve,
            reject,
            upload_id: None,
            asset_id: None,
            driver: None,
        }));
        let handle = UploadHandle {
            state: Rc::clone(&state),
            done,
        };
        (handle, state)
    }

    fn attach(&self, request: &UploadRequest) {
        self.state.borrow_mut().on_progress = request.on_progress.clone();
        if let Some(signal) = &request.signal {
            if signal.aborted() {
                self.abort();
                return;
            }
            let weak = Rc::downgrade(&self.state);
            let on_abort = Closure::<dyn FnMut()>::new(move || {
                let weak = weak.clone();
                // Deferred so that the listener is not dropped while it runs.
                spawn_local(async move {
                    if let Some(state) = weak.upgrade() {
                        abort_state(&state);
                    }
                });
            });
            let _ =
                signal.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
            // Kept alive by the signal's listener list for the signal's lifetime.
            on_abort.forget();
        }
    }

    fn inner(&self) -> Option<Rc<Inner>> {
        self.state.borrow().driver.clone()
    }
}

fn abort_state(state: &Rc<RefCell<HandleState>>) {
    let (inner, file) = {
        let state = state.borrow();
        (state.driver.clone(), state.file)
    };
    match (inner, file) {
        (Some(inner), Some(file)) => inner.feed(Input::Abort { file: Some(file) }),
        _ => settle(
            state,
            "aborted",
            Err(js_error(ErrorCode::Aborted, "the upload was aborted")),
        ),
    }
}

#[wasm_bindgen]
impl UploadHandle {
    /// Stops starting new chunk PUTs (those in flight finish). No-op once finished.
    pub fn pause(&self) {
        let file = {
            let mut state = self.state.borrow_mut();
            if state.settled {
                return;
            }
            state.paused = true;
            state.phase = "paused";
            state.file
        };
        if let (Some(inner), Some(file)) = (self.inner(), file) {
            inner.feed(Input::Pause { file: Some(file) });
        }
    }

    /// Continues after `pause()`.
    pub fn resume(&self) {
        let file = {
            let mut state = self.state.borrow_mut();
            if state.settled {
                return;
            }
            state.paused = false;
            state.phase = if state.file.is_some() {
                "uploading"
            } else {
                "starting"
            };
            state.file
        };
        if let (Some(inner), Some(file)) = (self.inner(), file) {
            inner.feed(Input::Resume { file: Some(file) });
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
                (false, Some(file), Some(inner)) => inner
                    .live_progress(file)
                    .map(|progress| (inner.phase_name(file), progress)),
                _ => None,
            }
        };
        let mut state = self.state.borrow_mut();
        if let Some((phase, progress)) = live {
            state.progress = progress;
            // The adapter knows one phase the engine does not: uploaded, asset processing.
            if state.phase != "processing" {
                state.phase = phase;
            }
        }
        convert::progress(state.phase, &state.progress).unchecked_into()
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
