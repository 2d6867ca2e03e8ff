//! The five multipart-upload endpoints (`TWELVELABS_API.md` §4).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::errors::ApiError;
use crate::params::{
    limits, mime_from_filename, optional_bool, read_json_object, required_string, required_u64,
    validate_filename, validate_user_metadata, Query,
};
use crate::state::{
    rfc3339, AppState, Asset, AssetContent, AssetMethod, ChunkState, MediaType, Session,
    SessionStatus,
};

/// Collection name used in `resource_not_exist` messages for unknown upload ids.
const UPLOADS_COLLECTION: &str = "multipart_uploads";

type Shared = State<Arc<AppState>>;

/// `POST /assets/multipart-uploads`: creates a session and reserves its asset.
pub async fn create_session(State(state): Shared, body: Body) -> Result<Response, ApiError> {
    let request = read_json_object(body).await?;
    let filename = required_string(&request, "filename")?;
    validate_filename(filename)?;
    let media_type = MediaType::parse(required_string(&request, "type")?).ok_or_else(|| {
        ApiError::parameter_invalid("type", "It must be one of `video`, `audio`, `image`.")
    })?;
    let total_size = required_u64(&request, "total_size")?;
    let max_size = match media_type {
        MediaType::Image => limits::IMAGE_MAX,
        MediaType::Video | MediaType::Audio => limits::MULTIPART_MEDIA_MAX,
    };
    if total_size == 0 || total_size > max_size {
        return Err(ApiError::parameter_invalid(
            "total_size",
            &format!("It must be between 1 and {max_size} bytes for this type."),
        ));
    }
    let enable_hls = optional_bool(&request, "enable_hls")?;
    let enable_thumbnail = optional_bool(&request, "enable_thumbnail")?;
    let user_metadata = match request.get("user_metadata") {
        None | Some(Value::Null) => None,
        Some(value) => Some(validate_user_metadata(value)?),
    };

    // Keep the configured chunk size unless the file would need more parts than S3 allows.
    let mut chunk_size = state.config.chunk_size;
    if total_size.div_ceil(chunk_size) > limits::MAX_CHUNKS {
        const MIB: u64 = 1024 * 1024;
        chunk_size = total_size.div_ceil(limits::MAX_CHUNKS).div_ceil(MIB) * MIB;
    }
    let total_chunks = total_size.div_ceil(chunk_size);

    let now = state.clock.now();
    let upload_id = state.new_id();
    let asset_id = state.new_id();
    let session_ttl = state.faults().session_ttl_secs;
    let session = Session {
        upload_id: upload_id.clone(),
        asset_id: asset_id.clone(),
        total_size,
        chunk_size,
        total_chunks,
        created_at: now,
        updated_at: now,
        expires_at: now + chrono::Duration::seconds(session_ttl as i64),
        completed: false,
        failed: false,
        chunks: vec![ChunkState::default(); total_chunks as usize],
        used_nonces: Default::default(),
        sequence: state.next_sequence(),
    };
    let expires_at = session.expires_at;
    let asset = Asset {
        id: asset_id.clone(),
        method: AssetMethod::Multipart,
        media_type,
        filename: filename.to_owned(),
        file_type: mime_from_filename(filename)
            .unwrap_or("application/octet-stream")
            .to_owned(),
        created_at: now,
        sequence: session.sequence,
        size: None,
        ready_at: None,
        failed: None,
        content: AssetContent::Pending,
        hls: enable_hls && media_type != MediaType::Image,
        thumbnail: enable_thumbnail,
        user_metadata,
        source_url: None,
        referenced: false,
    };
    state
        .assets
        .write()
        .expect("assets lock")
        .insert(asset_id.clone(), asset);
    state
        .sessions
        .write()
        .expect("sessions lock")
        .insert(upload_id.clone(), Arc::new(Mutex::new(session)));

    let initial = total_chunks.min(u64::from(state.config.initial_urls));
    let upload_urls: Vec<Value> = (1..=initial)
        .map(|index| presigned_entry(&state, &upload_id, index))
        .collect();
    let body = json!({
        "upload_id": upload_id,
        "asset_id": asset_id,
        "upload_urls": upload_urls,
        "upload_headers": {"Content-Type": "application/octet-stream"},
        "chunk_size": chunk_size,
        "total_chunks": total_chunks,
        "expires_at": rfc3339(expires_at),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn presigned_entry(state: &AppState, upload_id: &str, index: u64) -> Value {
    let (url, expires_at) = state.presigned_url(upload_id, index);
    json!({"chunk_index": index, "url": url, "expires_at": rfc3339(expires_at)})
}

fn find_session(state: &AppState, upload_id: &str) -> Result<Arc<Mutex<Session>>, ApiError> {
    state
        .session(upload_id)
        .ok_or_else(|| ApiError::resource_not_exist(upload_id, UPLOADS_COLLECTION))
}

/// `GET /assets/multipart-uploads`: active sessions, newest first, paginated.
pub async fn list_incomplete(
    State(state): Shared,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pagination = Query::parse(raw.as_deref()).pagination()?;
    let now = state.clock.now();
    let sessions: Vec<Arc<Mutex<Session>>> = state
        .sessions
        .read()
        .expect("sessions lock")
        .values()
        .cloned()
        .collect();
    let mut active: Vec<(i64, Value)> = sessions
        .iter()
        .filter_map(|session| {
            let session = session.lock().expect("session lock");
            (session.status(now) == SessionStatus::Active).then(|| {
                let summary = json!({
                    "upload_id": session.upload_id,
                    "asset_id": session.asset_id,
                    "status": SessionStatus::Active,
                    "total_size": session.total_size,
                    "chunk_size": session.chunk_size,
                    "total_chunks": session.total_chunks,
                    "created_at": rfc3339(session.created_at),
                    "expires_at": rfc3339(session.expires_at),
                });
                (session.sequence, summary)
            })
        })
        .collect();
    active.sort_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
    let (range, page_info) = pagination.slice(active.len() as u64);
    let data: Vec<Value> = active.drain(range).map(|(_, summary)| summary).collect();
    Ok(Json(json!({"data": data, "page_info": page_info})).into_response())
}

/// `GET /assets/multipart-uploads/{upload_id}`: session status with every chunk listed.
pub async fn get_status(
    State(state): Shared,
    Path(upload_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pagination = Query::parse(raw.as_deref()).pagination()?;
    let session = find_session(&state, &upload_id)?;
    let now = state.clock.now();
    let session = session.lock().expect("session lock");
    let (range, page_info) = pagination.slice(session.total_chunks);
    let chunks: Vec<Value> = range
        .map(|offset| {
            let chunk = &session.chunks[offset];
            let mut info = Map::new();
            info.insert("index".into(), json!(offset as u64 + 1));
            let status = if chunk.completed_etag.is_some() {
                "completed"
            } else if chunk.failed_error.is_some() {
                "failed"
            } else {
                "pending"
            };
            info.insert("status".into(), json!(status));
            if let (Some(uploaded_at), true) = (chunk.uploaded_at, status == "completed") {
                info.insert("uploaded_at".into(), json!(rfc3339(uploaded_at)));
            }
            let updated_at = chunk.updated_at.unwrap_or(session.created_at);
            info.insert("updated_at".into(), json!(rfc3339(updated_at)));
            if let (Some(error), "failed") = (&chunk.failed_error, status) {
                info.insert("error".into(), json!(error));
            }
            Value::Object(info)
        })
        .collect();
    let completed = session.completed_count();
    let failed = session.failed_count();
    let body = json!({
        "upload_id": session.upload_id,
        "asset_id": session.asset_id,
        "status": session.status(now),
        "uploaded_chunks": chunks,
        "chunks_completed": completed,
        "chunks_failed": failed,
        "chunks_pending": session.total_chunks - completed - failed,
        "page_info": page_info,
        "total_size": session.total_size,
        "uploaded_size": session.uploaded_size(),
        "created_at": rfc3339(session.created_at),
        "updated_at": rfc3339(session.updated_at),
        "expires_at": rfc3339(session.expires_at),
    });
    Ok(Json(body).into_response())
}

/// `POST /assets/multipart-uploads/{upload_id}/presigned-urls`.
pub async fn presigned_urls(
    State(state): Shared,
    Path(upload_id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let request = read_json_object(body).await?;
    let start = required_u64(&request, "start")?;
    let count = required_u64(&request, "count")?;
    if start < 1 {
        return Err(ApiError::parameter_invalid(
            "start",
            "Chunk numbering starts at 1.",
        ));
    }
    if !(1..=limits::MAX_BATCH).contains(&count) {
        return Err(ApiError::parameter_invalid(
            "count",
            "It must be between 1 and 50.",
        ));
    }
    let session = find_session(&state, &upload_id)?;
    let now = state.clock.now();
    let last = {
        let session = session.lock().expect("session lock");
        match session.status(now) {
            SessionStatus::Expired => return Err(ApiError::upload_expired(&upload_id)),
            SessionStatus::Completed => return Err(ApiError::upload_completed(&upload_id)),
            SessionStatus::Failed => return Err(ApiError::upload_failed(&upload_id)),
            SessionStatus::Active => {}
        }
        if start > session.total_chunks {
            return Err(ApiError::parameter_invalid(
                "start",
                &format!("The upload has {} chunks.", session.total_chunks),
            ));
        }
        // Clamp to the last chunk: `count` in the answer says how many URLs were returned.
        (start + count - 1).min(session.total_chunks)
    };
    let upload_urls: Vec<Value> = (start..=last)
        .map(|index| presigned_entry(&state, &upload_id, index))
        .collect();
    let expires_at = now + chrono::Duration::seconds(state.faults().url_ttl_secs as i64);
    let body = json!({
        "upload_id": upload_id,
        "start_index": start,
        "count": last - start + 1,
        "upload_urls": upload_urls,
        "generated_at": rfc3339(now),
        "expires_at": rfc3339(expires_at),
    });
    Ok(Json(body).into_response())
}

/// One validated item of a report batch.
struct ReportedChunk {
    index: u64,
    proof: String,
}

fn parse_report(
    request: &Map<String, Value>,
    session: &Session,
) -> Result<Vec<ReportedChunk>, ApiError> {
    let items = match request.get("completed_chunks") {
        None | Some(Value::Null) => {
            return Err(ApiError::parameter_not_provided("completed_chunks"))
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::parameter_invalid(
                "completed_chunks",
                "It must be an array.",
            ))
        }
    };
    if items.is_empty() || items.len() as u64 > limits::MAX_BATCH {
        return Err(ApiError::parameter_invalid(
            "completed_chunks",
            "It must contain between 1 and 50 items.",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(position, item)| {
            let Value::Object(item) = item else {
                return Err(ApiError::parameter_invalid(
                    &format!("completed_chunks[{position}]"),
                    "It must be an object.",
                ));
            };
            let field = |name: &str| format!("completed_chunks[{position}].{name}");
            let index =
                required_u64(item, "chunk_index").map_err(|e| rename(e, &field("chunk_index")))?;
            if index < 1 || index > session.total_chunks {
                return Err(ApiError::parameter_invalid(
                    &field("chunk_index"),
                    &format!("It must be between 1 and {}.", session.total_chunks),
                ));
            }
            let proof = required_string(item, "proof").map_err(|e| rename(e, &field("proof")))?;
            let proof = proof.trim().trim_matches('"');
            if proof.is_empty() {
                return Err(ApiError::parameter_invalid(
                    &field("proof"),
                    "It must not be empty.",
                ));
            }
            let proof_type =
                required_string(item, "proof_type").map_err(|e| rename(e, &field("proof_type")))?;
            if proof_type != "etag" {
                return Err(ApiError::parameter_invalid(
                    &field("proof_type"),
                    "It must be `etag`.",
                ));
            }
            let size =
                required_u64(item, "chunk_size").map_err(|e| rename(e, &field("chunk_size")))?;
            let expected = session.expected_chunk_len(index);
            if size != expected {
                return Err(ApiError::parameter_invalid(
                    &field("chunk_size"),
                    &format!("Chunk {index} is {expected} bytes long, not {size}."),
                ));
            }
            Ok(ReportedChunk {
                index,
                proof: proof.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// Re-targets a field error at its position in the batch (`completed_chunks[3].proof`).
fn rename(error: ApiError, field: &str) -> ApiError {
    match error.code {
        "parameter_not_provided" => ApiError::parameter_not_provided(field),
        _ => {
            let reason = error
                .message
                .rsplit_once(" parameter is invalid. ")
                .map_or("", |(_, r)| r);
            ApiError::parameter_invalid(field, reason)
        }
    }
}

/// `POST /assets/multipart-uploads/{upload_id}`: reports a batch of uploaded chunks.
pub async fn report_chunks(
    State(state): Shared,
    Path(upload_id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let request = read_json_object(body).await?;
    let session_handle = find_session(&state, &upload_id)?;
    let now = state.clock.now();
    let (processed, duplicates, asset_id, parts_to_assemble) = {
        let mut session = session_handle.lock().expect("session lock");
        let reported = parse_report(&request, &session)?;
        match session.status(now) {
            SessionStatus::Expired => return Err(ApiError::upload_expired(&upload_id)),
            SessionStatus::Failed => return Err(ApiError::upload_failed(&upload_id)),
            SessionStatus::Active | SessionStatus::Completed => {}
        }
        let (mut processed, mut duplicates) = (0u64, 0u64);
        for item in reported {
            let chunk = &mut session.chunks[(item.index - 1) as usize];
            if chunk.completed_etag.is_some() {
                duplicates += 1;
                continue;
            }
            processed += 1;
            chunk.updated_at = Some(now);
            if chunk.stored_etags.contains(&item.proof) {
                chunk.completed_etag = Some(item.proof);
                chunk.uploaded_at = Some(now);
                chunk.failed_error = None;
            } else if chunk.stored_etags.is_empty() {
                chunk.failed_error = Some("No upload of this chunk was received.".to_owned());
            } else {
                chunk.failed_error =
                    Some("The proof does not match the ETag of the uploaded chunk.".to_owned());
            }
        }
        session.updated_at = now;
        let all_reported = session.completed_count() == session.total_chunks;
        // The report that completes the session answers at once; the asset is assembled in the
        // background (see `finish_assembly`) and stays `processing` until that is done.
        let parts = (all_reported && !session.completed).then(|| {
            session.completed = true;
            (1..=session.total_chunks)
                .map(|index| {
                    let etag = session.chunks[(index - 1) as usize].completed_etag.clone();
                    state.part_path(&upload_id, index, &etag.expect("all chunks completed"))
                })
                .collect::<Vec<PathBuf>>()
        });
        (processed, duplicates, session.asset_id.clone(), parts)
    };

    if let Some(parts) = parts_to_assemble {
        if let Some(asset) = state
            .assets
            .write()
            .expect("assets lock")
            .get_mut(&asset_id)
        {
            asset.content = AssetContent::Assembling;
        }
        tokio::spawn(finish_assembly(
            Arc::clone(&state),
            upload_id.clone(),
            asset_id.clone(),
            parts,
        ));
    }

    let session = session_handle.lock().expect("session lock");
    let mut body = json!({
        "asset_id": asset_id,
        "processed_chunks": processed,
        "duplicate_chunks": duplicates,
        "total_completed": session.completed_count(),
    });
    if session.completed && !state.omits_completion_url() {
        body["url"] = json!(format!(
            "{}/_emulator/assets/{asset_id}/file",
            state.public_url
        ));
    }
    Ok(Json(body).into_response())
}

/// Background half of the completing report: concatenates and hashes the parts, then makes the
/// asset `Stored`, ready `processing_ms` after the assembly ended (or `failed` if it could not be
/// written), wakes whoever waits for it and removes the parts.
async fn finish_assembly(
    state: Arc<AppState>,
    upload_id: String,
    asset_id: String,
    parts: Vec<PathBuf>,
) {
    let destination = state.asset_path(&asset_id);
    let assembled = assemble(&parts, &destination).await;
    let processing = chrono::Duration::milliseconds(state.faults().processing_ms as i64);
    let asset_still_exists = {
        let mut assets = state.assets.write().expect("assets lock");
        match assets.get_mut(&asset_id) {
            Some(asset) => {
                match assembled {
                    Ok((size, sha256)) => {
                        asset.size = Some(size);
                        asset.content = AssetContent::Stored {
                            path: destination.clone(),
                            sha256,
                        };
                        asset.ready_at = Some(state.clock.now() + processing);
                    }
                    Err(error) => {
                        asset.content = AssetContent::Pending;
                        asset.failed = Some(format!(
                            "The emulator failed to assemble the asset: {error}"
                        ));
                    }
                }
                true
            }
            None => false,
        }
    };
    if !asset_still_exists {
        // Deleted while it was being assembled: drop the bytes too.
        let _ = tokio::fs::remove_file(&destination).await;
    }
    state.assembly_finished.notify_waiters();
    let _ = tokio::fs::remove_dir_all(state.parts_dir(&upload_id)).await;
}

/// Concatenates the parts into `destination`; returns its size and SHA-256 (hex).
async fn assemble(
    parts: &[PathBuf],
    destination: &std::path::Path,
) -> std::io::Result<(u64, String)> {
    let mut output = tokio::io::BufWriter::new(tokio::fs::File::create(destination).await?);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 1024 * 1024];
    for part in parts {
        let mut input = tokio::fs::File::open(part).await?;
        loop {
            let read = input.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            output.write_all(&buffer[..read]).await?;
            size += read as u64;
        }
    }
    output.flush().await?;
    Ok((size, hex::encode(hasher.finalize())))
}
