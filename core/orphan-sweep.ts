import { packAttemptsPrefixOf, sitePrefix } from './layout.ts';
import type { BlobStore } from './ports.ts';
import type { PurgeTarget } from './retention.ts';

// The orphan sweep: pack attempts that never got a manifest. The manifest is written last, so a
// pack object without one is an attempt whose agent died or gave up before committing it (a
// crash, attempts exhausted, the batch evicted mid-pack). Nobody can ever see it (a pack without
// its manifest does not exist for anyone), and no manifest will list it, so the retention plan
// never reaches it: without this sweep it stays in the bucket, and is billed, forever.
//
// The rule is one-sided on purpose: an attempt goes only when no manifest of its pack id exists
// anywhere in the site AND it was written more than `graceDays` ago, long after any agent that
// could still commit it has given up (the agent retries a pack within one run; a stopped agent
// re-ships under a new attempt key and lists the old one as superseded). Pack objects are listed
// before manifests, so a manifest written while the sweep runs is seen. An object whose age is
// unknown is kept. Object Lock still protects a young version (the purge never bypasses it).

/** Days an unmanifested pack attempt is left alone (its manifest could still come). */
export const DEFAULT_ORPHAN_GRACE_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface OrphanSweepInput {
  site: string;
  now: Date;
  /** Default DEFAULT_ORPHAN_GRACE_DAYS. */
  graceDays?: number;
  /** The bucket's default Object Lock retention: an attempt younger than that cannot be deleted yet, so it is not planned. */
  lockDays?: number;
  /** At most this many targets (the purge's plan is bounded). */
  limit: number;
}

/** The pack id of a manifest key (`manifests/{site}/recordings/yyyy/mm/dd/{packId}.json`). */
function manifestPackId(key: string): string | undefined {
  return /\/(p[0-9a-f]{23})\.json$/.exec(key)?.[1];
}

/** The pack id of a pack attempt key built by packKey; undefined for any other key. */
function attemptPackId(key: string): string | undefined {
  return packAttemptsPrefixOf(key)?.split('/').pop();
}

/**
 * The site's pack attempts with no manifest for their pack id, written more than `graceDays`
 * before `now`, oldest first (as listed), at most `limit`. Targets carry no manifest (`then`).
 */
export async function findOrphanPacks(blobs: Pick<BlobStore, 'list'>, input: OrphanSweepInput): Promise<PurgeTarget[]> {
  if (input.limit <= 0) return [];
  const graceDays = input.graceDays ?? DEFAULT_ORPHAN_GRACE_DAYS;
  const olderThan = input.now.getTime() - Math.max(graceDays, input.lockDays ?? 0) * DAY_MS;
  const candidates: { key: string; packId: string }[] = [];
  for await (const info of blobs.list(sitePrefix('recordings', input.site))) {
    const packId = attemptPackId(info.key);
    if (!packId || !info.lastModified || info.lastModified.getTime() >= olderThan) continue;
    candidates.push({ key: info.key, packId });
  }
  if (candidates.length === 0) return [];
  const manifested = new Set<string>();
  for await (const info of blobs.list(`${sitePrefix('manifests', input.site)}recordings/`)) {
    const packId = manifestPackId(info.key);
    if (packId) manifested.add(packId);
  }
  return candidates
    .filter((c) => !manifested.has(c.packId))
    .slice(0, input.limit)
    .map((c) => ({ key: c.key, kind: 'pack' as const, source: '(no manifest)', reason: `pack attempt with no manifest, written more than ${graceDays} day(s) ago (its agent never committed it)` }));
}
