import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateLock, StateLockedError, beforeBoot, lockRefusal, processStart } from '../../agent/state/state-lock.ts';

// One agent per state directory: a lock file naming its holder, taken over when the holder is
// gone. After a power cut only the file is left, and its pid may belong to another process now.

const stateWith = (owner: { pid: number; since: string; started?: string }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
  writeFileSync(join(dir, 'agent.lock'), JSON.stringify({ ...owner, host: hostname() }));
  return dir;
};

describe('the state directory lock', () => {
  it('refuses while a live process took it since this boot, naming it', () => {
    const now = new Date();
    const dir = stateWith({ pid: process.pid, since: new Date(now.getTime() - 60_000).toISOString() });
    expect(() => StateLock.acquire(dir, now)).toThrow(StateLockedError);
    expect(() => StateLock.acquire(dir, now)).toThrow(`another agent (pid ${process.pid} on ${hostname()}`);
  });

  it('takes over a lock from before this machine booted, even when its pid is alive again (another process)', () => {
    const now = new Date();
    const dir = stateWith({ pid: process.pid, since: new Date(now.getTime() - uptime() * 1000 - 3600_000).toISOString() });
    StateLock.acquire(dir, now).release();
    const mine = stateWith({ pid: 2 ** 22 + 12345, since: now.toISOString() });
    const lock = StateLock.acquire(mine, now);
    expect(JSON.parse(readFileSync(join(mine, 'agent.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it("keeps a live agent's lock when the clock is set forward past the machine's uptime (its process start, not the wall clock, tells it apart)", () => {
    const taken = new Date();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
    const lock = StateLock.acquire(dir, taken);
    expect(JSON.parse(readFileSync(join(dir, 'agent.lock'), 'utf8'))).toMatchObject({ pid: process.pid, started: processStart(process.pid) });
    // NTP steps the clock forward by more than the uptime: by the wall clock the lock predates the boot.
    const later = new Date(taken.getTime() + uptime() * 1000 + 3600_000);
    expect(() => StateLock.acquire(dir, later)).toThrow(StateLockedError);
    lock.release();
    // A lock whose recorded start is not its pid's (the pid reused by another process) is free.
    const reused = stateWith({ pid: process.pid, since: taken.toISOString(), started: '1' });
    StateLock.acquire(reused, taken).release();
  });

  it('gives a stale lock to one of two agents taking it over at once: the later one finds the lock just taken, puts it back and stops', () => {
    const now = new Date();
    const dir = stateWith({ pid: 2 ** 22 + 12345, since: now.toISOString() });
    let first: StateLock | undefined;
    // The second agent judges the lock stale; before it removes it, the first agent takes the directory.
    const second = () => StateLock.acquire(dir, now, { judgedStale: () => (first ??= StateLock.acquire(dir, now)) });
    expect(second).toThrow(StateLockedError);
    expect(second).toThrow(`another agent (pid ${process.pid} on ${hostname()}`);
    expect(first).toBeDefined();
    const held = readFileSync(join(dir, 'agent.lock'), 'utf8');
    expect(JSON.parse(held)).toMatchObject({ pid: process.pid, since: now.toISOString() });
    first!.release();
    expect(existsSync(join(dir, 'agent.lock'))).toBe(false);
    // Nothing is left beside the lock: not the record written aside, not the stale lock moved aside.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves a lock another agent holds in place when this one releases a lock it no longer holds', () => {
    const now = new Date();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
    const lock = StateLock.acquire(dir, now);
    const other = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date(now.getTime() + 1000).toISOString() });
    writeFileSync(join(dir, 'agent.lock'), other);
    lock.release();
    expect(readFileSync(join(dir, 'agent.lock'), 'utf8')).toBe(other);
  });

  it('is judged without taking it (lockRefusal) exactly as acquire judges it: refused for a live holder and another host, free when the holder is dead, its pid reused or from before the boot, or the lock torn or absent', () => {
    const now = new Date();
    const judged = (dir: string) => {
      const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]);
      const refusal = lockRefusal(dir, now);
      // A look only: nothing taken, moved or removed.
      expect(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')])).toEqual(before);
      let acquired: string | undefined;
      try {
        StateLock.acquire(dir, now).release();
      } catch (error) {
        acquired = (error as Error).message;
      }
      expect(refusal?.message).toBe(acquired);
      return refusal;
    };
    const live = judged(stateWith({ pid: process.pid, since: now.toISOString(), started: processStart(process.pid) }));
    expect(live).toBeInstanceOf(StateLockedError);
    expect(live?.message).toContain(`another agent (pid ${process.pid} on ${hostname()}`);
    const elsewhere = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
    writeFileSync(join(elsewhere, 'agent.lock'), JSON.stringify({ pid: 2 ** 22 + 1, host: 'recorder-2', since: now.toISOString() }));
    expect(judged(elsewhere)?.message).toContain('another agent (pid 4194305 on recorder-2');
    // kill -9: the pid runs no more.
    expect(judged(stateWith({ pid: 2 ** 22 + 12345, since: now.toISOString(), started: '1' }))).toBeUndefined();
    // The pid runs, another process (its start is not the recorded one).
    expect(judged(stateWith({ pid: process.pid, since: now.toISOString(), started: '1' }))).toBeUndefined();
    expect(judged(stateWith({ pid: process.pid, since: new Date(now.getTime() - uptime() * 1000 - 3600_000).toISOString() }))).toBeUndefined();
    const torn = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
    writeFileSync(join(torn, 'agent.lock'), '{"pid":12');
    expect(judged(torn)).toBeUndefined();
    expect(judged(mkdtempSync(join(tmpdir(), 'ferry-lock-')))).toBeUndefined();
  });

  it('counts a time as before the boot only past a minute of slack', () => {
    const now = new Date('2026-12-05T10:00:00Z');
    expect(beforeBoot('2026-12-05T08:58:00Z', now, 3600)).toBe(true);
    expect(beforeBoot('2026-12-05T08:59:30Z', now, 3600)).toBe(false);
    expect(beforeBoot('garbage', now, 3600)).toBe(false);
  });
});
