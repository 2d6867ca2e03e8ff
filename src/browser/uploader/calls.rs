//! One-off API calls outside the upload loop (asset calls, direct uploads), with the core's
//! retry decisions, and the forms and queries they send.

use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Blob, FormData};

use crate::browser::api::{outcome_of, unreadable_outcome, ApiFailure, AssetCall};
use crate::browser::convert;
use crate::browser::js_error::from_js;
use crate::browser::options::OptionReader;
use crate::browser::runtime::sleep;
use crate::browser::transport::ApiResponse;
use crate::browser::wire_js;
use crate::core::engine::{AssetWait, AssetWaitStep};
use crate::core::error::{Error, ErrorCode};
use crate::core::retry::{NextStep, OneOffRetry, Operation};
use crate::core::wire::{
    encode_query, limits, validate_filename, validate_user_metadata, CreateAssetFields,
    CreateAssetMethod, CreateMultipartUploadRequest, ListAssetsQuery, MediaType, PageQuery,
    UserMetadata,
};

use super::{now, random_u64, Inner};

impl Inner {
    /// Runs a one-off API call with the core's decisions ([`OneOffRetry`]): sends, sleeps when
    /// told to, fails when told to, and returns the 2xx body read by `read`.
    pub(super) async fn call_with_retries<T>(
        &self,
        operation: Operation,
        signal: Option<&AbortSignal>,
        call: AssetCall<'_>,
        read: fn(&JsValue) -> Result<T, wire_js::Unreadable>,
    ) -> Result<T, Error> {
        let response = self
            .retry_call(operation, signal, call, &|body| read(body).map(drop))
            .await?;
        // `retry_call` only returns a body `read` accepted.
        read(&response.body)
            .map_err(|_| Error::new(ErrorCode::ServerInvalid, "unexpected response"))
    }

    /// The retry loop of [`Inner::call_with_retries`], not generic (one copy in the wasm):
    /// `readable` tells whether a 2xx body reads.
    pub(super) async fn retry_call(
        &self,
        operation: Operation,
        signal: Option<&AbortSignal>,
        call: AssetCall<'_>,
        readable: &dyn Fn(&JsValue) -> Result<(), wire_js::Unreadable>,
    ) -> Result<ApiResponse, Error> {
        let mut retry = OneOffRetry::new(operation, self.config.one_off_backoff(operation));
        if self.api.renewable_grant() {
            retry = retry.with_renewable_grant();
        }
        loop {
            let outcome = match self.api.asset_call(&call, signal).await {
                Ok(response) if response.is_success() => match readable(&response.body) {
                    Ok(()) => return Ok(response),
                    Err(unreadable) => unreadable_outcome(response.status, unreadable),
                },
                Ok(response) => outcome_of(&response),
                Err(ApiFailure::Aborted) => {
                    return Err(Error::new(ErrorCode::Aborted, "the request was aborted"))
                }
                Err(ApiFailure::Fatal(error)) => return Err(error),
                Err(ApiFailure::Outcome(outcome)) => outcome,
            };
            match retry.after(&outcome, random_u64()) {
                // Only a storage PUT classifies as success; an API 2xx gets here only unread.
                NextStep::Done => {
                    return Err(Error::new(ErrorCode::ServerInvalid, "unexpected response"))
                }
                NextStep::Fail(error) => return Err(error),
                NextStep::RefreshGrant => self.api.renew_grant().await?,
                NextStep::RetryAfterMs(delay) => {
                    sleep(delay as f64).await;
                    if signal.is_some_and(|s| s.aborted()) {
                        return Err(Error::new(ErrorCode::Aborted, "the request was aborted"));
                    }
                }
            }
        }
    }

    /// Polls the asset until it is `ready` or `failed`, as [`AssetWait`] decides (the engine's
    /// jittered asset polling, with the optional time limit).
    pub(super) async fn wait_ready(
        &self,
        asset_id: &str,
        signal: Option<&AbortSignal>,
        timeout_ms: Option<u64>,
    ) -> Result<crate::core::wire::Asset, Error> {
        let mut wait = AssetWait::new(self.config.asset_poll, now(), timeout_ms);
        loop {
            let asset = self
                .call_with_retries(
                    Operation::Asset,
                    signal,
                    AssetCall::Get(asset_id),
                    wire_js::asset,
                )
                .await?;
            match wait.after(&asset, now(), random_u64()) {
                AssetWaitStep::Ready => return Ok(asset),
                AssetWaitStep::Fail(error) => return Err(error),
                AssetWaitStep::PollAfterMs(delay) => sleep(delay as f64).await,
            }
            if signal.is_some_and(|s| s.aborted()) {
                return Err(Error::new(ErrorCode::Aborted, "waiting was aborted"));
            }
        }
    }
}

/// The form of `POST /assets` with `fields` (from the core's one builder), after checking the
/// filename and user metadata.
pub(super) fn asset_form(fields: &CreateAssetFields) -> Result<FormData, Error> {
    if let Some(filename) = &fields.filename {
        validate_filename(filename)?;
    }
    if let Some(metadata) = &fields.user_metadata {
        validate_user_metadata(metadata)?;
    }
    let form = FormData::new().map_err(|e| from_js(&e, ErrorCode::Internal))?;
    let encode_metadata =
        |metadata: &UserMetadata| wire_js::stringify(&convert::user_metadata(metadata));
    for (name, value) in fields.form_fields_with(encode_metadata) {
        form.append_with_str(name, &value)
            .map_err(|e| from_js(&e, ErrorCode::Internal))?;
    }
    Ok(form)
}

/// The form of a direct upload of `blob`: the fields of its session request, and the file.
pub(super) fn direct_form(
    create: &CreateMultipartUploadRequest,
    blob: &Blob,
) -> Result<FormData, Error> {
    let form = asset_form(&CreateAssetFields {
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
    let o = OptionReader::new(options, "ListAssetsOptions")?;
    let asset_types = o
        .strings("assetTypes")?
        .unwrap_or_default()
        .iter()
        .map(|kind| {
            MediaType::parse(kind).ok_or_else(|| {
                Error::invalid(
                    "ListAssetsOptions.assetTypes must hold \"video\", \"audio\" or \"image\"",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query = ListAssetsQuery {
        page: PageQuery {
            page: Some(o.integer("page", 1, u64::from(u32::MAX))?.unwrap_or(1) as u32),
            page_limit: Some(
                o.integer("pageLimit", 1, u64::from(limits::PAGE_LIMIT_MAX))?
                    .map_or(limits::PAGE_LIMIT_DEFAULT, |limit| limit as u32),
            ),
        },
        asset_ids: o.strings("assetIds")?.unwrap_or_default(),
        asset_types,
        filename: o.string("filename")?,
    };
    Ok((encode_query(&query.to_query_pairs()), o.signal("signal")?))
}
