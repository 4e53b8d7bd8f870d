import { describe, expect, it } from 'vitest';
import { AUDIT_CLOCK_SKEW_MS, auditTrailReader, searchAuditPage } from '../../core/audit-query.ts';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAudit, appendAuditEvents, auditRecordKey, sealAudit, type AuditEvent } from '../../core/audit-trail.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';

// The audit view's reads: newest first from the chain head, bounded per page, resumable.

const T0 = Date.parse('2026-04-01T00:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();

async function trail(n: number) {
  const heads = new MemoryAuditLedger();
  const blobs = new MemoryBlobStore();
  for (let i = 1; i <= n; i++) await appendAudit({ ledger: heads, blobs }, { at: at(i), action: i % 3 === 0 ? 'listen' : 'search', site: 'site-a', principal: `p${i % 2}` });
  return { heads, blobs, reader: auditTrailReader({ ledger: heads, blobs }) };
}

describe('audit view paging', () => {
  it('reads a record that is not (or no longer) in the bucket from the ledger', async () => {
    const { reader, blobs, heads } = await trail(3);
    await blobs.delete(auditRecordKey('site-a', 2));
    expect(await reader.read('site-a', 2)).toEqual((await heads.records('site-a', 2, 1))[0]);
    expect((await searchAuditPage(reader, { site: 'site-a', filter: {}, limit: 10 })).records.map((r) => r.seq)).toEqual([3, 2, 1]);
  });

  it('reads a sealed record of 1.5 MB from the bucket whole (the purge of a pack of 10,000 calls names each twice), and a page holds it with its lists cut to the first 500', async () => {
    const ledger = new MemoryAuditLedger();
    const blobs = new MemoryBlobStore();
    const rids = Array.from({ length: 10_000 }, (_, i) => `r${String(i).padStart(23, '0')}`);
    const calls = rids.map((rid, i) => `${rid} callId=CALL-${i} start=2026-04-01T12:00:00.000Z +4930123456789→+4989987654321 agent=agent-0042`);
    const record = await appendAudit({ ledger, blobs }, { at: at(1), action: 'purge', site: 'site-a', principal: 'ferry-purge', detail: { object: 'recordings/site-a/pack.tar', kind: 'pack', recordings: rids.length, rids, calls } });
    expect(await ledger.sealed('site-a')).toBe(1);
    expect(Buffer.byteLength(JSON.stringify(record))).toBeGreaterThan(1.4 * 1024 * 1024);
    const reader = auditTrailReader({ ledger, blobs });
    expect(await reader.read('site-a', 1)).toEqual(record);
    const page = await searchAuditPage(reader, { site: 'site-a', filter: {}, limit: 10 });
    expect(page.records).toEqual([{ ...record, event: { ...record.event, detail: { ...record.event.detail, rids: rids.slice(0, 500), calls: calls.slice(0, 500) } } }]);
    expect(page.cut).toEqual({ 1: { rids: { offset: 0, shown: 500, total: 10_000 }, calls: { offset: 0, shown: 500, total: 10_000 } } });
  });

  it('reads newest first and resumes below the cursor with nothing lost or repeated', async () => {
    const { reader } = await trail(10);
    const seen: number[] = [];
    let below: number | undefined;
    do {
      const page = await searchAuditPage(reader, { site: 'site-a', filter: {}, limit: 3, below });
      seen.push(...page.records.map((r) => r.seq));
      below = page.below;
    } while (below !== undefined);
    expect(seen).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('stops a page after its read budget with a cursor, even with fewer matches than the limit', async () => {
    const { reader } = await trail(20);
    const page = await searchAuditPage(reader, { site: 'site-a', filter: { action: 'listen' }, limit: 100, budget: 5, concurrency: 2 });
    expect(page.records.map((r) => r.seq)).toEqual([18]);
    expect(page.below).toBe(16);
    const next = await searchAuditPage(reader, { site: 'site-a', filter: { action: 'listen' }, limit: 100, below: page.below });
    expect(next.records.map((r) => r.seq)).toEqual([15, 12, 9, 6, 3]);
    expect(next.below).toBeUndefined();
  });

  it(`stops reading once records are more than ${AUDIT_CLOCK_SKEW_MS / 60_000} minutes older than from, and skips a missing record`, async () => {
    const { reader } = await trail(30);
    let reads = 0;
    const counting = { head: reader.head, read: (site: string, seq: number) => (reads++, seq === 25 ? Promise.resolve(undefined) : reader.read(site, seq)) };
    const page = await searchAuditPage(counting, { site: 'site-a', filter: { from: new Date(at(20)) }, limit: 100, concurrency: 1 });
    expect(page.records.map((r) => r.seq)).toEqual([30, 29, 28, 27, 26, 24, 23, 22, 21, 20]);
    expect(page.below).toBeUndefined();
    expect(reads).toBeLessThan(18);
  });

  describe('reading ranges', () => {
    const event = (i: number): AuditEvent => ({ at: at(i), action: i % 3 === 0 ? 'listen' : 'search', site: 'site-a', principal: i === 1 ? 'officer-long-ago' : `p${i % 2}` });
    /** A trail of `n` records written 100 to a ledger write, the first `sealedUpTo` of them sealed to the bucket; every ledger and bucket call counted. */
    async function unsealed(n: number, sealedUpTo: number) {
      const ledger = new MemoryAuditLedger();
      const blobs = new MemoryBlobStore();
      for (let i = 1; i <= n; i += 100) await appendAuditEvents({ ledger }, Array.from({ length: Math.min(100, n - i + 1) }, (_, j) => event(i + j)));
      if (sealedUpTo) await sealAudit({ ledger, blobs: { put: (key, body, opts) => (Number(/(\d+)\.json$/.exec(key)?.[1]) <= sealedUpTo ? blobs.put(key, body, opts) : Promise.resolve({})) } }, 'site-a', { mark: false });
      if (sealedUpTo) await ledger.markSealed('site-a', sealedUpTo);
      const calls = { gets: 0, ledgerRecords: 0, sealed: 0 };
      const countedLedger = { head: (s: string) => ledger.head(s), sealed: (s: string) => (calls.sealed++, ledger.sealed(s)), records: (s: string, from: number, limit: number) => (calls.ledgerRecords++, ledger.records(s, from, limit)) };
      const countedBlobs = { get: (key: string, range?: { start: number; end: number }) => (calls.gets++, blobs.get(key, range)) };
      return { ledger, blobs, calls, reader: auditTrailReader({ ledger: countedLedger, blobs: countedBlobs }) };
    }

    it('reads 2,000 records not yet sealed from the ledger in a few range reads and no bucket GET, and the next page finds the one match past them', async () => {
      const { reader, calls, ledger } = await unsealed(2001, 0);
      const oldest = (await ledger.records('site-a', 1, 1))[0]!;
      const first = await searchAuditPage(reader, { site: 'site-a', filter: { principal: 'officer-long-ago' }, limit: 50 });
      expect(first).toEqual({ records: [], below: 2 });
      expect(calls.ledgerRecords).toBeLessThanOrEqual(16);
      // Seven range reads (50, 100, 200, 400, 500, 500, 250), one read of the sealed mark.
      expect(calls.sealed).toBe(1);
      const next = await searchAuditPage(reader, { site: 'site-a', filter: { principal: 'officer-long-ago' }, limit: 50, below: first.below });
      expect(next).toEqual({ records: [oldest] });
      const listens = await searchAuditPage(reader, { site: 'site-a', filter: { action: 'listen' }, limit: 1000 });
      expect(listens.records.map((r) => r.seq)).toEqual(Array.from({ length: 667 }, (_, i) => 2001 - 3 * i));
      expect(listens.below).toBe(2);
      expect(calls.gets).toBe(0);
    });

    it('reads the sealed records from their write-once copies, not the ledger, and those above the mark from the ledger, in seq order', async () => {
      const { reader, calls, ledger } = await unsealed(300, 120);
      const record = (await ledger.records('site-a', 50, 1)).find((r) => r.seq === 50)!;
      ledger.tamper('site-a', { ...record, event: { ...record.event, principal: 'someone-else' } });
      const page = await searchAuditPage(reader, { site: 'site-a', filter: {}, limit: 300 });
      expect(page.records.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => 300 - i));
      expect(page.records.find((r) => r.seq === 50)!.event.principal).toBe('p0');
      expect(calls.gets).toBe(120);
    });

    it('reads a sealed record whose bucket copy is missing from the ledger within a range', async () => {
      const { reader, blobs, ledger } = await unsealed(40, 40);
      await blobs.delete(auditRecordKey('site-a', 7));
      const page = await searchAuditPage(reader, { site: 'site-a', filter: {}, limit: 100 });
      expect(page.records.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 40 - i));
      expect(page.records.find((r) => r.seq === 7)).toEqual((await ledger.records('site-a', 7, 1)).find((r) => r.seq === 7));
    });
  });
});
