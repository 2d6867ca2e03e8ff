//! The per-owner asset index, in Workers KV (binding [`BINDING`]); see
//! [`crate::core::asset_list`] for why it exists and how a list is computed from it.
//!
//! One key per asset (`owner/{len}/{sub}/{asset_id}`, its creation time as metadata): a create
//! is one `put` and a delete one `delete`, never a read-modify-write, so concurrent uploads by
//! one user cannot lose each other's entries. A list reads the owner's keys with one `list` call
//! per thousand assets.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, Env};

use crate::core::asset_list::{index_key, index_prefix, listed_asset_id, newest_first};
use crate::core::error::ErrorCode;
use crate::worker::reply::ApiError;

/// The KV namespace binding that holds the index.
pub const BINDING: &str = "ASSET_INDEX";

/// Keys per KV `list` call (KV's most).
const KEYS_PER_PAGE: usize = 1000;

// The namespace's calls, each one JS step: `worker::kv::KvStore` looks up five methods of the
// binding per request, builds each options object field by field, and reads a list's answer back
// key by key through serde_wasm_bindgen (crossings per key). Here a call is one crossing, and a
// list page comes back as one text in the shape [`ListPage::parse`] reads: only what the index
// reads, split by the wasm without a JSON parser (a JSON text of the same page measured slower).
#[wasm_bindgen(inline_js = r#"
export function kv_put_created(namespace, key, createdMs) {
  return namespace.put(key, '', { metadata: { t: createdMs } });
}
export async function kv_list_page(namespace, prefix, limit, cursor) {
  const page = await namespace.list(cursor === undefined ? { prefix, limit } : { prefix, limit, cursor });
  const lines = [`${page.list_complete ? 1 : 0}\t${page.keys.length}\t${page.list_complete ? '' : page.cursor}`];
  for (const key of page.keys) lines.push(`${key.metadata?.t ?? ''}\t${key.name.slice(prefix.length)}`);
  return lines.join('\n');
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

/// One page of a KV `list` answer, as `kv_list_page` prints it.
#[derive(Debug, PartialEq, Eq)]
struct ListPage<'a> {
    /// The cursor of the next page; `None` once the list is complete.
    next: Option<&'a str>,
    /// Each key's name after the listed prefix, with its `t` metadata (the creation time, ms; 0
    /// when absent).
    keys: Vec<(&'a str, u64)>,
}

impl<'a> ListPage<'a> {
    /// Reads `{complete 0|1}\t{key count}\t{cursor}`, then one line `{t}\t{name after the prefix}` per key (`t`
    /// empty when the key has none).
    /// `None` for any other text: a line break inside a name or cursor shows up as a count that
    /// does not match, so a key is never read with another's time.
    fn parse(text: &'a str) -> Option<ListPage<'a>> {
        let (head, lines) = text.split_once('\n').unwrap_or((text, ""));
        let (next, count) = Self::head(head)?;
        let mut lines = lines.split('\n');
        if head.len() == text.len() {
            // No key lines at all: `split` would still yield one empty line.
            lines.next();
        }
        let mut keys = Vec::with_capacity(count.min(KEYS_PER_PAGE));
        for line in lines {
            let (created, name) = line.split_once('\t')?;
            // Only this Worker writes `t` (an integer); anything else orders as the oldest.
            keys.push((name, created.parse().unwrap_or(0)));
        }
        (keys.len() == count).then_some(ListPage { next, keys })
    }

    /// Reads the head line alone: the next page's cursor (`None` once complete) and the count of
    /// keys the page says it holds.
    fn head(line: &'a str) -> Option<(Option<&'a str>, usize)> {
        let mut head = line.splitn(3, '\t');
        let complete = match head.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let count = head.next()?.parse().ok()?;
        let cursor = head.next()?;
        (complete == cursor.is_empty()).then_some(((!complete).then_some(cursor), count))
    }
}

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
        crate::worker::binding(env, BINDING).map(|binding| AssetIndex(binding.unchecked_into()))
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

    /// The index of `sub`'s assets (its ids: [`OwnedAssets::newest_first`]); refused
    /// (`payload_too_large`, naming the setting) when `sub` has more than `max`
    /// (`MAX_LISTED_ASSETS`): KV lists keys by name, not by time, so a list cut short would
    /// silently drop assets, the newest among them.
    pub async fn owned(&self, sub: &str, max: usize) -> Result<OwnedAssets, ApiError> {
        let prefix = index_prefix(sub);
        let mut pages = Vec::new();
        let mut listed = 0;
        let mut cursor = None;
        loop {
            let answer = settled(kv_list_page(
                &self.0,
                &prefix,
                KEYS_PER_PAGE as u32,
                cursor.as_deref(),
            ))
            .await
            .map_err(|_| failed("read"))?;
            let text = answer.as_string().ok_or_else(|| failed("read"))?;
            // The head line is enough to page on; the keys are read (and the page checked whole)
            // once, by `newest_first`.
            let head = text.split('\n').next().unwrap_or_default();
            let (next, count) = ListPage::head(head).ok_or_else(|| failed("read"))?;
            listed += count;
            if listed > max {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "This user has more than {max} assets, more than the Worker lists \
                         (MAX_LISTED_ASSETS): read them by id, or list the account with an admin \
                         grant."
                    ),
                ));
            }
            cursor = next.map(str::to_owned);
            pages.push(text);
            if cursor.is_none() {
                break;
            }
        }
        Ok(OwnedAssets { pages })
    }
}

/// The listed pages of one owner's index, kept as KV gave them, so that the ids are read
/// without a copy each.
pub struct OwnedAssets {
    pages: Vec<String>,
}

impl OwnedAssets {
    /// The owner's asset ids, newest first; refused when a page's keys do not add up to the
    /// count its head line gave.
    pub fn newest_first(&self) -> Result<Vec<&str>, ApiError> {
        let mut entries = Vec::new();
        for text in &self.pages {
            let page = ListPage::parse(text).ok_or_else(|| failed("read"))?;
            entries.extend(
                (page.keys.into_iter())
                    .filter_map(|(name, created)| Some((listed_asset_id(name)?, created))),
            );
        }
        Ok(newest_first(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_are_read_key_by_key_with_their_times() {
        let page = ListPage::parse("0\t2\tcur/sor==\n17\towner/1/a/x\n\towner/1/a/y\tz").unwrap();
        assert_eq!(page.next, Some("cur/sor=="));
        assert_eq!(page.keys, [("owner/1/a/x", 17), ("owner/1/a/y\tz", 0)]);
        let odd = ListPage::parse("1\t2\t\nnan\towner/1/a/x\n-1\towner/1/a/y").unwrap();
        assert_eq!(odd.keys, [("owner/1/a/x", 0), ("owner/1/a/y", 0)]);
        let last = ListPage::parse("1\t0\t").unwrap();
        assert_eq!((last.next, last.keys.len()), (None, 0));
    }

    #[test]
    fn a_page_head_gives_the_cursor_and_count_alone() {
        assert_eq!(
            ListPage::head("0\t2\tcur/sor=="),
            Some((Some("cur/sor=="), 2))
        );
        assert_eq!(ListPage::head("1\t0\t"), Some((None, 0)));
        for bad in ["", "1\t0", "0\t3\t", "1\t3\tcursor", "x\t1\t", "1\t-1\t"] {
            assert_eq!(ListPage::head(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn list_pages_that_do_not_add_up_are_refused() {
        for bad in [
            "",
            "1\t1\t",                                 // a key missing
            "1\t1\t\n5\towner/1/a/x\ny",              // a line break inside a name
            "1\t1\t\n5\towner/1/a/x\n6\towner/1/a/y", // more keys than counted
            "0\t0\t",                                 // incomplete without a cursor
            "1\t0\tcursor",                           // complete with one
            "2\t0\t",
            "1\t0",
            "1\tx\t",
            "1\t1\t\nowner/1/a/x",
        ] {
            assert_eq!(ListPage::parse(bad), None, "{bad:?}");
        }
    }
}
