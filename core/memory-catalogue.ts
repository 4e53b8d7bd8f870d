import {
  COPY_SK_PREFIX,
  SORT_KEY_NAME,
  copyKey,
  copyToItem,
  itemToCopy,
  compareKeys,
  durationPageOf,
  entryToItem,
  itemToEntry,
  matchesPlan,
  packRecordKey,
  packToItem,
  itemToPack,
  pageOf,
  planSearch,
  recordingKey,
  sortsByDuration,
  type CatalogueItem,
} from './catalogue-table.ts';
import { artefactPageOf, artefactSourcePk, artefactToItem, itemToSourceRecord, matchesArtefactPlan, planArtefactQuery, sourceRecordToItem } from './artefact-items.ts';
import { matchesSnapshotPlan, planSnapshotQuery, snapshotPageOf, snapshotPk, snapshotSk, snapshotToItem, type SnapshotPage, type SnapshotQuery } from './snapshot-items.ts';
import type { SnapshotSummary } from './tree-manifest.ts';
import { stoppedPageOf } from './catalogue-budget.ts';
import { systemClock } from './clock.ts';
import { recordingLookupKey, type ArtefactEntry, type ArtefactPage, type ArtefactQuery, type ArtefactSourceRecord, type CatalogueEntry, type CatalogueStore, type PackRecord, type ReadBudget, type RecordingCopy, type RecordingPage, type RecordingQuery } from './ports.ts';

/**
 * In-memory catalogue with the same items, plan and cursor as DynamoCatalogue: it stores the
 * very items the key builders produce and answers searches by running the search plan over
 * the index attributes, so the contract suite holds both to one behaviour.
 */
export class MemoryCatalogue implements CatalogueStore {
  private readonly items = new Map<string, CatalogueItem>();

  async putRecordings(entries: CatalogueEntry[]): Promise<void> {
    // Build every item first: one bad entry writes nothing, like a validation error would.
    const items = entries.map(entryToItem);
    for (const item of items) this.items.set(keyOf(item), structuredClone(item));
  }

  async putPack(pack: PackRecord): Promise<void> {
    const item = packToItem(pack);
    this.items.set(keyOf(item), structuredClone(item));
  }

  async putCopies(copies: RecordingCopy[]): Promise<void> {
    for (const item of copies.map(copyToItem)) this.items.set(keyOf(item), item);
  }

  async copiesOf(site: string, rids: readonly string[]): Promise<Map<string, RecordingCopy[]>> {
    const found = new Map<string, RecordingCopy[]>();
    for (const rid of new Set(rids)) {
      const pk = recordingKey(site, rid).pk;
      const copies = [...this.items.values()].filter((i) => i.pk === pk && i.sk.startsWith(COPY_SK_PREFIX)).sort((a, b) => (a.sk < b.sk ? -1 : 1)).map(itemToCopy);
      if (copies.length) found.set(recordingLookupKey(site, rid), copies);
    }
    return found;
  }

  async forgetPack(site: string, packId: string, rids: string[]): Promise<void> {
    for (const rid of rids) {
      const key = keyOf(recordingKey(site, rid));
      // As DynamoDB's conditional delete: an entry re-pointed to another pack since stays.
      if (this.items.get(key)?.packId === packId) this.items.delete(key);
      this.items.delete(keyOf(copyKey(site, rid, packId)));
    }
    this.items.delete(keyOf(packRecordKey(site, packId)));
  }

  async forgetArtefact(entry: ArtefactEntry): Promise<void> {
    this.items.delete(keyOf(artefactToItem(entry)));
  }

  async getRecording(site: string, rid: string): Promise<CatalogueEntry | undefined> {
    const item = this.items.get(keyOf(recordingKey(site, rid)));
    return item ? itemToEntry(structuredClone(item)) : undefined;
  }

  async packKeysOf(keys: readonly { site: string; rid: string }[]): Promise<Map<string, string>> {
    return new Map([...(await this.getRecordings(keys))].map(([k, e]) => [k, e.packKey]));
  }

  async getRecordings(keys: readonly { site: string; rid: string }[]): Promise<Map<string, CatalogueEntry>> {
    const found = new Map<string, CatalogueEntry>();
    for (const { site, rid } of keys) {
      const entry = await this.getRecording(site, rid);
      if (entry) found.set(recordingLookupKey(site, rid), entry);
    }
    return found;
  }

  /** For tests and tools: the pack record, or undefined. */
  async getPack(site: string, packId: string): Promise<PackRecord | undefined> {
    const item = this.items.get(keyOf(packRecordKey(site, packId)));
    return item ? itemToPack(item) : undefined;
  }

  async searchRecordings(query: RecordingQuery): Promise<RecordingPage> {
    const plan = planSearch(query);
    // As an index Query reads: every entry of the branches in the key range, in the plan's order
    // (a duration sort reads in start order), matching or not, each counted against the budget.
    const inRange = new Map<string, CatalogueItem>();
    for (const item of this.items.values()) {
      const onBranch = plan.branches.some((b) => item[b.index.partitionKey.name] === b.partitionValue);
      if (onBranch && matchesPlan(item, { ...plan, meta: {}, filters: [] })) inRange.set(item[SORT_KEY_NAME] as string, item);
    }
    const readOrder = sortsByDuration(plan) ? 'start' : plan.sort;
    const candidates = [...inRange.entries()].sort(([a], [b]) => compareKeys(a, b, readOrder));
    const enough = sortsByDuration(plan) ? Number.POSITIVE_INFINITY : plan.limit + 1;
    const found: CatalogueItem[] = [];
    let read = 0;
    for (const [, item] of candidates) {
      if (read > 0 && spent(plan.budget, read)) return stoppedPageOf(found.map((i) => structuredClone(i)), candidates[read - 1]![0], plan.sort, read);
      read++;
      if (matchesPlan(item, plan)) found.push(item);
      if (found.length >= enough) break;
    }
    const copies = found.map((item) => structuredClone(item));
    return { ...(sortsByDuration(plan) ? durationPageOf(copies, plan) : pageOf(copies, plan.limit, plan.sort)), ...(plan.budget ? { read } : {}) };
  }

  async putArtefact(entry: ArtefactEntry): Promise<void> {
    const items = [artefactToItem(entry), sourceRecordToItem(entry)];
    for (const item of items) this.items.set(keyOf(item), structuredClone(item));
  }

  async listArtefacts(query: ArtefactQuery): Promise<ArtefactPage> {
    const plan = planArtefactQuery(query);
    const found = [...this.items.values()]
      .filter((item) => matchesArtefactPlan(item, plan))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0))
      .slice(0, plan.limit + 1)
      .map((item) => structuredClone(item));
    return artefactPageOf(found, plan.limit);
  }

  async listArtefactSources(site: string): Promise<ArtefactSourceRecord[]> {
    const pk = artefactSourcePk(site);
    return [...this.items.values()]
      .filter((item) => item.pk === pk)
      .sort((a, b) => (a.sk < b.sk ? -1 : 1))
      .map(itemToSourceRecord);
  }

  async putSnapshot(summary: SnapshotSummary): Promise<void> {
    const item = snapshotToItem(summary);
    this.items.set(keyOf(item), structuredClone(item));
  }

  async listSnapshots(query: SnapshotQuery): Promise<SnapshotPage> {
    const plan = planSnapshotQuery(query);
    const found = [...this.items.values()]
      .filter((item) => matchesSnapshotPlan(item, plan))
      .sort((a, b) => (a.sk < b.sk ? 1 : a.sk > b.sk ? -1 : 0))
      .slice(0, plan.limit + 1)
      .map((item) => structuredClone(item));
    return snapshotPageOf(found, plan.limit);
  }

  async forgetSnapshot(summary: Pick<SnapshotSummary, 'site' | 'source' | 'takenAt' | 'snapshotId'>): Promise<void> {
    this.items.delete(keyOf({ pk: snapshotPk(summary.site), sk: snapshotSk(summary) }));
  }

  /** Number of stored items (recordings, packs, artefacts and their source records, tree snapshots); for tests. */
  get size(): number {
    return this.items.size;
  }
}

/** Whether a page that has read `read` entries has spent its budget. */
function spent(budget: ReadBudget | undefined, read: number): boolean {
  if (!budget) return false;
  return (budget.items !== undefined && read >= budget.items) || (budget.deadline !== undefined && systemClock.now().getTime() >= budget.deadline);
}

function keyOf(key: { pk: string; sk: string }): string {
  return `${key.pk}\u0000${key.sk}`;
}
