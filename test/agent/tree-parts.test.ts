import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ContentIndex } from '../../agent/tree/content-index.ts';
import { JsonlGzWriter, MAX_IN_FLIGHT, readJsonlGzFile } from '../../agent/tree/jsonl-gz.ts';
import { LineFileReader, LineFileWriter } from '../../agent/line-file.ts';
import { compareTreePaths, treePathMatcher } from '../../agent/tree/paths.ts';
import { MAX_RUN, walkTree } from '../../agent/tree/walk.ts';

// The pieces of a snapshot on their own: the one path order, the walk that yields it, the
// gzip and plain line files, and the content index that makes dedup work.

const b = (s: string) => Buffer.from(s);
const sha = (s: string) => createHash('sha256').update(s).digest();
const tmp = () => mkdtempSync(join(tmpdir(), 'ferry-tree-parts-'));

describe('tree path order', () => {
  it('puts a directory right before its contents, siblings in byte order', () => {
    const paths = ['a-c', 'a/b', 'a', 'A', 'a/b/c', 'a.x', 'é'];
    expect(paths.map(b).sort(compareTreePaths).map(String)).toEqual(['A', 'a', 'a/b', 'a/b/c', 'a-c', 'a.x', 'é']);
  });

  it('is the order the walk yields, whatever order the directory lists in', async () => {
    const root = join(tmp(), 'r');
    for (const d of ['a', 'a/b', 'a-c', 'z']) mkdirSync(join(root, d), { recursive: true });
    for (const f of ['a/b/1', 'a/2', 'a-c/3', 'a.x', 'z/4']) writeFileSync(join(root, f), f);
    const seen: string[] = [];
    for await (const run of walkTree(root, { onProblem: () => undefined })) for (const item of run) seen.push(item.rel.toString());
    expect(seen).toEqual(['a', 'a/2', 'a/b', 'a/b/1', 'a-c', 'a-c/3', 'a.x', 'z', 'z/4']);
    expect([...seen].map(b).sort(compareTreePaths).map(String)).toEqual(seen);
  });

  it('yields a flat directory of 1,000 files in runs of at most MAX_RUN items, in order', async () => {
    const root = join(tmp(), 'flat');
    mkdirSync(root);
    const names = Array.from({ length: 1000 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    for (const n of names) writeFileSync(join(root, n), n);
    const runs: string[][] = [];
    for await (const run of walkTree(root, { onProblem: () => undefined })) runs.push(run.map((i) => i.rel.toString()));
    expect(Math.max(...runs.map((r) => r.length))).toBe(MAX_RUN);
    expect(runs.flat()).toEqual(names);
  });

  it('matches globs: * within a name, ** across directories, a bare pattern at any depth', () => {
    const m = treePathMatcher(['*.tmp', 'Temp/**', 'docs/*/x.xml']);
    expect(['a.tmp', 'd/e/f.tmp', 'Temp/a/b', 'docs/1/x.xml'].filter(m)).toHaveLength(4);
    expect(['a.tmpx', 'temp/a', 'docs/1/2/x.xml', 'Temp'].filter(m)).toEqual([]);
  });

  it('matches [classes] (negated by !) within one name, and an unclosed [ or a regex character as itself', () => {
    const m = treePathMatcher(['day[0-9]/*.xml', 'log[!t]xt', 'a[b', '(x).+']);
    expect(['day7/m.xml', 'q/logbxt', 'a[b', 'd/(x).+'].filter(m)).toHaveLength(4);
    expect(['dayx/m.xml', 'day7/n/m.xml', 'logtxt', 'ab', 'xx.+', '(x)x+'].filter(m)).toEqual([]);
  });
});

describe('plain JSON lines', () => {
  it('reads back every line written across many 1 MiB chunks, a character cut by a chunk boundary included', () => {
    const file = join(tmp(), 'lines.jsonl');
    const w = new LineFileWriter(file);
    // The first line puts a 4-byte character across the first 1 MiB boundary.
    const written = [`${'x'.repeat(1024 * 1024 - 2)}😀`, ...Array.from({ length: 60_000 }, (_, i) => JSON.stringify({ i, name: `é€😀 ${'x'.repeat(i % 37)}` }))];
    for (const line of written) w.writeLine(line);
    w.close();
    expect(readFileSync(file).subarray(1024 * 1024 - 2, 1024 * 1024 + 2).toString('utf8')).toBe('😀');
    expect(statSync(file).size).toBeGreaterThan(3 * 1024 * 1024);
    const r = new LineFileReader(file);
    const read: string[] = [];
    for (let line = r.next(); line !== undefined; line = r.next()) read.push(line);
    expect(read).toEqual(written);
    expect(w.lines).toBe(60_001);
  });

  it('reads a file with no lines as no lines, and a last line without its newline', () => {
    const empty = join(tmp(), 'empty.jsonl');
    new LineFileWriter(empty).close();
    expect(new LineFileReader(empty).next()).toBeUndefined();
    const cut = join(tmp(), 'cut.jsonl');
    writeFileSync(cut, '{"a":1}\n\n{"b":2}');
    const r = new LineFileReader(cut);
    expect([r.next(), r.next(), r.next()]).toEqual(['{"a":1}', '{"b":2}', undefined]);
  });
});

describe('gzip JSON lines', () => {
  it('reads back every line written across many gzip members, a character cut by a chunk boundary included', async () => {
    const file = join(tmp(), 'lines.gz');
    const w = new JsonlGzWriter(file, 1);
    const written = Array.from({ length: 30_000 }, (_, i) => ({ i, name: `é€😀 ${'x'.repeat(i % 37)}` }));
    for (const v of written) w.write(v);
    w.writeLine('{"raw":true}');
    await w.close();
    const read: unknown[] = [];
    for await (const v of readJsonlGzFile(file)) read.push(v);
    expect(read).toEqual([...written, { raw: true }]);
    expect(w.lines).toBe(30_001);
  });

  it('takes the line buffers of written members again: at most MAX_IN_FLIGHT + 1 for 60 members (and one for a longer line), every line read back as written', async () => {
    const file = join(tmp(), 'reused.gz');
    const w = new JsonlGzWriter(file, 1);
    const written: string[] = [];
    for (let i = 0; i < 60_000; i++) {
      // One line longer than a line buffer, which gets a buffer of its own.
      const line = i === 30_000 ? `{"long":"${'y'.repeat(600_000)}"}` : `{"i":${i},"path":"dir ${i % 97}/é ${'x'.repeat(200 + (i % 50))}"}`;
      w.writeLine(line);
      written.push(line);
      if (w.backlogged) await w.settle();
    }
    await w.close();
    const read: string[] = [];
    for await (const v of readJsonlGzFile(file)) read.push(JSON.stringify(v));
    expect(read).toEqual(written);
    expect(w.buffersMade).toBeLessThanOrEqual(MAX_IN_FLIGHT + 2);
  });

  it("writes an unchanged file's pack position and offset as digits exactly as the template string did, across members and for every number width", async () => {
    const file = join(tmp(), 'packed.gz');
    const w = new JsonlGzWriter(file, 1);
    const prefix = Buffer.from('xx{"path":"é/a","size":3');
    const numbers = [0, 1, 9, 10, 99, 100, 12_345, 2 ** 31, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER, 1.5, -1];
    const expected: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const [pack, offset] = [numbers[i % numbers.length]!, numbers[(i * 7) % numbers.length]!];
      w.writeLineFromPacked(prefix, 2, prefix.length, pack, offset);
      expected.push(`{"path":"é/a","size":3,"pack":${pack},"offset":${offset}}`);
    }
    await w.close();
    const read: unknown[] = [];
    for await (const v of readJsonlGzFile(file)) read.push(v);
    expect(read).toEqual(expected.map((l) => JSON.parse(l) as unknown));
    expect(gunzipSync(readFileSync(file)).toString('utf8')).toBe(`${expected.join('\n')}\n`);
  });

  it('compresses within a 4 KiB window: a gunzip with that window reads a file whose lines repeat 6 KB apart', async () => {
    const file = join(tmp(), 'window.jsonl.gz');
    const w = new JsonlGzWriter(file, 1);
    const far = createHash('sha512').update('x').digest('hex').repeat(47); // 6,016 characters
    const lines = Array.from({ length: 40 }, (_, i) => `${far}${i}`);
    for (const line of lines) w.writeLine(line);
    await w.close();
    // With zlib's default 32 KiB window the repeats would be matched 6 KB back, which a 4 KiB window cannot read.
    expect(gunzipSync(readFileSync(file), { windowBits: 12 }).toString().split('\n').slice(0, -1)).toEqual(lines);
  });

  it('writes a readable file with no lines when nothing was written (an empty tree)', async () => {
    const file = join(tmp(), 'empty.gz');
    await new JsonlGzWriter(file).close();
    const read: unknown[] = [];
    for await (const v of readJsonlGzFile(file)) read.push(v);
    expect(read).toEqual([]);
  });
});

describe('content index', () => {
  it('finds 50,000 contents after growing, and again after a reload from its files', () => {
    const dir = tmp();
    const index = new ContentIndex(dir);
    const members = Array.from({ length: 50_000 }, (_, i) => ({ sha256: sha(`c${i}`), offset: i * 512 }));
    index.commitPack({ no: 0, key: 'trees/s/t/packs/2026/01/01/p0.tar', size: 1, sha256: 'a'.repeat(64) }, members.slice(0, 30_000));
    index.commitPack({ no: 1, key: 'trees/s/t/packs/2026/01/01/p1.tar', size: 1, sha256: 'b'.repeat(64) }, members.slice(30_000));
    const again = new ContentIndex(dir);
    expect(again.size).toBe(50_000);
    expect(again.get(sha('c29999'))).toEqual({ pack: 0, offset: 29_999 * 512 });
    expect(again.get(sha('c30000'))).toEqual({ pack: 1, offset: 30_000 * 512 });
    expect(again.get(sha('absent'))).toBeUndefined();
    expect(again.nextPackNo).toBe(2);
  });

  it('holds 150,000 contents across record chunks in under 75 bytes each, a content packed again pointing at its newer pack', () => {
    const dir = tmp();
    const index = new ContentIndex(dir);
    const members = Array.from({ length: 150_000 }, (_, i) => ({ sha256: sha(`c${i}`), offset: i * 512 }));
    index.commitPack({ no: 0, key: 'p0', size: 1, sha256: 'a'.repeat(64) }, members.slice(0, 70_000));
    index.commitPack({ no: 1, key: 'p1', size: 1, sha256: 'b'.repeat(64) }, members.slice(70_000));
    index.commitPack({ no: 2, key: 'p2', size: 1, sha256: 'c'.repeat(64) }, [{ sha256: sha('c5'), offset: 7 }]);
    for (const held of [index, new ContentIndex(dir)]) {
      expect(held.size).toBe(150_000);
      expect(held.heldBytes).toBeLessThan(150_000 * 75);
      expect(members.every((m, i) => i === 5 || held.get(m.sha256)?.offset === m.offset)).toBe(true);
      expect(held.get(sha('c5'))).toEqual({ pack: 2, offset: 7 });
      expect(held.get(sha('c150000'))).toBeUndefined();
    }
  });

  it("forgets the contents of a pack the store no longer holds (the cloud's purge removed it)", () => {
    const index = new ContentIndex(tmp());
    index.commitPack({ no: 0, key: 'k0', size: 1, sha256: 'a'.repeat(64) }, [{ sha256: sha('x'), offset: 512 }]);
    index.commitPack({ no: 1, key: 'k1', size: 1, sha256: 'b'.repeat(64) }, [{ sha256: sha('y'), offset: 512 }]);
    expect(index.retainPacks(new Set(['k1']))).toEqual(['k0']);
    expect(index.get(sha('x'))).toBeUndefined();
    expect(index.get(sha('y'))).toEqual({ pack: 1, offset: 512 });
  });

  it('on a reload, leaves out the records of a pack packs.jsonl does not name (its line torn) and finds every record after them, across record chunks', () => {
    const dir = tmp();
    const index = new ContentIndex(dir);
    const members = Array.from({ length: 140_010 }, (_, i) => ({ sha256: sha(`c${i}`), offset: i * 512 }));
    index.commitPack({ no: 0, key: 'p0', size: 1, sha256: 'a'.repeat(64) }, members.slice(0, 70_000));
    index.commitPack({ no: 1, key: 'p1', size: 1, sha256: 'b'.repeat(64) }, members.slice(70_000, 70_010));
    index.commitPack({ no: 2, key: 'p2', size: 1, sha256: 'c'.repeat(64) }, members.slice(70_010));
    const packs = readFileSync(join(dir, 'packs.jsonl'), 'utf8').split('\n');
    writeFileSync(join(dir, 'packs.jsonl'), [packs[0], packs[2], ''].join('\n'));
    const again = new ContentIndex(dir);
    expect(again.size).toBe(140_000);
    expect(members.slice(70_000, 70_010).some((m) => again.get(m.sha256) !== undefined)).toBe(false);
    expect(members.every((m, i) => (i >= 70_000 && i < 70_010) || again.get(m.sha256)?.offset === m.offset)).toBe(true);
    expect(again.get(sha('c70010'))).toEqual({ pack: 2, offset: 70_010 * 512 });
    expect(again.get(sha('c140009'))).toEqual({ pack: 2, offset: 140_009 * 512 });
  });

  it('ignores a record torn by a crash at the end of its file', () => {
    const dir = tmp();
    const index = new ContentIndex(dir);
    index.commitPack({ no: 0, key: 'k0', size: 1, sha256: 'a'.repeat(64) }, [{ sha256: sha('x'), offset: 512 }]);
    writeFileSync(join(dir, 'content.bin'), Buffer.alloc(20, 7), { flag: 'a' });
    const again = new ContentIndex(dir);
    expect(again.size).toBe(1);
    expect(again.get(sha('x'))).toEqual({ pack: 0, offset: 512 });
  });
});
