import { closeSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { LineBytesReader, LineFileWriter } from '../line-file.ts';
import { fsyncDirectory } from './atomic-file.ts';

// The recordings the journal knows were shipped, by batch, kept in the state directory rather
// than in memory: memory must not grow with what a site has shipped (a million recordings held
// as listings took ~30 MB, and a compaction that wrote them into the journal's snapshot line
// several times that). Two parts:
// - the base: a file of one line per batch, `["source\tbatch",["name\tsize\tmtime",…]]`,
//   sorted by key (plain string order), looked up by binary search over byte offsets, read in
//   chunks, never loaded whole;
// - the overlay: the batches published since the base was last rewritten, in memory, at most
//   `overlayLimit` of them (1,024 by default); past that they are merged into the base (streamed, written to
//   `.tmp`, fsynced, renamed into place, directory fsynced).
// The journal's lines stay the durable record of what was published until the journal is
// compacted, and it merges the overlay into the base first: a crash at any moment leaves the old
// base or the new one, and the journal's lines since the old one (replayed on load, a union).

/** The stamp keys ("name\tsize\tmtime") of one batch's shipped files, as a set. */
export type Shipped = ReadonlySet<string>;

/** Bytes read at a time: about one line of a batch of 100 recordings. */
const CHUNK = 4096;
/** Lines after the last one read that a lookup tries before it searches. */
const NEXT_LINES_TRIED = 4;
/**
 * A batch of the overlay as one string: its stamp keys sorted and joined by NUL (the one byte a
 * file name cannot hold): ~3 KB for 100 recordings where a set of strings takes three times that.
 */
const SEP = '\0';
const listing = (keys: Iterable<string>): string => [...new Set(keys)].sort().join(SEP);
const keysOf = (list: string | undefined): string[] => (list === undefined || list === '' ? [] : list.split(SEP));
const EMPTY: Shipped = new Set();
/**
 * Batches held before a merge: ~5 MB of listings for batches of 100 recordings; a merge rewrites
 * the base (48 MB for a million recordings), so a smaller overlay costs a merge more often.
 */
const OVERLAY_LIMIT = 1024;
/** Expanded batches kept for repeated lookups (callers go batch by batch, a few at a time). */
const EXPANDED_KEPT = 8;

interface Line {
  key: string;
  text: string;
  /** Offset of the next line. */
  end: number;
}

const damaged = (file: string, error: unknown) =>
  new Error(`state file ${file} is damaged (${(error as Error).message}); move it aside to start its records afresh`, { cause: error });

/** A line's key alone, without decoding its files: the first JSON string of the line, from its bytes. */
function keyOf(line: Buffer, file: string): string {
  let i = 2;
  for (; i < line.length; i++) {
    const c = line[i];
    if (c === 92) i++; // a backslash escapes the next byte (an escape is ASCII)
    else if (c === 34) break; // the closing quote
  }
  try {
    if (line[0] !== 91 || line[1] !== 34 || i >= line.length) throw new Error('a line does not start with ["source\\tbatch"');
    return JSON.parse(line.toString('utf8', 1, i + 1)) as string;
  } catch (error) {
    throw damaged(file, error);
  }
}

function keysOfLine(text: string, file: string): string[] {
  try {
    const [, keys] = JSON.parse(text) as [string, string[]];
    if (!Array.isArray(keys)) throw new Error('not ["source\\tbatch", ["name\\tsize\\tmtime", …]]');
    return keys;
  } catch (error) {
    throw damaged(file, error);
  }
}

export class ShippedIndex {
  /** source\tbatch → stamp keys published since the base was last rewritten. */
  private overlay = new Map<string, string>();
  private readonly expanded = new Map<string, Shipped>();
  private readonly buffer = Buffer.allocUnsafe(CHUNK);
  /** The last line a lookup read, in the base file as it was then (`ino`, `size`). */
  private cursor: { ino: number; size: number; key: string; end: number } | undefined;

  constructor(
    readonly file: string,
    private readonly options: { readOnly?: boolean; overlayLimit?: number } = {},
  ) {}

  /**
   * Set when an `add` found the overlay full and merged it into the base: the journal's lines
   * that hold those batches must be compacted away, or each load replays and merges them again.
   * Cleared by the journal's compaction.
   */
  overflowed = false;

  /** Batches held in memory (the overlay): at most `overlayLimit` after any `add` of a writer. */
  get held(): number {
    return this.overlay.size;
  }

  /** Records files of a batch as shipped (a union with what it already has). */
  add(key: string, stamps: Iterable<string>): void {
    const before = this.overlay.get(key);
    this.overlay.set(key, listing(before === undefined ? stamps : [...keysOf(before), ...stamps]));
    this.expanded.delete(key);
    if (!this.options.readOnly && this.overlay.size > (this.options.overlayLimit ?? OVERLAY_LIMIT)) {
      this.merge();
      this.overflowed = true;
    }
  }

  /** Forgets every batch (a snapshot of an older journal replaces them all). */
  clear(): void {
    this.overlay.clear();
    this.expanded.clear();
    this.cursor = undefined;
    if (!this.options.readOnly) rmSync(this.file, { force: true });
  }

  /** The stamp keys shipped from a batch (empty when none). */
  get(key: string): Shipped {
    const kept = this.expanded.get(key);
    if (kept) return kept;
    const base = this.lookup(key);
    const over = this.overlay.get(key);
    const set = base === undefined && over === undefined ? EMPTY : new Set([...(base ?? []), ...keysOf(over)]);
    if (this.expanded.size >= EXPANDED_KEPT) this.expanded.delete(this.expanded.keys().next().value as string);
    this.expanded.set(key, set);
    return set;
  }

  /**
   * Rewrites the base with the overlay merged in, streamed, atomically; `keep` (keys still on
   * disk) drops the other batches. Empties the overlay.
   */
  merge(keep?: ReadonlySet<string>): void {
    if (this.options.readOnly) throw new Error('the shipped index is open read-only');
    const added = [...this.overlay.keys()].sort();
    const tmp = `${this.file}.tmp`;
    const out = new LineFileWriter(tmp);
    /** Writes a batch's line (`keys` sorted), or `bytes`, the same line as the base has it. */
    const write = (key: string, keys: readonly string[], bytes?: Buffer) => {
      if (!keep || keep.has(key)) out.writeLine(bytes ?? JSON.stringify([key, keys]));
    };
    try {
      // The base's lines are copied as bytes: only their keys are decoded, and the lines of
      // batches the overlay adds to (a few of a merge's thousands).
      const base = existsSync(this.file) ? new LineBytesReader(this.file) : undefined;
      let i = 0;
      try {
        for (let line = base?.next(); line !== undefined; line = base?.next()) {
          const key = keyOf(line, this.file);
          for (; i < added.length && (added[i] as string) < key; i++) write(added[i] as string, keysOf(this.overlay.get(added[i] as string)));
          const over = added[i] === key ? this.overlay.get(added[i++] as string) : undefined;
          if (over === undefined) write(key, [], line);
          else write(key, keysOf(listing([...keysOfLine(line.toString('utf8'), this.file), ...keysOf(over)])));
        }
      } finally {
        base?.close();
      }
      for (; i < added.length; i++) write(added[i] as string, keysOf(this.overlay.get(added[i] as string)));
      out.close({ sync: true });
    } catch (error) {
      out.close();
      rmSync(tmp, { force: true });
      throw error;
    }
    renameSync(tmp, this.file);
    fsyncDirectory(dirname(this.file));
    this.overlay = new Map();
    this.expanded.clear();
    this.cursor = undefined;
  }

  /**
   * Files every batch of source `from` under source `to` instead (a source renamed in the
   * configuration), rewriting the base (streamed, atomically); the overlay is merged first. A
   * batch `to` has already (a rename carried over before a crash, or a source of that name
   * removed long ago) keeps its files with those of `from`'s batch of that name. Returns how many
   * batches of `from` moved (0: none left, as after a rename already made).
   */
  renameSource(from: string, to: string): number {
    if (this.options.readOnly) throw new Error('the shipped index is open read-only');
    this.merge();
    const [fromPrefix, toPrefix] = [`${from}\t`, `${to}\t`];
    if (!existsSync(this.file) || !this.seek(fromPrefix)?.key.startsWith(fromPrefix)) return 0;
    // `from`'s batches, renamed, from a second reader of the base: in key order, as `to`'s own are.
    const again = new LineBytesReader(this.file);
    const tmp = `${this.file}.tmp`;
    const out = new LineFileWriter(tmp);
    let next: { key: string; line: Buffer } | undefined;
    const advance = () => {
      for (let line = again.next(); line !== undefined; line = again.next()) {
        const key = keyOf(line, this.file);
        if (key.startsWith(fromPrefix)) return (next = { key: `${toPrefix}${key.slice(fromPrefix.length)}`, line });
      }
      return (next = undefined);
    };
    let moved = 0;
    /** Writes the renamed batches sorting before `key` (all of them when undefined). */
    const writeMovedBefore = (key?: string) => {
      for (; next !== undefined && (key === undefined || next.key < key); advance()) {
        out.writeLine(JSON.stringify([next.key, keysOfLine(next.line.toString('utf8'), this.file)]));
        moved++;
      }
    };
    try {
      advance();
      const base = new LineBytesReader(this.file);
      try {
        for (let line = base.next(); line !== undefined; line = base.next()) {
          const key = keyOf(line, this.file);
          if (key.startsWith(fromPrefix)) continue;
          // Past `to`'s place: every renamed batch sorts before this key.
          if (key > toPrefix) writeMovedBefore(key.startsWith(toPrefix) ? key : undefined);
          if (next !== undefined && next.key === key) {
            out.writeLine(JSON.stringify([key, keysOf(listing([...keysOfLine(line.toString('utf8'), this.file), ...keysOfLine(next.line.toString('utf8'), this.file)]))]));
            moved++;
            advance();
          } else out.writeLine(line);
        }
      } finally {
        base.close();
      }
      writeMovedBefore();
      out.close({ sync: true });
    } catch (error) {
      out.close();
      rmSync(tmp, { force: true });
      throw error;
    } finally {
      again.close();
    }
    renameSync(tmp, this.file);
    fsyncDirectory(dirname(this.file));
    this.expanded.clear();
    this.cursor = undefined;
    return moved;
  }

  /**
   * The base's line for `key`; undefined when absent. The walk and the ship workers look batches
   * up in about the order the base is sorted in, so the lines right after the last one read are
   * tried first; otherwise a binary search over byte offsets.
   */
  private lookup(key: string): string[] | undefined {
    const line = this.seek(key);
    return line?.key === key ? keysOfLine(line.text, this.file) : undefined;
  }

  /**
   * Whether any batch whose key starts with `prefix` shipped a file (a directory above the
   * batches, `source\tday/`): the overlay, then the base's first line at or after it.
   */
  anyUnder(prefix: string): boolean {
    for (const key of this.overlay.keys()) if (key.startsWith(prefix)) return true;
    return this.seek(prefix)?.key.startsWith(prefix) ?? false;
  }

  /** The base's first line whose key is at or after `key`; undefined when none is. */
  private seek(key: string): Line | undefined {
    if (!existsSync(this.file)) return undefined;
    const fd = openSync(this.file, 'r');
    try {
      const { size, ino } = fstatSync(fd);
      const found = (line: Line) => {
        this.cursor = { ino, size, key: line.key, end: line.end };
        return line;
      };
      const c = this.cursor;
      if (c && c.ino === ino && c.size === size && c.key < key) {
        for (let at = c.end, n = 0; n < NEXT_LINES_TRIED; n++) {
          if (at >= size) return undefined;
          const line = this.readLine(fd, at);
          if (line.key >= key) return found(line);
          at = line.end;
        }
      }
      // lo is always the start of a line; the line for `key`, if any, starts in [lo, hi).
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        const start = mid === lo ? lo : this.lineStart(fd, mid);
        if (start >= hi) break;
        const line = this.readLine(fd, start);
        if (line.key === key) return found(line);
        if (line.key < key) lo = line.end;
        else hi = start;
      }
      // No line starts in [mid, hi): the few left in [lo, hi) are read in order.
      for (let at = lo; at < hi; ) {
        const line = this.readLine(fd, at);
        if (line.key >= key) return found(line);
        at = line.end;
      }
      // Every line before hi sorts before `key`: the one at hi (a key after it) is the first that does not.
      return hi < size ? found(this.readLine(fd, hi)) : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** The offset of the first line that starts at or after `at` (the file's size when none does). */
  private lineStart(fd: number, at: number): number {
    for (let pos = at - 1; ; ) {
      const n = readSync(fd, this.buffer, 0, CHUNK, pos);
      if (n === 0) return pos;
      const nl = this.buffer.subarray(0, n).indexOf(10);
      if (nl >= 0) return pos + nl + 1;
      pos += n;
    }
  }

  private readLine(fd: number, start: number): Line {
    const parts: Buffer[] = [];
    for (let pos = start; ; ) {
      const n = readSync(fd, this.buffer, 0, CHUNK, pos);
      const nl = this.buffer.subarray(0, n).indexOf(10);
      const end = nl >= 0 ? nl : n;
      parts.push(Buffer.from(this.buffer.subarray(0, end)));
      pos += end;
      if (nl >= 0 || n === 0) {
        const bytes = Buffer.concat(parts);
        return { key: keyOf(bytes, this.file), text: bytes.toString('utf8'), end: pos + (nl >= 0 ? 1 : 0) };
      }
    }
  }
}
