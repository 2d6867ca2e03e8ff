// Compiled with `tsc --noEmit` against pkg/: the declarations must describe the whole API
// precisely (a wrong property name or type here is a compile error).
import init, {
  Uploader,
  UploadHandle,
  UploadQueue,
  version,
  type Asset,
  type AssetPage,
  type PendingUpload,
  type QueueAddOptions,
  type QueueItem,
  type QueuePhase,
  type QueueSnapshot,
  type QueueTotals,
  type UploadError,
  type UploadErrorCode,
  type UploadProgress,
  type UploadRetrying,
} from 'twelvelabs-edge-upload';

export async function example(file: File): Promise<string> {
  await init();
  const uploader = new Uploader({
    endpoint: 'https://upload.example.workers.dev',
    getToken: async () => 'grant',
    concurrency: 4,
    retry: { baseDelayMs: 250, maxDelayMs: 10_000, maxAttempts: 5 },
    progressIntervalMs: 100,
    stallTimeoutMs: 60_000,
    persist: true,
    persistScope: 'user-7f3a',
    directUploadMaxBytes: 0,
    fetch: (input, init) => fetch(input, init),
  });
  const controller = new AbortController();
  const handle: UploadHandle = uploader.upload(file, {
    type: 'video',
    enableHls: true,
    userMetadata: { project: 'x', take: 3, approved: true },
    signal: controller.signal,
    onProgress: (p: UploadProgress) => void p.acknowledgedBytes.toFixed(0),
    waitUntilReady: true,
  });
  handle.pause();
  handle.resume();
  const fraction: number = handle.progress.fraction;
  const eta: number | null = handle.progress.etaMs;
  const speed: number | null = handle.progress.bytesPerSecond;
  const retrying: UploadRetrying | null = handle.progress.retrying;
  const retryNote = retrying
    ? `${retrying.attempt} ${retrying.delayMs.toFixed(0)} ${retrying.errorCode satisfies UploadErrorCode}`
    : '';
  const uploadId: string | undefined = handle.uploadId;
  const assetId: string | undefined = handle.assetId;
  try {
    const asset: Asset = await handle.done;
    const page: AssetPage = await uploader.listAssets({ pageLimit: 5, assetTypes: ['video'] });
    const pending: PendingUpload[] = await uploader.pendingUploads();
    const forgotten: void = await uploader.forget(pending[0]?.id ?? 'none');
    const signedOut: void = await uploader.forget();
    await uploader.deleteAsset(asset.id, { force: true });
    return `${version()} ${fraction} ${eta} ${speed} ${retryNote} ${uploadId} ${assetId} ${page.pageInfo.totalResults} ${pending.length} ${asset.status} ${forgotten} ${signedOut}`;
  } catch (caught) {
    const error = caught as UploadError;
    const code: UploadErrorCode = error.code;
    const retry: boolean = error.retryable;
    const status: number | undefined = error.status;
    return `${code} ${retry} ${status}`;
  }
}

export async function queueExample(uploader: Uploader, files: FileList, again: File): Promise<string> {
  const queue = new UploadQueue(uploader);
  const options: QueueAddOptions = { type: 'video', enableHls: true, userMetadata: { a: 1 }, waitUntilReady: true };
  // @ts-expect-error the queue owns progress callbacks
  const withProgress: QueueAddOptions = { onProgress: () => {} };
  // @ts-expect-error the queue owns cancellation
  const withSignal: QueueAddOptions = { signal: new AbortController().signal };
  void withProgress;
  void withSignal;
  const ids: string[] = queue.add(files, options);
  queue.add(again);
  queue.add(new Blob(['x']));
  queue.add([again, new Blob(['y'])]);
  queue.pause(ids[0]);
  queue.resume(ids[0]);
  queue.cancel(ids[0]);
  queue.retry(ids[0]);
  queue.remove(ids[0]);
  queue.pauseAll();
  queue.resumeAll();
  await queue.restorePending();
  await queue.restorePending({ waitUntilReady: true });
  queue.attachFile(ids[1], again);
  const unsubscribe: () => void = queue.subscribe(() => undefined);
  unsubscribe();
  const snapshot: QueueSnapshot = queue.getSnapshot();
  const item: QueueItem = snapshot.items[0];
  const phase: QueuePhase = item.phase;
  const phases: QueuePhase[] = ['queued', 'awaiting_file', 'uploading', 'done'];
  const totals: QueueTotals = snapshot.totals;
  const waiting: number = totals.counts.awaiting_file + totals.counts.queued;
  const speed: number | null = totals.bytesPerSecond;
  const eta: number | null = totals.etaMs;
  const code: UploadErrorCode | undefined = item.error?.code;
  const ids2: (string | null)[] = [item.uploadId, item.assetId];
  const bytes: number = item.progress.acknowledgedBytes + item.size + totals.fraction + totals.totalBytes;
  // @ts-expect-error snapshots are read-only
  snapshot.items[0].phase = 'done';
  queue.free();
  const handle = uploader.upload(again);
  const stop: () => void = handle.subscribe(() => undefined);
  stop();
  const progress: UploadProgress = handle.getSnapshot();
  return `${phase} ${phases.length} ${waiting} ${speed} ${eta} ${code} ${ids2.join()} ${bytes} ${progress.phase} ${item.filename} ${totals.acknowledgedBytes}`;
}

// Options whose value may be undefined (a spread of optional settings, an env var) are accepted,
// as the runtime accepts them, also under `exactOptionalPropertyTypes`.
declare const maybeConcurrency: number | undefined;
declare const maybeSignal: AbortSignal | undefined;
declare const maybeKey: string | undefined;
void new Uploader({ endpoint: 'https://upload.example.com', apiKey: maybeKey, concurrency: maybeConcurrency });
void new Uploader({ endpoint: 'https://upload.example.com', getToken: undefined, retry: { maxAttempts: undefined } });
declare const someFile: File;
void new Uploader({ endpoint: 'https://upload.example.com' }).upload(someFile, { signal: maybeSignal, onProgress: undefined });
