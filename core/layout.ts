// Object layout: the one module that says where every object lives.
// Data class first, then site, so lifecycle rules filter by prefix and IAM scopes by site.
// The agent, the functions, the local cloud and the CDK stack all build keys from here.

export const DATA_CLASSES = ['recordings', 'manifests', 'backups', 'logs', 'archives'] as const;
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

/** `recordings/{site}/{yyyy}/{mm}/{dd}/{packId}.tar`; the date is the batch's oldest recording. */
export function packKey(site: string, packId: string, at: Date): string {
  return `${sitePrefix('recordings', site)}${datePath(at)}/${packId}.tar`;
}

/** `manifests/{site}/recordings/{yyyy}/{mm}/{dd}/{packId}.json`: the commit record of a pack. */
export function packManifestKey(site: string, packId: string, at: Date): string {
  return `${sitePrefix('manifests', site)}recordings/${datePath(at)}/${packId}.json`;
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
