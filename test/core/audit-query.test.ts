import { describe, expect, it } from 'vitest';
import { AUDIT_CLOCK_SKEW_MS, auditTrailReader, searchAuditPage } from '../../core/audit-query.ts';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAudit, auditRecordKey } from '../../core/audit-trail.ts';
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
});
