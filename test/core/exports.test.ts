import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyBundle } from '../../core/case-export.ts';
import { ManualClock } from '../../core/clock.ts';
import { judgeOverdue, requestedDeadline } from '../../core/export-deadline.ts';
import { exportKey, newExportId, runExport, type ExportJob, type ExportStatus } from '../../core/exports.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryExportStatusStore } from '../../core/memory-exports.ts';
import { MIN_PART_SIZE, MultipartWriter } from '../../core/multipart-writer.ts';
import type { AuditEvent } from '../../core/audit-trail.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// The console's asynchronous case export: the bundle streamed into a multipart upload under
// exports/, audited, and marked done only once the upload is complete; a failure aborts it.

const NOW = new Date('2026-04-02T09:30:00Z');

async function setup(sizes = [3000, 1001]) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const f = buildPack('site-a', sizes.map((n, i) => ({ path: `b/call-${i}.wav`, body: audio(i + 1, n) })));
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const statuses = new MemoryExportStatusStore();
  const events: AuditEvent[] = [];
  const exportId = newExportId(NOW, () => '0badcafe');
  const job: ExportJob = { site: 'site-a', exportId, rids: f.manifest.members.map((m) => m.rid), caseId: 'C-17', reason: 'court order 118', principal: 'alice', at: NOW.toISOString() };
  const running: ExportStatus = { site: 'site-a', exportId, state: 'running', requestedBy: 'alice', requestedAt: NOW.toISOString(), caseId: 'C-17', reason: 'court order 118', calls: job.rids.length, key: exportKey('site-a', exportId), bytes: 0, deadline: requestedDeadline(NOW, 900) };
  await statuses.create(running);
  const deps = { blobs, catalogue, store: blobs, statuses, clock, audit: async (e: AuditEvent) => void events.push(e) };
  return { blobs, catalogue, statuses, events, job, running, deps, f };
}

async function objectBytes(blobs: MemoryBlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of (await blobs.get(key)).body as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function uploads(blobs: MemoryBlobStore): Promise<unknown[]> {
  const found: unknown[] = [];
  for await (const u of blobs.listMultipart('exports/')) found.push(u);
  return found;
}

describe('console case export', () => {
  it('names exports exp-{stamp}-{8 hex} and keeps them under exports/{site}/', () => {
    expect(newExportId(NOW, () => '0badcafe')).toBe('exp-20260402T093000Z-0badcafe');
    expect(exportKey('site-a', 'exp-20260402T093000Z-0badcafe')).toBe('exports/site-a/exp-20260402T093000Z-0badcafe.tar');
  });

  it('writes the bundle under exports/, audits export with its SHA-256, then marks the record done; the bundle verifies', async () => {
    const s = await setup();
    const done = await runExport(s.deps, s.job, s.running);
    const bytes = await objectBytes(s.blobs, s.running.key);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(done).toMatchObject({ state: 'done', bytes: bytes.length, sha256, root: 'case-site-a-C-17-20260402T093000Z', calls: 2 });
    expect(await s.statuses.get('site-a', s.job.exportId)).toEqual(done);
    expect(await verifyBundle(async (p, l) => bytes.subarray(p, p + l), bytes.length)).toMatchObject({ ok: true, root: 'case-site-a-C-17-20260402T093000Z', problems: [] });
    expect(s.events).toEqual([
      { at: NOW.toISOString(), action: 'export', site: 'site-a', principal: 'alice', detail: { case: 'C-17', exportId: s.job.exportId, reason: 'court order 118', bundle: 'case-site-a-C-17-20260402T093000Z.tar', sha256, bytes: bytes.length, rids: s.job.rids } },
    ]);
  });

  it('marks the record failed, aborts the upload and writes no object when a recording does not match its SHA-256', async () => {
    const s = await setup([6 * 1024 * 1024, 1000]);
    const entry = (await s.catalogue.getRecording('site-a', s.job.rids[1]!))!;
    await s.catalogue.putRecordings([{ ...entry, sha256: '0'.repeat(64) }]);
    const failed = await runExport({ ...s.deps, partSize: MIN_PART_SIZE }, s.job, s.running);
    expect(failed).toMatchObject({ state: 'failed', error: expect.stringContaining('SHA-256') });
    expect(failed.sha256).toBeUndefined();
    expect(await s.blobs.head(s.running.key)).toBeUndefined();
    expect(await uploads(s.blobs)).toEqual([]);
    expect(s.events).toEqual([]);
  });

  it('streams a bundle larger than one part in parts of the part size, never the whole bundle at once', async () => {
    const s = await setup([MIN_PART_SIZE + 1000, 1000]);
    const parts: number[] = [];
    const store = { ...s.blobs, features: s.blobs.features, createMultipart: s.blobs.createMultipart.bind(s.blobs), completeMultipart: s.blobs.completeMultipart.bind(s.blobs), abortMultipart: s.blobs.abortMultipart.bind(s.blobs), uploadPart: (...a: Parameters<MemoryBlobStore['uploadPart']>) => (parts.push(a[3].byteLength), s.blobs.uploadPart(...a)) };
    const done = await runExport({ ...s.deps, store, partSize: MIN_PART_SIZE }, s.job, s.running);
    expect(done.state).toBe('done');
    expect(parts.length).toBe(2);
    expect(parts[0]).toBe(MIN_PART_SIZE);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(done.bytes);
  });

  it('aborts and publishes nothing when the record was judged failed while the bundle was written; the record stays failed', async () => {
    const s = await setup([MIN_PART_SIZE + 1000, 1000]);
    const judged = judgeOverdue(s.running, new Date(NOW.getTime() + 23 * 60_000))!;
    // The console judges the record while the export streams: the store's first part triggers it.
    const store = { ...s.blobs, features: s.blobs.features, createMultipart: async (...a: Parameters<MemoryBlobStore['createMultipart']>) => (await s.statuses.finish(judged), s.blobs.createMultipart(...a)), uploadPart: s.blobs.uploadPart.bind(s.blobs), completeMultipart: s.blobs.completeMultipart.bind(s.blobs), abortMultipart: s.blobs.abortMultipart.bind(s.blobs) };
    const out = await runExport({ ...s.deps, store, partSize: MIN_PART_SIZE }, s.job, s.running);
    expect(out).toEqual(judged);
    expect(await s.statuses.get('site-a', s.job.exportId)).toEqual(judged);
    expect(await s.blobs.head(s.running.key)).toBeUndefined();
    expect(await uploads(s.blobs)).toEqual([]);
    expect(s.events).toEqual([]);
  });

  it('refuses to complete the upload of an export past its deadline even when nobody judged it yet', async () => {
    const s = await setup();
    s.deps.clock.set(new Date(NOW.getTime() + 23 * 60_000));
    const out = await runExport(s.deps, s.job, s.running);
    expect(out).toMatchObject({ state: 'failed', error: 'the export did not finish within 22 minutes; request it again' });
    expect(await s.blobs.head(s.running.key)).toBeUndefined();
  });

  it('does not flip a record judged failed back to done when the finisher completed in the instant after its check', async () => {
    const s = await setup();
    const judged = judgeOverdue(s.running, new Date(NOW.getTime() + 23 * 60_000))!;
    const complete = s.blobs.completeMultipart.bind(s.blobs);
    const store = { ...s.blobs, features: s.blobs.features, createMultipart: s.blobs.createMultipart.bind(s.blobs), uploadPart: s.blobs.uploadPart.bind(s.blobs), abortMultipart: s.blobs.abortMultipart.bind(s.blobs), completeMultipart: async (...a: Parameters<MemoryBlobStore['completeMultipart']>) => (await s.statuses.finish(judged), complete(...a)) };
    const out = await runExport({ ...s.deps, store }, s.job, s.running);
    expect(out).toEqual(judged);
    expect(await s.statuses.get('site-a', s.job.exportId)).toEqual(judged);
  });

  it('answers the finished record when a late judge tries to fail an export that ended: the judge writes nothing', async () => {
    const s = await setup();
    const done = await runExport(s.deps, s.job, s.running);
    expect(await s.statuses.finish(judgeOverdue(s.running, new Date(NOW.getTime() + 23 * 60_000))!)).toBe(false);
    expect(await s.statuses.get('site-a', s.job.exportId)).toEqual(done);
  });

  it('writes the bundle with a GOVERNANCE retention ending keepDays after the request, not the bucket default', async () => {
    const s = await setup();
    const asked: unknown[] = [];
    const store = { ...s.blobs, features: s.blobs.features, uploadPart: s.blobs.uploadPart.bind(s.blobs), completeMultipart: s.blobs.completeMultipart.bind(s.blobs), abortMultipart: s.blobs.abortMultipart.bind(s.blobs), createMultipart: (...a: Parameters<MemoryBlobStore['createMultipart']>) => (asked.push(a[1]), s.blobs.createMultipart(...a)) };
    expect((await runExport({ ...s.deps, store, keepDays: 7 }, s.job, s.running)).state).toBe('done');
    expect(asked).toEqual([{ contentType: 'application/x-tar', retainUntil: new Date('2026-04-09T09:30:00Z') }]);
  });

  it('a writer that is aborted leaves nothing under its key', async () => {
    const s = await setup();
    const writer = new MultipartWriter(s.blobs, 'exports/site-a/x.tar', { partSize: MIN_PART_SIZE });
    await new Promise<void>((resolve, reject) => writer.write(Buffer.alloc(MIN_PART_SIZE + 10), (e) => (e ? reject(e) : resolve())));
    await writer.abort();
    expect(await s.blobs.head('exports/site-a/x.tar')).toBeUndefined();
    expect(await uploads(s.blobs)).toEqual([]);
  });
});
