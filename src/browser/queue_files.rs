//! The files an [`super::queue::UploadQueue`] is given: `add`'s one file or iterable of them,
//! and `attachFile`'s file chosen again. Each is read whole here, before the queue's state is
//! borrowed, so that a JS getter that throws cannot leave that borrow held.

use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, File};

use super::js_error::from_js;
use crate::core::error::{Error, ErrorCode};

/// The files of `add`: one `Blob`/`File`, or an iterable (a `FileList`, an array) of them.
pub(super) fn read_files(files: &JsValue) -> Result<Vec<Blob>, Error> {
    if let Some(blob) = files.dyn_ref::<Blob>() {
        return Ok(vec![blob.clone()]);
    }
    let not_files =
        || Error::invalid("add() takes a File, a Blob, a FileList or an iterable of them");
    let iterable = files.is_object()
        && Reflect::get(files, &js_sys::Symbol::iterator()).is_ok_and(|f| f.is_function());
    if !iterable {
        return Err(not_files());
    }
    let items = array_from(files).map_err(|e| from_js(&e, ErrorCode::InvalidInput))?;
    let mut blobs = Vec::with_capacity(items.length() as usize);
    for item in items.iter() {
        blobs.push(item.dyn_into::<Blob>().map_err(|_| not_files())?);
    }
    Ok(blobs)
}

#[wasm_bindgen]
extern "C" {
    /// `Array.from(iterable)`: one call instead of the iterator protocol driven from Rust.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = from)]
    fn array_from(iterable: &JsValue) -> Result<Array, JsValue>;
}

/// `attachFile`'s file, with its name and size: a `File`, or `invalid_input`.
pub(super) fn chosen_file(file: JsValue) -> Result<(File, String, u64), Error> {
    let file = file
        .dyn_into::<File>()
        .map_err(|_| Error::invalid("attachFile() takes the File chosen again"))?;
    let (name, size) = (file.name(), file.size() as u64);
    Ok((file, name, size))
}
