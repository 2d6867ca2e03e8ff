//! The presigned storage, S3-like: `PUT /_storage/{upload_id}/{chunk_index}?X-Amz-…` stores
//! one chunk and answers its quoted MD5 as `ETag`. Bodies are streamed to disk, never held whole
//! in memory, and fault injection (500, reset, stall) happens here.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::config::PutFailureKind;
use crate::connection::ConnectionControl;
use crate::errors::StorageError;
use crate::params::Query;
use crate::state::{AppState, PutFate, SessionStatus};

/// How many bytes of a part are gathered before one write to disk.
const PART_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// Deletes a partly written file unless the write completed (also when the handler is dropped
/// because the client went away mid-body).
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    fn keep(&mut self) {
        self.path = None;
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn access_denied(message: &str) -> StorageError {
    StorageError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

fn no_such_upload() -> StorageError {
    StorageError::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// `PUT /_storage/{upload_id}/{chunk_index}`.
pub async fn put_chunk(
    State(state): State<Arc<AppState>>,
    Path((upload_id, index)): Path<(String, u64)>,
    RawQuery(raw): RawQuery,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, StorageError> {
    let query = Query::parse(raw.as_deref());
    let (Some(expires), Some(nonce), Some(signature)) = (
        query
            .one("X-Amz-Expires")
            .and_then(|text| text.parse::<i64>().ok()),
        query.one("X-Amz-Nonce"),
        query.one("X-Amz-Signature"),
    ) else {
        return Err(access_denied("Query-string authentication requires the X-Amz-Expires, X-Amz-Nonce and X-Amz-Signature parameters."));
    };
    if !state.verify_chunk_url(&upload_id, index, expires, nonce, signature) {
        return Err(StorageError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    state.count_put(&upload_id, index, |stats| stats.attempts += 1);
    let reject = |error: StorageError| {
        state.count_put(&upload_id, index, |stats| {
            stats.rejected += 1;
            *stats.rejections.entry(error.code).or_default() += 1;
        });
        error
    };
    let now = state.clock.now();
    if now.timestamp() >= expires {
        return Err(reject(access_denied("Request has expired")));
    }
    let Some(session) = state.session(&upload_id) else {
        return Err(reject(no_such_upload()));
    };
    let expected_len = {
        let mut session = session.lock().expect("session lock");
        if session.status(now) != SessionStatus::Active {
            return Err(reject(no_such_upload()));
        }
        if state.faults().single_use_urls && !session.used_nonces.insert(nonce.to_owned()) {
            return Err(reject(access_denied(
                "Request has already been used: this URL is single-use.",
            )));
        }
        session.expected_chunk_len(index)
    };
    if let Some(declared) = content_length(&headers) {
        if declared != expected_len {
            return Err(reject(wrong_size(index, expected_len, declared)));
        }
    }

    let fate = state.decide_put_fate();
    match fate {
        PutFate::Store => {}
        PutFate::Fail(kind) => {
            state.count_put(&upload_id, index, |stats| stats.injected_failures += 1);
            return Err(inject_failure(&state, kind, expected_len, body, connection).await);
        }
    }

    tokio::fs::create_dir_all(state.parts_dir(&upload_id))
        .await
        .map_err(|error| internal_error(&error))?;
    let temp_path = state
        .parts_dir(&upload_id)
        .join(format!("{index}.{nonce}.{}.partial", state.new_id()));
    let mut partial = PartialFile {
        path: Some(temp_path.clone()),
    };
    // Body frames are small (often 16 KiB); each write to a `tokio::fs::File` is a trip to the
    // blocking pool, so they are gathered into large writes first.
    let mut file = tokio::io::BufWriter::with_capacity(
        PART_WRITE_BUFFER_BYTES,
        tokio::fs::File::create(&temp_path)
            .await
            .map_err(|error| internal_error(&error))?,
    );
    let mut hasher = Md5::new();
    let mut received = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let Ok(bytes) = frame else {
            // The client went away mid-body: nothing is recorded, the session is untouched.
            return Err(reject(StorageError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body ended before it was complete.",
            )));
        };
        received += bytes.len() as u64;
        if received > expected_len {
            return Err(reject(wrong_size(index, expected_len, received)));
        }
        hasher.update(&bytes);
        file.write_all(&bytes)
            .await
            .map_err(|error| internal_error(&error))?;
    }
    if received != expected_len {
        return Err(reject(wrong_size(index, expected_len, received)));
    }
    file.flush().await.map_err(|error| internal_error(&error))?;
    drop(file);
    let md5_hex = hex::encode(hasher.finalize());
    tokio::fs::rename(&temp_path, state.part_path(&upload_id, index, &md5_hex))
        .await
        .map_err(|error| internal_error(&error))?;
    partial.keep();

    {
        let mut session = session.lock().expect("session lock");
        let chunk = &mut session.chunks[(index - 1) as usize];
        chunk.stored_etags.insert(md5_hex.clone());
        chunk.updated_at = Some(state.clock.now());
    }
    state.count_put(&upload_id, index, |stats| stats.stored += 1);
    let etag = HeaderValue::from_str(&format!("\"{md5_hex}\"")).expect("hex is a valid header");
    Ok((StatusCode::OK, [(header::ETAG, etag)]).into_response())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn wrong_size(index: u64, expected: u64, actual: u64) -> StorageError {
    let code = if actual > expected {
        "EntityTooLarge"
    } else {
        "EntityTooSmall"
    };
    StorageError::new(
        StatusCode::BAD_REQUEST,
        code,
        format!(
            "Chunk {index} must be exactly {expected} bytes; the request carries {actual} bytes."
        ),
    )
}

fn internal_error(error: &dyn std::fmt::Display) -> StorageError {
    StorageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        format!("The emulator failed to store the chunk: {error}"),
    )
}

/// Carries out an injected PUT failure. For `reset` and `stall` the connection is killed, so
/// the returned error is never seen by the client.
async fn inject_failure(
    state: &AppState,
    kind: PutFailureKind,
    expected_len: u64,
    body: Body,
    connection: Option<Extension<ConnectionControl>>,
) -> StorageError {
    let injected = StorageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "We encountered an internal error. Please try again. (emulator fault injection)",
    );
    let read_limit = match kind {
        PutFailureKind::ServerError => u64::MAX,
        PutFailureKind::Reset | PutFailureKind::Stall => expected_len / 2,
    };
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while received < read_limit {
        match stream.next().await {
            Some(Ok(bytes)) => received += bytes.len() as u64,
            _ => break,
        }
    }
    if kind == PutFailureKind::Stall {
        let stall = Duration::from_secs(state.faults().put_stall_secs);
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(stall) => {}
            _ = crate::connection::stopped(&mut shutdown) => {}
        }
    }
    if kind != PutFailureKind::ServerError {
        if let Some(Extension(connection)) = connection {
            connection.kill();
            // Give the connection task the chance to drop the socket before hyper could
            // write this handler's answer.
            std::future::pending::<()>().await;
        }
    }
    injected
}

/// `GET /_emulator/assets/{asset_id}/file` and the report's `url`: the assembled bytes.
pub async fn serve_file(path: PathBuf) -> Response {
    match tokio::fs::File::open(&path).await {
        Ok(file) => {
            let stream = file_chunks(file);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Streams a file in 256 KiB reads.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    })
}
