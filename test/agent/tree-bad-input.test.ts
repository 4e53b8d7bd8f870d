import { describe, it, expect } from 'vitest';
import { mkdirSync, openSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { TreeVanishedError } from '../../agent/tree/walk.ts';
import { picture, snapshot, treeManifests, treeSite } from './tree-support.ts';

// What a share throws at a snapshot: files and directories that cannot be read, files that
// change while they are read, a tree that disappears or is unmounted. Each is reported, and no
// snapshot is ever torn: what is published restores exactly to what was read.

const T = new Date('2026-02-01T08:00:00Z');
const write = (path: string, data: string | Buffer, mtime = T) => {
  writeFileSync(path, data);
  utimesSync(path, mtime, mtime);
};
const eacces = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });

async function keysUnder(store: MemoryBlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

async function uploadsUnder(store: MemoryBlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const u of store.listMultipart(prefix)) out.push(u.key);
  return out;
}

describe('tree snapshot: bad input', () => {
  it('reports a file it cannot read and a directory it cannot list, and publishes the rest', async () => {
    const site = treeSite();
    write(join(site.root, 'ok.txt'), 'fine');
    write(join(site.root, 'locked.txt'), 'secret');
    mkdirSync(join(site.root, 'closed'));
    write(join(site.root, 'closed', 'inside.txt'), 'hidden');
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          if (p.toString().endsWith('locked.txt')) throw eacces();
          return openSync(p, flags);
        },
        readdir: (p) => (p.toString().endsWith('/closed') ? Promise.reject(eacces()) : readdir(p, { encoding: 'buffer' })),
      },
    });
    expect(manifest.counts).toMatchObject({ files: 1, dirs: 1, problems: 2 });
    expect(manifest.problems).toEqual([
      { path: 'closed', problem: 'directory cannot be read (EACCES); its contents are not in this snapshot' },
      { path: 'locked.txt', problem: 'cannot be read (EACCES)' },
    ]);
  });

  it('reads a file again when it changed while read, and stores the version it then read whole', async () => {
    const site = treeSite();
    const path = join(site.root, 'growing.log');
    write(path, 'version 1');
    let opens = 0;
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          const fd = openSync(p, flags);
          if (++opens === 1) write(path, 'version 2, longer', new Date('2026-02-01T09:00:00Z'));
          return fd;
        },
      },
    });
    expect(manifest.counts).toMatchObject({ files: 1, problems: 0 });
    const to = join(site.dir, 'r');
    await restoreTree({ blobs: store, manifest, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('reports a file that changes on every read and leaves it out; nothing torn is published', async () => {
    const site = treeSite();
    const path = join(site.root, 'busy.db');
    write(path, 'v0');
    write(join(site.root, 'calm.txt'), 'calm');
    let n = 0;
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          const fd = openSync(p, flags);
          if (p.toString().endsWith('busy.db')) write(path, `v${++n} ${'x'.repeat(n)}`, new Date(T.getTime() + n * 1000));
          return fd;
        },
      },
    });
    expect(manifest.counts).toMatchObject({ files: 1, problems: 1 });
    expect(manifest.problems).toEqual([{ path: 'busy.db', problem: 'changed while it was read 3 times; not in this snapshot' }]);
  });

  it('aborts the pack of a large file whose content changed between its hash and its packing (same size and mtime)', async () => {
    const site = treeSite();
    const path = join(site.root, 'big.bin');
    write(path, Buffer.alloc(5 * 1024 * 1024, 1));
    let opens = 0;
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store, {
      fs: {
        open: async (p, flags) => {
          // The second open is the packing read: swap the content, keeping size and mtime.
          if (++opens === 2) {
            const before = statSync(path);
            writeFileSync(path, Buffer.alloc(5 * 1024 * 1024, 2));
            utimesSync(path, before.atime, before.mtime);
          }
          return open(p, flags);
        },
      },
    });
    expect(manifest.counts).toMatchObject({ files: 1, problems: 0 });
    // Only the pack the snapshot uses exists: the one whose member would have lied was never published.
    expect(await keysUnder(store, 'trees/site-a/share/packs/')).toEqual(manifest.packs.map((p) => p.key));
    expect(await uploadsUnder(store, 'trees/')).toEqual([]);
    const to = join(site.dir, 'r');
    await restoreTree({ blobs: store, manifest, to });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('publishes no snapshot when the tree vanishes mid-snapshot', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) write(join(site.root, `f${i}`), `file ${i}`);
    const store = new MemoryBlobStore();
    await expect(
      snapshot(site, store, {
        fs: {
          openSync: (p, flags) => {
            const fd = openSync(p, flags);
            renameSync(site.root, `${site.root}.gone`);
            return fd;
          },
        },
      }),
    ).rejects.toThrow(TreeVanishedError);
    expect(await treeManifests(store)).toEqual([]);
    expect(await keysUnder(store, 'trees/site-a/share/index/')).toEqual([]);
  });

  it('refuses an empty root that is another directory than last time (an unmounted share), not one emptied on purpose', async () => {
    const site = treeSite();
    write(join(site.root, 'a'), 'a');
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    renameSync(site.root, `${site.root}.away`);
    mkdirSync(site.root);
    site.clock.advance(60_000);
    await expect(snapshot(site, store)).rejects.toThrow(/is empty and is not the directory the last snapshot \(.*, 1 files\) was taken of: not taken \(is the share mounted\?\)/);
    expect(await treeManifests(store)).toHaveLength(1);
    rmSync(site.root, { recursive: true });
    renameSync(`${site.root}.away`, site.root);
    rmSync(join(site.root, 'a'));
    site.clock.advance(60_000);
    const { manifest } = await snapshot(site, store);
    expect(manifest.counts.files).toBe(0);
  });

  it('refuses a root that is another directory than last time and holds few of its files (an unmounted share whose mount point holds a marker file); massChange: false lets it through', async () => {
    const site = treeSite();
    for (let i = 0; i < 30; i++) write(join(site.root, `doc${i}.txt`), `doc ${i}`);
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    renameSync(site.root, `${site.root}.away`);
    mkdirSync(site.root);
    write(join(site.root, 'NOT_MOUNTED'), '');
    site.clock.advance(60_000);
    await expect(snapshot(site, store)).rejects.toThrow(/holds 1 of the 30 files the last snapshot \(.*\) held, and is not the directory that snapshot was taken of: not taken \(is the share mounted\?\)\. If the share moved here .* set massChange: false on the source for one pass/);
    expect(await treeManifests(store)).toHaveLength(1);
    // The same directory losing most of its files (deleted on purpose) is a snapshot as before.
    rmSync(site.root, { recursive: true });
    renameSync(`${site.root}.away`, site.root);
    for (let i = 1; i < 30; i++) rmSync(join(site.root, `doc${i}.txt`));
    site.clock.advance(60_000);
    expect((await snapshot(site, store)).manifest.counts.files).toBe(1);
    // A share moved on purpose to a directory holding fewer files: through with massChange: false.
    for (let i = 1; i < 30; i++) write(join(site.root, `doc${i}.txt`), `doc ${i}`);
    site.clock.advance(60_000);
    await snapshot(site, store);
    renameSync(site.root, `${site.root}.old`);
    mkdirSync(site.root);
    write(join(site.root, 'kept.txt'), 'kept');
    site.clock.advance(60_000);
    await expect(snapshot(site, store)).rejects.toThrow(/holds 1 of the 30 files/);
    const moved = { ...site, source: { ...site.source, massChange: false as const } };
    expect((await snapshot(moved, store)).manifest.counts.files).toBe(1);
  });

  it('refuses, on a new host (no snapshot in its state directory), an empty share whose newest snapshot offsite has files; publishes a first snapshot of an empty share that never had one', async () => {
    const primary = treeSite();
    write(join(primary.root, 'a.xml'), 'a');
    const store = new MemoryBlobStore();
    await snapshot(primary, store);
    // The secondary host: a state directory of its own, the share's directory made but not restored (or mounted) yet.
    const secondary = treeSite();
    secondary.clock.advance(3_600_000);
    await expect(snapshot(secondary, store)).rejects.toThrow(/is empty, and this state directory took no snapshot of it yet while the newest snapshot offsite \(2026-03-01T10:00:00.000Z, 1 files\) has files: not taken \(is the share mounted, or restored on this host\?/);
    expect(await treeManifests(store)).toHaveLength(1);
    // Restored, it is snapshotted.
    write(join(secondary.root, 'a.xml'), 'a');
    const { manifest } = await snapshot(secondary, store);
    expect(manifest.counts.files).toBe(1);
    // A share that is empty from the start, with nothing offsite, is a first snapshot like any other.
    const fresh = treeSite();
    const other = new MemoryBlobStore();
    expect((await snapshot(fresh, other)).manifest.counts.files).toBe(0);
  });

  it("never opens Cisco CVP's live backup in a share (reading it locks it and blocks the next backup): cvp_backup_data is left out, its .old copy taken, first snapshot and incremental alike", async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'CVP'));
    write(join(site.root, 'CVP', 'cvp_backup_data'), 'live');
    write(join(site.root, 'CVP', 'cvp_backup_data.old'), 'copy');
    write(join(site.root, 'CVP_BACKUP_DATA'), 'live, upper case');
    const store = new MemoryBlobStore();
    const opened: string[] = [];
    const openSyncSpy = (p: Buffer, flags: number) => (opened.push(p.toString()), openSync(p, flags));
    const first = await snapshot(site, store, { fs: { openSync: openSyncSpy } });
    expect(first.manifest.counts).toMatchObject({ files: 1, problems: 0 });
    write(join(site.root, 'CVP', 'cvp_backup_data'), 'live, the next night');
    write(join(site.root, 'CVP', 'cvp_backup_data.old'), 'copy, the next night');
    site.clock.advance(60_000);
    const second = await snapshot(site, store, { fs: { openSync: openSyncSpy } });
    expect(second.manifest.counts).toMatchObject({ files: 1, problems: 0 });
    expect(opened.filter((p) => /cvp_backup_data$/i.test(p))).toEqual([]);
    expect(opened.filter((p) => p.endsWith('cvp_backup_data.old'))).toHaveLength(2);
  });

  it('publishes nothing when a pack it reuses is purged meanwhile, and packs that content again next pass', async () => {
    const site = treeSite();
    write(join(site.root, 'kept.txt'), 'kept content');
    const store = new MemoryBlobStore();
    const first = await snapshot(site, store);
    write(join(site.root, 'new.txt'), 'new content');
    site.clock.advance(60_000);
    const purge = (p: Buffer, flags: number) => {
      // While the second snapshot reads new.txt, the purge deletes the first snapshot's pack.
      if (p.toString().endsWith('new.txt')) void store.delete(first.manifest.packs[0]!.key);
      return openSync(p, flags);
    };
    await expect(snapshot(site, store, { fs: { openSync: purge } })).rejects.toThrow(/1 pack\(s\) this snapshot reuses were removed meanwhile .*: not published/);
    expect(await treeManifests(store)).toHaveLength(1);
    site.clock.advance(60_000);
    const { manifest } = await snapshot(site, store);
    for (const p of manifest.packs) expect(await store.head(p.key)).toBeDefined();
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
  });
});
