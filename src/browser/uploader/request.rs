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

/// Which call's options are read: each takes the names its TypeScript type lists, and any
/// other name is refused as unknown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionsOf {
    /// `upload(file, options)`: `UploadOptions`.
    Upload,
    /// `resume(file, options)`: `ResumeOptions`, `UploadOptions` and the upload's `id`.
    Resume,
    /// `uploadUrl(url, options)`: `UrlUploadOptions`, no `type` (TwelveLabs reads the media) and
    /// no `onProgress` (no bytes pass through the client).
    UploadUrl,
    /// `queue.add`/`restorePending`: `QueueAddOptions`, refused later if they hold the queue's
    /// own `signal` or `onProgress`.
    QueueAdd,
}

impl OptionsOf {
    fn type_name(self) -> &'static str {
        match self {
            OptionsOf::Upload => "UploadOptions",
            OptionsOf::Resume => "ResumeOptions",
            OptionsOf::UploadUrl => "UrlUploadOptions",
            OptionsOf::QueueAdd => "QueueAddOptions",
        }
    }
}

impl UploadRequest {
    pub(crate) fn read(options: &JsValue, call: OptionsOf) -> Result<UploadRequest, Error> {
        let o = OptionReader::new(options, call.type_name());
        let of_a_file = call != OptionsOf::UploadUrl;
        let request = UploadRequest {
            media_type: of_a_file.then(|| o.media_type("type")).flatten(),
            filename: o.string("filename"),
            enable_hls: o.bool("enableHls"),
            enable_thumbnail: o.bool("enableThumbnail"),
            user_metadata: o.user_metadata("userMetadata"),
            signal: o.signal("signal"),
            on_progress: of_a_file.then(|| o.function("onProgress")).flatten(),
            wait_until_ready: o.bool("waitUntilReady").unwrap_or(false),
            resume_id: (call == OptionsOf::Resume)
                .then(|| o.string("id"))
                .flatten(),
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
