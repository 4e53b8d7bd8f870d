import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOCK_MARGIN_MS } from '../../core/future-dated.ts';
import { batchTargets, planRetention, type Artefact, type PackCandidate } from '../../core/retention.ts';

// The purge planner, pure. Property tests over random histories of packs (members of random
// ages, some on legal hold), full backups (some with binlog positions) and log segments: the
// plan never deletes what retention, a legal hold, the last N fulls or a roll-forward keeps,
// and it does delete everything else (unless capped).

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T00:00:00.000Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();
const MARGIN_DAYS = 1; // the planner's default time margin (24 h) for time-compared segments

const memberArb = fc.record({ ageDays: fc.double({ min: 0, max: 1000, noNaN: true, noDefaultInfinity: true }), hold: fc.boolean() });
const sourceArb = fc.constantFrom('db-a', 'db-b', 'cvp');
const seriesArb = fc.constantFrom('mysql-bin', 'rtmbinlog');

const historyArb = fc.record({
  retentionDays: fc.integer({ min: 1, max: 800 }),
  keepFullCycles: fc.integer({ min: 1, max: 4 }),
  packs: fc.array(fc.array(memberArb, { maxLength: 6 }), { maxLength: 25 }),
  fulls: fc.array(fc.record({ source: sourceArb, ageDays: fc.integer({ min: 0, max: 200 }), position: fc.option(fc.record({ series: seriesArb, seq: fc.integer({ min: 1, max: 60 }) }), { nil: undefined }) }), { maxLength: 12 }),
  segments: fc.array(fc.record({ source: fc.constantFrom('binlog-a', 'binlog-b'), series: fc.option(seriesArb, { nil: undefined }), seq: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), ageDays: fc.integer({ min: 0, max: 200 }) }), { maxLength: 25 }),
  maxTargets: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
});
type History = typeof historyArb extends fc.Arbitrary<infer T> ? T : never;

function build(h: History) {
  const packs: PackCandidate[] = h.packs.map((members, i) => ({
    packKey: `recordings/s/2020/01/01/p${String(i).padStart(3, '0')}.tar`,
    manifestKey: `manifests/s/recordings/2020/01/01/p${String(i).padStart(3, '0')}.json`,
    source: 'contactstore',
    members: members.map((m, j) => ({ rid: `r${i}-${j}`, start: ago(m.ageDays), legalHold: m.hold })),
  }));
  const fulls: Artefact[] = h.fulls.map((f, i) => ({ key: `backups/s/${f.source}/full-${i}`, manifestKey: `manifests/s/backups/${f.source}/full-${i}.json`, source: f.source, kind: 'full', takenAt: ago(f.ageDays), ...(f.position ? { series: f.position.series, first: f.position.seq } : {}) }));
  const segments: Artefact[] = h.segments.map((s, i) => ({ key: `logs/s/${s.source}/seg-${i}`, source: s.source, kind: 'segment', takenAt: ago(s.ageDays), ...(s.series ? { series: s.series } : {}), ...(s.seq !== undefined ? { first: s.seq, last: s.seq } : {}) }));
  return { packs, fulls, segments };
}

/** The newest keepFullCycles fulls of each source (ties broken by key, as any order would do for this check). */
function keptFulls(fulls: Artefact[], n: number): Artefact[] {
  const bySource = new Map<string, Artefact[]>();
  for (const f of fulls) bySource.set(f.source, [...(bySource.get(f.source) ?? []), f]);
  return [...bySource.values()].flatMap((list) => [...list].sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt) || (a.key < b.key ? 1 : -1)).slice(0, n));
}

/** Whether rolling `full` forward needs `seg`: by binlog position when both sides have one in the same series, else by time. */
function rollForwardNeeds(full: Artefact, seg: Artefact): boolean {
  if (full.series !== undefined && seg.series !== undefined && full.series !== seg.series) return false;
  if (full.series !== undefined && full.first !== undefined && seg.series === full.series && seg.last !== undefined) return seg.last >= full.first;
  return Date.parse(seg.takenAt) >= Date.parse(full.takenAt) - MARGIN_DAYS * DAY;
}

describe('retention planner (property)', () => {
  it('never deletes a pack with a member younger than the retention; a pack with held members goes only after exactly those are copied out', () => {
    fc.assert(
      fc.property(historyArb, (h) => {
        const { packs, fulls, segments } = build(h);
        const plan = planRetention({ rules: { now: NOW, retentionDays: h.retentionDays, keepFullCycles: h.keepFullCycles }, packs, artefacts: [...fulls, ...segments], maxTargets: h.maxTargets });
        const deleted = new Map(plan.targets.filter((t) => t.kind === 'pack').map((t) => [t.key, t]));
        for (const [i, pack] of packs.entries()) {
          const members = h.packs[i]!;
          const held = pack.members.filter((m) => m.legalHold).map((m) => m.rid);
          // Every member old enough or held, and at least one not held: the pack may go, its held calls copied out.
          const mayGo = pack.members.length > 0 && held.length < members.length && members.every((m) => m.hold || m.ageDays > h.retentionDays);
          const target = deleted.get(pack.packKey);
          if (target) {
            expect(mayGo).toBe(true);
            expect(target.keep ?? []).toEqual(held);
          } else if (h.maxTargets === undefined) expect(mayGo).toBe(false);
        }
        // A pack's manifest goes with it, after it.
        for (const t of plan.targets.filter((t) => t.kind === 'pack')) expect(t.then).toBe(packs.find((p) => p.packKey === t.key)?.manifestKey);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the newest N fulls of every source and every segment a kept full needs to roll forward', () => {
    fc.assert(
      fc.property(historyArb, (h) => {
        const { packs, fulls, segments } = build(h);
        const plan = planRetention({ rules: { now: NOW, retentionDays: h.retentionDays, keepFullCycles: h.keepFullCycles }, packs, artefacts: [...fulls, ...segments] });
        const deleted = new Set(plan.targets.map((t) => t.key));
        for (const f of keptFulls(fulls, h.keepFullCycles)) expect(deleted.has(f.key)).toBe(false);
        // Every full beyond the newest N of its source goes.
        const kept = new Set(keptFulls(fulls, h.keepFullCycles).map((f) => f.key));
        for (const f of fulls) expect(deleted.has(f.key)).toBe(!kept.has(f.key));
        const bases = keptFulls(fulls, h.keepFullCycles);
        for (const seg of segments) {
          const related = bases.filter((b) => !(b.series !== undefined && seg.series !== undefined && b.series !== seg.series));
          const needed = related.length === 0 || related.some((b) => rollForwardNeeds(b, seg));
          expect([seg.key, deleted.has(seg.key)]).toEqual([seg.key, !needed]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('caps a plan at maxTargets with a prefix of the full plan, and says so', () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 10 }), (h, max) => {
        const { packs, fulls, segments } = build(h);
        const rules = { now: NOW, retentionDays: h.retentionDays, keepFullCycles: h.keepFullCycles };
        const all = planRetention({ rules, packs, artefacts: [...fulls, ...segments] });
        const capped = planRetention({ rules, packs, artefacts: [...fulls, ...segments], maxTargets: max });
        expect(capped.targets).toEqual(all.targets.slice(0, max));
        expect(capped.truncated).toBe(all.targets.length > max);
      }),
      { numRuns: 200 },
    );
  });

  it('batches hold at most the given number of objects, every target exactly once, in order', () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 2, max: 9 }), (h, size) => {
        const { packs, fulls, segments } = build(h);
        const { targets } = planRetention({ rules: { now: NOW, retentionDays: h.retentionDays, keepFullCycles: h.keepFullCycles }, packs, artefacts: [...fulls, ...segments] });
        const batches = batchTargets(targets, size);
        expect(batches.flatMap((b) => b.targets)).toEqual(targets.map(({ key, then, kind, keep }) => ({ key, ...(then ? { then } : {}), kind, ...(keep ? { keep } : {}) })));
        for (const [i, b] of batches.entries()) {
          expect(b.index).toBe(i);
          expect(b.targets.reduce((n, t) => n + (t.then ? 2 : 1), 0)).toBeLessThanOrEqual(size);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('retention planner (examples)', () => {
  const rules = { now: NOW, retentionDays: 365, keepFullCycles: 2 };

  it('one young member keeps the whole pack; held members are copied out when every other member may go; an all-held pack is kept', () => {
    const pack = (name: string, members: [number, boolean][]): PackCandidate => ({ packKey: `recordings/s/${name}.tar`, manifestKey: `m/${name}`, source: 'x', members: members.map(([d, hold], i) => ({ rid: `r${i}`, start: ago(d), legalHold: hold })) });
    const packs = [pack('young', [[400, false], [364, false]]), pack('held-old', [[400, false], [500, true], [600, false]]), pack('old', [[366, false]]), pack('all-held', [[400, true]]), pack('held-young', [[400, true], [10, false]])];
    const plan = planRetention({ rules, packs, artefacts: [] });
    expect(plan.targets.map((t) => [t.key, t.keep])).toEqual([
      ['recordings/s/held-old.tar', ['r1']],
      ['recordings/s/old.tar', undefined],
    ]);
    expect(plan.kept).toMatchObject({ packs: 3, packsHeld: 1, copiedOut: 1 });
  });

  it('keeps an empty pack and one with an unreadable start', () => {
    const plan = planRetention({ rules, packs: [{ packKey: 'a', manifestKey: 'am', source: 'x', members: [] }, { packKey: 'b', manifestKey: 'bm', source: 'x', members: [{ rid: 'r', start: 'not a date', legalHold: false }] }], artefacts: [] });
    expect(plan.targets).toEqual([]);
  });

  it('keeps a pack whose call is dated before 2001 (a recorder clock that was not set): its real age is unknown', () => {
    const member = (rid: string, start: string) => ({ rid, start, legalHold: false });
    const packs: PackCandidate[] = [
      { packKey: 'epoch', manifestKey: 'em', source: 'x', members: [member('r1', '1970-01-01T00:01:00.000Z')] },
      { packKey: 'y2k', manifestKey: 'ym', source: 'x', members: [member('r2', '2000-12-31T23:59:59.999Z')] },
      { packKey: 'old', manifestKey: 'om', source: 'x', members: [member('r3', '2001-01-01T00:00:00.000Z')] },
    ];
    expect(planRetention({ rules, packs, artefacts: [] }).targets.map((t) => t.key)).toEqual(['old']);
  });

  it('rolls forward by binlog position when the full recorded one, by time otherwise; a segment with no related full stays', () => {
    const full = (key: string, days: number, extra: Partial<Artefact> = {}): Artefact => ({ key, source: 'db', kind: 'full', takenAt: ago(days), ...extra });
    const seg = (seq: number, days: number, series = 'mysql-bin'): Artefact => ({ key: `${series}.${seq}`, source: 'binlog', kind: 'segment', takenAt: ago(days), series, first: seq, last: seq });
    const positioned = planRetention({ rules, packs: [], artefacts: [full('f1', 30, { series: 'mysql-bin', first: 7 }), full('f2', 20, { series: 'mysql-bin', first: 9 }), full('f3', 10, { series: 'mysql-bin', first: 12 }), seg(6, 31), seg(8, 25), seg(9, 21), seg(3, 40, 'other')] });
    expect(positioned.targets.map((t) => t.key).sort()).toEqual(['f1', 'mysql-bin.6', 'mysql-bin.8']);
    const timed = planRetention({ rules, packs: [], artefacts: [full('f1', 30), full('f2', 20), full('f3', 10), seg(6, 31), seg(8, 22), seg(9, 20.5)] });
    // f2 (20 days) is the oldest kept: segments ending more than a day before it go.
    expect(timed.targets.map((t) => t.key).sort()).toEqual(['f1', 'mysql-bin.6', 'mysql-bin.8']);
    const noBase = planRetention({ rules, packs: [], artefacts: [seg(1, 300)] });
    expect(noBase.targets).toEqual([]);
  });

  it('counts no full dated after now plus the clock margin: two forged fulls dated 2099 leave the newest genuine fulls kept, every segment they need kept, and are kept and named apart', () => {
    const full = (key: string, takenAt: string, extra: Partial<Artefact> = {}): Artefact => ({ key, manifestKey: `${key}.json`, source: 'sql', kind: 'full', takenAt, ...extra });
    const seg = (seq: number, days: number): Artefact => ({ key: `mysql-bin.${seq}`, source: 'binlog', kind: 'segment', takenAt: ago(days), series: 'mysql-bin', first: seq, last: seq });
    const genuine = [1, 2, 3, 4, 5, 6].map((n) => full(`full-${n}`, ago(60 - n * 10), { series: 'mysql-bin', first: n * 10 }));
    const segments = [5, 15, 25, 35, 45, 55, 59].map((seq) => seg(seq, 60 - seq));
    // Forged: dated 2099, positioned far past every genuine segment (so that, counted, they would make all of them deletable).
    const forged = [full('forged-1', '2099-01-01T02:00:00.000Z', { series: 'mysql-bin', first: 999_999 }), full('forged-2', '2099-01-02T02:00:00.000Z', { series: 'mysql-bin', first: 999_999 })];
    const alone = planRetention({ rules, packs: [], artefacts: [...genuine, ...segments] });
    const attacked = planRetention({ rules, packs: [], artefacts: [...genuine, ...forged, ...segments] });
    expect(attacked.targets).toEqual(alone.targets);
    expect(attacked.kept).toEqual(alone.kept);
    const deleted = new Set(attacked.targets.map((t) => t.key));
    // The two newest genuine fulls stay, and every segment from the older of them on.
    expect(genuine.filter((f) => !deleted.has(f.key)).map((f) => f.key)).toEqual(['full-5', 'full-6']);
    expect(segments.filter((x) => !deleted.has(x.key)).map((x) => x.key)).toEqual(['mysql-bin.55', 'mysql-bin.59']);
    expect(attacked.kept.fulls).toBe(2);
    // The forged ones: neither deleted nor counted, and named.
    expect(deleted.has('forged-1') || deleted.has('forged-2')).toBe(false);
    expect(attacked.futureDated.map((f) => f.key)).toEqual(['forged-1', 'forged-2']);
  });

  it('counts a full dated within the clock margin, and sets one just past it apart (a future-dated segment too)', () => {
    const full = (key: string, ms: number): Artefact => ({ key, source: 'sql', kind: 'full', takenAt: new Date(ms).toISOString() });
    const plan = planRetention({
      rules: { ...rules, keepFullCycles: 1 },
      packs: [],
      artefacts: [full('old', NOW.getTime() - 10 * DAY), full('within', NOW.getTime() + CLOCK_MARGIN_MS), full('past', NOW.getTime() + CLOCK_MARGIN_MS + 1), { key: 'seg', source: 'binlog', kind: 'segment', takenAt: '2099-01-01T00:00:00.000Z' }],
    });
    expect(plan.targets.map((t) => t.key)).toEqual(['old']);
    expect(plan.futureDated.map((f) => f.key)).toEqual(['past', 'seg']);
  });
});

describe('retention planner and items dated in the future (property)', () => {
  it('plans exactly the same deletions whatever fulls and segments dated past now plus the clock margin are added', () => {
    const futureArb = fc.array(fc.record({ kind: fc.constantFrom('full' as const, 'segment' as const), source: fc.constantFrom('db-a', 'db-b', 'binlog-a'), aheadDays: fc.integer({ min: 2, max: 30_000 }), seq: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }) }), { minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(historyArb, futureArb, (h, future) => {
        const { packs, fulls, segments } = build(h);
        const forged: Artefact[] = future.map((f, i) => ({ key: `forged-${i}`, source: f.source, kind: f.kind, takenAt: new Date(NOW.getTime() + f.aheadDays * DAY).toISOString(), ...(f.seq !== undefined ? { series: 'mysql-bin', first: f.seq, last: f.seq } : {}) }));
        const rules = { now: NOW, retentionDays: h.retentionDays, keepFullCycles: h.keepFullCycles };
        const alone = planRetention({ rules, packs, artefacts: [...fulls, ...segments] });
        const attacked = planRetention({ rules, packs, artefacts: [...fulls, ...forged, ...segments] });
        expect(attacked.targets).toEqual(alone.targets);
        expect(attacked.kept).toEqual(alone.kept);
        expect(attacked.futureDated.map((f) => f.key).sort()).toEqual(forged.map((f) => f.key).sort());
      }),
    );
  });
});
