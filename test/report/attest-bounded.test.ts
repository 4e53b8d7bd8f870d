// The monthly attestation against a store holding a long history, counting requests: it reads
// the month's manifests and scrub results, not every one the site ever wrote, and a manifest that
// cannot be read is a problem it states, not a reason to give no attestation.
import { describe, expect, it } from 'vitest';
import { ATTEST_CONCURRENCY, attestMonth, renderAttestationCsv, renderAttestationMarkdown } from '../../core/attest.ts';
import { recordScrub, type ScrubResult } from '../../core/verify.ts';
import { CountingBlobStore } from '../support/counting-blob-store.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack } from '../support/pack-fixture.ts';

const NOW = new Date('2026-04-01T06:30:00.000Z');

/** `months` months of history up to March 2026: three packs and a full each month, a scrub result each month that verified them. */
async function history(months: number) {
  let clock = NOW;
  const blobs = new CountingBlobStore({ clock: { now: () => clock } });
  for (let back = months - 1; back >= 0; back -= 1) {
    const month = new Date(Date.UTC(2026, 2 - back, 1)).toISOString().slice(0, 7);
    const shipped = `${month}-10T09:00:00.000Z`;
    clock = new Date(shipped);
    const verified: string[] = [];
    for (const n of [0, 1, 2]) {
      const pack = buildPack('site-a', [{ path: `${month}/call-${n}.wav`, body: audio(n, 300) }], { day: `${month}-10T00:00:00Z`, createdAt: shipped, seed: `${month}-${n}` });
      await blobs.put(pack.packKey, pack.pack);
      await blobs.put(pack.manifestKey, pack.manifestBytes);
      verified.push(pack.packKey);
    }
    await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: `full-${month}.sql`, body: Buffer.from(`-- ${month}\n`), takenAt: shipped });
    clock = new Date(`${month}-20T06:00:00.000Z`);
    const scrub: ScrubResult = { format: 'ferry.scrub/1', site: 'site-a', startedAt: clock.toISOString(), finishedAt: clock.toISOString(), sample: 1, candidates: 3, objects: 3, members: 3, bytes: 1, problems: [], verified, archived: [] };
    await recordScrub(blobs, scrub);
  }
  clock = NOW;
  blobs.reset();
  return blobs;
}

describe('the monthly attestation against a long history', () => {
  it("GETs the month's manifests and scrub results only: the same requests whether the site holds 3 months or 36", async () => {
    const requests = [];
    for (const months of [3, 36]) {
      const blobs = await history(months);
      const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now: () => NOW });
      expect(blobs.gets.filter((k) => k.startsWith('manifests/'))).toHaveLength(4);
      expect(a.summary).toMatchObject({ items: 4, packs: 3, backups: 1, missing: 0, neverVerified: 1, unreadable: 0 });
      expect(blobs.gets.filter((k) => k.startsWith('reports/site-a/scrub/')).every((k) => k.startsWith('reports/site-a/scrub/2026/03/'))).toBe(true);
      requests.push({ gets: blobs.gets.length, heads: blobs.heads.length });
    }
    expect(requests[1]).toEqual(requests[0]);
  });

  it('states a manifest of the month that cannot be read as a problem in all three forms, and attests the rest', async () => {
    const blobs = await history(2);
    const bad = 'manifests/site-a/recordings/2026/03/10/p0000000000000000000000000.json';
    await blobs.put(bad, Buffer.from('{ not json'));
    const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now: () => NOW });
    expect(a.summary).toMatchObject({ items: 4, unreadable: 1 });
    expect(a.unreadable).toEqual([{ manifestKey: bad, reason: expect.stringMatching(/^cannot be read: /) }]);
    expect(renderAttestationMarkdown(a)).toContain('- **Manifests that could not be read: 1**');
    expect(renderAttestationMarkdown(a)).toContain(`- ${bad}: cannot be read: `);
    expect(renderAttestationCsv(a).split('\r\n').filter((row) => row.includes('unreadable-manifest'))).toEqual([expect.stringMatching(new RegExp(`^site-a,2026-03,unreadable-manifest,,,"?cannot be read: .*,${bad},$`))]);
  });

  it('reads retention and legal hold of several items at once, never more than its limit', async () => {
    const blobs = await history(1);
    for (let n = 0; n < 40; n += 1) {
      const pack = buildPack('site-a', [{ path: `extra/call-${n}.wav`, body: audio(n, 100) }], { day: '2026-03-11T00:00:00Z', createdAt: '2026-03-11T09:00:00.000Z', seed: `extra-${n}` });
      await blobs.put(pack.packKey, pack.pack);
      await blobs.put(pack.manifestKey, pack.manifestBytes);
    }
    let inFlight = 0;
    let most = 0;
    const slow = async <T>(value: T): Promise<T> => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return value;
    };
    const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now: () => NOW, retention: () => slow(undefined), legalHold: () => slow(false) });
    expect(a.summary.items).toBe(44);
    expect(most).toBeGreaterThan(2);
    expect(most).toBeLessThanOrEqual(2 * ATTEST_CONCURRENCY);
  });
});
