import { z } from 'zod';
import { keysAt, nearestKey } from './config-suggest.ts';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import { metadataConfigSchema } from './metadata.ts';
import {
  rotatedSourceSchema,
  binlogSourceSchema,
  archiveSourceSchema,
  checkArtefactSource,
  withArtefactDefaults,
  type RotatedSourceConfig,
  type BinlogSourceConfig,
  type ArchiveSourceConfig,
} from './artefact-sources.ts';
import { bandwidthSchema } from './bandwidth.ts';

export type { RotatedSourceConfig, BinlogSourceConfig, ArchiveSourceConfig, ArtefactSourceConfig } from './artefact-sources.ts';

// The agent's configuration: one YAML file, validated once at start. Every problem is listed
// with its path (`sources[1].path: …`) so an administrator fixes them all in one go.

const name = (what: string) => z.string().regex(NAME_PATTERN, `${what} must be 1-63 lowercase letters, digits or dashes`);
const seconds = z.number().nonnegative();

export const recordingsSourceSchema = z
  .object({
    name: name('source name'),
    type: z.literal('recordings'),
    /** The recorder's recordings root. */
    path: z.string().min(1, 'path is required'),
    /** Depth of batch directories below the root (ContactStore: 1). */
    batchDepth: z.number().int().min(1).max(6).default(1),
    /** Which files are recordings (case-insensitive extensions). */
    extensions: z.array(z.string().regex(/^\.[A-Za-z0-9]+$/, 'extensions look like ".wav"')).min(1).default(['.wav', '.mp3', '.ogg', '.opus', '.gsm']),
    /** A batch is closed when it holds this many recordings… */
    closeAfterFiles: z.number().int().positive().default(100),
    /** …or when nothing in it changed for this long. */
    quietSeconds: seconds.default(600),
    /** Every file must be unchanged this long before it is read (a file being written is never packed). */
    settleSeconds: seconds.default(5),
    metadata: metadataConfigSchema,
  })
  .strict();
export type RecordingsSourceConfig = z.infer<typeof recordingsSourceSchema>;

/** A path glob for tree sources: `*` and `?` within one name, `**` across directories, matched against the relative path. */
const treeGlob = z.string().superRefine((g, ctx) => {
  if (g.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a pattern cannot be empty' });
  else if (g.startsWith('/') || g.split('/').includes('..')) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${g}" must be relative to the source's path (no leading / and no ..)` });
  else if (g.includes('\\')) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${g}" contains \\; separate directories with /` });
});

/**
 * When a snapshot's changes are alerted as a mass change (ransomware, or a rewrite someone must
 * look at): at least `minFiles` files changed, and at least `percent` % of the files the snapshot
 * before held (docs/file-shares.md). `false`: never.
 */
const massChangeSchema = z.union(
  [
    z.literal(false),
    z
      .object({
        percent: z.number().gt(0, 'must be more than 0').max(100, 'must be at most 100 (a percentage)').default(50),
        minFiles: z.number().int('must be a whole number').min(1, 'must be at least 1').default(20),
      })
      .strict(),
  ],
  { errorMap: (issue, ctx) => ({ message: issue.code === z.ZodIssueCode.invalid_union ? 'must be false (no check) or { percent: more than 0 and at most 100, minFiles: a whole number of at least 1 }' : ctx.defaultError }) },
);

/**
 * A directory tree (file shares: OCS meeting content, address book files, compliance logs)
 * shipped as incremental snapshots (core/tree-manifest.ts).
 */
export const treeSourceSchema = z
  .object({
    name: name('source name'),
    type: z.literal('tree'),
    /** The tree's root directory. */
    path: z.string().min(1, 'path is required'),
    /** Only paths matching one of these globs are kept (default: everything). Directories are always walked. */
    include: z.array(treeGlob).min(1, 'include cannot be empty (leave it out to keep everything)').optional(),
    /** Paths matching one of these are left out, and a matching directory is not walked. */
    exclude: z.array(treeGlob).default([]),
    /** A snapshot is taken at most this often (0: every pass). */
    everySeconds: seconds.default(0),
    /** Content packs are closed at about this size. */
    packTargetMiB: z.number().int().min(1).max(4096).default(64),
    /** A snapshot that changed this many of the files the one before held is alerted (critical) and fails the pass. */
    massChange: massChangeSchema.default({ percent: 50, minFiles: 20 }),
  })
  .strict();
export type TreeSourceConfig = z.infer<typeof treeSourceSchema>;

export const sourceSchema = z.discriminatedUnion('type', [recordingsSourceSchema, rotatedSourceSchema, binlogSourceSchema, archiveSourceSchema, treeSourceSchema]);
export type SourceConfig = RecordingsSourceConfig | RotatedSourceConfig | BinlogSourceConfig | ArchiveSourceConfig | TreeSourceConfig;

/** Profile rules checked across fields, then per-profile defaults filled. */
const sourcesSchema = z
  .array(sourceSchema)
  .superRefine((sources, ctx) => {
    const seen = new Set<string>();
    const roots = new Map<string, { name: string; extensions: string[] }[]>();
    sources.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'name'], message: `duplicate source name "${s.name}"` });
      seen.add(s.name);
      // Two recordings sources on one root would ship every recording twice, under two names,
      // unless their extensions part the files between them (`.wav` calls and `.mp3` calls).
      if (s.type === 'recordings') {
        const mine = s.extensions.map((e) => e.toLowerCase());
        const onRoot = roots.get(s.path) ?? [];
        for (const other of onRoot) {
          const both = mine.filter((e) => other.extensions.includes(e));
          if (both.length > 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'path'], message: `source ${other.name} already ships the ${both.join(', ')} recordings under ${s.path}: give the two sources extensions of their own` });
        }
        roots.set(s.path, [...onRoot, { name: s.name, extensions: mine }]);
      }
      if (s.type === 'recordings' || s.type === 'tree') return;
      for (const p of checkArtefactSource(s)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, ...p.path], message: p.message });
    });
  })
  .transform((sources): SourceConfig[] => sources.map((s) => (s.type === 'rotated' ? withArtefactDefaults(s) : s)));

export const cloudSchema = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'bucket must be a valid S3 bucket name'),
    region: z.string().min(1).default('us-east-1'),
    /** S3-compatible endpoint (the local cloud, MinIO, Ceph RGW); absent means AWS. */
    endpoint: z.string().url().optional(),
    /** Catalogue API base URL (used by the `calls` commands). */
    api: z.string().url().optional(),
    /** Replay URL (the stack's Function URL output; used by `calls play` and `calls link`). */
    replay: z.string().url().optional(),
    /** How a published object is verified: read it back, or trust the store's own SHA-256 check. */
    verify: z.enum(['auto', 'etag', 'read-back', 'checksum']).default('auto'),
    /**
     * The store refuses to replace an object when asked (If-None-Match: *): AWS S3, Ferry's local
     * cloud, MinIO. Lets a pack the journal never saw begin go without asking the store about
     * earlier attempts first. Absent: true on AWS, false on another endpoint.
     */
    writeOnce: z.boolean().optional(),
    credentials: z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) }).strict().optional(),
    /**
     * The site's Step Functions activity (the stack's `ActivityArn{site}` output): the agent polls
     * it for backup-window jobs (no inbound connection). `activity: ARN` is short for `{ arn: ARN }`.
     */
    activity: z.preprocess(
      (v) => (typeof v === 'string' ? { arn: v } : v),
      z
        .object({
          arn: z.string().regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:[\w-]{1,80}$/, 'must be an activity ARN'),
          endpoint: z.string().url().optional(),
        })
        .strict()
        .optional(),
    ),
  })
  .strict();
export type CloudConfig = z.infer<typeof cloudSchema>;

export const shippingSchema = z
  .object({
    partSizeMiB: z.number().int().min(5, 'S3 parts are at least 5 MiB').max(512).default(8),
    /** Packs shipped at once. */
    packConcurrency: z.number().int().min(1).max(32).default(4),
    /** Parts of one pack in flight at once (memory ≈ partSize × (partConcurrency + 1) × packConcurrency). */
    partConcurrency: z.number().int().min(1).max(16).default(2),
    attempts: z.number().int().min(1).max(20).default(5),
    pollSeconds: seconds.default(30),
  })
  .strict()
  .default({});

export const alertsSchema = z
  .object({
    /** Shell command run with the alert as JSON on stdin. */
    command: z.string().min(1).optional(),
    /** URL the alert is POSTed to as JSON. */
    webhook: z.string().url().optional(),
    /** An alert for a condition that is still open is sent again this often (it is sent once when raised, and once when it clears). */
    repeatHours: z.number().positive().default(24),
  })
  .strict()
  .default({});

/** `/healthz` and Prometheus `/metrics` while the agent runs as a service. */
export const metricsSchema = z
  .object({
    /** host:port to listen on (port 0: any free port). */
    listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'listen looks like "127.0.0.1:9464"'),
    /** /healthz answers 503 when no pass completed (and nothing was uploaded) for this long. */
    staleSeconds: z.number().positive().optional(),
  })
  .strict();
export type MetricsConfig = z.infer<typeof metricsSchema>;

export const agentConfigSchema = z
  .object({
    site: name('site'),
    /** Directory for the journal and status (small; not the recorder's disk if avoidable). */
    state: z.string().min(1, 'state directory is required'),
    /** Free space the state directory's disk keeps: below it a pass ships nothing and alerts (0: no floor). */
    stateMinFreeMiB: z.number().nonnegative().default(64),
    cloud: cloudSchema.optional(),
    shipping: shippingSchema,
    alerts: alertsSchema,
    /** One limit for all uploads, on a weekly schedule (agent/bandwidth.ts); `bandwidth: 2MiB/s` is short for `{ default: 2MiB/s }`. */
    bandwidth: z.preprocess((v) => (typeof v === 'string' || typeof v === 'number' ? { default: v } : v), bandwidthSchema.optional()),
    metrics: metricsSchema.optional(),
    /** What the agent ships; none at a standby site whose configuration serves restores only (the agent refuses to run without one). */
    sources: sourcesSchema.default([]),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** `sources[1].path` style rendering of a zod path. */
export function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || '(root)';
}

/**
 * Each issue as `path: message`. With `known` (the keys allowed at a path: keysAt), an unknown
 * key that is a near miss of one of them says which (`"closeAfterFile" (did you mean "closeAfterFiles"?)`).
 */
export function zodProblems(error: z.ZodError, known?: (path: (string | number)[]) => string[] | undefined): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const allowed = known?.(issue.path) ?? [];
      const said = issue.keys.map((k) => {
        const near = nearestKey(k, allowed);
        return near ? `"${k}" (did you mean "${near}"?)` : `"${k}"`;
      });
      return `${formatPath(issue.path)}: unknown key(s) ${said.join(', ')}`;
    }
    if (issue.code === 'invalid_union_discriminator') return `${formatPath(issue.path)}: must be one of ${issue.options.map(String).join(', ')}`;
    return `${formatPath(issue.path)}: ${issue.message}`;
  });
}

/** What the YAML parser's usual complaints mean for someone editing a configuration by hand. */
const YAML_HINTS: [RegExp, string][] = [
  [/^Nested mappings are not allowed in compact mappings/, 'a key on the line after is indented further than the keys beside it'],
  [/^Tabs are not allowed/, 'indent with spaces, not tabs'],
  [/^Missing closing .?quote/, 'a value opened with a quote above is never closed'],
  [/^Sequence item without - indicator/, 'this line is indented less than the keys of the list item above it'],
  [/^All mapping items must start at the same column/, 'the keys of one mapping must line up'],
  [/^Map keys must be unique/, 'the same key is given twice'],
  [/^Implicit keys need to be followed by map values|^Implicit map keys need to be followed by map values/, 'a key without a colon after it'],
];

/** The parser's complaint with its place: line and column, the lines around it and a caret, and what it usually means. */
export function yamlProblem(text: string, origin: string, cause: unknown): string {
  if (!(cause instanceof YAMLParseError)) return `${origin}: not valid YAML: ${cause instanceof Error ? cause.message : String(cause)}`;
  const reason = cause.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? cause.message;
  const hint = YAML_HINTS.find(([re]) => re.test(reason))?.[1];
  const pos = cause.linePos?.[0];
  if (!pos) return `${origin}: not valid YAML: ${reason}${hint ? ` (${hint})` : ''}`;
  const lines = text.split(/\r?\n/);
  const shown: string[] = [];
  const width = String(Math.min(lines.length, pos.line + 1)).length;
  for (let n = Math.max(1, pos.line - 1); n <= Math.min(lines.length, pos.line + 1); n++) {
    if (n > pos.line && !lines[n - 1]?.trim()) break;
    shown.push(`    ${String(n).padStart(width)} | ${(lines[n - 1] ?? '').replace(/\t/g, '→')}`);
    if (n === pos.line) shown.push(`    ${' '.repeat(width)} | ${' '.repeat(Math.max(0, pos.col - 1))}^`);
  }
  return `${origin}: not valid YAML at line ${pos.line}, column ${pos.col}: ${reason}${hint ? ` (${hint})` : ''}\n${shown.join('\n')}`;
}

/** Parses and validates YAML text; throws ConfigError listing every problem. */
export function parseAgentConfig(text: string, origin = 'config'): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (cause) {
    throw new ConfigError([yamlProblem(text, origin, cause)]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${origin}: expected a mapping at the top level`]);
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = zodProblems(result.error, (path) => keysAt(agentConfigSchema, path, raw)).map((p, i) => withUnitHint(p, result.error.issues[i], raw));
    // The check across sources runs only once every source is valid: a duplicate name is listed
    // with the other problems, not found only after they are mended.
    for (const p of duplicateSourceNames((raw as { sources?: unknown }).sources)) if (!problems.includes(p)) problems.push(p);
    throw new ConfigError(problems);
  }
  return result.data;
}

/** Seconds, hours and days in the units people write them in: `10m` → 600 seconds. */
const DURATION = /^(\d+(?:\.\d+)?)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)$/i;
const SECONDS_IN: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const KEY_UNITS: [RegExp, string, number][] = [
  [/Seconds$/, 'seconds', 1],
  [/Hours$/, 'hours', 3600],
  [/Days$/, 'days', 86_400],
];

/**
 * A number written with a unit (`quietSeconds: 10m`, `repeatHours: 1d`) is refused as zod says
 * ("Expected number, received string"), followed by the number the key's own unit makes of it.
 */
function withUnitHint(problem: string, issue: z.ZodIssue | undefined, raw: unknown): string {
  if (issue?.code !== 'invalid_type' || issue.expected !== 'number' || issue.received !== 'string') return problem;
  const key = issue.path.at(-1);
  const value = issue.path.reduce<unknown>((node, part) => (node as Record<string | number, unknown> | undefined)?.[part], raw);
  if (typeof key !== 'string' || typeof value !== 'string') return problem;
  const unit = KEY_UNITS.find(([re]) => re.test(key));
  if (/^\d+(?:\.\d+)?\s*(MiB|MB|M)$/i.test(value.trim()) && key.endsWith('MiB')) return `${problem}: "${value}" is written as a plain number of MiB (${key}: ${parseFloat(value)})`;
  const m = DURATION.exec(value.trim());
  if (!unit || !m) return `${problem}${unit ? ` ("${value}": write a plain number of ${unit[1]})` : ''}`;
  const seconds = Number(m[1]) * (SECONDS_IN[(m[2] as string)[0]!.toLowerCase()] as number);
  const inUnit = seconds / unit[2];
  return `${problem}: "${value}" is written as a plain number of ${unit[1]} (${key}: ${Number.isInteger(inUnit) ? inUnit : inUnit.toFixed(3).replace(/0+$/, '')})`;
}

/** `sources[i].name: duplicate source name "x"` for each source that repeats an earlier one's name, read from the raw input. */
function duplicateSourceNames(sources: unknown): string[] {
  if (!Array.isArray(sources)) return [];
  const seen = new Set<string>();
  const out: string[] = [];
  sources.forEach((s: unknown, i) => {
    const name = s !== null && typeof s === 'object' ? (s as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) out.push(`sources[${i}].name: duplicate source name "${name}"`);
    seen.add(name);
  });
  return out;
}
