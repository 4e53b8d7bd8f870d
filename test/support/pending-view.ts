import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FileStamp } from '../../agent/journal.ts';
import { Observations } from '../../agent/state/observations.ts';

// A source's pending view as an agent's pass leaves it in the state directory (agent/state/
// pending-view.ts, `pending/{source}.jsonl`, and the pass recorded in observations.json).

export interface ViewEntry {
  batch: string;
  files: FileStamp[];
}

/** Writes `entries` (in batch order) as the source's committed pending view. */
export function writePendingView(state: string, source: string, entries: Iterable<ViewEntry>, at = new Date()): void {
  const observations = new Observations(state);
  const writer = observations.pendingWriter(source);
  let batches = 0;
  try {
    for (const e of entries) {
      writer.add(e.batch, e.files);
      batches++;
    }
    writer.commit();
  } finally {
    writer.close();
  }
  observations.pendingCommitted(source, batches, at);
}

/** The `.wav` recordings of every batch directory under `root`, as a pass would have seen them pending. */
export function viewOfTree(root: string): ViewEntry[] {
  return readdirSync(root)
    .sort()
    .map((batch) => ({
      batch,
      files: readdirSync(join(root, batch))
        .filter((n) => n.endsWith('.wav'))
        .sort()
        .map((name) => {
          const st = statSync(join(root, batch, name));
          return { name, size: st.size, mtimeMs: st.mtimeMs };
        }),
    }));
}
