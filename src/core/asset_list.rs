//! Listing assets: the query a client may send, and the page a non-admin user gets.
//!
//! TwelveLabs lists a whole account and cannot filter by `user_metadata`, and its `page_info`
//! counts every match in the account. Filtering upstream's page afterwards would leave that
//! count (and the paging) telling one user about another's assets: `?filename=a` answering
//! `total_results: 1` with an empty `data` spells out someone else's file name one character at
//! a time. So the Worker keeps a per-owner index of the assets it created (Workers KV, one key
//! per asset, see [`index_key`]) and computes a non-admin page from that owner's assets alone:
//! every upstream call names only the owner's ids, so everything in the answer — `data`,
//! `page_info`, whether upstream is asked at all — is a function of the owner's own assets.
//!
//! The query is parsed strictly ([`ListAssetsQuery::parse`]): known keys only, a scalar given
//! twice is refused, and the upstream query is rebuilt from the parsed values, never copied,
//! by the same [`ListAssetsQuery::to_query_pairs`] the browser client sends its query with.

use crate::core::error::Error;
use crate::core::wire::{
    encode_query, limits, validate_filename, validate_page, ListAssetsQuery, MediaType, PageInfo,
    PageQuery,
};

/// Longest list of ids a filtered owner list sends upstream in one query (24-hex ids make that
/// about 7 KB of query string): a filtered list covers the owner's newest this many assets.
pub const MAX_FILTERED_IDS: usize = 200;

/// Most `asset_ids` values a client may send.
pub const MAX_ASSET_IDS: usize = 50;

/// Reads the one value of a scalar parameter: absent → `None`; given twice → refused (an
/// upstream that reads the last value while the Worker checked the first would act on a value
/// nobody validated).
pub fn scalar<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, Error> {
    let mut values = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(Error::invalid(format!(
            "The `{name}` parameter is given more than once."
        )));
    }
    Ok(first)
}

/// Refuses keys outside `allowed`.
pub fn known_keys(pairs: &[(String, String)], allowed: &[&str]) -> Result<(), Error> {
    match pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((unknown, _)) => Err(Error::invalid(format!(
            "The `{unknown}` parameter is unknown."
        ))),
        None => Ok(()),
    }
}

/// `page` and `page_limit` from a query (each at most once), checked against the API's limits.
pub fn paging(pairs: &[(String, String)]) -> Result<(u32, u32), Error> {
    let number = |name: &str, default: u32| -> Result<u32, Error> {
        match scalar(pairs, name)? {
            None => Ok(default),
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map_err(|_| Error::invalid(format!("The `{name}` parameter is too large."))),
            Some(_) => Err(Error::invalid(format!(
                "The `{name}` parameter must be an integer."
            ))),
        }
    };
    let page = number("page", 1)?;
    let page_limit = number("page_limit", limits::PAGE_LIMIT_DEFAULT)?;
    validate_page(page, page_limit)?;
    Ok((page, page_limit))
}

/// The `?page=…&page_limit=…` query for a paged upstream read, from checked values.
pub fn paging_query(page: u32, page_limit: u32) -> String {
    let page = PageQuery {
        page: Some(page),
        page_limit: Some(page_limit),
    };
    format!("?{}", encode_query(&page.to_query_pairs()))
}

fn too_many_asset_ids() -> Error {
    Error::invalid(format!(
        "At most {MAX_ASSET_IDS} `asset_ids` values are accepted."
    ))
}

impl ListAssetsQuery {
    /// The keys `GET /assets` accepts.
    pub const KEYS: &'static [&'static str] =
        &["page", "page_limit", "asset_ids", "asset_types", "filename"];

    /// Parses and checks a `GET /assets` query's pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<ListAssetsQuery, Error> {
        known_keys(pairs, Self::KEYS)?;
        let (page, page_limit) = paging(pairs)?;
        let mut asset_ids = Vec::new();
        let mut asset_types = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "asset_ids" => {
                    let valid = !value.is_empty()
                        && value.len() <= 64
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if !valid {
                        return Err(Error::invalid(
                            "Each `asset_ids` value must be an asset id ([A-Za-z0-9_-], 1–64).",
                        ));
                    }
                    if !asset_ids.contains(value) {
                        // Refused as soon as it is too many, so a query of thousands of ids
                        // costs no more than 51 comparisons each.
                        if asset_ids.len() == MAX_ASSET_IDS {
                            return Err(too_many_asset_ids());
                        }
                        asset_ids.push(value.clone());
                    }
                }
                "asset_types" => {
                    let media = MediaType::parse(value).ok_or_else(|| {
                        Error::invalid("Each `asset_types` value must be video, audio or image.")
                    })?;
                    if !asset_types.contains(&media) {
                        asset_types.push(media);
                    }
                }
                _ => {}
            }
        }
        let filename = scalar(pairs, "filename")?.map(str::to_owned);
        if let Some(name) = &filename {
            validate_filename(name)?;
        }
        Ok(ListAssetsQuery {
            page,
            page_limit,
            asset_ids,
            asset_types,
            filename,
        })
    }

    /// The upstream query for this list as asked (an admin's: the whole account), rebuilt from
    /// the parsed values.
    pub fn upstream_query(&self) -> String {
        self.query_with(&self.asset_ids, self.page, self.page_limit, true)
    }

    fn query_with(
        &self,
        ids: &[impl AsRef<str>],
        page: u32,
        page_limit: u32,
        filters: bool,
    ) -> String {
        let upstream = ListAssetsQuery {
            page,
            page_limit,
            asset_ids: ids.iter().map(|id| id.as_ref().to_owned()).collect(),
            asset_types: if filters {
                self.asset_types.clone()
            } else {
                Vec::new()
            },
            filename: self.filename.clone().filter(|_| filters),
        };
        format!("?{}", encode_query(&upstream.to_query_pairs()))
    }

    /// What to do for a non-admin whose own assets are `owned` (newest first).
    pub fn plan_for_owner(&self, owned: &[&str]) -> OwnerListPlan {
        let ids: Vec<&str> = owned
            .iter()
            .copied()
            .filter(|id| self.asset_ids.is_empty() || self.asset_ids.iter().any(|a| a == id))
            .collect();
        let empty = |total: usize| OwnerListPlan::Answer(self.page_info(total));
        if ids.is_empty() {
            return empty(0);
        }
        if self.asset_types.is_empty() && self.filename.is_none() {
            // No filter upstream has to apply: the page is cut from the index, and upstream is
            // asked only for that page's assets.
            let start = (self.page as usize - 1).saturating_mul(self.page_limit as usize);
            if start >= ids.len() {
                return empty(ids.len());
            }
            let end = (start + self.page_limit as usize).min(ids.len());
            return OwnerListPlan::Upstream {
                query: self.query_with(&ids[start..end], 1, limits::PAGE_LIMIT_MAX, false),
                page_info: Some(self.page_info(ids.len())),
            };
        }
        // Filters by type or name need upstream's view of each asset: ask with the owner's
        // ids (the newest MAX_FILTERED_IDS), so upstream counts and pages only those.
        let ids = &ids[..ids.len().min(MAX_FILTERED_IDS)];
        OwnerListPlan::Upstream {
            query: self.query_with(ids, self.page, self.page_limit, true),
            page_info: None,
        }
    }

    /// `page_info` for `total` results at this query's page and limit.
    pub fn page_info(&self, total: usize) -> PageInfo {
        PageInfo::for_page(self.page, self.page_limit, total as u64)
    }
}

/// How a non-admin's list is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerListPlan {
    /// No upstream call: an empty page with this `page_info`.
    Answer(PageInfo),
    /// One upstream call `GET /assets{query}`; its `data` is the page. `page_info`, when set,
    /// replaces upstream's (the page was cut from the index).
    Upstream {
        /// The query string, `?` included.
        query: String,
        /// The page's `page_info`, or `None` to keep upstream's.
        page_info: Option<PageInfo>,
    },
}

/// The common prefix of an owner's index keys. The length of `sub` comes first, so no owner's
/// prefix is a prefix of another's (`a` and `a/b` cannot collide).
pub fn index_prefix(sub: &str) -> String {
    format!("owner/{}/{sub}/", sub.len())
}

/// The index key of one asset of `sub`.
pub fn index_key(sub: &str, asset_id: &str) -> String {
    format!("{}{asset_id}", index_prefix(sub))
}

/// The asset id in what follows an owner's [`index_prefix`] in a listed index key (KV's `list`
/// returns only keys under the prefix it is given), if it is one. Asset ids never hold a `/`,
/// so a key whose rest does was not written by this index.
pub fn listed_asset_id(rest: &str) -> Option<&str> {
    Some(rest).filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Orders index entries `(asset id, created at ms)` newest first (ties by id) and keeps the ids.
pub fn newest_first(mut entries: Vec<(&str, u64)>) -> Vec<&str> {
    entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(a.0)));
    entries.into_iter().map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id{i:02}")).collect()
    }

    fn borrowed(ids: &[String]) -> Vec<&str> {
        ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn repeated_scalars_and_bad_values_are_refused() {
        for bad in [
            "page_limit=10&page_limit=51",
            "page=1&page=0",
            "page=2&page=2",
            "filename=a&filename=b",
            "page_limit=51",
            "page=0",
            "page=-1",
            "page=+1",
            "page=1e3",
            "page=99999999999999999999",
            "colour=red",
            "asset_types=movie",
            "asset_ids=a/b",
            "asset_ids=",
            "filename=",
            "filename=a%07b",
        ] {
            assert!(ListAssetsQuery::parse(&pairs(bad)).is_err(), "{bad}");
        }
        assert!(paging(&pairs("page=1&page=2")).is_err());
    }

    #[test]
    fn at_most_fifty_distinct_asset_ids_are_accepted() {
        let query = |ids: &[String]| {
            let text: Vec<String> = ids.iter().map(|id| format!("asset_ids={id}")).collect();
            ListAssetsQuery::parse(&pairs(&text.join("&")))
        };
        let fifty = ids(MAX_ASSET_IDS);
        assert_eq!(query(&fifty).unwrap().asset_ids, fifty);
        let repeated: Vec<String> = fifty.iter().chain(&fifty).cloned().collect();
        assert_eq!(query(&repeated).unwrap().asset_ids.len(), MAX_ASSET_IDS);
        for n in [MAX_ASSET_IDS + 1, 3_000] {
            let error = query(&ids(n)).unwrap_err();
            assert!(error.message.contains("At most 50"), "{n}: {error}");
        }
    }

    #[test]
    fn the_upstream_query_is_rebuilt_from_parsed_values() {
        let query = ListAssetsQuery::parse(&pairs(
            "filename=a%26b%3Dc&asset_types=video&asset_ids=x&asset_ids=x",
        ))
        .unwrap();
        assert_eq!(
            query.upstream_query(),
            "?page=1&page_limit=10&asset_ids=x&asset_types=video&filename=a%26b%3Dc"
        );
    }

    #[test]
    fn an_owner_page_depends_on_the_owners_assets_only() {
        let query = ListAssetsQuery::parse(&pairs("page=2&page_limit=2")).unwrap();
        let owned = ids(5);
        let owned = borrowed(&owned);
        assert_eq!(
            query.plan_for_owner(&owned),
            OwnerListPlan::Upstream {
                query: "?page=1&page_limit=50&asset_ids=id02&asset_ids=id03".into(),
                page_info: Some(PageInfo {
                    limit_per_page: 2,
                    page: 2,
                    total_page: 3,
                    total_results: 5
                }),
            }
        );
        let past = ListAssetsQuery::parse(&pairs("page=4&page_limit=2")).unwrap();
        assert!(matches!(
            past.plan_for_owner(&owned),
            OwnerListPlan::Answer(PageInfo {
                total_results: 5,
                total_page: 3,
                ..
            })
        ));
        assert!(matches!(
            query.plan_for_owner(&[]),
            OwnerListPlan::Answer(PageInfo {
                total_results: 0,
                total_page: 0,
                ..
            })
        ));
        // Someone else's ids select nothing of the owner's: no upstream call.
        let foreign = ListAssetsQuery::parse(&pairs("asset_ids=theirs&filename=s")).unwrap();
        assert!(matches!(
            foreign.plan_for_owner(&owned),
            OwnerListPlan::Answer(PageInfo {
                total_results: 0,
                ..
            })
        ));
        // Filters go upstream with the owner's ids only, and upstream's page_info is kept.
        let filtered = ListAssetsQuery::parse(&pairs("filename=s&asset_ids=id01")).unwrap();
        assert_eq!(
            filtered.plan_for_owner(&owned),
            OwnerListPlan::Upstream {
                query: "?page=1&page_limit=10&asset_ids=id01&filename=s".into(),
                page_info: None,
            }
        );
        let many = ListAssetsQuery::parse(&pairs("asset_types=audio")).unwrap();
        let OwnerListPlan::Upstream { query, .. } =
            many.plan_for_owner(&borrowed(&ids(MAX_FILTERED_IDS + 7)))
        else {
            panic!("expected an upstream call");
        };
        assert_eq!(query.matches("asset_ids=").count(), MAX_FILTERED_IDS);
    }

    #[test]
    fn index_keys_never_collide_across_owners() {
        let a = index_key("a", "x");
        let ab = index_key("a/b", "x");
        assert!(!ab.starts_with(&index_prefix("a")));
        assert!(!a.starts_with(&index_prefix("a/b")));
        fn rest<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
            key.strip_prefix(prefix).and_then(listed_asset_id)
        }
        assert_eq!(rest(&a, &index_prefix("a")), Some("x"));
        assert_eq!(rest(&ab, &index_prefix("a")), None);
        assert_eq!(listed_asset_id("x/y"), None);
        assert_eq!(listed_asset_id(""), None);
        assert_eq!(
            newest_first(vec![("old", 1), ("new", 9), ("mid", 5), ("a", 5)]),
            ["new", "mid", "a", "old"]
        );
    }
}
