import { AlreadyExistsError } from './errors.ts';
import type { ExportStatus, ExportStatusStore } from './exports.ts';

const keyOf = (s: { site: string; exportId: string }) => `${s.site}\u0000${s.exportId}`;

/** ExportStatusStore in memory (tests), with the DynamoDB store's conditions. */
export class MemoryExportStatusStore implements ExportStatusStore {
  readonly records = new Map<string, ExportStatus>();

  async create(status: ExportStatus): Promise<void> {
    const key = keyOf(status);
    if (this.records.has(key)) throw new AlreadyExistsError(`export ${status.exportId} already exists in site ${status.site}`);
    this.records.set(key, structuredClone(status));
  }

  async claim(status: ExportStatus): Promise<boolean> {
    const stored = this.records.get(keyOf(status));
    return this.replaceIf(status, stored?.state === 'running' && stored.startedAt === undefined);
  }

  async finish(status: ExportStatus): Promise<boolean> {
    return this.replaceIf(status, this.records.get(keyOf(status))?.state === 'running');
  }

  private replaceIf(status: ExportStatus, condition: boolean): boolean {
    if (condition) this.records.set(keyOf(status), structuredClone(status));
    return condition;
  }

  async get(site: string, exportId: string): Promise<ExportStatus | undefined> {
    const found = this.records.get(keyOf({ site, exportId }));
    return found ? structuredClone(found) : undefined;
  }
}
