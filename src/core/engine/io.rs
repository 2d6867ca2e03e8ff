//! The contract with the adapter: what it feeds the engine ([`NewFile`], [`Input`]) and what the
//! engine asks of it ([`Action`]).

use serde::{Deserialize, Serialize};

use crate::core::error::Error;
use crate::core::plan::ByteRange;
use crate::core::progress::Progress;
use crate::core::resume::SavedUpload;
use crate::core::retry::HttpOutcome;
use crate::core::wire::{
    Asset, CompletedChunk, CreateMultipartUploadResponse, PresignedUrlsResponse,
    ReportChunksResponse, UploadStatusResponse,
};

/// Identifies one upload (file) inside an [`Engine`](super::Engine). Lower ids are scheduled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId(pub u32);

/// Identifies one request the engine asked the adapter to perform. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// A file to upload, handed to [`Engine::add`](super::Engine::add): the engine decides the rest
/// (direct upload or multipart session, its creation and retries, the chunks, the asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFile {
    /// Size of the file in bytes (at least 1).
    pub file_size: u64,
    /// Poll the asset after the upload until it is `ready` or `failed`.
    pub wait_for_asset: bool,
    /// Read the file's resume fingerprint ([`Action::ReadFingerprint`]) once, before its
    /// multipart session is created, so that the saved-state record can find the file again
    /// after a reload. A direct upload leaves no record, so it reads none.
    pub fingerprint: bool,
}

impl NewFile {
    /// A file of `file_size` bytes, without waiting for the asset or reading a fingerprint.
    pub fn new(file_size: u64) -> Self {
        NewFile {
            file_size,
            wait_for_asset: false,
            fingerprint: false,
        }
    }

    /// Checks what [`Engine::add`](super::Engine::add) refuses, for an adapter that wants to
    /// know before it prepares anything else: an empty file (`invalid_input`).
    pub fn validate(&self) -> Result<(), Error> {
        if self.file_size == 0 {
            return Err(Error::invalid("cannot upload an empty file"));
        }
        Ok(())
    }
}

/// A session created elsewhere (see [`Engine::add_upload`](super::Engine::add_upload)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    /// Size of the local file (checked against the server's plan).
    pub file_size: u64,
    /// The create response (from TwelveLabs or the Worker).
    pub session: CreateMultipartUploadResponse,
    /// Poll the asset after the upload until it is `ready` or `failed`.
    pub wait_for_asset: bool,
}

impl NewUpload {
    /// An upload of `file_size` bytes for `session`, without waiting for the asset.
    pub fn new(file_size: u64, session: CreateMultipartUploadResponse) -> Self {
        NewUpload {
            file_size,
            session,
            wait_for_asset: false,
        }
    }
}

/// Everything the adapter tells the engine. Each is handled with the current local time.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A session creation ([`Action::CreateSession`]) ended.
    SessionCreated {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<CreateMultipartUploadResponse, HttpOutcome>,
    },
    /// A direct upload ([`Action::DirectUpload`]) ended.
    DirectUploadDone {
        /// The request.
        request: RequestId,
        /// The created asset on 2xx, or what went wrong.
        result: Result<Asset, HttpOutcome>,
    },
    /// The resume fingerprint asked for with [`Action::ReadFingerprint`] was read, or could not
    /// be (the upload then goes on without a saved-state record): the session is created next.
    FingerprintRead {
        /// The request.
        request: RequestId,
    },
    /// Upload progress of a PUT in flight (bytes of its body sent so far), if the transport can
    /// observe it. Optional: without it "sent" advances when chunks are acknowledged.
    PutProgress {
        /// The PUT.
        request: RequestId,
        /// Bytes of this chunk sent so far.
        bytes_sent: u64,
    },
    /// A chunk PUT ended (successfully or not).
    PutDone {
        /// The PUT.
        request: RequestId,
        /// What the transport saw.
        outcome: HttpOutcome,
    },
    /// A presigned-URL request ended.
    UrlsDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<PresignedUrlsResponse, HttpOutcome>,
    },
    /// A report request ended.
    ReportDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<ReportChunksResponse, HttpOutcome>,
    },
    /// A status page request ended.
    StatusDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<UploadStatusResponse, HttpOutcome>,
    },
    /// An asset request ended.
    AssetDone {
        /// The request.
        request: RequestId,
        /// The parsed body on 2xx, or what went wrong.
        result: Result<Asset, HttpOutcome>,
    },
    /// Pause one upload, or all (`None`): no new PUTs, URL requests or status reads until
    /// [`Input::Resume`]. An upload whose bytes are all with the server (waiting for its asset)
    /// is not held: the asset is polled on, and its phase stays what it is.
    Pause {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// Resume one upload, or all (`None`).
    Resume {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// Abort one upload, or all (`None`): every request is cancelled and the upload finishes
    /// with `aborted`.
    Abort {
        /// The upload, or `None` for all.
        file: Option<FileId>,
    },
    /// Another page continued the upload's session while this one had it paused (it holds the
    /// session's lock: [`resume::claim_name`]): the upload ends with `conflict`, its requests
    /// cancelled, and its saved record and asset are left to that page.
    ///
    /// [`resume::claim_name`]: crate::core::resume::claim_name
    TakenOver {
        /// The upload.
        file: FileId,
    },
    /// Another page gave the upload up while this one had it paused (`forget`, or a lookup that
    /// found its record expired): its record is gone and the asset its session reserved is
    /// deleted, so the upload ends with `conflict` rather than complete a session whose asset is
    /// gone ([`resume::given_up_elsewhere`]). Nothing is deleted: that page did it.
    ///
    /// [`resume::given_up_elsewhere`]: crate::core::resume::given_up_elsewhere
    GivenUpElsewhere {
        /// The upload.
        file: FileId,
    },
    /// The upload's record is not saved after all (its fingerprint could not be read, or it was
    /// forgotten): no resume can continue it, so an ending that would keep the record for one
    /// deletes the asset its session reserved instead.
    RecordDropped {
        /// The upload.
        file: FileId,
    },
    /// A fresh grant is at hand (after [`Action::NeedToken`]): the calls waiting for it go out.
    TokenRefreshed,
    /// No grant could be had (after [`Action::NeedToken`]): the uploads waiting for one fail
    /// with `error` (e.g. `getToken` threw, or returned no grant).
    TokenFailed {
        /// Why.
        error: Error,
    },
    /// The network went away (`offline` event): nothing new starts; failures do not count.
    Offline,
    /// The network is back (`online` event): waiting retries start now.
    Online,
    /// A timer armed for [`Engine::next_wakeup`](super::Engine::next_wakeup) fired (or any time
    /// passed).
    Tick,
}

/// Everything the engine asks of the adapter, or tells it.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Action {
    /// Read the file's resume fingerprint (its name, size, modification time and content samples,
    /// [`resume::SAMPLE_BYTES`] from each of [`resume::sample_starts`]), keep it for the
    /// saved-state record, then report [`Input::FingerprintRead`]. Local work, asked for once
    /// before [`Action::CreateSession`] when [`NewFile::fingerprint`] is set. Cancelled
    /// ([`Action::Cancel`]: stop reading, or read on and drop the outcome) when the upload is
    /// aborted meanwhile: the session is then never asked for, so nothing is created.
    ///
    /// [`resume::SAMPLE_BYTES`]: crate::core::resume::SAMPLE_BYTES
    /// [`resume::sample_starts`]: crate::core::resume::sample_starts
    ReadFingerprint {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
    },
    /// `POST /assets/multipart-uploads` for the file (its name, media type and size, which the
    /// adapter knows), then report [`Input::SessionCreated`]. Never cancelled: after an abort the
    /// engine still takes the outcome, to delete the asset a created session reserved.
    CreateSession {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
    },
    /// `POST /assets` with `method=direct` and the whole file as the `file` part, then report
    /// [`Input::DirectUploadDone`]. Never cancelled, like [`Action::CreateSession`].
    DirectUpload {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
    },
    /// `PUT` the bytes `range` of the file to `url` (with the session's `upload_headers`), then
    /// report [`Input::PutDone`].
    Put {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// 1-based chunk index.
        chunk_index: u32,
        /// The presigned URL (used once).
        url: String,
        /// The bytes to send (`Blob.slice(range.start, range.end)`).
        range: ByteRange,
    },
    /// `POST …/{upload_id}/presigned-urls` with `{start, count}`, then report
    /// [`Input::UrlsDone`].
    RequestUrls {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// First chunk index.
        start: u32,
        /// Number of URLs (1–50).
        count: u32,
    },
    /// `POST …/{upload_id}` with `{"completed_chunks": chunks}`, then report
    /// [`Input::ReportDone`].
    Report {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// 1–50 chunks.
        chunks: Vec<CompletedChunk>,
    },
    /// `GET …/{upload_id}?page=&page_limit=`, then report [`Input::StatusDone`].
    FetchStatus {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// Page (1-based).
        page: u32,
        /// Page size.
        page_limit: u32,
    },
    /// `GET /assets/{asset_id}`, then report [`Input::AssetDone`].
    FetchAsset {
        /// Report the outcome with this id.
        request: RequestId,
        /// The upload.
        file: FileId,
        /// The asset.
        asset_id: String,
    },
    /// Get a fresh grant (call the application's `getToken`), then report
    /// [`Input::TokenRefreshed`] or [`Input::TokenFailed`]. Asked for before the first call that
    /// needs a grant and after a 401 (see [`EngineConfig::renewable_grant`]); at most one is
    /// outstanding.
    ///
    /// [`EngineConfig::renewable_grant`]: super::EngineConfig::renewable_grant
    NeedToken,
    /// The grant asked for with [`Action::NeedToken`] is no longer needed: the last upload
    /// waiting for it is over. Stop waiting for `getToken` (its answer, if one comes, is not
    /// fed); a later upload asks again.
    TokenUnneeded,
    /// `DELETE /assets/{asset_id}`, best effort: the asset a multipart session reserved, left
    /// behind by an aborted upload (it would otherwise stay `processing` in the user's asset
    /// list forever), or the asset a session creation or direct upload made after its upload
    /// was aborted. No outcome is reported: a failure changes nothing (the upload already
    /// finished with `aborted`), so the adapter sends it as a one-off `deleteAsset` call, with
    /// that call's retries and a fresh grant after a 401 ([`crate::core::retry::OneOffRetry`]
    /// for `Operation::DeleteAsset`: a long upload outlives the grant it began with), and
    /// ignores the result. It is emitted whether or not the engine holds a grant: that call
    /// gets one itself (with its retries) when none is cached.
    DeleteAsset {
        /// The reserved asset.
        asset_id: String,
    },
    /// Abort this request; its outcome, if still reported, is ignored.
    Cancel {
        /// The request.
        request: RequestId,
    },
    /// A throttled progress update.
    Progress {
        /// The upload.
        file: FileId,
        /// The snapshot.
        progress: Progress,
    },
    /// The saved-state record changed: store [`Engine::saved_state`](super::Engine::saved_state) (e.g. in IndexedDB).
    /// Never for an upload that saves no record ([`Input::RecordDropped`]).
    SaveState {
        /// The upload.
        file: FileId,
    },
    /// The upload is over for good: delete its saved-state record. Emitted before
    /// [`Action::Finished`] (and never followed by a [`Action::SaveState`] of it), for an upload
    /// with a session that ended aborted or with an error that is not retryable-later (one
    /// that ended done gets [`Action::KeepCompleted`] instead). One that ends with a retryable-later code (`network`,
    /// `upstream_unavailable`, `rate_limited`, `retries_exhausted`) keeps its record, which a
    /// later resume may finish, even once its session completed (while its asset was waited for:
    /// the resume then finds every chunk with the server and waits for the asset again). An
    /// upload that saves no record ([`Input::RecordDropped`]) gets it whenever it ends, done
    /// included: no record of it may outlive it.
    ForgetState {
        /// The upload.
        file: FileId,
    },
    /// The upload ended done: store `record` (marked [`SavedUpload::completed`]) in place of its
    /// saved-state record, until the session expires, so that another page that restored the
    /// upload learns it completed instead of uploading the file again. Emitted before
    /// [`Action::Finished`], never followed by a [`Action::SaveState`] of it.
    KeepCompleted {
        /// The upload.
        file: FileId,
        /// The record to store, under its `upload_id`.
        record: Box<SavedUpload>,
    },
    /// The session completed: every byte is with the server. The asset may still be
    /// processing; the saved record stays until the upload is over ([`Action::ForgetState`]).
    Uploaded {
        /// The upload.
        file: FileId,
        /// The asset id.
        asset_id: String,
        /// The report response's `url`, if the server sent one.
        url: Option<String>,
    },
    /// The upload is over; the engine forgets it (a session creation or direct upload still in
    /// flight is left to end: see [`Action::CreateSession`]). What happens to its saved record
    /// was said before, with [`Action::ForgetState`] or by its absence. No [`Action::Progress`]
    /// follows or comes with it: its final count is here.
    Finished {
        /// The upload.
        file: FileId,
        /// The asset, or why it failed (`aborted` after [`Input::Abort`]).
        outcome: Result<Completion, Error>,
        /// The upload's final count (unthrottled).
        progress: Progress,
    },
}

/// A successful upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The asset id.
    pub asset_id: String,
    /// The report response's `url`, if the server sent one.
    pub url: Option<String>,
    /// The final asset: `ready` when the asset was waited for; as created for a direct upload
    /// that was not; `None` for a multipart upload that was not (boxed: it is large).
    pub asset: Option<Box<Asset>>,
}
