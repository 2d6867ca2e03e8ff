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

// The namespace's calls, each one JS step: `worker::kv::KvStore` looks up five methods of the
// binding per request, builds each options object field by field, and reads a list's answer back
// key by key through serde_wasm_bindgen (crossings per key). Here a call is one crossing, and a
// list page comes back as one compact JSON text (`[list_complete, cursor, [[name, t], …]]`: only
// what the index reads, so the runtime prints and the wasm parses no metadata objects).
#[wasm_bindgen(inline_js = r#"
export function kv_put_created(namespace, key, createdMs) {
  return namespace.put(key, '', { metadata: { t: createdMs } });
}
export async function kv_list_page(namespace, prefix, limit, cursor) {
  const page = await namespace.list(cursor === undefined ? { prefix, limit } : { prefix, limit, cursor });
  return JSON.stringify([page.list_complete, page.cursor ?? null, page.keys.map((key) => [key.name, key.metadata?.t ?? null])]);
}
"#)]
extern "C" {
    /// A Workers KV namespace binding.
    type KvNamespace;

    #[wasm_bindgen(catch)]
    fn kv_put_created(
        namespace: &KvNamespace,
        key: &str,
        created_ms: f64,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(catch)]
    fn kv_list_page(
        namespace: &KvNamespace,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_key(this: &KvNamespace, key: &str) -> Result<js_sys::Promise, JsValue>;
}

/// One page of a KV `list` answer, as `kv_list_page` prints it: whether the list is complete,
/// the cursor of the next page, and each key's name with its `t` metadata (the creation time).
#[derive(Deserialize)]
struct ListPage(bool, Option<String>, Vec<(String, Option<Value>)>);

/// The index, when the deployment binds it.
pub struct AssetIndex(KvNamespace);

fn failed(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("The asset index ({BINDING}) could not be {what}."),
    )
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
        settled(kv_put_created(
            &self.0,
            &index_key(sub, asset_id),
            now_ms as f64,
        ))
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
            let answer = settled(kv_list_page(&self.0, &prefix, 1000, cursor.as_deref()))
                .await
                .map_err(|_| failed("read"))?;
            let ListPage(list_complete, next, keys) = answer
                .as_string()
                .and_then(|text| serde_json::from_str(&text).ok())
                .ok_or_else(|| failed("read"))?;
            for (name, created) in &keys {
                if let Some(id) = asset_id_of_key(name, &prefix) {
                    let created = created.as_ref().and_then(Value::as_u64).unwrap_or(0);
                    entries.push((id.to_owned(), created));
                }
            }
            match next {
                Some(next) if !list_complete && entries.len() < MAX_INDEX_KEYS => {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        Ok(newest_first(entries))
    }
}
