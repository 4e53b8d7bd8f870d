import { randomUUID } from 'node:crypto';
import { AlreadyExistsError, InvalidInputError } from './errors.ts';
import { assertCaseFits, itemToCase, itemToHold, caseToItem, holdToItem, scopeKey, type CaseRecord, type HoldRecord, type HoldStore } from './hold-items.ts';
import { NAME_PATTERN } from './layout.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';

// Legal holds and cases written to the bucket as well as to the catalogue table. The table is
// where the holds function, the console and the purge read them; the bucket (versioned, under
// Object Lock, replicated) is what is left when the table is lost or restored to a point before
// a hold: `ferry catalogue rebuild` puts them back from here, as it puts recordings back from
// the manifests. Each hold record is written to the bucket first: a hold the table never got is
// brought back by a rebuild (one hold too many), never one the table had and the bucket lost.
// A case is the other way round: its writes are conditional on the version read (two requests
// on one case, core/hold-items.ts), and a version the table refused must never be the newest in
// the bucket (a rebuild would restore it, dropping the other request's calls or its hold). So a
// case version goes to the bucket once the table took it, under a key named by the time before
// the table write: a version written after another sorts after it.
// The bucket is write-once (every new object carries If-None-Match: *), so each change is an
// object of its own: a hold's placing and its release; each version of a case, the newest wins.

export const HOLDS_PREFIX = 'holds/';
export const CASES_PREFIX = 'cases/';

function siteOf(site: string): string {
  if (!NAME_PATTERN.test(site)) throw new InvalidInputError(`site must be a site name, got "${site}"`);
  return site;
}

/** Where a hold's record lives in the bucket: `…/placed.json` when placed, `…/released.json` once released. */
export function holdMirrorKey(hold: Pick<HoldRecord, 'site' | 'rid' | 'placedAt' | 'scope' | 'releasedAt'>): string {
  return `${HOLDS_PREFIX}${siteOf(hold.site)}/${hold.rid}/${hold.placedAt}_${scopeKey(hold.scope)}/${hold.releasedAt ? 'released' : 'placed'}.json`;
}

/** The last version time this process gave: each later one is at least a millisecond on, so its versions sort in the order written. */
let lastVersionMs = 0;

/**
 * Where one version of a case lives in the bucket: its time (strictly increasing within a
 * process: a case created and held in one millisecond must not sort by its random tail), then
 * a random tail (two writers in one millisecond).
 */
export function caseMirrorKey(record: Pick<CaseRecord, 'site' | 'caseId'>, at: Date = new Date()): string {
  lastVersionMs = Math.max(at.getTime(), lastVersionMs + 1);
  return `${CASES_PREFIX}${siteOf(record.site)}/${record.caseId}/${new Date(lastVersionMs).toISOString()}-${randomUUID().slice(0, 8)}.json`;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Write-once: the same change written again (a retried request) is the one already there. */
async function keepOnce(blobs: Pick<BlobStore, 'put'>, key: string, item: Record<string, unknown>): Promise<void> {
  await blobs.put(key, json(item), { contentType: 'application/json', ifNoneMatch: true }).catch((error: unknown) => {
    if (!(error instanceof AlreadyExistsError)) throw error;
  });
}

/** A HoldStore whose every write goes to the bucket first, then to `inner` (the table). Reads are the table's. */
export class MirroredHoldStore implements HoldStore {
  constructor(
    private readonly inner: HoldStore,
    private readonly blobs: Pick<BlobStore, 'put'>,
  ) {}

  private keep(key: string, item: Record<string, unknown>): Promise<void> {
    return keepOnce(this.blobs, key, item);
  }

  async putHold(hold: HoldRecord): Promise<void> {
    await this.keep(holdMirrorKey(hold), holdToItem(hold));
    await this.inner.putHold(hold);
  }

  async createCase(record: CaseRecord): Promise<void> {
    assertCaseFits(record);
    const key = caseMirrorKey(record);
    // The table refuses a case id taken: a refused case leaves no object.
    await this.inner.createCase(record);
    await this.keep(key, caseToItem(record));
  }

  async updateCase(record: CaseRecord): Promise<CaseRecord> {
    assertCaseFits(record);
    // Named before the table write: a version the table takes after this one's sorts after it.
    const key = caseMirrorKey(record);
    const written = await this.inner.updateCase(record);
    await this.keep(key, caseToItem(written));
    return written;
  }

  listHolds(site: string): Promise<HoldRecord[]> {
    return this.inner.listHolds(site);
  }

  holdsOf(site: string, rid: string): Promise<HoldRecord[]> {
    return this.inner.holdsOf(site, rid);
  }

  getCase(site: string, caseId: string): Promise<CaseRecord | undefined> {
    return this.inner.getCase(site, caseId);
  }

  listCases(site: string): Promise<CaseRecord[]> {
    return this.inner.listCases(site);
  }
}

/** What a rebuild brought back of holds and cases. */
export interface HoldsRestored {
  holds: number;
  cases: number;
  failed: { key: string; error: string }[];
}

/**
 * Puts every hold and case record the bucket keeps back into `target` (the table): after the
 * table was lost, or restored to a point before some of them. A hold is its release when there
 * is one, else its placing; a case is its newest version.
 */
export async function restoreHoldsFromBucket(blobs: Pick<BlobStore, 'list' | 'get'>, target: Pick<HoldStore, 'putHold' | 'createCase' | 'updateCase' | 'getCase'>, site?: string): Promise<HoldsRestored> {
  const out: HoldsRestored = { holds: 0, cases: 0, failed: [] };
  const read = async (key: string) => JSON.parse((await readSmallObject(blobs, key, 1024 * 1024, 'hold or case record')).toString('utf8')) as Record<string, unknown>;
  const attempt = async (key: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      out.failed.push({ key, error: error instanceof Error ? error.message : String(error) });
    }
  };
  const scope = site ? `${siteOf(site)}/` : '';
  // One hold: its directory's released.json wins over placed.json.
  const holds = new Map<string, string>();
  for await (const info of blobs.list(`${HOLDS_PREFIX}${scope}`)) {
    const dir = info.key.slice(0, info.key.lastIndexOf('/'));
    if (info.key.endsWith('/released.json') || (info.key.endsWith('/placed.json') && !holds.get(dir)?.endsWith('/released.json'))) holds.set(dir, info.key);
  }
  for (const key of holds.values()) await attempt(key, async () => {
    await target.putHold(itemToHold(await read(key)));
    out.holds++;
  });
  // One case: the newest of its versions (their names sort by time).
  const cases = new Map<string, string>();
  for await (const info of blobs.list(`${CASES_PREFIX}${scope}`)) {
    if (!info.key.endsWith('.json')) continue;
    const dir = info.key.slice(0, info.key.lastIndexOf('/'));
    if ((cases.get(dir) ?? '') < info.key) cases.set(dir, info.key);
  }
  for (const key of cases.values()) await attempt(key, async () => {
    const record = itemToCase(await read(key));
    // Over the table's own version of the case (a restore to a point before): written on the version it has.
    const current = await target.getCase(record.site, record.caseId);
    if (current) await target.updateCase({ ...record, version: current.version });
    else await target.createCase(record);
    out.cases++;
  });
  return out;
}

/**
 * Copies to the bucket the hold and case records the table has and the bucket does not: those
 * placed before holds were kept there (an upgrade), so that a later table loss keeps them too.
 * Returns how many of each were copied.
 */
export async function copyHoldsToBucket(table: Pick<HoldStore, 'listHolds' | 'listCases'>, blobs: Pick<BlobStore, 'put' | 'list'>, site: string): Promise<{ holds: number; cases: number }> {
  const kept = new Set<string>();
  for await (const info of blobs.list(`${HOLDS_PREFIX}${siteOf(site)}/`)) kept.add(info.key);
  const casesKept = new Set<string>();
  for await (const info of blobs.list(`${CASES_PREFIX}${siteOf(site)}/`)) casesKept.add(info.key.slice(0, info.key.lastIndexOf('/')));
  let holds = 0;
  for (const hold of await table.listHolds(site)) {
    if (kept.has(holdMirrorKey(hold))) continue;
    await keepOnce(blobs, holdMirrorKey(hold), holdToItem(hold));
    holds++;
  }
  let cases = 0;
  for (const record of await table.listCases(site)) {
    if (casesKept.has(`${CASES_PREFIX}${site}/${record.caseId}`)) continue;
    await keepOnce(blobs, caseMirrorKey(record), caseToItem(record));
    cases++;
  }
  return { holds, cases };
}
