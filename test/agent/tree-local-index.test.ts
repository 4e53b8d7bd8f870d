import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlGzWriter } from '../../agent/tree/jsonl-gz.ts';
import { LineFileWriter } from '../../agent/line-file.ts';
import { LOCAL_INDEX, PreviousIndex, entryOfRecord, localIndexFile, recordOf, type LocalEntry } from '../../agent/tree/local-index.ts';
import { LocalRecordReader, LocalRecordWriter, MAGIC, decodeRecord, msOfNs, recordLength, sameDirRecord, sameFileRecord, type RecordFields } from '../../agent/tree/local-record.ts';

// The agent's local index on its own: binary records (local-record.ts), the merge-join reader of
// the previous snapshot's records, runs of unchanged records copied as blocks, and the
// conversion of an older agent's JSON-lines index.

const b = (s: string) => Buffer.from(s);
const sha = (s: string) => createHash('sha256').update(s).digest();
const tmp = () => mkdtempSync(join(tmpdir(), 'ferry-tree-local-'));
const prefixOf = (path: string) => JSON.stringify({ path, mode: 0o644, mtime: '2026-01-01T00:00:00.000Z', type: 'file', size: 1, sha256: sha(path).toString('hex') }).slice(0, -1);
const rec = (path: string | Buffer, over: Partial<RecordFields> = {}): RecordFields => ({
  type: 'file',
  mode: 0o644,
  size: 1n,
  ino: 7n,
  dev: 3n,
  mtimeNs: 1_767_225_600_000_000_123n,
  ctimeNs: 1_767_225_600_000_000_456n,
  sha256: sha(String(path)),
  path: Buffer.isBuffer(path) ? path : b(path),
  prefix: prefixOf(String(path)),
  msTimes: true,
  ...over,
});

function writeIndex(file: string, records: RecordFields[]): void {
  const w = new LocalRecordWriter(file);
  for (const r of records) w.write(r);
  w.close();
}

function readAllRecords(file: string): RecordFields[] {
  const r = new LocalRecordReader(file);
  const out: RecordFields[] = [];
  while (r.next()) out.push(decodeRecord(r.buf, r.at));
  return out;
}

describe('local index records', () => {
  it('reads back 20,000 records across many 1 MiB chunks, fields and path bytes exact', () => {
    const file = join(tmp(), LOCAL_INDEX);
    const records = Array.from({ length: 20_000 }, (_, i) => rec(Buffer.concat([b(`d${String(i).padStart(6, '0')}/é-`), Buffer.from([0xff, i & 0xff])]), { ino: BigInt(i) * 2n ** 40n, size: BigInt(i * 1000), mode: i % 2 ? 0o600 : 0o755, sha256: i % 3 ? sha(String(i)) : undefined, ctimeNs: i % 5 ? BigInt(i) : undefined, msTimes: i % 5 !== 0 && i % 7 !== 0, prefix: `{"path":"é${'x'.repeat(i % 300)}"` }));
    writeIndex(file, records);
    expect(readFileSync(file).subarray(0, MAGIC.length).equals(MAGIC)).toBe(true);
    expect(readFileSync(file).length).toBeGreaterThan(3 * 1024 * 1024);
    expect(readAllRecords(file)).toEqual(records);
  });

  it('copies a run of consecutive records as one block: a record written between two runs lands between them, a record skipped (deleted) is left out', () => {
    const dir = tmp();
    const names = Array.from({ length: 9_000 }, (_, i) => `d/f${String(i).padStart(5, '0')}`);
    writeIndex(join(dir, 'a'), names.map((n) => rec(n)));
    const reader = new LocalRecordReader(join(dir, 'a'));
    const w = new LocalRecordWriter(join(dir, 'b'));
    for (let i = 0; reader.next(); i++) {
      if (i === 4_321) w.write(rec(names[i]!, { size: 99n }));
      else if (i === 7_000) continue;
      else w.copy(reader.buf, reader.at, reader.at + recordLength(reader.buf, reader.at));
    }
    w.close();
    const back = readAllRecords(join(dir, 'b'));
    expect(back.map((r) => r.path.toString())).toEqual(names.filter((_, i) => i !== 7_000));
    expect(back[4_321]!.size).toBe(99n);
    expect(back.filter((r) => r.size !== 1n)).toHaveLength(1);
  });

  it('takes a directory as unchanged only when mode, inode, device, mtime and ctime are all the same, and only with its ms times; never a file record', () => {
    const root = tmp();
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'f'), 'content');
    const big = lstatSync(join(root, 'd'), { bigint: true });
    const st = lstatSync(join(root, 'd'));
    const file = join(root, LOCAL_INDEX);
    writeIndex(file, [recordOf(b('d'), big, 'dir', prefixOf('d'), undefined, true), recordOf(b('e'), big, 'dir', prefixOf('e'), undefined, false), recordOf(b('f'), big, 'file', prefixOf('f'), sha('content'), true)]);
    const r = new LocalRecordReader(file);
    r.next();
    expect(sameDirRecord(r.buf, r.at, st)).toBe(true);
    expect(sameDirRecord(r.buf, r.at, { ...st, size: st.size + 4096 } as typeof st), 'size (a directory entry has none)').toBe(true);
    for (const field of ['mode', 'ino', 'dev', 'mtimeMs', 'ctimeMs'] as const) {
      const other = { ...st, [field]: st[field] + 1 } as typeof st;
      expect(sameDirRecord(r.buf, r.at, other), field).toBe(false);
    }
    expect(sameDirRecord(r.buf, r.at, { ...st, ctimeMs: st.ctimeMs + 0.0003 } as typeof st), 'ctime 300 ns later').toBe(false);
    r.next();
    expect(sameDirRecord(r.buf, r.at, st), 'no ms times: looked at').toBe(false);
    r.next();
    expect(sameDirRecord(r.buf, r.at, st), 'a file').toBe(false);
  });

  it('takes a file as unchanged only when mode, size, inode, device, mtime and ctime are all the same, and only with a hash and its ms times', () => {
    const root = tmp();
    writeFileSync(join(root, 'f'), 'content');
    const big = lstatSync(join(root, 'f'), { bigint: true });
    const st = lstatSync(join(root, 'f'));
    const file = join(root, LOCAL_INDEX);
    const f = (name: string, sha256: Buffer | undefined, msTimes: boolean) => recordOf(b(name), big, 'file', prefixOf(name), sha256, msTimes);
    writeIndex(file, [f('f', sha('content'), true), f('g', undefined, true), { ...f('h', sha('content'), true), ctimeNs: undefined }, f('i', sha('content'), false)]);
    const r = new LocalRecordReader(file);
    r.next();
    expect(sameFileRecord(r.buf, r.at, st)).toBe(true);
    for (const field of ['mode', 'size', 'ino', 'dev', 'mtimeMs', 'ctimeMs'] as const) {
      const other = { ...st, [field]: st[field] + 1 } as typeof st;
      expect(sameFileRecord(r.buf, r.at, other), field).toBe(false);
    }
    // Within the same millisecond: a change of 1 µs of the mtime, of 300 ns of the ctime (a double near 2026 resolves 0.24 µs).
    expect(sameFileRecord(r.buf, r.at, { ...st, mtimeMs: st.mtimeMs + 0.001 } as typeof st), 'mtime 1 µs later').toBe(false);
    expect(sameFileRecord(r.buf, r.at, { ...st, ctimeMs: st.ctimeMs + 0.0003 } as typeof st), 'ctime 300 ns later').toBe(false);
    r.next();
    expect(sameFileRecord(r.buf, r.at, st), 'no hash').toBe(false);
    r.next();
    expect(sameFileRecord(r.buf, r.at, st), 'no ctime (an older agent)').toBe(false);
    r.next();
    expect(sameFileRecord(r.buf, r.at, st), 'no ms times (an older agent, or a ctime not settled): compared in ns by the caller').toBe(false);
  });

  it("computes a time's ms from its ns exactly as a plain lstat does, before 1970, now and far ahead, to the nanosecond", () => {
    const root = tmp();
    const stamps = ['1960-06-01 12:00:00.999999999', '1969-12-31 23:59:59.000000001', '1970-01-01 00:00:00.5', '2026-12-03 16:40:00.123456789', '2026-12-03 16:40:00.999999999', '2038-01-19 03:14:08.000000001', '2200-01-01 00:00:00.000000250'];
    stamps.forEach((stamp, i) => {
      writeFileSync(join(root, `f${i}`), 'x');
      execFileSync('touch', ['-m', '-d', `${stamp} UTC`, join(root, `f${i}`)]);
    });
    for (let i = 0; i < stamps.length; i++) {
      const big = lstatSync(join(root, `f${i}`), { bigint: true });
      const st = lstatSync(join(root, `f${i}`));
      expect(msOfNs(big.mtimeNs), stamps[i]).toBe(st.mtimeMs);
      expect(msOfNs(big.ctimeNs), `${stamps[i]} ctime`).toBe(st.ctimeMs);
    }
  });

  it('reads a file that is not a local index of this format as empty (every path is then looked at)', () => {
    const file = join(tmp(), LOCAL_INDEX);
    writeFileSync(file, '{"path":"a"}\n');
    const prev = new PreviousIndex(file);
    expect(prev.seekRecord(b('a'))).toBe(false);
  });
});

describe('previous index merge-join', () => {
  it('answers each path asked in order, treating skipped paths as deleted', () => {
    const file = join(tmp(), LOCAL_INDEX);
    writeIndex(file, ['a', 'a/b', 'a-c', 'z'].map((p) => rec(p)));
    const prev = new PreviousIndex(file);
    expect(prev.seek(b('a'))?.path).toBe('a');
    expect(prev.seek(b('a/a'))).toBeUndefined(); // new path between two old ones
    expect(prev.seek(b('a-c'))?.path).toBe('a-c'); // a/b skipped: deleted
    expect(prev.seek(b('zz'))).toBeUndefined();
    prev.close();
    expect(new PreviousIndex(undefined).seek(b('a'))).toBeUndefined();
  });

  it('finds a path whose bytes are not UTF-8 by its bytes', () => {
    const file = join(tmp(), LOCAL_INDEX);
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    writeIndex(file, [rec('a'), rec(latin1), rec('z')]);
    const prev = new PreviousIndex(file);
    expect(prev.seekRecord(latin1)).toBe(true);
    expect(prev.found().path.equals(latin1)).toBe(true);
    expect(prev.seekRecord(b('y'))).toBe(false);
    expect(prev.seekRecord(b('z'))).toBe(true);
  });
});

describe("an older agent's local index", () => {
  const entry = (path: string, over: Partial<LocalEntry> = {}): LocalEntry => ({ path, mode: 0o644, mtime: '2026-01-01T00:00:00.000Z', type: 'file', size: 1, sha256: sha(path).toString('hex'), ino: '11', dev: '2', mtimeNs: '1767225600000000123', ctimeNs: '1767225600000000456', ...over });

  it('converts the plain JSON lines into records once, entry for entry, and drops the old file', async () => {
    const dir = tmp();
    const w = new LineFileWriter(join(dir, 'index.local.jsonl'));
    const entries = [entry('a', { type: 'dir', size: 0, sha256: undefined }), entry('a/b'), entry('l', { type: 'symlink', size: 0, sha256: undefined, target: 'a/b' } as Partial<LocalEntry>), entry('z')];
    for (const e of entries) w.writeLine(JSON.stringify(e));
    w.writeLine('{"path":"broken');
    w.close();
    const file = await localIndexFile(dir);
    expect(file).toBe(join(dir, LOCAL_INDEX));
    expect(existsSync(join(dir, 'index.local.jsonl'))).toBe(false);
    const back = readAllRecords(file!);
    expect(back.map(entryOfRecord)).toEqual(entries.map((e) => JSON.parse(JSON.stringify(e)) as LocalEntry));
    // The published line of an unchanged file is the record's prefix closed with its pack position: the old line's text.
    expect(`${back[1]!.prefix},"pack":0,"offset":0}`).toBe(JSON.stringify({ ...entry('a/b'), ino: undefined, dev: undefined, mtimeNs: undefined, ctimeNs: undefined, pack: 0, offset: 0 }));
    expect(await localIndexFile(dir)).toBe(file);
    expect(await localIndexFile(tmp())).toBeUndefined();
  });

  it('converts the gzip file of an agent before that, and a line without ctime never matches a file', async () => {
    const dir = tmp();
    const w = new JsonlGzWriter(join(dir, 'index.local.gz'), 1);
    w.write(entry('a'));
    w.write({ ...entry('b'), ctimeNs: undefined });
    await w.close();
    const file = await localIndexFile(dir);
    expect(existsSync(join(dir, 'index.local.gz'))).toBe(false);
    const back = readAllRecords(file!);
    expect(back.map((r) => [r.path.toString(), r.ino, r.ctimeNs])).toEqual([
      ['a', 11n, 1_767_225_600_000_000_456n],
      ['b', 11n, undefined],
    ]);
  });
});
