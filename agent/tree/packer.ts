import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { BlobStore } from '../../core/ports.ts';
import { treePackKey } from '../../core/layout.ts';
import { SourceChangedError } from '../../core/errors.ts';
import { PackBuilder, type BuilderStore } from '../pack-builder.ts';
import { maxPartsOf, partsWithin } from '../part-size.ts';
import type { PartPool } from '../part-pool.ts';
import { verifyObject, type VerifyMode } from '../verify.ts';
import { writeFileAtomicAsync } from '../state/atomic-file.ts';
import type { ContentIndex, ContentLocation } from './content-index.ts';

// Content packs of a tree source: plain tar, one member per distinct content, named by its
// SHA-256 (core/tree-manifest.ts). Small files (read whole into memory, so a file that changes
// while read is never half-written anywhere) share one pack, closed at the target size. A large
// file streams into a pack of its own after a first read that hashed it: when the second read
// hashes otherwise (the file changed meanwhile) that pack is aborted before it is published,
// and nothing torn is ever stored. A pack's contents enter the content index only after it is
// published and verified. `inflight.json` names every pack under way (upload ids; members once
// it commits), so a run killed at any point is cleaned up or adopted by the next one.

export interface PackerContext {
  store: BlobStore;
  site: string;
  source: string;
  snapshotId: string;
  at: Date;
  /** The source's state directory. */
  dir: string;
  content: ContentIndex;
  verify: VerifyMode;
  partSize: number;
  partConcurrency: number;
  pool?: PartPool;
  packTargetBytes: number;
  /** Told of each pack once it is published and verified (the agent logs it: the bench's time to the first pack). */
  onPublished?: (pack: { key: string; size: number }) => void;
}

/** A member's tar header, its padding and the archive's end, beside its bytes, at most. */
const TAR_FRAMING_BYTES = 64 * 1024;

interface InflightPack {
  no: number;
  uploadIds: string[];
  /** Written just before the pack is committed: [sha256 hex, data offset]. */
  members?: [string, number][];
}

type Inflight = Record<string, InflightPack>;

interface OpenPack {
  no: number;
  key: string;
  builder: PackBuilder;
  /**
   * The pack's members in order, SHA-256 (hex) → data offset: looked up while it fills, and what
   * its commit records. The hash's Buffer is not kept (26,000 of them a 64 MiB pack of small files).
   */
  pending: Map<string, number>;
}

const inflightFile = (dir: string) => join(dir, 'inflight.json');

/** The first small-file pack of a snapshot is closed at this size (or the source's target, when smaller). */
export const FIRST_PACK_BYTES = 8 * 1024 * 1024;

/** A pack's members as the content index records them, from their hex hashes. */
const membersOf = (members: [string, number][]) => members.map(([sha, offset]) => ({ sha256: Buffer.from(sha, 'hex'), offset }));

function readInflight(dir: string): Inflight {
  const file = inflightFile(dir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Inflight) : {};
}

export class TreePacker {
  private open: OpenPack | undefined;
  private seq = 0;
  private nextNo: number;
  private readonly inflight: Inflight = {};
  /** The in-flight journal's writes, in order (saveInflight); a failed one is kept for finish() to throw. */
  private journal: Promise<void> = Promise.resolve();
  private journalFailure: unknown;
  bytesAdded = 0;
  packsPublished = 0;

  constructor(private readonly ctx: PackerContext) {
    this.nextNo = ctx.content.nextPackNo;
  }

  /** The contents already published (an unchanged file's is looked up there without a copy of its hash). */
  get published(): ContentIndex {
    return this.ctx.content;
  }

  /** Where the content is (published, or in the pack being filled), or undefined. */
  locate(sha256: Buffer): ContentLocation | undefined {
    const found = this.ctx.content.get(sha256);
    if (found) return found;
    const offset = this.open?.pending.get(sha256.toString('hex'));
    return offset === undefined ? undefined : { pack: this.open!.no, offset };
  }

  /** `size`: what a large file's own pack holds (its parts grow past S3's 10,000 for a file of more than partSize × 10,000). */
  private start(size?: { bytes: number; path: string }): OpenPack {
    const parts = size ? partsWithin(this.ctx, size.bytes + TAR_FRAMING_BYTES, maxPartsOf(this.ctx.store), size.path) : this.ctx;
    const no = this.nextNo++;
    const packId = `t${createHash('sha256').update(`${this.ctx.site}\0${this.ctx.source}\0${this.ctx.snapshotId}\0${this.seq++}`).digest('hex').slice(0, 23)}`;
    const key = treePackKey(this.ctx.site, this.ctx.source, packId, this.ctx.at);
    this.inflight[key] = { no, uploadIds: [] };
    // Durable before the pack's first request (journalFirst), not before the walk goes on.
    const journalled = this.saveInflight();
    const builder = new PackBuilder(journalFirst(this.ctx.store, journalled), {
      key,
      partSize: parts.partSize,
      partConcurrency: parts.partConcurrency,
      pool: parts.pool,
      etag: this.ctx.verify === 'etag',
      contentType: 'application/x-tar',
      // Recovery also lists the key's uploads, so this need not be awaited.
      onUploadStarted: (id) => {
        this.inflight[key]?.uploadIds.push(id);
        void this.saveInflight();
      },
    });
    return { no, key, builder, pending: new Map() };
  }

  /** Adds a small file's content (already read and hashed) to the shared pack. */
  async addSmall(sha256: Buffer, body: Buffer, mtime: Date): Promise<ContentLocation> {
    this.open ??= this.start();
    const open = this.open;
    const hex = sha256.toString('hex');
    const slice = await open.builder.addBuffer(hex, body, mtime);
    open.pending.set(hex, slice.offset);
    this.bytesAdded += body.length;
    const location = { pack: open.no, offset: slice.offset };
    // The first pack of a snapshot closes early: a share of millions of small files has
    // something published (and safe from a crash) within seconds, not after 64 MiB of them.
    const target = this.packsPublished === 0 ? Math.min(FIRST_PACK_BYTES, this.ctx.packTargetBytes) : this.ctx.packTargetBytes;
    if (open.builder.position >= target) {
      this.open = undefined;
      await this.publish(open);
    }
    return location;
  }

  /**
   * Streams a large file into a pack of its own; `sha256` is what a first read hashed. Throws
   * SourceChangedError (and publishes nothing) when this read differs or `unchanged` throws.
   */
  async addLarge(sha256: Buffer, file: FileHandle, size: number, mtime: Date, path: string, unchanged: () => Promise<void>): Promise<ContentLocation> {
    const pack = this.start({ bytes: size, path });
    try {
      const slice = await pack.builder.addFile(sha256.toString('hex'), file, size, mtime, path);
      if (slice.sha256 !== sha256.toString('hex')) throw new SourceChangedError(`${path} changed while it was read (its content hashed differently twice)`, path);
      await unchanged();
      pack.pending.set(slice.sha256, slice.offset);
      await this.publish(pack);
      this.bytesAdded += size;
      return { pack: pack.no, offset: slice.offset };
    } catch (error) {
      await pack.builder.abort().catch(() => undefined);
      delete this.inflight[pack.key];
      await this.saveInflight().catch(() => undefined);
      throw error;
    }
  }

  private async publish(pack: OpenPack): Promise<void> {
    const result = await pack.builder.finish(async () => {
      const entry = this.inflight[pack.key]!;
      entry.members = [...pack.pending];
      await this.saveInflight();
    });
    await verifyObject(this.ctx.store, pack.key, result, this.ctx.verify);
    this.ctx.content.commitPack({ no: pack.no, key: pack.key, size: result.size, sha256: result.sha256 }, membersOf([...pack.pending]));
    delete this.inflight[pack.key];
    // Not awaited: a crash before it lands adopts the pack again, which records nothing new.
    void this.saveInflight();
    this.packsPublished++;
    this.ctx.onPublished?.({ key: pack.key, size: result.size });
  }

  /** Publishes the pack being filled, if any, and waits for the in-flight journal's last write. */
  async finish(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (open) await this.publish(open);
    await this.journal;
    if (this.journalFailure !== undefined) throw this.journalFailure;
  }

  /** Discards the pack being filled (after a failure); its uploads are aborted. */
  async abort(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    if (!open) return;
    await open.builder.abort().catch(() => undefined);
    delete this.inflight[open.key];
    await this.saveInflight().catch(() => undefined);
  }

  /**
   * Queues the in-flight journal as it stands now, written and synced on the thread pool after
   * the writes queued before it (a sync can take a tenth of a second when the file system has
   * much pending: the walk goes on meanwhile). The promise is this write's.
   */
  private saveInflight(): Promise<void> {
    const file = inflightFile(this.ctx.dir);
    const text = Object.keys(this.inflight).length === 0 ? undefined : JSON.stringify(this.inflight);
    const write = this.journal.then(() => (text === undefined ? rm(file, { force: true }) : writeFileAtomicAsync(file, text)));
    this.journal = write.catch((error: unknown) => {
      this.journalFailure ??= error;
    });
    return write;
  }
}

/** The store with the pack's first request (a PUT or the start of a multipart upload) made only once `journalled` has landed. */
function journalFirst(store: BlobStore, journalled: Promise<void>): BuilderStore {
  return {
    features: store.features,
    head: (...a) => store.head(...a),
    uploadPart: (...a) => store.uploadPart(...a),
    completeMultipart: (...a) => store.completeMultipart(...a),
    abortMultipart: (...a) => store.abortMultipart(...a),
    put: async (...a) => {
      await journalled;
      return store.put(...a);
    },
    createMultipart: async (...a) => {
      await journalled;
      return store.createMultipart(...a);
    },
  };
}

/**
 * After a run that was killed: a pack that reached its commit and is in the store whole is
 * adopted (its contents recorded, so they are not stored twice); every upload `inflight.json`
 * recorded is aborted. Open uploads are not listed: a site's agent role may not (IAM has no prefix
 * condition for s3:ListBucketMultipartUploads, infra/site-policies.ts), and the bucket's lifecycle
 * rule ends one a kill between its create and its record left.
 * Uploads are aborted first and the key looked at after: a complete the killed process had
 * already sent can still be carried out by the store, and only once the uploads are gone does
 * the key say for good whether the pack exists.
 */
export async function recoverInflightPacks(ctx: Pick<PackerContext, 'store' | 'dir' | 'content'>): Promise<{ adopted: number; aborted: number }> {
  const inflight = readInflight(ctx.dir);
  let adopted = 0;
  let aborted = 0;
  for (const [key, pack] of Object.entries(inflight)) {
    for (const id of pack.uploadIds) await ctx.store.abortMultipart(key, id);
    const info = pack.members ? await ctx.store.head(key) : undefined;
    if (info && pack.members) {
      const hash = createHash('sha256');
      let size = 0;
      const { body } = await ctx.store.get(key);
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
      }
      if (size === info.size) {
        const members = membersOf(pack.members);
        // Recorded again even when its pack line made it: a kill between that line and the
        // content records would otherwise leave its contents unknown, and packed a second time.
        ctx.content.commitPack({ no: pack.no, key, size, sha256: hash.digest('hex') }, members);
        adopted++;
        continue;
      }
    }
    aborted++;
  }
  rmSync(inflightFile(ctx.dir), { force: true });
  return { adopted, aborted };
}
