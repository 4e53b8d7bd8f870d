import { appendAuditEvents, type AuditChainDeps, type AuditEvent, type AuditRecord, type ChainHead } from './audit-trail.ts';

// Group commit for the audit chain within one process. Every audited request of a site must
// take the next seq on that site's one head (a compare-and-set), so N requests at once are N
// writers racing for one item: each round one wins and the others read, back off and try
// again, and the last of a burst waits about N head round trips. A process that serves many
// requests at once (the local cloud runs each function in one runtime for all its
// invocations) instead moves the head once for every event that arrived while the
// previous move was in flight: a burst of 50 listens costs two moves, not 50. It also keeps
// the head it last set and moves from it without reading it first (one round trip a move
// instead of two; if another process moved the head meanwhile, the move fails and the head is
// read as usual). The chain, its records and its verification are exactly those of `appendAudit`.

export interface CoalescedAuditOptions {
  /** Events moved past the head at once, at most (their records are then written together). */
  maxBatch?: number;
}

type Waiter = { event: AuditEvent; resolve: (record: AuditRecord) => void; reject: (error: unknown) => void };

/**
 * `appendAudit` with group commit per site: resolves with the event's record once it is
 * written; rejects when the head could not be moved (the whole batch) or when the event's own
 * record could not be written (a gap `verifyAuditChain` reports). Order: events of a site get
 * seqs in the order this function was called.
 */
export function coalescedAudit(deps: AuditChainDeps, options: CoalescedAuditOptions = {}): (event: AuditEvent) => Promise<AuditRecord> {
  const maxBatch = Math.max(1, options.maxBatch ?? 50);
  const waiting = new Map<string, Waiter[]>();
  /** The head each site was left at by this process's last move (absent: read it). */
  const known = new Map<string, ChainHead>();

  // One mover per site: takes what waits, moves the head past it, hands each event its
  // record's write, and goes again while more arrived. Writes overlap the next move.
  async function move(site: string, queue: Waiter[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        const { head, written } = await appendAuditEvents(deps, batch.map((w) => w.event), known.get(site));
        if (head) known.set(site, head);
        written.forEach((write, i) => write.then(batch[i]!.resolve, batch[i]!.reject));
      } catch (error) {
        known.delete(site);
        for (const w of batch) w.reject(error);
      }
    }
    waiting.delete(site);
  }

  return (event) =>
    new Promise<AuditRecord>((resolve, reject) => {
      const queue = waiting.get(event.site);
      if (queue) return void queue.push({ event, resolve, reject });
      const fresh: Waiter[] = [{ event, resolve, reject }];
      waiting.set(event.site, fresh);
      void move(event.site, fresh);
    });
}
