import type { AuditEvent } from './audit-trail.ts';
import type { Clock } from './clock.ts';
import type { BlobStore } from './ports.ts';
import { closeNotDeleted, completedEvent, nowIso, MemoryPurgeIntentStore, PURGE_PRINCIPAL, purgeIntentId, recordOutcome, stillThere, type IntentDeps, type PurgeIntentStore } from './purge-intents.ts';
import type { PurgeBatch } from './retention.ts';

// The outcomes a batch of the purge records (core/purge-delete.ts deletes, core/purge-intents.ts
// keeps the intents): one `purge` record per object gone with its manifest, naming its intent;
// a `not-deleted` record per object kept; and, for a retried step, the outcome of what an earlier
// attempt deleted without recording it. Each is written once and closes its intent.

type Target = PurgeBatch['targets'][number];

/** What a batch's audit records take from the purge's deps. */
export interface OutcomeDeps {
  audit?: (event: AuditEvent) => void | Promise<void>;
  intents?: PurgeIntentStore;
  trail?: IntentDeps['trail'];
  clock?: Clock;
  blobs: Pick<BlobStore, 'get' | 'list'>;
}

/** What writes a batch's intents, or undefined when the purge records nothing. */
export function intentDeps(deps: OutcomeDeps): IntentDeps | undefined {
  if (!deps.audit) return undefined;
  return { audit: deps.audit, intents: deps.intents ?? new MemoryPurgeIntentStore(), blobs: deps.blobs, ...(deps.trail ? { trail: deps.trail } : {}), ...(deps.clock ? { clock: deps.clock } : {}), principal: PURGE_PRINCIPAL };
}

/** The recordings a deleted object took, as its manifest named them (none for an artefact). */
export interface Gone {
  rids: string[];
  calls: string[];
}

/**
 * One `purge` record of the site's audit trail per object gone with its manifest: the object, the
 * rule that let it go, and the recordings it took (a pack's calls, by recording id). The trail is
 * hash-chained and sealed write-once, so that years later "what was deleted, when and why" has an
 * answer the function's log (kept 90 days) no longer gives. A target with an open intent has its
 * record written once (a retry after it only closes the intent).
 */
export async function auditPurged(intents: IntentDeps | undefined, site: string, done: { target: Target; gone: Gone }[], ids: Map<string, string>, rule?: PurgeBatch['rule']): Promise<void> {
  if (!intents) return;
  const at = nowIso(intents);
  for (const { target, gone } of done) {
    const { rids, calls } = gone;
    const byErasure = target.rule === 'erasure';
    // A pack went by the site's retention: its days and cutoff are said, so "under which rule" has an answer.
    const days: Record<string, string | number> = target.kind === 'pack' && rule && !byErasure ? { retentionDays: rule.retentionDays, cutoff: rule.cutoff } : {};
    // An erasure names the erased calls apart from the others the pack held (copied to a new pack, `kept`); a pack
    // the retention deleted anyway says both rules: the retention's (its days) and the erasure requests it carried out.
    const erasure: Record<string, string | string[]> = !target.erase ? {} : byErasure ? { rule: 'erasure', erased: target.erase, ...(target.keep?.length ? { kept: target.keep } : {}) } : { rules: ['retention', 'erasure'], erased: target.erase };
    const id = ids.get(target.key);
    const event: AuditEvent = {
      at,
      action: 'purge',
      site,
      principal: PURGE_PRINCIPAL,
      detail: { ...(id ? { intent: id } : {}), object: target.key, kind: target.kind, rule: 'retention', ...days, ...(target.then ? { manifest: target.then } : {}), ...(rids.length ? { recordings: rids.length, rids, calls } : {}), ...(target.keep?.length && !byErasure ? { keptHeld: target.keep } : {}), ...erasure },
    };
    // The outcome is recorded (once), then the intent is closed.
    const intent = id ? await intents.intents.getIntent(site, id) : undefined;
    if (intent) await recordOutcome(intents, intent, event);
    else await intents.audit(event);
  }
}

/** Closes the intents of the targets not deleted (object still there) with their reason. */
export async function closeKept(intents: IntentDeps | undefined, site: string, targets: PurgeBatch['targets'], done: Set<string>, ids: Map<string, string>, refusals: { key: string; reason: string }[]): Promise<void> {
  if (!intents) return;
  const why = new Map(refusals.map((r) => [r.key, r.reason]));
  const kept = targets.filter((t) => !done.has(t.key) && ids.has(t.key)).map((target) => ({ target, id: ids.get(target.key)!, reason: why.get(target.key) ?? (target.then && why.get(target.then)) ?? 'not deleted by this batch' }));
  await closeNotDeleted(intents, site, kept);
}

/**
 * The targets of a retried batch an earlier attempt began (their intent open) and deleted with
 * their manifest: finished here (their outcome recorded once, naming the intent, whose record
 * names the calls; the intent closed). One whose manifest is left goes through the batch again
 * (its held calls' copy-out finds them copied; deleting an absent object is a no-op).
 */
export async function finishEarlierAttempt(intents: IntentDeps | undefined, site: string, targets: PurgeBatch['targets']): Promise<Set<string>> {
  const finished = new Set<string>();
  if (!intents) return finished;
  for (const t of targets) {
    const intent = await intents.intents.getIntent(site, purgeIntentId(site, t.key));
    if (!intent || (await stillThere(intents.blobs, t.key)) || (t.then && (await stillThere(intents.blobs, t.then)))) continue;
    await recordOutcome(intents, intent, completedEvent(intents, intent, `deleted by an earlier attempt at this batch (begun ${intent.at}), which stopped before recording the outcome; recorded by its retry`));
    finished.add(t.key);
  }
  return finished;
}
