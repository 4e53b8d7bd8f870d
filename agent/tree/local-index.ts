import { existsSync } from 'node:fs';
import type { TreeEntry } from '../../core/tree-manifest.ts';
import { compareTreePaths, entryPathBytes } from './paths.ts';
import { readJsonlGzFile } from './jsonl-gz.ts';

// The agent's own copy of a snapshot's file list (state dir, gzip JSON lines, snapshot order):
// the published entry without its pack position (that comes from the content index) plus what
// tells an unchanged file without reading it: inode, device and the mtime in nanoseconds.

export type LocalEntry = Omit<TreeEntry, 'pack' | 'offset'> & { ino: string; dev: string; mtimeNs: string };

/** Streams a local index and answers "what did the previous snapshot hold at this path", for paths asked in snapshot order. */
export class PreviousIndex {
  private readonly lines: AsyncGenerator<unknown> | undefined;
  private head: { entry: LocalEntry; bytes: Buffer } | undefined;
  private done: boolean;
  entries = 0;

  constructor(file: string | undefined) {
    this.lines = file && existsSync(file) ? readJsonlGzFile(file) : undefined;
    this.done = this.lines === undefined;
  }

  private async advance(): Promise<void> {
    const next = await this.lines!.next();
    if (next.done) {
      this.done = true;
      this.head = undefined;
      return;
    }
    const entry = next.value as LocalEntry;
    this.entries++;
    this.head = { entry, bytes: entryPathBytes(entry) };
  }

  /** The previous entry at `rel`, skipping (as deleted) every earlier path; undefined when it had none. */
  async seek(rel: Buffer): Promise<LocalEntry | undefined> {
    while (!this.done) {
      if (!this.head) await this.advance();
      if (!this.head) return undefined;
      const c = compareTreePaths(this.head.bytes, rel);
      if (c === 0) return this.head.entry;
      if (c > 0) return undefined;
      this.head = undefined;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.lines?.return(undefined);
  }
}
