//! The JS-facing `Uploader` class.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, File};

use crate::browser::api::{Api, Authority, GrantSource};
use crate::browser::js_error::{string_argument, to_js_error};
use crate::browser::options::OptionReader;
use crate::browser::store::Store;
use crate::browser::transport::Transport;
use crate::browser::types::*;
use crate::core::engine::{option_limits, Engine, EngineConfig, Input};
use crate::core::error::Error;
use crate::core::queue::SavedEntry;
use crate::core::resume::database_name;
use crate::core::retry::Operation;
use crate::core::sorted_map::SortedMap;
use crate::core::wire::{CreateAssetFields, CreateAssetMethod};

use super::calls::{asset_form, list_query};
use super::connectivity::{navigator_offline, Connectivity};
use super::executor;
use super::handle::{fail, UploadHandle};
use super::lookup::{pending_list, saved_entry, Lookup, StoreTask};
use super::one_off::{Answer, OneOffRequest, Settler};
use super::request::{OptionsOf, UploadRequest};
use super::{random_u64, Inner, PersistSetting, Shared};

/// Uploads files to TwelveLabs through the Worker. See the package README for a complete example.
#[wasm_bindgen]
#[derive(Clone)]
pub struct Uploader {
    inner: Rc<Inner>,
}

impl Uploader {
    /// `(concurrency, progress interval in ms, whether uploads are saved for resuming)`, for
    /// an upload queue on this uploader.
    pub(crate) fn queue_settings(&self) -> (u32, u64, bool) {
        let config = &self.inner.config;
        (
            config.concurrency,
            config.progress_interval_ms,
            self.inner.persist == PersistSetting::Auto,
        )
    }
}

impl Uploader {
    /// Calls `restore` with the usable saved uploads (as `pendingUploads` lists them); the
    /// promise resolves after it (unreadable records are not listed).
    pub(crate) fn restore_saved(&self, restore: impl FnOnce(Vec<SavedEntry>) + 'static) -> Promise {
        self.inner.read_records(Box::new(move |records| {
            restore(records.into_iter().map(saved_entry).collect());
            JsValue::UNDEFINED
        }))
    }

    /// Whether the uploader holds itself alive because an operation is in flight (so that a
    /// page may drop it mid-upload). An idle uploader must not: tests check both.
    #[doc(hidden)]
    pub fn holds_itself(&self) -> bool {
        self.inner.keepalive.borrow().is_some()
    }
}

/// How an upload starts: a new session, or a saved one continued after a reload.
pub(super) enum UploadStart {
    New(Blob),
    Resume(File),
}

impl Uploader {
    /// The common path of `upload` and `resume`: reads the options, returns the handle at once,
    /// and settles it with the outcome of the started upload.
    pub(super) fn begin(
        &self,
        start: UploadStart,
        options: &JsValue,
        options_of: OptionsOf,
    ) -> UploadHandle {
        let size = match &start {
            UploadStart::New(blob) => blob.size(),
            UploadStart::Resume(file) => file.size(),
        };
        // `Blob.size` is a non-negative integer below 2^53.
        let (handle, state) = UploadHandle::create(size as u64);
        match UploadRequest::read(options, options_of) {
            Err(error) => fail(&state, &error),
            Ok(request) => {
                state.borrow_mut().driver = Some(Rc::clone(&self.inner));
                handle.attach(&request);
                match start {
                    // Already aborted through its signal: nothing to start.
                    _ if state.borrow().settled => {}
                    UploadStart::New(blob) => {
                        if let Err(error) = self.inner.start_new(blob, request, &state) {
                            fail(&state, &error);
                        }
                    }
                    UploadStart::Resume(file) => {
                        self.inner.start_resume(file, request, Rc::clone(&state));
                    }
                }
            }
        }
        handle
    }
}

#[wasm_bindgen]
impl Uploader {
    /// Creates an uploader. Throws an `UploadError` (`invalid_input`) for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsUploaderOptions) -> Result<Uploader, JsValue> {
        Self::from_options(options.as_ref()).map_err(|e| to_js_error(&e))
    }

    pub(super) fn from_options(options: &JsValue) -> Result<Uploader, Error> {
        if options.is_undefined() || options.is_null() {
            return Err(Error::invalid(
                "UploaderOptions are required (at least `endpoint` and `getToken`)",
            ));
        }
        let o = OptionReader::new(options, "UploaderOptions");
        let endpoint = o
            .string("endpoint")
            .filter(|e| e.starts_with("http://") || e.starts_with("https://"));
        if endpoint.is_none() {
            o.refuse("UploaderOptions.endpoint must be an http(s) URL");
        }
        let authority = match (o.function("getToken"), o.string("apiKey")) {
            (Some(get_token), None) => Some(Authority::Grant(GrantSource::new(get_token))),
            (None, Some(key)) if !key.is_empty() => Some(Authority::ApiKey(key)),
            _ => {
                o.refuse("UploaderOptions needs exactly one of getToken and apiKey");
                None
            }
        };
        let mut config = EngineConfig::default();
        if let Some(concurrency) = o.integer_in("concurrency", option_limits::CONCURRENCY) {
            config.concurrency = concurrency as u32;
        }
        if let Some(interval) =
            o.integer_in("progressIntervalMs", option_limits::PROGRESS_INTERVAL_MS)
        {
            config.progress_interval_ms = interval;
        }
        if let Some(retry) = o.object("retry") {
            let r = OptionReader::new(&retry, "UploaderOptions.retry");
            let base = r.integer_in("baseDelayMs", option_limits::BACKOFF_BASE_MS);
            let cap = r.integer_in("maxDelayMs", option_limits::BACKOFF_CAP_MS);
            let attempts = r.integer_in("maxAttempts", option_limits::BACKOFF_MAX_ATTEMPTS);
            r.finish()?;
            config.apply_retry_option(base, cap, attempts.map(|a| a as u32))?;
        }
        if let Some(bound) = o.integer_in("stallTimeoutMs", option_limits::STALL_TIMEOUT_MS) {
            config.apply_stall_timeout(bound);
        }
        if let Some(max) = o.integer_in(
            "directUploadMaxBytes",
            option_limits::DIRECT_UPLOAD_MAX_BYTES,
        ) {
            config.direct_upload_max_bytes = max;
        }
        // A runtime without IndexedDB (Node) saves nothing: its uploads are not resumable.
        let persist = match o.bool("persist") {
            Some(false) => PersistSetting::Off,
            _ if !Store::exists() => PersistSetting::Off,
            _ => PersistSetting::Auto,
        };
        let scope = o.string_of_length("persistScope", option_limits::PERSIST_SCOPE_CHARS);
        let fetch = o.function("fetch");
        o.finish()?;
        // Both are present once `finish` found nothing refused.
        let (Some(endpoint), Some(authority)) = (endpoint, authority) else {
            return Err(Error::invalid("UploaderOptions are incomplete"));
        };
        config.renewable_grant = matches!(authority, Authority::Grant(_));
        config.jitter_seed = random_u64();
        let engine = Engine::new(config.clone())?;
        let transport = Transport::new(fetch)?;
        let api = Api::new(transport, &endpoint, authority);
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            state: RefCell::new(Shared {
                engine,
                files: SortedMap::new(),
                ops: SortedMap::new(),
                timer: None,
                deferred: Vec::new(),
                aborting: Vec::new(),
                abort_listeners: SortedMap::new(),
                next_local: 0,
                store_tasks: Vec::new(),
            }),
            sink: executor::sink(weak.clone()),
            keepalive: RefCell::new(None),
            abandoned_requests: RefCell::new(Vec::new()),
            api,
            persist,
            database: database_name(scope.as_deref()),
            store: RefCell::new(None),
            store_failed: Default::default(),
            config,
            _connectivity: Connectivity::listen(weak.clone()),
        });
        if navigator_offline() {
            inner.feed(Input::Offline);
        }
        Ok(Uploader { inner })
    }

    /// Starts uploading `file` (a `File` or `Blob`). Returns at once; await `handle.done`
    /// (it rejects with `invalid_input` for anything but a `Blob`).
    pub fn upload(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob")] file: JsValue,
        options: Option<JsUploadOptions>,
    ) -> UploadHandle {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        match file.dyn_into::<Blob>() {
            Ok(blob) => self.begin(UploadStart::New(blob), &options, OptionsOf::Upload),
            Err(_) => failed_handle(Error::invalid("upload() takes a File or a Blob")),
        }
    }

    /// Continues a saved upload after a reload, once the user re-selected the same file. Only
    /// the chunks the server does not have are sent. `done` rejects with `file_mismatch` when
    /// the file is not the one that was being uploaded (and with `invalid_input` when it is
    /// not a `File`), and with `conflict`, before a request is made, while another tab or window of
    /// the app runs the upload.
    pub fn resume(
        &self,
        #[wasm_bindgen(unchecked_param_type = "File")] file: JsValue,
        options: Option<JsResumeOptions>,
    ) -> UploadHandle {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        match file.dyn_into::<File>() {
            Ok(file) => self.begin(UploadStart::Resume(file), &options, OptionsOf::Resume),
            Err(_) => failed_handle(Error::invalid("resume() takes the File chosen again")),
        }
    }

    /// The resumable uploads saved in IndexedDB (expired ones are removed, not listed; nor are
    /// those another tab, window or uploader of this origin is sending).
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "Promise<PendingUpload[]>")]
    pub fn pending_uploads(&self) -> Promise {
        self.inner.read_records(Box::new(pending_list))
    }

    /// Gives up a saved upload: deletes its record and, for one no page runs, the asset its
    /// session reserved (which would otherwise stay `processing`); settles once both are gone,
    /// or 10 s after the record if the asset's deletion takes longer (it then goes on).
    /// Rejects with `conflict` while another tab or window of the app sends that upload. Like
    /// a `forget` that succeeds, one that rejects first waits for the page's asset deletions
    /// under way (at most 10 s), so that the page may be left right after.
    /// Without `id`, gives up every upload this origin saved under this uploader's
    /// `persistScope` (completed ones' records too), but those another tab or window sends: for
    /// a user signing out of a shared browser.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] id: Option<JsValue>,
    ) -> Promise {
        let id = match id.filter(|id| !id.is_null() && !id.is_undefined()) {
            None => None,
            Some(id) => match string_argument(&id, "forget: id") {
                Ok(id) => Some(id),
                Err(error) => return started_or_rejected(Err(error)),
            },
        };
        Settler::promise(|settler| {
            (self.inner).with_store(StoreTask::Read(Lookup::Forget(id, settler)))
        })
    }

    /// Creates an asset from a public URL (TwelveLabs fetches it).
    #[wasm_bindgen(js_name = uploadUrl, unchecked_return_type = "Promise<Asset>")]
    pub fn upload_url(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
        options: Option<JsUrlUploadOptions>,
    ) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let started = (|| {
            let url = string_argument(&url, "uploadUrl: url")?;
            let request = UploadRequest::read(&options, OptionsOf::UploadUrl)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid("uploadUrl needs an http(s) URL"));
            }
            let fields = CreateAssetFields {
                method: CreateAssetMethod::Url,
                url: Some(url),
                filename: request.filename.clone(),
                enable_hls: request.enable_hls,
                enable_thumbnail: request.enable_thumbnail,
                user_metadata: request.user_metadata.clone(),
            };
            let answer = if request.wait_until_ready {
                Answer::AssetWhenReady(None)
            } else {
                Answer::Asset
            };
            Ok(self.inner.one_off(
                Operation::CreateSession,
                OneOffRequest::CreateAsset(asset_form(&fields)?),
                answer,
                request.signal,
            ))
        })();
        started_or_rejected(started)
    }

    /// Reads one asset.
    #[wasm_bindgen(js_name = getAsset, unchecked_return_type = "Promise<Asset>")]
    pub fn get_asset(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] asset_id: JsValue,
    ) -> Promise {
        let started = string_argument(&asset_id, "getAsset: assetId").map(|asset_id| {
            self.inner.one_off(
                Operation::GetAsset,
                OneOffRequest::Get(asset_id),
                Answer::Asset,
                None,
            )
        });
        started_or_rejected(started)
    }

    /// Lists assets, newest first.
    #[wasm_bindgen(js_name = listAssets, unchecked_return_type = "Promise<AssetPage>")]
    pub fn list_assets(&self, options: Option<JsListAssetsOptions>) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let started = list_query(&options).map(|(query, signal)| {
            self.inner.one_off(
                Operation::ListAssets,
                OneOffRequest::List(query),
                Answer::AssetPage,
                signal,
            )
        });
        started_or_rejected(started)
    }

    /// Deletes an asset (`conflict` when indexed assets use it, unless `force`).
    #[wasm_bindgen(js_name = deleteAsset, unchecked_return_type = "Promise<void>")]
    pub fn delete_asset(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] asset_id: JsValue,
        options: Option<JsDeleteAssetOptions>,
    ) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let o = OptionReader::new(&options, "DeleteAssetOptions");
        let force = o.bool("force").unwrap_or(false);
        let signal = o.signal("signal");
        let started = (|| {
            let asset_id = string_argument(&asset_id, "deleteAsset: assetId")?;
            o.finish()?;
            Ok(self.inner.one_off(
                Operation::DeleteAsset,
                OneOffRequest::Delete { asset_id, force },
                Answer::Nothing,
                signal,
            ))
        })();
        started_or_rejected(started)
    }

    /// Resolves when the asset is `ready`; rejects with `asset_failed` if processing fails.
    #[wasm_bindgen(js_name = waitUntilReady, unchecked_return_type = "Promise<Asset>")]
    pub fn wait_until_ready(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] asset_id: JsValue,
        options: Option<JsWaitOptions>,
    ) -> Promise {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let o = OptionReader::new(&options, "WaitOptions");
        let signal = o.signal("signal");
        let timeout = o.integer("timeoutMs", 1, 1 << 40);
        let started = (|| {
            let asset_id = string_argument(&asset_id, "waitUntilReady: assetId")?;
            o.finish()?;
            Ok(self.inner.wait_until_ready(asset_id, signal, timeout))
        })();
        started_or_rejected(started)
    }
}

/// The handle of an upload that could not start: `done` rejects with `error`.
fn failed_handle(error: Error) -> UploadHandle {
    let (handle, state) = UploadHandle::create(0);
    fail(&state, &error);
    handle
}

/// The promise of a call that started, or one rejected with why it could not.
fn started_or_rejected(started: Result<Promise, Error>) -> Promise {
    started.unwrap_or_else(|error| Promise::reject(&to_js_error(&error)))
}
