// Bench-only reference: what a user would write by hand instead of our Worker, as a plain JS
// Worker. Same routes the bench measures (create a session, mint presigned URLs, list assets),
// same grant check and upload token (HS256 via WebCrypto), same owner tag, same per-owner asset
// index in KV (ASSET_INDEX: one key per asset; a user's list is cut from their own keys), same
// one log line per request. Never shipped: no build or package script reads bench/.
const enc = new TextEncoder();
const dec = new TextDecoder();
const OWNER = 'edge_upload_owner';
const MAX_BATCH = 50;
const SESSION_TTL_S = 24 * 3600;
const SKEW_S = 30;
const TYPES = ['video', 'audio', 'image'];
let keys; // per isolate: the HMAC keys, imported once

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const refuse = (status, code, message) => { throw new HttpError(status, code, message); };
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64 = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const hmacKey = (secret) => crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);

// `maxTtl`: for a grant, the longest life (`exp - now`, seconds) it may claim (MAX_GRANT_TTL_S).
async function verify(request, key, kind, maxTtl = Infinity) {
  const [scheme, token = ''] = (request.headers.get('authorization') || '').split(' ');
  if (scheme.toLowerCase() !== 'bearer' || token.length > 4096) refuse(401, 'unauthorized', 'token_malformed');
  const [h, c, s, extra] = token.split('.');
  let header;
  let claims;
  let signature;
  try {
    [header, claims, signature] = [JSON.parse(dec.decode(unb64(h))), JSON.parse(dec.decode(unb64(c))), unb64(s)];
  } catch {
    refuse(401, 'unauthorized', 'token_malformed');
  }
  if (!header || typeof claims !== 'object' || !claims) refuse(401, 'unauthorized', 'token_malformed');
  if (extra !== undefined || header.alg !== 'HS256') refuse(401, 'unauthorized', 'token_algorithm_unsupported');
  if ((claims.kind ?? 'grant') !== kind) refuse(401, 'unauthorized', 'token_wrong_kind');
  if (!(await crypto.subtle.verify('HMAC', key, signature, enc.encode(`${h}.${c}`)))) refuse(401, 'unauthorized', 'token_signature_invalid');
  const now = Date.now() / 1000;
  if (typeof claims.sub !== 'string' || !claims.sub || claims.sub.length > 256) refuse(401, 'unauthorized', 'token_malformed');
  if (!(now <= claims.exp + SKEW_S) || (claims.nbf !== undefined && now + SKEW_S < claims.nbf)) refuse(401, 'unauthorized', 'token_expired');
  if (claims.exp - now > maxTtl) refuse(401, 'unauthorized', 'token_lifetime_too_long');
  return claims;
}

async function sign(claims, key) {
  const input = `${b64(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })))}.${b64(enc.encode(JSON.stringify(claims)))}`;
  return `${input}.${b64(await crypto.subtle.sign('HMAC', key, enc.encode(input)))}`;
}

async function body(request, allowed) {
  if (!(request.headers.get('content-type') || '').startsWith('application/json')) refuse(415, 'unsupported_type', 'JSON only');
  const text = await request.text();
  if (text.length > 65536) refuse(413, 'payload_too_large', 'JSON bodies are limited to 64 KiB');
  let value;
  try { value = JSON.parse(text); } catch { refuse(400, 'invalid_input', 'not JSON'); }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse(400, 'invalid_input', 'not an object');
  for (const name of Object.keys(value)) if (!allowed.includes(name)) refuse(400, 'invalid_input', `unknown ${name}`);
  return value;
}

const int = (value, min, max, name) => (Number.isSafeInteger(value) && value >= min && value <= max ? value : refuse(400, 'invalid_input', name));

async function upstream(env, method, path, payload) {
  const response = await fetch(`${env.TWELVELABS_BASE_URL}${path}`, {
    method,
    headers: { 'x-api-key': env.TWELVELABS_API_KEY, ...(payload ? { 'content-type': 'application/json' } : {}) },
    body: payload && JSON.stringify(payload),
    redirect: 'manual',
    signal: AbortSignal.timeout(Number(env.UPSTREAM_TIMEOUT_MS) || 30000),
  });
  if (response.status >= 300) {
    const failed = response.status >= 500 || response.status < 400;
    refuse(failed ? 502 : response.status, failed ? 'upstream_unavailable' : 'upstream_refused', await response.text());
  }
  return response.json();
}

async function createSession(request, env) {
  const grant = await verify(request, keys.grant, 'grant', Number(env.MAX_GRANT_TTL_S) || 3600);
  const session = await body(request, ['filename', 'type', 'total_size', 'enable_hls', 'enable_thumbnail', 'user_metadata']);
  if (typeof session.filename !== 'string' || !session.filename || session.filename.length > 255 || /[\u0000-\u001f\u007f/\\]/.test(session.filename)) refuse(400, 'invalid_input', 'filename');
  const allowed = (env.ALLOWED_TYPES || TYPES.join(',')).split(',');
  if (!TYPES.includes(session.type) || !allowed.includes(session.type) || (grant.types && !grant.types.includes(session.type))) refuse(403, 'unsupported_type', 'type');
  int(session.total_size, 1, Number.MAX_SAFE_INTEGER, 'total_size');
  if (session.total_size > Math.min(Number(env.MAX_UPLOAD_BYTES), grant.max_bytes ?? Infinity)) refuse(403, 'payload_too_large', 'total_size');
  const metadata = session.user_metadata ?? {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) refuse(400, 'invalid_input', 'user_metadata');
  session.user_metadata = { ...metadata, [OWNER]: grant.sub };
  const created = await upstream(env, 'POST', '/assets/multipart-uploads', session);
  const now = Math.floor(Date.now() / 1000);
  const exp = Math.min(Math.floor(Date.parse(created.expires_at) / 1000) || Infinity, now + SESSION_TTL_S);
  const { upload_id, asset_id, total_chunks } = created;
  created.upload_token = await sign({ kind: 'upload', sub: grant.sub, upload_id, asset_id, total_size: session.total_size, total_chunks, exp }, keys.token);
  await env.ASSET_INDEX?.put(`${ownerPrefix(grant.sub)}${asset_id}`, '', { metadata: { t: Date.now() } });
  return json(201, created);
}

async function presignedUrls(request, env, uploadId) {
  const token = await verify(request, keys.token, 'upload');
  if (token.upload_id !== uploadId) refuse(403, 'forbidden', 'another upload');
  const batch = await body(request, ['start', 'count']);
  const start = int(batch.start, 1, token.total_chunks, 'start');
  int(batch.count, 1, Math.min(MAX_BATCH, token.total_chunks - start + 1), 'count');
  return json(200, await upstream(env, 'POST', `/assets/multipart-uploads/${uploadId}/presigned-urls`, { start, count: batch.count }));
}

const ownerPrefix = (sub) => `owner/${enc.encode(sub).length}/${sub}/`;

async function listAssets(request, env, url) {
  const grant = await verify(request, keys.grant, 'grant', Number(env.MAX_GRANT_TTL_S) || 3600);
  const query = new URLSearchParams();
  for (const [name, value] of url.searchParams) {
    if (!['page', 'page_limit', 'asset_ids', 'asset_types', 'filename'].includes(name)) refuse(400, 'invalid_input', `unknown ${name}`);
    if (['page', 'page_limit', 'filename'].includes(name) && query.has(name)) refuse(400, 'invalid_input', `repeated ${name}`);
    if (name === 'page' || name === 'page_limit') int(Number(value), 1, name === 'page' ? 1e9 : 50, name);
    query.append(name, value);
  }
  if (grant.scope === 'admin') return json(200, await upstream(env, 'GET', `/assets?${query}`));
  // The caller's own assets, newest first, from the index: nothing about anyone else's.
  const prefix = ownerPrefix(grant.sub);
  const owned = [];
  for (let cursor; ;) {
    const listed = await env.ASSET_INDEX.list({ prefix, cursor });
    for (const { name, metadata } of listed.keys) owned.push([name.slice(prefix.length), metadata?.t ?? 0]);
    if (listed.list_complete) break;
    cursor = listed.cursor;
  }
  owned.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1));
  const wanted = query.getAll('asset_ids');
  const ids = owned.map(([id]) => id).filter((id) => !wanted.length || wanted.includes(id));
  const [page, limit] = [Number(query.get('page') ?? 1), Number(query.get('page_limit') ?? 10)];
  const pageInfo = (total) => ({ limit_per_page: limit, page, total_page: Math.ceil(total / limit), total_results: total });
  if (!ids.length) return json(200, { data: [], page_info: pageInfo(0) });
  const ask = new URLSearchParams();
  let info;
  if (query.has('asset_types') || query.has('filename')) {
    // Upstream must filter: ask with the owner's newest 200 ids, keep its paging.
    for (const name of ['page', 'page_limit', 'asset_types', 'filename']) for (const v of query.getAll(name)) ask.append(name, v);
    for (const id of ids.slice(0, 200)) ask.append('asset_ids', id);
  } else {
    const slice = ids.slice((page - 1) * limit, page * limit);
    if (!slice.length) return json(200, { data: [], page_info: pageInfo(ids.length) });
    info = pageInfo(ids.length);
    ask.append('page', '1');
    ask.append('page_limit', '50');
    for (const id of slice) ask.append('asset_ids', id);
  }
  const answer = await upstream(env, 'GET', `/assets?${ask}`);
  answer.data = answer.data.filter((asset) => asset.user_metadata?.[OWNER] === grant.sub);
  if (info) answer.page_info = info;
  return json(200, answer);
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const parts = url.pathname.split('/');
    let route = 'unknown';
    let response;
    try {
      keys ??= { grant: await hmacKey(env.GRANT_SECRET), token: await hmacKey(env.TOKEN_SECRET) };
      if (url.pathname === '/healthz') [route, response] = ['healthz', json(200, { status: 'ok' })];
      else if (url.pathname === '/v1.3/assets/multipart-uploads' && request.method === 'POST') [route, response] = ['create_upload', await createSession(request, env)];
      else if (url.pathname.startsWith('/v1.3/assets/multipart-uploads/') && parts.length === 6 && parts[5] === 'presigned-urls' && /^[\w-]{1,64}$/.test(parts[4]) && request.method === 'POST') [route, response] = ['presigned_urls', await presignedUrls(request, env, parts[4])];
      else if (url.pathname === '/v1.3/assets' && request.method === 'GET') [route, response] = ['list_assets', await listAssets(request, env, url)];
      else refuse(404, 'not_found', 'No such route.');
    } catch (error) {
      response = error instanceof HttpError ? json(error.status, { code: error.code, message: error.message }) : json(502, { code: 'upstream_unavailable', message: 'upstream failed' });
    }
    console.log(JSON.stringify({ route, method: request.method, status: response.status, duration_ms: Date.now() - started }));
    return response;
  },
};
