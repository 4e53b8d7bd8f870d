import { describe, expect, it } from 'vitest';
import { createS3EventDelivery, manifestRecords } from '../../local/s3-events.ts';
import type { LocalS3Event } from '../../local/s3-process.ts';

// The local S3's notifications reach ingest as the stack's bucket notification sends them:
// ObjectCreated on manifest keys only, in order, failures kept rather than thrown.

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

  it('delivers in order, holds events that arrive before ingest is attached, keeps failures and drains', async () => {
    const delivery = createS3EventDelivery();
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
    expect(seen).toEqual([PACK_MANIFEST, ARTEFACT_MANIFEST]);
    expect(delivery.errors).toEqual([{ key: ARTEFACT_MANIFEST, error: 'manifest not found' }]);
  });
});
