import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { ingestChecked } from '../../core/ingest-checked.ts';
import { artefactManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobInfo, BlobBody, ByteRange } from '../../core/ports.ts';
import { reconcileSite } from '../../core/reconcile.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// The reconciler catalogues again, without a person, the manifests of a site's last days that
// the catalogue lacks (an S3 event lost, an ingest failed past the dead-letter queue), through the
// same checked ingest as `catalogue rebuild`; what it costs grows with the days, not the history.

const NOW = new Date('2026-03-20T12:00:00.000Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A memory store that counts the requests it answers (LIST pages counted once per listing). */
class CountingStore extends MemoryBlobStore {
  requests = 0;
  override async head(key: string): Promise<BlobInfo | undefined> {
    this.requests++;
    return super.head(key);
  }
  override async get(key: string, range?: ByteRange): Promise<BlobBody> {
    this.requests++;
    return super.get(key, range);
  }
  override list(prefix: string): AsyncIterable<BlobInfo> {
    this.requests++;
    return super.list(prefix);
  }
}

/** A site with `historyDays` of packs, daily backups and snapshots, all catalogued, written on their day. */
async function siteWithHistory(historyDays: number) {
  const clock = new ManualClock(new Date(NOW.getTime() - historyDays * DAY));
  const blobs = new CountingStore({ clock });
  const catalogue = new MemoryCatalogue();
  const latest: { pack?: string; artefact?: string; snapshot?: string } = {};
  for (let d = historyDays; d >= 0; d--) {
    const at = NOW.getTime() - d * DAY - 6 * 3_600_000;
    clock.set(new Date(at));
    const f = buildPack('site-a', [{ path: `b${d}/a.wav`, body: audio(d + 1, 400) }], { day: iso(at), seed: `d${d}`, createdAt: iso(at) });
    await publish(blobs, f);
    const m = await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: `db-${d}.bak`, body: Buffer.from(`backup ${d}`), takenAt: iso(at) });
    const pack = await publishTreePack(blobs, 'site-a', 'share', new Date(at), [`file ${d}`]);
    const snap = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: iso(at), packs: [pack] });
    const artefactKey = artefactManifestKey('site-a', 'rotated', 'db', m.artefactId);
    for (const key of [f.manifestKey, artefactKey, snap.manifestKey]) await ingestChecked({ blobs, catalogue }, key);
    Object.assign(latest, { pack: f.manifestKey, artefact: artefactKey, snapshot: snap.manifestKey, packFixture: f, artefactManifest: m, snap });
  }
  clock.set(NOW);
  // The agent's heartbeat names every source it ships: a tree source is found by it (the catalogue cannot list a site's tree sources without reading their history).
  const at = iso(NOW.getTime() - 3_600_000);
  const sources = [{ name: 'contactstore', type: 'recordings' }, { name: 'db', type: 'rotated' }, { name: 'share', type: 'tree' }];
  const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at, agentVersion: '0.1.0', sources, losses: 0, lastPass: { at, failed: 0, lost: 0 } };
  await blobs.put(heartbeatKey('site-a', new Date(at)), Buffer.from(JSON.stringify(hb)));
  return { blobs, catalogue, clock, latest: latest as typeof latest & { packFixture: ReturnType<typeof buildPack>; artefactManifest: Awaited<ReturnType<typeof publishArtefact>>; snap: Awaited<ReturnType<typeof publishSnapshot>> } };
}

describe('reconcileSite', () => {
  it("catalogues again the last days' pack, backup and snapshot whose catalogue items are gone, and counts them", async () => {
    const { blobs, catalogue, latest } = await siteWithHistory(5);
    const f = latest.packFixture;
    await catalogue.forgetPack('site-a', f.manifest.packId, f.manifest.members.map((m) => m.rid));
    const entry = (await catalogue.listArtefacts({ site: 'site-a', source: 'db' })).items.find((a) => a.artefactId === latest.artefactManifest.artefactId)!;
    await catalogue.forgetArtefact(entry);
    await catalogue.forgetSnapshot(latest.snap.manifest);

    const r = await reconcileSite({ blobs, catalogue }, 'site-a', { now: NOW });

    expect(r).toMatchObject({ site: 'site-a', days: ['2026-03-18', '2026-03-19', '2026-03-20'], repaired: { packs: 1, artefacts: 1, snapshots: 1 }, failed: [] });
    expect(await catalogue.getPack('site-a', f.manifest.packId)).toBeDefined();
    expect(await catalogue.getRecording('site-a', f.manifest.members[0]!.rid)).toBeDefined();
    expect((await catalogue.listArtefacts({ site: 'site-a', source: 'db' })).items.map((a) => a.artefactId)).toContain(latest.artefactManifest.artefactId);
    expect((await catalogue.listSnapshots({ site: 'site-a', source: 'share' })).items.map((s) => s.snapshotId)).toContain(latest.snap.manifest.snapshotId);
    // Nothing left to repair the next time.
    expect((await reconcileSite({ blobs, catalogue }, 'site-a', { now: NOW })).repaired).toEqual({ packs: 0, artefacts: 0, snapshots: 0 });
  });

  it('writes no catalogue entry for a manifest whose pack is gone, and names it as failed', async () => {
    const { blobs, catalogue, latest } = await siteWithHistory(1);
    const f = latest.packFixture;
    await catalogue.forgetPack('site-a', f.manifest.packId, f.manifest.members.map((m) => m.rid));
    await blobs.delete(f.packKey);

    const r = await reconcileSite({ blobs, catalogue }, 'site-a', { now: NOW });

    expect(r.repaired.packs).toBe(0);
    expect(r.failed).toEqual([{ key: f.manifestKey, reason: expect.stringMatching(/^IntegrityError: pack .* is missing: nothing catalogued/) }]);
    expect(await catalogue.getRecording('site-a', f.manifest.members[0]!.rid)).toBeUndefined();
  });

  it('leaves a manifest written within the last hour to the ingest its S3 event runs', async () => {
    const { blobs, catalogue, latest } = await siteWithHistory(1);
    const f = latest.packFixture;
    await catalogue.forgetPack('site-a', f.manifest.packId, f.manifest.members.map((m) => m.rid));
    // The last day's objects were written at 06:00; at 06:30 the manifest is still within its grace.
    const r = await reconcileSite({ blobs, catalogue }, 'site-a', { now: new Date('2026-03-20T06:30:00.000Z') });
    expect(r.repaired.packs).toBe(0);
  });

  it('makes as many requests for a site with 60 days of history as for one with 10: they grow with the days read', async () => {
    const requests = async (history: number, days: number) => {
      const { blobs, catalogue } = await siteWithHistory(history);
      blobs.requests = 0;
      // Catalogue calls count too (each a Query or GetItem; a page of 1,000 would take a history of years).
      let queries = 0;
      const counted = new Proxy(catalogue, { get: (target, name, receiver) => (typeof Reflect.get(target, name, receiver) === 'function' ? (...args: unknown[]) => (queries++, Reflect.get(target, name, receiver).apply(target, args)) : Reflect.get(target, name, receiver)) });
      await reconcileSite({ blobs, catalogue: counted }, 'site-a', { now: NOW, days });
      return blobs.requests + queries;
    };
    const short = await requests(10, 3);
    expect(await requests(60, 3)).toBe(short);
    expect(await requests(60, 6)).toBeGreaterThan(short);
  });
});
