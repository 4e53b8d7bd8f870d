import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { chmodSync, existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { picture, snapshot, treeSite } from './tree-support.ts';

// Over random histories of a share (files created, modified, deleted, folders renamed, links
// made, names in any encoding), every snapshot restores to exactly the tree it was taken of:
// same paths, bytes, modes, mtimes, link targets. Incremental snapshots, shared content and
// the merge-join with the previous index must never lose or mix up a byte.

const DIRS = ['', 'd1', 'd1/sub', 'Meeting Content', 'Meeting Content/conf 7'];
const NAMES: Buffer[] = ['a', 'B c.txt', 'é ü.xml', 'x', 'same.bin'].map((n) => Buffer.from(n)).concat([Buffer.from([0x6c, 0x61, 0x74, 0xe9, 0x31])]);

type Op =
  | { k: 'write'; dir: number; name: number; content: string; mode: number }
  | { k: 'delete'; dir: number; name: number }
  | { k: 'rename'; from: number; to: number }
  | { k: 'link'; dir: number; name: number; target: string }
  | { k: 'snapshot' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('write' as const), dir: fc.nat(DIRS.length - 1), name: fc.nat(NAMES.length - 1), content: fc.constantFrom('', 'same', 'x'.repeat(3000), 'other').chain((c) => fc.oneof(fc.constant(c), fc.string({ maxLength: 40 }))), mode: fc.constantFrom(0o644, 0o600, 0o755) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), dir: fc.nat(DIRS.length - 1), name: fc.nat(NAMES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rename' as const), from: fc.nat(DIRS.length - 1), to: fc.nat(DIRS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('link' as const), dir: fc.nat(DIRS.length - 1), name: fc.nat(NAMES.length - 1), target: fc.constantFrom('a', '../x', '/etc/passwd', 'Meeting Content') }) },
  { weight: 3, arbitrary: fc.constant<Op>({ k: 'snapshot' }) },
);

const pathOf = (root: string, dir: number, name?: number) => {
  const base = Buffer.from(DIRS[dir] ? join(root, DIRS[dir]) : root);
  return name === undefined ? base : Buffer.concat([base, Buffer.from('/'), NAMES[name]!]);
};
const exists = (p: Buffer) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

describe('tree snapshots over random histories', () => {
  it('every snapshot restores exactly the tree it was taken of', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 10 }), async (ops) => {
        const site = treeSite();
        const store = new MemoryBlobStore();
        const taken: { manifest: TreeSnapshotManifest; picture: Map<string, string> }[] = [];
        let time = Date.parse('2026-02-01T00:00:00Z');
        for (const o of [...ops, { k: 'snapshot' } as Op]) {
          time += 60_000;
          if (o.k === 'write') {
            const dir = pathOf(site.root, o.dir);
            if (exists(dir) && !lstatSync(dir).isDirectory()) continue;
            mkdirSync(dir.toString(), { recursive: true });
            const p = pathOf(site.root, o.dir, o.name);
            if (exists(p) && !lstatSync(p).isFile()) continue;
            writeFileSync(p, o.content);
            utimesSync(p, new Date(time), new Date(time));
            chmodSync(p, o.mode);
          } else if (o.k === 'delete') rmSync(pathOf(site.root, o.dir, o.name), { recursive: true, force: true });
          else if (o.k === 'rename') {
            const from = DIRS[o.from]!;
            const to = DIRS[o.to]!;
            if (!from || !to || to.startsWith(from) || from.startsWith(to)) continue;
            if (!existsSync(join(site.root, from)) || exists(Buffer.from(join(site.root, to)))) continue;
            mkdirSync(join(site.root, to, '..'), { recursive: true });
            renameSync(join(site.root, from), join(site.root, to));
          } else if (o.k === 'link') {
            const p = pathOf(site.root, o.dir, o.name);
            if (!existsSync(pathOf(site.root, o.dir).toString()) || exists(p)) continue;
            symlinkSync(o.target, p);
          } else {
            site.clock.set(new Date(time));
            const { manifest } = await snapshot(site, store);
            taken.push({ manifest, picture: picture(site.root) });
          }
        }
        for (const [i, t] of taken.entries()) {
          const to = join(site.dir, `restore-${i}`);
          await restoreTree({ blobs: store, manifest: t.manifest, to });
          expect(picture(to)).toEqual(t.picture);
        }
        rmSync(site.dir, { recursive: true, force: true });
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
