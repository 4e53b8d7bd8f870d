import { describe, expect, it } from 'vitest';
import { Cron } from '../../core/fleet-cron.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, heartbeatPrefix, judgeSite, sortFleet, type Heartbeat } from '../../core/fleet.ts';
import { MemoryDeadmanStore, readFleet, runDeadman } from '../../core/fleet-read.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { MemoryRunStore, type RunRecord } from '../../core/window.ts';
import { agentStatements } from '../../infra/site-policies.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';

const NOW = new Date('2026-12-03T10:00:00.000Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

function heartbeat(site: string, at: Date, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    format: HEARTBEAT_FORMAT,
    site,
    at: at.toISOString(),
    agentVersion: '0.1.0',
    sources: [{ name: 'cs', type: 'recordings', pendingBatches: 2, oldestPendingSeconds: 600, timeToLossSeconds: 5 * 86400, lastGood: { at: at.toISOString(), key: `manifests/${site}/recordings/x.json` } }],
    losses: 0,
    lastPass: { at: at.toISOString(), failed: 0, lost: 0 },
    ...extra,
  };
}

function run(site: string, startedAt: Date, outcome: RunRecord['outcome'], reasons: string[] = []): RunRecord {
  return { site, startedAt: startedAt.toISOString(), finishedAt: startedAt.toISOString(), outcome, mode: 'scheduled', reasons, packs: 1, recordings: 1, bytes: 1, failed: 0, lost: 0, manifestsMissing: 0 };
}

describe('EventBridge cron evaluation', () => {
  it('finds the next and the previous daily 02:00 window and the Sunday purge', () => {
    const daily = new Cron('0 2 * * ? *');
    expect(daily.next(NOW)?.toISOString()).toBe('2026-12-04T02:00:00.000Z');
    expect(daily.previous(NOW)?.toISOString()).toBe('2026-12-03T02:00:00.000Z');
    // 2026-12-03 is a Thursday; SUN is day 1 in EventBridge.
    expect(new Cron('0 5 ? * SUN *').next(NOW)?.toISOString()).toBe('2026-12-06T05:00:00.000Z');
    expect(new Cron('*/15 * * * ? *').next(NOW)?.toISOString()).toBe('2026-12-03T10:15:00.000Z');
  });

  it('refuses an expression it cannot evaluate, naming the field', () => {
    expect(() => new Cron('0 2 L * ? *')).toThrow(/"L".*not supported/);
    expect(() => new Cron('0 25 * * ? *')).toThrow(/"25" is not in 0-23/);
  });
});

describe('judging one site', () => {
  it('is SILENT with no heartbeat within silentAfterMinutes, and OK just inside it', () => {
    expect(judgeSite({ site: 'a', silentAfterMinutes: 30, heartbeat: heartbeat('a', minutesAgo(31)) }, NOW)).toMatchObject({ state: 'SILENT', reasons: [expect.stringContaining('no heartbeat for 31 min')] });
    expect(judgeSite({ site: 'a', silentAfterMinutes: 30, heartbeat: heartbeat('a', minutesAgo(29)) }, NOW).state).toBe('OK');
    expect(judgeSite({ site: 'a' }, NOW)).toMatchObject({ state: 'SILENT', reasons: ['no heartbeat received yet'] });
  });

  it('is LATE when the scheduled window did not run, and not once it ran', () => {
    const input = { site: 'a', backupCron: '0 2 * * ? *', heartbeat: heartbeat('a', minutesAgo(5)) };
    expect(judgeSite({ ...input, lastRun: run('a', new Date('2026-12-02T02:00:05Z'), 'FULL') }, NOW)).toMatchObject({ state: 'LATE', missedWindow: '2026-12-03T02:00:00.000Z', nextWindow: '2026-12-04T02:00:00.000Z' });
    expect(judgeSite({ ...input, lastRun: run('a', new Date('2026-12-03T02:00:05Z'), 'FULL') }, NOW)).toMatchObject({ state: 'OK', lastWindow: { outcome: 'FULL' } });
  });

  it('is WARN for a PARTIAL window or a backlog the recorder evicts within a day, with the reason', () => {
    const partial = judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(5)), lastRun: run('a', minutesAgo(60), 'PARTIAL', ['2 batch(es) could not be shipped']) }, NOW);
    expect(partial).toMatchObject({ state: 'WARN', reasons: ['last window PARTIAL: 2 batch(es) could not be shipped'] });
    const hb = heartbeat('a', minutesAgo(5));
    hb.sources[0]!.timeToLossSeconds = 3 * 3600;
    expect(judgeSite({ site: 'a', heartbeat: hb }, NOW)).toMatchObject({ state: 'WARN', reasons: ['cs: oldest unshipped batch is evicted in about 3 h'] });
  });

  it('is WARN for a day after the agent recorded a loss, whatever passes came after, naming the batches; OK once it is older', () => {
    const loss = (hoursAgo: number) => ({ id: `l${hoursAgo}`, source: 'cs', batch: '000028', kind: 'recordings' as const, at: minutesAgo(hoursAgo * 60).toISOString(), reason: 'deleted by the recorder before it was shipped', files: 4, paths: ['/rec/000028/a.wav'] });
    const later = heartbeat('a', minutesAgo(1), { losses: 1, recentLosses: [loss(3)] });
    expect(judgeSite({ site: 'a', heartbeat: later }, NOW)).toMatchObject({ state: 'WARN', reasons: ['4 file(s) lost in the last 24 h (cs: 000028)'] });
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { losses: 1, recentLosses: [loss(30)] }) }, NOW)).toMatchObject({ state: 'OK' });
  });

  it('tells recordings gone before shipping again, shipped before under another file time, apart from certain losses', () => {
    const certain = { id: 'l1', source: 'cs', batch: '000040', kind: 'recordings' as const, at: minutesAgo(60).toISOString(), reason: 'deleted by the recorder before it was shipped', files: 4, paths: ['/rec/000040/a.wav'] };
    const doubtful = { ...certain, id: 'l2', batch: '000041', files: 10, shippedBefore: true as const };
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { losses: 2, recentLosses: [certain, doubtful] }) }, NOW)).toMatchObject({
      state: 'WARN',
      reasons: ['4 file(s) lost in the last 24 h (cs: 000040)', '10 file(s) gone before shipping again in the last 24 h, shipped before under another file time: offsite if the recorder only touched them, lost if it was replaced (cs: 000041)'],
    });
  });

  it('counts batches no pass ever saw as batches, not as files', () => {
    const unseen = { id: 'u1', source: 'cs', batch: '000037–000039', kind: 'recordings' as const, at: minutesAgo(60).toISOString(), reason: 'written and evicted by the recorder without any pass seeing them', files: 3, paths: ['/rec/000037', '/rec/000038', '/rec/000039'], unseen: true as const };
    const lost = { ...unseen, id: 'l1', batch: '000040', files: 4, paths: ['/rec/000040/a.wav'], unseen: undefined };
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { losses: 2, recentLosses: [unseen] }) }, NOW).reasons).toEqual(['3 batch(es) never seen lost in the last 24 h (cs: 000037–000039)']);
    const { unseen: _u, ...plain } = lost;
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { losses: 2, recentLosses: [unseen, plain] }) }, NOW).reasons).toEqual(['4 file(s) and 3 batch(es) never seen lost in the last 24 h (cs: 000037–000039, cs: 000040)']);
  });

  it('is WARN while the agent holds a critical or warning alert the row does not already name, saying which and since when', () => {
    const since = minutesAgo(30).toISOString();
    const alerts: Heartbeat['alerts'] = [
      { key: 'site-name-shared', severity: 'critical', subject: 'another agent ships as site a', since },
      { key: 'source-unavailable:cs', severity: 'critical', subject: 'source cs cannot be read', since },
      { key: 'loss:cs:000028', severity: 'critical', subject: '4 recordings lost', since },
      { key: 'note', severity: 'info', subject: 'an informational note', since },
    ];
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { alerts }) }, NOW)).toMatchObject({ state: 'WARN', reasons: [`critical alert open since ${since}: another agent ships as site a`] });
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(1), { alerts: alerts.slice(1) }) }, NOW)).toMatchObject({ state: 'OK', reasons: [] });
  });

  it("ages a silent site's backlog to now, and says when a heartbeat is dated in the future (the site's clock ahead)", () => {
    const row = judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(120)) }, NOW);
    expect(row.sources[0]).toMatchObject({ oldestPendingSeconds: 600 + 7200, timeToLossSeconds: 5 * 86400 - 7200 });
    const ahead = judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(-120)) }, NOW);
    expect(ahead).toMatchObject({ state: 'WARN', reasons: ["heartbeat dated 120 min in the future: the site's clock is ahead (set it right: until then a stopped agent would look alive)"] });
    expect(judgeSite({ site: 'a', heartbeat: heartbeat('a', minutesAgo(-1)) }, NOW).state).toBe('OK');
  });

  it('is RETIRED from its retired day on, silent for a month and with a window missed (not SILENT or LATE), and judged as before until that day', () => {
    const month = new Date(NOW.getTime() + 30 * 86_400_000);
    const input = { site: 'a', silentAfterMinutes: 10, backupCron: '0 2 * * ? *', retired: '2026-12-03', heartbeat: heartbeat('a', minutesAgo(700)), lastRun: run('a', new Date('2026-12-01T02:00:00Z'), 'FAILED', ['the agent did not answer']) };
    expect(judgeSite(input, month)).toMatchObject({ state: 'RETIRED', lastHeartbeat: minutesAgo(700).toISOString(), reasons: ['retired 2026-12-03: no heartbeat or backup window is expected; its calls are kept and the purge deletes them at the end of their retention'] });
    expect(judgeSite(input, month).missedWindow).toBeUndefined();
    expect(judgeSite({ site: 'a', retired: '2026-12-03' }, NOW).state).toBe('RETIRED');
    expect(judgeSite({ ...input, retired: '2026-12-04' }, NOW).state).toBe('SILENT');
    // An agent still writing heartbeats after the day is worth knowing: said, the state stays RETIRED.
    const still = judgeSite({ site: 'a', retired: '2026-12-03', heartbeat: heartbeat('a', minutesAgo(1)) }, NOW);
    expect(still.state).toBe('RETIRED');
    expect(still.reasons[1]).toBe(`a heartbeat arrived after the site was retired (${minutesAgo(1).toISOString()}): its agent still runs (stop it, or take \`retired\` out of the deployment if the site is back)`);
    expect(sortFleet([judgeSite({ site: 'a', retired: '2026-12-01' }, NOW), judgeSite({ site: 'b', heartbeat: heartbeat('b', minutesAgo(1)) }, NOW)]).map((r) => r.state)).toEqual(['OK', 'RETIRED']);
  });

  it("says what the last pass's problem count means and where to read them, not only 'N failed'", () => {
    const row = judgeSite({ site: 'warn', heartbeat: heartbeat('warn', minutesAgo(1), { lastPass: { at: NOW.toISOString(), failed: 1, lost: 0 } }) }, NOW);
    expect(row.state).toBe('WARN');
    expect(row.reasons).toEqual(['the last pass ended with 1 problem(s) (a batch, backup or snapshot not shipped, a source not read, or an alert raised): `ferry agent status` on the site host names them']);
  });

  it('sorts worst first: SILENT, LATE, WARN, OK, the longest silence first', () => {
    const rows = [
      judgeSite({ site: 'ok', heartbeat: heartbeat('ok', minutesAgo(1)) }, NOW),
      judgeSite({ site: 'silent-1', heartbeat: heartbeat('silent-1', minutesAgo(100)) }, NOW),
      judgeSite({ site: 'late', backupCron: '0 2 * * ? *', heartbeat: heartbeat('late', minutesAgo(1)) }, NOW),
      judgeSite({ site: 'silent-2', heartbeat: heartbeat('silent-2', minutesAgo(500)) }, NOW),
      judgeSite({ site: 'warn', heartbeat: heartbeat('warn', minutesAgo(1), { lastPass: { at: NOW.toISOString(), failed: 1, lost: 0 } }) }, NOW),
    ];
    expect(sortFleet(rows).map((r) => `${r.site}:${r.state}`)).toEqual(['silent-2:SILENT', 'silent-1:SILENT', 'late:LATE', 'warn:WARN', 'ok:OK']);
  });
});

/** Counts the store's requests: a LIST page is one request however many keys it returns. */
function counting(store: BlobStore) {
  const counts = { list: 0, get: 0 };
  const blobs: Pick<BlobStore, 'list' | 'get'> = {
    list: (prefix) => {
      counts.list++;
      return store.list(prefix);
    },
    get: (key, range) => {
      counts.get++;
      return store.get(key, range);
    },
  };
  return { counts, blobs };
}

describe('reading a fleet of 20 sites', () => {
  it('reads each site with one listing of its heartbeats and one of its refused agents\' records, one GET and one run query, and names exactly the sites with problems', async () => {
    const store = new MemoryBlobStore();
    const runs = new MemoryRunStore();
    let queries = 0;
    const countingRuns = { recentRuns: (site: string, limit: number) => (queries++, runs.recentRuns(site, limit)) };
    const sites = Array.from({ length: 20 }, (_, i) => ({ name: `site-${String(i).padStart(2, '0')}`, backupCron: '0 2 * * ? *', silentAfterMinutes: 90 }));
    for (const [i, s] of sites.entries()) {
      // Many heartbeats each: the newest must win without reading the others.
      for (let m = 0; m < 12; m++) {
        const silentSite = i === 3 || i === 11;
        const at = minutesAgo((silentSite ? 200 : 5) + m * 5);
        await store.put(heartbeatKey(s.name, at), Buffer.from(JSON.stringify(heartbeat(s.name, at, m === 0 && i === 7 ? { lastPass: { at: at.toISOString(), failed: 0, lost: 4 } } : {}))));
      }
      if (i !== 15) await runs.putRun(run(s.name, new Date('2026-12-03T02:00:10Z'), i === 18 ? 'FAILED' : 'FULL', i === 18 ? ['States.Timeout: agent did not answer'] : []));
    }
    const { counts, blobs } = counting(store);
    const rows = await readFleet({ blobs, runs: countingRuns }, sites, NOW);
    expect(counts).toEqual({ list: 40, get: 20 });
    expect(queries).toBe(20);
    expect(rows).toHaveLength(20);
    const notOk = rows.filter((r) => r.state !== 'OK').map((r) => `${r.site}:${r.state}`);
    expect(notOk).toEqual(['site-03:SILENT', 'site-11:SILENT', 'site-15:LATE', 'site-18:LATE', 'site-07:WARN']);
    expect(rows.find((r) => r.site === 'site-00')).toMatchObject({ heartbeatAgeSeconds: 300, sources: [{ name: 'cs', pendingBatches: 2, lastGoodAgeSeconds: 300 }] });
  });

  it('reports a site whose heartbeat does not parse as SILENT with the key and the field, not as an error for the fleet', async () => {
    const store = new MemoryBlobStore();
    const key = heartbeatKey('bad', minutesAgo(1));
    await store.put(key, Buffer.from(JSON.stringify({ ...heartbeat('bad', minutesAgo(1)), losses: -1 })));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'bad' }], NOW);
    expect(row).toMatchObject({ site: 'bad', state: 'SILENT', reasons: [expect.stringMatching(new RegExp(`${key}: losses`))] });
  });
});

describe('a site more than one agent wrote as (a failover host, another state directory)', () => {
  const loss = (id: string, batch: string, at: Date) => ({ id, source: 'cs', batch, kind: 'recordings' as const, at: at.toISOString(), reason: 'deleted by the recorder before it was shipped', files: 2, paths: [] });
  const putAs = (store: MemoryBlobStore, agent: string, at: Date, extra: Partial<Heartbeat> = {}) =>
    store.put(heartbeatKey('site-a', at, { agent }), Buffer.from(JSON.stringify(heartbeat('site-a', at, { ...extra, agent: { id: agent, host: `host-${agent}` } }))));

  it("names every agent's losses of the last 24 h, each once, reading one GET for each agent however many heartbeats the others wrote since", async () => {
    const store = new MemoryBlobStore();
    const early = loss('l1', '000004', minutesAgo(300));
    await putAs(store, 'old-host', minutesAgo(300), { losses: 1, recentLosses: [early] });
    await putAs(store, 'moved-dir', minutesAgo(200), { losses: 2, recentLosses: [early, loss('l2', '000005', minutesAgo(200))] });
    // An agent heard from 25 h ago: its losses are older than the row's window, its heartbeat is not read.
    await putAs(store, 'gone', minutesAgo(25 * 60), { losses: 1, recentLosses: [loss('l0', '000001', minutesAgo(25 * 60))] });
    for (let m = 180; m >= 0; m -= 5) await putAs(store, 'standby', minutesAgo(m));
    const { counts, blobs } = counting(store);
    const [row] = await readFleet({ blobs, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
    // One LIST of the recent heartbeats, one of the refused agents' records, one of the daily ones (who ships the site since when, core/fleet-handover.ts: none written here).
    expect(counts).toEqual({ list: 3, get: 3 });
    expect(row).toMatchObject({ site: 'site-a', state: 'WARN', lastHeartbeat: NOW.toISOString(), losses: 3 });
    expect(row!.reasons).toEqual(['4 file(s) lost in the last 24 h (cs: 000004, cs: 000005)']);
  });

  it("passes over a heartbeat whose key names another agent than its body, and names it", async () => {
    const store = new MemoryBlobStore();
    await putAs(store, 'standby', minutesAgo(1));
    await store.put(heartbeatKey('site-a', minutesAgo(30), { agent: 'old-host' }), Buffer.from(JSON.stringify(heartbeat('site-a', minutesAgo(30), { agent: { id: 'someone-else', host: 'x' }, recentLosses: [loss('l1', '000004', minutesAgo(30))] }))));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], NOW);
    expect(row!.reasons).toEqual([expect.stringMatching(/^heartbeat object\(s\) not believed, passed over: heartbeats\/site-a\/\d{13}-old-host\/\d{13}\.json \(its agent someone-else is not its key's\)/)]);
  });
});

describe('a site silent for longer than its recent heartbeats are kept', () => {
  it("is SILENT since its last daily heartbeat, not \"never heard from\", and the dead-man's alert names it", async () => {
    const store = new MemoryBlobStore();
    // Months of daily heartbeats, the last 45 days ago; every recent one expired (31 days).
    for (let d = 45; d <= 120; d += 1) {
      const at = minutesAgo(d * 1440 + 30);
      await store.put(heartbeatKey('quiet', at, { agent: 'a1', dataClass: 'heartbeats-daily' }), Buffer.from(JSON.stringify(heartbeat('quiet', at, { agent: { id: 'a1', host: 'h' } }))));
    }
    const last = minutesAgo(45 * 1440 + 30).toISOString();
    const { counts, blobs } = counting(store);
    const [row] = await readFleet({ blobs, runs: new MemoryRunStore() }, [{ name: 'quiet' }], NOW);
    expect(counts).toEqual({ list: 3, get: 1 });
    expect(row).toMatchObject({ site: 'quiet', state: 'SILENT', lastHeartbeat: last, lastHeartbeatDaily: true, sources: [{ name: 'cs', lastGood: { at: last } }] });
    expect(row!.reasons[0]).toBe(`silent since ${last}, 45 days (the agent's last daily heartbeat: the later ones expired after 31 days, so it may have run up to a day longer)`);
    const sent: Alert[] = [];
    await runDeadman({ store: new MemoryDeadmanStore(), notifier: { notify: async (a) => void sent.push(a) } }, [row!], NOW);
    expect(sent[0]!.message).toContain(`Last heartbeat: ${last} (the agent's last daily heartbeat: the later ones expired; it may have run up to a day after it)`);
    // What to do names commands that run as written (`agent run` without --config exits 2), and how the page ends.
    expect(sent[0]!.message).toContain('`ferry agent status --config /etc/ferry/agent.yaml` shows its last pass, last error and open alerts; `ferry agent run --config /etc/ferry/agent.yaml --once` runs a pass');
    expect(sent[0]!.message).toContain("this alert resolves by itself when the agent's next heartbeat reaches the store");
    // A site with neither recent nor daily heartbeats was never heard from.
    const [never] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'new-site' }], NOW);
    expect(never).toMatchObject({ state: 'SILENT', reasons: ['no heartbeat received yet'] });
  });
});

describe('a heartbeat of a newer agent', () => {
  it('is read with the fields this release knows: a field it does not know (an agent upgraded before the cloud) does not make the site SILENT', async () => {
    const store = new MemoryBlobStore();
    const at = minutesAgo(2);
    const newer = { ...heartbeat('upgraded', at), agentVersion: '9.9.9', somethingNew: { a: 1 }, lastPass: { at: at.toISOString(), failed: 0, lost: 0, took: 12 } };
    newer.sources = newer.sources.map((src) => ({ ...src, futureField: true }));
    await store.put(heartbeatKey('upgraded', at), Buffer.from(JSON.stringify(newer)));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'upgraded' }], NOW);
    expect(row).toMatchObject({ site: 'upgraded', state: 'OK', heartbeatAgeSeconds: 120 });
  });
});

describe('heartbeat keys are the writer\'s choice', () => {
  it('passes over a key planted far in the future and a heartbeat filed under another time than its own, reads the real newest, and names what it passed over', async () => {
    const store = new MemoryBlobStore();
    const real = heartbeat('site-b', minutesAgo(2));
    await store.put(heartbeatKey('site-b', minutesAgo(2)), Buffer.from(JSON.stringify(real)));
    // An agent key of the site plants `…/0000000000000.json` (the year 2286) with a body dated now, and files an old body under a newer key.
    await store.put(`${heartbeatPrefix('site-b')}0000000000000.json`, Buffer.from(JSON.stringify(heartbeat('site-b', NOW))));
    await store.put(heartbeatKey('site-b', minutesAgo(1)), Buffer.from(JSON.stringify(heartbeat('site-b', minutesAgo(600)))));
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-b', silentAfterMinutes: 90 }], NOW);
    expect(row).toMatchObject({ site: 'site-b', state: 'WARN', lastHeartbeat: real.at, heartbeatAgeSeconds: 120 });
    expect(row!.reasons).toEqual([expect.stringMatching(/^heartbeat object\(s\) not believed, passed over: heartbeats\/site-b\/0000000000000\.json \(dated .+, more than a day ahead\), heartbeats\/site-b\/\d{13}\.json \(its at .+ is not its key's time\)/)]);
    // A site whose only heartbeat is the planted one is SILENT, not alive.
    const lone = new MemoryBlobStore();
    await lone.put(`${heartbeatPrefix('site-c')}0000000000000.json`, Buffer.from(JSON.stringify(heartbeat('site-c', NOW))));
    expect((await readFleet({ blobs: lone, runs: new MemoryRunStore() }, [{ name: 'site-c' }], NOW))[0]!.state).toBe('SILENT');
  });
});

describe('a site whose clock ran ahead and was set right', () => {
  it('reads the heartbeat the store received last, not the newest key written under the fast clock, and keeps the fast one while nothing came after it', async () => {
    // The store's clock (LastModified) is the real time; the agent's keys are its own clock's.
    let storeTime = minutesAgo(20).getTime();
    const store = new MemoryBlobStore({ clock: { now: () => new Date(storeTime) } });
    const put = async (at: Date, extra: Partial<Heartbeat> = {}) => store.put(heartbeatKey('site-f', at), Buffer.from(JSON.stringify(heartbeat('site-f', at, extra))));
    // Three passes 20, 15 and 10 minutes ago with the clock 50 minutes fast.
    for (const m of [20, 15, 10]) {
      storeTime = minutesAgo(m).getTime();
      await put(new Date(storeTime + 50 * 60_000));
    }
    const fast = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-f', silentAfterMinutes: 90 }], NOW);
    expect(fast[0]!.reasons.join(' ')).toMatch(/heartbeat dated 40 min in the future/);
    // The clock is set right: a pass 2 minutes ago records a loss.
    storeTime = minutesAgo(2).getTime();
    await put(minutesAgo(2), { losses: 1, recentLosses: [{ source: 'cs', batch: '000005', files: 2, at: minutesAgo(2).toISOString(), kind: 'recordings', reason: 'deleted by the recorder before it was shipped', id: 'l1', paths: [] }] });
    const [row] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-f', silentAfterMinutes: 90 }], NOW);
    expect(row).toMatchObject({ site: 'site-f', state: 'WARN', lastHeartbeat: minutesAgo(2).toISOString(), heartbeatAgeSeconds: 120 });
    expect(row!.reasons.join(' ')).toMatch(/2 file\(s\) lost/);
    expect(row!.reasons.join(' ')).not.toMatch(/in the future/);
  });
});

describe("the dead-man's switch", () => {
  it('raises once for a silent site, repeats at most daily, and resolves when the agent is heard again', async () => {
    const store = new MemoryDeadmanStore();
    const sent: Alert[] = [];
    const deps = { store, notifier: { notify: async (a: Alert) => void sent.push(a) } };
    const at = (h: number) => new Date(NOW.getTime() + h * 3600_000);
    const silentRow = (now: Date) => judgeSite({ site: 'a', silentAfterMinutes: 90, heartbeat: heartbeat('a', minutesAgo(120)) }, now);
    expect(await runDeadman(deps, [silentRow(at(0))], at(0))).toEqual([{ site: 'a', action: 'raised', state: 'SILENT' }]);
    expect(await runDeadman(deps, [silentRow(at(0.25))], at(0.25))).toEqual([{ site: 'a', action: 'none', state: 'SILENT' }]);
    expect(await runDeadman(deps, [silentRow(at(23.9))], at(23.9))).toEqual([{ site: 'a', action: 'none', state: 'SILENT' }]);
    expect(await runDeadman(deps, [silentRow(at(24))], at(24))).toEqual([{ site: 'a', action: 'repeated', state: 'SILENT' }]);
    const back = judgeSite({ site: 'a', heartbeat: heartbeat('a', at(24.1)) }, at(24.2));
    expect(await runDeadman(deps, [back], at(24.2))).toEqual([{ site: 'a', action: 'resolved', state: 'OK' }]);
    expect(sent.map((a) => `${a.severity}:${a.subject}`)).toEqual(['critical:Ferry a: agent silent', 'critical:Ferry a: agent silent (still)', 'info:Ferry a: resolved - agent heard from again']);
    expect(sent[0]!.message).toContain(`Last heartbeat: ${minutesAgo(120).toISOString()}`);
    expect(store.states.get('a')).toEqual({ site: 'a' });
  });

  it('never pages for a retired site, and resolves the page of a silent site once it is retired', async () => {
    const store = new MemoryDeadmanStore();
    const sent: Alert[] = [];
    const deps = { store, notifier: { notify: async (a: Alert) => void sent.push(a) } };
    const at = (d: number) => new Date(NOW.getTime() + d * 86_400_000);
    const blobs = new MemoryBlobStore();
    const runs = new MemoryRunStore();
    const sites = [{ name: 'gone', silentAfterMinutes: 10, retired: '2026-12-03' }];
    for (const d of [0, 1, 2, 30, 365]) expect(await runDeadman(deps, await readFleet({ blobs, runs }, sites, at(d)), at(d))).toEqual([{ site: 'gone', action: 'none', state: 'RETIRED' }]);
    expect(sent).toEqual([]);
    // Paged as silent before anyone marked it retired: the page is resolved, saying why.
    const silent = judgeSite({ site: 'gone', silentAfterMinutes: 10, heartbeat: heartbeat('gone', minutesAgo(60)) }, NOW);
    expect(await runDeadman(deps, [silent], NOW)).toEqual([{ site: 'gone', action: 'raised', state: 'SILENT' }]);
    expect(await runDeadman(deps, [judgeSite({ site: 'gone', retired: '2026-12-03', heartbeat: heartbeat('gone', minutesAgo(60)) }, at(1))], at(1))).toEqual([{ site: 'gone', action: 'resolved', state: 'RETIRED' }]);
    expect(sent.map((a) => `${a.severity}:${a.subject}`)).toEqual(['critical:Ferry gone: agent silent', 'info:Ferry gone: resolved - the site is retired (nothing is expected of it any more)']);
  });

  it('alerts a window that did not run even while the agent keeps sending heartbeats', async () => {
    const sent: Alert[] = [];
    const row = judgeSite({ site: 'b', backupCron: '0 2 * * ? *', heartbeat: heartbeat('b', minutesAgo(2)), lastRun: run('b', new Date('2026-12-02T02:00:00Z'), 'FULL') }, NOW);
    const out = await runDeadman({ store: new MemoryDeadmanStore(), notifier: { notify: async (a) => void sent.push(a) } }, [row], NOW);
    expect(out).toEqual([{ site: 'b', action: 'raised', state: 'LATE' }]);
    expect(sent[0]).toMatchObject({ subject: 'Ferry b: backup window did not run', key: 'deadman:b' });
    expect(sent[0]!.message).toContain('the window due 2026-12-03T02:00:00.000Z did not run');
  });
});

describe("the site agent's write-once role and heartbeats", () => {
  // The statements the CDK app attaches to the role; the partition token resolved as in the commercial partition.
  const statements = agentStatements({ site: 'site-a', bucketName: 'data', dataKeyArn: 'arn:aws:kms:us-east-1:1:key/k', activityArn: 'arn:aws:states:us-east-1:1:activity:a' }).map((s) => s.toStatementJson());
  const policy = { Version: '2012-10-17', Statement: JSON.parse(JSON.stringify(statements).replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/g, 'aws')) } as PolicyDocument;
  const put = (key: string, ifNoneMatch: boolean) => isAllowed([policy], { action: 's3:PutObject', resource: `arn:aws:s3:::data/${key}`, context: { 's3:if-none-match': ifNoneMatch ? '*' : undefined, 's3:ObjectCreationOperation': true } });

  it("may add a heartbeat under its own site's prefix only, and never overwrite one", () => {
    expect(heartbeatPrefix('site-a')).toBe('heartbeats/site-a/');
    expect(put(heartbeatKey('site-a', NOW), true)).toBe(true);
    expect(put(heartbeatKey('site-a', NOW), false)).toBe(false);
    expect(put(heartbeatKey('site-b', NOW), true)).toBe(false);
  });

  it("may add a daily heartbeat under its own site's heartbeats-daily/ only, and never overwrite one", () => {
    const daily = (site: string) => heartbeatKey(site, NOW, { agent: 'a1', dataClass: 'heartbeats-daily' });
    expect(daily('site-a')).toMatch(/^heartbeats-daily\/site-a\/(\d{13})-a1\/\1\.json$/);
    expect(put(daily('site-a'), true)).toBe(true);
    expect(put(daily('site-a'), false)).toBe(false);
    expect(put(daily('site-b'), true)).toBe(false);
  });
});
