import type { ArtefactEvent, ArtefactSnapshot } from './artefact-ledger.ts';

// What the journal (agent/journal.ts) records: the packs in flight, the files each shipped, the
// totals and losses, and the events its lines are made of.

export interface FileStamp {
  /** File name inside the batch directory. */
  name: string;
  size: number;
  mtimeMs: number;
}

export interface InflightPack {
  packId: string;
  source: string;
  batch: string;
  packKey: string;
  manifestKey: string;
  files: FileStamp[];
  uploads: string[];
  /** Begun for a pack found already offsite (nothing sent): recovered, it is counted found, not shipped. */
  found?: true;
}

export interface Totals {
  packs: number;
  recordings: number;
  bytes: number;
  lostBatches: number;
  lostRecordings: number;
  /** Artefacts (backups, segments incl. partials, archives) published. */
  artefacts: number;
  artefactBytes: number;
  /** Artefact versions the site removed or overwrote before they were shipped. */
  lostArtefacts: number;
  /**
   * Packs found already offsite (an earlier state directory shipped them: a host rebuilt, a
   * directory restored from a copy) and not sent again: not in `packs`, `recordings`, `bytes`,
   * which count what this directory sent.
   */
  foundPacks?: number;
  foundRecordings?: number;
  foundBytes?: number;
}

export interface LossRecord {
  source: string;
  batch: string;
  files: string[];
  reason: string;
  at: string;
  /** 'artefact': `batch` is the file name and one artefact version was lost (not recordings). */
  kind?: 'artefact';
}

export type Event =
  | { e: 'begin'; pack: Omit<InflightPack, 'uploads'> }
  | { e: 'upload'; packId: string; uploadId: string }
  | { e: 'upload-end'; packId: string; uploadId: string }
  | { e: 'published'; packId: string; recordings: number; bytes: number; found?: 1 }
  | { e: 'abandoned'; packId: string; reason: string }
  | { e: 'lost'; loss: LossRecord }
  // `index: 1`: the shipped files are in the shipped index (`shipped` is empty); older snapshots list them.
  | ({ e: 'snapshot'; shipped: Record<string, string[]>; index?: 1; inflight: InflightPack[]; totals: Totals; losses: LossRecord[] } & Partial<ArtefactSnapshot>)
  | ArtefactEvent;
