//! The signed completion webhook: what the Worker tells the application's backend when an
//! upload has produced its asset, how that message is signed, how a receiver verifies it, and
//! when a failed delivery is tried again.
//!
//! The message is JSON ([`WebhookPayload`]), POSTed with the header
//! `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>`.
//! A receiver recomputes the MAC over the exact bytes it received, compares in constant time,
//! and refuses a timestamp outside its tolerance (a replayed or a forged-for-later message):
//! that receiver is the package's `twelvelabs-edge-upload/server` entry (`js/server.js`), tested
//! against this signer's real deliveries in `tests/worker/webhook.test.mjs`.
//!
//! IO-free like the rest of the core: the MAC is injected ([`Mac`]), the time and the jitter
//! are passed in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::media::media_of_extension;
use crate::core::retry::{backoff_delay_ms, is_transient_status, BackoffPolicy};
use crate::core::token::Mac;
use crate::core::wire::{timestamp, MediaType};

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Webhook-Signature";

/// The signature scheme this version writes.
pub const SIGNATURE_SCHEME: &str = "v1";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A multipart upload session completed: every chunk was uploaded and reported, and the
    /// asset reserved at its creation now holds the file.
    #[serde(rename = "upload.completed")]
    UploadCompleted,
    /// A direct (`method=direct`) or URL (`method=url`) upload created its asset.
    #[serde(rename = "asset.created")]
    AssetCreated,
}

impl WebhookEvent {
    /// The wire spelling (`upload.completed`, `asset.created`).
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::UploadCompleted => "upload.completed",
            WebhookEvent::AssetCreated => "asset.created",
        }
    }
}

/// The webhook's JSON body. `asset_id` is the idempotency key: a delivery may arrive more than
/// once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// What happened.
    pub event: WebhookEvent,
    /// The TwelveLabs asset.
    pub asset_id: String,
    /// The multipart session (only for [`WebhookEvent::UploadCompleted`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The user whose grant made the upload (the grant's `sub`).
    pub sub: String,
    /// The asset's file name, when TwelveLabs reported one.
    pub filename: Option<String>,
    /// The file size in bytes, when known (a URL upload's size is known only once TwelveLabs
    /// has fetched it).
    pub size: Option<u64>,
    /// `video`, `audio` or `image`, when known.
    #[serde(rename = "type")]
    pub media_type: Option<MediaType>,
    /// The asset's `user_metadata` as TwelveLabs stores it (the Worker's owner tag included).
    pub user_metadata: Map<String, Value>,
    /// When the Worker observed the event (RFC 3339, UTC, seconds precision).
    pub occurred_at: String,
}

impl WebhookPayload {
    /// The payload for `asset`, a TwelveLabs `Asset` JSON object (`_id` at least). `size` is
    /// the size the Worker knows (a multipart session's declared size), used when the asset
    /// does not state one yet.
    pub fn from_asset(
        event: WebhookEvent,
        asset: &Value,
        sub: &str,
        upload_id: Option<&str>,
        size: Option<u64>,
        occurred_at_ms: u64,
    ) -> Option<WebhookPayload> {
        let asset_id = asset.get("_id").and_then(Value::as_str)?;
        let filename = asset.get("filename").and_then(Value::as_str);
        let media_type = asset
            .get("file_type")
            .and_then(Value::as_str)
            .and_then(media_of_mime)
            .or_else(|| filename.and_then(media_of_extension));
        Some(WebhookPayload {
            event,
            asset_id: asset_id.to_owned(),
            upload_id: upload_id.map(str::to_owned),
            sub: sub.to_owned(),
            filename: filename.map(str::to_owned),
            size: asset.get("size").and_then(Value::as_u64).or(size),
            media_type,
            user_metadata: asset
                .get("user_metadata")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            occurred_at: timestamp::format(occurred_at_ms as i64),
        })
    }

    /// The exact bytes that are signed and sent.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The media type named by a MIME type's top-level type (`video/mp4` → video).
fn media_of_mime(file_type: &str) -> Option<MediaType> {
    let parsed: mime::Mime = file_type.trim().parse().ok()?;
    match parsed.type_().as_str() {
        "video" => Some(MediaType::Video),
        "audio" => Some(MediaType::Audio),
        "image" => Some(MediaType::Image),
        _ => None,
    }
}

/// The bytes the MAC covers: `"<t>.<body>"`.
pub fn signed_message(timestamp_secs: i64, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp_secs}.").into_bytes();
    message.extend_from_slice(body);
    message
}

/// The `Webhook-Signature` header value for `body` signed at `timestamp_secs`: one `v1` per key.
/// While a secret is rotated, `keys` holds the new one and the one being retired, so a receiver
/// that still verifies with either accepts the delivery.
pub fn signature_header(timestamp_secs: i64, body: &[u8], keys: &[Mac<'_>]) -> String {
    let message = signed_message(timestamp_secs, body);
    let mut header = format!("t={timestamp_secs}");
    for mac in keys {
        header.push(',');
        header.push_str(SIGNATURE_SCHEME);
        header.push('=');
        header.push_str(&hex(&mac(&message)));
    }
    header
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// How deliveries are retried. Bounded so that all of a delivery fits in the time a Worker may
/// keep working after its response (`waitUntil`: about 30 s): reading the asset (at most
/// [`PROXY_MAX_ATTEMPTS`](crate::core::retry::PROXY_MAX_ATTEMPTS) calls), then `max_attempts` POSTs, each within
/// [`DELIVERY_ATTEMPT_TIMEOUT_MS`], and the waits between them (each ≤ `cap_ms`).
pub const DELIVERY_POLICY: BackoffPolicy = BackoffPolicy {
    base_ms: 500,
    cap_ms: 2_000,
    max_attempts: 4,
};

/// How long one delivery attempt (or one read of the asset before it) may take.
pub const DELIVERY_ATTEMPT_TIMEOUT_MS: u64 = 4_000;

/// What to do after a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStep {
    /// The receiver took it (2xx).
    Delivered,
    /// Wait this long, then sign and send again.
    RetryAfterMs(u64),
    /// Stop: the receiver refused it (3xx, 4xx other than 408/429; redirects are not followed),
    /// or the attempts are used up.
    GiveUp,
}

/// Decides after delivery attempt number `attempt` (1-based) ended with `status` (`None`: no
/// answer, a network error or a timeout). Transient failures (no answer, 408, 429, 5xx) are
/// retried with full-jitter backoff drawn from `random`, a `Retry-After` honoured up to the
/// policy's cap.
pub fn after_delivery_attempt(
    policy: &BackoffPolicy,
    attempt: u32,
    status: Option<u16>,
    retry_after_ms: Option<u64>,
    random: u64,
) -> DeliveryStep {
    let transient = match status {
        Some(200..=299) => return DeliveryStep::Delivered,
        None | Some(429) => true,
        Some(status) => is_transient_status(status),
    };
    if !transient || attempt >= policy.max_attempts {
        return DeliveryStep::GiveUp;
    }
    let floor = retry_after_ms.map(|ms| ms.min(policy.cap_ms));
    DeliveryStep::RetryAfterMs(backoff_delay_ms(policy, attempt, random, floor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::retry::PROXY_MAX_ATTEMPTS;
    use hmac::{Hmac, Mac as _};
    use serde_json::json;
    use sha2::Sha256;

    fn mac_with(secret: &str) -> impl Fn(&[u8]) -> [u8; 32] + '_ {
        move |message: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
    }

    const SECRET: &str = "whsec-test-0123456789abcdef0123456789";

    fn payload() -> WebhookPayload {
        let asset = json!({
            "_id": "6298d673f1090f1100476d4c",
            "filename": "clip.mp4",
            "file_type": "video/mp4",
            "user_metadata": {"project": "alpha"},
        });
        WebhookPayload::from_asset(
            WebhookEvent::UploadCompleted,
            &asset,
            "user-1",
            Some("upl_1"),
            Some(1234),
            1_780_000_000_123,
        )
        .unwrap()
    }

    #[test]
    fn the_payload_has_the_documented_shape_in_order() {
        let body = String::from_utf8(payload().to_body()).unwrap();
        assert_eq!(
            body,
            "{\"event\":\"upload.completed\",\"asset_id\":\"6298d673f1090f1100476d4c\",\
             \"upload_id\":\"upl_1\",\"sub\":\"user-1\",\"filename\":\"clip.mp4\",\"size\":1234,\
             \"type\":\"video\",\"user_metadata\":{\"project\":\"alpha\"},\
             \"occurred_at\":\"2026-05-28T20:26:40Z\"}"
        );
        let direct = WebhookPayload::from_asset(
            WebhookEvent::AssetCreated,
            &json!({"_id": "a1", "filename": "song.mp3", "file_type": "", "size": 9}),
            "u",
            None,
            None,
            0,
        )
        .unwrap();
        let value: Value = serde_json::from_slice(&direct.to_body()).unwrap();
        assert_eq!(value["event"], "asset.created");
        assert!(value.get("upload_id").is_none());
        assert_eq!(value["type"], "audio", "falls back to the extension");
        assert_eq!(value["size"], 9, "the asset's own size wins");
        assert_eq!(value["user_metadata"], json!({}));
        assert!(WebhookPayload::from_asset(
            WebhookEvent::AssetCreated,
            &json!({}),
            "u",
            None,
            None,
            0
        )
        .is_none());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body_in_lower_hex() {
        let mac = mac_with(SECRET);
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac "$SECRET"
        assert_eq!(
            signature_header(1_700_000_000, b"{}", &[&mac]),
            "t=1700000000,v1=238c2046bf36b61583023ce946e9293f9aad48f085a2953d70bb80f79d11a1e5"
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn a_sender_rotating_its_secret_signs_with_each_of_its_secrets() {
        let new = mac_with(SECRET);
        let old = mac_with("the-secret-being-retired-0123456");
        let body = payload().to_body();
        let now = 1_700_000_000;
        let message = signed_message(now, &body);
        assert_eq!(message, [b"1700000000.".as_slice(), &body].concat());
        assert_eq!(
            signature_header(now, &body, &[&new, &old]),
            format!(
                "t={now},v1={},v1={}",
                hex(&new(&message)),
                hex(&old(&message))
            )
        );
    }

    #[test]
    fn deliveries_retry_transient_failures_within_the_bound_and_stop_on_refusals() {
        let p = DELIVERY_POLICY;
        assert_eq!(
            after_delivery_attempt(&p, 1, Some(204), None, 7),
            DeliveryStep::Delivered
        );
        for status in [None, Some(408), Some(429), Some(500), Some(503)] {
            match after_delivery_attempt(&p, 1, status, None, u64::MAX) {
                DeliveryStep::RetryAfterMs(ms) => assert!(ms <= p.base_ms, "{status:?} {ms}"),
                other => panic!("{status:?}: {other:?}"),
            }
            assert_eq!(
                after_delivery_attempt(&p, p.max_attempts, status, None, 0),
                DeliveryStep::GiveUp
            );
        }
        for status in [301, 302, 307, 400, 401, 403, 404, 410, 413] {
            assert_eq!(
                after_delivery_attempt(&p, 1, Some(status), None, 0),
                DeliveryStep::GiveUp,
                "{status}"
            );
        }
        // Retry-After is a floor, bounded by the cap so the retries stay within waitUntil.
        assert_eq!(
            after_delivery_attempt(&p, 1, Some(429), Some(60_000), 0),
            DeliveryStep::RetryAfterMs(p.cap_ms)
        );
        let worst = u64::from(PROXY_MAX_ATTEMPTS + p.max_attempts) * DELIVERY_ATTEMPT_TIMEOUT_MS
            + u64::from(p.max_attempts - 1) * p.cap_ms;
        assert!(worst <= 30_000, "{worst} ms exceeds waitUntil's budget");
    }
}
