import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CaseRecord } from '../../core/hold-items.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHoldsHandler } from '../../functions/holds/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { httpEvent } from '../support/http-event.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// The legal hold routes over the real use-cases with memory stores: status codes, JSON
// shapes, 400s naming the bad field, audit events.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');

/** A case another request changes between each read of this one and its write (an officer's edits as fast as they come), once `contend` is set. */
class ContendedHoldStore extends MemoryHoldStore {
  contend = false;

  /** Calls another request adds to the case just before this one's next write (once): the same officer's form sent twice. */
  addedMeanwhile: string[] = [];

  override async updateCase(record: CaseRecord) {
    const now = await this.getCase(record.site, record.caseId);
    if (this.contend && now) await super.updateCase({ ...now, name: `${now.name}.` });
    const meanwhile = this.addedMeanwhile.splice(0);
    if (meanwhile.length && now) await super.updateCase({ ...now, members: [...now.members, ...meanwhile] });
    return super.updateCase(record);
  }
}

async function setup(opts: { caseBatch?: number } = {}) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new ContendedHoldStore();
  const holder = new MemoryObjectHolder();
  const events: AuditEvent[] = [];
  const handler = createHoldsHandler({ holds, catalogue, blobs, holder, clock, ...opts, audit: (e) => void events.push(e), log: () => undefined });
  const pack = await publishPack({ blobs, catalogue }, SITE, NOW, 'p', [10, 20]);
  const call = (method: string, path: string, body?: unknown, query?: Record<string, string>) =>
    handler({ ...httpEvent(method, path, { pathParameters: { site: path.split('/')[2]!, ...(path.includes('/cases/') ? { case: path.split('/')[4]! } : {}) }, query, principal: 'alice@example.com' }), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { handler, call, pack, holder, holds, blobs, events, catalogue, rid: pack.manifest.members[0]!.rid };
}

const parse = (r: HttpResult) => JSON.parse(r.body as string) as Record<string, unknown>;

describe('legal hold routes', () => {
  it('POST /holds places a hold (201), sets legal hold on the pack and manifest, and is audited as hold', async () => {
    const s = await setup();
    const r = await s.call('POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'litigation', reference: 'LIT-7' });
    expect(r.statusCode).toBe(201);
    expect(parse(r)).toMatchObject({ site: SITE, rid: s.rid, holds: [{ rid: s.rid, placedBy: 'alice@example.com', reason: 'litigation', reference: 'LIT-7' }], objects: [s.pack.packKey, s.pack.manifestKey] });
    expect(s.holder.isHeld(s.pack.packKey)).toBe(true);
    expect(s.events).toEqual([{ at: NOW.toISOString(), action: 'hold', site: SITE, rid: s.rid, principal: 'alice@example.com', query: { reason: 'litigation', reference: 'LIT-7' } }]);
    const listed = parse(await s.call('GET', `/sites/${SITE}/holds`));
    expect((listed.active as unknown[]).length).toBe(1);
  });

  it('release without a reason is a 400 naming the field reason; with one it is 200 and audited as release', async () => {
    const s = await setup();
    await s.call('POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'litigation' });
    const missing = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid });
    expect(missing.statusCode).toBe(400);
    expect(parse(missing)).toMatchObject({ error: 'InvalidInputError', issues: [{ field: 'reason', message: 'is required' }] });
    const blank = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: '   ' });
    expect(parse(blank)).toMatchObject({ issues: [{ field: 'reason' }] });
    const ok = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: 'settled' });
    expect(ok.statusCode).toBe(200);
    expect(s.events.map((e) => e.action)).toEqual(['hold', 'release']);
    expect(s.events[1]).toMatchObject({ rid: s.rid, query: { reason: 'settled' } });
    expect(s.holder.isHeld(s.pack.packKey)).toBe(false);
    const history = parse(await s.call('GET', `/sites/${SITE}/holds`, undefined, { history: 'true' }));
    expect(history).toMatchObject({ active: [], released: [{ rid: s.rid, releasedBy: 'alice@example.com', releaseReason: 'settled' }] });
  });

  it("keeps a second matter's hold on a held call as its own record: releasing the first leaves the call held; the same matter placed again is 200 and not audited", async () => {
    const s = await setup();
    expect((await s.call('POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'Matter A: complaint 17', reference: 'A-17' })).statusCode).toBe(201);
    const b = await s.call('POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'Matter B: tribunal 2026/88', reference: 'B-88' });
    expect(b.statusCode).toBe(201);
    expect(parse(b)).toMatchObject({ holds: [{ reason: 'Matter B: tribunal 2026/88', reference: 'B-88' }] });
    const again = await s.call('POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'Matter A: complaint 17', reference: 'A-17' });
    expect(again.statusCode).toBe(200);
    expect(parse(again)).toMatchObject({ existing: true, holds: [{ reference: 'A-17' }] });
    expect(s.events.map((e) => e.action)).toEqual(['hold', 'hold']);
    // Two matters, none named: refused, naming both.
    const unnamed = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: 'closed' });
    expect(unnamed.statusCode).toBe(400);
    expect(parse(unnamed)).toMatchObject({ issues: [{ field: 'reference', message: expect.stringMatching(/is held for 2 matters: reference A-17 .*; reference B-88 .*; name the one to release by its reference$/) }] });
    const wrong = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: 'closed', reference: 'C-1' });
    expect(wrong.statusCode).toBe(404);
    const a = await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: 'Matter A closed', reference: 'A-17' });
    expect(a.statusCode).toBe(200);
    expect(s.holder.isHeld(s.pack.packKey)).toBe(true);
    expect((parse(await s.call('GET', `/sites/${SITE}/holds`)).active as { reference: string }[]).map((h) => h.reference)).toEqual(['B-88']);
    // The last matter: released without naming it (the call's only hold), the lock goes.
    expect((await s.call('POST', `/sites/${SITE}/holds/release`, { rid: s.rid, reason: 'Matter B closed' })).statusCode).toBe(200);
    expect(s.holder.isHeld(s.pack.packKey)).toBe(false);
    expect(s.events.at(-2)).toMatchObject({ action: 'release', query: { reason: 'Matter A closed', reference: 'A-17' } });
  });

  it('bad input is a 4xx naming what is wrong, never a 5xx', async () => {
    const s = await setup();
    const cases: [string, string, unknown, number, string][] = [
      ['POST', `/sites/${SITE}/holds`, { reason: 'x' }, 400, 'rid'],
      ['POST', `/sites/${SITE}/holds`, { rid: 'nope', reason: 'x' }, 400, 'rid'],
      ['POST', `/sites/${SITE}/holds`, { rid: s.rid, caseId: 'c1', reason: 'x' }, 400, 'rid'],
      ['POST', `/sites/${SITE}/holds`, { rid: s.rid, reason: 'x', colour: 'red' }, 400, 'colour'],
      ['POST', `/sites/Bad_Site/holds`, { rid: s.rid, reason: 'x' }, 400, 'site'],
      ['POST', `/sites/${SITE}/holds`, { rid: 'r0123456789abcdef0123456', reason: 'x' }, 404, 'r0123456789abcdef0123456'],
      ['POST', `/sites/${SITE}/cases`, { reason: 'x' }, 400, 'name'],
      ['POST', `/sites/${SITE}/cases/nope/calls`, { rids: [s.rid] }, 404, 'nope'],
      ['POST', `/sites/${SITE}/cases/c1/calls`, { rids: [] }, 400, 'rids'],
      ['GET', `/sites/${SITE}/cases/bad$id`, undefined, 400, 'case'],
    ];
    for (const [method, path, body, status, names] of cases) {
      const r = await s.call(method, path, body);
      expect([path, r.statusCode]).toEqual([path, status]);
      expect(r.body as string).toContain(names);
    }
    // A case read with a parameter it does not take: refused, naming it.
    const extra = await s.call('GET', `/sites/${SITE}/cases/c1`, undefined, { foo: '1' });
    expect([extra.statusCode, parse(extra).message]).toEqual([400, 'invalid request: foo: unknown parameter (this route takes none)']);
    // The holds listing's paging: a limit that is no number, one over 1000, a cursor it did not give.
    for (const [query, names] of [[{ limit: 'ten' }, 'limit'], [{ limit: '5000' }, 'limit'], [{ cursor: 'bogus!' }, 'cursor']] as const) {
      const r = await s.call('GET', `/sites/${SITE}/holds`, undefined, { ...query });
      expect([r.statusCode, (parse(r).issues as { field: string }[] | undefined)?.[0]?.field ?? parse(r).message]).toEqual([400, expect.stringContaining(names)]);
    }
    const notJson = await s.handler({ ...httpEvent('POST', `/sites/${SITE}/holds`, { pathParameters: { site: SITE } }), body: '{oops' });
    expect([notJson.statusCode, parse(notJson).message]).toEqual([400, 'body: must be a JSON object']);
  });

  it('cases: create, add calls, hold the case, show it with its members’ holds', async () => {
    const s = await setup();
    const created = await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-1', name: 'Smith v Acme', reason: 'subpoena', reference: 'SUB-42' });
    expect([created.statusCode, parse(created)]).toEqual([201, expect.objectContaining({ caseId: 'CASE-1', members: [], createdBy: 'alice@example.com' })]);
    expect((await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-1', name: 'again', reason: 'x' })).statusCode).toBe(409);
    await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-1', reason: 'subpoena' });
    const added = await s.call('POST', `/sites/${SITE}/cases/CASE-1/calls`, { rids: [s.rid] });
    expect(parse(added)).toMatchObject({ added: [s.rid], objects: [s.pack.packKey, s.pack.manifestKey] });
    const shown = parse(await s.call('GET', `/sites/${SITE}/cases/CASE-1`));
    expect(shown).toMatchObject({ caseId: 'CASE-1', members: [s.rid], held: { by: 'alice@example.com', reason: 'subpoena' }, memberHolds: { [s.rid]: [{ scope: { kind: 'case', caseId: 'CASE-1' } }] } });
    expect(s.events.map((e) => [e.action, e.rid, e.query?.caseId])).toEqual([['case-create', undefined, 'CASE-1'], ['hold', undefined, 'CASE-1'], ['case-add', undefined, 'CASE-1'], ['hold', s.rid, 'CASE-1']]);
  });

  it('creating a case and adding calls to it are audited (case-create, case-add) naming the case, its reason and reference, the officer and the calls; a case id taken or calls already listed record nothing', async () => {
    const s = await setup();
    const [first, second] = s.pack.manifest.members.map((m) => m.rid);
    expect((await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-9', name: 'Smith v Acme', reason: 'subpoena', reference: 'SUB-42', rids: [first] })).statusCode).toBe(201);
    expect((await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-9', name: 'again', reason: 'x' })).statusCode).toBe(409);
    expect((await s.call('POST', `/sites/${SITE}/cases/CASE-9/calls`, { rids: [first, second] })).statusCode).toBe(200);
    expect((await s.call('POST', `/sites/${SITE}/cases/CASE-9/calls`, { rids: [second] })).statusCode).toBe(200);
    const digest = (rids: string[]) => createHash('sha256').update([...rids].sort().map((r) => `${r}\n`).join('')).digest('hex');
    const query = { caseId: 'CASE-9', reason: 'subpoena', reference: 'SUB-42' };
    expect(s.events).toEqual([
      { at: NOW.toISOString(), action: 'case-create', site: SITE, principal: 'alice@example.com', query, detail: { name: 'Smith v Acme', rids: [first], members: 1, membersSha256: digest([first!]) } },
      { at: NOW.toISOString(), action: 'case-add', site: SITE, principal: 'alice@example.com', query, detail: { added: 1, rids: [second], members: 2, membersSha256: digest([first!, second!]) } },
    ]);
  });

  it('a case change whose audit record cannot be written is not made: the case is not created, the calls are not added or held', async () => {
    const clock = new ManualClock(NOW);
    const blobs = new MemoryBlobStore({ clock });
    const catalogue = new MemoryCatalogue();
    const holds = new MemoryHoldStore();
    const holder = new MemoryObjectHolder();
    let failing = true;
    const audit = (e: AuditEvent) => {
      if (failing && e.action.startsWith('case-')) throw new Error('ledger unavailable');
    };
    const handler = createHoldsHandler({ holds, catalogue, blobs, holder, clock, audit, log: () => undefined });
    const pack = await publishPack({ blobs, catalogue }, SITE, NOW, 'p', [10, 20]);
    const rid = pack.manifest.members[0]!.rid;
    const call = (method: string, path: string, body: unknown) => handler({ ...httpEvent(method, path, { pathParameters: { site: SITE, ...(path.includes('/cases/') ? { case: path.split('/')[4]! } : {}) }, principal: 'alice@example.com' }), body: JSON.stringify(body) });
    expect((await call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-10', name: 'x', reason: 'y', rids: [rid] })).statusCode).toBe(500);
    expect(await holds.getCase(SITE, 'CASE-10')).toBeUndefined();
    failing = false;
    expect((await call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-10', name: 'x', reason: 'y' })).statusCode).toBe(201);
    expect((await call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-10', reason: 'subpoena' })).statusCode).toBe(201);
    failing = true;
    expect((await call('POST', `/sites/${SITE}/cases/CASE-10/calls`, { rids: [rid] })).statusCode).toBe(500);
    expect((await holds.getCase(SITE, 'CASE-10'))!.members).toEqual([]);
    expect(await holds.holdsOf(SITE, rid)).toEqual([]);
    expect(holder.isHeld(pack.packKey)).toBe(false);
  });

  it("a case's hold and release name in the audit record the case, how many calls and the SHA-256 of its sorted members, not each rid", async () => {
    const s = await setup();
    const rids = s.pack.manifest.members.map((m) => m.rid).sort();
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-2', name: 'Smith v Acme', reason: 'subpoena', rids });
    s.events.length = 0;
    expect((await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-2', reason: 'subpoena' })).statusCode).toBe(201);
    expect((await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-2', reason: 'settled' })).statusCode).toBe(200);
    const membersSha256 = createHash('sha256').update(rids.map((r) => `${r}\n`).join('')).digest('hex');
    expect(s.events.map((e) => [e.action, e.query?.caseId, e.detail])).toEqual([
      ['hold', 'CASE-2', { placed: 2, members: 2, membersSha256 }],
      ['release', 'CASE-2', { released: 2, members: 2, membersSha256 }],
    ]);
  });

  it("a case hold's audit record stays the same size whatever the case's size (1,000 calls: under 300 bytes of detail)", async () => {
    const s = await setup({ caseBatch: 1000 });
    const entries = Array.from({ length: 1000 }, (_, i) => makeEntry(SITE, i));
    await s.catalogue.putRecordings(entries);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-3', name: 'big', reason: 'tribunal', rids: entries.map((e) => e.rid) });
    s.events.length = 0;
    expect((await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-3', reason: 'tribunal' })).statusCode).toBe(201);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]!.detail).toMatchObject({ placed: 1000, members: 1000 });
    expect(JSON.stringify(s.events[0]!.detail).length).toBeLessThan(300);
  });

  it('a case hold larger than a request holds answers 202 with what remains, audited as a hold each part, and 201 once the case is on hold', async () => {
    const s = await setup({ caseBatch: 1 });
    const rids = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-4', name: 'x', reason: 'y', rids });
    s.events.length = 0;
    const first = await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-4', reason: 'subpoena' });
    expect([first.statusCode, parse(first)]).toEqual([202, expect.objectContaining({ held: false, remaining: 1, members: 2 })]);
    const second = await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-4', reason: 'subpoena' });
    expect([second.statusCode, parse(second)]).toEqual([201, expect.objectContaining({ held: true, members: 2 })]);
    expect(s.events.map((e) => [e.action, e.detail?.placed, e.detail?.remaining])).toEqual([['hold', 1, 1], ['hold', 1, undefined]]);
    expect((await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-4', reason: 'subpoena' })).statusCode).toBe(200);
  });

  it('a case release larger than a request releases answers 202 with what remains, audited as a release each part, and 200 once the case is released', async () => {
    const s = await setup({ caseBatch: 1 });
    const rids = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-6', name: 'x', reason: 'y', rids });
    while ((await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-6', reason: 'subpoena' })).statusCode === 202);
    s.events.length = 0;
    const first = await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-6', reason: 'settled' });
    expect([first.statusCode, parse(first)]).toEqual([202, expect.objectContaining({ held: true, remaining: 1, members: 2 })]);
    expect(s.holder.isHeld(s.pack.packKey)).toBe(true);
    const second = await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-6', reason: 'settled' });
    expect([second.statusCode, parse(second)]).toEqual([200, expect.objectContaining({ held: false, members: 2, objects: [s.pack.packKey, s.pack.manifestKey] })]);
    expect(s.holder.isHeld(s.pack.packKey)).toBe(false);
    expect(s.events.map((e) => [e.action, e.query?.caseId, e.detail?.released, e.detail?.remaining])).toEqual([['release', 'CASE-6', 1, 1], ['release', 'CASE-6', 1, undefined]]);
    const again = await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-6', reason: 'settled' });
    expect([again.statusCode, parse(again).message]).toEqual([404, `case CASE-6 in site ${SITE} is not on hold`]);
  });

  it('adding more calls to a held case than a request holds is a 400 naming rids and the limit', async () => {
    const s = await setup({ caseBatch: 1 });
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-5', name: 'x', reason: 'y' });
    await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-5', reason: 'subpoena' });
    const r = await s.call('POST', `/sites/${SITE}/cases/CASE-5/calls`, { rids: s.pack.manifest.members.map((m) => m.rid) });
    expect([r.statusCode, parse(r)]).toEqual([400, expect.objectContaining({ issues: [{ field: 'rids', message: expect.stringContaining('a held case takes at most 1 new calls a request') }] })]);
  });

  it('a case request whose write other requests refuse at every attempt answers 409 CaseChangedError naming the case and what stands, not 500; the records it wrote are in the trail', async () => {
    const s = await setup({ caseBatch: 1 });
    const [first, second] = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-7', name: 'x', reason: 'y', rids: [first] });
    await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-7', reason: 'subpoena' });
    s.events.length = 0;
    s.holds.contend = true;
    const added = await s.call('POST', `/sites/${SITE}/cases/CASE-7/calls`, { rids: [second] });
    expect([added.statusCode, parse(added)]).toEqual([409, { error: 'CaseChangedError', message: expect.stringMatching(/^case CASE-7 in site site-a was changed by other requests 3 times while this one was adding calls: it listed none of its calls \(those it held stay held by the case\); send it again$/) }]);
    // The addition recorded once before its first attempt, the hold its attempts placed, and that the addition was not made.
    expect(s.events).toEqual([
      expect.objectContaining({ action: 'case-add', query: { caseId: 'CASE-7', reason: 'y' }, detail: expect.objectContaining({ added: 1, rids: [second] }) }),
      expect.objectContaining({ action: 'hold', rid: second, query: { caseId: 'CASE-7', reason: 'subpoena' } }),
      expect.objectContaining({ action: 'case-add', detail: expect.objectContaining({ rids: [second], refused: 'CaseChangedError' }) }),
    ]);
    const released = await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-7', reason: 'settled' });
    expect([released.statusCode, parse(released).message]).toEqual([409, expect.stringContaining('while this one was releasing its hold: the members it released stay released and the case stays held; ask again to go on')]);
    expect(s.events.at(-1)).toMatchObject({ action: 'release', query: { caseId: 'CASE-7', reason: 'settled' }, detail: { released: 1, refused: 'CaseChangedError' } });
    s.holds.contend = false;
    expect((await s.call('POST', `/sites/${SITE}/cases/CASE-7/calls`, { rids: [second] })).statusCode).toBe(200);
    expect((await s.call('GET', `/sites/${SITE}/cases/CASE-7`)).body).toContain(second);
  });

  it('an addition of calls that another request made first (the form sent twice) is recorded as not made by this one (detail.refused), though it answers 200', async () => {
    const s = await setup();
    const [first, second] = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-11', name: 'x', reason: 'y', rids: [first] });
    s.events.length = 0;
    s.holds.addedMeanwhile = [second!];
    const added = await s.call('POST', `/sites/${SITE}/cases/CASE-11/calls`, { rids: [second] });
    expect([added.statusCode, parse(added)]).toEqual([200, expect.objectContaining({ added: [] })]);
    expect((await s.holds.getCase(SITE, 'CASE-11'))!.members).toEqual([first, second]);
    expect(s.events.map((e) => [e.action, e.detail?.rids, e.detail?.refused])).toEqual([
      ['case-add', [second], undefined],
      ['case-add', [second], 'CaseChangedError'],
    ]);
  });

  it("an addition retried after another request added other calls is recorded again with the case's members after it (the first record said refused): the trail's last digest is the case's", async () => {
    const s = await setup();
    const [first, second] = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-12', name: 'x', reason: 'y' });
    s.events.length = 0;
    s.holds.addedMeanwhile = [second!];
    expect((await s.call('POST', `/sites/${SITE}/cases/CASE-12/calls`, { rids: [first] })).statusCode).toBe(200);
    const members = (await s.holds.getCase(SITE, 'CASE-12'))!.members;
    expect([...members].sort()).toEqual([first, second].sort());
    const digest = (rids: string[]) => createHash('sha256').update([...rids].sort().map((r) => `${r}\n`).join('')).digest('hex');
    expect(s.events.map((e) => [e.action, e.detail?.rids, e.detail?.members, e.detail?.membersSha256, e.detail?.refused])).toEqual([
      ['case-add', [first], 1, digest([first!]), undefined],
      ['case-add', [first], 1, digest([first!]), 'CaseChangedError'],
      ['case-add', [first], 2, digest(members), undefined],
    ]);
  });

  it('adding calls to a case whose release is under way answers 409 CaseReleasingError saying so, and adds nothing', async () => {
    const s = await setup({ caseBatch: 1 });
    const rids = s.pack.manifest.members.map((m) => m.rid);
    await s.call('POST', `/sites/${SITE}/cases`, { caseId: 'CASE-8', name: 'x', reason: 'y', rids: [rids[0]] });
    const other = await publishPack({ blobs: s.blobs, catalogue: s.catalogue }, SITE, NOW, 'q', [10, 20]);
    await s.call('POST', `/sites/${SITE}/cases/CASE-8/calls`, { rids: [other.manifest.members[0]!.rid] });
    while ((await s.call('POST', `/sites/${SITE}/holds`, { caseId: 'CASE-8', reason: 'subpoena' })).statusCode === 202);
    expect((await s.call('POST', `/sites/${SITE}/holds/release`, { caseId: 'CASE-8', reason: 'settled' })).statusCode).toBe(202);
    const r = await s.call('POST', `/sites/${SITE}/cases/CASE-8/calls`, { rids: [rids[1]] });
    expect([r.statusCode, parse(r)]).toEqual([409, { error: 'CaseReleasingError', message: expect.stringContaining('case CASE-8 in site site-a is being released (started by alice@example.com at 2026-06-01T00:00:00.000Z, 1 of 2 calls released): calls added now would be released with it') }]);
    expect(parse(await s.call('GET', `/sites/${SITE}/cases/CASE-8`)).members).toEqual([rids[0], other.manifest.members[0]!.rid]);
  });
});
