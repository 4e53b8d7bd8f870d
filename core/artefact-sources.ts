import { z } from 'zod';
import { NAME_PATTERN } from './layout.ts';
import { compileTimeFormat, isTimeZone } from './time-format.ts';
import { globMatcher, globProblem } from './glob.ts';

// Configuration of the artefact sources (rotated full backups, binlog segments, closed
// archives) and the profile rules that come from the vendors' manuals. The schemas are plain
// objects (zod's discriminated union needs that); per-profile defaults and cross-field checks
// run once over the whole source list (`checkArtefactSource`, `withArtefactDefaults`).

const name = z.string().regex(NAME_PATTERN, 'source name must be 1-63 lowercase letters, digits or dashes');
const seconds = z.number().nonnegative();
const glob = z.string().superRefine((g, ctx) => {
  const problem = globProblem(g);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});
const fileName = (what: string) => z.string().regex(/^[^\\/\0]+$/, `${what} is a file name in the source's path, without / or \\`);
const timeZone = z
  .string()
  .default('UTC')
  .refine(isTimeZone, (tz) => ({ message: `unknown time zone "${tz}"; use an IANA name such as Europe/London` }));

/** Cisco CVP: the backup being written. Copying it locks it and blocks the next backup (CVP reporting guide). */
export const CVP_LIVE_FILE = 'cvp_backup_data';

/**
 * Whether a file name is CVP's live backup (any case): never selected by a rotated source, never
 * examined by a tree snapshot. A name of another length costs one comparison (a tree walk asks
 * it of every name).
 */
export function isCvpLive(name: string): boolean {
  return name.length === CVP_LIVE_FILE.length && name.toLowerCase() === CVP_LIVE_FILE;
}

/** A CVP source whose folder holds the live backup only: a new install whose first backup has no `.old` copy yet, with nothing wrong. */
export function cvpFirstBackupOnly(source: { type: string; profile?: string }, names: readonly string[]): boolean {
  return source.type === 'rotated' && source.profile === 'cvp' && names.length > 0 && names.every(isCvpLive);
}
export const ROTATED_PROFILES = ['cvp', 'rostrvm', 'generic'] as const;
export type RotatedProfile = (typeof ROTATED_PROFILES)[number];
/** Default file patterns per profile; generic has none (the administrator lists the files). */
export const ROTATED_DEFAULT_PATTERNS: Record<RotatedProfile, string[] | undefined> = {
  cvp: ['cvp_backup_data.old'],
  rostrvm: ['rostrvm_*_*.rbk'],
  generic: undefined,
};

export const ARCHIVE_DEFAULT_PATTERNS = ['Voice Recording * *.sdb', 'Email Archive * *.sdb', 'SMS Archive * *.sdb', 'Chat Archive * *.sdb'];
// rostrvm names archives `Voice Recording <from datetime> <to datetime>.sdb` without saying how a
// datetime is written; Windows forbids ':' in names. The default takes year-first stamps with or
// without separators: `2024-01-05 09.00.00`, `2024-01-05_09-00`, `20240105090000`, `2024-01-05`.
const STAMP = String.raw`\d{4}[-._]?\d{2}[-._]?\d{2}(?:[ T_-]?\d{2}[-.:_]?\d{2}(?:[-.:_]?\d{2})?)?`;
export const ARCHIVE_DEFAULT_NAME_PATTERN = String.raw`^(?:Voice Recording|Email Archive|SMS Archive|Chat Archive) (?<from>${STAMP}) (?<to>${STAMP})\.sdb$`;

export const rotatedSourceSchema = z
  .object({
    name,
    type: z.literal('rotated'),
    /** Directory the vendor tool writes its backups to (files directly in it). */
    path: z.string().min(1, 'path is required'),
    /** cvp: only cvp_backup_data.old; rostrvm: rostrvm_<ver>_<n>.rbk slots; generic: your patterns. */
    profile: z.enum(ROTATED_PROFILES, { errorMap: () => ({ message: `profile must be one of ${ROTATED_PROFILES.join(', ')}` }) }).default('generic'),
    /** File-name globs; default per profile, required for generic (e.g. ["*.bak", "*.xml"]). */
    patterns: z.array(glob).min(1, 'patterns cannot be empty').optional(),
    /** A file ships only after its size and mtime stayed the same across this window. */
    stableSeconds: seconds.default(120),
    /** …and only when its mtime is at least this old. */
    minAgeSeconds: seconds.default(0),
    /**
     * Hold back a version whose first bytes no longer show the format of the source's last full
     * (a dump become random bytes: ransomware, a disk error); false ships whatever is there.
     */
    formatCheck: z.boolean().default(true),
  })
  .strict();

export const binlogSourceSchema = z
  .object({
    name,
    type: z.literal('binlog'),
    /** The database's data (or log) directory holding the numbered segments. */
    path: z.string().min(1, 'path is required'),
    /** Segment base name, e.g. mysql-bin or rtmbinlog; absent: detected from the directory. */
    basename: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'basename looks like "mysql-bin" or "rtmbinlog"').optional(),
    /** Index file listing the segments (e.g. mysql-bin.index); absent: <basename>.index when present. */
    indexFile: fileName('indexFile').optional(),
    /** Ship the active segment as a partial at most this often (bounded RPO); 0 disables partials. */
    partialIntervalSeconds: seconds.default(300),
    /**
     * Object Lock days a partial (and its manifest) is written with instead of the bucket's
     * default: the deployment's binlogs.partialLockDays (default 2), which is also the most the
     * agent role may set. 0: the bucket's default (every partial then costs the full lock).
     */
    partialLockDays: z.number().int().min(0).max(36_500).default(2),
    /** The bucket's Object Lock mode (the deployment's objectLock.mode): a partial's lock must be in it. */
    partialLockMode: z.enum(['governance', 'compliance']).default('governance'),
    /**
     * Not used: binlog event times are UTC, and the restore's apply script runs mariadb-binlog
     * under TZ=UTC (--stop-datetime is read in local time). Accepted so that older configurations
     * load; `agent check` says it does nothing.
     */
    timezone: timeZone,
  })
  .strict();

export const archiveSourceSchema = z
  .object({
    name,
    type: z.literal('archive'),
    path: z.string().min(1, 'path is required'),
    patterns: z.array(glob).min(1, 'patterns cannot be empty').default(ARCHIVE_DEFAULT_PATTERNS),
    /** Regex over the file name with named groups `from` and `to` (the covered span). */
    namePattern: z.string().min(1).default(ARCHIVE_DEFAULT_NAME_PATTERN),
    /** How `from`/`to` are written: 'auto' (year first, any separators), 'iso', or tokens like 'yyyy-MM-dd HH.mm.ss'. */
    timeFormat: z.string().min(1).default('auto'),
    /** Time zone of the times in the names. */
    timezone: timeZone,
    stableSeconds: seconds.default(120),
    minAgeSeconds: seconds.default(0),
  })
  .strict();

export type RotatedSourceConfig = Omit<z.output<typeof rotatedSourceSchema>, 'patterns'> & { patterns: string[] };
export type BinlogSourceConfig = z.output<typeof binlogSourceSchema>;
export type ArchiveSourceConfig = z.output<typeof archiveSourceSchema>;
export type ArtefactSourceConfig = RotatedSourceConfig | BinlogSourceConfig | ArchiveSourceConfig;

export interface SourceProblem {
  path: (string | number)[];
  message: string;
}

/** Cross-field rules of one artefact source; paths are relative to the source. */
export function checkArtefactSource(source: z.output<typeof rotatedSourceSchema> | BinlogSourceConfig | ArchiveSourceConfig): SourceProblem[] {
  if (source.type === 'rotated') return checkRotated(source);
  if (source.type === 'archive') return checkArchive(source);
  return [];
}

function checkRotated(source: z.output<typeof rotatedSourceSchema>): SourceProblem[] {
  if (!source.patterns) {
    return source.profile === 'generic' ? [{ path: ['patterns'], message: 'patterns are required for profile generic (the files to ship, e.g. ["*.bak", "*.xml"])' }] : [];
  }
  if (source.profile !== 'cvp') return [];
  return source.patterns.flatMap((p, i) =>
    globMatcher([p])(CVP_LIVE_FILE)
      ? [{ path: ['patterns', i], message: `"${p}" would select ${CVP_LIVE_FILE}, the live CVP backup; only ${CVP_LIVE_FILE}.old may be copied (copying the live file locks it and blocks the next backup)` }]
      : [],
  );
}

function checkArchive(source: ArchiveSourceConfig): SourceProblem[] {
  const problems: SourceProblem[] = [];
  try {
    const groups = Object.keys(new RegExp(`(?:${source.namePattern})|`, 'i').exec('')?.groups ?? {});
    const missing = ['from', 'to'].filter((g) => !groups.includes(g));
    if (missing.length > 0) problems.push({ path: ['namePattern'], message: `namePattern lacks the named group(s) ${missing.map((g) => `(?<${g}>…)`).join(', ')}` });
  } catch (e) {
    problems.push({ path: ['namePattern'], message: `not a valid regular expression: ${(e as Error).message}` });
  }
  if (source.timeFormat !== 'auto') {
    const compiled = compileTimeFormat(source.timeFormat);
    if (!compiled.ok) problems.push({ path: ['timeFormat'], message: compiled.error });
  }
  return problems;
}

/** Fills the per-profile defaults (after validation). */
export function withArtefactDefaults(source: z.output<typeof rotatedSourceSchema>): RotatedSourceConfig {
  return { ...source, patterns: source.patterns ?? ROTATED_DEFAULT_PATTERNS[source.profile] ?? [] };
}

/**
 * The covered span parsed from an archive name, or undefined when the name does not say.
 * A local time in the hour the clocks go back names two instants: `from` is read as the earlier
 * (the span starts no later than the name says), `to` as the later one the file was already
 * written at, `fileTimeMs` (the archive's last write; an archive closes after the calls it holds),
 * so that a span ending in that hour holds every call its name may mean. Without a file time the
 * later is taken.
 */
export function archiveSpanFromName(source: Pick<ArchiveSourceConfig, 'namePattern' | 'timeFormat' | 'timezone'>, fileName: string, fileTimeMs?: number): { from: Date; to: Date } | undefined {
  const m = new RegExp(source.namePattern, 'i').exec(fileName);
  const from = m?.groups?.from;
  const to = m?.groups?.to;
  if (from === undefined || to === undefined) return undefined;
  const parse = source.timeFormat === 'auto' ? parseAuto : compiledParser(source.timeFormat);
  const fromMs = parse(from, source.timezone);
  let toMs = parse(to, source.timezone, fileTimeMs ?? Number.POSITIVE_INFINITY);
  if (fromMs === undefined || toMs === undefined || toMs < fromMs) return undefined;
  // A `to` written as a day (`… 20260713 20260719.sdb`) covers that whole day: up to the last millisecond before the next midnight there.
  const dateOnly = source.timeFormat === 'auto' ? to.replace(/\D/g, '').length === 8 : !/[Hh]/.test(source.timeFormat);
  if (dateOnly) toMs = nextMidnight(parse(to, source.timezone) ?? toMs, source.timezone) - 1;
  return { from: new Date(fromMs), to: new Date(toMs) };
}

/** The midnight after the local midnight `ms` in `timeZone` (23 or 25 hours later on the days the clocks change). */
function nextMidnight(ms: number, timeZone: string): number {
  const next = ms + 24 * 3600_000;
  const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(new Date(next)));
  return hour === 23 ? next + 3600_000 : hour === 1 ? next - 3600_000 : next;
}

const AUTO_FORMATS: Record<number, string> = { 8: 'yyyyMMdd', 12: 'yyyyMMddHHmm', 14: 'yyyyMMddHHmmss' };

function parseAuto(text: string, timeZone: string, near?: number): number | undefined {
  const digits = text.replace(/\D/g, '');
  const format = AUTO_FORMATS[digits.length];
  return format ? compiledParser(format)(digits, timeZone, near) : undefined;
}

function compiledParser(format: string): (text: string, timeZone: string, near?: number) => number | undefined {
  const compiled = compileTimeFormat(format);
  return compiled.ok ? compiled.parse : () => undefined;
}
