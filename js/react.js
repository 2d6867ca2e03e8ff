// React bindings: `twelvelabs-edge-upload/react`. Plain JS with no state of its own: the queue and
// the handle own their snapshots (immutable, the same object while nothing changed), which is
// exactly the store contract `useSyncExternalStore` needs. `react` is a peer dependency.
import { useCallback, useSyncExternalStore } from 'react';

/**
 * The queue's current snapshot; the component re-renders when, and only when, it changes.
 * @param {import('./twelvelabs_edge_upload.js').UploadQueue} queue
 */
export function useUploadQueue(queue) {
  const subscribe = useCallback((onChange) => queue.subscribe(onChange), [queue]);
  const getSnapshot = useCallback(() => queue.getSnapshot(), [queue]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

/**
 * The handle's current progress, or `null` while there is no handle.
 * @param {import('./twelvelabs_edge_upload.js').UploadHandle | null | undefined} handle
 */
export function useUpload(handle) {
  const subscribe = useCallback(
    (onChange) => (handle ? handle.subscribe(onChange) : () => {}),
    [handle],
  );
  const getSnapshot = useCallback(() => (handle ? handle.getSnapshot() : null), [handle]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}
