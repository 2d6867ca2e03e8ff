//! Grants and upload tokens: claims, compact JWS encoding (HS256) and validation rules.
//!
//! Two kinds of bearer tokens reach the Worker, both as `Authorization: Bearer <token>`:
//!
//! * a **grant** ([`GrantClaims`]), minted by the application's own backend with the shared
//!   `GRANT_SECRET`: "this user may upload, within these limits, until `exp`";
//! * an **upload token** ([`UploadClaims`]), minted by the Worker itself with its `TOKEN_SECRET`
//!   when it creates a multipart session: "this user may drive exactly this upload".
//!
//! Both are compact JWS with `alg = HS256`. This module is IO-free: the HMAC-SHA-256 function is
//! injected as a [`Mac`] (the Worker passes one keyed with the right secret; tests pass a real
//! HMAC from a dev-dependency), and the current time is a parameter. Signatures are compared in
//! constant time. Everything a token can get wrong maps to a [`TokenError`] with a stable code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::core::error::{Error, ErrorCode};
use crate::core::wire::{limits, timestamp, MediaType};

/// An HMAC-SHA-256 keyed with one secret: message in, 32-byte tag out.
pub type Mac<'a> = &'a dyn Fn(&[u8]) -> [u8; 32];

/// How far (in seconds) the Worker's clock may disagree with the minting backend's clock.
/// Applied to `exp` and `nbf`; small on purpose, so an expired grant stops working promptly.
pub const CLOCK_SKEW_LEEWAY_SECS: i64 = 30;

/// Longest token accepted, in bytes: far above any legitimate token, and a cheap bound on work.
pub const MAX_TOKEN_LEN: usize = limits::TOKEN_MAX_LEN;

/// Longest `sub` accepted (it ends up in asset metadata and in upload tokens).
pub const MAX_SUBJECT_LEN: usize = 256;

/// The only signing algorithm accepted, and the one used for tokens minted here.
const ALGORITHM: &str = "HS256";

/// The `kind` claim of upload tokens; grants carry no `kind` (or `"grant"`).
const UPLOAD_KIND: &str = "upload";

/// The `kind` value a grant may carry explicitly.
const GRANT_KIND: &str = "grant";

/// The `scope` value that allows account-wide operations (listing everything, any asset).
pub const ADMIN_SCOPE: &str = "admin";

/// Why a token was refused. Every variant is a refusal *before* any upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url segments, bad JSON, missing/ill-typed claims, or too long.
    Malformed(String),
    /// The header names an algorithm other than HS256 (including `none`).
    UnsupportedAlgorithm(String),
    /// The signature does not match (tampered, or signed with another secret).
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// A grant where an upload token was expected, or the reverse.
    WrongKind {
        /// The kind the route needs.
        expected: &'static str,
    },
    /// `exp` lies further ahead than the deployment lets a grant live.
    LifetimeTooLong {
        /// The longest lifetime allowed, in seconds.
        max_secs: i64,
    },
}

impl TokenError {
    /// The stable string code of this refusal (part of the Worker's error `message` contract:
    /// the `code` field itself is always [`ErrorCode::Unauthorized`]).
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "token_malformed",
            TokenError::UnsupportedAlgorithm(_) => "token_algorithm_unsupported",
            TokenError::BadSignature => "token_signature_invalid",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::WrongKind { .. } => "token_wrong_kind",
            TokenError::LifetimeTooLong { .. } => "token_lifetime_too_long",
        }
    }
}

impl core::fmt::Display for TokenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "{}: {why}", self.reason()),
            TokenError::UnsupportedAlgorithm(alg) => {
                write!(
                    f,
                    "{}: alg {alg:?} is not accepted, only HS256",
                    self.reason()
                )
            }
            TokenError::BadSignature => {
                write!(f, "{}: the signature does not match", self.reason())
            }
            TokenError::Expired => write!(f, "{}: the token has expired", self.reason()),
            TokenError::NotYetValid => write!(f, "{}: the token is not valid yet", self.reason()),
            TokenError::WrongKind { expected } => {
                write!(f, "{}: this route needs {expected}", self.reason())
            }
            TokenError::LifetimeTooLong { max_secs } => write!(
                f,
                "{}: a grant may expire at most {max_secs} s after it is used",
                self.reason()
            ),
        }
    }
}

impl From<TokenError> for Error {
    fn from(err: TokenError) -> Self {
        Error::new(ErrorCode::Unauthorized, err.to_string())
    }
}

/// What the application's backend allows one user to do, until `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The user (subject). Becomes the owner tag of everything uploaded with this grant.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Not before, seconds since the Unix epoch (optional, standard JWT claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at, seconds since the Unix epoch (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The largest file this grant may upload, in bytes (tightens the Worker's own limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// The asset types this grant may upload (`video`, `audio`, `image`); tightens the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// `"admin"` allows account-wide listing and access to any asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `true` allows `method=url` uploads even though the grant narrows `max_bytes` or `types`
    /// (a URL's size and type are unknown until TwelveLabs fetches it, so such a grant may not
    /// upload by URL by default); `false` forbids URL uploads for this grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_uploads: Option<bool>,
    /// Absent or `"grant"`; anything else is not a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl GrantClaims {
    /// A grant for `sub` until `exp` with no optional claim (the tests' starting point).
    #[cfg(test)]
    pub(crate) fn new(sub: &str, exp: i64) -> GrantClaims {
        GrantClaims {
            sub: sub.to_owned(),
            exp,
            nbf: None,
            iat: None,
            max_bytes: None,
            types: None,
            scope: None,
            url_uploads: None,
            kind: None,
        }
    }

    /// Whether the grant carries the admin scope.
    pub fn is_admin(&self) -> bool {
        self.scope.as_deref() == Some(ADMIN_SCOPE)
    }
}

/// Binds one multipart upload session to one user. Minted by the Worker at create time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadClaims {
    /// Always `"upload"`: what distinguishes an upload token from a grant.
    pub kind: String,
    /// The user who created the session.
    pub sub: String,
    /// The multipart session this token drives.
    pub upload_id: String,
    /// The asset reserved by that session.
    pub asset_id: String,
    /// The declared file size, in bytes.
    pub total_size: u64,
    /// The session's chunk count, so chunk indices are checked without an upstream call.
    pub total_chunks: u32,
    /// Expiry (the session's own expiry), seconds since the Unix epoch.
    pub exp: i64,
}

impl UploadClaims {
    /// Claims for a freshly created session.
    pub fn new(
        sub: &str,
        upload_id: &str,
        asset_id: &str,
        total_size: u64,
        total_chunks: u32,
        exp: i64,
    ) -> Self {
        UploadClaims {
            kind: UPLOAD_KIND.to_owned(),
            sub: sub.to_owned(),
            upload_id: upload_id.to_owned(),
            asset_id: asset_id.to_owned(),
            total_size,
            total_chunks,
            exp,
        }
    }
}

/// When the upload token of a session expiring at `expires_at` (the session's RFC 3339 text)
/// expires, in seconds since the epoch: with its session, and never later than a session's
/// documented life from `now_secs`, which is also the life of a session whose expiry does not
/// parse.
pub fn upload_token_expiry(expires_at: &str, now_secs: i64) -> i64 {
    let session_limit = now_secs + limits::SESSION_TTL_SECS as i64;
    timestamp::parse(expires_at).map_or(session_limit, |ms| (ms / 1000).min(session_limit))
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    /// Whether the header has `crit`: extensions the signer says a verifier must understand
    /// (RFC 7515 §4.1.11). This verifier understands none, so a token with `crit` is refused,
    /// whatever its value.
    #[serde(
        default,
        skip_serializing,
        rename = "crit",
        deserialize_with = "present"
    )]
    has_crit: bool,
}

/// `true` for a field that is there, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(field: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(field).map(|_| true)
}

/// Signs `claims` as a compact HS256 JWS with the injected `mac`.
pub fn encode<C: Serialize>(claims: &C, mac: Mac<'_>) -> String {
    let header = Header {
        alg: ALGORITHM.to_owned(),
        typ: Some("JWT".to_owned()),
        has_crit: false,
    };
    // Serializing these plain structs cannot fail (string keys, no maps with non-string keys).
    let header_json = serde_json::to_vec(&header).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = base64url_encode(&header_json);
    token.push('.');
    token.push_str(&base64url_encode(&claims_json));
    let tag = mac(token.as_bytes());
    token.push('.');
    token.push_str(&base64url_encode(&tag));
    token
}

/// Verifies a grant: structure, algorithm, kind, signature (constant time, against each of
/// `keys`: the current secret, and the one being retired while a rotation lasts), then
/// `exp`/`nbf` with [`CLOCK_SKEW_LEEWAY_SECS`], and the claim rules (`sub` non-empty, limits
/// sane).
pub fn verify_grant(
    token: &str,
    keys: &[Mac<'_>],
    now_secs: i64,
) -> Result<GrantClaims, TokenError> {
    let parts = split(token)?;
    let claims: GrantClaims = parse_claims(&parts)?;
    if claims.kind.as_deref().is_some_and(|k| k != GRANT_KIND) {
        return Err(TokenError::WrongKind {
            expected: "a grant",
        });
    }
    check_signature(&parts, keys)?;
    check_subject(&claims.sub)?;
    check_times(claims.exp, claims.nbf, now_secs)?;
    if claims.max_bytes == Some(0) {
        return Err(TokenError::Malformed("max_bytes must be at least 1".into()));
    }
    // A misspelt type would refuse every upload with a message that hides the cause.
    if let Some(types) = &claims.types {
        if types.is_empty() || !types.iter().all(|t| MediaType::parse(t).is_some()) {
            return Err(TokenError::Malformed(
                "types must name one or more of \"video\", \"audio\" and \"image\"".into(),
            ));
        }
    }
    if let Some(scope) = &claims.scope {
        if scope != ADMIN_SCOPE {
            return Err(TokenError::Malformed(format!(
                "scope {scope:?} is unknown (only \"admin\")"
            )));
        }
    }
    Ok(claims)
}

/// Refuses a grant whose `exp` lies more than `max_ttl_secs` (plus the clock leeway) after
/// `now_secs`: a stolen grant is then only good for that long, whatever its minter wrote.
pub fn check_grant_lifetime(
    claims: &GrantClaims,
    now_secs: i64,
    max_ttl_secs: i64,
) -> Result<(), TokenError> {
    if claims.exp.saturating_sub(now_secs) > max_ttl_secs.saturating_add(CLOCK_SKEW_LEEWAY_SECS) {
        return Err(TokenError::LifetimeTooLong {
            max_secs: max_ttl_secs,
        });
    }
    Ok(())
}

/// Verifies an upload token minted by [`encode`] with [`UploadClaims`], against each of `keys`
/// (as [`verify_grant`]).
pub fn verify_upload_token(
    token: &str,
    keys: &[Mac<'_>],
    now_secs: i64,
) -> Result<UploadClaims, TokenError> {
    let parts = split(token)?;
    // Look at the kind before anything else so a grant sent here gets a precise refusal; a
    // grant's claims do not deserialize as UploadClaims (no `upload_id`, no `kind`).
    let loose: serde_json::Value = parse_claims(&parts)?;
    if loose.get("kind").and_then(|k| k.as_str()) != Some(UPLOAD_KIND) {
        return Err(TokenError::WrongKind {
            expected: "an upload token",
        });
    }
    check_signature(&parts, keys)?;
    let claims: UploadClaims = serde_json::from_value(loose)
        .map_err(|e| TokenError::Malformed(format!("upload token claims: {e}")))?;
    check_subject(&claims.sub)?;
    if claims.upload_id.is_empty() || claims.asset_id.is_empty() {
        return Err(TokenError::Malformed(
            "upload_id and asset_id must be non-empty".into(),
        ));
    }
    check_times(claims.exp, None, now_secs)?;
    Ok(claims)
}

/// The three decoded segments of a compact JWS, plus the signed input.
struct Parts<'a> {
    signing_input: &'a str,
    header: Vec<u8>,
    claims: Vec<u8>,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed(format!(
            "longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    let mut segments = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenError::Malformed(
            "expected three dot-separated segments".into(),
        ));
    };
    let decode = |segment: &str, what: &str| {
        base64url_decode(segment)
            .ok_or_else(|| TokenError::Malformed(format!("{what} is not unpadded base64url")))
    };
    let parts = Parts {
        signing_input: &token[..h.len() + 1 + c.len()],
        header: decode(h, "header")?,
        claims: decode(c, "claims")?,
        signature: decode(s, "signature")?,
    };
    let header: Header = serde_json::from_slice(&parts.header)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    if header.alg != ALGORITHM {
        return Err(TokenError::UnsupportedAlgorithm(header.alg));
    }
    if header.has_crit {
        return Err(TokenError::Malformed(
            "header: `crit` names extensions this verifier does not understand".into(),
        ));
    }
    Ok(parts)
}

fn parse_claims<C: DeserializeOwned>(parts: &Parts<'_>) -> Result<C, TokenError> {
    serde_json::from_slice(&parts.claims).map_err(|e| TokenError::Malformed(format!("claims: {e}")))
}

/// The signature must be the MAC of one of `keys`. Every key is tried, so the time taken does
/// not tell which one matched; no key at all matches nothing.
fn check_signature(parts: &Parts<'_>, keys: &[Mac<'_>]) -> Result<(), TokenError> {
    let matched = keys.iter().fold(false, |found, mac| {
        constant_time_eq(&mac(parts.signing_input.as_bytes()), &parts.signature) | found
    });
    if matched {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}

fn check_subject(sub: &str) -> Result<(), TokenError> {
    if sub.is_empty() || sub.len() > MAX_SUBJECT_LEN || sub.chars().any(char::is_control) {
        return Err(TokenError::Malformed(format!(
            "sub must be 1..={MAX_SUBJECT_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

fn check_times(exp: i64, nbf: Option<i64>, now_secs: i64) -> Result<(), TokenError> {
    if now_secs > exp.saturating_add(CLOCK_SKEW_LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = nbf {
        if now_secs.saturating_add(CLOCK_SKEW_LEEWAY_SECS) < nbf {
            return Err(TokenError::NotYetValid);
        }
    }
    Ok(())
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ, so a forger cannot learn a valid signature byte by byte from response timings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early-exit comparison.
    core::hint::black_box(difference) == 0
}

/// Unpadded base64url (RFC 4648 §5), as JWS uses.
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict unpadded base64url decoding: no padding, no whitespace, no standard-alphabet `+`/`/`,
/// and unused trailing bits must be zero (one canonical spelling per byte string; the
/// `base64` crate's default).
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac as _};
    use sha2::Sha256;

    fn hmac_with(secret: &'static [u8]) -> impl Fn(&[u8]) -> [u8; 32] {
        move |message: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key length works");
            m.update(message);
            m.finalize().into_bytes().into()
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn an_upload_token_lives_as_long_as_its_session_and_never_past_a_sessions_life() {
        let day = limits::SESSION_TTL_SECS as i64;
        let at = |secs: i64| timestamp::format(secs * 1000);
        assert_eq!(upload_token_expiry(&at(NOW + 3_600), NOW), NOW + 3_600);
        assert_eq!(upload_token_expiry(&at(NOW + 2 * day), NOW), NOW + day);
        assert_eq!(upload_token_expiry("tomorrow", NOW), NOW + day);
    }

    fn grant(sub: &str, exp: i64) -> GrantClaims {
        GrantClaims::new(sub, exp)
    }

    #[test]
    fn grant_lifetimes_are_capped() {
        let ok = grant("u", NOW + 3600);
        assert!(check_grant_lifetime(&ok, NOW, 3600).is_ok());
        let long = grant("u", NOW + 3600 + CLOCK_SKEW_LEEWAY_SECS + 1);
        let refused = check_grant_lifetime(&long, NOW, 3600).unwrap_err();
        assert_eq!(refused.reason(), "token_lifetime_too_long");
        assert!(check_grant_lifetime(&grant("u", i64::MAX), NOW, 3600).is_err());
    }

    /// Builds a token from raw header/claims JSON, signed with `mac` (for hostile shapes).
    fn raw_token(header: &str, claims: &str, mac: Mac<'_>) -> String {
        let input = format!(
            "{}.{}",
            base64url_encode(header.as_bytes()),
            base64url_encode(claims.as_bytes())
        );
        let tag = mac(input.as_bytes());
        format!("{input}.{}", base64url_encode(&tag))
    }

    #[test]
    fn base64url_round_trips_every_length_and_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(plain.as_bytes()), encoded);
            assert_eq!(base64url_decode(encoded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(
                base64url_decode(&base64url_encode(&all[..len])).unwrap(),
                &all[..len]
            );
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn base64url_decoding_is_strict() {
        // "Zh" spells "f" with non-zero unused bits: a second, non-canonical spelling.
        for bad in ["Zg==", "Z", "Zm9v+", "Zm9/", "Zm 9v", "Zh", "Zm8="] {
            assert_eq!(base64url_decode(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn hs256_matches_the_rfc7515_appendix_a1_example() {
        // RFC 7515 A.1: the JWK "k" below, the exact header and payload bytes, the known signature.
        let key = base64url_decode(
            "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        )
        .unwrap();
        let key: &'static [u8] = Box::leak(key.into_boxed_slice());
        let mac = hmac_with(key);
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        assert_eq!(
            base64url_encode(&mac(input.as_bytes())),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn a_grant_round_trips_and_its_limits_survive() {
        let mac = hmac_with(b"grant-secret");
        let mut claims = grant("user-1", NOW + 600);
        claims.max_bytes = Some(1 << 30);
        claims.types = Some(vec!["video".into()]);
        claims.scope = Some("admin".into());
        let token = encode(&claims, &mac);
        let verified = verify_grant(&token, &[&mac], NOW).unwrap();
        assert_eq!(verified, claims);
        assert!(verified.is_admin());
    }

    #[test]
    fn a_grant_signed_with_another_secret_or_tampered_is_refused() {
        let mac = hmac_with(b"grant-secret");
        let other = hmac_with(b"other-secret");
        let token = encode(&grant("user-1", NOW + 600), &other);
        assert_eq!(
            verify_grant(&token, &[&mac], NOW),
            Err(TokenError::BadSignature)
        );

        let token = encode(&grant("user-1", NOW + 600), &mac);
        let forged_claims = base64url_encode(br#"{"sub":"admin-user","exp":1800000600}"#);
        let mut segments: Vec<&str> = token.split('.').collect();
        segments[1] = &forged_claims;
        assert_eq!(
            verify_grant(&segments.join("."), &[&mac], NOW),
            Err(TokenError::BadSignature)
        );
        let (signed, _) = token.rsplit_once('.').unwrap();
        for wrong_signature in [[0u8; 32].as_slice(), &[0u8; 31], &[]] {
            let forged = format!("{signed}.{}", base64url_encode(wrong_signature));
            assert_eq!(
                verify_grant(&forged, &[&mac], NOW),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn while_a_secret_is_rotated_either_key_verifies_and_no_other_does() {
        let current = hmac_with(b"grant-secret-current");
        let retiring = hmac_with(b"grant-secret-retiring");
        let stranger = hmac_with(b"grant-secret-stranger");
        let rotating: [Mac<'_>; 2] = [&current, &retiring];
        for signer in [&current, &retiring] {
            let token = encode(&grant("user-1", NOW + 600), signer);
            assert!(verify_grant(&token, &rotating, NOW).is_ok());
            assert!(verify_grant(&token, &[&retiring, &current], NOW).is_ok());
        }
        let token = encode(&grant("user-1", NOW + 600), &stranger);
        assert_eq!(
            verify_grant(&token, &rotating, NOW),
            Err(TokenError::BadSignature)
        );
        // Once the retired key is dropped, its tokens stop verifying.
        let old = encode(&grant("user-1", NOW + 600), &retiring);
        assert_eq!(
            verify_grant(&old, &[&current], NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify_grant(&old, &[], NOW), Err(TokenError::BadSignature));

        let upload = UploadClaims::new("user-1", "upload-1", "asset-1", 10, 1, NOW + 600);
        let minted_before = encode(&upload, &retiring);
        assert!(verify_upload_token(&minted_before, &rotating, NOW).is_ok());
        assert_eq!(
            verify_upload_token(&minted_before, &[&current], NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn expiry_and_not_before_use_the_explicit_leeway() {
        let mac = hmac_with(b"grant-secret");
        let at_edge = encode(&grant("u", NOW - CLOCK_SKEW_LEEWAY_SECS), &mac);
        assert!(verify_grant(&at_edge, &[&mac], NOW).is_ok());
        let past_edge = encode(&grant("u", NOW - CLOCK_SKEW_LEEWAY_SECS - 1), &mac);
        assert_eq!(
            verify_grant(&past_edge, &[&mac], NOW),
            Err(TokenError::Expired)
        );

        let mut early = grant("u", NOW + 600);
        early.nbf = Some(NOW + CLOCK_SKEW_LEEWAY_SECS + 1);
        assert_eq!(
            verify_grant(&encode(&early, &mac), &[&mac], NOW),
            Err(TokenError::NotYetValid)
        );
        early.nbf = Some(NOW + CLOCK_SKEW_LEEWAY_SECS);
        assert!(verify_grant(&encode(&early, &mac), &[&mac], NOW).is_ok());
    }

    #[test]
    fn a_header_naming_critical_extensions_is_refused_even_when_signed() {
        let mac = hmac_with(b"grant-secret");
        let claims = r#"{"sub":"u","exp":1800000600}"#;
        for header in [
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","crit":"b64","b64":false}"#,
            r#"{"typ":"JWT","crit":null,"alg":"HS256"}"#,
        ] {
            let token = raw_token(header, claims, &mac);
            assert!(
                matches!(verify_grant(&token, &[&mac], NOW), Err(TokenError::Malformed(m)) if m.contains("crit")),
                "{header}"
            );
        }
        let plain = raw_token(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, claims, &mac);
        assert!(verify_grant(&plain, &[&mac], NOW).is_ok());
    }

    #[test]
    fn algorithms_other_than_hs256_are_refused_even_when_signed() {
        let mac = hmac_with(b"grant-secret");
        let claims = r#"{"sub":"u","exp":1800000600}"#;
        for alg in ["none", "HS384", "RS256", "hs256"] {
            let token = raw_token(&format!(r#"{{"alg":"{alg}"}}"#), claims, &mac);
            assert_eq!(
                verify_grant(&token, &[&mac], NOW),
                Err(TokenError::UnsupportedAlgorithm(alg.into()))
            );
        }
        // The classic unsigned form `header.claims.` as well.
        let unsigned = format!(
            "{}.{}.",
            base64url_encode(br#"{"alg":"none"}"#),
            base64url_encode(claims.as_bytes())
        );
        assert_eq!(
            verify_grant(&unsigned, &[&mac], NOW),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_malformed_reason() {
        let mac = hmac_with(b"grant-secret");
        let header = r#"{"alg":"HS256"}"#;
        let cases = [
            "".to_owned(),
            "abc".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            "!!.??.**".to_owned(),
            "a".repeat(MAX_TOKEN_LEN + 1),
            raw_token(header, "not json", &mac),
            raw_token(header, r#"{"exp":1800000600}"#, &mac),
            raw_token(header, r#"{"sub":"u"}"#, &mac),
            raw_token(header, r#"{"sub":"u","exp":"tomorrow"}"#, &mac),
            raw_token(header, r#"{"sub":"","exp":1800000600}"#, &mac),
            raw_token(header, r#"{"sub":"a\nb","exp":1800000600}"#, &mac),
            raw_token(
                header,
                r#"{"sub":"u","exp":1800000600,"max_bytes":0}"#,
                &mac,
            ),
            raw_token(
                header,
                r#"{"sub":"u","exp":1800000600,"scope":"root"}"#,
                &mac,
            ),
            raw_token(
                header,
                r#"{"sub":"u","exp":1800000600,"max_bytes":-1}"#,
                &mac,
            ),
            raw_token(
                header,
                r#"{"sub":"u","exp":1800000600,"types":["Video"]}"#,
                &mac,
            ),
            raw_token(header, r#"{"sub":"u","exp":1800000600,"types":[]}"#, &mac),
        ];
        for token in cases {
            let err = verify_grant(&token, &[&mac], NOW).unwrap_err();
            assert_eq!(err.reason(), "token_malformed", "{token:?} gave {err:?}");
        }
    }

    #[test]
    fn upload_tokens_bind_the_session_and_refuse_grants() {
        let token_mac = hmac_with(b"token-secret");
        let grant_mac = hmac_with(b"grant-secret");
        let claims = UploadClaims::new("user-1", "up-1", "asset-1", 12_345, 3, NOW + 86_400);
        let token = encode(&claims, &token_mac);
        assert_eq!(
            verify_upload_token(&token, &[&token_mac], NOW).unwrap(),
            claims
        );

        let a_grant = encode(&grant("user-1", NOW + 600), &grant_mac);
        assert_eq!(
            verify_upload_token(&a_grant, &[&token_mac], NOW),
            Err(TokenError::WrongKind {
                expected: "an upload token"
            })
        );
        // The reverse: an upload token presented as a grant.
        assert_eq!(
            verify_grant(&token, &[&grant_mac], NOW),
            Err(TokenError::WrongKind {
                expected: "a grant"
            })
        );
        // An upload token forged with the grant secret is not one of ours.
        let forged = encode(&claims, &grant_mac);
        assert_eq!(
            verify_upload_token(&forged, &[&token_mac], NOW),
            Err(TokenError::BadSignature)
        );
        let expired = encode(
            &UploadClaims::new("user-1", "up-1", "asset-1", 1, 1, NOW - 3_600),
            &token_mac,
        );
        assert_eq!(
            verify_upload_token(&expired, &[&token_mac], NOW),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn token_errors_become_unauthorized_errors_with_the_reason_in_the_message() {
        let err: Error = TokenError::Expired.into();
        assert_eq!(err.code, ErrorCode::Unauthorized);
        assert!(err.message.starts_with("token_expired"));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
