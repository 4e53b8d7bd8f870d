import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readAll } from '../../agent/recover.ts';
import type { Logger } from '../../agent/log.ts';
import { TransientError } from '../../core/errors.ts';
import { onceSummary } from '../../cli/agent-commands.ts';
import { translateS3Error } from '../../adapters/s3-errors.ts';
import { readUploadProgress, recordedUploads } from '../../agent/upload-progress.ts';
import { artefactSite, artefactAgent, artefactManifests, openUploads, writeAt, bytesOf } from '../support/artefact-agent.ts';

// Artefacts follow the commit rule through failures: a torn or corrupted object is shipped
// again, an interrupted run leaves no open upload and no manifest without its object, and a
// manifest that made it out before a crash is kept, not shipped twice.

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;
const isData = (k: string) => k.startsWith('backups/');

function site(size: number, seed = 1) {
  const s = artefactSite(`  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 0 }`);
  const bytes = bytesOf(size, seed);
  writeAt(join(s.root, 'nightly.bak'), bytes, new Date(Date.now() - 3600_000));
  return { ...s, bytes };
}

/** A store whose calls matching `when` never return, as if the process died there; `reached` resolves when it happens. */
function dyingStore(inner: BlobStore, when: (method: string, key: string) => boolean): { store: BlobStore; reached: Promise<void> } {
  let signal!: () => void;
  const reached = new Promise<void>((r) => (signal = r));
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (when(String(prop), String(args[0]))) {
          signal();
          return new Promise(() => undefined);
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, reached };
}

/** Parts the state directory's one upload record holds as stored (0 before the record is written). */
function partsRecorded(state: string): number {
  const [id] = recordedUploads(state);
  return id ? (readUploadProgress(state, id)?.resume?.parts.length ?? 0) : 0;
}

/** A 16 MiB backup whose agent died asking for its third part, once its upload's record held a part stored; the store it left the upload open in. */
async function killedAfterPartsRecorded() {
  const s = site(16 * MiB);
  const store = new MemoryBlobStore();
  const clock = new ManualClock(new Date());
  let parts = 0;
  // Each part sent moves the clock on, so the progress record (written at most every 5 s) takes the parts stored.
  const dying = dyingStore(store, (method) => method === 'uploadPart' && (clock.advance(6_000), ++parts >= 3));
  const first = artefactAgent(s.config, dying.store, { clock });
  void first.agent.cycle();
  await dying.reached;
  // The parts sent before the one that never returns are recorded once the store took them (on a loaded machine, after it was asked for the third).
  await expect.poll(() => partsRecorded(s.config.state)).toBeGreaterThan(0);
  first.agent.close();
  await first.closeFiles();
  return { s, store };
}

/** An 11 MiB backup whose agent died during its second part (closed: nothing more reaches its journal); the store it left an upload open in. */
async function killedMidUpload() {
  const s = site(11 * MiB);
  const store = new MemoryBlobStore();
  let parts = 0;
  const dying = dyingStore(store, (method) => method === 'uploadPart' && ++parts >= 2);
  const first = artefactAgent(s.config, dying.store);
  void first.agent.cycle();
  await dying.reached;
  first.agent.close();
  await first.closeFiles();
  return { s, store };
}

describe('artefact shipping under failures', () => {
  it.each([
    ['a torn single PUT', 200_000, (f: FaultyBlobStore) => f.truncateNext(1, { match: isData })],
    ['a corrupted multipart part', 11 * MiB, (f: FaultyBlobStore) => f.flipNext(1, { match: isData })],
  ])('re-ships %s and publishes the manifest only for a whole object', async (_what, size, arm) => {
    const s = site(size);
    // Stores that can keep a torn body (s3rver) neither check checksums nor honour If-None-Match;
    // AWS S3 rejects such a body outright, so the combination below is the one that happens.
    const store = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false } });
    const faulty = arm(new FaultyBlobStore(store));
    const h = artefactAgent(s.config, faulty);
    const report = await h.agent.cycle();
    expect(faulty.injected).toHaveLength(1);
    expect(report).toMatchObject({ artefacts: 1, failed: 0 });
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ size, sha256: sha(s.bytes), parts: size > 5 * MiB ? 3 : 1 });
    expect((await readAll(store, m!.key)).equals(s.bytes)).toBe(true);
    expect(await openUploads(store)).toEqual([]);
    h.agent.close();
  });

  it('after an ambiguous failure (the store completed the upload, the answer was lost), uses the whole object instead of sending it again', async () => {
    const s = site(11 * MiB);
    const store = new MemoryBlobStore();
    const faulty = new FaultyBlobStore(store).failNext('completeMultipart', 1, { when: 'after' });
    let parts = 0;
    const counting: BlobStore = Object.assign(Object.create(faulty) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) => (parts++, faulty.uploadPart(...a)),
    });
    const h = artefactAgent(s.config, counting);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    expect(parts).toBe(3);
    expect(await artefactManifests(store)).toHaveLength(1);
    h.agent.close();
  });

  it('killed mid-upload before any part was recorded stored: the restarted agent aborts the open upload and ships the artefact again', async () => {
    const { s, store } = await killedMidUpload();
    expect(await openUploads(store)).toHaveLength(1);

    const second = artefactAgent(s.config, store, { clock: new ManualClock(new Date()) });
    expect(await second.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    const [m] = await artefactManifests(store);
    expect((await readAll(store, m!.key)).equals(s.bytes)).toBe(true);
    expect(await openUploads(store)).toEqual([]);
    expect(second.agent.statusSnapshot()).toMatchObject({ inflight: 0, totals: { artefacts: 1 } });
    second.agent.close();
  });

  it('killed mid-upload under a role that may not list uploads (the agent role on AWS): the restart aborts the upload its journal knows without asking for a listing, and logs no warning', async () => {
    const { s, store } = await killedMidUpload();
    expect(await openUploads(store)).toHaveLength(1);

    let listings = 0;
    const denied = Object.assign(Object.create(store) as BlobStore, {
      listMultipart: () => {
        listings++;
        return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(Object.assign(new Error('S3 list uploads: AccessDenied: not authorized to perform: s3:ListBucketMultipartUploads'), { name: 'AccessDenied' })) }) };
      },
    });
    const lines: { level: string; msg: string }[] = [];
    const log = Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (msg: string) => void lines.push({ level, msg })])) as unknown as Logger;
    const second = artefactAgent(s.config, denied, { clock: new ManualClock(new Date()), log });
    expect(await second.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    expect(await openUploads(store)).toEqual([]);
    expect(lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg)).toEqual([]);
    expect(listings).toBe(0);
    second.agent.close();
  });

  it('killed after parts were recorded stored: the upload is kept open while its file is unchanged, and aborted by a later run once the file changed without it being shipped', async () => {
    const { s, store } = await killedAfterPartsRecorded();
    const state = s.config.state;
    const [id] = recordedUploads(state);

    // A run that does not ship the backup (its source not configured now) keeps the upload for a later one.
    const other = join(s.dir, 'other');
    mkdirSync(other);
    const elsewhere = { ...s.config, sources: s.config.sources.map((src) => ({ ...src, name: 'other', path: other })) };
    const second = artefactAgent(elsewhere, store, { clock: new ManualClock(new Date()) });
    await second.agent.cycle();
    second.agent.close();
    expect(await openUploads(store)).toHaveLength(1);
    expect(recordedUploads(state)).toEqual([id]);

    writeAt(join(s.root, 'nightly.bak'), bytesOf(16 * MiB, 2), new Date(Date.now() - 1800_000));
    const third = artefactAgent(elsewhere, store, { clock: new ManualClock(new Date()) });
    await third.agent.cycle();
    third.agent.close();
    expect(await openUploads(store)).toEqual([]);
    expect(recordedUploads(state)).toEqual([]);
  });

  it.each([
    ['its file is gone', async (s: { root: string }) => rmSync(join(s.root, 'nightly.bak')), /^its file \S+nightly\.bak is gone$/],
    ['the store no longer has the upload (the lifecycle rule aborted it)', async (_s: unknown, store: BlobStore, r: { key: string; uploadId: string }) => store.abortMultipart(r.key, r.uploadId), /^the store no longer has the upload/],
  ])('a kept upload nobody went on with is given up by a later run, its record removed and the log saying why, once %s', async (_what, between, reason) => {
    const { s, store } = await killedAfterPartsRecorded();
    const state = s.config.state;
    const [id] = recordedUploads(state);
    await between(s, store, readUploadProgress(state, id!)!.resume!);

    // A run that does not ship the backup (its source not configured now) is the one that settles the record.
    const other = join(s.dir, 'other');
    mkdirSync(other);
    const elsewhere = { ...s.config, sources: s.config.sources.map((src) => ({ ...src, name: 'other', path: other })) };
    const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
    const log = Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (msg: string, fields?: Record<string, unknown>) => void lines.push({ msg, fields })])) as unknown as Logger;
    const next = artefactAgent(elsewhere, store, { clock: new ManualClock(new Date()), log });
    await next.agent.cycle();
    next.agent.close();
    expect(recordedUploads(state)).toEqual([]);
    expect(await openUploads(store)).toEqual([]);
    const said = lines.find((l) => l.msg.startsWith('an upload left open for a later run is given up'));
    expect(said?.fields).toMatchObject({ artefact: id, source: 'db', name: 'nightly.bak' });
    expect(String(said?.fields?.reason)).toMatch(reason);
  });

  it("stopped by the store's 503s after parts were stored: the pass says where it stopped, the record stays with no artefact in flight, and a later run gives it up once the file is gone", async () => {
    const s = site(16 * MiB);
    const store = new MemoryBlobStore();
    let parts = 0;
    const unavailable = (op: string) => Promise.reject(new TransientError(`S3 ${op}: SlowDown: Please reduce your request rate.`, { cause: { name: 'SlowDown', $metadata: { httpStatusCode: 503 } } }));
    // Once the store took two parts it answers nothing else: the later attempts fail at their first look (a HEAD), before the upload.
    const failing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) => (++parts > 2 ? unavailable('uploadPart') : store.uploadPart(a[0], a[1], a[2], a[3], a[4])),
      head: (key: string) => (parts > 2 ? unavailable('head') : store.head(key)),
    });
    const first = artefactAgent(s.config, failing);
    const report = await first.agent.cycle();
    first.agent.close();
    expect(report.kept).toEqual(['db/nightly.bak: stopped at 10.5 MB of 16.8 MB: the store asked to slow down (SlowDown, HTTP 503)']);
    expect(onceSummary(report)).toMatch(/; db\/nightly\.bak: stopped at 10\.5 MB of 16\.8 MB: the store asked to slow down \(SlowDown, HTTP 503\); the next run resumes$/);
    expect(first.alerts).toEqual([]);
    expect(first.agent.statusSnapshot().lastError ?? '').toMatch(/^db\/nightly\.bak: stopped at 10\.5 MB of 16\.8 MB: the store asked to slow down \(SlowDown, HTTP 503\); the next run resumes/);
    const [id] = recordedUploads(s.config.state);
    const kept = readUploadProgress(s.config.state, id!);
    expect(kept?.stopReason).toBe('the store asked to slow down (SlowDown, HTTP 503)');
    // Two parts in flight at once: which two the store took depends on which was asked first.
    expect(kept?.resume?.parts).toHaveLength(2);
    expect(await openUploads(store)).toHaveLength(1);

    rmSync(join(s.root, 'nightly.bak'));
    const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
    const log = Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (msg: string, fields?: Record<string, unknown>) => void lines.push({ msg, fields })])) as unknown as Logger;
    const second = artefactAgent(s.config, store, { log });
    expect(second.agent.statusSnapshot().inflight).toBe(0);
    await second.agent.cycle();
    second.agent.close();
    expect(recordedUploads(s.config.state)).toEqual([]);
    expect(await openUploads(store)).toEqual([]);
    expect(lines.find((l) => l.msg.startsWith('an upload left open for a later run is given up'))?.fields?.reason).toMatch(/^its file \S+nightly\.bak is gone$/);
  });

  it('an upload-stalled alert of a file that left the site before it got offsite is resolved at the next pass, saying the file is gone', async () => {
    const s = site(16 * MiB);
    const store = new MemoryBlobStore();
    // The store takes two parts of each run's upload, then the line fails: its 503s outlast every resend and attempt of the run.
    let taken = 0;
    const failing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) =>
        ++taken > 2 ? Promise.reject(new TransientError('S3 uploadPart: ServiceUnavailable', { cause: { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } } })) : store.uploadPart(a[0], a[1], a[2], a[3], a[4]),
    });
    const clock = new ManualClock(new Date());
    const run = async () => {
      const h = artefactAgent(s.config, failing, { clock });
      const report = await h.agent.cycle();
      h.agent.close();
      return { report, alerts: h.alerts };
    };
    expect((await run()).report.kept).toHaveLength(1);
    clock.advance(25 * 3600_000);
    const stalled = await run();
    expect(stalled.alerts.filter((a) => a.key?.startsWith('upload-stalled:'))).toEqual([expect.objectContaining({ key: 'upload-stalled:db:nightly.bak', severity: 'critical' })]);

    rmSync(join(s.root, 'nightly.bak'));
    clock.advance(3600_000);
    const gone = await run();
    expect(gone.alerts.filter((a) => a.key === 'upload-stalled:db:nightly.bak')).toEqual([
      expect.objectContaining({ severity: 'info', subject: expect.stringMatching(/^resolved: nightly\.bak of db is not offsite after 25 h/), message: 'nightly.bak of source db is no longer on the site: its upload is given up (a version removed before it was shipped is reported as lost).' }),
    ]);
    expect(recordedUploads(s.config.state)).toEqual([]);
  });

  it("a kept upload the store refuses to say anything of (ListParts AccessDenied: the role is wrong) is kept, warned of and alerted naming s3:ListMultipartUploadParts, and the alert resolved once the store answers", async () => {
    const { s, store } = await killedAfterPartsRecorded();
    const state = s.config.state;
    const [id] = recordedUploads(state);
    // S3's refusal as the SDK throws it, translated by the adapter as every S3 answer is.
    const denied = Object.assign(new Error('User: arn:aws:sts::123456789012:assumed-role/site-a-agent/ferry is not authorized to perform: s3:ListMultipartUploadParts on resource: "arn:aws:s3:::ferry-data/backups/site-a/db/nightly.bak"'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403, requestId: 'R1' } });
    const refusing: BlobStore = Object.assign(Object.create(store) as BlobStore, { uploadOpen: (key: string) => Promise.reject(translateS3Error(denied, 'uploadOpen', key)) });
    const other = join(s.dir, 'other');
    mkdirSync(other);
    const elsewhere = { ...s.config, sources: s.config.sources.map((src) => ({ ...src, name: 'other', path: other })) };
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const log = Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields })])) as unknown as Logger;
    const next = artefactAgent(elsewhere, refusing, { clock: new ManualClock(new Date()), log });
    await next.agent.cycle();
    next.agent.close();
    // Kept (nothing is known of it), never given up or aborted on a refusal.
    expect(recordedUploads(state)).toEqual([id]);
    expect(await openUploads(store)).toHaveLength(1);
    const said = lines.find((l) => l.msg.startsWith('the store refused to say whether a kept upload is still open'));
    expect(said?.level).toBe('warn');
    expect(said?.msg).toContain("the agent's role lacks s3:ListMultipartUploadParts on its own keys");
    expect(said?.fields).toMatchObject({ permission: 's3:ListMultipartUploadParts' });
    expect(next.alerts).toEqual([expect.objectContaining({ key: 'kept-upload-denied', severity: 'warning', subject: 'the store refuses s3:ListMultipartUploadParts to this agent\'s role: 1 kept upload(s) cannot be checked' })]);
    expect(next.alerts[0]!.message).toMatch(/grant s3:ListMultipartUploadParts on the site's own keys/);

    // The role put right: the next pass asks, keeps the upload the store still has, and resolves the alert.
    const after = artefactAgent(elsewhere, store, { clock: new ManualClock(new Date()) });
    await after.agent.cycle();
    after.agent.close();
    expect(recordedUploads(state)).toEqual([id]);
    expect(after.alerts).toEqual([expect.objectContaining({ key: 'kept-upload-denied', severity: 'info', subject: expect.stringMatching(/^resolved: /) })]);
  });

  it('the kept-upload-denied alert stays open through a pass that cannot reach the store (it is resolved only by one the store answers)', async () => {
    const { s, store } = await killedAfterPartsRecorded();
    const state = s.config.state;
    const [id] = recordedUploads(state);
    const denied = Object.assign(new Error('User: arn:aws:sts::123456789012:assumed-role/site-a-agent/ferry is not authorized to perform: s3:ListMultipartUploadParts'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403, requestId: 'R1' } });
    const refusing: BlobStore = Object.assign(Object.create(store) as BlobStore, { uploadOpen: (key: string) => Promise.reject(translateS3Error(denied, 'uploadOpen', key)) });
    const unreached: BlobStore = Object.assign(Object.create(store) as BlobStore, { uploadOpen: () => Promise.reject(new TransientError('connect ETIMEDOUT s3.eu-central-1.amazonaws.com')) });
    const other = join(s.dir, 'other');
    mkdirSync(other);
    const elsewhere = { ...s.config, sources: s.config.sources.map((src) => ({ ...src, name: 'other', path: other })) };
    const first = artefactAgent(elsewhere, refusing, { clock: new ManualClock(new Date()) });
    await first.agent.cycle();
    first.agent.close();
    expect(first.alerts.map((a) => [a.key, a.severity])).toEqual([['kept-upload-denied', 'warning']]);

    // The store not reached: nothing more is known of the permission, so no "resolved" goes out (to be raised again at the next pass).
    const blind = artefactAgent(elsewhere, unreached, { clock: new ManualClock(new Date()) });
    await blind.agent.cycle();
    blind.agent.close();
    expect(recordedUploads(state)).toEqual([id]);
    expect(blind.alerts).toEqual([]);

    const answered = artefactAgent(elsewhere, store, { clock: new ManualClock(new Date()) });
    await answered.agent.cycle();
    answered.agent.close();
    expect(answered.alerts).toEqual([expect.objectContaining({ key: 'kept-upload-denied', severity: 'info', subject: expect.stringMatching(/^resolved: /) })]);
  });

  it('a kept upload to give up while the line is still down at the next run: that run goes on (no throw), the record stays, and the run after aborts it', async () => {
    const s = site(16 * MiB);
    const store = new MemoryBlobStore();
    let taken = 0;
    const line = { down: false };
    const refused = (op: string) => Promise.reject(new TransientError(`S3 ${op}: connect ECONNREFUSED 10.0.0.1:443`, { cause: { code: 'ECONNREFUSED' } }));
    const failing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) =>
        ++taken > 2 ? Promise.reject(new TransientError('S3 uploadPart: ServiceUnavailable', { cause: { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } } })) : store.uploadPart(a[0], a[1], a[2], a[3], a[4]),
      abortMultipart: (key: string, uploadId: string) => (line.down ? refused('abortMultipart') : store.abortMultipart(key, uploadId)),
    });
    const run = async () => {
      const h = artefactAgent(s.config, failing);
      try {
        return await h.agent.cycle();
      } finally {
        h.agent.close();
      }
    };
    expect((await run()).kept).toHaveLength(1);
    rmSync(join(s.root, 'nightly.bak'));
    line.down = true;
    await run();
    expect(recordedUploads(s.config.state)).toHaveLength(1);
    expect(await openUploads(store)).toHaveLength(1);
    line.down = false;
    await run();
    expect(recordedUploads(s.config.state)).toEqual([]);
    expect(await openUploads(store)).toEqual([]);
  });

  it('killed again while the next run hashed the file, before it went on with the upload: the run after goes on with it, sending only the parts not recorded', async () => {
    const { s, store } = await killedAfterPartsRecorded();
    const [id] = recordedUploads(s.config.state);
    const recorded = readUploadProgress(s.config.state, id!)?.resume?.parts.length ?? 0;

    // Dies at its first look at the store for the backup: after the journal saw the artefact begin, before any upload.
    const stops = dyingStore(store, (method, key) => method === 'head' && isData(key));
    const second = artefactAgent(s.config, stops.store, { clock: new ManualClock(new Date()) });
    void second.agent.cycle();
    await stops.reached;
    second.agent.close();
    await second.closeFiles();

    const sent: number[] = [];
    const counting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) => (sent.push(a[2]), store.uploadPart(a[0], a[1], a[2], a[3], a[4])),
    });
    const third = artefactAgent(s.config, counting, { clock: new ManualClock(new Date()) });
    expect(await third.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    third.agent.close();
    expect(sent).toHaveLength(4 - recorded);
    const [m] = await artefactManifests(store);
    expect(sha(await readAll(store, m!.key))).toBe(sha(s.bytes));
    expect(await openUploads(store)).toEqual([]);
  });

  it('killed after the manifest was published: the restarted agent keeps it and does not ship twice', async () => {
    const s = site(300_000);
    const store = new MemoryBlobStore();
    let puts = 0;
    const counting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: (...a: Parameters<BlobStore['put']>) => (isData(a[0]) && puts++, store.put(...a)),
    });
    // Dies while reading the manifest back, i.e. after it was written and before the journal heard of it.
    const dying = dyingStore(counting, (method, key) => method === 'get' && key.startsWith('manifests/'));
    const first = artefactAgent(s.config, dying.store);
    void first.agent.cycle();
    await dying.reached;
    first.agent.close();
    await first.closeFiles();

    const second = artefactAgent(s.config, counting);
    expect(second.agent.statusSnapshot().inflight).toBe(1);
    expect(await second.agent.cycle()).toMatchObject({ artefacts: 0, failed: 0 });
    expect(puts).toBe(1);
    expect(await artefactManifests(store)).toHaveLength(1);
    expect(second.agent.statusSnapshot()).toMatchObject({ inflight: 0, totals: { artefacts: 1 } });
    second.agent.close();
  });
});
