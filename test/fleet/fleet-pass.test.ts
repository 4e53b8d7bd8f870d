import { describe, expect, it } from 'vitest';
import { renderFleet } from '../../cli/fleet-commands.ts';
import { HEARTBEAT_FORMAT, heartbeatSchema, judgeSite, type Heartbeat } from '../../core/fleet.ts';

// The fleet row of a site whose newest heartbeat was written while a pass ran
// (agent/pass-heartbeat.ts): it says the pass runs and what it shipped so far.

const NOW = new Date('2026-12-03T10:00:00.000Z');

function heartbeat(extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    format: HEARTBEAT_FORMAT,
    site: 'a',
    at: '2026-12-03T09:58:00.000Z',
    agentVersion: '0.1.0',
    sources: [{ name: 'cs', type: 'recordings', pendingBatches: 4, oldestPendingSeconds: 600, lastGood: { at: '2026-12-03T07:00:00.000Z', key: 'manifests/a/recordings/x.json' } }],
    losses: 0,
    lastPass: { at: '2026-12-03T07:00:00.000Z', failed: 0, lost: 0 },
    ...extra,
  };
}

const running = { since: '2026-12-03T07:05:00.000Z', packs: 12, artefacts: 0, bytes: 3 * 1024 * 1024 };

describe('a site whose newest heartbeat was written during a pass', () => {
  it('is OK, its row and `fleet status` saying a pass runs since T with the packs shipped so far', () => {
    const row = judgeSite({ site: 'a', heartbeat: heartbeat({ passRunning: running }) }, NOW);
    expect(row).toMatchObject({ state: 'OK', passRunning: running, heartbeatAgeSeconds: 120 });
    expect(renderFleet([row])).toContain('\n          a pass running since 2026-12-03T07:05:00.000Z (12 pack(s) shipped so far)\n          cs: last good 3 h ago, backlog 4 (oldest 12 min)\n');
    const both = judgeSite({ site: 'a', heartbeat: heartbeat({ passRunning: { ...running, artefacts: 2 } }) }, NOW);
    expect(renderFleet([both])).toContain('a pass running since 2026-12-03T07:05:00.000Z (12 pack(s) and 2 artefact(s) shipped so far)');
  });

  it('reads a heartbeat of an agent before mid-pass heartbeats as one written at the end of a pass, and refuses a malformed passRunning', () => {
    const older = heartbeatSchema.parse(JSON.parse(JSON.stringify(heartbeat())));
    const row = judgeSite({ site: 'a', heartbeat: older }, NOW);
    expect(row.passRunning).toBeUndefined();
    expect(renderFleet([row])).not.toContain('a pass running');
    expect(heartbeatSchema.parse(JSON.parse(JSON.stringify(heartbeat({ passRunning: running })))).passRunning).toEqual(running);
    expect(heartbeatSchema.safeParse({ ...heartbeat(), passRunning: { since: 'yesterday', packs: -1 } }).success).toBe(false);
  });
});
