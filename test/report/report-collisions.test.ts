// Calls shipped under the id of a call catalogued before (an agent that lost its state directory,
// a recorder reusing paths with the very same audio) are named by ingest in its log, its metric
// and the catalogued call's issues: the daily report, which operators and officers read, counts
// them too, with both calls' metadata and what to do, as a warning (the day's status stands).
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { COLLISION_EXAMPLES } from '../../core/report-collisions.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const DAY = '2026-03-02';
const NOW = () => new Date('2026-03-03T07:00:00Z');

/** A site whose calls `0..n-1` were catalogued in February and whose day's pack holds `collide` new calls at the same paths with the same audio (other file times, other call ids), and one call of its own. */
async function siteWith(collide: number, n = Math.max(collide, 1)) {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const old = buildPack('site-a', Array.from({ length: n }, (_, i) => ({ path: `b0/call-${i}.wav`, body: audio(i, 600), mtime: '2026-02-10T08:00:00.000Z', meta: { callId: `OLD-${i}`, start: '2026-02-10T07:59:00Z', caller: '+44 1', agent: 'ann' } })), { day: '2026-02-10T00:00:00Z', seed: 'old' });
  old.manifest.createdAt = '2026-02-10T09:00:00.000Z';
  old.manifestBytes = serializeManifest(old.manifest);
  await publish(blobs, old);
  await ingestManifest({ blobs, catalogue }, old.manifestKey);
  const members = [
    ...Array.from({ length: collide }, (_, i) => ({ path: `b0/call-${i}.wav`, body: audio(i, 600), mtime: `${DAY}T08:00:00.000Z`, meta: { callId: `NEW-${i}`, start: `${DAY}T07:58:00Z`, caller: '+44 2', agent: 'bob' } })),
    { path: 'b1/own.wav', body: audio(99, 600), mtime: `${DAY}T08:00:00.000Z`, meta: { callId: 'OWN' } },
  ];
  const day = buildPack('site-a', members, { day: `${DAY}T00:00:00Z`, seed: 'day' });
  day.manifest.createdAt = `${DAY}T09:00:00.000Z`;
  day.manifestBytes = serializeManifest(day.manifest);
  await publish(blobs, day);
  const ingested = await ingestManifest({ blobs, catalogue }, day.manifestKey);
  expect(ingested.collisions ?? []).toHaveLength(collide);
  for (const time of [`${DAY}T08:00:00.000Z`, '2026-03-03T00:05:00.000Z']) {
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: time, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: time, failed: 0, lost: 0 } };
    await blobs.put(heartbeatKey('site-a', new Date(time)), Buffer.from(JSON.stringify(hb)));
  }
  return { deps: { blobs, catalogue }, day, old };
}

describe('call collisions in the daily report', () => {
  it("counts the day's collision and names both calls' metadata and what to do, as a warning that leaves the day FULL", async () => {
    const { deps, day, old } = await siteWith(1);
    const report = await dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });
    expect(report.status).toBe('FULL');
    expect(report.problems).toEqual([]);
    expect(report.collisions).toMatchObject({ count: 1, examples: [{ kind: 'merged', path: 'b0/call-0.wav', catalogued: { callId: 'OLD-0', manifestKey: old.manifestKey }, shipped: { callId: 'NEW-0', manifestKey: day.manifestKey } }] });
    const text = renderDailyReport(report);
    expect(text).toContain("warning: 1 call(s) of the day's packs collided with calls catalogued before (listed; the day's status stands):");
    expect(text).toMatch(/- b0\/call-0\.wav: a call shipped under the id r\w+ of a call catalogued before, .*catalogued: call id OLD-0, start 2026-02-10T07:59:00Z, agent ann, .*; shipped: call id NEW-0, start 2026-03-02T07:58:00Z, agent bob/);
    expect(text).toMatch(/what to do: the site's agent could not tell these calls from calls it shipped before: its state directory was lost or replaced/);
  });

  it(`names the first ${COLLISION_EXAMPLES} collisions and counts the others`, async () => {
    const { deps } = await siteWith(COLLISION_EXAMPLES + 2);
    const report = await dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });
    expect(report.collisions?.count).toBe(COLLISION_EXAMPLES + 2);
    expect(report.collisions?.texts).toHaveLength(COLLISION_EXAMPLES);
    expect(renderDailyReport(report)).toContain('- and 2 more');
  });

  it('has no collisions section when the day shipped new calls only', async () => {
    const { deps } = await siteWith(0);
    const report = await dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });
    expect(report.status).toBe('FULL');
    expect(report.collisions).toBeUndefined();
    expect(renderDailyReport(report)).not.toContain('collided');
  });

  it('says when a pack of the day could not be checked (the catalogue refusing), instead of reporting no collision', async () => {
    const { deps } = await siteWith(1);
    const catalogue = Object.assign(Object.create(deps.catalogue) as MemoryCatalogue, { packKeysOf: () => Promise.reject(new Error('ProvisionedThroughputExceededException')) });
    const report = await dailyReport({ ...deps, catalogue }, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });
    expect(report.collisions).toMatchObject({ count: 0, unread: expect.stringMatching(/^1 pack\(s\) of the day not checked for collisions: manifests\/site-a\/.*: ProvisionedThroughputExceededException$/) });
    expect(renderDailyReport(report)).toContain("warning: the day's packs could not all be checked for call collisions (listed; the day's status stands):");
  });
});
