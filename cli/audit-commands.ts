import type { Command } from 'commander';
import { text } from 'node:stream/consumers';
import { openIntentRecords, type OpenIntentRecord } from '../core/purge-intents.ts';
import { AUDIT_ACTIONS, auditCsv, auditPrefix, matchesAudit, sealAudit, verifyAuditChain, type AuditAction, type AuditFilter, type AuditRecord } from '../core/audit-trail.ts';
import type { AuditLedger } from '../core/audit-ledger.ts';
import { FerryError, InvalidInputError, messageOf } from '../core/errors.ts';
import { deniedByDynamo } from '../adapters/dynamo-errors.ts';
import type { BlobStore } from '../core/ports.ts';
import { siteDeniedMessage, siteReads, type SiteDenial } from './site-access.ts';
import { storeTarget } from './store-target.ts';

// `ferry audit verify`, `ferry audit search` and `ferry audit seal`: the durable audit trail (core/audit-trail.ts),
// read straight from the bucket and the ledger (the table) with the caller's credentials.

/** Every stored record of a site's trail, as text, in key (= chain) order. */
export async function readTrail(blobs: Pick<BlobStore, 'list' | 'get'>, site: string): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for await (const info of blobs.list(auditPrefix(site))) out.push({ key: info.key, text: await text((await blobs.get(info.key)).body) });
  return out;
}

/** Every record of a site's trail in chain order: the bucket's, and the ledger's not yet sealed there. */
export async function trailRecords(target: { blobs: Pick<BlobStore, 'list' | 'get'>; ledger: Pick<AuditLedger, 'records'> }, site: string): Promise<AuditRecord[]> {
  const bySeq = new Map<number, AuditRecord>();
  for (const r of await target.ledger.records(site, 1, Infinity)) bySeq.set(r.seq, r);
  // The bucket's copy is the write-once one: it wins over the ledger's (verify reports a difference).
  for (const r of await readTrail(target.blobs, site)) {
    const record = JSON.parse(r.text) as AuditRecord;
    bySeq.set(record.seq, record);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

type TrailReader = { blobs: Pick<BlobStore, 'list' | 'get'>; ledger: Pick<AuditLedger, 'head' | 'records'> };

/**
 * The store's reads of one site's trail, a refusal said as such: a site's officer role reads the
 * trail of its own site only, so S3's AccessDenied (the listing) or DynamoDB's (the ledger) for
 * another `--site` names an action and an ARN, never the site typed.
 */
export function trailReads(
  target: { blobs: Pick<BlobStore, 'list' | 'get' | 'head'>; ledger: TrailReader['ledger']; where: { s3: string; dynamo: string }; credentialsFrom: string },
  site: string,
): TrailReader {
  const denial: Omit<SiteDenial, 'said' | 'where'> = {
    site,
    part: 'the audit trail of',
    roles: "a site's officer role reads the audit trail of its own site only, an administrator's every site's",
    credentials: target.credentialsFrom,
  };
  const explained = (error: unknown) => (deniedByDynamo(error) ? new FerryError('fatal', siteDeniedMessage({ ...denial, where: target.where.dynamo, said: messageOf(error) }), { cause: error }) : error);
  const ledger = target.ledger;
  return {
    blobs: siteReads(target.blobs, { ...denial, where: target.where.s3 }),
    ledger: {
      head: (s) => ledger.head(s).catch((error: unknown) => Promise.reject(explained(error))),
      records: (s, from, limit) => ledger.records(s, from, limit).catch((error: unknown) => Promise.reject(explained(error))),
    },
  };
}

/** Parses the search options; InvalidInputError names the bad one. */
export function auditFilter(opts: { from?: string; to?: string; principal?: string; action?: string }, now: () => Date = () => new Date()): AuditFilter {
  // The same rule as the API's and `calls search`'s: an ISO 8601 date-time with a zone (a time
  // without one is another instant on every machine; `5` is no time at all), or `now`.
  const date = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    if (value.trim().toLowerCase() === 'now') return now();
    const d = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim()) ? new Date(value.trim()) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime())) throw new InvalidInputError(`${name}: "${value}" must be an ISO 8601 date-time with a zone, e.g. 2026-03-01T09:00:00Z or 2026-03-01T10:00:00+01:00, or now`);
    return d;
  };
  if (opts.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(opts.action)) throw new InvalidInputError(`action: must be one of ${AUDIT_ACTIONS.join(', ')}`);
  const filter: AuditFilter = { from: date('from', opts.from), to: date('to', opts.to), principal: opts.principal, action: opts.action as AuditAction | undefined };
  if (filter.from && filter.to && filter.from >= filter.to) throw new InvalidInputError('to: must be after from');
  return filter;
}

/** The records of a verified trail by seq: the bucket's copies, the ledger's where the bucket has none. */
function inChainOrder(stored: { text: string }[], ledger: AuditRecord[]): AuditRecord[] {
  const bySeq = new Map<number, AuditRecord>(ledger.map((r) => [r.seq, r]));
  for (const { text } of stored) {
    const record = JSON.parse(text) as AuditRecord;
    bySeq.set(record.seq, record);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The open intents as `audit verify` says them (nothing when there are none). */
export function openIntentsText(open: OpenIntentRecord[]): string {
  if (open.length === 0) return '';
  const lines = open.map((o) => `  record ${o.seq} (${o.at}): ${o.object}, intent ${o.intent}`);
  return `${open.length} purge deletion(s) begun with no outcome recorded yet (a purge-intent record no purge record closes): the next purge records what became of each\n${lines.join('\n')}\n`;
}

export function registerAuditCommands(program: Command): void {
  const group = program.command('audit').description('the tamper-evident audit trail');
  group
    .command('verify')
    .description("check a site's hash chain; exit 1 naming the first broken link")
    .requiredOption('--site <site>', 'the site')
    .option('--json', 'JSON output')
    .action(async (opts: { site: string; json?: boolean }) => {
      const target = storeTarget();
      try {
        const trail = trailReads(target, opts.site);
        const [stored, ledger] = [await readTrail(trail.blobs, opts.site), await trail.ledger.records(opts.site, 1, Infinity)];
        const verdict = verifyAuditChain(opts.site, stored, await trail.ledger.head(opts.site), ledger);
        // Deletions the purge began whose outcome no record gives yet (core/purge-intents.ts): said, not a broken chain.
        const open = verdict.ok ? openIntentRecords(inChainOrder(stored, ledger)) : [];
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...verdict, ...(verdict.ok ? { openPurgeIntents: open } : {}) }, null, 2)}\n`);
        else if (verdict.ok) process.stdout.write(`OK: the audit trail of ${opts.site} holds ${verdict.records} record(s), each linked to the one before\n${openIntentsText(open)}`);
        else process.stdout.write(`BROKEN at ${verdict.key}: ${verdict.problem}\n`);
        process.exitCode = verdict.ok ? 0 : 1;
      } finally {
        target.close();
      }
    });
  group
    .command('seal')
    .description("copy the site's audit records not yet in the bucket from the table to it, write-once (never overwriting)")
    .requiredOption('--site <site>', 'the site')
    .action(async (opts: { site: string }) => {
      const target = storeTarget();
      try {
        const upTo = await sealAudit(target, opts.site);
        process.stdout.write(`sealed: records 1..${upTo} of ${opts.site}'s audit trail are in the bucket, write-once\n`);
      } finally {
        target.close();
      }
    });
  group
    .command('search')
    .description("search a site's audit trail by time, principal and action")
    .requiredOption('--site <site>', 'the site')
    .option('--from <iso>', 'from this time (inclusive)')
    .option('--to <iso>', 'until this time (exclusive; `now` for this moment)')
    .option('--principal <who>', 'only this principal (exact)')
    .option('--action <action>', `only this action (${AUDIT_ACTIONS.join(', ')})`)
    .option('--csv', 'CSV output (RFC 4180)')
    .action(async (opts: { site: string; from?: string; to?: string; principal?: string; action?: string; csv?: boolean }) => {
      const filter = auditFilter(opts);
      const target = storeTarget();
      try {
        const records = (await trailRecords(trailReads(target, opts.site), opts.site)).filter((r) => matchesAudit(r.event, filter));
        if (opts.csv) process.stdout.write(auditCsv(records));
        else for (const r of records) process.stdout.write(`${JSON.stringify({ seq: r.seq, ...r.event })}\n`);
      } finally {
        target.close();
      }
    });
}
