import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { decideAcquire, decideHeartbeat, decideRelease, isStale, LockHeldError, LockLostError, MemoryLockTable, SiteLocks, type LockState } from '../../core/lock.ts';

// The lock rules, pure: who gets the lock, when a lock is stale, what the fencing token does.

const HOUR = 3_600_000;
const T0 = new Date('2026-03-01T02:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const held = (over: Partial<NonNullable<LockState['held']>> = {}, token = 3): LockState => ({
  site: 's',
  token,
  held: { holder: 'exec-1', operation: 'purge', acquiredAt: T0.toISOString(), heartbeatAt: T0.toISOString(), ...over },
});

describe('lock rules', () => {
  it('grants a never-held or free lock with the next token', () => {
    expect(decideAcquire(undefined, { site: 's', holder: 'a', operation: 'backup' }, T0)).toMatchObject({ kind: 'grant', lock: { token: 1, holder: 'a', operation: 'backup', acquiredAt: T0.toISOString() } });
    expect(decideAcquire({ site: 's', token: 9 }, { site: 's', holder: 'a', operation: 'purge' }, T0)).toMatchObject({ kind: 'grant', lock: { token: 10 } });
  });

  it.each([
    ['backup', 'backup'],
    ['backup', 'purge'],
    ['purge', 'backup'],
    ['purge', 'purge'],
  ] as const)('a %s excludes a %s by another holder', (heldOp, asked) => {
    const d = decideAcquire(held({ operation: heldOp }), { site: 's', holder: 'exec-2', operation: asked }, at(HOUR));
    expect(d).toMatchObject({ kind: 'held', ageMs: HOUR, lock: { holder: 'exec-1', operation: heldOp } });
  });

  it('lets the same holder re-enter with the same operation (a retried acquire), keeping the token', () => {
    expect(decideAcquire(held(), { site: 's', holder: 'exec-1', operation: 'purge' }, at(HOUR))).toMatchObject({ kind: 'reenter', lock: { token: 3 } });
    expect(decideAcquire(held(), { site: 's', holder: 'exec-1', operation: 'backup' }, at(HOUR)).kind).toBe('held');
  });

  it('clears a lock over 12 h without a sign of life; exactly 12 h or 11 h 59 min is not stale', () => {
    const request = { site: 's', holder: 'exec-2', operation: 'backup' as const };
    expect(decideAcquire(held(), request, at(12 * HOUR + 1000))).toMatchObject({ kind: 'grant', lock: { token: 4 }, cleared: { holder: 'exec-1', token: 3 } });
    expect(decideAcquire(held(), request, at(12 * HOUR)).kind).toBe('held');
    expect(decideAcquire(held(), request, at(11 * HOUR + 59 * 60_000)).kind).toBe('held');
  });

  it('counts staleness from the last heartbeat, and the stale age is configuration', () => {
    const beating = held({ heartbeatAt: at(10 * HOUR).toISOString() });
    expect(decideAcquire(beating, { site: 's', holder: 'x', operation: 'backup' }, at(13 * HOUR)).kind).toBe('held');
    expect(isStale({ site: 's', token: 1, ...beating.held! }, at(13 * HOUR), 2 * HOUR)).toBe(true);
    expect(decideAcquire(beating, { site: 's', holder: 'x', operation: 'backup', staleAfterMs: 2 * HOUR }, at(13 * HOUR)).kind).toBe('grant');
  });

  it('heartbeat only by the token holder; release only by the token holder, idempotent, never someone else’s', () => {
    expect(decideHeartbeat(held(), 's', 3, at(HOUR)).lock.heartbeatAt).toBe(at(HOUR).toISOString());
    expect(() => decideHeartbeat(held(), 's', 2, at(HOUR))).toThrow(LockLostError);
    expect(() => decideHeartbeat({ site: 's', token: 3 }, 's', 3, at(HOUR))).toThrow(/not held/);
    expect(decideRelease(held(), 's', 3)).toMatchObject({ next: { site: 's', token: 3 }, result: { outcome: 'released' } });
    expect(decideRelease(held(), 's', 3).next?.held).toBeUndefined();
    expect(decideRelease({ site: 's', token: 3 }, 's', 3)).toEqual({ result: { site: 's', token: 3, outcome: 'already-free' } });
    expect(decideRelease(held(), 's', 2)).toMatchObject({ result: { outcome: 'held-by-other', holder: 'exec-1' } });
    expect(decideRelease(held(), 's', 2).next).toBeUndefined();
  });
});

describe('SiteLocks', () => {
  it('increments the fencing token on every grant, across releases and stale clearances', async () => {
    const clock = new ManualClock(T0);
    const locks = new SiteLocks(new MemoryLockTable(), clock);
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const g = await locks.acquire({ site: 's', holder: `e${i}`, operation: 'backup' });
      tokens.push(g.token);
      await locks.release('s', g.token);
    }
    await locks.acquire({ site: 's', holder: 'dead', operation: 'purge' });
    clock.advance(13 * HOUR);
    tokens.push((await locks.acquire({ site: 's', holder: 'next', operation: 'backup' })).token);
    expect(tokens).toEqual([1, 2, 3, 5]);
  });

  it('LockHeldError carries the holder and is retryable with a stable name', async () => {
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(T0));
    await locks.acquire({ site: 's', holder: 'a', operation: 'purge' });
    const error = await locks.acquire({ site: 's', holder: 'b', operation: 'backup' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockHeldError);
    expect(error).toMatchObject({ name: 'LockHeldError', retryable: true, lock: { holder: 'a', operation: 'purge' } });
  });
});
