import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { AlertBook } from './alert-book.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

// Where the state directory's records were shipped to: the site and the store (bucket, and the
// endpoint when not AWS's). The journal, the shipped index and the artefact ledger say "shipped"
// whatever the store: an agent pointed at another bucket or site name shipped only what came
// after, silently, and counted the rest as offsite in a place the new deployment never reads.

export interface ShippingTarget {
  site: string;
  /** `s3://bucket` (with ` at ENDPOINT` for a store other than AWS's). */
  store: string;
}

const FILE = 'target.json';

export function readTarget(state: string): ShippingTarget | undefined {
  return readJsonFile<ShippingTarget>(join(state, FILE));
}

export function writeTarget(state: string, target: ShippingTarget): void {
  writeFileAtomic(join(state, FILE), `${JSON.stringify(target)}\n`);
}

/** What changed between the target the state directory shipped to and `now`, in words; undefined when nothing did. */
export function targetChange(before: ShippingTarget | undefined, now: ShippingTarget): string | undefined {
  if (!before) return undefined;
  const changes = [...(before.site !== now.site ? [`site ${before.site} → ${now.site}`] : []), ...(before.store !== now.store ? [`store ${before.store} → ${now.store}`] : [])];
  return changes.length ? changes.join(', ') : undefined;
}

/** The words that say what a changed target costs, and what to do. */
export function targetChangeAdvice(before: ShippingTarget, now: ShippingTarget, state: string): string {
  return (
    `This state directory (${state}) shipped site ${before.site} to ${before.store}; it now ships site ${now.site} to ${now.store}. ` +
    `What it shipped before is not there: the recordings still on the recorder, the current full backups and the binlogs count as shipped and are not shipped again, ` +
    `so the new place holds only what is shipped from now on. To ship everything still on the site to it, stop the agent and start it with a new, empty state directory ` +
    `(the old one keeps what was shipped to ${before.store}). If the change was a mistake, set site and cloud back.`
  );
}

/**
 * The site and store this state directory shipped to, against the ones configured now: a change is
 * alerted (critical) once, at the first pass after it, and resolved at the next. Returns the target
 * to remember, which the caller writes only once the store took a write from this agent (a pack,
 * the heartbeat): a first pass against a misspelt bucket or an endpoint that does not answer
 * shipped nothing there, and setting it right must not be called a move that leaves the site's
 * files behind.
 */
export async function checkTarget(now: ShippingTarget & { state: string }, alerts: Pick<AlertBook, 'raise' | 'resolve'>, log: Pick<Logger, 'error'>): Promise<ShippingTarget | undefined> {
  const target = { site: now.site, store: now.store };
  const before = readTarget(now.state);
  const changed = targetChange(before, target);
  if (changed) {
    log.error('the site or store changed since this state directory last shipped: what it shipped before is not shipped again', { changed });
    await alerts.raise('target-changed', { severity: 'critical', site: now.site, subject: `state directory of ${before!.site} now ships ${changed}`, message: targetChangeAdvice(before!, target, now.state), details: { before: before!, now: target } });
  } else await alerts.resolve('target-changed', now.site, `The agent ships site ${now.site} to ${now.store}.`);
  return !before || changed ? target : undefined;
}
