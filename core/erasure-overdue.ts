import type { ErasureRecord, ErasureStore } from './erasure-items.ts';
import { messageOf } from './errors.ts';
import { printable } from './printable.ts';

// A data subject's erasure request that stays `pending` (a DR bucket refusing the delete, a pack
// under Object Lock or in the archive tier, the purge not running) must be seen before the month
// the GDPR allows for an answer runs out, not only by someone who runs `ferry erasures list`. The
// daily report and the fleet row name each request pending past ERASURE_WARN_DAYS (a warning) and
// past ERASURE_CRITICAL_DAYS (critical: days left to act before the month is up): the call, since
// when, and what the last purge found it waiting for.

/** A request pending this many days is a warning. */
export const ERASURE_WARN_DAYS = 7;
/** A request pending this many days is critical: a few days are left of the month to answer it. */
export const ERASURE_CRITICAL_DAYS = 25;

const DAY = 86_400_000;

/** A pending request past ERASURE_WARN_DAYS, as the report and the fleet row name it. */
export interface OverdueErasure {
  rid: string;
  /** The call as a person knew it (`callId=… start=… caller→called`). */
  call: string;
  reference?: string;
  requestedAt: string;
  /** Whole days pending, to the instant judged. */
  days: number;
  severity: 'warning' | 'critical';
  /** What the last purge found it waiting for, and when; absent: no purge noted anything. */
  waiting?: string;
  waitingAt?: string;
}

/** The site's pending requests past ERASURE_WARN_DAYS at `now`, critical first, then the oldest first. */
export function overdueErasures(records: readonly ErasureRecord[], now: number): OverdueErasure[] {
  const out: OverdueErasure[] = [];
  for (const r of records) {
    const asked = Date.parse(r.requestedAt);
    if (r.status !== 'pending' || Number.isNaN(asked)) continue;
    const days = Math.floor((now - asked) / DAY);
    if (days < ERASURE_WARN_DAYS) continue;
    out.push({
      rid: r.rid,
      call: r.call,
      ...(r.reference ? { reference: r.reference } : {}),
      requestedAt: r.requestedAt,
      days,
      severity: days >= ERASURE_CRITICAL_DAYS ? 'critical' : 'warning',
      ...(r.waiting ? { waiting: r.waiting } : {}),
      ...(r.waitingAt ? { waitingAt: r.waitingAt } : {}),
    });
  }
  return out.sort((a, b) => (a.severity === b.severity ? a.requestedAt.localeCompare(b.requestedAt) : a.severity === 'critical' ? -1 : 1));
}

/** One request in words: which call, since when, what it waits for, and what to do. */
export function overdueErasureText(e: OverdueErasure, site: string): string {
  const call = `${printable(e.rid)}${e.call ? ` (${printable(e.call)})` : ''}${e.reference ? `, reference ${printable(e.reference)}` : ''}`;
  const waits = e.waiting
    ? `it waits for: ${printable(e.waiting)}${e.waitingAt ? ` (the purge of ${e.waitingAt.slice(0, 16).replace('T', ' ')}Z said so)` : ''}`
    : `no purge has said what it waits for (is the site's purge running? \`ferry purge plan --site ${site}\`)`;
  const left = e.severity === 'critical' ? `; a data subject's request is to be answered within a month` : '';
  return `erasure request for call ${call} pending for ${e.days} days, since ${e.requestedAt.slice(0, 10)}: ${waits}${left} (\`ferry erasures list --site ${site} --status pending\`)`;
}

/** The site's overdue requests (one Query of its requests), or why they could not be read. */
export async function readOverdueErasures(store: Pick<ErasureStore, 'listErasures'>, site: string, now: number): Promise<{ overdue: OverdueErasure[]; problem?: undefined } | { overdue?: undefined; problem: string }> {
  try {
    return { overdue: overdueErasures(await store.listErasures(site), now) };
  } catch (error) {
    return { problem: `cannot read the site's erasure requests (one pending for weeks would be named here): ${messageOf(error)}` };
  }
}
