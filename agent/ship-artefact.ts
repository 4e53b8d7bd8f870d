import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../core/ports.ts';
import type { Clock } from '../core/clock.ts';
import { ARTEFACT_FORMAT, artefactId as makeArtefactId, parseArtefactManifest, serializeArtefactManifest, type ArtefactManifest } from '../core/artefact.ts';
import { artefactKey, artefactManifestKey, type ArtefactSourceType } from '../core/layout.ts';
import { IntegrityError, SourceChangedError, UnreadableSourceError, messageOf } from '../core/errors.ts';
import type { Journal, FileStamp } from './journal.ts';
import { UploadProgress, readUploadProgress } from './upload-progress.ts';
import { StreamUploader, type StreamUploaderOptions, type UploadResult } from './stream-uploader.ts';
import { discardUpload, openResume, resumeLost, type ResumeFacts } from './upload-resume.ts';
import { keepOrAbort } from './upload-keep.ts';
import { maxPartsOf, partsWithin } from './part-size.ts';
import { accessDenied } from './store-refusal.ts';
import type { Logger } from './log.ts';
import { verifyObject, type VerifyMode } from './verify.ts';
import { readAll } from './recover.ts';
import { openReadOnly, assertUnchanged, publishManifest, type ShipContext } from './ship-batch.ts';
import { BinlogEventReader, type BinlogSummary } from './binlog-events.ts';
import { DumpPositionSniffer, type DumpVerdict, type Incomplete } from './dump-position.ts';

// Ships one artefact — a full backup, a log segment (or a partial of the active one), a closed
// archive — as one object, byte for byte, then its manifest, the commit record, last; both are
// verified after publishing. The object key holds the artefact id, which holds the content hash,
// so the file is read twice: once to hash it (and read binlog events / dump coordinates), once
// to upload it, the second hash compared before the object is committed. An object never
// replaces another version: an overwritten slot is new content, hence a new key.

export interface ArtefactContext extends Pick<ShipContext, 'shippedBy'> {
  site: string;
  store: BlobStore;
  journal: Journal;
  clock: Clock;
  verify: VerifyMode;
  partSize: number;
  partConcurrency: number;
  pool?: ShipContext['pool'];
  openFile?: ShipContext['openFile'];
  /** Where a resumed upload is said (agent/upload-resume.ts). `shippedBy`: who ships (agent/shipped-by.ts), named in every manifest. */
  log?: Logger;
}

export interface Span {
  from: Date;
  to: Date;
}

export interface ArtefactWork {
  sourceType: ArtefactSourceType;
  source: string;
  /** Directory the file is in. */
  root: string;
  stamp: FileStamp;
  role: ArtefactManifest['role'];
  profile?: string;
  slot?: string;
  /** A prefix snapshot of a growing file (the active binlog segment). */
  partial?: boolean;
  sequence?: number;
  series?: string;
  /** Span known without reading (archive names, file times). */
  span?: Span;
  spanSource?: 'name' | 'file-times';
  /** Read the span from binlog event headers; `fallback` when they cannot be read. */
  binlog?: { fallback: Span };
  /**
   * The object's and its manifest's own Object Lock (a binlog partial: binlogs.partialLockDays in
   * the bucket's mode) instead of the bucket's default, which would keep every whole-prefix copy
   * of the active segment for the full lock (docs/operations.md, Binlog partials).
   */
  lock?: { days: number; mode: 'GOVERNANCE' | 'COMPLIANCE' };
  /** Look for the binlog coordinates a SQL dump records (and the file's format, file-format.ts). */
  sniffPosition?: boolean;
  /** The format the source's last full shipped in: a version that shows no format Ferry knows (or a dump's plain text) is held back. */
  expectFormat?: { format: string; name: string; at: string };
}

export type ArtefactOutcome =
  | {
      status: 'published';
      artefactId: string;
      key: string;
      manifestKey: string;
      size: number;
      manifest: ArtefactManifest;
      binlog?: BinlogSummary;
      /** The store refused the work's own short lock: published under the bucket's default lock. */
      lockRefused?: true;
    }
  | { status: 'unchanged'; artefactId: string };

interface FirstPass {
  sha256: string;
  binlog?: BinlogSummary;
  position?: { logFile: string; logPos: number };
  format?: string;
}

const READ_CHUNK = 1024 * 1024;

/** A text dump that does not end as its tool ends a whole dump (dump-position.ts): never shipped as a full. */
export class IncompleteDumpError extends UnreadableSourceError {
  override readonly name = 'IncompleteDumpError';
}

/**
 * A backup whose first bytes no longer show the format the source's earlier fulls had (a dump
 * become random bytes): overwritten by ransomware, a disk error or a job that wrote garbage.
 * Never shipped as a full, so that retention cannot count it as one and delete the good ones.
 */
export class FormatChangedError extends UnreadableSourceError {
  override readonly name = 'FormatChangedError';
}

export async function shipArtefact(ctx: ArtefactContext, work: ArtefactWork): Promise<ArtefactOutcome> {
  const { stamp } = work;
  const partial = work.partial ?? false;
  const path = join(work.root, stamp.name);
  const file = await openReadOnly(ctx, path);
  try {
    await checkOpened(file, stamp, partial, path);
    const first = await readPass(file, work, path);
    const known = ctx.journal.artefacts.withContent(work.source, stamp.name, first.sha256, partial);
    if (known) {
      await ctx.journal.artefactKnown({ ...known, size: stamp.size, mtimeMs: stamp.mtimeMs });
      return { status: 'unchanged', artefactId: known.artefactId };
    }
    const { span, spanSource, takenAt } = describe(work, first);
    const id = makeArtefactId(ctx.site, work.source, stamp.name, first.sha256, partial);
    const key = artefactKey(ctx.site, work.sourceType, work.source, id, stamp.name, takenAt, partial);
    const manifestKey = artefactManifestKey(ctx.site, work.sourceType, work.source, id, partial);
    let lock = lockOf(ctx, work);
    let lockRefused = false;
    const begin = { artefactId: id, source: work.source, name: stamp.name, size: stamp.size, mtimeMs: stamp.mtimeMs, sha256: first.sha256, manifestKey, partial };
    // What the journal keeps of the content read now: the next version of a rotated backup is checked against its format.
    const read = { ...(work.sequence === undefined ? {} : { sequence: work.sequence }), ...(first.position ? { positioned: true as const } : {}), ...(first.format ? { format: first.format } : {}) };
    const earlier = await committedEarlier(ctx, manifestKey, begin);
    if (earlier) {
      await ctx.journal.artefactBegin({ ...begin, key: earlier.key, ...read });
      await ctx.journal.artefactPublished(id, earlier.createdAt);
      return { status: 'unchanged', artefactId: id };
    }
    await ctx.journal.artefactBegin({ ...begin, key, ...read });
    try {
      const parts = await putData(ctx, file, work, { path, key, id, sha256: first.sha256, lock }).catch(async (error: unknown) => {
        // A deployment that does not (yet) let this agent set its own short lock refuses the
        // write: an agent upgraded before the stack, or partialLockDays set higher here than
        // there. The partial goes out under the bucket's default lock instead (it costs more,
        // it loses nothing) and the runner says so; nothing was written under the key.
        if (!lock || !accessDenied(error)) throw error;
        lock = undefined;
        lockRefused = true;
        return putData(ctx, file, work, { path, key, id, sha256: first.sha256 });
      });
      const manifest: ArtefactManifest = {
        format: ARTEFACT_FORMAT,
        kind: 'artefact',
        site: ctx.site,
        source: work.source,
        sourceType: work.sourceType,
        role: work.role,
        artefactId: id,
        key,
        name: stamp.name,
        size: stamp.size,
        sha256: first.sha256,
        parts,
        mtime: new Date(stamp.mtimeMs).toISOString(),
        takenAt: takenAt.toISOString(),
        ...(span ? { span: { from: span.from.toISOString(), to: span.to.toISOString() }, spanSource } : {}),
        ...(work.sequence === undefined ? {} : { sequence: work.sequence }),
        ...(work.series === undefined ? {} : { series: work.series }),
        ...(work.role === 'segment' ? { partial } : {}),
        ...(first.position ? { position: first.position } : {}),
        ...(work.profile === undefined ? {} : { profile: work.profile }),
        ...(work.slot === undefined ? {} : { slot: work.slot }), ...(ctx.shippedBy ? { shippedBy: ctx.shippedBy } : {}),
        createdAt: ctx.clock.now().toISOString(),
      };
      await publishManifest(ctx, manifestKey, serializeArtefactManifest(manifest), lock);
      await ctx.journal.artefactPublished(id, ctx.clock.now().toISOString());
      return { status: 'published', artefactId: id, key, manifestKey, size: stamp.size, manifest, ...(first.binlog ? { binlog: first.binlog } : {}), ...(lockRefused ? { lockRefused } : {}) };
    } catch (error) {
      await ctx.journal.artefactAbandoned(id, messageOf(error));
      throw error;
    }
  } finally {
    await file.close();
  }
}

async function checkOpened(file: FileHandle, stamp: FileStamp, partial: boolean, path: string): Promise<void> {
  const st = await file.stat();
  if (partial ? st.size < stamp.size : st.size !== stamp.size || Math.trunc(st.mtimeMs) !== stamp.mtimeMs) {
    throw new SourceChangedError(`${path} changed since it was scanned (${stamp.size} → ${st.size} bytes)`, path);
  }
}

/** Hashes the first `stamp.size` bytes, reading binlog events or dump coordinates on the way. */
async function readPass(file: FileHandle, work: ArtefactWork, path: string): Promise<FirstPass> {
  const sniffer = work.sniffPosition ? new DumpPositionSniffer() : undefined;
  try {
    return await hashAndSniff(file, work, path, sniffer);
  } finally {
    sniffer?.abandon();
  }
}

async function hashAndSniff(file: FileHandle, work: ArtefactWork, path: string, sniffer: DumpPositionSniffer | undefined): Promise<FirstPass> {
  const hash = createHash('sha256');
  const events = work.binlog ? new BinlogEventReader() : undefined;
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  const size = work.stamp.size;
  let position = 0;
  while (position < size) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) throw new SourceChangedError(`${path} shrank while it was read (${position} of ${size} bytes)`, path);
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    events?.push(chunk);
    await sniffer?.push(chunk);
    position += bytesRead;
  }
  if (!work.partial) {
    const { bytesRead } = await file.read(Buffer.allocUnsafe(1), 0, 1, size);
    if (bytesRead !== 0) throw new SourceChangedError(`${path} grew while it was read (more than ${size} bytes)`, path);
  }
  const verdict: DumpVerdict = sniffer ? await sniffer.finish() : {};
  const cut = work.partial ? undefined : verdict.incomplete;
  if (cut) throw new IncompleteDumpError(`${path} is not whole: ${whyNotWhole(cut)}. Not shipped: it is still being written (a pause longer than stableSeconds) or was cut short; it ships once it is whole`, path);
  const changed = work.expectFormat && formatLost(work.expectFormat.format, verdict.format);
  if (changed) throw new FormatChangedError(`${path} ${changed}, as ${work.expectFormat!.name} (shipped ${work.expectFormat!.at}) was. Not shipped: a backup overwritten by ransomware, a disk error or a failed job looks like this, and shipped as the newest full it would let retention delete the good ones. Look at the file; if the backup's format changed on purpose, set formatCheck: false on source ${work.source} for one pass`, path);
  return { sha256: hash.digest('hex'), ...(events ? { binlog: events.finish() } : {}), ...(verdict.position ? { position: verdict.position } : {}), ...(verdict.format ? { format: verdict.format } : {}) };
}

/**
 * Why a version is not in its earlier versions' format: it shows none Ferry knows, or it became
 * plain text (a ransom note, a job's error message) where they were a dump, a container, XML.
 */
function formatLost(expected: string, found: string | undefined): string | undefined {
  if (found === undefined) return `shows no known format (its first bytes are not ${shownFormat(expected)})`;
  if (expected.startsWith('dump:') && !found.startsWith('dump:') && found !== 'gzip') return `is ${shownFormat(found)}, not ${shownFormat(expected)}`;
  if (found === 'text' && expected !== 'text') return `is ${shownFormat(found)}, not ${shownFormat(expected)}`;
  return undefined;
}

function shownFormat(format: string): string {
  if (format.startsWith('dump:')) return `a ${format.slice(5)} dump`;
  const names: Record<string, string> = { mtf: 'Microsoft Tape Format (a SQL Server .bak)', xml: 'XML', text: 'plain text', sqlite: 'an SQLite database' };
  return names[format] ?? `${format} data`;
}

function whyNotWhole(cut: Incomplete): string {
  if (cut.kind === 'gzip') return 'its gzip stream stops before gzip\'s end (no trailer)';
  return `it starts as a ${cut.tool} dump${cut.gzip ? ' (gzip\'d)' : ''} but does not end with the "${cut.trailer}" line ${cut.tool} writes last`;
}

function describe(work: ArtefactWork, first: FirstPass): { span?: Span; spanSource?: ArtefactManifest['spanSource']; takenAt: Date } {
  const mtime = new Date(work.stamp.mtimeMs);
  if (work.binlog) {
    const b = first.binlog;
    if (b?.ok && b.from && b.to) return { span: { from: b.from, to: b.to }, spanSource: 'events', takenAt: b.to };
    return { span: work.binlog.fallback, spanSource: 'file-times', takenAt: work.binlog.fallback.to };
  }
  if (work.span) return { span: work.span, spanSource: work.spanSource ?? 'name', takenAt: work.role === 'archive' ? work.span.to : mtime };
  return { takenAt: mtime };
}

/** Slack taken off a short lock, so that S3's count of its days (s3:object-lock-remaining-retention-days) stays within the agent role's limit whichever way it rounds. */
const LOCK_SLACK_MS = 3_600_000;

/** Until when the work's own lock holds, counted on the store's clock (this machine's may run ahead of it). */
function lockOf(ctx: ArtefactContext, work: ArtefactWork): StreamUploaderOptions['lock'] {
  if (!work.lock) return undefined;
  const storeNow = ctx.clock.now().getTime() + (ctx.store.clockOffsetMs?.() ?? 0);
  return { mode: work.lock.mode, until: new Date(storeNow + work.lock.days * 86_400_000 - LOCK_SLACK_MS) };
}

/**
 * The manifest a state directory this one does not remember (a lost one, on a rebuilt host, or
 * one restored from a backup) already published for this very content (same artefact id, name,
 * size, SHA-256 and partial), its object verified. What it says of the file beyond its content
 * (the span taken from file times, which a purged neighbour or a copied file changes; the mtime)
 * may differ now, and cannot replace it (write-once): it stands, and the file counts as shipped,
 * instead of a commit refused at every pass that would hold every later binlog segment back.
 * Undefined when no manifest is there, or one for other content (publishManifest then refuses).
 * One HEAD a publish: artefacts are few (a binlog partial every few minutes at most).
 */
async function committedEarlier(
  ctx: ArtefactContext,
  manifestKey: string,
  content: { artefactId: string; name: string; size: number; sha256: string; partial: boolean },
): Promise<ArtefactManifest | undefined> {
  if (!(await ctx.store.head(manifestKey))) return undefined;
  const existing = parseArtefactManifest(await readAll(ctx.store, manifestKey));
  const same =
    existing.artefactId === content.artefactId &&
    existing.name === content.name &&
    existing.size === content.size &&
    existing.sha256 === content.sha256 &&
    (existing.partial ?? false) === content.partial;
  if (!same) return undefined;
  await verifyObject(ctx.store, existing.key, existing, ctx.verify);
  return existing;
}

/**
 * Puts the object unless a whole copy is already there (a retry after a crash); returns its part
 * count. An upload in parts goes on with the one an earlier, interrupted run left open when its
 * record holds (agent/upload-resume.ts); if the store no longer has it as recorded, it is aborted
 * and the object uploaded afresh from the first byte, in the same attempt.
 */
async function putData(shipCtx: ArtefactContext, file: FileHandle, work: ArtefactWork, o: DataTarget): Promise<number> {
  const { size } = work.stamp;
  // Parts larger than configured when the configured ones would be more than the store takes (agent/part-size.ts).
  const ctx = partsWithin(shipCtx, size, maxPartsOf(shipCtx.store), o.path);
  const state = ctx.journal.directory;
  if (await alreadyWhole(ctx, o.key, { size, sha256: o.sha256 })) {
    await discardUpload({ store: ctx.store, state }, o.id, readUploadProgress(state, o.id)?.resume);
    return size <= ctx.partSize ? 1 : Math.ceil(size / ctx.partSize);
  }
  // Progress for `agent status` (and resuming) of uploads in parts only: a file of one PUT (a binlog partial each pass) leaves no file behind to write.
  let facts: ResumeFacts | undefined;
  if (size > ctx.partSize) {
    const st = await file.stat();
    const identity = { path: o.path, size, mtimeMs: work.stamp.mtimeMs, dev: st.dev, ino: st.ino };
    facts = await openResume({ store: ctx.store, state, log: ctx.log }, o.id, { key: o.key, partSize: ctx.partSize, file: identity, ...(o.lock ? { ownLock: true as const } : {}) });
  }
  let result: UploadResult;
  try {
    result = await sendData(ctx, file, work, o, facts);
  } catch (error) {
    const lost = facts?.plan && resumeLost(error);
    if (!lost) throw error;
    ctx.log?.info('the upload an earlier run left open could not be completed: uploading afresh from the first byte', { source: work.source, name: work.stamp.name, reason: lost, error: messageOf(error) });
    result = await sendData(ctx, file, work, o, { key: o.key, partSize: ctx.partSize, file: facts!.file });
  }
  await verifyObject(ctx.store, o.key, { size, sha256: o.sha256, etag: result.etag }, ctx.verify);
  return result.parts;
}

interface DataTarget {
  path: string;
  key: string;
  id: string;
  sha256: string;
  lock?: StreamUploaderOptions['lock'];
}

/** Uploads the file's first `size` bytes to the key (going on with `facts.plan`'s upload when given); aborts what it began when it fails. */
async function sendData(ctx: ArtefactContext, file: FileHandle, work: ArtefactWork, o: DataTarget, facts: ResumeFacts | undefined): Promise<UploadResult> {
  const { size } = work.stamp;
  const partial = work.partial ?? false;
  const progress = facts ? new UploadProgress(ctx.journal.directory, o.id, { source: work.source, name: work.stamp.name, size }, () => ctx.clock.now(), facts) : undefined;
  const uploader = new StreamUploader(ctx.store, {
    key: o.key,
    partSize: ctx.partSize,
    partConcurrency: ctx.partConcurrency,
    // At most partConcurrency + 1 parts in flight or read, even alone: on a slow line more carry nothing, and a cut loses every one not yet acknowledged.
    pool: ctx.pool?.share(ctx.partConcurrency + 1),
    etag: ctx.verify === 'etag',
    contentType: 'application/octet-stream',
    ...(o.lock ? { lock: o.lock } : {}),
    ...(facts?.plan ? { resume: facts.plan } : {}),
    onUploadStarted: async (u) => {
      await ctx.journal.uploadStarted(o.id, u);
      progress?.started(u);
    },
    onUploadEnded: (u) => ctx.journal.uploadEnded(o.id, u),
    ...(progress ? { onPartStored: (bytes, part) => progress.stored(bytes, part) } : {}),
  });
  try {
    const hash = createHash('sha256');
    await uploader.copyFrom(file, size, o.path, { exact: !partial, hash });
    return await uploader.finish(async () => {
      if (hash.digest('hex') !== o.sha256) throw new SourceChangedError(`${o.path} changed between hashing and uploading`, o.path);
      if (!partial) assertUnchanged(o.path, work.stamp);
    });
  } catch (error) {
    throw await keepOrAbort(error, uploader, progress, { store: ctx.store, size, ownLock: o.lock !== undefined });
  } finally {
    progress?.end();
  }
}

async function alreadyWhole(ctx: ArtefactContext, key: string, expected: { size: number; sha256: string }): Promise<boolean> {
  if (!(await ctx.store.head(key))) return false;
  try {
    await verifyObject(ctx.store, key, expected, ctx.verify);
    return true;
  } catch (error) {
    if (error instanceof IntegrityError) return false; // a torn copy: upload again over it
    throw error;
  }
}
