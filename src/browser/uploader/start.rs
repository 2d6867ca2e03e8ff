//! Starting a new upload: the file handed to the engine (a saved one continues through
//! `lookup`).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{Blob, File};

use crate::core::engine::{FileId, NewFile};
use crate::core::error::{Error, ErrorCode};
use crate::core::wire::{validate_create_multipart, CreateMultipartUploadRequest, MediaType};

use super::handle::changed;
use super::request::{file_name, UploadRequest};
use super::{now, FileEntry, HandleState, Inner, PersistSetting};

impl Inner {
    /// Checks a new upload's options and hands the file to the engine, which decides the rest:
    /// direct upload or multipart session, its creation and retries, the chunks, the asset.
    pub(super) fn start_new(
        self: &Rc<Self>,
        blob: Blob,
        request: UploadRequest,
        handle: &Rc<RefCell<HandleState>>,
    ) -> Result<(), Error> {
        // `Blob.size` is a non-negative integer below 2^53.
        let size = blob.size() as u64;
        let new_file = NewFile {
            file_size: size,
            wait_for_asset: request.wait_until_ready,
            // A saved-state record needs a `File` (its name and modification time) to be
            // found again after a reload.
            fingerprint: self.persist == PersistSetting::Auto && blob.is_instance_of::<File>(),
        };
        new_file.validate()?;
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
        let create = CreateMultipartUploadRequest {
            filename,
            media_type,
            total_size: size,
            enable_hls: request.enable_hls,
            enable_thumbnail: request.enable_thumbnail,
            user_metadata: request.user_metadata.clone(),
        };
        // The same fields make a direct upload's form, which the same rules govern.
        validate_create_multipart(&create)?;
        let file = self.state.borrow_mut().engine.add(now(), new_file)?;
        let entry = FileEntry {
            blob,
            create: Some(create),
            session: None,
            upload_headers: Vec::new(),
            handle: Rc::clone(handle),
            fingerprint: None,
            claim: None,
            claiming: false,
        };
        self.register(file, entry, handle);
        Ok(())
    }

    /// Hands a started upload's bookkeeping to the driver and executes the engine's first
    /// actions (or the pause asked for before the upload was known to the engine).
    pub(super) fn register(
        self: &Rc<Self>,
        file: FileId,
        entry: FileEntry,
        handle: &Rc<RefCell<HandleState>>,
    ) {
        self.state.borrow_mut().files.insert(file, entry);
        let paused = {
            let mut state = handle.borrow_mut();
            state.file = Some(file);
            state.phase = self.shown_phase(file, state.phase, state.paused);
            state.paused
        };
        changed(handle);
        if paused {
            self.pause_upload(file);
        } else {
            self.pump();
        }
    }
}
