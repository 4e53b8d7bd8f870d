import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryErasureStore } from '../../core/erasure-items.ts';
import { erasureGate } from '../../core/erasures.ts';
import { placeHold } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHandler } from '../../functions/console/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { consoleCaller, consoleToken, officerA, parseJson, testConsoleVerifier } from '../support/console-handler.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// The console's erasure routes: the holds function's code (core/erasures.ts) run in process for
// the signed-in officer, scoped to the officer's sites as the console's hold routes are, over
// memory stores holding a published, ingested pack per site.

const NOW = new Date('2026-06-01T00:00:00.000Z');
const base = '/console/sites/site-a';

async function setup() {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const erasures = new MemoryErasureStore();
  const events: AuditEvent[] = [];
  const a = await publishPack({ blobs, catalogue }, 'site-a', NOW, 'a', [10, 20]);
  const handler = createHandler({
    verifier: testConsoleVerifier(),
    sites: ['site-a', 'site-b'],
    catalogue: erasureGate(catalogue, erasures),
    holds: { holds, erasures, catalogue, blobs, holder: new MemoryObjectHolder() },
    links: async () => 'https://replay.example/',
    audit: (e) => void events.push(e),
    clock,
    cursorKey: 'k'.repeat(32),
    log: () => undefined,
  });
  return { call: consoleCaller(handler), rids: a.manifest.members.map((m) => m.rid), events, holdDeps: { holds, catalogue, blobs, holder: new MemoryObjectHolder(), clock } };
}

describe('console erasure routes', () => {
  it('records an erasure as the signed-in officer (201, audited erase), lists it pending, and the call then answers 410', async () => {
    const s = await setup();
    const asked = await s.call('POST', `${base}/erasures`, { bearer: officerA(), body: { rid: s.rids[0], reason: 'Art. 17', reference: 'DSR-1' } });
    expect(asked.statusCode).toBe(201);
    expect(parseJson(asked)).toMatchObject({ erasure: { site: 'site-a', rid: s.rids[0], requestedBy: 'alice', status: 'pending', reference: 'DSR-1' } });
    expect(s.events).toEqual([expect.objectContaining({ action: 'erase', site: 'site-a', rid: s.rids[0], principal: 'alice', query: { reason: 'Art. 17', reference: 'DSR-1' } })]);
    const listed = await s.call('GET', `${base}/erasures`, { bearer: officerA() });
    expect(listed.statusCode).toBe(200);
    expect(parseJson(listed)).toMatchObject({ site: 'site-a', items: [{ rid: s.rids[0], status: 'pending', requestedBy: 'alice' }] });
    expect((await s.call('GET', `${base}/recordings/${s.rids[0]}`, { bearer: officerA() })).statusCode).toBe(410);
  });

  it("refuses another site's officer (403) before reading or recording anything, as the hold routes do", async () => {
    const s = await setup();
    const bob = consoleToken('bob', ['officer-site-b']);
    expect((await s.call('POST', `${base}/erasures`, { bearer: bob, body: { rid: s.rids[0], reason: 'Art. 17' } })).statusCode).toBe(403);
    expect((await s.call('GET', `${base}/erasures`, { bearer: bob })).statusCode).toBe(403);
    expect(s.events).toEqual([]);
    expect(parseJson(await s.call('GET', `${base}/erasures`, { bearer: officerA() }))).toEqual({ site: 'site-a', items: [] });
  });

  it('answers 404 naming the call for one not catalogued, and 400 naming reason without one', async () => {
    const s = await setup();
    const unknown = `r${'0'.repeat(23)}`;
    const missing = await s.call('POST', `${base}/erasures`, { bearer: officerA(), body: { rid: unknown, reason: 'Art. 17' } });
    expect(missing.statusCode).toBe(404);
    expect(String(parseJson(missing).message)).toContain(`recording ${unknown} is not catalogued in site site-a: nothing to erase`);
    const noReason = await s.call('POST', `${base}/erasures`, { bearer: officerA(), body: { rid: s.rids[1] } });
    expect(noReason.statusCode).toBe(400);
    expect(JSON.stringify(parseJson(noReason))).toContain('reason');
  });

  it('records a request refused under legal hold in the trail (audited erase, status refused, naming the hold and the reference): the evidence of what was withheld', async () => {
    const s = await setup();
    await placeHold(s.holdDeps, { site: 'site-a', rid: s.rids[1]!, reason: 'open case', reference: 'ET-2211', principal: 'counsel' });
    s.events.length = 0;
    const refused = await s.call('POST', `${base}/erasures`, { bearer: officerA(), body: { rid: s.rids[1], reason: 'Art. 17', reference: 'DSR-7' } });
    expect(refused.statusCode).toBe(409);
    expect(s.events).toEqual([
      expect.objectContaining({ action: 'erase', site: 'site-a', rid: s.rids[1], principal: 'alice', query: { reason: 'Art. 17', reference: 'DSR-7' }, detail: expect.objectContaining({ status: 'refused', refused: expect.stringContaining('ET-2211') }) }),
    ]);
    expect(parseJson(await s.call('GET', `${base}/erasures`, { bearer: officerA() }))).toEqual({ site: 'site-a', items: [] });
  });
});
