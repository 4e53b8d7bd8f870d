import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ReadAhead } from '../../agent/tree/read-ahead.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { picture, snapshot, treeManifests, treeSite } from './tree-support.ts';

// Read-ahead of a tree read from disk (agent/tree/read-ahead.ts): when it starts, that it keeps
// on, and that a snapshot taken with it is the same snapshot.

const SLOW = 200_000; // ns: a read from disk
const FAST = 5_000; // ns: from the page cache

describe('when read-ahead starts', () => {
  it('stays off while the reads are from the page cache, and on a tree read from disk starts at the second look that finds them slow, minReads reads after the first', () => {
    const cached = new ReadAhead({ minReads: 4 });
    for (let i = 0; i < 100; i++) cached.timed(FAST);
    cached.end(100, 100);
    expect(cached.active).toBe(false);
    const cold = new ReadAhead({ minReads: 4 });
    cold.end(100, 100);
    for (let i = 0; i < 3; i++) cold.timed(SLOW);
    expect(cold.active).toBe(false);
    cold.timed(SLOW);
    expect(cold.active).toBe(false); // the first look: slow
    for (let i = 0; i < 3; i++) cold.timed(SLOW);
    expect(cold.active).toBe(false); // no look yet: 3 reads since the first
    cold.timed(SLOW);
    expect(cold.active).toBe(true);
  });

  it('stays off when a look finds the reads slow and the one before did not (one busy moment of a cached tree)', () => {
    // 32 reads a look (the defaults): each look's median is of the reads since the one before.
    const ra = new ReadAhead({ minReads: 32 });
    ra.end(100, 100);
    const looks = (nanoseconds: number) => {
      for (let i = 0; i < 32; i++) ra.timed(nanoseconds);
      return ra.active;
    };
    expect([looks(SLOW), looks(FAST), looks(SLOW), looks(FAST), looks(SLOW)]).toEqual([false, false, false, false, false]);
    expect(looks(SLOW)).toBe(true);
  });

  it('keeps on once started though the reads it made ahead are fast, and stops while most files of the runs are not read', () => {
    const ra = new ReadAhead({ minReads: 4 });
    ra.end(100, 100);
    for (let i = 0; i < 4; i++) ra.timed(SLOW);
    expect(ra.active).toBe(false);
    for (let i = 0; i < 4; i++) ra.timed(SLOW);
    expect(ra.active).toBe(true);
    for (let i = 0; i < 100; i++) ra.timed(FAST);
    expect(ra.active).toBe(true);
    ra.end(100, 1);
    ra.end(100, 1);
    expect(ra.active).toBe(false);
    ra.end(100, 100);
    ra.end(100, 100);
    expect(ra.active).toBe(true);
  });
});

describe('telling the disk from a slow machine', () => {
  /** Spins for `micros` (a read that takes that long, on the wall clock the read-ahead times). */
  const spin = (micros: number) => {
    const until = process.hrtime.bigint() + BigInt(Math.round(micros * 1000));
    while (process.hrtime.bigint() < until);
  };

  it('stays off when every read, a file read again too, is slower than slowMicros: a slow machine reading from its cache', () => {
    const ra = new ReadAhead({ minReads: 8, slowMicros: 40 });
    ra.end(100, 100);
    for (let i = 0; i < 8; i++) ra.time(() => spin(120));
    expect(ra.active).toBe(false);
  });

  it('stays off when one of the file\'s reads again is fast but the middle one is as slow as the reads were: a busy machine reading from its cache', () => {
    const ra = new ReadAhead({ minReads: 8, slowMicros: 40 });
    ra.end(100, 100);
    for (let i = 0; i < 7; i++) ra.time(() => spin(120));
    // The last file: read at 120 µs, then again at 20 (the CPU was free for that one), 120 and 120.
    const again = [120, 20, 120, 120];
    ra.time(() => spin(again.shift() ?? 120));
    expect(ra.active).toBe(false);
    expect(again).toEqual([]);
  });

  it('starts when the reads are slower than slowMicros and than twice the same file read again (from disk, then cached), at two looks', () => {
    const ra = new ReadAhead({ minReads: 8, slowMicros: 40 });
    ra.end(100, 100);
    const look = () => {
      for (let i = 0; i < 8; i++) {
        let calls = 0;
        ra.time(() => spin(calls++ === 0 ? 400 : 20));
      }
      return ra.active;
    };
    expect(look()).toBe(false);
    expect(look()).toBe(true);
  });
});

describe('a snapshot with read-ahead', () => {
  it('hands every small file of the runs after the second to the read-ahead thread, and publishes the same snapshot, restored byte for byte', async () => {
    const site = treeSite();
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(site.root, `d${d}`));
      for (let f = 0; f < 40; f++) writeFileSync(join(site.root, `d${d}`, `f${f}.bin`), Buffer.alloc(100 + d * 40 + f, d * 40 + f));
    }
    symlinkSync('d0/f0.bin', join(site.root, 'link'));
    const store = new MemoryBlobStore();
    // Every read counts as slow from the first: the looks at the second and third runs' starts
    // both find them slow, so the third run on is read ahead.
    const result = await snapshot(site, store, { readAhead: { slowMicros: -1, cachedFactor: 0, minReads: 1 } });
    expect(result.manifest.counts.filesRead).toBe(200);
    expect(result.readAhead).toBe(120);
    const [manifest] = await treeManifests(store);
    await restoreTree({ blobs: store, manifest: manifest!, to: join(site.dir, 'restored') });
    expect(picture(join(site.dir, 'restored'))).toEqual(picture(site.root));
  });

  it('never starts on a cached tree (the defaults), nor in a snapshot that reads only the changed files', async () => {
    const site = treeSite();
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(site.root, `d${d}`));
      for (let f = 0; f < 40; f++) writeFileSync(join(site.root, `d${d}`, `f${f}`), `content ${d} ${f}`);
    }
    const store = new MemoryBlobStore();
    expect((await snapshot(site, store)).readAhead).toBe(0);
    for (let d = 0; d < 5; d++) writeFileSync(join(site.root, `d${d}`, 'f7'), `changed ${d}`);
    site.clock.advance(86_400_000);
    const second = await snapshot(site, store, { readAhead: { slowMicros: -1, cachedFactor: 0, minReads: 1 } });
    expect(second.manifest.counts.filesRead).toBe(5);
    expect(second.readAhead).toBe(0);
  });
});
