import { existsSync, renameSync, rmSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { TreeEntry } from '../../core/tree-manifest.ts';
import { compareTreePaths, entryPathBytes } from './paths.ts';
import { readLineBatchesFile } from './jsonl-gz.ts';
import { LineFileReader } from '../line-file.ts';
import { LocalRecordWriter, decodeRecord, pathLength, pathStart, type RecordFields } from './local-record.ts';
import { LocalIndexReader, baseIdentity } from './local-delta.ts';

// The agent's own copy of a snapshot's file list (state dir, binary records in snapshot order,
// local-record.ts): every path's published line without its pack position (that comes from the
// content index) plus what tells an unchanged file without reading it: inode, device, and the
// mtime and ctime in nanoseconds. The ctime is there because the mtime can be put back (`touch
// -r`, a copy tool keeping times) after a rewrite of the same size, while the ctime cannot be
// set by anyone. The local index of an older agent (JSON lines, plain or gzip) is converted once.

export type LocalEntry = Omit<TreeEntry, 'pack' | 'offset'> & { ino: string; dev: string; mtimeNs: string; ctimeNs: string };

/** The local index of a source's last snapshot in its state directory. */
export const LOCAL_INDEX = 'index.local.bin';
/** Where older agents kept it: JSON lines, plain, and before that gzip. Read once, then replaced. */
const LEGACY_LOCAL_INDEXES = ['index.local.jsonl', 'index.local.gz'];

/**
 * The record of a path the walk met, from what its lstat says; `prefix` is its published line
 * without pack position and closing brace; `msTimes`: whether it carries its times in ms too
 * (a settled ctime, snapshot.ts).
 */
export function recordOf(path: Buffer, st: BigIntStats, type: RecordFields['type'], prefix: string, sha256?: Buffer, msTimes = false): RecordFields {
  return { type, mode: Number(st.mode & 0o7777n), size: type === 'file' ? st.size : 0n, ino: st.ino, dev: st.dev, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, sha256, path, prefix, msTimes };
}

/** The entry a record describes (identity as strings, as LocalEntry has always had them). */
export function entryOfRecord(f: RecordFields): LocalEntry {
  const published = JSON.parse(`${f.prefix}}`) as Omit<TreeEntry, 'pack' | 'offset'>;
  return { ...published, ino: String(f.ino), dev: String(f.dev), mtimeNs: String(f.mtimeNs), ctimeNs: f.ctimeNs === undefined ? (undefined as unknown as string) : String(f.ctimeNs) };
}

/** The record of an older agent's JSON line; undefined for a line that is not an entry (its path is then read again). */
export function recordOfLegacyLine(line: string): RecordFields | undefined {
  let e: Partial<LocalEntry> & TreeEntry;
  try {
    e = JSON.parse(line) as typeof e;
  } catch {
    return undefined;
  }
  if (typeof e.path !== 'string' || (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink')) return undefined;
  const { ino, dev, mtimeNs, ctimeNs, ...published } = e;
  const big = (v: string | undefined) => (v !== undefined && /^-?\d+$/.test(v) ? BigInt(v) : 0n);
  return {
    type: e.type,
    mode: e.mode & 0o7777,
    size: BigInt(e.size ?? 0),
    ino: big(ino),
    dev: big(dev),
    mtimeNs: big(mtimeNs),
    // A line without its identity never matches a file: the file is read again once.
    ctimeNs: ino !== undefined && ctimeNs !== undefined ? big(ctimeNs) : undefined,
    sha256: typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256) ? Buffer.from(e.sha256, 'hex') : undefined,
    path: entryPathBytes(e),
    prefix: JSON.stringify(published).slice(0, -1),
    msTimes: false,
  };
}

async function* legacyLines(file: string): AsyncGenerator<string[]> {
  if (file.endsWith('.gz')) return yield* readLineBatchesFile(file);
  const reader = new LineFileReader(file);
  try {
    for (let line = reader.next(); line !== undefined; line = reader.next()) yield [line];
  } finally {
    reader.close();
  }
}

/**
 * The local index of the last snapshot in `dir` (undefined when there is none), converted from
 * the JSON lines an older agent wrote when that is all there is: once, streamed, replaced only
 * when the new file is complete.
 */
export async function localIndexFile(dir: string): Promise<string | undefined> {
  const file = join(dir, LOCAL_INDEX);
  if (existsSync(file)) return file;
  const legacy = LEGACY_LOCAL_INDEXES.map((name) => join(dir, name)).find((f) => existsSync(f));
  if (!legacy) return undefined;
  const part = `${file}.part`;
  const out = new LocalRecordWriter(part);
  try {
    for await (const batch of legacyLines(legacy)) {
      for (const line of batch) {
        const record = recordOfLegacyLine(line);
        if (record) out.write(record);
      }
    }
  } finally {
    out.close();
  }
  renameSync(part, file);
  for (const name of LEGACY_LOCAL_INDEXES) rmSync(join(dir, name), { force: true });
  return file;
}

/**
 * Streams a local index and answers "what did the previous snapshot hold at this path", for
 * paths asked in snapshot order. Synchronous: the file is read in chunks of 1 MiB from the page
 * cache. After seekRecord found a path, its record is at `buf`, `at` until the next call.
 */
export class PreviousIndex {
  private readonly reader: LocalIndexReader | undefined;
  /** The record read but not used yet (a path after the one last asked for). */
  private pending = false;
  private done: boolean;
  /** The base file the records are read from (with its delta, local-delta.ts), when it is one; the next index can be a delta of it. */
  readonly base: { file: string; size: number; ino: number } | undefined;

  constructor(file: string | undefined) {
    const identity = file ? baseIdentity(file) : undefined;
    this.reader = file && identity ? new LocalIndexReader(file) : undefined;
    this.done = !this.reader?.valid;
    this.base = file && identity && !this.done ? { file, ...identity } : undefined;
  }

  /** Where the record found is in the base file, or -1 when it is not the base's. */
  get baseOffset(): number {
    return this.reader!.baseOffset;
  }

  get buf(): Buffer {
    return this.reader!.buf;
  }

  get at(): number {
    return this.reader!.at;
  }

  /** Whether the previous snapshot held `rel`, skipping (as deleted) every earlier path. Paths are asked in strictly increasing order, so a record found is used up. */
  seekRecord(rel: Buffer): boolean {
    while (!this.done) {
      if (!this.pending && !this.reader!.next()) {
        this.done = true;
        return false;
      }
      const { buf, at } = this.reader!;
      const c = compareTreePaths(buf, rel, pathStart(at), pathStart(at) + pathLength(buf, at));
      this.pending = c > 0;
      if (c >= 0) return c === 0;
    }
    return false;
  }

  /** The record found by the last seekRecord, decoded. */
  found(): RecordFields {
    return decodeRecord(this.reader!.buf, this.reader!.at);
  }

  /** The previous entry at `rel`, skipping (as deleted) every earlier path; undefined when it had none. */
  seek(rel: Buffer): LocalEntry | undefined {
    return this.seekRecord(rel) ? entryOfRecord(this.found()) : undefined;
  }

  close(): void {
    this.reader?.close();
  }
}
