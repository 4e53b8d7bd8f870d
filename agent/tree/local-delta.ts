import { closeSync, fstatSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { LocalRecordReader, LocalRecordWriter, recordLength, type RecordFields } from './local-record.ts';

// The local index of the last snapshot is a base file (`index.local.bin`, records in snapshot
// order) and, most of the time, a delta (`index.local.delta`) saying how the last snapshot's
// records are made of the base's: ranges of the base copied as they are, and the records that
// are not in the base (new, changed, or carried over from an earlier delta) stored in the delta
// itself. A snapshot in which 1 % of the files changed writes about 1 % of the index (the
// changed records and a table of ranges) instead of all of it (~265 bytes a path, 26 MB for
// 100,000 paths, which a busy disk made cost as much as the rest of the snapshot). The base is
// never written while a delta names it; when the delta's own records pass a quarter of the
// base, the snapshot writes a whole new base instead (and the delta goes).
//
// Delta file: the records' MAGIC, the delta's own records, then the table: per operation a u8
// (0: base range, 1: a range of this file) and its start and end offsets (f64), then a trailer:
// the table's offset, the base's size and inode (f64 each), the number of operations (u32) and
// DELTA_MAGIC. A delta whose base is not that file (another size or inode: a whole new base was
// renamed into place and the process stopped before the delta was removed) is ignored, and the
// base alone is the index; every record of either is self-consistent (path, identity, hash), so
// the worst an ignored delta costs is reading again what changed since the base.

export const DELTA_MAGIC = Buffer.from('FERRYLD1');
const OP_BYTES = 17;
const TRAILER_BYTES = 8 + 8 + 8 + 4 + DELTA_MAGIC.length;
/** A delta whose own records pass this share of the base's bytes is folded into a new base. */
export const DELTA_MAX_SHARE = 0.25;
const BASE = 0;
const OWN = 1;

/** The delta file beside a base file. */
export const deltaFileOf = (base: string) => base.replace(/\.bin$/, '') + '.delta';

/** A base file's identity as a delta records it; undefined when there is none. */
export function baseIdentity(file: string): { size: number; ino: number } | undefined {
  try {
    const st = statSync(file);
    return { size: st.size, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** The operations of a valid delta of `base` (flat: kind, from, to), or undefined. */
function readOps(deltaFile: string, base: { size: number; ino: number }): number[] | undefined {
  let fd: number;
  try {
    fd = openSync(deltaFile, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < TRAILER_BYTES) return undefined;
    const t = Buffer.alloc(TRAILER_BYTES);
    readSync(fd, t, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (!t.subarray(28).equals(DELTA_MAGIC) || t.readDoubleLE(8) !== base.size || t.readDoubleLE(16) !== base.ino) return undefined;
    const opsAt = t.readDoubleLE(0);
    const count = t.readUInt32LE(24);
    if (opsAt + count * OP_BYTES !== size - TRAILER_BYTES) return undefined;
    const table = Buffer.alloc(count * OP_BYTES);
    readSync(fd, table, 0, table.length, opsAt);
    const ops: number[] = [];
    for (let i = 0; i < count; i++) ops.push(table[i * OP_BYTES]!, table.readDoubleLE(i * OP_BYTES + 1), table.readDoubleLE(i * OP_BYTES + 9));
    return ops;
  } finally {
    closeSync(fd);
  }
}

/**
 * The records of the last snapshot, in order: the base's alone, or the base's and the delta's
 * as the delta's operations say. `baseOffset` is where the current record is in the base, or -1
 * when it is the delta's own (so the next delta copies a base range and stores only the rest).
 */
export class LocalIndexReader {
  private readonly base: LocalRecordReader;
  private readonly delta: LocalRecordReader | undefined;
  private ops: number[] | undefined;
  private op = 0;
  private current: LocalRecordReader;
  readonly valid: boolean;

  constructor(baseFile: string, deltaFile = deltaFileOf(baseFile)) {
    this.base = new LocalRecordReader(baseFile);
    this.valid = this.base.valid;
    const identity = this.valid ? baseIdentity(baseFile) : undefined;
    this.ops = identity ? readOps(deltaFile, identity) : undefined;
    this.delta = this.ops ? new LocalRecordReader(deltaFile) : undefined;
    if (this.delta && !this.delta.valid) this.ops = undefined;
    this.current = this.base;
    if (this.ops) this.current.range(0, 0);
  }

  get buf(): Buffer {
    return this.current.buf;
  }

  get at(): number {
    return this.current.at;
  }

  get baseOffset(): number {
    return this.current === this.base ? this.base.offset : -1;
  }

  /** Moves to the next record; false at the end. */
  next(): boolean {
    if (this.current.next()) return true;
    const ops = this.ops;
    while (ops && this.op < ops.length) {
      const [kind, from, to] = [ops[this.op]!, ops[this.op + 1]!, ops[this.op + 2]!];
      this.op += 3;
      this.current = kind === BASE ? this.base : this.delta!;
      if (this.current.range(from, to) && this.current.next()) return true;
    }
    return false;
  }

  close(): void {
    this.base.close();
    this.delta?.close();
  }
}

/**
 * Writes the next local index: a whole base when there is no base to refer to, else a delta of
 * `base` (the file the previous index's records were read from, with its identity), folded into a
 * whole base at close when its own records pass DELTA_MAX_SHARE of the base.
 */
export class LocalIndexWriter {
  private readonly out: LocalRecordWriter;
  /** Operations (flat: kind, from, to), consecutive ranges of the same kind joined. */
  private readonly ops: number[] = [];
  private ownBytes = 0;
  records = 0;

  constructor(
    readonly file: string,
    private readonly base?: { file: string; size: number; ino: number },
  ) {
    this.out = new LocalRecordWriter(file);
  }

  /** Copies the record at `src[start..end]`, which is at `baseOffset` in the base (-1: not in the base). */
  copy(src: Buffer, start: number, end: number, baseOffset: number): void {
    this.records++;
    if (!this.base) return this.out.copy(src, start, end);
    if (baseOffset >= 0) return this.range(BASE, baseOffset, baseOffset + end - start);
    const at = this.out.position;
    this.out.copy(src, start, end);
    this.range(OWN, at, this.out.position);
  }

  write(f: RecordFields): void {
    this.records++;
    const at = this.out.position;
    this.out.write(f);
    if (this.base) this.range(OWN, at, this.out.position);
  }

  private range(kind: number, from: number, to: number): void {
    const ops = this.ops;
    const n = ops.length;
    if (kind === OWN) this.ownBytes += to - from;
    if (n > 0 && ops[n - 3] === kind && ops[n - 1] === from) ops[n - 1] = to;
    else ops.push(kind, from, to);
  }

  /** Closes the file as it is, after a failure (the snapshot's work directory goes). */
  discard(): void {
    this.out.close();
  }

  /** Closes the file; `delta` says whether it is a delta of the base (else a whole base). */
  close(): { delta: boolean } {
    const base = this.base;
    if (!base) {
      this.out.close();
      return { delta: false };
    }
    const count = this.ops.length / 3;
    const table = Buffer.alloc(count * OP_BYTES + TRAILER_BYTES);
    for (let i = 0; i < count; i++) {
      table[i * OP_BYTES] = this.ops[i * 3]!;
      table.writeDoubleLE(this.ops[i * 3 + 1]!, i * OP_BYTES + 1);
      table.writeDoubleLE(this.ops[i * 3 + 2]!, i * OP_BYTES + 9);
    }
    const t = count * OP_BYTES;
    table.writeDoubleLE(this.out.position, t);
    table.writeDoubleLE(base.size, t + 8);
    table.writeDoubleLE(base.ino, t + 16);
    table.writeUInt32LE(count, t + 24);
    DELTA_MAGIC.copy(table, t + 28);
    this.out.appendRaw(table);
    this.out.close();
    if (this.ownBytes <= base.size * DELTA_MAX_SHARE) return { delta: true };
    foldDelta(this.file, base);
    return { delta: false };
  }
}

/** Rewrites `file`, a delta of `base`, as a whole base holding the same records. */
function foldDelta(file: string, base: { file: string }): void {
  const whole = `${file}.whole`;
  const out = new LocalRecordWriter(whole);
  // The delta is read as if it sat beside the base.
  const reader = new LocalIndexReader(base.file, file);
  try {
    while (reader.next()) out.copy(reader.buf, reader.at, reader.at + recordLength(reader.buf, reader.at));
  } finally {
    reader.close();
    out.close();
  }
  renameSync(whole, file);
}
