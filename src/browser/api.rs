//! Calls to the Worker (or, with an API key in a server-side runtime, to TwelveLabs itself): the
//! five multipart endpoints and the asset routes, all under `/v1.3`.
//!
//! Calls are described as data ([`EngineCall`], [`AssetCall`]) and prepared (URL and
//! `RequestInit`) by one function each, not one per endpoint; the executor
//! (`uploader::executor`, `uploader::one_off`) starts them. A failure is an [`ApiFailure`]
//! describing what happened as a core [`HttpOutcome`]; the caller reads a 2xx body with
//! [`parse`] and the matching `wire_js` reader, and hands failures to the engine (or to
//! `core::retry::OneOffRetry`), which decides what they mean.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use web_sys::{AbortSignal, FormData, RequestInit};

use super::js_error::{from_js, is_type_error};
use super::transport::{api_init, ApiBody, ApiResponse, Credential, SendFailure, Transport};
use super::wire_js::{self, Unreadable};
use crate::core::engine::NO_UPLOAD_TOKEN;
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::HttpOutcome;
use crate::core::wire::paths::{self, API_PREFIX};
use crate::core::wire::{
    encode_query, is_bearer_token, CompletedChunk, CreateMultipartUploadRequest, DeleteAssetQuery,
    PageQuery,
};

/// How an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// The call was aborted through its signal.
    Aborted,
    /// A response (or a network failure) that the engine or `OneOffRetry` must interpret.
    Outcome(HttpOutcome),
    /// Failed before any request could be made (e.g. `getToken` threw): not retryable here.
    Fatal(Error),
}

impl From<SendFailure> for ApiFailure {
    fn from(failure: SendFailure) -> Self {
        match failure {
            SendFailure::Aborted => ApiFailure::Aborted,
            SendFailure::Network => ApiFailure::Outcome(HttpOutcome::network_error()),
            SendFailure::Misbehaved(what) => {
                ApiFailure::Outcome(HttpOutcome::fetch_misbehaved(what))
            }
        }
    }
}

/// Which credential authorises a call.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// The grant from `getToken` (or the API key): session creation and asset routes.
    Authority,
    /// The session's upload token, when the Worker issued one (else the API key).
    Upload(Option<&'a str>),
}

/// The multipart session an upload-scoped call is about.
#[derive(Clone)]
pub struct SessionRef {
    /// The multipart upload id.
    pub upload_id: String,
    /// The Worker's upload token for it (`None` when talking to TwelveLabs with an API key).
    pub upload_token: Option<String>,
}

/// A request the engine asks for (see [`Api::engine_call`]).
pub enum EngineCall {
    /// `POST /assets/multipart-uploads/{id}/presigned-urls` for chunks `start..start + count`.
    PresignedUrls {
        /// The session.
        session: SessionRef,
        /// The first chunk index.
        start: u32,
        /// How many URLs.
        count: u32,
    },
    /// `POST /assets/multipart-uploads/{id}`: report completed chunks.
    Report {
        /// The session.
        session: SessionRef,
        /// The chunks to report.
        chunks: Vec<CompletedChunk>,
    },
    /// `GET /assets/multipart-uploads/{id}?page=&page_limit=`.
    Status {
        /// The session.
        session: SessionRef,
        /// The page to read.
        page: u32,
        /// Chunks per page.
        page_limit: u32,
    },
    /// `GET /assets/{id}`.
    Asset {
        /// The asset.
        asset_id: String,
    },
    /// `POST /assets/multipart-uploads`: create the session (read with
    /// `wire_js::create_response`).
    CreateSession {
        /// What to create.
        request: CreateMultipartUploadRequest,
    },
    /// `POST /assets` with a `method=direct` form that carries the file (read with
    /// `wire_js::asset`).
    DirectUpload {
        /// The form.
        form: FormData,
    },
}

/// A one-off call authorised by the grant (or API key) (see [`Api::asset_call`]).
#[derive(Clone, Copy)]
pub enum AssetCall<'a> {
    /// `POST /assets` with a `multipart/form-data` body (direct and URL uploads): read with
    /// `wire_js::asset`.
    CreateAsset(&'a FormData),
    /// `GET /assets/{id}`: read with `wire_js::asset`.
    Get(&'a str),
    /// `GET /assets?{query}` (`query` already encoded): read with `wire_js::asset_page`.
    List(&'a str),
    /// `DELETE /assets/{id}[?force=true]`: no body to read.
    Delete {
        /// The asset.
        asset_id: &'a str,
        /// Delete even when indexed assets use it.
        force: bool,
    },
}

/// Where the credentials for session creation and asset routes come from.
pub enum Authority {
    /// Grants from the application's `getToken` callback (browser use through the Worker).
    Grant(GrantSource),
    /// A TwelveLabs API key (server-side runtimes only: never ship a key to a browser).
    ApiKey(String),
}

/// Calls `getToken` ([`GrantSource::ask`]) when the core decides, and caches the grant it gives
/// ([`GrantSource::accept`]).
pub struct GrantSource {
    get_token: Function,
    cached: RefCell<Option<String>>,
}

impl GrantSource {
    /// Wraps the application's `getToken(): string | Promise<string>` callback.
    pub fn new(get_token: Function) -> Self {
        GrantSource {
            get_token,
            cached: RefCell::new(None),
        }
    }

    /// Whether `getToken` gave a grant already.
    pub fn has_grant(&self) -> bool {
        self.cached.borrow().is_some()
    }

    /// The grant `getToken` last gave, if any.
    fn cached(&self) -> Option<String> {
        self.cached.borrow().clone()
    }

    /// Calls `getToken`; its answer (or what it threw) arrives through the promise, for
    /// [`GrantSource::accept`] (or [`token_error`]).
    pub fn ask(&self) -> Promise {
        match self.get_token.call0(&JsValue::UNDEFINED) {
            Ok(returned) => Promise::resolve(&returned),
            Err(thrown) => Promise::reject(&thrown),
        }
    }

    /// Drops the cached grant (the Worker refused it): the next call asks `getToken` first.
    pub fn forget(&self) {
        *self.cached.borrow_mut() = None;
    }

    /// Caches the grant `getToken` resolved to, if it is one (surrounding whitespace, as a
    /// response body's final newline, is not part of it).
    pub fn accept(&self, returned: &JsValue) -> Result<(), Error> {
        let grant = returned
            .as_string()
            // `trim` in JS also drops a byte order mark, which is not Unicode white space.
            .map(|grant| grant.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').to_owned())
            .filter(|grant| is_bearer_token(grant))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInput,
                    "getToken must return (or resolve to) a grant: a non-empty string of letters, digits and -._~+/ (it is sent as `Authorization: Bearer <grant>`)",
                )
            })?;
        *self.cached.borrow_mut() = Some(grant);
        Ok(())
    }
}

fn no_grant() -> Error {
    Error::new(
        ErrorCode::Unauthorized,
        "no grant yet: getToken has not answered",
    )
}

/// What a `getToken` that threw (or rejected) fails with. A `TypeError` is what `fetch` throws
/// when the network fails, in every engine and in Node, each in words of its own: it is
/// described as a network failure, with one stable message (the core retries it, see
/// `OneOffRetry::after_token_failure`). Anything else is the application's refusal.
pub fn token_error(thrown: &JsValue) -> Error {
    if is_type_error(thrown) {
        return Error::new(
            ErrorCode::Network,
            "getToken failed: no response (network error)",
        );
    }
    let cause = from_js(thrown, ErrorCode::Unauthorized);
    Error::new(cause.code, format!("getToken failed: {}", cause.message))
}

/// The API client shared by every upload of an `Uploader`.
#[derive(Clone)]
pub struct Api {
    transport: Transport,
    base_url: String,
    authority: Rc<Authority>,
}

impl Api {
    /// A client for `endpoint` (the Worker's base URL, without `/v1.3`).
    pub fn new(transport: Transport, endpoint: &str, authority: Authority) -> Api {
        Api {
            transport,
            base_url: endpoint.trim_end_matches('/').to_owned(),
            authority: Rc::new(authority),
        }
    }

    /// Whether calls are authorised by a grant that [`GrantSource::ask`] can renew (from
    /// `getToken`), rather than an API key.
    pub fn renewable_grant(&self) -> bool {
        matches!(*self.authority, Authority::Grant(_))
    }

    /// The grant source, when calls are authorised by `getToken`'s grants.
    pub fn grant_source(&self) -> Option<&GrantSource> {
        match &*self.authority {
            Authority::Grant(source) => Some(source),
            Authority::ApiKey(_) => None,
        }
    }

    /// The transport, for chunk PUTs.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The URL and `RequestInit` of a one-off call, authorised by the cached grant (or the API
    /// key).
    pub fn asset_request(
        &self,
        call: &AssetCall<'_>,
        signal: Option<&AbortSignal>,
    ) -> Result<(String, RequestInit), ApiFailure> {
        let (method, path, body) = match *call {
            AssetCall::CreateAsset(form) => ("POST", paths::ASSETS.to_owned(), ApiBody::Form(form)),
            AssetCall::Get(asset_id) => ("GET", paths::asset(&encode(asset_id)), ApiBody::Empty),
            AssetCall::List(query) => (
                "GET",
                paths::ASSETS.to_owned() + "?" + query,
                ApiBody::Empty,
            ),
            AssetCall::Delete { asset_id, force } => {
                let query = DeleteAssetQuery { force }.query_suffix();
                let path = paths::asset(&encode(asset_id)) + query;
                ("DELETE", path, ApiBody::Empty)
            }
        };
        let init = self.init(Scope::Authority, method, body, signal)?;
        Ok((self.url(&path), init))
    }

    /// The URL and `RequestInit` of a request the engine asks for. With [`Scope::Authority`] it
    /// is authorised by the cached grant (the engine asks for one, [`Action::NeedToken`], before
    /// the first such call), or the API key.
    ///
    /// [`Action::NeedToken`]: crate::core::engine::Action::NeedToken
    pub fn engine_request(
        &self,
        call: &EngineCall,
        signal: &AbortSignal,
    ) -> Result<(String, RequestInit), ApiFailure> {
        let body;
        let (scope, method, path, body) = match call {
            EngineCall::PresignedUrls {
                session,
                start,
                count,
            } => {
                body = wire_js::stringify(&wire_js::presigned_urls_request(*start, *count));
                (
                    Scope::Upload(session.upload_token.as_deref()),
                    "POST",
                    paths::presigned_urls(&encode(&session.upload_id)),
                    ApiBody::Json(&body),
                )
            }
            EngineCall::Report { session, chunks } => {
                body = wire_js::stringify(&wire_js::report_request(chunks));
                (
                    Scope::Upload(session.upload_token.as_deref()),
                    "POST",
                    paths::upload(&encode(&session.upload_id)),
                    ApiBody::Json(&body),
                )
            }
            EngineCall::Status {
                session,
                page,
                page_limit,
            } => {
                let query = PageQuery {
                    page: Some(*page),
                    page_limit: Some(*page_limit),
                };
                (
                    Scope::Upload(session.upload_token.as_deref()),
                    "GET",
                    paths::upload(&encode(&session.upload_id))
                        + "?"
                        + &encode_query(&query.to_query_pairs()),
                    ApiBody::Empty,
                )
            }
            EngineCall::Asset { asset_id } => (
                Scope::Authority,
                "GET",
                paths::asset(&encode(asset_id)),
                ApiBody::Empty,
            ),
            EngineCall::CreateSession { request } => {
                body = wire_js::stringify(&wire_js::create_request(request));
                (
                    Scope::Authority,
                    "POST",
                    paths::UPLOADS.to_owned(),
                    ApiBody::Json(&body),
                )
            }
            EngineCall::DirectUpload { form } => (
                Scope::Authority,
                "POST",
                paths::ASSETS.to_owned(),
                ApiBody::Form(form),
            ),
        };
        let init = self.init(scope, method, body, Some(signal))?;
        Ok((self.url(&path), init))
    }

    /// The `RequestInit` of one call. With [`Scope::Authority`] it is authorised by the cached
    /// grant or the API key; what a 401 means is decided in the core
    /// (`retry::wants_fresh_grant`). With [`Scope::Upload`] it is authorised by the session's
    /// upload token (through the Worker), or by the API key when talking to TwelveLabs directly.
    fn init(
        &self,
        scope: Scope<'_>,
        method: &str,
        body: ApiBody<'_>,
        signal: Option<&AbortSignal>,
    ) -> Result<RequestInit, ApiFailure> {
        let grant;
        let credential = match (scope, &*self.authority) {
            (Scope::Upload(Some(token)), _) => Credential::Bearer(token),
            (_, Authority::ApiKey(key)) => Credential::ApiKey(key),
            // The engine refuses such a session before any call (one rule, in the core).
            (Scope::Upload(None), Authority::Grant(_)) => {
                return Err(ApiFailure::Fatal(Error::new(
                    ErrorCode::ServerInvalid,
                    NO_UPLOAD_TOKEN,
                )))
            }
            (Scope::Authority, Authority::Grant(source)) => {
                grant = source
                    .cached()
                    .ok_or_else(|| ApiFailure::Fatal(no_grant()))?;
                Credential::Bearer(&grant)
            }
        };
        Ok(api_init(method, Some(credential), body, signal)?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base_url)
    }
}

/// Describes a non-2xx API response (or a 2xx whose body did not parse) for the engine.
pub fn outcome_of(response: &ApiResponse) -> HttpOutcome {
    let body = wire_js::error_body(&response.body);
    HttpOutcome {
        status: Some(response.status),
        etag: None,
        retry_after_ms: response.retry_after_ms,
        error_code: body.as_ref().map(|(code, _)| code.clone()),
        message: body.map(|(_, message)| message),
    }
}

/// The 2xx body read by `read`, or the outcome the engine judges (a 2xx whose body does not
/// read is retried).
pub fn parse<T>(
    response: ApiResponse,
    read: fn(&JsValue) -> Result<T, Unreadable>,
) -> Result<T, ApiFailure> {
    if !response.is_success() {
        return Err(ApiFailure::Outcome(outcome_of(&response)));
    }
    read(&response.body)
        .map_err(|unreadable| ApiFailure::Outcome(unreadable_outcome(response.status, unreadable)))
}

/// The outcome of a 2xx response whose body lacks `field` (the engine retries it).
pub fn unreadable_outcome(status: u16, Unreadable(field): Unreadable) -> HttpOutcome {
    HttpOutcome {
        message: Some(format!(
            "unreadable response body: `{field}` is missing or malformed"
        )),
        ..HttpOutcome::status(status)
    }
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    String::from(js_sys::encode_uri_component(segment))
}
