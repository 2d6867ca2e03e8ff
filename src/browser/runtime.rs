//! The runtime pieces every JS environment has: the clock, `setTimeout` and a small mailbox
//! that lets concurrently running requests wake the driving loop.
//!
//! Only globals present in browsers, dedicated Web Workers and Node ≥ 20 are used (no `window`),
//! so the same code runs in all three.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.setTimeout`; returns a number in browsers and a `Timeout` object in Node.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, delay_ms: f64) -> JsValue;

    /// `globalThis.clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// Milliseconds since the Unix epoch, from `Date.now()`. The engine compares server expiry
/// times with this clock, so it must be wall-clock time rather than `performance.now()`.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A pending `setTimeout` that is cleared when dropped, so an abandoned deadline never fires.
pub struct Timer {
    handle: JsValue,
    // Keeps the callback alive until the timer fires or is cleared.
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `on_fire` once after `delay_ms` milliseconds (negative delays fire immediately).
    pub fn new(delay_ms: f64, on_fire: impl FnOnce() + 'static) -> Timer {
        let callback = Closure::once(on_fire);
        let handle = set_timeout(callback.as_ref().unchecked_ref(), delay_ms.max(0.0));
        Timer {
            handle,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}

/// Resolves after `delay_ms` milliseconds, via `setTimeout`.
pub async fn sleep(delay_ms: f64) {
    let promise = Promise::new(&mut |resolve, _reject| {
        // The timer is intentionally not cleared: the promise owns the wait.
        set_timeout(&resolve, delay_ms.max(0.0));
    });
    // A promise built from a resolver that is only ever resolved cannot reject.
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A single-consumer queue of events that wakes its consumer when something is pushed.
///
/// Request tasks spawned with `spawn_local` hold a clone and push their outcomes; the driving
/// loop awaits [`Mailbox::next_batch`]. Everything runs on the one JS thread, so `Rc<RefCell>`
/// suffices and no borrow is ever held across an `.await`.
pub struct Mailbox<T> {
    inner: Rc<RefCell<MailboxInner<T>>>,
}

struct MailboxInner<T> {
    queue: VecDeque<T>,
    waker: Option<Waker>,
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        Mailbox {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            inner: Rc::new(RefCell::new(MailboxInner {
                queue: VecDeque::new(),
                waker: None,
            })),
        }
    }
}

impl<T> Mailbox<T> {
    /// Creates an empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an event and wakes the consumer.
    pub fn push(&self, event: T) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.queue.push_back(event);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits until at least one event is queued, then returns all queued events in order.
    pub fn next_batch(&self) -> NextBatch<T> {
        NextBatch {
            inner: Rc::clone(&self.inner),
        }
    }
}

/// The future returned by [`Mailbox::next_batch`].
pub struct NextBatch<T> {
    inner: Rc<RefCell<MailboxInner<T>>>,
}

impl<T> Future for NextBatch<T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let mut inner = self.inner.borrow_mut();
        if inner.queue.is_empty() {
            inner.waker = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(inner.queue.drain(..).collect())
        }
    }
}
