import { describe, expect, it } from 'vitest';
import { renderBackups } from '../../cli/backups-commands.ts';
import { renderCalls } from '../../cli/calls-commands.ts';
import { renderSnapshots } from '../../cli/tree-commands.ts';
import { listSnapshots } from '../../agent/tree/offsite-snapshots.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { ArtefactEntry, CatalogueEntry } from '../../core/ports.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// `ferry calls search`, `ferry backups list` and `ferry snapshots list` say which host shipped
// each copy (a column; --json has the manifest's shippedBy), and "not recorded" for one shipped
// before agents said so.

const PRIMARY = { host: 'rec-primary.example', agentId: '6f1c2a3b-1111-4aaa-8bbb-000000000001' };
const SECONDARY = { host: 'rec-secondary.example', agentId: '6f1c2a3b-2222-4aaa-8bbb-000000000002' };

const call = (i: number, start: string, shippedBy?: CatalogueEntry['shippedBy']) =>
  ({ site: 'site-a', rid: `r${String(i).padStart(23, '0')}`, start, meta: { callId: '000001000', agent: 'ann', caller: '+441', called: '+442', durationSec: 30 }, ...(shippedBy ? { shippedBy } : {}) }) as unknown as CatalogueEntry;

const backup = (name: string, shippedBy?: ArtefactEntry['shippedBy']) =>
  ({ site: 'site-a', source: 'db', sourceType: 'rotated', role: 'full', artefactId: `a${name}`, key: `backups/site-a/db/${name}`, manifestKey: 'k', name, size: 10, sha256: '0'.repeat(64), takenAt: '2026-12-04T02:00:00.000Z', createdAt: '2026-12-04T02:00:00.000Z', ...(shippedBy ? { shippedBy } : {}) }) as ArtefactEntry;

/** The cells of a table's rows under the header `column`. */
function column(table: string, name: string): string[] {
  const [header, ...rows] = table.trimEnd().split('\n');
  const at = header!.indexOf(name);
  const next = header!.slice(at + name.length).search(/\S/);
  return rows.filter((r) => r.length > at).map((r) => (next < 0 ? r.slice(at) : r.slice(at, at + name.length + next)).trim());
}

describe('the CLI listings name the host that shipped each copy', () => {
  it('`calls search` has a "shipped by" column telling apart two calls with one call id, "not recorded" for an old one', () => {
    const table = renderCalls([call(1, '2026-12-01T09:00:00.000Z', PRIMARY), call(2, '2026-12-04T09:00:00.000Z', SECONDARY), call(3, '2025-06-01T09:00:00.000Z')]);
    expect(column(table, 'shipped by').slice(0, 3)).toEqual(['rec-primary.example', 'rec-secondary.example', 'not recorded']);
  });

  it('`backups list` has a "shipped by" column, "not recorded" for a backup shipped before', () => {
    expect(column(renderBackups([backup('full-1.sql', SECONDARY), backup('full-0.sql')]), 'shipped by').slice(0, 2)).toEqual(['rec-secondary.example', 'not recorded']);
  });

  it('`snapshots list` reads shippedBy from the manifests (its --json carries it, host and agent id) and shows the host in a column, "not recorded" for an old snapshot', async () => {
    const blobs = new MemoryBlobStore();
    const packs = [await publishTreePack(blobs, 'site-a', 'share', new Date('2026-12-04T03:00:00Z'), ['book'])];
    await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2025-06-01T03:00:00.000Z', packs });
    await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2026-12-04T03:00:00.000Z', packs, edit: (m) => void (m.shippedBy = SECONDARY) });
    const rows = await listSnapshots(blobs, 'site-a', 'share');
    expect(rows.map((r) => [r.takenAt, r.shippedBy])).toEqual([['2025-06-01T03:00:00.000Z', undefined], ['2026-12-04T03:00:00.000Z', SECONDARY]]);
    expect(column(renderSnapshots(rows), 'shipped by')).toEqual(['not recorded', 'rec-secondary.example']);
  });
});
