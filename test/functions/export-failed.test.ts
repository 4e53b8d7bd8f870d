import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { ExportStatus } from '../../core/exports.ts';
import { MemoryExportStatusStore } from '../../core/memory-exports.ts';
import { createExportFailedHandler } from '../../functions/export-failed/handler.ts';

// The export function's on-failure destination: Lambda's invocation record of a failed export
// invocation marks the export failed at once, naming why; an export that already ended stays.

const NOW = new Date('2026-06-01T00:03:00.000Z');
const ID = 'exp-20260601T000000Z-0badcafe';
const running: ExportStatus = {
  site: 'site-a',
  exportId: ID,
  state: 'running',
  requestedBy: 'alice',
  requestedAt: '2026-06-01T00:00:00.000Z',
  reason: 'court order 118',
  calls: 2,
  key: `exports/site-a/${ID}.tar`,
  bytes: 0,
  startedAt: '2026-06-01T00:00:01.000Z',
  deadline: '2026-06-01T00:17:01.000Z',
};

/** Lambda's invocation record (version 1.0) of a failed asynchronous invocation. */
function record(responsePayload: unknown, condition = 'RetriesExhausted', requestPayload: unknown = { site: 'site-a', exportId: ID, rids: [], reason: 'x', principal: 'alice', at: running.requestedAt }) {
  return {
    version: '1.0',
    timestamp: NOW.toISOString(),
    requestContext: { requestId: 'req-1', functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:export:$LATEST', condition, approximateInvokeCount: 1 },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload,
  };
}

async function setup(stored: ExportStatus = running) {
  const statuses = new MemoryExportStatusStore();
  await statuses.create(stored);
  const handler = createExportFailedHandler({ statuses, clock: new ManualClock(NOW) });
  return { statuses, handler };
}

describe('export on-failure destination', () => {
  it('marks a running export failed at once, naming the error the function threw', async () => {
    const s = await setup();
    await s.handler(record({ errorType: 'AccessDeniedException', errorMessage: 'not authorized to perform: dynamodb:PutItem' }));
    expect(await s.statuses.get('site-a', ID)).toEqual({ ...running, state: 'failed', error: 'the export function failed: not authorized to perform: dynamodb:PutItem', finishedAt: NOW.toISOString() });
  });

  it('names a timeout (Sandbox.Timedout, "Task timed out after …") as the export function timing out', async () => {
    const s = await setup();
    await s.handler(record({ errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: req-1 Error: Task timed out after 900.00 seconds' }));
    expect((await s.statuses.get('site-a', ID))?.error).toBe('the export function timed out; request it again, or export fewer calls at a time');
  });

  it('names an out-of-memory end (Runtime.OutOfMemory, or the runtime killed) as running out of memory', async () => {
    for (const payload of [{ errorType: 'Runtime.OutOfMemory', errorMessage: 'RequestId: req-1 Error: Runtime exited with error: signal: killed' }, { errorType: 'Runtime.ExitError', errorMessage: 'RequestId: req-1 Error: Runtime exited with error: signal: killed' }]) {
      const s = await setup();
      await s.handler(record(payload));
      expect((await s.statuses.get('site-a', ID))?.error, payload.errorType).toBe('the export function ran out of memory; request it again, or export fewer calls at a time');
    }
  });

  it('names a runtime that exited as the export function failing with the exit', async () => {
    const s = await setup();
    await s.handler(record({ errorType: 'Runtime.ExitError', errorMessage: 'RequestId: req-1 Error: Runtime exited with error: exit status 1' }));
    expect((await s.statuses.get('site-a', ID))?.error).toBe('the export function failed: RequestId: req-1 Error: Runtime exited with error: exit status 1');
  });

  it('names an event Lambda dropped for its age (EventAgeExceeded) as the export not starting in time', async () => {
    const s = await setup({ ...running, startedAt: undefined });
    await s.handler({ ...record(undefined, 'EventAgeExceeded'), responseContext: undefined });
    expect(await s.statuses.get('site-a', ID)).toMatchObject({ state: 'failed', error: 'the export function did not start in time (its request waited too long); request it again' });
  });

  it('leaves a done export as it is when a late failure record arrives (conditional write)', async () => {
    const done: ExportStatus = { ...running, state: 'done', bytes: 4096, sha256: 'a'.repeat(64), root: 'case-C-17', finishedAt: '2026-06-01T00:02:00.000Z' };
    const s = await setup(done);
    expect(await s.handler(record({ errorType: 'Error', errorMessage: 'late' }))).toEqual({ skipped: `export ${ID} already done` });
    expect(await s.statuses.get('site-a', ID)).toEqual(done);
  });

  it('leaves an export that finished between its read and its write as the finisher wrote it', async () => {
    const s = await setup();
    const done: ExportStatus = { ...running, state: 'done', bytes: 4096, finishedAt: '2026-06-01T00:02:59.000Z' };
    const statuses = { get: (site: string, id: string) => s.statuses.get(site, id), finish: async (status: ExportStatus) => (await s.statuses.finish(done), s.statuses.finish(status)) };
    const handler = createExportFailedHandler({ statuses, clock: new ManualClock(NOW) });
    expect(await handler(record({ errorType: 'Error', errorMessage: 'late' }))).toEqual({ skipped: `export ${ID} ended meanwhile (done)` });
    expect(await s.statuses.get('site-a', ID)).toEqual(done);
  });

  it('leaves a failed export with its first reason', async () => {
    const failed: ExportStatus = { ...running, state: 'failed', error: 'the export did not finish within 17 minutes; request it again', finishedAt: '2026-06-01T00:02:00.000Z' };
    const s = await setup(failed);
    await s.handler(record({ errorType: 'Error', errorMessage: 'second' }));
    expect(await s.statuses.get('site-a', ID)).toEqual(failed);
  });

  it('drops a record that names no export (no site or a bad exportId), writing nothing', async () => {
    const s = await setup();
    const result = await s.handler(record({ errorMessage: 'x' }, 'RetriesExhausted', { site: 'site-a', exportId: 'not-an-id' }));
    expect(result).toEqual({ skipped: expect.stringContaining('requestPayload.exportId') });
    expect(await s.statuses.get('site-a', ID)).toEqual(running);
  });
});
