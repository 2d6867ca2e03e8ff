// A Workers KV namespace for workerd run from a capnp config (bench/lib/workerd.mjs), which has
// no KV of its own: an in-memory store in this Node process, speaking the HTTP protocol workerd's
// KV binding uses towards the service it is bound to (the one Miniflare's KV namespace object
// serves): GET/PUT/DELETE /<key> (`urlencoded=true`), metadata in `CF-KV-Metadata`, and
// GET /?prefix=&key_count_limit=&cursor= for a list, answering `{keys, list_complete, cursor}`.
// Like KV on Cloudflare, it runs outside the Worker's process, so the CPU per request measured
// for workerd is the Worker's alone. No expirations (nothing in the bench sets one).
import http from 'node:http';

/** Most keys one list answers (KV's own limit). */
const MAX_LIST_KEYS = 1000;

/**
 * Starts the store on a free loopback port. Resolves to `{address, entries, stop()}`; `address`
 * is `127.0.0.1:<port>` and `entries` the live `Map` of key → `{value, metadata}`.
 */
export async function startKvServer() {
  const entries = new Map();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://kv');
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const reply = (status, body = '', headers = {}) => res.writeHead(status, headers).end(body);
    if (url.pathname === '/' && req.method === 'GET') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Math.min(Number(url.searchParams.get('key_count_limit')) || MAX_LIST_KEYS, MAX_LIST_KEYS);
      const after = url.searchParams.get('cursor') ?? '';
      const names = [...entries.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
      const page = names.slice(0, limit);
      const keys = page.map((name) => {
        const { metadata } = entries.get(name);
        // workerd expects each key's metadata as a JSON-serialised string.
        return metadata === undefined ? { name } : { name, metadata: JSON.stringify(metadata) };
      });
      const complete = page.length === names.length;
      reply(200, JSON.stringify(complete ? { keys, list_complete: true } : { keys, list_complete: false, cursor: page.at(-1) }),
        { 'content-type': 'application/json' });
      return;
    }
    const raw = url.pathname.slice(1);
    const key = url.searchParams.get('urlencoded') === 'true' ? decodeURIComponent(raw) : raw;
    if (req.method === 'PUT') {
      const metadata = req.headers['cf-kv-metadata'];
      entries.set(key, { value: Buffer.concat(chunks), metadata: metadata === undefined ? undefined : JSON.parse(metadata) });
      reply(200);
    } else if (req.method === 'DELETE') {
      entries.delete(key);
      reply(200);
    } else if (req.method === 'GET') {
      const entry = entries.get(key);
      if (!entry) reply(404, 'Not Found');
      else reply(200, entry.value, entry.metadata === undefined ? {} : { 'CF-KV-Metadata': JSON.stringify(entry.metadata) });
    } else {
      reply(405);
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${server.address().port}`,
    entries,
    stop: () => new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    }),
  };
}
