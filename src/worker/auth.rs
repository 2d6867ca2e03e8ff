//! Bearer tokens: extraction, and verification with the right secret. Runs before any upstream
//! call; every refusal is a `401 unauthorized` (or `403 forbidden` for a valid token used on
//! something it does not cover).

use std::cell::RefCell;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::core::error::ErrorCode;
use crate::core::token::{self, GrantClaims, Mac, UploadClaims};
use crate::worker::config::{Secret, SigningKeys};
use crate::worker::reply::ApiError;

/// HMAC-SHA-256 keyed with `secret`, in the shape the core's token functions take.
pub fn hmac_sha256(secret: &Secret) -> impl Fn(&[u8]) -> [u8; 32] + '_ {
    move |message: &[u8]| {
        let mut mac = keyed(secret.expose());
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// Calls `verify` with the MACs of `keys`: the current secret's, then the retiring one's.
pub fn with_macs<R>(keys: &SigningKeys, verify: impl FnOnce(&[Mac<'_>]) -> R) -> R {
    let current = hmac_sha256(&keys.current);
    match &keys.previous {
        None => verify(&[&current]),
        Some(previous) => verify(&[&current, &hmac_sha256(previous)]),
    }
}

/// How many keyed states [`keyed`] keeps (the Worker has three secrets that sign: grants,
/// upload tokens, webhooks; each may have a previous one while it is rotated).
const KEYED_CACHE_LEN: usize = 6;

thread_local! {
    /// HMAC states already keyed, per key. Keying hashes the padded key twice, as much work as
    /// a token's own MAC; the secrets are fixed for the isolate's life (see `CONFIG`), so each
    /// is keyed once and the state copied per token.
    static KEYED: RefCell<Vec<(String, Hmac<Sha256>)>> = const { RefCell::new(Vec::new()) };
}

/// A fresh HMAC-SHA-256 state keyed with `key` (from the cache when it holds one).
fn keyed(key: &str) -> Hmac<Sha256> {
    KEYED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, mac)) = cache.iter().find(|(k, _)| k == key) {
            return mac.clone();
        }
        // HMAC accepts keys of any length, so this cannot fail.
        let mac =
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
        if cache.len() < KEYED_CACHE_LEN {
            cache.push((key.to_owned(), mac.clone()));
        }
        mac
    })
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(authorization: Option<&str>) -> Result<&str, ApiError> {
    let value = authorization.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "token_missing: send `Authorization: Bearer <token>`.",
        )
    })?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "token_malformed: the Authorization header must be `Bearer <token>`.",
        )
    })?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "token_malformed: the Authorization header must be `Bearer <token>`.",
        ));
    }
    Ok(token)
}

/// The refusal when the signing secret `name` is not configured.
pub fn secret_missing(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("The Worker is not configured: the {name} secret is missing."),
    )
}

/// Verifies a grant with `GRANT_SECRET` (or `GRANT_SECRET_PREVIOUS`), and that it claims no
/// longer a life than `max_ttl_secs` (`MAX_GRANT_TTL_S`).
pub fn grant(
    keys: Option<&SigningKeys>,
    token: &str,
    now_secs: i64,
    max_ttl_secs: i64,
) -> Result<GrantClaims, ApiError> {
    let keys = keys.ok_or_else(|| secret_missing("GRANT_SECRET"))?;
    let refused = |e| ApiError::from(crate::core::error::Error::from(e));
    let claims =
        with_macs(keys, |macs| token::verify_grant(token, macs, now_secs)).map_err(refused)?;
    token::check_grant_lifetime(&claims, now_secs, max_ttl_secs).map_err(refused)?;
    Ok(claims)
}

/// Verifies an upload token with `TOKEN_SECRET` (or `TOKEN_SECRET_PREVIOUS`: a token minted
/// before a rotation lives as long as its session) and checks it is for `upload_id`.
pub fn upload_token(
    keys: Option<&SigningKeys>,
    token: &str,
    now_secs: i64,
    upload_id: &str,
) -> Result<UploadClaims, ApiError> {
    let keys = keys.ok_or_else(|| secret_missing("TOKEN_SECRET"))?;
    let claims = with_macs(keys, |macs| {
        token::verify_upload_token(token, macs, now_secs)
    })
    .map_err(|e| ApiError::from(crate::core::error::Error::from(e)))?;
    if claims.upload_id != upload_id {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This upload token is for another upload.",
        ));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        assert_eq!(bearer(Some("Bearer abc.def.ghi")).unwrap(), "abc.def.ghi");
        assert_eq!(bearer(Some("bearer  abc ")).unwrap(), "abc");
        for bad in [
            None,
            Some(""),
            Some("Basic abc"),
            Some("Bearer"),
            Some("Bearer "),
        ] {
            let e = bearer(bad).unwrap_err();
            assert_eq!(e.status(), 401, "{bad:?}");
        }
    }

    #[test]
    fn cached_keyed_states_give_the_same_macs_as_fresh_ones() {
        for key in ["k1", "k2", "k3", "k4", "k5", "k6", "k1", "k6"] {
            let key = format!("{key}-a-secret-of-at-least-32-bytes");
            let secret = crate::worker::config::Config::from_lookup(|n| {
                (n == "GRANT_SECRET").then(|| key.clone())
            })
            .unwrap()
            .grant_keys
            .unwrap()
            .current;
            for message in [&b""[..], b"header.payload", &[7u8; 200]] {
                let mut fresh = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
                fresh.update(message);
                let expected: [u8; 32] = fresh.finalize().into_bytes().into();
                assert_eq!(hmac_sha256(&secret)(message), expected, "{key}");
            }
        }
    }

    #[test]
    fn tokens_for_another_upload_are_forbidden() {
        let secret = crate::worker::config::Config::from_lookup(|n| {
            (n == "TOKEN_SECRET").then(|| "s3cret-s3cret-s3cret-s3cret-s3cret".to_owned())
        })
        .unwrap()
        .token_keys
        .unwrap();
        let claims = UploadClaims::new("u", "upload-a", "asset-a", 10, 1, 2_000_000_000);
        let minted = token::encode(&claims, &hmac_sha256(&secret.current));
        assert!(upload_token(Some(&secret), &minted, 1_000, "upload-a").is_ok());
        let e = upload_token(Some(&secret), &minted, 1_000, "upload-b").unwrap_err();
        assert_eq!((e.status(), e.error.code), (403, ErrorCode::Forbidden));
        let e = upload_token(None, &minted, 1_000, "upload-a").unwrap_err();
        assert_eq!(e.status(), 500);
    }
}
