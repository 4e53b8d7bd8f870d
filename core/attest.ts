import { createHash } from 'node:crypto';
import { parseArtefactManifest } from './artefact.ts';
import { messageOf } from './errors.ts';
import { ARTEFACT_CLASS, artefactManifestPrefix, isArtefactManifestKey, isPackManifestKey, packManifestPeriodPrefix } from './layout.ts';
import { parseManifest } from './manifest.ts';
import { mapLimit } from './map-limit.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { assertMonth, attestationKey, putOnce } from './report-keys.ts';
import { CLOCK_SLACK_MS } from './scrub-pick.ts';
import { readScrubs } from './verify.ts';

// The monthly attestation of one site: every pack and artefact shipped in the month, where it
// is (key, storage class), whether it is still there, immutable until when (Object Lock), and
// when a scrub last read it whole. JSON for tools, Markdown for people; each carries its own
// SHA-256 so a copy handed to an auditor can be checked against the one kept in the bucket.
//
// What it reads follows the month, not the site's history: the pack manifests under the month's
// date prefixes (and those of the LOOKBACK_MONTHS before it, for packs shipped late, and the
// first day after it), of which only those written since the month began are read; the artefact
// manifests written since then; the scrub results of the month and the month after. The reads of
// each item (HEAD, retention, legal hold) run a few items at a time.

export const ATTESTATION_FORMAT = 'ferry.attestation/1';

export interface Retention {
  mode: string;
  until: string;
}

export interface AttestedItem {
  kind: 'pack' | 'full' | 'segment' | 'archive';
  source: string;
  /** packId or artefactId. */
  id: string;
  name: string;
  key: string;
  manifestKey: string;
  shippedAt: string;
  size: number;
  sha256: string;
  /** Absent when the object is gone from the bucket. */
  storageClass?: string;
  present: boolean;
  retainUntil?: string;
  retentionMode?: string;
  /** Under S3 Object Lock legal hold: immutable while held, whatever `retainUntil` says. */
  legalHold?: boolean;
  /** When a scrub last read it whole and found it matching its manifest. */
  lastVerified?: string;
}

export interface Attestation {
  format: typeof ATTESTATION_FORMAT;
  site: string;
  month: string;
  /** The data bucket every key is in, when the caller knows it. */
  bucket?: string;
  generatedAt: string;
  summary: { items: number; packs: number; backups: number; segments: number; archives: number; missing: number; unlocked: number; held?: number; neverVerified: number; bytes: number; unreadable: number };
  items: AttestedItem[];
  /** Manifests that may be of the month but could not be read or parsed: each is a problem of the attestation, not a reason to give none. */
  unreadable: UnreadableManifest[];
  /** SHA-256 of this document serialized (JSON.stringify, no spaces) without this field. */
  sha256: string;
}

export interface UnreadableManifest {
  manifestKey: string;
  reason: string;
}

/** Months before the attested one whose pack prefixes are listed too: a pack's key has its oldest recording's date, and it may ship weeks later. */
export const LOOKBACK_MONTHS = 2;
/** Items whose reads (HEAD, retention, legal hold) are in flight at once. */
export const ATTEST_CONCURRENCY = 16;

export interface AttestOptions {
  site: string;
  month: string;
  /** The data bucket's name, stated in the attestation (and each CSV row). */
  bucket?: string;
  now?: () => Date;
  /** Object Lock retention of a key, when the store has it. */
  retention?: (key: string) => Promise<Retention | undefined>;
  /** Whether a key is under Object Lock legal hold, when the store can say. */
  legalHold?: (key: string) => Promise<boolean>;
}

export function attestationDigest(a: Omit<Attestation, 'sha256'> & { sha256?: string }): string {
  const { sha256: _omit, ...rest } = a;
  void _omit;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** The month `n` months after `month` (YYYY-MM; n may be negative). */
function monthAfter(month: string, n: number): string {
  const at = new Date(`${month}-01T00:00:00.000Z`);
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + n, 1)).toISOString().slice(0, 7);
}

/** Manifest keys that may hold an item shipped in the month, by listing alone (see the header). */
async function monthManifestKeys(blobs: Pick<BlobStore, 'list'>, site: string, month: string, start: number): Promise<string[]> {
  const prefixes = [
    ...Array.from({ length: LOOKBACK_MONTHS + 1 }, (_, i) => packManifestPeriodPrefix(site, monthAfter(month, i - LOOKBACK_MONTHS))),
    // A recording dated a little ahead of the agent's clock, shipped on the month's last minute.
    packManifestPeriodPrefix(site, `${monthAfter(month, 1)}-01`),
    ...Object.values(ARTEFACT_CLASS).map((dataClass) => artefactManifestPrefix(site, dataClass)),
  ];
  const keys: string[] = [];
  for (const prefix of prefixes) {
    for await (const info of blobs.list(prefix)) {
      if (!isPackManifestKey(info.key) && !isArtefactManifestKey(info.key)) continue;
      // Written before the month began (less the agent's clock slack): shipped before it, not read.
      if (info.lastModified && info.lastModified.getTime() < start - CLOCK_SLACK_MS) continue;
      keys.push(info.key);
    }
  }
  return keys;
}

type Found = Omit<AttestedItem, 'present'>;

/** The item a manifest commits, when it was shipped in the month; what is wrong with it when it cannot be read. */
async function readItem(blobs: Pick<BlobStore, 'get'>, key: string, inMonth: (iso: string) => boolean): Promise<Found | UnreadableManifest | undefined> {
  try {
    if (isPackManifestKey(key)) {
      const m = parseManifest(await readSmallObject(blobs, key, 16 * 1024 * 1024, 'manifest'));
      return inMonth(m.createdAt) ? { kind: 'pack', source: m.source, id: m.packId, name: m.batch.path, key: m.packKey, manifestKey: key, shippedAt: m.createdAt, size: m.pack.size, sha256: m.pack.sha256 } : undefined;
    }
    const m = parseArtefactManifest(await readSmallObject(blobs, key, 16 * 1024 * 1024, 'artefact manifest'));
    return inMonth(m.createdAt) ? { kind: m.role, source: m.source, id: m.artefactId, name: m.name, key: m.key, manifestKey: key, shippedAt: m.createdAt, size: m.size, sha256: m.sha256 } : undefined;
  } catch (error) {
    return { manifestKey: key, reason: `cannot be read: ${messageOf(error)}` };
  }
}

/** Where an item is now: present and its class (HEAD), then its retention and legal hold together. */
async function locate(blobs: Pick<BlobStore, 'head'>, item: Found, options: AttestOptions, verifiedAt: Map<string, string>): Promise<AttestedItem> {
  const head = await blobs.head(item.key);
  const [retention, held] = head ? await Promise.all([options.retention?.(item.key), options.legalHold?.(item.key)]) : [undefined, undefined];
  const verified = verifiedAt.get(item.key);
  return {
    ...item,
    present: head !== undefined,
    ...(head?.storageClass ? { storageClass: head.storageClass } : {}),
    ...(retention ? { retainUntil: retention.until, retentionMode: retention.mode } : {}),
    ...(held ? { legalHold: true } : {}),
    ...(verified ? { lastVerified: verified } : {}),
  };
}

export async function attestMonth(blobs: Pick<BlobStore, 'list' | 'get' | 'head'>, options: AttestOptions): Promise<Attestation> {
  assertMonth(options.month);
  const now = options.now ?? (() => new Date());
  const start = Date.parse(`${options.month}-01T00:00:00.000Z`);
  const end = Date.parse(`${monthAfter(options.month, 1)}-01T00:00:00.000Z`);
  const inMonth = (iso: string) => Date.parse(iso) >= start && Date.parse(iso) < end;

  // An item of the month is verified by a scrub of the month or, for the monthly run on the 1st, of the month after.
  const verifiedAt = new Map<string, string>();
  for (const period of [options.month, monthAfter(options.month, 1)]) {
    for (const scrub of await readScrubs(blobs, options.site, period)) for (const key of scrub.verified) verifiedAt.set(key, scrub.finishedAt);
  }

  const keys = await monthManifestKeys(blobs, options.site, options.month, start);
  const read = await mapLimit(keys, ATTEST_CONCURRENCY, (key) => readItem(blobs, key, inMonth));
  const unreadable = read.filter((r): r is UnreadableManifest => r !== undefined && 'reason' in r);
  const found = read.filter((r): r is Found => r !== undefined && !('reason' in r));
  const items = await mapLimit(found, ATTEST_CONCURRENCY, (item) => locate(blobs, item, options, verifiedAt));
  items.sort((a, b) => a.shippedAt.localeCompare(b.shippedAt) || a.key.localeCompare(b.key));
  const body: Omit<Attestation, 'sha256'> = {
    format: ATTESTATION_FORMAT,
    site: options.site,
    month: options.month,
    ...(options.bucket ? { bucket: options.bucket } : {}),
    generatedAt: now().toISOString(),
    summary: {
      items: items.length,
      packs: items.filter((i) => i.kind === 'pack').length,
      backups: items.filter((i) => i.kind === 'full').length,
      segments: items.filter((i) => i.kind === 'segment').length,
      archives: items.filter((i) => i.kind === 'archive').length,
      missing: items.filter((i) => !i.present).length,
      unlocked: items.filter((i) => i.present && !i.retainUntil && !i.legalHold).length,
      ...(options.legalHold ? { held: items.filter((i) => i.legalHold).length } : {}),
      neverVerified: items.filter((i) => !i.lastVerified).length,
      bytes: items.reduce((n, i) => n + i.size, 0),
      unreadable: unreadable.length,
    },
    items,
    unreadable: unreadable.sort((a, b) => a.manifestKey.localeCompare(b.manifestKey)),
  };
  return { ...body, sha256: attestationDigest(body) };
}

const MD_HASH_LINE = 'SHA-256 of everything above this line: ';

/** "Immutable until": the legal hold first (it outlasts any date), then the retention. */
function immutableText(i: AttestedItem): string {
  const retention = i.retainUntil ? `${i.retainUntil} (${i.retentionMode})` : undefined;
  if (i.legalHold) return `legal hold${retention ? `; retention ${retention}` : ''}`;
  return retention ?? 'not locked';
}

export function renderAttestationMarkdown(a: Attestation): string {
  const s = a.summary;
  const lines = [
    `# Ferry attestation: site ${a.site}, ${a.month}`,
    '',
    `Generated ${a.generatedAt}. Every pack of recordings and every backup, log segment and archive the site shipped in ${a.month}, where it is kept, until when it is immutable, and when it was last read back whole and found to match its manifest.`,
    '',
    `- Items: ${s.items} (${s.packs} recording packs, ${s.backups} full backups, ${s.segments} log segments, ${s.archives} archives), ${s.bytes} bytes`,
    `- Missing from the bucket: ${s.missing}`,
    `- Without Object Lock retention: ${s.unlocked}`,
    ...(s.held !== undefined ? [`- Under legal hold (immutable while held, whatever the date): ${s.held}`] : []),
    `- Never verified by a scrub: ${s.neverVerified}`,
    ...(s.unreadable > 0 ? [`- **Manifests that could not be read: ${s.unreadable}** (listed below the table: what they commit is not accounted for above)`] : []),
    `- JSON attestation SHA-256: ${a.sha256}`,
    '',
    '| Shipped | Kind | Source | Name | Key | Storage class | Immutable until | Last verified | SHA-256 |',
    '|---|---|---|---|---|---|---|---|---|',
    ...a.items.map((i) =>
      `| ${i.shippedAt} | ${i.kind} | ${i.source} | ${i.name.replaceAll('|', '\\|')} | ${i.key} | ${i.present ? (i.storageClass ?? '') : '**MISSING**'} | ${immutableText(i)} | ${i.lastVerified ?? 'never'} | ${i.sha256} |`,
    ),
    '',
    ...(a.unreadable.length > 0 ? ['## Manifests that could not be read', '', ...a.unreadable.map((u) => `- ${u.manifestKey}: ${u.reason}`), ''] : []),
  ];
  const text = lines.join('\n');
  return `${text}\n${MD_HASH_LINE}${createHash('sha256').update(text).digest('hex')}\n`;
}

/** Checks a Markdown attestation's own SHA-256 line: true when the text above it is unchanged. */
export function checkAttestationMarkdown(markdown: string): boolean {
  const at = markdown.lastIndexOf(`\n${MD_HASH_LINE}`);
  if (at < 0) return false;
  const stated = markdown.slice(at + 1 + MD_HASH_LINE.length).trim();
  return createHash('sha256').update(markdown.slice(0, at)).digest('hex') === stated;
}

/** The CSV columns, in order: one row per pack or backup of the month, then one per manifest that could not be read (kind `unreadable-manifest`). */
export const ATTESTATION_CSV_COLUMNS = [
  'site',
  'month',
  'kind',
  'source',
  'id',
  'name',
  'bucket',
  'key',
  'storage_class',
  'present',
  'immutable_until',
  'retention_mode',
  'last_verified',
  'shipped_at',
  'size_bytes',
  'sha256',
  'manifest_key',
  'legal_hold',
] as const;

/**
 * One field as RFC 4180 writes it (quoted when it holds a comma, quote or line break). A field a
 * spreadsheet would run as a formula (=, +, -, @ first: a batch name comes from the recorder's
 * disk) is prefixed with a quote mark so it is shown, never evaluated.
 */
export function csvField(value: string | number | boolean | undefined): string {
  let text = value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The attestation as CSV for an auditor's spreadsheet: a header, then one row per item (CRLF line ends, UTF-8). */
export function renderAttestationCsv(a: Attestation): string {
  const rows = a.items.map((i) => {
    const row: Record<(typeof ATTESTATION_CSV_COLUMNS)[number], string | number | boolean | undefined> = {
      site: a.site,
      month: a.month,
      kind: i.kind,
      source: i.source,
      id: i.id,
      name: i.name,
      bucket: a.bucket,
      key: i.key,
      storage_class: i.present ? i.storageClass : 'MISSING',
      present: i.present,
      immutable_until: i.retainUntil ?? 'not locked',
      retention_mode: i.retentionMode,
      last_verified: i.lastVerified ?? 'never',
      shipped_at: i.shippedAt,
      size_bytes: i.size,
      sha256: i.sha256,
      manifest_key: i.manifestKey,
      legal_hold: i.legalHold === true,
    };
    return ATTESTATION_CSV_COLUMNS.map((c) => csvField(row[c])).join(',');
  });
  // A manifest that could not be read is a row of its own, so a spreadsheet cannot leave it out unseen.
  const unreadable = a.unreadable.map((u) => {
    const row: Partial<Record<(typeof ATTESTATION_CSV_COLUMNS)[number], string>> = { site: a.site, month: a.month, kind: 'unreadable-manifest', name: u.reason, bucket: a.bucket, manifest_key: u.manifestKey };
    return ATTESTATION_CSV_COLUMNS.map((c) => csvField(row[c])).join(',');
  });
  return [ATTESTATION_CSV_COLUMNS.join(','), ...rows, ...unreadable].map((line) => `${line}\r\n`).join('');
}

/** Keeps the three forms in the bucket (write-once, new keys each run); returns their keys. */
export async function storeAttestation(blobs: Pick<BlobStore, 'put'>, a: Attestation): Promise<{ json: string; markdown: string; csv: string }> {
  const json = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'json'), Buffer.from(`${JSON.stringify(a, null, 1)}\n`), 'application/json');
  const markdown = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'md'), Buffer.from(renderAttestationMarkdown(a)), 'text/markdown; charset=utf-8');
  const csv = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'csv'), Buffer.from(renderAttestationCsv(a)), 'text/csv; charset=utf-8; header=present');
  return { json, markdown, csv };
}
