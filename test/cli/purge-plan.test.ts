import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { daysAgo, publishPack } from '../workflows/purge-fixtures.ts';
import { purgePlan, renderPlan } from '../../cli/purge-commands.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { readAll } from '../../agent/recover.ts';
import { MemoryErasureStore } from '../../core/erasure-items.ts';
import { requestErasure } from '../../core/erasures.ts';

const NOW = '2026-06-01T00:00:00Z';

async function site() {
  const deps = { blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue(), holds: new MemoryHoldStore() };
  const old = await publishPack(deps, 'site-a', new Date(NOW), 'old', [400, 401]);
  const mid = await publishPack(deps, 'site-a', new Date(NOW), 'mid', [120]);
  await publishPack(deps, 'site-a', new Date(NOW), 'held', [400], { hold: [0] });
  await publishPack(deps, 'site-a', new Date(NOW), 'young', [3]);
  return { deps, old, mid };
}

describe('ferry purge plan', () => {
  it('says what a shortened retention would delete before it is deployed (held calls kept), deleting nothing', async () => {
    const { deps, old, mid } = await site();
    const now = await purgePlan({ site: 'site-a', retentionDays: '365', at: NOW }, deps);
    expect(now.targets.filter((t) => t.kind === 'pack').map((t) => t.key)).toEqual([old.packKey]);
    const shorter = await purgePlan({ site: 'site-a', retentionDays: '90', at: NOW }, deps);
    expect(shorter.targets.filter((t) => t.kind === 'pack').map((t) => t.key).sort()).toEqual([old.packKey, mid.packKey].sort());
    const text = renderPlan({ site: 'site-a', retentionDays: '90', at: NOW }, shorter);
    expect(text).toContain('purge of site site-a with retentionDays 90 (calls that started before 2026-03-03T00:00:00.000Z) and a 30-day Object Lock (the default objectLock.defaultRetentionDays');
    expect(text).toContain('would delete: 2 packs');
    expect(text).toContain('kept of what is old enough to go: 1 pack(s) (1 for calls on legal hold)');
    expect(text).toContain('nothing was deleted: this is a plan');
    // Nothing was deleted.
    for (const key of [old.packKey, old.manifestKey, mid.packKey]) expect(await deps.blobs.head(key)).toBeDefined();
  });

  it('says which packs to copy held calls out of lie in the archive tier, and that the purge restores them first (up to 48 hours), so they stay until then', async () => {
    const { deps } = await site();
    const cold = await publishPack(deps, 'site-a', new Date(NOW), 'cold', [500, 501], { hold: [0] });
    const warm = await publishPack(deps, 'site-a', new Date(NOW), 'warm', [500, 501], { hold: [1] });
    // The lifecycle moved the cold one to Deep Archive: the same bytes, another storage class.
    await deps.blobs.put(cold.packKey, await readAll(deps.blobs, cold.packKey), { storageClass: 'DEEP_ARCHIVE' });
    const r = await purgePlan({ site: 'site-a', retentionDays: '365', at: NOW }, deps);
    expect(r.targets.filter((t) => t.keep?.length).map((t) => t.key).sort()).toEqual([cold.packKey, warm.packKey].sort());
    expect([...r.archived]).toEqual([[cold.packKey, 'DEEP_ARCHIVE']]);
    const text = renderPlan({ site: 'site-a', retentionDays: '365', at: NOW }, r, true);
    expect(text).toContain('; 2 pack(s) go once their held calls are copied out (1 of them in the archive tier, DEEP_ARCHIVE: the purge asks S3 to restore each first, Bulk, ready within 48 hours, and copies their held calls out in the first purge after, so they stay until then)');
    expect(text.split('\n').find((l) => l.includes(cold.packKey))).toMatch(/; in DEEP_ARCHIVE: restored before the copy-out\)$/);
    expect(text.split('\n').find((l) => l.includes(warm.packKey))).not.toContain('DEEP_ARCHIVE');
  });

  it("says what it would do for pending erasure requests (the pack rewritten without the call), and writes nothing: a request whose call is gone stays pending until the purge itself marks it", async () => {
    const { deps, mid, old } = await site();
    const erasures = new MemoryErasureStore();
    const clock = new ManualClock(new Date(NOW));
    const asked = { catalogue: deps.catalogue, holds: deps.holds, erasures, clock };
    await requestErasure(asked, { site: 'site-a', rid: mid.manifest.members[0]!.rid, reason: 'Art. 17', reference: 'DSAR-9', principal: 'dpo' });
    await requestErasure(asked, { site: 'site-a', rid: old.manifest.members[0]!.rid, reason: 'Art. 17', reference: 'DSAR-9', principal: 'dpo' });
    // The old pack went meanwhile (a purge that stopped before marking its request done).
    await deps.blobs.delete(old.packKey);
    await deps.blobs.delete(old.manifestKey);
    const r = await purgePlan({ site: 'site-a', retentionDays: '365', at: NOW }, { ...deps, erasures });
    expect(r.targets.map((t) => [t.key, t.rule, t.erase])).toEqual([[mid.packKey, 'erasure', [mid.manifest.members[0]!.rid]]]);
    const text = renderPlan({ site: 'site-a', retentionDays: '365', at: NOW }, r);
    expect(text).toContain("erasure (data subjects' requests): 1 call(s) planned, 1 found carried out and to be marked done by the purge");
    expect(text).toContain('would delete: 1 pack');
    for (const e of await erasures.listErasures('site-a')) expect([e.rid, e.status]).toEqual([e.rid, 'pending']);
    expect(await deps.blobs.head(mid.packKey)).toBeDefined();
  });

  it('refuses a retention that is not a whole number of days, naming it', async () => {
    const { deps } = await site();
    await expect(purgePlan({ site: 'site-a', retentionDays: 'ninety' }, deps)).rejects.toThrow(InvalidInputError);
    await expect(purgePlan({ site: 'site-a', retentionDays: '0' }, deps)).rejects.toThrow(/--retention-days 0: retentionDays: /);
    await expect(purgePlan({ site: 'Site A', retentionDays: '90' }, deps)).rejects.toThrow(/--site "Site A" is not a site name/);
  });
});

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
/** A scratch directory under FERRY_HOME when the session gives one, else the system's. */
const scratch = () => {
  const base = process.env.FERRY_HOME ?? tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'purge-plan-'));
};

/**
 * A pack of calls two years old committed 20 days ago (a migration), and a share with two
 * snapshots on each of the days 40 and 20 days ago and one yesterday, each with a pack of its own:
 * the default trees policy forgets the earlier snapshot of each of those two days.
 */
async function lockedSite() {
  const now = new Date(NOW);
  const clock = new ManualClock(now);
  const deps = { blobs: new MemoryBlobStore({ clock }), catalogue: new MemoryCatalogue(), holds: new MemoryHoldStore() };
  const migrated = await publishPack(deps, 'site-a', now, 'migrated', [700], { createdAt: daysAgo(now, 20) });
  const snaps = [];
  for (const age of [40.5, 40.25, 20.5, 20.25, 1]) {
    const at = daysAgo(now, age);
    clock.set(at); // the bucket's time for what is written now: its Object Lock runs from then
    const pack = await publishTreePack(deps.blobs, 'site-a', 'share', at, [`minutes ${age}`]);
    snaps.push(await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: at.toISOString(), packs: [pack] }));
  }
  return { deps, migrated, snaps };
}

describe('ferry purge plan under Object Lock', () => {
  it('plans with the lock the deployed purge has: what is younger than --object-lock-days is left out and counted with when the first comes free; 0 plans it', async () => {
    const { deps, migrated, snaps } = await lockedSite();
    const opts = { site: 'site-a', retentionDays: '365', at: NOW, objectLockDays: '30' };
    const locked = await purgePlan(opts, deps, {});
    // Only the snapshot forgotten 40 days ago (and its pack and index) may go; the migrated pack and the one forgotten 20 days ago wait.
    expect(locked.targets.map((t) => t.key).sort()).toEqual([snaps[0]!.manifestKey, snaps[0]!.manifest.packs[0]!.key].sort());
    expect(locked.plan.summary.locked).toEqual({ count: 1, firstFree: '2026-06-11T00:00:00.000Z' });
    expect(locked.plan.summary.trees?.locked).toEqual({ snapshots: 1, packs: 0, firstFree: '2026-06-10T12:00:00.000Z' });
    const text = renderPlan(opts, locked);
    expect(text).toContain('and a 30-day Object Lock (--object-lock-days) would delete: 1 snapshot, 1 tree-pack');
    expect(text).toContain('waiting for their Object Lock: 1 pack(s), full backup(s) or log segment(s) past the rules but still locked, not planned (the first comes free on 2026-06-11T00:00:00.000Z)');
    expect(text).toContain('waiting for their Object Lock: 1 tree snapshot(s) (with the packs they list) past the rules but still locked, not planned (the first comes free on 2026-06-10T12:00:00.000Z)');

    const none = await purgePlan({ ...opts, objectLockDays: '0' }, deps, {});
    expect(none.targets.map((t) => t.key)).toContain(migrated.packKey);
    expect(none.targets.map((t) => t.key)).toContain(snaps[2]!.manifestKey);
    expect(none.plan.summary.locked).toBeUndefined();
  });

  it('says per tree source what the rules keep (how many, by which rule) and how far back a restore reaches once the forgotten snapshots are gone', async () => {
    const { deps, snaps } = await lockedSite();
    const opts = { site: 'site-a', retentionDays: '365', at: NOW, objectLockDays: '30' };
    const r = await purgePlan(opts, deps, {});
    // The default policy forgets the earlier snapshot of each of the two old days; the one of 20 days ago is still locked.
    const kept = snaps[1]!.manifest;
    expect(r.trees).toEqual([expect.objectContaining({ source: 'share', kept: 3, forgotten: 1, waiting: 1, byRule: { newest: 1, daily: 3, weekly: 3, monthly: 2, 'before-mass-change': 0 }, oldestKept: { snapshotId: kept.snapshotId, takenAt: kept.takenAt } })]);
    expect(renderPlan(opts, r)).toContain(
      `tree source share: 2 snapshot(s) forgotten, 3 kept (the newest, 3 by keepDaily 14, 3 by keepWeekly 8, 2 by keepMonthly 12; one snapshot can fill several rules): once the forgotten ones are gone, \`ferry restore tree --source share --at\` reaches back to ${kept.takenAt} (snapshot ${kept.snapshotId}, the oldest kept), no further; 1 forgotten snapshot(s) are still under their Object Lock and go in a later purge\n`,
    );
  });

  it("takes the lock from the deployment file (--deployment, else $FERRY_DEPLOYMENT) when no --object-lock-days is given, else the documented 30 days", async () => {
    const { deps, migrated } = await lockedSite();
    const file = join(scratch(), 'deployment.json');
    writeFileSync(file, JSON.stringify({ ...DEFAULT_CONFIG, objectLock: { mode: 'compliance', defaultRetentionDays: 10 } }));
    const opts = { site: 'site-a', retentionDays: '365', at: NOW };
    for (const r of [await purgePlan({ ...opts, deployment: file }, deps, {}), await purgePlan(opts, deps, { FERRY_DEPLOYMENT: file })]) {
      expect(r.lock).toEqual({ days: 10, from: `objectLock.defaultRetentionDays of ${file}` });
      // Committed 20 days ago: free of a 10-day lock.
      expect(r.targets.map((t) => t.key)).toContain(migrated.packKey);
    }
    const byDefault = await purgePlan(opts, deps, {});
    expect(byDefault.lock.days).toBe(30);
    expect(byDefault.targets.map((t) => t.key)).not.toContain(migrated.packKey);
  });

  it("plans with the site's own settings in the deployment file (its trees policy, retention, the partials' lock), as its purge is given them, the options on top", async () => {
    const { deps, snaps } = await lockedSite();
    const file = join(scratch(), 'deployment.json');
    const trees = { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 };
    writeFileSync(file, JSON.stringify({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 300, keepFullCycles: 3, orphanGraceDays: 5, trees }], objectLock: { mode: 'compliance', defaultRetentionDays: 1 } }));
    const deployed = await purgePlan({ site: 'site-a', deployment: file, at: NOW }, deps, {});
    expect(deployed.settings).toEqual({ retentionDays: 300, keepFullCycles: 3, orphanGraceDays: 5, objectLockDays: 1, trees: expect.objectContaining(trees) });
    expect(deployed.siteFrom).toBe(file);
    // keepDaily 1 and nothing weekly or monthly: every snapshot but yesterday's goes (the default policy forgets only two).
    const forgotten = (r: typeof deployed) => r.targets.filter((t) => t.kind === 'snapshot').map((t) => t.key).sort();
    expect(forgotten(deployed)).toEqual(snaps.slice(0, 4).map((x) => x.manifestKey).sort());
    const text = renderPlan({ site: 'site-a', deployment: file, at: NOW }, deployed);
    expect(text).toContain('purge of site site-a with retentionDays 300 (calls that started before 2025-08-05T00:00:00.000Z) and a 1-day Object Lock');
    // The trees policy as the deployment file spells it, not as JSON.
    expect(text).toMatch(new RegExp(`the settings of site site-a in ${file}, with the options given on top: keepFullCycles 3, orphanGraceDays 5, trees keepDaily 1, keepWeekly 0, keepMonthly 0(, [a-zA-Z]+ \\d+)*\n`));
    // The site absent from the file: the defaults, and the retention must be given.
    const other = await purgePlan({ site: 'site-a', retentionDays: '300', at: NOW, objectLockDays: '1' }, deps, {});
    expect(other.siteFrom).toBeUndefined();
    expect(renderPlan({ site: 'site-a', retentionDays: '300', at: NOW, objectLockDays: '1' }, other)).toContain('the default trees policy (keepDaily 14, keepWeekly 8, keepMonthly 12, keepBeforeMassChangeDays 90, orphanGraceDays 7)');
    expect(forgotten(other)).toEqual([snaps[0]!.manifestKey, snaps[2]!.manifestKey].sort());
    // An option given wins over the file's value; the partials' lock counts only while shorter than the bucket's.
    writeFileSync(file, JSON.stringify({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 300 }], binlogs: { partialLockDays: 3 } }));
    const over = await purgePlan({ site: 'site-a', deployment: file, retentionDays: '90', at: NOW }, deps, {});
    expect(over.settings).toMatchObject({ retentionDays: 90, objectLockDays: 30, partialLockDays: 3 });
    expect((await purgePlan({ site: 'site-a', deployment: file, objectLockDays: '2', at: NOW }, deps, {})).settings.partialLockDays).toBeUndefined();
  });

  it('asks for --retention-days, saying why, when no deployment file names the site', async () => {
    const file = join(scratch(), 'deployment.json');
    writeFileSync(file, JSON.stringify(DEFAULT_CONFIG));
    await expect(purgePlan({ site: 'site-z', deployment: file }, undefined, {})).rejects.toThrow(new InvalidInputError(`--retention-days: needed, as the deployment file ${file} has no site site-z to take the site's retentionDays from`));
    await expect(purgePlan({ site: 'site-a' }, undefined, {})).rejects.toThrow(new InvalidInputError("--retention-days: needed, as no deployment file is given (--deployment or $FERRY_DEPLOYMENT) to take the site's retentionDays from"));
  });

  it('refuses an --object-lock-days that is not whole days from 0 to 36500, naming the option, before reading the bucket', async () => {
    for (const bad of ['thirty', '-1', '1.5', '', '36501', '1e3']) {
      await expect(purgePlan({ site: 'site-a', retentionDays: '365', objectLockDays: bad }, undefined, {})).rejects.toThrow(new InvalidInputError(`--object-lock-days ${JSON.stringify(bad)}: must be the bucket's objectLock.defaultRetentionDays in whole days, 0 (no lock) to 36500`));
    }
  });

  it('lists --object-lock-days and --deployment in `ferry purge plan --help`, and the real command refuses a bad value with its message and exit 1', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'purge', 'plan', ...args], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: scratch() }, timeout: 30_000 });
    const help = run(['--help']);
    expect(help.stdout).toMatch(/--object-lock-days <days>\s+the bucket's Object Lock in days, 0 for none/);
    expect(help.stdout).toMatch(/--deployment <file>/);
    const bad = run(['--site', 'site-a', '--retention-days', '365', '--object-lock-days', 'thirty']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`--object-lock-days "thirty": must be the bucket's objectLock.defaultRetentionDays in whole days`);
  });
});
