import { z } from 'zod';
import { createHash } from 'node:crypto';
import { InvalidInputError } from './errors.ts';
import { parseRecord, shippedBySchema } from './manifest.ts';

// Artefacts: database backups (rotated full dumps), log segments (binlogs) and closed archive
// files. Each is shipped as one object, byte for byte, then committed by its own manifest,
// written last (the same commit rule as recording packs). Versioned; readers reject what they
// do not know.

export const ARTEFACT_FORMAT = 'ferry.artefact/1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoTime = z.string().datetime({ offset: true });

export const artefactManifestSchema = z.object({
  format: z.literal(ARTEFACT_FORMAT),
  kind: z.literal('artefact'),
  site: z.string().min(1),
  source: z.string().min(1),
  sourceType: z.enum(['rotated', 'binlog', 'archive']),
  /** rotated: a full backup; binlog: a log segment; archive: a closed archive file. */
  role: z.enum(['full', 'segment', 'archive']),
  artefactId: z.string().regex(/^a[0-9a-f]{23}$/),
  key: z.string().min(1),
  /** Path relative to the source root, as the site wrote it. */
  name: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
  parts: z.number().int().positive(),
  mtime: isoTime,
  /** When the artefact's content was taken (full: completion time; segment: last event; archive: end of span). */
  takenAt: isoTime,
  /** Time covered: a segment's first and last event, an archive's from/to in its name. */
  span: z.object({ from: isoTime, to: isoTime }).optional(),
  /** How the span was obtained: from the content (binlog events), the name, or file times. */
  spanSource: z.enum(['events', 'name', 'file-times']).optional(),
  /** Segment number (binlog `.000123` → 123). */
  sequence: z.number().int().nonnegative().optional(),
  /** Base name shared by a segment series, e.g. `mysql-bin` or `rtmbinlog`. */
  series: z.string().min(1).optional(),
  /** A snapshot of a still-active segment; superseded by the closed segment with the same sequence. */
  partial: z.boolean().optional(),
  /** For a full backup whose dump records them: the binlog coordinates it was taken at. */
  position: z.object({ logFile: z.string().min(1), logPos: z.number().int().nonnegative() }).optional(),
  /** Profile that selected it (cvp, rostrvm, generic…). */
  profile: z.string().min(1).optional(),
  /** Rotated backups: the slot (file name) the site overwrites, e.g. `rostrvm_5_1.rbk`. */
  slot: z.string().min(1).optional(),
  createdAt: isoTime,
  /** The agent that shipped the artefact (absent from manifests of before 2026-12-07). */
  shippedBy: shippedBySchema.optional(),
});
export type ArtefactManifest = z.infer<typeof artefactManifestSchema>;

export function parseArtefactManifest(bytes: Uint8Array | string): ArtefactManifest {
  return parseRecord(artefactManifestSchema, bytes, 'artefact manifest', (message, options) => new InvalidInputError(message, options));
}

export function serializeArtefactManifest(m: ArtefactManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 1)}\n`, 'utf8');
}

/** Same site, source, name and bytes (and partial-ness) is the same artefact. */
export function artefactId(site: string, source: string, name: string, sha256: string, partial = false): string {
  const h = createHash('sha256');
  for (const p of [site, source, name, sha256, partial ? 'partial' : 'final']) h.update(p).update('\0');
  return `a${h.digest('hex').slice(0, 23)}`;
}
