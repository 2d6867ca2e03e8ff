//! How a request's future runs: stepped by the Worker's entry module (`src/worker/entry.js`),
//! which awaits one promise at a time natively and hands its outcome back.
//!
//! wasm-bindgen-futures would run the same future with two JS closures per awaited promise (each
//! registered with a `FinalizationRegistry`), a `queueMicrotask` per wake-up and a promise made
//! around the whole request; in workerd that machinery was a large share of the Worker's CPU per
//! request (BENCHMARKS.md, "The Worker's CPU per request against a hand-written JS Worker").
//! Here a request costs one call into the wasm to start and one per awaited promise:
//!
//! - [`start`] makes the request's task and returns its id;
//! - [`step`] polls it, given how the promise it last returned settled. It returns the
//!   `Response` once the request is answered, or else the next promise to await.
//!
//! A future awaits a JS promise with [`promise`]. While nothing else can wake the task, that
//! promise is handed to the entry as it is (the fast path). Otherwise (a timer, a stream read or
//! any other future holds the task's waker) the promise is watched on wasm-bindgen-futures'
//! executor and the entry awaits the task's next wake-up instead, so the task never waits on one
//! promise while another could move it on. A future polled outside a task (one given to
//! `waitUntil`) awaits through `JsFuture` as before.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::{spawn_local, JsFuture};
use worker::{js_sys, web_sys};

/// How an awaited promise settled: fulfilled with a value, or rejected with a reason.
pub(crate) type Settled = Result<JsValue, JsValue>;

/// What a request's future gives back: the runtime's `Response`, or an error the runtime gets.
pub(crate) type Answered = worker::Result<web_sys::Response>;

/// The one promise a task's future awaits on the fast path, in the task's slot.
enum Slot {
    /// No promise in the slot.
    Free,
    /// `id`'s promise is pending; the entry awaits it (fast path) or a watcher does.
    Pending { id: u32, promise: js_sys::Promise },
    /// `id`'s promise is pending and watched on wasm-bindgen-futures' executor.
    Watched { id: u32 },
    /// `id`'s promise settled; its future has not taken the outcome yet.
    Settled { id: u32, outcome: Settled },
}

/// What a task shares with its futures and its waker.
struct Shared {
    slot: RefCell<Slot>,
    next_id: Cell<u32>,
    /// Wakers handed out by `clone` and not yet dropped: while any exists, something other
    /// than the slot's promise may wake the task.
    outstanding_wakers: Cell<u32>,
    /// Set by a wake-up; cleared when the task is polled.
    woken: Cell<bool>,
    /// Resolves the promise the entry awaits when it waits for a wake-up.
    wake_resolve: RefCell<Option<js_sys::Function>>,
}

impl Shared {
    fn new() -> Rc<Shared> {
        Rc::new(Shared {
            slot: RefCell::new(Slot::Free),
            next_id: Cell::new(0),
            outstanding_wakers: Cell::new(0),
            woken: Cell::new(false),
            wake_resolve: RefCell::new(None),
        })
    }

    /// Puts `promise` in the slot if it is free, returning its id.
    fn occupy(&self, promise: &js_sys::Promise) -> Option<u32> {
        let mut slot = self.slot.borrow_mut();
        if !matches!(*slot, Slot::Free) {
            return None;
        }
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        *slot = Slot::Pending {
            id,
            promise: promise.clone(),
        };
        Some(id)
    }

    /// Records how `id`'s promise settled (ignored if its future is gone).
    fn settle(&self, id: u32, outcome: Settled) {
        let mut slot = self.slot.borrow_mut();
        if matches!(*slot, Slot::Pending { id: p, .. } | Slot::Watched { id: p } if p == id) {
            *slot = Slot::Settled { id, outcome };
        }
    }

    /// The outcome of `id`'s promise, once settled.
    fn take_outcome(&self, id: u32) -> Option<Settled> {
        let mut slot = self.slot.borrow_mut();
        if !matches!(*slot, Slot::Settled { id: s, .. } if s == id) {
            return None;
        }
        match std::mem::replace(&mut *slot, Slot::Free) {
            Slot::Settled { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// Empties the slot if it still holds `id` (its future was dropped).
    fn release(&self, id: u32) {
        let mut slot = self.slot.borrow_mut();
        let holds = match &*slot {
            Slot::Free => false,
            Slot::Pending { id: s, .. } | Slot::Watched { id: s } | Slot::Settled { id: s, .. } => {
                *s == id
            }
        };
        if holds {
            *slot = Slot::Free;
        }
    }

    /// The pending promise in the slot, if the entry should await it itself.
    fn pending(&self) -> Option<(u32, js_sys::Promise)> {
        match &*self.slot.borrow() {
            Slot::Pending { id, promise } => Some((*id, promise.clone())),
            _ => None,
        }
    }

    fn wake(&self) {
        self.woken.set(true);
        if let Some(resolve) = self.wake_resolve.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// A promise that resolves at the task's next wake-up (at once if it was woken already).
    fn next_wake(self: &Rc<Self>) -> js_sys::Promise {
        if self.woken.get() {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        let shared = Rc::clone(self);
        js_sys::Promise::new(&mut |resolve, _reject| {
            *shared.wake_resolve.borrow_mut() = Some(resolve);
        })
    }
}

// The task's waker: an `Rc<Shared>` behind a raw pointer. The Worker's wasm is single-threaded,
// so a waker never crosses threads (the reason `Waker` otherwise needs `Send`).
const VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Rc::as_ptr` (the context's waker, which the task keeps alive
    // while it polls) or from a clone made here, which holds a strong count of its own.
    unsafe { Rc::increment_strong_count(data as *const Shared) };
    let shared = unsafe { &*(data as *const Shared) };
    shared
        .outstanding_wakers
        .set(shared.outstanding_wakers.get() + 1);
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone_waker`; the count held by this waker keeps `Shared` alive.
    unsafe { &*(data as *const Shared) }.wake();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: only wakers made by `clone_waker` are ever dropped (the context's is not), and
    // each holds one strong count.
    let shared = unsafe { &*(data as *const Shared) };
    shared
        .outstanding_wakers
        .set(shared.outstanding_wakers.get().saturating_sub(1));
    unsafe { Rc::decrement_strong_count(data as *const Shared) };
}

/// One request in flight.
struct Task {
    future: Pin<Box<dyn Future<Output = Answered>>>,
    shared: Rc<Shared>,
    /// The id of the slot promise the entry was last given to await.
    handed: Option<u32>,
}

thread_local! {
    /// The requests in flight, by id (a free entry is reused).
    static TASKS: RefCell<Vec<Option<Task>>> = const { RefCell::new(Vec::new()) };
    /// The task being polled, for [`promise`].
    static CURRENT: RefCell<Option<Rc<Shared>>> = const { RefCell::new(None) };
}

/// Makes a task of `future` and returns its id, for [`step`].
fn spawn(future: impl Future<Output = Answered> + 'static) -> u32 {
    let task = Task {
        future: Box::pin(future),
        shared: Shared::new(),
        handed: None,
    };
    TASKS.with(|tasks| {
        let mut tasks = tasks.borrow_mut();
        match tasks.iter().position(Option::is_none) {
            Some(free) => {
                tasks[free] = Some(task);
                free as u32
            }
            None => {
                tasks.push(Some(task));
                (tasks.len() - 1) as u32
            }
        }
    })
}

/// What the entry does next for a task: return the `Response`, or await the promise and call
/// [`step`] again with how it settled.
enum Next {
    /// The request is answered (or failed); the task is gone.
    Done(Answered),
    /// Await this.
    Await(js_sys::Promise),
}

/// Polls task `id`, after the promise it last returned settled (`fulfilled`, `value`);
/// `None` if there is no such task.
fn poll_task(id: u32, fulfilled: bool, value: JsValue) -> Option<Next> {
    let mut task = TASKS.with(|tasks| {
        tasks
            .borrow_mut()
            .get_mut(id as usize)
            .and_then(Option::take)
    })?;
    if let Some(handed) = task.handed.take() {
        task.shared
            .settle(handed, if fulfilled { Ok(value) } else { Err(value) });
    }
    task.shared.woken.set(false);
    // SAFETY: the pointer stays valid while `task.shared` lives (the whole poll); this waker is
    // never dropped (ManuallyDrop), so it takes no strong count.
    let waker = ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(
            Rc::as_ptr(&task.shared) as *const (),
            &VTABLE,
        ))
    });
    let mut cx = Context::from_waker(&waker);
    let outer = CURRENT.with(|current| current.replace(Some(Rc::clone(&task.shared))));
    let polled = task.future.as_mut().poll(&mut cx);
    CURRENT.with(|current| *current.borrow_mut() = outer);
    if let Poll::Ready(answered) = polled {
        return Some(Next::Done(answered));
    }
    let pending = task.shared.pending();
    let next = match (
        handoff(
            pending.is_some(),
            task.shared.outstanding_wakers.get(),
            task.shared.woken.get(),
        ),
        pending,
    ) {
        (Handoff::SlotPromise, Some((id, promise))) => {
            task.handed = Some(id);
            promise
        }
        (Handoff::WatchSlotAndWake, Some((id, promise))) => {
            watch(&task.shared, id, promise);
            task.shared.next_wake()
        }
        _ => task.shared.next_wake(),
    };
    TASKS.with(|tasks| {
        if let Some(entry) = tasks.borrow_mut().get_mut(id as usize) {
            *entry = Some(task);
        }
    });
    Some(Next::Await(next))
}

/// What the entry awaits after a poll that left the task pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handoff {
    /// The slot's promise itself (the fast path).
    SlotPromise,
    /// The task's next wake-up; the slot's promise, if any, stays in the slot (no watcher).
    Wake,
    /// The task's next wake-up, with the slot's promise moved to a watcher that wakes it.
    WatchSlotAndWake,
}

/// Decides the [`Handoff`] from the task's state after a poll: whether a promise waits in the
/// slot, how many wakers are held outside the task, and whether it was woken during the poll.
fn handoff(slot_pending: bool, outstanding_wakers: u32, woken: bool) -> Handoff {
    match (slot_pending, outstanding_wakers, woken) {
        // The slot's promise is the only way the task can move on: the entry awaits it.
        (true, 0, false) => Handoff::SlotPromise,
        // Woken already, with nothing else holding the waker: poll again at once (the wake-up
        // promise is already resolved); the slot's promise is handed over then if it is still
        // the only thing pending.
        (true, 0, true) => Handoff::Wake,
        // Something else may wake the task first: it must not wait on the slot's promise
        // alone, so a watcher records it and wakes the task.
        (true, _, _) => Handoff::WatchSlotAndWake,
        // Nothing in the slot: whatever holds the waker moves the task on.
        (false, _, _) => Handoff::Wake,
    }
}

/// Moves the slot's promise to a watcher on wasm-bindgen-futures' executor, which records how it
/// settles and wakes the task.
fn watch(shared: &Rc<Shared>, id: u32, promise: js_sys::Promise) {
    *shared.slot.borrow_mut() = Slot::Watched { id };
    let shared = Rc::clone(shared);
    spawn_local(async move {
        let outcome = JsFuture::from(promise).await;
        shared.settle(id, outcome);
        shared.wake();
    });
}

/// Awaits a JS promise: through the task's slot when polled by a task, else as a `JsFuture`.
pub(crate) fn promise(promise: js_sys::Promise) -> Awaited {
    Awaited(State::Unpolled(promise))
}

/// The future of [`promise`].
pub(crate) struct Awaited(State);

enum State {
    Unpolled(js_sys::Promise),
    InSlot { shared: Rc<Shared>, id: u32 },
    Js(JsFuture),
    Finished,
}

impl Future for Awaited {
    type Output = Settled;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Settled> {
        let this = &mut self.0;
        if let State::Unpolled(promise) = this {
            let task = CURRENT.with(|current| current.borrow().clone());
            let started = match task.and_then(|shared| Some((shared.occupy(promise)?, shared))) {
                Some((id, shared)) => State::InSlot { shared, id },
                None => State::Js(JsFuture::from(promise.clone())),
            };
            *this = started;
        }
        match this {
            State::InSlot { shared, id } => match shared.take_outcome(*id) {
                Some(outcome) => {
                    *this = State::Finished;
                    Poll::Ready(outcome)
                }
                None => Poll::Pending,
            },
            State::Js(future) => Pin::new(future).poll(cx),
            State::Unpolled(_) | State::Finished => Poll::Pending,
        }
    }
}

impl Drop for Awaited {
    fn drop(&mut self) {
        if let State::InSlot { shared, id } = &self.0 {
            shared.release(*id);
        }
    }
}

/// Starts handling a request (the runtime's arguments as they are); returns the task's id for
/// [`step`].
#[wasm_bindgen]
pub fn start(request: web_sys::Request, env: worker::Env, ctx: worker::worker_sys::Context) -> u32 {
    spawn(crate::worker::fetch(
        request,
        env,
        worker::Context::new(ctx),
    ))
}

/// Steps task `id` (see the module's doc): returns the `Response`, or a promise to await before
/// calling again with how it settled. Throws for an id that is not a request in flight (the entry
/// never sends one), so a confused entry cannot loop.
#[wasm_bindgen]
pub fn step(id: u32, fulfilled: bool, value: JsValue) -> Result<JsValue, JsValue> {
    match poll_task(id, fulfilled, value) {
        None => Err(JsValue::from_str("no such request task")),
        Some(Next::Await(promise)) => Ok(promise.into()),
        Some(Next::Done(Ok(response))) => Ok(response.into()),
        // What `#[event(fetch)]` does with an error: log it and answer a bare 500.
        Some(Next::Done(Err(error))) => {
            worker::console_error!("{error}");
            let init = web_sys::ResponseInit::new();
            init.set_status(500);
            web_sys::Response::new_with_opt_str_and_init(Some("INTERNAL SERVER ERROR"), &init)
                .map(Into::into)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{handoff, Handoff};

    #[test]
    fn the_slot_promise_is_handed_over_only_when_nothing_else_can_wake_the_task() {
        assert_eq!(handoff(true, 0, false), Handoff::SlotPromise);
        // Woken during the poll (a future woke itself): poll again, the promise stays in the
        // slot and is handed over on the next poll if it is still pending.
        assert_eq!(handoff(true, 0, true), Handoff::Wake);
        // A timer or a stream read holds a waker: the promise is watched, the entry awaits the
        // next wake-up, whichever moves first.
        assert_eq!(handoff(true, 1, false), Handoff::WatchSlotAndWake);
        assert_eq!(handoff(true, 2, true), Handoff::WatchSlotAndWake);
        // No promise in the slot: only a wake-up can move the task.
        assert_eq!(handoff(false, 0, false), Handoff::Wake);
        assert_eq!(handoff(false, 1, true), Handoff::Wake);
    }
}
