import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.ts';
import type { ArtefactEntry } from '../../core/ports.ts';
import { renderApplyScript } from '../../core/restore-commands.ts';
import { planRestore, seriesOf, type RestorePlan, type RestoreRefusal } from '../../core/restore-plan.ts';
import { T0, iso, makeFull, makeSegment, min } from '../support/artefact-fixtures.ts';

// Two fulls (F1 at 00:00 from mysql-bin.000001:328, F2 at 01:00 from mysql-bin.000007:4) and
// twelve closed segments: segment i holds the events of minutes 10(i-1) to 10i-1.
const F1 = makeFull(min(0), { position: { logFile: 'mysql-bin.000001', logPos: 328 } });
const F2 = makeFull(min(60), { position: { logFile: './mysql-bin.000007', logPos: 4 } });
const seg = (i: number, over: Partial<ArtefactEntry> = {}) => makeSegment(i, min(10 * (i - 1)), min(10 * i - 1), over);
const SEGMENTS = Array.from({ length: 12 }, (_, i) => seg(i + 1));
const NOW = new Date(T0 + 1000 * 60_000);
/** One second after a time: the end of the second of an event logged at it. */
const secondAfter = (t: string) => iso(Date.parse(t) + 1000);
const without = (...seqs: number[]) => SEGMENTS.filter((s) => !seqs.includes(s.sequence!));

function plan(at: string, artefacts: ArtefactEntry[] = [F1, F2, ...SEGMENTS], extra: { fullOnly?: boolean } = {}) {
  return planRestore(artefacts, { at, now: NOW, ...extra });
}
const ok = (r: ReturnType<typeof plan>) => {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r;
};
const seqs = (p: RestorePlan) => p.segments.map((s) => `${s.sequence}${s.partial ? 'p' : ''}`).join(',');
const refused = (r: ReturnType<typeof plan>): RestoreRefusal => {
  if (r.ok) throw new Error(`planned, expected a refusal: ${seqs(r)}`);
  return r;
};

describe('planRestore: plans', () => {
  it.each([
    ['between two events in segment 4', min(35), F1, '1,2,3,4'],
    ['just after the second full', min(65), F2, '7'],
    ['exactly at a full (taken at or before T)', min(60), F2, '7'],
    ['in the quiet minute between segments 6 and 7', iso(T0 + 59.5 * 60_000), F1, '1,2,3,4,5,6,7'],
    ['the last event of the last segment', min(119), F2, '7,8,9,10,11,12'],
    ['with an offset, same instant as UTC', '2026-03-01T02:35:00+02:00', F1, '1,2,3,4'],
  ])('%s', (_, at, full, chain) => {
    const p = ok(plan(at));
    expect(p.full.artefactId).toBe(full.artefactId);
    expect(seqs(p)).toBe(chain);
    expect(p.stopAt).toBe(new Date(Math.floor(Date.parse(at) / 1000) * 1000).toISOString());
    expect(p.files.map((f) => f.name)).toEqual([full.name, ...p.segments.map((s) => s.name)]);
    expect(p.totalBytes).toBe(1000 * p.files.length);
  });

  it('prints the commands: the dump, then every segment from the full position to T under TZ=UTC', () => {
    const p = ok(plan('2026-03-01T01:35:00+01:00'));
    expect(p.startPosition).toEqual({ logFile: 'mysql-bin.000001', logPos: 328 });
    expect(p.commands[0]).toBe('mariadb < full-20260301T000000.sql');
    expect(p.commands[1]).toBe("TZ=UTC mariadb-binlog --start-position=328 --stop-datetime='2026-03-01 00:35:00' mysql-bin.000001 mysql-bin.000002 mysql-bin.000003 mysql-bin.000004 | mariadb");
    expect(p.commands[2]).toMatch(/^# \(MySQL: mysqlbinlog … \| mysql; TZ=UTC because --stop-datetime is read in the client's local time zone\)$/);
    expect(p.notes).toEqual([]);
    const script = renderApplyScript(p.steps, { site: 'site-a', source: 'db', at: p.at, stopAt: p.stopAt });
    expect(script).toMatch(/^#!\/usr\/bin\/env bash\n/);
    expect(script).toContain('set -euo pipefail');
    expect(script).toContain('MARIADB=${MARIADB:-mariadb}');
    expect(script).toContain('$MARIADB < full-20260301T000000.sql');
    expect(script).toContain("TZ=UTC $MARIADB_BINLOG --start-position=328 --stop-datetime='2026-03-01 00:35:00' ${STOP_POSITION:+--stop-position=$STOP_POSITION} \"${segments[@]}\" | $MARIADB");
    expect(script).toContain('segments=(mysql-bin.000001 mysql-bin.000002 mysql-bin.000003 mysql-bin.000004)');
  });

  it('cuts T to its second (binlog resolution) and says so', () => {
    const p = ok(plan(iso(T0 + 35 * 60_000 + 700)));
    expect(p.stopAt).toBe(min(35));
    expect(p.notes[0]).toMatch(/1-second resolution: events logged during 2026-03-01 00:35:00 UTC are not applied \(to apply those before a given statement, plan a second later and stop at its position: STOP_POSITION=N \.\/apply\.sh/);
  });

  it('prefers a final segment to its partial snapshot, and uses a partial only as the last segment', () => {
    const partial8 = seg(8, { partial: true, span: { from: min(70), to: min(75) }, takenAt: min(75) });
    expect(seqs(ok(plan(min(95), [F2, ...SEGMENTS, partial8])))).toBe('7,8,9,10');
    const onlyPartial = [F2, ...without(8), partial8];
    expect(seqs(ok(plan(min(73), onlyPartial)))).toBe('7,8p');
    const partial12 = seg(12, { partial: true, span: { from: min(110), to: min(115) }, takenAt: min(115) });
    const older12 = seg(12, { partial: true, span: { from: min(110), to: min(112) }, takenAt: min(112), sha256: 'e'.repeat(64) });
    const p = ok(plan(min(113), [F2, ...without(12), older12, partial12]));
    expect(seqs(p)).toBe('7,8,9,10,11,12p');
    expect(p.segments.at(-1)!.artefactId).toBe(partial12.artefactId);
    expect(p.notes.join()).toMatch(/partial snapshot \(up to 2026-03-01T01:55:00.000Z\)/);
  });

  it('starts at the segment still active when a full without position completed, from its completion time', () => {
    const F3 = makeFull(min(64), { name: 'nightly.sql.gz' });
    const p = ok(plan(min(85), [F1, F2, F3, ...SEGMENTS]));
    expect(p.full.artefactId).toBe(F3.artefactId);
    expect(seqs(p)).toBe('7,8,9');
    expect(p.startPosition).toBeUndefined();
    expect(p.commands[0]).toBe('gunzip -c nightly.sql.gz | mariadb');
    expect(p.commands[1]).toContain("--start-datetime='2026-03-01 01:04:00' --stop-datetime='2026-03-01 01:25:00'");
    expect(p.notes.join()).toMatch(/records no binlog position/);
  });

  it('follows the series of the full position and ignores another series', () => {
    const other = Array.from({ length: 12 }, (_, i) => makeSegment(i + 1, min(0), min(999), { series: 'relay-bin' }));
    expect(seqs(ok(plan(min(35), [F1, ...other, ...SEGMENTS])))).toBe('1,2,3,4');
  });

  it('loads rostrvm .rbk fulls with mysql on its port and database, says to stop rostrvm first, and names what the replay leaves out', () => {
    const rbk = makeFull(min(0), { name: 'backups\\rostrvm_920_1.rbk', profile: 'rostrvm' });
    const logs = [1, 2].map((i) => seg(i, { name: `rtmbinlog.00000${i}`, series: 'rtmbinlog' }));
    const p = ok(plan(min(15), [rbk, ...logs]));
    expect(p.files[0]!.name).toBe('rostrvm_920_1.rbk');
    expect(p.commands).toEqual([
      '# rostrvm: stop the rostrvm service first (leave the MySQL service running); user and password as set at installation',
      'mysql --port=3308 rostrvm_920 < rostrvm_920_1.rbk',
      "TZ=UTC mysqlbinlog --database=rostrvm_920 --start-datetime='2026-03-01 00:00:00' --stop-datetime='2026-03-01 00:15:00' rtmbinlog.000001 rtmbinlog.000002 | mysql --port=3308 rostrvm_920",
      expect.stringMatching(/^# \(MariaDB: mariadb-binlog/),
    ]);
    // What the replay cannot hold is said: a consistent dump's own duration, and the --database filter's blind spot.
    expect(p.notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^the full records no binlog position: replay starts at its completion time \(2026-03-01T00:00:00.000Z\); if the dump was a consistent snapshot \(--single-transaction\), the changes committed while it was being written are in neither the dump nor the replay/),
        'the replay keeps the events of database rostrvm_920 only (--database, as the rostrvm manual\'s command): with statement-based or mixed binlogs, a change made from a session whose default database is another one is left out (none with binlog_format=ROW)',
      ]),
    );
  });

  it('restores the full alone for sources without logs, naming the vendor tool', () => {
    const cvp = makeFull(min(0), { name: 'cvp_backup_data.old', profile: 'cvp' });
    const p = ok(plan(min(65), [cvp], { fullOnly: true }));
    expect(p.segments).toEqual([]);
    expect(p.reachedAt).toBe(min(0));
    expect(p.commands).toEqual([expect.stringMatching(/^# Cisco CVP \(Informix\): restore cvp_backup_data.old with the Informix ontape utility/)]);
    expect(p.notes.join()).toMatch(/no log segments: the plan restores the full as taken at/);
    const bak = ok(plan(min(65), [makeFull(min(1), { name: 'lcs.bak' })], { fullOnly: true }));
    expect(bak.commands[0]).toMatch(/^# SQL Server: RESTORE DATABASE/);
  });

  it('gives clashing base names distinct local names', () => {
    const a = makeFull(min(0), { name: 'a/dump.sql', position: { logFile: 'dump.sql.000001', logPos: 4 } });
    const s = makeSegment(1, min(0), min(9), { name: 'b/dump.sql.000001', series: 'dump.sql' });
    const p = ok(plan(min(5), [a, s]));
    expect(p.files.map((f) => f.name)).toEqual(['dump.sql', 'dump.sql.000001']);
    const twin = makeSegment(1, min(0), min(9), { name: 'b/dump.sql', series: 'dump' });
    const q = ok(plan(min(5), [makeFull(min(0), { name: 'a/dump.sql' }), twin]));
    expect(q.files.map((f) => f.name)).toEqual(['dump.sql', `${twin.artefactId}-dump.sql`]);
  });
});

describe('planRestore: the latest time, at the end of what is offsite', () => {
  it('names the end of the last event\'s second as the nearest reachable time, and its plan applies every event of that second', () => {
    const r = refused(plan(min(500)));
    expect(r).toMatchObject({ code: 'after-last-event', nearestReachable: secondAfter(min(119)) });
    const p = ok(plan(r.nearestReachable!));
    expect(seqs(p)).toBe('7,8,9,10,11,12');
    expect(p.steps.at(-1)).toMatchObject({ kind: 'binlog', stopDatetime: '2026-03-01 01:59:01' });
    expect(p.notes).toContain('T is in the second after the last log event offsite (2026-03-01T01:59:00.000Z): every event shipped is applied; any the server logged after it are not offsite');
  });

  it('refuses a T past the end of the last event\'s second', () => {
    expect(refused(plan(iso(Date.parse(secondAfter(min(119))) + 1)))).toMatchObject({ code: 'after-last-event', nearestReachable: secondAfter(min(119)) });
  });

  it('does not stretch a segment that has a later one offsite: a gap after it is still a gap', () => {
    expect(refused(plan(secondAfter(min(79)), [F1, F2, ...without(9)]))).toMatchObject({ code: 'gap', nearestReachable: min(79) });
  });
});

describe('planRestore: refusals say why and what is reachable', () => {
  it.each([
    ['T before the first full', min(-5), undefined, 'no-full', /^no full backup of db was taken at or before T \(2026-02-28T23:55:00.000Z\); the first was taken at 2026-03-01T00:00:00.000Z$/, min(0)],
    ['T in the future', min(2000), undefined, 'in-future', /^T \(2026-03-02T09:20:00.000Z\) is in the future \(now 2026-03-01T16:40:00.000Z\)$/, secondAfter(min(119))],
    ['T after the last shipped event', min(500), undefined, 'after-last-event', /^T \(.*\) is after the last shipped log event \(2026-03-01T01:59:00.000Z\); the newest full at or before T \(taken at 2026-03-01T0\d:\d\d:00.000Z\) restores alone to its own time with --log-source none$/, secondAfter(min(119))],
    ['T inside a one-segment gap', min(95), without(9), 'gap', /^the log chain from the full taken at 2026-03-01T01:00:00.000Z has a gap: mysql-bin.000009 is not offsite$/, min(79)],
    ['T beyond a two-segment gap', min(115), without(9, 10), 'gap', /gap: mysql-bin.000009 to mysql-bin.000010 are not offsite$/, min(79)],
    ['the segment holding the full position missing', min(65), without(7), 'gap', /mysql-bin.000007 is not offsite \(it holds the full's binlog position \.\/mysql-bin.000007:4\)$/, min(59)],
    ['no segment shipped after the full', min(65), without(7, 8, 9, 10, 11, 12), 'after-last-event', /no log segment reaching past the full taken at 2026-03-01T01:00:00.000Z has been shipped; the newest full at or before T \(taken at 2026-03-01T0\d:\d\d:00.000Z\) restores alone to its own time with --log-source none$/, secondAfter(min(59))],
    ['a partial in the middle whose final is missing', min(95), [...without(8), seg(8, { partial: true, span: { from: min(70), to: min(75) } })], 'gap', /mysql-bin.000008 is offsite only as a partial snapshot up to 2026-03-01T01:15:00.000Z; its closed segment is missing$/, min(75)],
    ['T after the last partial snapshot', min(117), [...without(12), seg(12, { partial: true, span: { from: min(110), to: min(115) } })], 'after-last-event', /after the last shipped log event \(2026-03-01T01:55:00.000Z, in the partial snapshot of mysql-bin.000012\); the newest full at or before T \(taken at 2026-03-01T0\d:\d\d:00.000Z\) restores alone to its own time with --log-source none$/, secondAfter(min(115))],
  ])('%s', (_, at, segments, code, reason, nearest) => {
    const r = refused(plan(at, [F1, F2, ...(segments ?? SEGMENTS)]));
    expect(r.code).toBe(code);
    expect(r.reason).toMatch(reason);
    expect(r.nearestReachable).toBe(nearest);
  });

  it('says the log segments were left out on request (--log-source none), not that the source has none', () => {
    const left = ok(planRestore([F1, F2, ...SEGMENTS], { at: min(70), now: new Date(Date.parse(min(200))), fullOnly: true, logsLeftOut: true }));
    expect(left.notes).toContain(`the log segments are left out on request (--log-source none): the plan restores the full as taken at ${F2.takenAt}, not T`);
    const none = ok(planRestore([F1, F2], { at: min(70), now: new Date(Date.parse(min(200))), fullOnly: true }));
    expect(none.notes).toContain(`the source has no log segments: the plan restores the full as taken at ${F2.takenAt}, not T`);
  });

  it('says nothing of binlog time resolution in a plan that replays no log segment (a full alone, at a T within a second)', () => {
    const full = ok(planRestore([F1, F2], { at: iso(T0 + 70 * 60_000 + 500), now: new Date(Date.parse(min(200))), fullOnly: true }));
    expect(full.notes.join('\n')).not.toMatch(/1-second resolution/);
    expect(full.notes).toContain(`the source has no log segments: the plan restores the full as taken at ${F2.takenAt}, not T`);
  });

  it('names the nearest reachable time after T when it is closer than the one before', () => {
    const F4 = makeFull(min(100), { position: { logFile: 'mysql-bin.000011', logPos: 4 } });
    expect(refused(plan(min(95), [F2, F4, ...without(9)]))).toMatchObject({ code: 'gap', nearestReachable: min(100) });
    expect(refused(plan(min(83), [F2, F4, ...without(9)]))).toMatchObject({ code: 'gap', nearestReachable: min(79) });
  });

  it('names the second after the last event as reachable when the newest full\'s chain ends in the second it completed in, and that time plans from that full', () => {
    // After a gap (segments 9 and 10 never shipped), a full completes at 01:40:00.589 (its
    // position in segment 11); the last shipped event is at 01:40:00, in segment 11's partial.
    const taken = iso(T0 + 100 * 60_000 + 589);
    const F4 = makeFull(taken, { position: { logFile: 'mysql-bin.000011', logPos: 4 } });
    const artefacts = [F2, F4, ...without(9, 10, 11, 12), seg(11, { partial: true, span: { from: min(100), to: min(100) } })];
    const r = refused(plan(min(101), artefacts));
    expect(r).toMatchObject({ code: 'after-last-event', nearestReachable: secondAfter(min(100)) });
    const p = ok(plan(r.nearestReachable!, artefacts));
    expect(p.full.artefactId).toBe(F4.artefactId);
    expect(seqs(p)).toBe('11p');
  });

  it('falls back to an older full only when the newest cannot reach T but the older one can', () => {
    const reset = makeFull(min(60), { position: { logFile: 'mariadb-bin.000001', logPos: 4 } });
    const p = plan(min(65), [F1, reset, ...SEGMENTS]);
    expect(p.ok && p.full.artefactId).toBe(F1.artefactId);
    expect(p.ok && p.notes[0]).toMatch(/^the newest full before T \(taken at 2026-03-01T01:00:00.000Z\) cannot reach T: .*no log segment reaching past the full taken at 2026-03-01T01:00:00.000Z/);
  });

  it('names no reachable time for a T before the first full when no log reaches that full (its time is refused too)', () => {
    // The only full completes an hour after the last event shipped (a quiet database, or logs
    // that stopped): its own time is "after the last shipped log event" as well.
    const late = makeFull(min(180), { position: { logFile: 'mysql-bin.000012', logPos: 4 } });
    const early = refused(plan(min(170), [late, ...SEGMENTS]));
    expect(early).toMatchObject({ code: 'no-full', reason: expect.stringMatching(/the first was taken at 2026-03-01T03:00:00.000Z$/) });
    expect(early.nearestReachable).toBeUndefined();
    expect(refused(plan(late.takenAt, [late, ...SEGMENTS]))).toMatchObject({ code: 'after-last-event' });
  });

  it('refuses when nothing was ever shipped', () => {
    expect(refused(plan(min(5), []))).toMatchObject({ code: 'no-full', reason: expect.stringMatching(/none has been shipped$/) });
  });

  it('rejects a T that is not an ISO date-time with a zone', () => {
    for (const at of ['yesterday', '2026-03-01T14:05:00', '2026-13-01T00:00:00Z']) expect(() => plan(at), at).toThrow(InvalidInputError);
  });
});

describe('planRestore: a source without logs holding backups under several names', () => {
  const bak = (name: string, minute: number) => makeFull(min(minute), { name, source: 'sql' });
  // Two databases dumped every night into one folder, and a retired one last dumped long ago.
  const nights = [0, 60, 120].flatMap((m) => [bak('rtc_full.bak', m), bak('rtcconfig_full.bak', m + 5)]);
  const retired = bak('archive_full.bak', -300);

  it('restores the newest at or before T of each name, the other names first (oldest first), the newest last, and says so', () => {
    const p = ok(plan(min(70), [...nights, retired], { fullOnly: true }));
    expect(p.full).toMatchObject({ name: 'rtcconfig_full.bak', takenAt: min(65) });
    expect(p.others?.map((o) => [o.name, o.takenAt])).toEqual([
      ['archive_full.bak', min(-300)],
      ['rtc_full.bak', min(60)],
    ]);
    expect(p.files.map((f) => [f.name, f.role])).toEqual([
      ['rtcconfig_full.bak', 'full'],
      ['archive_full.bak', 'full'],
      ['rtc_full.bak', 'full'],
    ]);
    expect(p.totalBytes).toBe(3000);
    expect(p.steps.map((s) => (s.kind === 'vendor' ? s.file : s.kind))).toEqual(['archive_full.bak', 'rtc_full.bak', 'rtcconfig_full.bak']);
    expect(p.notes[0]).toBe(
      `the source holds backups under 3 names: besides rtcconfig_full.bak (taken ${min(65)}), the newest at or before T of archive_full.bak (taken ${min(-300)}), rtc_full.bak (taken ${min(60)}) are in the plan; restore each into its own database (if they are rotations of one database, the steps apply the newest last)`,
    );
  });

  it('gives the same plan whatever order backups taken in the same instant come in', () => {
    const same = [bak('rtc_full.bak', 60), bak('rtcconfig_full.bak', 60)];
    const one = ok(plan(min(70), same, { fullOnly: true }));
    const other = ok(plan(min(70), [...same].reverse(), { fullOnly: true }));
    expect([one.full.name, one.others?.map((o) => o.name)]).toEqual(['rtcconfig_full.bak', ['rtc_full.bak']]);
    expect(other.files).toEqual(one.files);
  });

  it('takes dated or numbered rotations of one dump as one name: the newest only', () => {
    const dated = [0, 60, 120].map((m) => makeFull(min(m), { source: 'sql' }));
    const p = ok(plan(min(130), [...dated, bak('db.bak.1', 10), bak('db.bak.2', 20)], { fullOnly: true }));
    expect(p.full.takenAt).toBe(min(120));
    expect(p.others?.map((o) => o.name)).toEqual(['db.bak.2']);
    expect(ok(plan(min(130), dated, { fullOnly: true })).others).toBeUndefined();
  });

  it("takes digits written into a word as part of a name: each front-end server's settings export is restored (OCS's ocspool1server1, ocspool1server2)", () => {
    const xml = (name: string, minute: number) => makeFull(min(minute), { name, source: 'lcscmd' });
    const servers = ['global-pool.xml', 'ocspool1server1.litware.com.xml', 'ocspool1server2.litware.com.xml', 'ocsedge1.litware.com.xml', 'mediation1.litware.com.xml'];
    const p = ok(plan(min(130), [...servers.map((n, i) => xml(n, 100 + i)), xml('ocspool1server1.litware.com.xml', 10)], { fullOnly: true }));
    expect([p.full.name, ...(p.others ?? []).map((o) => o.name)].sort()).toEqual([...servers].sort());
    expect(p.others?.find((o) => o.name === 'ocspool1server1.litware.com.xml')?.takenAt).toBe(min(101));
    expect(seriesOf('sql01_rtc.bak')).not.toBe(seriesOf('sql02_rtc.bak'));
    // Rotations stay one name: dates, times, counters set apart.
    for (const [a, b] of [['full-20260301.sql', 'full-20260302.sql'], ['backup_3.sql', 'backup_4.sql'], ['db.bak.1', 'db.bak.12'], ['rostrvm_920_1.rbk', 'rostrvm_920_2.rbk'], ['dump20260301T0300.sql', 'dump20260302T0300.sql']] as const) expect(seriesOf(a), `${a} ${b}`).toBe(seriesOf(b));
  });

  it('a source with logs restores its one database: no other names are added', () => {
    const p = ok(plan(min(35), [F1, F2, makeFull(min(1), { name: 'other.sql' }), ...SEGMENTS]));
    expect(p.others).toBeUndefined();
    expect(p.files.filter((f) => f.role === 'full')).toHaveLength(1);
  });
});

describe('planRestore: the binlog numbering restarted (RESET MASTER, a new or restored server)', () => {
  // The first run: segments 1-6 closed (minutes 0-59), 7 offsite only as a partial (60-61); then
  // RESET MASTER at minute 63 and a second run writing mysql-bin.000001 to 000008 again (two
  // minutes each from minute 64; 8 still partial). A full in each run.
  const oldRun = [...Array.from({ length: 6 }, (_, i) => seg(i + 1)), makeSegment(7, min(60), min(61), { partial: true })];
  const newRun = Array.from({ length: 8 }, (_, i) => makeSegment(i + 1, min(64 + 2 * i), min(65 + 2 * i), i === 7 ? { partial: true } : {}));
  const FA = makeFull(min(55), { position: { logFile: 'mysql-bin.000006', logPos: 328 } });
  const FB = makeFull(min(67), { position: { logFile: 'mysql-bin.000002', logPos: 578 } });
  const all = [FA, FB, ...oldRun, ...newRun];
  const ids = (p: RestorePlan) => p.segments.map((s) => s.artefactId);

  it("replays the full's own run of the numbering, whichever order the catalogue lists the two segments of one name in", () => {
    for (const artefacts of [all, [...all].reverse()]) {
      const before = ok(plan(min(61), artefacts));
      expect(before.full.artefactId).toBe(FA.artefactId);
      expect(ids(before)).toEqual([oldRun[5]!.artefactId, oldRun[6]!.artefactId]);
      const after = ok(plan(min(68), artefacts));
      expect(after.full.artefactId).toBe(FB.artefactId);
      expect(ids(after)).toEqual([newRun[1]!.artefactId, newRun[2]!.artefactId]);
    }
  });

  it('refuses a time after the first run\'s last shipped event and before the second run\'s first full, naming the restart, never replaying the second run\'s segments', () => {
    for (const artefacts of [all, [...all].reverse()]) {
      const r = refused(plan(min(62), artefacts));
      expect(r.code).toBe('gap');
      expect(r.reason).toContain('ends where the binlog numbering restarted (RESET MASTER, or a new or restored server): its last segment offsite is mysql-bin.000007, offsite only as a partial snapshot up to 2026-03-01T01:01:00.000Z');
    }
  });

  it('keeps a gap of the first run a gap, though the second run has segments of those numbers', () => {
    const r = refused(plan(min(45), [FA, F1, ...oldRun.filter((s) => s.sequence !== 3), ...newRun]));
    expect(r).toMatchObject({ code: 'gap', reason: expect.stringContaining('mysql-bin.000003 is not offsite') });
  });
});

describe('planRestore: RESET MASTER while the server was still writing its first segment', () => {
  // The first run never got past mysql-bin.000001 (offsite only as partials, up to minute 8);
  // RESET MASTER at minute 10, and the second run writes 000001 again (closed), then 000002.
  const oldPartials = [makeSegment(1, min(0), min(5), { partial: true }), makeSegment(1, min(0), min(8), { partial: true })];
  const newRun = [makeSegment(1, min(10), min(19)), makeSegment(2, min(20), min(29))];
  const FA = makeFull(min(2), { position: { logFile: 'mysql-bin.000001', logPos: 328 } });
  const FB = makeFull(min(12), { position: { logFile: 'mysql-bin.000001', logPos: 900 } });
  const all = [FA, FB, ...oldPartials, ...newRun];

  it("replays the first run's partial up to T, and refuses past it, never the second run's closed segment of that name", () => {
    for (const artefacts of [all, [...all].reverse()]) {
      const p = ok(plan(min(7), artefacts));
      expect(p.full.artefactId).toBe(FA.artefactId);
      expect(p.segments.map((s) => s.artefactId)).toEqual([oldPartials[1]!.artefactId]);
      const r = refused(plan(min(9), artefacts));
      expect(r.reason).toContain('ends where the binlog numbering restarted');
      const after = ok(plan(min(25), artefacts));
      expect(after.full.artefactId).toBe(FB.artefactId);
      expect(after.segments.map((s) => s.artefactId)).toEqual(newRun.map((s) => s.artefactId));
    }
  });
});
