import { heartbeatKeyPlausible, heartbeatMatchesKey, heartbeatPrefix, type Heartbeat } from '../core/fleet.ts';
import { HeartbeatListing, readHeartbeat } from '../core/heartbeat-read.ts';
import type { BlobStore } from '../core/ports.ts';

// The site's heartbeats as an agent reads them: to find another agent writing as its site
// (agent/heartbeat.ts) and what the store last heard from it.

/**
 * The site's heartbeats, newest first, each with its time (from its key alone) and a reader of
 * it (undefined when it cannot be read, or its time is not its key's); `pageSize` keys a request. None when the store cannot
 * list or read.
 */
export async function* siteHeartbeats(store: Partial<Pick<BlobStore, 'list' | 'get'>>, site: string, pageSize: number, now: number): AsyncIterable<{ t: number; at: string; read: () => Promise<Heartbeat | undefined> }> {
  const { list, get } = store;
  if (!list || !get) return;
  const blobs = { list: list.bind(store), get: get.bind(store) };
  for await (const item of new HeartbeatListing(blobs, heartbeatPrefix(site), pageSize).keys()) {
    // A key dated past any clock, or a heartbeat filed under another time (or agent) than its own, is not believed (core/heartbeat-key.ts).
    if (!heartbeatKeyPlausible(item.t, now)) continue;
    const read = async () => {
      const heartbeat = await readHeartbeat(blobs, item.key).catch(() => undefined);
      return heartbeat && heartbeatMatchesKey(heartbeat, item.t, item.agent) ? heartbeat : undefined;
    };
    yield { t: item.t, at: new Date(item.t).toISOString(), read };
  }
}
