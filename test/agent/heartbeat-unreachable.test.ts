import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { FerryError, TransientError } from '../../core/errors.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { UNREACHABLE_PAGE_MINUTES } from '../../agent/heartbeat-alerts.ts';
import { silentLogger } from '../../agent/log.ts';
import type { PassHeartbeatTimer } from '../../agent/pass-heartbeat.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A branch whose line drops for minutes several times a day: each pass that cannot reach the
// store failed to write its heartbeat. Paged at once, that is several critical pages a day for a
// line that comes back by itself; the page waits until the store has not been reached for an hour
// since the last heartbeat went out. A store that refuses (a key revoked) pages at once.

function lineDown(store: MemoryBlobStore, line: { down: boolean; refuse?: boolean }): BlobStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'features') return value;
      return (...args: unknown[]) => {
        // A listing is an async iterable: it fails when iterated, as the SDK's paginator does.
        if ((line.refuse || line.down) && (prop === 'list' || prop === 'listMultipart'))
          return (async function* () {
            yield* [];
            throw line.refuse ? new FerryError('fatal', 'access denied to heartbeats (list)') : new TransientError(`connect ECONNREFUSED 10.0.0.1:443 (${String(prop)})`);
          })();
        if (line.refuse) return Promise.reject(new FerryError('fatal', 'access denied to heartbeats (put): the key lacks s3:PutObject'));
        if (line.down) return Promise.reject(new TransientError(`connect ECONNREFUSED 10.0.0.1:443 (${String(prop)})`));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-line-'));
  mkdirSync(join(dir, 'rec'));
  const configWith = (cloud = '') => parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\n${cloud}sources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`);
  let config = configWith();
  const line: { down: boolean; refuse?: boolean } = { down: false };
  const store = lineDown(new MemoryBlobStore(), line);
  const clock = new ManualClock(new Date('2026-12-07T08:00:00Z'));
  const alerts: Alert[] = [];
  const configure = (cloud: string) => void (config = configWith(cloud));
  const pass = async () => {
    const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1 });
    try {
      return await agent.cycle();
    } finally {
      agent.close();
    }
  };
  const heartbeatAlerts = () => alerts.filter((a) => a.key === 'heartbeat');
  return { line, clock, pass, heartbeatAlerts, configure, state: join(dir, 'state') };
}

describe('the heartbeat of a pass that cannot reach the store', () => {
  it(`pages nobody while the store has been out of reach under ${UNREACHABLE_PAGE_MINUTES} min since the last heartbeat went out, then pages critical naming when; the pass still counts the failure`, async () => {
    const s = setUp();
    await s.pass();
    s.line.down = true;
    for (const minutes of [15, 15, 15]) {
      s.clock.advance(minutes * 60_000);
      expect((await s.pass()).failed).toBeGreaterThan(0);
    }
    expect(s.heartbeatAlerts()).toEqual([]);
    s.clock.advance(20 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
    expect(s.heartbeatAlerts()[0]!.message).toContain('the store has not been reached since the last heartbeat went out, at 2026-12-07T08:00:00.000Z');
    s.line.down = false;
    s.clock.advance(5 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts().map((a) => a.subject)).toEqual(['the heartbeat cannot be written to the store', 'resolved: the heartbeat cannot be written to the store']);
  });

  it('pages at once when the store refuses the heartbeat (not a line down)', async () => {
    const s = setUp();
    await s.pass();
    s.line.refuse = true;
    s.clock.advance(15 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
  });

  it('pages at once when the store configured now was never reached (cloud.endpoint edited, misspelt), naming the store the last heartbeat reached', async () => {
    const s = setUp();
    s.configure('cloud: { bucket: ferry-data, endpoint: "http://store.site-a.example:9000" }\n');
    await s.pass();
    s.configure('cloud: { bucket: ferry-data, endpoint: "http://stroe.site-a.example:9000" }\n');
    s.line.down = true;
    s.clock.advance(15 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
    expect(s.heartbeatAlerts()[0]!.message).toContain('(the configuration now sends it to http://stroe.site-a.example:9000; the last heartbeat that went out reached http://store.site-a.example:9000)');
  });

  it('still waits the hour when the store configured now is the one the last heartbeat reached', async () => {
    const s = setUp();
    s.configure('cloud: { bucket: ferry-data, endpoint: "http://store.site-a.example:9000" }\n');
    await s.pass();
    s.line.down = true;
    s.clock.advance(15 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([]);
  });

  it('still waits the hour after an older release (a rollback) reached the store configured now, though the store heartbeat.json names is the one before', async () => {
    const s = setUp();
    s.configure('cloud: { bucket: ferry-data, endpoint: "http://store.site-a.example:9000" }\n');
    await s.pass();
    // The previous release, put back, ships to a new endpoint for a day: it writes its heartbeats
    // and keeps heartbeat.json's fields it does not know as they were.
    const file = join(s.state, 'heartbeat.json');
    const memory = JSON.parse(readFileSync(file, 'utf8')) as { lastWritten: string; storeAddress: string };
    expect(memory.storeAddress).toBe('http://store.site-a.example:9000');
    s.clock.advance(86_400_000);
    writeFileSync(file, JSON.stringify({ ...memory, lastWritten: s.clock.now().toISOString() }));
    // This release again, on that endpoint: the line drops.
    s.configure('cloud: { bucket: ferry-data, endpoint: "http://store2.site-a.example:9000" }\n');
    s.line.down = true;
    s.clock.advance(15 * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([]);
    s.clock.advance(UNREACHABLE_PAGE_MINUTES * 60_000);
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
    expect(s.heartbeatAlerts()[0]!.message).not.toContain('the last heartbeat that went out reached');
  });

  it('pages at once when no heartbeat ever went out (a new agent that cannot reach the store)', async () => {
    const s = setUp();
    s.line.down = true;
    await s.pass();
    expect(s.heartbeatAlerts()).toEqual([expect.objectContaining({ severity: 'critical' })]);
  });
});

/**
 * A store whose first recordings upload waits until released (a slow uplink while the pass's
 * mid-pass heartbeats go out) and whose heartbeat puts fail while `line.down` (from `address`).
 */
function heldPackStore(address: string) {
  const memory = new MemoryBlobStore();
  const line = { down: false };
  let reached!: () => void;
  let release!: () => void;
  const held = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  let waited = false;
  const put: BlobStore['put'] = async (key, body, options) => {
    if (line.down && key.startsWith('heartbeats')) throw new TransientError(`connect ECONNREFUSED ${address} (put ${key})`);
    if (!waited && key.startsWith('recordings/')) {
      waited = true;
      reached();
      await released;
    }
    return MemoryBlobStore.prototype.put.call(memory, key, body, options);
  };
  return { store: Object.assign(memory, { put }), line, held, release };
}

/** A mid-pass heartbeat timer the test drives: `beat()` sends the pass's next mid-pass heartbeat. */
function manualBeats() {
  let next: () => Promise<void> = async () => undefined;
  const timer: PassHeartbeatTimer = (b) => {
    next = b;
    return () => void (next = async () => undefined);
  };
  return { timer, beat: () => next() };
}

describe('the heartbeat at the end of a long pass that cannot reach the store', () => {
  it('counts the hour from the last mid-pass heartbeat that went out: no page 2 min after it, a critical page naming it once an hour passed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-midpass-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    const clock = new ManualClock(new Date('2026-12-07T08:00:00Z'));
    writeTree(root, 2, 10, { now: clock.now().getTime() });
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
    // The first pack waits (a slow uplink) while the pass's beats go out; the line then drops before the pass's own heartbeat.
    const { store, line, held, release } = heldPackStore('10.0.0.1:443');
    const { timer, beat } = manualBeats();
    const alerts: Alert[] = [];
    const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1, passHeartbeatTimer: timer });
    try {
      const pass = agent.cycle();
      await held;
      for (let m = 5; m <= 90; m += 5) {
        clock.advance(5 * 60_000);
        await beat();
      }
      line.down = true;
      clock.advance(2 * 60_000);
      release();
      expect((await pass).failed).toBeGreaterThan(0);
      expect(alerts.filter((a) => a.key === 'heartbeat')).toEqual([]);

      clock.advance(59 * 60_000);
      await agent.cycle();
      const paged = alerts.filter((a) => a.key === 'heartbeat');
      expect(paged).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
      expect(paged[0]!.message).toContain('the store has not been reached since the last heartbeat went out, at 2026-12-07T09:30:00.000Z');
    } finally {
      agent.close();
    }
  });

  it('does not page at once for a store the configuration names since the last end-of-pass heartbeat when the pass\'s mid-pass heartbeats reached it (cloud.endpoint changed, then the line dropped)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-moved-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    const clock = new ManualClock(new Date('2026-12-07T08:00:00Z'));
    const configAt = (endpoint: string) =>
      parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
cloud: { bucket: ferry-data, endpoint: "${endpoint}" }
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
    const { store, line, held, release } = heldPackStore('10.0.0.2:443');
    const alerts: Alert[] = [];
    const notifier = { notify: async (a: Alert) => void alerts.push(a) };
    // A pass to the old endpoint (nothing to ship), then the endpoint moves and a long pass begins.
    const before = new Agent({ config: configAt('http://old-store.site-a.example:9000'), store, clock, log: silentLogger, notifier, verify: 'etag', retryDelayMs: () => 1 });
    await before.cycle();
    before.close();
    clock.advance(10 * 60_000);
    writeTree(root, 2, 10, { now: clock.now().getTime() });
    const { timer, beat } = manualBeats();
    const agent = new Agent({ config: configAt('http://store.site-a.example:9000'), store, clock, log: silentLogger, notifier, verify: 'etag', retryDelayMs: () => 1, passHeartbeatTimer: timer });
    try {
      const pass = agent.cycle();
      await held;
      for (let m = 5; m <= 30; m += 5) {
        clock.advance(5 * 60_000);
        await beat();
      }
      line.down = true;
      clock.advance(2 * 60_000);
      release();
      expect((await pass).failed).toBeGreaterThan(0);
      expect(alerts.filter((a) => a.key === 'heartbeat')).toEqual([]);
    } finally {
      agent.close();
    }
  });
});
