import { hostname } from 'node:os';
import type { AgentConfig } from '../core/config.ts';
import { shippedTotalsOf, type ShippedTotals } from '../core/fleet-shipped.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat, type HeartbeatSource } from '../core/fleet.ts';
import { binlogRpo, openAlerts, recentLossesOf } from './heartbeat-contents.ts';
import type { LossEntry } from './state/loss-log.ts';
import { isPackManifestKey } from '../core/layout.ts';
import type { Clock } from '../core/clock.ts';
import { AlreadyExistsError, TransientError, messageOf } from '../core/errors.ts';
import type { BlobStore } from '../core/ports.ts';
import type { ArtefactRecord } from './artefact-ledger.ts';
import type { Logger } from './log.ts';
import { readJsonFile, writeFileAtomic } from './state/atomic-file.ts';
import { SHARED_SITE_WINDOW_MS, heartbeatMemoryFile, reachedStore, readHeartbeatMemory, rememberOwn, rememberStore, storeAddress, type HeartbeatMemory, type SourceMemory } from './heartbeat-memory.ts';
import { freeBytes } from './state/state-space.ts';
import { siteHeartbeats } from './site-heartbeats.ts';
import { readRefusedAgents, refusedReplaced, type RefusedAgent } from '../core/refused-agent.ts';
import { readStateBirth } from './state/state-birth.ts';
import { shippingError } from './store-refusal.ts';

// The agent's heartbeat: after a pass, one small new object under the site's own
// `heartbeats/{site}/` prefix (core/heartbeat-key.ts says why there), PUT with If-None-Match
// as the write-once role requires. What the cloud cannot see by itself goes in: per source the
// last good offsite copy, the recordings backlog and its time to loss, the binlog RPO, losses.
//
// Time to loss: the recorder evicts its oldest batch when the disk is full, so the oldest
// unshipped batch is safe at least until the free space is written full. Estimate:
// free bytes (statfs of the source path) / write rate, the rate being the bytes that appeared
// in the source between two passes (shipped + change in backlog), kept in `heartbeat.json` in
// the state directory so that cron passes (separate processes) measure it too. A lower bound:
// batches older than ours that are still on disk go first and buy more time.
//
// Written at most every `HEARTBEAT_MIN_SECONDS` (passes run every 30 s by default; 2,880 objects
// a day per site would be noise) — the dead-man's switch allows 90 min by default — except
// after a pass that lost or failed something, or whose losses the last heartbeat did not carry:
// that one goes out at once, so the fleet view and the daily report see it. A failed heartbeat
// is logged and never fails the pass. The first heartbeat of each UTC day is written a second
// time under `heartbeats-daily/`, kept a year where the others are kept a month (writeDaily).
//
// A pass that runs longer than HEARTBEAT_MIN_SECONDS (a backlog under a bandwidth limit, a first
// pass of a big site) also writes heartbeats while it runs (agent/pass-heartbeat.ts): they say
// so (`passRunning`) and measure nothing; the first heartbeat after one goes out at once.

export const HEARTBEAT_MIN_SECONDS = 300;
export { SHARED_SITE_WINDOW_MS, keptOwnTimes } from './heartbeat-memory.ts';

export interface PassBacklog {
  batches?: number;
  bytes: number;
  oldest?: { sinceMs: number; batch?: string };
}

export interface PassView {
  /** The journal's totals; with what it shipped since the state directory began (packs…), the heartbeat carries that too. */
  totals: { bytes: number; lostBatches: number; lostArtefacts: number; foundBytes?: number } & Partial<ShippedTotals>;
  /** A tree source has no backlog (a snapshot is whole or absent). */
  sources: Array<{ name: string; type: string; backlog?: PassBacklog; problem?: string; lastManifest?: string; lastSnapshot?: { takenAt: string; manifestKey: string } }>;
  lastCycle?: { failed: number; lost: number };
  lastError?: string;
  /** Manifest keys published in this pass, in order. */
  manifests: readonly string[];
  /** The alerts the agent holds open after the pass. */
  openAlerts?: ReadonlyArray<{ key: string; subject: string; severity: 'info' | 'warning' | 'critical'; raisedAt: string }>;
  /** The store did not answer a request of this pass in its time: the heartbeat is tried, the site's others are not listed first. */
  storeSilent?: boolean;
}

export interface HeartbeatDeps {
  config: Pick<AgentConfig, 'site' | 'state' | 'sources' | 'cloud'>;
  /** `list` and `get` (optional) read the site's newest heartbeat, to find another agent writing as the same site. */
  store: Pick<BlobStore, 'put'> & Partial<Pick<BlobStore, 'list' | 'get'>>;
  clock: Clock;
  log: Logger;
  agentVersion: string;
  artefacts: { records(source: string): ArtefactRecord[] };
  /** Every loss the agent recorded (the loss log): the recent ones travel with the heartbeat. */
  losses?: { all(): readonly LossEntry[] };
  /** Free bytes on the file system holding `path` (tests inject). */
  freeBytes?: (path: string) => Promise<number | undefined>;
}

/** The newest of a source's artefact records (final, partial, or either). */
export const newestRecord = (records: ArtefactRecord[], partial?: boolean) => records.filter((r) => partial === undefined || r.partial === partial).sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];

export class HeartbeatWriter {
  private readonly file: string;
  private readonly memory: HeartbeatMemory;

  /**
   * Another agent whose heartbeat, under this site's name, was the newest when this one wrote
   * (within SHARED_SITE_WINDOW_MS); `copy`: it has this agent's id (a copy of its state
   * directory); `replacedAt`: its last heartbeat was written before this state directory began
   * (then): the agent this one replaced (a host rebuilt), not a second one, unless it writes again.
   */
  otherAgent: { id: string; host: string; at: string; copy?: true; replacedAt?: string } | undefined;

  /** Agents refused as this site in the last REFUSED_SHOW_HOURS when this one wrote (an old primary back after a failover, core/refused-agent.ts); undefined when not looked at or not read. */
  refusedAgents: RefusedAgent[] | undefined;

  constructor(private readonly deps: HeartbeatDeps) {
    this.file = heartbeatMemoryFile(deps.config.state);
    this.memory = readHeartbeatMemory(deps.config.state);
  }

  /**
   * The newest heartbeat of the last hour under this site's name that another agent wrote: two
   * agents configured with one site name mix their recordings in one catalogue, and one live
   * agent hides a dead one from the fleet view. Every heartbeat of the hour is looked at, not
   * only the newest (which is soon this agent's own again while the other goes on), and this
   * agent's own are known by the times it wrote them (`recent`, in heartbeat.json): a copy of the
   * state directory (a cloned VM, a moved host left running) has the same id, host and path, but
   * not the same heartbeats. Without that memory (the state lost) the same host and state
   * directory, or the same id, is this agent. Never throws (a heartbeat that cannot be read says nothing).
   */
  private async newestOther(now: Date): Promise<HeartbeatWriter['otherAgent']> {
    const own = new Set(this.memory.recent ?? []);
    const since = Date.parse(this.memory.recentSince ?? now.toISOString());
    const born = readStateBirth(this.deps.config.state)?.at;
    const restoredOver = this.memory.restoredOver === undefined ? undefined : Date.parse(this.memory.restoredOver);
    try {
      for await (const h of siteHeartbeats(this.deps.store, this.deps.config.site, 1000, now.getTime())) {
        if (now.getTime() - h.t > SHARED_SITE_WINDOW_MS) return undefined;
        if (own.has(h.at)) continue;
        const other = (await h.read())?.agent;
        if (!other) continue;
        // Written by this directory before it went back to an older copy (restoredOver): its own.
        if (other.id === this.memory.agentId && restoredOver !== undefined && h.t <= restoredOver) continue;
        const same = h.t < since && (other.id === this.memory.agentId || (other.host === hostname() && other.state === this.deps.config.state));
        if (same) continue;
        if (other.id === this.memory.agentId) return { id: other.id, host: other.host, at: h.at, copy: true };
        // Newest first: when the newest other heartbeat is older than this state directory, so are all of theirs.
        return { id: other.id, host: other.host, at: h.at, ...(born !== undefined && h.t < Date.parse(born) ? { replacedAt: born } : {}) };
      }
    } catch {
      return undefined;
    }
    return undefined;
  }

  /** The site's refused agents (one LIST, one GET each): undefined when the store cannot list or read them. Never throws. */
  private async refused(now: number): Promise<RefusedAgent[] | undefined> {
    const { list, get } = this.deps.store;
    if (!list || !get) return undefined;
    return (await readRefusedAgents({ list: list.bind(this.deps.store), get: get.bind(this.deps.store) }, this.deps.config.site, now).catch(() => undefined))?.refused;
  }

  /** Builds the heartbeat of this pass and remembers what the next one compares with. */
  async build(pass: PassView): Promise<Heartbeat> {
    const now = this.deps.clock.now();
    // What left the backlog: sent, or found already offsite (the recorder's rate counts both).
    const gone = pass.totals.bytes + (pass.totals.foundBytes ?? 0);
    const shippedDelta = Math.max(0, gone - (this.memory.shippedBytes ?? gone));
    this.memory.shippedBytes = gone;
    const packManifests = pass.manifests.filter(isPackManifestKey);
    const recordingSources = this.deps.config.sources.filter((s) => s.type === 'recordings');
    const sources: HeartbeatSource[] = [];
    for (const source of this.deps.config.sources) {
      const status = pass.sources.find((s) => s.name === source.name);
      const mem = (this.memory.sources[source.name] ??= {});
      const out: HeartbeatSource = { name: source.name, type: source.type, ...(status?.problem ? { problem: status.problem } : {}) };
      mem.problem = status?.problem;
      if (source.type === 'recordings') {
        // The source's own last pack of the pass; with one source (a status without it, from an
        // agent before it was kept) every pack manifest of the pass is its own.
        const own = status?.lastManifest ?? (recordingSources.length === 1 ? packManifests.at(-1) : undefined);
        if (own) mem.lastGood = { at: now.toISOString(), key: own };
        if (status?.backlog) await this.recordings(source.path, status.backlog, shippedDelta, mem, now, out);
      } else if (source.type === 'tree') {
        if (status?.lastSnapshot) mem.lastGood = { at: status.lastSnapshot.takenAt, key: status.lastSnapshot.manifestKey };
      } else {
        mem.lastGood = artefactCopies(this.deps, source, now, out) ?? mem.lastGood;
      }
      if (mem.lastGood) out.lastGood = mem.lastGood;
      sources.push(out);
    }
    // Remembered whether this heartbeat goes out or waits its turn: a mid-pass heartbeat carries it.
    this.memory.lastPass = { at: now.toISOString(), failed: pass.lastCycle?.failed ?? 0, lost: pass.lastCycle?.lost ?? 0, ...(pass.lastError ? { error: pass.lastError.slice(0, 300) } : {}) };
    return heartbeatAround(this.deps, this.memory, now, { sources, losses: pass.totals.lostBatches + pass.totals.lostArtefacts, lastPass: this.memory.lastPass, alerts: pass.openAlerts, ...shippedOf(pass.totals) });
  }

  private async recordings(path: string, backlog: PassBacklog, shippedDelta: number, mem: SourceMemory, now: Date, out: HeartbeatSource): Promise<void> {
    backlogOf(backlog, now, out);
    // With one recordings source the shipped bytes are its own; with several the rate is shared out evenly (rough, and still a lower bound).
    const share = shippedDelta / Math.max(1, this.deps.config.sources.filter((s) => s.type === 'recordings').length);
    const seen = (mem.seenBytes ?? 0) + share + backlog.bytes - (mem.backlogBytes ?? 0);
    if (mem.seenAt !== undefined && mem.seenBytes !== undefined) {
      const seconds = (now.getTime() - Date.parse(mem.seenAt)) / 1000;
      const rate = seconds > 0 ? Math.max(0, seen - mem.seenBytes) / seconds : undefined;
      if (rate !== undefined) mem.rate = mem.rate === undefined ? rate : 0.5 * mem.rate + 0.5 * rate;
    }
    mem.seenBytes = seen;
    mem.seenAt = now.toISOString();
    mem.backlogBytes = backlog.bytes;
    await timeToLoss(this.deps, path, mem.rate, out);
  }

  /**
   * The first heartbeat of each UTC day goes to `heartbeats-daily/` too, whose objects the bucket
   * keeps HEARTBEAT_DAILY_KEEP_DAYS (the others HEARTBEAT_KEEP_DAYS): a site that goes silent is
   * then "silent since" its last day, not "never heard from", once its recent heartbeats expired.
   * Without the paths of its lost recordings (a file name can hold a caller's number: they are
   * kept the month the others are, not the year), counts and batches kept. Its failure is logged
   * and tried again with the next heartbeat; it never fails the heartbeat.
   */
  private async writeDaily(heartbeat: Heartbeat): Promise<void> {
    if (this.memory.lastDaily?.slice(0, 10) === heartbeat.at.slice(0, 10)) return;
    const key = heartbeatKey(this.deps.config.site, new Date(heartbeat.at), { agent: this.memory.agentId, dataClass: 'heartbeats-daily' });
    const kept: Heartbeat = { ...heartbeat, ...(heartbeat.recentLosses ? { recentLosses: heartbeat.recentLosses.map((l) => ({ ...l, paths: [] })) } : {}) };
    try {
      await this.deps.store.put(key, Buffer.from(JSON.stringify(kept)), { ifNoneMatch: true, contentType: 'application/json' }).catch((error: unknown) => {
        if (!(error instanceof AlreadyExistsError)) throw error;
      });
      this.memory.lastDaily = heartbeat.at;
    } catch (error) {
      this.deps.log.warn('daily heartbeat not written', { key, error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Why the last write failed (the store refused or could not be reached); undefined after one that did not fail. */
  failure: string | undefined;

  /** Writes the pass's heartbeat unless one went out less than HEARTBEAT_MIN_SECONDS ago; never throws (a failure is in `failure`). */
  async write(pass: PassView): Promise<string | undefined> {
    this.failure = undefined;
    this.failedIn = undefined;
    this.unreachableSince = undefined;
    let key: string | undefined;
    try {
      const heartbeat = await this.build(pass);
      // A pass that lost something, failures other than the last heartbeat's, or losses it did not
      // carry, go out at once; a memory from the future (a clock set back) holds nothing back.
      const since = this.memory.lastWritten === undefined ? Infinity : Date.parse(heartbeat.at) - Date.parse(this.memory.lastWritten);
      // A pass that shipped goes out too: a copy of the state directory taken after it (a backup)
      // is then found older than the store (staleState), whatever the interval.
      // So does an alert raised or resolved: the fleet view shows what the agent holds open.
      const alertKeys = (heartbeat.alerts ?? []).map((a) => a.key).sort();
      const alertsMoved = alertKeys.join('\n') !== (this.memory.lastAlerts ?? []).join('\n');
      // So does the first after a mid-pass heartbeat (agent/pass-heartbeat.ts): the site no longer reads as mid-pass.
      const news = this.memory.midPass !== undefined || heartbeat.lastPass.lost > 0 || heartbeat.lastPass.failed !== (this.memory.lastFailed ?? 0) || heartbeat.losses !== this.memory.lastLosses || pass.manifests.length > 0 || alertsMoved;
      const due = news || since < 0 || since >= HEARTBEAT_MIN_SECONDS * 1000;
      if (due) {
        // A store that did not answer this pass would keep the listing waiting as long: the heartbeat (which says so) goes first.
        this.otherAgent = pass.storeSilent ? undefined : await this.newestOther(new Date(heartbeat.at));
        // One this heartbeat replaces (this host failed back under a new state directory) is over, as on the fleet row.
        this.refusedAgents = pass.storeSilent ? undefined : (await this.refused(Date.parse(heartbeat.at)))?.filter((r) => !refusedReplaced(r, [heartbeat]));
        key = heartbeatKey(this.deps.config.site, new Date(heartbeat.at), { agent: this.memory.agentId });
        // This agent's own heartbeats of the last hour, told from another agent's by their times.
        rememberOwn(this.memory, heartbeat.at);
        // A state directory that cannot take it (its disk full) does not keep the heartbeat from the cloud.
        const saved = this.save();
        // One written under the same key (the same millisecond) already speaks for this instant.
        await this.deps.store.put(key, Buffer.from(JSON.stringify(heartbeat)), { ifNoneMatch: true, contentType: 'application/json' }).catch((error: unknown) => {
          if (!(error instanceof AlreadyExistsError)) throw error;
        });
        await this.writeDaily(heartbeat);
        if (saved) throw saved;
        this.memory.lastWritten = heartbeat.at;
        this.memory.lastLosses = heartbeat.losses;
        this.memory.lastFailed = heartbeat.lastPass.failed;
        this.memory.lastAlerts = alertKeys;
        rememberStore(this.memory, this.deps.config.cloud, heartbeat.at);
        delete this.memory.midPass;
      }
      const saved = this.save();
      if (saved) throw saved;
      return key;
    } catch (error) {
      this.failedIn = error instanceof StateNotSavedError ? 'state' : 'store';
      this.failure = this.failedIn === 'store' ? this.storeFailure(error) : messageOf(error);
      this.deps.log.warn(this.failedIn === 'state' ? 'heartbeat memory not saved in the state directory' : 'heartbeat not written', { error: this.failure });
      return this.failedIn === 'state' ? key : undefined;
    }
  }

  /** What the store's failure says; the store not reached (the line down): since the last heartbeat that went out (end-of-pass or mid-pass, kept in heartbeat.json), to the store configured now. */
  private storeFailure(error: unknown): string {
    const address = storeAddress(this.deps.config.cloud), was = reachedStore(this.memory) ?? address;
    if (error instanceof TransientError && was === address) this.unreachableSince = [this.memory.lastWritten, this.memory.midPassOut].filter((t) => t !== undefined).sort().at(-1);
    return `${shippingError(error, this.deps.config.site)}${was !== address ? ` (the configuration now sends it to ${address}; the last heartbeat that went out reached ${was})` : ''}`;
  }

  /** Where the last failure was: the state directory (heartbeat.json), or the store. */
  failedIn: 'state' | 'store' | undefined;
  /** When the store could not be reached (not a refusal), when the last heartbeat before went out, a mid-pass one included (undefined: never, or not that failure). */
  unreachableSince: string | undefined;

  /** Saves heartbeat.json; the error, when it cannot be saved, rather than a throw. */
  private save(): StateNotSavedError | undefined {
    try {
      return void writeFileAtomic(this.file, JSON.stringify(this.memory));
    } catch (error) {
      return new StateNotSavedError(`${this.file} cannot be saved: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

class StateNotSavedError extends Error {}

/** What the agent shipped since its state directory began, when the pass's totals say (a status with the journal's totals). */
function shippedOf(t: PassView['totals']): Pick<Heartbeat, 'shipped'> {
  if (t.packs === undefined) return {};
  return { shipped: shippedTotalsOf({ packs: t.packs, recordings: t.recordings ?? 0, bytes: t.bytes, artefacts: t.artefacts ?? 0, artefactBytes: t.artefactBytes ?? 0 }) };
}

/** A recordings source's backlog in `out`: the batches waiting, the oldest and how long it has waited. */
export function backlogOf(backlog: PassBacklog, now: Date, out: HeartbeatSource): void {
  out.pendingBatches = backlog.batches ?? 0;
  if (!backlog.oldest) return;
  out.oldestPendingSeconds = Math.max(0, Math.round((now.getTime() - backlog.oldest.sinceMs) / 1000));
  if (backlog.oldest.batch) out.oldestPendingBatch = backlog.oldest.batch;
}

/** While batches wait, the time to loss in `out`: the free space on the source's disk over `rate` (the bytes a second the recorder writes). */
export async function timeToLoss(deps: Pick<HeartbeatDeps, 'freeBytes'>, path: string, rate: number | undefined, out: HeartbeatSource): Promise<void> {
  if (!out.pendingBatches || rate === undefined || rate <= 0) return;
  const free = await (deps.freeBytes ?? freeBytes)(path);
  if (free !== undefined) out.timeToLossSeconds = Math.round(free / rate);
}

/** A backup, binlog or archive source: its newest complete copy offsite (its last good, returned), and a binlog's RPO in `out`. */
export function artefactCopies(deps: Pick<HeartbeatDeps, 'artefacts'>, source: { name: string; type: string }, now: Date, out: HeartbeatSource): { at: string; key: string } | undefined {
  const records = deps.artefacts.records(source.name);
  if (source.type === 'binlog') binlogRpo(newestRecord(records), now, out);
  const final = newestRecord(records, false);
  return final && { at: final.at, key: final.key };
}

/** A heartbeat around its sources: what every heartbeat carries beside them (the agent, its recent losses, its open alerts). */
export function heartbeatAround(
  deps: Pick<HeartbeatDeps, 'config' | 'agentVersion' | 'losses'>,
  memory: Pick<HeartbeatMemory, 'agentId' | 'restoredOver'>,
  now: Date,
  parts: Pick<Heartbeat, 'sources' | 'losses' | 'lastPass' | 'shipped'> & { alerts: PassView['openAlerts'] },
): Heartbeat {
  return {
    format: HEARTBEAT_FORMAT,
    site: deps.config.site,
    at: now.toISOString(),
    agentVersion: deps.agentVersion,
    sources: parts.sources,
    losses: parts.losses,
    lastPass: parts.lastPass,
    ...recentLossesOf(deps.losses, now),
    ...openAlerts(parts.alerts),
    agent: { id: memory.agentId!, host: hostname(), state: deps.config.state, ...(memory.restoredOver ? { restoredOver: memory.restoredOver } : {}) },
    ...(parts.shipped ? { shipped: parts.shipped } : {}),
  };
}

/**
 * Whether the state directory is older than what this agent last did: the site's newest
 * heartbeat written under this agent's id (in any state directory) is later than the last one the
 * state directory remembers writing. It was restored from a backup or rolled back, or a copy of
 * it (a cloned VM, a moved host left running) is running too: one look cannot tell which.
 * Undefined when it is not, or when it cannot tell (no memory, no store to ask, an error); `newest` is that heartbeat.
 */
export async function staleState(deps: Pick<HeartbeatDeps, 'config' | 'store' | 'clock'>): Promise<{ remembered: string; found: string; newest: Pick<Heartbeat, 'alerts' | 'recentLosses' | 'agent'> } | undefined> {
  const memory = readJsonFile<HeartbeatMemory>(heartbeatMemoryFile(deps.config.state));
  if (!memory?.agentId || !memory.lastWritten) return undefined;
  const own = new Set(memory.recent ?? [memory.lastWritten]);
  const now = deps.clock.now().getTime();
  // The last heartbeat remembered may have been written while the clock ran fast: then the
  // newest of its own dated at or before now stands for it.
  const times = [...own].map((at) => Date.parse(at)).filter((t) => t <= now);
  const remembered = Date.parse(memory.lastWritten) <= now ? Date.parse(memory.lastWritten) : times.length ? Math.max(...times) : -Infinity;
  try {
    for await (const h of siteHeartbeats(deps.store, deps.config.site, 5, now)) {
      // One this directory wrote while the clock ran fast sorts above everything written since the
      // clock was set right: passed over, or it would hide a later heartbeat of this agent's.
      if (own.has(h.at) && h.t > now) continue;
      if (h.t <= remembered || own.has(h.at)) return undefined;
      // This agent's id, wherever its state directory is now (a rebuilt host may lay it out anew).
      const heartbeat = await h.read();
      if (heartbeat?.agent?.id === memory.agentId) return { remembered: memory.lastWritten, found: heartbeat.at, newest: heartbeat };
    }
  } catch {
    return undefined;
  }
  return undefined;
}
