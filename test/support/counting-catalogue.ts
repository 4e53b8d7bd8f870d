import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueEntry } from '../../core/ports.ts';

// A memory catalogue that counts the reads DynamoDB would bill for recordings: each GetItem
// (getRecording), and each getRecordings call with the number of keys it asked for (the
// DynamoDB adapter sends them 100 to a BatchGetItem). Tests of the hold use-cases assert with it
// that a case's members are read in batches, never one GetItem each.

export class CountingCatalogue extends MemoryCatalogue {
  /** One entry a GetItem: the rid. */
  getItems: string[] = [];
  /** One entry a getRecordings call: how many keys it asked for. */
  batchGets: number[] = [];
  /** The memory catalogue answers a batch by its own getRecording: those are no GetItem. */
  private inBatch = 0;

  reset(): void {
    this.getItems = [];
    this.batchGets = [];
  }

  /** BatchGetItem requests the DynamoDB adapter sends for the getRecordings calls so far (100 keys a request). */
  batchGetItemRequests(): number {
    return this.batchGets.reduce((n, keys) => n + Math.ceil(keys / 100), 0);
  }

  override async getRecording(site: string, rid: string): Promise<CatalogueEntry | undefined> {
    if (this.inBatch === 0) this.getItems.push(rid);
    return super.getRecording(site, rid);
  }

  override async getRecordings(keys: readonly { site: string; rid: string }[]): Promise<Map<string, CatalogueEntry>> {
    this.batchGets.push(new Set(keys.map((k) => `${k.site}\u0000${k.rid}`)).size);
    this.inBatch++;
    try {
      return await super.getRecordings(keys);
    } finally {
      this.inBatch--;
    }
  }
}
