import type { Alert, AlertSeverity } from './ports.ts';
import type { HeldLock, LockOperation } from './lock.ts';

// Alert texts of the workflows, in one shape: what failed, at which site, since when, what
// to do. Operators read them in a mail client or a chat channel, so they are plain lines.
// SNS limits: subject at most 100 printable ASCII characters, no line breaks.

/** An error as Step Functions hands it to a Catch: `Cause` is a JSON string for Lambda errors. */
export interface TaskError {
  Error: string;
  Cause?: string;
}

/** The message inside a task error's Cause (a Lambda's errorMessage, or the raw text), shortened. */
export function causeText(error: TaskError, max = 600): string {
  let text = error.Cause ?? '';
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') text = parsed.errorMessage;
  } catch {
    // not JSON: an activity's cause or a States.* error's text
  }
  text = text.trim() || error.Error;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * `text` ended as a sentence: a full stop added unless it ends with one already (or `!`, `?`,
 * `…`, before any closing quote or bracket). An error's message put before more text
 * (`${message}. It is tried again…`) read "signing method.." when the service ended it itself.
 */
export function sentence(text: string): string {
  const t = text.trimEnd();
  return /[.!?…]["'’”)\]]*$/.test(t) ? t : `${t}.`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  const rest = min % 60;
  if (h < 48) return rest ? `${h} h ${rest} min` : `${h} h`;
  return `${(h / 24).toFixed(1)} days`;
}

/** SNS-safe subject: printable ASCII, one line, at most 100 characters. */
export function subjectLine(text: string): string {
  const ascii = text
    .replace(/[—–]/g, '-')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return ascii.length > 100 ? `${ascii.slice(0, 99)}~` : ascii;
}

export interface AlertParts {
  severity: AlertSeverity;
  site: string;
  subject: string;
  /** What failed, one sentence. */
  what: string;
  /** ISO start of the trouble. */
  since: string;
  now: Date;
  details?: string[];
  todo: string[];
  execution?: string;
}

export function composeAlert(parts: AlertParts): Alert {
  const age = formatDuration(parts.now.getTime() - Date.parse(parts.since));
  const lines = [
    `What failed: ${parts.what}`,
    `Site: ${parts.site}`,
    `Since: ${parts.since} (${age} ago)`,
    ...(parts.details ?? []),
    'What to do:',
    ...parts.todo.map((t) => `  - ${t}`),
  ];
  if (parts.execution) lines.push(`Execution: ${parts.execution}`);
  return { severity: parts.severity, site: parts.site, subject: subjectLine(parts.subject), message: lines.join('\n') };
}

export interface LockBusyContext {
  site: string;
  operation: LockOperation;
  /** When the workflow started asking for the lock. */
  since: string;
  now: Date;
  /** True when the workflow retried (scheduled runs); false for on-demand runs, which are not. */
  retried: boolean;
  retryIntervalSeconds: number;
  maxAttempts: number;
  staleLockHours: number;
  /** Who held the lock when the workflow gave up (undefined: it was free again by then). */
  heldBy?: HeldLock;
  execution?: string;
}

const WHAT: Record<LockOperation, string> = { backup: 'backup window', purge: 'purge' };

/** The give-up alert when a workflow could not get its site's lock. */
export function lockBusyAlert(c: LockBusyContext): Alert {
  const name = WHAT[c.operation];
  const tried = c.retried
    ? `tried every ${formatDuration(c.retryIntervalSeconds * 1000)} for ${formatDuration(c.retryIntervalSeconds * c.maxAttempts * 1000)} (${c.maxAttempts + 1} attempts)`
    : 'tried once: on-demand runs are not retried';
  const held = c.heldBy;
  const holderText = held
    ? `held by ${held.holder} (${WHAT[held.operation]}) since ${held.acquiredAt}, last sign of life ${held.heartbeatAt}`
    : 'it was held by another run, which has released it since';
  const clearAt = held ? new Date(Date.parse(held.heartbeatAt) + c.staleLockHours * 3_600_000).toISOString() : undefined;
  const todo = held
    ? [
        `check that the ${WHAT[held.operation]} holding the lock (${held.holder}) is still running; let it finish if it is`,
        `if it is stuck, stop it in Step Functions; the lock is cleared automatically once older than ${c.staleLockHours} h (at ${clearAt})`,
        `then start the ${name} of site ${c.site} on demand`,
      ]
    : [`start the ${name} of site ${c.site} on demand: the lock is free now`];
  if (c.operation === 'backup' && c.retried) todo.push('no backup ran in this window: the next scheduled window runs as usual');
  return composeAlert({
    severity: c.operation === 'backup' ? 'critical' : 'warning',
    site: c.site,
    subject: `Ferry ${c.site}: ${name} ${c.operation === 'backup' && c.retried ? 'missed' : 'not started'} - site lock busy`,
    what: `the ${c.retried ? 'scheduled' : 'on-demand'} ${name} could not get the site lock (${tried}); ${holderText}`,
    since: c.since,
    now: c.now,
    todo,
    execution: c.execution,
  });
}
