// Audit trail of compliance-relevant access (DESIGN.md: every search, listen and download;
// listen and download are distinct). A port-like function so the sink can later be a
// table or a stream; today a JSON line on stdout, which CloudWatch Logs keeps.

import { appendAudit, type AuditChainDeps, type AuditEvent } from '../../core/audit-trail.ts';

// The event type and its actions (search, listen, download, hold, release, export, recall)
// are core/audit-trail.ts's, which also keeps the durable, hash-chained trail.
export type { AuditAction, AuditEvent } from '../../core/audit-trail.ts';

/** Must not lose events silently: a sink that cannot record throws, and the request fails. */
export type Audit = (event: AuditEvent) => void | Promise<void>;

export function stdoutAudit(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Audit {
  return (event) => write(JSON.stringify({ type: 'audit', ...event }));
}

/** The durable trail: each event appended to its site's hash chain under `audit/` (Object Lock), and logged too. */
export function chainAudit(deps: AuditChainDeps, also: Audit = stdoutAudit()): Audit {
  return async (event: AuditEvent) => {
    await appendAudit(deps, event);
    await also(event);
  };
}
