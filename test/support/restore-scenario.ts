import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobBody, BlobStore, ByteRange } from '../../core/ports.ts';
import { planRestoreFromCatalogue } from '../../core/restore-source.ts';
import { min, publishArtefact } from './artefact-fixtures.ts';

export { readAll } from '../../agent/recover.ts';

// A point-in-time plan in an in-memory store (a full backup of about 300 KB and three binlog
// segments, two of them in the plan) and a store that cuts a GET, for the `restore fetch` tests.

export const GB = 1024 ** 3;

/** A store whose n-th get from now delivers `afterBytes` bytes and then fails, like a dropped connection; it counts GETs in flight. */
export class CuttingStore {
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

export async function scenario() {
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

export const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

