//! Executes the engine's actions: each becomes a call the executor starts (`fetch`, `getToken`,
//! IndexedDB, the wake-up timer), whose outcome the executor feeds back as an input.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, File};

use crate::browser::api::{parse, ApiFailure, EngineCall, SessionRef};
use crate::browser::convert;
use crate::browser::transport::{put_init, ApiResponse, PutResponse, SendFailure};
use crate::browser::wire_js;
use crate::core::engine::{Action, FileId, Input, RequestId};
use crate::core::progress::Progress;
use crate::core::queue::QueuePhase;
use crate::core::retry::HttpOutcome;
use crate::core::wire::{CreateMultipartUploadResponse, UploadHeaders};

use super::calls::direct_form;
use super::forget::PageWork;
use super::handle::{changed, emit_progress, fail, settle};
use super::ops::{Call, TokenWaiter};
use super::persistence::SampleReader;
use super::{now, FileEntry, Inner};

impl Inner {
    /// Feeds one input to the engine and executes what it decides.
    pub(super) fn feed(self: &Rc<Self>, input: Input) {
        self.state.borrow_mut().engine.handle(now(), input);
        self.pump();
    }

    /// Drains the engine's actions, executes them, and re-arms the wake-up timer.
    pub(super) fn pump(self: &Rc<Self>) {
        loop {
            let action = self.state.borrow_mut().engine.poll_action();
            match action {
                Some(action) => self.execute(action),
                None => break,
            }
        }
        self.release_settled_claims();
        self.track_abandoned_requests();
        self.arm_timer();
    }

    /// Keeps one piece of the page's work per request the engine abandoned while it is in
    /// flight (`Engine::abandoned_requests`), begun when it was abandoned: a `forget` waits for
    /// each as for an asset deletion under way.
    fn track_abandoned_requests(&self) {
        let state = self.state.borrow();
        let abandoned: Vec<RequestId> = state.engine.abandoned_requests().collect();
        let mut works = self.abandoned_requests.borrow_mut();
        // Dropping a piece of work ends it (and may settle a `forget`, which runs no user code).
        works.retain(|(request, _)| abandoned.contains(request));
        for request in abandoned {
            if !works.iter().any(|(tracked, _)| *tracked == request) {
                works.push((request, PageWork::begin()));
            }
        }
    }

    pub(super) fn execute(self: &Rc<Self>, action: Action) {
        match action {
            Action::NeedToken => self.ask_token(TokenWaiter::Engine),
            Action::TokenUnneeded => {
                self.leave_token_wait(|w| matches!(w, TokenWaiter::Engine));
            }
            Action::ReadFingerprint { request, file } => {
                let file_object = self.with_file(file, |f| f.blob.clone().dyn_into::<File>());
                // The engine asks only for a `File` (see `start_new`): anything else reads as
                // an unreadable fingerprint.
                let input = match file_object {
                    Some(Ok(file_object)) => {
                        self.continue_sampling(file, request, SampleReader::new(file_object))
                    }
                    _ => Some(Input::FingerprintRead { request }),
                };
                if let Some(input) = input {
                    self.deferred(input);
                }
            }
            Action::CreateSession { request, file } => self.create(request, file, false),
            Action::DirectUpload { request, file } => self.create(request, file, true),
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
                let controller = new_controller();
                let init = blob
                    .map_err(|_| SendFailure::Network)
                    .and_then(|chunk| put_init(&headers, &chunk, &controller.signal()));
                match init {
                    Ok(init) => {
                        self.start_fetch(request.0, Call::Put(file), Some(controller), &url, &init)
                    }
                    Err(failure) => self.deferred(Input::PutDone {
                        request,
                        outcome: failure_outcome(failure),
                    }),
                }
            }
            Action::RequestUrls {
                request,
                file,
                start,
                count,
            } => {
                if let Some(session) = self.session_of(file) {
                    self.send_engine_call(
                        request,
                        file,
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
                    self.send_engine_call(request, file, EngineCall::Report { session, chunks });
                }
            }
            Action::FetchStatus {
                request,
                file,
                page,
                page_limit,
            } => {
                if let Some(session) = self.session_of(file) {
                    self.send_engine_call(
                        request,
                        file,
                        EngineCall::Status {
                            session,
                            page,
                            page_limit,
                        },
                    );
                }
            }
            Action::FetchAsset {
                request,
                file,
                asset_id,
            } => self.send_engine_call(request, file, EngineCall::Asset { asset_id }),
            Action::DeleteAsset { asset_id } => self.discard_asset(asset_id),
            Action::Cancel { request } => self.cancel(request),
            Action::Progress { file, progress } => {
                if let Some(handle) = self.with_file(file, |f| Rc::clone(&f.handle)) {
                    let app_paused = handle.borrow().paused;
                    let shown = |phase| self.shown_phase(file, phase, app_paused);
                    emit_progress(&handle, shown, progress);
                }
            }
            Action::SaveState { file } => self.save_state(file),
            Action::ForgetState { file } => self.forget_record(file),
            Action::KeepCompleted { file, record } => self.keep_completed(file, *record),
            Action::Uploaded { file, asset_id, .. } => {
                if let Some(handle) = self.with_file(file, |f| Rc::clone(&f.handle)) {
                    {
                        let mut state = handle.borrow_mut();
                        state.phase = QueuePhase::Processing;
                        state.asset_id = Some(asset_id);
                    }
                    changed(&handle);
                }
            }
            Action::Finished {
                file,
                outcome,
                progress,
            } => {
                let entry = self.state.borrow_mut().files.remove(&file);
                if let Some(entry) = entry {
                    // Settling reports the final count once, with the final phase.
                    entry.handle.borrow_mut().progress = progress;
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
                            settle(&entry.handle, QueuePhase::Done, Ok(value));
                        }
                        Err(error) => fail(&entry.handle, &error),
                    }
                }
            }
        }
    }

    pub(super) fn with_file<T>(&self, file: FileId, f: impl FnOnce(&FileEntry) -> T) -> Option<T> {
        self.state.borrow().files.get(&file).map(f)
    }

    pub(super) fn session_of(&self, file: FileId) -> Option<SessionRef> {
        self.with_file(file, |f| f.session.clone()).flatten()
    }

    /// Creates the file's multipart session, or sends it whole as a direct upload; the outcome
    /// goes back as any engine call's does.
    fn create(self: &Rc<Self>, request: RequestId, file: FileId, direct: bool) {
        let Some((create, blob)) = self.with_file(file, |f| (f.create.clone(), f.blob.clone()))
        else {
            return;
        };
        let Some(create) = create else {
            return;
        };
        if direct {
            return match direct_form(&create, &blob) {
                Ok(form) => self.send_engine_call(request, file, EngineCall::DirectUpload { form }),
                Err(_) => self.deferred(Input::DirectUploadDone {
                    request,
                    result: Err(HttpOutcome::network_error()),
                }),
            };
        }
        self.send_engine_call(request, file, EngineCall::CreateSession { request: create });
    }

    /// Records a session created for `file` before the engine hears of it, so that the
    /// requests it then asks for can be made.
    pub(super) fn record_session(
        self: &Rc<Self>,
        file: FileId,
        session: &CreateMultipartUploadResponse,
    ) {
        let (handle, saved) = {
            let mut state = self.state.borrow_mut();
            let Some(entry) = state.files.get_mut(&file) else {
                return;
            };
            entry.session = Some(SessionRef {
                upload_id: session.upload_id.clone(),
                upload_token: session.upload_token.clone(),
            });
            entry.upload_headers = headers(&session.upload_headers);
            // Its record (saved where the fingerprint was read) names the session from now on.
            (Rc::clone(&entry.handle), entry.fingerprint.is_some())
        };
        if saved {
            self.claim_new_session(file, &session.upload_id);
        }
        {
            let mut state = handle.borrow_mut();
            state.upload_id = Some(session.upload_id.clone());
            state.asset_id = Some(session.asset_id.clone());
        }
        changed(&handle);
    }

    /// Starts an API request the engine asked for; its outcome goes back as an input.
    pub(super) fn send_engine_call(
        self: &Rc<Self>,
        request: RequestId,
        file: FileId,
        call: EngineCall,
    ) {
        let kind = match &call {
            EngineCall::PresignedUrls { .. } => Call::Urls,
            EngineCall::Report { .. } => Call::Report,
            EngineCall::Status { .. } => Call::Status,
            EngineCall::Asset { .. } => Call::Asset,
            EngineCall::CreateSession { .. } => Call::Create(file),
            EngineCall::DirectUpload { .. } => Call::Direct,
        };
        let controller = new_controller();
        match self.api.engine_request(&call, &controller.signal()) {
            Ok((url, init)) => self.start_fetch(request.0, kind, Some(controller), &url, &init),
            Err(failure) => {
                if let Some(input) = self.api_input(kind, request, Err(failure)) {
                    self.deferred(input);
                }
            }
        }
    }

    /// The engine's current progress of `file`, while it is in the engine.
    pub(super) fn live_progress(&self, file: FileId) -> Option<Progress> {
        self.state.borrow().engine.progress(file)
    }

    /// The phase the upload `file` shows after `shown`, `app_paused` saying whether the
    /// application paused it ([`QueuePhase::then`]).
    pub(super) fn shown_phase(
        &self,
        file: FileId,
        shown: QueuePhase,
        app_paused: bool,
    ) -> QueuePhase {
        let state = self.state.borrow();
        shown.then(
            state.engine.phase(file),
            state.engine.is_paused(file),
            app_paused,
        )
    }
}

fn new_controller() -> AbortController {
    // `new AbortController()` exists in every supported runtime. `expect_throw`, not
    // `expect`: the latter's `Debug` of the `JsValue` error costs the package 0.4 KB gzipped.
    AbortController::new().expect_throw("AbortController is available")
}

pub(super) fn put_outcome(response: PutResponse) -> HttpOutcome {
    HttpOutcome::storage_response(
        response.status,
        response.etag,
        response.retry_after_ms,
        &response.body_excerpt,
    )
}

pub(super) fn failure_outcome(failure: SendFailure) -> HttpOutcome {
    match failure {
        // Aborted requests were cancelled by the engine, which ignores their outcome.
        SendFailure::Aborted | SendFailure::Network => HttpOutcome::network_error(),
        SendFailure::Misbehaved(what) => HttpOutcome::fetch_misbehaved(what),
    }
}

/// An engine call's 2xx body read by `read`, or the outcome the engine judges.
pub(super) fn read_engine_response<T>(
    response: Result<ApiResponse, ApiFailure>,
    read: fn(&JsValue) -> Result<T, wire_js::Unreadable>,
) -> Result<T, HttpOutcome> {
    response.and_then(|r| parse(r, read)).map_err(api_outcome)
}

pub(super) fn api_outcome(failure: ApiFailure) -> HttpOutcome {
    match failure {
        ApiFailure::Aborted => HttpOutcome::network_error(),
        ApiFailure::Outcome(outcome) => outcome,
        // A request that could not be made: the status its code stands for (no grant yet from
        // `getToken` is the Worker refusing the grant, 401).
        ApiFailure::Fatal(error) => HttpOutcome {
            error_code: Some(error.code.as_str().to_owned()),
            message: Some(error.message),
            ..HttpOutcome::status(error.status.unwrap_or(error.code.http_status()))
        },
    }
}

pub(super) fn headers(upload_headers: &UploadHeaders) -> Vec<(String, String)> {
    upload_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
