//! The runtime pieces every JS environment has: the clock and `setTimeout`.
//!
//! Only globals present in browsers, dedicated Web Workers and Node ≥ 20 are used (no `window`),
//! so the same code runs in all three.

use js_sys::Function;
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

/// Calls `handler` (with no argument) after `delay_ms`; the handle is for [`cancel_call`].
pub fn call_later(handler: &Function, delay_ms: f64) -> JsValue {
    set_timeout(handler, delay_ms.max(0.0))
}

/// Cancels a [`call_later`] that has not run yet.
pub fn cancel_call(handle: &JsValue) {
    clear_timeout(handle)
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
