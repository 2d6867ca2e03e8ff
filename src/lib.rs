//! # twelvelabs-edge-upload
//!
//! Resumable, concurrent uploads of large media to TwelveLabs straight from the browser, while
//! the TwelveLabs API key stays on a Cloudflare Worker.
//!
//! * [`core`] is IO-free: wire types, the chunk plan, the upload engine. It decides.
//! * `browser` (feature `browser`) executes those decisions with `fetch` and exports the JS API.
//! * `worker` (feature `worker`) is the Cloudflare Worker that holds the key and mints sessions.
#![warn(missing_docs)]

pub mod core;

#[cfg(feature = "browser")]
pub mod browser;

#[cfg(feature = "worker")]
pub mod worker;

/// The crate version, as reported by the Worker's `/healthz` and the browser client.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
