import { AlreadyExistsError, NotFoundError } from './errors.ts';
import { caseChanged, caseToItem, caseVersion, holdToItem, itemToCase, itemToHold, type CaseRecord, type HoldRecord, type HoldStore } from './hold-items.ts';
import type { ObjectHolder } from './holds.ts';

/** HoldStore in memory, storing the very items DynamoHoldStore writes (core/hold-items.ts). */
export class MemoryHoldStore implements HoldStore {
  private readonly items = new Map<string, Record<string, unknown>>();

  async putHold(hold: HoldRecord): Promise<void> {
    const item = holdToItem(hold);
    this.items.set(`${item.pk}\u0000${item.sk}`, structuredClone(item));
  }

  async listHolds(site: string): Promise<HoldRecord[]> {
    const pk = holdToItem({ site, rid: '', scope: { kind: 'call' }, reason: '', placedBy: '', placedAt: '' }).pk;
    return [...this.items.values()]
      .filter((i) => i.pk === pk)
      .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1))
      .map((i) => itemToHold(structuredClone(i)));
  }

  async holdsOf(site: string, rid: string): Promise<HoldRecord[]> {
    return (await this.listHolds(site)).filter((h) => h.rid === rid);
  }

  async createCase(record: CaseRecord): Promise<void> {
    const item = caseToItem(record);
    const key = `${item.pk}\u0000${item.sk}`;
    if (this.items.has(key)) throw new AlreadyExistsError(`case ${record.caseId} already exists in site ${record.site}`);
    this.items.set(key, structuredClone(item));
  }

  async updateCase(record: CaseRecord): Promise<CaseRecord> {
    const written = { ...record, version: caseVersion(record) + 1 };
    const item = caseToItem(written);
    const key = `${item.pk}\u0000${item.sk}`;
    const stored = this.items.get(key);
    if (!stored) throw new NotFoundError(`no case ${record.caseId} in site ${record.site}`);
    // As DynamoHoldStore's condition: the version read is still the one stored.
    const found = caseVersion(itemToCase(stored));
    if (found !== caseVersion(record)) throw caseChanged(record, found);
    this.items.set(key, structuredClone(item));
    return written;
  }

  async getCase(site: string, caseId: string): Promise<CaseRecord | undefined> {
    const key = `${caseToItem({ site, caseId, name: '', reason: '', createdBy: '', createdAt: '', members: [] }).pk}\u0000${caseId}`;
    const item = this.items.get(key);
    return item ? itemToCase(structuredClone(item)) : undefined;
  }

  async listCases(site: string): Promise<CaseRecord[]> {
    const pk = caseToItem({ site, caseId: '', name: '', reason: '', createdBy: '', createdAt: '', members: [] }).pk;
    return [...this.items.values()]
      .filter((i) => i.pk === pk)
      .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1))
      .map((i) => itemToCase(structuredClone(i)));
  }
}

/** ObjectHolder in memory: the legal hold status of each key, as S3 keeps it per object. */
export class MemoryObjectHolder implements ObjectHolder {
  readonly status = new Map<string, 'ON' | 'OFF'>();

  async setLegalHold(key: string, on: boolean): Promise<void> {
    this.status.set(key, on ? 'ON' : 'OFF');
  }

  isHeld(key: string): boolean {
    return this.status.get(key) === 'ON';
  }
}
