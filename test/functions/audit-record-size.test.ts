import { describe, expect, it } from 'vitest';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { AUDIT_MEMBERS_SHOWN, auditTrailReader, type AuditItem } from '../../core/audit-query.ts';
import { appendAudit, auditRecordKey, verifyAuditChain } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { BlobStoreDeleter, deletePurgeBatch } from '../../core/purge.ts';
import { readText } from '../../core/purge-delete.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { MAX_RESPONSE_BYTES } from '../../local/local-lambda.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';
import { buildPack, publish } from '../support/pack-fixture.ts';

// The purge record of a pack of 25,000 calls (about 154 bytes a call: over 3 MB), written by the
// purge's delete step as it writes every purge record, sealed to the bucket: the audit view lists
// it with its lists cut, and reads the whole of it in pages of its members, each answer under
// Lambda's 6 MB and never a 5xx.

const SITE = 'site-a';
const CALLS = 25_000;
const NOW = new Date('2026-06-01T00:00:00.000Z');

let built: ReturnType<typeof build> | undefined;
/** Built once for the file (a pack of 25,000 calls takes seconds to build, ingest and purge). */
const purgedBigPack = () => (built ??= build());

async function build() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const members = Array.from({ length: CALLS }, (_, i) => ({
    path: `2019/03/01/call-${i}.wav`,
    body: Buffer.from(`call ${i}`),
    meta: { callId: `CVP-${1_000_000 + i}-2019030110`, start: new Date(Date.UTC(2019, 2, 1, 8) + i * 1000).toISOString(), caller: `+4420712${String(i).padStart(5, '0')}`, called: '+448001234567', agent: `agent${i % 40}` },
  }));
  const pack = buildPack(SITE, members, { day: '2019-03-01T00:00:00Z', seed: 'big' });
  await publish(blobs, pack);
  await ingestManifest({ blobs, catalogue }, pack.manifestKey);
  const ledger = new MemoryAuditLedger();
  const auditBlobs = new MemoryBlobStore();
  const audit = async (event: Parameters<typeof appendAudit>[1]) => void (await appendAudit({ ledger, blobs: auditBlobs }, event));
  const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
  const grant = await locks.acquire({ site: SITE, holder: 'purge', operation: 'purge' });
  const result = await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue, audit, clock: new ManualClock(NOW) }, SITE, grant.token, {
    index: 0,
    targets: [{ key: pack.packKey, then: pack.manifestKey, kind: 'pack' }],
    rule: { retentionDays: 2555, cutoff: '2019-06-01T00:00:00.000Z' },
  });
  expect(result).toMatchObject({ targetsDone: 1, failedCount: 0 });
  const records = await ledger.records(SITE, 1, 100);
  const purge = records.find((r) => r.event.action === 'purge' && r.event.detail?.object === pack.packKey)!;
  const trail = auditTrail();
  const handler = createHandler({ catalogue, auditTrail: auditTrailReader({ ledger, blobs: auditBlobs }), audit: trail.audit, clock: trail.clock, cursorKey: 'k'.repeat(32), log: () => undefined });
  const get = (query: Record<string, string>) => handler(httpEvent('GET', `/sites/${SITE}/audit`, { pathParameters: { site: SITE }, query, principal: 'officer@example.com' }));
  return { ledger, auditBlobs, purge, records, get, trail };
}

/** What Lambda counts against its 6 MB: the handler's whole answer, as JSON. */
const payloadBytes = (r: HttpResult) => Buffer.byteLength(JSON.stringify(r));

describe('a purge record of a pack of 25,000 calls in the audit view', () => {
  it('is over 3 MB as sealed, verifies, is listed with its calls cut to the first 500, and is read whole in pages of its members, every answer under 6 MB', async () => {
    const { auditBlobs, purge, records, get, trail } = await purgedBigPack();
    const sealed = await readText(auditBlobs, auditRecordKey(SITE, purge.seq));
    expect(Buffer.byteLength(sealed)).toBeGreaterThan(3 * 1024 * 1024);
    const stored = await Promise.all(records.map(async (r) => ({ key: auditRecordKey(SITE, r.seq), text: await readText(auditBlobs, auditRecordKey(SITE, r.seq)) })));
    expect(verifyAuditChain(SITE, stored, { seq: records.at(-1)!.seq, hash: records.at(-1)!.hash })).toMatchObject({ ok: true });

    const listed = await get({ action: 'purge' });
    expect(listed.statusCode).toBe(200);
    expect(payloadBytes(listed)).toBeLessThan(MAX_RESPONSE_BYTES);
    const [item] = (JSON.parse(listed.body as string) as { items: AuditItem[] }).items;
    expect(item).toMatchObject({ seq: purge.seq, action: 'purge', hash: purge.hash, members: { rids: { offset: 0, shown: AUDIT_MEMBERS_SHOWN, total: CALLS }, calls: { offset: 0, shown: AUDIT_MEMBERS_SHOWN, total: CALLS } } });
    expect(item!.details!.calls).toEqual((purge.event.detail!.calls as string[]).slice(0, AUDIT_MEMBERS_SHOWN));
    expect(item!.details!.recordings).toBe(CALLS);

    const before = trail.events.length;
    const calls: string[] = [];
    const rids: string[] = [];
    let offset: number | null = 0;
    while (offset !== null) {
      const page: HttpResult = await get({ seq: String(purge.seq), offset: String(offset) });
      expect(page.statusCode).toBe(200);
      expect(payloadBytes(page)).toBeLessThan(MAX_RESPONSE_BYTES);
      const body = JSON.parse(page.body as string) as { item: AuditItem; next: number | null };
      expect(body.item.members!.calls).toMatchObject({ offset, total: CALLS });
      calls.push(...(body.item.details!.calls as string[]));
      rids.push(...(body.item.details!.rids as string[]));
      offset = body.next;
    }
    expect(calls).toEqual(purge.event.detail!.calls);
    expect(rids).toEqual(purge.event.detail!.rids);
    // Each read of the record is itself recorded, as the view's pages are.
    expect(trail.events.slice(before).filter((e) => e.query?.audit === 'record').map((e) => e.query!.offset)).toEqual([0, 5000, 10_000, 15_000, 20_000]);
  });

  it('is exported as CSV under 6 MB, its detail saying which lists are cut and where the whole record is read', async () => {
    const { purge, get } = await purgedBigPack();
    const csv = await get({ format: 'csv', action: 'purge' });
    expect(csv.statusCode).toBe(200);
    expect(payloadBytes(csv)).toBeLessThan(MAX_RESPONSE_BYTES);
    expect(csv.body as string).toContain(`calls: first ${AUDIT_MEMBERS_SHOWN} of ${CALLS}`);
    expect(csv.body as string).toContain(`GET /sites/${SITE}/audit?seq=${purge.seq}`);
  });

  it('answers 404 naming the trail\'s end for a seq past it, and 400 naming the parameter for a bad offset', async () => {
    const { records, get } = await purgedBigPack();
    const past = await get({ seq: String(records.length + 5) });
    expect(past.statusCode).toBe(404);
    expect(past.body as string).toContain(`site ${SITE} has no audit record ${records.length + 5} (its trail ends at ${records.length})`);
    const bad = await get({ seq: '1', offset: '-1' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body as string).toMatch(/offset/);
  });
});

