import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { open } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobBody, BlobStore, ByteRange } from '../../core/ports.ts';
import type { RestorePlan } from '../../core/restore-plan.ts';
import { planRestoreFromCatalogue } from '../../core/restore-source.ts';
import { InsufficientSpaceError, fetchPlan } from '../../cli/restore-fetch.ts';
import { min, publishArtefact } from '../support/artefact-fixtures.ts';

// `ferry restore fetch` against an in-memory store: free space first, verified files under
// their final names only, resume after an interruption, and no way out of DIR.

const GB = 1024 ** 3;

/** A store whose n-th get from now delivers `afterBytes` bytes and then fails, like a dropped connection; it counts GETs in flight. */
class CuttingStore {
  readonly gets: { key: string; range?: ByteRange }[] = [];
  private cut: { at: number; bytes: number } | undefined;
  private active = 0;
  maxActive = 0;
  constructor(readonly inner: BlobStore) {}
  cutGetAfter(n: number, bytes: number): this {
    this.cut = { at: this.gets.length + n - 1, bytes };
    return this;
  }
  async get(key: string, range?: ByteRange): Promise<BlobBody> {
    const index = this.gets.push({ key, range }) - 1;
    this.maxActive = Math.max(this.maxActive, ++this.active);
    const got = await this.inner.get(key, range);
    // A GET is in flight until its body has been read to the end.
    const done = () => void this.active--;
    const cut = this.cut?.at === index ? this.cut.bytes : undefined;
    if (cut === undefined) {
      const chunks: Buffer[] = [];
      for await (const c of got.body) chunks.push(c as Buffer);
      await new Promise((r) => setImmediate(r));
      done();
      return { ...got, body: Readable.from([Buffer.concat(chunks)]) };
    }
    done();
    this.cut = undefined;
    const chunks: Buffer[] = [];
    for await (const c of got.body) chunks.push(c as Buffer);
    const head = Buffer.concat(chunks).subarray(0, cut);
    const body = new Readable({ read() {} });
    body.push(head);
    setImmediate(() => body.destroy(new Error('socket hang up')));
    return { ...got, body };
  }
}

async function scenario() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const bodies = new Map<string, Buffer>();
  const full = Buffer.concat([Buffer.from('-- CHANGE MASTER TO MASTER_LOG_FILE=\'mysql-bin.000002\', MASTER_LOG_POS=328;\n'), randomBytes(300_000)]);
  await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'dumps/full.sql', body: full, takenAt: min(0), extra: { position: { logFile: 'mysql-bin.000002', logPos: 328 } } });
  bodies.set('full.sql', full);
  for (const seq of [2, 3, 4]) {
    const body = randomBytes(150_000 + seq);
    const name = `mysql-bin.00000${seq}`;
    await publishArtefact(blobs, { source: 'binlog', sourceType: 'binlog', role: 'segment', name, body, takenAt: min(seq * 10 - 1), extra: { sequence: seq, series: 'mysql-bin', span: { from: min(seq * 10 - 10), to: min(seq * 10 - 1) } } });
    bodies.set(name, body);
  }
  await rebuildCatalogue({ blobs, catalogue });
  const result = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', at: min(25), now: new Date(min(100)) });
  if (!result.ok) throw new Error(result.reason);
  return { blobs, catalogue, plan: result, bodies, dir: join(mkdtempSync(join(tmpdir(), 'ferry-restore-')), 'target') };
}

async function readAll(blobs: BlobStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of (await blobs.get(key)).body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('restore fetch', () => {
  it('downloads every file verified, writes restore-plan.json and an executable apply.sh; a re-run fetches nothing', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    expect(plan.files.map((f) => f.name)).toEqual(['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']);
    const progress: number[] = [];
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB, onProgress: (p) => progress.push(p.bytesDone) });
    expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
    expect(report.bytesDownloaded).toBe(plan.totalBytes);
    expect(progress.at(-1)).toBe(plan.totalBytes);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
    for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
    const saved = JSON.parse(readFileSync(join(dir, 'restore-plan.json'), 'utf8')) as RestorePlan;
    expect(saved.commands).toEqual(plan.commands);
    const script = readFileSync(join(dir, 'apply.sh'), 'utf8');
    expect(script).toContain("TZ=UTC $MARIADB_BINLOG --start-position=328 --stop-datetime='2026-03-01 00:25:00' mysql-bin.000002 mysql-bin.000003 | $MARIADB");
    expect(statSync(join(dir, 'apply.sh')).mode & 0o111).not.toBe(0);
    const again = await fetchPlan({ plan, dir, blobs, freeBytes: 0 + 2 * 1024 * 1024 });
    expect(again.files.map((f) => f.status)).toEqual(['present', 'present', 'present']);
    expect(again.bytesDownloaded).toBe(0);
  });

  it('refuses before writing anything when the disk is too small, saying what is needed and free', async () => {
    const { blobs, plan, dir } = await scenario();
    const err = await fetchPlan({ plan, dir, blobs, freeBytes: 200_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientSpaceError);
    expect((err as Error).message).toMatch(/^not enough disk space in .*target: the plan needs 1\.6 MB more \(3 file\(s\), 600\.\d KB in all\), only 200\.0 KB is free\. Nothing was written\.$/);
    expect(existsSync(dir)).toBe(false);
    mkdirSync(dir);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: 200_000 })).rejects.toThrow(InsufficientSpaceError);
    expect(listing(dir)).toEqual([]);
  });

  it('resumes an interrupted download from its .part (the ranges written whole) with ranged GETs from its end, and re-hashes the whole file', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const tuning = { rangeBytes: 64 * 1024, inFlight: 4 };
    // The third range of full.sql breaks mid-way: the two before it are written, the rest of the file is not.
    const store = new CuttingStore(blobs).cutGetAfter(3, 10_000);
    const err = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/fetching full.sql was interrupted \(socket hang up\): run the same command again to resume/);
    expect(listing(dir)).toEqual(['full.sql.part']);
    const kept = statSync(join(dir, 'full.sql.part')).size;
    expect(kept).toBe(2 * 64 * 1024);
    const before = store.gets.length;
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning });
    expect(report.files.map((f) => f.status)).toEqual(['resumed', 'fetched', 'fetched']);
    const again = store.gets.slice(before).filter((g) => g.key === plan.files[0]!.key);
    expect(again[0]).toEqual({ key: plan.files[0]!.key, range: { start: kept, end: kept + 64 * 1024 - 1 } });
    expect(again.at(-1)!.range!.end).toBe(bodies.get('full.sql')!.length - 1);
    expect(again.every((g) => g.range!.start >= kept)).toBe(true);
    expect(report.bytesDownloaded).toBe(plan.totalBytes - kept);
    expect(readFileSync(join(dir, 'full.sql')).equals(bodies.get('full.sql')!)).toBe(true);
  });

  it('keeps at most `inFlight` ranged GETs of `rangeBytes` at once, across files, and writes every file whole and in order', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const store = new CuttingStore(blobs);
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 32 * 1024, inFlight: 3 } });
    expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
    expect(store.maxActive).toBe(3);
    expect(store.gets.every((g) => g.range !== undefined && g.range.end - g.range.start + 1 <= 32 * 1024)).toBe(true);
    expect(store.gets).toHaveLength(plan.files.reduce((n, f) => n + Math.ceil(f.size / (32 * 1024)), 0));
    for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
  });

  it('flushes a file to disk every `flushBytes` while it downloads (fdatasync), then fsyncs it, and publishes it whole', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    // FileHandle is not exported: its prototype, from a handle.
    const probe = await open(join(dir, '..', 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void>; sync(): Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    const sync = vi.spyOn(proto, 'sync');
    try {
      const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB, tuning: { rangeBytes: 32 * 1024, inFlight: 3, flushBytes: 64 * 1024 } });
      expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
      const full = bodies.get('full.sql')!.length;
      expect(full).toBeGreaterThan(2 * 64 * 1024);
      // At most one flush per 64 KiB written (one at a time, so fewer when the disk is slow), at least one for the large file.
      expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(datasync.mock.calls.length).toBeLessThanOrEqual(Math.floor(plan.totalBytes / (64 * 1024)));
      expect(sync.mock.calls.length).toBeGreaterThanOrEqual(3);
      for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
    } finally {
      datasync.mockRestore();
      sync.mockRestore();
    }
  });

  it('treats a store that answers fewer bytes than the range asked for as an interruption, keeping nothing under the name', async () => {
    const { blobs, plan, dir } = await scenario();
    const short: Pick<BlobStore, 'get'> = {
      async get(key, range) {
        const got = await blobs.get(key, range);
        const chunks: Buffer[] = [];
        for await (const c of got.body) chunks.push(c as Buffer);
        return { ...got, body: Readable.from([Buffer.concat(chunks).subarray(1)]) };
      },
    };
    const size = plan.files[0]!.size;
    await expect(fetchPlan({ plan, dir, blobs: short, freeBytes: GB })).rejects.toThrow(`fetching full.sql was interrupted (the store sent ${size - 1} of the ${size} bytes asked for (bytes 0-${size - 1}))`);
    expect(listing(dir)).toEqual(['full.sql.part']);
  });

  it('refuses a file whose SHA-256 does not match, keeping nothing under its name (also a bad resumed prefix)', async () => {
    const { blobs, plan, dir } = await scenario();
    const key = plan.files[1]!.key;
    const original = await readAll(blobs, key);
    const flipped = Buffer.from(original);
    flipped[1000] = flipped[1000]! ^ 0xff;
    await blobs.put(key, flipped);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(/mysql-bin.000002 does not match its SHA-256 .*refused, nothing kept under its name/);
    expect(listing(dir)).toEqual(['full.sql']);
    await blobs.put(key, original);
    writeFileSync(join(dir, 'mysql-bin.000002.part'), randomBytes(5000));
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(IntegrityError);
    expect(listing(dir)).toEqual(['full.sql']);
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    expect(report.files.map((f) => f.status)).toEqual(['present', 'fetched', 'fetched']);
  });

  it.each([
    ['a parent reference', '../../etc/cron.d/evil'],
    ['an absolute path', '/etc/passwd'],
    ['a Windows drive', 'C:\\backups\\full.sql'],
    ['a bare ..', 'x/..'],
    ['an option-like name', '-rf.sql'],
    ['a name the fetch uses', 'apply.sh'],
  ])('rejects %s in an artefact name before writing anything', async (_, name) => {
    const { blobs, plan, dir } = await scenario();
    const tampered = { ...plan, full: { ...plan.full, name } };
    await expect(fetchPlan({ plan: tampered, dir, blobs, freeBytes: GB })).rejects.toThrow(InvalidInputError);
    expect(existsSync(dir)).toBe(false);
  });

  it('never follows a symbolic link in DIR, as a final name or as a .part', async () => {
    const { blobs, plan, dir } = await scenario();
    mkdirSync(dir);
    const outside = join(dir, '..', 'outside.txt');
    writeFileSync(outside, 'precious');
    symlinkSync(outside, join(dir, 'mysql-bin.000002.part'));
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(/mysql-bin.000002.part: it is a symbolic link, and is never followed or replaced/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
    expect(listing(dir)).toEqual(['mysql-bin.000002.part']);
    const other = join(dir, '..', 'other');
    mkdirSync(other);
    const linked = join(dir, '..', 'linked');
    symlinkSync(outside, join(other, 'full.sql'));
    symlinkSync(other, linked);
    await expect(fetchPlan({ plan, dir: linked, blobs, freeBytes: GB })).rejects.toThrow(/full.sql: it is a symbolic link/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
  });
});
