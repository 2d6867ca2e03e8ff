import type { QueueSnapshot, UploadHandle, UploadProgress, UploadQueue } from './twelvelabs_edge_upload.js';

/**
 * The queue's current snapshot (`queue.getSnapshot()`), through `useSyncExternalStore`: the
 * component re-renders when, and only when, the queue's snapshot changes.
 */
export declare function useUploadQueue(queue: UploadQueue): QueueSnapshot;

/**
 * The handle's current progress (`handle.getSnapshot()`), through `useSyncExternalStore`, or
 * `null` while `handle` is `null` or `undefined`.
 */
export declare function useUpload(handle: UploadHandle | null | undefined): UploadProgress | null;
