//! Rust values → the plain JS objects of the public API (camelCase, as declared in `types.rs`).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

use crate::core::progress::Progress;
use crate::core::queue::QueuePhase;
use crate::core::wire::{Asset, ListAssetsResponse, MetadataValue, UserMetadata};

/// Builds a plain object property by property.
pub struct JsObject(Object);

impl JsObject {
    /// An empty object.
    pub fn new() -> Self {
        JsObject(Object::new())
    }

    /// Sets `key` (skipped when `value` is `undefined`, so optional properties are absent).
    pub fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        self.set_value(key, value.into())
    }

    /// [`JsObject::set`] after the conversion: one copy, whatever the value's type.
    #[inline(never)]
    fn set_value(self, key: &str, value: JsValue) -> Self {
        if !value.is_undefined() {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value);
        }
        self
    }

    /// Sets an optional property.
    pub fn opt(self, key: &str, value: Option<impl Into<JsValue>>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    /// The finished object.
    pub fn build(self) -> JsValue {
        self.0.into()
    }
}

impl Default for JsObject {
    fn default() -> Self {
        Self::new()
    }
}

/// Byte counts are exact in a JS number up to 2^53, far above any file size here.
pub fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// User metadata as a plain object (its keys are the user's and are kept as they are).
pub fn user_metadata(metadata: &UserMetadata) -> JsValue {
    let object = Object::new();
    for (key, value) in metadata {
        let js = match value {
            MetadataValue::String(s) => JsValue::from_str(s),
            MetadataValue::Bool(b) => JsValue::from_bool(*b),
            MetadataValue::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or_default()),
        };
        let _ = Reflect::set(&object, &JsValue::from_str(key), &js);
    }
    object.into()
}

/// An asset as the `Asset` interface.
pub fn asset(asset: &Asset) -> JsValue {
    JsObject::new()
        .set("id", asset.id.as_str())
        .set("method", asset.method.as_str())
        .set("status", asset.status.as_str())
        .opt("filename", asset.filename.as_deref())
        .opt("fileType", asset.file_type.as_deref())
        .opt("createdAt", asset.created_at.as_deref())
        .opt("size", asset.size.map(number))
        .opt("duration", asset.duration)
        .opt(
            "userMetadata",
            asset.user_metadata.as_ref().map(user_metadata),
        )
        .opt(
            "hls",
            asset.hls.as_ref().map(|h| {
                JsObject::new()
                    .set("status", h.status.as_str())
                    .opt("manifestUrl", h.manifest_url.as_deref())
                    .build()
            }),
        )
        .opt(
            "thumbnail",
            asset.thumbnail.as_ref().map(|t| {
                JsObject::new()
                    .set("status", t.status.as_str())
                    .opt("representativeUrl", t.representative_url.as_deref())
                    .build()
            }),
        )
        .opt(
            "error",
            asset
                .error
                .as_ref()
                .map(|e| JsObject::new().set("message", e.message.as_str()).build()),
        )
        .build()
}

/// A page of assets as the `AssetPage` interface.
pub fn asset_page(page: &ListAssetsResponse) -> JsValue {
    let data: Array = page.data.iter().map(asset).collect();
    let info = &page.page_info;
    JsObject::new()
        .set("data", data)
        .set(
            "pageInfo",
            JsObject::new()
                .set("page", info.page)
                .set("limitPerPage", info.limit_per_page)
                .set("totalPage", info.total_page)
                .set("totalResults", number(info.total_results))
                .build(),
        )
        .build()
}

/// A progress snapshot as the `UploadProgress` interface.
pub fn progress(phase: QueuePhase, progress: &Progress) -> JsValue {
    JsObject::new()
        .set("phase", phase.as_str())
        .set("totalBytes", number(progress.total_bytes))
        .set("sentBytes", number(progress.sent_bytes))
        .set("acknowledgedBytes", number(progress.acknowledged_bytes))
        .set("reportedBytes", number(progress.reported_bytes))
        .set("totalChunks", progress.total_chunks)
        .set("acknowledgedChunks", progress.acknowledged_chunks)
        .set("reportedChunks", progress.reported_chunks)
        .set(
            "bytesPerSecond",
            progress.bytes_per_second.map_or(JsValue::NULL, number),
        )
        .set("etaMs", progress.eta_ms.map_or(JsValue::NULL, number))
        .set("fraction", progress.fraction())
        .set(
            "retrying",
            progress.retrying.map_or(JsValue::NULL, |r| {
                JsObject::new()
                    .set("attempt", r.attempt)
                    .set("delayMs", number(r.delay_ms))
                    .set("errorCode", r.error_code.as_str())
                    .build()
            }),
        )
        .build()
}
