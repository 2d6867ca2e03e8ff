//! The upload queue: many files under one uploader, with every decision about them.
//!
//! The queue holds items (one per file, or per saved upload waiting for its file after a
//! reload) and decides which of them run, which wait, what a retry does, which saved upload a
//! newly chosen file continues, the totals and the counts by phase, and when a new snapshot is
//! due. It performs nothing: the browser adapter executes the [`QueueAction`]s it emits with
//! the uploader (`upload`, `resume`, `pause`, `abort`, `forget`) and feeds back what each
//! upload reports with [`Queue::upload_changed`].
//!
//! How many files run at once: `ceil(concurrency / 2)` (at least one). All files share the
//! uploader's one budget of `concurrency` chunk PUTs, so more files at once cannot send more
//! bytes; they only spread the same bandwidth thinner and make every file finish later. Two
//! budget slots per file keep a file's own gaps (fetching URLs, reporting, completing) covered
//! by its other PUT, while a second file overlaps the fixed per-file costs (creating the session,
//! completion) of the first. A paused file, and one whose bytes have all arrived and whose
//! asset is being processed, frees its place for the next.

use crate::core::engine::Phase;
use crate::core::error::{Error, ErrorCode};
use crate::core::progress::{Progress, Throttle};

/// An item's id: a number unique within its queue. Its string form (what JS sees) is made by
/// the adapter.
pub type ItemId = u32;

/// Where an item is: waiting for a place or for its file, or the phase of its upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueuePhase {
    /// Waiting for a place among the files that run at once.
    Queued,
    /// A saved upload found after a reload, waiting for its file to be chosen again.
    AwaitingFile,
    /// The upload is creating (or finding) its session.
    Starting,
    /// Chunks are being sent.
    Uploading,
    /// Paused by the application.
    Paused,
    /// Every chunk is stored; the last reports and the completion are being sent.
    Finalizing,
    /// The bytes are complete and the asset is being processed (with `waitUntilReady`).
    Processing,
    /// The upload completed.
    Done,
    /// The upload failed; [`QueueItem::error`] says why.
    Failed,
    /// The upload was cancelled.
    Aborted,
}

impl QueuePhase {
    /// Every phase, in the order of the counts.
    pub const ALL: [QueuePhase; 10] = [
        QueuePhase::Queued,
        QueuePhase::AwaitingFile,
        QueuePhase::Starting,
        QueuePhase::Uploading,
        QueuePhase::Paused,
        QueuePhase::Finalizing,
        QueuePhase::Processing,
        QueuePhase::Done,
        QueuePhase::Failed,
        QueuePhase::Aborted,
    ];

    /// The spelling JS sees.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueuePhase::Queued => "queued",
            QueuePhase::AwaitingFile => "awaiting_file",
            QueuePhase::Starting => "starting",
            QueuePhase::Uploading => "uploading",
            QueuePhase::Paused => "paused",
            QueuePhase::Finalizing => "finalizing",
            QueuePhase::Processing => "processing",
            QueuePhase::Done => "done",
            QueuePhase::Failed => "failed",
            QueuePhase::Aborted => "aborted",
        }
    }

    /// Whether an upload can show this phase (`UploadProgress.phase`): all but the queue's own.
    pub const fn is_upload_phase(self) -> bool {
        !matches!(self, QueuePhase::Queued | QueuePhase::AwaitingFile)
    }

    /// What an upload shows next, after `self`, given the engine's `phase` of it (`None`: the
    /// engine is done with it), whether the engine holds it paused, and whether the application
    /// paused it (`pause()`, not yet undone by `resume()`). The one rule of every place that
    /// shows an upload's phase: its progress events, its `progress`, its snapshot, its queue item.
    /// - Paused by the application: `Paused`.
    /// - Still paused in the engine after `resume()` (waiting for the session's lock): what it
    ///   showed (`Starting`).
    /// - Otherwise the engine's phase. But once its bytes are stored and its asset is processing
    ///   it stays `Processing`, and an upload that ended stays ended, until it settles (which
    ///   sets the end itself).
    pub const fn then(
        self,
        phase: Option<Phase>,
        engine_paused: bool,
        app_paused: bool,
    ) -> QueuePhase {
        if self.holds() {
            return self;
        }
        if app_paused {
            return QueuePhase::Paused;
        }
        if engine_paused {
            return self;
        }
        match phase {
            Some(Phase::CreatingSession) => QueuePhase::Starting,
            Some(Phase::Reconciling | Phase::Uploading | Phase::DirectUploading) => {
                QueuePhase::Uploading
            }
            Some(Phase::Confirming) => QueuePhase::Finalizing,
            Some(Phase::AwaitingAsset) => QueuePhase::Processing,
            None => QueuePhase::Done,
        }
    }

    /// What an upload shows once the application paused it: `Paused`, unless its phase holds.
    pub const fn paused(self) -> QueuePhase {
        if self.holds() {
            self
        } else {
            QueuePhase::Paused
        }
    }

    /// What an upload shows once the application resumed it: `Starting` (its lock, then its
    /// session's status, are asked for first), unless its phase holds ([`QueuePhase::then`]).
    pub const fn resumed(self) -> QueuePhase {
        if self.holds() {
            self
        } else {
            QueuePhase::Starting
        }
    }

    /// Whether only the upload's end replaces this phase: processing, or ended.
    const fn holds(self) -> bool {
        matches!(
            self,
            QueuePhase::Processing | QueuePhase::Done | QueuePhase::Failed | QueuePhase::Aborted
        )
    }

    /// How an upload that failed with `code` ends: `Aborted` for an abort, else `Failed`.
    pub const fn failed_with(code: ErrorCode) -> QueuePhase {
        match code {
            ErrorCode::Aborted => QueuePhase::Aborted,
            _ => QueuePhase::Failed,
        }
    }

    /// Whether the upload ended (nothing more happens unless it is retried).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            QueuePhase::Done | QueuePhase::Failed | QueuePhase::Aborted
        )
    }
}

/// What the adapter knows about a file the application added.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    /// The name the asset gets (the `filename` option, the file's name, or "upload").
    pub filename: String,
    /// The file's name on disk (`File.name`), when it is a `File`.
    pub file_name: Option<String>,
    /// `File.size`.
    pub size: u64,
    /// `File.lastModified`, when it is a `File`.
    pub last_modified: Option<f64>,
}

/// A saved upload found in storage (`pendingUploads()`).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedEntry {
    /// The saved record's id (the multipart session id).
    pub upload_id: String,
    /// The file name the upload was started with.
    pub filename: String,
    /// The file's size.
    pub size: u64,
    /// The file's modification time.
    pub last_modified: f64,
    /// Bytes the server confirmed.
    pub uploaded_bytes: u64,
    /// Chunks the server confirmed.
    pub uploaded_chunks: u32,
    /// The session's chunks.
    pub total_chunks: u32,
    /// The asset the session reserved.
    pub asset_id: String,
}

/// What an upload reports about itself (its handle's state).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadView {
    /// Its phase.
    pub phase: QueuePhase,
    /// Its progress.
    pub progress: Progress,
    /// The multipart session, once created.
    pub upload_id: Option<String>,
    /// The asset, once known.
    pub asset_id: Option<String>,
    /// Why it failed, once it did.
    pub error: Option<Error>,
}

/// What the adapter must do.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueAction {
    /// Start uploading the item's file: `uploader.resume(file, { id })` when `resume` names a
    /// saved upload to continue, `uploader.upload(file)` otherwise.
    Start {
        /// The item.
        item: ItemId,
        /// The saved upload to continue.
        resume: Option<String>,
    },
    /// `handle.pause()` of the item's upload.
    Pause {
        /// The item.
        item: ItemId,
    },
    /// `handle.resume()` of the item's upload.
    Resume {
        /// The item.
        item: ItemId,
    },
    /// `handle.abort()` of the item's upload.
    Abort {
        /// The item.
        item: ItemId,
    },
    /// Forget the item's upload handle and file (the item left the queue).
    Drop {
        /// The item.
        item: ItemId,
    },
    /// Let go of the item's file: it is done, and nothing (a retry, a resume) can need the
    /// bytes again. A queue of in-memory `Blob`s (recorded clips) would otherwise hold every
    /// one of them until the item is removed.
    Release {
        /// The item.
        item: ItemId,
    },
    /// Delete the saved record `upload_id` (`uploader.forget`).
    Forget {
        /// The saved upload.
        upload_id: String,
    },
}

/// One item as the snapshot shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// Its id.
    pub id: ItemId,
    /// The asset's file name.
    pub filename: String,
    /// The file's size.
    pub size: u64,
    /// Where it is.
    pub phase: QueuePhase,
    /// Its progress (`total_bytes` = `size`).
    pub progress: Progress,
    /// Why it failed, for `Failed` (and an `AwaitingFile` item whose chosen file was refused).
    pub error: Option<Error>,
    /// The multipart session, once known.
    pub upload_id: Option<String>,
    /// The asset, once known.
    pub asset_id: Option<String>,
    /// The snapshot revision in which this item last changed: an unchanged revision means the
    /// previous JS object can be shown again.
    pub revision: u64,
}

/// Sums over the items.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueTotals {
    /// Bytes of every item still meant to arrive (failed and cancelled items are left out).
    pub total_bytes: u64,
    /// Of those, bytes the storage acknowledged.
    pub acknowledged_bytes: u64,
    /// Summed speed of the uploads that measured one; `None` when none did.
    pub bytes_per_second: Option<u64>,
    /// Time to acknowledge the remaining bytes at that speed; `None` while unknown, 0 when
    /// nothing remains.
    pub eta_ms: Option<u64>,
    /// Items per phase, in the order of [`QueuePhase::ALL`].
    pub counts: [u32; 10],
}

impl QueueTotals {
    /// The acknowledged share of every item's bytes ([`crate::core::progress::fraction`]).
    pub fn fraction(&self) -> f64 {
        crate::core::progress::fraction(self.acknowledged_bytes, self.total_bytes)
    }

    /// The count of one phase.
    pub fn count(&self, phase: QueuePhase) -> u32 {
        self.counts[QueuePhase::ALL
            .iter()
            .position(|p| *p == phase)
            .unwrap_or_default()]
    }
}

/// How the item's upload stands with the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// No upload yet (queued, paused before it started, or awaiting its file).
    NotStarted,
    /// An upload runs (its handle reports the phase).
    Started,
    /// Its upload was paused by the queue to wait for a place after `resume` (shown `queued`).
    Held,
}

#[derive(Debug, Clone)]
struct Item {
    shown: QueueItem,
    /// Paused by the application.
    paused: bool,
    run: Run,
    /// Whether the adapter holds the file.
    has_file: bool,
    /// Name and modification time of the file, for matching saved uploads.
    file_name: Option<String>,
    last_modified: Option<f64>,
    /// The saved upload the next start continues.
    resume: Option<String>,
    /// The phase the upload last reported.
    upload_phase: QueuePhase,
    /// Whether the item changed since the last snapshot.
    changed: bool,
}

impl Item {
    /// The saved upload giving the item up must forget: the one it would continue (awaiting its
    /// file, or queued to continue it), or the one its failure kept for a later resume.
    fn saved_upload(&self) -> Option<String> {
        match (&self.run, &self.shown.error) {
            (Run::NotStarted, _) if self.resume.is_some() => self.resume.clone(),
            (_, Some(error))
                if self.shown.phase == QueuePhase::Failed
                    && crate::core::resume::keeps_record(error) =>
            {
                self.shown.upload_id.clone()
            }
            _ => None,
        }
    }
}

/// The queue's state and rules. IO-free: the adapter feeds it and executes its actions.
#[derive(Debug)]
pub struct Queue {
    items: Vec<Item>,
    next_id: ItemId,
    files_at_once: usize,
    /// Whether the uploader saves uploads (so that a failed upload can be continued).
    persists: bool,
    actions: Vec<QueueAction>,
    /// Byte progress is published at most once per interval; anything else at once.
    throttle: Throttle,
    publish_now: bool,
    revision: u64,
}

impl Queue {
    /// A queue for an uploader with `concurrency` chunk PUTs, publishing byte progress at most
    /// once per `progress_interval_ms`. `persists`: whether the uploader saves resumable state.
    pub fn new(concurrency: u32, progress_interval_ms: u64, persists: bool) -> Queue {
        Queue {
            items: Vec::new(),
            next_id: 1,
            files_at_once: files_at_once(concurrency),
            persists,
            actions: Vec::new(),
            throttle: Throttle::new(progress_interval_ms),
            publish_now: false,
            revision: 0,
        }
    }

    /// How many files upload at once (see the module docs).
    #[cfg(test)]
    pub fn files_at_once(&self) -> usize {
        self.files_at_once
    }

    /// Adds files. A file with the name, size and modification time of a saved upload that
    /// waits for its file continues that upload (its item's id is returned); any other becomes
    /// a new item. Returns the ids in the order of `files`.
    pub fn add(&mut self, files: Vec<NewFile>) -> Vec<ItemId> {
        let mut ids = Vec::with_capacity(files.len());
        for file in files {
            let waiting = self.items.iter().position(|item| {
                item.shown.phase == QueuePhase::AwaitingFile
                    && file.file_name.as_deref() == item.file_name.as_deref()
                    && file.size == item.shown.size
                    && file.last_modified.is_some()
                    && file.last_modified.map(f64::to_bits) == item.last_modified.map(f64::to_bits)
            });
            if let Some(index) = waiting {
                let id = self.items[index].shown.id;
                self.give_file(index);
                ids.push(id);
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.items.push(Item {
                shown: QueueItem {
                    id,
                    filename: file.filename,
                    size: file.size,
                    phase: QueuePhase::Queued,
                    progress: Progress::starting(file.size),
                    error: None,
                    upload_id: None,
                    asset_id: None,
                    revision: 0,
                },
                paused: false,
                run: Run::NotStarted,
                has_file: true,
                file_name: file.file_name,
                last_modified: file.last_modified,
                resume: None,
                upload_phase: QueuePhase::Queued,
                changed: true,
            });
            ids.push(id);
        }
        if !ids.is_empty() {
            self.publish_now = true;
        }
        self.schedule();
        ids
    }

    /// Adds the saved uploads that no item represents yet, as items awaiting their file.
    /// Returns the ids of the new items.
    pub fn restore(&mut self, saved: Vec<SavedEntry>) -> Vec<ItemId> {
        let mut ids = Vec::new();
        for entry in saved {
            let known = self.items.iter().any(|item| {
                item.shown.upload_id.as_deref() == Some(&entry.upload_id)
                    || item.resume.as_deref() == Some(&entry.upload_id)
            });
            if known {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let confirmed = entry.uploaded_bytes.min(entry.size);
            self.items.push(Item {
                shown: QueueItem {
                    id,
                    filename: entry.filename.clone(),
                    size: entry.size,
                    phase: QueuePhase::AwaitingFile,
                    progress: Progress {
                        sent_bytes: confirmed,
                        acknowledged_bytes: confirmed,
                        reported_bytes: confirmed,
                        total_chunks: entry.total_chunks,
                        acknowledged_chunks: entry.uploaded_chunks,
                        reported_chunks: entry.uploaded_chunks,
                        ..Progress::starting(entry.size)
                    },
                    error: None,
                    upload_id: Some(entry.upload_id.clone()),
                    asset_id: Some(entry.asset_id),
                    revision: 0,
                },
                paused: false,
                run: Run::NotStarted,
                has_file: false,
                file_name: Some(entry.filename),
                last_modified: Some(entry.last_modified),
                resume: Some(entry.upload_id),
                upload_phase: QueuePhase::AwaitingFile,
                changed: true,
            });
            ids.push(id);
        }
        if !ids.is_empty() {
            self.publish_now = true;
        }
        ids
    }

    /// The file chosen again for an item awaiting it. Refused with `invalid_input` for an item
    /// that waits for no file, and with `file_mismatch` when the name or size differ (the
    /// upload itself then checks the content sample).
    pub fn attach_file(&mut self, id: ItemId, file_name: &str, size: u64) -> Result<(), Error> {
        let index = self.index(id)?;
        let item = &self.items[index];
        if item.shown.phase != QueuePhase::AwaitingFile {
            return Err(Error::invalid(format!(
                "item {id} is {}, not awaiting_file: it needs no file",
                item.shown.phase.as_str()
            )));
        }
        if item.file_name.as_deref() != Some(file_name) || item.shown.size != size {
            return Err(Error::new(
                ErrorCode::FileMismatch,
                format!(
                    "the chosen file ({file_name}, {size} bytes) is not the one that was being \
                     uploaded ({}, {} bytes)",
                    item.shown.filename, item.shown.size
                ),
            ));
        }
        self.give_file(index);
        self.schedule();
        Ok(())
    }

    fn give_file(&mut self, index: usize) {
        let item = &mut self.items[index];
        item.has_file = true;
        item.shown.error = None;
        item.upload_phase = QueuePhase::Queued;
        item.changed = true;
        self.publish_now = true;
    }

    /// Pauses an item: a running upload stops starting chunks; a waiting one will not start.
    pub fn pause(&mut self, id: ItemId) -> Result<(), Error> {
        self.on_item(id, Queue::pause_at)
    }

    /// Applies `operation` to item `id` (`not_found` if there is none), then schedules.
    fn on_item(&mut self, id: ItemId, operation: fn(&mut Queue, usize)) -> Result<(), Error> {
        let index = self.index(id)?;
        operation(self, index);
        self.schedule();
        Ok(())
    }

    fn pause_at(&mut self, index: usize) {
        let item = &mut self.items[index];
        if item.paused || item.shown.phase.is_final() || !item.has_file {
            return;
        }
        item.paused = true;
        item.changed = true;
        if item.run == Run::Started && item.upload_phase != QueuePhase::Processing {
            self.actions.push(QueueAction::Pause {
                item: item.shown.id,
            });
        }
        self.publish_now = true;
    }

    /// Resumes a paused item, as soon as a place is free.
    pub fn resume(&mut self, id: ItemId) -> Result<(), Error> {
        self.on_item(id, Queue::resume_at)
    }

    fn resume_at(&mut self, index: usize) {
        let item = &mut self.items[index];
        if !item.paused {
            return;
        }
        item.paused = false;
        item.changed = true;
        if item.run == Run::Started {
            // The upload stays paused until `schedule` gives it a place again.
            item.run = Run::Held;
        }
        self.publish_now = true;
    }

    /// Pauses every item that can be paused.
    pub fn pause_all(&mut self) {
        for index in 0..self.items.len() {
            self.pause_at(index);
        }
        self.schedule();
    }

    /// Resumes every paused item (in the order they were added, as places free up).
    pub fn resume_all(&mut self) {
        for index in 0..self.items.len() {
            self.resume_at(index);
        }
        self.schedule();
    }

    /// Cancels an item: its upload is aborted (its session and saved record deleted); one that
    /// never started ends as `aborted` at once. An item awaiting its file is cancelled by
    /// forgetting its saved upload (the uploader's `forget`: the record, and the asset its
    /// session reserved unless another page sends it); so is a failed item whose upload kept its
    /// record for a later resume ([`crate::core::resume::keeps_record`]), which then shows
    /// `aborted`.
    pub fn cancel(&mut self, id: ItemId) -> Result<(), Error> {
        let index = self.index(id)?;
        let item = &mut self.items[index];
        let saved = item.saved_upload();
        if item.shown.phase.is_final() && saved.is_none() {
            return Ok(());
        }
        match item.run {
            Run::Started | Run::Held if !item.shown.phase.is_final() => {
                self.actions.push(QueueAction::Abort { item: id })
            }
            _ => {
                if let Some(upload_id) = saved {
                    self.actions.push(QueueAction::Forget { upload_id });
                }
                item.resume = None;
                item.shown.phase = QueuePhase::Aborted;
                item.upload_phase = QueuePhase::Aborted;
                item.shown.progress = item.shown.progress.stopped();
                item.shown.error = Some(Error::new(ErrorCode::Aborted, "the upload was cancelled"));
                item.changed = true;
                self.publish_now = true;
            }
        }
        self.schedule();
        Ok(())
    }

    /// Starts a failed or cancelled item again. A failure that retrying may fix continues the
    /// same session when the uploader saved it; otherwise a new upload starts.
    pub fn retry(&mut self, id: ItemId) -> Result<(), Error> {
        let index = self.index(id)?;
        let persists = self.persists;
        let item = &mut self.items[index];
        if !matches!(item.shown.phase, QueuePhase::Failed | QueuePhase::Aborted) || !item.has_file {
            return Ok(());
        }
        // The same session continues after a failure that may pass, and after another tab took
        // the upload over (`conflict`: a new session would upload the file a second time; the
        // resume finds the asset once that tab completed it).
        let continues = persists
            && item.shown.phase == QueuePhase::Failed
            && item.file_name.is_some()
            && item
                .shown
                .error
                .as_ref()
                .is_some_and(|e| e.is_retryable() || e.code == ErrorCode::Conflict);
        item.resume = if continues {
            item.shown.upload_id.clone()
        } else {
            None
        };
        if item.resume.is_none() {
            item.shown.progress = Progress::starting(item.shown.size);
            item.shown.upload_id = None;
            item.shown.asset_id = None;
        }
        item.shown.error = None;
        item.paused = false;
        item.run = Run::NotStarted;
        item.upload_phase = QueuePhase::Queued;
        item.changed = true;
        self.actions.push(QueueAction::Drop { item: id });
        self.publish_now = true;
        self.schedule();
        Ok(())
    }

    /// Removes an item, cancelling its upload if it is still running (a saved upload awaiting
    /// its file, or one a failure kept for a later resume, is given up as by [`Self::cancel`]).
    pub fn remove(&mut self, id: ItemId) -> Result<(), Error> {
        let index = self.index(id)?;
        let item = self.items.remove(index);
        match (item.run, item.saved_upload()) {
            (Run::Started | Run::Held, _) if !item.shown.phase.is_final() => {
                self.actions.push(QueueAction::Abort { item: id })
            }
            (_, Some(upload_id)) => self.actions.push(QueueAction::Forget { upload_id }),
            _ => {}
        }
        self.actions.push(QueueAction::Drop { item: id });
        self.publish_now = true;
        self.schedule();
        Ok(())
    }

    /// What an item's upload reports about itself.
    pub fn upload_changed(&mut self, id: ItemId, view: UploadView) {
        let Ok(index) = self.index(id) else {
            return;
        };
        let item = &mut self.items[index];
        if item.run == Run::NotStarted {
            return;
        }
        let continued = item.resume.is_some();
        if view.phase == QueuePhase::Failed && continued {
            let code = view.error.as_ref().map(|e| e.code);
            if code == Some(ErrorCode::NotFound) && item.has_file && item.file_name.is_some() {
                // The saved record is gone (expired, or forgotten in another tab): start anew.
                item.resume = None;
                item.run = Run::NotStarted;
                item.upload_phase = QueuePhase::Queued;
                item.shown.progress = Progress::starting(item.shown.size);
                item.shown.upload_id = None;
                item.changed = true;
                self.actions.push(QueueAction::Drop { item: id });
                self.publish_now = true;
                self.schedule();
                return;
            }
            if matches!(code, Some(ErrorCode::FileMismatch | ErrorCode::Conflict)) {
                // Not the file of the saved upload, or another page runs the upload
                // (`core::resume::check_claim`): wait for the file to be chosen again.
                item.run = Run::NotStarted;
                item.has_file = false;
                item.upload_phase = QueuePhase::AwaitingFile;
                item.shown.error = view.error;
                item.changed = true;
                self.actions.push(QueueAction::Drop { item: id });
                self.publish_now = true;
                self.schedule();
                return;
            }
        }
        let progress = if continued {
            // A continued session's counters start where the saved upload was.
            monotonic(item.shown.progress, view.progress)
        } else {
            view.progress
        };
        let phase_changed = item.upload_phase != view.phase
            || item.shown.upload_id != view.upload_id.clone().or(item.shown.upload_id.clone())
            || item.shown.asset_id != view.asset_id
            || item.shown.error != view.error;
        let progress_changed = item.shown.progress != progress;
        item.upload_phase = view.phase;
        item.shown.progress = progress;
        if view.upload_id.is_some() {
            item.shown.upload_id = view.upload_id;
        }
        item.shown.asset_id = view.asset_id;
        item.shown.error = view.error;
        if view.phase.is_final() {
            item.paused = false;
            if view.phase == QueuePhase::Done && item.has_file {
                item.resume = None;
                item.has_file = false;
                self.actions.push(QueueAction::Release { item: id });
            }
        }
        if phase_changed || progress_changed {
            item.changed = true;
        }
        if phase_changed {
            self.publish_now = true;
        } else if progress_changed {
            self.throttle.mark();
        }
        self.schedule();
    }

    /// Starts or un-holds waiting items while places are free, and updates every item's phase.
    fn schedule(&mut self) {
        let mut running = self
            .items
            .iter()
            .filter(|item| item.run == Run::Started && !item.paused && occupies(item.upload_phase))
            .count();
        for item in &mut self.items {
            if running >= self.files_at_once {
                break;
            }
            if item.paused || !item.has_file {
                continue;
            }
            match item.run {
                Run::NotStarted if !item.upload_phase.is_final() => {
                    item.run = Run::Started;
                    item.upload_phase = QueuePhase::Starting;
                    self.actions.push(QueueAction::Start {
                        item: item.shown.id,
                        resume: item.resume.clone(),
                    });
                    running += 1;
                }
                Run::Held => {
                    item.run = Run::Started;
                    self.actions.push(QueueAction::Resume {
                        item: item.shown.id,
                    });
                    running += 1;
                }
                _ => {}
            }
        }
        for item in &mut self.items {
            let phase = shown_phase(item);
            if item.shown.phase != phase {
                item.shown.phase = phase;
                item.changed = true;
                self.publish_now = true;
            }
        }
    }

    /// The actions to execute, in order.
    pub fn take_actions(&mut self) -> Vec<QueueAction> {
        std::mem::take(&mut self.actions)
    }

    /// Whether a new snapshot is due at `now_ms` (then the revision advances and changed items
    /// take it). Anything but byte progress is due at once; byte progress once per interval.
    pub fn publish(&mut self, now_ms: u64) -> bool {
        let due = if self.publish_now {
            self.publish_now = false;
            self.throttle.mark();
            self.throttle.flush(now_ms)
        } else {
            self.throttle.poll(now_ms)
        };
        if due {
            self.revision += 1;
            let revision = self.revision;
            for item in &mut self.items {
                if item.changed {
                    item.changed = false;
                    item.shown.revision = revision;
                }
            }
        }
        due
    }

    /// When held-back byte progress becomes due (call [`Queue::publish`] then).
    pub fn publish_deadline(&self) -> Option<u64> {
        self.throttle.deadline()
    }

    /// The revision of the last snapshot.
    #[cfg(test)]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The items as of the last snapshot, in the order they were added.
    pub fn items(&self) -> impl Iterator<Item = &QueueItem> + '_ {
        self.items.iter().map(|i| &i.shown)
    }

    /// Whether the queue holds item `id`.
    pub fn contains(&self, id: ItemId) -> bool {
        self.index(id).is_ok()
    }

    /// The totals over every item.
    pub fn totals(&self) -> QueueTotals {
        let mut totals = QueueTotals {
            total_bytes: 0,
            acknowledged_bytes: 0,
            bytes_per_second: None,
            eta_ms: None,
            counts: [0; 10],
        };
        for item in self.items() {
            let slot = QueuePhase::ALL
                .iter()
                .position(|p| *p == item.phase)
                .unwrap_or_default();
            totals.counts[slot] += 1;
            if matches!(item.phase, QueuePhase::Failed | QueuePhase::Aborted) {
                continue;
            }
            totals.total_bytes += item.size;
            totals.acknowledged_bytes += item.progress.acknowledged_bytes.min(item.size);
            // Only an item sending bytes adds to the queue's speed: a finalising or processing
            // one keeps the speed its transfer measured, but sends nothing now.
            if let Some(speed) = item.progress.bytes_per_second {
                if item.phase == QueuePhase::Uploading {
                    totals.bytes_per_second = Some(totals.bytes_per_second.unwrap_or(0) + speed);
                }
            }
        }
        let remaining = totals.total_bytes - totals.acknowledged_bytes;
        totals.eta_ms = if remaining == 0 && totals.total_bytes > 0 {
            Some(0)
        } else {
            totals
                .bytes_per_second
                .filter(|speed| *speed > 0)
                .map(|speed| remaining.saturating_mul(1_000) / speed)
        };
        totals
    }

    fn index(&self, id: ItemId) -> Result<usize, Error> {
        self.items
            .iter()
            .position(|item| item.shown.id == id)
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("the queue has no item {id}")))
    }
}

/// Files that upload at once for an uploader with `concurrency` chunk PUTs.
fn files_at_once(concurrency: u32) -> usize {
    (concurrency.max(1) as usize).div_ceil(2)
}

/// Whether an upload in this phase holds one of the places of the files that run at once.
fn occupies(phase: QueuePhase) -> bool {
    matches!(
        phase,
        QueuePhase::Starting | QueuePhase::Uploading | QueuePhase::Finalizing
    )
}

fn shown_phase(item: &Item) -> QueuePhase {
    if item.upload_phase.is_final() {
        return item.upload_phase;
    }
    if !item.has_file {
        return QueuePhase::AwaitingFile;
    }
    if item.paused && item.upload_phase != QueuePhase::Processing {
        return QueuePhase::Paused;
    }
    match item.run {
        Run::NotStarted | Run::Held => QueuePhase::Queued,
        // An upload reports `paused` until its `resume` call lands.
        Run::Started if item.upload_phase == QueuePhase::Paused => QueuePhase::Uploading,
        Run::Started => item.upload_phase,
    }
}

/// Counters that never go back below what `before` showed (a continued session).
fn monotonic(before: Progress, now: Progress) -> Progress {
    Progress {
        sent_bytes: now.sent_bytes.max(before.sent_bytes),
        acknowledged_bytes: now.acknowledged_bytes.max(before.acknowledged_bytes),
        reported_bytes: now.reported_bytes.max(before.reported_bytes),
        acknowledged_chunks: now.acknowledged_chunks.max(before.acknowledged_chunks),
        reported_chunks: now.reported_chunks.max(before.reported_chunks),
        ..now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn file(name: &str, size: u64) -> NewFile {
        NewFile {
            filename: name.to_owned(),
            file_name: Some(name.to_owned()),
            size,
            last_modified: Some(1_700_000_000_000.0),
        }
    }

    fn view(phase: QueuePhase, size: u64, acknowledged: u64) -> UploadView {
        UploadView {
            phase,
            progress: Progress {
                acknowledged_bytes: acknowledged,
                sent_bytes: acknowledged,
                ..Progress::starting(size)
            },
            upload_id: Some("session-1".to_owned()),
            asset_id: Some("asset-1".to_owned()),
            error: None,
        }
    }

    fn failed(size: u64, code: ErrorCode) -> UploadView {
        UploadView {
            error: Some(Error::new(code, "it failed")),
            ..view(QueuePhase::Failed, size, MB)
        }
    }

    fn starts(actions: &[QueueAction]) -> Vec<(ItemId, Option<String>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                QueueAction::Start { item, resume } => Some((*item, resume.clone())),
                _ => None,
            })
            .collect()
    }

    fn phase(queue: &Queue, id: ItemId) -> QueuePhase {
        queue.items().find(|i| i.id == id).unwrap().phase
    }

    fn saved(upload_id: &str, name: &str, size: u64) -> SavedEntry {
        SavedEntry {
            upload_id: upload_id.to_owned(),
            filename: name.to_owned(),
            size,
            last_modified: 1_700_000_000_000.0,
            uploaded_bytes: size / 4,
            uploaded_chunks: 2,
            total_chunks: 8,
            asset_id: format!("asset-of-{upload_id}"),
        }
    }

    /// The package's TypeScript `QueuePhase` (`"queued" | "awaiting_file" | UploadPhase`) names
    /// exactly [`QueuePhase::ALL`], and `UploadPhase` exactly the upload phases.
    #[test]
    fn typescript_unions_list_every_phase() {
        let declarations = include_str!("../browser/types.rs");
        let union = |name: &str| -> Vec<String> {
            let start = declarations.find(name).expect("the union is declared");
            let text = &declarations[start..start + declarations[start..].find(';').unwrap()];
            let mut names: Vec<String> = text
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            names.sort_unstable();
            names
        };
        let upload = union("export type UploadPhase =");
        let mut upload_phases: Vec<String> = QueuePhase::ALL
            .iter()
            .filter(|p| p.is_upload_phase())
            .map(|p| p.as_str().to_owned())
            .collect();
        upload_phases.sort_unstable();
        assert_eq!(
            upload_phases, upload,
            "UploadPhase names every upload phase"
        );
        let mut queue = union("export type QueuePhase =");
        queue.extend(upload);
        queue.sort_unstable();
        let mut expected: Vec<String> = QueuePhase::ALL
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        expected.sort_unstable();
        assert_eq!(queue, expected);
    }

    #[test]
    fn an_upload_shows_one_phase_whatever_asks() {
        use QueuePhase::*;
        let engine = [
            (Some(Phase::CreatingSession), Starting),
            (Some(Phase::Reconciling), Uploading),
            (Some(Phase::Uploading), Uploading),
            (Some(Phase::DirectUploading), Uploading),
            (Some(Phase::Confirming), Finalizing),
            (Some(Phase::AwaitingAsset), Processing),
            (None, Done),
        ];
        for (phase, shown) in engine {
            assert_eq!(Starting.then(phase, false, false), shown, "{phase:?}");
            assert_eq!(Uploading.then(phase, false, false), shown, "{phase:?}");
            // Paused by the application, whatever the engine says.
            assert_eq!(Uploading.then(phase, false, true), Paused, "{phase:?}");
            assert_eq!(Uploading.then(phase, true, true), Paused, "{phase:?}");
            // Resumed, the engine still paused (its lock is awaited): what it showed.
            assert_eq!(Starting.then(phase, true, false), Starting, "{phase:?}");
            // Processing, or ended: only the upload's end (set when it settles) replaces it.
            for sticky in [Processing, Done, Failed, Aborted] {
                assert_eq!(sticky.then(phase, false, false), sticky, "{phase:?}");
                assert_eq!(sticky.then(phase, true, true), sticky, "{phase:?}");
            }
        }
        for (before, after) in [
            (Paused, Starting),
            (Uploading, Starting),
            (Processing, Processing),
            (Failed, Failed),
        ] {
            assert_eq!(before.resumed(), after);
        }
        for (before, after) in [
            (Uploading, Paused),
            (Starting, Paused),
            (Processing, Processing),
            (Done, Done),
        ] {
            assert_eq!(before.paused(), after);
        }
        assert_eq!(QueuePhase::failed_with(ErrorCode::Aborted), Aborted);
        assert_eq!(QueuePhase::failed_with(ErrorCode::Network), Failed);
    }

    #[test]
    fn files_at_once_is_half_the_chunk_budget_rounded_up() {
        for (concurrency, files) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (32, 16), (0, 1)] {
            assert_eq!(Queue::new(concurrency, 250, true).files_at_once(), files);
        }
    }

    #[test]
    fn added_files_start_while_places_are_free_and_the_next_starts_when_one_finishes() {
        let mut q = Queue::new(3, 250, true);
        let ids = q.add(vec![file("a", MB), file("b", MB), file("c", MB)]);
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(starts(&q.take_actions()), vec![(1, None), (2, None)]);
        assert_eq!(phase(&q, 1), QueuePhase::Starting);
        assert_eq!(phase(&q, 3), QueuePhase::Queued);
        q.upload_changed(1, view(QueuePhase::Uploading, MB, 0));
        assert!(q.take_actions().is_empty());
        q.upload_changed(1, view(QueuePhase::Done, MB, MB));
        assert_eq!(starts(&q.take_actions()), vec![(3, None)]);
        assert_eq!(phase(&q, 1), QueuePhase::Done);
    }

    #[test]
    fn a_done_item_lets_go_of_its_file_once_and_a_failed_one_keeps_it_for_a_retry() {
        let mut q = Queue::new(4, 250, true);
        q.add(vec![file("a", MB), file("b", MB)]);
        q.take_actions();
        q.upload_changed(1, view(QueuePhase::Done, MB, MB));
        assert_eq!(q.take_actions(), vec![QueueAction::Release { item: 1 }]);
        q.upload_changed(1, view(QueuePhase::Done, MB, MB));
        assert!(q.take_actions().is_empty(), "released once");
        assert_eq!(phase(&q, 1), QueuePhase::Done);
        let mut failed = view(QueuePhase::Failed, MB, 0);
        failed.error = Some(Error::new(ErrorCode::Network, "offline"));
        q.upload_changed(2, failed);
        assert!(q.take_actions().is_empty(), "a failed item keeps its file");
        q.retry(2).unwrap();
        assert!(
            !starts(&q.take_actions()).is_empty(),
            "and starts again with it"
        );
    }

    #[test]
    fn processing_frees_the_place_of_a_file_whose_bytes_arrived() {
        let mut q = Queue::new(1, 250, true);
        q.add(vec![file("a", MB), file("b", MB)]);
        assert_eq!(starts(&q.take_actions()), vec![(1, None)]);
        q.upload_changed(1, view(QueuePhase::Finalizing, MB, MB));
        assert!(starts(&q.take_actions()).is_empty());
        q.upload_changed(1, view(QueuePhase::Processing, MB, MB));
        assert_eq!(starts(&q.take_actions()), vec![(2, None)]);
    }

    #[test]
    fn a_paused_upload_frees_its_place_and_waits_as_queued_after_resume_until_one_frees() {
        let mut q = Queue::new(1, 250, true);
        q.add(vec![file("a", MB), file("b", MB)]);
        q.take_actions();
        q.upload_changed(1, view(QueuePhase::Uploading, MB, 0));
        q.pause(1).unwrap();
        let actions = q.take_actions();
        assert_eq!(actions[0], QueueAction::Pause { item: 1 });
        assert_eq!(starts(&actions), vec![(2, None)]);
        assert_eq!(phase(&q, 1), QueuePhase::Paused);
        q.upload_changed(1, view(QueuePhase::Paused, MB, 0));
        q.resume(1).unwrap();
        assert!(q.take_actions().is_empty(), "b holds the only place");
        assert_eq!(phase(&q, 1), QueuePhase::Queued);
        q.upload_changed(2, view(QueuePhase::Done, MB, MB));
        assert_eq!(
            q.take_actions(),
            vec![
                QueueAction::Release { item: 2 },
                QueueAction::Resume { item: 1 }
            ]
        );
        assert_eq!(
            phase(&q, 1),
            QueuePhase::Uploading,
            "resumed, before it reports"
        );
    }

    #[test]
    fn a_paused_item_that_never_started_does_not_start_until_resumed() {
        let mut q = Queue::new(1, 250, true);
        q.add(vec![file("a", MB), file("b", MB)]);
        q.take_actions();
        q.pause(2).unwrap();
        assert_eq!(phase(&q, 2), QueuePhase::Paused);
        q.upload_changed(1, view(QueuePhase::Done, MB, MB));
        assert_eq!(q.take_actions(), vec![QueueAction::Release { item: 1 }]);
        q.resume(2).unwrap();
        assert_eq!(starts(&q.take_actions()), vec![(2, None)]);
    }

    #[test]
    fn pause_all_and_resume_all_cover_running_and_waiting_items() {
        let mut q = Queue::new(1, 250, true);
        q.add(vec![file("a", MB), file("b", MB), file("c", MB)]);
        q.take_actions();
        q.upload_changed(1, view(QueuePhase::Uploading, MB, 0));
        q.pause_all();
        assert_eq!(q.take_actions(), vec![QueueAction::Pause { item: 1 }]);
        assert!(q.items().all(|i| i.phase == QueuePhase::Paused));
        q.upload_changed(1, view(QueuePhase::Paused, MB, 0));
        q.resume_all();
        assert_eq!(q.take_actions(), vec![QueueAction::Resume { item: 1 }]);
        assert_eq!(phase(&q, 2), QueuePhase::Queued);
        assert_eq!(q.totals().count(QueuePhase::Queued), 2);
    }

    #[test]
    fn cancel_aborts_a_running_upload_and_ends_a_waiting_item_at_once() {
        let mut q = Queue::new(1, 250, true);
        q.add(vec![file("a", MB), file("b", MB), file("c", MB)]);
        q.take_actions();
        q.cancel(2).unwrap();
        assert_eq!(phase(&q, 2), QueuePhase::Aborted);
        assert!(q.take_actions().is_empty());
        q.cancel(1).unwrap();
        assert_eq!(q.take_actions(), vec![QueueAction::Abort { item: 1 }]);
        let aborted = UploadView {
            error: Some(Error::new(ErrorCode::Aborted, "aborted")),
            ..view(QueuePhase::Aborted, MB, 0)
        };
        q.upload_changed(1, aborted);
        assert_eq!(starts(&q.take_actions()), vec![(3, None)], "b never starts");
        q.cancel(1).unwrap();
        assert!(q.take_actions().is_empty(), "cancelling twice does nothing");
    }

    #[test]
    fn retry_continues_the_session_of_a_retryable_failure_when_it_was_saved() {
        let mut q = Queue::new(2, 250, true);
        q.add(vec![file("a", 10 * MB)]);
        q.take_actions();
        q.upload_changed(1, view(QueuePhase::Uploading, 10 * MB, 4 * MB));
        let exhausted = UploadView {
            error: Some(Error::new(ErrorCode::RetriesExhausted, "it failed")),
            ..view(QueuePhase::Failed, 10 * MB, 4 * MB)
        };
        q.upload_changed(1, exhausted);
        let item = q.items().next().unwrap().clone();
        assert_eq!(item.phase, QueuePhase::Failed);
        assert_eq!(item.error.unwrap().code, ErrorCode::RetriesExhausted);
        q.retry(1).unwrap();
        let actions = q.take_actions();
        assert_eq!(actions[0], QueueAction::Drop { item: 1 });
        assert_eq!(starts(&actions), vec![(1, Some("session-1".to_owned()))]);
        let item = q.items().next().unwrap();
        assert_eq!(item.error, None);
        assert_eq!(item.phase, QueuePhase::Starting);
        // The new handle starts from zero; the item's bytes do not go back.
        q.upload_changed(1, view(QueuePhase::Starting, 10 * MB, 0));
        assert_eq!(
            q.items().next().unwrap().progress.acknowledged_bytes,
            4 * MB
        );
    }

    #[test]
    fn retry_continues_the_session_another_tab_took_over() {
        let mut q = Queue::new(2, 250, true);
        q.add(vec![file("a", 10 * MB)]);
        q.take_actions();
        q.upload_changed(1, view(QueuePhase::Uploading, 10 * MB, 4 * MB));
        q.upload_changed(1, failed(10 * MB, ErrorCode::Conflict));
        let item = q.items().next().unwrap().clone();
        assert_eq!(item.phase, QueuePhase::Failed);
        q.retry(1).unwrap();
        assert_eq!(
            starts(&q.take_actions()),
            vec![(1, Some("session-1".to_owned()))]
        );
    }

    #[test]
    fn retry_starts_anew_after_a_fatal_failure_a_cancel_a_blob_or_without_persistence() {
        let cases: [(bool, Option<&str>, UploadView); 4] = [
            (true, Some("a"), failed(MB, ErrorCode::Forbidden)),
            (false, Some("a"), failed(MB, ErrorCode::Network)),
            (true, None, failed(MB, ErrorCode::Network)),
            (
                true,
                Some("a"),
                UploadView {
                    error: Some(Error::new(ErrorCode::Aborted, "aborted")),
                    ..view(QueuePhase::Aborted, MB, MB / 2)
                },
            ),
        ];
        for (persists, file_name, outcome) in cases {
            let mut q = Queue::new(2, 250, persists);
            q.add(vec![NewFile {
                file_name: file_name.map(str::to_owned),
                ..file("a", MB)
            }]);
            q.take_actions();
            q.upload_changed(1, outcome);
            q.retry(1).unwrap();
            assert_eq!(starts(&q.take_actions()), vec![(1, None)]);
            let item = q.items().next().unwrap();
            assert_eq!(
                (item.upload_id.as_deref(), item.progress.acknowledged_bytes),
                (None, 0)
            );
        }
    }

    #[test]
    fn retry_of_an_item_that_did_not_fail_does_nothing() {
        let mut q = Queue::new(2, 250, true);
        q.add(vec![file("a", MB)]);
        q.take_actions();
        q.retry(1).unwrap();
        assert!(q.take_actions().is_empty());
        q.upload_changed(1, view(QueuePhase::Done, MB, MB));
        assert_eq!(q.take_actions(), vec![QueueAction::Release { item: 1 }]);
        q.retry(1).unwrap();
        assert!(q.take_actions().is_empty());
        assert_eq!(phase(&q, 1), QueuePhase::Done);
    }

    #[test]
    fn a_continued_session_whose_record_is_gone_starts_anew() {
        let mut q = Queue::new(2, 250, true);
        q.add(vec![file("a", MB)]);
        q.take_actions();
        q.upload_changed(1, failed(MB, ErrorCode::Network));
        q.retry(1).unwrap();
        q.take_actions();
        q.upload_changed(1, failed(MB, ErrorCode::NotFound));
        let actions = q.take_actions();
        assert_eq!(actions[0], QueueAction::Drop { item: 1 });
        assert_eq!(starts(&actions), vec![(1, None)]);
    }

    #[test]
    fn restored_uploads_await_their_file_once_each_and_a_matching_added_file_continues_them() {
        let mut q = Queue::new(4, 250, true);
        let restored = q.restore(vec![saved("s1", "a.mp4", 8 * MB), saved("s2", "b.mp4", MB)]);
        assert_eq!(restored, vec![1, 2]);
        assert!(
            q.restore(vec![saved("s1", "a.mp4", 8 * MB)]).is_empty(),
            "listed once"
        );
        assert!(q.take_actions().is_empty());
        let item = q.items().next().unwrap().clone();
        assert_eq!(item.phase, QueuePhase::AwaitingFile);
        assert_eq!(item.upload_id.as_deref(), Some("s1"));
        assert_eq!(item.progress.acknowledged_bytes, 2 * MB);
        assert_eq!(item.progress.total_bytes, 8 * MB);
        // The session exists: its chunks and its asset are known, as the bytes are.
        assert_eq!(
            (
                item.progress.total_chunks,
                item.progress.acknowledged_chunks,
                item.progress.reported_chunks
            ),
            (8, 2, 2)
        );
        assert_eq!(item.asset_id.as_deref(), Some("asset-of-s1"));
        // Same name and size, another modification time: a new file, not a continuation.
        let other = NewFile {
            last_modified: Some(5.0),
            ..file("a.mp4", 8 * MB)
        };
        assert_eq!(q.add(vec![other]), vec![3]);
        assert_eq!(q.add(vec![file("a.mp4", 8 * MB)]), vec![1]);
        assert_eq!(
            starts(&q.take_actions()),
            vec![(3, None), (1, Some("s1".to_owned()))]
        );
    }

    #[test]
    fn attach_file_checks_the_item_and_the_file() {
        let mut q = Queue::new(4, 250, true);
        q.restore(vec![saved("s1", "a.mp4", 8 * MB)]);
        q.add(vec![file("new.mp4", MB)]);
        q.take_actions();
        let wrong_size = q.attach_file(1, "a.mp4", MB).unwrap_err();
        assert_eq!(wrong_size.code, ErrorCode::FileMismatch);
        let wrong_name = q.attach_file(1, "b.mp4", 8 * MB).unwrap_err();
        assert_eq!(wrong_name.code, ErrorCode::FileMismatch);
        assert_eq!(
            q.attach_file(2, "new.mp4", MB).unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert_eq!(
            q.attach_file(9, "a.mp4", MB).unwrap_err().code,
            ErrorCode::NotFound
        );
        assert!(q.take_actions().is_empty());
        q.attach_file(1, "a.mp4", 8 * MB).unwrap();
        assert_eq!(starts(&q.take_actions()), vec![(1, Some("s1".to_owned()))]);
        // The upload finds the content differs, or another tab sends the upload: the item waits
        // for its file again, and says why.
        for code in [ErrorCode::FileMismatch, ErrorCode::Conflict] {
            let refused = UploadView {
                upload_id: None,
                ..failed(8 * MB, code)
            };
            q.upload_changed(1, refused);
            assert_eq!(q.take_actions(), vec![QueueAction::Drop { item: 1 }]);
            let item = q.items().next().unwrap();
            assert_eq!(item.phase, QueuePhase::AwaitingFile);
            assert_eq!(item.error.as_ref().unwrap().code, code);
            assert_eq!(item.upload_id.as_deref(), Some("s1"));
            q.attach_file(1, "a.mp4", 8 * MB).unwrap();
            assert_eq!(starts(&q.take_actions()), vec![(1, Some("s1".to_owned()))]);
        }
    }

    #[test]
    fn remove_aborts_a_running_upload_and_forgets_a_saved_one() {
        let mut q = Queue::new(4, 250, true);
        q.restore(vec![saved("s1", "a.mp4", 8 * MB)]);
        q.add(vec![file("b", MB), file("c", MB)]);
        q.take_actions();
        q.remove(2).unwrap();
        assert_eq!(
            q.take_actions(),
            vec![
                QueueAction::Abort { item: 2 },
                QueueAction::Drop { item: 2 }
            ]
        );
        q.remove(1).unwrap();
        assert_eq!(
            q.take_actions(),
            vec![
                QueueAction::Forget {
                    upload_id: "s1".to_owned()
                },
                QueueAction::Drop { item: 1 }
            ]
        );
        q.upload_changed(3, view(QueuePhase::Done, MB, MB));
        q.remove(3).unwrap();
        assert_eq!(
            q.take_actions(),
            vec![
                QueueAction::Release { item: 3 },
                QueueAction::Drop { item: 3 }
            ]
        );
        assert_eq!(q.items().count(), 0);
        assert_eq!(q.remove(3).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(q.pause(3).unwrap_err().code, ErrorCode::NotFound);
    }

    #[test]
    fn cancel_and_remove_of_a_failed_item_give_up_the_saved_upload_its_failure_kept() {
        let mut q = Queue::new(4, 250, true);
        q.add(vec![
            file("a", MB),
            file("b", MB),
            file("c", MB),
            file("d", MB),
        ]);
        q.take_actions();
        // A failure a resume may get past kept the record (and the asset): giving the item up
        // forgets both, and a cancelled item shows `aborted`.
        q.upload_changed(1, failed(MB, ErrorCode::RetriesExhausted));
        q.take_actions();
        q.cancel(1).unwrap();
        assert_eq!(
            q.take_actions(),
            vec![QueueAction::Forget {
                upload_id: "session-1".to_owned()
            }]
        );
        let item = q.items().find(|i| i.id == 1).unwrap();
        assert_eq!(item.phase, QueuePhase::Aborted);
        assert_eq!(
            item.error.as_ref().map(|e| e.code),
            Some(ErrorCode::Aborted)
        );
        q.cancel(1).unwrap();
        assert_eq!(q.take_actions(), vec![], "once");
        q.upload_changed(2, failed(MB, ErrorCode::Network));
        q.take_actions();
        q.remove(2).unwrap();
        assert_eq!(
            q.take_actions(),
            vec![
                QueueAction::Forget {
                    upload_id: "session-1".to_owned()
                },
                QueueAction::Drop { item: 2 }
            ]
        );
        // A failure for good left nothing saved (the upload deleted its record and asset).
        q.upload_changed(3, failed(MB, ErrorCode::EtagUnreadable));
        q.take_actions();
        q.cancel(3).unwrap();
        assert_eq!(q.take_actions(), vec![]);
        assert_eq!(
            q.items().find(|i| i.id == 3).unwrap().phase,
            QueuePhase::Failed
        );
        q.upload_changed(4, failed(MB, ErrorCode::StorageRejected));
        q.take_actions();
        q.remove(4).unwrap();
        assert_eq!(q.take_actions(), vec![QueueAction::Drop { item: 4 }]);
    }

    #[test]
    fn totals_leave_out_failed_and_cancelled_items_and_sum_speeds() {
        let mut q = Queue::new(4, 250, true);
        q.add(vec![
            file("a", 10 * MB),
            file("b", 10 * MB),
            file("c", 4 * MB),
        ]);
        q.take_actions();
        let mut moving = view(QueuePhase::Uploading, 10 * MB, 2 * MB);
        moving.progress.bytes_per_second = Some(MB);
        q.upload_changed(1, moving.clone());
        moving.progress.acknowledged_bytes = 4 * MB;
        q.upload_changed(2, moving);
        q.cancel(3).unwrap();
        let totals = q.totals();
        assert_eq!(totals.total_bytes, 20 * MB);
        assert_eq!(totals.acknowledged_bytes, 6 * MB);
        assert!((totals.fraction() - 0.3).abs() < 1e-9);
        assert_eq!(totals.bytes_per_second, Some(2 * MB));
        assert_eq!(totals.eta_ms, Some(7_000));
        assert_eq!(totals.count(QueuePhase::Uploading), 2);
        assert_eq!(totals.count(QueuePhase::Aborted), 1);
        assert_eq!(totals.counts.iter().sum::<u32>(), 3);
        let empty = Queue::new(4, 250, true).totals();
        assert_eq!(
            (empty.fraction(), empty.eta_ms, empty.bytes_per_second),
            (0.0, None, None)
        );
    }

    #[test]
    fn only_items_sending_bytes_add_to_the_queues_speed() {
        let mut q = Queue::new(4, 250, true);
        q.add(vec![file("a", 10 * MB), file("b", 10 * MB)]);
        q.take_actions();
        let mut moving = view(QueuePhase::Uploading, 10 * MB, 2 * MB);
        moving.progress.bytes_per_second = Some(MB);
        q.upload_changed(1, moving);
        // b's transfer is over: it keeps the speed it measured, but sends nothing now.
        let mut processing = view(QueuePhase::Processing, 10 * MB, 10 * MB);
        processing.progress.bytes_per_second = Some(5 * MB);
        q.upload_changed(2, processing);
        assert_eq!(q.totals().bytes_per_second, Some(MB));
    }

    #[test]
    fn phase_changes_publish_at_once_byte_progress_once_per_interval_and_unchanged_items_keep_their_revision(
    ) {
        let mut q = Queue::new(4, 250, true);
        assert!(!q.publish(0), "nothing changed");
        assert!(q.add(Vec::new()).is_empty());
        q.pause_all();
        q.resume_all();
        assert!(
            !q.publish(0),
            "adding no file, pausing and resuming nothing change nothing"
        );
        q.add(vec![file("a", 10 * MB), file("b", 10 * MB)]);
        q.take_actions();
        assert!(q.publish(1_000));
        assert_eq!(q.revision(), 1);
        assert!(!q.publish(1_001));
        q.upload_changed(1, view(QueuePhase::Uploading, 10 * MB, 0));
        assert!(q.publish(1_010), "a phase change is published at once");
        let revisions: Vec<u64> = q.items().map(|i| i.revision).collect();
        assert_eq!(revisions, vec![2, 1], "b did not change");
        q.upload_changed(1, view(QueuePhase::Uploading, 10 * MB, MB));
        assert!(!q.publish(1_100), "byte progress waits for the interval");
        assert_eq!(q.publish_deadline(), Some(1_260));
        assert!(q.publish(1_260));
        assert_eq!(q.items().next().unwrap().progress.acknowledged_bytes, MB);
        q.upload_changed(1, view(QueuePhase::Uploading, 10 * MB, MB));
        assert!(!q.publish(5_000), "the same view changes nothing");
        assert_eq!(q.publish_deadline(), None);
        q.remove(2).unwrap();
        assert!(q.publish(5_001), "a removal is published");
    }
}
