import { describe, expect, it } from 'vitest';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { RecallRequest } from '../../core/recall.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// POST /sites/{site}/recordings/{rid}/recall starts the recall workflow for the recording's
// pack; the workflow restores it from Deep Archive and notifies the requester when it plays.

async function setup(options: { starter?: boolean } = {}) {
  const catalogue = new MemoryCatalogue();
  const entry = makeEntry('site-a', 1);
  await catalogue.putRecordings([entry]);
  const started: RecallRequest[] = [];
  const recall = { startRecall: async (r: RecallRequest) => (started.push(r), { execution: 'arn:aws:states:eu-west-1:111122223333:execution:Ferry-recall:x1' }) };
  const trail = auditTrail();
  const handler = createHandler({ catalogue, audit: trail.audit, clock: trail.clock, cursorKey: 'k'.repeat(32), log: () => undefined, ...(options.starter === false ? {} : { recall }) });
  const post = (site: string, rid: string) => handler(httpEvent('POST', `/sites/${site}/recordings/${rid}/recall`, { pathParameters: { site, rid }, principal: 'officer@example.com' }));
  return { entry, started, trail, post };
}

const body = (res: HttpResult) => JSON.parse(res.body as string) as Record<string, unknown>;

describe('recall route', () => {
  it('starts the recall workflow for the recording with the caller as requester, answers 202 and audits a recall', async () => {
    const { entry, started, trail, post } = await setup();
    const res = await post('site-a', entry.rid);
    expect(res.statusCode).toBe(202);
    expect(body(res)).toMatchObject({ site: 'site-a', rid: entry.rid, execution: expect.stringContaining(':execution:Ferry-recall:') });
    expect(body(res).message).toMatch(/notif/);
    expect(started).toEqual([{ site: 'site-a', rid: entry.rid, requester: 'officer@example.com' }]);
    expect(trail.events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'recall', site: 'site-a', rid: entry.rid, principal: 'officer@example.com' }]);
  });

  it('answers 404 for a recording the catalogue does not hold, and starts nothing', async () => {
    const { started, post } = await setup();
    const res = await post('site-a', 'r00000000000000000000000');
    expect(res.statusCode).toBe(404);
    expect(body(res).error).toBe('NotFoundError');
    expect(started).toEqual([]);
  });

  it('answers 400 naming the field for a malformed recording id', async () => {
    const { started, post } = await setup();
    const res = await post('site-a', 'not-a-rid');
    expect(res.statusCode).toBe(400);
    expect(body(res).message).toMatch(/rid: must be a recording id/);
    expect(started).toEqual([]);
  });

  it('answers 501 saying recalls are not available where no recall workflow is wired', async () => {
    const { entry, post } = await setup({ starter: false });
    const res = await post('site-a', entry.rid);
    expect(res.statusCode).toBe(501);
    expect(body(res)).toMatchObject({ error: 'NotImplemented', message: expect.stringContaining('recall') });
  });
});
