import { appendFileSync, fdatasync, fstatSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { parseAgentConfig } from '../../core/config.ts';
import type { JournalSync } from '../../agent/journal.ts';
import { buildStore } from '../../cli/build-agent.ts';
import { countingPacks, journalCrashAgent } from './journal-crash.ts';

// An agent that dies by kill -9 between a journal line's write and its sync, in a process of its
// own (test/agent/journal-crash.test.ts):
// `node --import tsx test/support/journal-crash-child.ts CONFIG LINE SENT`. It runs one pass of
// the agent CONFIG describes. The first sync of the journal whose unsynced lines hold LINE never
// returns (nor does any sync after it), and DYING_MS later the process dies: those lines are cut
// off the file (as a power cut loses the page cache) and it SIGKILLs itself, so nothing of it goes
// on after that, no other pack worker, no timer. Meanwhile the agent does whatever it would do
// while the sync is in the thread pool; what the line guards must wait. Every pack key it is about
// to send is appended to SENT first. A pass that never reaches LINE prints 'done' and exits 0.

const DYING_MS = 200;
const [configFile, line, sentFile] = process.argv.slice(2) as [string, string, string];
const config = parseAgentConfig(readFileSync(configFile, 'utf8'), configFile);
const journalFile = join(config.state, 'journal.jsonl');
let synced = 0;
let dying = false;
const sync: JournalSync = (fd) => {
  const size = fstatSync(fd).size;
  if (!dying && readFileSync(journalFile).subarray(synced, size).toString('utf8').includes(line)) {
    dying = true;
    setTimeout(() => {
      truncateSync(journalFile, synced);
      process.kill(process.pid, 'SIGKILL');
    }, DYING_MS);
  }
  if (dying) return new Promise(() => undefined);
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : ((synced = size), resolve()))));
};
const store = countingPacks(buildStore(config).store, (key) => appendFileSync(sentFile, `${key}\n`));
const agent = journalCrashAgent(config, store, sync);
await agent.cycle();
agent.close();
process.stdout.write('done\n');
process.exit(0);
