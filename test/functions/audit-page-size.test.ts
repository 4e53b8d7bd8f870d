import { describe, expect, it } from 'vitest';
import { auditTrailReader } from '../../core/audit-query.ts';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAuditEvents, type AuditEvent } from '../../core/audit-trail.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { MAX_RESPONSE_BYTES } from '../../local/local-lambda.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// The audit view and its CSV export over a trail of retention purges: each purge record of a
// pack names its 100 calls (~16 KB, as core/purge-delete.ts writes it), so 1,000 of them, the
// page the console's CSV export asks for, would be 16 MB against Lambda's 6 MB answer.

const SITE = 'site-a';
const PURGES = 500;

/** A purge record of a pack of 100 calls, shaped as core/purge-delete.ts writes it. */
function purgeEvent(p: number): AuditEvent {
  const rids = Array.from({ length: 100 }, (_, i) => `r${(p * 100 + i).toString(16).padStart(23, '0')}`);
  const pack = `p${String(p).padStart(23, '0')}`;
  const detail = {
    object: `recordings/${SITE}/2019/03/01/${pack}.tar`,
    kind: 'pack',
    rule: 'retention',
    retentionDays: 2555,
    cutoff: '2019-03-01T00:00:00.000Z',
    manifest: `manifests/${SITE}/recordings/2019/03/01/${pack}.json`,
    recordings: 100,
    rids,
    calls: rids.map((r, i) => `${r} callId=CVP-${1000000 + i}-2019030110 start=2019-03-01T10:${String(i % 60).padStart(2, '0')}:00.000Z +442071234${String(i).padStart(3, '0')}→+448001234567 agent=agent${i % 40}`),
  };
  return { at: new Date(Date.parse('2026-03-01T00:00:00Z') + p * 1000).toISOString(), action: 'purge', site: SITE, principal: 'ferry purge (retention)', detail };
}

async function setup(eventOf: (p: number) => AuditEvent = purgeEvent) {
  const ledger = new MemoryAuditLedger();
  const blobs = new MemoryBlobStore();
  // One ledger item a record, as the purge writes them (one a pack).
  for (let p = 0; p < PURGES; p++) await appendAuditEvents({ ledger }, [eventOf(p)]);
  const trail = auditTrail();
  const handler = createHandler({ catalogue: new MemoryCatalogue(), auditTrail: auditTrailReader({ ledger, blobs }), audit: trail.audit, clock: trail.clock, cursorKey: 'k'.repeat(32), log: () => undefined });
  const get = (query: Record<string, string>) => handler(httpEvent('GET', `/sites/${SITE}/audit`, { pathParameters: { site: SITE }, query, principal: 'officer@example.com' }));
  return { get };
}

/** What Lambda counts against its 6 MB: the handler's whole answer, as JSON. */
const payloadBytes = (r: HttpResult) => Buffer.byteLength(JSON.stringify(r));

describe('audit pages cut by bytes as well as by count', () => {
  it(`the CSV export of ${PURGES} purge records asked for 1,000 a page answers pages under Lambda's 6 MB, with the cursor, and every record once across them`, async () => {
    const { get } = await setup();
    const seqs: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await get({ format: 'csv', limit: '1000', action: 'purge', ...(cursor ? { cursor } : {}) });
      expect(r.statusCode).toBe(200);
      expect(payloadBytes(r)).toBeLessThan(MAX_RESPONSE_BYTES);
      const rows = (r.body as string).trim().split('\n').slice(1);
      seqs.push(...rows.map((row) => Number(row.split(',')[0])));
      cursor = r.headers?.['X-Ferry-Cursor'] as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seqs).toEqual(Array.from({ length: PURGES }, (_, i) => PURGES - i));
  });

  it('the JSON view of the same trail asked for 1,000 a page answers under 6 MB and names the cursor', async () => {
    const { get } = await setup();
    const r = await get({ limit: '1000', action: 'purge' });
    expect(r.statusCode).toBe(200);
    expect(payloadBytes(r)).toBeLessThan(MAX_RESPONSE_BYTES);
    const page = JSON.parse(r.body as string) as { items: { seq: number }[]; cursor: string | null };
    expect(page.items.length).toBeGreaterThan(100);
    expect(page.items.length).toBeLessThan(PURGES);
    expect(page.cursor).toEqual(expect.any(String));
  });

  it("the CSV export of records whose texts are quotes and backslashes (an officer's reason) answers pages under 6 MB: a quote counts as often as the CSV and the answer's JSON escape it", async () => {
    const reasoned = (p: number): AuditEvent => ({ at: new Date(Date.parse('2026-03-01T00:00:00Z') + p * 1000).toISOString(), action: 'hold', site: SITE, principal: 'officer@example.com', detail: { reason: `"${'\\"'.repeat(8_000)}"` } });
    const { get } = await setup(reasoned);
    let cursor: string | undefined;
    do {
      const r = await get({ format: 'csv', limit: '1000', action: 'hold', ...(cursor ? { cursor } : {}) });
      expect([r.statusCode, payloadBytes(r) < MAX_RESPONSE_BYTES]).toEqual([200, true]);
      cursor = r.headers?.['X-Ferry-Cursor'] as string | undefined;
    } while (cursor);
  });
});
