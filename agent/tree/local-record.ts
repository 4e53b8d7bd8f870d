import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import type { WalkStat } from './walk.ts';

// The binary records of the agent's local index (local-index.ts): one a path, in snapshot order.
// An unchanged file is the common case of an incremental snapshot, and its record is handled
// as bytes only: its identity compared as numbers with the lstat, its path compared in place,
// its published line copied out of the record, and the record itself copied (with its unchanged
// neighbours, as one block) into the next index. Nothing is decoded, parsed or serialised for it.
// With JSON lines each such path cost a UTF-8 decode, string building and comparing, a line
// re-encoded, and the garbage of all that: more than the rest of its work but the lstat.
//
// File: MAGIC, then records. A record (little-endian):
//   0 u32 record length      4 u8 type (0 file, 1 dir, 2 symlink)   5 u8 flags (bit 0: SHA-256
//   present, bit 1: ctime present)  6 u16 mode   8 u64 size   16 u64 ino   24 u64 dev
//   32 i64 mtime ns  40 i64 ctime ns  48 32 bytes SHA-256  80 u32 path length  84 u32 prefix length
//   88 path bytes (raw, as the walk sees them), then the prefix: the UTF-8 published line of the
//   path without its pack position and closing brace (`{"path":…,"sha256":"…"`), so a carried
//   file's published line is that prefix plus `,"pack":…,"offset":…}`; then, with flag bit 2
//   (ms times), the mtime and ctime in ms as f64, exactly as Node's plain `Stats` has them
//   (`mtimeMs`, `ctimeMs`), in the record's last 16 bytes. A record without them (an agent
//   before them wrote it, or its ctime was too recent: docs/file-shares.md, "Change detection")
//   is compared in ns by the caller. Readers skip a record by its length, so an agent before the
//   ms times reads these records as it did its own.

export const MAGIC = Buffer.from('FERRYLX1');
const HEADER = 88;
const CHUNK_BYTES = 1024 * 1024;
const TYPES = ['file', 'dir', 'symlink'] as const;
export type RecordType = (typeof TYPES)[number];
const HAS_SHA = 1;
const HAS_CTIME = 2;
const HAS_MS = 4;
const MS_BYTES = 16;
/** The flags of a record the walk's plain lstat can tell unchanged. */
const COMPARABLE = HAS_SHA | HAS_CTIME | HAS_MS;

/** What a record holds, in the form a new entry has it. */
export interface RecordFields {
  type: RecordType;
  mode: number;
  size: bigint;
  ino: bigint;
  dev: bigint;
  mtimeNs: bigint;
  /** Undefined for a path an agent before the ctime was recorded listed: such a file never matches. */
  ctimeNs: bigint | undefined;
  sha256: Buffer | undefined;
  path: Buffer;
  /** The published line without pack position and closing brace. */
  prefix: string;
  /**
   * Whether the record carries its times in ms as well, so that a plain lstat (no BigInt) can
   * tell the file unchanged: only when its ctime is safely in the past (snapshot.ts).
   */
  msTimes: boolean;
}

/**
 * A time in ns as Node's plain `Stats` has it in ms: the timespec's seconds times 1000 plus its
 * nanoseconds / 1e6 (seconds rounded down, nanoseconds never negative), the same two steps in
 * the same order, so the same double (a test compares it with `lstat` for every file of a tree).
 */
export function msOfNs(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  let nsec = ns - sec * 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return Number(sec) * 1000 + Number(nsec) / 1e6;
}

/** A u64 as the double Node's plain `Stats` has (rounded to nearest once, as the C++ cast does). */
const u64 = (buf: Buffer, at: number) => buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);

/** Where the parts of the record at `at` in `buf` are. */
export const recordLength = (buf: Buffer, at: number) => buf.readUInt32LE(at);
export const recordType = (buf: Buffer, at: number): RecordType => TYPES[buf[at + 4]!] ?? 'file';
export const pathStart = (at: number) => at + HEADER;
export const pathLength = (buf: Buffer, at: number) => buf.readUInt32LE(at + 80);
export const prefixStart = (buf: Buffer, at: number) => at + HEADER + pathLength(buf, at);
export const prefixEnd = (buf: Buffer, at: number) => prefixStart(buf, at) + buf.readUInt32LE(at + 84);
export const shaStart = (at: number) => at + 48;

/** The same version of the file's content: size, mtime, ctime, inode and device as the previous record says. */
export function sameContent(p: RecordFields, st: BigIntStats): boolean {
  return p.type === 'file' && p.sha256 !== undefined && p.size === st.size && p.mtimeNs === st.mtimeNs && p.ctimeNs === st.ctimeNs && p.ino === st.ino && p.dev === st.dev;
}

/**
 * True when the record at `at` is a file's, with a SHA-256 and its times in ms, and the mode,
 * size, inode, device, mtime and ctime of `st` (a plain lstat: no BigInt made): the same version
 * of the same file. False for a record without ms times: the caller compares it in ns.
 */
export function sameFileRecord(buf: Buffer, at: number, st: WalkStat): boolean {
  return buf[at + 4] === 0 && buf[at + 5] === COMPARABLE && u64(buf, at + 8) === st.size && sameIdentityAndTimes(buf, at, st);
}

/** The flags of a directory's record the walk's plain lstat can tell unchanged (a directory has no hash). */
const COMPARABLE_DIR = HAS_CTIME | HAS_MS;

/**
 * True when the record at `at` is a directory's, with its times in ms, and the mode, inode,
 * device, mtime and ctime of `st` (a plain lstat): the directory's entry is the same (a name
 * added, removed or renamed in it moves its mtime; a chmod its ctime). Its size is not compared:
 * a directory's entry has none.
 */
export function sameDirRecord(buf: Buffer, at: number, st: WalkStat): boolean {
  return buf[at + 4] === 1 && buf[at + 5] === COMPARABLE_DIR && sameIdentityAndTimes(buf, at, st);
}

/** The record's mtime and ctime in ms, inode, device and mode are those of `st` (its flags say it has ms times). */
function sameIdentityAndTimes(buf: Buffer, at: number, st: WalkStat): boolean {
  const ms = at + buf.readUInt32LE(at) - MS_BYTES;
  return (
    buf.readDoubleLE(ms) === st.mtimeMs &&
    buf.readDoubleLE(ms + 8) === st.ctimeMs &&
    u64(buf, at + 16) === st.ino &&
    u64(buf, at + 24) === st.dev &&
    buf.readUInt16LE(at + 6) === (st.mode & 0o7777)
  );
}

/** The fields of the record at `at` (for a path that is looked at again, and for tests). */
export function decodeRecord(buf: Buffer, at: number): RecordFields {
  const flags = buf[at + 5]!;
  return {
    type: recordType(buf, at),
    mode: buf.readUInt16LE(at + 6),
    size: buf.readBigUInt64LE(at + 8),
    ino: buf.readBigUInt64LE(at + 16),
    dev: buf.readBigUInt64LE(at + 24),
    mtimeNs: buf.readBigInt64LE(at + 32),
    ctimeNs: flags & HAS_CTIME ? buf.readBigInt64LE(at + 40) : undefined,
    sha256: flags & HAS_SHA ? Buffer.from(buf.subarray(shaStart(at), shaStart(at) + 32)) : undefined,
    path: Buffer.from(buf.subarray(pathStart(at), pathStart(at) + pathLength(buf, at))),
    prefix: buf.toString('utf8', prefixStart(buf, at), prefixEnd(buf, at)),
    msTimes: (flags & HAS_MS) !== 0,
  };
}

/** Writes records (or copies them from a previous index) into a file, in chunks of 1 MiB. */
export class LocalRecordWriter {
  private fd: number | undefined;
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  /** A run of records to copy as one block: consecutive in the same source buffer. */
  private run: { src: Buffer; start: number; end: number } | undefined;
  /** Bytes written to the file so far (the buffer's are not). */
  private flushed = 0;
  records = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
    MAGIC.copy(this.buf, 0);
    this.used = MAGIC.length;
  }

  /** Copies the record at `start..end` of `src` (a previous index's chunk, never written to again); a record right after the last one copied extends its run. */
  copy(src: Buffer, start: number, end: number): void {
    this.records++;
    if (this.run && this.run.src === src && this.run.end === start) {
      this.run.end = end;
      return;
    }
    this.endRun();
    this.run = { src, start, end };
  }

  /** Where the next byte lands in the file (a delta's literal records are located by it: local-delta.ts). */
  get position(): number {
    return this.flushed + this.used + (this.run ? this.run.end - this.run.start : 0);
  }

  /** Appends bytes that are not a record (a delta's table of operations, after its records). */
  appendRaw(bytes: Buffer): void {
    this.endRun();
    if (bytes.length > this.buf.length - this.used) this.flush();
    if (bytes.length > this.buf.length) return this.writeOut(bytes);
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  write(f: RecordFields): void {
    this.endRun();
    this.records++;
    const prefixBytes = Buffer.byteLength(f.prefix);
    const msTimes = f.msTimes && f.ctimeNs !== undefined;
    const length = HEADER + f.path.length + prefixBytes + (msTimes ? MS_BYTES : 0);
    this.room(length);
    const b = this.buf;
    const at = this.used;
    b.writeUInt32LE(length, at);
    b[at + 4] = TYPES.indexOf(f.type);
    b[at + 5] = (f.sha256 ? HAS_SHA : 0) | (f.ctimeNs !== undefined ? HAS_CTIME : 0) | (msTimes ? HAS_MS : 0);
    b.writeUInt16LE(f.mode, at + 6);
    b.writeBigUInt64LE(f.size, at + 8);
    b.writeBigUInt64LE(f.ino, at + 16);
    b.writeBigUInt64LE(f.dev, at + 24);
    b.writeBigInt64LE(f.mtimeNs, at + 32);
    b.writeBigInt64LE(f.ctimeNs ?? 0n, at + 40);
    if (f.sha256) f.sha256.copy(b, at + 48);
    else b.fill(0, at + 48, at + 80);
    b.writeUInt32LE(f.path.length, at + 80);
    b.writeUInt32LE(prefixBytes, at + 84);
    f.path.copy(b, at + HEADER);
    b.write(f.prefix, at + HEADER + f.path.length, 'utf8');
    if (msTimes) {
      b.writeDoubleLE(msOfNs(f.mtimeNs), at + length - MS_BYTES);
      b.writeDoubleLE(msOfNs(f.ctimeNs!), at + length - MS_BYTES + 8);
    }
    this.used += length;
  }

  private endRun(): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    const n = run.end - run.start;
    if (n > this.buf.length - this.used) this.flush();
    if (n > this.buf.length) return this.writeOut(run.src.subarray(run.start, run.end));
    run.src.copy(this.buf, this.used, run.start, run.end);
    this.used += n;
  }

  private room(n: number): void {
    if (this.used + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
  }

  private flush(): void {
    this.writeOut(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private writeOut(bytes: Buffer): void {
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd!, bytes, at);
    this.flushed += bytes.length;
  }

  /** Writes what is pending and closes the file (its bytes are in the page cache: the caller syncs what must survive a crash). */
  close(): void {
    if (this.fd === undefined) return;
    try {
      this.endRun();
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** The records of a local index file in order, read synchronously in chunks of 1 MiB (each a new buffer, so that a run copied from one stays valid). */
export class LocalRecordReader {
  private fd: number | undefined;
  /** The chunk the current record is in, and where. */
  buf: Buffer = Buffer.alloc(0);
  at = 0;
  private end = 0;
  private next0 = 0;
  /** The file offset of `buf[0]`, and where the records being read end. */
  private pos = MAGIC.length;
  private to = Infinity;
  /** False when the file is not a local index of this format (it is then read as empty). */
  readonly valid: boolean;

  constructor(file: string) {
    this.fd = openSync(file, 'r');
    const magic = Buffer.alloc(MAGIC.length);
    this.valid = readSync(this.fd, magic, 0, MAGIC.length, 0) === MAGIC.length && magic.equals(MAGIC);
    if (!this.valid) this.close();
  }

  /** The file offset of the current record. */
  get offset(): number {
    return this.pos + this.at;
  }

  /** Reads the records at `from..to` of the file next (a delta's operation: local-delta.ts); false when the file is closed. */
  range(from: number, to: number): boolean {
    this.buf = Buffer.alloc(0);
    this.at = this.end = this.next0 = 0;
    this.pos = from;
    this.to = to;
    return this.fd !== undefined;
  }

  /** Moves to the next record (`buf`, `at`); false at the end of the file. */
  next(): boolean {
    const left = this.end - this.next0;
    if ((left < 4 || left < this.buf.readUInt32LE(this.next0)) && !this.fill()) return false;
    const length = this.buf.readUInt32LE(this.next0);
    // A length no record has: the rest of the file is not trusted (its paths are read again).
    if (length < HEADER) return (this.close(), false);
    this.at = this.next0;
    this.next0 += length;
    return true;
  }

  /** A new chunk starting at the first unread byte; false when no whole record is left. */
  private fill(): boolean {
    const rest = this.end - this.next0;
    const need = rest >= 4 ? this.buf.readUInt32LE(this.next0) : 4;
    this.pos += this.next0;
    // A range of a few records gets a chunk of its size, not 1 MiB.
    const chunk = Buffer.allocUnsafe(Math.max(Math.min(CHUNK_BYTES, this.to - this.pos), need));
    this.buf.copy(chunk, 0, this.next0, this.end);
    let end = rest;
    while (this.fd !== undefined && end < chunk.length && this.pos + end < this.to) {
      const n = readSync(this.fd, chunk, end, Math.min(chunk.length - end, this.to - this.pos - end), this.pos + end);
      if (n === 0) {
        if (this.to === Infinity) this.close();
        break;
      }
      end += n;
    }
    this.buf = chunk;
    this.end = end;
    this.next0 = 0;
    // A record cut short at the end of the file (not one this writer leaves: it is renamed into place whole) ends it.
    return end >= 4 && end >= chunk.readUInt32LE(0);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
