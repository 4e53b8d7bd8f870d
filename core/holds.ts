import { createHash } from 'node:crypto';
import { mustExist, placeCaseHold } from './case-holds.ts';
import { releaseCaseHold } from './case-release.ts';
import { AlreadyExistsError, InvalidInputError, NotFoundError } from './errors.ts';
import { recordedChange, type CaseChangeRecorder } from './case-changes.ts';
import { holdSk, isActive, scopeKey, type CaseRecord, type HoldRecord, type HoldScope } from './hold-items.ts';
import { existingCase, lockObjects, newHoldRecord, objectsOf, recording, unlockWhereFree, type HoldDeps, type HoldOutcome } from './hold-objects.ts';
import { recordingLookupKey } from './ports.ts';
import { memberCallsOf, type CaseMemberCall, type MemberTierDeps } from './case-members.ts';

export { addCaseCalls, CASE_HOLD_BATCH, membersDigest } from './case-holds.ts';
export { releaseCaseHold } from './case-release.ts';
export type { HoldDeps, HoldOutcome, ObjectHolder } from './hold-objects.ts';

// Legal hold, enforced twice: a hold is its own catalogue record (core/hold-items.ts), which the
// purge consults, and placing it also sets S3 Object Lock legal hold ON on the objects that
// hold the call (its pack and the pack's manifest), so nothing, not the purge and not an
// administrator with governance bypass, can delete them. Releasing the last hold on every
// call of a pack sets the legal hold OFF again; retention then takes its course.
//
// A case is a named set of calls with a reason and a reference; holding the case holds each
// member (one hold record per member, scope `case:{id}`), and a call added to a held case is
// held at once (core/case-holds.ts: a part at a time, each member's Object Lock before its
// record). Records are never deleted: a release writes who, when and why on the record.
//
// Order for a call's own hold: the record first, then Object Lock. A failure in between leaves the call held by its
// record (the purge honours it) and the request fails; asking again sets the lock (idempotent).

export const CASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_TEXT = 1000;

export interface HoldTarget {
  site: string;
  rid?: string;
  caseId?: string;
}

export interface PlaceHoldInput extends HoldTarget {
  reason: string;
  reference?: string;
  principal: string;
}

export interface ReleaseHoldInput extends HoldTarget {
  reason: string;
  principal: string;
  /** Which of a call's holds (its matter's reference); needed when the call has several. */
  reference?: string;
}


function required(value: string | undefined, field: string): string {
  const text = value?.trim() ?? '';
  if (!text) throw new InvalidInputError(`${field}: is required`);
  if (text.length > MAX_TEXT) throw new InvalidInputError(`${field}: must be at most ${MAX_TEXT} characters`);
  return text;
}

function oneTarget(input: HoldTarget): { rid: string; caseId?: undefined } | { caseId: string; rid?: undefined } {
  if ((input.rid === undefined) === (input.caseId === undefined)) throw new InvalidInputError('rid, caseId: give exactly one of rid or caseId');
  return input.rid !== undefined ? { rid: input.rid } : { caseId: input.caseId! };
}

/**
 * Holds one call under a scope: a new record unless one is active for that scope and matter. A
 * call may be held for several matters at once (a complaint and a tribunal), each its own record
 * named by its reference and released on its own: a call-scope hold placed with another
 * reference is a record of its own; placed with the same one, or with none while the call is
 * held, it is the hold that stands (the answer says so). A case's hold is the case's.
 */
async function holdCall(deps: HoldDeps, site: string, rid: string, scope: HoldScope, input: { reason: string; reference?: string; principal: string }): Promise<{ hold: HoldRecord; objects: string[]; existing: boolean }> {
  const entry = await recording(deps, site, rid);
  const sameMatter = (h: HoldRecord) => scope.kind !== 'call' || input.reference === undefined || h.reference === input.reference;
  const all = await deps.holds.holdsOf(site, rid);
  const active = all.find((h) => isActive(h) && scopeKey(h.scope) === scopeKey(scope) && sameMatter(h));
  const hold = active ?? newHoldRecord(deps, all, site, rid, scope, input);
  if (!active) await deps.holds.putHold(hold);
  return { hold, objects: await lockObjects(deps, objectsOf(entry), true), existing: active !== undefined };
}

/** A call's hold as its release names it: the matter's reference and who placed it. */
const holdName = (h: HoldRecord) => `${h.reference ? `reference ${h.reference}` : 'no reference'} ("${h.reason}", placed by ${h.placedBy} at ${h.placedAt})`;

/**
 * The call-scope holds of a call a release takes: those of `reference`; without one, the hold
 * with no reference, or the call's only hold. Several matters and none named is refused, naming
 * them: releasing one matter must not release another's.
 */
function callHoldsToRelease(active: HoldRecord[], rid: string, reference: string | undefined): HoldRecord[] {
  if (reference !== undefined) {
    const named = active.filter((h) => h.reference === reference);
    if (named.length === 0 && active.length > 0) throw new NotFoundError(`no active hold on recording ${rid} has reference ${reference}: its holds are ${active.map(holdName).join('; ')}`);
    return named;
  }
  const unnamed = active.filter((h) => h.reference === undefined);
  if (unnamed.length > 0 || active.length <= 1) return unnamed.length > 0 ? unnamed : active;
  throw new InvalidInputError(`recording ${rid} is held for ${active.length} matters: ${active.map(holdName).join('; ')}; name the one to release by its reference`, { field: 'reference' });
}

export async function placeHold(deps: HoldDeps, input: PlaceHoldInput): Promise<HoldOutcome> {
  const target = oneTarget(input);
  const reason = required(input.reason, 'reason');
  const reference = input.reference?.trim() || undefined;
  const who = { reason, reference, principal: input.principal };
  if (target.rid !== undefined) {
    const { hold, objects, existing } = await holdCall(deps, input.site, target.rid, { kind: 'call' }, who);
    return { site: input.site, rid: target.rid, holds: [hold], objects, ...(existing ? { existing } : {}) };
  }
  // A case is held a part at a time (core/case-holds.ts): the answer says whether it is held yet.
  return placeCaseHold(deps, { site: input.site, caseId: target.caseId, reason, ...(reference ? { reference } : {}), principal: input.principal });
}

export async function releaseHold(deps: HoldDeps, input: ReleaseHoldInput): Promise<HoldOutcome> {
  const target = oneTarget(input);
  const reason = required(input.reason, 'reason');
  // A case is released a part at a time (core/case-release.ts): the answer says whether it is still held.
  if (target.caseId !== undefined) return releaseCaseHold(deps, { site: input.site, caseId: target.caseId, reason, principal: input.principal });
  const at = deps.clock.now().toISOString();
  const reference = input.reference?.trim() || undefined;
  const active = (await deps.holds.holdsOf(input.site, target.rid)).filter(isActive);
  const released = callHoldsToRelease(active.filter((h) => h.scope.kind === 'call'), target.rid, reference).map((h): HoldRecord => ({ ...h, releasedBy: input.principal, releasedAt: at, releaseReason: reason }));
  if (released.length === 0) {
    const byCase = active.map((h) => scopeKey(h.scope));
    const note = byCase.length ? ` (it is held as a member of ${byCase.join(', ')}: release the case)` : '';
    throw new NotFoundError(`no hold placed on recording ${target.rid} in site ${input.site} is active${note}`);
  }
  for (const h of released) await deps.holds.putHold(h);
  const stillHeld = new Set((await deps.holds.listHolds(input.site)).filter(isActive).map((h) => h.rid));
  const objects = await unlockWhereFree(deps, input.site, [target.rid], stillHeld);
  return { site: input.site, rid: target.rid, holds: released, objects };
}

export interface HoldListing {
  site: string;
  /** Active holds, one per (call, scope). */
  active: HoldRecord[];
  /** Released holds: the history. Present when asked for. */
  released?: HoldRecord[];
  /** More records follow: pass it back as `cursor` for the next page. */
  cursor?: string;
}

/** Hold records a listing page holds at most: a site's history grows with every place and release, and an answer must stay far under Lambda's 6 MB. */
export const HOLDS_PAGE_MAX = 1000;

/**
 * A site's holds (or a call's), a page at a time in the order of their keys (call, time placed,
 * scope): active ones, and with `history` released ones too. `cursor` is the last key of the
 * page before (as the answer gave it); a cursor that is not one is refused naming it.
 */
export async function listHolds(deps: Pick<HoldDeps, 'holds'>, site: string, options: { history?: boolean; rid?: string; limit?: number; cursor?: string } = {}): Promise<HoldListing> {
  const limit = options.limit ?? HOLDS_PAGE_MAX;
  if (!Number.isInteger(limit) || limit < 1 || limit > HOLDS_PAGE_MAX) throw new InvalidInputError(`limit: must be a whole number from 1 to ${HOLDS_PAGE_MAX}`, { field: 'limit' });
  const after = options.cursor === undefined ? undefined : Buffer.from(options.cursor, 'base64url').toString('utf8');
  if (after !== undefined && (after === '' || Buffer.from(after, 'utf8').toString('base64url') !== options.cursor)) throw new InvalidInputError('cursor: not a cursor this listing gave', { field: 'cursor' });
  const all = options.rid ? await deps.holds.holdsOf(site, options.rid) : await deps.holds.listHolds(site);
  const keyed = all
    .filter((h) => options.history || isActive(h))
    .map((h) => ({ h, key: holdSk(h) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .filter(({ key }) => after === undefined || key > after);
  const page = keyed.slice(0, limit).map(({ h }) => h);
  const more = keyed.length > limit ? { cursor: Buffer.from(keyed[limit - 1]!.key, 'utf8').toString('base64url') } : {};
  return { site, active: page.filter(isActive), ...(options.history ? { released: page.filter((h) => !isActive(h)) } : {}), ...more };
}

// ---- cases ----

export interface CreateCaseInput {
  site: string;
  caseId?: string;
  name: string;
  reason: string;
  reference?: string;
  principal: string;
  rids?: string[];
}

function generatedCaseId(site: string, name: string, at: string): string {
  return `case-${at.slice(0, 10).replace(/-/g, '')}-${createHash('sha256').update(`${site}\0${name}\0${at}`).digest('hex').slice(0, 8)}`;
}

/** Creates a case (its calls must be catalogued); `recorder` records the creation before the case is written. */
export async function createCase(deps: HoldDeps, input: CreateCaseInput, recorder?: CaseChangeRecorder): Promise<CaseRecord> {
  const name = required(input.name, 'name');
  const reason = required(input.reason, 'reason');
  const at = deps.clock.now().toISOString();
  const caseId = input.caseId ?? generatedCaseId(input.site, name, at);
  if (!CASE_ID_PATTERN.test(caseId)) throw new InvalidInputError('caseId: must be 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit');
  const rids = [...new Set(input.rids ?? [])];
  // One BatchGetItem per 100 rids (a case is created with up to 1,000), not a GetItem each.
  await mustExist(deps, input.site, rids);
  const reference = input.reference?.trim() || undefined;
  const record: CaseRecord = { site: input.site, caseId, name, reason, ...(reference ? { reference } : {}), createdBy: input.principal, createdAt: at, members: rids };
  // A case id taken is refused before anything is recorded (the write's condition still decides a race).
  if (await deps.holds.getCase(input.site, caseId)) throw new AlreadyExistsError(`case ${caseId} already exists in site ${input.site}`);
  await recordedChange(recorder, { kind: 'create', case: record }, () => deps.holds.createCase(record));
  return record;
}

/** Every case of the site (members and hold state), in case id order. */
export async function listCases(deps: Pick<HoldDeps, 'holds'>, site: string): Promise<{ site: string; items: CaseRecord[] }> {
  return { site, items: await deps.holds.listCases(site) };
}

export interface CaseView extends CaseRecord {
  /** Active holds on the members (any scope), by rid. */
  memberHolds: Record<string, HoldRecord[]>;
  /** Start, site, call id, agent and (where the reader knows the tiers) archive state of each member the catalogue holds, by rid. */
  memberCalls?: Record<string, CaseMemberCall>;
  /** Members the catalogue no longer holds (deleted by retention before the case was held): their purge records name them. */
  gone?: string[];
}

export async function showCase(deps: Pick<HoldDeps, 'holds'> & Partial<Pick<HoldDeps, 'catalogue'>> & { tiers?: MemberTierDeps }, site: string, caseId: string): Promise<CaseView> {
  const record = await existingCase(deps, site, caseId);
  const memberHolds: Record<string, HoldRecord[]> = Object.fromEntries(record.members.map((rid) => [rid, []]));
  for (const h of await deps.holds.listHolds(site)) if (isActive(h) && memberHolds[h.rid]) memberHolds[h.rid]!.push(h);
  // One BatchGetItem per 100 members, not a GetItem each: a case of 10,000 calls is shown in one request's time.
  const present = deps.catalogue ? await deps.catalogue.getRecordings(record.members.map((rid) => ({ site, rid }))) : undefined;
  const gone = present ? record.members.filter((rid) => !present.has(recordingLookupKey(site, rid))) : [];
  const memberCalls = present ? await memberCallsOf(present, site, record.members, deps.tiers) : undefined;
  return { ...record, memberHolds, ...(memberCalls ? { memberCalls } : {}), ...(gone.length ? { gone } : {}) };
}
