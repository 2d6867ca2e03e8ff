//! Upload policy and ownership rules. Pure, so each rule is unit-tested natively.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::core::error::{Error, ErrorCode};
use crate::core::token::GrantClaims;
use crate::core::wire::{MediaType, MetadataValue, UserMetadata};

/// The `user_metadata` key under which the Worker records who created an asset. Set by the
/// Worker from the grant's `sub`; whatever a client sends under this key is replaced.
pub const OWNER_METADATA_KEY: &str = "edge_upload_owner";

/// Largest JSON request body the Worker reads (bodies are bounded before parsing).
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// What the deployment allows, from `MAX_UPLOAD_BYTES` and `ALLOWED_TYPES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Largest file accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Media types accepted.
    pub allowed_types: Vec<MediaType>,
}

impl Policy {
    /// The effective byte limit for one grant: the deployment's, tightened by `max_bytes`.
    pub fn byte_limit(&self, grant: &GrantClaims) -> u64 {
        grant
            .max_bytes
            .map_or(self.max_upload_bytes, |m| m.min(self.max_upload_bytes))
    }

    /// Whether `media` is allowed by the deployment and by the grant's `types`.
    pub fn allows_type(&self, grant: &GrantClaims, media: MediaType) -> bool {
        let by_grant = grant
            .types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == media.as_str()));
        self.allowed_types.contains(&media) && by_grant
    }

    /// [`Policy::allows_type`], as a refusal.
    pub fn check_type(&self, grant: &GrantClaims, media: MediaType) -> Result<(), Error> {
        if self.allows_type(grant, media) {
            Ok(())
        } else {
            // Over policy is "forbidden" (403), as every refusal decided by the grant or the
            // deployment's policy is; the code says which limit was hit.
            Err(Error::new(
                ErrorCode::UnsupportedType,
                format!("Uploads of type `{}` are not allowed.", media.as_str()),
            )
            .with_status(403))
        }
    }

    /// Whether this grant may upload by URL. A URL's size and type are unknown until TwelveLabs
    /// fetches it, so when the grant or the deployment narrows either below what TwelveLabs
    /// accepts by URL, only a grant that says `url_uploads: true` may; `url_uploads: false`
    /// forbids it always.
    pub fn check_url_upload(&self, grant: &GrantClaims) -> Result<(), Error> {
        let narrowed = grant.max_bytes.is_some()
            || grant.types.is_some()
            || self.max_upload_bytes < crate::core::wire::limits::URL_MEDIA_MAX_BYTES
            || self.allowed_types.len() < 3;
        match grant.url_uploads {
            Some(true) => Ok(()),
            None if !narrowed => Ok(()),
            _ => Err(Error::new(
                ErrorCode::Forbidden,
                "This grant may not upload by URL: its size or type limits cannot be checked on a \
                 URL's content, so URL uploads need `url_uploads: true` in the grant.",
            )),
        }
    }

    /// Whether a declared size fits the deployment's limit and the grant's `max_bytes`.
    pub fn check_size(&self, grant: &GrantClaims, total_size: u64) -> Result<(), Error> {
        let limit = self.byte_limit(grant);
        if total_size > limit {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("{total_size} bytes exceeds the limit of {limit} bytes for this upload."),
            )
            .with_status(403));
        }
        Ok(())
    }
}

/// Parses `ALLOWED_TYPES` (comma-separated `video`, `audio`, `image`).
pub fn parse_types(list: &str) -> Result<Vec<MediaType>, String> {
    let mut types = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let media = MediaType::parse(entry)
            .ok_or_else(|| format!("ALLOWED_TYPES: `{entry}` is not one of video, audio, image"))?;
        if !types.contains(&media) {
            types.push(media);
        }
    }
    if types.is_empty() {
        return Err("ALLOWED_TYPES names no type".to_owned());
    }
    Ok(types)
}

/// The client's metadata with the owner tag set to `sub` (client keys kept, owner key replaced).
pub fn with_owner(metadata: Option<UserMetadata>, sub: &str) -> UserMetadata {
    let mut metadata = metadata.unwrap_or_default();
    metadata.insert(OWNER_METADATA_KEY.to_owned(), MetadataValue::from(sub));
    metadata
}

/// The owner tag of an upstream asset object (`Asset`/`AssetDetail` JSON), if it has one.
pub fn owner_of(asset: &Value) -> Option<&str> {
    asset
        .get("user_metadata")
        .and_then(|m| m.get(OWNER_METADATA_KEY))
        .and_then(Value::as_str)
}

/// Whether an upstream asset object (`Asset`/`AssetDetail` JSON) carries `sub`'s owner tag.
pub fn is_owned_by(asset: &Value, sub: &str) -> bool {
    owner_of(asset) == Some(sub)
}

/// The caller's page of a list answer from TwelveLabs, as JSON text: `data` keeps only `sub`'s
/// assets, and `page_info`, when the Worker computed it from the owner's index, replaces
/// upstream's. An answer that is not an object with a `data` array cannot be checked, so it is
/// refused.
///
/// Read on the text, not as a `Value` tree: each asset is kept as upstream's own bytes
/// (`RawValue`) and only its owner tag is read (an asset whose tag cannot be read is not the
/// caller's, as with [`is_owned_by`]); the top-level keys come out sorted, as a tree printed them.
/// Parsing the page into a tree and printing it again was the list route's largest cost in the
/// Worker's profile.
pub fn owner_list_page(
    body: &[u8],
    sub: &str,
    page_info: Option<&impl serde::Serialize>,
) -> Result<Vec<u8>, Error> {
    let unchecked = || {
        Error::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs answered the asset list without a `data` array.",
        )
    };
    let ListPage { data, fields } = serde_json::from_slice(body).map_err(|_| unchecked())?;
    let items = data.ok_or_else(unchecked)?;
    // Every piece below is valid JSON already (upstream's parsed text, or printed here), so the
    // answer is joined as bytes rather than checked again as a whole.
    let mut kept = Vec::with_capacity(body.len());
    kept.push(b'[');
    for item in items
        .into_iter()
        .filter(|item| raw_owner(item).as_deref() == Some(sub))
    {
        if kept.len() > 1 {
            kept.push(b',');
        }
        kept.extend_from_slice(item.get().as_bytes());
    }
    kept.push(b']');
    let page_info = page_info
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|_| unchecked())?;
    let mut top: BTreeMap<&str, &[u8]> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), value.get().as_bytes()))
        .collect();
    top.insert("data", &kept);
    if let Some(page_info) = &page_info {
        top.insert("page_info", page_info);
    }
    let mut answer = Vec::with_capacity(kept.len() + 256);
    answer.push(b'{');
    for (position, (key, value)) in top.into_iter().enumerate() {
        if position > 0 {
            answer.push(b',');
        }
        serde_json::to_writer(&mut answer, key).map_err(|_| unchecked())?;
        answer.push(b':');
        answer.extend_from_slice(value);
    }
    answer.push(b'}');
    Ok(answer)
}

/// A JSON value read in one pass: an array's items as upstream's own text, `None` for any other
/// value (which makes the answer one that cannot be checked).
struct Items<'a>(Option<Vec<&'a RawValue>>);

impl<'de> Deserialize<'de> for Items<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct AnyValue;
        impl<'de> Visitor<'de> for AnyValue {
            type Value = Items<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Items(Some(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Items<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Items(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
            fn visit_unit<E>(self) -> Result<Items<'de>, E> {
                Ok(Items(None))
            }
        }
        deserializer.deserialize_any(AnyValue)
    }
}

/// A list answer's top level read in one pass: `data`'s items (when it is an array) and every
/// other field as upstream's own text.
struct ListPage<'a> {
    data: Option<Vec<&'a RawValue>>,
    fields: BTreeMap<String, &'a RawValue>,
}

impl<'de> Deserialize<'de> for ListPage<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = ListPage<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ListPage<'de>, A::Error> {
                let mut page = ListPage {
                    data: None,
                    fields: BTreeMap::new(),
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "data" {
                        // A later `data` wins, as in a parsed tree.
                        page.data = map.next_value::<Items<'de>>()?.0;
                    } else {
                        page.fields.insert(key.into_owned(), map.next_value()?);
                    }
                }
                Ok(page)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// The owner tag of one asset's JSON text, read without building a tree; `None` when the asset,
/// its `user_metadata` or the tag is not of the expected shape.
fn raw_owner(asset: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Asset<'a> {
        #[serde(default, borrow)]
        user_metadata: Option<Metadata<'a>>,
    }
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(default, borrow, rename = "edge_upload_owner")]
        owner: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Asset<'_>>(asset.get())
        .ok()?
        .user_metadata?
        .owner
}

/// Parses a JSON object strictly: only `allowed` keys, every `required` key present, then the
/// typed value. Unknown keys are refused (a typo must not silently drop a limit).
pub fn strict_json<T: DeserializeOwned>(
    body: &[u8],
    allowed: &[&str],
    required: &[&str],
) -> Result<T, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("The request body is not valid JSON: {e}.")))?;
    let Value::Object(object) = &value else {
        return Err(Error::invalid("The request body must be a JSON object."));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "The `{unknown}` parameter is unknown."
        )));
    }
    if let Some(missing) = required.iter().find(|k| !object.contains_key(**k)) {
        return Err(Error::invalid(format!(
            "The `{missing}` parameter is required but was not provided."
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("The request body is invalid: {e}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::CreateMultipartUploadRequest;
    use serde_json::json;

    fn grant() -> GrantClaims {
        GrantClaims::new("user-1", 0)
    }

    fn policy() -> Policy {
        Policy {
            max_upload_bytes: 1000,
            allowed_types: vec![MediaType::Video, MediaType::Audio],
        }
    }

    #[test]
    fn grant_limits_tighten_the_deployment_policy_never_loosen_it() {
        let mut g = grant();
        assert!(policy().check_size(&g, 1000).is_ok());
        let over = policy().check_size(&g, 1001).unwrap_err();
        assert_eq!(over.code, ErrorCode::PayloadTooLarge);
        assert_eq!(
            over.status,
            Some(403),
            "over policy is forbidden, as issue 4 fixes"
        );
        g.max_bytes = Some(10);
        assert_eq!(
            policy().check_size(&g, 11).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        g.max_bytes = Some(1_000_000);
        assert_eq!(policy().byte_limit(&g), 1000);

        assert!(policy().check_type(&g, MediaType::Audio).is_ok());
        let refused = policy().check_type(&g, MediaType::Image).unwrap_err();
        assert_eq!(refused.code, ErrorCode::UnsupportedType);
        assert_eq!(refused.status, Some(403));
        g.types = Some(vec!["video".into(), "image".into()]);
        assert!(policy().check_type(&g, MediaType::Video).is_ok());
        assert!(policy().check_type(&g, MediaType::Audio).is_err());
        assert!(policy().check_type(&g, MediaType::Image).is_err());
    }

    #[test]
    fn allowed_types_parse_strictly() {
        assert_eq!(
            parse_types(" video, image ,video").unwrap(),
            vec![MediaType::Video, MediaType::Image]
        );
        assert!(parse_types("video,mp4").is_err());
        assert!(parse_types(" , ").is_err());
    }

    #[test]
    fn the_owner_tag_cannot_be_overridden_by_the_client() {
        let client: UserMetadata = serde_json::from_value(json!({
            "project": "p1",
            OWNER_METADATA_KEY: "someone-else"
        }))
        .unwrap();
        let tagged = with_owner(Some(client), "user-1");
        assert_eq!(tagged["project"], "p1".into());
        assert_eq!(tagged[OWNER_METADATA_KEY], "user-1".into());
        assert!(is_owned_by(&json!({ "user_metadata": tagged }), "user-1"));
        assert!(!is_owned_by(
            &json!({ "user_metadata": { OWNER_METADATA_KEY: "user-2" } }),
            "user-1"
        ));
        assert!(!is_owned_by(&json!({ "_id": "a" }), "user-1"));
    }

    #[test]
    fn url_uploads_need_an_explicit_claim_when_limits_narrow() {
        let open = Policy {
            max_upload_bytes: crate::core::wire::limits::MULTIPART_MEDIA_MAX_BYTES,
            allowed_types: vec![MediaType::Video, MediaType::Audio, MediaType::Image],
        };
        let mut g = grant();
        assert!(open.check_url_upload(&g).is_ok());
        assert!(
            policy().check_url_upload(&g).is_err(),
            "the deployment narrows"
        );
        for narrowing in [
            GrantClaims {
                max_bytes: Some(1000),
                ..grant()
            },
            GrantClaims {
                types: Some(vec!["audio".into()]),
                ..grant()
            },
        ] {
            let refused = open.check_url_upload(&narrowing).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Forbidden);
            assert!(refused.message.contains("url_uploads"));
            let allowed = GrantClaims {
                url_uploads: Some(true),
                ..narrowing
            };
            assert!(open.check_url_upload(&allowed).is_ok());
        }
        g.url_uploads = Some(false);
        assert!(open.check_url_upload(&g).is_err());
    }

    #[test]
    fn json_bodies_are_parsed_strictly() {
        let allowed = ["filename", "type", "total_size"];
        let required = ["filename", "type", "total_size"];
        let ok: CreateMultipartUploadRequest = strict_json(
            br#"{"filename":"a.mp4","type":"video","total_size":5}"#,
            &allowed,
            &required,
        )
        .unwrap();
        assert_eq!(ok.total_size, 5);
        for bad in [
            &br#"{"filename":"a.mp4","type":"video","total_size":5,"extra":1}"#[..],
            br#"{"filename":"a.mp4","total_size":5}"#,
            br#"{"filename":"a.mp4","type":"video","total_size":-5}"#,
            br#"[1,2]"#,
            br#"{"filename":"a.mp4","#,
        ] {
            let err =
                strict_json::<CreateMultipartUploadRequest>(bad, &allowed, &required).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput);
        }
    }

    /// The page as a tree, for comparing.
    fn page(body: &Value, sub: &str, page_info: Option<&Value>) -> Result<Value, Error> {
        let text = owner_list_page(&serde_json::to_vec(body).unwrap(), sub, page_info)?;
        Ok(serde_json::from_slice(&text).unwrap())
    }

    #[test]
    fn an_owner_list_page_keeps_only_the_owners_assets_and_the_computed_page_info() {
        let tagged = |id: &str, owner: &str| json!({ "_id": id, "user_metadata": { OWNER_METADATA_KEY: owner } });
        let body = json!({
            "data": [
                tagged("a", "user-1"),
                tagged("b", "user-2"),
                json!({ "_id": "c" }),
                tagged("d", "user-1"),
                json!({ "_id": "e", "user_metadata": null }),
                json!({ "_id": "f", "user_metadata": "user-1" }),
                json!({ "_id": "g", "user_metadata": { OWNER_METADATA_KEY: 1 } }),
                json!({ "_id": "h", "user_metadata": { OWNER_METADATA_KEY: "user-1 " } }),
                json!("user-1"),
                json!(null),
            ],
            "page_info": { "total_results": 3 },
            "other": [1, { "x": "y" }],
        });
        let computed = json!({ "total_results": 1 });
        let mine = page(&body, "user-1", Some(&computed)).unwrap();
        assert_eq!(
            mine["data"],
            json!([tagged("a", "user-1"), tagged("d", "user-1")])
        );
        assert_eq!(mine["page_info"], computed);
        assert_eq!(mine["other"], body["other"], "other fields pass through");
        // Without a computed page_info, upstream's stays; another user gets only their own.
        let theirs = page(&body, "user-2", None).unwrap();
        assert_eq!(theirs["data"], json!([tagged("b", "user-2")]));
        assert_eq!(theirs["page_info"], body["page_info"]);
        assert_eq!(page(&body, "nobody", None).unwrap()["data"], json!([]));
        // An escaped tag is read as its text; the kept assets are upstream's own bytes.
        let escaped =
            br#"{"data":[{"_id":"x", "user_metadata":{"edge_upload_owner":"user\u002d1"}}]}"#;
        let text = owner_list_page(escaped, "user-1", None::<&Value>).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"data":[{"_id":"x", "user_metadata":{"edge_upload_owner":"user\u002d1"}}]}"#
        );
    }

    #[test]
    fn an_owner_list_page_refuses_an_answer_it_cannot_check() {
        for body in [
            json!([]),
            json!("data"),
            json!(null),
            json!({}),
            json!({ "data": {} }),
            json!({ "data": null }),
            json!({ "data": "[]" }),
            json!({ "data": 1 }),
            json!({ "data": -1 }),
            json!({ "data": 1.5 }),
            json!({ "data": true }),
            json!({ "data": { "items": [] } }),
            json!({ "data": [], "page_info": {}, "data ": [] })
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.remove("data");
                    Value::Object(o)
                })
                .unwrap(),
        ] {
            let error = page(&body, "user-1", Some(&json!({}))).unwrap_err();
            assert_eq!(error.code, ErrorCode::UpstreamUnavailable, "{body}");
        }
        for text in [
            &b"{\"data\":["[..],
            b"",
            b"{\"data\":[1,]}",
            b"{\"data\":[1]} x",
            b"{\"data\":[],\"data\":{}}",
        ] {
            let error = owner_list_page(text, "user-1", None::<&Value>).unwrap_err();
            assert_eq!(error.code, ErrorCode::UpstreamUnavailable);
        }
    }
}
