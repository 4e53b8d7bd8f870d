import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { systemClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { Agent } from '../../agent/agent.ts';
import { Journal } from '../../agent/journal.ts';
import { silentLogger } from '../../agent/log.ts';

// Run as a process that permission bits stop (test/agent/unreadable-batch.test.ts runs it under
// setpriv): one pass ships a day directory's batches, the day is made unreadable, a second pass
// compacts the journal (forced), the day is made readable again. Prints whether the journal
// still knows the day's first batch shipped.

const [root, state] = process.argv.slice(2) as [string, string];
/** The day directory made unreadable, and readable again. */
const hide = (hidden: boolean) => chmodSync(join(root, '20240101'), hidden ? 0o000 : 0o755);
const config = parseAgentConfig(`
site: site-a
state: ${state}
sources:
  - { name: cs, type: recordings, path: ${root}, batchDepth: 2, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }
`);
const agent = new Agent({ config, store: new MemoryBlobStore(), clock: systemClock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1 });
const shipped = (await agent.cycle()).packs;
hide(true);
// A journal past its compaction threshold, as after thousands of packs.
Object.defineProperty(Journal.prototype, 'lineCount', { get: () => 1_000_000 });
await agent.cycle();
agent.close();
hide(false);
const journal = new Journal(state);
process.stdout.write(`${JSON.stringify({ shipped, stillKnown: journal.shippedAny('cs', '20240101/000001') })}\n`);
journal.close();
