import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runSnapshotDiff } from '../../cli/tree-commands.ts';
import { snapshot } from '../agent/tree-support.ts';
import { share, write } from './tree-restore.ts';

// `ferry snapshots diff` in a process of its own, its standard output a pipe the test closes after
// the first lines (`ferry snapshots diff | head`): `node --import tsx test/support/diff-child.ts`.
// A closed pipe ends the process as cli/main.ts ends it, with process.exit.

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { site, store } = await share();
mkdirSync(join(site.root, 'many'));
for (let i = 0; i < 5000; i++) write(join(site.root, 'many', `file-${i}.txt`), String(i));
site.clock.set(new Date('2026-03-02T09:00:00Z'));
await snapshot(site, store);
process.exitCode = await runSnapshotDiff({ site: 'site-a', source: 'share' }, store, { stdout: process.stdout, stderr: process.stderr });
