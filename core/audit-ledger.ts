import type { AuditRecord, ChainHead } from './audit-trail.ts';

// Where an audit record is first made durable: the ledger, a store with a conditional write
// (the catalogue table in the cloud). A record is written there as the compare-and-set itself:
// an item keyed by the seq of the first record it holds, written only if no item has that key,
// so of two writers taking the same seq exactly one wins and the loser links after the winner.
// Every writer starts a write right after the last record it knew of (its own last write, or
// the newest item read after a lost write), so the items always cover 1..n without overlap:
// no gap, no fork. The records are then copied write-once to the bucket by the sealer
// (`sealAudit` in core/audit-trail.ts); until then the ledger is their only copy.

/**
 * Partition-key prefixes of the ledger on the catalogue table: a site's records under
 * `AUDIT#{site}`, its sealed mark under `AUDITSEAL#{site}`. Apart so that IAM can let the
 * scheduled sealer write marks and nothing under a record's key (infra/audit-sealer.ts).
 */
export const AUDIT_LEDGER_KEY_PREFIX = 'AUDIT#';
export const AUDIT_SEAL_KEY_PREFIX = 'AUDITSEAL#';

/**
 * The records' bytes (their JSON, UTF-8) a grouped write takes at most: with the item's other
 * attributes it stays under DynamoDB's 400 KB item. A write of one record larger than this is
 * still one write (the DynamoDB ledger keeps its JSON in parts, adapters/dynamo-audit-ledger.ts);
 * events are only not grouped past it.
 */
export const AUDIT_WRITE_BYTES = 300 * 1024;

/**
 * What an event's record adds to a write, at most: its JSON in UTF-8 plus the chain's fields
 * (seq, prev and hash, the site again, the separators).
 */
export function auditRecordBytes(event: object): number {
  return Buffer.byteLength(JSON.stringify(event)) + RECORD_OVERHEAD;
}
const RECORD_OVERHEAD = 256;

/** The site's chain records in their first durable store. */
export interface AuditLedger {
  /** The last record written (strongly consistent); undefined before the first. */
  head(site: string): Promise<ChainHead | undefined>;
  /**
   * Writes `records` (consecutive seqs of one site, the first linking to the head) in one
   * conditional write that succeeds only if no write started at the first one's seq. False when
   * one did: another writer took that seq, or this very write landed and its answer was lost
   * (an SDK retry); `records` tells the two apart. Retryable errors: TransientError.
   */
  append(site: string, records: readonly AuditRecord[]): Promise<boolean>;
  /** Records with seq ≥ `from`, in seq order: at least `limit` of them when there are (whole writes, so a few more), [] past the head. */
  records(site: string, from: number, limit: number): Promise<AuditRecord[]>;
  /** Every record up to this seq has been copied to the bucket (0: none known). */
  sealed(site: string): Promise<number>;
  /** Raises the sealed mark to `seq`; never lowers it (idempotent). */
  markSealed(site: string, seq: number): Promise<void>;
}

/** In-memory ledger (tests, the local cloud without a table). */
export class MemoryAuditLedger implements AuditLedger {
  protected readonly writes = new Map<string, AuditRecord[][]>();
  private readonly marks = new Map<string, number>();

  async head(site: string): Promise<ChainHead | undefined> {
    await Promise.resolve();
    const last = this.writes.get(site)?.at(-1)?.at(-1);
    return last && { seq: last.seq, hash: last.hash };
  }

  async append(site: string, records: readonly AuditRecord[]): Promise<boolean> {
    await Promise.resolve();
    const writes = this.writes.get(site) ?? [];
    if (writes.some((w) => w[0]!.seq === records[0]!.seq)) return false;
    writes.push(records.map((r) => structuredClone(r)));
    writes.sort((a, b) => a[0]!.seq - b[0]!.seq);
    this.writes.set(site, writes);
    return true;
  }

  async records(site: string, from: number, limit: number): Promise<AuditRecord[]> {
    await Promise.resolve();
    const out: AuditRecord[] = [];
    for (const write of this.writes.get(site) ?? []) {
      if (write.at(-1)!.seq < from) continue;
      out.push(...write.map((r) => structuredClone(r)));
      if (out.length >= limit) break;
    }
    return out;
  }

  async sealed(site: string): Promise<number> {
    await Promise.resolve();
    return this.marks.get(site) ?? 0;
  }

  async markSealed(site: string, seq: number): Promise<void> {
    await Promise.resolve();
    this.marks.set(site, Math.max(seq, this.marks.get(site) ?? 0));
  }

  /** Test hook: the stored record replaced (what a principal with an unconditional PutItem could do before the seal). */
  tamper(site: string, record: AuditRecord): void {
    for (const write of this.writes.get(site) ?? []) {
      const i = write.findIndex((r) => r.seq === record.seq);
      if (i >= 0) write[i] = structuredClone(record);
    }
  }
}

/** The record `seq` of the site from the ledger; undefined when it holds none. */
export async function ledgerRecord(ledger: Pick<AuditLedger, 'records'>, site: string, seq: number): Promise<AuditRecord | undefined> {
  return (await ledger.records(site, seq, 1)).find((r) => r.seq === seq);
}
