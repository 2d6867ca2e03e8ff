//! One targeted test per engine rule, driving the engine by hand on a virtual clock.

use twelvelabs_edge_upload::core::engine::{
    Action, AssetWait, AssetWaitStep, Engine, EngineConfig, FileId, Input, NewFile, NewUpload,
    PauseMode, Phase, RequestId,
};
use twelvelabs_edge_upload::core::error::ErrorCode;
use twelvelabs_edge_upload::core::resume::{SavedUpload, SAVED_UPLOAD_VERSION};
use twelvelabs_edge_upload::core::retry::{BackoffPolicy, HttpOutcome};
use twelvelabs_edge_upload::core::wire::{
    timestamp, Asset, AssetError, AssetMethod, AssetStatus, ChunkInfo, ChunkStatus,
    CreateMultipartUploadResponse, PageInfo, PresignedUrl, PresignedUrlsResponse,
    ReportChunksResponse, UploadStatus, UploadStatusResponse,
};

const T0: u64 = 1_764_586_800_000;
const HOUR: u64 = 3_600_000;
const CHUNK: u64 = 1_000;

struct Driver {
    engine: Engine,
    now: u64,
    nonce: u64,
}

impl Driver {
    fn new(config: EngineConfig) -> Self {
        Driver {
            engine: Engine::new(config).unwrap(),
            now: T0,
            nonce: 0,
        }
    }

    fn url(&mut self, index: u32, server_now: u64) -> PresignedUrl {
        self.nonce += 1;
        PresignedUrl {
            chunk_index: index,
            url: format!("https://s.test/{index}?n={}", self.nonce),
            expires_at: timestamp::format((server_now + HOUR) as i64),
        }
    }

    /// A session of `chunks` chunks with URLs for the first `with_urls`.
    fn session(&mut self, chunks: u32, with_urls: u32) -> CreateMultipartUploadResponse {
        let urls = (1..=with_urls).map(|i| self.url(i, self.now)).collect();
        CreateMultipartUploadResponse {
            upload_id: "up".into(),
            asset_id: "as".into(),
            upload_urls: urls,
            upload_headers: Default::default(),
            chunk_size: CHUNK,
            total_chunks: chunks,
            expires_at: timestamp::format((self.now + 24 * HOUR) as i64),
            upload_token: Some("tok".into()),
        }
    }

    fn add(&mut self, chunks: u32, with_urls: u32, wait_for_asset: bool) -> (FileId, Vec<Action>) {
        let session = self.session(chunks, with_urls);
        let mut upload = NewUpload::new(u64::from(chunks) * CHUNK, session);
        upload.wait_for_asset = wait_for_asset;
        let id = self.engine.add_upload(self.now, upload).unwrap();
        (id, self.drain())
    }

    /// A one-chunk upload that waits for its asset, stored and reported: its session completed.
    /// Answers the upload's id and what the final report's answer made the engine do.
    fn completed_awaiting_asset(&mut self) -> (FileId, Vec<Action>) {
        let (file, actions) = self.add(1, 1, true);
        let actions = self.feed(Input::PutDone {
            request: puts(&actions)[0].0,
            outcome: HttpOutcome::stored("e1"),
        });
        let (report, _) = reports(&actions)[0].clone();
        let actions = self.feed(Input::ReportDone {
            request: report,
            result: report_ok(1, Some("u")),
        });
        (file, actions)
    }

    /// Hands a file of `size` bytes to the engine, which decides how to send it.
    fn add_file(&mut self, size: u64) -> (FileId, Vec<Action>) {
        let id = self.engine.add(self.now, NewFile::new(size)).unwrap();
        (id, self.drain())
    }

    /// [`Driver::add_file`], waiting for the asset to be ready.
    fn add_file_waiting(&mut self, size: u64) -> (FileId, Vec<Action>) {
        let file = NewFile {
            file_size: size,
            wait_for_asset: true,
            fingerprint: false,
        };
        let id = self.engine.add(self.now, file).unwrap();
        (id, self.drain())
    }

    fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.engine.poll_action()).collect()
    }

    fn feed(&mut self, input: Input) -> Vec<Action> {
        self.engine.handle(self.now, input);
        self.drain()
    }

    fn tick_to(&mut self, at: u64) -> Vec<Action> {
        self.now = at;
        self.feed(Input::Tick)
    }

    /// Ticks through deadlines until `pred` matches an emitted action (bounded).
    fn tick_until(&mut self, pred: impl Fn(&Action) -> bool) -> Vec<Action> {
        for _ in 0..100 {
            let at = self.engine.next_wakeup().expect("a deadline to wait for");
            assert!(at > self.now, "wake-up must be in the future");
            let actions = self.tick_to(at);
            if actions.iter().any(&pred) {
                return actions;
            }
        }
        panic!("no matching action after 100 deadlines");
    }

    fn grant(&mut self, request: RequestId, start: u32, count: u32) -> Vec<Action> {
        let urls = (start..start + count)
            .map(|i| self.url(i, self.now))
            .collect();
        self.feed(Input::UrlsDone {
            request,
            result: Ok(PresignedUrlsResponse {
                upload_id: "up".into(),
                start_index: start,
                count,
                upload_urls: urls,
                generated_at: Some(timestamp::format(self.now as i64)),
                expires_at: None,
            }),
        })
    }
}

/// The session creations among `actions`.
fn creations(actions: &[Action]) -> Vec<RequestId> {
    start_requests(actions, false)
}

/// How many `ForgetState` are among `actions`.
fn forgets(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::ForgetState { .. }))
        .count()
}

/// The asset polls among `actions`.
fn asset_polls(actions: &[Action]) -> Vec<RequestId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::FetchAsset { request, .. } => Some(*request),
            _ => None,
        })
        .collect()
}

/// The direct uploads among `actions`.
fn direct_uploads(actions: &[Action]) -> Vec<RequestId> {
    start_requests(actions, true)
}

fn start_requests(actions: &[Action], direct: bool) -> Vec<RequestId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateSession { request, .. } if !direct => Some(*request),
            Action::DirectUpload { request, .. } if direct => Some(*request),
            _ => None,
        })
        .collect()
}

fn puts(actions: &[Action]) -> Vec<(RequestId, u32, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Put {
                request,
                chunk_index,
                url,
                ..
            } => Some((*request, *chunk_index, url.clone())),
            _ => None,
        })
        .collect()
}

fn url_requests(actions: &[Action]) -> Vec<(RequestId, u32, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RequestUrls {
                request,
                start,
                count,
                ..
            } => Some((*request, *start, *count)),
            _ => None,
        })
        .collect()
}

fn reports(actions: &[Action]) -> Vec<(RequestId, Vec<u32>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Report {
                request, chunks, ..
            } => Some((*request, chunks.iter().map(|c| c.chunk_index).collect())),
            _ => None,
        })
        .collect()
}

/// The error an upload finished with, among `actions`.
fn finished_error(actions: &[Action]) -> Option<twelvelabs_edge_upload::core::error::Error> {
    actions.iter().find_map(|a| match a {
        Action::Finished {
            outcome: Err(e), ..
        } => Some(e.clone()),
        _ => None,
    })
}

fn finished_code(actions: &[Action]) -> Option<Result<(), ErrorCode>> {
    actions.iter().find_map(|a| match a {
        Action::Finished { outcome, .. } => Some(outcome.as_ref().map(|_| ()).map_err(|e| e.code)),
        _ => None,
    })
}

/// [`config`] with one attempt per API call: its first failure is its last.
fn one_api_attempt() -> EngineConfig {
    EngineConfig {
        api_backoff: BackoffPolicy {
            base_ms: 100,
            cap_ms: 800,
            max_attempts: 1,
        },
        ..config()
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        concurrency: 2,
        report_debounce_ms: 500,
        put_backoff: BackoffPolicy {
            base_ms: 1_000,
            cap_ms: 8_000,
            max_attempts: 3,
        },
        ..EngineConfig::default()
    }
}

fn report_ok(total_completed: u32, url: Option<&str>) -> Result<ReportChunksResponse, HttpOutcome> {
    Ok(ReportChunksResponse {
        url: url.map(str::to_string),
        asset_id: "as".into(),
        processed_chunks: 1,
        duplicate_chunks: 0,
        total_completed,
    })
}

fn status(
    upload: UploadStatus,
    chunks: &[(u32, ChunkStatus)],
) -> Result<UploadStatusResponse, HttpOutcome> {
    let completed = chunks
        .iter()
        .filter(|c| c.1 == ChunkStatus::Completed)
        .count() as u32;
    Ok(UploadStatusResponse {
        upload_id: "up".into(),
        status: upload,
        uploaded_chunks: chunks
            .iter()
            .map(|&(index, status)| ChunkInfo {
                index,
                status,
                uploaded_at: None,
                updated_at: None,
                error: None,
            })
            .collect(),
        chunks_completed: completed,
        chunks_failed: 0,
        chunks_pending: 0,
        page_info: Some(PageInfo::for_page(1, 50, chunks.len() as u64)),
        total_size: 0,
        uploaded_size: 0,
        created_at: None,
        updated_at: None,
    })
}

fn asset(status: AssetStatus) -> Asset {
    Asset {
        id: "as".into(),
        method: AssetMethod::Multipart,
        status,
        filename: None,
        file_type: None,
        created_at: None,
        size: None,
        duration: None,
        user_metadata: None,
        hls: None,
        thumbnail: None,
        error: (status == AssetStatus::Failed).then(|| AssetError {
            message: "codec not supported".into(),
        }),
    }
}

#[test]
fn a_plan_that_does_not_add_up_is_refused_with_a_typed_error() {
    let mut d = Driver::new(config());
    let mut session = d.session(3, 0);
    session.total_chunks = 4;
    let err = d
        .engine
        .add_upload(T0, NewUpload::new(3 * CHUNK, session))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerInvalid);
    let bad = EngineConfig {
        concurrency: 0,
        ..EngineConfig::default()
    };
    assert_eq!(Engine::new(bad).unwrap_err().code, ErrorCode::InvalidInput);
}

#[test]
fn puts_start_lowest_first_within_the_budget() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add(5, 5, false);
    let started: Vec<u32> = puts(&actions).iter().map(|p| p.1).collect();
    assert_eq!(started, vec![1, 2]);
    assert_eq!(d.engine.puts_in_flight(), 2);
}

#[test]
fn a_missing_etag_fails_at_once_naming_the_cors_fix() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add(3, 3, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::status(200),
    });
    let message = finished_error(&actions).expect("finished with an error");
    assert_eq!(message.code, ErrorCode::EtagUnreadable);
    assert!(message
        .message
        .contains("Access-Control-Expose-Headers: ETag"));
    // The other PUT in flight is cancelled.
    assert!(actions.iter().any(|a| matches!(a, Action::Cancel { .. })));
}

#[test]
fn a_chunk_whose_file_can_no_longer_be_read_fails_the_upload_at_once_for_good() {
    let mut d = Driver::new(config());
    let (file, actions) = d.add(3, 3, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::source_unreadable(),
    });
    let error = finished_error(&actions).expect("finished with an error");
    assert_eq!(error.code, ErrorCode::FileMismatch);
    assert!(!error.is_retryable(), "{error:?}");
    assert!(error.message.contains("changed"), "{}", error.message);
    // Not retried and the other PUT cancelled. The saved record stays: the session is intact,
    // and a page being unloaded fails its reads too (a resume with a changed file is refused by
    // its fingerprint).
    assert!(puts(&actions).is_empty(), "{actions:?}");
    assert!(actions.iter().any(|a| matches!(a, Action::Cancel { .. })));
    assert!(!actions.contains(&Action::ForgetState { file }));
    // A plain network failure of the same PUT is retried, as before.
    let mut d = Driver::new(config());
    let (_, actions) = d.add(3, 3, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::network_error(),
    });
    assert_eq!(finished_error(&actions), None);
}

/// A direct upload of one chunk, waited for: its asset was created and is processing.
fn awaiting_direct_asset(direct: EngineConfig) -> (Driver, FileId) {
    let mut d = Driver::new(direct);
    let (file, actions) = d.add_file_waiting(CHUNK);
    let request = direct_uploads(&actions)[0];
    d.feed(Input::DirectUploadDone {
        request,
        result: Ok(asset(AssetStatus::Processing)),
    });
    assert_eq!(d.engine.phase(file), Some(Phase::AwaitingAsset));
    (d, file)
}

#[test]
fn a_pause_once_every_byte_is_with_the_server_does_not_hold_the_wait_for_the_asset() {
    let direct = EngineConfig {
        direct_upload_max_bytes: 10 * CHUNK,
        ..config()
    };
    let (mut d, file) = awaiting_direct_asset(direct);
    d.feed(Input::Pause { file: Some(file) });
    assert!(
        !d.engine.is_paused(file),
        "the phase shown stays processing"
    );
    let polled = tick_to_next(&mut d)
        .into_iter()
        .any(|a| matches!(a, Action::FetchAsset { .. }));
    assert!(polled, "the asset is still polled while paused");

    // Before that point a pause holds: no chunk is sent while paused.
    let mut d = Driver::new(config());
    let (file, _) = d.add(3, 3, false);
    d.feed(Input::Pause { file: Some(file) });
    assert!(d.engine.is_paused(file));
}

#[test]
fn a_forbidden_put_is_retried_with_a_fresh_url() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add(2, 2, false);
    let (request, index, old_url) = puts(&actions)[0].clone();
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::status(403),
    });
    // The old URL was used once; a new one is requested at once, used after the backoff.
    let (req, start, count) = url_requests(&actions)[0];
    assert_eq!((start, count), (index, 1));
    let actions = d.grant(req, start, count);
    assert!(puts(&actions).is_empty(), "the backoff comes first");
    let actions = d.tick_until(|a| matches!(a, Action::Put { .. }));
    let (_, again, new_url) = puts(&actions)[0].clone();
    assert_eq!(again, index);
    assert_ne!(new_url, old_url);
}

#[test]
fn retry_after_is_honoured() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add(1, 1, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::status(429).with_retry_after_ms(20_000),
    });
    let failed_at = d.now;
    let (req, start, count) = url_requests(&actions)[0];
    d.grant(req, start, count);
    d.tick_until(|a| matches!(a, Action::Put { .. }));
    assert!(
        d.now >= failed_at + 20_000,
        "retried after {} ms",
        d.now - failed_at
    );
}

#[test]
fn a_stalled_put_is_cancelled_and_retried() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add(1, 1, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let actions = d.tick_until(|a| matches!(a, Action::Cancel { .. }));
    assert!(actions.contains(&Action::Cancel { request }));
    assert!(d.now - T0 >= config().stall.min_ms);
    assert_eq!(d.engine.puts_in_flight(), 0);
    // A late answer for the cancelled request is ignored.
    let late = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::stored("x"),
    });
    assert!(finished_code(&late).is_none());
    assert_eq!(d.engine.progress(FileId(1)).unwrap().acknowledged_chunks, 0);
}

#[test]
fn upload_progress_keeps_the_watchdog_quiet() {
    // An adapter that observes how much of a PUT went out (and says so).
    let mut d = Driver::new(EngineConfig {
        observes_put_progress: true,
        ..config()
    });
    let (_, actions) = d.add(1, 1, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let first_deadline = d.engine.next_wakeup().unwrap();
    d.now = first_deadline - 1;
    d.feed(Input::PutProgress {
        request,
        bytes_sent: 500,
    });
    let progress = d.engine.progress(FileId(1)).unwrap();
    assert_eq!(progress.sent_bytes, 500);
    assert!(d.engine.next_wakeup().unwrap() > first_deadline);
}

#[test]
fn retries_run_out_without_progress_but_progress_resets_the_count() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 1,
        ..config()
    });
    let (_, mut actions) = d.add(2, 2, false);
    let mut failures = 0;
    let mut unanswered_url_requests = Vec::new();
    loop {
        unanswered_url_requests.extend(url_requests(&actions));
        if let Some((request, index, _)) = puts(&actions).first().cloned() {
            // Chunk 2 succeeds once, in the middle: that is progress, and resets the count.
            let outcome = if index == 2 {
                HttpOutcome::stored("e2")
            } else {
                failures += 1;
                HttpOutcome::status(500)
            };
            actions = d.feed(Input::PutDone { request, outcome });
            if let Some(result) = finished_code(&actions) {
                assert_eq!(result, Err(ErrorCode::RetriesExhausted));
                break;
            }
            continue;
        }
        if let Some((request, start, count)) = unanswered_url_requests.pop() {
            actions = d.grant(request, start, count);
            continue;
        }
        actions = d.tick_until(|a| matches!(a, Action::Put { .. } | Action::RequestUrls { .. }));
    }
    // Chunk 1 failed once, then chunk 2 succeeded (progress: the count restarts), then with
    // max_attempts = 3 the third failure in a row ended the upload: 1 + 3.
    assert_eq!(failures, 4);
}

#[test]
fn every_kind_of_request_gives_up_after_exactly_max_attempts() {
    // `retry.maxAttempts` means the same for a chunk PUT (above), a report, and the calls made
    // outside the loop (session creation below, `OneOffRetry` in core::retry): attempts in all.
    for max_attempts in [1, 2, 3] {
        let mut d = Driver::new(EngineConfig {
            api_backoff: BackoffPolicy {
                base_ms: 100,
                cap_ms: 800,
                max_attempts,
            },
            ..config()
        });
        let seen = reports_answered(&mut d, Err(HttpOutcome::status(500)));
        let sent = seen
            .iter()
            .filter(|a| matches!(a, Action::Report { .. }))
            .count() as u32;
        assert_eq!(
            sent, max_attempts,
            "reports sent with max_attempts {max_attempts}"
        );
        assert_eq!(finished_code(&seen), Some(Err(ErrorCode::RetriesExhausted)));
        let error = finished_error(&seen).unwrap();
        let expected = format!("gave up after {max_attempts} attempts");
        assert!(error.message.starts_with(&expected), "{error}");
    }
}

#[test]
fn failures_while_offline_do_not_count_and_online_retries_at_once() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 1,
        ..config()
    });
    let (_, actions) = d.add(1, 1, false);
    let (request, _, _) = puts(&actions)[0].clone();
    d.feed(Input::Offline);
    let actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::network_error(),
    });
    assert!(url_requests(&actions).is_empty() && puts(&actions).is_empty());
    d.now += 60_000;
    let actions = d.feed(Input::Tick);
    assert!(
        url_requests(&actions).is_empty(),
        "nothing starts while offline"
    );
    let actions = d.feed(Input::Online);
    let (req, start, count) = url_requests(&actions)[0];
    let actions = d.grant(req, start, count);
    assert_eq!(puts(&actions).len(), 1);
}

#[test]
fn pause_aborting_in_flight_cancels_and_resume_restarts_with_fresh_urls() {
    let mut d = Driver::new(EngineConfig {
        pause_mode: PauseMode::AbortInFlight,
        ..config()
    });
    let (file, actions) = d.add(3, 3, false);
    let first = puts(&actions);
    let actions = d.feed(Input::Pause { file: Some(file) });
    let cancelled: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Cancel { .. }))
        .collect();
    assert_eq!(cancelled.len(), 2);
    assert!(d.engine.is_paused(file));
    // A paused upload waits for nothing but its session's expiry.
    assert_eq!(d.engine.next_wakeup(), Some(T0 + 24 * HOUR));
    let actions = d.feed(Input::Resume { file: Some(file) });
    // Chunk 3 still has its URL; chunks 1 and 2 need fresh ones.
    assert_eq!(
        puts(&actions).iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![3]
    );
    let (req, start, count) = url_requests(&actions)[0];
    assert_eq!((start, count), (1, 2));
    let actions = d.grant(req, start, count);
    let again = puts(&actions);
    assert_eq!(again[0].1, 1);
    assert!(first.iter().all(|p| p.2 != again[0].2));
}

/// A driver that lets PUTs in flight finish on a pause, with an upload of `chunks` chunks (all
/// with URLs) and its first PUTs.
fn finishing_in_flight(chunks: u32) -> (Driver, FileId, Vec<(RequestId, u32, String)>) {
    let mut d = Driver::new(EngineConfig {
        pause_mode: PauseMode::FinishInFlight,
        ..config()
    });
    let (file, actions) = d.add(chunks, chunks, false);
    let first = puts(&actions);
    (d, file, first)
}

#[test]
fn pause_letting_in_flight_finish_keeps_their_results() {
    let (mut d, file, first) = finishing_in_flight(3);
    let actions = d.feed(Input::Pause { file: None });
    assert!(!actions.iter().any(|a| matches!(a, Action::Cancel { .. })));
    let actions = d.feed(Input::PutDone {
        request: first[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    assert!(puts(&actions).is_empty(), "no new PUT while paused");
    assert_eq!(d.engine.progress(file).unwrap().acknowledged_chunks, 1);
    let actions = d.feed(Input::Resume { file: None });
    assert_eq!(puts(&actions)[0].1, 3);
}

#[test]
fn a_pause_settles_once_the_puts_let_finish_are_stored_and_reported_at_once() {
    // Until a pause settles its record still changes, so its page keeps the session's lock.
    let (mut d, file, first) = finishing_in_flight(4);
    assert!(!d.engine.is_settled_paused(file), "not paused");
    let _ = d.feed(Input::Pause { file: None });
    assert!(!d.engine.is_settled_paused(file), "PUTs in flight");
    let mut reported = Vec::new();
    for (at, (put, index, _)) in first.iter().enumerate() {
        let actions = d.feed(Input::PutDone {
            request: *put,
            outcome: HttpOutcome::stored(format!("e{index}")),
        });
        // Paused, an acknowledged chunk is reported without the debounce: no companion comes.
        reported.extend(reports(&actions));
        assert_eq!(reported.len(), 1, "one report in flight at a time");
        let last = at + 1 == first.len();
        assert!(!d.engine.is_settled_paused(file) || last);
    }
    assert!(!d.engine.is_settled_paused(file), "a report in flight");
    let mut next = reported.remove(0);
    loop {
        let actions = d.feed(Input::ReportDone {
            request: next.0,
            result: report_ok(next.1.len() as u32, None),
        });
        match reports(&actions).first() {
            Some(report) => next = report.clone(),
            None => break,
        }
    }
    assert!(d.engine.is_settled_paused(file));
    assert!(!puts(&d.feed(Input::Resume { file: None })).is_empty());
    assert!(!d.engine.is_settled_paused(file), "resumed");
}

#[test]
fn an_upload_another_page_took_over_while_paused_ends_with_conflict_and_leaves_its_record_and_asset(
) {
    let (mut d, file, first) = finishing_in_flight(4);
    d.feed(Input::Pause { file: Some(file) });
    let actions = d.feed(Input::TakenOver { file });
    let error = finished_error(&actions).expect("finished");
    assert_eq!(error.code, ErrorCode::Conflict);
    assert!(error.message.contains("another tab"), "{}", error.message);
    // What was in flight is cancelled; the record and the reserved asset are the other page's.
    let cancelled: Vec<RequestId> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Cancel { request } => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled.len(), first.len(), "{actions:?}");
    assert_eq!(forgets(&actions), 0, "{actions:?}");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::DeleteAsset { .. } | Action::KeepCompleted { .. })),
        "{actions:?}"
    );
    assert!(d.engine.progress(file).is_none());
    assert_eq!(d.engine.next_wakeup(), None);
    // Its late outcomes change nothing.
    let actions = d.feed(Input::PutDone {
        request: first[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    assert!(actions.is_empty(), "{actions:?}");
    assert!(d.feed(Input::TakenOver { file }).is_empty());
}

#[test]
fn an_upload_another_page_gave_up_while_paused_ends_with_conflict_and_deletes_nothing() {
    let (mut d, file, first) = finishing_in_flight(4);
    d.feed(Input::Pause { file: Some(file) });
    // Its pause settles: what was let finish is stored and reported.
    for (request, index, _) in &first {
        d.feed(Input::PutDone {
            request: *request,
            outcome: HttpOutcome::stored(format!("e{index}")),
        });
    }
    let actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
    for (report, chunks) in reports(&actions) {
        d.feed(Input::ReportDone {
            request: report,
            result: report_ok(chunks.len() as u32, None),
        });
    }
    assert!(d.engine.is_settled_paused(file));
    let actions = d.feed(Input::GivenUpElsewhere { file });
    let error = finished_error(&actions).expect("finished");
    assert_eq!(error.code, ErrorCode::Conflict);
    assert!(error.message.contains("given up"), "{}", error.message);
    // The other page deleted the record and the asset: nothing is sent, nothing deleted again.
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::DeleteAsset { .. }
                | Action::KeepCompleted { .. }
                | Action::Put { .. }
                | Action::Report { .. }
        )),
        "{actions:?}"
    );
    assert!(d.engine.progress(file).is_none());
    assert!(d.feed(Input::Resume { file: Some(file) }).is_empty());
}

#[test]
fn abort_cancels_everything_and_finishes_with_aborted() {
    let mut d = Driver::new(config());
    let (file, _) = d.add(4, 4, false);
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Cancel { .. }))
            .count(),
        2
    );
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert_eq!(d.engine.puts_in_flight(), 0);
    assert!(d.engine.progress(file).is_none());
    assert_eq!(d.engine.next_wakeup(), None);
    // The asset the session reserved would stay `processing` forever: it is deleted, once,
    // after the requests are cancelled and before the upload is reported finished.
    let deletes: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a, Action::DeleteAsset { asset_id } if asset_id == "as"))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(deletes.len(), 1, "{actions:?}");
    let last_cancel = actions
        .iter()
        .rposition(|a| matches!(a, Action::Cancel { .. }))
        .unwrap();
    let finished = actions
        .iter()
        .position(|a| matches!(a, Action::Finished { .. }))
        .unwrap();
    assert!(
        last_cancel < deletes[0] && deletes[0] < finished,
        "{actions:?}"
    );
}

#[test]
fn an_aborted_upload_that_never_needed_the_grant_deletes_its_asset_at_once() {
    // An upload continued after a reload is driven by its saved upload token alone: no grant
    // was ever asked for. Its reserved asset is deleted on abort all the same, at once: the
    // adapter's one-off call gets a grant itself, with its own retries, so a `getToken` that
    // fails once cannot lose the deletion.
    let mut d = Driver::new(grant_config());
    let (file, _) = d.add(4, 4, false);
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert_eq!(need_tokens(&actions), 0, "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::DeleteAsset { asset_id } if asset_id == "as")),
        "{actions:?}"
    );
    assert_eq!(
        d.engine.abandoned_requests().count(),
        0,
        "the deletion is the adapter's now"
    );
    // A `getToken` failure afterwards takes nothing back.
    let actions = d.feed(Input::TokenFailed {
        error: twelvelabs_edge_upload::core::error::Error::new(ErrorCode::Network, "blip"),
    });
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn an_upload_over_for_good_deletes_its_reserved_asset_never_a_completed_or_resumable_one() {
    // A fatal error ends the upload for good: no resume can use the session (its record goes),
    // so the asset it reserved would stay `processing` forever. It is deleted, once, after the
    // requests are cancelled and before the upload is reported finished, as for an abort.
    for (status, code) in [
        (400, ErrorCode::StorageRejected),
        (200, ErrorCode::EtagUnreadable),
    ] {
        let mut d = Driver::new(config());
        let (_, actions) = d.add(1, 1, true);
        let actions = d.feed(Input::PutDone {
            request: puts(&actions)[0].0,
            outcome: HttpOutcome::status(status),
        });
        assert_eq!(finished_code(&actions), Some(Err(code)));
        let deleted = actions
            .iter()
            .position(|a| matches!(a, Action::DeleteAsset { asset_id } if asset_id == "as"));
        let finished = actions
            .iter()
            .position(|a| matches!(a, Action::Finished { .. }));
        assert!(
            deleted.is_some() && deleted < finished,
            "{code:?}: {actions:?}"
        );
        assert_eq!(forgets(&actions), 1, "{code:?}: {actions:?}");
    }

    // An error a later resume may get past keeps the session's record, and so its asset.
    let mut d = Driver::new(one_api_attempt());
    let seen = reports_answered(&mut d, Err(HttpOutcome::status(500)));
    assert_eq!(finished_code(&seen), Some(Err(ErrorCode::RetriesExhausted)));
    assert!(!seen.iter().any(|a| matches!(a, Action::DeleteAsset { .. })));

    // Aborting while waiting for processing: the session completed, the asset is whole.
    let mut d = Driver::new(config());
    let (file, _) = d.completed_awaiting_asset();
    assert_eq!(d.engine.phase(file), Some(Phase::AwaitingAsset));
    let actions = d.feed(Input::Abort { file: None });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::DeleteAsset { .. })));

    // A session created for an upload aborted meanwhile is abandoned: its asset goes too.
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(2 * CHUNK);
    let create = creations(&actions)[0];
    d.feed(Input::Abort { file: None });
    let session = d.session(2, 2);
    assert_eq!(
        d.feed(Input::SessionCreated {
            request: create,
            result: Ok(session),
        }),
        vec![Action::DeleteAsset {
            asset_id: "as".into()
        }]
    );
    assert_eq!(d.engine.uploads().count(), 0);
}

#[test]
fn an_upload_whose_record_is_dropped_deletes_its_asset_even_on_an_error_a_resume_could_pass() {
    // Without a record (its fingerprint unreadable, or forgotten) no resume can continue the
    // session: `retries_exhausted` then ends it for good, like a fatal error.
    let mut d = Driver::new(one_api_attempt());
    let (file, actions) = d.add(1, 1, false);
    assert!(d.feed(Input::RecordDropped { file }).is_empty());
    let seen = chunk_reported_with(&mut d, &actions, Err(HttpOutcome::status(500)));
    assert_eq!(finished_code(&seen), Some(Err(ErrorCode::RetriesExhausted)));
    assert!(
        seen.iter()
            .any(|a| matches!(a, Action::DeleteAsset { asset_id } if asset_id == "as")),
        "{seen:?}"
    );
}

#[test]
fn an_upload_whose_record_is_dropped_saves_none_from_then_on_nor_keeps_one_when_done() {
    // Saving its record: stored chunks write it.
    let mut d = Driver::new(config());
    let (kept, actions) = d.add(1, 1, false);
    let seen = chunk_reported_with(&mut d, &actions, report_ok(1, Some("u")));
    assert!(seen.contains(&Action::SaveState { file: kept }), "{seen:?}");
    assert!(
        seen.iter()
            .any(|a| matches!(a, Action::KeepCompleted { file, .. } if *file == kept)),
        "{seen:?}"
    );
    // Given up (`forget`) while it runs: nothing written from then on, and done, its end
    // deletes whatever record is left rather than keeping one as completed.
    let (dropped, actions) = d.add(1, 1, false);
    assert!(d.feed(Input::RecordDropped { file: dropped }).is_empty());
    let seen = chunk_reported_with(&mut d, &actions, report_ok(1, Some("u")));
    assert_eq!(finished_code(&seen), Some(Ok(())), "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|a| matches!(a, Action::SaveState { .. } | Action::KeepCompleted { .. })),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Action::ForgetState { file: dropped }),
        "{seen:?}"
    );
}

#[test]
fn reports_are_debounced_then_batched() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 3,
        ..config()
    });
    let (_, actions) = d.add(6, 6, false);
    let p = puts(&actions);
    let a = d.feed(Input::PutDone {
        request: p[0].0,
        outcome: HttpOutcome::stored("\"e1\""),
    });
    assert!(
        reports(&a).is_empty(),
        "the first ETag waits for companions"
    );
    d.now += 100;
    d.feed(Input::PutDone {
        request: p[1].0,
        outcome: HttpOutcome::stored("\"e2\""),
    });
    let actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
    let (_, indices) = &reports(&actions)[0];
    assert_eq!(indices, &vec![1, 2]);
    let proofs: Vec<String> = actions
        .iter()
        .flat_map(|a| match a {
            Action::Report { chunks, .. } => chunks.iter().map(|c| c.proof.clone()).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(proofs, vec!["e1", "e2"], "quotes are stripped");
}

#[test]
fn a_report_failure_is_retried_and_puts_keep_going() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 1,
        ..config()
    });
    let (_, actions) = d.add(2, 2, false);
    let p = puts(&actions);
    let actions = d.feed(Input::PutDone {
        request: p[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    assert_eq!(
        puts(&actions)[0].1,
        2,
        "the next PUT does not wait for reports"
    );
    let actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
    let (report, _) = reports(&actions)[0].clone();
    d.feed(Input::ReportDone {
        request: report,
        result: Err(HttpOutcome::status(502)),
    });
    let actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
    assert_eq!(reports(&actions)[0].1, vec![1]);
}

#[test]
fn completion_is_confirmed_and_server_failed_chunks_are_uploaded_again() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 2,
        ..config()
    });
    let (file, actions) = d.add(2, 2, false);
    let p = puts(&actions);
    d.feed(Input::PutDone {
        request: p[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    let actions = d.feed(Input::PutDone {
        request: p[1].0,
        outcome: HttpOutcome::stored("e2"),
    });
    // Nothing left to PUT: report at once.
    let (report, indices) = reports(&actions)[0].clone();
    assert_eq!(indices, vec![1, 2]);
    // The server took chunk 1 but refused chunk 2's proof: no url, one completed.
    let actions = d.feed(Input::ReportDone {
        request: report,
        result: report_ok(1, None),
    });
    let status_request = actions
        .iter()
        .find_map(|a| match a {
            Action::FetchStatus { request, page, .. } => Some((*request, *page)),
            _ => None,
        })
        .expect("completion is checked with the server");
    assert_eq!(d.engine.phase(file), Some(Phase::Confirming));
    let actions = d.feed(Input::StatusDone {
        request: status_request.0,
        result: status(
            UploadStatus::Active,
            &[(1, ChunkStatus::Completed), (2, ChunkStatus::Failed)],
        ),
    });
    let (req, start, count) = url_requests(&actions)[0];
    assert_eq!((start, count), (2, 1));
    let actions = d.grant(req, start, count);
    let (put, index, _) = puts(&actions)[0].clone();
    assert_eq!(index, 2);
    let actions = d.feed(Input::PutDone {
        request: put,
        outcome: HttpOutcome::stored("e2b"),
    });
    let (report, indices) = reports(&actions)[0].clone();
    assert_eq!(indices, vec![2]);
    let actions = d.feed(Input::ReportDone {
        request: report,
        result: report_ok(2, Some("https://cdn.test/as")),
    });
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Uploaded { url: Some(_), .. })));
    assert_eq!(finished_code(&actions), Some(Ok(())));
}

#[test]
fn the_asset_is_polled_with_backoff_until_ready_or_failed() {
    for final_status in [AssetStatus::Ready, AssetStatus::Failed] {
        let mut d = Driver::new(config());
        let (_, actions) = d.completed_awaiting_asset();
        assert!(actions.iter().any(|a| matches!(a, Action::Uploaded { .. })));
        assert!(finished_code(&actions).is_none());
        let mut gaps = Vec::new();
        let mut last = d.now;
        for poll in 0..4 {
            let actions = d.tick_until(|a| matches!(a, Action::FetchAsset { .. }));
            gaps.push(d.now - last);
            last = d.now;
            let request = asset_polls(&actions)[0];
            let status = if poll == 3 {
                final_status
            } else {
                AssetStatus::Processing
            };
            let actions = d.feed(Input::AssetDone {
                request,
                result: Ok(asset(status)),
            });
            if poll == 3 {
                let expected = if final_status == AssetStatus::Ready {
                    Ok(())
                } else {
                    Err(ErrorCode::AssetFailed)
                };
                assert_eq!(finished_code(&actions), Some(expected));
            }
        }
        assert!(
            gaps.windows(2).all(|w| w[1] >= w[0]),
            "backoff grows: {gaps:?}"
        );
    }
}

fn saved(expires_at: String) -> SavedUpload {
    SavedUpload {
        version: SAVED_UPLOAD_VERSION,
        upload_id: "up".into(),
        asset_id: "as".into(),
        upload_token: Some("tok".into()),
        upload_headers: Default::default(),
        total_size: 4 * CHUNK,
        chunk_size: CHUNK,
        total_chunks: 4,
        expires_at,
        clock_offset_ms: 0,
        reported: vec![[1, 1]],
        etags: vec![(2, "e2".into())],
        completed: false,
    }
}

#[test]
fn a_record_kept_as_completed_restores_as_completed_without_a_request() {
    for wait_for_asset in [false, true] {
        let mut d = Driver::new(config());
        let record = SavedUpload {
            completed: true,
            ..saved(timestamp::format((T0 + HOUR) as i64))
        };
        let file = d
            .engine
            .restore_upload(T0, record.clone(), 4 * CHUNK, wait_for_asset)
            .unwrap();
        let actions = d.drain();
        assert!(
            !actions.iter().any(|a| matches!(
                a,
                Action::FetchStatus { .. } | Action::Put { .. } | Action::Report { .. }
            )),
            "{actions:?}"
        );
        assert!(actions.contains(&Action::Uploaded {
            file,
            asset_id: "as".into(),
            url: None
        }));
        if wait_for_asset {
            assert_eq!(d.engine.phase(file), Some(Phase::AwaitingAsset));
            // Aborting now keeps the asset: its session completed.
            let actions = d.feed(Input::Abort { file: Some(file) });
            assert!(!actions
                .iter()
                .any(|a| matches!(a, Action::DeleteAsset { .. })));
        } else {
            assert_eq!(finished_code(&actions), Some(Ok(())));
            assert!(actions.iter().any(|a| matches!(
                a,
                Action::KeepCompleted { record: kept, .. } if kept.completed && kept.upload_id == record.upload_id
            )));
        }
    }
}

#[test]
fn a_restored_upload_reconciles_with_the_server_and_sends_only_what_is_missing() {
    let mut d = Driver::new(config());
    let record = saved(timestamp::format((T0 + HOUR) as i64));
    let file = d
        .engine
        .restore_upload(T0, record, 4 * CHUNK, false)
        .unwrap();
    let actions = d.drain();
    assert_eq!(d.engine.phase(file), Some(Phase::Reconciling));
    assert!(
        puts(&actions).is_empty(),
        "nothing is sent before the server's status is known"
    );
    let status_request = actions
        .iter()
        .find_map(|a| match a {
            Action::FetchStatus { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    let actions = d.feed(Input::StatusDone {
        request: status_request,
        result: status(
            UploadStatus::Active,
            &[
                (1, ChunkStatus::Completed),
                (2, ChunkStatus::Pending),
                (3, ChunkStatus::Completed),
                (4, ChunkStatus::Failed),
            ],
        ),
    });
    // Chunk 2 is reported with its saved ETag (not uploaded again); chunk 4 needs a URL and a
    // PUT; chunks 1 and 3 are done.
    let (req, start, count) = url_requests(&actions)[0];
    assert_eq!((start, count), (4, 1));
    let actions = d.grant(req, start, count);
    assert_eq!(
        puts(&actions).iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![4]
    );
    let actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
    assert_eq!(reports(&actions)[0].1, vec![2]);
    let progress = d.engine.progress(file).unwrap();
    assert_eq!(progress.reported_chunks, 2);
}

#[test]
fn a_restored_session_past_its_expiry_is_session_expired() {
    let mut d = Driver::new(config());
    let record = saved(timestamp::format((T0 - 1) as i64));
    let err = d
        .engine
        .restore_upload(T0, record.clone(), 4 * CHUNK, false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionExpired);
    let err = d
        .engine
        .restore_upload(T0, record, 5 * CHUNK, false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::FileMismatch);
}

#[test]
fn a_record_the_engines_fresher_clock_finds_expired_ends_with_its_record_forgotten() {
    let mut d = Driver::new(config());
    // Another upload's session, created a moment ago and living 24 h, dated the server's clock
    // two minutes ahead of the local one.
    let mut session = d.session(2, 2);
    session.expires_at = timestamp::format((T0 + 120_000 + 24 * HOUR) as i64);
    d.engine
        .add_upload(d.now, NewUpload::new(2 * CHUNK, session))
        .unwrap();
    d.drain();
    // A record that, on its own (older) offset, expires in a minute: it is restored …
    let record = saved(timestamp::format((T0 + 60_000) as i64));
    assert!(record.is_usable(T0));
    let file = d
        .engine
        .restore_upload(T0, record, 4 * CHUNK, false)
        .unwrap();
    // … and ends at once on the engine's clock, its record forgotten.
    let actions = d.drain();
    assert_eq!(
        finished_code(&actions),
        Some(Err(ErrorCode::SessionExpired))
    );
    assert!(
        actions.contains(&Action::ForgetState { file }),
        "{actions:?}"
    );
}

#[test]
fn a_session_the_server_reports_expired_ends_the_upload() {
    let mut d = Driver::new(config());
    let record = saved(timestamp::format((T0 + HOUR) as i64));
    d.engine
        .restore_upload(T0, record, 4 * CHUNK, false)
        .unwrap();
    let request = d
        .drain()
        .iter()
        .find_map(|a| match a {
            Action::FetchStatus { request, .. } => Some(*request),
            _ => None,
        })
        .unwrap();
    let actions = d.feed(Input::StatusDone {
        request,
        result: status(UploadStatus::Expired, &[]),
    });
    assert_eq!(
        finished_code(&actions),
        Some(Err(ErrorCode::SessionExpired))
    );
}

#[test]
fn the_saved_record_tracks_etags_and_reported_chunks() {
    let mut d = Driver::new(config());
    let (file, actions) = d.add(3, 3, false);
    let p = puts(&actions);
    let actions = d.feed(Input::PutDone {
        request: p[0].0,
        outcome: HttpOutcome::stored("\"e1\""),
    });
    assert!(actions.contains(&Action::SaveState { file }));
    let record = d.engine.saved_state(file).unwrap();
    assert_eq!(record.etags, vec![(1, "e1".to_string())]);
    assert!(record.reported.is_empty());
    assert_eq!(record.upload_token.as_deref(), Some("tok"));
}

#[test]
fn a_skewed_client_clock_does_not_make_fresh_urls_look_expired() {
    let mut d = Driver::new(config());
    // The client's clock is three hours ahead of the server.
    let server_now = T0;
    d.now = T0 + 3 * HOUR;
    let urls = vec![d.url(1, server_now), d.url(2, server_now)];
    let session = CreateMultipartUploadResponse {
        upload_id: "up".into(),
        asset_id: "as".into(),
        upload_urls: urls,
        upload_headers: Default::default(),
        chunk_size: CHUNK,
        total_chunks: 2,
        expires_at: timestamp::format((server_now + 24 * HOUR) as i64),
        upload_token: None,
    };
    // No Date header: the offset is estimated from the session's 24 h lifetime.
    d.engine
        .add_upload(d.now, NewUpload::new(2 * CHUNK, session))
        .unwrap();
    let actions = d.drain();
    assert_eq!(puts(&actions).len(), 2, "the URLs were used, not refreshed");
    assert!(url_requests(&actions).is_empty());
}

#[test]
fn progress_events_are_throttled_and_the_final_one_is_never_lost() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 4,
        progress_interval_ms: 1_000,
        ..config()
    });
    let (_, actions) = d.add(4, 4, false);
    let p = puts(&actions);
    let mut events = 0;
    for (i, put) in p.iter().enumerate() {
        d.now += 10;
        let actions = d.feed(Input::PutDone {
            request: put.0,
            outcome: HttpOutcome::stored(format!("e{i}")),
        });
        events += actions
            .iter()
            .filter(|a| matches!(a, Action::Progress { .. }))
            .count();
    }
    assert_eq!(
        events, 1,
        "the first change is emitted at once; within one interval after it nothing more is"
    );
    let actions = d.tick_until(|a| matches!(a, Action::Progress { .. }));
    let progress = actions
        .iter()
        .find_map(|a| match a {
            Action::Progress { progress, .. } => Some(*progress),
            _ => None,
        })
        .unwrap();
    assert_eq!(progress.acknowledged_chunks, 4);
}

#[test]
fn url_window_refills_up_to_fifty_once_it_runs_low() {
    let mut d = Driver::new(config());
    // Concurrency 2: the lookahead is 16. Chunks 1–2 start; 8 of the next 16 hold a URL, which
    // is "low": one request refills 50 ahead, not just the lookahead.
    let (_, actions) = d.add(200, 10, false);
    assert_eq!(puts(&actions).len(), 2);
    let requests = url_requests(&actions);
    assert_eq!(
        requests.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        vec![(11, 50)]
    );
    let (req, start, count) = requests[0];
    let actions = d.grant(req, start, count);
    // 58 URLs held: nothing more to ask for until the window runs low again.
    assert!(url_requests(&actions).is_empty());
}

#[test]
fn url_batches_stay_within_what_can_be_used_before_expiry() {
    // URLs that live 180 s are usable for 120 s (the 5-minute margin is capped at a third of the
    // lifetime). At the fallback speed of 256 KiB/s that is 30 MiB: 30 chunks of 1 MiB, so a
    // batch asks for 30 URLs (not 50); with 5 MiB chunks only 6 fit, so it asks for the
    // lookahead's 16 (never fewer).
    for (chunk_size, expected) in [(1024 * 1024, 30), (5 * 1024 * 1024, 16)] {
        let mut d = Driver::new(config());
        let urls = (1..=10)
            .map(|index| PresignedUrl {
                chunk_index: index,
                url: format!("https://s.test/{index}?short"),
                expires_at: timestamp::format((d.now + 180_000) as i64),
            })
            .collect();
        let session = CreateMultipartUploadResponse {
            upload_id: "up".into(),
            asset_id: "as".into(),
            upload_urls: urls,
            upload_headers: Default::default(),
            chunk_size,
            total_chunks: 200,
            expires_at: timestamp::format((d.now + 24 * HOUR) as i64),
            upload_token: Some("tok".into()),
        };
        d.engine
            .add_upload(d.now, NewUpload::new(200 * chunk_size, session))
            .unwrap();
        let actions = d.drain();
        assert_eq!(
            url_requests(&actions)
                .iter()
                .map(|r| (r.1, r.2))
                .collect::<Vec<_>>(),
            vec![(11, expected)],
            "chunk size {chunk_size}"
        );
    }
}

#[test]
fn sent_bytes_count_the_puts_in_flight_when_the_adapter_cannot_observe_them() {
    let mut d = Driver::new(config());
    let (file, actions) = d.add(4, 4, false);
    let in_flight = puts(&actions);
    assert_eq!(in_flight.len(), 2, "concurrency 2");
    let p = d.engine.progress(file).unwrap();
    assert_eq!(p.total_bytes, 4 * CHUNK);
    assert_eq!(p.acknowledged_bytes, 0);
    assert_eq!(
        p.sent_bytes,
        2 * CHUNK,
        "both bodies were handed to the network"
    );
    let (request, _, _) = in_flight[0].clone();
    d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::stored("e1"),
    });
    let p = d.engine.progress(file).unwrap();
    assert_eq!(p.acknowledged_bytes, CHUNK);
    // One acknowledged, one still in flight, one more started in its place.
    assert_eq!(p.sent_bytes, 3 * CHUNK);
}

#[test]
fn speed_and_eta_are_unknown_while_paused_or_offline() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 1,
        ..config()
    });
    let (file, mut actions) = d.add(20, 20, false);
    // Acknowledge chunks one per second until a speed is measured.
    for _ in 0..5 {
        let (request, index, _) = puts(&actions)[0].clone();
        d.now += 1_000;
        actions = d.feed(Input::PutDone {
            request,
            outcome: HttpOutcome::stored(format!("e{index}")),
        });
    }
    let running = d.engine.progress(file).unwrap();
    assert!(running.bytes_per_second.is_some_and(|s| s > 0));
    assert!(running.eta_ms.is_some());

    d.feed(Input::Pause { file: Some(file) });
    let paused = d.engine.progress(file).unwrap();
    assert_eq!((paused.bytes_per_second, paused.eta_ms), (None, None));
    // The pause is announced with a progress event (throttled like any other).
    let actions = d.tick_until(|a| matches!(a, Action::Progress { .. }));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Progress { progress, .. } if progress.bytes_per_second.is_none()
    )));
    d.feed(Input::Resume { file: Some(file) });
    d.feed(Input::Offline);
    let offline = d.engine.progress(file).unwrap();
    assert_eq!((offline.bytes_per_second, offline.eta_ms), (None, None));
    d.feed(Input::Online);
    assert_eq!(
        d.engine.progress(file).unwrap().bytes_per_second,
        None,
        "measured afresh after the halt"
    );
}

#[test]
fn a_failed_put_shows_its_retry_until_a_success() {
    let mut d = Driver::new(EngineConfig {
        concurrency: 1,
        ..config()
    });
    let (file, actions) = d.add(2, 2, false);
    let (request, _, _) = puts(&actions)[0].clone();
    let mut actions = d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::status(503),
    });
    let retrying = d
        .engine
        .progress(file)
        .unwrap()
        .retrying
        .expect("a retry is shown");
    assert_eq!(retrying.attempt, 1);
    assert_eq!(retrying.error_code, ErrorCode::UpstreamUnavailable);
    assert!(retrying.delay_ms <= config().put_backoff.base_ms);
    // The retry goes out (with a fresh URL) and succeeds: the notice is gone.
    while puts(&actions).is_empty() {
        actions = match url_requests(&actions).first().cloned() {
            Some((request, start, count)) => d.grant(request, start, count),
            None => d.tick_until(|a| matches!(a, Action::Put { .. } | Action::RequestUrls { .. })),
        };
    }
    let (request, _, _) = puts(&actions)[0].clone();
    d.feed(Input::PutDone {
        request,
        outcome: HttpOutcome::stored("e1"),
    });
    assert_eq!(d.engine.progress(file).unwrap().retrying, None);
}

#[test]
fn waiting_for_an_asset_polls_with_the_engines_jittered_backoff_and_a_time_limit() {
    let policy = EngineConfig::default().asset_poll;
    let mut wait = AssetWait::new(policy, T0, None);
    let processing = asset(AssetStatus::Processing);
    let mut delays = Vec::new();
    for n in 1..=6u32 {
        match wait.after(&processing, T0, u64::from(n) * 7_919) {
            AssetWaitStep::PollAfterMs(delay) => {
                // The engine's policy for the same poll and the same random value.
                assert_eq!(delay, policy.delay_ms(n, u64::from(n) * 7_919));
                delays.push(delay);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(delays.iter().all(|&d| d <= policy.max_ms));
    assert!(
        delays.windows(2).any(|w| w[0] != w[1]),
        "jittered and growing: {delays:?}"
    );
    assert_eq!(
        wait.after(&asset(AssetStatus::Ready), T0, 0),
        AssetWaitStep::Ready
    );
    match wait.after(&asset(AssetStatus::Failed), T0, 0) {
        AssetWaitStep::Fail(error) => assert_eq!(error.code, ErrorCode::AssetFailed),
        other => panic!("{other:?}"),
    }
    // A time limit the next wait would pass makes the last poll land on it, and one reached
    // ends the wait; a limit shorter than the first wait still polls once, at the limit.
    let mut limited = AssetWait::new(policy, T0, Some(3_000));
    assert!(matches!(
        limited.after(&processing, T0, 0),
        AssetWaitStep::PollAfterMs(2_000)
    ));
    assert_eq!(
        limited.after(&processing, T0 + 2_000, 0),
        AssetWaitStep::PollAfterMs(1_000)
    );
    assert_eq!(
        limited.after(&asset(AssetStatus::Ready), T0 + 3_000, 0),
        AssetWaitStep::Ready
    );
    match limited.after(&processing, T0 + 3_000, 0) {
        AssetWaitStep::Fail(error) => assert_eq!(error.code, ErrorCode::RetriesExhausted),
        other => panic!("{other:?}"),
    }
    let mut short = AssetWait::new(policy, T0, Some(1_500));
    assert_eq!(
        short.after(&processing, T0 + 7, 0),
        AssetWaitStep::PollAfterMs(1_493)
    );
}

// ───────────────────────── the start: creation, direct or multipart ─────────────────────────

fn created(d: &mut Driver, request: RequestId, chunks: u32, with_urls: u32) -> Vec<Action> {
    let session = d.session(chunks, with_urls);
    d.feed(Input::SessionCreated {
        request,
        result: Ok(session),
    })
}

fn creation_failed(d: &mut Driver, request: RequestId, outcome: HttpOutcome) -> Vec<Action> {
    d.feed(Input::SessionCreated {
        request,
        result: Err(outcome),
    })
}

/// Ticks from deadline to deadline until the engine asks for a request (not just a progress
/// event), and returns everything it did on the way.
fn tick_to_next(d: &mut Driver) -> Vec<Action> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let at = d.engine.next_wakeup().expect("a deadline to wait for");
        let actions = d.tick_to(at);
        let asked = actions
            .iter()
            .any(|a| !matches!(a, Action::Progress { .. } | Action::SaveState { .. }));
        seen.extend(actions);
        if asked {
            return seen;
        }
    }
    panic!("no request after 100 deadlines: {seen:?}");
}

#[test]
fn a_new_file_starts_with_a_session_creation_whose_answer_starts_the_chunks() {
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(3 * CHUNK);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let create = creations(&actions)[0];
    assert_eq!(d.engine.phase(file), Some(Phase::CreatingSession));
    // Honest progress before the session exists: the file's size, nothing acknowledged.
    let progress = d.engine.progress(file).unwrap();
    assert_eq!(
        (progress.total_bytes, progress.acknowledged_bytes),
        (3 * CHUNK, 0)
    );
    assert_eq!(progress.fraction(), 0.0);
    assert!(
        d.engine.saved_state(file).is_none(),
        "nothing to resume yet"
    );

    let actions = created(&mut d, create, 3, 2);
    assert_eq!(d.engine.phase(file), Some(Phase::Uploading));
    assert_eq!(puts(&actions).len(), 2, "{actions:?}");
    assert!(
        !actions.contains(&Action::SaveState { file }),
        "added without its fingerprint, it saves no record: {actions:?}"
    );
    assert_eq!(d.engine.progress(file).unwrap().total_chunks, 3);
    assert_eq!(d.engine.saved_state(file).unwrap().upload_id, "up");
    // The first progress event is the first acknowledged chunk, at once (not held back by an
    // event about the session itself).
    assert!(!actions.iter().any(|a| matches!(a, Action::Progress { .. })));
    let actions = d.feed(Input::PutDone {
        request: puts(&actions)[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    let shown = actions.iter().find_map(|a| match a {
        Action::Progress { progress, .. } => Some(*progress),
        _ => None,
    });
    assert_eq!(shown.map(|p| p.acknowledged_chunks), Some(1), "{actions:?}");

    // A retry shown while creating is cleared as soon as the session exists.
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(CHUNK);
    creation_failed(&mut d, creations(&actions)[0], HttpOutcome::status(503));
    assert!(d.engine.progress(file).unwrap().retrying.is_some());
    let actions = tick_to_next(&mut d);
    let actions = created(&mut d, creations(&actions)[0], 1, 1);
    let shown = actions.iter().find_map(|a| match a {
        Action::Progress { progress, .. } => Some(*progress),
        _ => None,
    });
    assert_eq!(shown.map(|p| p.retrying), Some(None), "{actions:?}");
}

#[test]
fn session_creation_retries_with_its_backoff_and_gives_up_exactly_at_the_bound() {
    let create_backoff = BackoffPolicy {
        base_ms: 500,
        cap_ms: 4_000,
        max_attempts: 3,
    };
    let mut d = Driver::new(EngineConfig {
        create_backoff,
        ..config()
    });
    let (file, actions) = d.add_file(2 * CHUNK);
    let mut request = creations(&actions)[0];
    let mut sent = 1;
    let ending = loop {
        let failed_at = d.now;
        let actions = creation_failed(&mut d, request, HttpOutcome::status(503));
        if let Some(code) = finished_code(&actions) {
            break (code, actions);
        }
        // Waiting for the retry shows in the progress, and the delay is the policy's.
        let retrying = creation_retry_shown(&d, file, sent, ErrorCode::UpstreamUnavailable);
        let at = d.engine.next_wakeup().unwrap();
        assert_eq!(at, failed_at + retrying.delay_ms.max(1));
        if retrying.delay_ms > 1 {
            assert!(
                d.tick_to(at - 1).is_empty(),
                "nothing before the retry is due"
            );
        }
        let actions = d.tick_to(at);
        request = creations(&actions)[0];
        sent += 1;
    };
    assert_eq!(sent, 3, "exactly max_attempts creation requests");
    let (code, actions) = ending;
    assert_eq!(code, Err(ErrorCode::RetriesExhausted));
    let error = finished_error(&actions).unwrap();
    assert!(
        error.message.starts_with("gave up after 3 attempts"),
        "{error}"
    );
    assert!(error.message.contains("HTTP 503"), "{error}");
    // Nothing is left to send or to wait for, and nothing was reserved to delete.
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::DeleteAsset { .. } | Action::CreateSession { .. })));
    assert_eq!(d.engine.next_wakeup(), None);
    assert_eq!(d.engine.uploads().count(), 0);
}

#[test]
fn the_default_session_creation_bound_reports_an_unreachable_endpoint_within_seconds() {
    let mut d = Driver::new(config());
    assert_eq!(
        d.engine.config().create_backoff,
        BackoffPolicy::SESSION_CREATION
    );
    let (_, actions) = d.add_file(CHUNK);
    let mut request = creations(&actions)[0];
    let mut sent = 1;
    loop {
        let actions = creation_failed(&mut d, request, HttpOutcome::network_error());
        if let Some(code) = finished_code(&actions) {
            assert_eq!(code, Err(ErrorCode::RetriesExhausted));
            break;
        }
        request = creations(&tick_to_next(&mut d))[0];
        sent += 1;
    }
    assert_eq!(sent, BackoffPolicy::SESSION_CREATION.max_attempts);
    assert!(d.now - T0 <= BackoffPolicy::SESSION_CREATION.worst_case_wait_ms());
}

#[test]
fn a_fatal_creation_failure_ends_the_upload_at_once() {
    for (status, code) in [
        (401, ErrorCode::Unauthorized),
        (403, ErrorCode::Forbidden),
        (400, ErrorCode::InvalidInput),
        (413, ErrorCode::PayloadTooLarge),
    ] {
        let mut d = Driver::new(config());
        let (_, actions) = d.add_file(CHUNK);
        let actions = creation_failed(&mut d, creations(&actions)[0], HttpOutcome::status(status));
        assert_eq!(finished_code(&actions), Some(Err(code)), "HTTP {status}");
        assert_eq!(d.engine.next_wakeup(), None, "HTTP {status}");
    }
}

#[test]
fn a_session_whose_plan_does_not_add_up_fails_and_its_asset_is_deleted() {
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(3 * CHUNK);
    // Two chunks of CHUNK cannot hold 3 × CHUNK bytes.
    let actions = created(&mut d, creations(&actions)[0], 2, 2);
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::ServerInvalid)));
    assert!(actions.contains(&Action::DeleteAsset {
        asset_id: "as".into()
    }));
    assert!(puts(&actions).is_empty());
}

#[test]
fn abort_while_creating_sends_nothing_more_and_deletes_only_what_was_created() {
    // In flight: finished at once, the request is not cancelled but abandoned.
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(2 * CHUNK);
    let create = creations(&actions)[0];
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Cancel { .. } | Action::DeleteAsset { .. })),
        "{actions:?}"
    );
    assert_eq!(d.engine.next_wakeup(), None);
    assert!(d.tick_to(d.now + HOUR).is_empty(), "no further request");
    // It failed after all: nothing was created, nothing to delete.
    assert!(creation_failed(&mut d, create, HttpOutcome::status(503)).is_empty());

    // In flight, and it succeeded: the reserved asset is deleted, nothing is uploaded. Until
    // its answer comes, a deletion may be on its way: a page's `forget` waits for it.
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(2 * CHUNK);
    let create = creations(&actions)[0];
    assert_eq!(
        d.engine.abandoned_requests().count(),
        0,
        "a creation of a live upload"
    );
    d.feed(Input::Abort { file: Some(file) });
    assert_eq!(
        d.engine.abandoned_requests().collect::<Vec<_>>(),
        vec![create],
        "an abandoned creation"
    );
    assert_eq!(
        created(&mut d, create, 2, 2),
        vec![Action::DeleteAsset {
            asset_id: "as".into()
        }]
    );
    assert_eq!(
        d.engine.abandoned_requests().count(),
        0,
        "the DeleteAsset is the adapter's now"
    );
    assert_eq!(d.engine.next_wakeup(), None);

    // Waiting for a retry: finished at once, no request ever again.
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(2 * CHUNK);
    creation_failed(&mut d, creations(&actions)[0], HttpOutcome::status(503));
    assert!(d.engine.next_wakeup().is_some());
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::DeleteAsset { .. } | Action::CreateSession { .. })));
    assert_eq!(d.engine.next_wakeup(), None);
    assert!(d.tick_to(d.now + HOUR).is_empty(), "no further request");

    // A direct upload in flight that went through after the abort: its asset is deleted.
    let mut d = Driver::new(EngineConfig {
        direct_upload_max_bytes: CHUNK,
        ..config()
    });
    let (file, actions) = d.add_file(CHUNK);
    let direct = direct_uploads(&actions)[0];
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    let actions = d.feed(Input::DirectUploadDone {
        request: direct,
        result: Ok(asset(AssetStatus::Processing)),
    });
    assert_eq!(
        actions,
        vec![Action::DeleteAsset {
            asset_id: "as".into()
        }]
    );
}

/// Hands a file of `size` bytes that wants its resume fingerprint read first.
fn add_fingerprinted(d: &mut Driver, size: u64) -> (FileId, Vec<Action>) {
    let file = NewFile {
        fingerprint: true,
        ..NewFile::new(size)
    };
    let id = d.engine.add(d.now, file).unwrap();
    (id, d.drain())
}

/// The fingerprint reads among `actions`.
fn fingerprint_reads(actions: &[Action]) -> Vec<RequestId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ReadFingerprint { request, .. } => Some(*request),
            _ => None,
        })
        .collect()
}

#[test]
fn the_fingerprint_is_read_once_before_the_session_is_created() {
    let mut d = Driver::new(config());
    let (file, actions) = add_fingerprinted(&mut d, 2 * CHUNK);
    let read = fingerprint_reads(&actions);
    assert_eq!(read.len(), 1, "{actions:?}");
    assert!(
        creations(&actions).is_empty(),
        "no session before it: {actions:?}"
    );
    assert_eq!(d.engine.phase(file), Some(Phase::CreatingSession));
    // Local work: it is read offline too, and the session waits for the network.
    d.feed(Input::Offline);
    let actions = d.feed(Input::FingerprintRead { request: read[0] });
    assert!(creations(&actions).is_empty(), "offline: {actions:?}");
    let actions = d.feed(Input::Online);
    let create = creations(&actions);
    assert_eq!(create.len(), 1, "{actions:?}");
    // A failed creation is retried without reading the fingerprint again.
    creation_failed(&mut d, create[0], HttpOutcome::status(503));
    let actions = tick_to_next(&mut d);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");
    assert!(fingerprint_reads(&actions).is_empty(), "{actions:?}");
    // A repeated or unknown report changes nothing.
    assert!(d
        .feed(Input::FingerprintRead { request: read[0] })
        .is_empty());
}

#[test]
fn a_direct_upload_reads_no_fingerprint() {
    let mut d = Driver::new(EngineConfig {
        direct_upload_max_bytes: CHUNK,
        ..config()
    });
    let (_, actions) = add_fingerprinted(&mut d, CHUNK);
    assert!(fingerprint_reads(&actions).is_empty(), "{actions:?}");
    assert_eq!(direct_uploads(&actions).len(), 1, "{actions:?}");
}

#[test]
fn abort_while_the_fingerprint_is_read_creates_nothing_and_deletes_nothing() {
    let mut d = Driver::new(config());
    let (file, actions) = add_fingerprinted(&mut d, 2 * CHUNK);
    let read = fingerprint_reads(&actions)[0];
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Aborted)));
    assert!(
        actions.contains(&Action::Cancel { request: read }),
        "the read is cancelled: {actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreateSession { .. } | Action::DeleteAsset { .. })),
        "{actions:?}"
    );
    // The read still ends in the adapter: nothing follows, no session is ever asked for.
    let actions = d.feed(Input::FingerprintRead { request: read });
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(d.engine.next_wakeup(), None);
}

#[test]
fn files_up_to_the_direct_limit_go_directly_and_larger_ones_multipart() {
    let mut d = Driver::new(EngineConfig {
        direct_upload_max_bytes: 5 * CHUNK,
        ..config()
    });
    let (at_limit, actions) = d.add_file(5 * CHUNK);
    assert_eq!(direct_uploads(&actions).len(), 1, "{actions:?}");
    assert!(creations(&actions).is_empty());
    assert_eq!(d.engine.phase(at_limit), Some(Phase::DirectUploading));
    let (above, actions) = d.add_file(5 * CHUNK + 1);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");
    assert!(direct_uploads(&actions).is_empty());
    assert_eq!(d.engine.phase(above), Some(Phase::CreatingSession));

    // By default every file goes multipart, however small.
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(1);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");

    // An empty file is refused before anything is sent (and an adapter can ask first).
    let error = d.engine.add(d.now, NewFile::new(0)).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert_eq!(NewFile::new(0).validate(), Err(error));
    assert_eq!(NewFile::new(1).validate(), Ok(()));
    assert!(d.drain().is_empty());
}

#[test]
fn a_direct_upload_finishes_with_the_created_asset_or_waits_until_it_is_ready() {
    let direct = EngineConfig {
        direct_upload_max_bytes: 10 * CHUNK,
        ..config()
    };
    // Not waiting: the created asset is the result.
    let mut d = Driver::new(direct.clone());
    let (file, actions) = d.add_file(2 * CHUNK + 7);
    let request = direct_uploads(&actions)[0];
    // The whole file is handed to the network at once.
    let shown = d.engine.progress(file).unwrap();
    assert_eq!(
        (shown.sent_bytes, shown.acknowledged_bytes),
        (2 * CHUNK + 7, 0)
    );
    assert_eq!(shown.total_chunks, 1);
    let actions = d.feed(Input::DirectUploadDone {
        request,
        result: Ok(asset(AssetStatus::Processing)),
    });
    assert!(actions.contains(&Action::Uploaded {
        file,
        asset_id: "as".into(),
        url: None
    }));
    let (completion, last) = actions
        .iter()
        .find_map(|a| match a {
            Action::Finished {
                outcome: Ok(c),
                progress,
                ..
            } => Some((c.clone(), *progress)),
            _ => None,
        })
        .expect("finished");
    assert_eq!(completion.asset_id, "as");
    assert_eq!(completion.asset.unwrap().status, AssetStatus::Processing);
    // The final count comes with `Finished`, never as a `Progress` of a finished upload.
    assert!(!actions.iter().any(|a| matches!(a, Action::Progress { .. })));
    assert_eq!(
        (
            last.acknowledged_bytes,
            last.reported_bytes,
            last.reported_chunks
        ),
        (2 * CHUNK + 7, 2 * CHUNK + 7, 1)
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::SaveState { .. })));

    // Waiting: the asset is polled with the engine's policy until ready.
    let (mut d, _) = awaiting_direct_asset(direct);
    let poll = tick_to_next(&mut d)
        .into_iter()
        .find_map(|a| match a {
            Action::FetchAsset {
                request, asset_id, ..
            } => Some((request, asset_id)),
            _ => None,
        })
        .expect("the asset is polled");
    assert_eq!(poll.1, "as");
    let actions = d.feed(Input::AssetDone {
        request: poll.0,
        result: Ok(asset(AssetStatus::Ready)),
    });
    assert_eq!(finished_code(&actions), Some(Ok(())));
}

#[test]
fn creation_failures_while_offline_do_not_count_and_wait_for_the_network() {
    let mut d = Driver::new(EngineConfig {
        create_backoff: BackoffPolicy {
            base_ms: 500,
            cap_ms: 4_000,
            max_attempts: 2,
        },
        ..config()
    });
    let (file, actions) = d.add_file(2 * CHUNK);
    let request = creations(&actions)[0];
    d.feed(Input::Offline);
    for _ in 0..5 {
        // However often it fails while offline, nothing is counted or sent.
        assert!(creation_failed(&mut d, request, HttpOutcome::network_error()).is_empty());
        assert!(d.tick_to(d.now + 10_000).is_empty());
    }
    assert_eq!(d.engine.phase(file), Some(Phase::CreatingSession));
    let actions = d.feed(Input::Online);
    let request = creations(&actions)[0];
    // One counted failure of two allowed: retried, not given up.
    let actions = creation_failed(&mut d, request, HttpOutcome::status(503));
    assert_eq!(finished_code(&actions), None);
    assert_eq!(creations(&tick_to_next(&mut d)).len(), 1);
}

#[test]
fn pausing_while_creating_holds_the_chunks_not_the_creation() {
    let mut d = Driver::new(config());
    let (file, actions) = d.add_file(2 * CHUNK);
    let request = creations(&actions)[0];
    d.feed(Input::Pause { file: Some(file) });
    // A retry of the creation still goes out while paused.
    creation_failed(&mut d, request, HttpOutcome::status(503));
    let request = creations(&tick_to_next(&mut d))[0];
    let actions = created(&mut d, request, 2, 2);
    assert!(puts(&actions).is_empty(), "{actions:?}");
    assert!(d.engine.is_paused(file));
    let actions = d.feed(Input::Resume { file: Some(file) });
    assert_eq!(puts(&actions).len(), 2, "{actions:?}");
}

// ───────────────────────── grants: NeedToken after a 401 ─────────────────────────

fn grant_config() -> EngineConfig {
    EngineConfig {
        renewable_grant: true,
        ..config()
    }
}

fn need_tokens(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::NeedToken))
        .count()
}

#[test]
fn a_grant_asked_for_is_given_up_once_no_upload_is_left_to_use_it_and_asked_for_again_later() {
    let mut d = Driver::new(grant_config());
    let (first, _) = d.add_file(2 * CHUNK);
    let (second, _) = d.add_file(2 * CHUNK);
    // One upload left still waits for the grant.
    let actions = d.feed(Input::Abort { file: Some(first) });
    assert!(!actions.contains(&Action::TokenUnneeded), "{actions:?}");
    let actions = d.feed(Input::Abort { file: Some(second) });
    assert_eq!(
        actions.last(),
        Some(&Action::TokenUnneeded),
        "after the last upload's end: {actions:?}"
    );
    // The next upload asks anew rather than waiting for an answer nobody awaits.
    let (_, actions) = d.add_file(CHUNK);
    assert_eq!(actions, vec![Action::NeedToken]);
    let actions = d.feed(Input::TokenRefreshed);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");
    // A held grant is not given up when the uploads end.
    let mut d = Driver::new(grant_config());
    let (file, _) = d.add_file(2 * CHUNK);
    d.feed(Input::TokenRefreshed);
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert!(!actions.contains(&Action::TokenUnneeded), "{actions:?}");
}

#[test]
fn with_a_renewable_grant_the_first_grant_is_asked_for_before_the_first_call() {
    let mut d = Driver::new(grant_config());
    let (_, actions) = d.add_file(2 * CHUNK);
    assert_eq!(actions, vec![Action::NeedToken]);
    // A second file waits for the same grant: no second request for it.
    let (_, actions) = d.add_file(2 * CHUNK);
    assert!(actions.is_empty(), "{actions:?}");
    let actions = d.feed(Input::TokenRefreshed);
    assert_eq!(creations(&actions).len(), 2, "{actions:?}");
    // Held from now on: the next file is created at once.
    let (_, actions) = d.add_file(CHUNK);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");

    // Without a renewable grant (an API key), nothing is asked for.
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(CHUNK);
    assert_eq!(need_tokens(&actions), 0);
    assert_eq!(creations(&actions).len(), 1);
}

#[test]
fn through_the_worker_a_session_without_an_upload_token_is_refused_before_any_call() {
    for token in [None, Some(String::new())] {
        let mut d = Driver::new(grant_config());
        d.add_file(2 * CHUNK);
        let request = creations(&d.feed(Input::TokenRefreshed))[0];
        let session = CreateMultipartUploadResponse {
            upload_token: token.clone(),
            ..d.session(2, 2)
        };
        let actions = d.feed(Input::SessionCreated {
            request,
            result: Ok(session),
        });
        assert_eq!(
            finished_code(&actions),
            Some(Err(ErrorCode::ServerInvalid)),
            "{token:?}"
        );
        assert!(puts(&actions).is_empty(), "{actions:?}");
        assert!(actions.contains(&Action::DeleteAsset {
            asset_id: "as".into()
        }));
    }
    // With an API key (TwelveLabs directly), sessions have no upload token, and need none.
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(2 * CHUNK);
    let session = CreateMultipartUploadResponse {
        upload_token: None,
        ..d.session(2, 2)
    };
    let actions = d.feed(Input::SessionCreated {
        request: creations(&actions)[0],
        result: Ok(session),
    });
    assert_eq!(puts(&actions).len(), 2, "{actions:?}");
}

#[test]
fn a_401_asks_for_a_fresh_grant_once_and_resends() {
    let mut d = Driver::new(grant_config());
    d.add_file(2 * CHUNK);
    let request = creations(&d.feed(Input::TokenRefreshed))[0];
    let actions = creation_failed(&mut d, request, HttpOutcome::status(401));
    assert_eq!(
        actions,
        vec![Action::NeedToken],
        "nothing else before the grant"
    );
    assert_eq!(
        d.engine.next_wakeup(),
        None,
        "it waits for the grant, not a timer"
    );
    let actions = d.feed(Input::TokenRefreshed);
    let request = creations(&actions)[0];
    // A second 401 in a row, with the fresh grant, is final.
    let actions = creation_failed(&mut d, request, HttpOutcome::status(401));
    assert_eq!(need_tokens(&actions), 0);
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Unauthorized)));

    // A 401 after other outcomes may refresh again: it is the first of its run.
    let mut d = Driver::new(grant_config());
    d.add_file(2 * CHUNK);
    let request = creations(&d.feed(Input::TokenRefreshed))[0];
    creation_failed(&mut d, request, HttpOutcome::status(401));
    let request = creations(&d.feed(Input::TokenRefreshed))[0];
    creation_failed(&mut d, request, HttpOutcome::status(503));
    let request = creations(&tick_to_next(&mut d))[0];
    let actions = creation_failed(&mut d, request, HttpOutcome::status(401));
    assert_eq!(actions, vec![Action::NeedToken]);

    // Without a renewable grant a 401 is final at once.
    let mut d = Driver::new(config());
    let (_, actions) = d.add_file(CHUNK);
    let actions = creation_failed(&mut d, creations(&actions)[0], HttpOutcome::status(401));
    assert_eq!(need_tokens(&actions), 0);
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::Unauthorized)));
}

#[test]
fn an_expired_grant_while_polling_the_asset_is_renewed_and_polling_goes_on() {
    let mut d = Driver::new(grant_config());
    let (file, _) = d.add_file_waiting(CHUNK);
    let request = creations(&d.feed(Input::TokenRefreshed))[0];
    let actions = created(&mut d, request, 1, 1);
    let actions = d.feed(Input::PutDone {
        request: puts(&actions)[0].0,
        outcome: HttpOutcome::stored("e1"),
    });
    d.feed(Input::ReportDone {
        request: reports(&actions)[0].0,
        result: report_ok(1, Some("u")),
    });
    assert_eq!(d.engine.phase(file), Some(Phase::AwaitingAsset));
    let poll = |actions: &[Action]| {
        actions.iter().find_map(|a| match a {
            Action::FetchAsset { request, .. } => Some(*request),
            _ => None,
        })
    };
    let request = poll(&tick_to_next(&mut d)).expect("a poll");
    let actions = d.feed(Input::AssetDone {
        request,
        result: Err(HttpOutcome::status(401)),
    });
    assert_eq!(actions, vec![Action::NeedToken]);
    let request = poll(&d.feed(Input::TokenRefreshed)).expect("polled again at once");
    let actions = d.feed(Input::AssetDone {
        request,
        result: Ok(asset(AssetStatus::Ready)),
    });
    assert_eq!(finished_code(&actions), Some(Ok(())));
}

#[test]
fn a_failed_grant_request_fails_the_uploads_waiting_for_it_with_its_error() {
    let mut d = Driver::new(grant_config());
    let (first, _) = d.add_file(CHUNK);
    let (second, _) = d.add_file(CHUNK);
    let refused = twelvelabs_edge_upload::core::error::Error::new(
        ErrorCode::InvalidInput,
        "getToken must return (or resolve to) a grant",
    );
    let actions = d.feed(Input::TokenFailed {
        error: refused.clone(),
    });
    for file in [first, second] {
        // Its final count: the file's size, nothing acknowledged.
        assert!(
            actions.iter().any(|a| matches!(
                a,
                Action::Finished { file: f, outcome: Err(e), progress }
                    if *f == file
                        && *e == refused
                        && (progress.total_bytes, progress.acknowledged_bytes) == (CHUNK, 0)
            )),
            "{actions:?}"
        );
    }
    assert_eq!(d.engine.uploads().count(), 0);
    // A later file asks again.
    let (_, actions) = d.add_file(CHUNK);
    assert_eq!(actions, vec![Action::NeedToken]);
}

#[test]
fn a_retry_shows_in_a_progress_event_at_once_whatever_the_progress_interval() {
    // Retries come and go faster than a long progress interval: each must still be seen.
    let mut d = Driver::new(EngineConfig {
        progress_interval_ms: 60_000,
        ..config()
    });
    let (file, actions) = d.add_file(2 * CHUNK);
    let mut request = creations(&actions)[0];
    for attempt in 1..=3 {
        let actions = creation_failed(&mut d, request, HttpOutcome::status(503));
        let shown = actions.iter().find_map(|a| match a {
            Action::Progress { file: f, progress } if *f == file => progress.retrying,
            _ => None,
        });
        assert_eq!(shown.map(|r| r.attempt), Some(attempt), "{actions:?}");
        let at = d.engine.next_wakeup().unwrap();
        request = creations(&d.tick_to(at))[0];
    }
}

/// The retry `file`'s creation waits for, as its progress shows it: attempt `attempt`, after an
/// error `code`, with a delay within the creation backoff's bound for that attempt.
fn creation_retry_shown(
    d: &Driver,
    file: FileId,
    attempt: u32,
    code: ErrorCode,
) -> twelvelabs_edge_upload::core::progress::Retrying {
    let retrying = d
        .engine
        .progress(file)
        .unwrap()
        .retrying
        .expect("a retry shown");
    assert_eq!(retrying.attempt, attempt);
    assert_eq!(retrying.error_code, code);
    let backoff = d.engine.config().create_backoff;
    let ceiling = (backoff.base_ms << (attempt - 1)).min(backoff.cap_ms);
    assert!(retrying.delay_ms <= ceiling, "{retrying:?}");
    retrying
}

fn network_token_failure() -> twelvelabs_edge_upload::core::error::Error {
    twelvelabs_edge_upload::core::error::Error::new(
        ErrorCode::Network,
        "getToken failed: no response (network error)",
    )
}

#[test]
fn a_grant_request_lost_to_the_network_is_asked_again_after_the_creation_backoff() {
    let mut d = Driver::new(grant_config());
    let (file, actions) = d.add_file(CHUNK);
    assert_eq!(need_tokens(&actions), 1);
    // Two blips: each counts as a failed creation attempt, shown as a retry, and the grant is
    // asked for again once the backoff is over.
    for attempt in 1..=2 {
        let actions = d.feed(Input::TokenFailed {
            error: network_token_failure(),
        });
        assert_eq!(finished_code(&actions), None, "{actions:?}");
        creation_retry_shown(&d, file, attempt, ErrorCode::Network);
        let actions = tick_to_next(&mut d);
        assert_eq!(need_tokens(&actions), 1, "asked again: {actions:?}");
    }
    // The network is back: the session is created.
    let actions = d.feed(Input::TokenRefreshed);
    assert_eq!(creations(&actions).len(), 1, "{actions:?}");
}

#[test]
fn a_grant_request_that_keeps_failing_on_the_network_gives_up_after_max_attempts() {
    let mut d = Driver::new(grant_config());
    let (_, mut actions) = d.add_file(CHUNK);
    let max = d.engine.config().create_backoff.max_attempts;
    let mut asked = 0;
    let error = loop {
        asked += need_tokens(&actions) as u32;
        actions = d.feed(Input::TokenFailed {
            error: network_token_failure(),
        });
        if let Some(error) = finished_error(&actions) {
            break error;
        }
        actions = tick_to_next(&mut d);
    };
    assert_eq!(asked, max, "getToken asked max_attempts times");
    assert_eq!(error.code, ErrorCode::RetriesExhausted);
    assert_eq!(
        error.message,
        format!("gave up after {max} attempts: getToken failed: no response (network error)")
    );
}

/// Feeds `result` to every report of a one-chunk upload (after its PUT succeeds) until it
/// finishes; answers everything the engine did on the way.
fn reports_answered(
    d: &mut Driver,
    result: Result<ReportChunksResponse, HttpOutcome>,
) -> Vec<Action> {
    let (_, actions) = d.add(1, 1, false);
    chunk_reported_with(d, &actions, result)
}

/// Stores the one chunk of the upload `actions` started, and answers every report of it with
/// `result` until the upload finishes; every action seen.
fn chunk_reported_with(
    d: &mut Driver,
    actions: &[Action],
    result: Result<ReportChunksResponse, HttpOutcome>,
) -> Vec<Action> {
    let (put, _, _) = puts(actions)[0].clone();
    let mut actions = d.feed(Input::PutDone {
        request: put,
        outcome: HttpOutcome::stored("e1"),
    });
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(actions.iter().cloned());
        if finished_code(&actions).is_some() {
            return seen;
        }
        actions = match reports(&actions).first() {
            Some((report, _)) => d.feed(Input::ReportDone {
                request: *report,
                result: result.clone(),
            }),
            None => d.tick_until(|a| matches!(a, Action::Report { .. } | Action::Finished { .. })),
        };
    }
    panic!("not finished: {seen:?}");
}

#[test]
fn the_record_lives_until_the_upload_is_over_while_the_asset_is_processed_too() {
    // Ready: the record is kept as completed with the upload's end, not before.
    let mut d = Driver::new(config());
    let (file, actions) = d.completed_awaiting_asset();
    assert_eq!(forgets(&actions), 0, "{actions:?}");
    let saved = d
        .engine
        .saved_state(file)
        .expect("a record while the asset is processed");
    assert_eq!(
        saved.reported,
        vec![[1, 1]],
        "every chunk is with the server"
    );
    let actions = d.tick_until(|a| matches!(a, Action::FetchAsset { .. }));
    let actions = d.feed(Input::AssetDone {
        request: asset_polls(&actions)[0],
        result: Ok(asset(AssetStatus::Ready)),
    });
    assert_eq!(finished_code(&actions), Some(Ok(())));
    let kept = actions
        .iter()
        .position(|a| {
            matches!(a, Action::KeepCompleted { file: f, record }
                if *f == file && record.completed && record.upload_id == saved.upload_id)
        })
        .expect("the record is kept as completed");
    assert_eq!(forgets(&actions), 0, "{actions:?}");
    assert!(
        matches!(actions.last(), Some(Action::Finished { .. }))
            && !actions[kept..]
                .iter()
                .any(|a| matches!(a, Action::SaveState { .. })),
        "kept before it finishes, never saved again: {actions:?}"
    );
    // Polls that keep failing: retryable later, so the record stays for a resume, which will
    // find every chunk with the server and wait for the asset again.
    let mut d = Driver::new(config());
    let (_, mut actions) = d.completed_awaiting_asset();
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(actions.iter().cloned());
        if finished_code(&actions).is_some() {
            break;
        }
        actions = match asset_polls(&actions).first() {
            Some(&request) => d.feed(Input::AssetDone {
                request,
                result: Err(HttpOutcome::status(503)),
            }),
            None => {
                d.tick_until(|a| matches!(a, Action::FetchAsset { .. } | Action::Finished { .. }))
            }
        };
    }
    assert_eq!(finished_code(&seen), Some(Err(ErrorCode::RetriesExhausted)));
    assert_eq!(forgets(&seen), 0, "{seen:?}");
}

#[test]
fn a_record_is_forgotten_when_no_resume_can_finish_the_upload_and_kept_when_one_may() {
    // Aborted: a resume cannot bring it back.
    let mut d = Driver::new(config());
    let (file, _) = d.add(2, 2, false);
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(forgets(&actions), 1, "{actions:?}");
    // A fatal answer: the same.
    let mut d = Driver::new(config());
    let actions = reports_answered(&mut d, Err(HttpOutcome::status(400)));
    assert_eq!(finished_code(&actions), Some(Err(ErrorCode::InvalidInput)));
    assert_eq!(forgets(&actions), 1, "{actions:?}");
    // Retries that ran out: a later resume may still finish it, so the record stays.
    let mut d = Driver::new(config());
    let actions = reports_answered(&mut d, Err(HttpOutcome::status(503)));
    assert_eq!(
        finished_code(&actions),
        Some(Err(ErrorCode::RetriesExhausted))
    );
    assert_eq!(forgets(&actions), 0, "{actions:?}");
    // A direct upload never had a record.
    let mut d = Driver::new(EngineConfig {
        direct_upload_max_bytes: CHUNK,
        ..config()
    });
    let (file, _) = d.add_file(CHUNK);
    let actions = d.feed(Input::Abort { file: Some(file) });
    assert_eq!(forgets(&actions), 0, "{actions:?}");
}

#[test]
fn a_session_without_its_ids_is_refused_and_nothing_is_deleted_by_an_empty_id() {
    for (upload_id, asset_id) in [("", "as"), ("up", "")] {
        let mut d = Driver::new(config());
        let (_, actions) = d.add_file(2 * CHUNK);
        let create = creations(&actions)[0];
        let mut session = d.session(2, 2);
        session.upload_id = upload_id.into();
        session.asset_id = asset_id.into();
        let actions = d.feed(Input::SessionCreated {
            request: create,
            result: Ok(session),
        });
        assert_eq!(finished_code(&actions), Some(Err(ErrorCode::ServerInvalid)));
        let deleted: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DeleteAsset { asset_id } => Some(asset_id.as_str()),
                _ => None,
            })
            .collect();
        let expected: Vec<&str> = [asset_id].into_iter().filter(|id| !id.is_empty()).collect();
        assert_eq!(deleted, expected);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::SaveState { .. })),
            "{actions:?}"
        );
    }
}

/// The API requests an answer may never come back for (a connection that hangs).
#[derive(Debug, Clone, Copy, PartialEq)]
enum ApiRequest {
    Creation,
    Urls,
    Report,
    Status,
    Asset,
}

impl ApiRequest {
    const ALL: [ApiRequest; 5] = [
        ApiRequest::Creation,
        ApiRequest::Urls,
        ApiRequest::Report,
        ApiRequest::Status,
        ApiRequest::Asset,
    ];

    /// The request of this kind among `actions`, if any.
    fn find(self, actions: &[Action]) -> Option<RequestId> {
        actions.iter().find_map(|a| match (self, a) {
            (ApiRequest::Creation, Action::CreateSession { request, .. })
            | (ApiRequest::Urls, Action::RequestUrls { request, .. })
            | (ApiRequest::Report, Action::Report { request, .. })
            | (ApiRequest::Status, Action::FetchStatus { request, .. })
            | (ApiRequest::Asset, Action::FetchAsset { request, .. }) => Some(*request),
            _ => None,
        })
    }

    /// Drives a fresh upload until a request of this kind is in flight, and leaves it unanswered.
    fn in_flight(self, d: &mut Driver) -> RequestId {
        let actions = match self {
            ApiRequest::Creation => d.add_file(10 * CHUNK).1,
            // One URL of three: the window asks for the others at once.
            ApiRequest::Urls => d.add(3, 1, false).1,
            ApiRequest::Report | ApiRequest::Status => {
                let (_, actions) = d.add(1, 1, false);
                let mut actions = d.feed(Input::PutDone {
                    request: puts(&actions)[0].0,
                    outcome: HttpOutcome::stored("e1"),
                });
                if reports(&actions).is_empty() {
                    actions = d.tick_until(|a| matches!(a, Action::Report { .. }));
                }
                if self == ApiRequest::Report {
                    actions
                } else {
                    // Reported, but the answer confirms nothing: the status is read.
                    d.feed(Input::ReportDone {
                        request: reports(&actions)[0].0,
                        result: report_ok(0, None),
                    })
                }
            }
            ApiRequest::Asset => {
                d.completed_awaiting_asset();
                d.tick_until(|a| matches!(a, Action::FetchAsset { .. }))
            }
        };
        self.find(&actions)
            .unwrap_or_else(|| panic!("{self:?}: no request in {actions:?}"))
    }
}

#[test]
fn an_api_request_without_an_answer_is_given_up_after_the_stall_bound_and_sent_again() {
    // A creation is retried too, but never cancelled (the test after this one).
    for kind in ApiRequest::ALL.into_iter().skip(1) {
        let mut d = Driver::new(config());
        let request = kind.in_flight(&mut d);
        let sent_at = d.now;
        let actions = d.tick_until(|a| a == &Action::Cancel { request });
        let waited = d.now - sent_at;
        assert!(
            waited >= config().stall.min_ms && waited <= config().stall.min_ms + 1_000,
            "{kind:?}: given up after {waited} ms"
        );
        assert!(
            finished_code(&actions).is_none(),
            "{kind:?}: the upload goes on"
        );
        let again = match kind.find(&actions) {
            Some(again) => again,
            None => kind
                .find(&d.tick_until(|a| kind.find(std::slice::from_ref(a)).is_some()))
                .unwrap(),
        };
        assert_ne!(again, request, "{kind:?}: sent again as a new request");
        let progress = d.engine.progress(FileId(1)).unwrap();
        let retrying = progress.retrying.expect("the retry is shown");
        assert_eq!(
            retrying.attempt, 1,
            "{kind:?}: counted as one failed attempt"
        );
        // The answer to the request given up on, arriving late, is ignored.
        let late = d.feed(Input::ReportDone {
            request,
            result: report_ok(1, Some("u")),
        });
        assert!(finished_code(&late).is_none(), "{kind:?}");
    }
}

/// A session creation left unanswered past the stall bound; answers it and the creation sent
/// in its place.
fn creation_past_its_deadline(d: &mut Driver) -> (RequestId, RequestId) {
    let first = ApiRequest::Creation.in_flight(d);
    assert!(d.engine.awaits_session(first));
    let sent_at = d.now;
    let mut cancelled = false;
    let second = loop {
        let actions =
            d.tick_until(|a| matches!(a, Action::CreateSession { .. } | Action::Cancel { .. }));
        cancelled |= actions.contains(&Action::Cancel { request: first });
        if let Some(second) = ApiRequest::Creation.find(&actions) {
            break second;
        }
    };
    assert!(!cancelled, "the first creation is not cancelled");
    assert_ne!(second, first);
    assert!(
        d.now - sent_at >= config().stall.min_ms,
        "not sent again before the stall bound: {} ms",
        d.now - sent_at
    );
    (first, second)
}

#[test]
fn a_creation_without_an_answer_is_sent_again_and_a_session_it_still_makes_is_deleted() {
    let mut d = Driver::new(config());
    let (first, second) = creation_past_its_deadline(&mut d);
    assert!(
        !d.engine.awaits_session(first) && d.engine.awaits_session(second),
        "an adapter keeps only the session of the creation sent in its place"
    );
    let retrying = d.engine.progress(FileId(1)).unwrap().retrying;
    assert_eq!(
        retrying.map(|r| r.attempt),
        Some(1),
        "counted as one failed attempt"
    );
    // The first creation did reach the server: its answer comes late.
    let mut late = d.session(10, 10);
    late.asset_id = "late-asset".into();
    late.upload_id = "late-upload".into();
    let actions = d.feed(Input::SessionCreated {
        request: first,
        result: Ok(late),
    });
    assert_eq!(
        actions,
        vec![Action::DeleteAsset {
            asset_id: "late-asset".into()
        }],
        "only its asset is deleted; the upload waits for the creation sent in its place"
    );
    let session = d.session(10, 10);
    let actions = d.feed(Input::SessionCreated {
        request: second,
        result: Ok(session),
    });
    assert!(
        !puts(&actions).is_empty(),
        "the upload goes on: {actions:?}"
    );
    assert!(finished_code(&actions).is_none(), "{actions:?}");
}

#[test]
fn a_creation_given_up_on_is_still_waited_for_when_the_upload_ends() {
    // (how the creation sent in its place ends, how the given-up one's late answer ends)
    for (second_fails, first_succeeds) in [(false, false), (true, true), (true, false)] {
        let mut d = Driver::new(config());
        let (first, second) = creation_past_its_deadline(&mut d);
        let actions = if second_fails {
            d.feed(Input::SessionCreated {
                request: second,
                result: Err(HttpOutcome::status(403)),
            })
        } else {
            d.feed(Input::Abort {
                file: Some(FileId(1)),
            })
        };
        assert!(finished_code(&actions).is_some(), "{actions:?}");
        assert!(
            !actions.contains(&Action::Cancel { request: first }),
            "still waited for: {actions:?}"
        );
        let mut late = d.session(10, 10);
        late.asset_id = "late-asset".into();
        let actions = d.feed(Input::SessionCreated {
            request: first,
            result: if first_succeeds {
                Ok(late)
            } else {
                Err(HttpOutcome::network_error())
            },
        });
        let deleted = actions.contains(&Action::DeleteAsset {
            asset_id: "late-asset".into(),
        });
        assert_eq!(deleted, first_succeeds, "{actions:?}");
        assert!(
            finished_code(&actions).is_none(),
            "finished once: {actions:?}"
        );
    }
}

#[test]
fn idempotent_requests_sent_before_the_network_went_away_are_sent_again_as_it_comes_back() {
    for kind in ApiRequest::ALL {
        let mut d = Driver::new(config());
        let request = kind.in_flight(&mut d);
        d.feed(Input::Offline);
        d.now += 5_000;
        let actions = d.feed(Input::Online);
        if kind == ApiRequest::Creation {
            // A second creation could make a second session: creation waits for its answer (or
            // for the stall bound).
            assert!(
                !actions.contains(&Action::Cancel { request }) && kind.find(&actions).is_none(),
                "a creation is never sent twice at once: {actions:?}"
            );
            continue;
        }
        assert!(
            actions.contains(&Action::Cancel { request }),
            "{kind:?}: the old request is cancelled: {actions:?}"
        );
        let again = kind.find(&actions).expect("sent again at once");
        assert_ne!(again, request);
        let progress = d.engine.progress(FileId(1)).unwrap();
        assert!(
            progress.retrying.is_none(),
            "{kind:?}: a request the network took away is no failed attempt: {progress:?} {actions:?}"
        );
    }
}

/// What the storage answers a PUT for an upload it no longer knows (S3's `NoSuchUpload`: aborted
/// or completed).
fn upload_gone() -> HttpOutcome {
    HttpOutcome::storage_response(
        404,
        None,
        None,
        "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>",
    )
}

/// A two-chunk upload whose first PUT the storage refused with `NoSuchUpload` while the second
/// is in flight; answers the second PUT's request and the engine's next actions.
fn upload_gone_mid_upload(d: &mut Driver) -> (RequestId, Vec<Action>) {
    let (_, actions) = d.add(2, 2, false);
    let p = puts(&actions);
    assert_eq!(p.len(), 2);
    let actions = d.feed(Input::PutDone {
        request: p[0].0,
        outcome: upload_gone(),
    });
    (p[1].0, actions)
}

#[test]
fn a_put_refused_as_upload_gone_asks_the_server_and_a_session_completed_elsewhere_succeeds() {
    let mut d = Driver::new(config());
    let (second, actions) = upload_gone_mid_upload(&mut d);
    assert!(
        finished_code(&actions).is_none(),
        "not fatal at once: {actions:?}"
    );
    assert!(
        puts(&actions).is_empty(),
        "no chunk is sent again meanwhile"
    );
    let read = ApiRequest::Status
        .find(&actions)
        .expect("the session's status is read at once");
    // Another page (a second tab, or the page a reload left running) completed the session.
    let actions = d.feed(Input::StatusDone {
        request: read,
        result: status(
            UploadStatus::Completed,
            &[(1, ChunkStatus::Completed), (2, ChunkStatus::Completed)],
        ),
    });
    assert!(
        actions.contains(&Action::Cancel { request: second }),
        "the PUT still in flight is moot: {actions:?}"
    );
    assert_eq!(finished_code(&actions), Some(Ok(())), "{actions:?}");
}

#[test]
fn a_session_completed_elsewhere_cancels_the_url_request_still_in_flight() {
    let mut d = Driver::new(config());
    // One URL of three: chunk 1's PUT and a request for the other two URLs are in flight. The
    // upload waits for its asset, so it goes on after the session is done.
    let (_, actions) = d.add(3, 1, true);
    let urls = ApiRequest::Urls
        .find(&actions)
        .expect("the other URLs are asked for");
    let actions = d.feed(Input::PutDone {
        request: puts(&actions)[0].0,
        outcome: upload_gone(),
    });
    let read = ApiRequest::Status.find(&actions).expect("a status read");
    let actions = d.feed(Input::StatusDone {
        request: read,
        result: status(
            UploadStatus::Completed,
            &[
                (1, ChunkStatus::Completed),
                (2, ChunkStatus::Completed),
                (3, ChunkStatus::Completed),
            ],
        ),
    });
    assert!(
        actions.iter().any(|a| matches!(a, Action::Uploaded { .. })),
        "the session is done: {actions:?}"
    );
    assert!(
        finished_code(&actions).is_none(),
        "the upload waits for its asset: {actions:?}"
    );
    assert!(
        actions.contains(&Action::Cancel { request: urls }),
        "URLs for a completed session are moot: {actions:?}"
    );
}

#[test]
fn a_put_refused_as_upload_gone_fails_with_the_reason_the_server_gives() {
    // (status the server gives, the error the upload ends with)
    let cases = [
        (UploadStatus::Active, ErrorCode::StorageRejected),
        (UploadStatus::Expired, ErrorCode::SessionExpired),
        (UploadStatus::Failed, ErrorCode::SessionFailed),
    ];
    for (server_says, expected) in cases {
        let mut d = Driver::new(config());
        let (_, actions) = upload_gone_mid_upload(&mut d);
        let read = ApiRequest::Status.find(&actions).expect("a status read");
        let actions = d.feed(Input::StatusDone {
            request: read,
            result: status(server_says, &[(1, ChunkStatus::Pending)]),
        });
        assert_eq!(
            finished_code(&actions),
            Some(Err(expected)),
            "{server_says:?}: {actions:?}"
        );
        if expected == ErrorCode::StorageRejected {
            let error = finished_error(&actions).unwrap();
            assert!(error.message.contains("NoSuchUpload"), "{error:?}");
        }
    }
}

/// Feeds `kind`'s in-flight request a 400 with the session-over `code`; asserts that the upload
/// waits for the session's status, which is asked for at once. Answers the driver and the read.
fn refused_as_session_over(kind: ApiRequest, code: &str) -> (Driver, RequestId) {
    let refusal = || HttpOutcome::status(400).with_error_code(code);
    let mut d = Driver::new(config());
    let request = kind.in_flight(&mut d);
    let actions = match kind {
        ApiRequest::Report => d.feed(Input::ReportDone {
            request,
            result: Err(refusal()),
        }),
        _ => d.feed(Input::UrlsDone {
            request,
            result: Err(refusal()),
        }),
    };
    assert!(finished_code(&actions).is_none(), "{kind:?}: {actions:?}");
    let read = ApiRequest::Status
        .find(&actions)
        .unwrap_or_else(|| panic!("{kind:?}: the status is read at once: {actions:?}"));
    (d, read)
}

#[test]
fn a_report_or_url_request_refused_as_upload_failed_ends_in_session_failed_once_the_status_says_so()
{
    for kind in [ApiRequest::Report, ApiRequest::Urls] {
        let (mut d, read) = refused_as_session_over(kind, "upload_failed");
        let actions = d.feed(Input::StatusDone {
            request: read,
            result: status(UploadStatus::Failed, &[]),
        });
        assert_eq!(
            finished_code(&actions),
            Some(Err(ErrorCode::SessionFailed)),
            "{kind:?}"
        );
    }
}

#[test]
fn a_report_or_url_request_refused_as_upload_completed_asks_the_server_first() {
    for kind in [ApiRequest::Report, ApiRequest::Urls] {
        for server_says in [UploadStatus::Completed, UploadStatus::Active] {
            let (mut d, read) = refused_as_session_over(kind, "upload_completed");
            let actions = d.feed(Input::StatusDone {
                request: read,
                result: status(server_says, &[(1, ChunkStatus::Completed)]),
            });
            match server_says {
                UploadStatus::Completed => {
                    assert_eq!(finished_code(&actions), Some(Ok(())), "{kind:?}")
                }
                _ => {
                    let error = finished_error(&actions).expect("the upload fails");
                    assert!(
                        error.message.contains("upload_completed"),
                        "{kind:?}: the answer's own error: {error:?}"
                    );
                }
            }
        }
    }
}
