import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoAuditLedger, PART_UNITS, auditLedgerPk, splitUnits } from '../../adapters/dynamo-audit-ledger.ts';
import { LeanDynamo } from '../../adapters/dynamo-lean.ts';
import { coalescedAudit } from '../../core/audit-coalesce.ts';
import { appendAudit, appendAuditEvents, GENESIS, recordHash, sealAudit, verifyAuditChain, type AuditEvent, type AuditRecord } from '../../core/audit-trail.ts';
import { AUDIT_MEMBERS_SHOWN, auditTrailReader, searchAuditPage } from '../../core/audit-query.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// The audit ledger against DynamoDB's 400 KB item (dynalite, counting UTF-8 as AWS does): a record
// naming 20,000 calls (an export of a big case) is one write whose records come back whole, and a
// burst of large records is split into writes that each fit.

const SITE = 'site-a';
let dynamo: LocalDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let lean: LeanDynamo;
let tables = 0;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  doc = DynamoDBDocumentClient.from(client);
  lean = new LeanDynamo({ region: 'local', endpoint: dynamo.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }, doc);
});
afterAll(async () => {
  lean?.destroy();
  client?.destroy();
  await dynamo?.stop();
});

async function ledgerTable(): Promise<string> {
  const table = `audit-size-${++tables}`;
  await createCatalogueTable(client, table);
  return table;
}

const rids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `r${String(from + i).padStart(23, '0')}`);
const exportOf = (n: number, i = 0): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 12, 0, i)).toISOString(), action: 'export', site: SITE, principal: 'officer-a', detail: { case: 'C1', reason: 'subject access request', rids: rids(n) } });

async function stored(blobs: MemoryBlobStore): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for await (const info of blobs.list(`audit/${SITE}/`)) {
    const chunks: Buffer[] = [];
    for await (const c of (await blobs.get(info.key)).body) chunks.push(c as Buffer);
    out.push({ key: info.key, text: Buffer.concat(chunks).toString('utf8') });
  }
  return out;
}

describe.each([
  ['the SDK', () => doc],
  ["the functions' signed requests (LeanDynamo)", () => lean],
])('the DynamoDB audit ledger over %s', (_name, sender) => {
  it('writes a record naming 20,000 calls (about 540 KB) and reads it back whole; sealed, the chain verifies', async () => {
    const ledger = new DynamoAuditLedger(sender(), await ledgerTable());
    const blobs = new MemoryBlobStore();
    const record = await appendAudit({ ledger, blobs }, exportOf(20_000));
    expect(Buffer.byteLength(JSON.stringify(record))).toBeGreaterThan(500 * 1024);
    const [back] = await ledger.records(SITE, 1, 1);
    expect(back).toEqual(record);
    expect(await ledger.head(SITE)).toEqual({ seq: 1, hash: record.hash });
    expect(await ledger.sealed(SITE)).toBe(1);
    expect(JSON.parse((await stored(blobs))[0]!.text)).toEqual(record);
    expect(verifyAuditChain(SITE, await stored(blobs), await ledger.head(SITE))).toMatchObject({ ok: true, records: 1 });
  });

  it('writes a burst of 50 exports of 2,000 calls (54 KB each) through the group commit: all recorded, 1..50, read back in order', async () => {
    const ledger = new DynamoAuditLedger(sender(), await ledgerTable());
    const blobs = new MemoryBlobStore();
    const append = coalescedAudit({ ledger, blobs });
    const written = await Promise.all(Array.from({ length: 50 }, (_, i) => append(exportOf(2000, i))));
    await append.settled();
    expect(written.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await ledger.records(SITE, 1, 50)).map((r) => r.seq)).toEqual(written.map((r) => r.seq));
    expect(verifyAuditChain(SITE, await stored(blobs), await ledger.head(SITE))).toMatchObject({ ok: true, records: 50 });
  });
});

describe('a parted ledger write', () => {
  it('of non-Latin text (a reason of 150,000 CJK characters, 450 KB in UTF-8) is written and read back whole', async () => {
    const ledger = new DynamoAuditLedger(lean, await ledgerTable());
    const event: AuditEvent = { ...exportOf(10), detail: { reason: '中'.repeat(150_000), rids: rids(10) } };
    const record = await appendAudit({ ledger, blobs: new MemoryBlobStore() }, event);
    expect((await ledger.records(SITE, 1, 1))[0]).toEqual(record);
  });

  it('is read by the audit view from the ledger before it is sealed, between small records', async () => {
    const table = await ledgerTable();
    const ledger = new DynamoAuditLedger(lean, table);
    const refusing = { put: () => Promise.reject(new Error('bucket unreachable')) };
    const append = coalescedAudit({ ledger, blobs: refusing }, { onSealError: () => undefined });
    const small: AuditEvent = { at: '2026-04-01T11:00:00.000Z', action: 'search', site: SITE, principal: 'officer-a', query: { from: '2026-03-01' } };
    await append(small);
    await append(exportOf(20_000));
    await append({ ...small, at: '2026-04-01T13:00:00.000Z' });
    await append.settled();
    const { records: seen, cut } = await searchAuditPage(auditTrailReader({ ledger, blobs: new MemoryBlobStore() }), { site: SITE, filter: {}, limit: 10 });
    // The export's 20,000 calls are read whole from its parts, and shown cut to a page's worth (the rest read in pages).
    expect(seen.map((r) => [r.seq, r.event.action, (r.event.detail?.rids as string[] | undefined)?.length])).toEqual([
      [3, 'search', undefined],
      [2, 'export', AUDIT_MEMBERS_SHOWN],
      [1, 'search', undefined],
    ]);
    expect(cut?.[2]?.rids).toEqual({ offset: 0, shown: AUDIT_MEMBERS_SHOWN, total: 20_000 });
  });

  it('whose part is gone is refused by name, not read as fewer records', async () => {
    const table = await ledgerTable();
    const ledger = new DynamoAuditLedger(lean, table);
    await appendAudit({ ledger, blobs: new MemoryBlobStore() }, exportOf(20_000));
    const parts = (await doc.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)', ExpressionAttributeValues: { ':pk': auditLedgerPk(SITE), ':p': 'PART#' } }))).Items ?? [];
    expect(parts.length).toBeGreaterThan(1);
    await doc.send(new DeleteCommand({ TableName: table, Key: { pk: parts[1]!.pk, sk: parts[1]!.sk } }));
    await expect(ledger.records(SITE, 1, 1)).rejects.toThrow(/audit ledger write REC#000000000001 of site site-a is incomplete: \d+ of its \d+ parts found/);
  });
});

describe('a parted write that lost its seq', () => {
  it('is retried under the next seq with the same parts: every PART# item is one the landed record names, none left unread', async () => {
    const table = await ledgerTable();
    const ledger = new DynamoAuditLedger(lean, table);
    const blobs = new MemoryBlobStore();
    // Another writer takes seq 1 while this one still believes the chain empty: its first
    // conditional write (at seq 1) loses, after its parts were written, and it links after seq 1.
    const other = await appendAudit({ ledger, blobs }, { at: '2026-04-01T11:00:00.000Z', action: 'search', site: SITE, principal: 'officer-b', query: { from: '2026-03-01' } });
    const { records } = await appendAuditEvents({ ledger }, [exportOf(20_000)], { seq: 0, hash: GENESIS });
    expect(records[0]!.seq).toBe(2);
    const items = (await doc.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': auditLedgerPk(SITE) }, ConsistentRead: true }))).Items ?? [];
    const landed = items.filter((i) => String(i.sk).startsWith('REC#') && i.parts !== undefined);
    expect(landed.map((i) => i.sk)).toEqual(['REC#000000000002']);
    const parts = items.filter((i) => String(i.sk).startsWith('PART#'));
    expect(parts.length).toBe(Number(landed[0]!.parts));
    expect(parts.every((p) => String(p.sk).startsWith(`PART#${String(landed[0]!.eventsSha256)}#`))).toBe(true);
    expect(await ledger.records(SITE, 1, 2)).toEqual([other, records[0]]);
    await sealAudit({ ledger, blobs }, SITE);
    expect(verifyAuditChain(SITE, await stored(blobs), await ledger.head(SITE))).toMatchObject({ ok: true, records: 2 });
  });
});

describe('a parted write made before the parts held events only', () => {
  it('(its records\' JSON in parts, named by recordsSha256) is still read back whole and verifies', async () => {
    const table = await ledgerTable();
    const ledger = new DynamoAuditLedger(lean, table);
    const [record] = chainAfterGenesis(exportOf(20_000));
    const text = JSON.stringify([record]);
    const sha = createHash('sha256').update(text).digest('hex');
    const parts = splitUnits(text, PART_UNITS);
    for (const [n, part] of parts.entries()) await doc.send(new PutCommand({ TableName: table, Item: { pk: auditLedgerPk(SITE), sk: `PART#${sha}#${String(n).padStart(4, '0')}`, type: 'audit-records-part', site: SITE, text: part } }));
    await doc.send(new PutCommand({ TableName: table, Item: { pk: auditLedgerPk(SITE), sk: 'REC#000000000001', type: 'audit-records', site: SITE, first: 1, last: 1, hash: record!.hash, parts: parts.length, recordsSha256: sha } }));
    expect(await ledger.records(SITE, 1, 1)).toEqual([record]);
    expect(verifyAuditChain(SITE, [], await ledger.head(SITE), await ledger.records(SITE, 1, 1))).toMatchObject({ ok: true, records: 1 });
  });
});

/** The first record of a chain, as the chain's writer makes it. */
function chainAfterGenesis(event: AuditEvent): AuditRecord[] {
  const body = { v: 1 as const, site: SITE, seq: 1, prev: GENESIS, event };
  return [{ ...body, hash: recordHash(body) }];
}

describe('splitUnits', () => {
  it('cuts text into pieces of at most n units without parting a surrogate pair, and they join back to the text', () => {
    const text = `ab${'😀'.repeat(5)}c`;
    const pieces = splitUnits(text, 3);
    expect(pieces.join('')).toBe(text);
    expect(pieces.every((p) => p.length <= 3 && !/[\uD800-\uDBFF]$/.test(p) && !/^[\uDC00-\uDFFF]/.test(p))).toBe(true);
  });
});
