import { isArtefactManifestKey, isPackManifestKey, isTreeSnapshotManifestKey } from '../core/layout.ts';
import { decodeS3Key } from '../functions/ingest/handler.ts';
import type { LocalS3Event } from './s3-process.ts';

// The local S3's event notifications, delivered as the bucket notification of the stack
// delivers them: ObjectCreated events for manifests go to the ingest function, in order, one
// at a time. Nothing else can trigger ingest: there is no route for it.

export interface S3EventDelivery {
  /** Takes one notification from the local S3 (queued until a target is attached). */
  deliver(event: LocalS3Event): void;
  /** Sets the ingest function; notifications received before it are delivered now. */
  attach(ingest: (event: LocalS3Event) => Promise<unknown>): void;
  /** Resolves when every notification received so far has been handled. */
  drain(): Promise<void>;
  /** Ingest failures seen so far (key and reason). */
  readonly errors: { key: string; error: string }[];
}

/** The records a manifest notification filter would pass: object created, key a manifest. */
export function manifestRecords(event: LocalS3Event): LocalS3Event['Records'] {
  return event.Records.filter((r) => {
    if (!r.eventName.startsWith('ObjectCreated')) return false;
    const key = decodeS3Key(r.s3.object.key);
    return isPackManifestKey(key) || isArtefactManifestKey(key) || isTreeSnapshotManifestKey(key);
  });
}

export function createS3EventDelivery(log: (message: string) => void = () => undefined): S3EventDelivery {
  const errors: { key: string; error: string }[] = [];
  const pending: LocalS3Event[] = [];
  let target: ((event: LocalS3Event) => Promise<unknown>) | undefined;
  let queue: Promise<void> = Promise.resolve();

  const run = (event: LocalS3Event, ingest: (event: LocalS3Event) => Promise<unknown>) => {
    queue = queue.then(async () => {
      try {
        await ingest(event);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        for (const r of event.Records) errors.push({ key: decodeS3Key(r.s3.object.key), error: message });
        log(`ingest failed: ${message}`);
      }
    });
  };

  return {
    errors,
    deliver(event) {
      const records = manifestRecords(event);
      if (records.length === 0) return;
      const filtered = { ...event, Records: records };
      if (target) run(filtered, target);
      else pending.push(filtered);
    },
    attach(ingest) {
      target = ingest;
      for (const e of pending.splice(0)) run(e, ingest);
    },
    async drain() {
      // Notifications arrive asynchronously over IPC; wait until the queue stays settled.
      for (let settled = 0; settled < 3; ) {
        const current = queue;
        await current;
        await new Promise((r) => setTimeout(r, 50));
        settled = current === queue ? settled + 1 : 0;
      }
    },
  };
}
