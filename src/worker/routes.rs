//! The route table: which paths exist, and which methods each one answers.
//!
//! Pure (no Workers types), so the table is unit-tested natively. The paths re-serve the
//! TwelveLabs upload API under `/v1.3/...` exactly, plus `/healthz` and `/dev/grant`.

use crate::core::wire::paths;

/// A path the Worker serves, with its identifiers extracted and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/healthz`
    Healthz,
    /// `/dev/grant` (only answered when `DEV_GRANTS=true`)
    DevGrant,
    /// `/v1.3/assets/multipart-uploads`
    Uploads,
    /// `/v1.3/assets/multipart-uploads/{upload_id}`
    Upload(String),
    /// `/v1.3/assets/multipart-uploads/{upload_id}/presigned-urls`
    UploadUrls(String),
    /// `/v1.3/assets`
    Assets,
    /// `/v1.3/assets/{asset_id}`
    Asset(String),
}

/// The API version prefix the Worker re-serves (and expects `TWELVELABS_BASE_URL` to end in).
pub use crate::core::wire::paths::API_PREFIX;

/// Longest identifier accepted in a path segment.
const MAX_ID_LEN: usize = 64;

impl Resource {
    /// Finds the resource for a request path, or `None` (→ 404). Identifiers must be plain
    /// `[A-Za-z0-9_-]` so nothing the client sends can change the shape of the upstream URL.
    pub fn from_path(path: &str) -> Option<Resource> {
        if path == "/healthz" {
            return Some(Resource::Healthz);
        }
        if path == "/dev/grant" {
            return Some(Resource::DevGrant);
        }
        let rest = path.strip_prefix(API_PREFIX)?.strip_prefix(paths::ASSETS)?;
        let segments: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.strip_prefix('/')?.split('/').collect()
        };
        match segments.as_slice() {
            [] => Some(Resource::Assets),
            ["multipart-uploads"] => Some(Resource::Uploads),
            ["multipart-uploads", id] => valid_id(id).map(Resource::Upload),
            ["multipart-uploads", id, "presigned-urls"] => valid_id(id).map(Resource::UploadUrls),
            [id] => valid_id(id).map(Resource::Asset),
            _ => None,
        }
    }

    /// The methods this resource answers (besides `OPTIONS` preflights), for `Allow` and for
    /// `Access-Control-Allow-Methods`.
    pub fn methods(&self) -> &'static [&'static str] {
        match self {
            Resource::Healthz => &["GET"],
            Resource::DevGrant => &["POST"],
            Resource::Uploads => &["GET", "POST"],
            Resource::Upload(_) => &["GET", "POST"],
            Resource::UploadUrls(_) => &["POST"],
            Resource::Assets => &["GET", "POST"],
            Resource::Asset(_) => &["GET", "DELETE"],
        }
    }

    /// The route name used in log lines (no identifiers: they are not secrets, but a fixed set
    /// of names keeps logs easy to aggregate).
    pub fn name(&self, method: &str) -> &'static str {
        match (self, method) {
            (Resource::Healthz, _) => "healthz",
            (Resource::DevGrant, _) => "dev_grant",
            (Resource::Uploads, "POST") => "create_upload",
            (Resource::Uploads, _) => "list_uploads",
            (Resource::Upload(_), "POST") => "report_chunks",
            (Resource::Upload(_), _) => "upload_status",
            (Resource::UploadUrls(_), _) => "presigned_urls",
            (Resource::Assets, "POST") => "create_asset",
            (Resource::Assets, _) => "list_assets",
            (Resource::Asset(_), "DELETE") => "delete_asset",
            (Resource::Asset(_), _) => "get_asset",
        }
    }
}

fn valid_id(segment: &str) -> Option<String> {
    let ok = !segment.is_empty()
        && segment.len() <= MAX_ID_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| segment.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_path_resolves() {
        let cases = [
            ("/healthz", Resource::Healthz),
            ("/dev/grant", Resource::DevGrant),
            ("/v1.3/assets", Resource::Assets),
            ("/v1.3/assets/multipart-uploads", Resource::Uploads),
            (
                "/v1.3/assets/multipart-uploads/507f1f77bcf86cd799439011",
                Resource::Upload("507f1f77bcf86cd799439011".into()),
            ),
            (
                "/v1.3/assets/multipart-uploads/abc/presigned-urls",
                Resource::UploadUrls("abc".into()),
            ),
            (
                "/v1.3/assets/6298d673f1090f1100476d4c",
                Resource::Asset("6298d673f1090f1100476d4c".into()),
            ),
        ];
        for (path, resource) in cases {
            assert_eq!(Resource::from_path(path), Some(resource), "{path}");
        }
    }

    #[test]
    fn unknown_or_hostile_paths_do_not_resolve() {
        for path in [
            "/",
            "/v1.2/assets",
            "/v1.3",
            "/v1.3/",
            "/v1.3/assets/",
            "/v1.3/assetsX",
            "/v1.3/assets/a/b",
            "/v1.3/assets/multipart-uploads/abc/other",
            "/v1.3/assets/multipart-uploads/abc/presigned-urls/x",
            "/v1.3/assets/%2e%2e",
            "/v1.3/assets/a%2Fb",
            "/v1.3/assets/..",
            "/healthz/",
            &format!("/v1.3/assets/{}", "a".repeat(MAX_ID_LEN + 1)),
        ] {
            assert_eq!(Resource::from_path(path), None, "{path}");
        }
    }

    #[test]
    fn methods_and_names_follow_the_route_table() {
        let upload = Resource::Upload("u".into());
        assert_eq!(upload.methods(), ["GET", "POST"]);
        assert_eq!(upload.name("POST"), "report_chunks");
        assert_eq!(upload.name("GET"), "upload_status");
        let asset = Resource::Asset("a".into());
        assert_eq!(asset.methods(), ["GET", "DELETE"]);
        assert_eq!(asset.name("DELETE"), "delete_asset");
        assert_eq!(Resource::UploadUrls("u".into()).methods(), ["POST"]);
        assert_eq!(Resource::Uploads.name("POST"), "create_upload");
    }
}
