//! The executor's vocabulary: what a report from the browser says happened ([`report`]), the
//! operations in flight ([`Op`]) and which engine input a fetch's outcome becomes ([`Call`]).

use wasm_bindgen::JsValue;
use web_sys::{AbortController, IdbOpenDbRequest, IdbRequest, IdbTransaction};

use crate::browser::transport::ResponseHead;
use crate::core::engine::{FileId, RequestId};

use super::claim::AfterClaims;
use super::forget::{Forgetting, PageWork};
use super::lookup::{Lookup, Resume};
use super::one_off::OneOff;
use super::persistence::SampleReader;

/// What a report says happened (the sink's first argument).
pub(super) mod report {
    /// `fetch` resolved: the value is the `Response`.
    pub const RESPONSE: u32 = 0;
    /// The response body was read: the value is its text.
    pub const BODY: u32 = 1;
    /// `fetch` or the body read rejected: the value is what was thrown.
    pub const FETCH_FAILED: u32 = 2;
    /// The wake-up timer fired.
    pub const TIMER: u32 = 3;
    /// `getToken` answered: the value is what it returned (or resolved to).
    pub const TOKEN: u32 = 4;
    /// `getToken` threw or rejected: the value is what was thrown.
    pub const TOKEN_FAILED: u32 = 5;
    /// An IndexedDB request or transaction succeeded, or a file sample was read (the value is
    /// its `ArrayBuffer`).
    pub const DONE: u32 = 6;
    /// An IndexedDB request or transaction failed or aborted, or a file sample was unreadable.
    pub const FAILED: u32 = 7;
    /// The microtask that feeds the inputs deferred by [`Inner::deferred`](super::super::Inner::deferred).
    pub const SOON: u32 = 9;
    /// A one-off call's wait before it is sent again (or the asset polled again) is over.
    pub const RETRY: u32 = 10;
    /// An upload's `signal` aborted.
    pub const ABORT: u32 = 11;
    /// `getToken` gave no answer within the engine's bound (`EngineConfig::token_wait_ms`).
    pub const TOKEN_LATE: u32 = 12;
    /// A one-off call's `signal` aborted.
    pub const ONE_OFF_ABORT: u32 = 13;
}

/// Removes the reporters from a transaction that ended.
pub(super) fn release_transaction(transaction: &IdbTransaction) {
    transaction.set_oncomplete(None);
    transaction.set_onerror(None);
    transaction.set_onabort(None);
}

/// Local operation ids start here, above any engine `RequestId` (and exact in an `f64`).
pub(super) const LOCAL_IDS: u64 = 1 << 52;

/// Which engine input a fetch's outcome becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    /// A chunk of this file.
    Put(FileId),
    Urls,
    Report,
    Status,
    Asset,
    /// Session creation; the file's entry records the session before the engine hears of it.
    Create(FileId),
    Direct,
}

/// An operation in flight, by its id.
pub(super) enum Op {
    Fetch {
        call: Call,
        controller: Option<AbortController>,
        /// Status and headers, once the response arrived.
        head: Option<ResponseHead>,
        /// The outcome was already fed (a stored chunk), or the engine cancelled the request:
        /// what comes later is only awaited, not reported.
        settled: bool,
    },
    /// Calling `getToken`, for everyone who waits for its answer; given up on at `deadline`
    /// (a timer), after which a late answer is ignored.
    Token {
        waiters: Vec<TokenWaiter>,
        deadline: JsValue,
    },
    /// Opening the database, given up on at `deadline` (a timer).
    StoreOpen {
        request: IdbOpenDbRequest,
        deadline: JsValue,
    },
    StoreWrite(IdbTransaction),
    /// Reading every saved record, for `lookup`.
    StoreRead {
        transaction: IdbTransaction,
        keys: IdbRequest,
        values: IdbRequest,
        lookup: Lookup,
    },
    /// `forget`: deleting the records; the promise settles once the deletion committed.
    StoreForget {
        transaction: IdbTransaction,
        forgetting: Box<Forgetting>,
    },
    /// `forget`: asking for the lock of the session of a record to give up.
    ForgetClaim(Box<Forgetting>, String),
    /// `forget`: deleting an asset a forgotten record's session reserved; once that call is
    /// over, whatever its outcome, the next one.
    DiscardAssets(Box<Forgetting>),
    /// Deleting the asset of an upload that ended: held (never read) as the page's work until
    /// it is over.
    DiscardAsset {
        _work: PageWork,
    },
    /// Reading the chosen file's fingerprint samples, to continue a saved upload.
    Fingerprint {
        resume: Box<Resume>,
        reader: SampleReader,
    },
    /// A one-off call: sending, renewing its grant, or waiting to resend.
    OneOff(Box<OneOff>),
    /// Reading the first byte of a file whose chunk PUT failed without a response (the op's id
    /// is that PUT's request).
    Probe,
    /// Asking for the lock of an upload's session (`claim`): just created, or resumed after a
    /// pause.
    Claim(FileId),
    /// Asking for the lock of the session a `resume()` continues, before anything is sent.
    ClaimResume(Box<Resume>),
    /// Reading which session locks are held, for what waits on them.
    QueryClaims(Box<AfterClaims>),
    /// Reading the resume fingerprint's samples the engine asked for with `request`.
    Sample {
        file: FileId,
        request: RequestId,
        reader: SampleReader,
    },
}

/// Who waits for a `getToken` answer. One call serves everyone who needs a grant meanwhile.
pub(super) enum TokenWaiter {
    /// The engine, which asked with `NeedToken`.
    Engine,
    /// A one-off call, with its id.
    OneOff(u64, Box<OneOff>),
}
