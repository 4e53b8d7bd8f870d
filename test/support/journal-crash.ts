import { ManualClock } from '../../core/clock.ts';
import type { AgentConfig } from '../../core/config.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import type { JournalSync } from '../../agent/journal.ts';
import { silentLogger } from '../../agent/log.ts';

// What test/agent/journal-crash.test.ts and the agent it kills (journal-crash-child.ts) share:
// the agent as both build it, and the store wrapper that tells each pack sent.

export const journalCrashAgent = (config: AgentConfig, store: BlobStore, syncJournal?: JournalSync): Agent =>
  new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1, ...(syncJournal ? { syncJournal } : {}) });

/** `store` with every PUT of a pack and every multipart create (a pack's) told to `sent` before it is sent. */
export function countingPacks(store: BlobStore, sent: (key: string) => void): BlobStore {
  return Object.assign(Object.create(store) as BlobStore, {
    put: (...a: Parameters<BlobStore['put']>) => (a[0].endsWith('.tar') && sent(a[0]), store.put(...a)),
    createMultipart: (...a: Parameters<BlobStore['createMultipart']>) => (sent(a[0]), store.createMultipart(...a)),
  });
}
