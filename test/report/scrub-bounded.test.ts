// The scrub against a store holding a long history, counting requests: what a run GETs follows
// its sample and its budgets, never the number of manifests the site wrote before.
import { describe, expect, it } from 'vitest';
import { renderScrub, verifySite } from '../../core/verify.ts';
import { pickScrubDays } from '../../core/scrub-pick.ts';
import { packManifestPeriodPrefix } from '../../core/layout.ts';
import { CountingBlobStore } from '../support/counting-blob-store.ts';
import { audio, buildPack } from '../support/pack-fixture.ts';

const TODAY = new Date('2026-03-02T06:00:00.000Z');
const DAY_MS = 86_400_000;

/** A site that shipped `perDay` packs a day for `days` days up to TODAY, each written on its day. */
async function history(days: number, perDay = 2, storageClass?: (daysOld: number) => string) {
  let clock = TODAY;
  const blobs = new CountingBlobStore({ clock: { now: () => clock } });
  let size = 0;
  for (let back = 0; back < days; back += 1) {
    const day = new Date(TODAY.getTime() - back * DAY_MS);
    clock = day;
    for (let n = 0; n < perDay; n += 1) {
      const pack = buildPack('site-a', [{ path: `b${back}-${n}/call.wav`, body: audio(back * 10 + n, 400) }], { day: day.toISOString(), createdAt: day.toISOString(), seed: `${back}-${n}` });
      size = pack.pack.length;
      await blobs.put(pack.packKey, pack.pack, storageClass ? { storageClass: storageClass(back) } : {});
      await blobs.put(pack.manifestKey, pack.manifestBytes);
    }
  }
  clock = TODAY;
  blobs.reset();
  return { blobs, size };
}

const isManifest = (k: string) => k.startsWith('manifests/');

describe('the scrub against a long history', () => {
  it('GETs only the manifests it picks: a 5% sample of 600 manifests reads about 30, not 600', async () => {
    const { blobs } = await history(300);
    const result = await verifySite(blobs, { site: 'site-a', sample: 0.05, seed: 's', now: () => TODAY });
    expect(result.candidates).toBe(600);
    expect(result.problems).toEqual([]);
    expect(blobs.gets.filter(isManifest)).toHaveLength(result.picked!);
    expect(result.picked).toBeLessThan(60);
    expect(blobs.gets.filter((k) => !isManifest(k))).toHaveLength(result.objects);
  });

  it('lists and GETs only the days it was given, within a byte budget: the same requests whether the site holds 40 days or 400', async () => {
    const days = pickScrubDays('seed-1', TODAY, 30, 4);
    const requests = [];
    for (const length of [40, 400]) {
      const { blobs, size } = await history(length, 3);
      const result = await verifySite(blobs, { site: 'site-a', sample: 1, seed: 'seed-1', days, maxBytes: 5 * size, now: () => TODAY });
      expect(result).toMatchObject({ candidates: 12, picked: 12, objects: 5, problems: [], notRead: { overBudget: 7, glacierIr: 0, deadline: 0 } });
      const dayPrefixes = days.map((d) => packManifestPeriodPrefix('site-a', d));
      expect(blobs.gets.filter(isManifest).every((k) => dayPrefixes.some((p) => k.startsWith(p)))).toBe(true);
      expect(blobs.lists.filter((p) => p.startsWith('manifests/site-a/recordings/'))).toEqual(dayPrefixes);
      requests.push({ gets: blobs.gets.length, lists: blobs.lists.length, heads: blobs.heads.length });
      expect(renderScrub(result)).toMatch(/^OK: site-a: read 5 of 12 object\(s\) \(sample 100%; packs of 4 day\(s\), 12 picked\).*\n {2}7 picked object\(s\) not read: over the run's byte budget/);
    }
    expect(requests[1]).toEqual(requests[0]);
  });

  it('reads no Glacier IR object past its Glacier IR budget, HEADing each picked one first, and never GETs one in Deep Archive', async () => {
    const tier = (daysOld: number) => (daysOld < 2 ? 'STANDARD' : daysOld < 4 ? 'GLACIER_IR' : 'DEEP_ARCHIVE');
    const { blobs } = await history(6, 1, tier);
    const days = pickScrubDays('x', TODAY, 6, 6);
    const result = await verifySite(blobs, { site: 'site-a', days, glacierIrBytes: 0, now: () => TODAY });
    expect(result).toMatchObject({ candidates: 6, objects: 4, problems: [], notRead: { overBudget: 0, glacierIr: 2, deadline: 0 } });
    expect(result.verified.map((k) => k.slice(0, 30))).toEqual(expect.arrayContaining(['recordings/site-a/2026/03/02/p', 'recordings/site-a/2026/03/01/p']));
    expect(result.archived).toHaveLength(2);
    expect(blobs.heads).toHaveLength(6);
    expect(blobs.gets.filter((k) => k.startsWith('recordings/'))).toHaveLength(2);
    expect(renderScrub(result)).toContain("2 picked object(s) in Glacier IR not read: over the run's Glacier IR budget (0 bytes");
  });

  it('stops when its time is up and says it was cut short: INCOMPLETE, never OK', async () => {
    const { blobs } = await history(5);
    let asked = 0;
    const result = await verifySite(blobs, { site: 'site-a', now: () => TODAY, timeUp: () => ++asked > 3 });
    expect(result).toMatchObject({ candidates: 10, objects: 3, notRead: { deadline: 7 }, cutShort: "the run's time was up after 3 of 10 picked object(s)" });
    expect(blobs.gets.filter(isManifest)).toHaveLength(3);
    expect(renderScrub(result)).toMatch(/^INCOMPLETE: site-a: read 3 of 10 object\(s\).*\n {2}cut short: the run's time was up after 3 of 10 picked object\(s\); 7 picked object\(s\) not read\n$/);
  });
});

describe('pickScrubDays', () => {
  it('picks distinct days of the window ending today, newest first, the same for the same seed', () => {
    const days = pickScrubDays('a', TODAY, 30, 5);
    expect(new Set(days).size).toBe(5);
    expect(days.every((d) => d <= '2026-03-02' && d >= '2026-02-01')).toBe(true);
    expect([...days].sort().reverse()).toEqual(days);
    expect(pickScrubDays('a', TODAY, 30, 5)).toEqual(days);
    expect(pickScrubDays('a', TODAY, 3, 10)).toEqual(['2026-03-02', '2026-03-01', '2026-02-28']);
  });
});
