import { CASE_HOLD_BATCH, membersDigest } from './case-holds.ts';
import { newCaseWork, retryOnCaseChange, type CaseWork } from './case-retry.ts';
import { NotFoundError } from './errors.ts';
import { holdSk, isActive, scopeKey, type CaseRecord, type HoldRecord } from './hold-items.ts';
import { CASE_CONCURRENCY, existingCase, unlockWhereFree, type HoldDeps, type HoldOutcome } from './hold-objects.ts';
import { mapLimit } from './map-limit.ts';

// A case's release, done a bounded part at a time like its hold (core/case-holds.ts), so that
// every request fits the function's time limit: a scattered case of 3,000 calls costs, on AWS,
// ~4 requests a member (its record and the record's copy in the bucket, its pack's manifest, the
// legal hold OFF of its pack and manifest), far past API Gateway's 29 s in one request.
// - The case's record says how far down its member list the release has gone (`releasing.done`).
//   A request takes the next `caseBatch` members: it releases their records of the case first,
//   then sets legal hold OFF on their packs and manifests where no held call shares them, then
//   moves `done` past them. A request cut short in between leaves `done` where it was, and the
//   next one does that part again: records already released are skipped (no request), objects
//   are unlocked again (idempotent), so objects of a member released by the cut-short request are
//   never left locked; parts before `done` are not done again.
// - The case says held until the last part: a release cut short never leaves the case looking
//   released while a member of it is still held, nor objects locked for a released case. The
//   last part ends it only when no member has an active hold of the case left (one placed again
//   while the release went on, or a call added meanwhile): then it goes over the members again.
// - Each part writes the case on the version it read (core/case-retry.ts): a call added or a
//   member held again while the part ran makes its write refused, and the part goes again from a
//   fresh read (released records are skipped, objects unlocked again), so the case never ends
//   released with a member held by it, nor loses a call added meanwhile.
// - A case released part-way by the code before this (every record released, objects not yet
//   unlocked, no `releasing`) starts at its first member, so its objects are unlocked too.

export interface ReleaseCaseInput {
  site: string;
  caseId: string;
  reason: string;
  principal: string;
}

/** The case as the next part leaves it: still releasing (done so far), or released. */
function nextCase(record: CaseRecord, input: ReleaseCaseInput, at: string, done: number): CaseRecord {
  const { held, releasing, ...rest } = record;
  if (done >= record.members.length) return rest;
  return { ...rest, ...(held ? { held } : {}), releasing: { ...(releasing ?? { by: input.principal, at, reason: input.reason }), done } };
}

/**
 * Releases (or goes on releasing) a case's hold: at most `caseBatch` members a request. `held`
 * in the answer says whether the case is still on hold; `remaining` how many members later
 * requests release. NotFoundError when the case is not on hold (a release done already).
 */
export async function releaseCaseHold(deps: HoldDeps, input: ReleaseCaseInput): Promise<HoldOutcome> {
  const work = newCaseWork();
  const stands = 'the members it released stay released and the case stays held; ask again to go on';
  return retryOnCaseChange(() => releaseCasePart(deps, input, work), { site: input.site, caseId: input.caseId, doing: 'releasing its hold', stands }, work);
}

/** One attempt of releaseCaseHold: from a fresh read of the case to its write (CaseChangedError when another came between). */
async function releaseCasePart(deps: HoldDeps, input: ReleaseCaseInput, work: CaseWork): Promise<HoldOutcome> {
  const record = await existingCase(deps, input.site, input.caseId);
  const base = () => ({ site: input.site, caseId: record.caseId, holds: work.holds, objects: [...work.objects], members: record.members.length, membersSha256: membersDigest(record.members) });
  if (!record.held) {
    // Another request ended the release while this one's part ran (its write was refused): what this one released stands.
    if (work.holds.length > 0) return { ...base(), held: false };
    throw new NotFoundError(`case ${record.caseId} in site ${input.site} is not on hold`);
  }
  const at = deps.clock.now().toISOString();
  const start = Math.min(record.releasing?.done ?? 0, record.members.length);
  const part = new Set(record.members.slice(start, start + (deps.caseBatch ?? CASE_HOLD_BATCH)));
  const scope = scopeKey({ kind: 'case', caseId: record.caseId });
  const all = await deps.holds.listHolds(input.site);
  const ofCase = all.filter((h) => isActive(h) && scopeKey(h.scope) === scope);
  // Records first: a request cut short after them leaves the objects under legal hold, never the reverse.
  const released: HoldRecord[] = ofCase.filter((h) => part.has(h.rid)).map((h) => ({ ...h, releasedBy: input.principal, releasedAt: at, releaseReason: input.reason }));
  await mapLimit(released, CASE_CONCURRENCY, (h) => deps.holds.putHold(h));
  work.holds.push(...released);
  const gone = new Set(released.map(holdSk));
  const stillHeld = new Set(all.filter((h) => isActive(h) && !gone.has(holdSk(h))).map((h) => h.rid));
  for (const key of await unlockWhereFree(deps, input.site, [...part], stillHeld)) work.objects.add(key);
  let done = start + part.size;
  // The last part: a member before it held by the case again meanwhile means the case is not released yet.
  const members = new Set(record.members);
  if (done >= record.members.length && ofCase.some((h) => members.has(h.rid) && !part.has(h.rid))) done = 0;
  await deps.holds.updateCase(nextCase(record, input, at, done));
  return done >= record.members.length ? { ...base(), held: false } : { ...base(), held: true, remaining: record.members.length - done };
}
