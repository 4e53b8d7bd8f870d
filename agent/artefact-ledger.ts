// What the journal knows about artefacts (backups, log segments, archives): the versions
// shipped per source and file name — with the content hash, so an unchanged file is never sent
// twice and an overwritten slot is recognised as new content — and the artefacts in flight.
// Pure state, fed by journal events; the Journal owns the file and the fsync.

import { nameShape } from './file-format.ts';

export interface ArtefactRecord {
  source: string;
  /** File name in the source's path. */
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  artefactId: string;
  key: string;
  partial: boolean;
  sequence?: number;
  /** A full that recorded its binlog position (a dump taken with --master-data): what reaches past a binlog gap. */
  positioned?: true;
  /** What its first bytes showed it to be (agent/file-format.ts), for rotated backups. */
  format?: string;
  /** When it was published (agent clock). */
  at: string;
}

export interface InflightArtefact extends Omit<ArtefactRecord, 'at'> {
  manifestKey: string;
  uploads: string[];
}

export type ArtefactEvent =
  | { e: 'art-begin'; art: Omit<InflightArtefact, 'uploads'> }
  | { e: 'art-published'; artefactId: string; at: string }
  /** The file's content is already offsite under this name: remember its new stamp. */
  | { e: 'art-known'; record: ArtefactRecord }
  | { e: 'art-abandoned'; artefactId: string; reason: string };

export interface ArtefactSnapshot {
  artefacts: ArtefactRecord[];
  inflightArtefacts: InflightArtefact[];
}

/** Versions remembered per file name (finals and partials each); older ones are only needed offsite. */
const VERSIONS_KEPT = 4;
const nameKey = (source: string, name: string) => `${source}\t${name}`;

export class ArtefactLedger {
  private readonly byName = new Map<string, ArtefactRecord[]>();
  readonly inflight = new Map<string, InflightArtefact>();

  /** Applies one event; returns the record when an artefact was newly published. */
  apply(ev: ArtefactEvent): ArtefactRecord | undefined {
    switch (ev.e) {
      case 'art-begin':
        this.inflight.set(ev.art.artefactId, { ...ev.art, uploads: [] });
        return undefined;
      case 'art-published': {
        const a = this.inflight.get(ev.artefactId);
        if (!a) return undefined;
        this.inflight.delete(ev.artefactId);
        const { manifestKey: _m, uploads: _u, ...rest } = a;
        const record: ArtefactRecord = { ...rest, at: ev.at };
        this.remember(record);
        return record;
      }
      case 'art-known':
        this.remember(ev.record);
        return undefined;
      case 'art-abandoned':
        this.inflight.delete(ev.artefactId);
        return undefined;
    }
  }

  private remember(record: ArtefactRecord): void {
    const key = nameKey(record.source, record.name);
    const list = [...(this.byName.get(key) ?? []), record];
    const finals = list.filter((r) => !r.partial).slice(-VERSIONS_KEPT);
    const partials = list.filter((r) => r.partial).slice(-VERSIONS_KEPT);
    this.byName.set(key, [...finals, ...partials].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)));
  }

  /** The version shipped from exactly this file state (name, size, mtime), if any. */
  shipped(source: string, name: string, size: number, mtimeMs: number, partial = false): ArtefactRecord | undefined {
    return this.byName.get(nameKey(source, name))?.find((r) => r.partial === partial && r.size === size && r.mtimeMs === Math.trunc(mtimeMs));
  }

  /** The version of this name with exactly this content, if any. */
  withContent(source: string, name: string, sha256: string, partial = false): ArtefactRecord | undefined {
    return this.byName.get(nameKey(source, name))?.find((r) => r.partial === partial && r.sha256 === sha256);
  }

  /** The newest partial of a name (binlog active segment). */
  lastPartial(source: string, name: string): ArtefactRecord | undefined {
    return this.byName.get(nameKey(source, name))?.filter((r) => r.partial).at(-1);
  }

  /** Every remembered version of a source, oldest publication first. */
  records(source: string): ArtefactRecord[] {
    const out: ArtefactRecord[] = [];
    for (const [k, list] of this.byName) if (k.startsWith(`${source}\t`)) out.push(...list);
    return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  /**
   * State to write in a snapshot. With `keepNames` (source\tname still on disk), versions of
   * files gone from the site are forgotten, except per source the newest and the highest
   * sequence (binlog gap detection and "last shipped" need them).
   */
  snapshot(keepNames?: ReadonlySet<string>): ArtefactSnapshot {
    const all = [...this.byName.values()].flat();
    let kept = all;
    if (keepNames) {
      const anchors = new Set<ArtefactRecord>();
      const bySource = new Map<string, ArtefactRecord[]>();
      for (const r of all) bySource.set(r.source, [...(bySource.get(r.source) ?? []), r]);
      for (const list of bySource.values()) {
        anchors.add(list.reduce((a, b) => (b.at > a.at ? b : a)));
        // The newest full of each name shape: what a later version's format is judged against (artefact-runner.ts).
        const newestByShape = new Map<string, ArtefactRecord>();
        for (const r of list) {
          if (r.partial || !r.format) continue;
          const before = newestByShape.get(nameShape(r.name));
          if (!before || r.at >= before.at) newestByShape.set(nameShape(r.name), r);
        }
        for (const r of newestByShape.values()) anchors.add(r);
        const finals = list.filter((r) => !r.partial && r.sequence !== undefined);
        if (finals.length > 0) anchors.add(finals.reduce((a, b) => ((b.sequence ?? 0) > (a.sequence ?? 0) ? b : a)));
      }
      kept = all.filter((r) => keepNames.has(nameKey(r.source, r.name)) || anchors.has(r));
    }
    return { artefacts: kept, inflightArtefacts: [...this.inflight.values()] };
  }

  restore(snapshot: Partial<ArtefactSnapshot>): void {
    this.byName.clear();
    this.inflight.clear();
    for (const r of snapshot.artefacts ?? []) this.remember(r);
    for (const a of snapshot.inflightArtefacts ?? []) this.inflight.set(a.artefactId, a);
  }
}

export { nameKey as artefactNameKey };
