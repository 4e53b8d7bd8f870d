// Object layout: the one module that says where every object lives.
// Data class first, then site, so lifecycle rules filter by prefix and IAM scopes by site.
// The agent, the functions, the local cloud and the CDK stack all build keys from here.

export const DATA_CLASSES = ['recordings', 'manifests', 'backups', 'logs', 'archives', 'trees', 'heartbeats', 'heartbeats-daily'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

/** Site and source names appear in keys and IAM conditions: keep them boring. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function assertName(kind: 'site' | 'source', value: string): void {
  if (!NAME_PATTERN.test(value)) {
    throw new TypeError(`${kind} name "${value}" must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit`);
  }
}

function datePath(at: Date): string {
  const y = at.getUTCFullYear().toString().padStart(4, '0');
  const m = (at.getUTCMonth() + 1).toString().padStart(2, '0');
  const d = at.getUTCDate().toString().padStart(2, '0');
  return `${y}/${m}/${d}`;
}

/** Prefix of one data class for one site, e.g. `recordings/site-a/`. */
export function sitePrefix(dataClass: DataClass, site: string): string {
  return `${dataClass}/${site}/`;
}

/**
 * `recordings/{site}/{yyyy}/{mm}/{dd}/{packId}.tar`; the date is the batch's oldest recording.
 * Published objects are write-once, so a pack whose publish went wrong (a torn part, a failed
 * verification) is shipped again under a new key: attempt n > 0 is `{packId}-{n}.tar`. The
 * pack's manifest names the attempt that counts and lists the dead ones for the purge.
 */
export function packKey(site: string, packId: string, at: Date, attempt = 0): string {
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new RangeError(`pack attempt ${attempt} is not a whole number >= 0`);
  return `${packAttemptsPrefix(site, packId, at)}${attempt === 0 ? '' : `-${attempt}`}.tar`;
}

/** The prefix every attempt at one pack's key starts with (pack ids have a fixed length). */
export function packAttemptsPrefix(site: string, packId: string, at: Date): string {
  return `${sitePrefix('recordings', site)}${datePath(at)}/${packId}`;
}

/** The attempts prefix of a key built by packKey (any attempt); undefined for any other key. */
export function packAttemptsPrefixOf(key: string): string | undefined {
  const match = /^(recordings\/[^/]+\/\d{4}\/\d{2}\/\d{2}\/p[0-9a-f]{23})(?:-[1-9][0-9]{0,5})?\.tar$/.exec(key);
  return match?.[1];
}

/** The attempt number of a key built by packKey for this prefix; undefined for any other key. */
export function packAttemptOf(prefix: string, key: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const match = /^(?:-([1-9][0-9]{0,5}))?\.tar$/.exec(key.slice(prefix.length));
  return match ? Number(match[1] ?? 0) : undefined;
}

/** `manifests/{site}/recordings/{yyyy}/{mm}/{dd}/{packId}.json`: the commit record of a pack. */
export function packManifestKey(site: string, packId: string, at: Date): string {
  return `${sitePrefix('manifests', site)}recordings/${datePath(at)}/${packId}.json`;
}

/**
 * `manifests/{site}/recordings/{yyyy}/{mm}/[{dd}/]`: the pack manifests of one day (`YYYY-MM-DD`)
 * or month (`YYYY-MM`) of the layout's date (the batch's oldest recording): what a scrub or an
 * attestation lists instead of the site's whole history.
 */
export function packManifestPeriodPrefix(site: string, period: string): string {
  if (!/^\d{4}-\d{2}(-\d{2})?$/.test(period)) throw new RangeError(`period "${period}" must be YYYY-MM-DD or YYYY-MM`);
  return `${sitePrefix('manifests', site)}recordings/${period.replaceAll('-', '/')}/`;
}

export interface ParsedKey {
  dataClass: DataClass;
  site: string;
  rest: string;
}

/** Splits a key into data class, site and the remainder; undefined for keys outside the layout. */
export function parseKey(key: string): ParsedKey | undefined {
  const [dataClass, site, ...rest] = key.split('/');
  if (!dataClass || !site || rest.length === 0) return undefined;
  if (!(DATA_CLASSES as readonly string[]).includes(dataClass) || !NAME_PATTERN.test(site)) return undefined;
  return { dataClass: dataClass as DataClass, site, rest: rest.join('/') };
}

/** True for the key of a recordings manifest (what the ingest function reacts to). */
export function isPackManifestKey(key: string): boolean {
  const parsed = parseKey(key);
  return parsed?.dataClass === 'manifests' && parsed.rest.startsWith('recordings/') && key.endsWith('.json');
}

/** Data class of each artefact-producing source type. */
export const ARTEFACT_CLASS = { rotated: 'backups', binlog: 'logs', archive: 'archives' } as const satisfies Record<string, DataClass>;
export type ArtefactSourceType = keyof typeof ARTEFACT_CLASS;

/** File names become key segments: keep letters, digits and `._-`, replace the rest. */
export function safeKeySegment(name: string): string {
  const base = name.split('/').pop() ?? name;
  const safe = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
  return safe.slice(-120) || '_';
}

/**
 * `{class}/{site}/{source}/{yyyy}/{mm}/{dd}/{artefactId}-{name}`: one immutable object per
 * artefact version; an overwritten slot on the site yields a new object, never a replaced one.
 * Partial (still-active) log segments live under `…/{source}/partial/` so lifecycle and purge
 * can treat them apart.
 */
export function artefactKey(site: string, type: ArtefactSourceType, source: string, artefactId: string, name: string, at: Date, partial = false): string {
  const cls = ARTEFACT_CLASS[type];
  return `${sitePrefix(cls, site)}${source}/${partial ? 'partial/' : ''}${datePath(at)}/${artefactId}-${safeKeySegment(name)}`;
}

/** The prefix of every data object of one artefact source (`partial/` below it for partial snapshots). */
export function artefactSourcePrefix(site: string, type: ArtefactSourceType, source: string): string {
  return `${sitePrefix(ARTEFACT_CLASS[type], site)}${source}/`;
}

/**
 * `manifests/{site}/{class}/{source}/[partial/]{artefactId}.json`: the commit record of one
 * artefact. A partial's lives under `partial/` like its object, so that IAM can let the agent
 * give both the short lock of partials (binlogs.partialLockDays) and nothing else.
 */
export function artefactManifestKey(site: string, type: ArtefactSourceType, source: string, artefactId: string, partial = false): string {
  return `${sitePrefix('manifests', site)}${ARTEFACT_CLASS[type]}/${source}/${partial ? 'partial/' : ''}${artefactId}.json`;
}

/**
 * Key patterns (IAM resource globs, `*` spanning `/`) of one site's binlog partials and their
 * manifests: the only objects the agent may write with a lock shorter than the bucket's default.
 * A final segment never matches: its key has no `partial` folder (dates are digits, names have no `/`).
 */
export function partialKeyPatterns(site: string): string[] {
  return [`${sitePrefix('logs', site)}*/partial/*`, `${sitePrefix('manifests', site)}logs/*/partial/*`];
}

/** `manifests/{site}/{class}/[{source}/]`: the artefact manifests of one data class (of one source). */
export function artefactManifestPrefix(site: string, dataClass: (typeof ARTEFACT_CLASS)[ArtefactSourceType], source?: string): string {
  return `${sitePrefix('manifests', site)}${dataClass}/${source === undefined ? '' : `${source}/`}`;
}

/** True for the key of an artefact manifest (backups, logs, archives). */
export function isArtefactManifestKey(key: string): boolean {
  const parsed = parseKey(key);
  return parsed?.dataClass === 'manifests' && /^(backups|logs|archives)\/[a-z0-9][a-z0-9-]*\/(partial\/)?a[0-9a-f]{23}\.json$/.test(parsed.rest);
}

// ---- Tree sources (file shares): see core/tree-manifest.ts for the format ----

/** `trees/{site}/{source}/packs/{yyyy}/{mm}/{dd}/{packId}[-n].tar`: a content pack (write-once; attempt n > 0 after a bad publish). */
export function treePackKey(site: string, source: string, packId: string, at: Date, attempt = 0): string {
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new RangeError(`pack attempt ${attempt} is not a whole number >= 0`);
  return `${sitePrefix('trees', site)}${source}/packs/${datePath(at)}/${packId}${attempt === 0 ? '' : `-${attempt}`}.tar`;
}

/** `trees/{site}/{source}/index/{snapshotId}.jsonl.gz`: a snapshot's file list. */
export function treeIndexKey(site: string, source: string, snapshotId: string): string {
  return `${sitePrefix('trees', site)}${source}/index/${snapshotId}.jsonl.gz`;
}

/** `manifests/{site}/trees/{source}/{yyyy}/{mm}/{dd}/{snapshotId}.json`: the commit record of a snapshot (date: takenAt). */
export function treeSnapshotManifestKey(site: string, source: string, snapshotId: string, takenAt: Date): string {
  return `${treeSnapshotManifestPrefix(site, source)}${datePath(takenAt)}/${snapshotId}.json`;
}

/** Prefix of every snapshot manifest of one tree source (or of every tree source of the site). */
export function treeSnapshotManifestPrefix(site: string, source?: string): string {
  return `${sitePrefix('manifests', site)}trees/${source === undefined ? '' : `${source}/`}`;
}

/** True for the key of a tree snapshot manifest (what ingest catalogues as a snapshot). */
export function isTreeSnapshotManifestKey(key: string): boolean {
  const parsed = parseKey(key);
  return parsed?.dataClass === 'manifests' && /^trees\/[a-z0-9][a-z0-9-]*\/\d{4}\/\d{2}\/\d{2}\/s[0-9a-f]{23}\.json$/.test(parsed.rest);
}

// ---- Prefixes per data class, for lifecycle rules and IAM policies (infra/) ----

/** Prefix of a whole data class, e.g. `recordings/`: what lifecycle rules filter on. */
export function classPrefix(dataClass: DataClass): string {
  return `${dataClass}/`;
}

/** Every prefix one site writes under, one per data class: what its IAM policies are scoped to. */
export function sitePrefixes(site: string): string[] {
  return DATA_CLASSES.map((dataClass) => sitePrefix(dataClass, site));
}
