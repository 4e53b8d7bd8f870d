import { createHash } from 'node:crypto';
import { parseArtefactManifest } from './artefact.ts';
import { isArtefactManifestKey, isPackManifestKey, sitePrefix } from './layout.ts';
import { parseManifest } from './manifest.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { assertMonth, attestationKey, putOnce } from './report-keys.ts';
import { readScrubs } from './verify.ts';

// The monthly attestation of one site: every pack and artefact shipped in the month, where it
// is (key, storage class), whether it is still there, immutable until when (Object Lock), and
// when a scrub last read it whole. JSON for tools, Markdown for people; each carries its own
// SHA-256 so a copy handed to an auditor can be checked against the one kept in the bucket.

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
  summary: { items: number; packs: number; backups: number; segments: number; archives: number; missing: number; unlocked: number; held?: number; neverVerified: number; bytes: number };
  items: AttestedItem[];
  /** SHA-256 of this document serialized (JSON.stringify, no spaces) without this field. */
  sha256: string;
}

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

export async function attestMonth(blobs: Pick<BlobStore, 'list' | 'get' | 'head'>, options: AttestOptions): Promise<Attestation> {
  assertMonth(options.month);
  const now = options.now ?? (() => new Date());
  const start = Date.parse(`${options.month}-01T00:00:00.000Z`);
  const end = new Date(start).setUTCMonth(new Date(start).getUTCMonth() + 1);
  const inMonth = (iso: string) => Date.parse(iso) >= start && Date.parse(iso) < end;

  const verifiedAt = new Map<string, string>();
  for (const scrub of await readScrubs(blobs, options.site)) for (const key of scrub.verified) verifiedAt.set(key, scrub.finishedAt);

  const items: AttestedItem[] = [];
  for await (const info of blobs.list(sitePrefix('manifests', options.site))) {
    let item: Omit<AttestedItem, 'present'> | undefined;
    if (isPackManifestKey(info.key)) {
      const m = parseManifest(await readSmallObject(blobs, info.key, 16 * 1024 * 1024, 'manifest'));
      if (inMonth(m.createdAt)) item = { kind: 'pack', source: m.source, id: m.packId, name: m.batch.path, key: m.packKey, manifestKey: info.key, shippedAt: m.createdAt, size: m.pack.size, sha256: m.pack.sha256 };
    } else if (isArtefactManifestKey(info.key)) {
      const m = parseArtefactManifest(await readSmallObject(blobs, info.key, 16 * 1024 * 1024, 'artefact manifest'));
      if (inMonth(m.createdAt)) item = { kind: m.role, source: m.source, id: m.artefactId, name: m.name, key: m.key, manifestKey: info.key, shippedAt: m.createdAt, size: m.size, sha256: m.sha256 };
    }
    if (!item) continue;
    const head = await blobs.head(item.key);
    const retention = head ? await options.retention?.(item.key) : undefined;
    const held = head ? await options.legalHold?.(item.key) : undefined;
    const verified = verifiedAt.get(item.key);
    items.push({
      ...item,
      present: head !== undefined,
      ...(head?.storageClass ? { storageClass: head.storageClass } : {}),
      ...(retention ? { retainUntil: retention.until, retentionMode: retention.mode } : {}),
      ...(held ? { legalHold: true } : {}),
      ...(verified ? { lastVerified: verified } : {}),
    });
  }
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
    },
    items,
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
    `- JSON attestation SHA-256: ${a.sha256}`,
    '',
    '| Shipped | Kind | Source | Name | Key | Storage class | Immutable until | Last verified | SHA-256 |',
    '|---|---|---|---|---|---|---|---|---|',
    ...a.items.map((i) =>
      `| ${i.shippedAt} | ${i.kind} | ${i.source} | ${i.name.replaceAll('|', '\\|')} | ${i.key} | ${i.present ? (i.storageClass ?? '') : '**MISSING**'} | ${immutableText(i)} | ${i.lastVerified ?? 'never'} | ${i.sha256} |`,
    ),
    '',
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

/** The CSV columns, in order: one row per pack or backup of the month. */
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
  return [ATTESTATION_CSV_COLUMNS.join(','), ...rows].map((line) => `${line}\r\n`).join('');
}

/** Keeps the three forms in the bucket (write-once, new keys each run); returns their keys. */
export async function storeAttestation(blobs: Pick<BlobStore, 'put'>, a: Attestation): Promise<{ json: string; markdown: string; csv: string }> {
  const json = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'json'), Buffer.from(`${JSON.stringify(a, null, 1)}\n`), 'application/json');
  const markdown = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'md'), Buffer.from(renderAttestationMarkdown(a)), 'text/markdown; charset=utf-8');
  const csv = await putOnce(blobs, attestationKey(a.site, a.month, a.generatedAt, 'csv'), Buffer.from(renderAttestationCsv(a)), 'text/csv; charset=utf-8; header=present');
  return { json, markdown, csv };
}
