import type { Clock } from './clock.ts';
import { AlreadyExistsError, ErasedError, InvalidInputError, NotFoundError, UnderLegalHoldError } from './errors.ts';
import type { ErasureRecord, ErasureStore } from './erasure-items.ts';
import { decodeErasureCursor, encodeErasureCursor, erasurePageLimit, type ErasureStatus } from './erasure-pages.ts';
import { isActive, type HoldRecord, type HoldStore } from './hold-items.ts';
import type { CatalogueEntry, CatalogueStore, RecordingPage } from './ports.ts';

// Erasure before retention ends (a data subject's request). Two halves:
//  - the request (here): refused while the call is under any active legal hold or when it is not
//    catalogued; recorded once (core/erasure-items.ts) and, from that moment, the call is out of
//    reach: the readers' catalogue is wrapped in `erasureGate`, so search leaves it out and a
//    lookup (get, replay, download, export) answers ErasedError (410), whatever the purge has
//    done yet and whatever a re-ingest of its manifest writes back;
//  - the deletion (core/erasure-purge.ts): the purge rewrites the call's pack without it (the
//    copy-out of core/copy-out.ts, keeping the other calls) and deletes the old pack and
//    manifest once their Object Lock allows; only then is the request `done`.

export interface ErasureDeps {
  catalogue: Pick<CatalogueStore, 'getRecording'>;
  holds: Pick<HoldStore, 'holdsOf'>;
  erasures: ErasureStore;
  clock: Clock;
}

export interface ErasureInput {
  site: string;
  rid: string;
  reason: string;
  reference?: string;
  principal: string;
}

export interface ErasureOutcome {
  erasure: ErasureRecord;
  /** The call had a request already: this is it, nothing new was recorded. */
  existing?: boolean;
}

const MAX_TEXT = 1000;

/** The call as a person knew it, kept on the request: its entry goes with the pack. */
function callLine(entry: CatalogueEntry): string {
  const m = entry.meta;
  return [`callId=${m.callId ?? '-'}`, `start=${entry.start}`, `${m.caller ?? '?'}→${m.called ?? '?'}`, ...(m.agent !== undefined ? [`agent=${m.agent}`] : [])].join(' ');
}

const holdName = (h: HoldRecord) => `${h.scope.kind === 'case' ? `case ${h.scope.caseId}` : 'call'} hold${h.reference ? ` ${h.reference}` : ''} placed by ${h.placedBy} at ${h.placedAt} ("${h.reason}")`;

/** Records a data subject's erasure request for one call; the same call again answers the request that stands. */
export async function requestErasure(deps: ErasureDeps, input: ErasureInput): Promise<ErasureOutcome> {
  const reason = input.reason.trim();
  if (!reason) throw new InvalidInputError('reason: is required', { field: 'reason' });
  if (reason.length > MAX_TEXT) throw new InvalidInputError(`reason: must be at most ${MAX_TEXT} characters`, { field: 'reason' });
  const standing = await deps.erasures.getErasure(input.site, input.rid);
  if (standing) return { erasure: standing, existing: true };
  const entry = await deps.catalogue.getRecording(input.site, input.rid);
  if (!entry) throw new NotFoundError(`recording ${input.rid} is not catalogued in site ${input.site}: nothing to erase (a call the retention purge deleted is named by its purge record: ferry audit search --action purge)`);
  const held = (await deps.holds.holdsOf(input.site, input.rid)).filter(isActive);
  if (held.length > 0) throw new UnderLegalHoldError(`recording ${input.rid} of site ${input.site} is under legal hold and must not be erased while it stands: ${held.map(holdName).join('; ')}`);
  const reference = input.reference?.trim() || undefined;
  const record: ErasureRecord = {
    site: input.site,
    rid: input.rid,
    reason,
    ...(reference ? { reference } : {}),
    requestedBy: input.principal,
    requestedAt: deps.clock.now().toISOString(),
    packKey: entry.packKey,
    manifestKey: entry.manifestKey,
    call: callLine(entry),
    status: 'pending',
  };
  try {
    await deps.erasures.createErasure(record);
  } catch (error) {
    // Two requests at once: the one that landed stands.
    const landed = error instanceof AlreadyExistsError ? await deps.erasures.getErasure(input.site, input.rid) : undefined;
    if (!landed) throw error;
    return { erasure: landed, existing: true };
  }
  return { erasure: record };
}

export interface ErasureListing {
  site: string;
  /** The page's requests, newest first. */
  items: ErasureRecord[];
  /** More requests follow: pass it back as `cursor` for the next page. */
  cursor?: string;
}

/**
 * A page of the site's erasure requests, newest first (pending and done, or `status` only):
 * `limit` of them at most (1 to 1000, 100 by default), `cursor` the one the page before gave.
 * A limit out of range or a cursor that is not one is an InvalidInputError naming it.
 */
export async function listErasures(deps: { erasures: Pick<ErasureStore, 'erasurePage'> }, site: string, options: { limit?: number; cursor?: string; status?: ErasureStatus } = {}): Promise<ErasureListing> {
  const limit = erasurePageLimit(options.limit);
  const after = options.cursor === undefined ? undefined : decodeErasureCursor(options.cursor);
  const page = await deps.erasures.erasurePage(site, { limit, ...(after !== undefined ? { after } : {}), ...(options.status ? { status: options.status } : {}) });
  return { site, items: page.items, ...(page.after !== undefined ? { cursor: encodeErasureCursor(page.after) } : {}) };
}

/** What the 410 says: which request took the call out of reach, and whether its bytes are gone yet. */
export function erasedMessage(e: ErasureRecord): string {
  const state = e.status === 'done' ? `carried out ${e.doneAt}` : `pending: the purge deletes its bytes${e.waiting ? `; waiting (purge of ${e.waitingAt}): ${e.waiting}` : ''}`;
  return `recording ${e.rid} of site ${e.site} was erased at a data subject's request (${e.reference ? `reference ${e.reference}, ` : ''}requested by ${e.requestedBy} at ${e.requestedAt}; ${state}): it is no longer served`;
}

/** Erasure requests a search page reads beside it, before it looks up its own calls instead. */
export const ERASED_LISTED = 100;

type Gated = Pick<CatalogueStore, 'getRecording'> & Partial<Pick<CatalogueStore, 'searchRecordings'>>;

/**
 * The catalogue as the readers (search, get, replay, download, export) see it: an erased call is
 * not listed, and looking it up throws ErasedError. The erasure's lookup runs beside the entry's,
 * so a play waits for the longer of the two, not their sum. Every other method is the store's own
 * (a Proxy, so that the wrapped store keeps whatever else its readers use).
 */
export function erasureGate<C extends Gated>(catalogue: C, erasures: Pick<ErasureStore, 'getErasure' | 'firstErasedRids' | 'erasedAmong'>): C {
  const getRecording = async (site: string, rid: string): Promise<CatalogueEntry | undefined> => {
    const [entry, erasure] = await Promise.all([catalogue.getRecording(site, rid), erasures.getErasure(site, rid)]);
    if (erasure) throw new ErasedError(erasedMessage(erasure));
    return entry;
  };
  // The site's requests are read beside the page while they are few (one small Query, the page
  // waits for the longer of the two); a site with more than ERASED_LISTED of them has the page's
  // own calls looked up after it instead (one BatchGetItem a hundred), so a page never reads a
  // list that grows with every request ever made.
  const searchRecordings = async (query: Parameters<CatalogueStore['searchRecordings']>[0]): Promise<RecordingPage> => {
    const [page, first] = await Promise.all([catalogue.searchRecordings!(query), erasures.firstErasedRids(query.site, ERASED_LISTED)]);
    const erased = first.more ? await erasures.erasedAmong(query.site, page.items.map((e) => e.rid)) : new Set(first.rids);
    return erased.size ? { ...page, items: page.items.filter((e) => !erased.has(e.rid)) } : page;
  };
  return new Proxy(catalogue, {
    get(target, prop) {
      if (prop === 'getRecording') return getRecording;
      if (prop === 'searchRecordings' && target.searchRecordings) return searchRecordings;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Whether a lookup failed because the call was erased (a case export names it instead of failing). */
export function isErased(error: unknown): error is ErasedError {
  return error instanceof ErasedError;
}
