import { describe, expect, it, vi } from 'vitest';
import { coalescedAudit } from '../../core/audit-coalesce.ts';
import { AUDIT_WRITE_BYTES, MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAudit, auditRecordKey, verifyAuditChain, type AuditEvent, type AuditRecord, type ChainHead } from '../../core/audit-trail.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';

const SITE = 'site-a';
const event = (i: number, site = SITE): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 12, 0, i)).toISOString(), action: 'listen', site, rid: `r${String(i).padStart(23, '0')}`, principal: 'officer-a' });

/** The in-memory ledger, counting the writes (moves of the head) and head reads it was asked for. */
class CountingHeads extends MemoryAuditLedger {
  advances = 0;
  reads = 0;
  /** The write (1, 2, …) that fails as an unreachable store would. */
  failing = 0;
  override async head(site: string): Promise<ChainHead | undefined> {
    this.reads++;
    return super.head(site);
  }
  override async append(site: string, records: readonly AuditRecord[]): Promise<boolean> {
    if (++this.advances === this.failing) throw new Error('the ledger is unreachable');
    return super.append(site, records);
  }
  /** Writes of the sealed mark. */
  markWrites = 0;
  override async markSealed(site: string, seq: number): Promise<void> {
    this.markWrites++;
    return super.markSealed(site, seq);
  }
}

async function stored(blobs: MemoryBlobStore, site = SITE): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for await (const info of blobs.list(`audit/${site}/`)) {
    const chunks: Buffer[] = [];
    for await (const c of (await blobs.get(info.key)).body) chunks.push(c as Buffer);
    out.push({ key: info.key, text: Buffer.concat(chunks).toString('utf8') });
  }
  return out;
}

describe('coalescedAudit (group commit of a site audit chain within one process)', () => {
  it('records a burst of 50 concurrent events with 2 writes to the ledger (the first alone, the other 49 together), and the chain verifies 1..50', async () => {
    const heads = new CountingHeads();
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger: heads, blobs });
    const written = await Promise.all(Array.from({ length: 50 }, (_, i) => append(event(i))));
    await append.settled();
    expect(heads.advances).toBe(2);
    expect(written.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 50 });
  });

  it('gives seqs in the order of the calls, and each caller the record of its own event', async () => {
    const append = coalescedAudit({ ledger: new MemoryAuditLedger(), blobs: new MemoryBlobStore() });
    const written = await Promise.all(Array.from({ length: 7 }, (_, i) => append(event(i))));
    expect(written.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(written.map((r) => r.event.rid)).toEqual(Array.from({ length: 7 }, (_, i) => event(i).rid));
  });

  it('writes at most maxBatch events at once: 10 concurrent events with maxBatch 4 take 1 + 4 + 4 + 1 ledger writes', async () => {
    const heads = new CountingHeads();
    const append = coalescedAudit({ ledger: heads, blobs: new MemoryBlobStore() }, { maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => append(event(i))));
    expect(heads.advances).toBe(4);
  });

  it('splits a burst by bytes: 50 case-add records of 1,000 calls each (about 27 KB) go in writes whose records stay within AUDIT_WRITE_BYTES, and the chain verifies 1..50', async () => {
    const heads = new CountingHeads();
    const sizes: number[] = [];
    const append0 = heads.append.bind(heads);
    heads.append = async (site, records) => {
      sizes.push(Buffer.byteLength(JSON.stringify(records)));
      return append0(site, records);
    };
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger: heads, blobs });
    const caseAdd = (i: number): AuditEvent => ({ ...event(i), action: 'case-add', rid: undefined, detail: { added: 1000, rids: Array.from({ length: 1000 }, (_, j) => `r${String(i * 1000 + j).padStart(23, '0')}`) } });
    const written = await Promise.all(Array.from({ length: 50 }, (_, i) => append(caseAdd(i))));
    await append.settled();
    expect(written.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(AUDIT_WRITE_BYTES);
    // 27 KB records: 11 to a write at most, so 50 take at least 1 + 49/11 → 6 writes.
    expect(sizes.length).toBeGreaterThanOrEqual(6);
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 50 });
  });

  it('writes an event larger than maxBytes alone, and groups the small ones around it', async () => {
    const heads = new CountingHeads();
    const batches: number[] = [];
    const append0 = heads.append.bind(heads);
    heads.append = async (site, records) => {
      batches.push(records.length);
      return append0(site, records);
    };
    const append = coalescedAudit({ ledger: heads, blobs: new MemoryBlobStore() }, { maxBytes: 4096 });
    const big: AuditEvent = { ...event(1), action: 'export', detail: { rids: Array.from({ length: 400 }, (_, j) => `r${String(j).padStart(23, '0')}`) } };
    await Promise.all([append(event(0)), append(event(2)), append(big), append(event(3)), append(event(4))]);
    expect(batches).toEqual([1, 1, 1, 2]);
  });

  it('keeps sites apart: each site its own chain 1..n', async () => {
    const heads = new MemoryAuditLedger();
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger: heads, blobs });
    const written = await Promise.all(Array.from({ length: 12 }, (_, i) => append(event(i, i % 2 ? 'site-b' : SITE))));
    await append.settled();
    expect(written.filter((r) => r.site === 'site-b').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verifyAuditChain(SITE, await stored(blobs, SITE), await heads.head(SITE))).toMatchObject({ ok: true, records: 6 });
    expect(verifyAuditChain('site-b', await stored(blobs, 'site-b'), await heads.head('site-b'))).toMatchObject({ ok: true, records: 6 });
  });

  it('copies each record to the bucket right after its write, but raises the sealed mark once for the records copied within markEveryMs: 12 searches one after the other, 12 copies, 2 mark writes (the first seal, from the mark, then one for the rest)', async () => {
    const heads = new CountingHeads();
    const blobs = new MemoryBlobStore();
    // The mark's timer runs on fake time: the 12 searches fall within markEveryMs however slowly a
    // loaded machine runs them (on real time, 12 appends taking over 300 ms raised the mark twice).
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const append = coalescedAudit({ ledger: heads, blobs }, { markEveryMs: 300 });
      // Waits on real turns of the event loop (vi.waitFor would move the fake time on).
      const until = async (ok: () => Promise<boolean>) => {
        while (!(await ok())) await new Promise((resolve) => setImmediate(resolve));
      };
      for (let i = 0; i < 12; i++) await append(event(i));
      await until(async () => (await stored(blobs)).length === 12);
      // The process's first seal starts from the mark and raises it; the records after it are copied without.
      expect(heads.markWrites).toBe(1);
      expect(await heads.sealed(SITE)).toBeLessThan(12);
      await vi.advanceTimersByTimeAsync(299);
      expect(heads.markWrites).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await until(async () => (await heads.sealed(SITE)) === 12);
      expect(heads.markWrites).toBe(2);
      await append(event(12));
      await append.settled();
      expect([heads.markWrites, await heads.sealed(SITE)]).toEqual([3, 13]);
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 13 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers every event once it is in the ledger although the bucket refuses the copies; verify across ledger + bucket passes, and the next seal copies them', async () => {
    const heads = new MemoryAuditLedger();
    const blobs = new MemoryBlobStore();
    let refusing = true;
    const flaky: Pick<BlobStore, 'put'> = { put: (key, body, opts) => (refusing ? Promise.reject(new Error('store refused the write')) : blobs.put(key, body, opts)) };
    const sealErrors: unknown[] = [];
    const append = coalescedAudit({ ledger: heads, blobs: flaky }, { onSealError: (_site, error) => sealErrors.push(error) });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => append(event(i))));
    await append.settled();
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(sealErrors.length).toBeGreaterThan(0);
    expect(await stored(blobs)).toEqual([]);
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE), await heads.records(SITE, 1, Infinity))).toMatchObject({ ok: true, records: 5 });
    refusing = false;
    await append(event(5));
    await append.settled();
    expect((await stored(blobs)).map((r) => r.key)).toEqual(Array.from({ length: 6 }, (_, i) => auditRecordKey(SITE, i + 1)));
    expect(await heads.sealed(SITE)).toBe(6);
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 6 });
  });

  it('a ledger write that fails fails every event of that batch and records none of them; the next event is recorded after the last good one', async () => {
    const heads = new CountingHeads();
    heads.failing = 2;
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger: heads, blobs });
    // The first event moves the head alone; the two that arrive meanwhile form the second move, which fails.
    const results = await Promise.allSettled([append(event(0)), append(event(1)), append(event(2))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    const later: AuditRecord = await append(event(3));
    await append.settled();
    expect(later.seq).toBe(2);
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 2 });
  });

  it('writes after the head it last wrote without reading it again: a second event reads the head 0 times', async () => {
    const heads = new CountingHeads();
    const append = coalescedAudit({ ledger: heads, blobs: new MemoryBlobStore() });
    await append(event(0));
    const readsBefore = heads.reads;
    expect((await append(event(1))).seq).toBe(2);
    expect(heads.reads - readsBefore).toBe(0);
    expect(heads.advances).toBe(2);
  });

  it('links after another writer that wrote meanwhile (its remembered head is stale): one chain 1..3 that verifies', async () => {
    const heads = new CountingHeads();
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger: heads, blobs });
    await append(event(0));
    // Another execution environment appends to the same site's chain.
    await appendAudit({ ledger: heads, blobs }, event(1));
    const mine = await append(event(2));
    await append.settled();
    expect(mine.seq).toBe(3);
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 3 });
  });
});
