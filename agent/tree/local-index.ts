import { existsSync, renameSync, rmSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { TreeEntry } from '../../core/tree-manifest.ts';
import { compareTreePaths, entryPathBytes } from './paths.ts';
import { readLineBatchesFile } from './jsonl-gz.ts';
import { LineFileReader, LineFileWriter } from '../line-file.ts';

// The agent's own copy of a snapshot's file list (state dir, plain JSON lines, snapshot order):
// the published entry without its pack position (that comes from the content index) plus what
// tells an unchanged file without reading it: inode, device, and the mtime and ctime in
// nanoseconds. The ctime is there because the mtime can be put back (`touch -r`, a copy tool
// keeping times) after a rewrite of the same size, while the ctime cannot be set by anyone.
// Written as JSON.stringify({...entry, ...identity}) with the identity last, so an unchanged
// file's line is recognised, and carried into the next snapshot, by comparing strings: nothing
// is parsed or serialised again for it (unchangedFileSha, publishedPrefix).

export type LocalEntry = Omit<TreeEntry, 'pack' | 'offset'> & { ino: string; dev: string; mtimeNs: string; ctimeNs: string };

/** What identifies one version of a path, as its local line holds it (in this key order). */
export function identityOf(st: BigIntStats): Pick<LocalEntry, 'ino' | 'dev' | 'mtimeNs' | 'ctimeNs'> {
  return { ino: String(st.ino), dev: String(st.dev), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

/** The end of a local line from its identity on: `,"ino":…,"ctimeNs":"…"}`. */
const identityTail = (st: BigIntStats) => `,"ino":"${st.ino}","dev":"${st.dev}","mtimeNs":"${st.mtimeNs}","ctimeNs":"${st.ctimeNs}"}`;

/** The start of the local (and published) line of a path whose bytes are valid UTF-8: `{"path":"…","mode":`. */
export const lineHead = (path: string) => `{"path":${JSON.stringify(path)},"mode":`;

const ISO_LENGTH = '2026-01-01T00:00:00.000Z'.length;
const SHA_HEX = 64;

/**
 * The SHA-256 (hex) of a file unchanged since `line` was written, read from the line without
 * parsing it: the line must be a file's, at the path `head` starts (lineHead), with the mode,
 * size, inode, device, mtime and ctime of `st`. Undefined when anything differs or the line is
 * not in the shape this writer gives it (an older agent's line: the file is looked at again).
 */
export function unchangedFileSha(line: string, head: string, st: BigIntStats): string | undefined {
  const start = `${head}${Number(st.mode & 0o7777n)},"mtime":"`;
  const middle = `","type":"file","size":${st.size},"sha256":"`;
  const tail = `"${identityTail(st)}`;
  if (line.length !== start.length + ISO_LENGTH + middle.length + SHA_HEX + tail.length) return undefined;
  if (!line.startsWith(start) || !line.endsWith(tail)) return undefined;
  const shaAt = line.length - tail.length - SHA_HEX;
  if (!line.startsWith(middle, shaAt - middle.length)) return undefined;
  const sha = line.slice(shaAt, shaAt + SHA_HEX);
  return /^[0-9a-f]{64}$/.test(sha) ? sha : undefined;
}

/** The published line of a local line without its closing brace (add `,"pack":…,"offset":…}` or `}`); undefined when the line is not in the expected shape. */
export function publishedPrefix(line: string): string | undefined {
  const at = line.lastIndexOf(',"ino":');
  return at > 0 ? line.slice(0, at) : undefined;
}

/** A previous line; its entry is parsed only when asked for (an unchanged file's never is). */
export class PriorEntry {
  private parsed: LocalEntry | undefined;
  constructor(readonly line: string) {}

  get entry(): LocalEntry {
    return (this.parsed ??= JSON.parse(this.line) as LocalEntry);
  }
}

/** The local index of a source's last snapshot in its state directory. */
export const LOCAL_INDEX = 'index.local.jsonl';
/** Where an agent before the plain local index kept it (gzip): read once, then replaced. */
const LEGACY_LOCAL_INDEX = 'index.local.gz';

/**
 * The local index of the last snapshot in `dir` (undefined when there is none), converted from
 * the gzip file an older agent wrote when that is all there is: once, streamed, replaced only
 * when the plain copy is complete.
 */
export async function localIndexFile(dir: string): Promise<string | undefined> {
  const file = join(dir, LOCAL_INDEX);
  if (existsSync(file)) return file;
  const legacy = join(dir, LEGACY_LOCAL_INDEX);
  if (!existsSync(legacy)) return undefined;
  const part = `${file}.part`;
  const out = new LineFileWriter(part);
  try {
    for await (const batch of readLineBatchesFile(legacy)) for (const line of batch) out.writeLine(line);
  } finally {
    out.close();
  }
  renameSync(part, file);
  rmSync(legacy, { force: true });
  return file;
}

/** Streams a local index and answers "what did the previous snapshot hold at this path", for paths asked in snapshot order. */
export class PreviousIndex {
  private readonly reader: LineFileReader | undefined;
  private head: { prior: PriorEntry; bytes?: Buffer } | undefined;
  private done: boolean;
  entries = 0;

  constructor(file: string | undefined) {
    this.reader = file && existsSync(file) ? new LineFileReader(file) : undefined;
    this.done = this.reader === undefined;
  }

  private advance(): void {
    const line = this.reader!.next();
    if (line === undefined) {
      this.done = true;
      this.head = undefined;
      return;
    }
    this.entries++;
    this.head = { prior: new PriorEntry(line) };
  }

  /**
   * The previous line at `rel`, skipping (as deleted) every earlier path; undefined when it had
   * none. `head` (lineHead of the path, when its bytes are valid UTF-8) recognises the line of
   * the same path without parsing it; any other line is parsed to be ordered. Paths are asked
   * in strictly increasing order, so a line found is used up. Synchronous: the file is read in
   * chunks of 1 MiB from the page cache.
   */
  seekLine(rel: Buffer, head?: string): PriorEntry | undefined {
    while (!this.done) {
      if (!this.head) this.advance();
      if (!this.head) return undefined;
      const found = this.head.prior;
      if (head !== undefined && found.line.startsWith(head)) {
        this.head = undefined;
        return found;
      }
      this.head.bytes ??= entryPathBytes(found.entry);
      const c = compareTreePaths(this.head.bytes, rel);
      if (c > 0) return undefined;
      this.head = undefined;
      if (c === 0) return found;
    }
    return undefined;
  }

  /** The previous entry at `rel`, skipping (as deleted) every earlier path; undefined when it had none. */
  seek(rel: Buffer): LocalEntry | undefined {
    return this.seekLine(rel)?.entry;
  }

  close(): void {
    this.reader?.close();
  }
}
