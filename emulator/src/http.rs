//! The router and the cross-cutting layers: CORS (API, storage and debug routes), request
//! counting, injected latency, API-key authentication, injected 429s, `X-Api-Version`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use crate::errors::ApiError;
use crate::state::AppState;
use crate::{assets, debug, multipart, storage};

/// Headers a browser may read from API answers.
const API_EXPOSED_HEADERS: &str = "Retry-After, X-Api-Version";
/// Methods allowed by preflights.
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Headers allowed by preflights that do not list any.
const DEFAULT_ALLOWED_HEADERS: &str = "content-type, x-api-key, authorization";

/// Builds the whole application.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route(
            "/v1.3/assets",
            post(assets::create_asset).get(assets::list_assets),
        )
        .route(
            "/v1.3/assets/multipart-uploads",
            post(multipart::create_session).get(multipart::list_incomplete),
        )
        .route(
            "/v1.3/assets/multipart-uploads/{upload_id}",
            get(multipart::get_status).post(multipart::report_chunks),
        )
        .route(
            "/v1.3/assets/multipart-uploads/{upload_id}/presigned-urls",
            post(multipart::presigned_urls),
        )
        .route(
            "/v1.3/assets/{asset_id}",
            get(assets::retrieve_asset).delete(assets::delete_asset),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), api_layer));
    let storage = Router::new()
        .route(
            "/_storage/{upload_id}/{chunk_index}",
            put(storage::put_chunk),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), storage_layer));
    let debug = Router::new()
        .route("/_emulator/health", get(debug::health))
        .route(
            "/_emulator/stats",
            get(debug::stats).delete(debug::reset_stats),
        )
        .route(
            "/_emulator/faults",
            get(debug::get_faults).post(debug::set_faults),
        )
        .route(
            "/_emulator/clock",
            get(debug::get_clock).post(debug::advance_clock),
        )
        .route(
            "/_emulator/assets/{asset_id}/sha256",
            get(debug::asset_sha256),
        )
        .route("/_emulator/assets/{asset_id}/file", get(debug::asset_file))
        .route(
            "/_emulator/assets/{asset_id}/reference",
            post(debug::reference_asset).delete(debug::unreference_asset),
        )
        .route("/_emulator/assets/{asset_id}/fail", post(debug::fail_asset))
        .route(
            "/_emulator/sessions/{upload_id}/fail",
            post(debug::fail_session),
        );
    api.merge(storage)
        .merge(debug)
        .fallback(|request: Request| async move {
            ApiError::not_found_route(request.uri().path()).into_response()
        })
        // Bodies are streamed and limited by each handler (JSON 1 MiB, files per type).
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(state.clone(), cors_layer))
        .with_state(state)
}

fn endpoint_name(request: &Request) -> String {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |matched| matched.as_str().to_owned(),
    );
    format!("{} {path}", request.method())
}

async fn injected_latency(state: &AppState) {
    let latency = state.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
}

/// `/v1.3`: count, delay, authenticate, maybe an injected 500 or 429, then `X-Api-Version` on
/// the answer.
async fn api_layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    state.count_request(&endpoint_name(&request));
    injected_latency(&state).await;
    let key = request
        .headers()
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    let mut response = if key != Some(state.config.api_key.as_str()) {
        ApiError::api_key_invalid().into_response()
    } else if let Some(status) = state.take_api_failure() {
        ApiError::injected_failure(status).into_response()
    } else if let Some(retry_after) = state.take_rate_limit() {
        ApiError::too_many_requests(retry_after).into_response()
    } else {
        next.run(request).await
    };
    response
        .headers_mut()
        .insert("x-api-version", HeaderValue::from_static("1.3"));
    response
}

/// `/_storage`: count and delay (authentication is the URL signature, checked by the handler).
async fn storage_layer(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    state.count_request(&endpoint_name(&request));
    injected_latency(&state).await;
    next.run(request).await
}

/// The value for `Access-Control-Allow-Origin`, if `origin` is allowed.
fn allowed_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let origins = &state.config.allowed_origins;
    if origins.iter().any(|allowed| allowed == "*") {
        Some(HeaderValue::from_static("*"))
    } else if origins
        .iter()
        .any(|allowed| origin.as_bytes() == allowed.as_bytes())
    {
        Some(origin.clone())
    } else {
        None
    }
}

/// CORS for every route: preflights answered here, allowed origins echoed, `ETag` exposed on
/// storage answers unless the `hide_etag` fault is on.
async fn cors_layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let allow_origin = allowed_origin(&state, request.headers());
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        state.count_request("OPTIONS (preflight)");
        let Some(allow_origin) = allow_origin else {
            // S3 answers a preflight from a foreign origin with 403 and no CORS headers.
            return (
                StatusCode::FORBIDDEN,
                "CORS preflight refused: origin not allowed",
            )
                .into_response();
        };
        let requested_headers = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS));
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested_headers);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        headers.insert(
            header::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        return response;
    }
    let is_storage = request.uri().path().starts_with("/_storage/");
    let mut response = next.run(request).await;
    if let Some(allow_origin) = allow_origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if !is_storage {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(API_EXPOSED_HEADERS),
            );
        } else if !state.faults().hide_etag {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("ETag"),
            );
        }
    }
    response
}
