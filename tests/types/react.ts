// Type-checks the React bindings `twelvelabs-edge-upload/react` as a component would use them
// (no React types are needed: the hooks' declarations name only the package's own types).
import type { QueueItem, QueuePhase, QueueSnapshot, UploadHandle, UploadProgress, UploadQueue } from 'twelvelabs-edge-upload';
import { useUpload, useUploadQueue } from 'twelvelabs-edge-upload/react';

export function rows(queue: UploadQueue): string[] {
  const snapshot: QueueSnapshot = useUploadQueue(queue);
  const done: number = snapshot.totals.counts.done;
  const waiting: number = snapshot.totals.counts.awaiting_file;
  const eta: number | null = snapshot.totals.etaMs;
  return snapshot.items.map((item: QueueItem) => {
    const phase: QueuePhase = item.phase;
    const fraction: number = item.progress.fraction;
    const code: string | undefined = item.error?.code;
    return `${item.id} ${phase} ${fraction} ${code ?? ''} ${done} ${waiting} ${eta}`;
  });
}

export function bar(handle: UploadHandle | null): number {
  const progress: UploadProgress | null = useUpload(handle);
  // @ts-expect-error the progress may be null while there is no handle
  const unchecked: number = useUpload(handle).fraction;
  return (progress?.fraction ?? 0) + unchecked;
}

// @ts-expect-error a handle is not a queue
export const wrong = (handle: UploadHandle) => useUploadQueue(handle);
