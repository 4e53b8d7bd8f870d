import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../../core/errors.ts';

// One agent per state directory. Two processes sharing one (a service and a cron job, or two
// cron runs that overlap) would each trust their own view of what was seen and shipped, and
// could report the same loss twice or ship a batch twice. The lock is a file holding the
// owner's pid and host; a lock whose process is gone (kill -9, a reboot) is taken over.
// Exclusion between live processes is the kernel's (an exclusive create), so the file is not
// synced: after a crash of the machine no agent holds it, and a lock the crash left empty or
// absent reads as free, which it is. (A sync here flushed whatever the file system had pending,
// the last pass's index files included: up to 0.2 s of every cron start.)
// Two agents starting at once must not both get it: the lock appears whole (written aside, then
// hard-linked into place, so no agent ever reads a half-written lock as a torn, free one), and a
// lock judged stale is moved aside and looked at again before it is removed: if another agent
// took the directory between the look and the move, what was moved is its lock, put back, and
// this agent stops as it would before any live lock. (Left open: a third agent taking the free
// directory in the instant a moved lock is put back.)

export class StateLockedError extends FerryError {
  override readonly name = 'StateLockedError';
  constructor(message: string) {
    super('conflict', message);
  }
}

interface Owner {
  pid: number;
  host: string;
  since: string;
  /**
   * The process's start, in clock ticks since boot (/proc/{pid}/stat, Linux): it tells the very
   * process that took the lock from a later one with its pid, whatever the wall clock did since
   * (a clock set forward by more than the uptime made a live agent's lock look older than the
   * boot, and a second agent took the state directory from it).
   */
  started?: string;
}

/** The process's start time in clock ticks since boot, or undefined where /proc cannot say. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (in parentheses, which may hold spaces): state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that took the lock still runs: its pid with the start it recorded, else (no record) the pid alive since the boot. */
function holds(owner: Owner, now: Date): boolean {
  if (owner.started !== undefined) {
    const started = processStart(owner.pid);
    if (started !== undefined) return started === owner.started;
  }
  return alive(owner.pid) && !beforeBoot(owner.since, now);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StateLock {
  private constructor(
    private readonly file: string,
    private readonly record: string,
  ) {}

  /**
   * Takes the state directory's lock or throws StateLockedError naming the agent that holds it.
   * `seam.judgedStale` is called between judging a lock stale and moving it aside (tests use it
   * to let another agent take the directory in that instant).
   */
  static acquire(directory: string, now: Date, seam: { judgedStale?: () => void } = {}): StateLock {
    const file = join(directory, 'agent.lock');
    const started = processStart(process.pid);
    const record = JSON.stringify({ pid: process.pid, host: hostname(), since: now.toISOString(), ...(started ? { started } : {}) } satisfies Owner);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (create(file, record)) return new StateLock(file, record);
      const seen = readLock(file);
      if (seen === undefined) continue; // freed meanwhile: take it
      const refusal = refusalBy(parseOwner(seen), directory, file, now);
      if (refusal) throw refusal;
      seam.judgedStale?.();
      removeIfStill(file, seen, directory);
    }
    throw new StateLockedError(`cannot take the lock ${file}: another agent keeps taking it`);
  }

  /** Frees the directory: removes the lock if it is still this agent's. */
  release(): void {
    if (readLock(this.file) === this.record) rmSync(this.file, { force: true });
  }
}

/**
 * The refusal a lock naming `owner` means, or undefined when the lock is free to take over.
 * Another host's pid cannot be checked from here: a state directory on shared storage stays
 * locked until freed by hand. A lock taken before this machine booted cannot be held by a live
 * process, whatever process now has its pid (after a power cut the lock file is all that is
 * left). A torn lock (no owner) is nobody's.
 */
function refusalBy(owner: Owner | undefined, directory: string, file: string, now: Date): StateLockedError | undefined {
  return owner && (owner.host !== hostname() || holds(owner, now)) ? lockedBy(owner, directory, file) : undefined;
}

/**
 * What `StateLock.acquire` would refuse with now, judged by the same rules, without taking or
 * moving anything: the refusal, or undefined when the lock is absent, torn, stale or cannot be
 * read (acquire then decides, and takes a stale lock over). `agent run` asks it before loading
 * the rest of the agent, so a cron run beside a long pass stops at once.
 */
export function lockRefusal(directory: string, now: Date): StateLockedError | undefined {
  const file = join(directory, 'agent.lock');
  let seen: string | undefined;
  try {
    seen = readLock(file);
  } catch {
    return undefined;
  }
  return seen === undefined ? undefined : refusalBy(parseOwner(seen), directory, file, now);
}

function lockedBy(owner: Owner, directory: string, file: string): StateLockedError {
  return new StateLockedError(
    `another agent (pid ${owner.pid} on ${owner.host}, since ${owner.since}) is using the state directory ${directory}; ` +
      `run one agent per state directory (a service or a cron job, not both). If no agent is running, remove ${file}.`,
  );
}

/** The lock's text, or undefined when there is none. */
function readLock(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The owner a lock names; undefined for one torn by a crash of the machine (nobody holds it). */
function parseOwner(text: string): Owner | undefined {
  try {
    return JSON.parse(text) as Owner;
  } catch {
    return undefined;
  }
}

// File systems without hard links (FAT, some network shares): the lock is created and written in
// place there, as before, and a lock read in the instant between the two reads as torn.
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Creates the lock holding `record`, whole, unless one exists (false). */
function create(file: string, record: string): boolean {
  const aside = `${file}.${process.pid}.new`;
  try {
    // Inside the try: on a full disk the write creates the file and fails, and each cron run
    // would otherwise leave its empty agent.lock.<pid>.new behind.
    writeFileSync(aside, record);
    linkSync(aside, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
    return createInPlace(file, record);
  } finally {
    rmSync(aside, { force: true });
  }
}

function createInPlace(file: string, record: string): boolean {
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, record);
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes the stale lock that read as `seen`, unless another agent replaced it meanwhile: the
 * lock is moved aside (one agent's move wins) and read again; a lock that is not the one judged
 * stale is another agent's, just taken, and goes back into place, and this agent stops.
 */
function removeIfStill(file: string, seen: string, directory: string): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // another agent moved it first
    throw error;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== seen) {
    try {
      linkSync(aside, file);
    } catch {
      // A third agent took the free directory meanwhile: the lock in place is its own.
    }
    rmSync(aside, { force: true });
    const owner = parseOwner(moved);
    throw owner ? lockedBy(owner, directory, file) : new StateLockedError(`cannot take the lock ${file}: another agent took it`);
  }
  rmSync(aside, { force: true });
}

/**
 * Who holds the state directory now, for `agent status`: the lock's pid, host and since, and
 * whether that process runs (undefined: another host's, which cannot be asked from here).
 * Undefined when nobody holds it (no lock, a torn one, or one taken before this machine booted).
 */
export function lockHolder(directory: string, now: Date): (Owner & { running?: boolean }) | undefined {
  let owner: Owner;
  try {
    owner = JSON.parse(readFileSync(join(directory, 'agent.lock'), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
  if (owner.host !== hostname()) return owner;
  if (!holds(owner, now)) return undefined;
  return { ...owner, running: true };
}

/** True when `since` is earlier than this machine's last boot (os.uptime before `now`, a minute of slack). */
export function beforeBoot(since: string, now: Date, uptimeSeconds = uptime()): boolean {
  const t = Date.parse(since);
  return Number.isFinite(t) && t < now.getTime() - uptimeSeconds * 1000 - 60_000;
}
