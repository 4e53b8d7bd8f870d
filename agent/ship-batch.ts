import { open, readFile, type FileHandle } from 'node:fs/promises';
import { closeSync, constants, lstatSync, openSync, readSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { BlobStore, PutOptions } from '../core/ports.ts';
import type { Clock } from '../core/clock.ts';
import type { CallMetadata, ManifestMember, PackManifest, ShippedBy } from '../core/manifest.ts';
import { MANIFEST_FORMAT, serializeManifest } from '../core/manifest.ts';
import { recordingId, rewrittenCallId } from '../core/ids.ts';
import { AlreadyExistsError, IntegrityError, SourceChangedError, UnreadableSourceError } from '../core/errors.ts';
import { readAll } from './recover.ts';
import { openNoAtime, openSyncNoAtime } from './no-atime.ts';
import { createHash } from 'node:crypto';
import { PackBuilder, type PendingSlice } from './pack-builder.ts';
import { maxPartsOf, partsWithin, tarBound } from './part-size.ts';
import type { PartPool } from './part-pool.ts';
import { putAnswerVerifies, verifyObject, type VerifyMode } from './verify.ts';
import { contentTypeOf } from './content-type.ts';
import type { Journal, FileStamp } from './journal.ts';
import type { BatchWork } from './sources/recordings.ts';
import { committedBefore, EarlierAttemptError, firstAttempt, mayShipUnasked, nextAttempt, noticingTakenKeys, planPack, type Attempt, type PackPlan } from './pack-attempts.ts';
import { lockOptions, type StreamUploaderOptions } from './stream-uploader.ts';

// Ships one batch as one pack: read-only streaming into the store, a last check that the
// recorder did not evict the batch meanwhile, verification of what was published, then the
// manifest — the commit record — last. Until the manifest exists the pack does not exist.
// Objects are write-once: a pack whose publish went wrong is shipped again under the next
// attempt's key (core/layout.ts), and its manifest names the attempt that counts and the dead ones.

const MAX_SIDECAR_BYTES = 1024 * 1024;
/**
 * Recordings up to this size are read whole with synchronous calls (open, fstat, read, close):
 * on a file of tens of KB each takes microseconds, a trip through libuv's thread pool many
 * times that, and a recorder writes tens of thousands of such files a day. Larger ones are
 * streamed into the part buffer (bounded memory).
 */
export const SMALL_RECORDING_BYTES = 1024 * 1024;
const READ_ONLY = constants.O_RDONLY | constants.O_NOFOLLOW;
/** How long a pack reads before it lets the event loop take what came in meanwhile. */
const READ_TURN_MS = 2;

export interface MetadataExtractor {
  extract(input: { fileName: string; relativePath: string; mtime: Date; readAt?: Date; sidecar?: { name: string; bytes: Uint8Array } }): { meta: CallMetadata; issues: string[] };
}

export interface ShipContext {
  site: string;
  sourceRoot: string;
  store: BlobStore;
  journal: Journal;
  extractor: MetadataExtractor;
  clock: Clock;
  verify: VerifyMode;
  partSize: number;
  partConcurrency: number;
  /** Part buffers shared by every upload of the agent (bounds memory; lets a lone upload use them all). */
  pool?: PartPool;
  agentVersion: string;
  /** Opens a source file; injectable so tests can simulate unreadable files. */
  openFile?: (path: string, flags: number) => Promise<FileHandle>;
  /** Whether the store may hold this batch's pack unknown to the journal (state-birth.ts): it is then asked before anything is sent. */
  askFirst?: (work: BatchWork) => boolean;
  /** Opens a small source file synchronously (see SMALL_RECORDING_BYTES); injectable likewise. */
  openFileSync?: (path: string, flags: number) => number;
  /** Called once every member of the pack is read (before its upload completes). */
  onPacked?: () => void;
  /** Who ships (agent/shipped-by.ts): every manifest says so. */
  shippedBy?: ShippedBy;
}

export interface ShipResult {
  packId: string;
  packKey: string;
  manifestKey: string;
  recordings: number;
  bytes: number;
  issues: string[];
  /** The store held the batch's commit already (an earlier attempt or state directory): nothing was sent. */
  alreadyOffsite?: true;
}

/** Opens a source file read-only (no lock), never through a symbolic link; errors classified. */
export async function openReadOnly(ctx: Pick<ShipContext, 'openFile'>, path: string): Promise<FileHandle> {
  try {
    // O_NOFOLLOW: a recording replaced by a symlink is not followed; O_RDONLY takes no lock;
    // O_NOATIME where allowed: the site's files keep their access times (no-atime.ts).
    return await openNoAtime(ctx.openFile ?? open, path, READ_ONLY);
  } catch (error) {
    throw openError(error, path);
  }
}

function openError(error: unknown, path: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new SourceChangedError(`${path} disappeared before it was read`, path, { cause: error });
  if (code === 'ELOOP') return new SourceChangedError(`${path} became a symbolic link; not followed`, path, { cause: error });
  return new UnreadableSourceError(`${path} cannot be read (${code ?? (error as Error).message})`, path, { cause: error });
}

/**
 * Reads a small file whole, read-only and without following links, synchronously (see
 * SMALL_RECORDING_BYTES): open, one read, close. It must hold exactly the scanned size: the read
 * asks for a byte more, so a file that grew since the scan is refused, and one that came back
 * short is read on only until the scanned size (or the end). No fstat: the read's count is the
 * size check, and anything that is no longer the scanned regular file (a directory, a device, a
 * file replaced since) is the check before commit's to catch (assertUnchanged: an lstat of every
 * file of the pack: regular file, size and mtime). Once the scanned size is in hand no read is
 * made to see the end of the file: growth after this read is that check's too.
 */
export function readSmallFile(ctx: Pick<ShipContext, 'openFileSync'>, path: string, stamp: FileStamp, into?: ReadBuffer): Buffer {
  let fd: number;
  try {
    fd = openSyncNoAtime(ctx.openFileSync ?? openSync, path, READ_ONLY);
  } catch (error) {
    throw openError(error, path);
  }
  try {
    const body = into ? into.take(stamp.size + 1) : Buffer.allocUnsafe(stamp.size + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got < stamp.size; got += n) n = readSync(fd, body, got, stamp.size + 1 - got, got);
    if (got > stamp.size) throw new SourceChangedError(`${path} grew since it was scanned (more than ${stamp.size} bytes)`, path);
    if (got < stamp.size) throw new SourceChangedError(`${path} changed size since it was scanned (${stamp.size} → ${got})`, path);
    return body.subarray(0, stamp.size);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EIO' || code === 'EACCES' || code === 'EPERM') throw new UnreadableSourceError(`${path} cannot be read (${code})`, path, { cause: error });
    // The name holds a directory now (or something else that cannot be read as a file): not the file scanned.
    if (code === 'EISDIR' || code === 'EINVAL' || code === 'EAGAIN') throw new SourceChangedError(`${path} is no longer a regular file (${code})`, path, { cause: error });
    throw error;
  } finally {
    closeSync(fd);
  }
}

/**
 * The memory one pack reads its small recordings into, one at a time: each is copied into the
 * part buffer before the next is read, so a pack allocates it once instead of once a recording.
 */
export class ReadBuffer {
  private buffer: Buffer | undefined;

  /** At least `size` bytes, whose content the next take() may overwrite. */
  take(size: number): Buffer {
    if (this.buffer === undefined || this.buffer.length < size) this.buffer = Buffer.allocUnsafe(Math.max(size, 64 * 1024));
    return this.buffer;
  }
}

/**
 * Throws SourceChangedError unless the file still has the scanned size and mtime. Synchronous:
 * one lstat a file, for every file of a pack before it is committed (see readSmallFile).
 */
export function assertUnchanged(path: string, stamp: FileStamp): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (error) {
    throw new SourceChangedError(`${path} was deleted while its batch was packed`, path, { cause: error });
  }
  if (!st.isFile() || st.size !== stamp.size || Math.trunc(st.mtimeMs) !== stamp.mtimeMs) {
    throw new SourceChangedError(`${path} changed while its batch was packed`, path);
  }
}

export async function shipBatch(ctx: ShipContext, work: BatchWork): Promise<ShipResult> {
  const plan = planPack(ctx.site, work);
  if (!ctx.askFirst?.(work) && mayShipUnasked(ctx.store, ctx.journal, plan)) {
    try {
      return await shipAttempt(ctx, work, plan, firstAttempt(plan), true);
    } catch (error) {
      if (!(error instanceof EarlierAttemptError)) throw error;
      // An attempt this journal does not know of holds a key: ship again, the store asked first.
    }
  }
  const committed = await committedBefore(ctx, plan, work);
  if (committed) {
    const bytes = committed.members.reduce((n, m) => n + m.length, 0);
    await ctx.journal.begin({ ...beginOf(plan, work, committed.packKey), found: true });
    await ctx.journal.published(plan.packId, committed.members.length, bytes, true);
    return { packId: plan.packId, packKey: committed.packKey, manifestKey: plan.manifestKey, recordings: committed.members.length, bytes, issues: [], alreadyOffsite: true };
  }
  return shipAttempt(ctx, work, plan, await nextAttempt(ctx.store, plan), false);
}

const beginOf = (plan: PackPlan, work: BatchWork, key: string) => ({
  packId: plan.packId,
  source: work.source,
  batch: work.batch,
  packKey: key,
  manifestKey: plan.manifestKey,
  files: plan.stamps,
});

/**
 * Sends the pack under the attempt's key and commits it. `unasked`: the store was not asked
 * about earlier attempts (pack-attempts.ts), so a key found taken stops the attempt with
 * EarlierAttemptError before anything is published.
 */
async function shipAttempt(ctx: ShipContext, work: BatchWork, plan: PackPlan, attempt: Attempt, unasked: boolean): Promise<ShipResult> {
  const dir = join(ctx.sourceRoot, work.batch);
  // The begin line is durable before anything is sent under the key (recovery finds the upload).
  await ctx.journal.begin(beginOf(plan, work, attempt.key));
  const watched = noticingTakenKeys(ctx.store);
  // A batch past 10,000 parts of the configured size is sent in larger ones (agent/part-size.ts).
  const parts = partsWithin({ partSize: ctx.partSize, partConcurrency: ctx.partConcurrency, pool: ctx.pool }, tarBound(plan.stamps, work.batch), maxPartsOf(ctx.store), dir);
  const builder = new PackBuilder(watched.store, {
    key: attempt.key,
    ...parts,
    etag: ctx.verify === 'etag',
    contentType: 'application/x-tar',
    onUploadStarted: (id) => ctx.journal.uploadStarted(plan.packId, id),
    onUploadEnded: (id) => ctx.journal.uploadEnded(plan.packId, id),
  });
  try {
    const pending: PendingMember[] = [];
    const issues: string[] = [];
    const reads = new ReadBuffer();
    let turn = performance.now();
    for (const rec of work.recordings) {
      // Reading a pack never returns to the event loop by itself (every step settles at once):
      // give it a turn now and then, so that the answers other packs wait for (their digests,
      // the store's replies) are taken as they come instead of after every pack in hand is read.
      if (performance.now() - turn > READ_TURN_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        turn = performance.now();
      }
      const member = await packRecording(ctx, work, builder, dir, rec, reads);
      pending.push(member);
      issues.push(...member.issues);
    }
    ctx.onPacked?.();
    const pack = await builder.finish(async () => {
      for (const stamp of plan.stamps) assertUnchanged(join(dir, stamp.name), stamp);
    });
    if (unasked && watched.taken()) throw new EarlierAttemptError(`${attempt.key} is already in the store`);
    // Every member's SHA-256 was taken by the hasher's threads from the parts sent; all are in by now.
    const members = await Promise.all(pending.map((member) => settleMember(ctx, member)));
    // In 'etag' mode the store's answer to a single PUT already named the MD5 of what it stored,
    // checked against the MD5 sent (StreamUploader.finish); a HEAD would ask the same again.
    // A multipart pack, a write found already there, or another mode is verified as before.
    if (!(ctx.verify === 'etag' && pack.etagAnswered)) await verifyObject(ctx.store, attempt.key, pack, ctx.verify);
    const manifest: PackManifest = {
      format: MANIFEST_FORMAT,
      kind: 'recordings',
      site: ctx.site,
      source: work.source,
      packId: plan.packId,
      packKey: attempt.key,
      createdAt: ctx.clock.now().toISOString(),
      batch: { path: work.batch, files: plan.stamps.length },
      pack: { size: pack.size, sha256: pack.sha256, parts: pack.parts, partSize: parts.partSize },
      members,
      ...(attempt.dead.length > 0 ? { superseded: attempt.dead } : {}),
      ...(ctx.shippedBy ? { shippedBy: ctx.shippedBy } : {}),
    };
    await publishManifest(ctx, plan.manifestKey, serializeManifest(manifest)).catch((error: unknown) => {
      // Another manifest holds the key: it names another attempt (this one stays dead, never listed).
      if (unasked && error instanceof IntegrityError && error.cause instanceof AlreadyExistsError) {
        throw new EarlierAttemptError(`${plan.manifestKey} already commits another attempt`, { cause: error });
      }
      throw error;
    });
    const bytes = members.reduce((n, m) => n + m.length, 0);
    await ctx.journal.published(plan.packId, members.length, bytes);
    return { packId: plan.packId, packKey: attempt.key, manifestKey: plan.manifestKey, recordings: members.length, bytes, issues };
  } catch (error) {
    await builder.abort().catch(() => undefined);
    throw error;
  }
}

/** A member packed whose SHA-256 (and so its recording id) the hasher's threads have yet to give. `rewritten`: its name shipped from its batch before under another stamp (the shipped index, in the state directory), so its sidecar makes it a call of its own (core/ids.ts). */
type PendingMember = Omit<ManifestMember, 'sha256' | 'rid' | 'sidecar'> & { sha256: Promise<string>; sidecar?: PendingSlice; rewritten?: true };

async function settleMember(ctx: Pick<ShipContext, 'site'>, member: PendingMember): Promise<ManifestMember> {
  const [sha256, sidecarSha256] = await Promise.all([member.sha256, member.sidecar?.sha256]);
  const { name, offset, length, sidecar, path, contentType, mtime, meta, issues } = member;
  const rid = member.rewritten && sidecarSha256 !== undefined ? rewrittenCallId(ctx.site, path, sha256, sidecarSha256) : recordingId(ctx.site, path, sha256);
  const sidecarSlice = sidecar ? { sidecar: { name: sidecar.name, offset: sidecar.offset, length: sidecar.length, sha256: sidecarSha256 as string } } : {};
  return { name, offset, length, sha256, rid, path, contentType, mtime, meta, issues, ...sidecarSlice };
}

async function packRecording(ctx: ShipContext, work: BatchWork, builder: PackBuilder, dir: string, rec: FileStamp, reads: ReadBuffer): Promise<PendingMember> {
  const relativePath = work.batch ? posix.join(work.batch, rec.name) : rec.name;
  const sidecarStamp = work.sidecars.get(rec.name);
  let sidecar: { name: string; bytes: Uint8Array } | undefined;
  let sidecarSlice;
  const sidecarIssues: string[] = [];
  if (sidecarStamp) {
    const bytes = await readSidecar(ctx, join(dir, sidecarStamp.name), sidecarStamp).catch((error: unknown) => {
      if (error instanceof UnreadableSourceError) return sidecarIssues.push(`${sidecarStamp.name}: ${error.message}; recording shipped without it`), undefined;
      throw error;
    });
    if (bytes) {
      sidecar = { name: sidecarStamp.name, bytes };
      sidecarSlice = await builder.stageBuffer(posix.join(work.batch, sidecarStamp.name), bytes, new Date(sidecarStamp.mtimeMs));
    }
  }
  const path = join(dir, rec.name);
  const slice = readsSync(ctx, rec.size)
    ? // The recording's bytes are copied into the part buffer before stageBuffer settles (its hash is taken there).
      await builder.stageBuffer(relativePath, readSmallFile(ctx, path, rec, reads), new Date(rec.mtimeMs))
    : await streamRecording(ctx, builder, path, relativePath, rec);
  const mtime = new Date(rec.mtimeMs);
  const { meta, issues } = ctx.extractor.extract({ fileName: rec.name, relativePath, mtime, readAt: ctx.clock.now(), sidecar });
  return {
    ...slice,
    path: relativePath,
    contentType: contentTypeOf(rec.name),
    mtime: mtime.toISOString(),
    meta,
    issues: [...sidecarIssues, ...issues, ...(work.issues?.has(rec.name) ? [work.issues.get(rec.name) as string] : [])],
    ...(sidecarSlice ? { sidecar: sidecarSlice } : {}),
    ...(sidecarSlice && ctx.journal.shippedUnderOtherStamp(work.source, work.batch, rec, { sameSize: false }) ? { rewritten: true as const } : {}),
  };
}

/**
 * Whether a file of this size is read whole and synchronously. An opener injected without a
 * synchronous twin (tests simulating unreadable files) keeps every read on it.
 */
function readsSync(ctx: Pick<ShipContext, 'openFile' | 'openFileSync'>, size: number): boolean {
  return size <= SMALL_RECORDING_BYTES && (ctx.openFileSync !== undefined || ctx.openFile === undefined);
}

async function streamRecording(ctx: ShipContext, builder: PackBuilder, path: string, relativePath: string, rec: FileStamp): Promise<PendingSlice> {
  const file = await openReadOnly(ctx, path);
  try {
    const st = await file.stat();
    if (st.size !== rec.size) throw new SourceChangedError(`${path} changed size since it was scanned (${rec.size} → ${st.size})`, path);
    return await builder.stageFile(relativePath, file, rec.size, new Date(rec.mtimeMs), path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EIO' || code === 'EACCES' || code === 'EPERM') throw new UnreadableSourceError(`${path} cannot be read (${code})`, path, { cause: error });
    throw error;
  } finally {
    await file.close();
  }
}

async function readSidecar(ctx: Pick<ShipContext, 'openFile' | 'openFileSync'>, path: string, stamp: FileStamp): Promise<Buffer> {
  if (stamp.size > MAX_SIDECAR_BYTES) throw new UnreadableSourceError(`${path} is ${stamp.size} bytes; sidecars are limited to ${MAX_SIDECAR_BYTES}`, path);
  if (readsSync(ctx, stamp.size)) return readSmallFile(ctx, path, stamp);
  const file = await openReadOnly(ctx, path);
  try {
    const bytes = await readFile(file);
    if (bytes.length !== stamp.size) throw new SourceChangedError(`${path} changed size since it was scanned`, path);
    return bytes;
  } finally {
    await file.close();
  }
}

/**
 * Puts a manifest (the commit record), write-once, and verifies it. A manifest already at
 * the key (the same batch committed before a crash) is accepted when it commits the same
 * content — everything but its creation time equal; anything else is an integrity failure.
 * Verified like a one-PUT pack: in 'etag' mode the PUT's answer naming the MD5 sent stands for
 * the read-back (putAnswerVerifies); any other answer, or another mode (absent: 'read-back'),
 * reads the manifest back, and the read-back decides.
 */
export async function publishManifest(ctx: Pick<ShipContext, 'store'> & { verify?: VerifyMode }, key: string, bytes: Buffer, lock?: StreamUploaderOptions['lock']): Promise<void> {
  const sha256 = createHash('sha256').update(bytes).digest();
  const md5 = createHash('md5').update(bytes).digest();
  let answered: string | undefined;
  try {
    answered = await putRefusingTorn(ctx.store, key, bytes, { sha256: sha256.toString('base64'), md5: md5.toString('base64'), ...lockOptions(lock) });
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
    const existing = await readAll(ctx.store, key);
    if (sameCommit(existing, bytes)) return;
    throw new IntegrityError(`a different manifest is already published at ${key} and cannot be replaced (write-once)`, { cause: error });
  }
  if (putAnswerVerifies(ctx.store.features, ctx.verify, answered, md5.toString('hex'))) return;
  await verifyObject(ctx.store, key, { size: bytes.length, sha256: sha256.toString('hex') }, 'read-back');
}

/** Puts the manifest, again when the store refused a body torn on the way (its checksum did not match); the answer's ETag. */
async function putRefusingTorn(store: BlobStore, key: string, bytes: Buffer, sums: { sha256: string; md5: string } & Pick<PutOptions, 'retainUntil' | 'lockMode'>): Promise<string | undefined> {
  const options = { contentType: 'application/json', ...sums, ifNoneMatch: true };
  for (let send = 1; ; send++) {
    try {
      return (await store.put(key, bytes, options)).etag;
    } catch (error) {
      if (!(error instanceof IntegrityError) || send === 3) throw error;
    }
  }
}

function sameCommit(a: Buffer, b: Buffer): boolean {
  const strip = (x: Buffer) => {
    try {
      const { createdAt: _createdAt, ...rest } = JSON.parse(x.toString('utf8')) as Record<string, unknown>;
      return JSON.stringify(rest);
    } catch {
      return undefined;
    }
  };
  const sa = strip(a);
  return sa !== undefined && sa === strip(b);
}
