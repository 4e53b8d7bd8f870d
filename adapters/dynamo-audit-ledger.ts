import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DocumentSender } from './dynamo-lean.ts';
import { AUDIT_LEDGER_KEY_PREFIX, AUDIT_SEAL_KEY_PREFIX, type AuditLedger } from '../core/audit-ledger.ts';
import type { AuditRecord, ChainHead } from '../core/audit-trail.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// Each site's audit chain on the catalogue table, under `pk = AUDIT#{site}`:
// - `sk = REC#{seq of its first record, 12 digits}`: one write of the chain (one record, or the
//   records a group commit wrote together), PutItem conditioned on the key's absence: of two
//   writers starting at the same seq exactly one wins. The head is the newest such item (a
//   strongly consistent Query, newest first, Limit 1).
//   A write whose item would pass DynamoDB's 400 KB (a record naming thousands of calls: an
//   export of a big case, a purge of a pack of many calls) keeps its events' JSON in parts,
//   `sk = PART#{sha256 of the JSON}#{n, 4 digits}` (at most PART_UNITS characters each, ≤ 300 KB),
//   written first; the `REC#` item, written last and conditionally as any other, holds the chain's
//   fields of its records (`chain`: seq, prev, hash) and names the parts' count and digest. So the
//   write is the `REC#` item alone, its parts there before it is; and since the parts hold the
//   events only (no seq, no link), a write that lost its seq and is retried under the next one
//   writes the very same parts again: nothing is left that no record names. Readers put the parts
//   together and check the digest: the records come back whole. Writes made before kept the
//   records' JSON in parts (`recordsSha256`, parts keyed by its digest): still read.
// - `sk = SEALED` under `pk = AUDITSEAL#{site}`: the seq up to which the records are in the
//   bucket, raised only. Under a partition of its own so the sealer's role may write it and no
//   record (IAM scopes PutItem by leading key). Marks written before under `AUDIT#{site}` /
//   `SEALED` are still read (the higher of the two counts); only the new one is written.
// - `sk = HEAD`: the head item of chains written before the ledger (their records are all in the
//   bucket); read only when the site has no ledger item yet, so its chain goes on after it.

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'audit ledger');
const SEQ_WIDTH = 12;
const recSk = (seq: number) => `REC#${String(seq).padStart(SEQ_WIDTH, '0')}`;
const LAST_REC = `REC#${'9'.repeat(SEQ_WIDTH)}`;
/** DynamoDB's largest item: the UTF-8 bytes of its attribute names and values. */
export const DYNAMO_ITEM_BYTES = 400 * 1024;
/** Characters (UTF-16 units) of a part at most: ≤ 3 UTF-8 bytes each, so a part item stays under 300 KB. */
export const PART_UNITS = 100_000;
const partSk = (sha: string, n: number) => `PART#${sha}#${String(n).padStart(4, '0')}`;

export function auditLedgerPk(site: string): string {
  return `${AUDIT_LEDGER_KEY_PREFIX}${site}`;
}

/** The partition of the site's sealed mark. */
export function auditSealPk(site: string): string {
  return `${AUDIT_SEAL_KEY_PREFIX}${site}`;
}

export class DynamoAuditLedger implements AuditLedger {
  constructor(
    private readonly doc: DocumentSender,
    private readonly table: string,
  ) {}

  async head(site: string): Promise<ChainHead | undefined> {
    const [newest] = await this.query(site, { lo: recSk(0), hi: LAST_REC, newestFirst: true, limit: 1 });
    if (newest) return { seq: Number(newest.last), hash: String(newest.hash) };
    const legacy = await this.get(auditLedgerPk(site), 'HEAD');
    return legacy ? { seq: Number(legacy.seq), hash: String(legacy.hash) } : undefined;
  }

  async append(site: string, records: readonly AuditRecord[]): Promise<boolean> {
    const first = records[0]!;
    const last = records.at(-1)!;
    const text = JSON.stringify(records);
    const item: Record<string, string | number> = { pk: auditLedgerPk(site), sk: recSk(first.seq), type: 'audit-records', site, first: first.seq, last: last.seq, hash: last.hash, records: text };
    if (itemBytes(item) > DYNAMO_ITEM_BYTES) {
      // The events alone go in parts, keyed by their digest: the same events under another seq
      // (a write retried after another writer took this one) are the same parts, rewritten unchanged.
      const events = JSON.stringify(records.map((r) => r.event));
      const sha = createHash('sha256').update(events).digest('hex');
      const parts = splitUnits(events, PART_UNITS);
      for (const [n, part] of parts.entries()) await this.put({ pk: auditLedgerPk(site), sk: partSk(sha, n), type: 'audit-records-part', site, text: part });
      delete item.records;
      Object.assign(item, { parts: parts.length, eventsSha256: sha, chain: JSON.stringify(records.map((r) => ({ seq: r.seq, prev: r.prev, hash: r.hash }))) });
    }
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw translate(error, 'PutItem');
    }
  }

  async records(site: string, from: number, limit: number): Promise<AuditRecord[]> {
    // The write holding `from` (it may start before it), then the writes after it.
    const [covering] = await this.query(site, { lo: recSk(0), hi: recSk(from), newestFirst: true, limit: 1 });
    const out = covering && Number(covering.last) >= from ? await this.recordsOf(site, covering) : [];
    let startKey: Record<string, unknown> | undefined;
    while (out.length < limit) {
      const page = await this.query(site, { lo: recSk(from + 1), hi: LAST_REC, newestFirst: false, limit: 100, startKey }, (key) => (startKey = key));
      for (const item of page) out.push(...(await this.recordsOf(site, item)));
      if (!startKey) break;
    }
    return out;
  }

  async sealed(site: string): Promise<number> {
    // The mark under its own partition, and one written under the ledger's before the move.
    const [mark, older] = await Promise.all([this.get(auditSealPk(site), 'SEALED'), this.get(auditLedgerPk(site), 'SEALED')]);
    return Math.max(Number(mark?.seq ?? 0), Number(older?.seq ?? 0));
  }

  async markSealed(site: string, seq: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: auditSealPk(site), sk: 'SEALED', type: 'audit-sealed', site, seq },
          ConditionExpression: 'attribute_not_exists(pk) OR #seq < :seq',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ExpressionAttributeValues: { ':seq': seq },
        }),
      );
    } catch (error) {
      // Already at or above it: another sealer got there first.
      if (!conditionFailed(error)) throw translate(error, 'PutItem');
    }
  }

  /** The write's records: from the item, or put together from its parts (their digest checked) and its chain fields. */
  private async recordsOf(site: string, item: Record<string, unknown>): Promise<AuditRecord[]> {
    if (item.parts === undefined) return JSON.parse(String(item.records)) as AuditRecord[];
    if (item.eventsSha256 === undefined) return JSON.parse(await this.partsText(site, item, String(item.recordsSha256))) as AuditRecord[];
    const events = JSON.parse(await this.partsText(site, item, String(item.eventsSha256))) as AuditRecord['event'][];
    const chain = JSON.parse(String(item.chain)) as { seq: number; prev: string; hash: string }[];
    if (chain.length !== events.length) throw new Error(`audit ledger write ${String(item.sk)} of site ${site} names ${chain.length} records but its parts hold ${events.length} events`);
    return chain.map((c, i) => ({ v: 1, site, seq: c.seq, prev: c.prev, event: events[i]!, hash: c.hash }));
  }

  /** The text of a parted write, put together from its parts; refused unless all are there and hash to `sha`. */
  private async partsText(site: string, item: Record<string, unknown>, sha: string): Promise<string> {
    const count = Number(item.parts);
    const texts: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.query(site, { lo: partSk(sha, 0), hi: partSk(sha, count - 1), newestFirst: false, limit: 10, startKey }, (key) => (startKey = key));
      texts.push(...page.map((p) => String(p.text)));
    } while (startKey);
    const text = texts.join('');
    if (texts.length !== count || createHash('sha256').update(text).digest('hex') !== sha) {
      throw new Error(`audit ledger write ${String(item.sk)} of site ${site} is incomplete: ${texts.length} of its ${count} parts found, or they do not hash to ${sha}`);
    }
    return text;
  }

  private async put(item: Record<string, string | number>): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: item }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  private async get(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }))).Item;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  private async query(
    site: string,
    q: { lo: string; hi: string; newestFirst: boolean; limit: number; startKey?: Record<string, unknown> },
    next?: (key: Record<string, unknown> | undefined) => void,
  ): Promise<Record<string, unknown>[]> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: { ':pk': auditLedgerPk(site), ':lo': q.lo, ':hi': q.hi },
          ScanIndexForward: !q.newestFirst,
          Limit: q.limit,
          ConsistentRead: true,
          ExclusiveStartKey: q.startKey,
        }),
      );
      next?.(out.LastEvaluatedKey);
      return out.Items ?? [];
    } catch (error) {
      throw translate(error, 'Query');
    }
  }
}

/** The item's size as DynamoDB counts it: UTF-8 bytes of names and string values, a number at most 21 bytes. */
export function itemBytes(item: Record<string, string | number>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + (typeof value === 'number' ? 21 : Buffer.byteLength(value)), 0);
}

/** `text` cut into pieces of at most `units` UTF-16 units, never between the two halves of a surrogate pair. */
export function splitUnits(text: string, units: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + units);
    const code = text.charCodeAt(end - 1);
    if (end < text.length && code >= 0xd800 && code <= 0xdbff) end--;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}
