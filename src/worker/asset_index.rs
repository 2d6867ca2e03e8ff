//! The per-owner asset index, in Workers KV (binding [`BINDING`]); see
//! [`crate::core::asset_list`] for why it exists and how a list is computed from it.
//!
//! One key per asset (`owner/{len}/{sub}/{asset_id}`, its creation time as metadata): a create
//! is one `put` and a delete one `delete`, never a read-modify-write, so concurrent uploads by
//! one user cannot lose each other's entries. A list reads the owner's keys with one `list` call
//! per thousand assets.

use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, Env};

use crate::core::asset_list::{asset_id_of_key, index_key, index_prefix, newest_first};
use crate::core::error::ErrorCode;
use crate::worker::reply::ApiError;

/// The KV namespace binding that holds the index.
pub const BINDING: &str = "ASSET_INDEX";

/// Most index keys read for one list (KV lists a thousand per call).
const MAX_INDEX_KEYS: usize = 5_000;

// The namespace's own methods, called directly: `worker::kv::KvStore` looks up five methods of
// the binding per request, builds each options object field by field, and reads a list's
// answer back key by key through serde_wasm_bindgen (crossings per key); here options go over
// as one JSON text and a list's answer comes back as one.
#[wasm_bindgen]
extern "C" {
    /// A Workers KV namespace binding.
    type KvNamespace;

    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_key(this: &KvNamespace, key: &str) -> Result<js_sys::Promise, JsValue>;
}

/// One page of a KV `list` answer (the fields the index reads).
#[derive(Deserialize)]
struct ListPage {
    keys: Vec<ListedKey>,
    list_complete: bool,
    cursor: Option<String>,
}

/// A key of a KV `list` answer.
#[derive(Deserialize)]
struct ListedKey {
    name: String,
    metadata: Option<Value>,
}

/// The index, when the deployment binds it.
pub struct AssetIndex(KvNamespace);

fn failed(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("The asset index ({BINDING}) could not be {what}."),
    )
}

/// `value` as a JS object, through one JSON text.
fn js_object(value: &Value) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&value.to_string())
}

/// Awaits a KV call's promise.
async fn settled(call: Result<js_sys::Promise, JsValue>) -> Result<JsValue, JsValue> {
    crate::worker::task::promise(call?).await
}

impl AssetIndex {
    /// The bound namespace, or `None` when the deployment has no `ASSET_INDEX` binding.
    pub fn open(env: &Env) -> Option<AssetIndex> {
        let binding = js_sys::Reflect::get(env, &JsValue::from_str(BINDING)).ok()?;
        (!binding.is_undefined()).then(|| AssetIndex(binding.unchecked_into()))
    }

    /// The bound namespace, or a `config_invalid` refusal naming the binding.
    pub fn required(env: &Env) -> Result<AssetIndex, ApiError> {
        Self::open(env).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ConfigInvalid,
                format!(
                    "The Worker is misconfigured: the {BINDING} KV binding is missing, so a \
                     user's own assets cannot be listed."
                ),
            )
        })
    }

    /// Records that `sub` created `asset_id` at `now_ms`.
    pub async fn add(&self, sub: &str, asset_id: &str, now_ms: u64) -> Result<(), ApiError> {
        let options = js_object(&serde_json::json!({ "metadata": { "t": now_ms } }))
            .map_err(|_| failed("written"))?;
        settled(self.0.put(&index_key(sub, asset_id), "", &options))
            .await
            .map(drop)
            .map_err(|_| failed("written"))
    }

    /// Forgets `asset_id` of `sub` (after it was deleted).
    pub async fn remove(&self, sub: &str, asset_id: &str) -> Result<(), ApiError> {
        settled(self.0.delete_key(&index_key(sub, asset_id)))
            .await
            .map(drop)
            .map_err(|_| failed("updated"))
    }

    /// The ids of `sub`'s assets, newest first.
    pub async fn owned(&self, sub: &str) -> Result<Vec<String>, ApiError> {
        let prefix = index_prefix(sub);
        let mut entries = Vec::new();
        let mut cursor = None;
        loop {
            let mut options = serde_json::json!({ "prefix": prefix, "limit": 1000 });
            if let Some(cursor) = cursor.take() {
                options["cursor"] = Value::String(cursor);
            }
            let options = js_object(&options).map_err(|_| failed("read"))?;
            let answer = settled(self.0.list(&options))
                .await
                .map_err(|_| failed("read"))?;
            let page: ListPage = js_sys::JSON::stringify(&answer)
                .ok()
                .and_then(|text| text.as_string())
                .and_then(|text| serde_json::from_str(&text).ok())
                .ok_or_else(|| failed("read"))?;
            for key in &page.keys {
                if let Some(id) = asset_id_of_key(&key.name, &prefix) {
                    let created = key
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get("t"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    entries.push((id.to_owned(), created));
                }
            }
            match page.cursor {
                Some(next) if !page.list_complete && entries.len() < MAX_INDEX_KEYS => {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        Ok(newest_first(entries))
    }
}
