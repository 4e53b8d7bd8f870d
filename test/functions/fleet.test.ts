import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { FleetRow } from '../../core/fleet.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { createHandler, loadFleetDeps } from '../../functions/fleet/handler.ts';
import { fleetSitesOf, writeSimulatedFleet, type SimulatedSite } from '../../scripts/demo/fleet.ts';
import { httpEvent } from '../support/http-event.ts';

// The fleet function's handler on in-memory stores: the rows it answers are judged by core
// (core/fleet.ts), so this checks what the handler adds: the as-of header, the parameter check,
// and the environment it refuses to start without. The bundle behind the local IAM and the page
// are in test/web/fleet-page.test.ts.

const NOW = new Date('2026-12-03T07:00:00Z');
const SITES: SimulatedSite[] = [{ name: 'north', backupCron: '30 2 * * ? *' }, { name: 'east', problem: 'silent' }, { name: 'south', problem: 'stale-binlog' }];

async function handlerWithFleet() {
  const blobs = new MemoryBlobStore();
  const runs = new MemoryRunStore();
  await writeSimulatedFleet({ blobs, runs }, SITES, NOW);
  return createHandler({ blobs, runs, sites: fleetSitesOf(SITES), clock: new ManualClock(NOW), log: () => undefined });
}

describe('fleet function', () => {
  it('answers 200 with one row per site worst first and X-Ferry-As-Of the instant the ages are counted to', async () => {
    const res = await (await handlerWithFleet())(httpEvent('GET', '/fleet'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['X-Ferry-As-Of']).toBe(NOW.toISOString());
    const rows = JSON.parse(res.body as string) as FleetRow[];
    expect(rows.map((r) => `${r.site}:${r.state}`)).toEqual(['east:SILENT', 'south:WARN', 'north:OK']);
    expect(rows[0]!.heartbeatAgeSeconds).toBe(3 * 3600);
    expect(rows[1]!.reasons).toEqual(['db: newest shipped binlog position is 240 min old (RPO above 60 min)']);
  });

  it('answers a query parameter with 400 naming it', async () => {
    const res = await (await handlerWithFleet())(httpEvent('GET', '/fleet', { query: { site: 'north' } }));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body as string)).toMatchObject({ error: 'InvalidInputError', message: 'invalid request: site: unknown parameter (GET /fleet takes none)' });
  });

  it('refuses to start without FLEET_SITES, or with one that is not a list of sites, naming the variable', () => {
    const base = { BUCKET: 'ferry-data', TABLE: 'ferry-catalogue' };
    expect(() => loadFleetDeps(base)).toThrow(/FLEET_SITES/);
    expect(() => loadFleetDeps({ ...base, FLEET_SITES: '[]' })).toThrow(/FLEET_SITES must be a JSON list of sites/);
  });
});
