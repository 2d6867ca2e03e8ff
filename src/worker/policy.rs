//! Upload policy and ownership rules. Pure, so each rule is unit-tested natively.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::error::{Error, ErrorCode};
use crate::core::token::GrantClaims;
use crate::core::wire::{MediaType, UserMetadata};

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
    pub fn check_type(&self, grant: &GrantClaims, media: MediaType) -> Result<(), Error> {
        let by_grant = grant
            .types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == media.as_str()));
        if self.allowed_types.contains(&media) && by_grant {
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
    metadata.insert(OWNER_METADATA_KEY.to_owned(), Value::String(sub.to_owned()));
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

/// The caller's page of a list answer from TwelveLabs: `data` keeps only `sub`'s assets, and
/// `page_info`, when the Worker computed it from the owner's index, replaces upstream's. An answer
/// that is not an object with a `data` array cannot be checked, so it is refused.
pub fn owner_list_page(body: Value, sub: &str, page_info: Option<Value>) -> Result<Value, Error> {
    let unchecked = || {
        Error::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs answered the asset list without a `data` array.",
        )
    };
    let Value::Object(mut object) = body else {
        return Err(unchecked());
    };
    let Some(Value::Array(items)) = object.get_mut("data") else {
        return Err(unchecked());
    };
    items.retain(|asset| is_owned_by(asset, sub));
    if let Some(page_info) = page_info {
        object.insert("page_info".into(), page_info);
    }
    Ok(Value::Object(object))
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
        GrantClaims {
            sub: "user-1".into(),
            exp: 0,
            nbf: None,
            iat: None,
            max_bytes: None,
            types: None,
            scope: None,
            url_uploads: None,
            kind: None,
        }
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
        assert_eq!(tagged["project"], "p1");
        assert_eq!(tagged[OWNER_METADATA_KEY], "user-1");
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

    #[test]
    fn an_owner_list_page_keeps_only_the_owners_assets_and_the_computed_page_info() {
        let tagged = |id: &str, owner: &str| json!({ "_id": id, "user_metadata": { OWNER_METADATA_KEY: owner } });
        let body = json!({
            "data": [tagged("a", "user-1"), tagged("b", "user-2"), json!({ "_id": "c" })],
            "page_info": { "total_results": 3 },
        });
        let page = owner_list_page(body, "user-1", Some(json!({ "total_results": 1 }))).unwrap();
        assert_eq!(page["data"], json!([tagged("a", "user-1")]));
        assert_eq!(page["page_info"], json!({ "total_results": 1 }));
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
        ] {
            let error = owner_list_page(body.clone(), "user-1", Some(json!({}))).unwrap_err();
            assert_eq!(error.code, ErrorCode::UpstreamUnavailable, "{body}");
        }
    }
}
