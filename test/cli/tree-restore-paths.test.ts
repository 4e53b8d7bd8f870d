import { describe, it, expect } from 'vitest';
import { existsSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { restoreTree, streamTreeFile } from '../../cli/tree-restore.ts';
import { renderTreeRestore, runTreeRestore } from '../../cli/tree-commands.ts';
import { EARLIER_LOOK_SNAPSHOTS } from '../../cli/tree-snapshots.ts';
import { execFileSync } from 'node:child_process';
import { snapshot } from '../agent/tree-support.ts';
import { write, share, sink } from '../support/tree-restore.ts';

// Restoring a tree: what a path the snapshot does not hold as typed is told (left out, deleted
// since, another case or form, Windows separators, a terminal for --stdout).

describe('tree restore of a path the snapshot does not hold as typed', () => {
  it('a snapshot that left paths out says so with the restore (each path and why), and --stdout of one names why it is not there', async () => {
    const { site, store } = await share();
    execFileSync('mkfifo', [join(site.root, 'docs', 'pipe')]);
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    const { manifest } = await snapshot(site, store);
    const report = await restoreTree({ blobs: store, manifest, to: join(site.dir, 'with-left-out') });
    expect(report.leftOut).toEqual({ count: 1, paths: [{ path: 'docs/pipe', problem: expect.stringMatching(/fifo/i) }], searched: { looked: 1, oldestLooked: '2026-03-01T10:00:00.000Z', more: false } });
    const text = renderTreeRestore(report);
    expect(text).toContain('  LEFT OUT OF THE SNAPSHOT  1 path(s) the agent could not take when it made this snapshot, so not restored');
    expect(text).toMatch(/^ {4}docs\/pipe: skipped: .*fifo.*\n {4}\(none of the 1 snapshot\(s\) before it, back to 2026-03-01T10:00:00.000Z, holds it\)$/im);
    expect((await restoreTree({ blobs: store, manifest, to: join(site.dir, 'only-xml'), include: ['docs/*.xml'] })).leftOut).toBeUndefined();
    await expect(streamTreeFile(store, manifest, 'docs/pipe', sink().stream)).rejects.toThrow(new RegExp(`^docs/pipe was left out of snapshot ${manifest.snapshotId} \\(${manifest.takenAt}\\): skipped: .*fifo.*\\. Nor does any of the 1 snapshot\\(s\\) before it, back to the first`, 'i'));
  });

  it('--stdout of a file the snapshot left out (unreadable when it was taken) names the newest earlier snapshot that holds it, and its --at', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'docs', 'a.xml'), '<a>rewritten, then locked</a>');
    const eacces = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const { manifest } = await snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          if (p.toString().endsWith('a.xml')) throw eacces();
          return openSync(p, flags);
        },
      },
    });
    expect(manifest.problems).toEqual([{ path: 'docs/a.xml', problem: 'cannot be read (EACCES)' }]);
    await expect(streamTreeFile(store, manifest, 'docs/a.xml', sink().stream)).rejects.toThrow(
      `docs/a.xml was left out of snapshot ${manifest.snapshotId} (${manifest.takenAt}): cannot be read (EACCES). Snapshot ${first.snapshotId}, taken ${first.takenAt}, holds it: add --at ${first.takenAt}.`,
    );
  });

  it('a whole restore names, for each file the snapshot left out, the newest earlier snapshot that holds it and the --at and --include that restore it', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'docs', 'c.xml'), '<c/>');
    const { manifest: second } = await snapshot(site, store);
    site.clock.set(new Date('2026-03-03T09:00:00Z'));
    execFileSync('mkfifo', [join(site.root, 'docs', 'pipe')]);
    // Rewritten, then locked while the agent reads them (a file open in a Windows program).
    write(join(site.root, 'docs', 'a.xml'), '<a>day 3</a>');
    write(join(site.root, 'docs', 'c.xml'), '<c>day 3</c>');
    write(join(site.root, 'docs', 'd.xml'), '<d/>');
    const eacces = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const { manifest } = await snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          if (/(a|c)\.xml$/.test(p.toString())) throw eacces();
          return openSync(p, flags);
        },
      },
    });
    expect(manifest.problems.map((p) => p.path).sort()).toEqual(['docs/a.xml', 'docs/c.xml', 'docs/pipe']);
    const report = await restoreTree({ blobs: store, manifest, to: join(site.dir, 'with-hints') });
    const byPath = Object.fromEntries(report.leftOut!.paths.map((p) => [p.path, p.earlier]));
    // The newest earlier snapshot for each: c.xml only since the second, a.xml in both (the second is newer).
    expect(byPath).toEqual({ 'docs/a.xml': { snapshotId: second.snapshotId, takenAt: second.takenAt }, 'docs/c.xml': { snapshotId: second.snapshotId, takenAt: second.takenAt }, 'docs/pipe': undefined });
    expect(report.leftOut!.searched).toEqual({ looked: 2, oldestLooked: first.takenAt, more: false });
    const text = renderTreeRestore(report);
    expect(text).toContain(`    docs/a.xml: cannot be read (EACCES); snapshot ${second.snapshotId}, taken ${second.takenAt}, holds it: --at ${second.takenAt} --include docs/a.xml\n`);
    expect(text).toContain(`    (none of the 2 snapshot(s) before it, back to ${first.takenAt}, holds the other 1)\n`);
    // With --include, only what it names is searched for and told.
    const part = await restoreTree({ blobs: store, manifest, to: join(site.dir, 'only-xml'), include: ['docs/*.xml'] });
    const earlier = { snapshotId: second.snapshotId, takenAt: second.takenAt };
    expect(part.leftOut).toEqual({ count: 2, paths: [expect.objectContaining({ path: 'docs/a.xml', earlier }), expect.objectContaining({ path: 'docs/c.xml', earlier })], searched: { looked: 1, oldestLooked: second.takenAt, more: false } });
    expect(renderTreeRestore(part)).not.toContain('(none of the');
  });

  it('a directory the snapshot left out (it could not be read) is named with the newest earlier snapshot that holds files below it, and its --at and --include', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    const eacces = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const { manifest } = await snapshot(site, store, { fs: { readdir: (p) => (p.toString().endsWith('/docs') ? Promise.reject(eacces()) : readdir(p, { encoding: 'buffer' })) } });
    expect(manifest.problems).toEqual([{ path: 'docs', problem: expect.stringMatching(/^directory cannot be read \(EACCES\)/) }]);
    const report = await restoreTree({ blobs: store, manifest, to: join(site.dir, 'dir-left-out') });
    expect(report.leftOut!.paths).toEqual([expect.objectContaining({ path: 'docs', earlier: { snapshotId: first.snapshotId, takenAt: first.takenAt } })]);
    const text = renderTreeRestore(report);
    expect(text).toContain(`; snapshot ${first.snapshotId}, taken ${first.takenAt}, holds it: --at ${first.takenAt} --include docs\n`);
    expect(text).not.toContain('(none of the');
  });

  it('a restore whose LEFT OUT hint cannot read an earlier snapshot (its index gone) still returns its report, every file restored, saying the search failed and why', async () => {
    const { site, store, manifest: first } = await share();
    execFileSync('mkfifo', [join(site.root, 'docs', 'pipe')]);
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    const { manifest } = await snapshot(site, store);
    await store.delete(first.index.key);
    const to = join(site.dir, 'hint-failed');
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.files.restored).toBe(3);
    expect(existsSync(join(to, 'docs', 'b.bin'))).toBe(true);
    expect(report.leftOut).toEqual({ count: 1, paths: [{ path: 'docs/pipe', problem: expect.stringMatching(/fifo/i) }], searched: { looked: 1, oldestLooked: first.takenAt, more: false, failed: expect.stringContaining(first.index.key) } });
    expect(renderTreeRestore(report)).toMatch(new RegExp(`\\n {4}\\(earlier snapshots could not be searched for it: .*${first.index.key}.*; \`ferry snapshots list\` lists them, for --at\\)\\n`));
  });

  it('a path deleted from the share since: --stdout and --include name the newest earlier snapshot that holds it, and its --at', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'docs', 'a.xml'), '<a>day 2</a>');
    const { manifest: second } = await snapshot(site, store);
    site.clock.set(new Date('2026-03-03T09:00:00Z'));
    rmSync(join(site.root, 'docs', 'a.xml'));
    const { manifest: third } = await snapshot(site, store);
    const hint = `Snapshot ${second.snapshotId}, taken ${second.takenAt}, holds it: add --at ${second.takenAt}.`;
    await expect(streamTreeFile(store, third, 'docs/a.xml', sink().stream)).rejects.toThrow(`no docs/a.xml in snapshot ${third.snapshotId} (${third.takenAt}). ${hint}`);
    const to = join(site.dir, 'never');
    await expect(restoreTree({ blobs: store, manifest: third, to, include: ['docs/a.xml'] })).rejects.toThrow(`--include "docs/a.xml" matches nothing in snapshot ${third.snapshotId} (taken ${third.takenAt}). ${hint} Nothing was written.`);
    expect(existsSync(to)).toBe(false);
    // In none of them: how far back it looked, and still where paths are relative to.
    await expect(streamTreeFile(store, third, 'docs/c.xml', sink().stream)).rejects.toThrow(`no docs/c.xml in snapshot ${third.snapshotId} (${third.takenAt}). Nor does any of the 2 snapshot(s) before it, back to the first (taken ${first.takenAt}).`);
    await expect(restoreTree({ blobs: store, manifest: third, to, include: ['nomatch/**'] })).rejects.toThrow("paths are relative to the source's root, as `ferry snapshots files --site site-a --source share --at " + third.takenAt + "` lists them. Nor does any of the 2 snapshot(s) before it");
    await expect(streamTreeFile(store, first, 'docs/c.xml', sink().stream)).rejects.toThrow('No earlier snapshot holds it: this is the first.');
  });

  it(`searches at most ${EARLIER_LOOK_SNAPSHOTS} earlier snapshots for a missing path, and says older ones were not searched`, async () => {
    const { site, store } = await share();
    rmSync(join(site.root, 'docs', 'a.xml'));
    let last: TreeSnapshotManifest | undefined;
    for (let day = 2; day <= EARLIER_LOOK_SNAPSHOTS + 2; day++) {
      site.clock.set(new Date(`2026-03-${String(day).padStart(2, '0')}T09:00:00Z`));
      write(join(site.root, 'top.txt'), `day ${day}`);
      last = (await snapshot(site, store)).manifest;
    }
    await expect(streamTreeFile(store, last!, 'docs/a.xml', sink().stream)).rejects.toThrow(
      `Nor does any of the ${EARLIER_LOOK_SNAPSHOTS} snapshot(s) before it, back to 2026-03-02T09:00:00.000Z; older ones were not searched: \`ferry snapshots list --site site-a --source share\` lists them, for --at.`,
    );
  });

  it('--stdout of a path the snapshot holds under another case, normalization or a Latin-1 name names the path to give, exactly as the index holds it', async () => {
    const { site, store } = await share();
    writeFileSync(Buffer.concat([Buffer.from(`${site.root}/docs/upload-caf`), Buffer.from([0xe9]), Buffer.from('.xml')]), 'café in latin-1');
    write(join(site.root, 'docs', 'Re\u0301sume\u0301.pptx'), 'decomposed accents, as macOS writes them');
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    const { manifest } = await snapshot(site, store);
    const exactly = '--stdout takes a path exactly as the index holds it (case and accents as stored; in a name that is not UTF-8, � in place of each byte that is not)';
    await expect(streamTreeFile(store, manifest, 'docs/upload-café.xml', sink().stream)).rejects.toThrow(`no docs/upload-café.xml in snapshot ${manifest.snapshotId} (${manifest.takenAt}), but it holds "docs/upload-caf\ufffd.xml": ${exactly}`);
    await expect(streamTreeFile(store, manifest, 'DOCS/A.XML', sink().stream)).rejects.toThrow(`but it holds "docs/a.xml": ${exactly}`);
    await expect(streamTreeFile(store, manifest, 'docs/R\u00e9sum\u00e9.pptx', sink().stream)).rejects.toThrow(`but it holds "docs/Re\u0301sume\u0301.pptx"`);
    await expect(streamTreeFile(store, manifest, 'docs\\a.xml', sink().stream)).rejects.toThrow(`but it holds "docs/a.xml": ${exactly}`);
    // The path it names is one --stdout takes.
    const out = sink();
    await streamTreeFile(store, manifest, 'docs/upload-caf\ufffd.xml', out.stream);
    expect(out.text()).toBe('café in latin-1');
  });

  it('an --include written with Windows backslashes is refused saying paths take / and giving the --include to type, writing nothing', async () => {
    const { site, store, manifest } = await share();
    const to = join(site.dir, 'never');
    await expect(restoreTree({ blobs: store, manifest, to, include: ['docs\\*.xml'] })).rejects.toThrow(
      `--include "docs\\\\*.xml" matches nothing in snapshot ${manifest.snapshotId} (taken ${manifest.takenAt}): paths are relative to the source's root, with / between directories (a \\ is part of a name on this host, not Windows' separator: --include "docs/*.xml"), as`,
    );
    expect(existsSync(to)).toBe(false);
  });

  it('--stdout to a terminal is refused with the redirect to type, before anything is read; to a pipe or a file it streams', async () => {
    const { store } = await share();
    const terminal = Object.assign(sink().stream, { isTTY: true });
    const run = (stdout: NodeJS.WritableStream) => runTreeRestore({ site: 'site-a', source: 'share', stdout: 'docs/b.bin' }, store, { stdout, stderr: sink().stream as NodeJS.WriteStream });
    await expect(run(terminal)).rejects.toThrow("--stdout writes the file's bytes to standard output, which is a terminal here: redirect it to a file (--stdout docs/b.bin > b.bin) or pipe it to a program");
    // Refused before the store is asked: a store with nothing in it gives the same refusal.
    await expect(runTreeRestore({ site: 'site-a', source: 'share', stdout: 'docs/b.bin' }, new MemoryBlobStore(), { stdout: terminal, stderr: sink().stream as NodeJS.WriteStream })).rejects.toThrow('which is a terminal here');
    const piped = sink();
    expect(await run(piped.stream)).toBe(0);
    expect(piped.text().length).toBe(50_000);
  });

  it('--stdout says on standard error which snapshot the file came from (its id and time), and nothing more on standard output', async () => {
    const { store, manifest } = await share();
    const [out, err] = [sink(), sink()];
    expect(await runTreeRestore({ site: 'site-a', source: 'share', stdout: 'docs/b.bin' }, store, { stdout: out.stream, stderr: err.stream as NodeJS.WriteStream })).toBe(0);
    expect(out.text().length).toBe(50_000);
    expect(err.text()).toBe(`ferry: docs/b.bin (50.0 KB, SHA-256 verified) from snapshot ${manifest.snapshotId} taken ${manifest.takenAt}\n`);
  });

});
