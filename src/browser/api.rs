//! Typed calls to the Worker (or, with an API key in a server-side runtime, to TwelveLabs
//! itself): the five multipart endpoints and the asset routes, all under `/v1.3`.
//!
//! A call either returns the parsed 2xx body or an [`ApiFailure`] describing what happened as a
//! core [`HttpOutcome`]; the caller hands that to the engine (or to `core::retry::classify`),
//! which decides what it means.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, FormData};

use super::js_error::from_js;
use super::transport::{ApiBody, ApiResponse, Credential, SendFailure, Transport};
use super::wire_js::{self, Unreadable};
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::HttpOutcome;
use crate::core::wire::{
    Asset, CompletedChunk, CreateMultipartUploadRequest, CreateMultipartUploadResponse,
    ListAssetsResponse, PresignedUrlsResponse, ReportChunksResponse, UploadStatusResponse,
};

/// The API version prefix of every route.
const API_PREFIX: &str = "/v1.3";

/// How an API call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// The call was aborted through its signal.
    Aborted,
    /// A response (or a network failure) that the engine or `classify` must interpret.
    Outcome(HttpOutcome),
    /// Failed before any request could be made (e.g. `getToken` threw): not retryable here.
    Fatal(Error),
}

impl From<SendFailure> for ApiFailure {
    fn from(failure: SendFailure) -> Self {
        match failure {
            SendFailure::Aborted => ApiFailure::Aborted,
            SendFailure::Network(message) => ApiFailure::Outcome(HttpOutcome {
                message: Some(message),
                ..HttpOutcome::network_error()
            }),
        }
    }
}

/// Where the credentials for session creation and asset routes come from.
pub enum Authority {
    /// Grants from the application's `getToken` callback (browser use through the Worker).
    Grant(GrantSource),
    /// A TwelveLabs API key (server-side runtimes only: never ship a key to a browser).
    ApiKey(String),
}

/// Calls `getToken` lazily, caches the grant, and fetches a new one after a 401.
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

    /// The cached grant, or a fresh one from `getToken`.
    async fn current(&self) -> Result<String, Error> {
        if let Some(grant) = self.cached.borrow().clone() {
            return Ok(grant);
        }
        self.refresh().await
    }

    /// Calls `getToken` and caches its answer.
    async fn refresh(&self) -> Result<String, Error> {
        let returned = self
            .get_token
            .call0(&JsValue::UNDEFINED)
            .map_err(|e| token_error(&e))?;
        let grant = JsFuture::from(Promise::resolve(&returned))
            .await
            .map_err(|e| token_error(&e))?
            .as_string()
            .filter(|grant| !grant.trim().is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInput,
                    "getToken must return (or resolve to) a non-empty string grant",
                )
            })?;
        *self.cached.borrow_mut() = Some(grant.clone());
        Ok(grant)
    }

    /// Drops the cached grant if it is still `rejected`, so the next call asks `getToken` again.
    fn forget(&self, rejected: &str) {
        let mut cached = self.cached.borrow_mut();
        if cached.as_deref() == Some(rejected) {
            *cached = None;
        }
    }
}

fn token_error(thrown: &JsValue) -> Error {
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

    /// The transport, for chunk PUTs.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// `POST /assets/multipart-uploads`.
    pub async fn create_session(
        &self,
        request: &CreateMultipartUploadRequest,
        signal: Option<&AbortSignal>,
    ) -> Result<CreateMultipartUploadResponse, ApiFailure> {
        let body = wire_js::stringify(&wire_js::create_request(request));
        let response = self
            .with_authority(
                "POST",
                "/assets/multipart-uploads",
                ApiBody::Json(&body),
                signal,
            )
            .await?;
        parse(response, wire_js::create_response)
    }

    /// `POST /assets/multipart-uploads/{id}/presigned-urls`.
    pub async fn presigned_urls(
        &self,
        upload_id: &str,
        upload_token: Option<&str>,
        (start, count): (u32, u32),
        signal: Option<&AbortSignal>,
    ) -> Result<PresignedUrlsResponse, ApiFailure> {
        let path = format!(
            "/assets/multipart-uploads/{}/presigned-urls",
            encode(upload_id)
        );
        let body = wire_js::stringify(&wire_js::presigned_urls_request(start, count));
        let response = self
            .with_upload_token(upload_token, "POST", &path, ApiBody::Json(&body), signal)
            .await?;
        parse(response, wire_js::presigned_urls_response)
    }

    /// `POST /assets/multipart-uploads/{id}` (report completed chunks).
    pub async fn report(
        &self,
        upload_id: &str,
        upload_token: Option<&str>,
        chunks: &[CompletedChunk],
        signal: Option<&AbortSignal>,
    ) -> Result<ReportChunksResponse, ApiFailure> {
        let path = format!("/assets/multipart-uploads/{}", encode(upload_id));
        let body = wire_js::stringify(&wire_js::report_request(chunks));
        let response = self
            .with_upload_token(upload_token, "POST", &path, ApiBody::Json(&body), signal)
            .await?;
        parse(response, wire_js::report_response)
    }

    /// `GET /assets/multipart-uploads/{id}?page=&page_limit=`.
    pub async fn status(
        &self,
        upload_id: &str,
        upload_token: Option<&str>,
        page: u32,
        page_limit: u32,
        signal: Option<&AbortSignal>,
    ) -> Result<UploadStatusResponse, ApiFailure> {
        let path = format!(
            "/assets/multipart-uploads/{}?page={page}&page_limit={page_limit}",
            encode(upload_id)
        );
        let response = self
            .with_upload_token(upload_token, "GET", &path, ApiBody::Empty, signal)
            .await?;
        parse(response, wire_js::status_response)
    }

    /// `GET /assets/{id}`.
    pub async fn get_asset(
        &self,
        asset_id: &str,
        signal: Option<&AbortSignal>,
    ) -> Result<Asset, ApiFailure> {
        let path = format!("/assets/{}", encode(asset_id));
        let response = self
            .with_authority("GET", &path, ApiBody::Empty, signal)
            .await?;
        parse(response, wire_js::asset)
    }

    /// `GET /assets?{query}`; `query` is already encoded.
    pub async fn list_assets(
        &self,
        query: &str,
        signal: Option<&AbortSignal>,
    ) -> Result<ListAssetsResponse, ApiFailure> {
        let path = format!("/assets?{query}");
        let response = self
            .with_authority("GET", &path, ApiBody::Empty, signal)
            .await?;
        parse(response, wire_js::asset_page)
    }

    /// `DELETE /assets/{id}[?force=true]`.
    pub async fn delete_asset(
        &self,
        asset_id: &str,
        force: bool,
        signal: Option<&AbortSignal>,
    ) -> Result<(), ApiFailure> {
        let mut path = format!("/assets/{}", encode(asset_id));
        if force {
            path.push_str("?force=true");
        }
        let response = self
            .with_authority("DELETE", &path, ApiBody::Empty, signal)
            .await?;
        if response.is_success() {
            Ok(())
        } else {
            Err(ApiFailure::Outcome(outcome_of(&response)))
        }
    }

    /// `POST /assets` with a `multipart/form-data` body (direct and URL uploads).
    pub async fn create_asset(
        &self,
        form: &FormData,
        signal: Option<&AbortSignal>,
    ) -> Result<Asset, ApiFailure> {
        let response = self
            .with_authority("POST", "/assets", ApiBody::Form(form), signal)
            .await?;
        parse(response, wire_js::asset)
    }

    /// A call authorised by the grant (or API key). A 401 with a grant means it expired or was
    /// revoked: ask `getToken` for a new one and try once more.
    async fn with_authority(
        &self,
        method: &str,
        path: &str,
        body: ApiBody<'_>,
        signal: Option<&AbortSignal>,
    ) -> Result<ApiResponse, ApiFailure> {
        let url = self.url(path);
        match &*self.authority {
            Authority::ApiKey(key) => Ok(self
                .transport
                .api(method, &url, Some(Credential::ApiKey(key)), body, signal)
                .await?),
            Authority::Grant(source) => {
                let grant = source.current().await.map_err(ApiFailure::Fatal)?;
                let response = self
                    .transport
                    .api(method, &url, Some(Credential::Bearer(&grant)), body, signal)
                    .await?;
                if response.status != 401 {
                    return Ok(response);
                }
                source.forget(&grant);
                let fresh = source.refresh().await.map_err(ApiFailure::Fatal)?;
                Ok(self
                    .transport
                    .api(method, &url, Some(Credential::Bearer(&fresh)), body, signal)
                    .await?)
            }
        }
    }

    /// An upload-scoped call: authorised by the session's upload token (through the Worker),
    /// or by the API key when talking to TwelveLabs directly.
    async fn with_upload_token(
        &self,
        upload_token: Option<&str>,
        method: &str,
        path: &str,
        body: ApiBody<'_>,
        signal: Option<&AbortSignal>,
    ) -> Result<ApiResponse, ApiFailure> {
        let credential = match (upload_token, &*self.authority) {
            (Some(token), _) => Credential::Bearer(token),
            (None, Authority::ApiKey(key)) => Credential::ApiKey(key),
            (None, Authority::Grant(_)) => {
                return Err(ApiFailure::Fatal(Error::new(
                    ErrorCode::ServerInvalid,
                    "the Worker's create-session response carried no upload_token",
                )))
            }
        };
        let url = self.url(path);
        Ok(self
            .transport
            .api(method, &url, Some(credential), body, signal)
            .await?)
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
fn parse<T>(
    response: ApiResponse,
    read: fn(&JsValue) -> Result<T, Unreadable>,
) -> Result<T, ApiFailure> {
    if !response.is_success() {
        return Err(ApiFailure::Outcome(outcome_of(&response)));
    }
    read(&response.body).map_err(|Unreadable(field)| {
        ApiFailure::Outcome(HttpOutcome {
            message: Some(format!(
                "unreadable response body: `{field}` is missing or malformed"
            )),
            ..HttpOutcome::status(response.status)
        })
    })
}

/// Percent-encodes one path segment.
fn encode(segment: &str) -> String {
    String::from(js_sys::encode_uri_component(segment))
}
