//! The per-owner asset index, in Workers KV (binding [`BINDING`]); see
//! [`crate::core::asset_list`] for why it exists and how a list is computed from it.
//!
//! One key per asset (`owner/{len}/{sub}/{asset_id}`, its creation time as metadata): a create
//! is one `put` and a delete one `delete`, never a read-modify-write, so concurrent uploads by
//! one user cannot lose each other's entries. A list reads the owner's keys with one `list` call
//! per thousand assets.

use serde_json::Value;
use worker::kv::KvStore;
use worker::Env;

use crate::core::asset_list::{asset_id_of_key, index_key, index_prefix, newest_first};
use crate::core::error::ErrorCode;
use crate::worker::reply::ApiError;

/// The KV namespace binding that holds the index.
pub const BINDING: &str = "ASSET_INDEX";

/// Most index keys read for one list (KV lists a thousand per call).
const MAX_INDEX_KEYS: usize = 5_000;

/// The index, when the deployment binds it.
pub struct AssetIndex(KvStore);

fn failed(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("The asset index ({BINDING}) could not be {what}."),
    )
}

impl AssetIndex {
    /// The bound namespace, or `None` when the deployment has no `ASSET_INDEX` binding.
    pub fn open(env: &Env) -> Option<AssetIndex> {
        env.kv(BINDING).ok().map(AssetIndex)
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
        self.0
            .put(&index_key(sub, asset_id), "")
            .and_then(|put| put.metadata(serde_json::json!({ "t": now_ms })))
            .map_err(|_| failed("written"))?
            .execute()
            .await
            .map_err(|_| failed("written"))
    }

    /// Forgets `asset_id` of `sub` (after it was deleted).
    pub async fn remove(&self, sub: &str, asset_id: &str) -> Result<(), ApiError> {
        self.0
            .delete(&index_key(sub, asset_id))
            .await
            .map_err(|_| failed("updated"))
    }

    /// The ids of `sub`'s assets, newest first.
    pub async fn owned(&self, sub: &str) -> Result<Vec<String>, ApiError> {
        let prefix = index_prefix(sub);
        let mut entries = Vec::new();
        let mut cursor = None;
        loop {
            let mut list = self.0.list().prefix(prefix.clone()).limit(1000);
            if let Some(cursor) = cursor.take() {
                list = list.cursor(cursor);
            }
            let page = list.execute().await.map_err(|_| failed("read"))?;
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
