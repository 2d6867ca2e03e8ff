//! A per-user rate limit on what spends TwelveLabs' quota: creating an upload session or an
//! asset. A grant lets its user upload until it expires, as often as they like; with the
//! Workers Rate Limiting binding [`BINDING`] configured, each user (`sub`) may start at most its
//! `limit` uploads per `period`. Without the binding there is no limit (docs/DEPLOY.md).
//!
//! The check runs after the grant and the policy were checked and before anything is sent
//! upstream, so a refusal costs TwelveLabs nothing. The binding's own counters are
//! per Cloudflare location and eventually consistent, which is what it documents: a bound on
//! abuse, not an exact quota.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, Env};

use crate::core::error::ErrorCode;
use crate::worker::reply::ApiError;

/// The Rate Limiting binding (`[[ratelimits]]` in `wrangler.toml`).
pub const BINDING: &str = "UPLOAD_RATE_LIMIT";

/// `Retry-After` of a refusal: the binding does not say when its window ends, and 60 s is the
/// longest `period` it accepts.
const RETRY_AFTER_SECS: &str = "60";

// One JS step: the binding's `limit({key})` resolves to `{success}`.
#[wasm_bindgen(inline_js = r#"
export async function rate_limit_allows(limiter, key) {
  const outcome = await limiter.limit({ key });
  return outcome.success === true;
}
"#)]
extern "C" {
    /// A Workers Rate Limiting binding.
    type RateLimiter;

    #[wasm_bindgen(catch)]
    fn rate_limit_allows(limiter: &RateLimiter, key: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Refuses with `429 rate_limited` when `sub` has started as many uploads as the binding allows
/// in its window. No binding: always allowed. A limiter that fails to answer refuses too
/// (`upstream_unavailable`): it is there to protect the account, so it fails closed.
pub async fn check(env: &Env, sub: &str) -> Result<(), ApiError> {
    let Some(limiter) = crate::worker::binding(env, BINDING) else {
        return Ok(());
    };
    let limiter: RateLimiter = limiter.unchecked_into();
    let allowed = match rate_limit_allows(&limiter, sub) {
        Ok(promise) => crate::worker::task::promise(promise).await.ok(),
        Err(_) => None,
    };
    match allowed.and_then(|value| value.as_bool()) {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError {
            retry_after: Some(RETRY_AFTER_SECS.to_owned()),
            ..ApiError::new(
                ErrorCode::RateLimited,
                "This user has started too many uploads for now; try again in a minute.",
            )
        }),
        None => Err(ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("The {BINDING} rate limiter did not answer; try again."),
        )),
    }
}
