import { describe, expect, it } from 'vitest';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { REFUSED_AGENT_FORMAT, refusedAgentKey, type RefusedAgent } from '../../core/refused-agent.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { agentStatements } from '../../infra/site-policies.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';

// The old primary came back after a failover and its agent was refused (agent/site-takeover.ts):
// it writes no heartbeat, only a record under heartbeats/{site}/refused/, which the fleet view
// names on the site's row as long as the old host keeps being refused.

const NOW = new Date('2026-12-03T10:00:00.000Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

function heartbeat(at: Date, agent: { id: string; host: string }): Heartbeat {
  return { format: HEARTBEAT_FORMAT, site: 'site-a', at: at.toISOString(), agentVersion: '0.1.0', sources: [], losses: 0, lastPass: { at: at.toISOString(), failed: 0, lost: 0 }, agent };
}

function record(at: Date, extra: Partial<RefusedAgent> = {}): RefusedAgent {
  return {
    format: REFUSED_AGENT_FORMAT,
    site: 'site-a',
    at: at.toISOString(),
    refusedSince: minutesAgo(600).toISOString(),
    agent: { id: 'old-dir', host: 'pbx-1', state: '/var/lib/ferry' },
    lastHeartbeat: '2026-11-28T17:55:00.000Z',
    shippedBy: { id: 'standby', host: 'pbx-2', since: '2026-11-28T20:05:00.000Z' },
    ...extra,
  };
}

async function site(records: RefusedAgent[], beats: [Date, { id: string; host: string }][] = [[minutesAgo(2), { id: 'standby', host: 'pbx-2' }]]) {
  const store = new MemoryBlobStore();
  for (const [at, agent] of beats) await store.put(heartbeatKey('site-a', at, { agent: agent.id }), Buffer.from(JSON.stringify(heartbeat(at, agent))));
  for (const r of records) await store.put(refusedAgentKey('site-a', r.agent.id, new Date(r.at)), Buffer.from(JSON.stringify(r)));
  const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
  return row!;
}

const LINE =
  'critical: the agent on pbx-1 (id old-dir) came back with the state directory it had before 2026-11-28T17:55:00.000Z and was refused ' +
  '(last at 2026-12-03T09:40:00.000Z, refused since 2026-12-03T00:00:00.000Z): it ships nothing while the agent on pbx-2 (id standby) ships the site since 2026-11-28T20:05:00.000Z. ' +
  'Stop the old one (its cron line or service), or fail back (docs/restore.md, "Failing over, and back")';

describe('a site whose old primary came back and was refused', () => {
  it('is WARN with a critical line naming the refused host, its id, its last heartbeat, when it was refused, the agent that ships the site and the way back; its newest heartbeat stays the standby\'s', async () => {
    const row = await site([record(minutesAgo(20)), record(minutesAgo(80))]);
    expect(row).toMatchObject({ state: 'WARN', lastHeartbeat: minutesAgo(2).toISOString() });
    expect(row.reasons).toEqual([LINE]);
    expect(row.refusedAgents).toEqual([record(minutesAgo(20))]);
  });

  it('names it once when the standby\'s heartbeat also carries its warning about it (site-refused-agent)', async () => {
    const store = new MemoryBlobStore();
    const hb = { ...heartbeat(minutesAgo(2), { id: 'standby', host: 'pbx-2' }), alerts: [{ key: 'site-refused-agent', severity: 'warning' as const, subject: 'the agent on pbx-1 came back as site site-a with a state directory of before the failover and was refused', since: minutesAgo(15).toISOString() }] };
    await store.put(heartbeatKey('site-a', minutesAgo(2), { agent: 'standby' }), Buffer.from(JSON.stringify(hb)));
    await store.put(refusedAgentKey('site-a', 'old-dir', minutesAgo(20)), Buffer.from(JSON.stringify(record(minutesAgo(20)))));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
    expect(row!.reasons).toEqual([LINE]);
  });

  it('says another agent on a host also named so when the standby took the old host\'s name, and does not take the standby\'s heartbeats for a new state directory on it', async () => {
    const standby = { id: 'standby', host: 'PBX-1' };
    const row = await site([record(minutesAgo(20), { shippedBy: { id: 'standby', host: 'PBX-1', since: '2026-11-28T20:05:00.000Z' } })], [[minutesAgo(2), standby]]);
    expect(row.reasons).toEqual([expect.stringContaining('while another agent (id standby) on a host also named PBX-1 ships the site')]);
  });

  it(`is no longer named once its last refusal is older than 48 h (the old host's cron stopped)`, async () => {
    const row = await site([record(minutesAgo(49 * 60))]);
    expect(row).toMatchObject({ state: 'OK', reasons: [] });
    expect(row.refusedAgents).toBeUndefined();
  });

  it('is no longer named once its host writes as the site under a new state directory (a failback), though younger than 48 h', async () => {
    const row = await site([record(minutesAgo(20))], [
      [minutesAgo(10), { id: 'standby', host: 'pbx-2' }],
      [minutesAgo(2), { id: 'new-dir', host: 'pbx-1' }],
    ]);
    expect(row.reasons).not.toContainEqual(expect.stringContaining('was refused'));
    expect(row.refusedAgents).toBeUndefined();
  });

  it('passes over a record whose key names another agent than its body, and names it', async () => {
    const store = new MemoryBlobStore();
    await store.put(heartbeatKey('site-a', minutesAgo(2), { agent: 'standby' }), Buffer.from(JSON.stringify(heartbeat(minutesAgo(2), { id: 'standby', host: 'pbx-2' }))));
    const key = refusedAgentKey('site-a', 'someone', minutesAgo(20));
    await store.put(key, Buffer.from(JSON.stringify(record(minutesAgo(20)))));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
    expect(row!.reasons).toEqual([expect.stringContaining(`heartbeat object(s) not believed, passed over: ${key} (its agent or time is not its key's)`)]);
  });
});

describe('a site whose refused agents\' records cannot be listed', () => {
  it('stays judged by its heartbeats (WARN, not SILENT: the dead-man\'s switch does not page it silent) and says the records were not read', async () => {
    const store = new MemoryBlobStore();
    await store.put(heartbeatKey('site-a', minutesAgo(2), { agent: 'standby' }), Buffer.from(JSON.stringify(heartbeat(minutesAgo(2), { id: 'standby', host: 'pbx-2' }))));
    const blobs = {
      get: store.get.bind(store),
      list: (prefix: string) =>
        prefix.includes('/refused/')
          ? (async function* () {
              throw new Error('SlowDown: Please reduce your request rate.');
            })()
          : store.list(prefix),
    };
    const [row] = await readFleet({ blobs, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
    expect(row).toMatchObject({ state: 'WARN', lastHeartbeat: minutesAgo(2).toISOString() });
    expect(row!.reasons).toEqual(["cannot list the site's refused agents' records (an old primary back after a failover would be named here): SlowDown: Please reduce your request rate."]);
  });
});

describe("the site agent's write-once role and its refused-agent records", () => {
  const statements = agentStatements({ site: 'site-a', bucketName: 'data', dataKeyArn: 'arn:aws:kms:us-east-1:1:key/k', activityArn: 'arn:aws:states:us-east-1:1:activity:a' }).map((s) => s.toStatementJson());
  const policy = { Version: '2012-10-17', Statement: JSON.parse(JSON.stringify(statements).replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/g, 'aws')) } as PolicyDocument;
  const put = (key: string, ifNoneMatch: boolean) => isAllowed([policy], { action: 's3:PutObject', resource: `arn:aws:s3:::data/${key}`, context: { 's3:if-none-match': ifNoneMatch ? '*' : undefined, 's3:ObjectCreationOperation': true } });

  it("may add one under its own site's heartbeat prefix only, and never overwrite one", () => {
    expect(refusedAgentKey('site-a', 'a1', NOW)).toMatch(/^heartbeats\/site-a\/refused\/\d{13}-a1\.json$/);
    expect(put(refusedAgentKey('site-a', 'a1', NOW), true)).toBe(true);
    expect(put(refusedAgentKey('site-a', 'a1', NOW), false)).toBe(false);
    expect(put(refusedAgentKey('site-b', 'a1', NOW), true)).toBe(false);
  });
});
