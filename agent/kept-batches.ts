// The batches whose shipped record the journal's compaction keeps (agent/journal.ts `compact`):
// those a pass found on the recorder's disk, and every batch below a directory it could not
// read. A directory that cannot be read may still hold batches that shipped: forgetting what
// shipped from them would make their eviction look like batches lost unseen
// (agent/unreadable-batches.ts), a false critical loss.

export class KeptBatches extends Set<string> {
  private readonly under: string[];

  /** `under`: prefixes kept whole from the start (a source taken out of the configuration a short while ago). */
  constructor(under: readonly string[] = []) {
    super();
    this.under = [...under];
  }

  /** Keeps every key that starts with `prefix` (a directory's batch key and `/`). */
  keepUnder(prefix: string): void {
    this.under.push(prefix);
  }

  override has(key: string): boolean {
    return super.has(key) || this.under.some((p) => key.startsWith(p));
  }
}
