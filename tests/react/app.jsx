// A small React 19 app on the package's React bindings, as an app would write it: a queue list
// (useUploadQueue) and a single upload (useUpload). tests/react/react.test.mjs bundles it with
// esbuild and drives it in headless Chromium. Every render is counted, so the test can tell a
// render that follows a change from one that does not.
import { memo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import init, { UploadQueue, Uploader } from 'twelvelabs-edge-upload';
import { useUpload, useUploadQueue } from 'twelvelabs-edge-upload/react';

const renders = { app: 0, rows: {}, single: 0, redundantApp: 0, redundantRows: 0 };
window.renders = renders;

let lastSnapshot = null;
const lastItems = new Map();

/** One row per queue item; memo: it renders again only when its item object changes. */
const Row = memo(function Row({ item, queue }) {
  renders.rows[item.id] = (renders.rows[item.id] ?? 0) + 1;
  if (lastItems.get(item.id) === item) renders.redundantRows += 1;
  lastItems.set(item.id, item);
  const p = item.progress;
  return (
    <li
      data-id={item.id}
      data-filename={item.filename}
      data-phase={item.phase}
      data-total-bytes={p.totalBytes}
      data-acknowledged-bytes={p.acknowledgedBytes}
      data-error-code={item.error ? item.error.code : ''}
      data-asset-id={item.assetId ?? ''}
    >
      {item.filename}: {item.phase}, {Math.round(p.fraction * 100)} %
      <button className="pause" onClick={() => queue.pause(item.id)}>Pause</button>
      <button className="resume" onClick={() => queue.resume(item.id)}>Resume</button>
      <button className="cancel" onClick={() => queue.cancel(item.id)}>Cancel</button>
    </li>
  );
});

function Single({ uploader }) {
  const [handle, setHandle] = useState(null);
  const progress = useUpload(handle);
  renders.single += 1;
  return (
    <section>
      <input
        id="single-file"
        type="file"
        onChange={(event) => {
          const next = uploader.upload(event.target.files[0]);
          window.singleHandle = next;
          setHandle(next);
        }}
      />
      <p
        id="single-progress"
        data-phase={progress ? progress.phase : 'none'}
        data-acknowledged-bytes={progress ? progress.acknowledgedBytes : ''}
        data-total-bytes={progress ? progress.totalBytes : ''}
      >
        {progress ? `${progress.phase} ${Math.round(progress.fraction * 100)} %` : 'no upload'}
      </p>
    </section>
  );
}

function App({ uploader, queue }) {
  const snapshot = useUploadQueue(queue);
  renders.app += 1;
  if (snapshot === lastSnapshot) renders.redundantApp += 1;
  lastSnapshot = snapshot;
  const { totals } = snapshot;
  return (
    <main>
      <input
        id="queue-files"
        type="file"
        multiple
        onChange={(event) => {
          queue.add(event.target.files);
          event.target.value = '';
        }}
      />
      <p
        id="totals"
        data-total-bytes={totals.totalBytes}
        data-acknowledged-bytes={totals.acknowledgedBytes}
        data-counts={JSON.stringify(totals.counts)}
      >
        {Math.round(totals.fraction * 100)} %
      </p>
      <ul id="items">
        {snapshot.items.map((item) => (
          <Row key={item.id} item={item} queue={queue} />
        ))}
      </ul>
      <Single uploader={uploader} />
    </main>
  );
}

/** The rendered rows and totals, and the queue's own snapshot in the same shape. */
function compare(queue) {
  const rows = [...document.querySelectorAll('#items li')].map((li) => ({
    id: li.dataset.id,
    filename: li.dataset.filename,
    phase: li.dataset.phase,
    totalBytes: Number(li.dataset.totalBytes),
    acknowledgedBytes: Number(li.dataset.acknowledgedBytes),
    errorCode: li.dataset.errorCode,
    assetId: li.dataset.assetId,
  }));
  const totalsEl = document.querySelector('#totals');
  const dom = {
    rows,
    totals: {
      totalBytes: Number(totalsEl.dataset.totalBytes),
      acknowledgedBytes: Number(totalsEl.dataset.acknowledgedBytes),
      counts: JSON.parse(totalsEl.dataset.counts),
    },
  };
  const snapshot = queue.getSnapshot();
  const state = {
    rows: snapshot.items.map((item) => ({
      id: item.id,
      filename: item.filename,
      phase: item.phase,
      totalBytes: item.progress.totalBytes,
      acknowledgedBytes: item.progress.acknowledgedBytes,
      errorCode: item.error ? item.error.code : '',
      assetId: item.assetId ?? '',
    })),
    totals: {
      totalBytes: snapshot.totals.totalBytes,
      acknowledgedBytes: snapshot.totals.acknowledgedBytes,
      counts: { ...snapshot.totals.counts },
    },
  };
  return { dom, state };
}

async function main() {
  const config = await (await fetch('/demo-config.json')).json();
  await init({ module_or_path: '/pkg/twelvelabs_edge_upload_bg.wasm' });
  const getToken = async () => {
    const res = await fetch(`${config.workerUrl}/dev/grant`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'react-test-user' }),
    });
    if (!res.ok) throw new Error(`grant route answered ${res.status}`);
    return (await res.json()).grant;
  };
  const uploader = new Uploader({ endpoint: config.workerUrl, getToken, concurrency: 2, persist: false });
  const queue = new UploadQueue(uploader);
  window.queue = queue;
  window.compareQueue = () => compare(queue);
  createRoot(document.getElementById('root')).render(<App uploader={uploader} queue={queue} />);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  document.body.dataset.error = String(error && error.stack ? error.stack : error);
});
