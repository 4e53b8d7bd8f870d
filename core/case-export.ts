import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { ArchivedError, ErasedError, IntegrityError, InvalidInputError, NotFoundError } from './errors.ts';
import type { BlobStore, CatalogueEntry, CatalogueStore } from './ports.ts';
import type { ShippedBy } from './manifest.ts';
import { recordingName } from './replay.ts';
import { SHA256SUMS, sha256sums } from './sha256sums.ts';
import { README, bundleReadme } from './case-readme.ts';
import { BLOCK, endOfArchive, fileHeaders, padding } from './tar.ts';

// Case export: chosen recordings → one POSIX tar bundle (opens with `tar -xf`, 7-Zip, any
// archive tool) holding each recording under its real name, its catalogue record, a custody
// report and a manifest (JSON and CSV) of every file's SHA-256. The bundle is written as a
// stream: each recording is one ranged read of its pack piped into the tar with backpressure,
// hashed on the way and checked against the catalogue's SHA-256, so memory stays bounded by
// the stream buffers whatever the case's size. `verifyBundle` re-checks it offline.
//
//   {root}/recordings/{rid}_{name}   the recording's bytes, exactly as the recorder wrote them
//   {root}/metadata/{rid}.json       its catalogue record (call metadata, pack, offset, SHA-256)
//   {root}/custody.json              who asked, when, why, which case; each source pack and version
//   {root}/README.txt                what the bundle holds and how to check it without Ferry
//   {root}/manifest.json|.csv        path, bytes and SHA-256 of every other file
//   {root}/SHA256SUMS                every file above (the manifests too) as `sha256sum -c` reads it

export const BUNDLE_FORMAT = 'ferry.case-export/1';
export const MAX_EXPORT_RECORDINGS = 5000;

export interface ExportRequest {
  site: string;
  rids: string[];
  caseId?: string;
  /** Calls of the case no longer in the archive (no catalogue entry): named in the custody report, not exported. */
  missing?: string[];
  /** Calls of the case erased at a data subject's request: named in the custody report, not exported. */
  erased?: string[];
  reason: string;
  /** Who asked (ARN or user name), as the audit trail names them. */
  principal: string;
  at: Date;
}

export interface ExportDeps {
  catalogue: Pick<CatalogueStore, 'getRecording'>;
  blobs: Pick<BlobStore, 'get'>;
}

export interface BundleFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface CustodyRecording {
  rid: string;
  file: string;
  bytes: number;
  sha256: string;
  start: string;
  originalPath: string;
  pack: { key: string; versionId?: string; etag?: string; offset: number; length: number; manifestKey: string };
  /** The recorder host (and agent id) whose agent shipped it, from its pack's manifest; null when not recorded (shipped before 2026-12-07). */
  shippedBy: ShippedBy | null;
}

export interface CustodyReport {
  format: typeof BUNDLE_FORMAT;
  exportedAt: string;
  requestedBy: string;
  site: string;
  case?: string;
  reason: string;
  recordings: CustodyRecording[];
  /** Calls of the case that were not exported because the archive no longer holds them. */
  missing?: { rid: string; reason: string }[];
}

/** Why a case's call is missing from its bundle. */
export const MISSING_FROM_ARCHIVE = 'not in the archive: no catalogue entry (deleted by the retention purge: `ferry audit search --action purge` names when; or never catalogued)';

/** Why a case's erased call is not in its bundle. */
export const ERASED_AT_REQUEST = "erased at a data subject's request (`ferry erasures list` names who asked and when): left out of every export";

/**
 * A case's calls split into those the archive holds, those it no longer does (the retention
 * purge deleted them) and those erased at a data subject's request (the readers' catalogue
 * refuses them: core/erasures.ts): an old case exports what is left, naming the rest, instead of
 * failing on the first call that is gone.
 */
export async function caseCallsPresent(catalogue: Pick<CatalogueStore, 'getRecording'>, site: string, members: readonly string[]): Promise<{ present: string[]; missing: string[]; erased: string[] }> {
  const present: string[] = [];
  const missing: string[] = [];
  const erased: string[] = [];
  for (const rid of members) {
    const found = await catalogue.getRecording(site, rid).catch((error: unknown) => {
      if (error instanceof ErasedError) return 'erased' as const;
      throw error;
    });
    (found === 'erased' ? erased : found ? present : missing).push(rid);
  }
  return { present, missing, erased };
}

export interface ExportSummary {
  root: string;
  files: BundleFile[];
  custody: CustodyReport;
  /** Bytes of the whole bundle written to the stream. */
  bytes: number;
}

/** Checks the request; every problem is named. */
export function checkExportRequest(request: ExportRequest): void {
  const problems: string[] = [];
  if (request.rids.length === 0) problems.push('rids: at least one recording (or a case with members) is required');
  if (request.rids.length > MAX_EXPORT_RECORDINGS) problems.push(`rids: at most ${MAX_EXPORT_RECORDINGS} recordings per bundle, got ${request.rids.length}`);
  const dupes = request.rids.filter((r, i) => request.rids.indexOf(r) !== i);
  if (dupes.length > 0) problems.push(`rids: ${dupes[0]} is listed twice`);
  if (request.reason.trim().length < 3) problems.push('reason: a reason (at least 3 characters) is required');
  if (request.caseId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(request.caseId)) problems.push('case: 1-64 letters, digits, dots, dashes or underscores');
  // Each problem starts with its field: the first is the one an HTTP answer's `issues` names.
  if (problems.length > 0) throw new InvalidInputError(problems.join('; '), { field: problems[0]!.slice(0, problems[0]!.indexOf(':')) });
}

/**
 * The bundle's top directory: `case-{site}-{id}-{stamp}` or `export-{site}-{stamp}` (UTC, to the
 * second). The site is in both: a matter spans sites with one case each, often under the same id,
 * and counsel extracts their bundles side by side.
 */
export function bundleRoot(request: Pick<ExportRequest, 'caseId' | 'at' | 'site'>): string {
  const stamp = request.at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return request.caseId ? `case-${request.site}-${request.caseId}-${stamp}` : `export-${request.site}-${stamp}`;
}

class TarSink {
  bytes = 0;
  constructor(private readonly out: Writable) {}
  async write(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.length;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
  async file(path: string, body: Buffer, mtime: Date): Promise<BundleFile> {
    await this.write(fileHeaders(path, body.length, mtime));
    await this.write(body);
    await this.write(Buffer.alloc(padding(body.length)));
    return { path, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  }
}

function fileNameOf(entry: CatalogueEntry): string {
  // The rid first keeps two calls with the same name apart; the name is the recorder's, made safe
  // for a path on every system the bundle is opened on: a character Windows refuses in a name
  // (< > : " / \\ | ? *) becomes `_`, and so does a trailing dot or space (Windows drops it), so
  // 7-Zip or Explorer extracts each file under the very name SHA256SUMS and the manifest give.
  const name = (recordingName(entry) ?? 'recording').replace(/[<>:"/\\|?*]/g, '_').replace(/[. ]+$/, (tail) => '_'.repeat(tail.length));
  return `${entry.rid}_${name}`;
}

async function streamRecording(deps: ExportDeps, sink: TarSink, entry: CatalogueEntry, path: string, mtime: Date): Promise<{ file: BundleFile; versionId?: string; etag?: string }> {
  await sink.write(fileHeaders(path, entry.length, mtime));
  const hash = createHash('sha256');
  let versionId: string | undefined;
  let etag: string | undefined;
  let got = 0;
  if (entry.length > 0) {
    const blob = await deps.blobs.get(entry.packKey, { start: entry.offset, end: entry.offset + entry.length - 1 }).catch((error: unknown) => {
      // Named as the call the officer exports, with what to do: recall it, then export again.
      if (error instanceof ArchivedError) throw new ArchivedError(`call ${entry.meta.callId ?? entry.rid} (${entry.site}/${entry.rid}) is in the archive tier (${error.storageClass}): recall it (\`ferry calls recall ${entry.site}/${entry.rid}\`, or Request recall in the console), then export again once it is playable; nothing was exported`, error.storageClass, { cause: error });
      throw error;
    });
    versionId = blob.versionId;
    etag = blob.etag;
    for await (const chunk of blob.body as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got > entry.length) break;
      hash.update(chunk);
      await sink.write(chunk);
    }
  }
  const sha256 = hash.digest('hex');
  if (got !== entry.length) throw new IntegrityError(`recording ${entry.rid}: pack ${entry.packKey} gave ${got} bytes, the catalogue says ${entry.length}; the bundle is incomplete`);
  if (sha256 !== entry.sha256) throw new IntegrityError(`recording ${entry.rid}: SHA-256 ${sha256} read from pack ${entry.packKey} is not the catalogue's ${entry.sha256}; the bundle is not valid`);
  await sink.write(Buffer.alloc(padding(entry.length)));
  return { file: { path, bytes: entry.length, sha256 }, versionId, etag };
}

/**
 * Writes the bundle to `out` (not ended: the caller closes it, and publishes it only when this
 * resolves). Every recording is looked up first, so an unknown rid fails before a byte is written.
 */
export async function writeCaseBundle(deps: ExportDeps, request: ExportRequest, out: Writable): Promise<ExportSummary> {
  checkExportRequest(request);
  const entries: CatalogueEntry[] = [];
  for (const rid of request.rids) {
    const entry = await deps.catalogue.getRecording(request.site, rid);
    if (!entry) throw new NotFoundError(`rids: no recording ${rid} in site ${request.site}`);
    entries.push(entry);
  }
  const root = bundleRoot(request);
  const sink = new TarSink(out);
  const files: BundleFile[] = [];
  const custody: CustodyReport = {
    format: BUNDLE_FORMAT,
    exportedAt: request.at.toISOString(),
    requestedBy: request.principal,
    site: request.site,
    ...(request.caseId ? { case: request.caseId } : {}),
    reason: request.reason,
    recordings: [],
    ...(request.missing?.length || request.erased?.length ? { missing: [...(request.missing ?? []).map((rid) => ({ rid, reason: MISSING_FROM_ARCHIVE })), ...(request.erased ?? []).map((rid) => ({ rid, reason: ERASED_AT_REQUEST }))] } : {}),
  };
  for (const entry of entries) {
    const file = `recordings/${fileNameOf(entry)}`;
    const streamed = await streamRecording(deps, sink, entry, `${root}/${file}`, request.at);
    files.push({ ...streamed.file, path: file });
    files.push({ ...(await sink.file(`${root}/metadata/${entry.rid}.json`, Buffer.from(`${JSON.stringify(entry, null, 2)}\n`), request.at)), path: `metadata/${entry.rid}.json` });
    custody.recordings.push({
      rid: entry.rid,
      file,
      bytes: entry.length,
      sha256: streamed.file.sha256,
      start: entry.start,
      originalPath: entry.path,
      pack: { key: entry.packKey, ...(streamed.versionId ? { versionId: streamed.versionId } : {}), ...(streamed.etag ? { etag: streamed.etag } : {}), offset: entry.offset, length: entry.length, manifestKey: entry.manifestKey },
      shippedBy: entry.shippedBy ?? null,
    });
  }
  files.push({ ...(await sink.file(`${root}/custody.json`, Buffer.from(`${JSON.stringify(custody, null, 2)}\n`), request.at)), path: 'custody.json' });
  // For whoever is handed the bundle without Ferry (counsel, a regulator): what it holds and how to check it.
  files.push({ ...(await sink.file(`${root}/${README}`, Buffer.from(bundleReadme(request, root, custody.recordings)), request.at)), path: README });
  // `checksums` names the SHA256SUMS file, so a verifier knows one was written and misses it if it goes.
  const manifest = { format: BUNDLE_FORMAT, root, files, checksums: SHA256SUMS };
  const json = await sink.file(`${root}/manifest.json`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), request.at);
  const csv = await sink.file(`${root}/manifest.csv`, Buffer.from(manifestCsv(files)), request.at);
  await sink.file(`${root}/${SHA256SUMS}`, Buffer.from(bundleSums(files, json.sha256, csv.sha256)), request.at);
  await sink.write(endOfArchive());
  return { root, files, custody, bytes: sink.bytes };
}

/** SHA256SUMS of the bundle: every file it hands over, the manifests included, paths relative to its top directory. */
function bundleSums(files: readonly BundleFile[], manifestJson: string, manifestCsvSha: string): string {
  return sha256sums([...files, { path: 'manifest.json', sha256: manifestJson }, { path: 'manifest.csv', sha256: manifestCsvSha }]);
}

function manifestCsv(files: BundleFile[]): string {
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return `${['path,bytes,sha256', ...files.map((f) => `${quote(f.path)},${f.bytes},${f.sha256}`)].join('\r\n')}\r\n`;
}

// ---- offline verification ----

/** Positional reads of the bundle (a file handle, a buffer): `read(position, length)`. */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

export interface BundleVerdict {
  ok: boolean;
  root?: string;
  checked: number;
  /** Each problem names the file concerned first. */
  problems: { path: string; problem: string }[];
}

interface TarMember {
  path: string;
  size: number;
  offset: number;
}

function octalField(h: Buffer, start: number, width: number): number {
  const text = h.subarray(start, start + width).toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/** The regular files of a tar (ustar with pax `path`/`size`), by positional reads. */
async function* tarMembers(read: ReadAt, size: number): AsyncGenerator<TarMember> {
  let pos = 0;
  let pax: Record<string, string> = {};
  while (pos + BLOCK <= size) {
    const h = await read(pos, BLOCK);
    if (h.every((b) => b === 0)) return;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== octalField(h, 148, 8)) throw new IntegrityError(`bundle: the tar header at byte ${pos} is corrupt (checksum)`);
    const type = String.fromCharCode(h[156]!);
    const headerSize = octalField(h, 124, 12);
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const body = pos + BLOCK;
    if (type === 'x') {
      pax = parsePax(await read(body, headerSize));
    } else {
      const memberSize = pax.size !== undefined ? Number(pax.size) : headerSize;
      if (type === '0' || type === '\0') yield { path: pax.path ?? name, size: memberSize, offset: body };
      pax = {};
      pos = body + memberSize + padding(memberSize);
      continue;
    }
    pos = body + headerSize + padding(headerSize);
  }
}

async function hashAt(read: ReadAt, offset: number, size: number): Promise<string> {
  const hash = createHash('sha256');
  const CHUNK = 1 << 20;
  for (let at = 0; at < size; at += CHUNK) hash.update(await read(offset + at, Math.min(CHUNK, size - at)));
  return hash.digest('hex');
}

/**
 * SHA256SUMS must list every file with the hash the bundle holds for it. A bundle made before
 * Ferry wrote one (its manifest names no `checksums`) is checked without it.
 */
async function sumsProblems(read: ReadAt, found: Map<string, { bytes: number; sha256: string; offset: number }>, files: BundleFile[], checksums: string | undefined): Promise<BundleVerdict['problems']> {
  const at = found.get(SHA256SUMS);
  if (!at) return checksums === SHA256SUMS ? [{ path: SHA256SUMS, problem: 'is missing, though manifest.json names it' }] : [];
  const expected = bundleSums(files, found.get('manifest.json')?.sha256 ?? '', found.get('manifest.csv')?.sha256 ?? '');
  if ((await read(at.offset, at.bytes)).toString('utf8') === expected) return [];
  return [{ path: SHA256SUMS, problem: 'does not list the files and hashes the manifest and the bundle hold: the file was altered' }];
}

/**
 * Re-checks a bundle with nothing but itself: every file the manifest lists is present with
 * its size and SHA-256, no file is there that it does not list, the CSV says the same as the
 * JSON, SHA256SUMS lists every file with its hash, and the custody report's hashes are the recordings'. Problems name the file.
 */
export async function verifyBundle(read: ReadAt, size: number): Promise<BundleVerdict> {
  const found = new Map<string, { bytes: number; sha256: string; offset: number }>();
  const problems: BundleVerdict['problems'] = [];
  let root: string | undefined;
  for await (const m of tarMembers(read, size)) {
    const slash = m.path.indexOf('/');
    root ??= m.path.slice(0, slash);
    // A file beside the top directory, or one a tool would write outside the folder it extracts
    // to, is named by its whole path (its name alone would send the reader to the wrong file).
    if (m.path.startsWith('/') || m.path.split('/').includes('..')) {
      problems.push({ path: m.path, problem: 'is a path outside the folder the bundle is extracted to: not a file of the bundle' });
      continue;
    }
    if (slash <= 0 || m.path.slice(0, slash) !== root) {
      problems.push({ path: m.path, problem: `is outside the bundle's top directory ${root}/ and not in the manifest` });
      continue;
    }
    found.set(m.path.slice(slash + 1), { bytes: m.size, sha256: await hashAt(read, m.offset, m.size), offset: m.offset });
  }
  const manifestAt = found.get('manifest.json');
  if (!manifestAt) return { ok: false, root, checked: 0, problems: [{ path: 'manifest.json', problem: 'is missing: this is not a Ferry case bundle, or it was cut short' }] };
  let manifest: { format?: string; files?: BundleFile[]; checksums?: string };
  try {
    manifest = JSON.parse((await read(manifestAt.offset, manifestAt.bytes)).toString('utf8')) as typeof manifest;
  } catch {
    return { ok: false, root, checked: 0, problems: [{ path: 'manifest.json', problem: 'is not JSON' }] };
  }
  if (manifest.format !== BUNDLE_FORMAT || !Array.isArray(manifest.files)) return { ok: false, root, checked: 0, problems: [{ path: 'manifest.json', problem: `is not a ${BUNDLE_FORMAT} manifest` }] };
  for (const f of manifest.files) {
    const got = found.get(f.path);
    if (!got) problems.push({ path: f.path, problem: 'is listed in the manifest but missing from the bundle' });
    else if (got.bytes !== f.bytes || got.sha256 !== f.sha256) problems.push({ path: f.path, problem: `SHA-256 ${got.sha256} (${got.bytes} bytes) is not the manifest's ${f.sha256} (${f.bytes} bytes): the file was altered` });
  }
  const listed = new Set([...manifest.files.map((f) => f.path), 'manifest.json', 'manifest.csv', SHA256SUMS]);
  for (const path of found.keys()) if (!listed.has(path)) problems.push({ path, problem: 'is in the bundle but not in the manifest' });
  const csvAt = found.get('manifest.csv');
  if (!csvAt) problems.push({ path: 'manifest.csv', problem: 'is missing' });
  else if ((await read(csvAt.offset, csvAt.bytes)).toString('utf8') !== manifestCsv(manifest.files)) problems.push({ path: 'manifest.csv', problem: 'does not say what manifest.json says' });
  problems.push(...(await sumsProblems(read, found, manifest.files, manifest.checksums)));
  const custodyAt = found.get('custody.json');
  if (custodyAt && problems.length === 0) {
    const custody = JSON.parse((await read(custodyAt.offset, custodyAt.bytes)).toString('utf8')) as CustodyReport;
    for (const r of custody.recordings ?? []) {
      if (found.get(r.file)?.sha256 !== r.sha256) problems.push({ path: r.file, problem: `custody.json records SHA-256 ${r.sha256} for it, the bundle holds other bytes` });
    }
  }
  return { ok: problems.length === 0, root, checked: manifest.files.length, problems };
}
