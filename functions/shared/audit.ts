// Audit trail of compliance-relevant access (DESIGN.md: every search, listen and download;
// listen and download are distinct). A port-like function so the sink can later be a
// table or a stream; today a JSON line on stdout, which CloudWatch Logs keeps.

/** `recall`: a restore from the archive tier was asked for. */
export type AuditAction = 'search' | 'listen' | 'download' | 'recall';

export interface AuditEvent {
  at: string;
  action: AuditAction;
  site: string;
  rid?: string;
  query?: Record<string, string | number>;
  principal?: string;
  /** The officer a console-minted replay link was signed for (the principal is then the console's role). */
  officer?: string;
}

/** Must not lose events silently: a sink that cannot record throws, and the request fails. */
export type Audit = (event: AuditEvent) => void | Promise<void>;

export function stdoutAudit(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Audit {
  return (event) => write(JSON.stringify({ type: 'audit', ...event }));
}
