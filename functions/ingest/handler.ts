import middy from '@middy/core';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { messageOf } from '../../core/errors.ts';
import { ingestManifest, type IngestDeps, type IngestResult } from '../../core/ingest.ts';
import { ingestArtefact, type ArtefactIngestDeps, type ArtefactIngestResult } from '../../core/ingest-artefact.ts';
import { ingestTreeSnapshot, type TreeIngestDeps, type TreeIngestResult } from '../../core/ingest-tree.ts';
import { isArtefactManifestKey, isPackManifestKey, isTreeSnapshotManifestKey } from '../../core/layout.ts';
import { cloudDeps } from '../shared/deps.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { emfCount, type Count } from '../shared/metrics.ts';

// Ingest: S3 ObjectCreated notifications → ingestManifest for each pack manifest key,
// ingestArtefact for each artefact manifest key (backups, log segments, archives),
// ingestTreeSnapshot for each tree snapshot manifest key (file shares). Every key
// is tried; failures are thrown together afterwards so the invocation is retried (ingest is
// idempotent, so the keys that succeeded are harmlessly written again). A backup or snapshot
// dated in the future is catalogued and said at warn (the purge counts it toward nothing).

export interface IngestHandlerDeps extends IngestDeps {
  catalogue: IngestDeps['catalogue'] & ArtefactIngestDeps['catalogue'] & TreeIngestDeps['catalogue'];
  /** Ingest's time: a backup or snapshot dated after it (plus a clock margin) is said at warn. */
  clock?: Clock;
  log?: Log;
  count?: Count;
}

export type IngestedManifest = IngestResult | ArtefactIngestResult | TreeIngestResult;

const s3EventSchema = z.object({
  Records: z.array(
    z.object({
      eventName: z.string().optional(),
      s3: z.object({ object: z.object({ key: z.string().min(1) }) }),
    }),
  ),
});
export type S3Event = z.infer<typeof s3EventSchema>;

export class IngestFailedError extends Error {
  constructor(readonly failures: { key: string; error: string }[]) {
    super(`${failures.length} manifest(s) not ingested: ${failures.map((f) => `${f.key} (${f.error})`).join('; ')}`);
    this.name = 'IngestFailedError';
  }
}

/** Keys in S3 notifications are URL-encoded with '+' for space. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

export function manifestKeysOf(event: S3Event): string[] {
  const keys = event.Records.filter((r) => r.eventName === undefined || r.eventName.startsWith('ObjectCreated')).map((r) => decodeS3Key(r.s3.object.key));
  return [...new Set(keys)].filter((key) => isPackManifestKey(key) || isArtefactManifestKey(key) || isTreeSnapshotManifestKey(key));
}

/** The site segment of a manifest key (`manifests/<site>/…`), when it has one. */
function siteOfKey(key: string): string | undefined {
  return key.split('/')[1] || undefined;
}

export function createHandler(deps: IngestHandlerDeps): Handler<unknown, { ingested: IngestedManifest[] }> {
  const log = deps.log ?? jsonLog;
  const count = deps.count ?? emfCount;
  const chain = middy(async (event: unknown): Promise<{ ingested: IngestedManifest[] }> => {
    const keys = manifestKeysOf(s3EventSchema.parse(event));
    const ingested: IngestedManifest[] = [];
    const failures: { key: string; error: string }[] = [];
    for (const key of keys) {
      try {
        const result = isArtefactManifestKey(key) ? await ingestArtefact(deps, key) : isTreeSnapshotManifestKey(key) ? await ingestTreeSnapshot(deps, key) : await ingestManifest(deps, key);
        ingested.push(result);
        const future = 'futureDated' in result ? result.futureDated : undefined;
        const collided = 'collisions' in result ? result.collisions : undefined;
        const said = future ? 'manifest ingested, dated in the future' : collided ? 'manifest ingested; calls with the same path and audio as calls catalogued before (collisions)' : 'manifest ingested';
        log(future || collided ? 'warn' : 'info', said, { ...result });
        count('ManifestsIngested', siteOfKey(key));
        if (future) count('ManifestsFutureDated', siteOfKey(key));
        if (collided) count('CallCollisions', siteOfKey(key));
      } catch (error) {
        const name = error instanceof Error ? error.name : 'Error';
        failures.push({ key, error: `${name}: ${messageOf(error)}` });
        log('error', 'manifest not ingested', { key, error: name, detail: messageOf(error) });
        count('ManifestsNotIngested', siteOfKey(key));
      }
    }
    if (failures.length > 0) throw new IngestFailedError(failures);
    return { ingested };
  });
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler(cloudDeps()));

/** The same factory under a name that says which function it builds (for composition roots). */
export const createIngestHandler = createHandler;
