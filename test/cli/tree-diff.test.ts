import { describe, it, expect } from 'vitest';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runSnapshotDiff } from '../../cli/tree-commands.ts';
import { compareTreePaths } from '../../agent/tree/paths.ts';
import { IntegrityError } from '../../core/errors.ts';
import { snapshot } from '../agent/tree-support.ts';
import { write, share, sink, tampered } from '../support/tree-restore.ts';

// `ferry snapshots diff`: what changed on a share between two snapshots, from their indexes.

const run = async (store: Parameters<typeof runSnapshotDiff>[1], opts: Partial<Parameters<typeof runSnapshotDiff>[0]> = {}) => {
  const out = sink();
  const err = sink();
  const code = await runSnapshotDiff({ site: 'site-a', source: 'share', ...opts }, store, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
};

/** A share changed every way a path can change between two snapshots. */
async function changedShare() {
  const { site, store, manifest: first } = await share();
  symlinkSync('docs/a.xml', join(site.root, 'latest'));
  site.clock.set(new Date('2026-03-02T09:00:00Z'));
  const { manifest: second } = await snapshot(site, store);
  write(join(site.root, 'docs', 'a.xml'), '<a>edited</a>');
  unlinkSync(join(site.root, 'docs', 'b.bin'));
  write(join(site.root, 'docs', 'new.txt'), 'new');
  chmodSync(join(site.root, 'top.txt'), 0o600);
  unlinkSync(join(site.root, 'latest'));
  symlinkSync('docs/new.txt', join(site.root, 'latest'));
  mkdirSync(join(site.root, 'docs.old'));
  write(join(site.root, 'docs.old', 'kept.txt'), 'k');
  site.clock.set(new Date('2026-03-03T09:00:00Z'));
  const { manifest: third } = await snapshot(site, store);
  return { site, store, first, second, third };
}

describe('snapshots diff', () => {
  it('lists each path added, removed, changed in content or link target, or changed in mode, in the walk order, then the counts', async () => {
    const { store, second, third } = await changedShare();
    const r = await run(store);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`changes to source share of site site-a from snapshot ${second.snapshotId} (taken ${second.takenAt}) to ${third.snapshotId} (taken ${third.takenAt}); + added, - removed, M content changed, T type changed, m mode changed:`);
    expect(lines.slice(1, -1)).toEqual([
      'M docs/a.xml  (4 B -> 13 B)',
      '- docs/b.bin  (50.0 KB)',
      '+ docs/new.txt  (3 B)',
      '+ docs.old/',
      '+ docs.old/kept.txt  (1 B)',
      'M latest  (link: docs/a.xml -> docs/new.txt)',
      'm top.txt  (mode 0644 -> 0600)',
    ]);
    expect(lines.at(-1)).toBe('3 added, 1 removed, 2 changed, 0 changed type, 1 changed mode; 17 B in files added or changed, 50.0 KB in files removed');
  });

  it('compares with the snapshot a restore at --since would use, and --at picks the newer', async () => {
    const { store, first, second } = await changedShare();
    const r = await run(store, { since: first.takenAt, at: second.takenAt });
    expect(r.stdout).toContain(`from snapshot ${first.snapshotId} (taken ${first.takenAt}) to ${second.snapshotId}`);
    expect(r.stdout.trimEnd().split('\n').slice(1)).toEqual(['+ latest -> docs/a.xml', '1 added, 0 removed, 0 changed, 0 changed type, 0 changed mode; 0 B in files added or changed, 0 B in files removed']);
  });

  it('says a file that became a directory changed type, and lists what the directory holds as added', async () => {
    const { site, store } = await share();
    rmSync(join(site.root, 'top.txt'));
    mkdirSync(join(site.root, 'top.txt'));
    write(join(site.root, 'top.txt', 'inner'), 'i');
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store);
    const r = await run(store);
    expect(r.stdout.trimEnd().split('\n').slice(1, -1)).toEqual(['T top.txt/  (file -> dir)', '+ top.txt/inner  (1 B)']);
  });

  it("counts the bytes of a file that became a directory as bytes out, as a directory's that became a file are in", async () => {
    const { site, store } = await share();
    rmSync(join(site.root, 'top.txt'));
    mkdirSync(join(site.root, 'top.txt'));
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store);
    write(join(site.root, 'top.txt.new'), 'x');
    rmSync(join(site.root, 'top.txt'), { recursive: true });
    write(join(site.root, 'top.txt'), 'now a file');
    site.clock.set(new Date('2026-03-03T09:00:00Z'));
    await snapshot(site, store);
    const toDir = await run(store, { since: '2026-03-01T23:00:00Z', at: '2026-03-02T09:00:00Z' });
    expect(toDir.stdout.trimEnd().split('\n').at(-1)).toBe('0 added, 0 removed, 0 changed, 1 changed type, 0 changed mode; 0 B in files added or changed, 3 B in files removed');
    const toFile = await run(store);
    expect(toFile.stdout.trimEnd().split('\n').at(-1)).toBe('1 added, 0 removed, 0 changed, 1 changed type, 0 changed mode; 11 B in files added or changed, 0 B in files removed');
  });

  it('with --include, lists only the changes below what it names; --json gives one object a change without pack offsets', async () => {
    const { store } = await changedShare();
    const r = await run(store, { include: ['docs'], json: true });
    const rows = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { change: string; path: string; before?: Record<string, unknown>; after?: Record<string, unknown> });
    expect(rows.map((x) => `${x.change} ${x.path}`)).toEqual(['changed docs/a.xml', 'removed docs/b.bin', 'added docs/new.txt']);
    expect(rows[0]!.before).toMatchObject({ path: 'docs/a.xml', type: 'file', size: 4 });
    expect(rows[0]!.after).toMatchObject({ size: 13, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rows[0]!.after).not.toHaveProperty('pack');
    expect(rows[0]!.after).not.toHaveProperty('offset');
  });

  it('refuses an --include that matches no path of either snapshot rather than say nothing changed there, and takes one that matches only unchanged paths', async () => {
    const { store, first, second, third } = await changedShare();
    await expect(run(store, { include: ['dosc'] })).rejects.toThrow(`--include "dosc" matches nothing in snapshot ${second.snapshotId} nor in ${third.snapshotId}: paths are relative to the source's root`);
    await expect(run(store, { include: ['docs', 'dosc/*.xml'] })).rejects.toThrow('--include "dosc/*.xml" matches nothing');
    const unchanged = await run(store, { since: first.takenAt, at: second.takenAt, include: ['top.txt'] });
    expect(unchanged.code).toBe(0);
    expect(unchanged.stdout.trimEnd().split('\n').at(-1)).toMatch(/^0 added, 0 removed, 0 changed/);
  });

  it('says so when the newer snapshot is the first (nothing before it), and exits 3 when --since is before the first', async () => {
    const { store, manifest } = await share();
    await expect(run(store)).rejects.toThrow(`snapshot ${manifest.snapshotId} (taken ${manifest.takenAt}) is the first of source share: there is nothing before it to compare with`);
    const r = await run(store, { since: '2020-01-01T00:00:00Z' });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`the first was taken at ${manifest.takenAt}`);
  });

  it('says on stderr, printing no change, when --since and --at name the same snapshot (none taken between them)', async () => {
    const { store, second } = await changedShare();
    const r = await run(store, { since: second.takenAt, at: '2026-03-02T12:00:00Z' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`ferry: --since ${second.takenAt} and --at 2026-03-02T12:00:00Z both name snapshot ${second.snapshotId} (taken ${second.takenAt}): none was taken between them, so there is no change to show (\`ferry snapshots list --site site-a --source share\` lists the snapshots' times)\n`);
  });

  it('refuses --since after --at', async () => {
    const { store } = await changedShare();
    await expect(run(store, { since: '2026-03-03T09:00:00Z', at: '2026-03-02T09:00:00Z' })).rejects.toThrow('--since 2026-03-03T09:00:00Z is after --at 2026-03-02T09:00:00Z');
  });

  it('refuses an index whose paths are out of the walk order rather than pair the wrong paths', async () => {
    const { store, manifest } = await share();
    const swapped = await tampered(store, manifest, (e) => [e[1]!, e[0]!, ...e.slice(2)]);
    const older = { ...manifest };
    const { diffSnapshots } = await import('../../cli/tree-diff.ts');
    const drain = async () => {
      for await (const _ of diffSnapshots(store, older, swapped)) void _;
    };
    await expect(drain()).rejects.toThrow(IntegrityError);
    await expect(drain()).rejects.toThrow(/lists "docs" out of order/);
  });

  it('orders paths as the walk does: a directory, then what it holds, then the next name of its parent', () => {
    const sorted = ['a', 'a/b', 'a/b/c', 'a.txt', 'a0', 'b'].map((p) => Buffer.from(p));
    const shuffled = [...sorted].reverse().sort((a, b) => compareTreePaths(a, b));
    expect(shuffled.map(String)).toEqual(['a', 'a/b', 'a/b/c', 'a.txt', 'a0', 'b']);
    // A plain byte order would put a.txt before a/b ('.' is 0x2e, '/' 0x2f): the walk does not.
    expect(compareTreePaths(Buffer.from('a/b'), Buffer.from('a.txt'))).toBeLessThan(0);
  });

  it('reads the order of both walks for names of any bytes (unicode, spaces, punctuation, not UTF-8) without refusing either index', async () => {
    const { site, store } = await share();
    const names = ['Über.txt', 'a b', 'Z', '日本', 'a-b', 'a_b', 'A', '~x', '#1', 'docs.x', 'docs-x'];
    for (const n of names) write(join(site.root, n), n);
    mkdirSync(join(site.root, 'docs', 'Ärger'));
    write(join(site.root, 'docs', 'Ärger', 'z'), 'z');
    write(Buffer.concat([Buffer.from(`${site.root}/`), Buffer.from([0x66, 0xff, 0x67])]) as unknown as string, 'latin');
    // This snapshot walks on the agent's thread (walk.ts), the next on a thread of its own (walk-ahead.ts).
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store, { walkOnThisThread: true });
    write(join(site.root, 'Z'), 'changed');
    site.clock.set(new Date('2026-03-03T09:00:00Z'));
    await snapshot(site, store);
    const first = await run(store, { at: '2026-03-02T09:00:00Z' });
    expect(first.stdout.trimEnd().split('\n').at(-1)).toMatch(/^14 added, 0 removed, 0 changed/);
    const second = await run(store);
    expect(second.stdout.trimEnd().split('\n').slice(1, -1)).toEqual(['M Z  (1 B -> 7 B)']);
  });

  it('pairs a renamed folder as its old paths removed and its new ones added', async () => {
    const { site, store } = await share();
    renameSync(join(site.root, 'docs'), join(site.root, 'papers'));
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store);
    const r = await run(store);
    expect(r.stdout.trimEnd().split('\n').slice(1, -1)).toEqual(['- docs/', '- docs/a.xml  (4 B)', '- docs/b.bin  (50.0 KB)', '+ papers/', '+ papers/a.xml  (4 B)', '+ papers/b.bin  (50.0 KB)']);
  });
});
