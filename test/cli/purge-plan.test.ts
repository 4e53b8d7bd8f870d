import { describe, it, expect } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';
import { purgePlan, renderPlan } from '../../cli/purge-commands.ts';
import { InvalidInputError } from '../../core/errors.ts';

const NOW = '2026-06-01T00:00:00Z';

async function site() {
  const deps = { blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue(), holds: new MemoryHoldStore() };
  const old = await publishPack(deps, 'site-a', new Date(NOW), 'old', [400, 401]);
  const mid = await publishPack(deps, 'site-a', new Date(NOW), 'mid', [120]);
  await publishPack(deps, 'site-a', new Date(NOW), 'held', [400], { hold: [0] });
  await publishPack(deps, 'site-a', new Date(NOW), 'young', [3]);
  return { deps, old, mid };
}

describe('ferry purge plan', () => {
  it('says what a shortened retention would delete before it is deployed (held calls kept), deleting nothing', async () => {
    const { deps, old, mid } = await site();
    const now = await purgePlan({ site: 'site-a', retentionDays: '365', at: NOW }, deps);
    expect(now.targets.filter((t) => t.kind === 'pack').map((t) => t.key)).toEqual([old.packKey]);
    const shorter = await purgePlan({ site: 'site-a', retentionDays: '90', at: NOW }, deps);
    expect(shorter.targets.filter((t) => t.kind === 'pack').map((t) => t.key).sort()).toEqual([old.packKey, mid.packKey].sort());
    const text = renderPlan({ site: 'site-a', retentionDays: '90', at: NOW }, shorter);
    expect(text).toContain('purge of site site-a with retentionDays 90 (calls that started before 2026-03-03T00:00:00.000Z) would delete: 2 packs');
    expect(text).toContain('kept of what is old enough to go: 1 pack(s) (1 for calls on legal hold)');
    expect(text).toContain('nothing was deleted: this is a plan');
    // Nothing was deleted.
    for (const key of [old.packKey, old.manifestKey, mid.packKey]) expect(await deps.blobs.head(key)).toBeDefined();
  });

  it('refuses a retention that is not a whole number of days, naming it', async () => {
    const { deps } = await site();
    await expect(purgePlan({ site: 'site-a', retentionDays: 'ninety' }, deps)).rejects.toThrow(InvalidInputError);
    await expect(purgePlan({ site: 'site-a', retentionDays: '0' }, deps)).rejects.toThrow(/--retention-days 0: retentionDays: /);
    await expect(purgePlan({ site: 'Site A', retentionDays: '90' }, deps)).rejects.toThrow(/--site "Site A" is not a site name/);
  });
});
