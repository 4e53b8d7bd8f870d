import { describe, it, expect } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { S3_MAX_OBJECT_BYTES, S3_MAX_PARTS, partsWithin, type PartSettings } from '../../agent/part-size.ts';
import { ContentIndex } from '../../agent/tree/content-index.ts';
import { TreePacker } from '../../agent/tree/packer.ts';
import { readAll } from '../../agent/recover.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { artefactAgent, artefactManifests, artefactSite, bytesOf, openUploads, writeAt } from '../support/artefact-agent.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { TransientError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readUploadProgress, recordedUploads } from '../../agent/upload-progress.ts';

// S3 takes at most 10,000 parts in one upload: with 8 MiB parts an upload ends at 78 GiB. An
// upload whose size is known first (a backup, a large file's own tree pack) takes larger parts
// then, instead of being refused at part 10,001 after 78 GiB sent, every pass. The store's
// limit is S3's here; the memory store is told a small one, so a few MiB reach it.

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('part size within S3 10,000 parts', () => {
  const settings: PartSettings = { partSize: 8 * MiB, partConcurrency: 2 };

  it('keeps the configured part size up to 10,000 parts of it, and takes 9 MiB parts one byte past (78.125 GiB)', () => {
    expect(partsWithin(settings, S3_MAX_PARTS * 8 * MiB, S3_MAX_PARTS, 'x')).toBe(settings);
    const grown = partsWithin(settings, S3_MAX_PARTS * 8 * MiB + 1, S3_MAX_PARTS, 'x');
    expect(grown.partSize).toBe(9 * MiB);
    expect(Math.ceil((S3_MAX_PARTS * 8 * MiB + 1) / grown.partSize)).toBeLessThanOrEqual(S3_MAX_PARTS);
    // The memory of the share the upload would have had (3 × 8 MiB) holds two 9 MiB parts.
    expect(grown.pool).toBeInstanceOf(PartPool);
    expect(grown.pool).toMatchObject({ partSize: 9 * MiB, capacity: 2 });
  });

  it('sends a 1 TiB backup in 105 MiB parts, one at a time (one part is more than the share of 24 MiB)', () => {
    const grown = partsWithin(settings, 1024 ** 4, S3_MAX_PARTS, 'x');
    expect(grown.partSize).toBe(105 * MiB);
    expect(grown.pool).toMatchObject({ capacity: 1 });
  });

  it('refuses a file over 5 TiB before a byte is sent, naming the limit', () => {
    expect(() => partsWithin(settings, S3_MAX_OBJECT_BYTES + 1, S3_MAX_PARTS, '/srv/db/huge.bak')).toThrow(/huge\.bak is 5497558138881 bytes: an S3 object is at most 5 TiB/);
  });

  it('ships a backup that 5 MiB parts would take past the store part limit in fewer, larger parts: whole, with its manifest', async () => {
    const size = 26 * MiB;
    const s = artefactSite(`  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 0 }`);
    const bytes = bytesOf(size, 7);
    writeAt(join(s.root, 'nightly.bak'), bytes, new Date(Date.now() - 3600_000));
    // A store that takes 4 parts an upload stands for S3's 10,000: 6 parts of 5 MiB would be refused at the fifth.
    const store = new MemoryBlobStore({ features: { maxParts: 4 } });
    const h = artefactAgent(s.config, store);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ size, sha256: sha(bytes), parts: 4 });
    expect((await store.head(m!.key))?.etag).toMatch(/-4"$/);
    expect((await readAll(store, m!.key)).equals(bytes)).toBe(true);
    expect(await openUploads(store)).toEqual([]);
    h.agent.close();
  });

  it.each([
    ['goes on with it, sending only the parts it does not hold', 5, 2],
    // 6 MiB parts make five parts of 26 MiB, over the store's four: 7 MiB again, the same parts.
    ['goes on with it after partSizeMiB changed to one that needs larger parts as well', 6, 2],
    // 9 MiB parts make three: another part size than the upload's, which is aborted and the backup sent afresh.
    ['sends the backup afresh in the new parts after partSizeMiB changed to one the store takes', 9, 3],
  ])('a backup in larger parts whose upload a failed line left open: the next pass %s, and the object is whole', async (_what, partSizeMiB, sentNext) => {
    const size = 26 * MiB;
    const s = artefactSite(`  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 0 }`);
    const bytes = bytesOf(size, 9);
    writeAt(join(s.root, 'nightly.bak'), bytes, new Date(Date.now() - 3600_000));
    const store = new MemoryBlobStore({ features: { maxParts: 4 } });
    let parts = 0;
    const down = () => Promise.reject(new TransientError('S3 uploadPart: SlowDown', { cause: { name: 'SlowDown', $metadata: { httpStatusCode: 503 } } }));
    // The store takes two 7 MiB parts, then answers nothing (the later attempts fail at their first look).
    const failing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) => (++parts > 2 ? down() : store.uploadPart(a[0], a[1], a[2], a[3], a[4])),
      head: (key: string) => (parts > 2 ? down() : store.head(key)),
    });
    const first = artefactAgent(s.config, failing);
    await first.agent.cycle();
    first.agent.close();
    const [id] = recordedUploads(s.config.state);
    expect(readUploadProgress(s.config.state, id!)?.resume).toMatchObject({ partSize: 7 * MiB, parts: [expect.anything(), expect.anything()] });

    const sent: number[] = [];
    const counting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (...a: Parameters<BlobStore['uploadPart']>) => (sent.push(a[2]), store.uploadPart(a[0], a[1], a[2], a[3], a[4])),
    });
    const next = artefactAgent({ ...s.config, shipping: { ...s.config.shipping, partSizeMiB } }, counting);
    expect(await next.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    next.agent.close();
    expect(sent).toHaveLength(sentNext);
    const [m] = await artefactManifests(store);
    expect((await readAll(store, m!.key)).equals(bytes)).toBe(true);
    expect(await openUploads(store)).toEqual([]);
  });

  it("ships a batch of recordings that 5 MiB parts would take past the store part limit as one pack in fewer, larger parts, its manifest naming their size", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-part-size-'));
    const rec = join(dir, 'rec');
    const calls = writeTree(rec, 1, 6, { size: 2 * MiB });
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nshipping: { partSizeMiB: 5 }\nsources:\n  - { name: cs, type: recordings, path: ${rec}, quietSeconds: 60, settleSeconds: 1 }\n`);
    // 12 MiB of recordings and their sidecars: three 5 MiB parts, where the store takes two.
    const store = new MemoryBlobStore({ features: { maxParts: 2 } });
    const agent = new Agent({ config, store, clock: { now: () => new Date() }, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1 });
    try {
      expect(await agent.cycle()).toMatchObject({ packs: 1, recordings: 6, failed: 0 });
    } finally {
      agent.close();
    }
    const keys = [];
    for await (const info of store.list('manifests/site-a/recordings/')) keys.push(info.key);
    const manifest = parseManifest(await readAll(store, keys[0]!));
    expect(manifest.pack).toMatchObject({ parts: 2, partSize: 7 * MiB });
    expect((await store.head(manifest.packKey))?.etag).toMatch(/-2"$/);
    const pack = await readAll(store, manifest.packKey);
    for (const call of calls) {
      const member = manifest.members.find((m) => m.path === call.path)!;
      expect(pack.subarray(member.offset, member.offset + member.length).equals(call.bytes)).toBe(true);
    }
  });

  it("streams a large file of a share into a pack of its own in larger parts when the configured ones would pass the store's part limit", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-part-size-'));
    const body = randomBytes(21 * MiB);
    const path = join(dir, 'image.vhdx');
    writeFileSync(path, body);
    const store = new MemoryBlobStore({ features: { maxParts: 3 } });
    const packer = new TreePacker({ store, site: 's', source: 'share', snapshotId: 'snap', at: new Date('2026-03-01T10:00:00Z'), dir, content: new ContentIndex(dir), verify: 'checksum', partSize: 5 * MiB, partConcurrency: 2, packTargetBytes: 64 * MiB });
    const file = await open(path, 'r');
    try {
      const hash = createHash('sha256').update(body).digest();
      const at = await packer.addLarge(hash, file, body.length, new Date(), path, async () => undefined);
      await packer.finish();
      const packs = [];
      for await (const info of store.list('trees/s/share/packs/')) packs.push(info);
      const [pack] = packs;
      expect(pack?.etag).toMatch(/-3"$/);
      const stored = await readAll(store, pack!.key);
      expect(stored.subarray(at.offset, at.offset + body.length).equals(body)).toBe(true);
    } finally {
      await file.close();
    }
  });
});
