import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { LeanDynamo } from '../../adapters/dynamo-lean.ts';
import { coalescedAudit } from '../../core/audit-coalesce.ts';
import {
  appendAudit,
  auditCsv,
  auditRecordKey,
  recordHash,
  matchesAudit,
  sealAudit,
  verifyAuditChain,
  type AuditEvent,
  type AuditRecord,
} from '../../core/audit-trail.ts';
import { auditTrailReader, searchAuditPage } from '../../core/audit-query.ts';
import { MemoryAuditLedger, type AuditLedger } from '../../core/audit-ledger.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

const SITE = 'site-a';
const event = (i: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  at: new Date(Date.UTC(2026, 3, 1, 12, i)).toISOString(),
  action: 'listen',
  site: SITE,
  rid: `r${String(i).padStart(23, '0')}`,
  principal: i % 2 === 0 ? 'officer-a' : 'officer-b',
  ...over,
});

async function stored(blobs: MemoryBlobStore, site = SITE): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for await (const info of blobs.list(`audit/${site}/`)) {
    const blob = await blobs.get(info.key);
    const chunks: Buffer[] = [];
    for await (const c of blob.body) chunks.push(c as Buffer);
    out.push({ key: info.key, text: Buffer.concat(chunks).toString('utf8') });
  }
  return out;
}

function chainContract(name: string, makeHeads: () => Promise<AuditLedger>) {
  describe(`audit chain on ${name}`, () => {
    it('links 12 concurrent writers into one chain 1..12 without a fork, and the chain verifies', async () => {
      const heads = await makeHeads();
      const blobs = new MemoryBlobStore();
      const written = await Promise.all(Array.from({ length: 12 }, (_, i) => appendAudit({ ledger: heads, blobs, attempts: 50 }, event(i))));
      expect(written.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const verdict = verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE));
      expect(verdict).toMatchObject({ ok: true, records: 12 });
    });

    it('records a burst of 40 concurrent events with the default attempts (losers back off with jitter), none refused', async () => {
      const heads = await makeHeads();
      const blobs = new MemoryBlobStore();
      const written = await Promise.all(Array.from({ length: 40 }, (_, i) => appendAudit({ ledger: heads, blobs }, event(i))));
      expect(written.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 40 });
    }, 30_000);

    it('records a burst of 50 concurrent events through the group commit (coalescedAudit), one chain 1..50 that verifies', async () => {
      const heads = await makeHeads();
      const blobs = new MemoryBlobStore();
      const append = coalescedAudit({ ledger: heads, blobs });
      const written = await Promise.all(Array.from({ length: 50 }, (_, i) => append(event(i))));
      await append.settled();
      expect(written.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: true, records: 50 });
    });

    it('two processes writing 30 events each at once (two group commits, each remembering its own head) take every seq 1..60 exactly once: no gap, no fork', async () => {
      const heads = await makeHeads();
      const blobs = new MemoryBlobStore();
      const [a, b] = [coalescedAudit({ ledger: heads, blobs }, { maxBatch: 3 }), coalescedAudit({ ledger: heads, blobs }, { maxBatch: 3 })];
      const written = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b)(event(i))));
      await Promise.all([a.settled(), b.settled()]);
      expect(written.map((r) => r.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const ledger = await heads.records(SITE, 1, Infinity);
      expect(ledger.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(new Set(ledger.map((r) => r.event.rid)).size).toBe(60);
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE), ledger)).toMatchObject({ ok: true, records: 60 });
    }, 30_000);

    it('a write that landed but whose answer was lost is retried and recognised as its own: one record, not two', async () => {
      const real = await makeHeads();
      let lose = true;
      // The store applies the first write and the caller never hears of it (the SDK then retries and meets its own item).
      const heads: AuditLedger = Object.assign(Object.create(real) as AuditLedger, {
        append: async (site: string, records: readonly AuditRecord[]) => {
          const ok = await real.append(site, records);
          if (lose) {
            lose = false;
            expect(ok).toBe(true);
            return false;
          }
          return ok;
        },
      });
      const blobs = new MemoryBlobStore();
      const first = await appendAudit({ ledger: heads, blobs }, event(1));
      const second = await appendAudit({ ledger: heads, blobs }, event(2));
      expect([first.seq, second.seq]).toEqual([1, 2]);
      expect((await real.records(SITE, 1, Infinity)).map((r) => r.event.rid)).toEqual([event(1).rid, event(2).rid]);
      expect(verifyAuditChain(SITE, await stored(blobs), await real.head(SITE))).toMatchObject({ ok: true, records: 2 });
    });

    it('finds records still only in the ledger (not sealed) in the audit view and in verification; sealing copies them once and never overwrites', async () => {
      const heads = await makeHeads();
      const blobs = new MemoryBlobStore();
      const append = coalescedAudit({ ledger: heads, blobs: { put: () => Promise.reject(new Error('bucket unreachable')) } }, { onSealError: () => undefined });
      for (let i = 1; i <= 4; i++) await append(event(i));
      await append.settled();
      expect(await stored(blobs)).toEqual([]);
      const page = await searchAuditPage(auditTrailReader({ ledger: heads, blobs }), { site: SITE, filter: {}, limit: 10 });
      expect(page.records.map((r) => r.seq)).toEqual([4, 3, 2, 1]);
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE), await heads.records(SITE, 1, Infinity))).toMatchObject({ ok: true, records: 4 });
      // Without the ledger's records, the bucket alone is missing them: the head names the gap.
      expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: false, seq: 1, problem: expect.stringMatching(/missing/) });
      expect(await sealAudit({ ledger: heads, blobs }, SITE)).toBe(4);
      const sealed = await stored(blobs);
      expect(sealed.map((r) => r.key)).toEqual([1, 2, 3, 4].map((seq) => auditRecordKey(SITE, seq)));
      // Sealing again from the start (a second sealer, a lost mark) leaves every copy as it is.
      const puts: string[] = [];
      const counting = { put: async (key: string, body: Buffer, opts?: { ifNoneMatch?: boolean }) => (puts.push(key), blobs.put(key, body, opts)) };
      expect(await sealAudit({ ledger: heads, blobs: counting }, SITE, { from: 1 })).toBe(4);
      expect(puts).toHaveLength(4);
      expect(await stored(blobs)).toEqual(sealed);
      expect(verifyAuditChain(SITE, sealed, await heads.head(SITE), await heads.records(SITE, 1, Infinity))).toMatchObject({ ok: true, records: 4 });
    });
  });
}

chainContract('the in-memory ledger', async () => new MemoryAuditLedger());

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let tables = 0;
beforeAll(async () => {
  dynamo = await startLocalDynamo({});
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});
let lean: LeanDynamo | undefined;
afterAll(async () => {
  lean?.destroy();
  client?.destroy();
  await dynamo?.stop();
});
chainContract('DynamoDB (dynalite)', async () => {
  const table = `catalogue-audit-${++tables}`;
  await createCatalogueTable(client, table);
  return new DynamoAuditLedger(DynamoDBDocumentClient.from(client), table);
});
chainContract('DynamoDB (dynalite), the functions\' signed requests (LeanDynamo)', async () => {
  const table = `catalogue-audit-${++tables}`;
  await createCatalogueTable(client, table);
  lean ??= new LeanDynamo({ region: 'local', endpoint: dynamo.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }, DynamoDBDocumentClient.from(client));
  return new DynamoAuditLedger(lean, table);
});

describe('verifyAuditChain', () => {
  async function chainOf(n: number) {
    const heads = new MemoryAuditLedger();
    const blobs = new MemoryBlobStore();
    for (let i = 1; i <= n; i++) await appendAudit({ ledger: heads, blobs }, event(i));
    return { heads, blobs };
  }

  it('names an edited record: its content no longer hashes to its hash', async () => {
    const { heads, blobs } = await chainOf(5);
    const records = await stored(blobs);
    const third = JSON.parse(records[2]!.text) as AuditRecord;
    third.event.principal = 'someone-else';
    await blobs.put(auditRecordKey(SITE, 3), Buffer.from(JSON.stringify(third)));
    const verdict = verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE));
    expect(verdict).toMatchObject({ ok: false, seq: 3, key: 'audit/site-a/000000000003.json' });
    expect(!verdict.ok && verdict.problem).toMatch(/altered/);
  });

  it('names an edit that recomputed the hash: the next record no longer links to it', async () => {
    const { heads, blobs } = await chainOf(5);
    const text = (await stored(blobs))[1]!.text;
    const { hash: _old, ...body } = JSON.parse(text) as AuditRecord;
    body.event.action = 'search';
    const { recordHash } = await import('../../core/audit-trail.ts');
    await blobs.put(auditRecordKey(SITE, 2), Buffer.from(JSON.stringify({ ...body, hash: recordHash(body) })));
    const verdict = verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE));
    expect(verdict).toMatchObject({ ok: false, seq: 3 });
    expect(!verdict.ok && verdict.problem).toMatch(/does not link to record 2/);
  });

  it('names a deleted record in the middle, and a deleted last record against the head', async () => {
    const { heads, blobs } = await chainOf(4);
    await blobs.delete(auditRecordKey(SITE, 2));
    expect(verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE))).toMatchObject({ ok: false, seq: 2, problem: expect.stringMatching(/missing/) });
    const tail = await chainOf(4);
    await tail.blobs.delete(auditRecordKey(SITE, 4));
    expect(verifyAuditChain(SITE, await stored(tail.blobs), await tail.heads.head(SITE))).toMatchObject({ ok: false, seq: 4, problem: expect.stringMatching(/missing/) });
  });
});

describe('verifyAuditChain across the ledger and the bucket', () => {
  it('names a record altered in the ledger before it was sealed (hash recomputed, so the next record no longer links)', async () => {
    const heads = new MemoryAuditLedger();
    const append = coalescedAudit({ ledger: heads, blobs: { put: () => Promise.reject(new Error('not yet')) } }, { onSealError: () => undefined });
    for (let i = 1; i <= 4; i++) await append(event(i));
    await append.settled();
    const [, second] = await heads.records(SITE, 1, Infinity);
    const { hash: _old, ...body } = second!;
    body.event = { ...body.event, principal: 'someone-else' };
    heads.tamper(SITE, { ...body, hash: recordHash(body) });
    const verdict = verifyAuditChain(SITE, [], await heads.head(SITE), await heads.records(SITE, 1, Infinity));
    expect(verdict).toMatchObject({ ok: false, seq: 3 });
    expect(!verdict.ok && verdict.problem).toMatch(/does not link to record 2/);
  });

  it('names a ledger record that differs from its write-once copy in the bucket, and a bucket copy the seal did not overwrite', async () => {
    const heads = new MemoryAuditLedger();
    const blobs = new MemoryBlobStore();
    for (let i = 1; i <= 3; i++) await appendAudit({ ledger: heads, blobs }, event(i));
    const [, second] = await heads.records(SITE, 1, Infinity);
    heads.tamper(SITE, { ...second!, event: { ...second!.event, action: 'search' } });
    const verdict = verifyAuditChain(SITE, await stored(blobs), await heads.head(SITE), await heads.records(SITE, 1, Infinity));
    expect(verdict).toMatchObject({ ok: false, seq: 2, key: auditRecordKey(SITE, 2) });
    expect(!verdict.ok && verdict.problem).toMatch(/differs between the ledger .* and its write-once copy/);
    // A forged object put in the bucket ahead of the seal stays as it was; the seal does not replace it, verify names it.
    const other = { ledger: new MemoryAuditLedger(), blobs: new MemoryBlobStore() };
    const forged = Buffer.from('{"forged":true}\n');
    await other.blobs.put(auditRecordKey(SITE, 1), forged);
    await appendAudit(other, event(1));
    expect((await stored(other.blobs))[0]!.text).toBe(forged.toString());
    expect(verifyAuditChain(SITE, await stored(other.blobs), await other.ledger.head(SITE), await other.ledger.records(SITE, 1, Infinity))).toMatchObject({ ok: false, seq: 1 });
  });
});

describe('audit search and CSV', () => {
  const records = Array.from({ length: 6 }, (_, i) => ({ seq: i + 1, event: event(i, { action: i < 3 ? 'listen' : 'download' }) }));

  it('filters by [from, to), principal and action together', () => {
    const from = new Date(Date.UTC(2026, 3, 1, 12, 1));
    const to = new Date(Date.UTC(2026, 3, 1, 12, 5));
    expect(records.filter((r) => matchesAudit(r.event, { from, to })).map((r) => r.seq)).toEqual([2, 3, 4, 5]);
    expect(records.filter((r) => matchesAudit(r.event, { from, to, principal: 'officer-a' })).map((r) => r.seq)).toEqual([3, 5]);
    expect(records.filter((r) => matchesAudit(r.event, { action: 'download', principal: 'officer-b' })).map((r) => r.seq)).toEqual([4, 6]);
  });

  it('a search by principal also finds what a console-minted link played for that officer (principal is the console role)', () => {
    const played = event(1, { principal: 'arn:aws:sts::1:assumed-role/console/fn', officer: 'jane' });
    expect(matchesAudit(played, { principal: 'jane' })).toBe(true);
    expect(matchesAudit(played, { principal: 'arn:aws:sts::1:assumed-role/console/fn' })).toBe(true);
    expect(matchesAudit(played, { principal: 'john' })).toBe(false);
  });

  it('writes RFC 4180 CSV: quotes commas and quotes, and defuses spreadsheet formulas', () => {
    const csv = auditCsv([{ v: 1, site: SITE, seq: 1, prev: '0', hash: 'h', event: event(1, { principal: '=HYPERLINK("x")', query: { agent: 'a,b' } }) }]);
    const [header, line] = csv.split('\r\n');
    expect(header).toBe('seq,at,site,action,principal,officer,rid,query,detail,hash');
    expect(line).toBe(`1,2026-04-01T12:01:00.000Z,site-a,listen,"'=HYPERLINK(""x"")",,r00000000000000000000001,"{""agent"":""a,b""}",,h`);
  });
});
