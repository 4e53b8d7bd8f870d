// Daily reports over a fleet of 20 simulated sites in one catalogue and one bucket, with
// problems injected into some: the reports name exactly those sites, and say why.
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { dailyReport, renderDailyReport, reportSubject, storeDailyReport, type AgentSignals } from '../../core/report.ts';
import { dailyReportPrefix } from '../../core/report-keys.ts';
import { makeFull, makeSegment } from '../support/artefact-fixtures.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const DAY = '2026-03-02';
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00.000Z`;
const SITES = Array.from({ length: 20 }, (_, i) => `site-${String(i + 1).padStart(2, '0')}`);
const MISSING_BACKUP = 'site-03';
const LOST_BATCH = 'site-07';
const STALE_BINLOG = 'site-11';
const SILENT = 'site-15';

async function shipDay(blobs: MemoryBlobStore, catalogue: MemoryCatalogue, site: string, day: string, opts: { full?: boolean; binlogUntil?: string; ingest?: boolean; shippedAt?: string[] }) {
  for (let b = 0; b < 3; b++) {
    const fixture = buildPack(site, [0, 1].map((i) => ({ path: `${day}/b${b}/call-${i}.wav`, body: audio(b * 10 + i, 600) })), { day: `${day}T00:00:00Z`, seed: `${day}/${b}` });
    fixture.manifest.createdAt = at(day, opts.shippedAt?.[b] ?? `0${b + 1}:30`);
    fixture.manifestBytes = serializeManifest(fixture.manifest);
    await publish(blobs, fixture);
    if (opts.ingest !== false) await ingestManifest({ blobs, catalogue }, fixture.manifestKey);
  }
  if (opts.full !== false) await catalogue.putArtefact(makeFull(at(day, '02:05'), { site, source: 'db', name: `db-${day}.sql` }));
  const until = Date.parse(at(day, opts.binlogUntil ?? '23:50'));
  let seq = Date.parse(at(day, '00:00')) / 60_000 / 30;
  for (let t = Date.parse(at(day, '00:00')); t <= until; t += 30 * 60_000) {
    await catalogue.putArtefact(makeSegment(seq++, new Date(t - 30 * 60_000).toISOString(), new Date(t).toISOString(), { site, source: 'binlog' }));
  }
}

describe('daily report over a fleet of 20 sites', () => {
  it('is FULL for every healthy site and PARTIAL or FAILED for exactly the sites with a missing backup, a lost batch, a stale binlog or nothing shipped, each saying why', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    for (const site of SITES) {
      await shipDay(blobs, catalogue, site, '2026-03-01', {});
      if (site === SILENT) continue;
      await shipDay(blobs, catalogue, site, DAY, { full: site !== MISSING_BACKUP, ...(site === STALE_BINLOG ? { binlogUntil: '12:00' } : {}) });
    }
    const signals = async (site: string): Promise<AgentSignals> => ({
      lost: site === LOST_BATCH ? [{ source: 'contactstore', path: '/rec/000124/call-7.wav', at: at(DAY, '04:00'), reason: 'evicted by the recorder' }] : [],
      unshipped: [],
    });
    const now = () => new Date('2026-03-03T00:30:00Z');

    const reports = await Promise.all(SITES.map((site) => dailyReport({ blobs, catalogue }, site, DAY, { now, signals })));
    const status = Object.fromEntries(reports.map((r) => [r.site, r.status]));
    const notFull = Object.fromEntries(Object.entries(status).filter(([, s]) => s !== 'FULL'));
    expect(notFull).toEqual({ [MISSING_BACKUP]: 'PARTIAL', [LOST_BATCH]: 'PARTIAL', [STALE_BINLOG]: 'PARTIAL', [SILENT]: 'FAILED' });

    const problems = (site: string) => reports.find((r) => r.site === site)!.problems;
    expect(problems(MISSING_BACKUP)).toEqual([expect.stringMatching(/^db: the expected backup is not offsite: no full backup taken in the 24 h before 2026-03-03 00:00Z \(newest: db-2026-03-01\.sql taken 2026-03-01 02:05Z\)$/)]);
    expect(problems(LOST_BATCH)).toEqual(['contactstore: 1 recording(s) lost before they could be shipped: /rec/000124/call-7.wav']);
    expect(problems(STALE_BINLOG)).toEqual([expect.stringMatching(/^binlog: binlog RPO 12 h exceeds its bound of 60 min \(newest shipped event 2026-03-02 12:00Z\)$/)]);
    expect(problems(SILENT)[0]).toBe('nothing arrived from the site in the day');
    expect(problems(SILENT)).toContain('db: the expected backup is not offsite: no full backup taken in the 24 h before 2026-03-03 00:00Z (newest: db-2026-03-01.sql taken 2026-03-01 02:05Z)');
    expect(problems('site-01')).toEqual([]);

    const healthy = reports.find((r) => r.site === 'site-01')!;
    expect(healthy.sources.map((s) => [s.source, s.type, s.ok])).toEqual([
      ['binlog', 'binlog', true],
      ['contactstore', 'recordings', true],
      ['db', 'rotated', true],
    ]);
    expect(renderDailyReport(healthy)).toContain('contactstore (recordings): 3 batch(es), 6 recording(s) shipped');
    // The site-wide problem is printed, not only in the JSON.
    const silent = reports.find((r) => r.site === SILENT)!;
    expect(renderDailyReport(silent)).toContain('\n  - nothing arrived from the site in the day\n');
    expect(renderDailyReport(silent)).not.toContain('note: computed');
    // Worked out two years later (the purge may have deleted the day's packs since), it says so.
    const late = renderDailyReport({ ...silent, generatedAt: '2028-03-03T00:30:00.000Z' });
    expect(late).toContain(`note: computed 2028-03-03 from what the store holds now; packs the retention purge deleted since read as never shipped (\`ferry audit search --site ${SILENT} --action purge\`), and the report stored that day is under reports/${SILENT}/daily/`);
  });

  it("judges a rostrvm full against its manual's weekly schedule and CVP's .old as one backup behind, and a generic full against a day", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const now = () => new Date('2026-12-06T00:30:00Z');
    const day = '2026-12-05';
    const full = (site: string, takenAt: string, name: string, profile?: string) => catalogue.putArtefact(makeFull(takenAt, { site, source: 'db', name, ...(profile ? { profile } : {}) }));
    await full('rostrvm-york', '2026-11-29T03:04:00.000Z', 'rostrvm_920_2.rbk', 'rostrvm'); // last Sunday
    await full('cvp-site', '2026-12-04T03:07:00.000Z', 'cvp_backup_data.old', 'cvp'); // the night before's backup
    await full('plain', '2026-12-04T03:07:00.000Z', 'db.sql');
    await full('rostrvm-late', '2026-11-28T03:04:00.000Z', 'rostrvm_920_1.rbk', 'rostrvm'); // eight days: a Sunday missed
    const judged = async (site: string) => (await dailyReport({ blobs, catalogue }, site, day, { now, signals: async () => ({ lost: [], unshipped: [] }) })).sources.find((x) => x.source === 'db')!;
    expect(await judged('rostrvm-york')).toMatchObject({ ok: true });
    expect(await judged('cvp-site')).toMatchObject({ ok: true });
    expect((await judged('plain')).problems).toEqual([expect.stringMatching(/no full backup taken in the 24 h before/)]);
    expect((await judged('rostrvm-late')).problems).toEqual([expect.stringMatching(/no full backup taken in the 7 d before/)]);
  });

  it('names a break in the log chain on the day the segment after it arrived: the missing segments, the ones offsite only as a partial, and the last reachable event', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const seg = (n: number, from: string, to: string, over = {}) => makeSegment(n, at(DAY, from), at(DAY, to), { site: 'site-01', source: 'binlog', ...over });
    await catalogue.putArtefact(makeFull(at(DAY, '00:05'), { site: 'site-01', source: 'db', name: 'db.sql' }));
    for (const s of [seg(1, '00:00', '01:00'), seg(2, '01:00', '02:00'), seg(3, '02:00', '02:40', { partial: true }), seg(5, '04:00', '05:00'), seg(6, '05:00', '23:50')]) await catalogue.putArtefact(s);
    const now = () => new Date('2026-03-03T00:30:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-01', DAY, { now });
    const binlog = report.sources.find((s) => s.source === 'binlog')!;
    expect(binlog.ok).toBe(false);
    expect(binlog.problems).toEqual(['the log chain is broken: mysql-bin.000003 to mysql-bin.000004 are not offsite (mysql-bin.000003 only as a partial snapshot); no point in time after 2026-03-02 02:40Z can be restored from a full taken before the break']);
    // The next day, nothing new broke: the same break is not reported again.
    await catalogue.putArtefact(makeSegment(7, at('2026-03-03', '00:00'), at('2026-03-03', '23:50'), { site: 'site-01', source: 'binlog' }));
    const next = await dailyReport({ blobs, catalogue }, 'site-01', '2026-03-03', { now: () => new Date('2026-03-04T00:30:00Z') });
    expect(next.sources.find((s) => s.source === 'binlog')!.problems).toEqual([]);
  });

  it('says a tree snapshot left paths out or skipped them, how many, and which command names them', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const snap = (hh: string, problems: number) => ({ site: 'site-01', source: 'share', snapshotId: `s${hh.padStart(23, "0")}`, takenAt: at(DAY, `${hh}:00`), manifestKey: `manifests/site-01/trees/share/${hh}.json`, files: 10, dirs: 1, symlinks: 0, problems, bytesTotal: 100, bytesAdded: 10, packs: 1 });
    for (const s of [snap('01', 0), snap('02', 2), snap('03', 1)]) await catalogue.putSnapshot(s);
    const report = await dailyReport({ blobs, catalogue }, 'site-01', DAY, { now: () => new Date('2026-03-03T00:30:00Z') });
    expect(report.sources.find((s) => s.source === 'share')!.problems).toEqual(['2 snapshot(s) left paths out or skipped them (3 in all: unreadable, changing while read, or special files; `ferry snapshots list --problems` names them)']);
  });

  it('names the batches of the day that shipped but never reached the catalogue (ingest failed), which no search finds', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', '2026-03-01', {});
    await shipDay(blobs, catalogue, 'site-a', DAY, { ingest: false });
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => new Date('2026-03-03T00:30:00Z') });
    expect(report.status).toBe('PARTIAL');
    expect(report.problems).toEqual([expect.stringMatching(/^contactstore: 3 batch\(es\) \(6 recording\(s\)\) shipped but not in the catalogue \(its ingest failed\): no search finds them; run `ferry catalogue rebuild --site site-a` \(first: /)]);
  });

  it('names packs shipped in the last hour of the day whose ingest failed, when the report is made the next morning', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', DAY, { ingest: false, shippedAt: ['23:10', '23:40', '23:55'] });
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => new Date('2026-03-03T06:00:00Z') });
    expect(report.status).toBe('PARTIAL');
    expect(report.problems).toEqual([expect.stringMatching(/^contactstore: 3 batch\(es\) \(6 recording\(s\)\) shipped but not in the catalogue \(its ingest failed\)/)]);
    // Made at 00:30, the packs of 23:40 and 23:55 are still within the hour ingest is given.
    const early = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => new Date('2026-03-03T00:30:00Z') });
    expect(early.problems).toEqual([expect.stringMatching(/^contactstore: 1 batch\(es\) \(2 recording\(s\)\) shipped but not in the catalogue/)]);
  });

  it('keeps each run of a report under a new key, never replacing an earlier one', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-01', DAY, {});
    const now = () => new Date('2026-03-03T00:30:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-01', DAY, { now });
    const first = await storeDailyReport(blobs, report);
    const second = await storeDailyReport(blobs, report);
    expect(first).toBe('reports/site-01/daily/2026/03/02/20260303T003000000Z.json');
    expect(second).toBe('reports/site-01/daily/2026/03/02/20260303T003000000Z-1.json');
    const keys: string[] = [];
    for await (const info of blobs.list(dailyReportPrefix('site-01', DAY))) keys.push(info.key);
    expect(keys.sort()).toEqual([first, second].sort());
  });

  it('refuses a date that is not a calendar day, naming it', async () => {
    const blobs = new MemoryBlobStore();
    await expect(dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-01', '2026-02-30')).rejects.toThrow('date "2026-02-30" must be a calendar day written YYYY-MM-DD');
  });
});

describe('daily report from what the agents said in their heartbeats', () => {
  const beat = (site: string, iso: string, extra: Partial<Heartbeat> = {}): Heartbeat => ({ format: HEARTBEAT_FORMAT, site, at: iso, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: iso, failed: 0, lost: 0 }, ...extra });
  const put = (blobs: MemoryBlobStore, hb: Heartbeat) => blobs.put(heartbeatKey(hb.site, new Date(hb.at)), Buffer.from(JSON.stringify(hb)));

  it("names the day's lost recordings and a batch waiting too long, from the first heartbeat after the day, and a site whose agent went quiet before it", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    for (const site of ['site-a', 'site-b']) await shipDay(blobs, catalogue, site, '2026-03-01', {});
    await shipDay(blobs, catalogue, 'site-a', DAY, {});
    const paths = Array.from({ length: 20 }, (_, i) => `/rec/000028/r${i}.wav`);
    const lost = { id: 'l1', source: 'contactstore', batch: '000028', kind: 'recordings' as const, at: at(DAY, '04:00'), reason: 'deleted by the recorder before it was shipped', files: 25, paths };
    const yesterday = { ...lost, id: 'l0', at: at('2026-03-01', '04:00') };
    const waiting = [{ name: 'contactstore', type: 'recordings', pendingBatches: 3, oldestPendingSeconds: 30 * 3600, oldestPendingBatch: '000100' }];
    await put(blobs, beat('site-a', at(DAY, '23:55'), { recentLosses: [lost] }));
    await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { losses: 2, recentLosses: [yesterday, lost], sources: waiting }));
    await put(blobs, beat('site-a', at('2026-03-03', '06:00'), { losses: 2, recentLosses: [yesterday, lost] }));
    // The agent names every source of its configuration in its heartbeat (agent/heartbeat.ts), its backups too.
    const all = [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }, { name: 'db', type: 'rotated' }, { name: 'binlog', type: 'binlog' }];
    await put(blobs, beat('site-b', at('2026-03-01', '18:00'), { sources: all }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const signals = heartbeatSignals(blobs, now);
    const a = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals });
    expect(a.status).toBe('PARTIAL');
    expect(a.problems).toEqual([`contactstore: 25 recording(s) lost before they could be shipped: ${paths.slice(0, 5).join(', ')}, …`, 'contactstore: batch 000100 has waited 29.9 h to ship (bound 24 h)']);
    const b = await dailyReport({ blobs, catalogue }, 'site-b', DAY, { now, signals });
    expect(b.problems).toContain("contactstore: no batch shipped in the day (the agent's last heartbeat was at 2026-03-01 18:00Z)");
    expect(await signals('site-c', DAY)).toBeUndefined();
    // An agent quiet for days keeps its recordings source expected (its packs are older than the look-back): not "never shipped anything".
    const later = await dailyReport({ blobs, catalogue }, 'site-b', '2026-03-06', { now: () => new Date('2026-03-07T01:00:00Z'), signals: heartbeatSignals(blobs, () => new Date('2026-03-07T01:00:00Z')) });
    expect(later.problems).toEqual(['nothing arrived from the site in the day', expect.stringMatching(/^binlog: /), "contactstore: no batch shipped in the day (the agent's last heartbeat was at 2026-03-01 18:00Z)", expect.stringMatching(/^db: /)]);
    await expect(dailyReport({ blobs, catalogue }, 'site-a', '2026-03-08', { now })).rejects.toThrow('date 2026-03-08 has not begun yet (now 2026-03-03T07:00:00.000Z): a day is reported from its start on');
  });

  it('counts a recordings source that shipped nothing in the day while its heartbeat said batches waited as a problem (a bandwidth limit too low), and one with nothing waiting as ok', async () => {
    const report = async (pendingBatches: number) => {
      const blobs = new MemoryBlobStore();
      const catalogue = new MemoryCatalogue();
      // The recordings source shipped the day before (so it is expected); on the day only the database's full arrived.
      const before = buildPack('site-a', [{ path: '2026-03-01/b0/call-0.wav', body: audio(1, 600) }], { day: '2026-03-01T00:00:00Z', seed: 'before' });
      await publish(blobs, before);
      await ingestManifest({ blobs, catalogue }, before.manifestKey);
      await catalogue.putArtefact(makeFull(at(DAY, '02:05'), { site: 'site-a', source: 'db', name: `db-${DAY}.sql` }));
      const sources = [{ name: 'contactstore', type: 'recordings', pendingBatches, ...(pendingBatches > 0 ? { oldestPendingSeconds: 15 * 3600, oldestPendingBatch: '000101' } : {}) }, { name: 'db', type: 'rotated' }];
      await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { sources }));
      const now = () => new Date('2026-03-03T07:00:00Z');
      return dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    };
    const stuck = await report(4);
    expect(stuck.status).toBe('PARTIAL');
    expect(stuck.problems).toEqual(["contactstore: no batch shipped in the day while batches waited (the oldest, 000101, since 2026-03-02 09:05Z, as the agent's heartbeat at 2026-03-03 00:05Z said)"]);
    expect(stuck.sources.find((s) => s.source === 'contactstore')).toMatchObject({ ok: false, shipped: '0 batch(es), 0 recording(s) shipped' });
    // A day with no calls (a weekend, the centre closed): nothing shipped and nothing waited.
    const quiet = await report(0);
    expect(quiet.status).toBe('FULL');
    expect(quiet.problems).toEqual([]);
  });

  it('names a source the agent could not read at the heartbeat that speaks for the day (a mount gone), though nothing was waiting when it last could', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const before = buildPack('site-a', [{ path: '2026-03-01/b0/call-0.wav', body: audio(1, 600) }], { day: '2026-03-01T00:00:00Z', seed: 'before' });
    await publish(blobs, before);
    await ingestManifest({ blobs, catalogue }, before.manifestKey);
    await catalogue.putArtefact(makeFull(at(DAY, '02:05'), { site: 'site-a', source: 'db', name: `db-${DAY}.sql` }));
    const sources = [{ name: 'contactstore', type: 'recordings', pendingBatches: 0, problem: '/mnt/contactstore does not exist' }, { name: 'db', type: 'rotated' }];
    await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { sources }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    expect(report.status).toBe('PARTIAL');
    expect(report.problems).toEqual(['contactstore: the agent could not read it at its heartbeat of 2026-03-03 00:05Z: /mnt/contactstore does not exist (nothing of it ships until it can be read)']);
  });

  it('counts batches lost unseen as batches, not as recordings (the agent names their directories, never their recordings), as the fleet row does', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', DAY, {});
    const paths = ['000006', '000007', '000008'].map((b) => `/rec/${b}`);
    const unseen = { id: 'l1', source: 'contactstore', batch: '000006–000008', kind: 'recordings' as const, at: at(DAY, '11:38'), reason: 'written and evicted by the recorder without any pass seeing them', files: 3, paths, unseen: true as const };
    await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { losses: 3, recentLosses: [unseen] }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    expect(report.problems).toEqual(['contactstore: 3 batch(es) lost unseen, evicted by the recorder before any pass could read them (their recordings are not known): /rec/000006, /rec/000007, /rec/000008']);
  });

  it('names recordings gone before shipping again, shipped before under another file time, apart from certain losses (offsite if only touched)', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', DAY, {});
    const doubtful = { id: 'l1', source: 'contactstore', batch: '000028', kind: 'recordings' as const, at: at(DAY, '04:00'), reason: 'deleted by the recorder before it was shipped again', files: 2, paths: ['/rec/000028/a.wav', '/rec/000028/b.wav'], shippedBefore: true as const };
    await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { losses: 1, recentLosses: [doubtful] }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const a = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    expect(a.problems).toEqual(['contactstore: 2 recording(s) gone before they shipped again, a recording of the same name and the same size or longer shipped before (offsite if the recorder only touched them or a copy cut them short, lost if it was replaced): /rec/000028/a.wav, /rec/000028/b.wav']);
  });

  it('says that batches of older recordings arrived (a backfill, a catch-up after a long weekend) when the agent names its last pack in the day, not "nothing arrived"', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    // Shipped on the day, but its recordings are of a month before: the pack is dated then.
    const old = buildPack('site-a', [{ path: '2026-01-30/b0/call-0.wav', body: audio(1, 600) }], { day: '2026-01-30T00:00:00Z', seed: 'backfill' });
    old.manifest.createdAt = at(DAY, '10:00');
    old.manifestBytes = serializeManifest(old.manifest);
    await publish(blobs, old);
    const lastGood = { at: at(DAY, '10:00'), key: old.manifestKey };
    await put(blobs, beat('site-a', at('2026-03-03', '00:05'), { sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0, lastGood }] }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    expect(report.status).toBe('FULL');
    expect(report.problems).toEqual([]);
    expect(report.sources).toEqual([expect.objectContaining({ source: 'contactstore', ok: true, shipped: expect.stringMatching(new RegExp(`^batches of older recordings shipped \\(a backfill or a catch-up: .* the last, ${old.manifestKey}, at 2026-03-02 10:00Z\\): not counted here$`)) })]);
  });

  it("names a loss one agent recorded after another agent of the site (a failover host) wrote the heartbeats after the day, each loss once", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', DAY, {});
    const agent = (id: string) => ({ agent: { id, host: `host-${id}`, state: '/var/lib/ferry' } });
    const putAs = (hb: Heartbeat) => blobs.put(heartbeatKey(hb.site, new Date(hb.at), { agent: hb.agent!.id }), Buffer.from(JSON.stringify(hb)));
    const loss = (id: string, batch: string, hhmm: string) => ({ id, source: 'contactstore', batch, kind: 'recordings' as const, at: at(DAY, hhmm), reason: 'deleted by the recorder before it was shipped', files: 1, paths: [`/rec/${batch}/c1.wav`] });
    const [copied, own] = [loss('l8', '000008', '08:00'), loss('l9', '000009', '11:00')];
    // The first host records two losses and dies at noon; the standby runs on a copy of its state taken in between (the first loss twice).
    await putAs(beat('site-a', at(DAY, '08:00'), { losses: 1, recentLosses: [copied], ...agent('first') }));
    await putAs(beat('site-a', at(DAY, '11:00'), { losses: 2, recentLosses: [copied, own], ...agent('first') }));
    for (const hhmm of ['13:00', '18:00', '23:55']) await putAs(beat('site-a', at(DAY, hhmm), { losses: 1, recentLosses: [copied], ...agent('standby') }));
    for (const hhmm of ['00:05', '06:00', '06:30']) await putAs(beat('site-a', at('2026-03-03', hhmm), { losses: 1, recentLosses: [copied], ...agent('standby') }));
    const now = () => new Date('2026-03-03T07:00:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now, signals: heartbeatSignals(blobs, now) });
    expect(report.status).toBe('PARTIAL');
    expect(report.problems).toEqual(['contactstore: 2 recording(s) lost before they could be shipped: /rec/000008/c1.wav, /rec/000009/c1.wav']);
  });

  it("still owes a silent site's recordings source, naming its last heartbeat, once its recent heartbeats expired (its daily ones kept)", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-a', '2026-03-01', {});
    // The recent heartbeats are gone (31 days); the daily ones stay.
    for (const day of ['2026-02-28', '2026-03-01']) {
      const hb = beat('site-a', at(day, '00:05'), { agent: { id: 'a1', host: 'h' } });
      await blobs.put(heartbeatKey('site-a', new Date(hb.at), { agent: 'a1', dataClass: 'heartbeats-daily' }), Buffer.from(JSON.stringify(hb)));
    }
    const now = () => new Date('2026-04-11T07:00:00Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', '2026-04-10', { now, signals: heartbeatSignals(blobs, now) });
    expect(report.problems).toContain("contactstore: no batch shipped in the day (the agent's last heartbeat was at 2026-03-01 00:05Z)");
  });
});

describe('daily report of a retired site and of a source that left the agent', () => {
  const beat = (site: string, iso: string, sources: string[]): Heartbeat => ({
    format: HEARTBEAT_FORMAT,
    site,
    at: iso,
    agentVersion: '0.1.0',
    sources: sources.map((name) => ({ name, type: name === 'contactstore' ? 'recordings' : name === 'db' ? 'rotated' : 'binlog', pendingBatches: 0 })),
    losses: 0,
    lastPass: { at: iso, failed: 0, lost: 0 },
  });
  const put = (blobs: MemoryBlobStore, hb: Heartbeat) => blobs.put(heartbeatKey(hb.site, new Date(hb.at)), Buffer.from(JSON.stringify(hb)));

  it('says RETIRED from the retired day on (a month later too), naming the day, and judges the days before as any other', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-01', '2026-03-01', {});
    const now = () => new Date('2026-04-02T07:00:00Z');
    const report = (day: string, retired?: string) => dailyReport({ blobs, catalogue }, 'site-01', day, { now, signals: heartbeatSignals(blobs, now), ...(retired ? { retired } : {}) });
    // Without `retired` a site switched off for good is FAILED every day of its retention.
    expect((await report('2026-04-01')).status).toBe('FAILED');
    for (const day of [DAY, '2026-04-01']) {
      const r = await report(day, DAY);
      expect(r).toMatchObject({ status: 'RETIRED', problems: [], sources: [], retired: { since: DAY, arrived: 0 } });
      expect(reportSubject(r)).toBe(`[Ferry] RETIRED site-01 ${day}: retired ${DAY}, nothing expected`);
      expect(renderDailyReport(r)).toContain(`retired ${DAY}: site-01 no longer ships and nothing is expected of it.`);
    }
    expect((await report('2026-03-01', DAY)).status).toBe('FULL');
  });

  it('stops expecting a backup source the agent no longer names after the same three days as a removed recordings source, saying meanwhile that it left', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await shipDay(blobs, catalogue, 'site-01', '2026-03-01', {});
    await shipDay(blobs, catalogue, 'site-01', DAY, {});
    await put(blobs, beat('site-01', at(DAY, '00:05'), ['contactstore', 'db', 'binlog']));
    // db is taken out of the agent's configuration at the end of DAY: its last full is of DAY.
    for (const day of ['2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06']) await shipDay(blobs, catalogue, 'site-01', day, { full: false });
    for (const day of ['2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07']) await put(blobs, beat('site-01', at(day, '00:05'), ['contactstore', 'binlog']));
    const now = () => new Date('2026-03-07T07:00:00Z');
    const report = (day: string) => dailyReport({ blobs, catalogue }, 'site-01', day, { now, signals: heartbeatSignals(blobs, now) });
    const db = (r: Awaited<ReturnType<typeof report>>) => r.sources.find((s) => s.source === 'db');

    expect(await report(DAY)).toMatchObject({ status: 'FULL' });
    for (const day of ['2026-03-03', '2026-03-04']) {
      const r = await report(day);
      expect(r.status).toBe('FULL');
      expect(db(r)).toMatchObject({ ok: true, problems: [] });
      expect(db(r)!.shipped).toMatch(/; left the agent's configuration \(its heartbeat of 2026-03-0\d 00:05Z no longer names it\): not expected once 3 days pass without a copy of it$/);
    }
    for (const day of ['2026-03-05', '2026-03-06']) {
      const r = await report(day);
      expect(r.status).toBe('FULL');
      expect(r.sources.map((s) => s.source)).toEqual(['binlog', 'contactstore']);
    }
    // Without a heartbeat nothing is known to have left: every source that ever shipped is expected.
    expect((await dailyReport({ blobs, catalogue }, 'site-01', '2026-03-06', { now })).problems).toEqual([expect.stringMatching(/^db: the expected backup is not offsite/)]);
  });
});
