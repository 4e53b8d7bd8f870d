import { describe, it, expect } from 'vitest';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { PutOptions } from '../../core/ports.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { readAll } from '../../agent/recover.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { LineFileWriter } from '../../agent/line-file.ts';
import { LOCAL_INDEX, entryOfRecord } from '../../agent/tree/local-index.ts';
import { LocalRecordReader, decodeRecord } from '../../agent/tree/local-record.ts';
import { LocalIndexReader, deltaFileOf } from '../../agent/tree/local-delta.ts';
import { SETTLED_MS } from '../../agent/tree/snapshot.ts';
import { treeStateDir } from '../../agent/tree/last-snapshot.ts';
import { picture, snapshot, treeManifests, treeSite } from './tree-support.ts';

const write = (path: string, text: string | Buffer, mtime = new Date('2026-02-01T08:00:00Z')) => {
  writeFileSync(path, text);
  utimesSync(path, mtime, mtime);
};

/** Holds a pack's upload (up to 2 s) until the index's begins, and records which began first. */
class HeldPackStore extends MemoryBlobStore {
  readonly began: string[] = [];
  private indexBegan = () => {};
  private readonly indexBegins = new Promise<void>((resolve) => (this.indexBegan = resolve));
  private async begin(key: string): Promise<void> {
    if (key.includes('/index/')) {
      this.began.push('index');
      this.indexBegan();
    }
    if (!key.includes('/packs/')) return;
    await Promise.race([this.indexBegins, new Promise((resolve) => setTimeout(resolve, 2000))]);
    this.began.push('pack');
  }
  override async put(key: string, body: Uint8Array, options?: PutOptions) {
    await this.begin(key);
    return super.put(key, body, options);
  }
  override async createMultipart(key: string, options?: Omit<PutOptions, 'sha256' | 'ifNoneMatch'>) {
    await this.begin(key);
    return super.createMultipart(key, options);
  }
}

describe('tree snapshot', () => {
  it('uploads the index while the last pack is still being uploaded, and publishes a whole snapshot', async () => {
    const site = treeSite();
    for (let i = 0; i < 20; i++) write(join(site.root, `f${i}.txt`), `file ${i}`);
    const store = new HeldPackStore();
    const { manifest } = await snapshot(site, store);
    expect(store.began).toEqual(['index', 'pack']);
    expect(manifest.counts).toMatchObject({ files: 20, filesRead: 20, problems: 0 });
    expect(await treeManifests(store)).toHaveLength(1);
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
  });

  it('restores the first snapshot byte-identical with modes, mtimes, empty files, links and a non-UTF-8 name', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'Meeting Content/conf 1'), { recursive: true });
    write(join(site.root, 'Meeting Content/conf 1/slides.pptx'), Buffer.alloc(70_000, 7));
    write(join(site.root, 'Meeting Content/conf 1/notes ü é.xml'), '<notes/>');
    write(join(site.root, 'empty.txt'), '');
    chmodSync(join(site.root, 'empty.txt'), 0o600);
    write(Buffer.concat([Buffer.from(`${site.root}/latin1-`), Buffer.from([0xe9]), Buffer.from('.txt')]) as unknown as string, 'café in latin-1');
    symlinkSync('Meeting Content/conf 1/slides.pptx', join(site.root, 'latest'));
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    expect(manifest.counts).toMatchObject({ files: 4, dirs: 2, symlinks: 1, filesRead: 4, problems: 0 });
    const to = join(site.dir, 'restored');
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.files).toEqual({ restored: 4, present: 0 });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('carries an unchanged file into the next index line for line, and reads a file whose mode changed again (its ctime moved) without storing it twice', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) write(join(site.root, `f${i} "q" é.txt`), `file ${i}`);
    const store = new MemoryBlobStore();
    const { manifest: first } = await snapshot(site, store);
    site.clock.advance(3600_000);
    chmodSync(join(site.root, 'f2 "q" é.txt'), 0o600);
    utimesSync(join(site.root, 'f2 "q" é.txt'), new Date('2026-02-01T08:00:00Z'), new Date('2026-02-01T08:00:00Z'));
    const { manifest: second } = await snapshot(site, store);
    expect(second.counts).toMatchObject({ files: 5, filesRead: 1 });
    expect(second.bytes.added).toBe(0);
    const lines = async (key: string) => gunzipSync(await readAll(store, key)).toString().trim().split('\n').slice(1);
    const [before, after] = [await lines(first.index.key), await lines(second.index.key)];
    expect(after.filter((l, i) => l !== before[i]).map((l) => (JSON.parse(l) as { path: string; mode: number }))).toEqual([expect.objectContaining({ path: 'f2 "q" é.txt', mode: 0o600 })]);
    const to = join(site.dir, 'restored');
    await restoreTree({ blobs: store, manifest: second, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it("carries an unchanged directory's line over as it was, and records anew a directory whose mode changed (chmod) or that gained a file", async () => {
    const site = treeSite();
    for (const d of ['a', 'b', 'c']) {
      mkdirSync(join(site.root, d));
      write(join(site.root, d, 'f.txt'), `in ${d}`);
    }
    const store = new MemoryBlobStore();
    const { manifest: first } = await snapshot(site, store);
    // The directories' records carry their ms times (settled), which is what lets the next snapshot compare them with a plain lstat.
    const reader = new LocalRecordReader(join(treeStateDir(site.state, 'share'), LOCAL_INDEX));
    const recorded: boolean[] = [];
    while (reader.next()) if (decodeRecord(reader.buf, reader.at).type === 'dir') recorded.push(decodeRecord(reader.buf, reader.at).msTimes);
    reader.close();
    expect(recorded).toEqual([true, true, true]);
    site.clock.advance(3600_000);
    chmodSync(join(site.root, 'b'), 0o700);
    write(join(site.root, 'c', 'new.txt'), 'new');
    utimesSync(join(site.root, 'c'), new Date('2026-02-01T08:00:00Z'), new Date('2026-02-01T08:00:00Z'));
    const { manifest: second } = await snapshot(site, store);
    expect(second.counts).toMatchObject({ dirs: 3, files: 4, filesRead: 1 });
    const dirs = async (key: string) => new Map(gunzipSync(await readAll(store, key)).toString().trim().split('\n').slice(1).map((l) => JSON.parse(l) as { path: string; type: string; mode: number; mtime: string }).filter((e) => e.type === 'dir').map((e) => [e.path, e]));
    const [before, after] = [await dirs(first.index.key), await dirs(second.index.key)];
    expect(after.get('a')).toEqual(before.get('a'));
    expect(after.get('b')).toEqual({ ...before.get('b'), mode: 0o700 });
    expect(after.get('c')).toEqual({ ...before.get('c'), mtime: '2026-02-01T08:00:00.000Z' });
    site.clock.advance(3600_000);
    const third = await snapshot(site, store);
    expect(third.manifest.counts).toMatchObject({ dirs: 3, files: 4, filesRead: 0 });
    expect(await dirs(third.manifest.index.key)).toEqual(after);
  });

  it('reads a file rewritten with the same size and its mtime put back (touch -r), and reads nothing of a tree left as it was', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'conf'));
    for (let i = 0; i < 5; i++) write(join(site.root, 'conf', `deck${i}.pptx`), `slides ${i} version 1`);
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    const path = join(site.root, 'conf', 'deck3.pptx');
    const reference = join(site.dir, 'reference');
    execFileSync('cp', ['-p', path, reference]);
    const was = lstatSync(path, { bigint: true });
    writeFileSync(path, 'slides 3 version 2');
    execFileSync('touch', ['-r', reference, path]);
    const now = lstatSync(path, { bigint: true });
    // What makes the case: size, mtime and inode as before; only the ctime tells.
    expect([now.size, now.mtimeNs, now.ino]).toEqual([was.size, was.mtimeNs, was.ino]);
    expect(now.ctimeNs).not.toBe(was.ctimeNs);
    site.clock.advance(3600_000);
    const { manifest: second } = await snapshot(site, store);
    expect(second.counts).toMatchObject({ files: 5, filesRead: 1 });
    expect(second.bytes.added).toBe('slides 3 version 2'.length);
    site.clock.advance(3600_000);
    const { manifest: third } = await snapshot(site, store);
    expect(third.counts).toMatchObject({ files: 5, filesRead: 0 });
    expect(third.bytes.added).toBe(0);
    const to = join(site.dir, 'restored');
    await restoreTree({ blobs: store, manifest: third, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('picks up the changed files inside a directory of otherwise unchanged ones, whose records are copied as blocks around them', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'conf'));
    const names = Array.from({ length: 300 }, (_, i) => `deck${String(i).padStart(3, '0')}.pptx`);
    for (const n of names) write(join(site.root, 'conf', n), `${n} version 1`);
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    // One rewritten with another size; one with the same size and its mtime put back (only the ctime tells).
    write(join(site.root, 'conf', names[150]!), `${names[150]} version 1 and more`);
    const same = join(site.root, 'conf', names[151]!);
    const was = lstatSync(same, { bigint: true });
    writeFileSync(same, `${names[151]} version 2`);
    utimesSync(same, new Date(Number(was.mtimeNs / 1_000_000n)), new Date(Number(was.mtimeNs / 1_000_000n)));
    site.clock.advance(3600_000);
    const { manifest: second } = await snapshot(site, store);
    expect(second.counts).toMatchObject({ files: 300, filesRead: 2 });
    const lines = gunzipSync(await readAll(store, second.index.key)).toString().trim().split('\n').slice(1).map((l) => JSON.parse(l) as { path: string; sha256?: string });
    const shaOf = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(lines.find((l) => l.path === `conf/${names[151]}`)?.sha256).toBe(shaOf(`${names[151]} version 2`));
    expect(lines.find((l) => l.path === `conf/${names[150]}`)?.sha256).toBe(shaOf(`${names[150]} version 1 and more`));
    expect(lines.find((l) => l.path === `conf/${names[152]}`)?.sha256).toBe(shaOf(`${names[152]} version 1`));
    await restoreTree({ blobs: store, manifest: second, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
    site.clock.advance(3600_000);
    const { manifest: third } = await snapshot(site, store);
    expect(third.counts).toMatchObject({ files: 300, filesRead: 0 });
  });

  it("writes an incremental snapshot's local index as a delta of the unchanged base, and the next snapshot carries every file over from base and delta", async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'conf'));
    const names = Array.from({ length: 300 }, (_, i) => `deck${String(i).padStart(3, '0')}.pptx`);
    for (const n of names) write(join(site.root, 'conf', n), `${n} version 1`);
    const store = new MemoryBlobStore();
    // Every ctime settled (a minute old), so unchanged records are copied, not rewritten.
    const later = { fs: { now: () => Date.now() + SETTLED_MS + 60_000 } };
    await snapshot(site, store, later);
    const base = join(treeStateDir(site.state, site.source.name), LOCAL_INDEX);
    const before = readFileSync(base);
    write(join(site.root, 'conf', names[100]!), `${names[100]} version 2, longer`);
    site.clock.advance(3600_000);
    const { manifest: second } = await snapshot(site, store, later);
    expect(second.counts).toMatchObject({ files: 300, filesRead: 1 });
    expect(readFileSync(base).equals(before)).toBe(true);
    expect(statSync(deltaFileOf(base)).size).toBeLessThan(before.length / 20);
    write(join(site.root, 'conf', names[200]!), `${names[200]} version 2, longer`);
    site.clock.advance(3600_000);
    const { manifest: third } = await snapshot(site, store, later);
    expect(third.counts).toMatchObject({ files: 300, filesRead: 1 });
    await restoreTree({ blobs: store, manifest: third, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
    site.clock.advance(3600_000);
    const { manifest: fourth } = await snapshot(site, store, later);
    expect(fourth.counts).toMatchObject({ files: 300, filesRead: 0 });
    expect(readFileSync(base).equals(before)).toBe(true);
  });

  it('compares a file whose ctime is not settled in ns: carried over unread, a same-size rewrite with its mtime put back read, ms times recorded once settled', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'conf'));
    for (let i = 0; i < 4; i++) write(join(site.root, 'conf', `deck${i}.pptx`), `slides ${i} version 1`);
    const store = new MemoryBlobStore();
    // The file system's clock as it is: every file was changed within SETTLED_MS of the walk.
    const now = Date.now();
    const msTimes = () => {
      const reader = new LocalIndexReader(join(treeStateDir(site.state, site.source.name), LOCAL_INDEX));
      const out: [string, boolean][] = [];
      while (reader.next()) out.push([decodeRecord(reader.buf, reader.at).path.toString(), decodeRecord(reader.buf, reader.at).msTimes]);
      reader.close();
      return out.filter(([path]) => path.endsWith('.pptx'));
    };
    await snapshot(site, store, { fs: { now: () => now } });
    expect(msTimes().map(([, ms]) => ms)).toEqual([false, false, false, false]);
    write(join(site.root, 'conf', 'deck2.pptx'), 'slides 2 version 2');
    site.clock.advance(3600_000);
    const { manifest: second } = await snapshot(site, store, { fs: { now: () => now } });
    expect(second.counts).toMatchObject({ files: 4, filesRead: 1 });
    expect(second.bytes.added).toBe('slides 2 version 2'.length);
    site.clock.advance(3600_000);
    const { manifest: third } = await snapshot(site, store, { fs: { now: () => now + SETTLED_MS + 60_000 } });
    expect(third.counts).toMatchObject({ files: 4, filesRead: 0 });
    expect(msTimes().map(([, ms]) => ms)).toEqual([true, true, true, true]);
    await restoreTree({ blobs: store, manifest: third, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
  });

  it("carries every file over unread from the JSON-lines local index an older agent left, converted once", async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'conf'));
    for (let i = 0; i < 30; i++) write(join(site.root, 'conf', `m${i} é.dat`), `meeting ${i}`);
    const store = new MemoryBlobStore();
    const { manifest: first } = await snapshot(site, store);
    const dir = treeStateDir(site.state, site.source.name);
    // The index as the agent before the binary records wrote it: one JSON line a path.
    const reader = new LocalRecordReader(join(dir, LOCAL_INDEX));
    const legacy = new LineFileWriter(join(dir, 'index.local.jsonl'));
    while (reader.next()) legacy.writeLine(JSON.stringify(entryOfRecord(decodeRecord(reader.buf, reader.at))));
    legacy.close();
    reader.close();
    rmSync(join(dir, LOCAL_INDEX));
    site.clock.advance(3600_000);
    const { manifest: second } = await snapshot(site, store);
    expect(second.counts).toMatchObject({ files: 30, dirs: 1, filesRead: 0 });
    expect(existsSync(join(dir, 'index.local.jsonl'))).toBe(false);
    const lines = async (key: string) => gunzipSync(await readAll(store, key)).toString().trim().split('\n').slice(1);
    expect(await lines(second.index.key)).toEqual(await lines(first.index.key));
  });

  it('closes the first pack of a snapshot at 8 MiB, the next ones at the source target', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) write(join(site.root, `f${i}.bin`), Buffer.alloc(3 * 1024 * 1024, i + 1));
    const { manifest } = await snapshot(site, new MemoryBlobStore());
    expect(manifest.packs.map((p) => Math.round(p.size / (1024 * 1024)))).toEqual([9, 6]);
  });

  it("holds at most partConcurrency + 1 of the agent's part buffers while its parts upload, not every buffer the pool has free", async () => {
    const site = treeSite();
    for (let i = 0; i < 40; i++) write(join(site.root, `rec${i}.wav`), Buffer.alloc(60_000, i));
    const pool = new PartPool(64 * 1024, 12);
    let most = 0;
    // Parts are sent slower than the files are read: without a bound, they pile up in buffers.
    class SlowParts extends MemoryBlobStore {
      override async uploadPart(...args: Parameters<MemoryBlobStore['uploadPart']>) {
        most = Math.max(most, pool.inUse);
        await new Promise((r) => setTimeout(r, 5));
        return super.uploadPart(...args);
      }
    }
    const store = new SlowParts();
    const { manifest } = await snapshot(site, store, { pool, partSize: pool.partSize, partConcurrency: 2 });
    expect(manifest.counts).toMatchObject({ files: 40, filesRead: 40 });
    expect(most).toBe(3);
    expect(pool.size).toBeLessThanOrEqual(3);
    const to = join(site.dir, 'restored');
    await restoreTree({ blobs: store, manifest, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('reads only new and changed files the second time; identical content is stored once', async () => {
    const site = treeSite();
    for (let i = 0; i < 20; i++) write(join(site.root, `f${i}.txt`), `file ${i}`);
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    site.clock.advance(3600_000);
    write(join(site.root, 'f3.txt'), 'changed', new Date('2026-02-02T08:00:00Z'));
    write(join(site.root, 'copy-of-f4.txt'), 'file 4');
    rmSync(join(site.root, 'f5.txt'));
    const { manifest } = await snapshot(site, store);
    expect(manifest.counts).toMatchObject({ files: 20, filesRead: 2 });
    expect(manifest.bytes.added).toBe('changed'.length);
    const to = join(site.dir, 'restored');
    await restoreTree({ blobs: store, manifest, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('keeps a renamed folder without reading or storing its files again (same inode, same content)', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'old name'));
    for (let i = 0; i < 5; i++) write(join(site.root, 'old name', `m${i}.dat`), Buffer.alloc(10_000, i));
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    renameSync(join(site.root, 'old name'), join(site.root, 'new name'));
    site.clock.advance(60_000);
    const { manifest } = await snapshot(site, store);
    // Renamed paths are new to the merge-join, so they are read, but no content is added.
    expect(manifest.bytes.added).toBe(0);
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
  });

  it('skips and reports a fifo, and never follows a symbolic link to a directory', async () => {
    const site = treeSite();
    write(join(site.root, 'a.txt'), 'a');
    execFileSync('mkfifo', [join(site.root, 'pipe')]);
    const outside = join(site.dir, 'outside');
    mkdirSync(outside);
    write(join(outside, 'secret.txt'), 'not in the share');
    symlinkSync(outside, join(site.root, 'link-to-outside'));
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    expect(manifest.counts).toMatchObject({ files: 1, symlinks: 1, problems: 1 });
    expect(manifest.problems).toEqual([{ path: 'pipe', problem: 'skipped: a named pipe (fifo)' }]);
    const all = await treeManifests(store);
    expect(all).toHaveLength(1);
  });
});
