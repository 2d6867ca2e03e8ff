//! `/_emulator/*`: test hooks that the real API does not have (stats, SHA-256 of assembled
//! assets, runtime faults, clock, asset references and failures). Not authenticated.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::config::FaultsPatch;
use crate::errors::ApiError;
use crate::params::read_json_object;
use crate::state::{AppState, AssetContent, Stats};
use crate::storage::serve_file;

type Shared = State<Arc<AppState>>;

fn debug_error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

fn unknown_asset(asset_id: &str) -> Response {
    ApiError::resource_not_exist(asset_id, "assets").into_response()
}

/// `GET /_emulator/health`.
pub async fn health() -> Response {
    Json(json!({"ok": true})).into_response()
}

/// `GET /_emulator/assets/{asset_id}/sha256`: SHA-256 of the assembled bytes. While a completed
/// multipart upload is still being assembled in the background, the answer waits for it.
pub async fn asset_sha256(State(state): Shared, Path(asset_id): Path<String>) -> Response {
    let Some((content, size)) = state.settled_content(&asset_id).await else {
        return unknown_asset(&asset_id);
    };
    match content {
        AssetContent::Stored { sha256, .. } => {
            Json(json!({"asset_id": asset_id, "sha256": sha256, "size": size})).into_response()
        }
        AssetContent::Pending | AssetContent::Assembling | AssetContent::Recorded => debug_error(
            StatusCode::CONFLICT,
            "asset_not_assembled",
            format!("The asset `{asset_id}` has no bytes yet (upload incomplete, URL not fetched, or recorded only)."),
        ),
    }
}

/// `GET /_emulator/assets/{asset_id}/file`: the assembled bytes (the report's `url`); waits for
/// a background assembly like the `sha256` route.
pub async fn asset_file(State(state): Shared, Path(asset_id): Path<String>) -> Response {
    match state.settled_content(&asset_id).await {
        Some((AssetContent::Stored { path, .. }, _)) => serve_file(path).await,
        Some(_) => StatusCode::NOT_FOUND.into_response(),
        None => unknown_asset(&asset_id),
    }
}

fn set_referenced(state: &AppState, asset_id: &str, referenced: bool) -> Response {
    match state.assets.write().expect("assets lock").get_mut(asset_id) {
        Some(asset) => {
            asset.referenced = referenced;
            Json(json!({"asset_id": asset_id, "referenced": referenced})).into_response()
        }
        None => unknown_asset(asset_id),
    }
}

/// `POST /_emulator/assets/{asset_id}/reference`: pretend an indexed asset references it.
pub async fn reference_asset(State(state): Shared, Path(asset_id): Path<String>) -> Response {
    set_referenced(&state, &asset_id, true)
}

/// `DELETE /_emulator/assets/{asset_id}/reference`: drop that reference.
pub async fn unreference_asset(State(state): Shared, Path(asset_id): Path<String>) -> Response {
    set_referenced(&state, &asset_id, false)
}

/// `POST /_emulator/assets/{asset_id}/fail` with optional `{"message": "…"}`: processing fails.
pub async fn fail_asset(
    State(state): Shared,
    Path(asset_id): Path<String>,
    body: Body,
) -> Response {
    let message = match read_json_object(body).await {
        Ok(map) => map
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Err(error) if error.code == "parameter_not_provided" => None,
        Err(error) => return error.into_response(),
    }
    .unwrap_or_else(|| "The asset could not be processed (emulator test hook).".to_owned());
    match state
        .assets
        .write()
        .expect("assets lock")
        .get_mut(&asset_id)
    {
        Some(asset) => {
            asset.failed = Some(message);
            Json(json!({"asset_id": asset_id, "status": "failed"})).into_response()
        }
        None => unknown_asset(&asset_id),
    }
}

/// `POST /_emulator/sessions/{upload_id}/fail`: the session turns `failed` (its status says so;
/// URL requests and reports are refused with `upload_failed`, chunk PUTs with `NoSuchUpload`).
pub async fn fail_session(State(state): Shared, Path(upload_id): Path<String>) -> Response {
    match state.session(&upload_id) {
        Some(session) => {
            session.lock().expect("session lock").failed = true;
            Json(json!({"upload_id": upload_id, "status": "failed"})).into_response()
        }
        None => ApiError::resource_not_exist(&upload_id, "multipart_uploads").into_response(),
    }
}

/// `GET /_emulator/stats`.
pub async fn stats(State(state): Shared) -> Response {
    let stats = state.stats.lock().expect("stats lock");
    Json(&*stats).into_response()
}

/// `DELETE /_emulator/stats`: resets every counter.
pub async fn reset_stats(State(state): Shared) -> Response {
    *state.stats.lock().expect("stats lock") = Stats::default();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_emulator/faults`.
pub async fn get_faults(State(state): Shared) -> Response {
    Json(state.faults()).into_response()
}

/// `POST /_emulator/faults`: partial update; answers the resulting faults.
pub async fn set_faults(State(state): Shared, body: Body) -> Response {
    let map = match read_json_object(body).await {
        Ok(map) => map,
        Err(error) => return error.into_response(),
    };
    let patch: FaultsPatch = match serde_json::from_value(Value::Object(map)) {
        Ok(patch) => patch,
        Err(error) => {
            return debug_error(
                StatusCode::BAD_REQUEST,
                "parameter_invalid",
                error.to_string(),
            )
        }
    };
    let mut faults = state.faults.write().expect("faults lock");
    let next = faults.patched(&patch);
    if let Err(message) = next.validate() {
        return debug_error(StatusCode::BAD_REQUEST, "parameter_invalid", message);
    }
    *faults = next.clone();
    Json(next).into_response()
}

fn clock_json(state: &AppState) -> Response {
    Json(json!({
        "now": crate::state::rfc3339(state.clock.now()),
        "offset_secs": state.clock.offset_secs(),
    }))
    .into_response()
}

/// `GET /_emulator/clock`.
pub async fn get_clock(State(state): Shared) -> Response {
    clock_json(&state)
}

/// `POST /_emulator/clock` with `{"advance_secs": N}`: moves the emulator's clock.
pub async fn advance_clock(State(state): Shared, body: Body) -> Response {
    let map = match read_json_object(body).await {
        Ok(map) => map,
        Err(error) => return error.into_response(),
    };
    let Some(seconds) = map.get("advance_secs").and_then(Value::as_i64) else {
        return ApiError::parameter_not_provided("advance_secs").into_response();
    };
    state.clock.advance(seconds);
    clock_json(&state)
}
