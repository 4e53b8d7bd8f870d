import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { findSnapshot, listSnapshots, restoreTree, streamTreeFile, InsufficientSpaceError } from '../../cli/tree-restore.ts';
import { RestoreInterruptedError } from '../../cli/tree-writer.ts';
import { parseAt, renderSnapshotProblems, renderSnapshots, renderTreeRestore, runTreeRestore } from '../../cli/tree-commands.ts';
import { readManifest } from '../../cli/tree-restore.ts';
import { checkAtText } from '../../cli/at-time.ts';
import { execFileSync } from 'node:child_process';
import { picture, snapshot, treeSite } from '../agent/tree-support.ts';

// Restoring a tree from the store: the newest snapshot at or before T, byte-identical, and
// nothing ever written outside DIR whatever the index says or DIR holds.

import { write, share, tampered, sink } from '../support/tree-restore.ts';

describe('tree restore', () => {
  it('stops when its signal aborts (Ctrl-C): no new file is started, the files written are kept and the error says so; the same command then finishes the tree', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'stopped');
    const controller = new AbortController();
    controller.abort();
    const err = await restoreTree({ blobs: store, manifest, to, signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreInterruptedError);
    expect((err as Error).message).toBe('interrupted: 0 file(s) restored so far are kept, whole and verified; run the same command again to go on from them');
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.files).toEqual({ restored: 3, present: 0 });
    expect(readFileSync(join(to, 'docs', 'a.xml'), 'utf8')).toBe('<a/>');
  });

  it('a restore into a DIR holding an unfinished restore of another snapshot (another --at, killed) says it took its place; the same snapshot again says nothing', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'top.txt'), 'top, day 2');
    const { manifest: second } = await snapshot(site, store);
    const to = join(site.dir, 'taken-over');
    const stopped = new AbortController();
    stopped.abort();
    await expect(restoreTree({ blobs: store, manifest: first, to, signal: stopped.signal })).rejects.toThrow(RestoreInterruptedError);
    expect(existsSync(join(to, '.ferry-restore-incomplete'))).toBe(true);
    const report = await restoreTree({ blobs: store, manifest: second, to });
    expect(report.unfinishedBefore).toEqual({ snapshotId: first.snapshotId, takenAt: first.takenAt, startedAt: expect.any(String) });
    expect(renderTreeRestore(report)).toContain(`  UNFINISHED BEFORE  ${to} held an unfinished restore of another snapshot, ${first.snapshotId} (taken ${first.takenAt}, begun `);
    expect(existsSync(join(to, '.ferry-restore-incomplete'))).toBe(false);
    // Interrupted and run again to its end, the same snapshot: nothing to say.
    const again = join(site.dir, 'resumed');
    await restoreTree({ blobs: store, manifest: second, to: again, signal: stopped.signal }).catch(() => undefined);
    expect((await restoreTree({ blobs: store, manifest: second, to: again })).unfinishedBefore).toBeUndefined();
  });

  it('picks the newest snapshot at or before T, and none before the first', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'top.txt'), 'top, day 2');
    const { manifest: second } = await snapshot(site, store);
    expect((await findSnapshot(store, 'site-a', 'share', new Date('2026-03-02T08:59:59Z')))?.manifest.snapshotId).toBe(first.snapshotId);
    expect((await findSnapshot(store, 'site-a', 'share', new Date('2026-03-02T09:00:00Z')))?.manifest.snapshotId).toBe(second.snapshotId);
    expect(await findSnapshot(store, 'site-a', 'share', new Date('2026-03-01T09:59:59Z'))).toBeUndefined();
    const rows = await listSnapshots(store, 'site-a');
    expect(rows.map((r) => [r.snapshotId, r.files])).toEqual([[first.snapshotId, 3], [second.snapshotId, 3]]);
    // The newest one only (snapshots list --limit 1): the first day's manifests are not read.
    const gets: string[] = [];
    const counting = { ...store, list: store.list.bind(store), head: store.head.bind(store), get: (key: string, range?: { start: number; end: number }) => (gets.push(key), store.get(key, range)) } as typeof store;
    expect((await listSnapshots(counting, 'site-a', 'share', 1)).map((r) => r.snapshotId)).toEqual([second.snapshotId]);
    expect(gets.filter((k) => k.includes('/2026/03/01/'))).toEqual([]);
    expect(renderSnapshots(rows).split('\n')[0]).toMatch(/^taken\s+source\s+snapshot\s+files\s+bytes\s+added\s+problems\s+shipped by$/);
    const err = { write: (s: string) => ((err.text += s), true), text: '', isTTY: false } as unknown as NodeJS.WriteStream & { text: string };
    const code = await runTreeRestore({ site: 'site-a', source: 'share', at: '2026-03-01T09:00:00Z', to: join(site.dir, 'never') }, store, { stdout: sink().stream, stderr: err });
    expect(code).toBe(3);
    expect(err.text).toMatch(/no snapshot of source share of site site-a taken at or before 2026-03-01T09:00:00.000Z: the first was taken at 2026-03-01T10:00:00.000Z/);
    expect(existsSync(join(site.dir, 'never'))).toBe(false);
  });

  it('a source with no snapshot at all is refused naming the tree sources the site has (not exit 3, "too early"), and a site with none says so', async () => {
    const { site, store } = await share();
    const run = (s: string, source: string) => runTreeRestore({ site: s, source, at: 'now', to: join(site.dir, 'never') }, store, { stdout: sink().stream, stderr: sink().stream as NodeJS.WriteStream });
    await expect(run('site-a', 'shares')).rejects.toThrow('site site-a has no snapshot of a tree source named shares: its tree sources are share');
    await expect(run('site-b', 'share')).rejects.toThrow('site site-b has no snapshot of a tree source named share: it has no tree snapshots at all (does --site name the primary site, and can this configuration read it?)');
    expect(existsSync(join(site.dir, 'never'))).toBe(false);
  });

  it('names the paths a snapshot skipped, and why, for `snapshots list --problems`', async () => {
    const { site, store } = await share();
    execFileSync('mkfifo', [join(site.root, 'docs', 'pipe')]);
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store);
    const rows = await listSnapshots(store, 'site-a');
    const withPaths = await Promise.all(rows.map(async (r) => ({ ...r, problemPaths: r.problems > 0 ? (await readManifest(store, r.manifestKey)).problems : [] })));
    const text = renderSnapshotProblems(withPaths);
    expect(text.trim().split('\n')).toEqual([`${rows[1]!.takenAt} share ${rows[1]!.snapshotId}: 1 path(s) left out or skipped`, expect.stringMatching(/^ {2}docs\/pipe: skipped: .*fifo/i)]);
    expect(renderSnapshotProblems(withPaths.slice(0, 1))).toBe('');
  });

  it('needs a zone in --at, and writes a zoned time in the form the API takes', () => {
    expect(() => parseAt('2026-03-01T10:00:00')).toThrow(/--at needs a time zone/);
    // A date alone, or no time at all, is told as such: never "garbageZ" as an example.
    expect(() => parseAt('2026-03-01')).toThrow(/--at needs a time zone, e\.g\. 2026-03-01T00:00:00/);
    expect(() => parseAt('yesterday')).toThrow(/^--at "yesterday" is not a time: give an ISO 8601 date-time with a zone, e\.g\. 2026-03-01T09:30:00Z \(UTC\)/);
    expect(() => parseAt('1733375665')).toThrow(/is not a time/);
    // This machine's offset at T, not today's: a summer time in a zone with daylight saving (its offsets given here).
    const london = (local: string) => (local.slice(5, 7) >= '04' && local.slice(5, 7) <= '10' ? 60 : 0);
    expect(() => checkAtText('2026-07-01T10:00:00', london)).toThrow(/2026-07-01T10:00:00\+01:00 \(this machine's offset then\) or 2026-07-01T10:00:00Z \(UTC\)/);
    expect(() => checkAtText('2026-01-01T10:00:00', london)).toThrow(/2026-01-01T10:00:00Z \(UTC, this machine's zone\)/);
    expect(() => checkAtText('2026-01-01T10:00', () => -330)).toThrow(/2026-01-01T10:00-05:30 \(this machine's offset then\)/);
    expect(parseAt('2026-03-01T10:00:00+01:00').toISOString()).toBe('2026-03-01T09:00:00.000Z');
    // The same instant typed another way is written in the one form the API takes.
    expect(checkAtText('2026-12-05T17:01:14z')).toBe('2026-12-05T17:01:14Z');
    expect(checkAtText('2026-12-05T18:01:14 +01:00')).toBe('2026-12-05T18:01:14+01:00');
    expect(checkAtText('2026-12-05 18:01 +0100')).toBe('2026-12-05T18:01:00+01:00');
    expect(() => checkAtText('2026-13-45T10:00:00Z')).toThrow(/^--at "2026-13-45T10:00:00Z" is not a time/);
  });

  it('restores only --include paths, and streams one file with --stdout', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'part');
    await restoreTree({ blobs: store, manifest, to: join(to, 'new', 'deeper'), include: ['docs/*.xml'] });
    // The directory made on the way gets its stored mode and mtime too.
    expect(picture(join(to, 'new', 'deeper'))).toEqual(new Map([...picture(site.root)].filter(([k]) => k === 'docs' || k === 'docs/a.xml')));
    const out = sink();
    await streamTreeFile(store, manifest, 'docs/a.xml', out.stream);
    expect(out.text()).toBe('<a/>');
    await expect(streamTreeFile(store, manifest, 'docs', sink().stream)).rejects.toThrow(/docs is a directory in snapshot/);
    await expect(streamTreeFile(store, manifest, 'nope', sink().stream)).rejects.toThrow(/no nope in snapshot/);
  });

  it('restores times before 1970 (a file and a directory, to the millisecond), not the time of the restore', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'migrated'));
    writeFileSync(join(site.root, 'migrated', '1960.txt'), 'from a FAT volume');
    const old = new Date('1960-05-01T00:00:00.500Z');
    utimesSync(join(site.root, 'migrated', '1960.txt'), old, old);
    utimesSync(join(site.root, 'migrated'), new Date('1969-12-31T23:59:59.250Z'), new Date('1969-12-31T23:59:59.250Z'));
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    const to = join(site.dir, 'old-times');
    await restoreTree({ blobs: store, manifest, to });
    expect(picture(to)).toEqual(picture(site.root));
    expect(picture(to).get('migrated/1960.txt')).toMatch(/^file \d+ -305164799500 /);
  });

  it('names the paths DIR already held that the snapshot does not, left as they were, counted in walk order', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'busy');
    mkdirSync(join(to, 'docs-old', 'deep'), { recursive: true });
    writeFileSync(join(to, 'docs-old', 'deep', 'x.txt'), 'left from another restore');
    writeFileSync(join(to, 'stray.txt'), 'stray');
    mkdirSync(join(to, 'docs'), { recursive: true });
    writeFileSync(join(to, 'docs', 'a.xml.bak'), 'an editor backup');
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.notInSnapshot).toEqual({ count: 5, paths: ['docs/a.xml.bak', 'docs-old', 'docs-old/deep', 'docs-old/deep/x.txt', 'stray.txt'] });
    expect(renderTreeRestore(report)).toContain(`  NOT IN THE SNAPSHOT  5 path(s) ${to} already held are not in this snapshot and were left as they were`);
    // Into an empty directory: nothing to say.
    expect((await restoreTree({ blobs: store, manifest, to: join(site.dir, 'clean') })).notInSnapshot).toBeUndefined();
  });

  it('names the files DIR already held with other content that the restore replaced, and only those (a re-run of the same restore replaces nothing)', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'held');
    mkdirSync(join(to, 'docs'), { recursive: true });
    writeFileSync(join(to, 'docs', 'b.bin'), Buffer.alloc(50_000, 1)); // the operator's own edit, same size
    writeFileSync(join(to, 'top.txt'), 'another day'); // another size
    writeFileSync(join(to, 'docs', 'a.xml'), '<a/>'); // the snapshot's bytes already
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.files).toEqual({ restored: 2, present: 1 });
    expect(report.replaced).toEqual({ count: 2, paths: ['docs/b.bin', 'top.txt'] });
    const text = renderTreeRestore(report);
    expect(text).toContain(`  REPLACED  2 file(s) ${to} already held with other content than this snapshot's (files of its own, another snapshot's) were replaced by the snapshot's`);
    expect(text).toMatch(/^ {4}docs\/b\.bin\n {4}top\.txt$/m);
    expect((await restoreTree({ blobs: store, manifest, to })).replaced).toBeUndefined();
    expect((await restoreTree({ blobs: store, manifest, to: join(site.dir, 'empty') })).replaced).toBeUndefined();
  });

  it('takes a directory name as --include for the directory and what it holds, and refuses an --include that matches nothing, writing nothing', async () => {
    const { site, store, manifest } = await share();
    for (const include of ['docs', 'docs/']) {
      const to = join(site.dir, `inc-${include.length}`);
      await restoreTree({ blobs: store, manifest, to, include: [include] });
      expect([...picture(to).keys()].sort()).toEqual(['docs', 'docs/a.xml', 'docs/b.bin']);
    }
    const to = join(site.dir, 'inc-none');
    await expect(restoreTree({ blobs: store, manifest, to, include: ['docs/**', 'nomatch/**'] })).rejects.toThrow(/^--include "nomatch\/\*\*" matches nothing in snapshot s[0-9a-f]{23} \(taken .*\): paths are relative to the source's root, .* Nothing was written\.$/);
    expect(existsSync(to)).toBe(false);
  });

  it('resumes: files already there and verified are kept, a leftover .ferry-part and a damaged file are fetched again', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'r');
    await restoreTree({ blobs: store, manifest, to });
    writeFileSync(join(to, 'docs', 'b.bin'), Buffer.alloc(50_000, 1)); // same size, other bytes
    writeFileSync(join(to, 'top.txt.ferry-part'), 'half');
    rmSync(join(to, 'top.txt'));
    const again = await restoreTree({ blobs: store, manifest, to });
    expect(again.files).toEqual({ restored: 2, present: 1 });
    expect(readdirSync(to).sort()).toEqual(['docs', 'top.txt']);
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('restores a share holding X beside X.ferry-part and X.ferry-1-part byte-identical, and a re-run never writes X through either', async () => {
    const site = treeSite();
    mkdirSync(join(site.root, 'Logs'));
    write(join(site.root, 'Logs', 'big.wma'), Buffer.alloc(300_000, 7));
    write(join(site.root, 'Logs', 'big.wma.ferry-part'), 'a real file named as the temporary');
    write(join(site.root, 'Logs', 'big.wma.ferry-1-part'), 'another real file');
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    const to = join(site.dir, 'parts');
    const first = await restoreTree({ blobs: store, manifest, to });
    expect(first.files).toEqual({ restored: 3, present: 0 });
    expect(picture(to)).toEqual(picture(site.root));
    rmSync(join(to, 'Logs', 'big.wma'));
    const again = await restoreTree({ blobs: store, manifest, to });
    expect(again.files).toEqual({ restored: 1, present: 2 });
    expect(readFileSync(join(to, 'Logs', 'big.wma.ferry-part'), 'utf8')).toBe('a real file named as the temporary');
    expect(readdirSync(join(to, 'Logs')).sort()).toEqual(['big.wma', 'big.wma.ferry-1-part', 'big.wma.ferry-part']);
    expect(picture(to)).toEqual(picture(site.root));
  });

  it("never touches a file of DIR named X.part (a browser's or a download manager's) while it restores X", async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'users-parts');
    mkdirSync(join(to, 'docs'), { recursive: true });
    writeFileSync(join(to, 'docs', 'a.xml.part'), 'my own notes');
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(readFileSync(join(to, 'docs', 'a.xml.part'), 'utf8')).toBe('my own notes');
    expect(readFileSync(join(to, 'docs', 'a.xml'), 'utf8')).toBe('<a/>');
    expect(report.notInSnapshot).toEqual({ count: 1, paths: ['docs/a.xml.part'] });
  });

  it('fetches files that lie together in one pack with one ranged GET, and files apart with one each', async () => {
    const site = treeSite();
    for (let i = 0; i < 40; i++) write(join(site.root, `f${String(i).padStart(2, '0')}.txt`), `content ${i} `.repeat(i * 50));
    write(join(site.root, 'g-big.bin'), Buffer.alloc(5 * 1024 * 1024, 3)); // a large file: a pack, and a GET, of its own
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    const gets: string[] = [];
    const counting = { list: store.list.bind(store), get: (key: string, range?: { start: number; end: number }) => (range && gets.push(key), store.get(key, range)) };
    const to = join(site.dir, 'r');
    const report = await restoreTree({ blobs: counting, manifest, to });
    expect(report.files).toEqual({ restored: 41, present: 0 });
    expect(picture(to)).toEqual(picture(site.root));
    expect(report.gets).toBe(gets.length);
    expect(gets.length).toBe(2); // f01…f39 in one run (f00 is empty: no GET), the large one alone
    rmSync(join(to, 'f07.txt'));
    writeFileSync(join(to, 'f20.txt'), 'damaged');
    const again = await restoreTree({ blobs: counting, manifest, to });
    expect(again.files).toEqual({ restored: 2, present: 39 });
    expect(again.gets).toBe(2); // the files kept between them are not fetched again
    expect(again.bytesDownloaded).toBe(manifest.bytes.total - 5 * 1024 * 1024 - [...Array(40).keys()].filter((i) => i !== 7 && i !== 20).reduce((n, i) => n + `content ${i} `.length * i * 50, 0));
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('checks free space before writing anything', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'small');
    await expect(restoreTree({ blobs: store, manifest, to, freeBytes: 1000 })).rejects.toThrow(InsufficientSpaceError);
    expect(existsSync(to)).toBe(false);
  });

  it('counts free space in whole blocks, and takes what an earlier run left in .ferry-part files as space it will reuse', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'blocks');
    // 4 + 50,000 + 3 bytes take 4 KiB + 52 KiB + 4 KiB: 61,440 bytes.
    const refusal = await restoreTree({ blobs: store, manifest, to, freeBytes: 50_007 }).catch((e: Error) => e.message);
    expect(refusal).toMatch(/the snapshot needs 61\.4 KB more \(3 file\(s\), 50\.0 KB in all\), only 50\.0 KB is free/);
    mkdirSync(join(to, 'docs'), { recursive: true });
    writeFileSync(join(to, 'docs', 'b.bin.ferry-part'), Buffer.alloc(50_000, 1));
    const reused = statSync(join(to, 'docs', 'b.bin.ferry-part')).blocks * 512;
    await restoreTree({ blobs: store, manifest, to, freeBytes: 61_440 - reused });
    expect(picture(to)).toEqual(picture(site.root));
  });

  it('refuses index paths that climb out of DIR or are absolute, writing nothing outside', async () => {
    const { site, store, manifest } = await share();
    for (const bad of ['../escaped.txt', '/etc/escaped.txt', 'docs/../../escaped.txt', 'docs//x']) {
      const evil = await tampered(store, manifest, (es) => es.map((e) => (e.path === 'top.txt' ? { ...e, path: bad } : e)));
      await expect(restoreTree({ blobs: store, manifest: evil, to: join(site.dir, 'in') })).rejects.toThrow(/refusing path .* from the index/);
    }
    expect(existsSync(join(site.dir, 'escaped.txt'))).toBe(false);
  });

  it('restores into the directory DIR links to (/srv/restore -> a bigger disk), and refuses a DIR that is a file, named', async () => {
    const { site, store, manifest } = await share();
    mkdirSync(join(site.dir, 'big-disk'));
    symlinkSync(join(site.dir, 'big-disk'), join(site.dir, 'restore-link'));
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'restore-link') });
    expect(picture(join(site.dir, 'big-disk'))).toEqual(picture(site.root));
    writeFileSync(join(site.dir, 'a-file'), 'x');
    await expect(restoreTree({ blobs: store, manifest, to: join(site.dir, 'a-file') })).rejects.toThrow(`${join(site.dir, 'a-file')} exists and is not a directory`);
  });

  it('never writes through a symbolic link already in DIR', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'r');
    const outside = join(site.dir, 'outside');
    mkdirSync(to);
    mkdirSync(outside);
    symlinkSync(outside, join(to, 'docs'));
    await expect(restoreTree({ blobs: store, manifest, to })).rejects.toThrow(/path\(s\) of snapshot \w+ meet something else in .*: docs \(a symbolic link where the snapshot has a directory\).*Nothing was written/);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses a DIR whose files and directories are in the way of the snapshot before writing anything, naming each (a file where a directory is, and the reverse)', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'mixed');
    mkdirSync(to);
    writeFileSync(join(to, 'docs'), 'a file where the snapshot has a directory');
    mkdirSync(join(to, 'top.txt'));
    const before = picture(to);
    await expect(restoreTree({ blobs: store, manifest, to })).rejects.toThrow(
      /^4 path\(s\) of snapshot \w+ meet something else in .*mixed: docs \(a file where the snapshot has a directory\), docs\/a\.xml \(below a file of DIR\), docs\/b\.bin \(below a file of DIR\), top\.txt \(a directory where the snapshot has a file\)\. Nothing is replaced and no link is followed: move them away, or restore into an empty directory\. Nothing was written\.$/,
    );
    expect(picture(to)).toEqual(before);
  });

  it('refuses content that does not match its SHA-256 and keeps nothing under its name', async () => {
    const { site, store, manifest } = await share();
    const evil = await tampered(store, manifest, (es) => es.map((e) => (e.path === 'top.txt' ? { ...e, sha256: 'a'.repeat(64) } : e)));
    const to = join(site.dir, 'r');
    await expect(restoreTree({ blobs: store, manifest: evil, to, concurrency: 1 })).rejects.toThrow(/top.txt does not match its SHA-256/);
    expect(existsSync(join(to, 'top.txt'))).toBe(false);
    expect(existsSync(join(to, 'top.txt.ferry-part'))).toBe(false);
  });

  it('refuses an index whose bytes differ from what its manifest says', async () => {
    const { site, store, manifest } = await share();
    const wrong = { ...manifest, index: { ...manifest.index, sha256: 'b'.repeat(64) } };
    await expect(restoreTree({ blobs: store, manifest: wrong, to: join(site.dir, 'r') })).rejects.toThrow(/its manifest says .*: refused/);
    expect(readFileSync(join(site.root, 'top.txt'), 'utf8')).toBe('top');
  });
});
