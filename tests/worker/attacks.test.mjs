// Attacks by users who hold valid grants (issue 14), over raw HTTP against the Worker in workerd
// and the real emulator. Each class has several variants, as an attacker would try them; every
// refusal is proved through the emulator's `/_emulator/stats` to have reached upstream zero
// times, and to have been answered with exactly one log line and no uncaught exception.
//
// One emulator and one Worker serve the file; the tests run in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getJson } from '../support/harness.mjs';
import { callWorker, logSince, quietOutputEnd, resetEmulatorStats, signToken, upstreamCalls } from '../support/worker.mjs';
import { emulatorAndWorker } from '../support/worker-stack.mjs';

const ORIGIN = 'http://127.0.0.1:5173';
let emulator;
let worker;
const stack = emulatorAndWorker({
  ready: (started) => ({ emulator, worker } = started),
  // `record`: `method=url` sources are accepted without being fetched, so a URL that gets
  // through is visible as a created asset and a counted request, never as a real fetch.
  emulatorArgs: ['--url-mode', 'record', '--processing-ms', '20'],
  vars: { ALLOWED_ORIGINS: ORIGIN, UPSTREAM_TIMEOUT_MS: '3000' },
});
const { grantSecret: GRANT_SECRET } = stack;

const now = () => Math.floor(Date.now() / 1000);
/** A grant as an application's backend mints it. */
const grant = (claims = {}) => signToken({ sub: 'user-1', exp: now() + 600, ...claims }, GRANT_SECRET);

const call = (urlPath, options) => callWorker(worker.url, urlPath, options);
const resetStats = () => resetEmulatorStats(emulator);

/**
 * Runs `attempt` (which must be refused) and checks that no request reached the API and that
 * the Worker logged exactly one line for it and no uncaught exception.
 */
async function refusedBeforeUpstream(label, attempt, check) {
  await resetStats();
  const logFrom = await quietOutputEnd(worker);
  const res = await attempt();
  check(res);
  assert.deepEqual(await upstreamCalls(emulator), {}, `${label}: nothing may reach upstream`);
  const log = await logSince(worker, logFrom);
  assert.ok(!/Uncaught/i.test(log), `${label}: an uncaught exception was logged:\n${log}`);
  const lines = log.split('\n').filter((l) => l.startsWith('{"code":'));
  assert.equal(lines.length, 1, `${label}: exactly one log line:\n${log}`);
  return res;
}

const urlForm = (url, extra = {}) => {
  const form = new FormData();
  form.append('method', 'url');
  form.append('url', url);
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  return form;
};

// ── 1. SSRF past the URL-upload filter ──

/** Hosts the URL standard reads as refused addresses, in every spelling a parser accepts. */
const SSRF_URLS = [
  'https://127.0.0.0x1/a.mp4',
  'https://0x7f.0.0.1/a.mp4',
  'https://0x7f000001/a.mp4',
  'https://0177.0.0.1/a.mp4',
  'https://2130706433/a.mp4',
  'https://127.1/a.mp4',
  'https://127.0.0.1./a.mp4',
  'https://%31%32%37.0.0.1/a.mp4',
  'https://169.254.169.0xfe/latest/meta-data',
  'https://0xa9fea9fe/latest/meta-data',
  'https://169.254.43518/a.mp4',
  'https://012.0.0.1/a.mp4',
  'https://0xc0.0xa8.1.1/a.mp4',
  'https://100.64.0.1/a.mp4',
  'https://0/a.mp4',
  'https://224.0.0.1/a.mp4',
  'https://255.255.255.255/a.mp4',
  'https://[::1]/a.mp4',
  'https://[0:0:0:0:0:0:0:1]/a.mp4',
  'https://[::ffff:127.0.0.1]/a.mp4',
  'https://[::ffff:a9fe:a9fe]/a.mp4',
  'https://[::127.0.0.1]/a.mp4',
  'https://[fd00::1]/a.mp4',
  'https://[fe80::1]/a.mp4',
  'https://[ff02::1]/a.mp4',
  'https://localhost./a.mp4',
  'https://LocalHost/a.mp4',
  'https://api.localhost/a.mp4',
  'https://%6c%6f%63%61%6c%68%6f%73%74/a.mp4',
  'https://intranet/a.mp4',
  'https://intranet./a.mp4',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://user:pw@media.example.com/a.mp4',
  'https://user@media.example.com/a.mp4',
  'http://media.example.com/a.mp4',
  'HTTP://media.example.com/a.mp4',
  'ftp://media.example.com/a.mp4',
];

test('1. SSRF: every spelling of a loopback, private, link-local or local host is refused before upstream', async () => {
  const token = grant();
  for (const url of SSRF_URLS) {
    await refusedBeforeUpstream(url, () => call('/v1.3/assets', { method: 'POST', token, body: urlForm(url) }), (res) => {
      assert.equal(res.status, 400, `${url}: ${res.text}`);
      assert.equal(res.json.code, 'invalid_input', url);
      assert.match(res.json.message, /`url`/, url);
    });
  }
});

test('1. SSRF: a public https URL still goes through', async () => {
  await resetStats();
  const res = await call('/v1.3/assets', { method: 'POST', token: grant(), body: urlForm('https://Media.Example.COM/clips/talk.mp4') });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual(await upstreamCalls(emulator), { 'POST /v1.3/assets': 1 });
});

// ── 2. URL uploads must not escape the grant's limits ──

test('2. a grant that narrows size or types cannot upload by URL unless it says url_uploads: true', async () => {
  const url = 'https://media.example.com/big.mp4';
  for (const claims of [
    { max_bytes: 1000 },
    { types: ['audio'] },
    { types: ['image'] },
    { types: ['video', 'audio', 'image'], max_bytes: 10 },
    { max_bytes: 1000, url_uploads: false },
    { url_uploads: false },
  ]) {
    await refusedBeforeUpstream(JSON.stringify(claims), () => call('/v1.3/assets', { method: 'POST', token: grant(claims), body: urlForm(url) }), (res) => {
      assert.equal(res.status, 403, `${JSON.stringify(claims)}: ${res.text}`);
      assert.equal(res.json.code, 'forbidden');
      assert.match(res.json.message, /url_uploads/);
    });
  }
  // A grant that says so explicitly may, and an unrestricted one on an unrestricted Worker may.
  for (const claims of [{ max_bytes: 1000, url_uploads: true }, { types: ['audio'], url_uploads: true }, {}]) {
    await resetStats();
    const res = await call('/v1.3/assets', { method: 'POST', token: grant(claims), body: urlForm(url) });
    assert.equal(res.status, 201, `${JSON.stringify(claims)}: ${res.text}`);
  }
  // A url_uploads claim that is not a boolean makes the grant malformed.
  await refusedBeforeUpstream('url_uploads: "yes"', () => call('/v1.3/assets', { method: 'POST', token: grant({ url_uploads: 'yes' }), body: urlForm(url) }), (res) => {
    assert.equal(res.status, 401, res.text);
    assert.match(res.json.message, /^token_malformed/);
  });
});

// ── 3. The asset list must not tell one user anything about another's assets ──

/** Reserves an asset through the Worker (a multipart session) and returns its id. */
async function reserveAsset(token, filename, type = 'video') {
  const res = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token, json: { filename, type, total_size: 10 } });
  assert.equal(res.status, 201, res.text);
  return res.json.asset_id;
}

const LIST_QUERIES = [
  '',
  '?page_limit=50',
  '?filename=secret',
  '?filename=secret-plan-a',
  '?filename=zz-victim',
  '?filename=S',
  '?asset_types=video',
  '?asset_types=audio',
  '?page=2&page_limit=1',
  '?page=3&page_limit=1',
];

test('3. a user\'s list answer (data, page_info, paging) depends on their own assets only', async () => {
  const attacker = grant({ sub: 'attacker' });
  const victim = grant({ sub: 'victim' });
  const fresh = grant({ sub: 'nobody-yet' });

  // A user with no assets gets an empty page, and nothing is asked upstream.
  for (const query of LIST_QUERIES) {
    await refusedBeforeUpstream(`empty list ${query}`, () => call(`/v1.3/assets${query}`, { token: fresh }), (res) => {
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.data, []);
      assert.equal(res.json.page_info.total_results, 0, query);
      assert.equal(res.json.page_info.total_page, 0, query);
    });
  }

  const own = [await reserveAsset(attacker, 'holiday.mp4'), await reserveAsset(attacker, 'song.mp3', 'audio')];
  const snapshot = async () => {
    const answers = {};
    for (const query of LIST_QUERIES) {
      const res = await call(`/v1.3/assets${query}`, { token: attacker });
      assert.equal(res.status, 200, `${query}: ${res.text}`);
      answers[query] = { ids: res.json.data.map((a) => a._id), page_info: res.json.page_info };
    }
    return answers;
  };
  const before = await snapshot();
  assert.deepEqual([...before[''].ids].sort(), [...own].sort());
  assert.equal(before[''].page_info.total_results, 2);
  assert.equal(before['?filename=secret'].page_info.total_results, 0);
  assert.equal(before['?page=2&page_limit=1'].ids.length, 1);
  assert.equal(before['?page=2&page_limit=1'].page_info.total_page, 2);
  assert.deepEqual(before['?page=3&page_limit=1'].ids, []);

  // The victim's assets, with names the attacker probes for, change nothing the attacker sees.
  const theirs = [];
  for (const name of ['secret-plan-a.mp4', 'secret-plan-b.mp4', 'zz-victim.mp4', 'Secret.mov']) {
    theirs.push(await reserveAsset(victim, name));
  }
  assert.deepEqual(await snapshot(), before);

  // Naming the victim's ids changes nothing either: they are not the attacker's.
  for (const query of [`?asset_ids=${theirs[0]}`, `?asset_ids=${theirs[0]}&asset_ids=${theirs[1]}`, `?asset_ids=${theirs[0]}&filename=secret`]) {
    const res = await call(`/v1.3/assets${query}`, { token: attacker });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.data, [], query);
    assert.equal(res.json.page_info.total_results, 0, query);
  }
  const mixed = await call(`/v1.3/assets?asset_ids=${theirs[0]}&asset_ids=${own[0]}`, { token: attacker });
  assert.deepEqual(mixed.json.data.map((a) => a._id), [own[0]]);
  assert.equal(mixed.json.page_info.total_results, 1);

  // The victim sees their own; an admin sees everything, upstream's answer unchanged.
  const victimList = await call('/v1.3/assets?filename=secret&page_limit=50', { token: victim });
  assert.equal(victimList.json.page_info.total_results, 3);
  const admin = await call('/v1.3/assets?page_limit=50', { token: grant({ sub: 'ops', scope: 'admin' }) });
  assert.ok(admin.json.page_info.total_results >= own.length + theirs.length);

  // A deleted asset leaves the owner's list.
  const gone = await call(`/v1.3/assets/${own[0]}`, { method: 'DELETE', token: attacker });
  assert.ok([200, 204].includes(gone.status), gone.text);
  const after = await call('/v1.3/assets', { token: attacker });
  assert.deepEqual(after.json.data.map((a) => a._id), [own[1]]);
  assert.equal(after.json.page_info.total_results, 1);
});

// ── Direct uploads, built byte by byte so every header is exactly what an attacker sends ──

const BOUNDARY = 'attack-boundary-7MA4YWxkTrZu0gW';

/**
 * A `POST /assets` multipart body: text `fields`, then a file part with the raw `partHeaders`
 * (Content-Disposition and Content-Type as given) and `content`.
 */
function directBody({ fields = [['method', 'direct']], disposition = 'form-data; name="file"; filename="clip.mp4"', type = 'video/mp4', content = Buffer.alloc(64, 7) }) {
  const parts = fields.map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const typeLine = type === null ? '' : `Content-Type: ${type}\r\n`;
  const head = Buffer.from(`${parts.join('')}--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${typeLine}\r\n`, 'latin1');
  return Buffer.concat([head, content, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
}

const postDirect = (token, options) =>
  call('/v1.3/assets', {
    method: 'POST',
    token,
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: directBody(options),
  });

// ── 4. Media type confusion ──

test('4. a file part whose type does not parse, or disagrees with its name, is refused before upstream', async () => {
  const imagesOnly = grant({ types: ['image'] });
  const videosOnly = grant({ types: ['video'] });
  const cases = [
    [imagesOnly, { type: 'image', disposition: 'form-data; name="file"; filename="clip.mp4"' }],
    [imagesOnly, { type: 'image/png garbage', disposition: 'form-data; name="file"; filename="clip.mp4"' }],
    [imagesOnly, { type: 'Image/Png;;', disposition: 'form-data; name="file"; filename="clip.mp4"' }],
    [imagesOnly, { type: 'image/', disposition: 'form-data; name="file"; filename="a.png"' }],
    [imagesOnly, { type: 'image/png; x="open', disposition: 'form-data; name="file"; filename="a.png"' }],
    [imagesOnly, { type: 'image/png', disposition: 'form-data; name="file"; filename="clip.mp4"' }],
    [imagesOnly, { type: 'IMAGE/PNG', disposition: 'form-data; name="file"; filename="clip.MOV"' }],
    [imagesOnly, { type: 'image/png', fields: [['method', 'direct'], ['filename', 'clip.mp4']], disposition: 'form-data; name="file"; filename="a.png"' }],
    [videosOnly, { type: 'video/mp4', disposition: 'form-data; name="file"; filename="photo.png"' }],
    [videosOnly, { type: 'video/mp4', fields: [['method', 'direct'], ['filename', 'song.mp3']], disposition: 'form-data; name="file"; filename="clip.mp4"' }],
    [grant(), { type: 'audio/mpeg', disposition: 'form-data; name="file"; filename="movie.mkv"' }],
    [grant(), { type: null, disposition: 'form-data; name="file"; filename="clip.mp4"' }],
  ];
  for (const [token, options] of cases) {
    await refusedBeforeUpstream(`${options.type} ${options.disposition}`, () => postDirect(token, options), (res) => {
      assert.equal(res.status, 415, `${options.type}: ${res.text}`);
      assert.equal(res.json.code, 'unsupported_type');
    });
  }
  // Parsed, agreeing, but outside the grant's types: the grant decides (403).
  await refusedBeforeUpstream('video for an image-only grant', () => postDirect(imagesOnly, { type: 'video/mp4' }), (res) => {
    assert.equal(res.status, 403, res.text);
    assert.equal(res.json.code, 'unsupported_type');
  });
});

test('4. a multipart session whose file name disagrees with its type is refused before upstream', async () => {
  const imagesOnly = grant({ types: ['image'] });
  const audioOnly = grant({ types: ['audio'] });
  const session = (token, filename, type) =>
    call('/v1.3/assets/multipart-uploads', {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filename, type, total_size: 3000 }),
    });
  for (const [token, filename, type] of [
    [imagesOnly, 'clip.mp4', 'image'],
    [imagesOnly, 'clip.MOV', 'image'],
    [imagesOnly, 'scan.png.webm', 'image'],
    // Trailing dots and spaces, which stores that drop them would not keep.
    [imagesOnly, 'clip.mp4.', 'image'],
    [imagesOnly, 'clip.mp4 ', 'image'],
    [imagesOnly, 'clip.mp4 . ', 'image'],
    [audioOnly, 'movie.mp4', 'audio'],
    [audioOnly, 'shot.jpg', 'audio'],
    [grant(), 'song.mp3', 'video'],
  ]) {
    await refusedBeforeUpstream(`${filename} as ${type}`, () => session(token, filename, type), (res) => {
      assert.equal(res.status, 415, `${filename}: ${res.text}`);
      assert.equal(res.json.code, 'unsupported_type');
      assert.match(res.json.message, /its name .* says (video|audio|image)/);
    });
  }
  // A name that agrees, or says nothing, is taken.
  for (const [token, filename] of [[imagesOnly, 'scan.png'], [imagesOnly, 'scan'], [imagesOnly, 'notes.bin']]) {
    const res = await session(token, filename, 'image');
    assert.equal(res.status, 201, `${filename}: ${res.text}`);
  }
});

test('a direct upload of exactly the grant\'s max_bytes, or one byte under, is taken; one byte over is refused before upstream', async () => {
  const limited = grant({ max_bytes: 1000 });
  for (const size of [999, 1000]) {
    const res = await postDirect(limited, { content: Buffer.alloc(size, 7) });
    assert.equal(res.status, 201, `${size} bytes: ${res.text}`);
  }
  await refusedBeforeUpstream('1001 bytes', () => postDirect(limited, { content: Buffer.alloc(1001, 7) }), (res) => {
    assert.equal(res.status, 413, res.text);
    assert.equal(res.json.code, 'payload_too_large');
  });
});

test('4. an accepted file part reaches TwelveLabs with the type that was checked', async () => {
  const res = await postDirect(grant({ types: ['image'] }), { type: 'Image/PNG; q="1"', disposition: 'form-data; name="file"; filename="scan.png"' });
  assert.equal(res.status, 201, res.text);
  const stored = await getJson(`${emulator.apiUrl}/assets/${res.json._id}`, { headers: { 'x-api-key': emulator.apiKey } });
  assert.equal(stored.file_type, 'image/png');
  assert.equal(stored.filename, 'scan.png');
});

test('6. a file part\'s quoted filename is read whole: ";" and "=" inside the quotes are part of the name', async () => {
  for (const filename of ['take;2.mp4', 'a=b; c.mp4']) {
    const res = await postDirect(grant(), { type: 'video/mp4', disposition: `form-data; name="file"; filename="${filename}"` });
    assert.equal(res.status, 201, `${filename}: ${res.text}`);
    const stored = await getJson(`${emulator.apiUrl}/assets/${res.json._id}`, { headers: { 'x-api-key': emulator.apiKey } });
    assert.equal(stored.filename, filename);
  }
  // An image-only grant cannot pass a video through a name the old split would have cut.
  await refusedBeforeUpstream('a video named behind a quoted ";"', () =>
    postDirect(grant({ types: ['image'] }), { type: 'image/png', disposition: 'form-data; name="file"; filename="scan;.mp4"' }), (res) => {
    assert.equal(res.status, 415, res.text);
    assert.equal(res.json.code, 'unsupported_type');
  });
  await refusedBeforeUpstream('an unclosed quoted filename', () =>
    postDirect(grant(), { type: 'video/mp4', disposition: 'form-data; name="file"; filename="open.mp4' }), (res) => {
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.code, 'invalid_input');
  });
});

// ── 5. Duplicated query parameters ──

test('5. a repeated scalar query parameter is refused with 400 before upstream', async () => {
  const token = grant();
  const session = await call('/v1.3/assets/multipart-uploads', { method: 'POST', token, json: { filename: 'dup.mp4', type: 'video', total_size: 10 } });
  assert.equal(session.status, 201, session.text);
  const { upload_id: uploadId, upload_token: uploadToken, asset_id: assetId } = session.json;
  const cases = [
    [`/v1.3/assets?page_limit=10&page_limit=51`, token, 'page_limit'],
    [`/v1.3/assets?page_limit=51&page_limit=10`, token, 'page_limit'],
    [`/v1.3/assets?page=1&page=0`, token, 'page'],
    [`/v1.3/assets?page=2&page=2`, token, 'page'],
    [`/v1.3/assets?filename=a&filename=b`, token, 'filename'],
    [`/v1.3/assets?page=1&page=0`, grant({ scope: 'admin' }), 'page'],
    [`/v1.3/assets?page_limit=1&page_limit=50`, grant({ scope: 'admin' }), 'page_limit'],
    [`/v1.3/assets/multipart-uploads/${uploadId}?page=1&page=0`, uploadToken, 'page'],
    [`/v1.3/assets/multipart-uploads/${uploadId}?page_limit=10&page_limit=51`, uploadToken, 'page_limit'],
    [`/v1.3/assets/multipart-uploads/${uploadId}?page=1&page%5F=2&page=3`, uploadToken, null],
    [`/v1.3/assets/multipart-uploads?page=1&page=2`, grant({ scope: 'admin' }), 'page'],
  ];
  for (const [path, bearer, name] of cases) {
    await refusedBeforeUpstream(path, () => call(path, { token: bearer }), (res) => {
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json.code, 'invalid_input');
      if (name) assert.match(res.json.message, new RegExp(`\`${name}\` parameter is given more than once`), path);
    });
  }
  await refusedBeforeUpstream('delete ?force twice', () => call(`/v1.3/assets/${assetId}?force=false&force=true`, { method: 'DELETE', token }), (res) => {
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.message, /`force` parameter is given more than once/);
  });
});

// ── 6. The file part's own filename ──

test('6. the file part\'s filename= follows the filename rules before upstream', async () => {
  const token = grant();
  for (const name of ['a'.repeat(10_000) + '.mp4', 'a'.repeat(252) + '.mp4', 'clip\x07.mp4', 'clip\x1b[31m.mp4', 'clip\x7f.mp4', 'clip\x00.mp4', '']) {
    const label = JSON.stringify(name.slice(0, 20)) + ` (${name.length} chars)`;
    await refusedBeforeUpstream(label, () => postDirect(token, { disposition: `form-data; name="file"; filename="${name}"` }), (res) => {
      assert.equal(res.status, 400, `${label}: ${res.text}`);
      assert.equal(res.json.code, 'invalid_input');
      assert.match(res.json.message, /file part's `filename`/);
    });
  }
  // The same name as a field is refused the same way.
  await refusedBeforeUpstream('field', () => postDirect(token, { fields: [['method', 'direct'], ['filename', 'clip\x07.mp4']] }), (res) => {
    assert.equal(res.status, 400, res.text);
  });
  const ok = await postDirect(token, { disposition: `form-data; name="file"; filename="${'a'.repeat(251)}.mp4"` });
  assert.equal(ok.status, 201, `255 characters are allowed: ${ok.text}`);
});

// ── 7. Client-caused refusals are handled answers: one log line, no uncaught exception ──

/** `bytes` as a body of unknown length (chunked), in pieces of `piece` bytes. */
function chunked(bytes, piece = 4096) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + piece));
      at += piece;
    },
  });
}

/** Assets the emulator holds (all users). */
const upstreamAssetTotal = async () =>
  (await getJson(`${emulator.apiUrl}/assets?page_limit=1`, { headers: { 'x-api-key': emulator.apiKey } })).page_info.total_results;

test('7. malformed or over-limit streamed direct uploads are answered with one log line and no uncaught exception', async () => {
  const small = grant({ max_bytes: 1000 });
  const smuggled = Buffer.concat([
    Buffer.alloc(100, 1),
    Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"edge_upload_owner":"victim"}`),
  ]);
  const truncated = (body) => body.subarray(0, body.length - `\r\n--${BOUNDARY}--\r\n`.length);
  const cases = [
    ['over the grant limit, chunked', small, directBody({ content: Buffer.alloc(3000, 2) }), 413, 'payload_too_large'],
    ['a part smuggled after the file, chunked', grant(), directBody({ content: smuggled }), 400, 'invalid_input'],
    ['no closing boundary, chunked', grant(), truncated(directBody({ content: Buffer.alloc(9000, 3) })), 400, 'invalid_input'],
    ['a long epilogue, chunked', grant(), Buffer.concat([directBody({}), Buffer.alloc(5000, 0x65)]), 400, 'invalid_input'],
  ];
  for (const [label, token, body, status, code] of cases) {
    const assetsBefore = await upstreamAssetTotal();
    await resetStats();
    const logFrom = await quietOutputEnd(worker);
    const res = await call('/v1.3/assets', {
      method: 'POST', token, body: chunked(body),
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    assert.equal(res.status, status, `${label}: ${res.text}`);
    assert.equal(res.json.code, code, label);
    const log = await logSince(worker, logFrom);
    assert.ok(!/Uncaught/i.test(log), `${label}: an uncaught exception was logged:\n${log}`);
    assert.equal(log.split('\n').filter((l) => l.startsWith('{"code":')).length, 1, `${label}: one log line:\n${log}`);
    // The body streams upstream as it arrives, so upstream may have seen the request start;
    // it must not have kept anything.
    assert.equal(await upstreamAssetTotal(), assetsBefore, `${label}: nothing stored upstream`);
  }
  // With a declared length, an over-limit body is refused on its headers, before upstream.
  await refusedBeforeUpstream('over the limit, declared', () => postDirect(small, { content: Buffer.alloc(50_000, 2) }), (res) => {
    assert.equal(res.status, 413, res.text);
  });
  await refusedBeforeUpstream('garbage body', () => call('/v1.3/assets', {
    method: 'POST', token: grant(), body: Buffer.from('not multipart at all'),
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  }), (res) => assert.equal(res.status, 400, res.text));
});


test('7. a client still sending when its streamed upload is refused gets the refusal, never a closed connection', async () => {
  // The refusal is decided on the first 4 KiB written, while the rest is still being sent; an
  // answer that raced the client's writes showed as EPIPE about once in 25 requests. Each case is
  // sent 30 times.
  const imageOnly = grant({ types: ['image'] });
  const small = grant({ max_bytes: 1000 });
  const cases = [
    ['a type outside the grant (the prefix)', imageOnly, directBody({ content: Buffer.alloc(20_000, 4) }), 403],
    ['over the grant limit (the content)', small, directBody({ content: Buffer.alloc(20_000, 5) }), 413],
    ['a long epilogue (the first write)', grant(), Buffer.concat([directBody({}), Buffer.alloc(5000, 0x65)]), 400],
    ['a long epilogue (a later write)', grant(), Buffer.concat([directBody({ content: Buffer.alloc(6000, 6) }), Buffer.alloc(20_000, 0x65)]), 400],
  ];
  const assetsBefore = await upstreamAssetTotal();
  for (let round = 0; round < 30; round++) {
    for (const [label, token, body, status] of cases) {
      const res = await call('/v1.3/assets', {
        method: 'POST', token, body: chunked(body),
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      });
      assert.equal(res.status, status, `${label}, round ${round}: ${res.text}`);
    }
  }
  assert.equal(await upstreamAssetTotal(), assetsBefore, 'nothing stored upstream');
});

// ── Found by a second review (2026-12-06): an ownership oracle, quoted boundaries, epilogues,
// names only a private network resolves ──

test('8. another user\'s asset answers exactly as a missing one: same 404, same body, one upstream GET, no DELETE', async () => {
  const victim = await call('/v1.3/assets/multipart-uploads', {
    method: 'POST', token: grant({ sub: 'victim' }), json: { filename: 'victim-secret.mp4', type: 'video', total_size: 10 },
  });
  assert.equal(victim.status, 201, victim.text);
  const foreignId = victim.json.asset_id;
  const missingId = 'f'.repeat(foreignId.length);
  const attacker = grant({ sub: 'attacker' });
  const variants = [
    ['GET', ''],
    ['DELETE', ''],
    ['DELETE', '?force=true'],
    ['DELETE', '?force=false'],
  ];
  for (const [method, query] of variants) {
    const seen = {};
    for (const [label, id] of [['foreign', foreignId], ['missing', missingId]]) {
      await resetStats();
      const res = await call(`/v1.3/assets/${id}${query}`, { method, token: attacker });
      seen[label] = {
        status: res.status,
        body: res.text.replaceAll(id, '{id}'),
        upstream: await upstreamCalls(emulator),
      };
      assert.equal(res.status, 404, `${method} ${label}${query}: ${res.text}`);
      assert.equal(res.json.code, 'not_found');
      assert.deepEqual(seen[label].upstream, { 'GET /v1.3/assets/{asset_id}': 1 }, `${method} ${label}${query}: only the ownership GET reaches upstream`);
    }
    assert.equal(seen.foreign.body, seen.missing.body, `${method}${query}: the answers must not tell the two apart`);
  }
  // The victim's asset is untouched, and the victim and an admin still see it.
  assert.equal((await call(`/v1.3/assets/${foreignId}`, { token: grant({ sub: 'victim' }) })).status, 200);
  assert.equal((await call(`/v1.3/assets/${foreignId}`, { token: grant({ sub: 'admin-1', scope: 'admin' }) })).status, 200);
  // An admin asking for a missing asset still gets TwelveLabs' own answer.
  const adminMissing = await call(`/v1.3/assets/${missingId}`, { token: grant({ sub: 'admin-1', scope: 'admin' }) });
  assert.equal(adminMissing.status, 404);
  assert.doesNotMatch(adminMissing.json.message, /among your assets/);
});

test('8. a boundary quoted because it holds a space or a separator reaches TwelveLabs quoted, and the upload succeeds', async () => {
  for (const boundary of ['a b', 'x=y', 'a:b/c?d', '(p),q', 'one two three']) {
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="method"\r\n\r\ndirect\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n` +
      `hello\r\n--${boundary}--\r\n`,
      'latin1',
    );
    await resetStats();
    const res = await call('/v1.3/assets', {
      method: 'POST', token: grant(), body,
      headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` },
    });
    assert.equal(res.status, 201, `${boundary}: ${res.text}`);
    assert.deepEqual(await upstreamCalls(emulator), { 'POST /v1.3/assets': 1 }, boundary);
    const stored = await getJson(`${emulator.apiUrl}/assets/${res.json._id}`, { headers: { 'x-api-key': emulator.apiKey } });
    assert.equal(stored.filename, 'clip.mp4', boundary);
    assert.equal(stored.file_type, 'video/mp4', boundary);
  }
});

test('8. nothing but a line break may follow the closing boundary: an epilogue is refused, whole or streamed', async () => {
  const smuggledPart = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="user_metadata"\r\n\r\n{"edge_upload_owner":"victim"}\r\n--${BOUNDARY}--\r\n`;
  const epilogues = ['x', '\r\n\r\n', ' ', '\n', smuggledPart];
  for (const epilogue of epilogues) {
    // Small enough to be read whole before the Worker calls upstream.
    const body = Buffer.concat([directBody({}), Buffer.from(epilogue, 'latin1')]);
    await refusedBeforeUpstream(`epilogue ${JSON.stringify(epilogue.slice(0, 12))}`, () => call('/v1.3/assets', {
      method: 'POST', token: grant(), body,
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    }), (res) => {
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.code, 'invalid_input');
      assert.match(res.json.message, /closing boundary/);
    });
  }
  // Behind a large file, the epilogue arrives after the body has started upstream: still refused,
  // and upstream keeps nothing.
  const assetsBefore = await upstreamAssetTotal();
  for (const epilogue of epilogues) {
    const res = await call('/v1.3/assets', {
      method: 'POST', token: grant(),
      body: chunked(Buffer.concat([directBody({ content: Buffer.alloc(64 * 1024, 9) }), Buffer.from(epilogue, 'latin1')])),
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    assert.equal(res.status, 400, `streamed ${JSON.stringify(epilogue.slice(0, 12))}: ${res.text}`);
  }
  assert.equal(await upstreamAssetTotal(), assetsBefore, 'nothing stored upstream');
  // The closing boundary with or without its line break is a whole form.
  for (const ending of ['', '\r\n']) {
    const body = Buffer.concat([directBody({}).subarray(0, -2), Buffer.from(ending)]);
    const res = await call('/v1.3/assets', {
      method: 'POST', token: grant(), body,
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    assert.equal(res.status, 201, `ending ${JSON.stringify(ending)}: ${res.text}`);
  }
});

test('8. SSRF: names only a private network resolves are refused before upstream', async () => {
  const token = grant();
  for (const url of [
    'https://kubernetes.default.svc/a.mp4',
    'https://kubernetes.default.svc.cluster.local/a.mp4',
    'https://nas.lan/a.mp4',
    'https://NAS.LAN./a.mp4',
    'https://intranet.corp/a.mp4',
    'https://router.home/a.mp4',
    'https://db.private/a.mp4',
    'https://files.intranet/a.mp4',
    'https://x.alt/a.mp4',
  ]) {
    await refusedBeforeUpstream(url, () => call('/v1.3/assets', { method: 'POST', token, body: urlForm(url) }), (res) => {
      assert.equal(res.status, 400, `${url}: ${res.text}`);
      assert.equal(res.json.code, 'invalid_input', url);
      assert.match(res.json.message, /`url`/, url);
    });
  }
});
