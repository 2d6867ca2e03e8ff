//! `online`/`offline` events fed to the engine.

use std::rc::Weak;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::engine::Input;

use super::Inner;

/// `online`/`offline` listeners on the global object (windows and workers; Node has none).
pub(super) struct Connectivity {
    target: web_sys::EventTarget,
    online: Closure<dyn FnMut()>,
    offline: Closure<dyn FnMut()>,
}

impl Connectivity {
    pub(super) fn listen(inner: Weak<Inner>) -> Option<Connectivity> {
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

pub(super) fn navigator_offline() -> bool {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    js_sys::Reflect::get(&navigator, &"onLine".into())
        .ok()
        .and_then(|v| v.as_bool())
        .is_some_and(|online| !online)
}
