import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ArtefactEntry } from '../../core/ports.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { artefactOfEntry, gatherArtefacts } from '../../core/purge-artefacts.ts';
import { planRestore } from '../../core/restore-plan.ts';
import { planRetention, type Artefact } from '../../core/retention.ts';
import { T0, iso, makeFull, makeSegment, min } from '../support/artefact-fixtures.ts';

// Binlog partial snapshots and the purge: a snapshot the restore planner can never choose (its
// closed segment, or a newer snapshot of the same file, is offsite) goes; every restore the
// retention promises (any T from the oldest kept full on) plans exactly as before the purge.

const NOW = new Date(T0 + 30 * 86_400_000);
const rules = (keepFullCycles: number) => ({ now: NOW, retentionDays: 365, keepFullCycles });
const artefacts = (entries: ArtefactEntry[]): Artefact[] => entries.map(artefactOfEntry).filter((a): a is Artefact => a !== undefined);
const pos = (seq: number) => ({ logFile: `mysql-bin.${String(seq).padStart(6, '0')}`, logPos: 4 });
const partial = (seq: number, to: number, size: number, from = 10 * (seq - 1)) => makeSegment(seq, min(from), min(to), { partial: true, size, sha256: String(to * 1000 + size).padStart(64, 'a').slice(-64) });

describe('superseded partial snapshots', () => {
  it('plans every snapshot of a segment shipped closed, and every snapshot but the newest of one still open, even where the kept full needs that segment', () => {
    const full = makeFull(min(0), { position: pos(1) });
    const closed = makeSegment(1, min(0), min(9));
    const early = [partial(1, 3, 300), partial(1, 6, 600)];
    const open = [partial(2, 12, 200), partial(2, 15, 500), partial(2, 15, 400)];
    const plan = planRetention({ rules: rules(1), packs: [], artefacts: artefacts([full, closed, ...early, ...open]) });
    expect(new Map(plan.targets.map((t) => [t.key, t.reason]))).toEqual(
      new Map([
        [early[0]!.key, `partial snapshot of ${closed.key}, which was shipped closed`],
        [early[1]!.key, `partial snapshot of ${closed.key}, which was shipped closed`],
        [open[0]!.key, `partial snapshot superseded by the newer snapshot ${open[1]!.key}`],
        [open[2]!.key, `partial snapshot superseded by the newer snapshot ${open[1]!.key}`],
      ]),
    );
    expect(plan.targets.every((t) => t.kind === 'segment' && t.then !== undefined)).toBe(true);
    expect(plan.kept.segments).toBe(2);
  });

  it('keeps a snapshot of another file under the same name (RESET MASTER: another first event), one without a first event, and one tied with the newest', () => {
    const full = makeFull(min(0), { position: pos(1) });
    const closed = makeSegment(1, min(0), min(9));
    const otherFile = partial(1, 30, 100, 25);
    const noSpan = { ...partial(1, 4, 100), span: undefined };
    const tied = [partial(2, 15, 500), { ...partial(2, 15, 500), key: 'logs/site-a/binlog/other-tie', sha256: 'f'.repeat(64) }];
    const plan = planRetention({ rules: rules(1), packs: [], artefacts: artefacts([full, closed, otherFile, noSpan, ...tied]) });
    expect(plan.targets).toEqual([]);
  });
});

describe('the short lock of partials (binlogs.partialLockDays)', () => {
  const DAY = 86_400_000;
  const now = new Date(T0 + 40 * DAY);
  const at = (daysAgo: number) => iso(now.getTime() - daysAgo * DAY);
  const lockRules = { now, retentionDays: 365, keepFullCycles: 1, objectLockDays: 30, partialLockDays: 2 };
  // Segment 1 closed yesterday (under the bucket's 30 days); segment 2 still open, with partials shipped 4, 3, 1 days and 5 minutes ago.
  const full = makeFull(min(0), { position: pos(1), createdAt: at(10) });
  const closed = makeSegment(1, min(0), min(9), { createdAt: at(1) });
  const open = [partial(2, 11, 100), partial(2, 12, 200), partial(2, 13, 300), partial(2, 14, 400)].map((p, i) => ({ ...p, createdAt: at([4, 3, 1, 0.003][i]!) }));

  it('plans a superseded partial once its 2 days are over, never the newest, and leaves one still locked out', () => {
    const plan = planRetention({ rules: lockRules, packs: [], artefacts: artefacts([full, closed, ...open]) });
    expect(plan.targets.map((t) => t.key)).toEqual([open[0]!.key, open[1]!.key]);
    expect(plan.targets.every((t) => t.then?.includes('/partial/'))).toBe(true);
    expect(plan.locked).toEqual({ count: 1, firstFree: iso(Date.parse(open[2]!.createdAt!) + 2 * DAY) });
  });

  it("keeps a partial shipped before partials had their own lock (its manifest beside the finals') for the bucket's 30 days", () => {
    const legacy = open.map((p) => ({ ...p, manifestKey: p.manifestKey.replace('/partial/', '/') }));
    const plan = planRetention({ rules: lockRules, packs: [], artefacts: artefacts([full, closed, ...legacy]) });
    expect(plan.targets).toEqual([]);
    expect(plan.locked?.count).toBe(3);
  });

  it("reads the partials of an open segment past a closed segment still under the bucket's lock", async () => {
    const catalogue = new MemoryCatalogue();
    for (const e of [full, closed, ...open]) await catalogue.putArtefact(e);
    const { artefacts: read } = await gatherArtefacts(catalogue, 'site-a', lockRules, { unreadable: 0 });
    expect(read.filter((a) => a.partial).map((a) => a.key).sort()).toEqual(open.map((p) => p.key).sort());
  });
});

/** A binlog history: segment i holds minutes 10(i-1)..10i-1; each may have snapshots and be shipped closed (the last one maybe not yet). */
const historyArb = fc
  .record({
    segments: fc.array(fc.record({ closed: fc.boolean(), snapshots: fc.array(fc.record({ end: fc.integer({ min: 0, max: 9 }), size: fc.integer({ min: 1, max: 5 }) }), { maxLength: 4 }) }), { minLength: 2, maxLength: 8 }),
    fullMinutes: fc.uniqueArray(fc.integer({ min: 0, max: 79 }), { minLength: 1, maxLength: 4 }),
    keepFullCycles: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ segments, fullMinutes, keepFullCycles }) => {
    const k = segments.length;
    const entries: ArtefactEntry[] = [];
    segments.forEach((s, i) => {
      const seq = i + 1;
      // Every segment but the active one is usually closed offsite; a missing one is a gap.
      if (s.closed || (i < k - 1 && s.snapshots.length === 0)) entries.push(makeSegment(seq, min(10 * i), min(10 * i + 9)));
      for (const p of s.snapshots) entries.push(partial(seq, 10 * i + p.end, p.size * 100));
    });
    for (const m of fullMinutes.filter((m) => m < 10 * k)) entries.push(makeFull(min(m), { position: pos(Math.floor(m / 10) + 1) }));
    return { entries, keepFullCycles, k };
  });

describe('superseded partial snapshots and point-in-time restore (property)', () => {
  it('every T from the oldest kept full to the last event plans the same files after the purge as before it', () => {
    fc.assert(
      fc.property(historyArb, ({ entries, keepFullCycles, k }) => {
        const plan = planRetention({ rules: rules(keepFullCycles), packs: [], artefacts: artefacts(entries) });
        const gone = new Set(plan.targets.map((t) => t.key));
        const left = entries.filter((e) => !gone.has(e.key));
        const kept = left.filter((e) => e.role === 'full').map((e) => e.takenAt).sort();
        if (kept.length === 0) return;
        const first = (Date.parse(kept[0]!) - T0) / 60_000;
        for (let m = first; m < 10 * k; m++) {
          const before = planRestore(entries, { at: min(m), now: NOW });
          if (!before.ok) continue;
          const after = planRestore(left, { at: min(m), now: NOW });
          expect([m, after.ok && after.files.map((f) => f.key)]).toEqual([m, before.files.map((f) => f.key)]);
        }
      }),
      { numRuns: 200 },
    );
  });
});
