//! The one-off promise methods (`getAsset`, `listAssets`, `deleteAsset`, `uploadUrl`,
//! `waitUntilReady`) on the executor: each call is a small state machine whose every step the
//! core decides ([`OneOffRetry`]: resend, wait, renew the grant, fail; [`AssetWait`]: poll again
//! or stop), and which settles the method's promise.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, FormData};

use crate::browser::api::{outcome_of, unreadable_outcome, ApiFailure, AssetCall};
use crate::browser::convert;
use crate::browser::js_error::to_js_error;
use crate::browser::transport::{classify_rejection, ResponseHead, SendFailure};
use crate::browser::wire_js;
use crate::core::engine::AssetWait;
use crate::core::engine::AssetWaitStep;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{HttpOutcome, NextStep, OneOffRetry, Operation};

use super::executor::clear_timeout;
use super::ops::{report, Op, TokenWaiter};
use super::{now, random_u64, Inner};

/// The request of a one-off call, owned.
pub(super) enum OneOffRequest {
    /// `POST /assets` with this form.
    CreateAsset(FormData),
    /// `GET /assets/{id}`.
    Get(String),
    /// `GET /assets?{query}`.
    List(String),
    /// `DELETE /assets/{id}[?force=true]`.
    Delete { asset_id: String, force: bool },
}

impl OneOffRequest {
    fn call(&self) -> AssetCall<'_> {
        match self {
            OneOffRequest::CreateAsset(form) => AssetCall::CreateAsset(form),
            OneOffRequest::Get(asset_id) => AssetCall::Get(asset_id),
            OneOffRequest::List(query) => AssetCall::List(query),
            OneOffRequest::Delete { asset_id, force } => AssetCall::Delete {
                asset_id,
                force: *force,
            },
        }
    }
}

/// What the call's 2xx body becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// The asset (`getAsset`, `uploadUrl`).
    Asset,
    /// A page of assets (`listAssets`).
    AssetPage,
    /// Nothing (`deleteAsset`).
    Nothing,
    /// The asset, then poll it until it is ready, for at most this long (`uploadUrl` with
    /// `waitUntilReady`).
    AssetWhenReady(Option<u64>),
}

/// One call in flight.
pub(super) struct OneOff {
    request: OneOffRequest,
    answer: Answer,
    signal: Option<AbortSignal>,
    retry: OneOffRetry,
    /// While polling an asset until it is ready.
    waiting: Option<AssetWait>,
    settler: Settler,
    head: Option<ResponseHead>,
    /// Listens to `signal` for an abort (the executor's reporter), until the call settles.
    abort_listener: Option<Function>,
    /// The timer of the retry's delay the call waits out, if it waits for one.
    retry_timer: Option<JsValue>,
}

impl OneOff {
    /// A call without a signal, not waiting for an asset: it settles `settler`.
    pub(super) fn new(
        request: OneOffRequest,
        answer: Answer,
        retry: OneOffRetry,
        settler: Settler,
    ) -> OneOff {
        OneOff {
            request,
            answer,
            signal: None,
            retry,
            waiting: None,
            settler,
            head: None,
            abort_listener: None,
            retry_timer: None,
        }
    }

    pub(super) fn keep_head(&mut self, head: ResponseHead) {
        self.head = Some(head);
    }

    fn settle(&self, result: Result<JsValue, Error>) {
        if let (Some(signal), Some(listener)) = (&self.signal, &self.abort_listener) {
            let _ = signal.remove_event_listener_with_callback("abort", listener);
        }
        self.settler.settle(result);
    }

    /// What the call fails with once its `signal` aborted.
    fn aborted(&self) -> Error {
        let what = if self.waiting.is_some() {
            "waiting was aborted"
        } else {
            "the request was aborted"
        };
        Error::new(ErrorCode::Aborted, what)
    }
}

/// The resolve and reject functions of a promise this package returns.
pub(super) struct Settler {
    resolve: Function,
    reject: Function,
}

impl Settler {
    /// A settler that reports to the executor: `resolve` and `reject` are its bound callbacks.
    pub(super) fn reporting(resolve: Function, reject: Function) -> Settler {
        Settler { resolve, reject }
    }

    /// A new promise, handed to `start` as its settler.
    pub(super) fn promise(start: impl FnOnce(Settler)) -> Promise {
        let mut settler = None;
        let promise =
            Promise::new(&mut |resolve, reject| settler = Some(Settler { resolve, reject }));
        if let Some(settler) = settler {
            start(settler);
        }
        promise
    }

    /// Resolves with `undefined` (or rejects with `error`) after `delay_ms`, unless settled
    /// before (settling twice does nothing); the handle is for
    /// [`cancel_call`](crate::browser::runtime::cancel_call).
    pub(super) fn settle_later(&self, delay_ms: u32, error: Option<&Error>) -> JsValue {
        let settle = match error {
            None => self.resolve.clone(),
            Some(error) => self
                .reject
                .bind1(&JsValue::UNDEFINED, &to_js_error(error))
                .unchecked_into(),
        };
        crate::browser::runtime::call_later(&settle, f64::from(delay_ms))
    }

    /// Resolves with the value, or rejects with the error as an `UploadError`.
    pub(super) fn settle(&self, result: Result<JsValue, Error>) {
        // Settling a promise calls no user code synchronously.
        let _ = match result {
            Ok(value) => self.resolve.call1(&JsValue::UNDEFINED, &value),
            Err(error) => self.reject.call1(&JsValue::UNDEFINED, &to_js_error(&error)),
        };
    }
}

impl Inner {
    /// Starts a one-off call; the promise settles with its answer or its error.
    pub(super) fn one_off(
        self: &Rc<Self>,
        operation: Operation,
        request: OneOffRequest,
        answer: Answer,
        signal: Option<AbortSignal>,
    ) -> Promise {
        self.start_one_off(operation, request, answer, signal, None)
    }

    fn start_one_off(
        self: &Rc<Self>,
        operation: Operation,
        request: OneOffRequest,
        answer: Answer,
        signal: Option<AbortSignal>,
        waiting: Option<AssetWait>,
    ) -> Promise {
        Settler::promise(|settler| {
            let mut call = Box::new(OneOff {
                request,
                answer,
                signal,
                retry: self.one_off_retry(operation),
                waiting,
                settler,
                head: None,
                abort_listener: None,
                retry_timer: None,
            });
            let id = self.local_id();
            if let Some(signal) = &call.signal {
                if signal.aborted() {
                    return call.settle(Err(call.aborted()));
                }
                // Whatever the call waits for (`getToken`, a retry's delay, a response), an
                // abort settles it at once.
                let listener = self.reporter(report::ONE_OFF_ABORT, id);
                let _ = signal.add_event_listener_with_callback("abort", &listener);
                call.abort_listener = Some(listener);
            }
            self.send_one_off(id, call);
        })
    }

    /// The signal of one-off call `id` aborted: a call waiting for `getToken` or for a retry's
    /// delay settles as `aborted` at once (a late `getToken` answer finds nothing to continue).
    /// A request in flight needs nothing here: it was sent with the signal, so it rejects.
    pub(super) fn abort_one_off(self: &Rc<Self>, id: u64) {
        let call = {
            let mut state = self.state.borrow_mut();
            match state.ops.get(&id) {
                Some(Op::OneOff(call)) if call.retry_timer.is_some() => {
                    match state.ops.remove(&id) {
                        Some(Op::OneOff(call)) => Some(call),
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        if let Some(timer) = call.as_ref().and_then(|call| call.retry_timer.as_ref()) {
            clear_timeout(timer);
        }
        let call = call.or_else(|| {
            self.leave_token_wait(
                |w| matches!(w, TokenWaiter::OneOff(waiting, _) if *waiting == id),
            )
            .into_iter()
            .find_map(|waiter| match waiter {
                TokenWaiter::OneOff(_, call) => Some(call),
                TokenWaiter::Engine => None,
            })
        });
        if let Some(call) = call {
            call.settle(Err(call.aborted()));
        }
    }

    /// `waitUntilReady`: polls the asset until it is ready (or failed, or the time is up).
    pub(super) fn wait_until_ready(
        self: &Rc<Self>,
        asset_id: String,
        signal: Option<AbortSignal>,
        timeout_ms: Option<u64>,
    ) -> Promise {
        let wait = AssetWait::new(self.config.asset_poll, now(), timeout_ms);
        self.start_one_off(
            Operation::Asset,
            OneOffRequest::Get(asset_id),
            Answer::AssetWhenReady(timeout_ms),
            signal,
            Some(wait),
        )
    }

    pub(super) fn one_off_retry(&self, operation: Operation) -> OneOffRetry {
        let retry = OneOffRetry::new(operation, self.config.one_off_backoff(operation));
        if self.api.renewable_grant() {
            retry.with_renewable_grant()
        } else {
            retry
        }
    }

    /// Sends the call, after asking `getToken` when no grant is cached yet.
    pub(super) fn send_one_off(self: &Rc<Self>, id: u64, call: Box<OneOff>) {
        if self.api.grant_source().is_some_and(|s| !s.has_grant()) {
            return self.ask_token(TokenWaiter::OneOff(id, call));
        }
        match self
            .api
            .asset_request(&call.request.call(), call.signal.as_ref())
        {
            Ok((url, init)) => {
                let promise = self.api.transport().start(&url, &init);
                self.begin(id, Op::OneOff(call));
                self.report_promise(&promise, report::RESPONSE, report::FETCH_FAILED, id);
            }
            Err(ApiFailure::Outcome(outcome)) => self.one_off_failed(id, call, outcome),
            Err(ApiFailure::Fatal(error)) => call.settle(Err(error)),
            Err(ApiFailure::Aborted) => call.settle(Err(call.aborted())),
        }
    }

    /// `getToken` answered the call's request for a grant (`Err`: it failed, or did not
    /// answer in time): the call is sent, or the core decides what its failure means.
    pub(super) fn one_off_token(
        self: &Rc<Self>,
        id: u64,
        mut call: Box<OneOff>,
        accepted: Result<(), Error>,
    ) {
        match accepted {
            Ok(()) => self.send_one_off(id, call),
            Err(error) => {
                let next = call.retry.after_token_failure(error, random_u64());
                self.one_off_next(id, call, next);
            }
        }
    }

    /// A report about a one-off call (its response body or failure, its retry timer).
    pub(super) fn on_one_off(
        self: &Rc<Self>,
        id: u64,
        kind: u32,
        call: Box<OneOff>,
        value: JsValue,
    ) {
        match kind {
            report::RETRY => {
                let mut call = call;
                call.retry_timer = None;
                self.send_one_off(id, call)
            }
            report::BODY => {
                let Some(response) = call
                    .head
                    .as_ref()
                    .map(|head| head.api_response(&value.as_string().unwrap_or_default()))
                else {
                    return;
                };
                if !response.is_success() {
                    return self.one_off_failed(id, call, outcome_of(&response));
                }
                match self.one_off_answer(&call, &response.body) {
                    Ok(step) => self.one_off_step(id, call, step),
                    Err(wire_js::Unreadable(field)) => {
                        let outcome =
                            unreadable_outcome(response.status, wire_js::Unreadable(field));
                        self.one_off_failed(id, call, outcome)
                    }
                }
            }
            _ => match classify_rejection(&value, call.signal.as_ref()) {
                SendFailure::Aborted => call.settle(Err(call.aborted())),
                SendFailure::Network => self.one_off_failed(id, call, HttpOutcome::network_error()),
                SendFailure::Misbehaved(what) => {
                    self.one_off_failed(id, call, HttpOutcome::fetch_misbehaved(what))
                }
            },
        }
    }

    /// What a readable 2xx body means for the call.
    fn one_off_answer(&self, call: &OneOff, body: &JsValue) -> Result<Step, wire_js::Unreadable> {
        Ok(match call.answer {
            Answer::Asset => Step::Settle(convert::asset(&wire_js::asset(body)?)),
            Answer::AssetPage => Step::Settle(convert::asset_page(&wire_js::asset_page(body)?)),
            Answer::Nothing => Step::Settle(JsValue::UNDEFINED),
            Answer::AssetWhenReady(timeout_ms) => {
                let asset = wire_js::asset(body)?;
                match &call.waiting {
                    None if matches!(call.request, OneOffRequest::CreateAsset(_)) => {
                        Step::StartWaiting(asset.id, timeout_ms)
                    }
                    _ => Step::Polled(asset),
                }
            }
        })
    }

    fn one_off_step(self: &Rc<Self>, id: u64, mut call: Box<OneOff>, step: Step) {
        match step {
            Step::Settle(value) => call.settle(Ok(value)),
            Step::StartWaiting(asset_id, timeout_ms) => {
                call.request = OneOffRequest::Get(asset_id);
                call.retry = self.one_off_retry(Operation::Asset);
                call.waiting = Some(AssetWait::new(self.config.asset_poll, now(), timeout_ms));
                self.send_one_off(id, call);
            }
            Step::Polled(asset) => {
                let Answer::AssetWhenReady(timeout_ms) = call.answer else {
                    return;
                };
                let wait = call.waiting.get_or_insert_with(|| {
                    AssetWait::new(self.config.asset_poll, now(), timeout_ms)
                });
                match wait.after(&asset, now(), random_u64()) {
                    AssetWaitStep::Ready => call.settle(Ok(convert::asset(&asset))),
                    AssetWaitStep::Fail(error) => call.settle(Err(error)),
                    AssetWaitStep::PollAfterMs(delay) => {
                        call.retry = self.one_off_retry(Operation::Asset);
                        self.retry_one_off(id, call, delay);
                    }
                }
            }
        }
    }

    /// A failed attempt: the core says whether to wait and resend, renew the grant, or fail.
    pub(super) fn one_off_failed(
        self: &Rc<Self>,
        id: u64,
        mut call: Box<OneOff>,
        outcome: HttpOutcome,
    ) {
        let next = call.retry.after(&outcome, random_u64());
        self.one_off_next(id, call, next);
    }

    /// Does what the call's retry decisions said after a failed attempt.
    fn one_off_next(self: &Rc<Self>, id: u64, call: Box<OneOff>, next: NextStep) {
        match next {
            // Only a storage PUT classifies as success; an API 2xx gets here only unread.
            NextStep::Done => call.settle(Err(Error::new(
                ErrorCode::ServerInvalid,
                "unexpected response",
            ))),
            NextStep::Fail(error) => call.settle(Err(error)),
            NextStep::RefreshGrant => {
                // The refused grant is not sent again, even if the fresh one cannot be had.
                if let Some(source) = self.api.grant_source() {
                    source.forget();
                }
                self.ask_token(TokenWaiter::OneOff(id, call))
            }
            NextStep::RetryAfterMs(delay) => self.retry_one_off(id, call, delay),
        }
    }

    fn retry_one_off(self: &Rc<Self>, id: u64, mut call: Box<OneOff>, delay_ms: u64) {
        call.retry_timer = Some(self.start_timer(report::RETRY, id, delay_ms));
        self.begin(id, Op::OneOff(call));
    }
}

/// What to do after a readable 2xx body.
enum Step {
    /// Settle the promise with this value.
    Settle(JsValue),
    /// The asset was created: poll it until it is ready.
    StartWaiting(String, Option<u64>),
    /// The asset was read while waiting for it to be ready.
    Polled(crate::core::wire::Asset),
}
