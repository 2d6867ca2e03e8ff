//! The saved-state record of an upload: what must survive a page reload to resume it.
//!
//! Compact on purpose (it lives in IndexedDB, one record per file): the session identity, the
//! server's plan, the measured clock offset, the chunks the API confirmed as ranges, and the
//! ETags of chunks uploaded but not yet confirmed (so they are reported, not uploaded again).
//! ETags of confirmed chunks are not kept: the server already has them.

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, ErrorCode};
use crate::core::wire::{timestamp, UploadHeaders};

/// The current record format. Records of another version are refused with `invalid_input`.
pub const SAVED_UPLOAD_VERSION: u32 = 1;

/// How long the store that keeps the records (IndexedDB) may take to open before the uploader
/// goes on without it, as when a browser refuses storage: its uploads then cannot be resumed
/// after a reload, and the calls that read the records (`pendingUploads`, a queue's
/// `restorePending`) answer with none, instead of waiting for an open that may never answer.
pub const STORE_OPEN_TIMEOUT_MS: u64 = 5_000;

/// Everything needed to resume an upload after a reload. Produced by
/// [`Engine::saved_state`](crate::core::engine::Engine::saved_state), consumed by
/// [`Engine::restore_upload`](crate::core::engine::Engine::restore_upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedUpload {
    /// Record format version ([`SAVED_UPLOAD_VERSION`]).
    pub version: u32,
    /// The multipart session id.
    pub upload_id: String,
    /// The reserved asset id.
    pub asset_id: String,
    /// The Worker's upload token for the upload-scoped calls, if the session came through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_token: Option<String>,
    /// Headers to send with every chunk PUT.
    #[serde(default, skip_serializing_if = "UploadHeaders::is_empty")]
    pub upload_headers: UploadHeaders,
    /// The file's size.
    pub total_size: u64,
    /// The server's chunk size.
    pub chunk_size: u64,
    /// The server's chunk count.
    pub total_chunks: u32,
    /// Session expiry (RFC 3339, server clock).
    pub expires_at: String,
    /// Server clock minus local clock when the record was written, in ms.
    #[serde(default)]
    pub clock_offset_ms: i64,
    /// Chunks the API confirmed, as inclusive `[first, last]` index ranges.
    #[serde(default)]
    pub reported: Vec<[u32; 2]>,
    /// Uploaded but unconfirmed chunks: `(index, etag)`.
    #[serde(default)]
    pub etags: Vec<(u32, String)>,
    /// The session completed. Such a record is kept until the session expires so that a page
    /// which restored the upload before another page completed it learns so: a `resume` naming
    /// its id reads the session's status and finds the asset, instead of finding nothing and
    /// uploading the file again. It is never pending ([`SavedUpload::is_pending`]).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub completed: bool,
}

impl SavedUpload {
    /// Checks the record's version and internal consistency (indices within the plan).
    pub fn validate(&self) -> Result<(), Error> {
        if self.version != SAVED_UPLOAD_VERSION {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "saved upload record has version {}, this client reads version {SAVED_UPLOAD_VERSION}",
                    self.version
                ),
            ));
        }
        let in_plan = |i: u32| i >= 1 && i <= self.total_chunks;
        for &[first, last] in &self.reported {
            if first > last || !in_plan(first) || !in_plan(last) {
                return Err(Error::invalid(format!(
                    "saved upload record has a bad range {first}-{last}"
                )));
            }
        }
        for (index, etag) in &self.etags {
            if !in_plan(*index) || etag.is_empty() {
                return Err(Error::invalid(format!(
                    "saved upload record has a bad ETag entry for chunk {index}"
                )));
            }
        }
        if timestamp::parse(&self.expires_at).is_none() {
            return Err(Error::invalid(format!(
                "saved upload record has an unreadable expiry \"{}\"",
                self.expires_at
            )));
        }
        Ok(())
    }

    /// Whether the session is past its expiry at local time `now_ms`, judged on the server's
    /// clock through the record's measured offset. An expiry that does not read counts as past:
    /// such a record cannot be trusted to resume (see [`SavedUpload::validate`]).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        match timestamp::parse(&self.expires_at) {
            Some(expires_server_ms) => {
                let now_server_ms = i64::try_from(now_ms)
                    .unwrap_or(i64::MAX)
                    .saturating_add(self.clock_offset_ms);
                expires_server_ms <= now_server_ms
            }
            None => true,
        }
    }

    /// Whether the record can still resume its upload at local time `now_ms`: it reads (see
    /// [`SavedUpload::validate`]) and its session has not expired. A record that cannot is
    /// deleted wherever it is met: listing the records, or restoring one that expired since.
    pub fn is_usable(&self, now_ms: u64) -> bool {
        self.validate().is_ok() && !self.is_expired(now_ms)
    }

    /// Whether the record is an upload still to finish: listed by `pendingUploads()`, restored
    /// by a queue, found by a `resume` without an id. A completed one is none of these.
    pub fn is_pending(&self) -> bool {
        !self.completed
    }

    /// Bytes of chunk `index` (1-based; the last one may be shorter; 0 outside the plan).
    pub fn chunk_len(&self, index: u32) -> u64 {
        if index == 0 || index > self.total_chunks {
            return 0;
        }
        let start = u64::from(index - 1).saturating_mul(self.chunk_size);
        self.total_size
            .min(start.saturating_add(self.chunk_size))
            .saturating_sub(start)
    }

    /// Bytes the API confirmed (the reported chunks).
    pub fn reported_bytes(&self) -> u64 {
        self.reported_chunks().map(|i| self.chunk_len(i)).sum()
    }

    /// The chunks the API confirmed, by index.
    pub fn reported_chunks(&self) -> impl Iterator<Item = u32> + '_ {
        (1..=self.total_chunks).filter(|&i| self.is_reported(i))
    }

    /// Whether chunk `index` is listed as confirmed.
    pub fn is_reported(&self, index: u32) -> bool {
        self.reported
            .iter()
            .any(|&[first, last]| (first..=last).contains(&index))
    }
}

/// Identifies a file across reloads: name, size, modification time, and a hash of samples of
/// its content (so that a different file with the same name and size is told apart).
#[derive(Debug, Clone)]
pub struct Fingerprint {
    /// `File.name`.
    pub name: String,
    /// `File.size`.
    pub size: u64,
    /// `File.lastModified` (ms since the epoch).
    pub last_modified: f64,
    /// A hash of samples of the content (hex).
    pub sample_hash: String,
}

/// Bytes read from each sampled place of a file for its fingerprint's [`SampleHash`].
pub const SAMPLE_BYTES: u64 = 64 * 1024;

/// Where a file of `size` bytes is sampled for its fingerprint: the start, the middle and the
/// end, [`SAMPLE_BYTES`] from each (overlapping, or all the file, for a small file).
pub fn sample_starts(size: u64) -> [u64; 3] {
    let middle = (size / 2).saturating_sub(SAMPLE_BYTES / 2);
    [0, middle, size.saturating_sub(SAMPLE_BYTES)]
}

/// The hash of a file's samples, read in the order of [`sample_starts`]: FNV-1a, 64 bit. It
/// tells files apart; it is not a security property (the server verifies chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleHash(u64);

impl SampleHash {
    /// The hash of nothing read yet.
    pub fn new() -> Self {
        SampleHash(0xcbf2_9ce4_8422_2325)
    }

    /// Adds the next sample's bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash as [`Fingerprint::sample_hash`] holds it: 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for SampleHash {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        // The modification time is compared bit for bit: it is the same number read twice.
        self.name == other.name
            && self.size == other.size
            && self.last_modified.to_bits() == other.last_modified.to_bits()
            && self.sample_hash == other.sample_hash
    }
}

/// Where a saved record stands, for [`find_resumable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its upload may be continued here.
    Pending,
    /// Its upload is pending, but another page sends it now ([`is_claimed_elsewhere`]).
    SentElsewhere,
    /// Its upload completed ([`SavedUpload::completed`]).
    Completed,
}

/// Which saved record a re-selected file resumes: the one with the wanted id when the caller
/// names one (a completed record too: see [`SavedUpload::completed`]), else a pending one whose
/// file had the same name and size, that with the same modification time first (two files of
/// one name and size, such as `IMG_0001.MOV` from two cameras, each find their own), and one that
/// another page sends only when no other matches (its resume then fails with `conflict`, rather
/// than an idle record being missed). The content sample is compared afterwards, once it has been
/// read, to refuse a different file with `file_mismatch`. Each record comes as
/// `(id, fingerprint, standing, record)`.
pub fn find_resumable<'a, T>(
    records: impl IntoIterator<Item = (&'a str, &'a Fingerprint, Standing, T)>,
    wanted_id: Option<&str>,
    name: &str,
    size: u64,
    last_modified: f64,
) -> Option<T> {
    // Lower is better: an idle record first, then one with the same modification time.
    let mut best: Option<(u8, T)> = None;
    for (id, fingerprint, standing, record) in records {
        if let Some(wanted) = wanted_id {
            if id == wanted {
                return Some(record);
            }
            continue;
        }
        if standing == Standing::Completed || fingerprint.name != name || fingerprint.size != size {
            continue;
        }
        let other_time = fingerprint.last_modified.to_bits() != last_modified.to_bits();
        let rank = 2 * u8::from(standing == Standing::SentElsewhere) + u8::from(other_time);
        if rank == 0 {
            return Some(record);
        }
        if best.as_ref().is_none_or(|(kept, _)| rank < *kept) {
            best = Some((rank, record));
        }
    }
    best.map(|(_, record)| record)
}

/// Whether a saved record may be forgotten: not while another page sends its upload
/// (`conflict`): the record is that page's, and the one way to resume the upload once that page
/// is closed. An upload of this page whose record is forgotten saves none from then on.
pub fn check_forget(sent_elsewhere: bool, upload_id: &str) -> Result<(), Error> {
    match sent_elsewhere {
        true => check_claim(ClaimOutcome::HeldElsewhere, upload_id),
        false => Ok(()),
    }
}

/// What `forget` does with one saved record.
#[derive(Debug, Clone, PartialEq)]
pub enum ForgetRecord {
    /// Forget it.
    Forget,
    /// Leave it: another page sends its upload, and `forget()` without an id forgets what it
    /// can.
    Leave,
    /// Refuse the whole `forget(id)`: another page sends that upload.
    Refuse(Error),
}

/// The one rule for a record `forget` meets (of `upload_id`, `sent_elsewhere` or not):
/// `forget(id)` ([`check_forget`]) refuses one another page sends, `forget()` of every record
/// (`every`) leaves it.
pub fn forget_record(every: bool, sent_elsewhere: bool, upload_id: &str) -> ForgetRecord {
    match (check_forget(sent_elsewhere, upload_id), every) {
        (Ok(()), _) => ForgetRecord::Forget,
        (Err(_), true) => ForgetRecord::Leave,
        (Err(error), false) => ForgetRecord::Refuse(error),
    }
}

/// Whether giving up records (of `every` record, for the page's own `forget` call or for a
/// lookup's expiry cleanup) also stops every upload of the uploader from saving its record: only
/// `forget()` of every record, which a page calls to sign out, so that an upload with no session
/// (and so no record) yet never saves one afterwards. A lookup that gives up expired records
/// leaves the uploads its uploader runs saving theirs: another page may need them to resume.
pub fn forget_stops_saving(every: bool, asked_by_page: bool) -> bool {
    every && asked_by_page
}

/// Whether `forget` waits for a deletion the page began at `began_ms` (another `forget`'s, or an
/// aborted upload's asset deletion), given the latest start of a `forget`'s deadline that then
/// fired, a whole [`FORGET_ASSET_WAIT_MS`] later (`waited_out_from_ms`): not for one under way
/// since before then, which that `forget` waited for long enough already (a `getToken` that never
/// answers holds it for good, and must not make every later `forget` wait its whole deadline).
/// A deletion no `forget` waited for is waited for, however old (an abort's slow DELETE).
pub fn forget_waits_for(began_ms: f64, waited_out_from_ms: Option<f64>) -> bool {
    waited_out_from_ms.is_none_or(|from| began_ms >= from)
}

/// Whether `forget` also deletes the asset the forgotten `record`'s session reserved (read under
/// the session's lock, of an upload this uploader does not run: its handle owns that one). Only
/// while the session never completed: a completed record's asset is the upload's result, and so
/// is one whose every chunk was reported (a page closed while the asset was processed leaves
/// its record pending). Without its record no page can resume the session, so its asset would
/// otherwise stay `processing`.
pub fn forget_deletes_asset(record: &SavedUpload) -> bool {
    record.is_pending() && record.reported_bytes() < record.total_size
}

/// What a page does with a saved record it meets (listing or looking up the records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetRecord {
    /// It can still resume its upload ([`SavedUpload::is_usable`]): kept and used.
    Usable,
    /// Its session expired before it completed: given up as `forget` gives records up, with
    /// the asset the session reserved ([`forget_deletes_asset`], read again under the session's
    /// lock). No page can resume an expired session, so that asset would otherwise stay
    /// `processing`.
    ExpiredReserving,
    /// Deleted alone: it does not read ([`SavedUpload::validate`]: it names no asset to trust),
    /// or its session expired after its asset was whole.
    Dropped,
}

/// Whether a record given up for its expiry ([`MetRecord::ExpiredReserving`]) is saved again
/// once the deletion of its asset ended with `error` (`None`: deleted): when the asset may still
/// be there (no grant could be had, say), so that a later lookup tries again. An asset already
/// gone (`not_found`) needs nothing more; nor does a record the page was asked to `forget`
/// meanwhile (`forgotten_since`: a user signing out wants every record gone).
pub fn expired_record_returns(error: Option<&Error>, forgotten_since: bool) -> bool {
    !forgotten_since && error.is_some_and(|e| e.code != ErrorCode::NotFound)
}

/// The one rule for a saved record met at local time `now_ms`.
pub fn met_record(record: &SavedUpload, now_ms: u64) -> MetRecord {
    if record.validate().is_err() {
        MetRecord::Dropped
    } else if !record.is_expired(now_ms) {
        MetRecord::Usable
    } else if !record.asset_id.is_empty() && forget_deletes_asset(record) {
        MetRecord::ExpiredReserving
    } else {
        MetRecord::Dropped
    }
}

/// Whether an upload that failed with `error` keeps its saved record: for an error a later
/// resume may still get past (while the asset is processed too: the resume then finds the
/// session complete and waits for the asset again), and for a file that could no longer be
/// read (`file_mismatch`): the session is intact, and a page being unloaded fails its reads too
/// (WebKit), where dropping the record would lose the upload; and for an upload another page
/// continues (`conflict`: [`check_claim`], [`taken_over`]): the record is that page's.
pub fn keeps_record(error: &Error) -> bool {
    error.is_retryable() || matches!(error.code, ErrorCode::FileMismatch | ErrorCode::Conflict)
}

/// Checks that the re-selected file's fingerprint (`actual`) is the record's (`saved`, of the
/// upload of `filename`): `file_mismatch` otherwise, naming the upload.
pub fn check_same_file(
    saved: &Fingerprint,
    actual: &Fingerprint,
    filename: &str,
) -> Result<(), Error> {
    if actual == saved {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::FileMismatch,
        format!("the chosen file is not the one that was being uploaded as \"{filename}\""),
    ))
}

/// The name of the lock (the Web Locks API's, shared by every page and worker of an origin) a
/// page holds while it sends the chunks of session `upload_id`: from the session's creation or
/// its resume until the upload is paused, over, or the page goes away. A resume, and an upload
/// resumed after a pause, asks for it first ([`check_claim`]), so that two pages never send one
/// session's chunks at once; `pendingUploads()` leaves out the uploads another page holds
/// ([`is_claimed_elsewhere`]). A paused upload lets go of it, so that another page (or a new
/// uploader of this page, once an app dropped the one that paused) may continue it.
pub fn claim_name(upload_id: &str) -> String {
    let mut name = String::from(CLAIM_PREFIX);
    name.push_str(upload_id);
    name
}

const CLAIM_PREFIX: &str = "twelvelabs-edge-upload/";

/// The IndexedDB database of the saved uploads of `scope` (the uploader's `persistScope`), one
/// per scope in an origin: an uploader lists, resumes, forgets and cleans up only the records of
/// its own scope, so on a shared browser one user's uploads (file names, upload tokens) are
/// never listed to another, and another user's lookup never meets (and drops) them. Without a
/// scope, the origin's one database.
pub fn database_name(scope: Option<&str>) -> String {
    match scope {
        None => DATABASE_PREFIX.to_owned(),
        Some(scope) => format!("{DATABASE_PREFIX}/scope/{scope}"),
    }
}

const DATABASE_PREFIX: &str = "twelvelabs-edge-upload";

/// How long `forget` waits, once the records are deleted, for the deletion of the assets their
/// sessions reserved before it settles anyway (a `getToken` that never answers must not hold
/// it forever); a deletion still running then goes on.
pub const FORGET_ASSET_WAIT_MS: u32 = 10_000;

/// How long a page waits for a session's lock before it concludes that another page sends the
/// session's chunks: long enough for a page that has just let go of it (a pause, a reload, a
/// closed tab) to have done so.
pub const CLAIM_WAIT_MS: u32 = 1_000;

/// Whether another page runs the upload of session `upload_id`: its lock is among the lock
/// names `held` in the origin, and it is not one of the sessions `own` to the uploader asking.
/// `pendingUploads()` leaves such an upload out: it is running, not pending.
pub fn is_claimed_elsewhere(upload_id: &str, held: &[String], own: &[String]) -> bool {
    let claimed = held
        .iter()
        .any(|name| name.strip_prefix(CLAIM_PREFIX) == Some(upload_id));
    claimed && !own.iter().any(|id| id == upload_id)
}

/// How asking for a session's lock ([`claim_name`]) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This page holds it now.
    Held,
    /// Someone else held it for all of [`CLAIM_WAIT_MS`]: another page (or another upload of
    /// this one) sends the session's chunks.
    HeldElsewhere,
    /// The runtime has no locks (Node, an older browser), or refused them (an opaque origin):
    /// nothing can tell whether another page runs the upload.
    Unavailable,
}

/// Whether an upload may go on (a resume, or a resume after a pause) after asking for its
/// session's lock: not while another upload holds it (`conflict`, before anything is sent; the
/// saved record stays the other upload's). Where no lock can be had, it goes on, as it did before
/// locks existed.
pub fn check_claim(outcome: ClaimOutcome, upload_id: &str) -> Result<(), Error> {
    match outcome {
        ClaimOutcome::Held | ClaimOutcome::Unavailable => Ok(()),
        ClaimOutcome::HeldElsewhere => Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "upload {upload_id} is being sent by another tab or window of this app, or by \
                 another upload in this page, until that one is paused (once the chunks it has \
                 in flight are stored) or closed"
            ),
        )),
    }
}

/// What an upload does once its request for its session's lock is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClaim {
    /// Let go of the lock (if held): the upload was paused again meanwhile, or is over.
    LetGo,
    /// Keep it: the upload is running (its session was just created).
    Keep,
    /// Keep it, and resume the upload (paused until the lock was its own again) if its record
    /// is still saved: read it first ([`after_reclaim`]).
    CheckRecord,
    /// Another page holds it: it continued the upload while it was paused here, which ends it
    /// ([`taken_over`], through [`crate::core::engine::Input::TakenOver`]).
    TakenOver,
}

/// The one rule for a lock request's answer: `outcome`, for an upload that is `live` (not over)
/// and `paused_by_user` (paused again since it asked), and whose engine upload is `held` (paused).
pub fn after_claim(
    outcome: ClaimOutcome,
    live: bool,
    paused_by_user: bool,
    held: bool,
) -> AfterClaim {
    match (live && !paused_by_user, held) {
        (false, _) => AfterClaim::LetGo,
        (true, false) => AfterClaim::Keep,
        (true, true) if outcome == ClaimOutcome::HeldElsewhere => AfterClaim::TakenOver,
        (true, true) => AfterClaim::CheckRecord,
    }
}

/// What `handle.resume()` of a paused upload does about its session's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeClaim {
    /// Nothing now: a lock request is in flight, and its answer resumes the upload
    /// ([`after_claim`]).
    Wait,
    /// Ask for the lock first, and resume once it is answered.
    Ask,
    /// Resume at once: the upload holds its lock, or saves no record (no other page can
    /// continue it), or has no session yet.
    Go,
}

/// The one rule for resuming a paused upload: one that saves a record (`saves_record`) and has
/// a session (`has_session`) but does not hold its lock (`holds_claim`) asks for it first, since
/// another page may have continued it while it was paused; one lock request at a time
/// (`claiming`).
pub fn resume_claim(
    claiming: bool,
    saves_record: bool,
    has_session: bool,
    holds_claim: bool,
) -> ResumeClaim {
    match (claiming, saves_record && has_session && !holds_claim) {
        (true, _) => ResumeClaim::Wait,
        (false, true) => ResumeClaim::Ask,
        (false, false) => ResumeClaim::Go,
    }
}

/// Why an upload paused in this page ended when it was resumed: another page had continued its
/// session meanwhile ([`crate::core::engine::Input::TakenOver`]).
pub fn taken_over(upload_id: &str) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!(
            "upload {upload_id} was continued by another tab or window of this app while it was \
             paused here"
        ),
    )
}

/// Why an upload paused in this page ended when it was resumed: another page had given it up
/// meanwhile, deleting its record and the asset its session reserved
/// ([`crate::core::engine::Input::GivenUpElsewhere`]).
pub fn given_up_elsewhere(upload_id: &str) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!(
            "upload {upload_id} was given up (forget) by another tab or window of this app \
             while it was paused here; its asset is deleted"
        ),
    )
}

/// What a paused upload that holds its session's lock again does, once its record was read
/// ([`AfterClaim::CheckRecord`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// Its record is still saved: it resumes.
    Resume,
    /// Its record is gone: another page gave the upload up (it deletes the record first, under
    /// the same lock, then the asset), so it ends ([`given_up_elsewhere`]) rather than complete
    /// a session whose asset is gone.
    GivenUpElsewhere,
}

/// The one rule for a paused upload's record read once it holds its lock again
/// (`record_saved`; `None` when it cannot be known: no store, a store that could not be read, or
/// an upload with no session yet). Only a record known to be gone ends the upload: an unreadable
/// store must not end an upload that could still complete.
pub fn after_reclaim(record_saved: Option<bool>) -> Reclaim {
    match record_saved {
        Some(false) => Reclaim::GivenUpElsewhere,
        Some(true) | None => Reclaim::Resume,
    }
}

/// Compresses ascending indices into inclusive ranges (`1,2,3,7` → `[1,3],[7,7]`).
pub fn to_ranges(sorted_indices: impl IntoIterator<Item = u32>) -> Vec<[u32; 2]> {
    let mut ranges: Vec<[u32; 2]> = Vec::new();
    for index in sorted_indices {
        match ranges.last_mut() {
            Some(last) if last[1].checked_add(1) == Some(index) => last[1] = index,
            _ => ranges.push([index, index]),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_upload_that_saves_a_record_asks_for_its_lock_before_resuming() {
        use ResumeClaim::*;
        // A lock request in flight answers for the resume, whatever else holds.
        for (saves, session, holds) in [(true, true, false), (false, false, true)] {
            assert_eq!(resume_claim(true, saves, session, holds), Wait);
        }
        assert_eq!(resume_claim(false, true, true, false), Ask);
        assert_eq!(
            resume_claim(false, true, true, true),
            Go,
            "it holds the lock"
        );
        assert_eq!(
            resume_claim(false, false, true, false),
            Go,
            "no record: no page can continue it"
        );
        assert_eq!(
            resume_claim(false, true, false, false),
            Go,
            "no session yet"
        );
    }

    #[test]
    fn a_resume_goes_on_unless_another_page_holds_the_session() {
        assert_eq!(claim_name("u-1"), "twelvelabs-edge-upload/u-1");
        let held = ["other-app-lock".to_owned(), claim_name("u-1")];
        let held = held.as_slice();
        assert!(is_claimed_elsewhere("u-1", held, &[]));
        assert!(!is_claimed_elsewhere("u-1", held, &["u-1".to_owned()]));
        assert!(!is_claimed_elsewhere("u-10", held, &[]) && !is_claimed_elsewhere("u-", held, &[]));
        assert!(!is_claimed_elsewhere("other-app-lock", held, &[]));
        assert!(check_claim(ClaimOutcome::Held, "u-1").is_ok());
        assert!(check_claim(ClaimOutcome::Unavailable, "u-1").is_ok());
        let refused = check_claim(ClaimOutcome::HeldElsewhere, "u-1").unwrap_err();
        assert_eq!(refused.code, ErrorCode::Conflict);
        assert!(refused.message.contains("u-1"), "{}", refused.message);
        assert!(!refused.is_retryable());
        assert!(keeps_record(&refused), "the record is the other upload's");
        assert!(check_forget(false, "u-1").is_ok());
        assert_eq!(forget_record(false, false, "u-1"), ForgetRecord::Forget);
        assert_eq!(forget_record(true, false, "u-1"), ForgetRecord::Forget);
        assert_eq!(forget_record(true, true, "u-1"), ForgetRecord::Leave);
        match forget_record(false, true, "u-1") {
            ForgetRecord::Refuse(error) => assert_eq!(error.code, ErrorCode::Conflict),
            other => panic!("{other:?}"),
        }
        // Only the page's own `forget()` of every record stops its uploads from saving.
        assert!(forget_stops_saving(true, true));
        assert!(
            !forget_stops_saving(true, false),
            "a lookup's expiry cleanup"
        );
        assert!(!forget_stops_saving(false, true), "forget(id)");
        assert_eq!(database_name(None), "twelvelabs-edge-upload");
        assert_ne!(database_name(Some("user-1")), database_name(Some("user-2")));
        assert_ne!(
            database_name(Some("")),
            database_name(None),
            "a scope is never the default"
        );
        // However old, a deletion no `forget` waited out is waited for.
        assert!(forget_waits_for(0.0, None));
        assert!(forget_waits_for(5_000.0, Some(5_000.0)));
        assert!(
            !forget_waits_for(4_999.0, Some(5_000.0)),
            "waited out already"
        );
        assert_eq!(
            check_forget(true, "u-1").unwrap_err().code,
            ErrorCode::Conflict
        );
        use ClaimOutcome::{Held, HeldElsewhere, Unavailable};
        for outcome in [Held, HeldElsewhere, Unavailable] {
            // Over, or paused again since it asked: the lock goes, whatever the answer.
            assert_eq!(after_claim(outcome, false, false, true), AfterClaim::LetGo);
            assert_eq!(after_claim(outcome, true, true, true), AfterClaim::LetGo);
            // A running upload (its session just created) keeps what it got.
            assert_eq!(after_claim(outcome, true, false, false), AfterClaim::Keep);
        }
        assert_eq!(
            after_claim(Held, true, false, true),
            AfterClaim::CheckRecord
        );
        assert_eq!(
            after_claim(Unavailable, true, false, true),
            AfterClaim::CheckRecord
        );
        assert_eq!(after_reclaim(Some(true)), Reclaim::Resume);
        assert_eq!(after_reclaim(Some(false)), Reclaim::GivenUpElsewhere);
        // A record that cannot be read must not end an upload that could complete.
        assert_eq!(after_reclaim(None), Reclaim::Resume);
        let given_up = given_up_elsewhere("u-1");
        assert_eq!(given_up.code, ErrorCode::Conflict);
        assert!(given_up.message.contains("u-1"), "{}", given_up.message);
        assert!(
            !given_up.message.contains("  "),
            "one space between words: {}",
            given_up.message
        );
        assert_eq!(
            after_claim(HeldElsewhere, true, false, true),
            AfterClaim::TakenOver
        );
        let taken = taken_over("u-1");
        assert!(!taken.message.contains("  "), "{}", taken.message);
        assert_eq!(taken.code, ErrorCode::Conflict);
        assert!(taken.message.contains("u-1") && keeps_record(&taken));
    }

    fn record() -> SavedUpload {
        SavedUpload {
            version: SAVED_UPLOAD_VERSION,
            upload_id: "u".into(),
            asset_id: "a".into(),
            upload_token: Some("t".into()),
            upload_headers: UploadHeaders::new(),
            total_size: 10,
            chunk_size: 4,
            total_chunks: 3,
            expires_at: "2025-12-02T10:00:00Z".into(),
            clock_offset_ms: -5,
            reported: vec![[1, 2]],
            etags: vec![(3, "e3".into())],
            completed: false,
        }
    }

    #[test]
    fn a_record_met_past_its_expiry_takes_its_asset_only_if_its_session_never_completed() {
        use MetRecord::*;
        let mut saved = record();
        // The record's clock runs 5 ms behind the server's.
        let expires = timestamp::parse(&saved.expires_at).unwrap() as u64;
        assert_eq!(met_record(&saved, expires - 1_000), Usable);
        assert_eq!(met_record(&saved, expires + 4), Usable);
        assert_eq!(
            met_record(&saved, expires + 5),
            ExpiredReserving,
            "expired on the server's clock"
        );
        saved.reported = vec![[1, 3]];
        assert_eq!(
            met_record(&saved, expires + 5),
            Dropped,
            "the asset is whole"
        );
        saved.reported = vec![[1, 2]];
        saved.completed = true;
        assert_eq!(met_record(&saved, expires + 5), Dropped, "completed");
        saved.completed = false;
        saved.asset_id = String::new();
        assert_eq!(met_record(&saved, expires + 5), Dropped, "no asset named");
        assert!(!expired_record_returns(None, false), "the asset is deleted");
        let gone = Error::new(ErrorCode::NotFound, "no such asset");
        assert!(!expired_record_returns(Some(&gone), false));
        let no_grant = Error::new(ErrorCode::Unauthorized, "getToken failed");
        assert!(
            expired_record_returns(Some(&no_grant), false),
            "tried again later"
        );
        assert!(
            !expired_record_returns(Some(&no_grant), true),
            "the page was asked to forget meanwhile"
        );
        saved.asset_id = "a".into();
        saved.version += 1;
        for now in [expires - 1_000, expires + 5] {
            assert_eq!(
                met_record(&saved, now),
                Dropped,
                "a record this client cannot read names no asset to trust"
            );
        }
    }

    #[test]
    fn forget_deletes_the_asset_of_a_session_that_never_completed_only() {
        let mut saved = record();
        assert!(forget_deletes_asset(&saved), "chunk 3 was never reported");
        saved.reported = vec![[1, 3]];
        assert!(
            !forget_deletes_asset(&saved),
            "every chunk reported: the session completed while the page waited for the asset"
        );
        saved.reported = vec![[1, 2]];
        saved.completed = true;
        assert!(
            !forget_deletes_asset(&saved),
            "a completed upload's asset stays"
        );
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(
            to_ranges([1, 2, 3, 7, 9, 10]),
            vec![[1, 3], [7, 7], [9, 10]]
        );
        assert!(to_ranges([]).is_empty());
    }

    #[test]
    fn record_round_trips_through_json_and_validates() {
        let r = record();
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("upload_headers"), "{json}");
        let back: SavedUpload = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(r.is_reported(2) && !r.is_reported(3));
    }

    #[test]
    fn expiry_is_judged_on_the_server_clock_and_an_unreadable_one_is_past() {
        let mut r = record();
        let expires = timestamp::parse(&r.expires_at).unwrap() as u64;
        // clock_offset_ms = -5: the server is 5 ms behind this clock.
        assert!(!r.is_expired(expires));
        assert!(!r.is_expired(expires + 4));
        assert!(r.is_expired(expires + 5));
        r.expires_at = "tomorrow".into();
        assert!(r.is_expired(0));
        assert!(
            r.validate().is_err(),
            "an unreadable expiry makes the record unusable"
        );
    }

    #[test]
    fn chunk_lengths_and_reported_bytes_follow_the_plan() {
        let r = record(); // 10 bytes in chunks of 4: 4, 4, 2; chunks 1-2 reported
        assert_eq!(
            (0..=4).map(|i| r.chunk_len(i)).collect::<Vec<_>>(),
            [0, 4, 4, 2, 0]
        );
        assert_eq!(r.reported_bytes(), 8);
    }

    #[test]
    fn a_resumable_record_is_found_by_id_or_by_name_and_size() {
        let print = |name: &str, size| Fingerprint {
            name: name.into(),
            size,
            last_modified: 1.0,
            sample_hash: "h".into(),
        };
        let (a, b, c) = (print("a.mp4", 10), print("b.mp4", 10), print("a.mp4", 11));
        let records = || {
            [
                ("1", &a, Standing::Pending, 'a'),
                ("2", &b, Standing::Pending, 'b'),
                ("3", &c, Standing::Pending, 'c'),
            ]
        };
        assert_eq!(find_resumable(records(), None, "a.mp4", 11, 1.0), Some('c'));
        assert_eq!(find_resumable(records(), None, "b.mp4", 10, 1.0), Some('b'));
        assert_eq!(find_resumable(records(), None, "b.mp4", 11, 1.0), None);
        assert_eq!(
            find_resumable(records(), Some("1"), "b.mp4", 11, 1.0),
            Some('a')
        );
        assert_eq!(find_resumable(records(), Some("9"), "a.mp4", 10, 1.0), None);
        // Two files of one name and size: each finds its own record by its modification time,
        // whichever comes first; a time no record has falls back to the first (whose
        // fingerprint then decides).
        let (first, second) = (
            print("same.mp4", 16),
            Fingerprint {
                last_modified: 2.0,
                ..print("same.mp4", 16)
            },
        );
        let twins = || {
            [
                ("1", &first, Standing::Pending, 'x'),
                ("2", &second, Standing::Pending, 'y'),
            ]
        };
        assert_eq!(
            find_resumable(twins(), None, "same.mp4", 16, 2.0),
            Some('y')
        );
        assert_eq!(
            find_resumable(twins(), None, "same.mp4", 16, 1.0),
            Some('x')
        );
        assert_eq!(
            find_resumable(twins(), None, "same.mp4", 16, 3.0),
            Some('x')
        );
        // A completed record is found by its id only.
        let done = || [("1", &first, Standing::Completed, 'x')];
        assert_eq!(find_resumable(done(), None, "same.mp4", 16, 1.0), None);
        assert_eq!(
            find_resumable(done(), Some("1"), "same.mp4", 16, 1.0),
            Some('x')
        );
        // A record another page sends is taken only when no idle one matches, whatever the
        // order the records come in.
        let busy = |elsewhere_first: bool| {
            let busy = ("1", &first, Standing::SentElsewhere, 'b');
            let idle = ("2", &first, Standing::Pending, 'i');
            match elsewhere_first {
                true => [busy, idle],
                false => [idle, busy],
            }
        };
        for order in [true, false] {
            let found = find_resumable(busy(order), None, "same.mp4", 16, 1.0);
            assert_eq!(found, Some('i'));
            let found = find_resumable(busy(order), None, "same.mp4", 16, 5.0);
            assert_eq!(
                found,
                Some('i'),
                "an idle record of another time beats a busy one"
            );
        }
        let only_busy = [("1", &first, Standing::SentElsewhere, 'b')];
        assert_eq!(
            find_resumable(only_busy, None, "same.mp4", 16, 1.0),
            Some('b')
        );
        let mut moved = a.clone();
        assert_eq!(moved, a);
        moved.last_modified = 2.0;
        assert_ne!(moved, a, "a touched file is another file");
    }

    #[test]
    fn bad_records_are_refused() {
        let mut r = record();
        r.version = 99;
        assert_eq!(r.validate().unwrap_err().code, ErrorCode::InvalidInput);
        let mut r = record();
        r.reported = vec![[2, 1]];
        assert!(r.validate().is_err());
        let mut r = record();
        r.etags = vec![(4, "x".into())];
        assert!(r.validate().is_err());
    }

    #[test]
    fn files_are_sampled_at_the_start_middle_and_end() {
        assert_eq!(
            sample_starts(10 * SAMPLE_BYTES),
            [0, 4 * SAMPLE_BYTES + SAMPLE_BYTES / 2, 9 * SAMPLE_BYTES]
        );
        // A file smaller than a sample is read whole three times.
        assert_eq!(sample_starts(1000), [0, 0, 0]);
        assert_eq!(sample_starts(SAMPLE_BYTES + 2), [0, 1, 2]);
    }

    #[test]
    fn the_sample_hash_is_fnv1a_64_in_hex() {
        // The FNV-1a 64 test vectors: "" and "a".
        assert_eq!(SampleHash::new().to_hex(), "cbf29ce484222325");
        let mut hash = SampleHash::new();
        hash.update(b"a");
        assert_eq!(hash.to_hex(), "af63dc4c8601ec8c");
        // Order matters: the same samples read in another order hash differently.
        let (mut ab, mut ba) = (SampleHash::new(), SampleHash::new());
        ab.update(b"a");
        ab.update(b"b");
        ba.update(b"b");
        ba.update(b"a");
        assert_ne!(ab, ba);
    }

    #[test]
    fn a_record_is_usable_while_it_reads_and_its_session_lasts() {
        let mut saved = SavedUpload {
            clock_offset_ms: 0,
            ..record()
        };
        let expires = timestamp::parse(&saved.expires_at).unwrap() as u64;
        assert!(saved.is_usable(expires - 1));
        // Expired on the server's clock: the offset counts.
        assert!(!saved.is_usable(expires));
        saved.clock_offset_ms = -10;
        assert!(saved.is_usable(expires));
        // A record that does not read is not usable, whatever the time.
        saved.version += 1;
        assert!(!saved.is_usable(0));
    }

    #[test]
    fn only_the_same_file_resumes_a_record() {
        let saved = Fingerprint {
            name: "a.mp4".into(),
            size: 10,
            last_modified: 1.5,
            sample_hash: "00ff".into(),
        };
        assert_eq!(check_same_file(&saved, &saved.clone(), "a.mp4"), Ok(()));
        for other in [
            Fingerprint {
                sample_hash: "00fe".into(),
                ..saved.clone()
            },
            Fingerprint {
                last_modified: 2.5,
                ..saved.clone()
            },
            Fingerprint {
                size: 11,
                ..saved.clone()
            },
        ] {
            let error = check_same_file(&saved, &other, "a.mp4").unwrap_err();
            assert_eq!(error.code, ErrorCode::FileMismatch);
            assert!(error.message.contains("\"a.mp4\""), "{}", error.message);
        }
    }
}
