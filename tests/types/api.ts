// Compiled with `tsc --noEmit` against pkg/: the declarations must describe the whole API
// precisely (a wrong property name or type here is a compile error).
import init, {
  Uploader,
  UploadHandle,
  version,
  type Asset,
  type AssetPage,
  type PendingUpload,
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
    await uploader.deleteAsset(asset.id, { force: true });
    return `${version()} ${fraction} ${eta} ${speed} ${retryNote} ${uploadId} ${assetId} ${page.pageInfo.totalResults} ${pending.length} ${asset.status}`;
  } catch (caught) {
    const error = caught as UploadError;
    const code: UploadErrorCode = error.code;
    const retry: boolean = error.retryable;
    const status: number | undefined = error.status;
    return `${code} ${retry} ${status}`;
  }
}
