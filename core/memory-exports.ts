import { AlreadyExistsError } from './errors.ts';
import type { ExportStatus, ExportStatusStore } from './exports.ts';

/** ExportStatusStore in memory (tests). */
export class MemoryExportStatusStore implements ExportStatusStore {
  readonly records = new Map<string, ExportStatus>();

  async create(status: ExportStatus): Promise<void> {
    const key = `${status.site}\u0000${status.exportId}`;
    if (this.records.has(key)) throw new AlreadyExistsError(`export ${status.exportId} already exists in site ${status.site}`);
    this.records.set(key, structuredClone(status));
  }

  async finish(status: ExportStatus): Promise<void> {
    this.records.set(`${status.site}\u0000${status.exportId}`, structuredClone(status));
  }

  async get(site: string, exportId: string): Promise<ExportStatus | undefined> {
    const found = this.records.get(`${site}\u0000${exportId}`);
    return found ? structuredClone(found) : undefined;
  }
}
