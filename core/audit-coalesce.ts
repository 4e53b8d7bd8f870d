import { AUDIT_WRITE_BYTES, auditRecordBytes } from './audit-ledger.ts';
import { appendAuditEvents, sealAudit, type AuditChainDeps, type AuditEvent, type AuditRecord, type ChainHead } from './audit-trail.ts';

// Group commit for the audit chain within one process, and the seal behind it. Every audited
// request of a site must take the next seq of that site's chain (a conditional write to the
// ledger), so N requests at once are N writers racing for one seq: each round one wins and the
// others read, back off and try again. A process that serves many requests at once (the local
// cloud runs each function in one runtime for all its invocations) instead writes once for
// every event that arrived while the previous write was in flight: a burst of 50 listens costs
// two writes, not 50. It also keeps the head it last wrote and writes after it without reading
// it first (one round trip a record; if another process wrote meanwhile, the write is refused
// and the head is read as usual).
//
// A request waits for its record's ledger write only (one round trip, as durable as the
// catalogue table); the copy to the write-once bucket follows in the background, one site at a
// time and in seq order (sealAudit), without the request waiting for it. A seal that fails
// leaves the records in the ledger, where the audit views and verification read them, and the
// next seal of the site (this process's next one, or any writer's) copies them.

export interface CoalescedAuditOptions {
  /** Events written at once, at most (one ledger item). */
  maxBatch?: number;
  /**
   * Their records' bytes at most (default AUDIT_WRITE_BYTES, under DynamoDB's 400 KB item): a
   * batch ends before the event that would pass it; an event larger than it is written alone.
   */
  maxBytes?: number;
  /** Told of a background seal that failed (the records stay in the ledger until the next seal). */
  onSealError?: (site: string, error: unknown) => void;
  /**
   * How long the site's sealed mark may lag the records this process copied (default 1 s). Each
   * record is still copied to the bucket right after its answer; only the mark (a write to the
   * ledger saying where the next seal starts) is raised once for all the records copied within
   * this time, instead of once a record: one write a second instead of one a search page.
   */
  markEveryMs?: number;
}

/** Appends one event; `settled()` resolves once the seals started so far have ended (tests, shutdown). */
export type CoalescedAudit = ((event: AuditEvent) => Promise<AuditRecord>) & { settled(): Promise<void> };

type Waiter = { event: AuditEvent; resolve: (record: AuditRecord) => void; reject: (error: unknown) => void };

/**
 * `appendAuditEvents` with group commit per site: resolves with the event's record once it is in
 * the ledger; rejects when no seq could be taken for its batch (nothing of that batch is
 * written). Order: events of a site get seqs in the order this function was called.
 */
export function coalescedAudit(deps: AuditChainDeps, options: CoalescedAuditOptions = {}): CoalescedAudit {
  const maxBatch = Math.max(1, options.maxBatch ?? 50);
  const maxBytes = options.maxBytes ?? AUDIT_WRITE_BYTES;
  /** The next batch: up to maxBatch events, within maxBytes (at least one event). */
  const take = (queue: Waiter[]): Waiter[] => {
    let bytes = auditRecordBytes(queue[0]!.event);
    let n = 1;
    while (n < Math.min(maxBatch, queue.length)) {
      bytes += auditRecordBytes(queue[n]!.event);
      if (bytes > maxBytes) break;
      n++;
    }
    return queue.splice(0, n);
  };
  const waiting = new Map<string, Waiter[]>();
  /** The head each site was left at by this process's last write (absent: read it). */
  const known = new Map<string, ChainHead>();
  const seals = sealer(deps, options.onSealError, options.markEveryMs ?? MARK_EVERY_MS);

  // One writer per site: takes what waits, writes it after the head, hands each event its
  // record, and goes again while more arrived.
  async function move(site: string, queue: Waiter[]): Promise<void> {
    while (queue.length > 0) {
      const batch = take(queue);
      try {
        const { head, records } = await appendAuditEvents(deps, batch.map((w) => w.event), known.get(site));
        if (head) known.set(site, head);
        records.forEach((record, i) => batch[i]!.resolve(record));
        seals.seal(site, records);
      } catch (error) {
        known.delete(site);
        for (const w of batch) w.reject(error);
      }
    }
    waiting.delete(site);
  }

  const append = (event: AuditEvent) =>
    new Promise<AuditRecord>((resolve, reject) => {
      const queue = waiting.get(event.site);
      if (queue) return void queue.push({ event, resolve, reject });
      const fresh: Waiter[] = [{ event, resolve, reject }];
      waiting.set(event.site, fresh);
      void move(event.site, fresh);
    });
  return Object.assign(append, { settled: () => seals.settled() });
}

/** Default of CoalescedAuditOptions.markEveryMs. */
export const MARK_EVERY_MS = 1000;

/**
 * Seals a site's records in the background, one seal at a time per site. When the records just
 * written follow those this process last copied, they are copied as they are (no ledger read)
 * and the site's mark is raised at most once every `markEveryMs` (and by settled()); otherwise
 * (first seal of the process, another writer in between, a seal that failed) the site is sealed
 * from its mark, which also copies what other writers left unsealed, and the mark raised at once.
 * A mark that lags only makes the next seal from the mark try copies that exist already (each
 * refused by If-None-Match, never overwritten): the records themselves are in the bucket.
 */
function sealer(deps: AuditChainDeps, onError: CoalescedAuditOptions['onSealError'] = () => undefined, markEveryMs = MARK_EVERY_MS) {
  const tails = new Map<string, Promise<void>>();
  const sealedTo = new Map<string, number>();
  /** Copied but not yet marked, by site; the timer that will mark them. */
  const unmarked = new Map<string, { upTo: number; timer: ReturnType<typeof setTimeout> }>();

  /** Runs `step` after the site's seals so far, reporting its failure. */
  const queue = (site: string, step: () => Promise<void>) => {
    const next = (tails.get(site) ?? Promise.resolve()).then(step).catch((error: unknown) => {
      sealedTo.delete(site);
      onError(site, error);
    });
    tails.set(site, next);
    void next.finally(() => {
      if (tails.get(site) === next) tails.delete(site);
    });
  };
  const markNow = (site: string) => {
    const pending = unmarked.get(site);
    if (!pending) return;
    clearTimeout(pending.timer);
    unmarked.delete(site);
    queue(site, () => deps.ledger.markSealed(site, pending.upTo));
  };
  const markLater = (site: string, upTo: number) => {
    const pending = unmarked.get(site);
    if (pending) return void (pending.upTo = Math.max(pending.upTo, upTo));
    const timer = setTimeout(() => markNow(site), markEveryMs);
    // A lagging mark is only a hint: it never keeps a process alive.
    timer.unref?.();
    unmarked.set(site, { upTo, timer });
  };

  return {
    seal(site: string, records: readonly AuditRecord[]): void {
      queue(site, async () => {
        const done = sealedTo.get(site);
        // Copied already (a seal from the mark may have gone past them): only the rest.
        if (done !== undefined && done >= records[0]!.seq - 1) {
          if (done >= records[records.length - 1]!.seq) return;
          const upTo = await sealAudit(deps, site, { from: done + 1, records, mark: false });
          sealedTo.set(site, upTo);
          markLater(site, upTo);
          return;
        }
        sealedTo.set(site, await sealAudit(deps, site));
      });
    },
    async settled(): Promise<void> {
      // A seal still running leaves a mark to raise when it ends: raise that one too.
      while (tails.size > 0 || unmarked.size > 0) {
        for (const site of [...unmarked.keys()]) markNow(site);
        await Promise.all(tails.values());
      }
    },
  };
}
