//! The options of one `upload`/`resume`/`uploadUrl` call.

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortSignal, Blob, File};

use crate::browser::options::OptionReader;
use crate::core::error::Error;
use crate::core::wire::{MediaType, UserMetadata};

/// What `upload`/`resume` were asked to do.
pub(crate) struct UploadRequest {
    pub(super) media_type: Option<MediaType>,
    pub(crate) filename: Option<String>,
    pub(super) enable_hls: Option<bool>,
    pub(super) enable_thumbnail: Option<bool>,
    pub(super) user_metadata: Option<UserMetadata>,
    pub(crate) signal: Option<AbortSignal>,
    pub(crate) on_progress: Option<Function>,
    pub(super) wait_until_ready: bool,
    pub(super) resume_id: Option<String>,
}

impl UploadRequest {
    pub(crate) fn read(options: &JsValue, owner: &'static str) -> Result<UploadRequest, Error> {
        let o = OptionReader::new(options, owner);
        let request = UploadRequest {
            media_type: o.media_type("type"),
            filename: o.string("filename"),
            enable_hls: o.bool("enableHls"),
            enable_thumbnail: o.bool("enableThumbnail"),
            user_metadata: o.user_metadata("userMetadata"),
            signal: o.signal("signal"),
            on_progress: o.function("onProgress"),
            wait_until_ready: o.bool("waitUntilReady").unwrap_or(false),
            resume_id: o.string("id"),
        };
        o.finish()?;
        Ok(request)
    }
}

pub(super) fn file_name(blob: &Blob) -> Option<String> {
    blob.dyn_ref::<File>()
        .map(|f| f.name())
        .filter(|n| !n.is_empty())
}
