//! The event-driven executor of the upload path, without futures.
//!
//! Every browser call the upload path makes (`fetch` and its body, the wake-up timer,
//! `getToken`, IndexedDB, the fingerprint's file samples) reports back through one callback, the
//! *sink*, made once per `Uploader`. The browser calls it with `(kind, id, value)`: what
//! happened, which operation it was, and the result (a `Response`, a body's text, what was
//! thrown, an event). [`Inner::dispatch`] turns each report into at most one engine input and
//! drains the engine's actions. The callbacks handed to the browser are the sink bound to
//! `(kind, id)` (`Function.prototype.bind`, no Rust closure per request), and nothing is
//! decided outside Rust: status, `ETag`, `Retry-After` and bodies go to the core as they are.
//!
//! While any operation is in flight, the uploader holds itself (`keepalive`): the page may drop
//! its `Uploader`, and the sink must still find it when the browser reports. The hold ends when
//! the last operation ends, so an idle uploader is collected as usual.

use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortController;

use crate::browser::api::ApiFailure;
use crate::browser::js_error::{error_name, from_js};
use crate::browser::store::{transaction_error, Store};
use crate::browser::transport::{
    as_response, classify_rejection, ApiResponse, ResponseHead, SendFailure,
};
use crate::browser::wire_js;
use crate::core::engine::{FileId, Input, RequestId};
use crate::core::error::ErrorCode;
use crate::core::retry::HttpOutcome;

use super::claim::claim_reported;
use super::ops::{release_transaction, report, Call, Op, LOCAL_IDS};

use super::driver::{failure_outcome, put_outcome, read_engine_response};
use super::handle::abort_state;
use super::{now, Inner};

#[wasm_bindgen]
extern "C" {
    /// A promise, seen through the one method used here (typed for the reporter callbacks).
    type Settling;
    #[wasm_bindgen(method, js_name = then)]
    fn then_report(this: &Settling, on_fulfilled: &Function, on_rejected: &Function);

    /// The sink, seen through `bind`.
    type Bindable;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_report(this: &Bindable, receiver: &JsValue, kind: u32, id: f64) -> Function;

    /// `setTimeout(handler, delay, kind, id)`: the extra arguments are passed to the handler.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout_report(handler: &Function, delay_ms: f64, kind: u32, id: f64) -> JsValue;

    #[wasm_bindgen(js_name = clearTimeout)]
    pub(super) fn clear_timeout(handle: &JsValue);
}

/// The sink: made once per `Uploader`, it finds the uploader through `inner` and dispatches.
pub(super) fn sink(inner: Weak<Inner>) -> Closure<dyn Fn(u32, f64, JsValue)> {
    Closure::new(move |kind: u32, id: f64, value: JsValue| {
        if let Some(inner) = inner.upgrade() {
            inner.dispatch(kind, id as u64, value);
        }
    })
}

impl Inner {
    /// The sink bound to `(kind, id)`: a callback for the browser, made without a Rust closure.
    pub(super) fn reporter(&self, kind: u32, id: u64) -> Function {
        let sink: &Bindable = self.sink.as_ref().unchecked_ref();
        sink.bind_report(&JsValue::NULL, kind, id as f64)
    }

    /// Reports the settling of `promise` as `ok` or `failed`, with `id`.
    pub(super) fn report_promise(&self, promise: &Promise, ok: u32, failed: u32, id: u64) {
        let promise: &Settling = promise.unchecked_ref();
        promise.then_report(&self.reporter(ok, id), &self.reporter(failed, id));
    }

    /// A fresh id for an operation the engine did not ask for.
    pub(super) fn local_id(&self) -> u64 {
        let mut state = self.state.borrow_mut();
        state.next_local += 1;
        LOCAL_IDS + state.next_local
    }

    /// Records an operation in flight (which holds the uploader until it ends).
    pub(super) fn begin(self: &Rc<Self>, id: u64, op: Op) {
        self.state.borrow_mut().ops.insert(id, op);
        self.hold();
    }

    /// Starts a fetch whose outcome becomes the input `call` names.
    pub(super) fn start_fetch(
        self: &Rc<Self>,
        id: u64,
        call: Call,
        controller: Option<AbortController>,
        url: &str,
        init: &web_sys::RequestInit,
    ) {
        let promise = self.api.transport().start(url, init);
        self.begin(
            id,
            Op::Fetch {
                call,
                controller,
                head: None,
                settled: false,
            },
        );
        self.report_promise(&promise, report::RESPONSE, report::FETCH_FAILED, id);
    }

    /// Aborts a request the engine cancelled; its outcome, when it comes, is ignored.
    pub(super) fn cancel(self: &Rc<Self>, request: RequestId) {
        let controller = {
            let mut state = self.state.borrow_mut();
            if matches!(
                state.ops.get(&request.0),
                Some(Op::Sample { .. } | Op::Probe)
            ) {
                // A file read cannot be aborted: the operation goes, so no further sample is
                // read and the read in progress, when it ends, finds nothing to continue.
                state.ops.remove(&request.0);
            }
            match state.ops.get_mut(&request.0) {
                Some(Op::Fetch {
                    controller,
                    settled,
                    ..
                }) => {
                    *settled = true;
                    controller.take()
                }
                _ => None,
            }
        };
        if let Some(controller) = controller {
            controller.abort();
        }
        self.hold();
    }

    /// Re-arms the one wake-up timer for the engine's next wake-up time.
    pub(super) fn arm_timer(self: &Rc<Self>) {
        let wakeup = self.state.borrow().engine.next_wakeup();
        let old = self.state.borrow_mut().timer.take();
        if let Some((_, handle)) = old {
            clear_timeout(&handle);
        }
        if let Some(at) = wakeup {
            let id = self.local_id();
            let handle = self.start_timer(report::TIMER, id, at.saturating_sub(now()));
            self.state.borrow_mut().timer = Some((id, handle));
        }
        self.hold();
    }

    /// Reports `(kind, id)` after `delay_ms`; returns the `setTimeout` handle.
    pub(super) fn start_timer(&self, kind: u32, id: u64, delay_ms: u64) -> JsValue {
        let sink: &Function = self.sink.as_ref().unchecked_ref();
        set_timeout_report(sink, delay_ms as f64, kind, id as f64)
    }

    /// Feeds an input on the next microtask (never re-entering the engine from `execute`).
    pub(super) fn deferred(self: &Rc<Self>, input: Input) {
        let first = {
            let mut state = self.state.borrow_mut();
            state.deferred.push(input);
            state.deferred.len() == 1 && state.aborting.is_empty()
        };
        if first {
            self.soon();
        }
    }

    /// Reports [`report::SOON`] on the next microtask.
    fn soon(self: &Rc<Self>) {
        let promise = Promise::resolve(&JsValue::UNDEFINED);
        self.report_promise(&promise, report::SOON, report::SOON, 0);
        self.hold();
    }

    /// Holds the uploader while anything is in flight, and lets it go when nothing is.
    fn hold(self: &Rc<Self>) {
        let busy = {
            let state = self.state.borrow();
            !state.ops.is_empty()
                || state.timer.is_some()
                || !state.deferred.is_empty()
                || !state.aborting.is_empty()
        };
        let mut keepalive = self.keepalive.borrow_mut();
        if busy && keepalive.is_none() {
            *keepalive = Some(Rc::clone(self));
        } else if !busy {
            // Dropped after the borrow ends: the caller holds its own `Rc`.
            let released = keepalive.take();
            drop(keepalive);
            drop(released);
        }
    }

    /// Handles one report from the browser: at most one input for the engine, then its actions.
    fn dispatch(self: &Rc<Self>, kind: u32, id: u64, value: JsValue) {
        let input = match kind {
            report::TIMER => {
                let mut state = self.state.borrow_mut();
                // A cleared timer does not fire; the check guards against one already queued.
                if state.timer.as_ref().is_some_and(|(armed, _)| *armed == id) {
                    state.timer = None;
                    Some(Input::Tick)
                } else {
                    None
                }
            }
            report::SOON => {
                let (inputs, aborting) = {
                    let mut state = self.state.borrow_mut();
                    (
                        std::mem::take(&mut state.deferred),
                        std::mem::take(&mut state.aborting),
                    )
                };
                for input in inputs {
                    self.feed(input);
                }
                for handle in aborting {
                    abort_state(&handle);
                }
                None
            }
            report::ABORT => {
                // On the next microtask: the signal may be aborted from inside a callback of
                // this uploader's own bookkeeping.
                let first = {
                    let mut state = self.state.borrow_mut();
                    let handle = state.abort_listeners.remove(&id).and_then(|h| h.upgrade());
                    handle.is_some_and(|handle| {
                        state.aborting.push(handle);
                        state.aborting.len() == 1 && state.deferred.is_empty()
                    })
                };
                if first {
                    self.soon();
                }
                None
            }
            report::RESPONSE => self.on_response(id, value),
            report::ONE_OFF_ABORT => {
                self.abort_one_off(id);
                None
            }
            _ => {
                let op = self.state.borrow_mut().ops.remove(&id);
                match op {
                    Some(op) => self.on_end(id, kind, op, value),
                    None => None,
                }
            }
        };
        match input {
            Some(input) => self.feed(input),
            None => self.hold(),
        }
    }

    /// A response arrived: its head is kept, and its body read (always, so that the connection
    /// is free for reuse). A stored chunk is reported at once: its status and `ETag` decide it.
    fn on_response(self: &Rc<Self>, id: u64, value: JsValue) -> Option<Input> {
        let response = match as_response(value) {
            Ok(response) => response,
            Err(value) => {
                let op = self.state.borrow_mut().ops.remove(&id)?;
                let failure = SendFailure::not_a_response(&value);
                if let Op::OneOff(call) = op {
                    self.one_off_failed(id, call, failure_outcome(failure));
                    return None;
                }
                return self.fetch_failed(id, op, failure);
            }
        };
        let head = ResponseHead::read(&response);
        let mut input = None;
        match self.state.borrow_mut().ops.get_mut(&id) {
            Some(Op::Fetch {
                call,
                head: kept,
                settled,
                ..
            }) => {
                if matches!(call, Call::Put(_)) && head.is_success() && !*settled {
                    *settled = true;
                    input = Some(Input::PutDone {
                        request: RequestId(id),
                        outcome: put_outcome(head.clone().put_response("")),
                    });
                }
                *kept = Some(head);
            }
            Some(Op::OneOff(call)) => call.keep_head(head),
            _ => return None,
        }
        let body = response
            .text()
            .unwrap_or_else(|thrown| Promise::reject(&thrown));
        self.report_promise(&body, report::BODY, report::FETCH_FAILED, id);
        input
    }

    /// An operation ended: the input its outcome becomes, if any.
    fn on_end(self: &Rc<Self>, id: u64, kind: u32, op: Op, value: JsValue) -> Option<Input> {
        match op {
            Op::OneOff(call) => {
                self.on_one_off(id, kind, call, value);
                None
            }
            Op::Fetch { settled: true, .. } => None,
            Op::Fetch {
                call,
                head: Some(head),
                ..
            } if kind == report::BODY => {
                let text = value.as_string().unwrap_or_default();
                let request = RequestId(id);
                Some(match call {
                    Call::Put(_) => Input::PutDone {
                        request,
                        outcome: put_outcome(head.put_response(&text)),
                    },
                    _ => return self.api_input(call, request, Ok(head.api_response(&text))),
                })
            }
            op @ Op::Fetch { .. } => {
                // Our own aborts were marked `settled` by `cancel`; any other `AbortError`
                // (e.g. from a `fetch` override) is reported like one.
                self.fetch_failed(id, op, classify_rejection(&value, None))
            }
            Op::Token { waiters, deadline } => self.on_token(kind, value, waiters, &deadline),
            Op::StoreOpen { request, deadline } => {
                clear_timeout(&deadline);
                // An open that answers after its deadline closes the connection it made.
                Store::abandon_open(&request);
                // A browser that blocks storage (e.g. private mode) fails the open: the
                // uploader then runs without persistence.
                let opened = (kind == report::DONE)
                    .then(|| Store::opened(&request))
                    .flatten();
                self.store_failed.set(opened.is_none());
                self.on_store_opened(opened);
                None
            }
            Op::StoreWrite(transaction) => {
                // Best effort: a failed write only costs resumability.
                release_transaction(&transaction);
                None
            }
            Op::StoreRead {
                transaction,
                keys,
                values,
                lookup,
            } => {
                release_transaction(&transaction);
                let entries = (kind == report::DONE).then(|| Store::entries(&keys, &values));
                self.looked_up(lookup, entries);
                None
            }
            Op::StoreForget {
                transaction,
                forgetting,
            } => {
                release_transaction(&transaction);
                let stored = match kind {
                    report::DONE => Ok(()),
                    _ => Err(transaction_error(&transaction)),
                };
                self.forget_stored(forgetting, stored);
                None
            }
            Op::ForgetClaim(forgetting, upload_id) => {
                let (outcome, claim) = claim_reported(kind, value);
                self.forget_claimed(forgetting, upload_id, outcome, claim);
                None
            }
            Op::DiscardAssets(forgetting) => {
                self.asset_discarded(forgetting, kind, value);
                None
            }
            // Its work for the page ends with it.
            Op::DiscardAsset { .. } => None,
            Op::Fingerprint { resume, mut reader } => {
                if kind == report::DONE {
                    reader.update(&js_sys::Uint8Array::new(&value).to_vec());
                    self.continue_fingerprint(id, resume, reader);
                } else {
                    resume.fail(from_js(&value, ErrorCode::Internal));
                }
                None
            }
            Op::Claim(file) => {
                let (outcome, claim) = claim_reported(kind, value);
                self.claim_answered(file, outcome, claim);
                None
            }
            Op::ClaimResume(resume) => {
                let (outcome, claim) = claim_reported(kind, value);
                self.resume_claimed(resume, outcome, claim);
                None
            }
            Op::QueryClaims(after) => {
                self.claims_queried(*after, kind, value);
                None
            }
            Op::Probe => Some(Input::PutDone {
                request: RequestId(id),
                // Only the refusal a changed file gets; anything else is the network's doing.
                outcome: if kind == report::FAILED
                    && error_name(&value).as_deref() == Some("NotReadableError")
                {
                    HttpOutcome::source_unreadable()
                } else {
                    HttpOutcome::network_error()
                },
            }),
            Op::Sample {
                file,
                request,
                mut reader,
            } => {
                if kind == report::DONE {
                    reader.update(&js_sys::Uint8Array::new(&value).to_vec());
                } else {
                    reader.fail();
                }
                self.continue_sampling(file, request, reader)
            }
        }
    }

    /// The input of a fetch that failed before its body was read.
    fn fetch_failed(self: &Rc<Self>, id: u64, op: Op, failure: SendFailure) -> Option<Input> {
        let Op::Fetch {
            call,
            settled: false,
            ..
        } = op
        else {
            return None;
        };
        let request = RequestId(id);
        match call {
            Call::Put(file) if failure == SendFailure::Network => self.probe_source(request, file),
            Call::Put(_) => Some(Input::PutDone {
                request,
                outcome: failure_outcome(failure),
            }),
            _ => self.api_input(call, request, Err(ApiFailure::from(failure))),
        }
    }

    /// A chunk's PUT got no response: reads the file's first byte before the engine hears of it.
    /// A file that changed on disk since it was chosen can no longer be read (browsers and Node
    /// alike refuse with `NotReadableError`, while the failed `fetch` only said "network"), and
    /// no retry would ever get past that.
    fn probe_source(self: &Rc<Self>, request: RequestId, file: FileId) -> Option<Input> {
        let first_byte = self.with_file(file, |f| f.blob.slice_with_f64_and_f64(0.0, 1.0));
        match first_byte {
            Some(Ok(slice)) => {
                self.begin(request.0, Op::Probe);
                self.report_promise(
                    &slice.array_buffer(),
                    report::DONE,
                    report::FAILED,
                    request.0,
                );
                None
            }
            _ => Some(Input::PutDone {
                request,
                outcome: HttpOutcome::network_error(),
            }),
        }
    }

    /// The input an engine call's response (or failure) becomes.
    pub(super) fn api_input(
        self: &Rc<Self>,
        call: Call,
        request: RequestId,
        response: Result<ApiResponse, ApiFailure>,
    ) -> Option<Input> {
        Some(match call {
            Call::Put(_) => return None,
            Call::Urls => Input::UrlsDone {
                request,
                result: read_engine_response(response, wire_js::presigned_urls_response),
            },
            Call::Report => Input::ReportDone {
                request,
                result: read_engine_response(response, wire_js::report_response),
            },
            Call::Status => Input::StatusDone {
                request,
                result: read_engine_response(response, wire_js::status_response),
            },
            Call::Asset => Input::AssetDone {
                request,
                result: read_engine_response(response, wire_js::asset),
            },
            Call::Create(file) => {
                let result = read_engine_response(response, wire_js::create_response);
                let awaited = self.state.borrow().engine.awaits_session(request);
                if let (true, Ok(session)) = (awaited, &result) {
                    self.record_session(file, session);
                }
                Input::SessionCreated { request, result }
            }
            Call::Direct => Input::DirectUploadDone {
                request,
                result: read_engine_response(response, wire_js::asset),
            },
        })
    }
}
