//! Thousands of seeded, randomised runs of the engine against the fake server, with every fault
//! mixed in; the harness checks the invariants at every step (see `engine_support`).

mod engine_support;

use engine_support::{FatalFault, Faults, FileSpec, Rng, Sim};
use twelvelabs_edge_upload::core::engine::FileId;
use twelvelabs_edge_upload::core::error::ErrorCode;

/// Files of 1–40 chunks (odd last chunks included), 1–3 files sharing one budget.
fn random_files(rng: &mut Rng) -> Vec<FileSpec> {
    let count = rng.range(1, 3);
    (0..count)
        .map(|_| {
            let chunk_size = rng.range(1, 8) * 1_000;
            let chunks = rng.range(1, 40);
            let size = (chunks - 1) * chunk_size + rng.range(1, chunk_size);
            FileSpec { size, chunk_size }
        })
        .collect()
}

#[test]
fn randomised_runs_with_faults_complete_and_keep_every_invariant() {
    let runs = 1_500u64;
    let mut total_puts = 0;
    let (mut total_creates, mut total_directs) = (0, 0);
    let (mut total_grants, mut total_renewals) = (0, 0);
    for seed in 0..runs {
        let mut rng = Rng::new(seed);
        let faults = Faults::random(&mut rng);
        let concurrency = rng.range(1, 6) as u32;
        let files = random_files(&mut rng);
        let mut config = Sim::config(seed, concurrency);
        // One run in four sends its smaller files as direct uploads.
        if seed % 4 == 1 {
            config.direct_upload_max_bytes = rng.range(1_000, 60_000);
        }
        let mut sim = Sim::new(seed, faults, config);
        sim.set_wait_for_asset(!seed.is_multiple_of(3));
        // Half the runs read each multipart file's resume fingerprint before its session.
        sim.set_fingerprint(seed % 2 == 0);
        for spec in &files {
            sim.add_file(spec);
        }
        let report = sim.run(200_000);
        for (file, outcome) in &report.finished {
            if let Err(e) = outcome {
                panic!("seed {seed}: {file:?} failed: {e}");
            }
        }
        assert!(report.max_puts_in_flight <= concurrency, "seed {seed}");
        total_puts += report.puts;
        total_creates += report.creations;
        total_directs += report.direct_uploads;
        total_grants += report.grant_requests;
        // Beyond the first grant of a run: renewals after a 401.
        total_renewals += report.grant_requests.saturating_sub(1);
    }
    // The runs really exercised uploads (a harness that does nothing would pass the loop): chunk
    // PUTs, session creations (retried after faults), direct uploads and grant renewals.
    assert!(total_puts > runs * 10, "{total_puts}");
    assert!(total_creates > runs, "{total_creates}");
    assert!(total_directs > runs / 8, "{total_directs}");
    // Half the runs use a renewable grant that expires now and then: each asks for a first
    // grant, and many renew theirs after a 401.
    assert!(total_grants > runs / 2, "{total_grants}");
    assert!(total_renewals > runs / 10, "{total_renewals}");
}

#[test]
fn a_clean_run_uses_the_whole_budget_and_batches_urls() {
    let mut sim = Sim::new(7, Faults::none(), Sim::config(7, 4));
    sim.add_file(&FileSpec {
        size: 120_000,
        chunk_size: 1_000,
    });
    let report = sim.run(100_000);
    assert!(report.finished.values().all(|o| o.is_ok()));
    assert_eq!(report.max_puts_in_flight, 4);
    assert_eq!(report.puts, 120);
    // Batches, not one by one: 117 chunks needed URLs after the 3 initial ones.
    let asked: u32 = report.url_batch_sizes.iter().sum();
    assert!(asked >= 117, "{asked}");
    // Window of 16 (4 × concurrency), refilled when half empty: batches of at least 8, except
    // the tail of the file.
    let (tail, body) = report.url_batch_sizes.split_last().unwrap();
    assert!(
        body.iter().all(|&n| n >= 8) && *tail >= 1,
        "{:?}",
        report.url_batch_sizes
    );
    assert!(report.url_batch_sizes.iter().all(|&n| n <= 50));
    // Reports are batched too (debounced), and with no faults never duplicated.
    assert!(report.reports < 60, "{}", report.reports);
    assert_eq!(report.duplicate_reports, 0);
}

#[test]
fn files_share_one_budget_lowest_first() {
    let mut sim = Sim::new(11, Faults::none(), Sim::config(11, 3));
    for _ in 0..3 {
        sim.add_file(&FileSpec {
            size: 10_000,
            chunk_size: 1_000,
        });
    }
    let report = sim.run(100_000);
    assert_eq!(report.finished.len(), 3);
    assert!(report.finished.values().all(|o| o.is_ok()));
    assert_eq!(report.max_puts_in_flight, 3);
}

/// Faults no retry overcomes, struck on the first file at a random point of its upload (among
/// every other fault): it must end with exactly the typed error (code and HTTP status) the fault
/// calls for, while the files sharing its budget complete.
#[test]
fn fatal_faults_end_the_upload_with_their_typed_error_and_spare_the_other_files() {
    for seed in 0..280u64 {
        let fatal = FatalFault::ALL[(seed % FatalFault::ALL.len() as u64) as usize];
        let mut rng = Rng::new(seed);
        let mut faults = Faults::random(&mut rng);
        let mut files = random_files(&mut rng);
        files.push(FileSpec {
            size: 10_500,
            chunk_size: 1_000,
        });
        faults.fatal = Some(fatal);
        faults.fatal_after_stored = rng.range(0, files[0].size.div_ceil(files[0].chunk_size) - 1);
        let concurrency = rng.range(1, 6) as u32;
        let mut sim = Sim::new(seed, faults, Sim::config(seed, concurrency));
        // The asset is awaited, so a failed processing is seen.
        sim.set_wait_for_asset(true);
        for spec in &files {
            sim.add_file(spec);
        }
        let report = sim.run(200_000);
        let (code, status) = fatal.expected();
        match &report.finished[&FileId(1)] {
            Err(error) => assert_eq!(
                (error.code, error.status),
                (code, status),
                "seed {seed}, {fatal:?}: {error}"
            ),
            Ok(_) => panic!("seed {seed}: {fatal:?} did not end the upload"),
        }
        for (file, outcome) in report.finished.iter().skip(1) {
            assert!(outcome.is_ok(), "seed {seed}: {file:?}: {outcome:?}");
        }
    }
}

/// Another page continues the first file's session while this page has it paused (its lock
/// request is refused on resume: `Input::TakenOver`), or gives it up (its record is found gone:
/// `Input::GivenUpElsewhere`), among every other fault. The harness's invariants hold: nothing more is sent for that file (a request opened for a finished file
/// fails the run), its record and reserved asset are left to the other page (no `ForgetState`,
/// no `DeleteAsset`), and it ends with `conflict`, while the files sharing its budget complete.
#[test]
fn a_session_taken_over_while_paused_ends_with_conflict_and_spares_the_other_files() {
    let runs = 400u64;
    let mut taken = 0;
    for seed in 0..runs {
        let mut rng = Rng::new(seed);
        let mut faults = Faults::random(&mut rng);
        faults.pause = faults.pause.max(20);
        let mut files = random_files(&mut rng);
        // The first file is multipart, and long enough to be paused mid-upload now and then.
        files.insert(
            0,
            FileSpec {
                size: 30_500,
                chunk_size: 1_000,
            },
        );
        let concurrency = rng.range(1, 6) as u32;
        let mut sim = Sim::new(seed, faults, Sim::config(seed, concurrency));
        sim.set_wait_for_asset(seed % 2 == 0);
        sim.set_fingerprint(true);
        sim.set_take_over(FileId(1), seed % 3 == 0);
        for spec in &files {
            sim.add_file(spec);
        }
        let report = sim.run(200_000);
        let first = &report.finished[&FileId(1)];
        match report.taken_over {
            Some(file) => {
                assert_eq!(file, FileId(1));
                taken += 1;
                match first {
                    Err(error) => assert_eq!(error.code, ErrorCode::Conflict, "seed {seed}"),
                    Ok(_) => panic!("seed {seed}: the upload taken over completed here"),
                }
            }
            None => assert!(first.is_ok(), "seed {seed}: {first:?}"),
        }
        for (file, outcome) in report.finished.iter().skip(1) {
            assert!(outcome.is_ok(), "seed {seed}: {file:?}: {outcome:?}");
        }
    }
    // Most runs pause the first file while its session is live.
    assert!(taken > runs / 2, "{taken} of {runs}");
}
