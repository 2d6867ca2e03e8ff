//! Sends the signed completion webhook (`COMPLETION_WEBHOOK_URL`) after the client's answer,
//! inside `ctx.waitUntil`: it never delays or fails the client's request. What is sent, how it
//! is signed and when an attempt is repeated are decided in [`crate::core::webhook`]; this
//! module only reads the asset, sends, sleeps and logs.
//!
//! The message carries the payload and its signature only: never the API key, which goes to
//! TwelveLabs alone. Redirects are not followed (a receiver that redirects gets no copy of the
//! payload at another address).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::{json, Value};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Delay};

use crate::core::error::ErrorCode;
use crate::core::retry::{parse_retry_after_ms, JitterSource};
use crate::core::webhook::{
    after_delivery_attempt, signature_header, DeliveryStep, WebhookEvent, WebhookPayload,
    DELIVERY_ATTEMPT_TIMEOUT_MS, DELIVERY_POLICY, SIGNATURE_HEADER,
};
use crate::worker::auth::with_macs;
use crate::worker::config::{Config, WebhookTarget};
use crate::worker::upstream::Upstream;

/// An upload that produced its asset, as a handler observed it.
#[derive(Debug, Clone)]
pub enum Completion {
    /// A multipart session completed (the report answer carried `url`). The asset's name, type
    /// and metadata are read from TwelveLabs before sending.
    Session {
        /// The user (upload token's `sub`).
        sub: String,
        /// The session.
        upload_id: String,
        /// The asset it reserved.
        asset_id: String,
        /// The declared size (upload token's `total_size`).
        size: u64,
    },
    /// A direct or URL upload created `asset` (TwelveLabs' create answer).
    Asset {
        /// The user (grant's `sub`).
        sub: String,
        /// The created `Asset` JSON.
        asset: Value,
        /// The file's size as the Worker counted it streaming through (a direct upload); `None`
        /// for a URL upload, which TwelveLabs has not fetched yet.
        size: Option<u64>,
    },
}

/// Sends the webhook for `completion`, observed at `occurred_at_ms`, when the deployment has a
/// webhook target; otherwise does nothing. Meant for `ctx.waitUntil`.
pub async fn deliver(config: Rc<Config>, completion: Completion, occurred_at_ms: u64) {
    let Some(target) = config.webhook.as_ref() else {
        return;
    };
    let payload = match payload_for(&config, &completion, occurred_at_ms).await {
        Ok(payload) => payload,
        Err(skipped) => return log(skipped.event, 0, None, skipped.outcome),
    };
    send(target, &payload).await;
}

/// Why no webhook is sent for a completion: the event it would have been, and the outcome its
/// log line names.
struct Skipped {
    event: WebhookEvent,
    outcome: &'static str,
}

async fn payload_for(
    config: &Config,
    completion: &Completion,
    occurred_at_ms: u64,
) -> Result<WebhookPayload, Skipped> {
    match completion {
        Completion::Asset { sub, asset, size } => WebhookPayload::from_asset(
            WebhookEvent::AssetCreated,
            asset,
            sub,
            None,
            *size,
            occurred_at_ms,
        )
        // TwelveLabs' create answer had no `_id` (the client was already told so).
        .ok_or(Skipped {
            event: WebhookEvent::AssetCreated,
            outcome: "no_asset_id",
        }),
        Completion::Session {
            sub,
            upload_id,
            asset_id,
            size,
        } => {
            let asset = match read_asset(config, asset_id).await {
                // Deleted before (or as) its upload completed: no asset was produced.
                AssetRead::Gone => {
                    return Err(Skipped {
                        event: WebhookEvent::UploadCompleted,
                        outcome: "asset_gone",
                    })
                }
                AssetRead::Found(asset)
                    if asset.get("_id").and_then(Value::as_str) == Some(asset_id) =>
                {
                    asset
                }
                // Without the asset's details the event is still worth sending: its id is what
                // the receiver needs, and it can read the rest from TwelveLabs itself.
                AssetRead::Found(_) | AssetRead::Unknown => json!({ "_id": asset_id }),
            };
            WebhookPayload::from_asset(
                WebhookEvent::UploadCompleted,
                &asset,
                sub,
                Some(upload_id),
                Some(*size),
                occurred_at_ms,
            )
            .ok_or(Skipped {
                event: WebhookEvent::UploadCompleted,
                outcome: "no_asset_id",
            })
        }
    }
}

/// What reading the completed upload's asset from TwelveLabs told.
enum AssetRead {
    Found(Value),
    /// TwelveLabs answered 404: the asset does not exist (any more).
    Gone,
    /// No usable answer (no API key, a timeout, a 5xx, a body that does not parse).
    Unknown,
}

/// `GET /assets/{asset_id}` from TwelveLabs.
async fn read_asset(config: &Config, asset_id: &str) -> AssetRead {
    let Some(api_key) = config.api_key.as_ref() else {
        return AssetRead::Unknown;
    };
    let status = Cell::new(None);
    let upstream = Upstream {
        base_url: &config.base_url,
        api_key,
        timeout_ms: DELIVERY_ATTEMPT_TIMEOUT_MS,
        last_status: &status,
    };
    match upstream.get_asset(asset_id).await {
        Ok(reply) => {
            serde_json::from_slice(&reply.body).map_or(AssetRead::Unknown, AssetRead::Found)
        }
        Err(error) if error.error.code == ErrorCode::NotFound => AssetRead::Gone,
        Err(_) => AssetRead::Unknown,
    }
}

/// Signs and POSTs `payload` until the receiver takes it or the core says to stop. Each attempt
/// is signed afresh, so a late retry still carries a timestamp within the receiver's tolerance.
async fn send(target: &WebhookTarget, payload: &WebhookPayload) {
    let body = payload.to_body();
    let mut jitter = JitterSource::new((js_sys::Math::random() * (u64::MAX as f64)) as u64);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let now_secs = (js_sys::Date::now() / 1000.0) as i64;
        let signature = with_macs(&target.keys, |keys| signature_header(now_secs, &body, keys));
        let (status, retry_after_ms) = post(&target.url, &body, &signature).await;
        let step = after_delivery_attempt(
            &DELIVERY_POLICY,
            attempt,
            status,
            retry_after_ms,
            jitter.next_u64(),
        );
        let outcome = match step {
            DeliveryStep::Delivered => "delivered",
            DeliveryStep::RetryAfterMs(_) => "retrying",
            DeliveryStep::GiveUp => "gave_up",
        };
        log(payload.event, attempt, status, outcome);
        match step {
            DeliveryStep::RetryAfterMs(ms) => Delay::from(Duration::from_millis(ms)).await,
            DeliveryStep::Delivered | DeliveryStep::GiveUp => return,
        }
    }
}

/// One POST; the receiver's status (`None`: no answer within the attempt's time) and its
/// `Retry-After` in milliseconds (seconds form only).
async fn post(url: &str, body: &[u8], signature: &str) -> (Option<u16>, Option<u64>) {
    let Ok(controller) = web_sys::AbortController::new() else {
        return (None, None);
    };
    let Some(request) = build_request(url, body, signature, &controller.signal()) else {
        return (None, None);
    };
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let sending = JsFuture::from(global.fetch_with_request(&request));
    let deadline = Delay::from(Duration::from_millis(DELIVERY_ATTEMPT_TIMEOUT_MS));
    let response: web_sys::Response = match select(sending, deadline).await {
        Either::Left((Ok(response), _)) => response.unchecked_into(),
        Either::Left((Err(_), _)) => return (None, None),
        Either::Right(((), _)) => {
            controller.abort();
            return (None, None);
        }
    };
    let retry_after_ms = response
        .headers()
        .get("Retry-After")
        .ok()
        .flatten()
        .and_then(|value| parse_retry_after_ms(&value, crate::worker::now_ms()));
    // The answer's body is not needed; cancelling it frees the connection.
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
    (Some(response.status()), retry_after_ms)
}

fn build_request(
    url: &str,
    body: &[u8],
    signature: &str,
    signal: &web_sys::AbortSignal,
) -> Option<web_sys::Request> {
    let headers = web_sys::Headers::new().ok()?;
    headers.set("Content-Type", "application/json").ok()?;
    headers.set(SIGNATURE_HEADER, signature).ok()?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&js_sys::Uint8Array::from(body));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(signal));
    web_sys::Request::new_with_str_and_init(url, &init).ok()
}

/// One JSON line per attempt: event, attempt, the receiver's status, outcome. Like the request
/// lines, no identifiers; never the body, the signature or the URL (which may carry a token of
/// the receiver's).
fn log(event: WebhookEvent, attempt: u32, status: Option<u16>, outcome: &str) {
    let line = json!({
        "webhook": event.as_str(),
        "attempt": attempt,
        "status": status,
        "outcome": outcome,
    });
    web_sys::console::log_1(&line.to_string().into());
}
