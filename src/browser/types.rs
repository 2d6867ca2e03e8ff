//! The TypeScript declarations of the JS API (emitted into the package's `.d.ts`) and the
//! `extern` types that let the `#[wasm_bindgen]` exports name them instead of `any`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT_DECLARATIONS: &'static str = r#"
/** The kind of media an asset holds. Inferred from `file.type` when not given. */
export type MediaType = "video" | "audio" | "image";

/** Stable error codes: switch on these, never on messages. */
export type UploadErrorCode =
  | "invalid_input" | "unauthorized" | "forbidden" | "not_found" | "method_not_allowed"
  | "payload_too_large" | "unsupported_type" | "rate_limited" | "upstream_unavailable"
  | "network" | "etag_unreadable" | "session_expired" | "file_mismatch" | "aborted"
  | "server_invalid" | "storage_rejected" | "retries_exhausted" | "asset_failed" | "conflict"
  | "internal" | "session_failed" | "config_invalid" | "storage_unavailable";

/** Every promise of this package rejects with one of these (`name === "UploadError"`). */
export interface UploadError extends Error {
  readonly name: "UploadError";
  /** Stable machine-readable code. */
  readonly code: UploadErrorCode;
  /** Whether trying again later may succeed. */
  readonly retryable: boolean;
  /** HTTP status of the response that caused it, when there was one. */
  readonly status: number | undefined;
}

/** User metadata stored with the asset: string keys, scalar values. */
export type UserMetadata = Record<string, string | number | boolean>;

/** A `fetch`-compatible function (e.g. to add headers or instrument requests). */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/** Retry tuning. Which failures are retried is fixed (network errors, 5xx, 429, expired URLs). */
export interface RetryOptions {
  /** Upper bound of the first retry's random delay, ms (default 500). */
  baseDelayMs?: number | undefined;
  /** Largest delay between attempts, ms (default 30000); a server's Retry-After may exceed it. */
  maxDelayMs?: number | undefined;
  /** Failures in a row without progress before giving up (default 10). */
  maxAttempts?: number | undefined;
}

/** Options of `new Uploader(...)`. Exactly one of `getToken` and `apiKey` is required. */
export interface UploaderOptions {
  /** Base URL of the Worker (or of the API for `apiKey`), without `/v1.3`. */
  endpoint: string;
  /** Returns a grant minted by your backend; called again when the Worker answers 401. */
  getToken?: (() => string | Promise<string>) | undefined;
  /** A TwelveLabs API key: server-side runtimes (Node) only, never in a browser. */
  apiKey?: string | undefined;
  /** Chunk PUTs in flight across all uploads of this uploader (default 4, 1–32). */
  concurrency?: number | undefined;
  /** Retry tuning. */
  retry?: RetryOptions | undefined;
  /** Minimum interval between `onProgress` calls, ms (default 250); a new retry is reported at once. */
  progressIntervalMs?: number | undefined;
  /**
   * Longest a chunk PUT may run without completing before the stall watchdog cancels it and
   * retries the chunk with a fresh URL, ms (default 300000, 1000–3600000). The watchdog acts
   * sooner when the measured speed says the chunk is long overdue (never before 30 s, or this
   * bound if it is lower). An API call (session creation, URLs, report, status, asset) left
   * without an answer for 30 s (or this bound, if lower) is cancelled and retried; a session
   * creation is retried without being cancelled, and a session it still makes is deleted.
   */
  stallTimeoutMs?: number | undefined;
  /** Save resumable state in IndexedDB (default true where IndexedDB exists). */
  persist?: boolean | undefined;
  /**
   * Keeps the saved uploads of one user apart (1–128 characters; pass an opaque id of the
   * signed-in user, such as a hash: it names an IndexedDB database that every script of the
   * origin can list). An uploader lists, resumes and forgets only the uploads saved under its
   * own scope. Default: the origin's one shared set.
   */
  persistScope?: string | undefined;
  /** Files up to this size go as one direct upload instead of multipart (default 0: never). */
  directUploadMaxBytes?: number | undefined;
  /** Replaces the runtime's `fetch`. */
  fetch?: FetchFunction | undefined;
}

/** Where an upload is. */
export type UploadPhase =
  | "starting" | "uploading" | "paused" | "finalizing" | "processing" | "done" | "failed"
  | "aborted";

/** A request of the upload waiting to be retried after a failure. */
export interface UploadRetrying {
  /** The retry about to be made (1 for the first). */
  readonly attempt: number;
  /** How long it waits before that retry, ms (as decided when the request failed). */
  readonly delayMs: number;
  /** The code of the failure being retried, e.g. `"network"`. */
  readonly errorCode: UploadErrorCode;
}

/**
 * A progress snapshot. Byte counts never go backwards and never exceed `totalBytes`, which is
 * the file's size from the first snapshot on.
 */
export interface UploadProgress {
  readonly phase: UploadPhase;
  /** The file's size. */
  readonly totalBytes: number;
  /**
   * Bytes handed to the network: the acknowledged bytes plus the bodies of the chunk PUTs in
   * flight (a PUT that fails keeps its bytes counted).
   */
  readonly sentBytes: number;
  /** Bytes the storage confirmed (ETag received). */
  readonly acknowledgedBytes: number;
  /** Bytes the API confirmed (reported). */
  readonly reportedBytes: number;
  /** Chunks of the upload (0 until the session exists). */
  readonly totalChunks: number;
  readonly acknowledgedChunks: number;
  readonly reportedChunks: number;
  /** Smoothed upload speed; `null` until measured and while paused or offline. */
  readonly bytesPerSecond: number | null;
  /** Estimated time to completion; `null` while unknown, paused or offline. */
  readonly etaMs: number | null;
  /** `acknowledgedBytes / totalBytes`, 0–1 (0 until bytes are acknowledged). */
  readonly fraction: number;
  /** Set while a request waits to be retried after a failure; `null` otherwise. */
  readonly retrying: UploadRetrying | null;
}

/** Options of `uploader.upload(...)` and `uploader.resume(...)`. */
export interface UploadOptions {
  /** Media type; inferred from `file.type` when omitted. */
  type?: MediaType | undefined;
  /** File name sent to TwelveLabs (default: `file.name`, or "upload"). */
  filename?: string | undefined;
  enableHls?: boolean | undefined;
  enableThumbnail?: boolean | undefined;
  userMetadata?: UserMetadata | undefined;
  /** Aborts the upload like `handle.abort()`. */
  signal?: AbortSignal | undefined;
  /** Called with throttled progress snapshots. */
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  /** Resolve `done` only when the asset is `ready` (rejects with `asset_failed` if it fails). */
  waitUntilReady?: boolean | undefined;
}

/** Options of `uploader.resume(...)`. */
export interface ResumeOptions extends UploadOptions {
  /** The pending upload to continue (from `pendingUploads()`); default: the one matching the file's name and size. */
  id?: string | undefined;
}

/** `"unknown"` stands for a value added to the API after this package was built. */
export type AssetMethod = "direct" | "url" | "multipart" | "unknown";
/** `"waiting"` is the pre-2026 spelling of `"processing"`; `"unknown"`: a newer value. */
export type AssetStatus = "processing" | "ready" | "failed" | "waiting" | "unknown";
export type DerivativeStatus = "pending" | "processing" | "ready" | "error" | "unknown";

/** An asset, as TwelveLabs describes it (camelCase). */
export interface Asset {
  readonly id: string;
  readonly method: AssetMethod;
  readonly status: AssetStatus;
  readonly filename?: string;
  /** MIME type, e.g. `video/mp4`. */
  readonly fileType?: string;
  readonly createdAt?: string;
  readonly size?: number;
  readonly duration?: number;
  readonly userMetadata?: UserMetadata;
  readonly hls?: { readonly status: DerivativeStatus; readonly manifestUrl?: string };
  readonly thumbnail?: { readonly status: DerivativeStatus; readonly representativeUrl?: string };
  readonly error?: { readonly message: string };
}

/** One page of assets. */
export interface AssetPage {
  readonly data: Asset[];
  readonly pageInfo: {
    readonly page: number;
    readonly limitPerPage: number;
    readonly totalPage: number;
    readonly totalResults: number;
  };
}

/** Filters of `listAssets`. */
export interface ListAssetsOptions {
  page?: number | undefined;
  /** 1–50 (default 10). */
  pageLimit?: number | undefined;
  assetIds?: string[] | undefined;
  assetTypes?: MediaType[] | undefined;
  /** Case-insensitive substring of the file name. */
  filename?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of `uploadUrl`. */
export interface UrlUploadOptions {
  filename?: string | undefined;
  enableHls?: boolean | undefined;
  enableThumbnail?: boolean | undefined;
  userMetadata?: UserMetadata | undefined;
  signal?: AbortSignal | undefined;
  waitUntilReady?: boolean | undefined;
}

/** Options of `deleteAsset`. */
export interface DeleteAssetOptions {
  /** Delete even if indexed assets reference it. */
  force?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of `waitUntilReady`. */
export interface WaitOptions {
  signal?: AbortSignal | undefined;
  /** Give up (with `retries_exhausted`) after this long, ms (default: no limit). */
  timeoutMs?: number | undefined;
}

/** A resumable upload saved in IndexedDB. */
export interface PendingUpload {
  /** Pass to `resume(file, { id })` or `forget(id)`. */
  readonly id: string;
  readonly filename: string;
  readonly size: number;
  readonly lastModified: number;
  /** Bytes the server already confirmed. */
  readonly uploadedBytes: number;
  /** `uploadedBytes / size`, 0–1. */
  readonly fraction: number;
  /** When the session expires (RFC 3339); it cannot be resumed after. */
  readonly expiresAt: string;
}

/** Options of `queue.add(...)`: those of `upload` but `onProgress` and `signal` (the queue owns them). */
export type QueueAddOptions = Omit<UploadOptions, "onProgress" | "signal">;

/** Where a queue item is: waiting for a place, waiting for its file after a reload, or its upload's phase. */
export type QueuePhase = "queued" | "awaiting_file" | UploadPhase;

/** One file of an `UploadQueue`. Frozen; an item unchanged since the last snapshot is the same object. */
export interface QueueItem {
  readonly id: string;
  readonly filename: string;
  readonly size: number;
  readonly phase: QueuePhase;
  /** The upload's progress (`totalBytes` = `size`; `phase` is `"starting"` until it started). */
  readonly progress: UploadProgress;
  /** Why it failed (`aborted` for a cancelled item; for `awaiting_file`, why the chosen file was refused); `null` otherwise. */
  readonly error: { readonly code: UploadErrorCode; readonly message: string } | null;
  readonly uploadId: string | null;
  readonly assetId: string | null;
}

/** Sums over a queue's items. */
export interface QueueTotals {
  /** Bytes of every item still meant to arrive (failed and cancelled items are left out). */
  readonly totalBytes: number;
  readonly acknowledgedBytes: number;
  /** `acknowledgedBytes / totalBytes`, 0–1 (0 for an empty queue). */
  readonly fraction: number;
  /** Summed speed of the running uploads; `null` until measured. */
  readonly bytesPerSecond: number | null;
  /** Time to store the remaining bytes at that speed; `null` while unknown. */
  readonly etaMs: number | null;
  /** Items per phase. */
  readonly counts: Readonly<Record<QueuePhase, number>>;
}

/** What `queue.getSnapshot()` returns: frozen, the same object until something changes. */
export interface QueueSnapshot {
  readonly items: readonly QueueItem[];
  readonly totals: QueueTotals;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `UploaderOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "UploaderOptions")]
    pub type JsUploaderOptions;

    /// `UploadOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "UploadOptions")]
    pub type JsUploadOptions;

    /// `ResumeOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "ResumeOptions")]
    pub type JsResumeOptions;

    /// `ListAssetsOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "ListAssetsOptions")]
    pub type JsListAssetsOptions;

    /// `UrlUploadOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "UrlUploadOptions")]
    pub type JsUrlUploadOptions;

    /// `DeleteAssetOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "DeleteAssetOptions")]
    pub type JsDeleteAssetOptions;

    /// `WaitOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "WaitOptions")]
    pub type JsWaitOptions;

    /// `QueueAddOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "QueueAddOptions")]
    pub type JsQueueAddOptions;

    /// `QueueSnapshot` in TypeScript.
    #[wasm_bindgen(typescript_type = "QueueSnapshot")]
    pub type JsQueueSnapshot;

    /// `UploadProgress` in TypeScript.
    #[wasm_bindgen(typescript_type = "UploadProgress")]
    pub type JsUploadProgress;
}
