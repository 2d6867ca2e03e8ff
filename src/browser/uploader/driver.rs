//! Executes the engine's actions: `fetch` per request, the wake-up timer, and every outcome fed
//! back as an input.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, AbortSignal, File};

use crate::browser::api::{parse, ApiFailure, AssetCall, EngineCall, SessionRef};
use crate::browser::convert;
use crate::browser::js_error::to_js_error;
use crate::browser::runtime::Timer;
use crate::browser::transport::{ApiResponse, PutResponse, SendFailure};
use crate::browser::wire_js;
use crate::core::engine::{Action, FileId, Input, Phase, RequestId};
use crate::core::error::ErrorCode;
use crate::core::progress::Progress;
use crate::core::retry::HttpOutcome;
use crate::core::wire::{CreateMultipartUploadResponse, UploadHeaders};

use super::calls::direct_form;
use super::handle::{changed, emit_progress, settle};
use super::persistence;
use super::{now, FileEntry, Inner, PersistSetting};

impl Inner {
    /// Feeds one input to the engine and executes what it decides.
    pub(super) fn feed(self: &Rc<Self>, input: Input) {
        self.state.borrow_mut().engine.handle(now(), input);
        self.pump();
    }

    /// Drains the engine's actions, executes them, and arms the wake-up timer.
    pub(super) fn pump(self: &Rc<Self>) {
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

    pub(super) fn execute(self: &Rc<Self>, action: Action) {
        match action {
            Action::NeedToken => {
                let inner = Rc::clone(self);
                spawn_local(async move {
                    let input = match inner.api.renew_grant().await {
                        Ok(()) => Input::TokenRefreshed,
                        Err(error) => Input::TokenFailed { error },
                    };
                    inner.feed(input);
                });
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
                    self.spawn_engine_call(request, file, EngineCall::Report { session, chunks });
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
            } => self.spawn_engine_call(request, file, EngineCall::Asset { asset_id }),
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
            Action::Uploaded { file, asset_id, .. } => {
                if let Some(handle) = self.with_file(file, |f| Rc::clone(&f.handle)) {
                    {
                        let mut state = handle.borrow_mut();
                        state.phase = "processing";
                        state.asset_id = Some(asset_id);
                    }
                    changed(&handle);
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
    pub(super) fn deferred(self: &Rc<Self>, input: Input) {
        let inner = Rc::clone(self);
        spawn_local(async move { inner.feed(input) });
    }

    pub(super) fn controller_for(&self, request: RequestId) -> AbortSignal {
        // `new AbortController()` exists in every supported runtime. `expect_throw`, not
        // `expect`: the latter's `Debug` of the `JsValue` error costs the package 0.4 KB gzipped.
        let controller = AbortController::new().expect_throw("AbortController is available");
        let signal = controller.signal();
        self.state.borrow_mut().requests.insert(request, controller);
        signal
    }

    pub(super) fn with_file<T>(&self, file: FileId, f: impl FnOnce(&FileEntry) -> T) -> Option<T> {
        self.state.borrow().files.get(&file).map(f)
    }

    pub(super) fn session_of(&self, file: FileId) -> Option<SessionRef> {
        self.with_file(file, |f| f.session.clone()).flatten()
    }

    /// Creates the file's multipart session (reading its resume fingerprint first, once), or
    /// sends it whole as a direct upload; the outcome goes back as any engine call's does.
    fn create(self: &Rc<Self>, request: RequestId, file: FileId, direct: bool) {
        let Some((create, blob, fingerprint)) = self.with_file(file, |f| {
            (f.create.clone(), f.blob.clone(), f.fingerprint.is_some())
        }) else {
            return;
        };
        let Some(create) = create else {
            return;
        };
        if direct {
            return match direct_form(&create, &blob) {
                Ok(form) => {
                    self.spawn_engine_call(request, file, EngineCall::DirectUpload { form })
                }
                Err(error) => {
                    let outcome = HttpOutcome {
                        message: Some(error.message),
                        ..HttpOutcome::network_error()
                    };
                    self.deferred(Input::DirectUploadDone {
                        request,
                        result: Err(outcome),
                    })
                }
            };
        }
        let call = EngineCall::CreateSession { request: create };
        let sample = match (fingerprint, self.persist, blob.dyn_into::<File>()) {
            (false, PersistSetting::Auto, Ok(file)) => file,
            _ => return self.spawn_engine_call(request, file, call),
        };
        let inner = Rc::clone(self);
        spawn_local(async move {
            // Persistence is best effort: an unreadable sample only costs resumability.
            let fingerprint = persistence::fingerprint(&sample).await.ok();
            if let Some(entry) = inner.state.borrow_mut().files.get_mut(&file) {
                entry.fingerprint = fingerprint;
            }
            inner.spawn_engine_call(request, file, call);
        });
    }

    /// Records a session created for `file` before the engine hears of it, so that the
    /// requests it then asks for can be made.
    fn record_session(&self, file: FileId, session: &CreateMultipartUploadResponse) {
        let handle = {
            let mut state = self.state.borrow_mut();
            let Some(entry) = state.files.get_mut(&file) else {
                return;
            };
            entry.session = Some(SessionRef {
                upload_id: session.upload_id.clone(),
                upload_token: session.upload_token.clone(),
            });
            entry.upload_headers = headers(&session.upload_headers);
            Rc::clone(&entry.handle)
        };
        {
            let mut state = handle.borrow_mut();
            state.upload_id = Some(session.upload_id.clone());
            state.asset_id = Some(session.asset_id.clone());
        }
        changed(&handle);
    }

    /// Sends an API request the engine asked for and feeds its outcome back. One future type
    /// serves all of them, which keeps the wasm small.
    pub(super) fn spawn_engine_call(
        self: &Rc<Self>,
        request: RequestId,
        file: FileId,
        call: EngineCall,
    ) {
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
                EngineCall::CreateSession { .. } => {
                    let result = read_engine_response(response, wire_js::create_response);
                    if let Ok(session) = &result {
                        inner.record_session(file, session);
                    }
                    Input::SessionCreated {
                        request,
                        result,
                        server_time_ms: None,
                    }
                }
                EngineCall::DirectUpload { .. } => Input::DirectUploadDone {
                    request,
                    result: read_engine_response(response, wire_js::asset),
                },
            };
            inner.feed(input);
        });
    }

    /// The engine's current progress of `file`, while it is in the engine.
    pub(super) fn live_progress(&self, file: FileId) -> Option<Progress> {
        self.state.borrow().engine.progress(file)
    }

    pub(super) fn phase_name(&self, file: FileId) -> &'static str {
        let state = self.state.borrow();
        if state.engine.is_paused(file) {
            return "paused";
        }
        match state.engine.phase(file) {
            Some(Phase::CreatingSession) => "starting",
            Some(Phase::Reconciling) | Some(Phase::Uploading) | Some(Phase::DirectUploading) => {
                "uploading"
            }
            Some(Phase::Confirming) => "finalizing",
            Some(Phase::AwaitingAsset) => "processing",
            None => "done",
        }
    }
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
        SendFailure::Aborted => HttpOutcome::network_error(),
        SendFailure::Network(message) => HttpOutcome {
            message: Some(message),
            ..HttpOutcome::network_error()
        },
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
        // Only `getToken` fails before a request: treat it like the Worker refusing the grant.
        ApiFailure::Fatal(error) => HttpOutcome {
            error_code: Some(error.code.as_str().to_owned()),
            message: Some(error.message),
            ..HttpOutcome::status(error.status.unwrap_or(401))
        },
    }
}

pub(super) fn headers(upload_headers: &UploadHeaders) -> Vec<(String, String)> {
    upload_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
