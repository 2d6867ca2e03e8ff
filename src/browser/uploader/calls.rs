//! The forms and queries of the API calls outside the multipart loop (asset calls, direct
//! uploads); `one_off` sends the asset calls.

use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Blob, FormData};

use crate::browser::convert;
use crate::browser::js_error::from_js;
use crate::browser::options::OptionReader;
use crate::browser::wire_js;
use crate::core::error::{Error, ErrorCode};
use crate::core::wire::{
    encode_query, limits, validate_filename, validate_user_metadata, CreateAssetFields,
    CreateAssetMethod, CreateMultipartUploadRequest, ListAssetsQuery, MediaType, UserMetadata,
};

/// The form of `POST /assets` with `fields` (from the core's one builder), after checking the
/// filename and user metadata.
pub(super) fn asset_form(fields: &CreateAssetFields) -> Result<FormData, Error> {
    if let Some(filename) = &fields.filename {
        validate_filename(filename)?;
    }
    if let Some(metadata) = &fields.user_metadata {
        validate_user_metadata(metadata)?;
    }
    form_of(fields)
}

/// The form of `fields`, already checked.
fn form_of(fields: &CreateAssetFields) -> Result<FormData, Error> {
    let form = FormData::new().map_err(|e| from_js(&e, ErrorCode::Internal))?;
    let encode_metadata =
        |metadata: &UserMetadata| wire_js::stringify(&convert::user_metadata(metadata));
    for (name, value) in fields.form_fields_with(encode_metadata) {
        form.append_with_str(name, &value)
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
    }
    Ok(form)
}

/// The form of a direct upload of `blob`: the fields of its session request (checked when the
/// upload started, by `validate_create_multipart`), and the file.
pub(super) fn direct_form(
    create: &CreateMultipartUploadRequest,
    blob: &Blob,
) -> Result<FormData, Error> {
    let form = form_of(&CreateAssetFields {
        method: CreateAssetMethod::Direct,
        url: None,
        filename: Some(create.filename.clone()),
        enable_hls: create.enable_hls,
        enable_thumbnail: create.enable_thumbnail,
        user_metadata: create.user_metadata.clone(),
    })?;
    form.append_with_blob_and_filename("file", blob, &create.filename)
        .map_err(|e| from_js(&e, ErrorCode::Internal))?;
    Ok(form)
}

pub(super) fn list_query(options: &JsValue) -> Result<(String, Option<AbortSignal>), Error> {
    let o = OptionReader::new(options, "ListAssetsOptions");
    let asset_types = o
        .strings("assetTypes")
        .unwrap_or_default()
        .iter()
        .filter_map(|kind| {
            let media_type = MediaType::parse(kind);
            if media_type.is_none() {
                o.refuse(
                    "ListAssetsOptions.assetTypes must hold \"video\", \"audio\" or \"image\"",
                );
            }
            media_type
        })
        .collect();
    let query = ListAssetsQuery {
        page: o.integer("page", 1, u64::from(u32::MAX)).unwrap_or(1) as u32,
        page_limit: o
            .integer("pageLimit", 1, u64::from(limits::PAGE_LIMIT_MAX))
            .map_or(limits::PAGE_LIMIT_DEFAULT, |limit| limit as u32),
        // How many ids and which file names a list may ask for is the server's rule (the
        // Worker's `ListAssetsQuery::parse`, or TwelveLabs itself with an API key): checking
        // it here too would cost the package its messages for an answer one request gives.
        asset_ids: match o.strings("assetIds") {
            // No id at all would send no filter, and list every asset.
            Some(ids) if ids.is_empty() => {
                o.refuse("ListAssetsOptions.assetIds must name at least one asset (leave it out to list every asset)");
                ids
            }
            ids => ids.unwrap_or_default(),
        },
        asset_types,
        filename: o.string("filename"),
    };
    let signal = o.signal("signal");
    o.finish()?;
    Ok((encode_query(&query.to_query_pairs()), signal))
}
