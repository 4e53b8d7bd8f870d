import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readPlainXml } from './sidecar-xml.ts';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { callMetadataSchema, plainCallMetadata, type CallMetadata } from './manifest.ts';
import { compileTimeFormat, isTimeZone, type TimeParser } from './time-format.ts';
import { zodProblems } from './zod-problems.ts';
import { deriveTimes, startAfterFile, unsetClock } from './metadata-times.ts';
import { normalise, type Candidate } from './metadata-values.ts';

// Per-recording call metadata, read from a sidecar document (XML or JSON) and/or the file name.
// Pure: the caller reads the files; this module never throws for bad data, it reports issues
// (a recording with poor metadata is still backed up — losing the audio would be worse).

export const METADATA_FIELDS = ['callId', 'start', 'end', 'durationSec', 'agent', 'caller', 'called', 'direction', 'codec'] as const;
export type MetadataField = (typeof METADATA_FIELDS)[number];

/** Where the demo recorder (scripts/demo) puts each field; also the default for real sites. */
export const DEFAULT_SIDECAR_FIELDS: Readonly<Record<MetadataField, string>> = {
  callId: 'Recording.CallId',
  start: 'Recording.StartTime',
  end: 'Recording.EndTime',
  durationSec: 'Recording.Duration',
  agent: 'Recording.Agent',
  caller: 'Recording.Caller',
  called: 'Recording.Called',
  direction: 'Recording.Direction',
  codec: 'Recording.Codec',
};
export const DEFAULT_SIDECAR_EXTENSIONS = ['.xml', '.json'];

// ---------------------------------------------------------------------------------------------
// Configuration: the `metadata:` block of a recordings source.

const timeFormatSchema = z.string().min(1).superRefine((format, ctx) => {
  const compiled = compileTimeFormat(format);
  if (!compiled.ok) ctx.addIssue({ code: z.ZodIssueCode.custom, message: compiled.error });
});

const fieldPathsSchema = z.record(z.string(), z.string()).superRefine((fields, ctx) => {
  for (const [field, path] of Object.entries(fields)) {
    if (!(METADATA_FIELDS as readonly string[]).includes(field)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: `unknown field "${field}"; fields are ${METADATA_FIELDS.join(', ')}` });
    } else if (path.split('.').some((segment) => segment.trim() === '')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: `"${path}" is not a dotted path such as Recording.CallId` });
    }
  }
}) as unknown as z.ZodType<Partial<Record<MetadataField, string>>, z.ZodTypeDef, Partial<Record<MetadataField, string>>>;

const sidecarSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Tried in order: `<recording base name><extension>` (also in upper case). */
    extensions: z.array(z.string().regex(/^\.[^/\\]+$/, 'an extension starts with a dot, e.g. ".xml"')).min(1).default(DEFAULT_SIDECAR_EXTENSIONS),
    /**
     * Field → dotted path in the document (XML attributes as '@_name', array items by index).
     * A map given here replaces the default map as a whole: unmapped fields are not read.
     */
    fields: fieldPathsSchema.default({ ...DEFAULT_SIDECAR_FIELDS }),
    /** How start/end values are written in the sidecar. */
    timeFormat: timeFormatSchema.default('iso'),
    /**
     * In a batch where the recorder writes sidecars, how long (by its file time) a recording
     * without one is held back for its sidecar to come: a recorder that writes it after the
     * audio would otherwise have the call shipped without its metadata, for good.
     */
    waitSeconds: z.number().int().min(0).default(60),
  })
  .strict();

/** Named groups of a pattern, from an always-matching variant of it. */
function groupNames(pattern: string, flags: string): string[] {
  return Object.keys(new RegExp(`(?:${pattern})|`, flags).exec('')?.groups ?? {});
}

const filenameSchema = z
  .object({
    /** JS regex applied to the file name; named groups are field names. */
    pattern: z.string().min(1),
    flags: z.string().regex(/^[imsu]*$/, 'flags are some of i, m, s, u').default(''),
    /** How `start` and `end` groups are written: 'iso', 'epoch' (seconds) or e.g. 'yyyyMMddTHHmmss'. */
    startFormat: timeFormatSchema.default('iso'),
  })
  .strict()
  .superRefine((f, ctx) => {
    let names: string[];
    try {
      new RegExp(f.pattern, f.flags); // for an error message that quotes the pattern as written
      names = groupNames(f.pattern, f.flags);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pattern'], message: `not a valid regular expression: ${(e as Error).message}` });
      return;
    }
    const unknown = names.filter((n) => !(METADATA_FIELDS as readonly string[]).includes(n));
    if (names.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pattern'], message: 'pattern has no named groups; name them after fields, e.g. (?<callId>…)' });
    if (unknown.length > 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pattern'], message: `unknown group name(s) ${unknown.join(', ')}; fields are ${METADATA_FIELDS.join(', ')}` });
    }
  });

export const metadataConfigSchema = z
  .object({
    /** `false` turns sidecars off; absent or empty means the defaults. */
    sidecar: z.preprocess((v) => (v === false ? { enabled: false } : (v ?? {})), sidecarSchema),
    filename: z.preprocess((v) => v ?? undefined, filenameSchema.optional()),
    /** How times without an offset are read; UTC when left out (`agent check` says so on a host in another zone). */
    timezone: z
      .string()
      .optional()
      .refine((tz) => tz === undefined || isTimeZone(tz), (tz) => ({ message: `unknown time zone "${String(tz)}"; use an IANA name such as Europe/London` })),
  })
  .strict()
  .default({});
export type MetadataConfig = z.output<typeof metadataConfigSchema>;
export type MetadataConfigInput = z.input<typeof metadataConfigSchema>;

/** Validates a `metadata:` block; the error lists every problem with its path. */
export function parseMetadataConfig(input: unknown): MetadataConfig {
  const result = metadataConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(zodProblems(result.error, 'metadata', 'metadata.'));
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Sidecar documents.

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Keep every value a string: a caller number "+441632960123" must not become 441632960123.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/** For documents that came with a DOCTYPE: no entity is expanded, not even the predefined ones. */
const plainXmlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, parseAttributeValue: false, trimValues: true, processEntities: false });

/**
 * A sidecar's text: UTF-16 by its byte order mark (or, without one, by a document starting `<`
 * in UTF-16), else the encoding its XML declaration names (`ISO-8859-1`, `windows-1252`: an agent
 * named Hélène), else UTF-8. Bytes that are not UTF-8 where nothing names another encoding are
 * read as windows-1252 (what such recorders write), and said in `issue`.
 */
function decodeText(name: string, bytes: Uint8Array): { text: string; issue?: string } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)) };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)) };
  if (bytes[0] === 0x3c && bytes[1] === 0x00 && bytes[2] !== 0x00) return { text: new TextDecoder('utf-16le').decode(bytes) };
  if (bytes[0] === 0x00 && bytes[1] === 0x3c && bytes[2] === 0x00) return { text: new TextDecoder('utf-16be').decode(bytes) };
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 200));
  const declared = /^(?:\uFEFF|\xEF\xBB\xBF)?\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head)?.[1];
  let decoder: TextDecoder | undefined;
  try {
    decoder = declared === undefined ? undefined : new TextDecoder(declared.toLowerCase());
  } catch {
    decoder = undefined;
  }
  if (decoder && !/^utf-(8|16)/.test(decoder.encoding)) {
    // A recorder upgraded to write UTF-8 that kept its old declaration: read as declared, every
    // accented name would be catalogued garbled (HÃ©lÃ¨ne), and nothing would say so. Text in a
    // one-byte encoding is next to never valid UTF-8 once it holds a byte above 0x7f.
    const utf8 = bytes.some((b) => b > 0x7f) ? strictUtf8(bytes) : undefined;
    if (utf8 === undefined) return { text: decoder.decode(bytes) };
    return { text: utf8, issue: `${name}: sidecar declares encoding "${declared}" but its bytes are UTF-8; read as UTF-8` };
  }
  const text = strictUtf8(bytes);
  if (text !== undefined) return { text, ...(declared !== undefined && !decoder ? { issue: `${name}: sidecar declares encoding "${declared}", which is not known; read as UTF-8` } : {}) };
  const said = declared === undefined ? 'names no encoding' : `declares encoding "${declared}"`;
  return { text: new TextDecoder('windows-1252').decode(bytes), issue: `${name}: sidecar ${said} and is not valid UTF-8; read as windows-1252` };
}

/** The bytes as UTF-8 (a leading byte order mark dropped); undefined when they are not valid UTF-8. */
function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return undefined;
  }
}

function parseDocument(name: string, bytes: Uint8Array): { doc: unknown; issue?: string } | { issue: string } {
  const decoded = decodeText(name, bytes);
  const parsed = parseText(name, decoded.text);
  if (decoded.issue === undefined) return parsed;
  return { ...parsed, issue: parsed.issue === undefined ? decoded.issue : `${decoded.issue}; ${parsed.issue}` };
}

function parseText(name: string, text: string): { doc: unknown; issue?: string } | { issue: string } {
  const ext = name.slice(name.lastIndexOf('.')).toLowerCase();
  const kind = ext === '.json' ? 'JSON' : ext === '.xml' ? 'XML' : /^\s*[[{]/.test(text) ? 'JSON' : 'XML';
  if (kind === 'JSON') {
    try {
      return { doc: JSON.parse(text) as unknown };
    } catch (e) {
      return { issue: `${name}: sidecar is not valid JSON (${(e as Error).message})` };
    }
  }
  // Plain XML (what recorders write) is checked and read in one pass; anything else, and every
  // document that is not well formed, is read the general way below (core/sidecar-xml.ts).
  const plain = readPlainXml(text);
  if (plain) return { doc: plain };
  const valid = XMLValidator.validate(text);
  if (valid !== true) return { issue: `${name}: sidecar is not valid XML (${valid.err.msg} at line ${valid.err.line})` };
  // A DOCTYPE can declare entities, external ones (file://, http://) included. None is ever
  // resolved: the DOCTYPE is cut out and the rest read with entity expansion off, so a hostile
  // sidecar costs its recording some metadata (named as an issue), never its batch.
  const doctype = /<!DOCTYPE(?:[^[>]*\[[\s\S]*?\]\s*>|[^>]*>)/i.exec(text);
  const issue = doctype && /<!ENTITY/i.test(doctype[0]) ? `${name}: sidecar declares entities; they are not resolved` : undefined;
  try {
    const doc = doctype ? plainXmlParser.parse(text.replace(doctype[0], '')) : xmlParser.parse(text);
    return issue ? { doc: doc as unknown, issue } : { doc: doc as unknown };
  } catch (e) {
    return { issue: `${name}: sidecar cannot be read as XML (${(e as Error).message})` };
  }
}

/** A scalar at a dotted path; arrays without an index yield their first item; XML text via '#text'. */
function lookup(doc: unknown, path: string): string | number | boolean | object | undefined {
  let cur: unknown = doc;
  for (const segment of path.split('.')) {
    if (Array.isArray(cur) && !/^\d+$/.test(segment)) cur = cur[0];
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, segment)) return undefined;
    cur = (cur as Record<string, unknown>)[segment];
  }
  if (Array.isArray(cur)) cur = cur[0];
  if (cur !== null && typeof cur === 'object' && Object.hasOwn(cur, '#text')) cur = (cur as Record<string, unknown>)['#text'];
  if (cur === null || cur === undefined || cur === '') return undefined;
  return cur as string | number | boolean | object;
}

// ---------------------------------------------------------------------------------------------
// The extractor.

export interface MetadataInput {
  /** The recording's file name (no directory). */
  fileName: string;
  /** Path relative to the source root, as the recorder wrote it. */
  relativePath: string;
  /** The recording's modification time: the last resort for when the call happened. */
  mtime: Date;
  /** When the agent read the recording: the call's time when the recorder's clock was not set (see EARLIEST_CALL_TIME). */
  readAt?: Date;
  sidecar?: { name: string; bytes: Uint8Array };
}
export interface MetadataResult {
  meta: CallMetadata;
  issues: string[];
}
export interface MetadataExtractor {
  /** The sibling that holds this recording's sidecar, if any (first configured extension wins). */
  sidecarNameFor(fileName: string, siblings: ReadonlySet<string>): string | undefined;
  /** Never throws for bad data: what cannot be read is left out and named in `issues`. */
  extract(input: MetadataInput): MetadataResult;
}

export function createMetadataExtractor(config: MetadataConfigInput = {}): MetadataExtractor {
  const cfg = parseMetadataConfig(config);
  const sidecar = cfg.sidecar.enabled ? cfg.sidecar : undefined;
  const sidecarTime = compileParser(cfg.sidecar.timeFormat);
  const filename = cfg.filename && { re: new RegExp(cfg.filename.pattern, cfg.filename.flags), parseTime: compileParser(cfg.filename.startFormat) };
  const timeZone = cfg.timezone ?? 'UTC';

  function sidecarNameFor(fileName: string, siblings: ReadonlySet<string>): string | undefined {
    if (!sidecar) return undefined;
    const dot = fileName.lastIndexOf('.');
    const base = dot > 0 ? fileName.slice(0, dot) : fileName;
    for (const ext of sidecar.extensions) {
      for (const name of [base + ext, base + ext.toUpperCase(), base + ext.toLowerCase()]) {
        if (name !== fileName && siblings.has(name)) return name;
      }
    }
    return undefined;
  }

  function extract(input: MetadataInput): MetadataResult {
    try {
      return extractOrThrow(input);
    } catch (error) {
      // Metadata problems stay with their recording: it ships, with the problem named.
      return { meta: {}, issues: [`${input.sidecar?.name ?? input.fileName}: metadata could not be read (${(error as Error).message})`] };
    }
  }

  function extractOrThrow(input: MetadataInput): MetadataResult {
    const issues: string[] = [];
    const candidates = new Map<MetadataField, Candidate[]>();
    const expected = new Set<MetadataField>();
    const add = (field: MetadataField, c: Candidate) => candidates.set(field, [...(candidates.get(field) ?? []), c]);

    if (sidecar && input.sidecar) readSidecar(input.sidecar, sidecar.fields, sidecarTime, { add, expected, issues });
    if (filename) {
      const groups = filename.re.exec(input.fileName)?.groups;
      if (!groups) issues.push(`${input.fileName}: file name does not match the configured pattern`);
      for (const [name, value] of Object.entries(groups ?? {})) {
        if (value !== undefined && value !== '') add(name as MetadataField, { value, origin: input.fileName, parseTime: filename.parseTime });
      }
    }
    if (sidecar && !input.sidecar && !filename) issues.push(`${input.fileName}: no sidecar (${sidecar.extensions.join(', ')})`);

    const meta: Record<string, string | number> = {};
    const failed = new Set<MetadataField>();
    for (const field of METADATA_FIELDS) {
      for (const c of candidates.get(field) ?? []) {
        const r = normalise(field, c, timeZone, input.mtime.getTime(), issues);
        if (r.ok) {
          meta[field] = r.value;
          break;
        }
        if (r.issue) {
          issues.push(r.issue);
          failed.add(field);
        }
      }
    }
    deriveTimes(meta, input, issues, timeZone);
    startAfterFile(meta, input, timeZone, issues);
    unsetClock(meta, input, issues);
    for (const field of expected) {
      // A codec the recorder does not write is no doubt about the call: only the fields a call is found and judged by count.
      if (field === 'codec') continue;
      if (meta[field] === undefined && !failed.has(field)) issues.push(`${input.sidecar?.name ?? input.fileName}: ${field} is missing`);
    }
    return { meta: validated(meta, input.fileName, issues), issues };
  }

  return { sidecarNameFor, extract };
}

function compileParser(format: string): TimeParser {
  const compiled = compileTimeFormat(format);
  if (!compiled.ok) throw new ConfigError([compiled.error]);
  return compiled.parse;
}

function readSidecar(
  file: { name: string; bytes: Uint8Array },
  fields: Partial<Record<MetadataField, string>>,
  parseTime: TimeParser,
  out: { add(field: MetadataField, c: Candidate): void; expected: Set<MetadataField>; issues: string[] },
): void {
  const parsed = parseDocument(file.name, file.bytes);
  if (parsed.issue !== undefined) out.issues.push(parsed.issue);
  if (!('doc' in parsed)) return;
  let found = 0;
  for (const [field, path] of Object.entries(fields) as [MetadataField, string][]) {
    out.expected.add(field);
    const value = lookup(parsed.doc, path);
    if (value === undefined) continue;
    found++;
    if (typeof value === 'object') out.issues.push(`${file.name}: ${field} at ${path} is not a single value`);
    else out.add(field, { value, origin: file.name, parseTime });
  }
  // None of the paths is there: the recorder writes another document than the one configured (an upgrade renamed its elements).
  if (found === 0 && Object.keys(fields).length > 0) {
    const held = documentPaths(parsed.doc);
    out.issues.push(`${file.name}: ${SIDECAR_FIELDS_UNMATCHED} (metadata.sidecar.fields: ${Object.values(fields).join(', ')}); it holds ${held.length > 0 ? held.join(', ') : 'no value'}`);
  }
}

/** The issue of a sidecar in which none of the configured field paths is found. */
export const SIDECAR_FIELDS_UNMATCHED = 'none of the configured fields is in the sidecar';

/** The dotted paths of a document's first values (as `fields` names them), for the administrator to map. */
function documentPaths(doc: unknown, limit = 12): string[] {
  const out: string[] = [];
  const visit = (node: unknown, path: string, depth: number): void => {
    if (out.length >= limit || depth > 8) return;
    if (Array.isArray(node)) return visit(node[0], path, depth + 1);
    if (node === null || typeof node !== 'object') {
      if (path !== '' && node !== undefined && node !== '') out.push(path);
      return;
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === '?xml') continue;
      visit(value, key === '#text' ? path : path === '' ? key : `${path}.${key}`, depth + 1);
    }
  };
  visit(doc, '', 0);
  return out;
}

/** A last guard: whatever the manifest schema would reject is dropped and reported. */
function validated(meta: Record<string, string | number>, fileName: string, issues: string[]): CallMetadata {
  const plain = plainCallMetadata(meta);
  if (plain) return plain;
  const result = callMetadataSchema.safeParse(meta);
  if (result.success) return result.data;
  const rest = { ...meta };
  for (const issue of result.error.issues) {
    const field = String(issue.path[0]);
    delete rest[field];
    issues.push(`${fileName}: ${field} ${JSON.stringify(meta[field])} dropped (${issue.message})`);
  }
  return callMetadataSchema.parse(rest);
}
