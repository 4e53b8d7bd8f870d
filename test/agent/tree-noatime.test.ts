import { describe, it, expect } from 'vitest';
import { constants, mkdirSync, openSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { snapshot, treeSite } from './tree-support.ts';
import { freshImport } from '../support/file-isolation.ts';

// A snapshot reads the share without changing its access times (O_NOATIME), and where it may
// not ask for that (EPERM: not the files' owner, not root) it reads them all the same.

const DAY = 86_400;

describe('tree snapshot: access times', () => {
  it('leaves the access times of the files it reads, small and large, as they were (relatime would have moved them)', async () => {
    expect(constants.O_NOATIME).toBeGreaterThan(0);
    const site = treeSite();
    mkdirSync(join(site.root, 'd'));
    const files = [join(site.root, 'a.txt'), join(site.root, 'd', 'b.bin'), join(site.root, 'd', 'large.bin')];
    writeFileSync(files[0]!, 'hello');
    writeFileSync(files[1]!, Buffer.alloc(10_000, 7));
    writeFileSync(files[2]!, Buffer.alloc(5 * 1024 * 1024, 9)); // above SMALL_FILE_BYTES: streamed
    // An access time older than a day, and older than the mtime: a read under relatime moves it.
    const now = Math.floor(Date.now() / 1000);
    for (const f of files) utimesSync(f, now - 3 * DAY, now - 2 * DAY);
    const before = files.map((f) => statSync(f).atimeMs);
    const result = await snapshot(site, new MemoryBlobStore());
    expect(result.manifest.counts.filesRead).toBe(3);
    expect(files.map((f) => statSync(f).atimeMs)).toEqual(before);
  });

  it('reads a file it may not open with O_NOATIME (EPERM) without it, and stops asking for it', async () => {
    // A fresh copy of the modules: the refusal turns O_NOATIME off for the process, and test
    // files share their modules (isolate: false); the others keep reading with it.
    const [{ readSmallFile }, { withNoAtime }] = await freshImport(() => Promise.all([import('../../agent/tree/read-file.ts'), import('../../agent/no-atime.ts')]));
    const site = treeSite();
    const file = join(site.root, 'theirs.txt');
    writeFileSync(file, 'not the agent user\'s file');
    const stat = statSync(file, { bigint: true });
    const asked: number[] = [];
    const openFile = (path: Buffer, flags: number): number => {
      asked.push(flags);
      if (flags & constants.O_NOATIME) throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
      return openSync(path, flags);
    };
    const read = () => readSmallFile(Buffer.from(file), stat, 'theirs.txt', openFile).body.toString();
    expect(read()).toBe('not the agent user\'s file');
    expect(asked.map((f) => (f & constants.O_NOATIME) !== 0)).toEqual([true, false]);
    expect(read()).toBe('not the agent user\'s file');
    expect(asked.map((f) => (f & constants.O_NOATIME) !== 0)).toEqual([true, false, false]);
    expect(withNoAtime(0) & constants.O_NOATIME).toBe(0);
  });
});
