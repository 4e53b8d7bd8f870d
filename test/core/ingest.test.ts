import { describe, expect, it } from 'vitest';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import { rewrittenCallId } from '../../core/ids.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { packManifestKey } from '../../core/layout.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

function fixture(site = 'site-a', seed = 'one'): PackFixture {
  return buildPack(
    site,
    [
      { path: 'batch-1/a.wav', body: audio(1), meta: { start: '2026-03-01T09:30:00+01:00', agent: 'ann', caller: '+44 1', called: '200' } },
      { path: 'batch-1/b.wav', body: audio(2, 700), mtime: '2026-03-01T08:45:00.000Z', meta: {} },
    ],
    { seed },
  );
}

function setup() {
  return { blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue() };
}

describe('ingestManifest', () => {
  it('writes one entry per member (start from metadata, else mtime, as UTC) and the pack record', async () => {
    const deps = setup();
    const f = fixture();
    await publish(deps.blobs, f);
    const result = await ingestManifest(deps, f.manifestKey);
    expect(result).toEqual({ manifestKey: f.manifestKey, site: 'site-a', packId: f.manifest.packId, recordings: 2 });
    const [a, b] = f.manifest.members;
    const entryA = await deps.catalogue.getRecording('site-a', a!.rid);
    expect(entryA).toMatchObject({ packKey: f.packKey, manifestKey: f.manifestKey, offset: a!.offset, length: 3000, sha256: a!.sha256, start: '2026-03-01T08:30:00.000Z', source: 'contactstore' });
    expect((await deps.catalogue.getRecording('site-a', b!.rid))?.start).toBe('2026-03-01T08:45:00.000Z');
    expect(await deps.catalogue.getPack('site-a', f.manifest.packId)).toMatchObject({ members: 2, size: f.pack.length, packKey: f.packKey });
    expect((await deps.catalogue.searchRecordings({ site: 'site-a', agent: 'ann' })).items.map((e) => e.rid)).toEqual([a!.rid]);
  });

  it("carries what the agent could not read of a member's metadata into its entry (a start taken from the file's time), found by get and search; a member without issues has none", async () => {
    const deps = setup();
    const unread = ['c.xml: start "09/08/2027 10:15:00" is not a time', "c.wav: no start or end time; end taken from the file's mtime"];
    const f = buildPack('site-a', [{ path: 'b/c.wav', body: audio(3), meta: { agent: 'uk' }, issues: unread }, { path: 'b/d.wav', body: audio(4), meta: { agent: 'uk' } }], { seed: 'issues' });
    await publish(deps.blobs, f);
    await ingestManifest(deps, f.manifestKey);
    const [c, d] = f.manifest.members;
    expect((await deps.catalogue.getRecording('site-a', c!.rid))?.issues).toEqual(unread);
    expect((await deps.catalogue.getRecording('site-a', d!.rid))?.issues).toBeUndefined();
    const found = (await deps.catalogue.searchRecordings({ site: 'site-a', agent: 'uk' })).items;
    expect(found.find((e) => e.rid === c!.rid)?.issues).toEqual(unread);
  });

  it('is idempotent: ingesting the same manifest again changes nothing', async () => {
    const deps = setup();
    const f = fixture();
    await publish(deps.blobs, f);
    await ingestManifest(deps, f.manifestKey);
    const before = await deps.catalogue.searchRecordings({ site: 'site-a' });
    const size = deps.catalogue.size;
    await ingestManifest(deps, f.manifestKey);
    expect(deps.catalogue.size).toBe(size);
    expect(await deps.catalogue.searchRecordings({ site: 'site-a' })).toEqual(before);
  });

  it("accepts a member under its sidecar's rewritten-call id, and refuses one under the id of another sidecar", async () => {
    const deps = setup();
    const call = buildPack('site-a', [{ path: 'batch-1/c.wav', body: audio(9, 44) }], { seed: 'rewritten' });
    const m = call.manifest.members[0]!;
    // The sidecar slice: the member's own bytes will do (its SHA-256 is what the id is made of).
    m.sidecar = { name: 'batch-1/c.json', offset: m.offset, length: m.length, sha256: m.sha256 };
    m.rid = rewrittenCallId('site-a', m.path, m.sha256, 'f'.repeat(64));
    call.manifestBytes = serializeManifest(call.manifest);
    await publish(deps.blobs, call);
    await expect(ingestManifest(deps, call.manifestKey)).rejects.toThrow(`member batch-1/c.wav is listed as recording ${m.rid}, but its site, path and SHA-256 (and its sidecar's) make it`);
    m.rid = rewrittenCallId('site-a', m.path, m.sha256, m.sha256);
    call.manifestBytes = serializeManifest(call.manifest);
    await publish(deps.blobs, call);
    expect(await ingestManifest(deps, call.manifestKey)).toMatchObject({ recordings: 1 });
    expect(await deps.catalogue.getRecording('site-a', m.rid)).toMatchObject({ path: 'batch-1/c.wav', packKey: call.packKey });
  });

  it('names a call catalogued twice: sent again under its rewritten-call id with the sidecar of the call its plain id holds', async () => {
    const deps = setup();
    const withSidecar = (seed: string, rewritten: boolean) => {
      const f = buildPack('site-a', [{ path: 'batch-1/c.wav', body: audio(9, 44), meta: { callId: 'c-1' } }], { seed });
      const m = f.manifest.members[0]!;
      m.sidecar = { name: 'batch-1/c.json', offset: m.offset, length: m.length, sha256: m.sha256 };
      if (rewritten) m.rid = rewrittenCallId('site-a', m.path, m.sha256, m.sha256);
      f.manifestBytes = serializeManifest(f.manifest);
      return f;
    };
    const first = withSidecar('first', false);
    const again = withSidecar('again', true);
    await publish(deps.blobs, first);
    await publish(deps.blobs, again);
    expect((await ingestManifest(deps, first.manifestKey)).collisions).toBeUndefined();
    const result = await ingestManifest(deps, again.manifestKey);
    expect(result).toMatchObject({ recordings: 1, collisions: [{ kind: 'twice', path: 'batch-1/c.wav', catalogued: { rid: first.manifest.members[0]!.rid, callId: 'c-1' }, shipped: { rid: again.manifest.members[0]!.rid, callId: 'c-1' } }] });
    expect((await deps.catalogue.getRecording('site-a', first.manifest.members[0]!.rid))?.issues).toEqual([`batch-1/c.wav: catalogued twice: the same call (the same audio and sidecar) was sent again under new file times and is catalogued as ${again.manifest.members[0]!.rid} too`]);
  });

  it("refuses a manifest with a member under another recording's id (its site, path and SHA-256 make another), and catalogues nothing of it", async () => {
    const deps = setup();
    const original = fixture('site-a', 'original');
    await publish(deps.blobs, original);
    await ingestManifest(deps, original.manifestKey);
    const victim = original.manifest.members[0]!;
    // A forged pack (an agent key of the same site) whose one member claims the victim's id.
    const forged = buildPack('site-a', [{ path: victim.path, body: Buffer.from('RIFFFORGED-AUDIO'), meta: {} }], { seed: 'forged' });
    forged.manifest.members[0]!.rid = victim.rid;
    forged.manifestBytes = serializeManifest(forged.manifest);
    await publish(deps.blobs, forged);
    await expect(ingestManifest(deps, forged.manifestKey)).rejects.toThrow(IntegrityError);
    await expect(ingestManifest(deps, forged.manifestKey)).rejects.toThrow(`member ${victim.path} is listed as recording ${victim.rid}, but its site, path and SHA-256 make it`);
    expect(await deps.catalogue.getRecording('site-a', victim.rid)).toMatchObject({ packKey: original.packKey, sha256: victim.sha256 });
    expect(await deps.catalogue.getPack('site-a', forged.manifest.packId)).toBeUndefined();
  });

  it('never re-points a call catalogued in another pack: the same recording shipped again in another pack is recorded as a copy, the first copy stays the entry, unless the manifest takes the calls over from that pack (copy-out)', async () => {
    const deps = setup();
    const first = fixture('site-a', 'first');
    await publish(deps.blobs, first);
    await ingestManifest(deps, first.manifestKey);
    // The same batch shipped again into a pack of another id (the agent lost its state), plus one new call.
    const again = buildPack('site-a', [
      { path: 'batch-1/a.wav', body: audio(1), meta: { start: '2026-03-01T09:30:00+01:00', agent: 'ann', caller: '+44 1', called: '200' } },
      { path: 'batch-1/c.wav', body: audio(3), meta: {} },
    ], { seed: 'again' });
    await publish(deps.blobs, again);
    const result = await ingestManifest(deps, again.manifestKey);
    expect(result).toMatchObject({ recordings: 1, alreadyCatalogued: 1 });
    const [a] = first.manifest.members;
    expect(await deps.catalogue.getRecording('site-a', a!.rid)).toMatchObject({ packKey: first.packKey, offset: a!.offset });
    expect(await deps.catalogue.getRecording('site-a', again.manifest.members[1]!.rid)).toMatchObject({ packKey: again.packKey });
    // The second copy is recorded under the call, so that its erasure finds this pack too.
    expect((await deps.catalogue.copiesOf('site-a', [a!.rid])).get(`site-a/${a!.rid}`)).toEqual([{ site: 'site-a', rid: a!.rid, packId: again.manifest.packId, packKey: again.packKey, manifestKey: again.manifestKey }]);
    expect((await deps.catalogue.copiesOf('site-a', [again.manifest.members[1]!.rid])).size).toBe(0);
    // Ingesting the first manifest again still writes its own entries (idempotent).
    expect(await ingestManifest(deps, first.manifestKey)).toMatchObject({ recordings: 2 });
    // A purge's copy-out names the pack it takes the calls over from.
    expect(await ingestManifest(deps, again.manifestKey, { takesOverFrom: first.packKey })).toMatchObject({ recordings: 2 });
    expect(await deps.catalogue.getRecording('site-a', a!.rid)).toMatchObject({ packKey: again.packKey });
  });

  it('refuses a manifest whose pack is missing, and writes nothing', async () => {
    const deps = setup();
    const f = fixture();
    await deps.blobs.put(f.manifestKey, f.manifestBytes);
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(IntegrityError);
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(/missing/);
    expect(deps.catalogue.size).toBe(0);
  });

  it('refuses a pack whose size differs from the manifest, and writes nothing', async () => {
    const deps = setup();
    const f = fixture();
    await deps.blobs.put(f.packKey, f.pack.subarray(0, f.pack.length - 512));
    await deps.blobs.put(f.manifestKey, f.manifestBytes);
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(/bytes, manifest .* says/);
    expect(deps.catalogue.size).toBe(0);
  });

  it('refuses bad JSON and invalid manifests with InvalidInputError', async () => {
    const deps = setup();
    const f = fixture();
    await deps.blobs.put(f.packKey, f.pack);
    await deps.blobs.put(f.manifestKey, Buffer.from('{"format": "ferry.manifest/1", '));
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(/not valid JSON/);
    await deps.blobs.put(f.manifestKey, serializeManifest({ ...f.manifest, members: [] }));
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(InvalidInputError);
    expect(deps.catalogue.size).toBe(0);
  });

  it('refuses a manifest filed under another site, another pack id, or pointing at another site\'s pack', async () => {
    const deps = setup();
    const f = fixture('site-a');
    await publish(deps.blobs, f);
    const underB = packManifestKey('site-b', f.manifest.packId, new Date('2026-03-01T00:00:00Z'));
    await deps.blobs.put(underB, f.manifestBytes);
    await expect(ingestManifest(deps, underB)).rejects.toThrow(/names site "site-a" but lies under site "site-b"/);
    const renamed = f.manifestKey.replace(f.manifest.packId, `p${'0'.repeat(23)}`);
    await deps.blobs.put(renamed, f.manifestBytes);
    await expect(ingestManifest(deps, renamed)).rejects.toThrow(/does not match its key/);
    const foreign = { ...f.manifest, packKey: f.packKey.replace('recordings/site-a/', 'recordings/site-b/') };
    await deps.blobs.put(f.packKey.replace('recordings/site-a/', 'recordings/site-b/'), f.pack);
    await deps.blobs.put(f.manifestKey, serializeManifest(foreign));
    await expect(ingestManifest(deps, f.manifestKey)).rejects.toThrow(/outside recordings\/site-a\//);
    await expect(ingestManifest(deps, 'backups/site-a/x.json')).rejects.toThrow(/not a recordings manifest key/);
    expect(deps.catalogue.size).toBe(0);
  });

  it('catalogues a pack published under a later attempt\'s key, and refuses another pack\'s attempt', async () => {
    const deps = setup();
    const f = fixture('site-a');
    const attempt = f.packKey.replace(/\.tar$/, '-2.tar');
    await deps.blobs.put(attempt, f.pack);
    await deps.blobs.put(f.manifestKey, serializeManifest({ ...f.manifest, packKey: attempt, superseded: [f.packKey] }));
    await ingestManifest(deps, f.manifestKey);
    expect(await deps.catalogue.getRecording('site-a', f.manifest.members[0]!.rid)).toMatchObject({ packKey: attempt });

    const other = setup();
    const g = fixture('site-a');
    const elsewhere = g.packKey.replace(g.manifest.packId, `p${'1'.repeat(23)}`).replace(/\.tar$/, '-1.tar');
    await other.blobs.put(elsewhere, g.pack);
    await other.blobs.put(g.manifestKey, serializeManifest({ ...g.manifest, packKey: elsewhere }));
    await expect(ingestManifest(other, g.manifestKey)).rejects.toThrow(/not named/);
    expect(other.catalogue.size).toBe(0);
  });
});

describe('rebuildCatalogue', () => {
  it('ingests every manifest, counts failures with reasons and never stops on a bad one', async () => {
    const deps = setup();
    const good = [fixture('site-a', 'g1'), fixture('site-a', 'g2'), fixture('site-b', 'g3')];
    for (const f of good) await publish(deps.blobs, f);
    const broken = fixture('site-a', 'broken');
    await deps.blobs.put(broken.manifestKey, broken.manifestBytes); // pack never arrived
    await deps.blobs.put('manifests/site-a/recordings/2026/03/01/notes.txt', Buffer.from('ignored'));
    const progress: boolean[] = [];
    const report = await rebuildCatalogue(deps, { onProgress: (p) => progress.push(p.ok), concurrency: 2 });
    expect(report.ok).toBe(3);
    expect(report.recordings).toBe(6);
    expect(report.failed).toEqual([{ key: broken.manifestKey, reason: expect.stringMatching(/^IntegrityError: pack .* is missing/) }]);
    expect(progress.sort()).toEqual([false, true, true, true]);
    expect((await deps.catalogue.searchRecordings({ site: 'site-b' })).items).toHaveLength(2);
  });

  it('rebuilds one site only when asked', async () => {
    const deps = setup();
    await publish(deps.blobs, fixture('site-a', 'a'));
    await publish(deps.blobs, fixture('site-ab', 'b'));
    const report = await rebuildCatalogue(deps, { site: 'site-a' });
    expect(report).toEqual({ ok: 1, recordings: 2, artefacts: 0, snapshots: 0, failed: [], forgotten: 0, sites: ['site-a'] });
    expect((await deps.catalogue.searchRecordings({ site: 'site-ab' })).items).toEqual([]);
  });
});
