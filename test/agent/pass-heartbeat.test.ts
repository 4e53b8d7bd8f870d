import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { HeartbeatWriter, type PassView } from '../../agent/heartbeat.ts';
import { PassHeartbeats, type PassHeartbeatTimer, type PassLive } from '../../agent/pass-heartbeat.ts';
import { readAll } from '../../agent/recover.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { heartbeatPrefix, heartbeatSchema, type Heartbeat } from '../../core/fleet.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A pass that lasts (a backlog shipped under a bandwidth limit, the first pass of a big site)
// writes heartbeats while it runs, so the fleet view does not call its site SILENT, nor show the
// last pass's backlog as the site's. The store here holds the pass at a chosen pack until the
// test lets it go; the beats are driven by hand (AgentDeps.passHeartbeatTimer), the clock moved
// between them: no timing.

const MINUTE = 60_000;

function site(batches: number, now: Date) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-passhb-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  writeTree(root, batches, 10, { now: now.getTime() });
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
  return { dir, root, config };
}

/** A store that holds a chosen pack upload (`hold(n)`: the n-th from now) until released; `held` settles when it is reached. */
function holdingStore() {
  const memory = new MemoryBlobStore();
  let gate: { left: number; reached: () => void; released: Promise<void> } | undefined;
  const put: BlobStore['put'] = async (key, body, options) => {
    const g = gate;
    if (g && key.startsWith('recordings/') && --g.left === 0) {
      gate = undefined;
      g.reached();
      await g.released;
    }
    return MemoryBlobStore.prototype.put.call(memory, key, body, options);
  };
  const hold = (n: number) => {
    let reached!: () => void;
    let release!: () => void;
    const held = new Promise<void>((r) => (reached = r));
    gate = { left: n, reached, released: new Promise<void>((r) => (release = r)) };
    return { held, release };
  };
  return { store: Object.assign(memory, { put }), hold };
}

/** The beats of each pass, driven by the test. */
function handBeats() {
  const passes: { beat: () => Promise<void>; stopped: boolean }[] = [];
  const timer: PassHeartbeatTimer = (beat) => {
    const pass = { beat, stopped: false };
    passes.push(pass);
    return () => void (pass.stopped = true);
  };
  // Before any pass started its beats (or an agent that starts none): a beat that does nothing.
  return { timer, current: () => passes.at(-1) ?? { beat: async () => undefined, stopped: false }, passes };
}

function agentOf(config: AgentConfig, store: BlobStore, clock: ManualClock, timer: PassHeartbeatTimer | undefined, alerts: Alert[] = []) {
  return new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1, ...(timer ? { passHeartbeatTimer: timer } : {}) });
}

async function heartbeatsIn(store: BlobStore, dataClass?: 'heartbeats-daily'): Promise<Heartbeat[]> {
  const out: Heartbeat[] = [];
  for await (const o of store.list(heartbeatPrefix('site-a', dataClass))) out.push(heartbeatSchema.parse(JSON.parse((await readAll(store, o.key)).toString('utf8'))));
  return out; // newest first
}

const fleetRow = async (store: BlobStore, now: Date) => (await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], now))[0]!;

describe('heartbeats while a pass runs', () => {
  it('a pass held 100 min by a slow store writes a heartbeat at each beat saying it runs since its start with the packs shipped so far; the fleet row says so and is not SILENT', async () => {
    const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
    const s = site(4, clock.now());
    const { store, hold } = holdingStore();
    const { held, release } = hold(2);
    const beats = handBeats();
    const agent = agentOf(s.config, store, clock, beats.timer);
    try {
      const pass = agent.cycle();
      await held; // the first batch shipped, the second's pack waits
      for (let m = 5; m <= 100; m += 5) {
        clock.advance(5 * MINUTE);
        await beats.current().beat();
      }
      // 100 min into the pass, not a word of its end yet: the site is not SILENT, and says why.
      const during = await fleetRow(store, clock.now());
      expect(during.reasons).toEqual([]);
      expect(during.state).toBe('OK');
      expect(during.heartbeatAgeSeconds).toBe(0);
      const written = await heartbeatsIn(store);
      expect(written).toHaveLength(20);
      const [newest] = written;
      expect(newest).toMatchObject({ at: '2026-12-03T11:40:00.000Z', passRunning: { since: '2026-12-03T10:00:00.000Z', packs: 1, artefacts: 0 } });
      expect(newest!.passRunning!.bytes).toBeGreaterThan(0);
      expect(during.passRunning).toEqual(newest!.passRunning);
      // The backlog as the pass sees it now (the walk's view, less what shipped), not the last pass's.
      expect(newest!.sources[0]).toMatchObject({ name: 'cs', pendingBatches: 3, oldestPendingBatch: '000002' });

      clock.advance(1000);
      release();
      // Its time slice is long spent: the held pack lands, the rest waits for the next pass.
      const report = await pass;
      expect(report).toMatchObject({ packs: 2, failed: 0, more: true });
      expect(beats.current().stopped).toBe(true);
      // A beat after the pass ended writes nothing.
      clock.advance(5 * MINUTE);
      await beats.current().beat();
      const after = await heartbeatsIn(store);
      expect(after).toHaveLength(21);
      // The pass's own heartbeat is the newest: no pass running, the backlog shipped.
      expect(after[0]!.passRunning).toBeUndefined();
      expect(after[0]).toMatchObject({ at: '2026-12-03T11:40:01.000Z', sources: [{ name: 'cs', pendingBatches: 2, oldestPendingBatch: '000003' }] });
      expect((await fleetRow(store, clock.now())).passRunning).toBeUndefined();
    } finally {
      agent.close();
    }
  });

  it('a site whose newest heartbeat is a mid-pass one older than silentAfterMinutes is SILENT, saying the agent stopped in that pass', async () => {
    const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
    const s = site(2, clock.now());
    const { store, hold } = holdingStore();
    const { held } = hold(1);
    const beats = handBeats();
    const agent = agentOf(s.config, store, clock, beats.timer);
    try {
      void agent.cycle();
      await held;
      clock.advance(5 * MINUTE);
      await beats.current().beat();
      // The agent killed here: no heartbeat after it.
      const row = await fleetRow(store, new Date(clock.now().getTime() + 91 * MINUTE));
      expect(row.state).toBe('SILENT');
      expect(row.reasons[0]).toBe('no heartbeat for 91 min (silent after 90 min); its last heartbeat was written during a pass that started 2026-12-03T10:00:00.000Z: the agent stopped in it (killed, its host down, or the store out of its reach)');
    } finally {
      agent.close();
    }
  });

  it('after a pass killed past a mid-pass heartbeat, the next process takes that heartbeat for its own (no restored state, no other agent) and sends its own at once', async () => {
    const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
    const s = site(2, clock.now());
    const { store, hold } = holdingStore();
    // A first pass that ends as usual: its heartbeat is the state directory's memory.
    const first = agentOf(s.config, store, clock, undefined);
    await first.cycle();
    first.close();
    writeTree(s.root, 2, 10, { now: clock.now().getTime(), firstBatch: 3 });
    clock.advance(MINUTE);
    const { held } = hold(1);
    const beats = handBeats();
    const killed = agentOf(s.config, store, clock, beats.timer);
    void killed.cycle();
    await held;
    clock.advance(5 * MINUTE);
    await beats.current().beat();
    killed.close(); // as kill -9 leaves it: the pass never ends, its upload never lands

    // The next cron run, a minute later, with the store answering: the batches ship.
    clock.advance(MINUTE);
    const alerts: Alert[] = [];
    const next = agentOf(s.config, store, clock, undefined, alerts);
    try {
      await next.cycle();
    } finally {
      next.close();
    }
    expect(alerts.map((a) => a.key)).not.toContain('state-restored');
    expect(alerts.map((a) => a.key)).not.toContain('site-name-shared');
    const [own, mid] = await heartbeatsIn(store);
    expect(mid!.passRunning).toBeDefined();
    expect(own!.passRunning).toBeUndefined();
    expect(own!.at).toBe('2026-12-03T10:07:00.000Z');
    expect(JSON.parse(readFileSync(join(s.config.state, 'heartbeat.json'), 'utf8')).midPass).toBeUndefined();
  });

  it('leaves the end-of-pass heartbeats, the write-rate memory and the daily copies as passes without mid-pass heartbeats leave them', async () => {
    // Two sites alike, each with two passes held 90 min by the store (the second across midnight
    // UTC): one beats every 5 min, the other never.
    const run = async (beat: boolean) => {
      const clock = new ManualClock(new Date('2026-12-03T22:00:00Z'));
      const s = site(3, clock.now());
      const { store, hold } = holdingStore();
      const beats = handBeats();
      for (const more of [0, 3]) {
        if (more) writeTree(s.root, more, 10, { now: clock.now().getTime(), firstBatch: 4 });
        const { held, release } = hold(2);
        const agent = agentOf(s.config, store, clock, beats.timer);
        try {
          const pass = agent.cycle();
          await held;
          for (let m = 0; m < 18; m++) {
            clock.advance(5 * MINUTE);
            if (beat) await beats.current().beat();
          }
          clock.advance(1000);
          release();
          await pass;
        } finally {
          agent.close();
        }
      }
      const ended = (await heartbeatsIn(store)).filter((h) => h.passRunning === undefined);
      const daily = await heartbeatsIn(store, 'heartbeats-daily');
      const memory = JSON.parse(readFileSync(join(s.config.state, 'heartbeat.json'), 'utf8')) as { sources: { cs: { rate?: number } }; lastDaily: string; recent: string[] };
      return { ended, daily, memory, root: s.root, state: s.config.state, all: (await heartbeatsIn(store)).length };
    };
    const quiet = await run(false);
    const beating = await run(true);
    // What differs by nature: the agent's id, the paths and manifest keys (each site its own), the free space now.
    const same = (x: unknown, r: { root: string; state: string }) =>
      JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'agent' || k === 'timeToLossSeconds' ? undefined : typeof v === 'string' ? v.replaceAll(r.root, 'ROOT').replaceAll(r.state, 'STATE').replace(/^manifests\/.*$/, 'MANIFEST') : v)));
    expect(quiet.ended.map((h) => h.at)).toEqual(['2026-12-04T01:00:02.000Z', '2026-12-03T23:30:01.000Z']);
    expect(quiet.daily.map((h) => h.at)).toEqual(['2026-12-04T01:00:02.000Z', '2026-12-03T23:30:01.000Z']);
    expect(beating.all).toBe(2 + 36);
    expect(same(beating.ended, beating)).toEqual(same(quiet.ended, quiet));
    expect(same(beating.daily, beating)).toEqual(same(quiet.daily, quiet));
    expect(same(beating.memory.sources, beating)).toEqual(same(quiet.memory.sources, quiet));
    expect(quiet.memory.sources.cs.rate).toBeGreaterThan(0);
    expect(beating.memory.lastDaily).toBe(quiet.memory.lastDaily);
    // The mid-pass heartbeats are the agent's own: remembered among its recent ones.
    expect(beating.memory.recent.length).toBeGreaterThan(quiet.memory.recent.length);
  });

  it('sends the first end-of-pass heartbeat after a mid-pass one at once, though the pass has nothing new and the last went out a minute ago', async () => {
    const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
    const s = site(0, clock.now());
    mkdirSync(s.config.state);
    const store = new MemoryBlobStore();
    const deps = { config: s.config, store, clock, log: silentLogger, agentVersion: '1.2.3', artefacts: { records: () => [] } };
    const idle: PassView = { totals: { bytes: 0, lostBatches: 0, lostArtefacts: 0 }, sources: [{ name: 'cs', type: 'recordings', backlog: { batches: 0, bytes: 0 } }], lastCycle: { failed: 0, lost: 0 }, manifests: [] };
    expect(await new HeartbeatWriter(deps).write(idle)).toBeDefined();
    clock.advance(30_000);
    // Held back: nothing new within the interval.
    expect(await new HeartbeatWriter(deps).write(idle)).toBeUndefined();
    const live: PassLive = { shipped: () => ({ since: clock.now().toISOString(), packs: 0, artefacts: 0, bytes: 0 }), losses: () => ({ lostBatches: 0, lostArtefacts: 0 }), totals: () => ({ packs: 0, recordings: 0, bytes: 0, artefacts: 0, artefactBytes: 0 }), backlog: () => ({ batches: 0, bytes: 0 }), openAlerts: () => [] };
    const beats = new PassHeartbeats(deps, live, () => () => undefined);
    clock.advance(30_000);
    await beats.beat();
    await beats.stop();
    clock.advance(30_000);
    expect(await new HeartbeatWriter(deps).write(idle)).toBeDefined();
    const [end, mid] = await heartbeatsIn(store);
    expect(mid!.passRunning).toBeDefined();
    expect(end).toMatchObject({ at: '2026-12-03T10:01:30.000Z' });
    expect(end!.passRunning).toBeUndefined();
    // And the one after it waits its turn again.
    clock.advance(30_000);
    expect(await new HeartbeatWriter(deps).write(idle)).toBeUndefined();
  });
});
