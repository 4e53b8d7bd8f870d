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
  /** Told of a background seal that failed (the records stay in the ledger until the next seal). */
  onSealError?: (site: string, error: unknown) => void;
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
  const waiting = new Map<string, Waiter[]>();
  /** The head each site was left at by this process's last write (absent: read it). */
  const known = new Map<string, ChainHead>();
  const seals = sealer(deps, options.onSealError);

  // One writer per site: takes what waits, writes it after the head, hands each event its
  // record, and goes again while more arrived.
  async function move(site: string, queue: Waiter[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
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

/**
 * Seals a site's records in the background, one seal at a time per site. When the records just
 * written follow those this process last sealed, they are copied as they are (no ledger read);
 * otherwise (first seal of the process, another writer in between, a seal that failed) the
 * site is sealed from its mark, which also copies what other writers left unsealed.
 */
function sealer(deps: AuditChainDeps, onError: CoalescedAuditOptions['onSealError'] = () => undefined) {
  const tails = new Map<string, Promise<void>>();
  const sealedTo = new Map<string, number>();
  return {
    seal(site: string, records: readonly AuditRecord[]): void {
      const run = async () => {
        const first = records[0]!.seq;
        const upTo = sealedTo.get(site) === first - 1 ? await sealAudit(deps, site, { from: first, records }) : await sealAudit(deps, site);
        sealedTo.set(site, upTo);
      };
      const next = (tails.get(site) ?? Promise.resolve()).then(run).catch((error: unknown) => {
        sealedTo.delete(site);
        onError(site, error);
      });
      tails.set(site, next);
      void next.finally(() => {
        if (tails.get(site) === next) tails.delete(site);
      });
    },
    async settled(): Promise<void> {
      while (tails.size > 0) await Promise.all(tails.values());
    },
  };
}
