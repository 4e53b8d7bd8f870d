import { describe, expect, it } from 'vitest';
import { serializeArtefactManifest } from '../../core/artefact.ts';
import { ManualClock } from '../../core/clock.ts';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { ingestArtefact } from '../../core/ingest-artefact.ts';
import { artefactManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler } from '../../functions/ingest/handler.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const setup = () => ({ blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue() });
const manifestKeyOf = (m: { site: string; sourceType: 'rotated' | 'binlog' | 'archive'; source: string; artefactId: string }) => artefactManifestKey(m.site, m.sourceType, m.source, m.artefactId);

function full(body = 'CREATE TABLE t (id INT);\n') {
  return {
    source: 'db',
    sourceType: 'rotated' as const,
    role: 'full' as const,
    name: 'dumps/full.sql',
    body: Buffer.from(body),
    takenAt: '2026-03-01T09:00:00+01:00',
    extra: { position: { logFile: 'mysql-bin.000003', logPos: 1234 }, profile: 'generic' },
  };
}

describe('ingestArtefact', () => {
  it('catalogues a full backup with its position, idempotently', async () => {
    const deps = setup();
    const m = await publishArtefact(deps.blobs, full());
    const key = manifestKeyOf(m);
    expect(await ingestArtefact(deps, key)).toEqual({ manifestKey: key, site: 'site-a', artefactId: m.artefactId, source: 'db', role: 'full' });
    const size = deps.catalogue.size;
    await ingestArtefact(deps, key);
    expect(deps.catalogue.size).toBe(size);
    const { items } = await deps.catalogue.listArtefacts({ site: 'site-a', source: 'db' });
    expect(items).toEqual([
      expect.objectContaining({ artefactId: m.artefactId, key: m.key, manifestKey: key, name: 'dumps/full.sql', size: m.size, sha256: m.sha256, takenAt: '2026-03-01T08:00:00.000Z', position: { logFile: 'mysql-bin.000003', logPos: 1234 } }),
    ]);
    expect(items[0]).not.toHaveProperty('format');
  });

  it('refuses a manifest whose object is missing or of another size, and writes nothing', async () => {
    const deps = setup();
    const m = await publishArtefact(deps.blobs, full());
    await deps.blobs.delete(m.key);
    await expect(ingestArtefact(deps, manifestKeyOf(m))).rejects.toThrow(IntegrityError);
    await deps.blobs.put(m.key, Buffer.from('short'));
    await expect(ingestArtefact(deps, manifestKeyOf(m))).rejects.toThrow(/5 bytes, manifest .* says/);
    expect(deps.catalogue.size).toBe(0);
  });

  it('refuses a manifest placed under another site, source or id, or pointing outside its prefix', async () => {
    const deps = setup();
    const m = await publishArtefact(deps.blobs, full());
    const foreign = artefactManifestKey('site-b', 'rotated', 'db', m.artefactId);
    await deps.blobs.put(foreign, serializeArtefactManifest(m));
    await expect(ingestArtefact(deps, foreign)).rejects.toThrow(/describes site-a\/db/);
    const outside = { ...m, key: `backups/site-b/db/2026/03/01/${m.artefactId}-full.sql` };
    await deps.blobs.put(manifestKeyOf(m), serializeArtefactManifest(outside));
    await expect(ingestArtefact(deps, manifestKeyOf(m))).rejects.toThrow(/outside backups\/site-a\/db\//);
    await expect(ingestArtefact(deps, 'manifests/site-a/recordings/2026/03/01/p00000000000000000000000.json')).rejects.toThrow(InvalidInputError);
    await deps.blobs.put(manifestKeyOf(m), Buffer.from('{"format":"ferry.artefact/2"}'));
    await expect(ingestArtefact(deps, manifestKeyOf(m))).rejects.toThrow(/artefact manifest is invalid/);
    expect(deps.catalogue.size).toBe(0);
  });
});

describe('ingestArtefact of a manifest dated in the future', () => {
  const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));

  it('catalogues a full dated after ingest time plus a day, and says so; one within the day is said nothing of', async () => {
    const deps = { ...setup(), clock };
    const forged = await publishArtefact(deps.blobs, { ...full('junk'), name: 'full-20990101.sql', takenAt: '2099-01-01T02:00:00.000Z' });
    const result = await ingestArtefact(deps, manifestKeyOf(forged));
    expect(result.futureDated).toBe(`manifest ${manifestKeyOf(forged)} says it was taken at 2099-01-01T02:00:00.000Z, after now (2026-03-01T10:00:00.000Z) plus 24 h: catalogued, but the purge neither counts it toward the newest it keeps nor deletes it; the site's clock is ahead, or someone holding the site's agent key wrote it`);
    expect((await deps.catalogue.listArtefacts({ site: 'site-a', source: 'db' })).items.map((a) => a.artefactId)).toEqual([forged.artefactId]);
    const soon = await publishArtefact(deps.blobs, { ...full('soon'), name: 'soon.sql', takenAt: '2026-03-02T09:00:00Z' });
    expect(await ingestArtefact(deps, manifestKeyOf(soon))).not.toHaveProperty('futureDated');
  });

  it('the ingest function ingests it (no retry, no dead letter), logs it at warn and counts it in ManifestsFutureDated', async () => {
    const deps = setup();
    const forged = await publishArtefact(deps.blobs, { ...full('junk'), name: 'full-20990101.sql', takenAt: '2099-01-01T02:00:00.000Z' });
    const logged: [string, string, Record<string, unknown>][] = [];
    const counted: unknown[][] = [];
    const handler = createHandler({ ...deps, clock, log: (level, message, detail = {}) => void logged.push([level, message, detail]), count: (...a) => void counted.push(a) });
    const { ingested } = await handler({ Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: manifestKeyOf(forged) } } }] });
    expect(ingested).toEqual([expect.objectContaining({ artefactId: forged.artefactId, futureDated: expect.stringMatching(/taken at 2099-01-01/) })]);
    expect(logged).toEqual([['warn', 'manifest ingested, dated in the future', expect.objectContaining({ manifestKey: manifestKeyOf(forged), futureDated: expect.any(String) })]]);
    expect(counted).toEqual([
      ['ManifestsIngested', 'site-a'],
      ['ManifestsFutureDated', 'site-a'],
    ]);
  });
});

describe('ingest handler and rebuild with artefacts', () => {
  it('dispatches pack and artefact manifests from one S3 event', async () => {
    const deps = setup();
    const pack = buildPack('site-a', [{ path: 'x/1.wav', body: audio(1) }], { seed: 'a' });
    await publish(deps.blobs, pack);
    const m = await publishArtefact(deps.blobs, { source: 'binlog', sourceType: 'binlog', role: 'segment', name: 'mysql-bin.000007', body: Buffer.from('\xfebin'), takenAt: '2026-03-01T08:10:00Z', extra: { sequence: 7, series: 'mysql-bin' } });
    const handler = createHandler({ ...deps, log: () => undefined });
    const records = [pack.manifestKey, m.key, manifestKeyOf(m)].map((key) => ({ eventName: 'ObjectCreated:Put', s3: { object: { key } } }));
    const { ingested } = await handler({ Records: records });
    expect(ingested).toEqual([expect.objectContaining({ packId: pack.manifest.packId, recordings: 1 }), expect.objectContaining({ artefactId: m.artefactId, role: 'segment' })]);
    expect((await deps.catalogue.listArtefacts({ site: 'site-a', source: 'binlog', role: 'segment', fromSequence: 7 })).items.map((a) => a.sequence)).toEqual([7]);
  });

  it('rebuilds artefacts and packs from the manifests alone; a bad one is reported, not fatal', async () => {
    const deps = setup();
    const pack = buildPack('site-a', [{ path: 'x/1.wav', body: audio(1) }], { seed: 'b' });
    await publish(deps.blobs, pack);
    const kept = await publishArtefact(deps.blobs, full());
    const lost = await publishArtefact(deps.blobs, { ...full('other'), name: 'other.sql' });
    await deps.blobs.delete(lost.key);
    await publishArtefact(deps.blobs, { ...full(), site: 'site-b' });
    const fresh = new MemoryCatalogue();
    const report = await rebuildCatalogue({ blobs: deps.blobs, catalogue: fresh }, { site: 'site-a' });
    expect(report).toMatchObject({ ok: 2, recordings: 1, artefacts: 1, failed: [{ key: manifestKeyOf(lost), reason: expect.stringMatching(/IntegrityError: .*missing/) }] });
    expect((await fresh.listArtefacts({ site: 'site-a' })).items.map((a) => a.artefactId)).toEqual([kept.artefactId]);
    expect((await fresh.listArtefacts({ site: 'site-b' })).items).toEqual([]);
  });
});
