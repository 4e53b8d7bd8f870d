import { InvalidInputError } from './errors.ts';
import { ITEM_PREFIXES, SORT_KEY_NAME, timePartition, timeShardOf } from './catalogue-schema.ts';
import { defined } from './defined.ts';
import { shippedByOfItem } from './manifest.ts';
import type { CatalogueEntry, PackRecord, RecordingCopy } from './ports.ts';

// Catalogue items: key builders and the conversions between entries and stored items.

export type CatalogueItem = Record<string, unknown> & { pk: string; sk: string };

/**
 * Phone numbers are matched without the punctuation people type: "+44 (20) 7946-0000" =
 * "+442079460000"; a `tel:` scheme, the trunk `(0)` after a country code and slashes go too, as
 * the agent drops them from what the recorder wrote (core/metadata-values.ts), so a number typed
 * as the recorder or a letter wrote it ("+44 (0)20 7946 0000", "089/1234-567") finds the call.
 * The international prefix `00` (as European recorders write dialled numbers: "0044 20 7946
 * 0000") is `+`, when what follows is long enough to be a country code and a number (8 digits or
 * more): an extension such as "0012" stays as written.
 */
export function normalizeNumber(value: string): string {
  let text = value.trim().replace(/^tel:/i, '');
  if (/^00\s*[1-9]/.test(text) && text.replace(/\D/g, '').length >= 10) text = text.replace(/^00\s*/, '+');
  return text.replace(/^(\+\d{1,3})\s*\(0\)/, '$1').replace(/[\s().\-/]/g, '');
}

/**
 * An agent's name or a call id as a key: in Unicode's composed form (NFC), so that a name the
 * recorder wrote decomposed ("Siobha\u0301n", as macOS and some exporters write it) is found by the
 * same name typed on a keyboard ("Siobhán"), which looks the same everywhere; and with the
 * typographic apostrophes (’ ‘ ʼ ′, as word processors and directory exports write "O’Neill") as
 * the keyboard's ', which they look like.
 */
export function normalizeText(value: string): string {
  return value.normalize('NFC').replace(/[\u2018\u2019\u02bc\u2032]/g, "'");
}

/** ISO time in the one sortable form (UTC, milliseconds); InvalidInputError naming the field otherwise. */
export function normalizeIso(value: string, field: string): string {
  const at = new Date(value);
  const year = at.getUTCFullYear();
  if (Number.isNaN(at.getTime()) || year < 1 || year > 9999) {
    throw new InvalidInputError(`${field} must be an ISO 8601 date-time, got "${value}"`);
  }
  return at.toISOString();
}

export function recordingKey(site: string, rid: string): { pk: string; sk: string } {
  return { pk: `${ITEM_PREFIXES.recording}${site}#${rid}`, sk: 'REC' };
}

/** Sort key prefix of a recording's other copies, under its own partition (no index attribute: never in a search). */
export const COPY_SK_PREFIX = 'COPY#';

export function copyKey(site: string, rid: string, packId: string): { pk: string; sk: string } {
  return { pk: recordingKey(site, rid).pk, sk: `${COPY_SK_PREFIX}${packId}` };
}

export function copyToItem(copy: RecordingCopy): CatalogueItem {
  const { site, rid, packId, packKey, manifestKey } = copy;
  return { ...copyKey(site, rid, packId), type: 'copy', site, rid, packId, packKey, manifestKey };
}

export function itemToCopy(item: Record<string, unknown>): RecordingCopy {
  const { site, rid, packId, packKey, manifestKey } = item;
  return { site, rid, packId, packKey, manifestKey } as RecordingCopy;
}

export function packRecordKey(site: string, packId: string): { pk: string; sk: string } {
  return { pk: `${ITEM_PREFIXES.pack}${site}#${packId}`, sk: 'PACK' };
}

export function sortKeyOf(entry: Pick<CatalogueEntry, 'start' | 'rid'>): string {
  return `${normalizeIso(entry.start, 'start')}#${entry.rid}`;
}

/**
 * The most UTF-16 code units of a call's metadata text (agent, call id, numbers, codec) a catalogue
 * item keeps, and a search index's key holds: at most 1,500 bytes of UTF-8, so the site and the
 * text stay within DynamoDB's 2,048-byte partition key (a longer one refuses the item, and with
 * it the whole pack's ingest) and five of them far within its 400 KB item. A sidecar may hold any
 * text where a name is expected (a field mapped to a note, a transcript): the entry keeps its first
 * 500 characters (a searched text a few more, keptText) and says so in its issues; a search for
 * the whole text finds it.
 */
export const MAX_META_TEXT = 500;

function cutText(text: string, most = MAX_META_TEXT): string {
  if (text.length <= most) return text;
  const cut = text.slice(0, most);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A search index's partition key: the site and the normalized text, cut as the item keeps it. */
export function indexKey(site: string, normalized: string): string {
  return `${site}#${cutText(normalized)}`;
}

/** The form each searched text takes in its index key (the others have none). */
const KEY_FORMS: Partial<Record<string, (text: string) => string>> = { agent: normalizeText, callId: normalizeText, caller: normalizeNumber, called: normalizeNumber };

/** The most characters of a searched text kept as written, where its key form is shorter (separators, decomposed accents). */
const MAX_KEPT_TEXT = 4 * MAX_META_TEXT;

/**
 * What a text of the entry's metadata keeps: its first 500 characters; a searched one, whose key
 * form may be shorter than it was written (a number's separators, accents written decomposed),
 * the fewest (at most 2,000) whose key is the whole text's: the key a search for the whole text
 * looks up, and the one the kept text gives when the entry is written again.
 */
function keptText(text: string, form: ((text: string) => string) | undefined): string {
  if (text.length <= MAX_META_TEXT || !form) return cutText(text);
  const key = cutText(form(text));
  let most = MAX_META_TEXT;
  while (most < Math.min(text.length, MAX_KEPT_TEXT)) {
    const formed = form(cutText(text, most));
    if (cutText(formed) === key) break;
    most += Math.max(1, MAX_META_TEXT - formed.length);
  }
  return cutText(text, Math.min(most, MAX_KEPT_TEXT));
}

/** A metadata text as the catalogue keeps it (keptText): what the audit trail names a call by too. */
export function keptMetaText(field: string, text: string): string {
  return keptText(text, KEY_FORMS[field]);
}

function keptMeta(meta: CatalogueEntry['meta']): { meta: CatalogueEntry['meta']; cut: string[] } {
  const kept: Record<string, unknown> = { ...meta };
  const cut: string[] = [];
  for (const [field, value] of Object.entries(meta)) {
    if (typeof value !== 'string') continue;
    const text = keptMetaText(field, value);
    if (text === value) continue;
    kept[field] = text;
    cut.push(`${field}: ${value.length} characters; the catalogue keeps the first ${text.length} (DynamoDB's key and item size limits)`);
  }
  return { meta: kept as CatalogueEntry['meta'], cut };
}

/** Drops undefined values (DynamoDB rejects them; the memory store must look the same). */
export function entryToItem(entry: CatalogueEntry): CatalogueItem {
  const { site } = entry;
  const { meta, cut } = keptMeta(entry.meta);
  const issues = [...(entry.issues ?? []), ...cut];
  return defined({
    ...recordingKey(site, entry.rid),
    type: 'recording',
    site,
    rid: entry.rid,
    source: entry.source,
    packId: entry.packId,
    packKey: entry.packKey,
    manifestKey: entry.manifestKey,
    offset: entry.offset,
    length: entry.length,
    sha256: entry.sha256,
    contentType: entry.contentType,
    path: entry.path,
    start: normalizeIso(entry.start, 'start'),
    meta: defined({ ...meta }),
    issues: issues.length ? issues : undefined,
    shippedBy: entry.shippedBy && { ...entry.shippedBy },
    [SORT_KEY_NAME]: sortKeyOf(entry),
    timePk: timePartition(site, timeShardOf(entry.rid)),
    agentPk: meta.agent === undefined ? undefined : indexKey(site, normalizeText(meta.agent)),
    callIdPk: meta.callId === undefined ? undefined : indexKey(site, normalizeText(meta.callId)),
    callerPk: meta.caller === undefined ? undefined : indexKey(site, normalizeNumber(meta.caller)),
    calledPk: meta.called === undefined ? undefined : indexKey(site, normalizeNumber(meta.called)),
  });
}

export function itemToEntry(item: Record<string, unknown>): CatalogueEntry {
  const entry: CatalogueEntry = {
    site: item.site as string,
    rid: item.rid as string,
    source: item.source as string,
    packId: item.packId as string,
    packKey: item.packKey as string,
    manifestKey: item.manifestKey as string,
    offset: Number(item.offset),
    length: Number(item.length),
    sha256: item.sha256 as string,
    contentType: item.contentType as string,
    path: item.path as string,
    start: item.start as string,
    meta: (item.meta ?? {}) as CatalogueEntry['meta'],
  };
  if (Array.isArray(item.issues) && item.issues.length > 0) entry.issues = item.issues.map(String);
  const shippedBy = shippedByOfItem(item.shippedBy);
  if (shippedBy) entry.shippedBy = shippedBy;
  return entry;
}

export function packToItem(pack: PackRecord): CatalogueItem {
  return { ...packRecordKey(pack.site, pack.packId), type: 'pack', ...pack };
}

export function itemToPack(item: Record<string, unknown>): PackRecord {
  const { site, packId, packKey, manifestKey, source, members, size, createdAt } = item;
  return { site, packId, packKey, manifestKey, source, members: Number(members), size: Number(size), createdAt } as PackRecord;
}
