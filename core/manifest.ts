import { datetimeRegex, z } from 'zod';
import { InvalidInputError } from './errors.ts';
import { zodProblems } from './zod-problems.ts';

// The manifest is the commit record of a pack: written last, read by ingest, the only
// source the catalogue is rebuilt from. Versioned; readers reject what they do not know.

export const MANIFEST_FORMAT = 'ferry.manifest/1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoTime = z.string().datetime({ offset: true });

export const callMetadataSchema = z.object({
  callId: z.string().min(1).optional(),
  start: isoTime.optional(),
  end: isoTime.optional(),
  durationSec: z.number().nonnegative().optional(),
  agent: z.string().min(1).optional(),
  caller: z.string().min(1).optional(),
  called: z.string().min(1).optional(),
  direction: z.enum(['inbound', 'outbound', 'internal', 'unknown']).optional(),
  codec: z.string().min(1).optional(),
});
export type CallMetadata = z.infer<typeof callMetadataSchema>;

/** isoTime's own check compiled once: zod compiles the regular expression again for every value. */
const ISO_TIME = datetimeRegex(isoTime._def.checks.find((c) => c.kind === 'datetime') as Parameters<typeof datetimeRegex>[0]);
const DIRECTIONS: readonly string[] = callMetadataSchema.shape.direction.unwrap().options;
const CALL_METADATA_KEYS = Object.keys(callMetadataSchema.shape) as (keyof CallMetadata)[];

/**
 * Call metadata as callMetadataSchema.parse returns it (keys in the schema's order), checked
 * without zod's per-value work, for the agent checks it once a recording; undefined when any key
 * or value is not plainly valid, for the schema itself to decide and name what is wrong.
 */
export function plainCallMetadata(meta: Readonly<Record<string, unknown>>): CallMetadata | undefined {
  const out: Record<string, unknown> = {};
  let taken = 0;
  for (const key of CALL_METADATA_KEYS) {
    const value = meta[key];
    if (value === undefined) {
      if (Object.hasOwn(meta, key)) return undefined;
      continue;
    }
    const valid =
      key === 'durationSec'
        ? typeof value === 'number' && Number.isFinite(value) && value >= 0
        : typeof value === 'string' && (key === 'start' || key === 'end' ? ISO_TIME.test(value) : key === 'direction' ? DIRECTIONS.includes(value) : value.length > 0);
    if (!valid) return undefined;
    out[key] = value;
    taken++;
  }
  return taken === Object.keys(meta).length ? (out as CallMetadata) : undefined;
}

/**
 * The agent that wrote a manifest (every kind: recordings packs, tree snapshots, artefacts): the
 * host name and agent id its heartbeats carry, so that a copy offsite says which recorder host it
 * came from (after a failover two hosts ship one site, each numbering its own calls). Absent from
 * manifests written before 2026-12-07: readers say "not recorded". `agentId` is left out when the
 * agent could not keep its id in its state directory (a full disk), rather than name one its
 * heartbeats would not carry.
 */
export const shippedBySchema = z.object({
  host: z.string().min(1).max(255),
  agentId: z.string().min(1).max(64).optional(),
});
export type ShippedBy = z.infer<typeof shippedBySchema>;

/** `shippedBy` as a catalogue item holds it (a map of strings), or undefined for an item of before it (or anything else). */
export function shippedByOfItem(value: unknown): ShippedBy | undefined {
  const v = value as { host?: unknown; agentId?: unknown } | null | undefined;
  if (typeof v?.host !== 'string' || v.host === '') return undefined;
  return { host: v.host, ...(typeof v.agentId === 'string' && v.agentId !== '' ? { agentId: v.agentId } : {}) };
}

/** Where one file sits inside the pack: data offset (after its tar headers) and length. */
export const tarSliceSchema = z.object({
  name: z.string().min(1),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  sha256: sha256Hex,
});
export type TarSlice = z.infer<typeof tarSliceSchema>;

export const manifestMemberSchema = tarSliceSchema.extend({
  rid: z.string().regex(/^r[0-9a-f]{23}$/),
  /** Path relative to the source root, as the recorder wrote it. */
  path: z.string().min(1),
  contentType: z.string().min(1),
  mtime: isoTime,
  meta: callMetadataSchema,
  /** Metadata problems found while packing (reported, not fatal). */
  issues: z.array(z.string()),
  sidecar: tarSliceSchema.optional(),
});
export type ManifestMember = z.infer<typeof manifestMemberSchema>;

export const packManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  kind: z.literal('recordings'),
  site: z.string().min(1),
  source: z.string().min(1),
  packId: z.string().regex(/^p[0-9a-f]{23}$/),
  packKey: z.string().min(1),
  createdAt: isoTime,
  batch: z.object({ path: z.string(), files: z.number().int().nonnegative() }),
  pack: z.object({
    size: z.number().int().positive(),
    sha256: sha256Hex,
    parts: z.number().int().positive(),
    partSize: z.number().int().positive(),
  }),
  members: z.array(manifestMemberSchema).min(1),
  /**
   * Keys of earlier attempts at this pack that did not count (a publish that went wrong;
   * objects are write-once, so each attempt has its own key): the purge deletes them with the pack.
   */
  superseded: z.array(z.string().min(1)).optional(),
  /** The agent that shipped the pack (absent from manifests of before 2026-12-07). */
  shippedBy: shippedBySchema.optional(),
});
export type PackManifest = z.infer<typeof packManifestSchema>;

/**
 * Parses JSON text and validates it against a commit-record schema; `what` names the record
 * in errors, which list up to ten problems with their paths.
 */
export function parseRecord<S extends z.ZodTypeAny>(schema: S, bytes: Uint8Array | string, what: string, fail: (message: string, options?: { cause?: unknown }) => Error): z.infer<S> {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw fail(`${what} is not valid JSON (${text.length} bytes)`, { cause });
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const problems = zodProblems(result.error);
    throw fail(`${what} is invalid: ${problems.slice(0, 10).join('; ')}`);
  }
  return result.data;
}

/** Parses and validates a manifest; the error lists every problem with its path. */
export function parseManifest(bytes: Uint8Array | string): PackManifest {
  const m: PackManifest = parseRecord(packManifestSchema, bytes, 'manifest', (message, options) => new ManifestError(message, options));
  for (const member of m.members) {
    if (member.offset + member.length > m.pack.size) {
      throw new ManifestError(`manifest member ${member.rid} lies outside the pack (${member.offset}+${member.length} > ${m.pack.size})`);
    }
  }
  return m;
}

export function serializeManifest(manifest: PackManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`, 'utf8');
}

export class ManifestError extends InvalidInputError {
  override readonly name: string = 'ManifestError';
}
