import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOCK_MARGIN_MS } from '../../core/future-dated.ts';
import { lockedUntil } from '../../core/retention.ts';
import { isoWeekKey, keepSnapshots, planTreeRetention, retentionFor, siteTreeRetentionSchema, treeRetentionSchema, type SnapshotFacts, type TreeRetention } from '../../core/tree-retention.ts';

// Snapshot retention, pure. Property tests over random histories of snapshots of one source
// (random times, random sharing of packs between snapshots, random stray packs and indexes):
// no kept snapshot ever loses a pack or its index, the newest is always kept, and the daily,
// weekly and monthly rules keep the newest snapshot of exactly as many periods as configured,
// and the snapshot a recent mass change started from is kept whatever the counts. A random
// Object Lock period (or none) and random write times for manifests, indexes and packs: nothing
// still locked is planned, and what the rules forget but the lock holds waits, packs and all.

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T12:00:00.000Z');
const PACKS = Array.from({ length: 30 }, (_, i) => `trees/s/share/packs/2026/01/01/t${String(i).padStart(23, '0')}.tar`);

const historyArb = fc.record({
  policy: fc.record({ keepDaily: fc.integer({ min: 0, max: 10 }), keepWeekly: fc.integer({ min: 0, max: 6 }), keepMonthly: fc.integer({ min: 0, max: 4 }), keepBeforeMassChangeDays: fc.integer({ min: 0, max: 200 }), orphanGraceDays: fc.integer({ min: 1, max: 30 }) }),
  snapshots: fc.array(
    fc.record({
      ageMinutes: fc.integer({ min: 0, max: 400 * 24 * 60 }),
      packs: fc.uniqueArray(fc.integer({ min: 0, max: PACKS.length - 1 }), { maxLength: 6 }),
      massChangeFrom: fc.option(fc.nat(), { nil: undefined }),
      // The manifest and the index reach the bucket this long after the snapshot was taken (a slow upload, a site clock behind).
      manifestLateMinutes: fc.integer({ min: 0, max: 3 * 24 * 60 }),
      indexLateMinutes: fc.integer({ min: 0, max: 3 * 24 * 60 }),
    }),
    { maxLength: 40 },
  ),
  strays: fc.uniqueArray(fc.record({ pack: fc.integer({ min: 0, max: PACKS.length - 1 }), ageDays: fc.integer({ min: 0, max: 60 }) }), { maxLength: 10, selector: (s) => s.pack }),
  /** When each listed pack was written, days ago. */
  packAgeDays: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: PACKS.length, maxLength: PACKS.length }),
  /** The bucket's default retention (absent: no lock known). */
  objectLockDays: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
});
type History = typeof historyArb extends fc.Arbitrary<infer T> ? T : never;

/** A mass change names an older snapshot of the history (by its time), when there is one. */
function snapshotsOf(h: History): SnapshotFacts[] {
  const takenAt = (ageMinutes: number) => new Date(NOW.getTime() - ageMinutes * 60_000).toISOString();
  return h.snapshots.map((s, i) => {
    const id = `s${String(i).padStart(23, '0')}`;
    const older = h.snapshots.filter((o) => o.ageMinutes > s.ageMinutes);
    const parent = s.massChangeFrom === undefined || older.length === 0 ? undefined : older[s.massChangeFrom % older.length]!;
    return {
      snapshotId: id,
      takenAt: takenAt(s.ageMinutes),
      manifestKey: `manifests/s/trees/share/2026/01/01/${id}.json`,
      indexKey: `trees/s/share/index/${id}.jsonl.gz`,
      packs: s.packs.map((p) => PACKS[p]!),
      ...(parent ? { massChangeFrom: takenAt(parent.ageMinutes) } : {}),
      createdAt: takenAt(s.ageMinutes - s.manifestLateMinutes),
    };
  });
}

/** What the bucket holds besides the manifests: every listed pack and the strays, every index, each with when it was written. */
function storedOf(h: History, snapshots: SnapshotFacts[]): { storedPacks: { key: string; lastModified: Date }[]; storedIndexes: { key: string; lastModified: Date }[] } {
  const strays = h.strays.map((s) => ({ key: PACKS[s.pack]!, lastModified: new Date(NOW.getTime() - s.ageDays * DAY) }));
  const listed = [...new Set(snapshots.flatMap((s) => s.packs))].filter((key) => !strays.some((s) => s.key === key));
  const storedPacks = [...strays, ...listed.map((key) => ({ key, lastModified: new Date(NOW.getTime() - h.packAgeDays[PACKS.indexOf(key)]! * DAY) }))];
  const storedIndexes = snapshots.map((s, i) => ({ key: s.indexKey, lastModified: new Date(Date.parse(s.takenAt) + h.snapshots[i]!.indexLateMinutes * 60_000) }));
  return { storedPacks, storedIndexes };
}

/** The newest snapshot of each of the `n` most recent periods that have one. */
function expectedNewestPerPeriod(snapshots: SnapshotFacts[], n: number, bucket: (at: Date) => string): Set<string> {
  const newest = new Map<string, SnapshotFacts>();
  for (const s of snapshots) {
    const b = bucket(new Date(s.takenAt));
    const have = newest.get(b);
    if (!have || Date.parse(s.takenAt) > Date.parse(have.takenAt) || (s.takenAt === have.takenAt && s.snapshotId > have.snapshotId)) newest.set(b, s);
  }
  return new Set([...newest.entries()].sort(([a], [b]) => (a < b ? 1 : -1)).slice(0, n).map(([, s]) => s.snapshotId));
}

const day = (at: Date) => at.toISOString().slice(0, 10);
const month = (at: Date) => at.toISOString().slice(0, 7);

describe('tree snapshot retention (property)', () => {
  it('keeps every pack and index a kept snapshot lists, plans nothing still under Object Lock, always keeps the newest, keeps the newest of the last N days, weeks and months, and the snapshots recent mass changes started from', () => {
    fc.assert(
      fc.property(historyArb, (h) => {
        const policy: TreeRetention = h.policy;
        const snapshots = snapshotsOf(h);
        const { storedPacks, storedIndexes } = storedOf(h, snapshots);
        const plan = planTreeRetention({ now: NOW, policy, snapshots, storedPacks, storedIndexes, objectLockDays: h.objectLockDays });
        const keptIds = new Set(plan.kept.map((k) => k.snapshot.snapshotId));

        // Every snapshot is kept, forgotten or waiting for its lock, once.
        expect(plan.kept.length + plan.forgotten.length + plan.waiting.length).toBe(snapshots.length);
        // No byte lost: nothing deleted is listed by a kept snapshot, nor by one that waits for its lock (it stays).
        const deleted = new Set([...plan.packs, ...plan.indexes].map((t) => t.key));
        for (const s of [...plan.kept.map((k) => k.snapshot), ...plan.waiting]) {
          for (const pack of s.packs) expect(deleted.has(pack)).toBe(false);
          expect(deleted.has(s.indexKey)).toBe(false);
        }
        // Nothing still locked is planned: no forgotten manifest, no index or pack deleted.
        const lock = { now: NOW, objectLockDays: h.objectLockDays };
        const written = new Map([...storedPacks, ...storedIndexes].map((o) => [o.key, o.lastModified.toISOString()]));
        for (const f of plan.forgotten) expect(lockedUntil(f.createdAt, lock)).toBeUndefined();
        for (const key of deleted) expect(lockedUntil(written.get(key), lock)).toBeUndefined();
        // What waits is exactly what the rules forget and the lock still holds (its manifest or its index).
        const locks = (s: SnapshotFacts) => [lockedUntil(s.createdAt, lock), lockedUntil(written.get(s.indexKey), lock)].filter((t) => t !== undefined);
        const byRules = keepSnapshots(snapshots, policy, NOW).forgotten;
        expect(plan.waiting.map((s) => s.snapshotId)).toEqual(byRules.filter((s) => locks(s).length > 0).map((s) => s.snapshotId));
        expect(plan.forgotten.map((s) => s.snapshotId)).toEqual(byRules.filter((s) => locks(s).length === 0).map((s) => s.snapshotId));
        // The report's count and first date: waiting snapshots, and locked packs only forgotten snapshots list.
        const staying = new Set([...plan.kept.map((k) => k.snapshot), ...plan.waiting].flatMap((s) => s.packs));
        const lockedPacks = [...new Set(plan.forgotten.flatMap((s) => s.packs))].filter((key) => !staying.has(key) && lockedUntil(written.get(key), lock) !== undefined);
        const frees = [...plan.waiting.map((s) => Math.max(...locks(s))), ...lockedPacks.map((key) => lockedUntil(written.get(key), lock)!)];
        expect(plan.locked).toEqual(frees.length ? { snapshots: plan.waiting.length, packs: lockedPacks.length, firstFree: new Date(Math.min(...frees)).toISOString() } : undefined);
        // The newest is always kept.
        if (snapshots.length > 0) {
          const newest = [...snapshots].sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt) || (a.snapshotId < b.snapshotId ? 1 : -1))[0]!;
          expect(keptIds.has(newest.snapshotId)).toBe(true);
        }
        // Each rule keeps the newest snapshot of exactly min(N, periods) periods.
        const byRule = (reason: string) => new Set(plan.kept.filter((k) => k.reasons.includes(reason as never)).map((k) => k.snapshot.snapshotId));
        expect(byRule('daily')).toEqual(expectedNewestPerPeriod(snapshots, policy.keepDaily, day));
        expect(byRule('weekly')).toEqual(expectedNewestPerPeriod(snapshots, policy.keepWeekly, isoWeekKey));
        expect(byRule('monthly')).toEqual(expectedNewestPerPeriod(snapshots, policy.keepMonthly, month));
        // The snapshots a mass change of the last keepBeforeMassChangeDays started from, and only those.
        const recent = snapshots.filter((m) => m.massChangeFrom !== undefined && Date.parse(m.takenAt) >= NOW.getTime() - policy.keepBeforeMassChangeDays * DAY);
        const parents = new Set(snapshots.filter((p) => recent.some((m) => m.massChangeFrom === p.takenAt)).map((p) => p.snapshotId));
        expect(byRule('before-mass-change')).toEqual(parents);
        // Nothing else is kept.
        for (const k of plan.kept) expect(k.reasons.length).toBeGreaterThan(0);
        // A forgotten snapshot's packs that no staying snapshot lists and no lock holds all go, and so does its index.
        for (const f of plan.forgotten) {
          for (const pack of f.packs) if (!staying.has(pack)) expect(deleted.has(pack)).toBe(!lockedPacks.includes(pack));
          expect(deleted.has(f.indexKey)).toBe(true);
        }
        // A stray pack no manifest lists goes only past the grace period and its lock.
        const listed = new Set(snapshots.flatMap((s) => s.packs));
        for (const stray of storedPacks) {
          if (listed.has(stray.key)) continue;
          const old = stray.lastModified.getTime() < NOW.getTime() - Math.max(policy.orphanGraceDays, h.objectLockDays ?? 0) * DAY;
          expect(deleted.has(stray.key)).toBe(old);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('tree snapshot retention', () => {
  it('keeps 14 daily, 8 weekly and 12 monthly snapshots, the snapshot before a mass change 90 days, and a 7-day orphan grace by default', () => {
    expect(treeRetentionSchema.parse({})).toEqual({ keepDaily: 14, keepWeekly: 8, keepMonthly: 12, keepBeforeMassChangeDays: 90, orphanGraceDays: 7 });
  });

  it('numbers ISO weeks from the week holding the year first Thursday', () => {
    expect(isoWeekKey(new Date('2026-01-01T00:00:00Z'))).toBe('2026-W01'); // a Thursday
    expect(isoWeekKey(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53'); // a Friday: last week of 2026
    expect(isoWeekKey(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01'); // a Monday
    expect(isoWeekKey(new Date('2026-06-01T23:59:59Z'))).toBe('2026-W23');
  });

  it('keeps the last snapshot of each day, not the first', () => {
    const s = (id: number, at: string): SnapshotFacts => ({ snapshotId: `s${String(id).padStart(23, '0')}`, takenAt: at, manifestKey: `m${id}`, indexKey: `i${id}`, packs: [] });
    const history = [s(1, '2026-05-30T08:00:00Z'), s(2, '2026-05-30T20:00:00Z'), s(3, '2026-05-31T08:00:00Z'), s(4, '2026-05-31T09:00:00Z')];
    const { kept, forgotten } = keepSnapshots(history, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0, keepBeforeMassChangeDays: 0, orphanGraceDays: 7 }, NOW);
    expect(kept.map((k) => [k.snapshot.snapshotId.slice(-1), k.reasons])).toEqual([
      ['4', ['newest', 'daily']],
      ['2', ['daily']],
    ]);
    expect(forgotten.map((f) => f.snapshotId.slice(-1))).toEqual(['3', '1']);
  });

  it('counts no snapshot dated after now plus the clock margin: 14 forged ones dated 2099 leave every genuine snapshot the rules keep, with its packs and index, and are kept and named apart', () => {
    const s = (id: number, at: string, packs: string[]): SnapshotFacts => ({ snapshotId: `s${String(id).padStart(23, '0')}`, takenAt: at, manifestKey: `manifests/s/trees/share/${at.slice(0, 10).replace(/-/g, '/')}/s${id}.json`, indexKey: `trees/s/share/index/s${id}.jsonl.gz`, packs });
    // Six genuine nightly snapshots, each adding a pack and listing the first.
    const genuine = Array.from({ length: 6 }, (_, d) => s(d, new Date(NOW.getTime() - (5 - d) * DAY).toISOString(), d === 0 ? [PACKS[0]!] : [PACKS[0]!, PACKS[d]!]));
    // As the review wrote them: 12 in distinct months of 2099 plus 2 more days, listing no packs; one lists a genuine pack.
    const forged = [
      ...Array.from({ length: 12 }, (_, m) => s(100 + m, `2099-${String(m + 1).padStart(2, '0')}-01T00:00:00.000Z`, [])),
      s(112, '2099-12-02T00:00:00.000Z', []),
      s(113, '2099-12-03T00:00:00.000Z', [PACKS[1]!]),
    ];
    const policy: TreeRetention = { keepDaily: 2, keepWeekly: 0, keepMonthly: 0, keepBeforeMassChangeDays: 0, orphanGraceDays: 7 };
    const alone = keepSnapshots(genuine, policy, NOW);
    const attacked = keepSnapshots([...genuine, ...forged], policy, NOW);
    expect(attacked.kept).toEqual(alone.kept);
    expect(attacked.kept.map((k) => [k.snapshot.snapshotId, k.reasons])).toEqual([
      [genuine[5]!.snapshotId, ['newest', 'daily']],
      [genuine[4]!.snapshotId, ['daily']],
    ]);
    expect(attacked.forgotten).toEqual(alone.forgotten);
    expect(attacked.futureDated.map((f) => f.snapshotId).sort()).toEqual(forged.map((f) => f.snapshotId).sort());

    // With the default policy every genuine snapshot is kept, and no genuine pack or index goes.
    const plan = planTreeRetention({ now: NOW, policy: treeRetentionSchema.parse({}), snapshots: [...genuine, ...forged] });
    expect(plan.kept.map((k) => k.snapshot.snapshotId).sort()).toEqual(genuine.map((g) => g.snapshotId).sort());
    expect(plan.forgotten).toEqual([]);
    expect(plan.packs).toEqual([]);
    expect(plan.indexes).toEqual([]);
    // A forged snapshot is no reason to delete anything, not even a pack it alone would keep.
    const narrow = planTreeRetention({ now: NOW, policy, snapshots: [...genuine, ...forged] });
    expect(narrow.packs.map((p) => p.key).sort()).toEqual([PACKS[2]!, PACKS[3]!]);
    expect(narrow.indexes.map((i) => i.key)).not.toContain(forged[0]!.indexKey);
  });

  it('counts a snapshot dated within the clock margin as the newest, and one just past it apart', () => {
    const s = (id: number, ms: number): SnapshotFacts => ({ snapshotId: `s${String(id).padStart(23, '0')}`, takenAt: new Date(ms).toISOString(), manifestKey: `m${id}`, indexKey: `i${id}`, packs: [] });
    const within = s(1, NOW.getTime() + CLOCK_MARGIN_MS);
    const past = s(2, NOW.getTime() + CLOCK_MARGIN_MS + 1);
    const { kept, futureDated } = keepSnapshots([s(0, NOW.getTime() - DAY), within, past], { keepDaily: 1, keepWeekly: 0, keepMonthly: 0, keepBeforeMassChangeDays: 0, orphanGraceDays: 7 }, NOW);
    expect(kept.map((k) => k.snapshot.snapshotId)).toEqual([within.snapshotId]);
    expect(futureDated).toEqual([past]);
  });

  it('overrides the site policy per source, field by field', () => {
    const policy = siteTreeRetentionSchema.parse({ keepDaily: 7, sources: { share: { keepWeekly: 52 } } });
    expect(retentionFor(policy, 'share')).toEqual({ keepDaily: 7, keepWeekly: 52, keepMonthly: 12, keepBeforeMassChangeDays: 90, orphanGraceDays: 7 });
    expect(retentionFor(policy, 'other')).toEqual({ keepDaily: 7, keepWeekly: 8, keepMonthly: 12, keepBeforeMassChangeDays: 90, orphanGraceDays: 7 });
  });

  it('keeps the snapshot a mass change started from for keepBeforeMassChangeDays after it, with its packs, though every daily, weekly and monthly slot holds a later one', () => {
    // A nightly share encrypted on day 20 of 30: every snapshot from then on is the encrypted share.
    const s = (d: number, packs: string[], massChangeFrom?: string): SnapshotFacts => ({ snapshotId: `s${String(d).padStart(23, '0')}`, takenAt: new Date(NOW.getTime() - (30 - d) * DAY).toISOString(), manifestKey: `m${d}`, indexKey: `i${d}`, packs, ...(massChangeFrom ? { massChangeFrom } : {}) });
    const good = Array.from({ length: 20 }, (_, d) => s(d, [PACKS[0]!]));
    const encrypted = Array.from({ length: 11 }, (_, i) => s(20 + i, [PACKS[1]!], i === 0 ? good[19]!.takenAt : undefined));
    const policy: TreeRetention = { keepDaily: 3, keepWeekly: 0, keepMonthly: 0, keepBeforeMassChangeDays: 90, orphanGraceDays: 7 };
    const plan = planTreeRetention({ now: NOW, policy, snapshots: [...good, ...encrypted] });
    expect(plan.kept.map((k) => [k.snapshot.snapshotId, k.reasons])).toEqual([
      [encrypted[10]!.snapshotId, ['newest', 'daily']],
      [encrypted[9]!.snapshotId, ['daily']],
      [encrypted[8]!.snapshotId, ['daily']],
      [good[19]!.snapshotId, ['before-mass-change']],
    ]);
    expect(plan.packs).toEqual([]);
    // Once the mass change is older than keepBeforeMassChangeDays (or with the rule off), the counts alone decide.
    for (const later of [{ now: new Date(NOW.getTime() + 81 * DAY), policy }, { now: NOW, policy: { ...policy, keepBeforeMassChangeDays: 0 } }]) {
      const after = planTreeRetention({ now: later.now, policy: later.policy, snapshots: [...good, ...encrypted] });
      expect(after.kept.map((k) => k.snapshot.snapshotId)).not.toContain(good[19]!.snapshotId);
      expect(after.packs.map((p) => p.key)).toEqual([PACKS[0]!]);
    }
  });

  it('refuses a negative count naming the field', () => {
    const parsed = siteTreeRetentionSchema.safeParse({ keepDaily: -1 });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['keepDaily']);
  });
});
