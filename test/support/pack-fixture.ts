import { createHash } from 'node:crypto';
import { recordingId } from '../../core/ids.ts';
import { packKey as packKeyOf, packManifestKey } from '../../core/layout.ts';
import { MANIFEST_FORMAT, serializeManifest, type CallMetadata, type PackManifest } from '../../core/manifest.ts';
import type { BlobStore } from '../../core/ports.ts';
import { endOfArchive, fileHeaders, padding } from '../../core/tar.ts';

// Builds a real tar pack and its manifest, as the agent would publish them.

export interface FixtureMember {
  path: string;
  body: Buffer;
  meta?: CallMetadata;
  mtime?: string;
  contentType?: string;
  /** What the agent could not read of the member's metadata (the manifest's `issues`). */
  issues?: string[];
}

export interface PackFixture {
  manifest: PackManifest;
  manifestKey: string;
  packKey: string;
  pack: Buffer;
  manifestBytes: Buffer;
}

const hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** `createdAt`: when the agent committed the pack (the manifest's, so the pack record's; default 2026-03-01T09:00Z). */
export function buildPack(site: string, members: FixtureMember[], opts: { source?: string; day?: string; seed?: string; createdAt?: string; shippedBy?: PackManifest['shippedBy'] } = {}): PackFixture {
  const day = new Date(opts.day ?? '2026-03-01T00:00:00Z');
  const packId = `p${hex(`${site}/${opts.seed ?? members.map((m) => m.path).join('|')}`).slice(0, 23)}`;
  const packKey = packKeyOf(site, packId, day);
  const parts: Buffer[] = [];
  let offset = 0;
  const entries = members.map((m) => {
    const mtime = m.mtime ?? '2026-03-01T08:00:00.000Z';
    const headers = fileHeaders(m.path, m.body.length, new Date(mtime));
    parts.push(headers, m.body, Buffer.alloc(padding(m.body.length)));
    const dataOffset = offset + headers.length;
    offset += headers.length + m.body.length + padding(m.body.length);
    const sha256 = hex(m.body);
    return {
      name: m.path,
      offset: dataOffset,
      length: m.body.length,
      sha256,
      rid: recordingId(site, m.path, sha256),
      path: m.path,
      contentType: m.contentType ?? 'audio/wav',
      mtime,
      meta: m.meta ?? {},
      issues: m.issues ?? [],
    };
  });
  parts.push(endOfArchive());
  const pack = Buffer.concat(parts);
  const manifest: PackManifest = {
    format: MANIFEST_FORMAT,
    kind: 'recordings',
    site,
    source: opts.source ?? 'contactstore',
    packId,
    packKey,
    createdAt: opts.createdAt ?? '2026-03-01T09:00:00.000Z',
    batch: { path: 'batch-1', files: members.length },
    pack: { size: pack.length, sha256: hex(pack), parts: 1, partSize: pack.length },
    members: entries,
    ...(opts.shippedBy ? { shippedBy: opts.shippedBy } : {}),
  };
  const manifestBytes = serializeManifest(manifest);
  return { manifest, manifestKey: packManifestKey(site, packId, day), packKey, pack, manifestBytes };
}

/** Publishes pack then manifest (manifest last, as the agent does). */
export async function publish(blobs: Pick<BlobStore, 'put'>, fixture: PackFixture): Promise<void> {
  await blobs.put(fixture.packKey, fixture.pack);
  await blobs.put(fixture.manifestKey, fixture.manifestBytes, { contentType: 'application/json' });
}

/** Distinct, recognisable bytes for member i (so a read of a neighbour would show). */
export function audio(i: number, size = 3000): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, j) => (i * 31 + j) % 251));
}
