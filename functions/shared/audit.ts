// Audit trail of compliance-relevant access (DESIGN.md: every search, listen and download;
// listen and download are distinct). A port-like function so the sink can later be a
// table or a stream; today a JSON line on stdout, which CloudWatch Logs keeps.

/** `recall`: a restore from the archive tier was asked for. `hold`, `release`: a legal hold placed or released (functions/holds; query has caseId, reason, reference). */
export type AuditAction = 'search' | 'listen' | 'download' | 'recall' | 'hold' | 'release';

export interface AuditEvent {
  at: string;
  action: AuditAction;
  site: string;
  rid?: string;
  query?: Record<string, string | number>;
  principal?: string;
}

/** Must not lose events silently: a sink that cannot record throws, and the request fails. */
export type Audit = (event: AuditEvent) => void | Promise<void>;

export function stdoutAudit(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Audit {
  return (event) => write(JSON.stringify({ type: 'audit', ...event }));
}
