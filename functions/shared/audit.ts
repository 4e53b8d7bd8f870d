// Audit trail of compliance-relevant access (DESIGN.md: every search, listen and download;
// listen and download are distinct). A port-like function so the sink can later be a
// table or a stream; today a JSON line on stdout, which CloudWatch Logs keeps.

import { coalescedAudit } from '../../core/audit-coalesce.ts';
import type { AuditChainDeps, AuditEvent } from '../../core/audit-trail.ts';

// The event type and its actions (search, listen, download, hold, release, export, recall)
// are core/audit-trail.ts's, which also keeps the durable, hash-chained trail.
export type { AuditAction, AuditEvent } from '../../core/audit-trail.ts';

/** Must not lose events silently: a sink that cannot record throws, and the request fails. */
export type Audit = (event: AuditEvent) => void | Promise<void>;

export function stdoutAudit(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Audit {
  return (event) => write(JSON.stringify({ type: 'audit', ...event }));
}

/**
 * The durable trail: each event appended to its site's hash chain under `audit/` (Object Lock),
 * and logged too. Built once per execution environment: events that arrive while the head is
 * being moved are appended together with the next move (core/audit-coalesce.ts), so a burst
 * of requests served by one environment does not queue on the head one event at a time.
 */
export function chainAudit(deps: AuditChainDeps, also: Audit = stdoutAudit()): Audit {
  const append = coalescedAudit(deps);
  return async (event: AuditEvent) => {
    await append(event);
    await also(event);
  };
}

