import { Readable } from 'node:stream';
import { alongsideAudit } from './alongside-audit.ts';
import { IntegrityError, NotFoundError } from './errors.ts';
import { recordingLookupKey, type BlobStore, type CatalogueEntry, type CatalogueStore } from './ports.ts';
import type { Clock } from './clock.ts';
import { sitePrefix } from './layout.ts';

// Replay: one recording streamed out of its pack by byte range. The member's bytes are
// [offset, offset+length) of the pack; every read is mapped inside that window, so a client
// can never read a neighbour's bytes and the pack is never downloaded whole.

export type RangeRequest = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const FULL: RangeRequest = { kind: 'full' };

/**
 * Interprets a Range header against a representation of `size` bytes (RFC 7233 §2.1, §3.1).
 * Only single byte ranges are served partially: an absent, invalid, non-bytes or multi-range
 * header yields the full body, which the RFC allows. A valid range that starts at or beyond
 * the end (or a zero suffix) is unsatisfiable.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return FULL;
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!match) return FULL;
  const spec = match[1]!.trim();
  if (spec.includes(',')) return FULL;
  const range = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!range) return FULL;
  const [, first = '', last = ''] = range;
  if (first === '' && last === '') return FULL;
  const firstPos = first === '' ? undefined : Number(first);
  const lastPos = last === '' ? undefined : Number(last);
  if ((firstPos !== undefined && !Number.isSafeInteger(firstPos)) || (lastPos !== undefined && !Number.isSafeInteger(lastPos))) return FULL;

  if (firstPos === undefined) {
    // Suffix range: the last N bytes.
    if (lastPos === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - lastPos!), end: size - 1 };
  }
  if (lastPos !== undefined && lastPos < firstPos) return FULL;
  if (firstPos >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: firstPos, end: Math.min(lastPos ?? size - 1, size - 1) };
}

export interface OpenRecordingDeps {
  catalogue: Pick<CatalogueStore, 'getRecording'>;
  blobs: Pick<BlobStore, 'get'>;
}

export interface OpenRecordingOptions {
  /** HEAD: headers only, no read of the pack. */
  headOnly?: boolean;
  /** `attachment` for a download (audited apart from listening); default inline. */
  disposition?: 'inline' | 'attachment';
  /** If-Range: the range applies only while the validator still matches (our ETag). */
  ifRange?: string;
  /** If-None-Match: a cache that holds this recording already (our ETag, or `*`) is answered 304, with no bytes and no audit record. */
  ifNoneMatch?: string;
  /**
   * Called once bytes are about to go out (not for HEAD or 416), with the response's headers
   * (with a `place`: as the request starts, with its Content-Range as the place puts it); the
   * record it returns (undefined: nothing to record) is written while the pack's range is
   * opened, and the response waits for it (core/alongside-audit.ts). Called once a request.
   */
  audit?: (headers: Record<string, string>) => void | Promise<void>;
  /**
   * Where the link says the recording is (signed into it by whoever minted it from the
   * catalogue): the range is opened there at once, alongside the lookup, instead of after it.
   * Never trusted on its own: the bytes are used only when the entry found names the same pack,
   * offset and length; otherwise the early read is released and the range opened where the
   * entry says. Not used for HEAD, for If-Range, or for a pack outside the site's recordings.
   * The audit record is started with the early read too (the range as the place puts it), so
   * the first byte waits for the longest of the lookup, the record and the read, not for the
   * lookup and then the others: a request the entry then refuses (404, 416) stays recorded as
   * an attempt, as a listen whose pack cannot be read does.
   */
  place?: RecordingPlace;
}

/** A recording's bytes: [offset, offset + length) of the pack `packKey`. */
export interface RecordingPlace {
  packKey: string;
  offset: number;
  length: number;
}

export interface ReplayResponse {
  status: 200 | 206 | 304 | 416;
  headers: Record<string, string>;
  /** Absent for HEAD, 304 and 416. */
  body?: Readable;
  entry: CatalogueEntry;
}

const TOKEN = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9-]+=("[^"\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i;

/** Content-Type from the catalogue, if it is a well-formed media type; never a header injection. */
function contentTypeOf(entry: CatalogueEntry): string {
  return TOKEN.test(entry.contentType) && entry.contentType.length <= 200 ? entry.contentType : 'application/octet-stream';
}

/**
 * Characters a file name may not keep: control characters (C0, DEL, C1), and the Unicode
 * controls that reorder or hide text (bidi marks, embeddings, overrides and isolates, the
 * zero-width space, word joiner and invisible operators, the BOM): `call<U+202E>vaw.exe` shows
 * as `callexe.wav`, an .exe that reads as a recording. The zero-width joiner and non-joiner
 * stay: Persian and Indic names are spelt with them.
 */
const NAME_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * The recording's own file name, as the recorder wrote it: the last segment of its path
 * (manifest paths are POSIX, so a backslash is part of the name), with control characters and
 * bidi controls removed (NAME_CONTROLS), and at most 200 characters kept from the end (the
 * extension survives). Undefined when nothing usable is left (`..`, empty).
 */
export function recordingName(entry: Pick<CatalogueEntry, 'path'>): string | undefined {
  const base = entry.path.split('/').pop() ?? '';
  const cleaned = Array.from(base.replace(NAME_CONTROLS, '').trim()).slice(-200).join('');
  return cleaned === '' || /^\.+$/.test(cleaned) ? undefined : cleaned;
}

/**
 * The ASCII fallback for clients that ignore `filename*`: every run of characters outside
 * [A-Za-z0-9._-] becomes one `_` (so no quote, backslash, semicolon or CR/LF reaches the
 * header); when no letter or digit is left of the stem, the recording id keeps the extension.
 */
export function safeFilename(entry: Pick<CatalogueEntry, 'path' | 'rid'>): string {
  const name = recordingName(entry) ?? '';
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-100);
  const dot = cleaned.lastIndexOf('.');
  const ext = dot >= 0 ? cleaned.slice(dot) : '';
  const stem = (dot >= 0 ? cleaned.slice(0, dot) : cleaned).replace(/^[._]+/, '');
  if (/[A-Za-z0-9]/.test(stem)) return `${stem}${ext}`;
  return /^\.[A-Za-z0-9]{1,8}$/.test(ext) ? `${entry.rid}${ext}` : entry.rid;
}

/** RFC 8187 ext-value: UTF-8, every byte outside attr-char percent-encoded. */
function extValue(value: string): string {
  let out = "UTF-8''";
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Content-Disposition (RFC 6266): an ASCII `filename` every client understands, and the real
 * name in `filename*` (UTF-8, RFC 8187) that current browsers prefer; the latter is left out
 * when the name is plain ASCII already equal to the fallback. A name that starts with a dot
 * (`...wav`) is sent after the rid (`r…_...wav`): browsers strip leading dots, and `...wav`
 * would be saved as `wav`, with no extension.
 */
export function contentDisposition(disposition: 'inline' | 'attachment', entry: Pick<CatalogueEntry, 'path' | 'rid'>): string {
  const fallback = safeFilename(entry);
  const name = recordingName(entry);
  const real = name?.startsWith('.') ? `${entry.rid}_${name}` : name;
  const header = `${disposition}; filename="${fallback}"`;
  return real === undefined || real === fallback ? header : `${header}; filename*=${extValue(real)}`;
}

function baseHeaders(entry: CatalogueEntry, disposition: 'inline' | 'attachment'): Record<string, string> {
  return {
    'Content-Type': contentTypeOf(entry),
    'Accept-Ranges': 'bytes',
    ETag: `"${entry.sha256}"`,
    'Cache-Control': 'private, no-store',
    'Content-Disposition': contentDisposition(disposition, entry),
  };
}

/** Looks the recording up and opens the requested part of it, reading only that part of the pack. */
export async function openRecording(
  deps: OpenRecordingDeps,
  site: string,
  rid: string,
  rangeHeader: string | undefined,
  options: OpenRecordingOptions = {},
): Promise<ReplayResponse> {
  const early = earlyRead(deps, site, rangeHeader, options);
  let entry: CatalogueEntry | undefined;
  try {
    entry = await deps.catalogue.getRecording(site, rid);
  } catch (error) {
    early?.release();
    throw error;
  }
  if (!entry) {
    early?.release();
    throw new NotFoundError(`no recording ${rid} in site ${site}`);
  }
  const headers = baseHeaders(entry, options.disposition ?? 'inline');
  const etag = headers.ETag!;
  if (options.ifNoneMatch !== undefined && matchesAny(options.ifNoneMatch, etag)) {
    // The browser revalidating a call it holds: nothing leaves the archive, so nothing is recorded.
    early?.release();
    const { 'Content-Disposition': _disposition, ...validators } = headers;
    return { status: 304, headers: validators, entry };
  }
  const ignoreRange = options.ifRange !== undefined && options.ifRange.trim() !== etag;
  const range = ignoreRange ? FULL : parseRangeHeader(rangeHeader, entry.length);

  if (range.kind === 'unsatisfiable') {
    early?.release();
    return { status: 416, headers: { ...headers, 'Content-Range': `bytes */${entry.length}`, 'Content-Length': '0' }, entry };
  }
  const { start, end } = boundsOf(range, entry.length);
  const length = end - start + 1;
  const status = range.kind === 'partial' ? 206 : 200;
  if (range.kind === 'partial') headers['Content-Range'] = contentRange(start, end, entry.length);
  headers['Content-Length'] = String(length);

  const sameRead = early !== undefined && early.matches(entry);
  if (!sameRead) early?.release();
  if (options.headOnly) return { status, headers, entry };
  const recorded = early ? early.recorded : options.audit?.(headers);
  // A zero-length member has no byte to ask the store for: only its audit record to wait for.
  if (length === 0) {
    await recorded;
    return { status, headers, body: Readable.from([]), entry };
  }
  const read = sameRead ? early.read : deps.blobs.get(entry.packKey, { start: entry.offset + start, end: entry.offset + end });
  const blob = await alongsideAudit(recorded, read, (opened) => opened.body.destroy());
  if (blob.length !== length) {
    blob.body.destroy();
    throw new IntegrityError(`pack ${entry.packKey} returned ${blob.length} bytes for ${rid}, expected ${length}: the pack is shorter than its manifest says`);
  }
  return { status, headers, body: blob.body, entry };
}

/** Whether an If-None-Match list (`"a", W/"b"` or `*`) names `etag` (weak comparison, as RFC 9110 asks for it). */
function matchesAny(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  return list.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** The first and last byte a satisfiable range asks of a representation of `size` bytes. */
function boundsOf(range: Exclude<RangeRequest, { kind: 'unsatisfiable' }>, size: number): { start: number; end: number } {
  return range.kind === 'partial' ? range : { start: 0, end: size - 1 };
}

const contentRange = (start: number, end: number, size: number) => `bytes ${start}-${end}/${size}`;

type Opened = Awaited<ReturnType<BlobStore['get']>>;

interface EarlyRead {
  read: Promise<Opened>;
  /** The audit record started with the read (options.audit with the range as the place puts it). */
  recorded: void | Promise<void>;
  /** True when the entry found is where the place said (the same range of it then, as the early read has no If-Range). */
  matches(entry: CatalogueEntry): boolean;
  /** Closes what the early read opened, and forgets its failure (nobody waits for it). */
  release(): void;
}

/** The range opened where the link's place says, before the lookup answers; undefined when there is nothing to open early. */
function earlyRead(deps: OpenRecordingDeps, site: string, rangeHeader: string | undefined, options: OpenRecordingOptions): EarlyRead | undefined {
  const place = options.place;
  if (!place || options.headOnly || options.ifRange !== undefined || options.ifNoneMatch !== undefined || !place.packKey.startsWith(sitePrefix('recordings', site))) return undefined;
  const range = parseRangeHeader(rangeHeader, place.length);
  if (range.kind === 'unsatisfiable' || place.length === 0) return undefined;
  const { start, end } = boundsOf(range, place.length);
  const read = deps.blobs.get(place.packKey, { start: place.offset + start, end: place.offset + end });
  const recorded = options.audit?.(range.kind === 'partial' ? { 'Content-Range': contentRange(start, end, place.length) } : {});
  // Their failures are seen by whoever uses them; on a refusal (404, 416), nobody does.
  read.catch(() => undefined);
  recorded?.catch(() => undefined);
  return {
    read,
    recorded,
    matches: (entry) => entry.packKey === place.packKey && entry.offset === place.offset && entry.length === place.length,
    release: () => void read.then((opened) => opened.body.destroy(), () => undefined),
  };
}

/**
 * getRecording as one BatchGetItem for every lookup started in the same turn of the event loop
 * (at most 100 keys a request): a burst of first plays served by one execution environment (the
 * local cloud runs one for every invocation at once) costs one request to the table instead of
 * one a play. A lone lookup waits for nothing but the end of its turn. A failed batch fails
 * every lookup in it.
 */
export function coalescedLookups(source: Pick<CatalogueStore, 'getRecordings'>, maxBatch = 100): Pick<CatalogueStore, 'getRecording'> {
  type Waiter = { site: string; rid: string; resolve: (entry: CatalogueEntry | undefined) => void; reject: (error: unknown) => void };
  let waiting: Waiter[] = [];
  const flush = () => {
    const all = waiting;
    waiting = [];
    for (let i = 0; i < all.length; i += maxBatch) {
      const batch = all.slice(i, i + maxBatch);
      source.getRecordings(batch).then(
        (found) => batch.forEach((w) => w.resolve(found.get(recordingLookupKey(w.site, w.rid)))),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      );
    }
  };
  return {
    getRecording: (site, rid) =>
      new Promise((resolve, reject) => {
        if (waiting.length === 0) setImmediate(flush);
        waiting.push({ site, rid, resolve, reject });
      }),
  };
}

/** How long, and how many, catalogue entries a replay execution environment keeps. */
export const REMEMBERED_RECORDINGS = { ttlMs: 30_000, max: 1000 };

/**
 * getRecording with a short memory, for replay: a player fetches one play in many ranged
 * requests, and each would otherwise look the same entry up again before its ranged GET. The
 * entry of a published pack does not change (ingest writes the same values again; a purge
 * removes the pack, and the store then answers 404 for it, cached entry or not). Only found
 * entries are kept, so a recording catalogued a moment ago is never hidden; each is kept
 * `ttlMs` from its lookup, at most `max` of them (the oldest goes first).
 */
export function rememberRecordings(catalogue: Pick<CatalogueStore, 'getRecording'>, clock: Clock, limits = REMEMBERED_RECORDINGS): Pick<CatalogueStore, 'getRecording'> {
  const kept = new Map<string, { entry: CatalogueEntry; until: number }>();
  return {
    async getRecording(site, rid) {
      const key = `${site}/${rid}`;
      const now = clock.now().getTime();
      const hit = kept.get(key);
      if (hit && hit.until > now) return hit.entry;
      kept.delete(key);
      const entry = await catalogue.getRecording(site, rid);
      if (entry) {
        if (kept.size >= limits.max) kept.delete(kept.keys().next().value!);
        kept.set(key, { entry, until: now + limits.ttlMs });
      }
      return entry;
    },
  };
}

// ---- per-site replay URLs ----
// IAM cannot scope a Function URL by path, so each site has its own alias of the replay
// function with its own URL: a role is granted one site's alias, and the handler refuses a
// request, through a site's alias, for another site's recording.

const REPLAY_ALIAS_PREFIX = 'site-';

/** The replay alias of a site (`site-{site}`: a Lambda alias must not be all digits, a site name may be). */
export function replayAliasName(site: string): string {
  return `${REPLAY_ALIAS_PREFIX}${site}`;
}

/** The site a replay invocation is bound to, from the function ARN it was invoked through; undefined when unqualified. */
export function replaySiteOf(invokedFunctionArn: string | undefined): string | undefined {
  const qualifier = invokedFunctionArn?.split(':')[7];
  return qualifier?.startsWith(REPLAY_ALIAS_PREFIX) ? qualifier.slice(REPLAY_ALIAS_PREFIX.length) : undefined;
}

/**
 * The header of replay's refusal of a download to a site's listener role, naming that role: a
 * HEAD (which carries no body) with `download=1` tells `ferry calls link --download` before it
 * mints a link that would be refused when opened.
 */
export const LISTENER_REFUSED_HEADER = 'x-ferry-listener-role';
