import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

// Which contents the store already holds for one tree source, and where: SHA-256 → (pack,
// offset of the member's data). Identical content is stored once because every file's hash is
// looked up here before it is packed. Built for a million files without a million JS objects:
// an open-addressing hash table in one Buffer (44 bytes a slot), persisted as an append-only
// file of the same records, written only after the pack holding them is published and verified.
// `packs.jsonl` numbers the packs; a pack the cloud's purge removed is dropped (retainPacks), so
// a new snapshot never points at content that is gone.

const SHA = 32;
const SLOT = SHA + 4 + 8; // sha256, pack number + 1 (0 = empty slot), offset
const INITIAL_SLOTS = 1 << 14;

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
  private table: Buffer;
  private slots: number;
  private used = 0;
  private readonly packs = new Map<number, PackRecord>();
  private readonly dead = new Set<number>();
  private readonly contentFile: string;
  private readonly packsFile: string;

  constructor(dir: string) {
    this.contentFile = join(dir, 'content.bin');
    this.packsFile = join(dir, 'packs.jsonl');
    const stored = existsSync(this.contentFile) ? readFileSync(this.contentFile) : Buffer.alloc(0);
    // Sized for what is stored at the start (load under 0.6), so loading never rehashes.
    this.slots = INITIAL_SLOTS;
    while (this.slots * 6 < (stored.length / SLOT) * 10) this.slots *= 2;
    this.table = Buffer.alloc(this.slots * SLOT);
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
    const whole = stored.length - (stored.length % SLOT);
    for (let at = 0; at < whole; at += SLOT) {
      const pack = stored.readUInt32BE(at + SHA) - 1;
      if (this.packs.has(pack)) this.insert(stored.subarray(at, at + SHA), pack, stored.readDoubleBE(at + SHA + 4));
    }
  }

  get size(): number {
    return this.used;
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
    const mask = this.slots - 1;
    for (let i = sha256.readUInt32BE(0) & mask; ; i = (i + 1) & mask) {
      const at = i * SLOT;
      const pack = this.table.readUInt32BE(at + SHA);
      if (pack === 0) return undefined;
      if (this.table.compare(sha256, 0, SHA, at, at + SHA) === 0) {
        return this.dead.has(pack - 1) ? undefined : { pack: pack - 1, offset: this.table.readDoubleBE(at + SHA + 4) };
      }
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
    const records = Buffer.alloc(members.length * SLOT);
    members.forEach((m, i) => {
      m.sha256.copy(records, i * SLOT, 0, SHA);
      records.writeUInt32BE(pack.no + 1, i * SLOT + SHA);
      records.writeDoubleBE(m.offset, i * SLOT + SHA + 4);
      this.insert(m.sha256, pack.no, m.offset);
    });
    const fd = openSync(this.contentFile, 'a');
    try {
      writeSync(fd, records);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private insert(sha256: Buffer, pack: number, offset: number): void {
    if ((this.used + 1) * 10 > this.slots * 6) this.grow();
    const mask = this.slots - 1;
    for (let i = sha256.readUInt32BE(0) & mask; ; i = (i + 1) & mask) {
      const at = i * SLOT;
      const existing = this.table.readUInt32BE(at + SHA);
      if (existing !== 0 && this.table.compare(sha256, 0, SHA, at, at + SHA) !== 0) continue;
      if (existing === 0) this.used++;
      sha256.copy(this.table, at, 0, SHA);
      this.table.writeUInt32BE(pack + 1, at + SHA);
      this.table.writeDoubleBE(offset, at + SHA + 4);
      return;
    }
  }

  private grow(): void {
    const old = this.table;
    const oldSlots = this.slots;
    this.slots *= 2;
    this.table = Buffer.alloc(this.slots * SLOT);
    this.used = 0;
    for (let i = 0; i < oldSlots; i++) {
      const at = i * SLOT;
      const pack = old.readUInt32BE(at + SHA);
      if (pack !== 0) this.insert(old.subarray(at, at + SHA), pack - 1, old.readDoubleBE(at + SHA + 4));
    }
  }
}
