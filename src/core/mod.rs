//! The IO-free core: no network, no clock, no randomness, no wasm types.
//! Everything here compiles and is tested natively.

pub mod asset_list;
pub mod clock;
pub mod engine;
pub mod error;
pub mod media;
pub mod page_deletions;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod resume;
pub mod retry;
pub mod sorted_map;
pub mod source_url;
pub mod token;
pub mod urls;
pub mod webhook;
pub mod wire;
