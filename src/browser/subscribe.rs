//! `subscribe(listener) → unsubscribe` for `UploadHandle` and `UploadQueue`, the store contract
//! of React's `useSyncExternalStore` and of other frameworks' stores.
//!
//! A change is announced in a microtask, once for all the changes made until then: listeners
//! never run inside the uploader's own bookkeeping (so a listener may call back into the
//! uploader), and a burst of changes costs one call. A listener that throws does not stop the
//! others.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;

/// Called with no arguments after a change.
#[derive(Clone)]
enum Listener {
    /// An application's listener.
    Js(Function),
    /// The crate's own observer (an upload queue watching one of its uploads).
    Rust(Rc<dyn Fn()>),
}

#[derive(Default)]
struct State {
    next_id: u32,
    listeners: Vec<(u32, Listener)>,
    scheduled: bool,
}

/// The listeners of one store.
#[derive(Clone, Default)]
pub struct Subscribers {
    state: Rc<RefCell<State>>,
}

impl Subscribers {
    /// No listeners yet.
    pub fn new() -> Subscribers {
        Subscribers::default()
    }

    /// Adds an application's listener; returns the JS function that removes it (calling it
    /// again does nothing).
    pub fn subscribe(&self, listener: Function) -> Function {
        let id = self.add(Listener::Js(listener));
        let state = Rc::downgrade(&self.state);
        Closure::<dyn FnMut()>::new(move || remove(&state, id))
            .into_js_value()
            .unchecked_into()
    }

    /// Adds the crate's own observer, for the lifetime of these subscribers.
    pub fn watch(&self, observer: Rc<dyn Fn()>) {
        self.add(Listener::Rust(observer));
    }

    fn add(&self, listener: Listener) -> u32 {
        let mut state = self.state.borrow_mut();
        state.next_id += 1;
        let id = state.next_id;
        state.listeners.push((id, listener));
        id
    }

    /// Announces a change to every listener in a microtask (one call for the changes made
    /// until it runs).
    pub fn notify(&self) {
        {
            let mut state = self.state.borrow_mut();
            if state.scheduled || state.listeners.is_empty() {
                return;
            }
            state.scheduled = true;
        }
        let first = DUE.with(|due| {
            let mut due = due.borrow_mut();
            due.push(Rc::clone(&self.state));
            due.len() == 1
        });
        if first {
            ANNOUNCE.with(|announce| queue_microtask(announce.as_ref().unchecked_ref()));
        }
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &Function);
}

thread_local! {
    /// The stores whose listeners are due, in the order they changed (held until announced).
    static DUE: RefCell<Vec<Rc<RefCell<State>>>> = const { RefCell::new(Vec::new()) };
    /// The one microtask callback that announces them: made once, not once per change.
    static ANNOUNCE: Closure<dyn Fn()> = Closure::new(announce);
}

/// Calls the listeners of every store that changed since the last announcement.
fn announce() {
    let due = DUE.with(|due| std::mem::take(&mut *due.borrow_mut()));
    for state in due {
        let listeners: Vec<(u32, Listener)> = {
            let mut state = state.borrow_mut();
            state.scheduled = false;
            state.listeners.clone()
        };
        for (id, listener) in listeners {
            // One unsubscribed by an earlier listener of this round is not called.
            if !state.borrow().listeners.iter().any(|(i, _)| *i == id) {
                continue;
            }
            match listener {
                // A listener's exception is the application's: it must not stop the others.
                Listener::Js(function) => drop(function.call0(&JsValue::UNDEFINED)),
                Listener::Rust(observer) => observer(),
            }
        }
    }
}

fn remove(state: &Weak<RefCell<State>>, id: u32) {
    if let Some(state) = state.upgrade() {
        state.borrow_mut().listeners.retain(|(i, _)| *i != id);
    }
}

/// `value` frozen with the plain objects it holds (one level down: `retrying`, `error`,
/// `counts`), returned.
pub fn frozen(value: JsValue) -> JsValue {
    let object: &js_sys::Object = value.unchecked_ref();
    for nested in js_sys::Object::values(object).iter() {
        if nested.is_object() {
            let nested: &js_sys::Object = nested.unchecked_ref();
            js_sys::Object::freeze(nested);
        }
    }
    js_sys::Object::freeze(object);
    value
}
