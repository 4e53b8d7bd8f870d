import type { BlobStore } from '../core/ports.ts';
import { packManifestKey } from '../core/layout.ts';
import { parseManifest } from '../core/manifest.ts';
import { readAll } from './recover.ts';

// What the store says was shipped since a time: the recordings of every pack manifest published
// from then on, as `source\tpath` → the manifest's key. Asked when the state directory turns out older than the
// agent's last run (restored from a backup): its shipped index does not know those packs, and a
// recording shipped and evicted since must not read as lost. A manifest is filed under the day
// its batch was recorded, not the day it was shipped: a batch recorded before that day (late the
// evening before, or a backlog) and shipped after it is filed under an earlier day, and is found
// there by the time the store wrote it.

const DAY_MS = 86_400_000;
/** Enough for weeks of a busy site; past it the rest is not looked at (the warning and the alert say from which day). */
export const MAX_MANIFESTS = 20_000;
/** Days before `since`'s whose manifests are looked through for batches shipped after it (a backlog a month deep). */
const BACKLOG_DAYS = 31;
/** The store's clock may differ from this machine's: a manifest it wrote up to this long before `since` is read too. */
const CLOCK_SLACK_MS = DAY_MS;

/** What shippedSince read: `complete` false when it stopped at `max` manifests, `unreadFrom` the day (YYYY-MM-DD) of the manifests it did not read from then on. */
export interface ShippedSince {
  paths: Map<string, string>;
  manifests: number;
  complete: boolean;
  unreadFrom?: string;
}

export async function shippedSince(store: Pick<BlobStore, 'list' | 'get'>, site: string, since: Date, now: Date, max = MAX_MANIFESTS): Promise<ShippedSince> {
  const paths = new Map<string, string>();
  let manifests = 0;
  const sinceDay = Math.floor(since.getTime() / DAY_MS) * DAY_MS;
  for (let day = sinceDay - BACKLOG_DAYS * DAY_MS; day <= now.getTime(); day += DAY_MS) {
    const prefix = packManifestKey(site, 'x', new Date(day)).replace(/x\.json$/, '');
    for await (const item of store.list(prefix)) {
      // Filed before since's day: read only when written after it (a batch recorded then, shipped since).
      if (day < sinceDay && item.lastModified !== undefined && item.lastModified.getTime() < since.getTime() - CLOCK_SLACK_MS) continue;
      if (++manifests > max) return { paths, manifests: manifests - 1, complete: false, unreadFrom: new Date(day).toISOString().slice(0, 10) };
      const manifest = parseManifest(await readAll(store, item.key));
      for (const member of manifest.members) paths.set(`${manifest.source}\t${member.path}`, item.key);
    }
  }
  return { paths, manifests, complete: true };
}
