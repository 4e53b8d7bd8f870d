import { ITEM_PREFIXES } from './catalogue-table.ts';
import { AlreadyExistsError, InvalidInputError, NotFoundError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import { defined } from './defined.ts';
import { inPageOrder, pageOfKeys, type ErasurePage, type ErasurePageOptions } from './erasure-pages.ts';
import type { BlobStore } from './ports.ts';

// Erasure requests (a data subject's request to erase a call before retention ends) as their
// own records, like holds: never written by ingest or `catalogue rebuild`, so a re-ingest of the
// call's manifest cannot bring it back within reach. One partition per site
// (`pk=ERASE#{site}, sk={rid}`): one request per call. The request is written once; the purge
// that carries it out writes `done` on it (who, when, which pack it left), as a release writes on
// a hold. The bucket keeps a copy of each (write-once, under Object Lock): `requested.json`,
// then `done.json`, as holds keep `placed.json` and `released.json` (core/hold-mirror.ts).

export interface ErasureRecord {
  site: string;
  rid: string;
  reason: string;
  reference?: string;
  requestedBy: string;
  /** ISO, UTC. */
  requestedAt: string;
  /** Where the call was when it was asked for (its catalogue entry then): what the purge rewrites. */
  packKey: string;
  manifestKey: string;
  /** The call as a person knew it (`callId=… start=… caller→called`), for the list once its entry is gone. */
  call: string;
  /** `pending` until the purge deleted the last object holding the call's bytes; then `done`. */
  status: 'pending' | 'done';
  doneAt?: string;
  /** What the purge did, in a sentence (the pack deleted, the pack the other calls moved to). */
  doneNote?: string;
  /**
   * While pending: what the last purge found the erasure waiting for, in a sentence naming the pack
   * (a restore from the archive tier, …), and when (`waitingAt`). The table's only: the bucket's
   * copies are the request and its outcome.
   */
  waiting?: string;
  waitingAt?: string;
}

export const ERASURES_PREFIX = 'erasures/';

export function erasurePk(site: string): string {
  return `${ITEM_PREFIXES.erasure}${site}`;
}

export function erasureToItem(record: ErasureRecord): Record<string, unknown> & { pk: string; sk: string } {
  return defined({ pk: erasurePk(record.site), sk: record.rid, type: 'erasure', ...record });
}

export function itemToErasure(item: Record<string, unknown>): ErasureRecord {
  return defined({
    site: String(item.site),
    rid: String(item.rid),
    reason: String(item.reason),
    reference: item.reference as string | undefined,
    requestedBy: String(item.requestedBy),
    requestedAt: String(item.requestedAt),
    packKey: String(item.packKey),
    manifestKey: String(item.manifestKey),
    call: String(item.call ?? ''),
    status: item.status === 'done' ? ('done' as const) : ('pending' as const),
    doneAt: item.doneAt as string | undefined,
    doneNote: item.doneNote as string | undefined,
    waiting: item.waiting as string | undefined,
    waitingAt: item.waitingAt as string | undefined,
  });
}

/** The port erasure requests are read and written through (the holds function, the readers' gate, the purge). */
export interface ErasureStore {
  /** Writes a new request; AlreadyExistsError when the call has one (one request per call, never replaced). */
  createErasure(record: ErasureRecord): Promise<void>;
  /** Writes `done` on an existing request (the same again is a no-op); NotFoundError when absent. */
  markDone(record: ErasureRecord): Promise<void>;
  /** Writes what a pending request waits for (`waiting`, `waitingAt`); NotFoundError when absent or done already (a done request is never made pending again). */
  noteWaiting(record: ErasureRecord): Promise<void>;
  /** The call's request, or undefined when it has none. */
  getErasure(site: string, rid: string): Promise<ErasureRecord | undefined>;
  /** Every request of the site, in rid order; [] when none (the purge's read: it needs the pending ones whole). */
  listErasures(site: string): Promise<ErasureRecord[]>;
  /** One page of the site's requests, newest first, only those of `options.status` when given (core/erasure-pages.ts); `after` when more follow. */
  erasurePage(site: string, options: ErasurePageOptions): Promise<ErasurePage>;
  /** The rids of the site's first `limit` requests (rid order), and whether it has more. */
  firstErasedRids(site: string, limit: number): Promise<{ rids: string[]; more: boolean }>;
  /** Which of `rids` have a request (one BatchGetItem a hundred). */
  erasedAmong(site: string, rids: readonly string[]): Promise<Set<string>>;
}

/** ErasureStore in memory, storing the very items DynamoErasureStore writes. */
export class MemoryErasureStore implements ErasureStore {
  readonly items = new Map<string, Record<string, unknown>>();

  async createErasure(record: ErasureRecord): Promise<void> {
    const item = erasureToItem(record);
    const key = `${item.pk}\u0000${item.sk}`;
    if (this.items.has(key)) throw new AlreadyExistsError(`recording ${record.rid} of site ${record.site} has an erasure request already`);
    this.items.set(key, structuredClone(item));
  }

  async markDone(record: ErasureRecord): Promise<void> {
    const item = erasureToItem(record);
    const key = `${item.pk}\u0000${item.sk}`;
    if (!this.items.has(key)) throw new NotFoundError(`no erasure request for recording ${record.rid} in site ${record.site}`);
    this.items.set(key, structuredClone(item));
  }

  async noteWaiting(record: ErasureRecord): Promise<void> {
    const item = erasureToItem({ ...record, status: 'pending' });
    const key = `${item.pk}\u0000${item.sk}`;
    if (this.items.get(key)?.status !== 'pending') throw new NotFoundError(`no pending erasure request for recording ${record.rid} in site ${record.site}`);
    this.items.set(key, structuredClone(item));
  }

  async getErasure(site: string, rid: string): Promise<ErasureRecord | undefined> {
    const item = this.items.get(`${erasurePk(site)}\u0000${rid}`);
    return item ? itemToErasure(structuredClone(item)) : undefined;
  }

  async listErasures(site: string): Promise<ErasureRecord[]> {
    return [...this.items.values()]
      .filter((i) => i.pk === erasurePk(site))
      .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1))
      .map((i) => itemToErasure(structuredClone(i)));
  }

  async erasurePage(site: string, options: ErasurePageOptions): Promise<ErasurePage> {
    const all = await this.listErasures(site);
    const { rids, after } = pageOfKeys(all, options);
    return { items: inPageOrder(rids, all), ...(after !== undefined ? { after } : {}) };
  }

  async firstErasedRids(site: string, limit: number): Promise<{ rids: string[]; more: boolean }> {
    const rids = (await this.listErasures(site)).map((e) => e.rid);
    return { rids: rids.slice(0, limit), more: rids.length > limit };
  }

  async erasedAmong(site: string, rids: readonly string[]): Promise<Set<string>> {
    return new Set(rids.filter((rid) => this.items.has(`${erasurePk(site)}\u0000${rid}`)));
  }
}

/** Where a request lives in the bucket: `…/requested.json` while pending, `…/done.json` once carried out. */
export function erasureMirrorKey(record: Pick<ErasureRecord, 'site' | 'rid' | 'status'>): string {
  if (!NAME_PATTERN.test(record.site)) throw new InvalidInputError(`site must be a site name, got "${record.site}"`);
  return `${ERASURES_PREFIX}${record.site}/${record.rid}/${record.status === 'done' ? 'done' : 'requested'}.json`;
}

/**
 * An ErasureStore whose every write goes to the bucket first (write-once), then to `inner` (the
 * table): a request the table never got is still in the bucket, never the other way round.
 * Reads are the table's.
 */
export class MirroredErasureStore implements ErasureStore {
  constructor(
    private readonly inner: ErasureStore,
    private readonly blobs: Pick<BlobStore, 'put'>,
  ) {}

  private async keep(record: ErasureRecord): Promise<void> {
    await this.blobs.put(erasureMirrorKey(record), Buffer.from(JSON.stringify(erasureToItem(record))), { contentType: 'application/json', ifNoneMatch: true }).catch((error: unknown) => {
      // The same change written again (a retried request) is the one already there.
      if (!(error instanceof AlreadyExistsError)) throw error;
    });
  }

  async createErasure(record: ErasureRecord): Promise<void> {
    // The table refuses a second request: asked first, so that a refused one leaves no object.
    if (await this.inner.getErasure(record.site, record.rid)) return this.inner.createErasure(record);
    await this.keep(record);
    await this.inner.createErasure(record);
  }

  async markDone(record: ErasureRecord): Promise<void> {
    await this.keep(record);
    await this.inner.markDone(record);
  }

  /** The table's only: what a request waits for changes from purge to purge; the bucket keeps the request and its outcome. */
  noteWaiting(record: ErasureRecord): Promise<void> {
    return this.inner.noteWaiting(record);
  }

  getErasure(site: string, rid: string): Promise<ErasureRecord | undefined> {
    return this.inner.getErasure(site, rid);
  }

  listErasures(site: string): Promise<ErasureRecord[]> {
    return this.inner.listErasures(site);
  }

  erasurePage(site: string, options: ErasurePageOptions): Promise<ErasurePage> {
    return this.inner.erasurePage(site, options);
  }

  firstErasedRids(site: string, limit: number): Promise<{ rids: string[]; more: boolean }> {
    return this.inner.firstErasedRids(site, limit);
  }

  erasedAmong(site: string, rids: readonly string[]): Promise<Set<string>> {
    return this.inner.erasedAmong(site, rids);
  }
}
