import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { fetchIndex } from '../../cli/tree-snapshots.ts';
import { snapshot, treeSite } from '../agent/tree-support.ts';

// A snapshot's index fetched into a temporary directory that is full (argv[2], a full tmpfs the
// caller mounted): prints the error's message, or "fetched". test/cli/tree-files.test.ts runs it.

const site = treeSite();
for (let i = 0; i < 200; i++) writeFileSync(join(site.root, `document-with-a-long-name-${i}.txt`), `content ${i}`);
const store = new MemoryBlobStore();
const { manifest } = await snapshot(site, store);
process.env.TMPDIR = process.argv[2];
try {
  await fetchIndex(store, manifest);
  console.log('fetched');
} catch (error) {
  console.log((error as Error).message);
}
