import { existsSync } from 'node:fs';
import type { TreeEntry } from '../../core/tree-manifest.ts';
import { compareTreePaths, entryPathBytes } from './paths.ts';
import { readLineBatchesFile } from './jsonl-gz.ts';

// The agent's own copy of a snapshot's file list (state dir, gzip JSON lines, snapshot order):
// the published entry without its pack position (that comes from the content index) plus what
// tells an unchanged file without reading it: inode, device and the mtime in nanoseconds.
// Written as JSON.stringify({...entry, ...identity}): the published line of an entry is its
// local line cut before `,"ino":`, which is how an unchanged path is carried into the next
// snapshot without being serialised again (publishedPrefix).

export type LocalEntry = Omit<TreeEntry, 'pack' | 'offset'> & { ino: string; dev: string; mtimeNs: string };

/** A previous entry with the line it was read from. */
export interface PriorEntry {
  entry: LocalEntry;
  line: string;
}

/** The published line of a local line without its closing brace (add `,"pack":…,"offset":…}` or `}`); undefined when the line is not in the expected shape. */
export function publishedPrefix(line: string): string | undefined {
  const at = line.lastIndexOf(',"ino":');
  return at > 0 ? line.slice(0, at) : undefined;
}

/** Streams a local index and answers "what did the previous snapshot hold at this path", for paths asked in snapshot order. */
export class PreviousIndex {
  private readonly batches: AsyncGenerator<string[]> | undefined;
  private lines: string[] = [];
  private next = 0;
  private head: { prior: PriorEntry; bytes: Buffer } | undefined;
  private done: boolean;
  entries = 0;

  constructor(file: string | undefined) {
    this.batches = file && existsSync(file) ? readLineBatchesFile(file) : undefined;
    this.done = this.batches === undefined;
  }

  /** Reads the next entry; an await only when a batch of lines is used up. */
  private async advance(): Promise<void> {
    while (this.next >= this.lines.length) {
      const batch = await this.batches!.next();
      if (batch.done) {
        this.done = true;
        this.head = undefined;
        return;
      }
      this.lines = batch.value;
      this.next = 0;
    }
    const line = this.lines[this.next++]!;
    const entry = JSON.parse(line) as LocalEntry;
    this.entries++;
    this.head = { prior: { entry, line }, bytes: entryPathBytes(entry) };
  }

  /** The previous entry at `rel` (with its line), skipping (as deleted) every earlier path; undefined when it had none. */
  async seekLine(rel: Buffer): Promise<PriorEntry | undefined> {
    while (!this.done) {
      if (!this.head) await this.advance();
      if (!this.head) return undefined;
      const c = compareTreePaths(this.head.bytes, rel);
      if (c === 0) return this.head.prior;
      if (c > 0) return undefined;
      this.head = undefined;
    }
    return undefined;
  }

  /** The previous entry at `rel`, skipping (as deleted) every earlier path; undefined when it had none. */
  async seek(rel: Buffer): Promise<LocalEntry | undefined> {
    return (await this.seekLine(rel))?.entry;
  }

  async close(): Promise<void> {
    await this.batches?.return(undefined);
  }
}
