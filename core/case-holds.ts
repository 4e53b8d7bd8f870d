import { createHash } from 'node:crypto';
import { InvalidInputError, NotFoundError } from './errors.ts';
import { newCaseWork, retryOnCaseChange, type CaseWork } from './case-retry.ts';
import { CASE_MAX_MEMBERS, CaseReleasingError, holdSk, isActive, scopeKey, type CaseRecord, type HoldRecord, type HoldScope } from './hold-items.ts';
import { CASE_CONCURRENCY, existingCase, newHoldRecord, objectsOf, unlockWhereFree, type HoldDeps, type HoldOutcome } from './hold-objects.ts';
import { mapLimit } from './map-limit.ts';
import { recordedChange, type CaseChangeRecorder } from './case-changes.ts';
import { recordingLookupKey } from './ports.ts';

// A case's hold, done a bounded part at a time so that every request fits the function's time
// limit (on AWS a new member costs ~80-100 ms of requests: its S3 mirror, its record, the legal
// hold of its pack and manifest) and a request cut short loses nothing:
// - each member is held whole before the next counts: its pack and manifest get legal hold ON,
//   then its hold record is written. A member with an active record of the case is therefore
//   done, and the next request skips it with no request of its own (one Query lists the site's
//   holds);
// - a request holds at most `caseBatch` members; the answer says how many remain (`remaining`,
//   HTTP 202), and the caller asks again until none do;
// - the case says it is held only once every member still in the archive is.
// A call added to a held case is held before the case lists it, so a request cut short leaves it
// out of the case, and the same request sent again adds and holds it.
// Each part writes the case on the version it read (core/case-retry.ts): a part that held members
// of a held case writes it even unchanged, so a release part that read the case before those
// records were written is refused and goes again, seeing them.

/** Members one request holds at most: ~500 × 100 ms ÷ 16 in parallel ≈ 3 s on AWS, far inside the console's 25 s. */
export const CASE_HOLD_BATCH = 500;

/**
 * The SHA-256 a case hold's audit record names its members by: of the sorted, distinct rids,
 * each followed by a newline (`sort -u members.txt | sha256sum` over the case's `members`).
 */
export function membersDigest(rids: readonly string[]): string {
  return createHash('sha256')
    .update([...new Set(rids)].sort().map((rid) => `${rid}\n`).join(''))
    .digest('hex');
}

interface MemberWork {
  /** Hold records this request wrote. */
  placed: HoldRecord[];
  /** Objects this request set legal hold ON on. */
  objects: string[];
  /** Candidates without a hold of the case the catalogue no longer has (retention deleted them). */
  gone: string[];
  /** Candidates still to hold: the next request's. */
  remaining: number;
}

function holdsByRid(all: readonly HoldRecord[]): Map<string, HoldRecord[]> {
  const byRid = new Map<string, HoldRecord[]>();
  for (const h of all) {
    const list = byRid.get(h.rid);
    if (list) list.push(h);
    else byRid.set(h.rid, [h]);
  }
  return byRid;
}

/**
 * Holds under the case's scope the first `budget` of `candidates` (in their order) that have no
 * active hold of the case yet and are still in the archive: legal hold first (each object once a
 * request), then the record.
 */
async function holdMembers(deps: HoldDeps, site: string, caseId: string, candidates: readonly string[], who: { reason: string; reference?: string; principal: string }, budget: number): Promise<MemberWork> {
  const scope: HoldScope = { kind: 'case', caseId };
  const byRid = holdsByRid(await deps.holds.listHolds(site));
  const held = (rid: string) => (byRid.get(rid) ?? []).some((h) => isActive(h) && scopeKey(h.scope) === scopeKey(scope));
  const lacking = [...new Set(candidates)].filter((rid) => !held(rid));
  const entries = lacking.length ? await deps.catalogue.getRecordings(lacking.map((rid) => ({ site, rid }))) : new Map();
  const entryOf = (rid: string) => entries.get(recordingLookupKey(site, rid));
  const todo = lacking.filter((rid) => entryOf(rid) !== undefined);
  const now = todo.slice(0, budget);
  // Calls of one pack share its pack and manifest: each object's legal hold is set once a request.
  const locking = new Map<string, Promise<void>>();
  const lockOnce = (key: string) => locking.get(key) ?? locking.set(key, deps.holder.setLegalHold(key, true)).get(key)!;
  const placed = await mapLimit(now, CASE_CONCURRENCY, async (rid) => {
    await Promise.all(objectsOf(entryOf(rid)!).map(lockOnce));
    const hold = newHoldRecord(deps, byRid.get(rid) ?? [], site, rid, scope, who);
    await deps.holds.putHold(hold);
    return hold;
  });
  return { placed, objects: [...locking.keys()], gone: lacking.filter((rid) => entryOf(rid) === undefined), remaining: todo.length - now.length };
}

/**
 * Places (or goes on placing) a case's hold: at most `caseBatch` members a request. `held` in
 * the answer says whether the case is now on hold; `remaining` how many members the next request
 * holds. A case already held whose members all are is `existing`.
 */
export async function placeCaseHold(deps: HoldDeps, input: PlaceCaseInput): Promise<HoldOutcome> {
  const work = newCaseWork();
  const stands = 'the members it held stay held; ask again to go on';
  return retryOnCaseChange(() => placeCasePart(deps, input, work), { site: input.site, caseId: input.caseId, doing: 'placing its hold', stands }, work);
}

interface PlaceCaseInput {
  site: string;
  caseId: string;
  reason: string;
  reference?: string;
  principal: string;
}

/** One attempt of placeCaseHold: from a fresh read of the case to its write (CaseChangedError when another came between). */
async function placeCasePart(deps: HoldDeps, input: PlaceCaseInput, done: CaseWork): Promise<HoldOutcome> {
  const record = await existingCase(deps, input.site, input.caseId);
  const who = { reason: input.reason, ...(input.reference ? { reference: input.reference } : {}), principal: input.principal };
  const work = await holdMembers(deps, input.site, record.caseId, record.members, who, deps.caseBatch ?? CASE_HOLD_BATCH);
  done.holds.push(...work.placed);
  for (const key of work.objects) done.objects.add(key);
  const base = { site: input.site, caseId: record.caseId, holds: done.holds, objects: [...done.objects], members: record.members.length, membersSha256: membersDigest(record.members), ...(work.gone.length ? { gone: work.gone } : {}) };
  const finished = work.remaining === 0;
  if (finished && !record.held) await deps.holds.updateCase({ ...record, held: { by: input.principal, at: deps.clock.now().toISOString(), reason: input.reason, ...(input.reference ? { reference: input.reference } : {}) } });
  else if (record.held && work.placed.length > 0) await deps.holds.updateCase(record);
  if (!finished) return { ...base, held: false, remaining: work.remaining };
  const existing = record.held !== undefined && done.holds.length === 0;
  return { ...base, held: true, ...(existing ? { existing: true } : {}) };
}

/** NotFoundError naming the calls the catalogue does not have (the first ten). */
export async function mustExist(deps: Pick<HoldDeps, 'catalogue'>, site: string, rids: readonly string[]): Promise<void> {
  if (rids.length === 0) return;
  const found = await deps.catalogue.getRecordings(rids.map((rid) => ({ site, rid })));
  const missing = rids.filter((rid) => !found.has(recordingLookupKey(site, rid)));
  if (missing.length) throw new NotFoundError(`no recording ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` (and ${missing.length - 10} more)` : ''} in site ${site}`);
}

export interface AddedCalls {
  case: CaseRecord;
  added: string[];
  /** Objects set under legal hold (a held case). */
  objects: string[];
  /** Hold records written (a held case): the added calls, and members an earlier request left unheld. */
  holds: HoldRecord[];
  /** Members of the held case still without its hold: send the request again (202). */
  remaining?: number;
}

/**
 * Adds calls to a case (already present ones are skipped). A held case takes at most
 * `caseBatch` new calls a request and holds them before it lists them; the rest of the request's
 * budget holds members an earlier request (cut short, or before this was so) left unheld. A case
 * whose release is under way takes none (CaseReleasingError): they would be released with it.
 */
export async function addCaseCalls(deps: HoldDeps, input: AddCallsInput, recorder?: CaseChangeRecorder): Promise<AddedCalls> {
  if (input.rids.length === 0) throw new InvalidInputError('rids: must list at least one recording id');
  const work = newCaseWork();
  const stands = 'it listed none of its calls (those it held stay held by the case); send it again';
  return retryOnCaseChange(() => addCallsOnce(deps, input, work, recorder), { site: input.site, caseId: input.caseId, doing: 'adding calls', stands }, work);
}

interface AddCallsInput {
  site: string;
  caseId: string;
  rids: string[];
  principal: string;
}

function releasingRefusal(record: CaseRecord): CaseReleasingError {
  const r = record.releasing!;
  return new CaseReleasingError(`case ${record.caseId} in site ${record.site} is being released (started by ${r.by} at ${r.at}, ${r.done} of ${record.members.length} calls released): calls added now would be released with it; let the release finish (ask for it again until it says released), then add them and place the case's hold again, or hold them in a case of their own`);
}

/** One attempt of addCaseCalls: from a fresh read of the case to its write (CaseChangedError when another came between). */
async function addCallsOnce(deps: HoldDeps, input: AddCallsInput, done: CaseWork, recorder: CaseChangeRecorder | undefined): Promise<AddedCalls> {
  const record = await existingCase(deps, input.site, input.caseId);
  // An earlier attempt held calls for a case that, since, is released or being released: they must not stay held by it unlisted.
  if (!record.held || record.releasing) await withdrawUnlisted(deps, record, done, input.principal);
  if (record.releasing) throw releasingRefusal(record);
  const members = new Set(record.members);
  const added = [...new Set(input.rids)].filter((rid) => !members.has(rid));
  const updated = { ...record, members: [...record.members, ...added] };
  if (updated.members.length > CASE_MAX_MEMBERS) throw new InvalidInputError(`rids: case ${record.caseId} has ${record.members.length} calls and this request adds ${added.length}: a case holds at most ${CASE_MAX_MEMBERS} calls (its member list is one catalogue item); start another case for the rest`, { field: 'rids' });
  const batch = deps.caseBatch ?? CASE_HOLD_BATCH;
  if (record.held && added.length > batch) throw new InvalidInputError(`rids: a held case takes at most ${batch} new calls a request (each is held before it is added, within the function's time limit); this request adds ${added.length}: send the rest in further requests`, { field: 'rids' });
  await mustExist(deps, input.site, added);
  // The calls' addition is recorded before anything of it is written (a held case's holds included).
  const change = added.length ? (effect: () => Promise<AddedCalls>) => recordedChange(recorder, { kind: 'add', case: updated, added }, effect) : (effect: () => Promise<AddedCalls>) => effect();
  return change(() => writeAdded(deps, input, done, record, updated, added));
}

/** The writes of one attempt of addCaseCalls: a held case's new calls held first, then the case. */
async function writeAdded(deps: HoldDeps, input: AddCallsInput, done: CaseWork, record: CaseRecord, updated: CaseRecord, added: string[]): Promise<AddedCalls> {
  if (!record.held) {
    const written = added.length ? await deps.holds.updateCase(updated) : record;
    return { case: written, added, objects: [], holds: [] };
  }
  const batch = deps.caseBatch ?? CASE_HOLD_BATCH;
  const who = { reason: record.held.reason, ...(record.held.reference ? { reference: record.held.reference } : {}), principal: input.principal };
  const work = await holdMembers(deps, input.site, record.caseId, [...added, ...record.members], who, batch);
  done.holds.push(...work.placed);
  for (const key of work.objects) done.objects.add(key);
  // Written also when only members were held: a release part that read the case before must go again.
  const written = added.length || work.placed.length ? await deps.holds.updateCase(updated) : record;
  return { case: written, added, objects: [...done.objects], holds: done.holds, ...(work.remaining ? { remaining: work.remaining } : {}) };
}

/**
 * Releases the records of the case an earlier attempt of this request wrote for calls the case
 * (released, or being released, since) does not list, and sets their objects' legal hold OFF
 * where no held call shares them: the case's release would not find them.
 */
async function withdrawUnlisted(deps: HoldDeps, record: CaseRecord, done: CaseWork, principal: string): Promise<void> {
  const listed = new Set(record.members);
  const mine = new Set(done.holds.filter((h) => !listed.has(h.rid)).map(holdSk));
  if (mine.size === 0) return;
  const all = await deps.holds.listHolds(record.site);
  const at = deps.clock.now().toISOString();
  const reason = `case ${record.caseId} was ${record.releasing ? 'being released' : 'released'} before this request could list the call in it`;
  const stale = all.filter((h) => isActive(h) && mine.has(holdSk(h)));
  await mapLimit(stale, CASE_CONCURRENCY, (h) => deps.holds.putHold({ ...h, releasedBy: principal, releasedAt: at, releaseReason: reason }));
  const gone = new Set(stale.map(holdSk));
  const stillHeld = new Set(all.filter((h) => isActive(h) && !gone.has(holdSk(h))).map((h) => h.rid));
  await unlockWhereFree(deps, record.site, stale.map((h) => h.rid), stillHeld);
  done.holds = done.holds.filter((h) => !gone.has(holdSk(h)));
}
