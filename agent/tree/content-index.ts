import { appendFileSync, closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { writeAllSync } from '../state/atomic-file.ts';

// Which contents the store already holds for one tree source, and where: SHA-256 → (pack,
// offset of the member's data). Identical content is stored once because every file's hash is
// looked up here before it is packed. Built for millions of files without a million JS objects:
// the records (44 bytes each: SHA-256, pack number + 1, offset) sit in fixed chunks of 64 Ki
// records that are appended to and never copied, and the hash table is a Uint32Array of record
// numbers (4 bytes a slot, load at most one half): about 52 MB for a million contents, where a
// table of whole records at load 0.6 took 92 MB, and 138 MB while it doubled. The records are
// persisted as an append-only file in the same layout, written only after the pack holding them
// is published and verified, and read back in pieces. `packs.jsonl` numbers the packs; a pack
// the cloud's purge removed is dropped (retainPacks), so a new snapshot never points at content
// that is gone.

const SHA = 32;
const RECORD = SHA + 4 + 8; // sha256, pack number + 1, offset
const CHUNK_SHIFT = 16;
const CHUNK_RECORDS = 1 << CHUNK_SHIFT;
const INITIAL_SLOTS = 1 << 14;
/** content.bin is read this many records at a time. */
const READ_RECORDS = 4096;

export interface PackRecord {
  no: number;
  key: string;
  size: number;
  sha256: string;
}

export interface ContentLocation {
  pack: number;
  offset: number;
}

export class ContentIndex {
  private readonly chunks: Buffer[] = [];
  private used = 0;
  /** Record number + 1 per slot, 0 = empty. */
  private table = new Uint32Array(INITIAL_SLOTS);
  private readonly packs = new Map<number, PackRecord>();
  private readonly dead = new Set<number>();
  private readonly contentFile: string;
  private readonly packsFile: string;

  constructor(dir: string) {
    this.contentFile = join(dir, 'content.bin');
    this.packsFile = join(dir, 'packs.jsonl');
    if (existsSync(this.packsFile)) {
      for (const line of readFileSync(this.packsFile, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const p = JSON.parse(line) as PackRecord;
          this.packs.set(p.no, p);
        } catch {
          // A line torn by a crash: its pack's contents were not recorded either (written after).
        }
      }
    }
    if (existsSync(this.contentFile)) this.load();
  }

  /**
   * Reads content.bin straight into the record chunks, which hold the records in the file's own
   * layout, so a kept record is not copied: only the table is built. Records of packs not known
   * (their line torn) are left out and the records after them moved down over the gap; a content
   * recorded twice keeps the later pack and offset; a torn last record is left out.
   */
  private load(): void {
    const fd = openSync(this.contentFile, 'r');
    try {
      const whole = fstatSync(fd).size;
      const stored = whole - (whole % RECORD);
      // Sized for what is stored (load at most one half), so loading never rehashes.
      let slots = INITIAL_SLOTS;
      while (slots < (stored / RECORD) * 2) slots *= 2;
      this.table = new Uint32Array(slots);
      for (let at = 0; at < stored; ) {
        if (this.used >>> CHUNK_SHIFT === this.chunks.length) this.chunks.push(Buffer.alloc(CHUNK_RECORDS * RECORD));
        const chunk = this.chunks[this.used >>> CHUNK_SHIFT]!;
        const start = (this.used & (CHUNK_RECORDS - 1)) * RECORD;
        const want = Math.min(chunk.length - start, READ_RECORDS * RECORD, stored - at);
        let got = 0;
        while (got < want) {
          const n = readSync(fd, chunk, start + got, want - got, at + got);
          if (n === 0) break;
          got += n;
        }
        if (got < want) break;
        for (let r = start; r < start + got; r += RECORD) {
          if (!this.packs.has(chunk.readUInt32BE(r + SHA) - 1)) continue;
          const found = this.probe(chunk, r);
          if (found >= 0) {
            chunk.copy(this.chunks[found >>> CHUNK_SHIFT]!, (found & (CHUNK_RECORDS - 1)) * RECORD + SHA, r + SHA, r + RECORD);
            continue;
          }
          const record = this.used++;
          const to = (record & (CHUNK_RECORDS - 1)) * RECORD;
          if (to !== r) chunk.copyWithin(to, r, r + RECORD);
          this.table[-1 - found] = record + 1;
        }
        at += got;
      }
    } finally {
      closeSync(fd);
    }
  }

  get size(): number {
    return this.used;
  }

  /** Bytes held for the contents (record chunks and table): what grows with the source. */
  get heldBytes(): number {
    return this.chunks.length * CHUNK_RECORDS * RECORD + this.table.byteLength;
  }

  get nextPackNo(): number {
    let max = -1;
    for (const no of this.packs.keys()) max = Math.max(max, no);
    return max + 1;
  }

  pack(no: number): PackRecord | undefined {
    return this.packs.get(no);
  }

  allPacks(): PackRecord[] {
    return [...this.packs.values()];
  }

  /** Forgets packs the store no longer holds (removed by the cloud's purge): their contents count as absent. */
  retainPacks(present: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const p of this.packs.values()) {
      if (!present.has(p.key) && !this.dead.has(p.no)) {
        this.dead.add(p.no);
        gone.push(p.key);
      }
    }
    return gone;
  }

  /** Where this content is stored, or undefined when no live pack holds it. */
  get(sha256: Buffer): ContentLocation | undefined {
    const record = this.recordAt(sha256, 0);
    return record < 0 ? undefined : { pack: this.packOf(record), offset: this.offsetOf(record) };
  }

  /**
   * The record of the content whose SHA-256 is at `bytes[from…from+32]` when a live pack holds
   * it, else -1; with packOf and offsetOf, a look-up that copies no hash and makes no object
   * (an incremental snapshot makes one for every unchanged file).
   */
  recordAt(bytes: Buffer, from: number): number {
    const record = this.probe(bytes, from);
    return record < 0 || this.dead.has(this.packOf(record)) ? -1 : record;
  }

  packOf(record: number): number {
    return this.chunks[record >>> CHUNK_SHIFT]!.readUInt32BE((record & (CHUNK_RECORDS - 1)) * RECORD + SHA) - 1;
  }

  offsetOf(record: number): number {
    return this.chunks[record >>> CHUNK_SHIFT]!.readDoubleBE((record & (CHUNK_RECORDS - 1)) * RECORD + SHA + 4);
  }

  /**
   * Looks up the SHA-256 at `bytes[from…from+32]`: its record number, or `-1 - slot` with the
   * empty slot where it would go (no object per look-up: a load makes one per content).
   */
  private probe(bytes: Buffer, from: number): number {
    const mask = this.table.length - 1;
    for (let i = bytes.readUInt32BE(from) & mask; ; i = (i + 1) & mask) {
      const held = this.table[i]!;
      if (held === 0) return -1 - i;
      const record = held - 1;
      const at = (record & (CHUNK_RECORDS - 1)) * RECORD;
      if (sameBytes(this.chunks[record >>> CHUNK_SHIFT]!, at, bytes, from, SHA)) return record;
    }
  }

  /**
   * Records a published pack and the contents it holds: the pack line first, then the content
   * records, fsynced. A crash between the two leaves contents unrecorded (packed again later),
   * never a record pointing at a pack that is not known.
   */
  commitPack(pack: PackRecord, members: readonly { sha256: Buffer; offset: number }[]): void {
    appendFileSync(this.packsFile, `${JSON.stringify(pack)}\n`);
    this.packs.set(pack.no, pack);
    this.dead.delete(pack.no);
    const records = Buffer.alloc(members.length * RECORD);
    members.forEach((m, i) => {
      m.sha256.copy(records, i * RECORD, 0, SHA);
      records.writeUInt32BE(pack.no + 1, i * RECORD + SHA);
      records.writeDoubleBE(m.offset, i * RECORD + SHA + 4);
      this.insert(m.sha256, pack.no, m.offset);
    });
    const fd = openSync(this.contentFile, 'a');
    try {
      writeAllSync(fd, records);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private insert(sha256: Buffer, pack: number, offset: number): void {
    const at = this.place(sha256, 0);
    const chunk = this.chunks[at >>> CHUNK_SHIFT]!;
    const byte = (at & (CHUNK_RECORDS - 1)) * RECORD;
    chunk.writeUInt32BE(pack + 1, byte + SHA);
    chunk.writeDoubleBE(offset, byte + SHA + 4);
  }

  /** The record of the SHA-256 at `bytes[from…]`, made (its hash copied in) when there is none. */
  private place(bytes: Buffer, from: number): number {
    let found = this.probe(bytes, from);
    if (found >= 0) return found;
    if ((this.used + 1) * 2 > this.table.length) {
      this.grow();
      found = this.probe(bytes, from);
    }
    const record = this.used++;
    if (record >>> CHUNK_SHIFT === this.chunks.length) this.chunks.push(Buffer.alloc(CHUNK_RECORDS * RECORD));
    bytes.copy(this.chunks[record >>> CHUNK_SHIFT]!, (record & (CHUNK_RECORDS - 1)) * RECORD, from, from + SHA);
    this.table[-1 - found] = record + 1;
    return record;
  }

  /** Doubles the table; the records stay where they are. */
  private grow(): void {
    this.table = new Uint32Array(this.table.length * 2);
    const mask = this.table.length - 1;
    for (let record = 0; record < this.used; record++) {
      const chunk = this.chunks[record >>> CHUNK_SHIFT]!;
      let i = chunk.readUInt32BE((record & (CHUNK_RECORDS - 1)) * RECORD) & mask;
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = record + 1;
    }
  }
}

/**
 * Whether `a[aAt…aAt+n]` and `b[bAt…bAt+n]` hold the same bytes. A loop the compiler keeps in
 * JavaScript: `Buffer.compare` with offsets is a call into C++ that cost more than the 32 bytes
 * it compares (an incremental snapshot makes one look-up for every unchanged file).
 */
function sameBytes(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}
