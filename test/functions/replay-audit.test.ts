import { describe, expect, it, vi } from 'vitest';
import { TransientError } from '../../core/errors.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobStore } from '../../core/ports.ts';
import { createHandler } from '../../functions/replay/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { httpEvent } from '../support/http-event.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// A listen's audit record is written while the pack's range is opened, not before it: the
// bytes still wait for the record, an audit that fails fails the response (and releases the
// opened range), and a listen whose range then cannot be read stays recorded as attempted.

const clock = { now: () => new Date('2026-04-01T12:00:00Z') };

async function setup() {
  const memory = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const f = buildPack('site-a', [{ path: 'b/one.wav', body: audio(1, 4000) }]);
  await publish(memory, f);
  await ingestManifest({ blobs: memory, catalogue }, f.manifestKey);
  const steps: string[] = [];
  const opened: { destroyed: boolean }[] = [];
  const blobs: Pick<BlobStore, 'get'> = {
    get: async (key, range) => {
      steps.push('range opened');
      const blob = await memory.get(key, range);
      opened.push(blob.body);
      return blob;
    },
  };
  let finish!: (error?: Error) => void;
  const written = new Promise<void>((resolve, reject) => (finish = (error) => (error ? reject(error) : resolve())));
  const events: AuditEvent[] = [];
  const audit = (event: AuditEvent) => {
    steps.push('audit started');
    events.push(event);
    return written.then(() => void steps.push('audit written'));
  };
  const handler = createHandler({ blobs, catalogue, audit, clock, log: () => undefined, count: () => undefined });
  const rid = f.manifest.members[0]!.rid;
  const play = () => handler(httpEvent('GET', `/sites/site-a/recordings/${rid}/audio`, { pathParameters: { site: 'site-a', rid }, headers: { range: 'bytes=0-99' } }));
  return { play, steps, finish, events, opened, memory, f, rid, handler };
}

describe('replay: the listen audited alongside opening the range', () => {
  it("opens the pack's range while the listen's record is being written, and answers only once it is written", async () => {
    const { play, steps, finish } = await setup();
    let answered = false;
    const response = play().then((res) => ((answered = true), res));
    // Both under way (the range opened, not a fixed 20 ms later), and no answer while the record is unwritten.
    await vi.waitFor(() => expect(steps).toEqual(['audit started', 'range opened']));
    expect(answered).toBe(false);
    finish();
    const res = await response;
    expect(res.statusCode).toBe(206);
    expect(steps).toEqual(['audit started', 'range opened', 'audit written']);
  });

  it('answers 5xx and releases the opened range when the listen cannot be recorded', async () => {
    const { play, finish, opened } = await setup();
    const response = play();
    await vi.waitFor(() => expect(opened).toHaveLength(1));
    finish(new TransientError('the audit head could not be moved'));
    const res = await response;
    expect(res.statusCode).toBe(503);
    expect(typeof res.body).toBe('string');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.destroyed).toBe(true);
  });

  it('serves no further range of the call unaudited after its listen could not be recorded: each is audited again, and refused while the trail cannot be written', async () => {
    const { play, finish, events, rid, handler } = await setup();
    finish(new TransientError('the audit ledger refused the write'));
    expect((await play()).statusCode).toBe(503);
    // The player goes on from where it was: ranges that do not start at byte 0.
    for (const range of ['bytes=100-', 'bytes=1-']) {
      const res = await handler(httpEvent('GET', `/sites/site-a/recordings/${rid}/audio`, { pathParameters: { site: 'site-a', rid }, headers: { range } }));
      expect(res.statusCode).toBe(503);
    }
    expect(events.map((e) => e.action)).toEqual(['listen', 'listen', 'listen']);
  });

  it('keeps the listen recorded as attempted when the pack turns out to be gone (404)', async () => {
    const { play, finish, events, memory, f, rid } = await setup();
    await memory.delete(f.packKey);
    finish();
    const res = await play();
    expect(res.statusCode).toBe(404);
    expect(events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'listen', site: 'site-a', rid, principal: undefined }]);
  });
});
