//! One function per route. Each authenticates and validates first, and only then calls
//! TwelveLabs; each returns a response or an [`ApiError`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use worker::{web_sys, Delay, Env, Method};

use crate::core::asset_list::{self, OwnerListPlan};
use crate::core::error::{Error, ErrorCode};
use crate::core::media;
use crate::core::source_url;
use crate::core::token::{self, GrantClaims, UploadClaims};
use crate::core::wire::{
    self, paths, CreateMultipartUploadRequest, DeleteAssetQuery, ListAssetsQuery,
    PresignedUrlsRequest, ReportChunksRequest, ReportChunksResponse,
};
use crate::worker::asset_index::AssetIndex;
use crate::worker::auth::{self, hmac_sha256};
use crate::worker::config::Config;
use crate::worker::form::{self, AssetForm, FileTail};
use crate::worker::incoming::Request;
use crate::worker::policy::{self, strict_json, MAX_JSON_BODY_BYTES};
use crate::worker::rate_limit;
use crate::worker::reply::{Answer, ApiError};
use crate::worker::upstream::{Body, Idempotency, Reply, Upstream};
use crate::worker::webhook::Completion;

/// What one request needs besides the request itself.
pub struct Ctx {
    /// The configuration (the isolate's, shared by its requests).
    pub config: Rc<Config>,
    /// The Worker's bindings (for the asset index).
    pub env: Env,
    /// The current time, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The current time, seconds since the Unix epoch.
    pub now_secs: i64,
    /// The last upstream status (for the log line).
    pub upstream_status: Cell<Option<u16>>,
    /// The code of the error the request was answered with, if any (for the log line).
    pub error_code: Cell<Option<ErrorCode>>,
    /// An upload this request saw produce its asset: the completion webhook to send once the
    /// client has its answer.
    pub completion: RefCell<Option<Completion>>,
}

impl Ctx {
    /// Notes `completion` for the webhook, when the deployment sends webhooks.
    fn completed(&self, completion: impl FnOnce() -> Option<Completion>) {
        if self.config.webhook.is_some() {
            *self.completion.borrow_mut() = completion();
        }
    }

    fn upstream(&self) -> Result<Upstream<'_>, ApiError> {
        let api_key = self.config.api_key.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::UpstreamUnavailable,
                "The Worker is not configured: the TWELVELABS_API_KEY secret is missing.",
            )
        })?;
        Ok(Upstream {
            base_url: &self.config.base_url,
            api_key,
            timeout_ms: self.config.upstream_timeout_ms,
            last_status: &self.upstream_status,
        })
    }

    fn grant(&self, req: &Request) -> Result<GrantClaims, ApiError> {
        let header = req.header("Authorization");
        let token = auth::bearer(header.as_deref())?;
        auth::grant(
            self.config.grant_keys.as_ref(),
            token,
            self.now_secs,
            self.config.max_grant_ttl_secs,
        )
    }

    fn upload_token(&self, req: &Request, upload_id: &str) -> Result<UploadClaims, ApiError> {
        let header = req.header("Authorization");
        let token = auth::bearer(header.as_deref())?;
        auth::upload_token(
            self.config.token_keys.as_ref(),
            token,
            self.now_secs,
            upload_id,
        )
    }
}

type Handled = Result<Answer, ApiError>;

fn internal_js() -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        "The Worker failed to set up the upstream body.",
    )
}

/// A JSON response with `status`.
pub fn json_response(status: u16, body: &Value) -> Handled {
    bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

fn bytes_response(status: u16, body: Vec<u8>) -> Handled {
    Ok(Answer::json(status, body))
}

/// Passes an upstream reply through (empty bodies stay empty, e.g. a 204 delete).
fn pass_through(reply: Reply) -> Handled {
    if reply.body.is_empty() || reply.status == 204 {
        return Ok(Answer::empty(reply.status));
    }
    bytes_response(reply.status, reply.body)
}

fn parse_upstream_json(reply: &Reply) -> Result<Value, ApiError> {
    serde_json::from_slice(&reply.body).map_err(|_| {
        ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs answered with a body that is not JSON.",
        )
    })
}

fn content_length(req: &Request) -> Option<u64> {
    req.header("Content-Length")
        .and_then(|v| v.trim().parse().ok())
}

/// Reads and drops a refused request's unread body before the answer goes out, as
/// [`discard_rest`] does for a body refused part-way: a client refused on its headers alone (a
/// token, a route, a declared size) is often still sending, and an answer sent under its writes
/// makes the connection close, so the client sees a reset (and would retry it) instead of the
/// refusal. A body declared larger than [`DISCARD_LIMIT_BYTES`] is cancelled unread instead: the
/// Worker never reads that much of a body it refused.
pub async fn drain_unread_body(req: &mut Request) {
    let Some(body) = req.inner().body().filter(|b| !b.locked()) else {
        return;
    };
    if content_length(req).is_some_and(|n| n > DISCARD_LIMIT_BYTES as u64) {
        // The promise only reports when cancellation is done; nothing needs to wait for it.
        let _ = body.cancel();
        return;
    }
    if let Ok(mut stream) = req.stream() {
        discard_rest(&mut stream, 0).await;
    }
}

/// Reads a JSON body of at most [`MAX_JSON_BODY_BYTES`], refusing other content types.
async fn read_json(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let content_type = req.header("Content-Type").unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedType,
            "The request body must be application/json.",
        ));
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("JSON request bodies are limited to {MAX_JSON_BODY_BYTES} bytes."),
        )
    };
    let declared = content_length(req);
    if declared.is_some_and(|n| n > MAX_JSON_BODY_BYTES as u64) {
        return Err(too_large());
    }
    if declared.is_some() {
        // HTTP framing holds the body to its declared length, so it can be read whole: one
        // `arrayBuffer()` instead of a reader, a promise per chunk and a lock release (that loop
        // showed up as a large share of the Worker's CPU in the benchmark's load profile).
        //
        // The runtime reads it, so a client stalling or trickling it costs the Worker no CPU;
        // a timer raced against it read 9 % more CPU per presigned-URL request in a paired run
        // (BENCHMARKS.md, the Worker's CPU, 2026-12-07), so it has none.
        let body = req.bytes().await.map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "The request body could not be read.",
            )
        })?;
        if body.len() > MAX_JSON_BODY_BYTES {
            return Err(too_large());
        }
        return Ok(body);
    }
    // No declared length (a chunked body): read it piece by piece, stopping at the limit and at
    // the deadline, as each piece read costs the Worker CPU.
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    let mut deadline = Delay::from(Duration::from_millis(SMALL_BODY_READ_MS));
    let mut pieces = BodyPieces::small();
    loop {
        let chunk = match select(stream.next(), &mut deadline).await {
            Either::Left((Some(chunk), _)) => chunk,
            Either::Left((None, _)) => break,
            Either::Right(_) => return Err(small_body_late("The JSON body")),
        };
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidInput,
                "The request body could not be read.",
            )
        })?;
        pieces.take(chunk.len(), "The JSON body")?;
        if body.len() + chunk.len() > MAX_JSON_BODY_BYTES {
            discard_rest(&mut stream, chunk.len()).await;
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How much of a refused chunked body the Worker still reads (and drops) before answering.
const DISCARD_LIMIT_BYTES: usize = 1 << 20;

/// How long the Worker waits for more of a refused body before it answers anyway.
const DISCARD_IDLE_MS: u64 = 250;

/// How long the Worker reads a refused body in all before it answers anyway: long enough for
/// [`DISCARD_LIMIT_BYTES`] over a 1 Mbit/s link, and short enough that a client trickling its
/// body (each piece resetting the idle wait) cannot hold its answer for long.
const DISCARD_TOTAL_MS: u64 = 10_000;

/// How many pieces of a refused body the Worker reads before it answers anyway. Each read costs
/// it about the same CPU whatever the piece's size, so this, not [`DISCARD_TOTAL_MS`], bounds
/// what a client sending a byte at a time costs it (review 12 measured 10 s of CPU for one such
/// request under the time bound alone). Clients send large pieces (a browser's are tens of KiB),
/// so [`DISCARD_LIMIT_BYTES`] still ends their drain first.
const DISCARD_MAX_PIECES: usize = 256;

/// How long a small body the Worker reads piece by piece may take to arrive: a direct upload's
/// form fields (what comes before the file), or a chunked JSON body. Both are sent at once by
/// every client, so one trickling them (each piece read costs CPU) or stalling cannot hold the
/// request open: `408 invalid_input`.
const SMALL_BODY_READ_MS: u64 = 10_000;

/// The refusal of a small body that did not arrive within [`SMALL_BODY_READ_MS`].
fn small_body_late(what: &str) -> ApiError {
    let late = format!(
        "{what} did not arrive within {} s.",
        SMALL_BODY_READ_MS / 1000
    );
    Error::invalid(late).with_status(408).into()
}

/// How many pieces a body the Worker reads piece by piece may arrive in: [`FREE_PIECES`], and
/// one more for each `bytes_per_piece` received. Each piece read costs the Worker about the same
/// CPU whatever its size (about 35 µs in workerd; a direct upload's file piece, also sent on
/// upstream, about 0.2 ms), so a time bound alone lets a client sending a byte at a time buy
/// seconds of CPU with a few kilobytes. A client past the bound is refused as one that is too
/// slow (`408`), which it also is.
struct BodyPieces {
    pieces: u64,
    bytes: u64,
    bytes_per_piece: u64,
}

/// The pieces any body may take, however small they are.
const FREE_PIECES: u64 = 64;

impl BodyPieces {
    /// For a small body the Worker reads whole (a chunked JSON body, a direct upload's form
    /// fields): one piece per 64 bytes, so a 64 KiB body takes at most about 1,100 reads, and a
    /// client writing its fields in small buffers (tens of bytes) still passes.
    fn small() -> BodyPieces {
        BodyPieces {
            pieces: 0,
            bytes: 0,
            bytes_per_piece: 64,
        }
    }

    /// For a direct upload's file: one piece per KiB. A network delivers a segment or more per
    /// read (a browser writes tens of KiB), so only a client splitting the file on purpose
    /// meets it, and the Worker's reads stay within about 2 per KiB of file.
    fn file() -> BodyPieces {
        BodyPieces {
            bytes_per_piece: 1024,
            ..BodyPieces::small()
        }
    }

    /// Counts a piece of `len` bytes of `what`, refusing the body once it has taken more pieces
    /// than its bytes allow.
    fn take(&mut self, len: usize, what: &str) -> Result<(), Error> {
        self.pieces += 1;
        self.bytes += len as u64;
        if self.pieces <= FREE_PIECES + self.bytes / self.bytes_per_piece {
            return Ok(());
        }
        let trickled = format!("{what} arrived in too many small pieces.");
        Err(Error::invalid(trickled).with_status(408))
    }
}

/// How many more bytes of a form's prefix are read before it is parsed again.
const PREFIX_PARSE_STEP: usize = 1024;

/// Reads and drops what is left of a refused body, up to [`DISCARD_LIMIT_BYTES`]: an answer sent
/// while the client is still sending makes the connection close under it, and the client (or a
/// proxy in front of workerd) then sees a reset instead of the refusal. Past the limit, after
/// [`DISCARD_MAX_PIECES`] reads, once the client has sent nothing for [`DISCARD_IDLE_MS`], or
/// after [`DISCARD_TOTAL_MS`], the answer goes out anyway: a client cannot make the Worker read an
/// unbounded body, spend CPU on it a byte at a time, nor hold its answer back by stalling.
async fn discard_rest(stream: &mut worker::ByteStream, already: usize) {
    let mut discarded = already;
    let mut total = Delay::from(Duration::from_millis(DISCARD_TOTAL_MS));
    for _ in 0..DISCARD_MAX_PIECES {
        if discarded > DISCARD_LIMIT_BYTES {
            return;
        }
        let idle = Delay::from(Duration::from_millis(DISCARD_IDLE_MS));
        match select(select(stream.next(), idle), &mut total).await {
            Either::Left((Either::Left((Some(Ok(chunk)), _)), _)) => discarded += chunk.len(),
            _ => return,
        }
    }
}

/// The query string's pairs (decoded), refusing keys outside `allowed`.
fn query(req: &Request, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = req.query_pairs();
    asset_list::known_keys(&pairs, allowed)?;
    Ok(pairs)
}

/// `page`/`page_limit` of a paged read (each at most once, within the API's limits), as the
/// upstream query rebuilt from the checked numbers.
fn paging_query(pairs: &[(String, String)]) -> Result<String, ApiError> {
    let (page, page_limit) = asset_list::paging(pairs)?;
    Ok(asset_list::paging_query(page, page_limit))
}

/// Records a new asset of `sub` in the asset index (when the deployment has one).
async fn index_new_asset(ctx: &Ctx, sub: &str, asset_id: &str) -> Result<(), ApiError> {
    match AssetIndex::open(&ctx.env) {
        Some(index) => index.add(sub, asset_id, ctx.now_ms).await,
        None => Ok(()),
    }
}

/// The `_id` of an upstream asset answer.
fn asset_id_of(reply: &Reply) -> Result<String, ApiError> {
    parse_upstream_json(reply)?
        .get("_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UpstreamUnavailable,
                "TwelveLabs' create-asset answer lacks `_id`.",
            )
        })
}

/// The completion of a direct or URL upload whose create answer is `reply`.
fn asset_created(sub: &str, reply: &Reply, size: Option<u64>) -> Option<Completion> {
    Some(Completion::Asset {
        sub: sub.to_owned(),
        asset: serde_json::from_slice(&reply.body).ok()?,
        size,
    })
}

// ─────────────────────────────────── routes ───────────────────────────────────

/// `GET /healthz`.
pub fn healthz(ctx: &Ctx) -> Handled {
    json_response(
        200,
        &json!({
            "status": "ok",
            "version": crate::VERSION,
            "upstream_configured": ctx.config.api_key.is_some(),
        }),
    )
}

/// `POST /dev/grant` (only when `DEV_GRANTS=true`): mints a grant for the local demo.
pub async fn dev_grant(ctx: &Ctx, req: &mut Request) -> Handled {
    #[derive(serde::Deserialize)]
    struct DevGrantRequest {
        sub: String,
        max_bytes: Option<u64>,
        types: Option<Vec<String>>,
        scope: Option<String>,
        url_uploads: Option<bool>,
        ttl_secs: Option<i64>,
    }
    let body = read_json(req).await?;
    let request: DevGrantRequest = strict_json(
        &body,
        &[
            "sub",
            "max_bytes",
            "types",
            "scope",
            "url_uploads",
            "ttl_secs",
        ],
        &["sub"],
    )?;
    let max_ttl = ctx.config.max_grant_ttl_secs;
    let ttl = request.ttl_secs.unwrap_or(max_ttl);
    if !(1..=max_ttl).contains(&ttl) {
        return Err(Error::invalid(format!(
            "The `ttl_secs` parameter must be between 1 and {max_ttl} (MAX_GRANT_TTL_S)."
        ))
        .into());
    }
    let keys = ctx
        .config
        .grant_keys
        .as_ref()
        .ok_or_else(|| auth::secret_missing("GRANT_SECRET"))?;
    let claims = GrantClaims {
        sub: request.sub,
        exp: ctx.now_secs + ttl,
        nbf: None,
        iat: Some(ctx.now_secs),
        max_bytes: request.max_bytes,
        types: request.types,
        scope: request.scope,
        url_uploads: request.url_uploads,
        kind: None,
    };
    let grant = token::encode(&claims, &hmac_sha256(&keys.current));
    // Round-trip through the verifier so the demo never receives a grant the Worker would refuse.
    auth::grant(
        Some(keys),
        &grant,
        ctx.now_secs,
        ctx.config.max_grant_ttl_secs,
    )?;
    json_response(200, &json!({ "grant": grant, "expires_at": claims.exp }))
}

/// `POST /v1.3/assets/multipart-uploads`: policy, owner tag, create upstream, add `upload_token`.
pub async fn create_upload(ctx: &Ctx, req: &mut Request) -> Handled {
    let grant = ctx.grant(req)?;
    let body = read_json(req).await?;
    let mut request: CreateMultipartUploadRequest = strict_json(
        &body,
        &[
            "filename",
            "type",
            "total_size",
            "enable_hls",
            "enable_thumbnail",
            "user_metadata",
        ],
        &["filename", "type", "total_size"],
    )?;
    wire::validate_create_multipart(&request)?;
    // Checked here rather than in `validate_create_multipart`, which the browser package runs
    // too: there the table of extensions would cost 1.3 KB gzipped for an answer the Worker
    // gives before any upstream call (BENCHMARKS.md, "Package").
    let policy = &ctx.config.policy;
    media::check_name(request.media_type, &request.filename, |m| {
        policy.allows_type(&grant, m)
    })?;
    policy.check_type(&grant, request.media_type)?;
    policy.check_size(&grant, request.total_size)?;
    request.user_metadata = Some(policy::with_owner(request.user_metadata, &grant.sub));
    rate_limit::check(&ctx.env, &grant.sub).await?;

    let upstream_body = serde_json::to_vec(&request).unwrap_or_default();
    let reply = ctx
        .upstream()?
        .call(
            Method::Post,
            paths::UPLOADS,
            Body::Json(upstream_body),
            Idempotency::NotIdempotent,
        )
        .await?;
    // The typed fields are read from the text; the client gets the text back as it came, with
    // every upstream field kept, plus the token (`wire::with_upload_token`).
    let session: CreatedSession = serde_json::from_slice(&reply.body).map_err(|_| {
        ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs' create-session answer is not JSON, or lacks upload_id, asset_id or \
                 chunk fields.",
        )
    })?;
    let exp = token::upload_token_expiry(&session.expires_at, ctx.now_secs);
    let claims = UploadClaims::new(
        &grant.sub,
        &session.upload_id,
        &session.asset_id,
        request.total_size,
        session.total_chunks,
        exp,
    );
    let keys = ctx
        .config
        .token_keys
        .as_ref()
        .ok_or_else(|| auth::secret_missing("TOKEN_SECRET"))?;
    let upload_token = token::encode(&claims, &hmac_sha256(&keys.current));
    let body = wire::with_upload_token(&reply.body, &upload_token).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UpstreamUnavailable,
            "TwelveLabs' create-session answer is not a JSON object.",
        )
    })?;
    index_new_asset(ctx, &grant.sub, &session.asset_id).await?;
    bytes_response(reply.status, body)
}

/// The fields of TwelveLabs' create-session answer ([`wire::CreateMultipartUploadResponse`])
/// that the Worker reads. The rest, the first batch of presigned URLs among them, is skipped
/// unread: the client gets it as TwelveLabs sent it, and checks it itself.
#[derive(serde::Deserialize)]
struct CreatedSession {
    upload_id: String,
    asset_id: String,
    /// Not used, but required: an answer without it is refused.
    #[serde(rename = "chunk_size")]
    _chunk_size: u64,
    total_chunks: u32,
    expires_at: String,
}

/// `POST /v1.3/assets/multipart-uploads/{id}/presigned-urls`.
pub async fn presigned_urls(ctx: &Ctx, req: &mut Request, upload_id: &str) -> Handled {
    let claims = ctx.upload_token(req, upload_id)?;
    let body = read_json(req).await?;
    let request: PresignedUrlsRequest =
        strict_json(&body, &["start", "count"], &["start", "count"])?;
    wire::validate_presigned_request(&request, Some(claims.total_chunks))?;
    let reply = ctx
        .upstream()?
        .call(
            Method::Post,
            &paths::presigned_urls(upload_id),
            Body::Json(serde_json::to_vec(&request).unwrap_or_default()),
            Idempotency::Idempotent,
        )
        .await?;
    pass_through(reply)
}

/// The keys of one `completed_chunks` item.
const COMPLETED_CHUNK_KEYS: &[&str] = &["chunk_index", "proof", "proof_type", "chunk_size"];

/// `POST /v1.3/assets/multipart-uploads/{id}` (report chunks).
pub async fn report_chunks(ctx: &Ctx, req: &mut Request, upload_id: &str) -> Handled {
    let claims = ctx.upload_token(req, upload_id)?;
    let body = read_json(req).await?;
    let request: ReportChunksRequest =
        strict_json(&body, &["completed_chunks"], &["completed_chunks"])?;
    // strict_json checks the top level; the items are checked here the same way.
    let raw: Value = serde_json::from_slice(&body).unwrap_or_default();
    for item in raw["completed_chunks"].as_array().into_iter().flatten() {
        let unknown = item.as_object().and_then(|o| {
            o.keys()
                .find(|k| !COMPLETED_CHUNK_KEYS.contains(&k.as_str()))
        });
        if let Some(key) = unknown {
            return Err(Error::invalid(format!("The `{key}` parameter is unknown.")).into());
        }
    }
    wire::validate_report(&request, Some(claims.total_chunks), Some(claims.total_size))?;
    let reply = ctx
        .upstream()?
        .call(
            Method::Post,
            &paths::upload(upload_id),
            Body::Json(serde_json::to_vec(&request).unwrap_or_default()),
            Idempotency::NotIdempotent,
        )
        .await?;
    // The engine's rule for a complete session (TWELVELABS_API.md §4.4); a client re-reporting
    // after a lost answer is told again, and the webhook is sent again.
    ctx.completed(|| {
        let answer: ReportChunksResponse = serde_json::from_slice(&reply.body).ok()?;
        if !answer.completes(claims.total_chunks) {
            return None;
        }
        Some(Completion::Session {
            sub: claims.sub.clone(),
            upload_id: upload_id.to_owned(),
            asset_id: claims.asset_id.clone(),
            size: claims.total_size,
        })
    });
    pass_through(reply)
}

/// `GET /v1.3/assets/multipart-uploads/{id}`.
pub async fn upload_status(ctx: &Ctx, req: &Request, upload_id: &str) -> Handled {
    ctx.upload_token(req, upload_id)?;
    let query = paging_query(&query(req, &["page", "page_limit"])?)?;
    let reply = ctx
        .upstream()?
        .call(
            Method::Get,
            &(paths::upload(upload_id) + &query),
            Body::Empty,
            Idempotency::Idempotent,
        )
        .await?;
    pass_through(reply)
}

fn require_admin(grant: &GrantClaims) -> Result<(), ApiError> {
    if grant.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "This needs a grant with the admin scope.",
        ))
    }
}

/// `GET /v1.3/assets/multipart-uploads` (admin).
pub async fn list_uploads(ctx: &Ctx, req: &Request) -> Handled {
    require_admin(&ctx.grant(req)?)?;
    let query = paging_query(&query(req, &["page", "page_limit"])?)?;
    let reply = ctx
        .upstream()?
        .call(
            Method::Get,
            &[paths::UPLOADS, &query].concat(),
            Body::Empty,
            Idempotency::Idempotent,
        )
        .await?;
    pass_through(reply)
}

/// Fetches an asset and checks the caller may see it (owner tag or admin). To a non-admin,
/// another user's asset is answered exactly as an asset that does not exist: one upstream call
/// and the same 404 either way, so that an id cannot be probed for existence or ownership.
async fn owned_asset(ctx: &Ctx, grant: &GrantClaims, asset_id: &str) -> Result<Reply, ApiError> {
    let not_yours = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("There is no asset `{asset_id}` among your assets."),
        )
    };
    let reply = ctx.upstream()?.get_asset(asset_id).await;
    if grant.is_admin() {
        return reply;
    }
    let reply = match reply {
        Err(error) if error.error.code == ErrorCode::NotFound => return Err(not_yours()),
        other => other?,
    };
    if !policy::is_owned_by(&parse_upstream_json(&reply)?, &grant.sub) {
        return Err(not_yours());
    }
    Ok(reply)
}

/// `GET /v1.3/assets/{id}`.
pub async fn get_asset(ctx: &Ctx, req: &Request, asset_id: &str) -> Handled {
    let grant = ctx.grant(req)?;
    query(req, &[])?;
    pass_through(owned_asset(ctx, &grant, asset_id).await?)
}

/// `DELETE /v1.3/assets/{id}`: ownership is checked with a GET before the DELETE.
pub async fn delete_asset(ctx: &Ctx, req: &Request, asset_id: &str) -> Handled {
    let grant = ctx.grant(req)?;
    let pairs = query(req, &["force"])?;
    let delete = DeleteAssetQuery::parse(asset_list::scalar(&pairs, "force")?)?;
    let owned = owned_asset(ctx, &grant, asset_id).await;
    if let Err(error) = &owned {
        // Gone upstream (deleted another way): the caller's own index key for this id, if there
        // is one, goes too, so it stops being counted in their lists. The same delete is made
        // for an id that was never theirs (a key that does not exist), so the answer and its
        // cost say nothing about other users.
        if error.error.code == ErrorCode::NotFound && !grant.is_admin() {
            if let Some(index) = AssetIndex::open(&ctx.env) {
                index.remove(&grant.sub, asset_id).await?;
            }
        }
    }
    let asset = parse_upstream_json(&owned?)?;
    let query = delete.query_suffix();
    let reply = ctx
        .upstream()?
        .call(
            Method::Delete,
            &(paths::asset(asset_id) + query),
            Body::Empty,
            Idempotency::NotIdempotent,
        )
        .await?;
    if let (Some(owner), Some(index)) = (policy::owner_of(&asset), AssetIndex::open(&ctx.env)) {
        index.remove(owner, asset_id).await?;
    }
    pass_through(reply)
}

/// `GET /v1.3/assets`: the whole account for admins; otherwise a page computed from the
/// caller's own assets alone (see [`crate::core::asset_list`]): zero or one upstream call.
pub async fn list_assets(ctx: &Ctx, req: &Request) -> Handled {
    let grant = ctx.grant(req)?;
    let list = ListAssetsQuery::parse(&query(req, ListAssetsQuery::KEYS)?)?;
    if grant.is_admin() {
        let reply = ctx
            .upstream()?
            .call(
                Method::Get,
                &[paths::ASSETS, &list.upstream_query()].concat(),
                Body::Empty,
                Idempotency::Idempotent,
            )
            .await?;
        return pass_through(reply);
    }
    let owned = AssetIndex::required(&ctx.env)?
        .owned(&grant.sub, ctx.config.max_listed_assets)
        .await?;
    let (query, page_info) = match list.plan_for_owner(&owned.newest_first()?) {
        OwnerListPlan::Answer(page_info) => {
            return json_response(200, &json!({ "data": [], "page_info": page_info }))
        }
        OwnerListPlan::Upstream { query, page_info } => (query, page_info),
    };
    let reply = ctx
        .upstream()?
        .call(
            Method::Get,
            &[paths::ASSETS, &query].concat(),
            Body::Empty,
            Idempotency::Idempotent,
        )
        .await?;
    // Every id asked for is the caller's; the owner tag is checked all the same.
    let body = policy::owner_list_page(&reply.body, &grant.sub, page_info.as_ref())?;
    bytes_response(reply.status, body)
}

/// `POST /v1.3/assets`: `method=url` is validated and forwarded whole; `method=direct` is
/// streamed to TwelveLabs with the size limit enforced on the way, never buffered.
pub async fn create_asset(ctx: &Ctx, req: &mut Request) -> Handled {
    let grant = ctx.grant(req)?;
    let content_type = req.header("Content-Type").unwrap_or_default();
    let boundary = form::boundary(&content_type)?;
    let declared_length = content_length(req);
    let max_limit = ctx.config.policy.byte_limit(&grant);
    if declared_length.is_some_and(|n| n > max_limit + form::MAX_PREFIX_BYTES as u64) {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The file exceeds the limit of {max_limit} bytes for this upload."),
        ));
    }

    let mut body = req
        .stream()
        .map_err(|_| Error::invalid("POST /assets needs a body."))?;
    let mut read = 0;
    let limits = FormLimits {
        declared_length,
        max_limit,
    };
    // A refused form, then the user's rate limit: only an upload that would go upstream counts.
    let checked = match check_form(ctx, &grant, &boundary, limits, &mut body, &mut read).await {
        Ok(checked) => rate_limit::check(&ctx.env, &grant.sub)
            .await
            .map(|()| checked),
        Err(refusal) => Err(refusal),
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(refusal) => {
            discard_rest(&mut body, read).await;
            return Err(refusal);
        }
    };
    let (new_prefix, prefix_len, upstream_content_type, ready, tail) = match checked {
        CheckedForm::Url { form, content_type } => {
            let reply = ctx
                .upstream()?
                .call(
                    Method::Post,
                    paths::ASSETS,
                    Body::Form {
                        bytes: form,
                        content_type,
                    },
                    Idempotency::NotIdempotent,
                )
                .await?;
            index_new_asset(ctx, &grant.sub, &asset_id_of(&reply)?).await?;
            ctx.completed(|| asset_created(&grant.sub, &reply, None));
            return pass_through(reply);
        }
        CheckedForm::Direct {
            new_prefix,
            prefix_len,
            content_type,
            ready,
            tail,
        } => (new_prefix, prefix_len, content_type, ready, tail),
    };

    // The stream records why it stopped, so the client gets 413/400 rather than a vague 502,
    // and aborts the upstream call itself: it ends instead of erroring, because an errored
    // request body is logged by workerd as an uncaught exception, which a client could then
    // cause at will.
    let outcome: Rc<StreamOutcome> = Rc::default();
    let abort = web_sys::AbortController::new().map_err(|_| internal_js())?;
    let upstream_stream = streamed_body(
        new_prefix.clone(),
        ready,
        body,
        tail,
        Rc::clone(&outcome),
        abort.clone(),
    )
    .map(|bytes| Ok::<JsValue, JsValue>(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    let readable = wasm_streams::ReadableStream::from_stream(upstream_stream).into_raw();
    let stream: JsValue = match declared_length {
        Some(total) => {
            // A declared length is kept upstream (no chunked encoding): the body goes through
            // a FixedLengthStream, piped here so that a pipe cut short by a refusal is a
            // handled rejection rather than an uncaught one.
            let length = total - prefix_len as u64 + new_prefix.len() as u64;
            let fixed =
                worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(length))
                    .map_err(|_| internal_js())?;
            let transform: &web_sys::TransformStream = fixed.unchecked_ref();
            let pipe = readable.pipe_to(&transform.writable());
            wasm_bindgen_futures::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(pipe).await;
            });
            transform.readable().into()
        }
        None => readable.into(),
    };
    let result = ctx
        .upstream()?
        .call(
            Method::Post,
            paths::ASSETS,
            Body::Stream {
                stream,
                content_type: upstream_content_type,
                abort,
            },
            Idempotency::NotIdempotent,
        )
        .await;
    if let Some(error) = outcome.refusal.borrow_mut().take() {
        return Err(error.into());
    }
    let reply = result?;
    index_new_asset(ctx, &grant.sub, &asset_id_of(&reply)?).await?;
    ctx.completed(|| asset_created(&grant.sub, &reply, outcome.file_size.get()));
    pass_through(reply)
}

/// A `POST /assets` form whose prefix passed every check, ready to go upstream.
enum CheckedForm {
    /// `method=url`: the whole form, rebuilt from the checked fields.
    Url { form: Vec<u8>, content_type: String },
    /// `method=direct`: the rebuilt prefix, how many bytes the client's prefix took, the file
    /// bytes already read that `tail` let through, and `tail` to check the rest as it streams
    /// (it holds back the last bytes read).
    Direct {
        new_prefix: Vec<u8>,
        prefix_len: usize,
        content_type: String,
        ready: Vec<u8>,
        tail: FileTail,
    },
}

/// The sizes a `POST /assets` form is checked against.
#[derive(Clone, Copy)]
struct FormLimits {
    /// The request's `Content-Length`, if it declared one.
    declared_length: Option<u64>,
    /// The grant's byte limit for any file.
    max_limit: u64,
}

/// Reads the form's prefix from `body` (counting what it read in `read`) and checks it against
/// the grant: the method, the URL or the file part's type, the fields, and the declared size.
async fn check_form(
    ctx: &Ctx,
    grant: &GrantClaims,
    boundary: &str,
    FormLimits {
        declared_length,
        max_limit,
    }: FormLimits,
    body: &mut worker::ByteStream,
    read: &mut usize,
) -> Result<CheckedForm, ApiError> {
    let mut buffered = Vec::new();
    // Each parse reads the whole buffer again, so a prefix trickled in tiny chunks is parsed
    // once per [`PREFIX_PARSE_STEP`] bytes (and at the body's end or the deadline), not once per
    // chunk: at most 64 parses of the [`form::MAX_PREFIX_BYTES`] a prefix may take.
    let mut parse_at = 0;
    let mut deadline = Delay::from(Duration::from_millis(SMALL_BODY_READ_MS));
    let mut pieces = BodyPieces::small();
    let prefix = loop {
        if buffered.len() >= parse_at {
            if let Some(prefix) = form::parse_prefix(&buffered, boundary)? {
                break prefix;
            }
            parse_at = buffered.len() + PREFIX_PARSE_STEP;
        }
        match select(body.next(), &mut deadline).await {
            Either::Left((Some(Ok(chunk)), _)) => {
                *read += chunk.len();
                pieces.take(chunk.len(), "The form's fields")?;
                buffered.extend_from_slice(&chunk);
            }
            Either::Left((Some(Err(_)), _)) => {
                return Err(Error::invalid("The request body could not be read.").into())
            }
            Either::Left((None, _)) => match form::parse_prefix(&buffered, boundary)? {
                Some(prefix) => break prefix,
                None => {
                    return Err(
                        Error::invalid("The multipart/form-data body is incomplete.").into(),
                    )
                }
            },
            // Fields that arrived in time and were not parsed yet (less than a step) pass.
            Either::Right(_) => {
                if let Some(prefix) = form::parse_prefix(&buffered, boundary)? {
                    break prefix;
                }
                return Err(small_body_late("The form's fields"));
            }
        }
    };
    let mut asset_form = AssetForm::from_prefix(&prefix)?;
    let mut direct_media = None;
    if asset_form.fields.method == wire::CreateAssetMethod::Url {
        ctx.config.policy.check_url_upload(grant)?;
        let source =
            source_url::check_source_url(asset_form.fields.url.as_deref().unwrap_or_default())?;
        // Upstream gets the URL as the parser serialised it: the host it reads is the one checked.
        asset_form.fields.url = Some(source.into());
    } else {
        let policy = &ctx.config.policy;
        let checked = asset_form.direct_media(|m| policy.allows_type(grant, m))?;
        policy.check_type(grant, checked.media)?;
        // Upstream gets the parsed essence: the type it reads is the one checked.
        if let Some(file) = asset_form.file.as_mut() {
            file.content_type = checked.essence;
        }
        direct_media = Some(checked.media);
    }
    let metadata = policy::with_owner(asset_form.fields.user_metadata.take(), &grant.sub);
    let fields = asset_form.upstream_fields(metadata);
    let new_prefix = form::build_prefix(boundary, &fields, asset_form.file.as_ref())?;
    let content_type = form::content_type(boundary);
    let Some(media) = direct_media else {
        return Ok(CheckedForm::Url {
            form: new_prefix,
            content_type,
        });
    };
    let limit = max_limit.min(media.direct_max_bytes());
    let mut tail = FileTail::new(boundary, limit);
    let ready = tail.push(&buffered[prefix.consumed..])?;
    if let Some(total) = declared_length {
        // Content + "\r\n--boundary--\r\n" (every browser ends the body with the line break):
        // refuse a declared overshoot before upstream. A body without the last line break is
        // two bytes under this estimate, and `tail` refuses its overshoot as it streams.
        let closing = boundary.len() as u64 + 8;
        let content = total.saturating_sub(prefix.consumed as u64 + closing);
        if content > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The file exceeds the limit of {limit} bytes for this upload."),
            ));
        }
    }
    Ok(CheckedForm::Direct {
        new_prefix,
        prefix_len: prefix.consumed,
        content_type,
        ready,
        tail,
    })
}

/// How a direct upload's body stream ended, as [`streamed_body`] records it.
#[derive(Default)]
struct StreamOutcome {
    /// Why the body was refused (the stream then aborted the upstream call and ended).
    refusal: RefCell<Option<Error>>,
    /// The file's size, once the closing boundary was read.
    file_size: Cell<Option<u64>>,
}

/// The body sent upstream for a direct upload: the rebuilt prefix and the file bytes `tail` let
/// through already, then the rest of the client's body, each chunk checked by `tail`, which
/// passes on what may go now and the bytes it held back once the body has ended well. On a
/// refusal it records why, aborts the upstream call with `abort`, and ends; at the closing
/// boundary it records the file's size.
fn streamed_body(
    new_prefix: Vec<u8>,
    ready: Vec<u8>,
    rest: worker::ByteStream,
    tail: FileTail,
    outcome: Rc<StreamOutcome>,
    abort: web_sys::AbortController,
) -> impl futures_util::Stream<Item = Vec<u8>> + 'static {
    let mut first = new_prefix;
    first.extend_from_slice(&ready);
    // `None` once the body has ended (well or not): the stream then ends.
    let state = (Some(first), Some((rest, tail, BodyPieces::file())));
    futures_util::stream::unfold(state, move |(first, reading)| {
        let outcome = Rc::clone(&outcome);
        let abort = abort.clone();
        async move {
            if let Some(first) = first {
                return Some((first, (None, reading)));
            }
            let (mut rest, mut tail, mut pieces) = reading?;
            let refusal = loop {
                match rest.next().await {
                    Some(Ok(chunk)) => {
                        if let Err(error) = pieces.take(chunk.len(), "The file") {
                            break error;
                        }
                        match tail.push(&chunk) {
                            Ok(ready) if ready.is_empty() => {}
                            Ok(ready) => return Some((ready, (None, Some((rest, tail, pieces))))),
                            Err(error) => break error,
                        }
                    }
                    Some(Err(_)) => break Error::invalid("The request body could not be read."),
                    // The body ended well: what was held back goes, and nothing after it.
                    None => match tail.finish() {
                        Ok((size, held)) => {
                            outcome.file_size.set(Some(size));
                            return Some((held, (None, None)));
                        }
                        Err(error) => break error,
                    },
                }
            };
            *outcome.refusal.borrow_mut() = Some(refusal);
            discard_rest(&mut rest, 0).await;
            abort.abort();
            None
        }
    })
}
