import { createHash } from 'node:crypto';
import type { Clock } from './clock.ts';
import { IntegrityError, InvalidInputError } from './errors.ts';
import type { ObjectHolder } from './holds.ts';
import { packId as packIdOf } from './ids.ts';
import { ingestManifest } from './ingest.ts';
import { packKey as packKeyOf, packManifestKey, parseKey } from './layout.ts';
import { parseManifest, serializeManifest, type ManifestMember, type PackManifest, type TarSlice } from './manifest.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { endOfArchive, fileHeaders, padding } from './tar.ts';

// Copy-out: when every call of a pack may expire except some on legal hold, the held calls
// (and their sidecars) are copied, byte for byte, into their own pack: the same POSIX tar and
// the same manifest format, written pack first and manifest last (the commit rule), both put
// under S3 Object Lock legal hold, and re-catalogued there. The purge then deletes the old
// pack. Each copied body is checked against the SHA-256 its manifest recorded before anything
// is written, and the new pack is checked by size after the write: a copy that is not exact
// is never published.
//
// The new pack's id is derived from the old pack and the calls kept, so a retried copy-out
// lands on the same keys; a copy whose manifest already exists is re-catalogued, not redone.
// Held calls of one pack are at most the pack's size (about 100 recordings): built in memory.

export interface CopyOutDeps {
  blobs: Pick<BlobStore, 'get' | 'head' | 'put'>;
  catalogue: Pick<CatalogueStore, 'putRecordings' | 'putPack' | 'packKeysOf' | 'putCopies'>;
  holder: ObjectHolder;
  clock: Clock;
}

export interface CopyOutResult {
  packKey: string;
  manifestKey: string;
  rids: string[];
}

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

async function readRange(blobs: Pick<BlobStore, 'get'>, key: string, slice: TarSlice): Promise<Buffer> {
  if (slice.length === 0) return Buffer.alloc(0);
  const { body } = await blobs.get(key, { start: slice.offset, end: slice.offset + slice.length - 1 });
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  const bytes = Buffer.concat(chunks);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== slice.length || sha !== slice.sha256) {
    throw new IntegrityError(`${key} member ${slice.name}: read ${bytes.length} bytes with SHA-256 ${sha}, the manifest says ${slice.length} bytes ${slice.sha256}: not copied out`);
  }
  return bytes;
}

/** The tar of the kept members and their new slices (offsets in the new pack). */
async function buildHeldPack(blobs: Pick<BlobStore, 'get'>, old: PackManifest, kept: ManifestMember[]): Promise<{ tar: Buffer; members: ManifestMember[] }> {
  const parts: Buffer[] = [];
  let offset = 0;
  const append = async (slice: TarSlice, mtime: string): Promise<TarSlice> => {
    const body = await readRange(blobs, old.packKey, slice);
    const headers = fileHeaders(slice.name, body.length, new Date(mtime));
    parts.push(headers, body, Buffer.alloc(padding(body.length)));
    const placed = { ...slice, offset: offset + headers.length };
    offset += headers.length + body.length + padding(body.length);
    return placed;
  };
  const members: ManifestMember[] = [];
  for (const m of kept) {
    const slice = await append(m, m.mtime);
    const sidecar = m.sidecar ? await append(m.sidecar, m.mtime) : undefined;
    members.push({ ...m, offset: slice.offset, ...(sidecar ? { sidecar } : {}) });
  }
  parts.push(endOfArchive());
  return { tar: Buffer.concat(parts), members };
}

/** The day of a pack key (`recordings/{site}/yyyy/mm/dd/…`), which the copy keeps: the purge lists by it. */
function dayOf(key: string): Date {
  const match = /^(\d{4})\/(\d{2})\/(\d{2})\//.exec(parseKey(key)?.rest ?? '');
  if (!match) throw new InvalidInputError(`pack key ${key} is not laid out as recordings/{site}/yyyy/mm/dd/…`);
  return new Date(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`);
}

/**
 * How a copy is made: for held calls (the default) the copy is put under legal hold; for an
 * erasure (core/erasure-purge.ts) the copy is every call of the pack but the erased ones, under
 * legal hold only when one of them is held. The purpose is part of the new pack's id.
 */
export interface CopyOutOptions {
  purpose: 'held' | 'erasure';
  legalHold: boolean;
}

const HELD: CopyOutOptions = { purpose: 'held', legalHold: true };

/**
 * Where a copy of the calls `rids` of pack `old` goes: its id is derived from the old pack, the
 * purpose and the calls kept, so the same copy always lands on the same keys (a retried copy-out,
 * or a purge finding the copy a stopped one began: core/erasure-purge.ts).
 */
export function copyOutKeys(site: string, old: PackManifest, rids: string[], purpose: CopyOutOptions['purpose']): CopyOutResult & { id: string; kept: ManifestMember[] } {
  const wanted = new Set(rids);
  const kept = old.members.filter((m) => wanted.has(m.rid));
  if (old.site !== site || kept.length !== wanted.size || kept.length === 0) {
    throw new InvalidInputError(`copy-out of ${old.packKey}: calls ${rids.join(', ')} are not all members of this site's pack`);
  }
  const id = packIdOf(site, old.source, `${old.batch.path}#${purpose}:${old.packId}`, kept.map((m) => ({ path: m.path, size: m.length, mtimeMs: Date.parse(m.mtime) })));
  const day = dayOf(old.packKey);
  return { id, kept, packKey: packKeyOf(site, id, day), manifestKey: packManifestKey(site, id, day), rids: kept.map((m) => m.rid) };
}

/** Copies the calls `rids` of the pack behind `manifestKey` to their own pack (held, by default); returns where they now live. */
export async function copyOutHeld(deps: CopyOutDeps, site: string, manifestKey: string, rids: string[], options: CopyOutOptions = HELD): Promise<CopyOutResult> {
  const old = parseManifest(await readSmallObject(deps.blobs, manifestKey, MAX_MANIFEST_BYTES, 'manifest'));
  const { id, kept, ...target } = copyOutKeys(site, old, rids, options.purpose);

  if (!(await deps.blobs.head(target.manifestKey))) {
    const { tar, members } = await buildHeldPack(deps.blobs, old, kept);
    const sha = createHash('sha256').update(tar);
    const hex = sha.copy().digest('hex');
    // Write-once, as every writer of the bucket (its policy refuses a PutObject without
    // If-None-Match: *). A copy a crashed purge wrote before its manifest is the same bytes
    // (the same calls, the same layout): it is checked by its size below, not written again.
    if (!(await deps.blobs.head(target.packKey))) await deps.blobs.put(target.packKey, tar, { contentType: 'application/x-tar', sha256: sha.digest('base64'), metadata: { 'copied-from': old.packKey }, ifNoneMatch: true });
    const written = await deps.blobs.head(target.packKey);
    if (written?.size !== tar.length) throw new IntegrityError(`copy-out pack ${target.packKey} reads back as ${written?.size ?? 'absent'} bytes, not ${tar.length}: no manifest written`);
    if (options.legalHold) await deps.holder.setLegalHold(target.packKey, true);
    const manifest: PackManifest = {
      format: old.format,
      kind: 'recordings',
      site,
      source: old.source,
      packId: id,
      packKey: target.packKey,
      createdAt: deps.clock.now().toISOString(),
      batch: { path: old.batch.path, files: kept.length },
      pack: { size: tar.length, sha256: hex, parts: 1, partSize: tar.length },
      members,
      // The calls' provenance: the agent that shipped them, not the purge that copied them (S3 metadata `copied-from` says that).
      ...(old.shippedBy ? { shippedBy: old.shippedBy } : {}),
    };
    // Manifest last: until it exists, the copy is not a pack for anyone.
    await deps.blobs.put(target.manifestKey, serializeManifest(manifest), { contentType: 'application/json', metadata: { 'copied-from': manifestKey }, ifNoneMatch: true });
  }
  if (options.legalHold) {
    await deps.holder.setLegalHold(target.packKey, true);
    await deps.holder.setLegalHold(target.manifestKey, true);
  }
  // The held calls' entries move from the old pack to this one (ingest never re-points one otherwise).
  await ingestManifest(deps, target.manifestKey, { takesOverFrom: old.packKey });
  return target;
}
