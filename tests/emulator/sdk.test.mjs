// Wire compatibility of the emulator with a real client of the TwelveLabs API: the official
// Node SDK `twelvelabs-js` (generated Fern client + its hand-written `uploadFile` helper).
// If the SDK's schema validation, pagination or upload helper trips over an answer, so would
// applications written against the real API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { TwelvelabsApiClient, TwelvelabsApi, TwelvelabsApiError, MultipartUploadWrapper } from 'twelvelabs-js';

import { startEmulator, getJson } from '../support/harness.mjs';

const MIB = 1024 * 1024;
let emulator;
let client;
let tempDir;

before(async () => {
  // Two initial URLs, so that uploadFile must call getAdditionalPresignedUrls.
  emulator = await startEmulator({ args: ['--processing-ms', '0', '--initial-urls', '2'] });
  client = new TwelvelabsApiClient({ apiKey: emulator.apiKey, baseUrl: emulator.apiUrl });
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'emulator-sdk-'));
});

after(async () => {
  await emulator?.stop();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function collect(pageOrPromise) {
  const items = [];
  for await (const item of await pageOrPromise) items.push(item);
  return items;
}

test('uploadFile (the SDK helper) completes a 3-chunk upload with the emulator defaults', async () => {
  const bytes = randomBytes(11 * MIB + 4321);
  const file = path.join(tempDir, 'helper.mp4');
  writeFileSync(file, bytes);
  const uploader = new MultipartUploadWrapper({ apiKey: emulator.apiKey, baseUrl: emulator.apiUrl });
  const progress = [];
  const result = await uploader.uploadFile(file, {
    filename: 'helper.mp4',
    progressCallback: (p) => progress.push(p.completedChunks),
  });
  assert.match(result.assetId, /^[0-9a-f]{24}$/);
  assert.ok(result.assetUrl.endsWith(`/_emulator/assets/${result.assetId}/file`), result.assetUrl);
  assert.deepEqual(progress.at(-1), 3);

  const digest = await getJson(`${emulator.url}/_emulator/assets/${result.assetId}/sha256`);
  assert.equal(digest.sha256, sha256(bytes));
  const stats = await getJson(`${emulator.url}/_emulator/stats`);
  assert.ok(stats.requests['POST /v1.3/assets/multipart-uploads/{upload_id}/presigned-urls'] >= 1);

  const asset = await client.assets.retrieve(result.assetId);
  assert.equal(asset.id, result.assetId);
  assert.equal(asset.method, 'multipart');
  assert.equal(asset.status, 'ready');
  assert.equal(asset.size, bytes.length);
});

test('generated multipart client: create, presigned URLs, report, status pages, incomplete list', async () => {
  const bytes = randomBytes(6 * MIB);
  const session = await client.multipartUpload.create({
    filename: 'manual.mp4',
    type: 'video',
    totalSize: bytes.length,
    enableThumbnail: true,
    userMetadata: { team: 'edge', take: 2 },
  });
  assert.equal(session.chunkSize, 5 * MIB);
  assert.equal(session.totalChunks, 2);
  assert.ok(session.expiresAt instanceof Date, 'expires_at parses as a date');
  assert.deepEqual(session.uploadUrls.map((u) => u.chunkIndex), [1, 2]);
  assert.equal(session.uploadHeaders['Content-Type'], 'application/octet-stream');

  const incomplete = await collect(client.multipartUpload.listIncompleteUploads({ pageLimit: 1 }));
  assert.ok(incomplete.some((s) => s.uploadId === session.uploadId && s.status === 'active'));

  const more = await client.multipartUpload.getAdditionalPresignedUrls(session.uploadId, { start: 2, count: 1 });
  assert.equal(more.startIndex, 2);
  assert.equal(more.uploadUrls[0].chunkIndex, 2);
  assert.ok(more.generatedAt instanceof Date);

  const parts = [bytes.subarray(0, 5 * MIB), bytes.subarray(5 * MIB)];
  const urls = [session.uploadUrls[0].url, more.uploadUrls[0].url];
  const etags = [];
  for (const [i, part] of parts.entries()) {
    const response = await fetch(urls[i], { method: 'PUT', body: part, headers: session.uploadHeaders });
    assert.equal(response.status, 200);
    etags.push(response.headers.get('etag').replaceAll('"', ''));
  }
  const first = await client.multipartUpload.reportChunkBatch(session.uploadId, {
    completedChunks: [{ chunkIndex: 2, proof: etags[1], proofType: 'etag', chunkSize: parts[1].length }],
  });
  assert.deepEqual(
    [first.processedChunks, first.duplicateChunks, first.totalCompleted, first.url],
    [1, 0, 1, undefined],
  );

  // Status pages list every chunk (pending too), and the SDK pager stops on the empty page.
  const chunks = await collect(client.multipartUpload.getStatus(session.uploadId, { pageLimit: 1 }));
  assert.deepEqual(chunks.map((c) => [c.index, c.status]), [[1, 'pending'], [2, 'completed']]);
  assert.ok(chunks[1].uploadedAt instanceof Date);

  const done = await client.multipartUpload.reportChunkBatch(session.uploadId, {
    completedChunks: [
      { chunkIndex: 1, proof: etags[0], proofType: 'etag', chunkSize: parts[0].length },
      { chunkIndex: 2, proof: etags[1], proofType: 'etag', chunkSize: parts[1].length },
    ],
  });
  assert.deepEqual([done.processedChunks, done.duplicateChunks, done.totalCompleted], [1, 1, 2]);
  assert.equal(done.assetId, session.assetId);
  assert.ok(done.url);

  const waited = await new MultipartUploadWrapper({ apiKey: emulator.apiKey, baseUrl: emulator.apiUrl })
    .waitForUploadCompletion(session.uploadId, { sleepInterval: 0.05 });
  assert.equal(waited.completedChunks, 2);

  // Completion only means the platform has every part; the asset is assembled and processed
  // afterwards (`processing` → `ready`), so poll it as a real client must.
  let asset = await client.assets.retrieve(session.assetId);
  for (let polls = 0; asset.status === 'processing' && polls < 200; polls += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    asset = await client.assets.retrieve(session.assetId);
  }
  assert.equal(asset.status, 'ready');
  assert.equal(asset.thumbnail.status, 'ready');
  assert.deepEqual(asset.userMetadata, { team: 'edge', take: 2 });
  const digest = await getJson(`${emulator.url}/_emulator/assets/${session.assetId}/sha256`);
  assert.equal(digest.sha256, sha256(bytes));
});

test('generated assets client: direct create, list with repeated-key filters, delete with force', async () => {
  const file = path.join(tempDir, 'photo.png');
  writeFileSync(file, randomBytes(2048));
  const image = await client.assets.create({
    method: 'direct',
    file: createReadStream(file),
    filename: 'photo.png',
    enableThumbnail: true,
    userMetadata: JSON.stringify({ album: 'a' }),
  });
  assert.equal(image.method, 'direct');
  assert.equal(image.fileType, 'image/png');
  const video = await client.assets.create({
    method: 'direct',
    file: new Blob([randomBytes(4096)], { type: 'video/mp4' }),
    filename: 'clip.mp4',
  });

  const filtered = await collect(client.assets.list({ assetIds: [image.id, video.id], pageLimit: 1 }));
  assert.deepEqual(filtered.map((a) => a.id), [video.id, image.id], 'newest first, across pages');
  const images = await collect(client.assets.list({ assetTypes: ['image'], filename: 'PHOTO' }));
  assert.ok(images.every((a) => a.fileType.startsWith('image/')));
  assert.ok(images.some((a) => a.id === image.id));

  await fetch(`${emulator.url}/_emulator/assets/${image.id}/reference`, { method: 'POST' });
  await assert.rejects(client.assets.delete(image.id), (error) => {
    assert.ok(error instanceof TwelvelabsApi.ConflictError, String(error));
    assert.equal(error.body.code, 'asset_in_use');
    return true;
  });
  await client.assets.delete(image.id, { force: true });
  await assert.rejects(client.assets.retrieve(image.id), (error) => {
    assert.ok(error instanceof TwelvelabsApiError);
    assert.equal(error.statusCode, 404);
    assert.equal(error.body.code, 'resource_not_exist');
    return true;
  });
});

test('errors reach the SDK as typed errors with the documented body', async () => {
  await assert.rejects(
    client.multipartUpload.create({ filename: 'x.mp4', type: 'video', totalSize: 0 }),
    (error) => {
      assert.ok(error instanceof TwelvelabsApi.BadRequestError, String(error));
      assert.equal(error.body.code, 'parameter_invalid');
      assert.match(error.body.message, /`total_size`/);
      return true;
    },
  );
  const stranger = new TwelvelabsApiClient({ apiKey: 'wrong', baseUrl: emulator.apiUrl });
  await assert.rejects(stranger.assets.retrieve('0'.repeat(24)), (error) => {
    assert.equal(error.statusCode, 401);
    assert.equal(error.body.code, 'api_key_invalid');
    return true;
  });
});
