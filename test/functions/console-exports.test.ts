import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { runExport, type ExportJob } from '../../core/exports.ts';
import { MemoryErasureStore } from '../../core/erasure-items.ts';
import { requestErasure } from '../../core/erasures.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryExportStatusStore } from '../../core/memory-exports.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHandler } from '../../functions/console/handler.ts';
import { createExportHandler, WATCHDOG_MARGIN_MS } from '../../functions/export/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import type { Log } from '../../functions/shared/log.ts';
import { consoleCaller, consoleToken, officerA, parseJson, testConsoleVerifier } from '../support/console-handler.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// The console's export routes: POST checks the request and starts the export (here the
// starter queues the job, run by the test as the export function would), GET answers the
// status and, once done, a 300 s download link for the bundle.

const NOW = new Date('2026-06-01T00:00:00.000Z');

async function setup(options: { deployed?: boolean; log?: Log } = {}) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const statuses = new MemoryExportStatusStore();
  const erasures = new MemoryErasureStore();
  const events: AuditEvent[] = [];
  const jobs: ExportJob[] = [];
  const links: { key: string; filename: string; expiresIn: number }[] = [];
  const a = await publishPack({ blobs, catalogue }, 'site-a', NOW, 'a', [10, 20]);
  const handler = createHandler({
    verifier: testConsoleVerifier(),
    sites: ['site-a', 'site-b'],
    catalogue,
    holds: { holds, catalogue, blobs, holder: new MemoryObjectHolder(), erasures },
    exports: {
      statuses,
      ...(options.deployed === false ? {} : { starter: { start: async (job: ExportJob) => void jobs.push(job) } }),
      links: async (key, filename, expiresIn) => (links.push({ key, filename, expiresIn }), `https://bucket.example/${key}?X-Amz-Expires=${expiresIn}`),
      random: () => '0badcafe',
      timeoutSeconds: 900,
      keepDays: 7,
    },
    links: async () => 'https://replay.example/',
    audit: (e) => void events.push(e),
    clock,
    cursorKey: 'k'.repeat(32),
    log: options.log ?? (() => undefined),
  });
  const call = consoleCaller(handler);
  const exportFunction = createExportHandler({ blobs, catalogue, store: blobs, statuses, clock, audit: async (e) => void events.push(e), timeoutSeconds: 900 });
  const runJobs = async () => {
    for (const job of jobs.splice(0)) await runExport({ blobs, catalogue, store: blobs, statuses, clock, audit: async (e) => void events.push(e) }, job, (await statuses.get(job.site, job.exportId))!);
  };
  return { call, a, rids: a.manifest.members.map((m) => m.rid), holds, erasures, statuses, jobs, links, events, runJobs, exportFunction, clock, blobs, catalogue };
}

const base = '/console/sites/site-a';
const ID = 'exp-20260601T000000Z-0badcafe';

describe('console export routes', () => {
  it('starts an export of listed calls (202 running), then answers done with the SHA-256 and a 300 s link to exports/', async () => {
    const s = await setup();
    const started = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'subject access request 44' } });
    expect(started.statusCode).toBe(202);
    expect(parseJson(started)).toEqual({ site: 'site-a', exportId: ID, state: 'running', calls: 2 });
    expect(s.jobs).toEqual([{ site: 'site-a', exportId: ID, rids: s.rids, reason: 'subject access request 44', principal: 'alice', at: NOW.toISOString() }]);
    const running = await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() });
    expect(parseJson(running)).toMatchObject({ exportId: ID, state: 'running', calls: 2, requestedBy: 'alice' });
    expect(parseJson(running).url).toBeUndefined();
    await s.runJobs();
    const done = parseJson(await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() }));
    expect(done).toMatchObject({ state: 'done', calls: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), filename: 'export-site-a-20260601T000000Z.tar', expiresInSeconds: 300, expiresAt: '2026-06-01T00:05:00.000Z' });
    expect(done.url).toBe(`https://bucket.example/exports/site-a/${ID}.tar?X-Amz-Expires=300`);
    expect(s.links).toEqual([{ key: `exports/site-a/${ID}.tar`, filename: 'export-site-a-20260601T000000Z.tar', expiresIn: 300 }]);
    expect(s.events.map((e) => [e.action, e.principal])).toEqual([['export', 'alice'], ['download', 'alice']]);
  });

  it("records a download of the bundle, by whoever is handed its link, before the link: another officer of the site taking alice's export is in the trail", async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'subject access request 44' } });
    await s.runJobs();
    const running = s.events.length;
    expect(parseJson(await s.call('GET', `${base}/exports/${ID}`, { bearer: consoleToken('bob', ['officer-site-a']) })).url).toBeDefined();
    expect(s.events.slice(running)).toEqual([
      expect.objectContaining({ action: 'download', site: 'site-a', principal: 'bob', detail: expect.objectContaining({ exportId: ID, bundle: `exports/site-a/${ID}.tar`, calls: 2, requestedBy: 'alice', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }) }),
    ]);
  });

  it("hands out no link to a finished bundle holding a call erased since it was made: 410 naming the call, no download recorded", async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'subject access request 44' } });
    await s.runJobs();
    expect(parseJson(await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() })).url).toBeDefined();
    await requestErasure({ catalogue: s.catalogue, holds: s.holds, erasures: s.erasures, clock: s.clock }, { site: 'site-a', rid: s.rids[1]!, reason: 'data subject request', principal: 'dpo' });
    const before = s.events.length;
    const links = s.links.length;
    const refused = await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() });
    expect(refused.statusCode).toBe(410);
    expect(parseJson(refused).message).toContain(s.rids[1]);
    expect(parseJson(refused).url).toBeUndefined();
    expect(s.links).toHaveLength(links);
    expect(s.events.slice(before).filter((e) => e.action === 'download')).toEqual([]);
  });

  it('logs a refused attempt at another site with the officer, the site and the route (no audit trail of its own to hold it)', async () => {
    const logged: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
    const s = await setup({ log: (level, message, fields) => void logged.push({ level, message, ...(fields ? { fields } : {}) }) });
    expect((await s.call('GET', `/console/sites/site-b/exports/${ID}`, { bearer: officerA() })).statusCode).toBe(403);
    expect(logged).toEqual([{ level: 'warn', message: 'console access refused', fields: expect.objectContaining({ officer: 'alice', site: 'site-b', route: 'export-status', path: `/console/sites/site-b/exports/${ID}`, known: true }) }]);
  });

  it("exports a case's calls by caseId", async () => {
    const s = await setup();
    await s.holds.createCase({ site: 'site-a', caseId: 'C-17', name: 'n', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [s.rids[1]!] });
    const started = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { caseId: 'C-17', reason: 'court order 118' } });
    expect(started.statusCode).toBe(202);
    expect(s.jobs[0]).toMatchObject({ caseId: 'C-17', rids: [s.rids[1]] });
  });

  it("exports the calls of a case the archive still holds, passing those purged since to the bundle's custody report; 404 when none is left", async () => {
    const s = await setup();
    const purged = 'r0000000000000000000dead';
    await s.holds.createCase({ site: 'site-a', caseId: 'C-18', name: 'n', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [s.rids[0]!, purged] });
    const started = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { caseId: 'C-18', reason: 'regulator 2027' } });
    expect(started.statusCode).toBe(202);
    expect(s.jobs[0]).toMatchObject({ caseId: 'C-18', rids: [s.rids[0]], missing: [purged] });
    await s.holds.createCase({ site: 'site-a', caseId: 'C-19', name: 'n', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [purged] });
    const none = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { caseId: 'C-19', reason: 'regulator 2027' } });
    expect(none.statusCode).toBe(404);
    expect(parseJson(none).message).toMatch(/none of the 1 call\(s\) of case C-19 is in the archive any more/);
  });

  it.each([
    [{ reason: 'court order' }, 'rids'],
    [{ rids: [], reason: 'court order' }, 'rids'],
    [{ rids: ['r1'], reason: 'court order' }, 'rids'],
    [{ caseId: 'C-1', rids: ['r00000000000000000000001'], reason: 'court order' }, 'rids'],
    [{ caseId: 'C 1', reason: 'court order' }, 'caseId'],
    [{ caseId: 'C-1' }, 'reason'],
    [{ caseId: 'C-1', reason: 'no' }, 'reason'],
    [{ caseId: 'C-1', reason: 'court order', format: 'zip' }, 'format'],
  ])('answers 400 naming the field for the export body %j (in issues too), and starts nothing', async (body, field) => {
    const s = await setup();
    const res = await s.call('POST', `${base}/exports`, { bearer: officerA(), body });
    expect(res.statusCode).toBe(400);
    expect(parseJson(res)).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining(field), issues: [expect.objectContaining({ field: expect.stringContaining(field) })] });
    expect(s.jobs).toEqual([]);
    expect(s.statuses.records.size).toBe(0);
  });

  it('answers 400 with issues naming rids for a call listed twice, and starts nothing', async () => {
    const s = await setup();
    const res = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: [s.rids[0], s.rids[0]], reason: 'court order' } });
    expect(res.statusCode).toBe(400);
    expect(parseJson(res)).toMatchObject({ issues: [{ field: 'rids', message: `rids: ${s.rids[0]} is listed twice` }] });
    expect(s.jobs).toEqual([]);
  });

  it('answers 400 for more than 1000 calls, 404 naming the unknown call or case, 400 for a bad export id, 404 for an unknown one', async () => {
    const s = await setup();
    const many = Array.from({ length: 1001 }, (_, i) => `r${i.toString(16).padStart(23, '0')}`);
    expect((await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: many, reason: 'court order' } })).statusCode).toBe(400);
    const unknown = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: ['r000000000000000000dead1'], reason: 'court order' } });
    expect(unknown.statusCode).toBe(404);
    expect(parseJson(unknown).message).toMatch(/rids: no recording r000000000000000000dead1/);
    const noCase = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { caseId: 'C-404', reason: 'court order' } });
    expect(noCase.statusCode).toBe(404);
    expect(parseJson(noCase).message).toMatch(/caseId: no case C-404/);
    const badId = await s.call('GET', `${base}/exports/not-an-id`, { bearer: officerA() });
    expect(badId.statusCode).toBe(400);
    expect(parseJson(badId).message).toMatch(/exportId/);
    expect((await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() })).statusCode).toBe(404);
    expect(s.jobs).toEqual([]);
  });

  it("answers 403 to site-a's officer on site-b's export routes and 401 without a token, starting nothing", async () => {
    const s = await setup();
    for (const [method, path] of [['POST', '/console/sites/site-b/exports'], ['GET', `/console/sites/site-b/exports/${ID}`]] as const) {
      expect((await s.call(method, path, { bearer: officerA(), body: { rids: s.rids, reason: 'court order' } })).statusCode).toBe(403);
      expect((await s.call(method, path.replace('site-b', 'site-a'), { body: { rids: s.rids, reason: 'court order' } })).statusCode).toBe(401);
    }
    expect(s.jobs).toEqual([]);
    expect(s.links).toEqual([]);
  });

  it('answers 501 NotImplemented where no export function is deployed', async () => {
    const s = await setup({ deployed: false });
    const res = await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'court order' } });
    expect(res.statusCode).toBe(501);
    expect(parseJson(res).error).toBe('NotImplemented');
  });

  it('records a deadline 22 minutes out (queue wait, timeout, margin) and a TTL 7 days out on the running record', async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'court order 118' } });
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'running', deadline: '2026-06-01T00:22:00.000Z', ttl: NOW.getTime() / 1000 + 7 * 86_400 });
  });

  it('answers failed with the reason once a running export is past its deadline, and persists it; the export started late then publishes nothing', async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'court order 118' } });
    s.clock.advance(22 * 60_000);
    expect(parseJson(await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() })).state).toBe('running');
    s.clock.advance(1000);
    const judged = await s.call('GET', `${base}/exports/${ID}`, { bearer: officerA() });
    expect(judged.statusCode).toBe(200);
    expect(parseJson(judged)).toMatchObject({ state: 'failed', error: 'the export did not finish within 22 minutes; request it again', finishedAt: '2026-06-01T00:22:01.000Z' });
    expect(parseJson(judged).url).toBeUndefined();
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'failed', error: expect.stringContaining('22 minutes') });
    expect(await s.exportFunction(s.jobs[0])).toMatchObject({ state: 'failed' });
    expect(await s.blobs.head(`exports/site-a/${ID}.tar`)).toBeUndefined();
    expect(s.events).toEqual([]);
  });

  it('the export function takes a job once: a second delivery of the same event writes no second bundle and changes nothing', async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'court order 118' } });
    const [first, second] = await Promise.all([s.exportFunction(s.jobs[0]), s.exportFunction(s.jobs[0])]);
    expect([first.state, second.state].sort()).toEqual(['done', 'running']);
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'done', startedAt: NOW.toISOString(), deadline: '2026-06-01T00:17:00.000Z' });
    expect(s.events.filter((e) => e.action === 'export')).toHaveLength(1);
    expect(await s.exportFunction(s.jobs[0])).toMatchObject({ state: 'done' });
    expect(s.events.filter((e) => e.action === 'export')).toHaveLength(1);
  });

  it('ends the record failed just before Lambda would time the invocation out, and the export left running publishes nothing', async () => {
    const s = await setup();
    await s.call('POST', `${base}/exports`, { bearer: officerA(), body: { rids: s.rids, reason: 'court order 118' } });
    // Every read of a pack waits until released (a store slower than the invocation); Lambda says 50 ms are left before the watchdog's margin.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = Object.create(s.blobs) as MemoryBlobStore;
    slow.get = async (...a: Parameters<MemoryBlobStore['get']>) => (await held, s.blobs.get(...a));
    const handler = createExportHandler({ blobs: slow, catalogue: s.catalogue, store: s.blobs, statuses: s.statuses, clock: s.clock, audit: async (e) => void s.events.push(e), timeoutSeconds: 900 });
    // The handler answers while the reads are still held: it does not wait for the export it leaves running.
    const out = await Promise.race([handler(s.jobs[0], { getRemainingTimeInMillis: () => WATCHDOG_MARGIN_MS + 50 }), new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 10_000))]);
    release();
    expect(out).toMatchObject({ state: 'failed', error: 'the export did not finish within 15 minutes; request it again' });
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'failed' });
    await new Promise((r) => setTimeout(r, 800));
    expect(await s.blobs.head(`exports/site-a/${ID}.tar`)).toBeUndefined();
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'failed', error: expect.stringContaining('15 minutes') });
    expect(s.events).toEqual([]);
  });
});

describe('export function input', () => {
  it('rejects a job that is not one the console sends with an InvalidInputError naming each bad field (the reason its destination records)', async () => {
    const s = await setup();
    const job = { site: 'site-a', exportId: ID, rids: ['not-a-recording'], reason: 'x', principal: 'alice', at: 'yesterday' };
    await expect(s.exportFunction(job)).rejects.toMatchObject({ name: 'InvalidInputError', message: 'invalid export job: rids.0: Invalid; at: Invalid datetime' });
  });
});
