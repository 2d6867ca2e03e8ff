//! Starting an upload: a new session (or a direct upload), or a saved one after a reload.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{Blob, File};

use crate::browser::api::AssetCall;
use crate::browser::convert;
use crate::browser::js_error::from_js;
use crate::browser::wire_js;
use crate::core::engine::{FileId, Input, NewUpload};
use crate::core::error::{Error, ErrorCode};
use crate::core::progress::Progress;
use crate::core::resume::find_resumable;
use crate::core::retry::Operation;
use crate::core::wire::{CreateMultipartUploadRequest, MediaType};

use super::calls::asset_form;
use super::driver::headers;
use super::handle::{changed, emit_progress, settle};
use super::persistence::fingerprint;
use super::request::{file_name, UploadRequest};
use super::{now, FileEntry, HandleState, Inner, PersistSetting};

impl Inner {
    pub(super) async fn start_new(
        self: &Rc<Self>,
        blob: Blob,
        request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        let size = blob.size();
        if size <= 0.0 {
            return Err(Error::invalid("the file is empty"));
        }
        let size = size as u64;
        let media_type = match request.media_type {
            Some(t) => t,
            None => MediaType::from_mime(&blob.type_()).ok_or_else(|| {
                Error::new(
                    ErrorCode::UnsupportedType,
                    format!(
                        "cannot infer the media type from file.type \"{}\": pass `type`",
                        blob.type_()
                    ),
                )
            })?,
        };
        let filename = request
            .filename
            .clone()
            .or_else(|| file_name(&blob))
            .unwrap_or_else(|| "upload".to_owned());
        let signal = request.signal.clone();
        if size <= self.direct_upload_max_bytes {
            return self
                .direct_upload(blob, size, filename, request, handle)
                .await;
        }
        let fingerprint = match (self.persist, blob.dyn_ref::<File>()) {
            (PersistSetting::Auto, Some(file)) => Some(fingerprint(file).await?),
            _ => None,
        };
        let create = CreateMultipartUploadRequest {
            filename,
            media_type,
            total_size: size,
            enable_hls: request.enable_hls,
            enable_thumbnail: request.enable_thumbnail,
            user_metadata: request.user_metadata.clone(),
        };
        crate::core::wire::validate_create_multipart(&create)?;
        let session = self
            .call_with_retries(
                Operation::CreateSession,
                signal.as_ref(),
                AssetCall::CreateSession(&create),
                wire_js::create_response,
                Some(&handle),
            )
            .await?;
        if handle.borrow().settled {
            // Aborted while the session was being created: nothing will be uploaded to it.
            self.state.borrow_mut().engine.abandon_session(&session);
            self.pump();
            return Ok(());
        }
        let entry = FileEntry {
            blob,
            upload_id: session.upload_id.clone(),
            upload_token: session.upload_token.clone(),
            upload_headers: headers(&session.upload_headers),
            handle: Rc::clone(&handle),
            fingerprint,
        };
        let asset_id = session.asset_id.clone();
        let new_upload = NewUpload {
            file_size: size,
            session,
            server_time_ms: None,
            wait_for_asset: request.wait_until_ready,
        };
        let file = self
            .state
            .borrow_mut()
            .engine
            .add_upload(now(), new_upload)?;
        self.register(file, entry, asset_id, &handle);
        Ok(())
    }

    pub(super) async fn start_resume(
        self: &Rc<Self>,
        file: File,
        request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        if self.store().await.is_none() {
            return Err(Error::invalid(
                "resume needs persistence: IndexedDB is unavailable or `persist` is false",
            ));
        }
        let records = self.saved_records().await;
        let size = file.size() as u64;
        let found = find_resumable(
            records
                .iter()
                .map(|(id, record)| (id.as_str(), &record.fingerprint, (id, record))),
            request.resume_id.as_deref(),
            &file.name(),
            size,
        )
        .map(|(id, record)| (id.clone(), record.clone()));
        let Some((id, record)) = found else {
            return Err(Error::new(
                ErrorCode::NotFound,
                "no saved upload matches this file (see pendingUploads())",
            ));
        };
        let actual = fingerprint(&file).await?;
        if actual != record.fingerprint {
            return Err(Error::new(
                ErrorCode::FileMismatch,
                format!(
                    "the chosen file is not the one that was being uploaded as \"{}\"",
                    record.filename
                ),
            ));
        }
        if handle.borrow().settled {
            return Ok(());
        }
        let saved = record.saved;
        let restored = self.state.borrow_mut().engine.restore_upload(
            now(),
            saved.clone(),
            size,
            request.wait_until_ready,
        );
        let file_id = match restored {
            Ok(id) => id,
            Err(error) => {
                if error.code == ErrorCode::SessionExpired {
                    if let Some(store) = self.store().await {
                        let _ = store.delete(&id).await;
                    }
                }
                return Err(error);
            }
        };
        let entry = FileEntry {
            blob: file.into(),
            upload_id: saved.upload_id.clone(),
            upload_token: saved.upload_token.clone(),
            upload_headers: headers(&saved.upload_headers),
            handle: Rc::clone(&handle),
            fingerprint: Some(actual),
        };
        self.register(file_id, entry, saved.asset_id.clone(), &handle);
        Ok(())
    }

    pub(super) fn register(
        self: &Rc<Self>,
        file: FileId,
        entry: FileEntry,
        asset_id: String,
        handle: &Rc<RefCell<HandleState>>,
    ) {
        let upload_id = entry.upload_id.clone();
        self.state.borrow_mut().files.insert(file, entry);
        let paused = {
            let mut state = handle.borrow_mut();
            state.file = Some(file);
            state.upload_id = Some(upload_id);
            state.asset_id = Some(asset_id);
            state.phase = "uploading";
            state.paused
        };
        changed(handle);
        if paused {
            self.feed(Input::Pause { file: Some(file) });
        } else {
            self.pump();
        }
    }

    pub(super) async fn direct_upload(
        self: &Rc<Self>,
        blob: Blob,
        size: u64,
        filename: String,
        mut request: UploadRequest,
        handle: Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        request.filename = Some(filename.clone());
        let form = asset_form("direct", &request)?;
        form.append_with_blob_and_filename("file", &blob, &filename)
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
        // One request carries the whole file: handed to the network at once.
        let progress = Progress {
            total_chunks: 1,
            sent_bytes: size,
            ..Progress::starting(size)
        };
        emit_progress(&handle, "uploading", progress);
        let signal = request.signal.clone();
        let asset = self
            .call_with_retries(
                Operation::CreateSession,
                signal.as_ref(),
                AssetCall::CreateAsset(&form),
                wire_js::asset,
                Some(&handle),
            )
            .await?;
        handle.borrow_mut().asset_id = Some(asset.id.clone());
        emit_progress(&handle, "processing", progress.finished());
        let asset = if request.wait_until_ready {
            self.wait_ready(&asset.id, signal.as_ref(), None).await?
        } else {
            asset
        };
        settle(&handle, "done", Ok(convert::asset(&asset)));
        Ok(())
    }
}
