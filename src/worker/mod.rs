//! The Cloudflare Worker (feature `worker`): holds the TwelveLabs API key, authenticates
//! callers, enforces the upload policy, and re-serves the TwelveLabs upload API under `/v1.3/`.
//!
//! Every request goes through the same steps, in this order: configuration, CORS (refusing
//! foreign origins before any work), routing (404/405), authentication and validation, and only
//! then the upstream call. Each request ends with one structured JSON log line.
//!
//! Chunk bytes never pass through the Worker: browsers `PUT` them to TwelveLabs' presigned URLs.

pub(crate) mod asset_index;
pub(crate) mod auth;
pub(crate) mod config;
pub(crate) mod cors;
pub(crate) mod form;
pub(crate) mod handlers;
pub(crate) mod incoming;
pub(crate) mod policy;
pub(crate) mod rate_limit;
pub(crate) mod reply;
pub(crate) mod routes;
pub(crate) mod task;
pub(crate) mod upstream;
pub(crate) mod webhook;

use std::cell::OnceCell;
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use worker::{js_sys, web_sys, Context, Env, Method};

use crate::core::error::ErrorCode;
use crate::worker::config::{Config, ConfigError, CONFIG_NAMES};
use crate::worker::cors::CorsDecision;
use crate::worker::handlers::Ctx;
use crate::worker::incoming::Request;
use crate::worker::reply::{Answer, ApiError};
use crate::worker::routes::Resource;

/// The binding `name` of the Worker's environment (a KV namespace, a rate limiter), when the
/// deployment has one.
pub fn binding(env: &Env, name: &str) -> Option<worker::wasm_bindgen::JsValue> {
    worker::js_sys::Reflect::get(env, &name.into())
        .ok()
        .filter(|binding| !binding.is_undefined())
}

fn read_config(env: &Env) -> Result<Config, ConfigError> {
    let values: Vec<(&str, Option<String>)> = CONFIG_NAMES
        .iter()
        .map(|name| {
            let value = env
                .secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .ok();
            (*name, value)
        })
        .collect();
    Config::from_lookup(|name| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    })
}

thread_local! {
    /// The configuration (or why it is unusable), read from the environment once per isolate.
    ///
    /// A Worker's vars and secrets are fixed for the lifetime of an isolate: changing one (a
    /// deploy, `wrangler secret put`) makes a new version of the script, which runs in new
    /// isolates. Reading them per request cost nine binding look-ups (each miss builds a JS
    /// error), nine string copies and a re-parse for every request, for the same answer.
    static CONFIG: OnceCell<Result<Rc<Config>, ConfigError>> = const { OnceCell::new() };
}

/// The isolate's configuration; see [`CONFIG`].
fn config(env: &Env) -> Result<Rc<Config>, ConfigError> {
    CONFIG.with(|cell| cell.get_or_init(|| read_config(env).map(Rc::new)).clone())
}

/// Milliseconds since the Unix epoch: the static `Date.now()` (`worker::Date::now` builds a JS
/// `Date` object to read the same number).
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Answers one request (run as a task: see `task`). The runtime's request is taken as it is (see
/// `incoming`): `worker::Request` would read its `cf` object eagerly, which the Worker never uses.
async fn fetch(
    req: web_sys::Request,
    env: Env,
    worker_ctx: Context,
) -> worker::Result<web_sys::Response> {
    let started_ms = now_ms();
    let mut req = Request::from(req);
    let method = req.method();
    let method_name = req.method_name();
    let path = req.path();
    let resource = Resource::from_path(&path);
    let route = resource
        .as_ref()
        .map_or("unknown", |r| r.name(&method_name));

    let mut upstream_status = None;
    let mut error_code = None;
    let mut bad_setting = None;
    let outcome = match config(&env) {
        // Refuse to serve at all: no upstream call with a configuration that cannot be trusted.
        Err(problem) => {
            bad_setting = Some(problem.setting);
            Err(ApiError::new(
                ErrorCode::ConfigInvalid,
                format!("The Worker is misconfigured: {problem}."),
            ))
        }
        Ok(config) => {
            let ctx = Ctx {
                config,
                env,
                now_ms: started_ms,
                now_secs: (started_ms / 1000) as i64,
                upstream_status: Default::default(),
                error_code: Default::default(),
                completion: Default::default(),
            };
            let outcome = serve(&ctx, &mut req, method.as_ref(), &path, resource).await;
            upstream_status = ctx.upstream_status.get();
            error_code = ctx.error_code.get();
            // Sent after the answer, never delaying it; only for a request that succeeded.
            if let (Some(completion), Ok(_)) = (ctx.completion.take(), &outcome) {
                let config = Rc::clone(&ctx.config);
                worker_ctx.wait_until(webhook::deliver(config, completion, now_ms()));
            }
            outcome
        }
    };
    let mut answer = match outcome {
        Ok(answer) => answer,
        Err(error) => {
            error_code = Some(error.error.code);
            error.into_answer()
        }
    };
    if error_code.is_some() {
        handlers::drain_unread_body(&mut req).await;
    }
    // workerd (unlike Cloudflare's edge) adds no `Date`, which an origin server with a clock
    // sends on every answer (RFC 9110 §6.6.1). The browser client does not read it: the engine
    // dates the server's clock by the session's expiry and the URL batches' `generated_at`,
    // which TwelveLabs' own answers carry, so a client with an API key needs no header either.
    let finished_ms = now_ms();
    answer.set_header("Date", reply::http_date(finished_ms / 1000));
    let line = log_line(
        route,
        &method_name,
        answer.status,
        upstream_status,
        error_code,
        finished_ms.saturating_sub(started_ms),
        bad_setting,
    );
    let headers = answer
        .header_lines()
        .ok_or_else(|| worker::Error::RustError("a header holds a line break".into()))?;
    respond(answer.status, answer.body.as_deref(), &headers, &line)
        .map_err(|_| worker::Error::RustError("the runtime refused the answer".into()))
}

// The request's last step: its log line, and the runtime's `Response` made from an [`Answer`]
// (`headers`: its `header_lines`), in one crossing. The body is copied out of wasm memory. The
// headers go in as a plain object (an `Answer` names each header once), not a `Headers` filled
// with a `set` per header (with `call_upstream` handing `fetch` its URL and init: 2-3 % less CPU
// per list request, BENCHMARKS.md).
#[wasm_bindgen(inline_js = r#"
export function respond(status, body, headerLines, logLine) {
  console.log(logLine);
  const headers = {};
  const fields = headerLines.split('\n');
  for (let i = 0; i + 1 < fields.length; i += 2) headers[fields[i]] = fields[i + 1];
  return new Response(body === undefined ? null : body.slice(), { status, headers });
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn respond(
        status: u16,
        body: Option<&[u8]>,
        headers: &str,
        log_line: &str,
    ) -> Result<web_sys::Response, wasm_bindgen::JsValue>;
}

/// The request's one log line, a JSON object: route, method, status, upstream status, error
/// code, duration, and for a `config_invalid` refusal the setting at fault (its name). Never
/// tokens, bodies, headers, query strings or configuration values. Written by hand rather than
/// through a `serde_json::Value` tree (a map, boxed values, then a walk to print it, for six
/// fields on every request); the keys stay in the order that tree printed them (sorted).
pub fn log_line(
    route: &str,
    method: &str,
    status: u16,
    upstream_status: Option<u16>,
    error_code: Option<ErrorCode>,
    duration_ms: u64,
    bad_setting: Option<&str>,
) -> String {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(128);
    line.push_str("{\"code\":");
    push_json_str_or_null(&mut line, error_code.map(ErrorCode::as_str));
    let _ = write!(line, ",\"duration_ms\":{duration_ms},\"method\":");
    push_json_str_or_null(&mut line, Some(method));
    line.push_str(",\"route\":");
    push_json_str_or_null(&mut line, Some(route));
    if bad_setting.is_some() {
        line.push_str(",\"setting\":");
        push_json_str_or_null(&mut line, bad_setting);
    }
    let _ = write!(line, ",\"status\":{status},\"upstream_status\":");
    match upstream_status {
        Some(status) => {
            let _ = write!(line, "{status}");
        }
        None => line.push_str("null"),
    }
    line.push('}');
    line
}

/// The log line of an HTTP `CONNECT`, which workerd hands to the entry's `connect` handler (after
/// answering it 200 itself) rather than to `fetch`: the Worker tunnels nothing, so the entry closes
/// the socket at once, and the request is logged as the 405 any other method it does not serve
/// gets. Without the handler, workerd logs every `CONNECT` as an uncaught exception.
#[wasm_bindgen]
pub fn connect_refused_log_line() -> String {
    log_line(
        "unknown",
        "CONNECT",
        405,
        None,
        Some(ErrorCode::MethodNotAllowed),
        0,
        None,
    )
}

/// Appends `value` as a JSON string (escaped by serde_json), or `null`.
fn push_json_str_or_null(line: &mut String, value: Option<&str>) {
    match value {
        // Serialising a `&str` cannot fail.
        Some(value) => line.push_str(&serde_json::to_string(value).unwrap_or_default()),
        None => line.push_str("null"),
    }
}

/// The 404 for a path the Worker does not serve, naming it (the common mistake: an endpoint
/// that already ends in `/v1.3`).
fn no_such_route(path: &str) -> ApiError {
    let shown: String = path.chars().take(200).collect();
    ApiError::new(
        ErrorCode::NotFound,
        format!(
            "No such route: {shown}. The Worker serves {}/assets…; the client's endpoint is the \
             Worker's origin, without {}.",
            routes::API_PREFIX,
            routes::API_PREFIX
        ),
    )
}

/// The 405 for a method `resource` does not answer, with `Allow`.
fn method_not_allowed(resource: &Resource, method: &str) -> ApiError {
    let allow = resource.methods().join(", ");
    ApiError {
        allow: Some(allow.clone()),
        ..ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed here; allowed: {allow}."),
        )
    }
}

/// The methods a preflight for an unknown path may name: it is answered so that the browser
/// sends the request and its client reads the 404 (instead of a CORS network error it would
/// retry).
const UNKNOWN_ROUTE_PREFLIGHT_METHODS: &[&str] = &["GET", "POST", "DELETE"];

/// CORS, routing and dispatch; CORS headers are attached to whatever comes back.
async fn serve(
    ctx: &Ctx,
    req: &mut Request,
    method: Option<&Method>,
    path: &str,
    resource: Option<Resource>,
) -> Result<Answer, ApiError> {
    let origin = req.header("Origin");
    let allowed = &ctx.config.allowed_origins;
    // `/dev/grant` does not exist at all unless DEV_GRANTS=true.
    let resource = resource.filter(|r| *r != Resource::DevGrant || ctx.config.dev_grants);
    let Some(method) = method else {
        // A method the Worker does not know (`PROPFIND`, `get`, …): never served as another.
        return Err(match &resource {
            Some(resource) => method_not_allowed(resource, &req.method_name()),
            None => no_such_route(path),
        });
    };
    if *method == Method::Options {
        let requested = req
            .header("Access-Control-Request-Method")
            .unwrap_or_default();
        let methods = resource
            .as_ref()
            .map_or(UNKNOWN_ROUTE_PREFLIGHT_METHODS, Resource::methods);
        return match cors::for_preflight(
            allowed,
            &ctx.config.allowed_request_headers,
            origin.as_deref(),
            &requested,
            methods,
        ) {
            CorsDecision::Allowed(headers) => {
                let mut answer = Answer::empty(204);
                attach(&mut answer, headers);
                Ok(answer)
            }
            _ if resource.is_none() => Err(no_such_route(path)),
            _ => Err(ApiError::new(
                ErrorCode::Forbidden,
                "CORS preflight refused: origin or method not allowed.",
            )),
        };
    }
    let cors_headers = match cors::for_request(allowed, origin.as_deref()) {
        CorsDecision::Refused => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "This origin is not allowed (ALLOWED_ORIGINS).",
            ))
        }
        CorsDecision::NotCors => Vec::new(),
        CorsDecision::Allowed(headers) => headers,
    };
    let outcome = match &resource {
        None => Err(no_such_route(path)),
        Some(resource) => dispatch(ctx, req, method, resource).await,
    };
    let mut answer = match outcome {
        Ok(answer) => answer,
        Err(error) => {
            ctx.error_code.set(Some(error.error.code));
            error.into_answer()
        }
    };
    attach(&mut answer, cors_headers);
    Ok(answer)
}

fn attach(answer: &mut Answer, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        answer.set_header(name, value);
    }
}

async fn dispatch(
    ctx: &Ctx,
    req: &mut Request,
    method: &Method,
    resource: &Resource,
) -> Result<Answer, ApiError> {
    use handlers as h;
    match (resource, method) {
        (Resource::Healthz, Method::Get) => h::healthz(ctx),
        (Resource::DevGrant, Method::Post) => h::dev_grant(ctx, req).await,
        (Resource::Uploads, Method::Post) => h::create_upload(ctx, req).await,
        (Resource::Uploads, Method::Get) => h::list_uploads(ctx, req).await,
        (Resource::UploadUrls(id), Method::Post) => h::presigned_urls(ctx, req, id).await,
        (Resource::Upload(id), Method::Post) => h::report_chunks(ctx, req, id).await,
        (Resource::Upload(id), Method::Get) => h::upload_status(ctx, req, id).await,
        (Resource::Assets, Method::Post) => h::create_asset(ctx, req).await,
        (Resource::Assets, Method::Get) => h::list_assets(ctx, req).await,
        (Resource::Asset(id), Method::Get) => h::get_asset(ctx, req, id).await,
        (Resource::Asset(id), Method::Delete) => h::delete_asset(ctx, req, id).await,
        _ => Err(method_not_allowed(resource, method.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_prints_what_the_json_tree_printed() {
        let cases = [
            ("create_upload", "POST", 201, Some(201), None, 12),
            (
                "presigned_urls",
                "POST",
                429,
                Some(429),
                Some(ErrorCode::RateLimited),
                0,
            ),
            ("unknown", "GET", 404, None, Some(ErrorCode::NotFound), 3),
            ("healthz", "GE\"T\\\n", 200, None, None, u64::MAX),
        ];
        for (route, method, status, upstream_status, code, duration_ms) in cases {
            let expected = serde_json::json!({
                "route": route,
                "method": method,
                "status": status,
                "upstream_status": upstream_status,
                "code": code.map(ErrorCode::as_str),
                "duration_ms": duration_ms,
            })
            .to_string();
            let line = log_line(
                route,
                method,
                status,
                upstream_status,
                code,
                duration_ms,
                None,
            );
            assert_eq!(line, expected);
        }
        let expected = serde_json::json!({
            "route": "healthz", "method": "GET", "status": 500, "upstream_status": null,
            "code": "config_invalid", "duration_ms": 1, "setting": "TOKEN_SECRET",
        })
        .to_string();
        let line = log_line(
            "healthz",
            "GET",
            500,
            None,
            Some(ErrorCode::ConfigInvalid),
            1,
            Some("TOKEN_SECRET"),
        );
        assert_eq!(line, expected);
    }
}
