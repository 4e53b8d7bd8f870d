import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { writeAllSync, writeFileAtomic } from './atomic-file.ts';
import type { LossEntry } from './loss-log.ts';

// The old losses of the loss log, moved out of the file every pass reads. A site whose recorder
// evicts a batch a day before it ships (a slow uplink for months) records ~8 KB a day: after years,
// every cron pass read and parsed megabytes of losses nobody needed to answer anything. A loss is
// moved to `losses-archive.jsonl` (append-only, the same lines; read only by `agent status
// --losses`, which lists every loss) once it is a recordings loss, alerted, older than
// ARCHIVE_AFTER_DAYS and not among the newest KEEP_NEWEST; `losses.jsonl` then starts with a summary
// line counting what was moved (records, batches, recordings, the newest one's time and how many
// bytes of the archive are its records). Nothing is deleted. That line reads as an `alerted` line
// of an id no loss has (`{"e":"alerted","id":"archive","archived":{…}}`): an older agent put back
// on this state directory (a rollback) reads the file as before, without the archived losses.
//
// Binlog and backup losses stay: there are few of them, and the gap checks read them by name
// for as long as the run of the numbering lasts. A recordings loss older than ARCHIVE_AFTER_DAYS
// is asked for by nothing a pass does: the pending view a walk writes holds only what is on the
// site, the recorder does not bring back what it evicted, and the heartbeat (RECENT_LOSS_HOURS)
// and `agent status` (RECENT_LOSS_DAYS) name only losses younger than that.
//
// Crash safety: the archive is appended and synced first, then `losses.jsonl` is replaced
// atomically by the summary and the losses kept. A crash between the two leaves records past the
// summary's `archiveBytes` in the archive, still in `losses.jsonl` as well: readers stop at
// `archiveBytes`, and the next compaction cuts them off before it appends.

/** A recordings loss older than this (and alerted) leaves `losses.jsonl` for the archive. */
export const ARCHIVE_AFTER_DAYS = 45;
/** The newest loss records stay in `losses.jsonl` whatever their age (status.json and `agent status --json` show the last ten). */
export const KEEP_NEWEST = 10;
/** `losses.jsonl` is compacted only past this size: below it, reading it whole costs nothing worth a rewrite. */
export const COMPACT_ABOVE_BYTES = 64 * 1024;

export const ARCHIVE_FILE = 'losses-archive.jsonl';

/** What the archive holds, counted: the first line of a compacted `losses.jsonl`. */
export interface ArchivedLosses {
  records: number;
  lostBatches: number;
  lostRecordings: number;
  /** When the newest archived loss was recorded. */
  lastAt: string;
  /** Bytes of the archive that are its records (anything after them is a compaction cut short). */
  archiveBytes: number;
}

/** The id of the summary line (loss ids are `l` and hex). */
export const ARCHIVE_LINE_ID = 'archive';

export const NO_ARCHIVE: ArchivedLosses = { records: 0, lostBatches: 0, lostRecordings: 0, lastAt: '', archiveBytes: 0 };

/** The batches (as totals counts them) a recordings loss names: its batch, or each batch directory of one lost unseen. */
export function batchKeys(l: LossEntry): string[] {
  if (l.kind === 'artefact') return [];
  return l.unseen ? l.files.map((f) => `${l.source}\t${f.name}`) : [`${l.source}\t${l.batch}`];
}

/**
 * The losses to archive now, oldest first: recordings losses alerted and recorded before
 * `before`, but not the newest KEEP_NEWEST, nor one of a batch a kept loss names (the batch
 * count stays exact: a batch is counted in the summary or in the file, never in both).
 */
export function archivable(entries: readonly LossEntry[], alerted: ReadonlySet<string>, before: string): LossEntry[] {
  const candidates = new Set(entries.slice(0, Math.max(0, entries.length - KEEP_NEWEST)).filter((l) => l.kind === 'recordings' && l.at < before && alerted.has(l.id)));
  const keptBatches = new Set(entries.filter((l) => !candidates.has(l)).flatMap(batchKeys));
  return [...candidates].filter((l) => !batchKeys(l).some((k) => keptBatches.has(k)));
}

/**
 * Moves `moved` to the archive (synced) and replaces `file` by the summary, counting them too, and
 * `keptLines` (the file's lines for the losses that stay). Returns the new summary.
 */
export function compactLosses(file: string, archive: string, summary: ArchivedLosses, moved: readonly LossEntry[], keptLines: readonly string[]): ArchivedLosses {
  // An archive deleted or cut short (tidied away while an older release that does not know it ran):
  // appending would start it again, and the count would name bytes that are other records.
  const held = existsSync(archive) ? statSync(archive).size : undefined;
  if (held === undefined ? summary.archiveBytes > 0 : held < summary.archiveBytes) {
    throw new Error(`${ARCHIVE_FILE} ${held === undefined ? 'is missing' : `holds ${held} bytes`}, but losses.jsonl counts ${summary.archiveBytes} bytes of loss records in it (${summary.records} records): put it back from a copy of the state directory`);
  }
  const fd = openSync(archive, 'a+');
  let size: number;
  try {
    // Records past archiveBytes are a compaction a crash cut short: they are still in `file`.
    if (fstatSync(fd).size > summary.archiveBytes) ftruncateSync(fd, summary.archiveBytes);
    const text = moved.map((loss) => `${JSON.stringify({ e: 'lost', loss })}\n`).join('');
    writeAllSync(fd, text);
    fsyncSync(fd);
    size = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  const batches = new Set(moved.flatMap(batchKeys));
  const next: ArchivedLosses = {
    records: summary.records + moved.length,
    lostBatches: summary.lostBatches + batches.size,
    lostRecordings: summary.lostRecordings + moved.reduce((n, l) => n + (l.unseen ? 0 : l.files.length), 0),
    lastAt: moved.reduce((at, l) => (l.at > at ? l.at : at), summary.lastAt),
    archiveBytes: size,
  };
  writeFileAtomic(file, `${JSON.stringify({ e: 'alerted', id: ARCHIVE_LINE_ID, archived: next })}\n${keptLines.join('')}`);
  return next;
}

/** Each archived loss, oldest first: the archive's first `archiveBytes`, read a chunk at a time. */
export function* archivedLosses(archive: string, archiveBytes: number): Generator<LossEntry> {
  if (archiveBytes === 0) return;
  if (!existsSync(archive)) throw new Error(`${archive} is missing: it held ${archiveBytes} bytes of the oldest loss records (losses.jsonl counts them in its first line)`);
  const fd = openSync(archive, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for (let at = 0; at < archiveBytes; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, archiveBytes - at), at);
      if (n === 0) throw new Error(`${archive} ends at ${at} bytes, before the ${archiveBytes} bytes of loss records losses.jsonl counts`);
      at += n;
      const lines = (rest + decoder.write(chunk.subarray(0, n))).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line) yield (JSON.parse(line) as { loss: LossEntry }).loss;
    }
    rest += decoder.end();
    if (rest) yield (JSON.parse(rest) as { loss: LossEntry }).loss;
  } finally {
    closeSync(fd);
  }
}
