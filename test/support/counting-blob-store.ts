import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobBody, BlobInfo, ByteRange } from '../../core/ports.ts';

// A memory blob store that counts the requests S3 would bill: one LIST a page of 1,000 keys,
// each GET and HEAD by key. Tests of scheduled work assert with it that a run's requests follow
// the run's work, not the store's history.

export class CountingBlobStore extends MemoryBlobStore {
  gets: string[] = [];
  heads: string[] = [];
  /** One entry a LIST request: its prefix (a listing of n keys is ceil(n / 1000) requests, at least one). */
  lists: string[] = [];

  reset(): void {
    this.gets = [];
    this.heads = [];
    this.lists = [];
  }

  override async get(key: string, range?: ByteRange): Promise<BlobBody> {
    this.gets.push(key);
    return super.get(key, range);
  }

  override async head(key: string): Promise<BlobInfo | undefined> {
    this.heads.push(key);
    return super.head(key);
  }

  override async *list(prefix: string): AsyncIterable<BlobInfo> {
    this.lists.push(prefix);
    let n = 0;
    for await (const info of super.list(prefix)) {
      n += 1;
      if (n % 1000 === 1 && n > 1) this.lists.push(prefix);
      yield info;
    }
  }

  /** GETs whose key starts with prefix. */
  getsUnder(prefix: string): string[] {
    return this.gets.filter((k) => k.startsWith(prefix));
  }
}
