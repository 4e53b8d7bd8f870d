import { describe, expect, it } from 'vitest';
import { renderFleet } from '../../cli/fleet-commands.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, heartbeatTimeOfKey, type Heartbeat } from '../../core/fleet.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryDeadmanStore } from '../../core/fleet-read.ts';
import { MemoryPurgeRunStore, MemoryPurgeWatchStore } from '../../core/purge-watch.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { createHandler as deadmanHandler } from '../../functions/deadman/handler.ts';

// The morning after a failover: the site's old primary (london-cc1) shipped until 01:00, was lost,
// and the secondary (dr-bristol) ships the site since 03:00, for days. The fleet row says which
// host ships the site now, since when, and which host shipped it before, with its last heartbeat
// and what it had offsite then.

const NOW = new Date('2026-12-07T10:30:00.000Z');
const HOUR = 3600_000;
const AGENTS = { london: 'aaaaaaaa-1111-4111-8111-000000000001', bristol: 'bbbbbbbb-2222-4222-8222-000000000002' };

function heartbeat(host: keyof typeof AGENTS, at: Date): Heartbeat {
  const iso = at.toISOString();
  return {
    format: HEARTBEAT_FORMAT,
    site: 'demo',
    at: iso,
    agentVersion: '0.1.0',
    sources: [
      { name: 'contactstore', type: 'recordings', pendingBatches: 0, lastGood: { at: iso, key: `manifests/demo/recordings/${host}.json` } },
      { name: 'sql', type: 'rotated', lastGood: { at: new Date(at.getTime() - 5 * HOUR).toISOString(), key: `backups/demo/sql/${host}-rtc_full.bak` } },
    ],
    losses: 0,
    lastPass: { at: iso, failed: 0, lost: 0 },
    agent: { id: AGENTS[host], host: host === 'london' ? 'london-cc1' : 'dr-bristol', state: '/var/lib/ferry' },
  };
}

/** Writes an agent's heartbeats every `every` ms from `from` to `to` as the agent does: each, and the first of each UTC day under heartbeats-daily/. */
async function ships(store: MemoryBlobStore, host: keyof typeof AGENTS, from: Date, to: Date, every = 6 * HOUR) {
  let day = '';
  for (let t = from.getTime(); t <= to.getTime(); t += every) {
    const at = new Date(t);
    const body = Buffer.from(JSON.stringify(heartbeat(host, at)));
    await store.put(heartbeatKey('demo', at, { agent: AGENTS[host] }), body);
    if (at.toISOString().slice(0, 10) !== day) {
      day = at.toISOString().slice(0, 10);
      await store.put(heartbeatKey('demo', at, { agent: AGENTS[host], dataClass: 'heartbeats-daily' }), body);
    }
  }
}

const fleetOf = (store: MemoryBlobStore) => readFleet({ blobs: store, runs: { recentRuns: async () => [] } }, [{ name: 'demo' }], NOW);

describe('the fleet row of a site failed over to another host', () => {
  it('names the host that ships the site now and since when, and the host that shipped it before with its last heartbeat and last copies offsite', async () => {
    const store = new MemoryBlobStore();
    await ships(store, 'london', new Date('2026-11-28T01:00:00.000Z'), new Date('2026-12-04T01:00:00.000Z'));
    await ships(store, 'bristol', new Date('2026-12-04T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), 3 * HOUR);
    const [row] = await fleetOf(store);
    expect(row!.shippedBy).toEqual({
      host: 'dr-bristol',
      id: AGENTS.bristol,
      since: '2026-12-04T03:00:00.000Z',
      before: {
        host: 'london-cc1',
        id: AGENTS.london,
        lastHeartbeat: '2026-12-04T01:00:00.000Z',
        sources: [
          { name: 'contactstore', type: 'recordings', lastGood: { at: '2026-12-04T01:00:00.000Z', key: 'manifests/demo/recordings/london.json' } },
          { name: 'sql', type: 'rotated', lastGood: { at: '2026-12-03T20:00:00.000Z', key: 'backups/demo/sql/london-rtc_full.bak' } },
        ],
      },
    });
    expect(renderFleet([row!])).toContain(
      `\n          shipped by the agent on dr-bristol since 2026-12-04T03:00:00.000Z; before it the agent on london-cc1 (id ${AGENTS.london}; its last heartbeat 2026-12-04T01:00:00.000Z, its last copies offsite: contactstore 2026-12-04T01:00:00.000Z, sql 2026-12-03T20:00:00.000Z)\n`,
    );
  });

  it("names the old host's last daily heartbeat, marked as such, once its recent heartbeats expired", async () => {
    const store = new MemoryBlobStore();
    await ships(store, 'london', new Date('2026-10-01T01:00:00.000Z'), new Date('2026-10-20T13:00:00.000Z'));
    await ships(store, 'bristol', new Date('2026-10-21T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), 12 * HOUR);
    // The bucket's lifecycle expired the recent heartbeats older than 31 days.
    const expired: string[] = [];
    for await (const o of store.list('heartbeats/demo/')) if (heartbeatTimeOfKey(o.key)! < NOW.getTime() - 31 * 24 * HOUR) expired.push(o.key);
    for (const key of expired) await store.delete(key);
    const [row] = await fleetOf(store);
    expect(row!.shippedBy).toMatchObject({ host: 'dr-bristol', since: '2026-10-21T03:00:00.000Z', before: { host: 'london-cc1', lastHeartbeat: '2026-10-20T01:00:00.000Z', lastHeartbeatDaily: true } });
    expect(renderFleet([row!])).toContain('before it the agent on london-cc1 (id aaaaaaaa-1111-4111-8111-000000000001; its last daily heartbeat 2026-10-20T01:00:00.000Z,');
  });

  it('names no host before when the site was never shipped by another, nor while two agents write as the site side by side', async () => {
    const alone = new MemoryBlobStore();
    await ships(alone, 'bristol', new Date('2026-12-01T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'));
    const [row] = await fleetOf(alone);
    expect(row!.shippedBy).toEqual({ host: 'dr-bristol', id: AGENTS.bristol, since: '2026-12-01T03:00:00.000Z' });
    expect(renderFleet([row!])).toContain('\n          shipped by the agent on dr-bristol since 2026-12-01T03:00:00.000Z\n');

    const both = new MemoryBlobStore();
    await ships(both, 'london', new Date('2026-12-01T01:00:00.000Z'), new Date('2026-12-07T07:00:00.000Z'));
    await ships(both, 'bristol', new Date('2026-12-01T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'));
    const [side] = await fleetOf(both);
    expect(side!.shippedBy).toEqual({ host: 'dr-bristol', id: AGENTS.bristol });
    expect(renderFleet([side!])).not.toContain('before it');
  });

  it('names no host before on the day a second agent starts beside one that goes on shipping the site', async () => {
    const store = new MemoryBlobStore();
    // london-cc1 ships the site for days and goes on; dr-bristol is started as the site this morning beside it (its newest heartbeat is the site's).
    await ships(store, 'london', new Date('2026-12-01T01:00:00.000Z'), new Date('2026-12-07T07:00:00.000Z'));
    await ships(store, 'bristol', new Date('2026-12-07T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), HOUR);
    const [row] = await fleetOf(store);
    expect(row!.shippedBy).toEqual({ host: 'dr-bristol', id: AGENTS.bristol });
    expect(renderFleet([row!])).not.toContain('before it');
  });

  it("names the host before after a switchover of minutes whose old host's clock ran ahead (its last heartbeat dated after the new one's first)", async () => {
    const store = new MemoryBlobStore();
    // london-cc1 stopped at 03:00 by the clock of the world, its own 10 minutes ahead; dr-bristol started at 03:02.
    await ships(store, 'london', new Date('2026-12-01T00:10:00.000Z'), new Date('2026-12-04T03:10:00.000Z'), HOUR);
    await ships(store, 'bristol', new Date('2026-12-04T03:02:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), 3 * HOUR);
    const [row] = await fleetOf(store);
    expect(row!.shippedBy).toMatchObject({ host: 'dr-bristol', since: '2026-12-04T03:02:00.000Z', before: { host: 'london-cc1', lastHeartbeat: '2026-12-04T03:10:00.000Z' } });
  });

  it("is not worked out by the dead-man's switch, which never says it: every 15 minutes it lists the site's recent heartbeats and refused agents' records only", async () => {
    const store = new MemoryBlobStore();
    await ships(store, 'london', new Date('2026-11-28T01:00:00.000Z'), new Date('2026-12-04T01:00:00.000Z'));
    await ships(store, 'bristol', new Date('2026-12-04T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), 3 * HOUR);
    const listed: string[] = [];
    const blobs = { get: store.get.bind(store), list: (prefix: string) => (listed.push(prefix), store.list(prefix)) };
    const handler = deadmanHandler({ blobs, runs: new MemoryRunStore(), sites: [{ name: 'demo' }], store: new MemoryDeadmanStore(), notifier: { notify: async () => {} }, clock: new ManualClock(NOW), purgeRuns: new MemoryPurgeRunStore(), purgeWatch: new MemoryPurgeWatchStore(), log: () => {} });
    const { outcomes } = await handler({});
    expect(outcomes).toEqual([{ site: 'demo', action: 'none', state: 'OK' }]);
    expect(listed.sort()).toEqual(['heartbeats/demo/', 'heartbeats/demo/refused/']);
  });

  it('shows the row WARN, saying why, when who ships the site cannot be read (its daily heartbeats refused), never OK without it', async () => {
    const store = new MemoryBlobStore();
    await ships(store, 'london', new Date('2026-11-28T01:00:00.000Z'), new Date('2026-12-04T01:00:00.000Z'));
    await ships(store, 'bristol', new Date('2026-12-04T03:00:00.000Z'), new Date('2026-12-07T10:00:00.000Z'), 3 * HOUR);
    const faulty = new FaultyBlobStore(store).failNext('list', 1, { match: (prefix) => prefix.startsWith('heartbeats-daily/demo/'), error: () => new Error('AccessDenied: not authorized to perform s3:ListBucket') });
    const [row] = await readFleet({ blobs: faulty, runs: { recentRuns: async () => [] } }, [{ name: 'demo' }], NOW);
    expect(row!.state).toBe('WARN');
    expect(row!.reasons).toEqual(['cannot read who ships the site and who did before (its daily heartbeats, heartbeats-daily/demo/): AccessDenied: not authorized to perform s3:ListBucket; a failover to or from this site would not be shown']);
    expect(row!.shippedByUnread).toBe('AccessDenied: not authorized to perform s3:ListBucket');
    // The newest heartbeat's agent is still named, without a since or a host before.
    expect(row!.shippedBy).toEqual({ host: 'dr-bristol', id: AGENTS.bristol });
    expect(renderFleet([row!])).toContain('cannot read who ships the site and who did before');
  });
});
