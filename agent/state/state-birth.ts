import { join } from 'node:path';
import { heartbeatPrefix } from '../../core/heartbeat-key.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

// When this state directory began, and whether the store already knew the site then: a state
// directory begun empty (a host rebuilt or reinstalled, its old directory lost) does not know
// what an earlier one shipped, and a batch it has never seen goes to the store unasked
// (pack-attempts.ts), its bytes sent again only to be refused, for every batch still on the
// recorder's disk. Knowing its birth, the agent asks the store first (the manifest's HEAD) for a
// batch recorded before it: found committed, nothing is sent. Kept in `born.json`, so that every
// pass of a cron-run agent knows it, not only the first.

const FILE = 'born.json';
/** A batch recorded up to a day after the directory began is asked about too: the rebuilt host's clock may differ from the one that dated the files. */
const SLACK_MS = 86_400_000;

export interface StateBirth {
  /** When the state directory began (this machine's clock). */
  at: string;
  /** Whether an agent had written a heartbeat as this site before (heartbeats-daily/): an earlier state directory may have shipped. */
  siteKnown: boolean;
}

/**
 * Whether the store holds a daily heartbeat of the site (an agent ran as it in the last 400 days:
 * each writes its first heartbeat of a UTC day there too); true when it cannot tell. One LIST,
 * once in a state directory's life.
 */
export async function siteKnownToStore(store: Pick<BlobStore, 'list'>, site: string): Promise<boolean> {
  try {
    for await (const item of store.list(heartbeatPrefix(site, 'heartbeats-daily'), { pageSize: 1 })) if (item) return true;
    return false;
  } catch {
    return true;
  }
}

/**
 * The state directory's birth: read from `born.json`, or, for a directory whose journal is still
 * empty, taken now (the store asked whether it knew the site) and written. A directory with a
 * journal and no `born.json` began before this record existed: undefined, its journal trusted.
 */
export async function stateBirth(state: string, journalEmpty: boolean, store: Pick<BlobStore, 'list'>, site: string, now: Date): Promise<StateBirth | undefined> {
  const file = join(state, FILE);
  const known = readJsonFile<StateBirth>(file);
  if (known) return known;
  if (!journalEmpty) return undefined;
  const birth = { at: now.toISOString(), siteKnown: await siteKnownToStore(store, site) };
  try {
    writeFileAtomic(file, `${JSON.stringify(birth)}\n`);
  } catch {
    // Not written (the state disk full, say): this pass still asks as it should; a later pass
    // takes it again while the journal is empty, and otherwise trusts the journal, as an agent
    // did before this record (a batch then sent unasked is refused by the store, not duplicated).
  }
  return birth;
}

/** The state directory's recorded birth, read only (undefined: a directory begun before `born.json` existed, or not yet begun). */
export function readStateBirth(state: string): StateBirth | undefined {
  return readJsonFile<StateBirth>(join(state, FILE));
}

/** Batches whose oldest recording is older than this may have been shipped by a state directory this one does not remember; undefined: none. */
export function unrememberedBefore(birth: StateBirth | undefined): number | undefined {
  return birth?.siteKnown ? Date.parse(birth.at) + SLACK_MS : undefined;
}
