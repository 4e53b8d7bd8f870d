import { heartbeatKey, type Heartbeat, type HeartbeatSource } from '../core/fleet.ts';
import { shippedTotalsOf, type ShippedTotals } from '../core/fleet-shipped.ts';
import { AlreadyExistsError, messageOf } from '../core/errors.ts';
import { HEARTBEAT_MIN_SECONDS, artefactCopies, backlogOf, heartbeatAround, timeToLoss, type HeartbeatDeps, type PassBacklog, type PassView } from './heartbeat.ts';
import { heartbeatMemoryFile, readHeartbeatMemory, rememberOwn, rememberStore, type HeartbeatMemory } from './heartbeat-memory.ts';
import { backlogOfView } from './recordings-walk.ts';
import { writeFileAtomic } from './state/atomic-file.ts';
import type { RecordingsState } from './ship-recordings.ts';
import { leftView } from './state/pending-view.ts';

// Heartbeats while a pass runs. The end-of-pass heartbeat (agent/heartbeat.ts) goes out when the
// pass ends; a pass that lasts hours (a day's backlog after a WAN outage under a bandwidth limit,
// the first pass of a big site) would leave the fleet view without a word for as long, call the
// site SILENT, page the dead-man's switch, and show the last pass's backlog meanwhile. So every
// HEARTBEAT_MIN_SECONDS of a pass, one more goes out, saying the pass runs (`passRunning`: since
// when, what it shipped so far) with the backlog as the pending view and the journal have it now.
//
// It measures nothing and settles nothing: the write rate behind the time to loss, the last good
// copy of a recordings source, the daily copy (`heartbeats-daily/`), the other-agent look and
// every alert stay the end-of-pass heartbeat's. Its time goes into heartbeat.json's `recent`
// before it is written (a crash after the write leaves the state directory knowing it: not taken
// for another agent, nor for a restored directory), with `midPass`, which sends the next
// end-of-pass heartbeat at once. The pass stops the beats and awaits the one in flight before its
// own heartbeat, so the two never write heartbeat.json at once; a kill -9 at any point leaves
// heartbeat.json whole (written atomically) and, at worst, a mid-pass heartbeat as the site's
// newest, which the fleet view names as a pass stopped once it is older than silentAfterMinutes.

/** Calls `beat` every so often until the returned function is called. */
export type PassHeartbeatTimer = (beat: () => Promise<void>) => () => void;

/** Every HEARTBEAT_MIN_SECONDS; never keeps the process alive by itself. */
export const everyHeartbeatInterval: PassHeartbeatTimer = (beat) => {
  const timer = setInterval(() => void beat(), HEARTBEAT_MIN_SECONDS * 1000);
  timer.unref();
  return () => clearInterval(timer);
};

/** What the agent is doing now, read at each beat. */
export interface PassLive {
  /** What shipped so far in the pass (packs, artefacts, bytes), what is lost since install. */
  shipped(): NonNullable<Heartbeat['passRunning']>;
  losses(): { lostBatches: number; lostArtefacts: number };
  /** What the agent shipped since its state directory began (the journal's totals now). */
  totals(): ShippedTotals;
  /** A recordings source's backlog now: its pending view, less what shipped or was found lost since. */
  backlog(source: string): PassBacklog;
  openAlerts(): PassView['openAlerts'];
}

/** The agent's parts a mid-pass heartbeat reads (the recordings state holds them all). */
export type PassParts = Pick<RecordingsState, 'deps' | 'journal' | 'observations' | 'lossLog' | 'alerts'>;

/** Starts the heartbeats of a pass that started at `since` (every HEARTBEAT_MIN_SECONDS, or as `deps.passHeartbeatTimer` says). */
export function startPassHeartbeats(parts: PassParts, since: Date): PassHeartbeats {
  const { deps, journal, lossLog } = parts;
  return new PassHeartbeats({ ...deps, artefacts: journal.artefacts, losses: lossLog, agentVersion: deps.agentVersion ?? 'dev' }, passLive(parts, since), deps.passHeartbeatTimer);
}

/** The live view of a pass that started at `since`, with the journal's totals as they were then. */
export function passLive(parts: PassParts, since: Date): PassLive {
  const { journal, lossLog, observations, alerts } = parts;
  const at = { ...journal.totals };
  return {
    shipped: () => ({ since: since.toISOString(), packs: journal.totals.packs - at.packs, artefacts: journal.totals.artefacts - at.artefacts, bytes: journal.totals.bytes - at.bytes + (journal.totals.artefactBytes - at.artefactBytes) }),
    losses: () => lossLog.totals(),
    totals: () => shippedTotalsOf(journal.totals),
    backlog: (source) => backlogOfView(source, observations.previousPending(source), { left: leftView(journal, lossLog, source) }),
    openAlerts: () => alerts.openAlerts(),
  };
}

/** A pass's heartbeats while it runs: `stop()` before the pass writes its own. */
export class PassHeartbeats {
  private inFlight: Promise<void> | undefined;
  private stopped = false;
  private readonly cancel: () => void;

  constructor(
    private readonly deps: HeartbeatDeps,
    private readonly live: PassLive,
    timer: PassHeartbeatTimer = everyHeartbeatInterval,
  ) {
    this.cancel = timer(() => this.beat());
  }

  /** Writes one mid-pass heartbeat; none after stop(), nor beside one still being written (it is waited for instead). Never throws. */
  beat(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inFlight ??= writeMidPass(this.deps, this.live).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** No beat from now on; resolves once the one being written (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel();
    await this.inFlight;
  }
}

async function writeMidPass(deps: HeartbeatDeps, live: PassLive): Promise<void> {
  let key: string | undefined;
  try {
    const memory = readHeartbeatMemory(deps.config.state);
    const heartbeat = await buildMidPass(deps, live, memory);
    key = heartbeatKey(deps.config.site, new Date(heartbeat.at), { agent: memory.agentId });
    rememberOwn(memory, heartbeat.at);
    memory.midPass = heartbeat.at;
    // Saved first: a heartbeat this directory would not know is not written (a full disk says so at the pass's end).
    writeFileAtomic(heartbeatMemoryFile(deps.config.state), JSON.stringify(memory));
    await deps.store.put(key, Buffer.from(JSON.stringify(heartbeat)), { ifNoneMatch: true, contentType: 'application/json' }).catch((error: unknown) => {
      if (!(error instanceof AlreadyExistsError)) throw error;
    });
    // It went out: a store not reached at the pass's end has been out of reach since this one, and was reached before.
    memory.midPassOut = heartbeat.at;
    rememberStore(memory, deps.config.cloud, heartbeat.at);
    saveQuietly(deps.config.state, memory);
  } catch (error) {
    // The next beat, or the pass's own heartbeat, tries again; the end-of-pass one alerts a store that refuses.
    deps.log.warn('mid-pass heartbeat not written', { ...(key ? { key } : {}), error: messageOf(error) });
  }
}

/** Saves heartbeat.json; a disk that cannot take it is said by the pass's own heartbeat. */
function saveQuietly(state: string, memory: HeartbeatMemory): void {
  try {
    writeFileAtomic(heartbeatMemoryFile(state), JSON.stringify(memory));
  } catch {
    // The end-of-pass heartbeat alerts a state directory that cannot be written.
  }
}

async function buildMidPass(deps: HeartbeatDeps, live: PassLive, memory: HeartbeatMemory): Promise<Heartbeat> {
  const now = deps.clock.now();
  const losses = live.losses();
  const sources: HeartbeatSource[] = [];
  for (const source of deps.config.sources) {
    const mem = memory.sources[source.name] ?? {};
    const out: HeartbeatSource = { name: source.name, type: source.type, ...(mem.problem ? { problem: mem.problem } : {}) };
    let lastGood = mem.lastGood;
    if (source.type === 'recordings') {
      backlogOf(live.backlog(source.name), now, out);
      // By the rate the last pass measured, left as it was.
      await timeToLoss(deps, source.path, mem.rate, out);
    } else if (source.type !== 'tree') lastGood = artefactCopies(deps, source, now, out) ?? lastGood;
    if (lastGood) out.lastGood = lastGood;
    sources.push(out);
  }
  // The last pass that ended, as the agent remembers it (an older memory: its failures only).
  const lastPass = memory.lastPass ?? { at: memory.lastWritten ?? live.shipped().since, failed: memory.lastFailed ?? 0, lost: 0 };
  return { ...heartbeatAround(deps, memory, now, { sources, losses: losses.lostBatches + losses.lostArtefacts, lastPass, alerts: live.openAlerts(), shipped: live.totals() }), passRunning: live.shipped() };
}

