//! The engine with a real transport against the real emulator, faults on.
//!
//! A small native adapter (reqwest + tokio, `engine_support/native_adapter.rs`) executes the
//! engine's actions against `target/emulator/twelvelabs-emulator` (built by `make emulator`),
//! which injects PUT failures of every kind (HTTP 500, TCP reset, stall), hands out short-lived
//! URLs, answers 429 with `Retry-After`, and uses chunks small enough that the file needs many
//! of them (so URLs come in several presigned-URL batches). The assembled asset must be
//! byte-identical to the file (SHA-256) and every chunk must have been stored exactly once.

#[path = "engine_support/native_adapter.rs"]
mod native_adapter;

use std::sync::Arc;
use std::time::Duration;

use native_adapter::{
    chunk_counters, debug_get, os_random_u64, set_faults, Adapter, Api, EmulatorProcess,
    EMULATOR_API_KEY,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use twelvelabs_edge_upload::core::engine::Engine;
use twelvelabs_edge_upload::core::engine::{
    Action, AssetPollPolicy, Completion, EngineConfig, StallPolicy,
};
use twelvelabs_edge_upload::core::error::Error;
use twelvelabs_edge_upload::core::retry::BackoffPolicy;
use twelvelabs_edge_upload::core::wire::{
    AssetStatus, CreateMultipartUploadRequest, MediaType, UploadStatus,
};

const CHUNK_SIZE: u64 = 32 * 1024;
/// 96 full chunks and a short last one.
const FILE_SIZE: u64 = 96 * CHUNK_SIZE + 12_345;
const TOTAL_CHUNKS: u32 = 97;
/// URLs in the create answer: the other 93 must come from the presigned-URL endpoint.
const INITIAL_URLS: u32 = 4;
/// A hang is a failure, not a wait for CI's global timeout.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

/// Incompressible, reproducible file content (SplitMix64).
fn file_bytes() -> Vec<u8> {
    let mut state = 0x0123_4567_89AB_CDEFu64;
    let mut bytes = Vec::with_capacity(FILE_SIZE as usize + 8);
    while (bytes.len() as u64) < FILE_SIZE {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(FILE_SIZE as usize);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn engine_config() -> EngineConfig {
    let backoff = BackoffPolicy {
        base_ms: 50,
        cap_ms: 1_000,
        max_attempts: 10,
    };
    EngineConfig {
        concurrency: 4,
        report_debounce_ms: 100,
        progress_interval_ms: 100,
        put_backoff: backoff,
        api_backoff: backoff,
        create_backoff: backoff,
        // Loopback PUTs of 32 KiB take milliseconds: 4 s without an answer is a stall, and far
        // enough from any real completion that a stored chunk is never cancelled and re-sent.
        stall: StallPolicy {
            min_ms: 4_000,
            max_ms: 20_000,
            ..StallPolicy::default()
        },
        asset_poll: AssetPollPolicy {
            initial_ms: 50,
            max_ms: 500,
        },
        jitter_seed: os_random_u64(),
        ..EngineConfig::default()
    }
}

#[test]
fn the_engine_uploads_through_the_faulty_emulator_and_the_asset_is_byte_identical() {
    let emulator = EmulatorProcess::start(&[
        "--seed",
        "5",
        "--chunk-size",
        &CHUNK_SIZE.to_string(),
        "--initial-urls",
        &INITIAL_URLS.to_string(),
        // Short-lived URLs: many expire while chunks wait out backoffs, 429s and stalls.
        "--url-ttl-secs",
        "3",
        // The very first PUT fails with 500; then one PUT in ten, at random.
        "--put-fail-next",
        "1",
        "--put-failure-kind",
        "500",
        "--put-failure-rate",
        "0.1",
        // A stalled PUT hangs far longer than the engine's watchdog waits.
        "--put-stall-secs",
        "120",
        "--rate-limit-rate",
        "0.1",
        "--retry-after-secs",
        "1",
        "--processing-ms",
        "100",
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(SCENARIO_LIMIT, scenario(&emulator.url))
            .await
            .unwrap_or_else(|_| panic!("the upload did not end within {SCENARIO_LIMIT:?}"));
    });
}

async fn scenario(emulator_url: &str) {
    let bytes: Arc<[u8]> = file_bytes().into();
    let api = Api::new(emulator_url, EMULATOR_API_KEY);
    let config = engine_config();
    // The engine's first API call, the session creation, is rate limited for sure (the rate
    // adds more at random, to the calls that follow too).
    set_faults(emulator_url, json!({"rate_limit_next": 1})).await;

    let mut adapter = Adapter::new(Engine::new(config).expect("valid config"), api);
    let create = CreateMultipartUploadRequest {
        filename: "faulty-network.mp4".into(),
        media_type: MediaType::Video,
        total_size: FILE_SIZE,
        enable_hls: None,
        enable_thumbnail: None,
        user_metadata: None,
    };
    let file = adapter
        .add(bytes.clone(), create, true)
        .expect("upload accepted");

    // As the upload advances, switch the PUT fault kind: resets after a third, then one stall
    // after two thirds (with the random failures off, so exactly one PUT stalls).
    let mut milestones = vec![
        (
            TOTAL_CHUNKS / 3,
            json!({"put_failure_kind": "reset", "put_fail_next": 2}),
        ),
        (
            2 * TOTAL_CHUNKS / 3,
            json!({"put_failure_kind": "stall", "put_fail_next": 1, "put_failure_rate": 0.0}),
        ),
    ]
    .into_iter()
    .peekable();

    let (outcome, progress): (Result<Completion, Error>, _) = 'run: loop {
        for action in adapter.execute_pending() {
            if let Action::Finished {
                file: f,
                outcome,
                progress,
            } = action
            {
                if f == file {
                    break 'run (outcome, progress);
                }
            }
        }
        let acknowledged = adapter
            .engine
            .progress(file)
            .map_or(0, |p| p.acknowledged_chunks);
        while let Some((_, update)) = milestones.next_if(|(at, _)| acknowledged >= *at) {
            set_faults(emulator_url, update).await;
        }
        adapter.wait_and_feed().await;
    };

    let completion = outcome.unwrap_or_else(|e| panic!("the upload failed: {e}"));
    let session = adapter
        .session(file)
        .expect("the engine created the session");
    assert_eq!(
        (session.chunk_size, session.total_chunks),
        (CHUNK_SIZE, TOTAL_CHUNKS)
    );
    assert_eq!(session.upload_urls.len(), INITIAL_URLS as usize);
    let upload_id = session.upload_id.clone();
    let asset_id = session.asset_id.clone();
    assert_eq!(completion.asset_id, asset_id);
    assert!(completion.url.is_some(), "the last report carries the url");
    let asset = completion.asset.expect("waited for the asset");
    assert_eq!(asset.status, AssetStatus::Ready);
    // The final count, as `Finished` carries it.
    assert_eq!(
        (progress.reported_bytes, progress.reported_chunks),
        (FILE_SIZE, TOTAL_CHUNKS)
    );
    assert!(
        milestones.next().is_none(),
        "every fault phase was switched on"
    );

    // The bytes the emulator assembled are the file's.
    let digest = debug_get(
        emulator_url,
        &format!("/_emulator/assets/{asset_id}/sha256"),
    )
    .await;
    assert_eq!(digest["sha256"], hex(&Sha256::digest(&bytes)), "{digest}");
    assert_eq!(digest["size"], FILE_SIZE, "{digest}");

    // Every chunk was stored exactly once: failures were retried, nothing was sent twice.
    let stats = debug_get(emulator_url, "/_emulator/stats").await;
    let chunks = chunk_counters(&stats, &upload_id);
    assert_eq!(
        chunks.keys().copied().collect::<Vec<_>>(),
        (1..=TOTAL_CHUNKS).collect::<Vec<_>>(),
        "{stats}"
    );
    for (index, counters) in &chunks {
        assert_eq!(counters.stored, 1, "chunk {index}: {counters:?}");
    }
    let injected: u64 = chunks.values().map(|c| c.injected_failures).sum();
    // The first PUT (500), two resets, one stall — at least.
    assert!(injected >= 4, "{injected} injected failures: {stats}");

    // Each fault really reached the engine through the adapter.
    let seen = &adapter.observed;
    assert!(seen.put_server_errors >= 1, "{seen:?}");
    assert!(seen.put_network_errors >= 2, "{seen:?}");
    assert!(
        seen.puts_cancelled >= 1,
        "the stall was cancelled: {seen:?}"
    );
    assert!(seen.api_rate_limited >= 1, "{seen:?}");
    assert!(
        seen.url_requests >= 2,
        "URLs came in several batches: {seen:?}"
    );
    let url_routes =
        &stats["requests"]["POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls"];
    assert!(url_routes.as_u64() >= Some(2), "{stats}");

    // The server agrees: the session is complete with every chunk.
    set_faults(emulator_url, json!({"rate_limit_rate": 0.0})).await;
    let status = debug_get_api_status(emulator_url, &upload_id).await;
    assert_eq!(status.status, UploadStatus::Completed);
    assert_eq!(status.chunks_completed, TOTAL_CHUNKS);
}

async fn debug_get_api_status(
    emulator_url: &str,
    upload_id: &str,
) -> twelvelabs_edge_upload::core::wire::UploadStatusResponse {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
        .get(format!(
            "{emulator_url}/v1.3/assets/multipart-uploads/{upload_id}"
        ))
        .header("x-api-key", EMULATOR_API_KEY)
        .send()
        .await
        .expect("GET status");
    assert!(response.status().is_success(), "{}", response.status());
    serde_json::from_slice(&response.bytes().await.expect("status body")).expect("status JSON")
}
