//! The browser client (feature `browser`): executes the engine's decisions with `fetch` and
//! exports the JS API of the npm package `twelvelabs-edge-upload`.
//!
//! This is the only module with `#[wasm_bindgen]` exports. It holds no upload policy: what to
//! send, when to retry and when to give up are decided in [`crate::core`]; this module performs
//! requests, runs timers, persists state in IndexedDB and converts between JS and Rust values.
//!
//! Works wherever `fetch`, `Blob` and `setTimeout` exist: browser windows, dedicated Web
//! Workers and Node ≥ 20.

mod api;
mod js_error;
mod options;
mod queue;
mod queue_files;
mod runtime;
mod store;
mod subscribe;
mod types;

// Public only for the wasm-bindgen tests in `tests/`, which check them directly; the package's
// API is the `#[wasm_bindgen]` exports, re-exported below.
#[doc(hidden)]
pub mod convert;
#[doc(hidden)]
pub mod transport;
#[doc(hidden)]
pub mod uploader;
#[doc(hidden)]
pub mod wire_js;

pub use queue::UploadQueue;
pub use uploader::{UploadHandle, Uploader};

use wasm_bindgen::prelude::*;

/// The package's allocator: talc instead of std's dlmalloc, for size (2.0 KB less gzipped; BENCHMARKS.md).
// SAFETY: `new_global` requires single-threaded wasm: the package is built without the atomics
// feature, so its memory is never shared between threads (each Web Worker gets its own instance).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

/// The package version (the crate version), e.g. `"0.1.0"`.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_owned()
}
