import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createS3EventDelivery, deliveryLog, manifestRecords } from '../../local/s3-events.ts';
import type { LocalS3Event } from '../../local/s3-process.ts';

// The local S3's notifications reach ingest as the stack's bucket notification sends them:
// ObjectCreated on manifest keys only, several at once as S3 invokes a function (each key in
// its order), failures kept rather than thrown.

const record = (eventName: string, key: string) => ({ eventName, eventTime: '2026-03-01T00:00:00Z', s3: { bucket: { name: 'ferry-data' }, object: { key } } });
const PACK_MANIFEST = 'manifests/site-a/recordings/2026/03/01/p0123456789abcdef0123456.json';
const ARTEFACT_MANIFEST = 'manifests/site-a/backups/db/a0123456789abcdef0123456.json';

describe('local S3 event delivery', () => {
  it('passes ObjectCreated events for pack and artefact manifests only', () => {
    const event: LocalS3Event = {
      Records: [
        record('ObjectCreated:Put', PACK_MANIFEST),
        record('ObjectCreated:Put', 'recordings/site-a/2026/03/01/p0123456789abcdef0123456.tar'),
        record('ObjectRemoved:Delete', ARTEFACT_MANIFEST),
        record('ObjectCreated:CompleteMultipartUpload', ARTEFACT_MANIFEST),
        record('ObjectCreated:Put', 'manifests/site-a/notes.txt'),
      ],
    };
    expect(manifestRecords(event).map((r) => `${r.eventName} ${r.s3.object.key}`)).toEqual([`ObjectCreated:Put ${PACK_MANIFEST}`, `ObjectCreated:CompleteMultipartUpload ${ARTEFACT_MANIFEST}`]);
  });

  it('holds events that arrive before ingest is attached, keeps failures and drains', async () => {
    const delivery = createS3EventDelivery(undefined, { retryDelaysMs: [] });
    const seen: string[] = [];
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    delivery.deliver({ Records: [record('ObjectCreated:Put', 'recordings/site-a/x.tar')] });
    delivery.attach(async (event) => {
      const key = event.Records[0]!.s3.object.key;
      await new Promise((r) => setTimeout(r, key === PACK_MANIFEST ? 30 : 0));
      seen.push(key);
      if (key === ARTEFACT_MANIFEST) throw new Error('manifest not found');
    });
    delivery.deliver({ Records: [record('ObjectCreated:Put', ARTEFACT_MANIFEST)] });
    await delivery.drain();
    expect(seen.sort()).toEqual([ARTEFACT_MANIFEST, PACK_MANIFEST].sort());
    expect(delivery.errors).toEqual([{ key: ARTEFACT_MANIFEST, error: 'manifest not found' }]);
  });

  it('tries a failed ingest twice more, as Lambda retries an asynchronous invocation: a passing failure leaves no error', async () => {
    const logged: string[] = [];
    const delivery = createS3EventDelivery((m) => logged.push(m), { retryDelaysMs: [20, 40] });
    let calls = 0;
    delivery.attach(async () => {
      if (++calls < 3) throw new Error('dynamodb busy');
    });
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    await delivery.drain();
    expect(calls).toBe(3);
    expect(delivery.errors).toEqual([]);
    expect(logged).toEqual([
      `ingest of ${PACK_MANIFEST} failed (attempt 1 of 3), trying again in 0.02 s: dynamodb busy`,
      `ingest of ${PACK_MANIFEST} failed (attempt 2 of 3), trying again in 0.04 s: dynamodb busy`,
    ]);
  });

  it('keeps a failure as a dead letter after three attempts, and says how to catalogue it', async () => {
    const logged: string[] = [];
    const delivery = createS3EventDelivery((m) => logged.push(m), { retryDelaysMs: [10, 10] });
    let calls = 0;
    delivery.attach(async () => {
      calls++;
      throw new Error('member listed under another id');
    });
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    await delivery.drain();
    expect(calls).toBe(3);
    expect(delivery.errors).toEqual([{ key: PACK_MANIFEST, error: 'member listed under another id' }]);
    expect(logged.at(-1)).toContain('ingest failed after 3 attempts');
    expect(logged.at(-1)).toContain('ferry catalogue rebuild');
  });

  it('writes a given-up ingest to the cloud\'s functions.log as an error (and a retry as a warning), where the functions\' logs are, and to the terminal\'s log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-delivery-'));
    const terminal: string[] = [];
    const delivery = createS3EventDelivery(deliveryLog(dir, (m) => terminal.push(m)), { retryDelaysMs: [5] });
    delivery.attach(async () => {
      throw new Error('ResourceNotFoundException: table unavailable');
    });
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    await delivery.drain();
    const lines = readFileSync(join(dir, 'functions.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; source: string; message: string });
    expect(lines.map((l) => [l.level, l.source])).toEqual([['warn', 's3-event-delivery'], ['error', 's3-event-delivery']]);
    expect(lines[1]!.message).toContain(`ingest failed after 2 attempts, left uncatalogued`);
    expect(lines[1]!.message).toContain(PACK_MANIFEST);
    expect(terminal).toEqual(lines.map((l) => l.message));
  });

  it('handles notifications of different manifests at once: two fast ones finish while a stalled one is still being ingested', async () => {
    const delivery = createS3EventDelivery();
    const seen: string[] = [];
    const manifests = [0, 1, 2].map((n) => PACK_MANIFEST.replace('p0123', `p${n}123`));
    delivery.attach(async (event) => {
      const key = event.Records[0]!.s3.object.key;
      // The first stalls 200 ms: one at a time, the others would wait behind it.
      await new Promise((r) => setTimeout(r, key === manifests[0] ? 200 : 0));
      seen.push(key);
    });
    for (const key of manifests) delivery.deliver({ Records: [record('ObjectCreated:Put', key)] });
    await delivery.drain();
    expect(seen).toEqual([manifests[1], manifests[2], manifests[0]]);
  });

  it('handles two notifications of the same key one after the other, in the order they came', async () => {
    const delivery = createS3EventDelivery();
    const seen: string[] = [];
    let call = 0;
    delivery.attach(async () => {
      const n = ++call;
      await new Promise((r) => setTimeout(r, n === 1 ? 50 : 0));
      seen.push(`put ${n}`);
    });
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST)] });
    await delivery.drain();
    expect(seen).toEqual(['put 1', 'put 2']);
  });

  it('never runs more than `concurrency` ingests at once, and handles every notification', async () => {
    const delivery = createS3EventDelivery(undefined, { concurrency: 2 });
    let running = 0;
    let most = 0;
    let handled = 0;
    delivery.attach(async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      handled++;
    });
    for (let n = 0; n < 7; n++) delivery.deliver({ Records: [record('ObjectCreated:Put', PACK_MANIFEST.replace('p0123', `p${n}123`))] });
    await delivery.drain();
    expect({ most, handled }).toEqual({ most: 2, handled: 7 });
  });
});
