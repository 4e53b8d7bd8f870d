import { messageOf } from './errors.ts';
import { packAttemptsPrefixOf } from './layout.ts';
import type { ObjectDeleter } from './purge.ts';
import type { PurgeBatch } from './retention.ts';

// An erasure reaches the DR replica (`replication`). S3 replicates writes, never the deletion of
// a version, so the copy of an erased call's pack in the DR bucket would stay until the DR
// bucket's own lifecycle (years). For each pack the purge deletes because of an erasure (its
// target names erased calls, `erase`, whether the erasure alone or the retention too let it go;
// the dead attempts at it, `replica`), the purge deletes every version of the pack's key and its
// manifest's key in the DR bucket too, and nothing else there: exact keys, never a prefix. It
// does so first, before the pack goes here: a DR copy that cannot be deleted (the DR bucket's
// policy refuses the purge's role, its region unreachable, a version still locked) keeps the pack
// here too, reported failed and noted on the request, so the next purge tries both again and the
// request is never `done` while either copy is left. Ordinary retention does not reach the DR
// bucket: its own lifecycle thins it.

/** The DR bucket the data bucket replicates to, and the purge's deleter there (every version of a key, never bypassing Object Lock). */
export interface ReplicaBucket {
  /** The DR bucket's name, as the request and the report name it. */
  name: string;
  deleter: ObjectDeleter;
}

type Target = PurgeBatch['targets'][number];

/** A target whose DR copy must go with it: a pack an erasure deletes, or a dead attempt at one. */
export const reachesReplica = (t: Target): boolean => Boolean(t.erase?.length || t.replica);

export interface ReplicaOutcome {
  /** Targets whose DR copies are gone (or who have none to delete): they may go here now. */
  ready: Target[];
  /** Targets kept here because their DR copy is still there, with why (the pack's key, and the reason naming the DR bucket). */
  refused: { target: Target; reason: string }[];
}

/** Deletes the DR copies of the targets that reach the replica; those whose copy could not be deleted are held back. */
export async function deleteReplicas(replica: ReplicaBucket | undefined, targets: Target[]): Promise<ReplicaOutcome> {
  const reaching = replica ? targets.filter(reachesReplica) : [];
  if (!replica || reaching.length === 0) return { ready: targets, refused: [] };
  const keysOf = (t: Target) => [t.key, ...(t.then ? [t.then] : [])];
  const why = new Map<string, string>();
  try {
    const outcome = await replica.deleter.deleteObjects(reaching.flatMap(keysOf));
    for (const r of [...outcome.retained, ...outcome.failed]) why.set(r.key, r.reason);
  } catch (error) {
    for (const key of reaching.flatMap(keysOf)) why.set(key, messageOf(error));
  }
  // A dead attempt at a pack holds its calls too: its DR copy left keeps the pack here as well, or
  // the request would be done with the erased call still in the DR bucket (the pack's manifest,
  // which names its dead attempts, goes with the pack, and no later purge would find it again).
  const deadLeft = new Map<string, string[]>();
  for (const t of reaching) {
    const attempts = t.replica && !t.then ? packAttemptsPrefixOf(t.key) : undefined;
    if (attempts && why.has(t.key)) deadLeft.set(attempts, [...(deadLeft.get(attempts) ?? []), t.key]);
  }
  const ready: Target[] = [];
  const refused: ReplicaOutcome['refused'] = [];
  for (const t of targets) {
    const attempts = t.erase?.length ? packAttemptsPrefixOf(t.key) : undefined;
    const left = reachesReplica(t) ? [...keysOf(t).filter((key) => why.has(key)), ...((attempts && deadLeft.get(attempts)) || [])] : [];
    if (left.length === 0) {
      ready.push(t);
      continue;
    }
    const what = left.map((key) => `${key} (${why.get(key)})`).join('; ');
    const erased = t.erase?.length ? `erasure of call(s) ${t.erase.join(', ')} waits, pack kept` : `dead attempt kept`;
    refused.push({ target: t, reason: `${erased}: its copy in the DR bucket ${replica.name} could not be deleted: ${what}; the next purge tries both again` });
  }
  return { ready, refused };
}
