import { FerryError, TransientError } from './errors.ts';
import type { Clock } from './clock.ts';

// The per-site lock that keeps a backup window and a purge apart (Cisco CVP: "two backups
// cannot be launched at the same time"; "a backup cannot be launched if a purge is underway,
// and vice versa"; "if a lock is over 12 hours old, the system clears it").
//
// The rules are pure (decideAcquire, decideHeartbeat, decideRelease); SiteLocks applies them
// to a LockTable, a single item per site changed only by compare-and-set on a revision number.
// That needs nothing but conditional writes, so it runs on DynamoDB without transactions and
// on dynalite, and every implementation of the table shares these rules.
//
// The fencing token is the number of grants ever made for the site. It lives in the item and
// survives release (a released lock is the same item without a holder), so it only grows:
// whoever holds token n knows that a holder with a token below n has been fenced off.

export const LOCK_OPERATIONS = ['backup', 'purge'] as const;
export type LockOperation = (typeof LOCK_OPERATIONS)[number];

export const DEFAULT_STALE_LOCK_HOURS = 12;

/** A held lock: who, doing what, since when, last sign of life, and its fencing token. */
export interface HeldLock {
  site: string;
  holder: string;
  operation: LockOperation;
  /** ISO, UTC. */
  acquiredAt: string;
  /** ISO, UTC: acquire or the last heartbeat. Staleness counts from here. */
  heartbeatAt: string;
  token: number;
}

/** The whole state of one site's lock item. */
export interface LockState {
  site: string;
  /** Last fencing token granted (0: never held). */
  token: number;
  /** Present while held. */
  held?: Omit<HeldLock, 'site' | 'token'>;
  /** The last lock cleared as stale, kept for the record (who lost it and when). */
  lastCleared?: HeldLock & { clearedAt: string };
}

export interface AcquireRequest {
  site: string;
  /** Who asks: a workflow execution id, so a retried acquire by the same execution is recognised. */
  holder: string;
  operation: LockOperation;
  /** A lock with no sign of life for longer than this is cleared (default 12 h). */
  staleAfterMs?: number;
}

export type AcquireDecision =
  /** Free, never held, or stale: take it (cleared is the stale lock pushed aside). */
  | { kind: 'grant'; next: LockState; lock: HeldLock; cleared?: HeldLock }
  /** Already ours (a retried acquire whose answer was lost): the same grant again. */
  | { kind: 'reenter'; lock: HeldLock }
  /** Someone else has it and it is not stale. */
  | { kind: 'held'; lock: HeldLock; ageMs: number };

export interface LockGrant extends HeldLock {
  /** True when the holder already had it (idempotent acquire). */
  reentered: boolean;
  /** A stale lock that was cleared to make this grant. */
  cleared?: HeldLock;
}

export type ReleaseOutcome = 'released' | 'already-free' | 'held-by-other';

export interface ReleaseResult {
  site: string;
  token: number;
  outcome: ReleaseOutcome;
  /** Who holds it now, when someone else does (this holder's lock was cleared as stale). */
  holder?: string;
}

/** The site's lock is held by another operation or execution. The workflow retries it. */
export class LockHeldError extends FerryError {
  override readonly name: string = 'LockHeldError';
  constructor(
    readonly lock: HeldLock,
    readonly ageMs: number,
  ) {
    super('conflict', `lock of site ${lock.site} is held by ${lock.holder} (${lock.operation}) since ${lock.acquiredAt}, last heartbeat ${lock.heartbeatAt}`, {
      retryable: true,
    });
  }
}

/** The caller's token no longer holds the lock (released, or cleared as stale and taken by another). Not retryable: stop work. */
export class LockLostError extends FerryError {
  override readonly name: string = 'LockLostError';
  constructor(
    readonly site: string,
    readonly token: number,
    message: string,
  ) {
    super('conflict', message);
  }
}

export function holderOf(state: LockState | undefined): HeldLock | undefined {
  if (!state?.held) return undefined;
  return { site: state.site, token: state.token, ...state.held };
}

/** Time since the last sign of life (acquire or heartbeat), in ms. */
export function lockAgeMs(lock: HeldLock, now: Date): number {
  const last = Math.max(Date.parse(lock.acquiredAt), Date.parse(lock.heartbeatAt));
  return now.getTime() - last;
}

/** Stale means *over* the limit: exactly 12 h old is not yet stale (CVP: "over 12 hours old"). */
export function isStale(lock: HeldLock, now: Date, staleAfterMs: number): boolean {
  return lockAgeMs(lock, now) > staleAfterMs;
}

export function decideAcquire(current: LockState | undefined, request: AcquireRequest, now: Date): AcquireDecision {
  const staleAfterMs = request.staleAfterMs ?? DEFAULT_STALE_LOCK_HOURS * 3_600_000;
  const held = holderOf(current);
  if (held && held.holder === request.holder && held.operation === request.operation) return { kind: 'reenter', lock: held };
  // Every pair of operations excludes the other (backup/backup, backup/purge, purge/purge):
  // the CVP rules leave no pair that may share the site.
  if (held && !isStale(held, now, staleAfterMs)) return { kind: 'held', lock: held, ageMs: lockAgeMs(held, now) };
  const at = now.toISOString();
  const token = (current?.token ?? 0) + 1;
  const next: LockState = {
    site: request.site,
    token,
    held: { holder: request.holder, operation: request.operation, acquiredAt: at, heartbeatAt: at },
    lastCleared: held ? { ...held, clearedAt: at } : current?.lastCleared,
  };
  return { kind: 'grant', next, lock: { site: request.site, token, ...next.held! }, ...(held ? { cleared: held } : {}) };
}

export function decideHeartbeat(current: LockState | undefined, site: string, token: number, now: Date): { next: LockState; lock: HeldLock } {
  const held = holderOf(current);
  if (!current || !held || held.token !== token) {
    const why = held ? `it is now held by ${held.holder} (${held.operation}) with token ${held.token}` : 'it is not held';
    throw new LockLostError(site, token, `lock of site ${site} with token ${token} is lost: ${why}`);
  }
  const next: LockState = { ...current, held: { ...current.held!, heartbeatAt: now.toISOString() } };
  return { next, lock: { ...held, heartbeatAt: now.toISOString() } };
}

export function decideRelease(current: LockState | undefined, site: string, token: number): { next?: LockState; result: ReleaseResult } {
  const held = holderOf(current);
  if (!current || !held) return { result: { site, token, outcome: 'already-free' } };
  // A later token means ours was cleared as stale and granted again: never free someone else's lock.
  if (held.token !== token) return { result: { site, token, outcome: held.token > token ? 'held-by-other' : 'already-free', holder: held.holder } };
  const { held: _released, ...rest } = current;
  return { next: rest, result: { site, token, outcome: 'released' } };
}

// ---- ports ----

/** One item per site, versioned: the only primitive SiteLocks needs from storage. */
export interface LockTable {
  /** The site's item and its revision; undefined when the site never had a lock. Strongly consistent. */
  read(site: string): Promise<{ state: LockState; revision: number } | undefined>;
  /**
   * Writes state as revision expected+1 if the stored revision is still `expected`
   * (undefined: only if no item exists). Returns false when another writer got there first.
   * TransientError when the store is unavailable.
   */
  write(state: LockState, expected: number | undefined): Promise<boolean>;
}

/** The lock as the workflows use it. Implemented once (SiteLocks) over any LockTable. */
export interface LockStore {
  /**
   * Takes the site's lock, clearing a stale one. Idempotent for the same holder and operation
   * (the same grant and token come back). LockHeldError (retryable) when another holder has it.
   */
  acquire(request: AcquireRequest): Promise<LockGrant>;
  /** Moves the last sign of life to now. LockLostError unless `token` holds the lock. */
  heartbeat(site: string, token: number): Promise<HeldLock>;
  /** Frees the lock if `token` holds it. Idempotent; never frees a lock another token holds (reported instead). */
  release(site: string, token: number): Promise<ReleaseResult>;
  /** The current holder, or undefined when free. */
  describe(site: string): Promise<HeldLock | undefined>;
}

const MAX_RACES = 8;

/** LockStore over a LockTable: read, decide, compare-and-set; a lost race reads and decides again. */
export class SiteLocks implements LockStore {
  constructor(
    private readonly table: LockTable,
    private readonly clock: Clock,
  ) {}

  async acquire(request: AcquireRequest): Promise<LockGrant> {
    return this.change<LockGrant>(request.site, (current) => {
      const decision = decideAcquire(current, request, this.clock.now());
      if (decision.kind === 'held') throw new LockHeldError(decision.lock, decision.ageMs);
      if (decision.kind === 'reenter') return { value: { ...decision.lock, reentered: true } };
      return { next: decision.next, value: { ...decision.lock, reentered: false, ...(decision.cleared ? { cleared: decision.cleared } : {}) } };
    });
  }

  async heartbeat(site: string, token: number): Promise<HeldLock> {
    return this.change(site, (current) => {
      const { next, lock } = decideHeartbeat(current, site, token, this.clock.now());
      return { next, value: lock };
    });
  }

  async release(site: string, token: number): Promise<ReleaseResult> {
    return this.change(site, (current) => {
      const { next, result } = decideRelease(current, site, token);
      return { next, value: result };
    });
  }

  async describe(site: string): Promise<HeldLock | undefined> {
    return holderOf((await this.table.read(site))?.state);
  }

  private async change<T>(site: string, decide: (current: LockState | undefined) => { next?: LockState; value: T }): Promise<T> {
    for (let race = 0; race < MAX_RACES; race++) {
      const read = await this.table.read(site);
      const { next, value } = decide(read?.state);
      if (!next || (await this.table.write(next, read?.revision))) return value;
    }
    throw new TransientError(`lock of site ${site}: lost ${MAX_RACES} write races in a row`);
  }
}

/** LockTable in memory, for tests and the local demo. Same compare-and-set as DynamoDB's condition. */
export class MemoryLockTable implements LockTable {
  private readonly items = new Map<string, { state: LockState; revision: number }>();

  async read(site: string): Promise<{ state: LockState; revision: number } | undefined> {
    const item = this.items.get(site);
    return item && structuredClone(item);
  }

  async write(state: LockState, expected: number | undefined): Promise<boolean> {
    const item = this.items.get(state.site);
    if (item?.revision !== expected) return false;
    this.items.set(state.site, { state: structuredClone(state), revision: (expected ?? 0) + 1 });
    return true;
  }
}

/** Where a site's lock lives in the catalogue table: one item per site, beside the catalogue's own items. */
export function lockItemKey(site: string): { pk: string; sk: string } {
  return { pk: `LOCK#${site}`, sk: 'LOCK' };
}
