// Audit trail of compliance-relevant access (DESIGN.md: every search, listen and download;
// listen and download are distinct). A port-like function so the sink can later be a
// table or a stream; today a JSON line on stdout, which CloudWatch Logs keeps.

import { coalescedAudit } from '../../core/audit-coalesce.ts';
import type { AuditChainDeps, AuditEvent } from '../../core/audit-trail.ts';
import { messageOf } from '../../core/errors.ts';
import { jsonLog, type Log } from './log.ts';

// The event type and its actions (search, listen, download, hold, release, export, recall)
// are core/audit-trail.ts's, which also keeps the durable, hash-chained trail.
export type { AuditAction, AuditEvent } from '../../core/audit-trail.ts';

/** Must not lose events silently: a sink that cannot record throws, and the request fails. */
export type Audit = (event: AuditEvent) => void | Promise<void>;

export function stdoutAudit(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Audit {
  return (event) => write(JSON.stringify({ type: 'audit', ...event }));
}

/**
 * The durable trail: each event appended to its site's hash chain, durable once written to the
 * ledger (one conditional PutItem on the table), then sealed write-once under `audit/` (Object
 * Lock) in the background; and logged too. Built once per execution environment: events that
 * arrive while a write is in flight are appended together with the next one
 * (core/audit-coalesce.ts), so a burst of requests served by one environment does not queue
 * on the chain one event at a time. A seal that fails is logged; its records stay in the ledger
 * (read there by the audit views and verification) until the next seal copies them.
 */
export function chainAudit(deps: AuditChainDeps, also: Audit = stdoutAudit(), log: Log = jsonLog): Audit & { settled(): Promise<void> } {
  const append = coalescedAudit(deps, { onSealError: (site, error) => log('warn', 'audit records not sealed yet (they stay in the ledger)', { site, error: messageOf(error) }) });
  const audit = async (event: AuditEvent) => {
    await append(event);
    await also(event);
  };
  return Object.assign(audit, { settled: () => append.settled() });
}
