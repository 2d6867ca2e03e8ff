//! The IO-free core: no network, no clock, no randomness, no wasm types.
//! Everything here compiles and is tested natively.
//!
//! The modules only one adapter uses are built for that adapter (and for the tests). Built for
//! the tests alone, their users are not compiled, so the dead-code lint only speaks in the
//! adapter's own build, where it counts.

#[cfg(any(feature = "worker", test))]
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
pub(crate) mod asset_list;
pub(crate) mod clock;
pub mod engine;
pub mod error;
#[cfg(any(feature = "worker", test))]
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
pub(crate) mod media;
#[cfg(any(feature = "browser", test))]
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
pub(crate) mod page_deletions;
pub mod plan;
pub mod progress;
#[cfg(any(feature = "browser", test))]
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
pub(crate) mod queue;
pub mod resume;
pub mod retry;
pub(crate) mod sorted_map;
#[cfg(any(feature = "worker", test))]
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
pub(crate) mod source_url;
#[cfg(any(feature = "worker", test))]
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
pub(crate) mod token;
pub(crate) mod urls;
#[cfg(any(feature = "worker", test))]
#[cfg_attr(not(feature = "worker"), allow(dead_code))]
pub(crate) mod webhook;
pub mod wire;
