import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { isArtefactManifestKey, isPackManifestKey, isTreeSnapshotManifestKey } from '../core/layout.ts';
import { decodeS3Key } from '../functions/ingest/handler.ts';
import type { LocalS3Event } from './s3-process.ts';

// The local S3's event notifications, delivered as the bucket notification of the stack
// delivers them: ObjectCreated events for manifests go to the ingest function. As S3 invokes
// a function asynchronously, several notifications are handled at once (at most
// `concurrency`), so one slow manifest does not hold up the others; two notifications of the
// same key are still handled one after the other, in the order they came (ingest is
// idempotent, and a re-put manifest is ingested after the first). A failed invocation is tried
// twice more, after a pause, as Lambda retries an asynchronous invocation twice before it hands
// the event to the function's dead-letter queue (the deployed ingest has one, with an alarm);
// here the event then goes to `errors` and the log. Nothing else can trigger ingest: there is no
// route for it.

/** Ingest invocations at once by default (the stack reserves no concurrency; S3 invokes many). */
export const DEFAULT_INGEST_CONCURRENCY = 4;

/** Lambda's retries of a failed asynchronous invocation (MaximumRetryAttempts' default). */
export const INGEST_RETRIES = 2;
/** Pause before each retry: Lambda waits about 1 then 2 minutes; the local cloud, seconds. */
export const DEFAULT_INGEST_RETRY_DELAYS_MS = [1_000, 2_000] as const;

export interface S3EventDelivery {
  /** Takes one notification from the local S3 (queued until a target is attached). */
  deliver(event: LocalS3Event): void;
  /** Sets the ingest function; notifications received before it are delivered now. */
  attach(ingest: (event: LocalS3Event) => Promise<unknown>): void;
  /** Resolves when every notification received so far has been handled. */
  drain(): Promise<void>;
  /** Ingest failures seen so far, after the retries (key and reason): the deployed stack's dead letters. */
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

export interface S3EventDeliveryOptions {
  concurrency?: number;
  /** Pause before each retry of a failed ingest; its length is the number of retries. */
  retryDelaysMs?: readonly number[];
}

/**
 * The delivery's log where the functions' logs are (the cloud's `functions.log`, as CloudWatch
 * keeps the ingest function's), and `also` (the `ferry start` terminal): an ingest given up is
 * an error there, a retry a warning.
 */
export function deliveryLog(directory: string, also?: (message: string) => void): (message: string) => void {
  const file = join(directory, 'functions.log');
  return (message) => {
    const level = message.startsWith('ingest failed after') ? 'error' : 'warn';
    try {
      appendFileSync(file, `${JSON.stringify({ time: new Date().toISOString(), level, source: 's3-event-delivery', message })}\n`);
    } catch {
      // A log line never fails the delivery (the cloud's directory may be gone as it stops).
    }
    also?.(message);
  };
}

export function createS3EventDelivery(log: (message: string) => void = () => undefined, options: S3EventDeliveryOptions = {}): S3EventDelivery {
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_INGEST_CONCURRENCY);
  const retryDelays = options.retryDelaysMs ?? DEFAULT_INGEST_RETRY_DELAYS_MS;
  const errors: { key: string; error: string }[] = [];
  /** Notifications not started yet (all of them until a target is attached). */
  const waiting: LocalS3Event[] = [];
  const running = new Set<Promise<void>>();
  /** Keys with a notification being handled: a later one of the same key waits for it. */
  const busy = new Set<string>();
  let target: ((event: LocalS3Event) => Promise<unknown>) | undefined;
  /** Moves with every notification taken or finished (drain waits until it stays put). */
  let moves = 0;

  const keysOf = (event: LocalS3Event) => event.Records.map((r) => decodeS3Key(r.s3.object.key));

  async function handle(event: LocalS3Event, ingest: (event: LocalS3Event) => Promise<unknown>): Promise<void> {
    const attempts = retryDelays.length + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        await ingest(event);
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const keys = keysOf(event).join(', ');
        if (attempt < attempts) {
          const pause = retryDelays[attempt - 1]!;
          log(`ingest of ${keys} failed (attempt ${attempt} of ${attempts}), trying again in ${pause / 1000} s: ${message}`);
          await new Promise((r) => setTimeout(r, pause));
          continue;
        }
        for (const key of keysOf(event)) errors.push({ key, error: message });
        log(`ingest failed after ${attempts} attempts, left uncatalogued (on AWS: the ingest dead-letter queue and its alarm; \`ferry catalogue rebuild\` catalogues it): ${keys}: ${message}`);
        return;
      }
    }
  }

  // Starts waiting notifications while fewer than `concurrency` run, oldest first, skipping
  // (for now) any whose key is being handled, so each key keeps its order.
  function pump(): void {
    while (target && running.size < concurrency) {
      const i = waiting.findIndex((e) => !keysOf(e).some((k) => busy.has(k)));
      if (i < 0) return;
      const event = waiting.splice(i, 1)[0]!;
      const keys = keysOf(event);
      for (const k of keys) busy.add(k);
      moves++;
      const done: Promise<void> = handle(event, target).finally(() => {
        for (const k of keys) busy.delete(k);
        running.delete(done);
        moves++;
        pump();
      });
      running.add(done);
    }
  }

  return {
    errors,
    deliver(event) {
      const records = manifestRecords(event);
      if (records.length === 0) return;
      const filtered = { ...event, Records: records };
      waiting.push(filtered);
      pump();
    },
    attach(ingest) {
      target = ingest;
      pump();
    },
    async drain() {
      // Notifications arrive asynchronously over IPC; wait until nothing runs or waits, three times in a row
      // (notifications kept for a target not attached yet are not waited for).
      for (let settled = 0; settled < 3; ) {
        const seen = moves;
        await Promise.all([...running]);
        await new Promise((r) => setTimeout(r, 50));
        settled = seen === moves && running.size === 0 && (waiting.length === 0 || !target) ? settled + 1 : 0;
      }
    },
  };
}
