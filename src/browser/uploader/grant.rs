//! The application's `getToken`, asked for by the engine (`NeedToken`) and by one-off calls:
//! one call at a time, shared by everyone who needs a grant meanwhile, and given up on after the
//! engine's bound (`EngineConfig::token_wait_ms`).

use std::rc::Rc;

use wasm_bindgen::JsValue;

use crate::browser::api::token_error;
use crate::core::engine::{token_unanswered, Input};

use super::executor::clear_timeout;
use super::ops::{report, Op, TokenWaiter};
use super::Inner;

impl Inner {
    /// Calls `getToken` for `waiter`, or adds `waiter` to the call already in flight. Its
    /// answer, or its absence after the engine's bound, goes to every waiter (for the engine,
    /// `TokenRefreshed` or `TokenFailed`).
    pub(super) fn ask_token(self: &Rc<Self>, waiter: TokenWaiter) {
        let Some(source) = self.api.grant_source() else {
            // An API key needs no grant.
            return match waiter {
                TokenWaiter::Engine => self.deferred(Input::TokenRefreshed),
                TokenWaiter::OneOff(id, call) => self.send_one_off(id, call),
            };
        };
        // A call every waiter left is not joined: its deadline is gone.
        if let Some(Op::Token { waiters, .. }) = self
            .state
            .borrow_mut()
            .ops
            .values_mut()
            .find(|op| matches!(op, Op::Token { waiters, .. } if !waiters.is_empty()))
        {
            return waiters.push(waiter);
        }
        let promise = source.ask();
        let id = self.local_id();
        let deadline = self.start_timer(report::TOKEN_LATE, id, self.config.token_wait_ms());
        self.begin(
            id,
            Op::Token {
                waiters: vec![waiter],
                deadline,
            },
        );
        self.report_promise(&promise, report::TOKEN, report::TOKEN_FAILED, id);
    }

    /// Takes the waiters `leaving` picks out of the `getToken` call in flight. Once none is
    /// left, its deadline is cleared (no timer outlives what waits), and the call stays only
    /// until `getToken` settles, its answer fed to no one.
    pub(super) fn leave_token_wait(
        &self,
        leaving: impl Fn(&TokenWaiter) -> bool,
    ) -> Vec<TokenWaiter> {
        let mut state = self.state.borrow_mut();
        let Some(Op::Token { waiters, deadline }) = state
            .ops
            .values_mut()
            .find(|op| matches!(op, Op::Token { waiters, .. } if !waiters.is_empty()))
        else {
            return Vec::new();
        };
        let (left, stay): (Vec<_>, Vec<_>) = std::mem::take(waiters).into_iter().partition(leaving);
        *waiters = stay;
        if waiters.is_empty() {
            clear_timeout(deadline);
        }
        left
    }

    /// `getToken` answered (`kind`: `TOKEN` or `TOKEN_FAILED`, with `value`), or not within its
    /// deadline (`TOKEN_LATE`): every waiter gets the outcome. The input for the engine, if it
    /// waited.
    pub(super) fn on_token(
        self: &Rc<Self>,
        kind: u32,
        value: JsValue,
        waiters: Vec<TokenWaiter>,
        deadline: &JsValue,
    ) -> Option<Input> {
        clear_timeout(deadline);
        let source = self.api.grant_source()?;
        let accepted = match kind {
            report::TOKEN => source.accept(&value),
            report::TOKEN_LATE => Err(token_unanswered(self.config.token_wait_ms())),
            _ => Err(token_error(&value)),
        };
        let mut input = None;
        for waiter in waiters {
            match waiter {
                TokenWaiter::Engine => {
                    input = Some(match &accepted {
                        Ok(()) => Input::TokenRefreshed,
                        Err(error) => Input::TokenFailed {
                            error: error.clone(),
                        },
                    })
                }
                TokenWaiter::OneOff(id, call) => self.one_off_token(id, call, accepted.clone()),
            }
        }
        input
    }
}
