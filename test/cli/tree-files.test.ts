import { describe, it, expect } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { modeText, writeSnapshotFiles } from '../../cli/tree-files.ts';
import { runSnapshotFiles } from '../../cli/tree-commands.ts';
import { snapshot } from '../agent/tree-support.ts';
import { write, share, sink } from '../support/tree-restore.ts';

// `ferry snapshots files`: the paths a snapshot holds, from its index, before anyone restores it.

const run = async (store: Parameters<typeof runSnapshotFiles>[1], opts: Partial<Parameters<typeof runSnapshotFiles>[0]> = {}) => {
  const out = sink();
  const err = sink();
  const code = await runSnapshotFiles({ site: 'site-a', source: 'share', ...opts }, store, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
};

describe('snapshots files', () => {
  it('lists every path of the snapshot with its mode, size in bytes, mtime and link target, then what it counted', async () => {
    const { site, store } = await share();
    chmodSync(join(site.root, 'top.txt'), 0o640);
    symlinkSync('docs/a.xml', join(site.root, 'latest'));
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    const { manifest } = await snapshot(site, store);
    const r = await run(store);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`snapshot ${manifest.snapshotId} of source share of site site-a, taken ${manifest.takenAt} (paths relative to the source's root; sizes in bytes):`);
    expect(lines.slice(1, -1).map((l) => l.replace(/ {2}\d{4}-\d\d-\d\dT[^ ]+ {2}/, '  T  ').replace(/ +/g, ' '))).toEqual([
      'drwxr-xr-x T docs',
      '-rw-r--r-- 4 T docs/a.xml',
      '-rw-r--r-- 50000 T docs/b.bin',
      'lrwxrwxrwx T latest -> docs/a.xml',
      '-rw-r----- 3 T top.txt',
    ]);
    expect(lines.find((l) => l.endsWith(' docs/b.bin'))).toContain('  2026-02-01T08:00:00.000Z  docs/b.bin');
    expect(lines.at(-1)).toBe('3 file(s), 50.0 KB; 1 dir(s); 1 link(s)');
  });

  it('shows a name with a newline or a terminal escape escaped, on its own line, so a file on the share cannot add a line to the listing or redraw it', async () => {
    const { site, store } = await share();
    const forged = 'x\n-rw-r--r--          999  2026-01-01T00:00:00.000Z  payroll.xlsx';
    write(join(site.root, forged), 'f');
    write(join(site.root, 'y\u001b[2Kz'), 'e');
    symlinkSync('a\nb', join(site.root, 'link'));
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    await snapshot(site, store);
    const r = await run(store);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.includes('payroll.xlsx'))).toEqual([expect.stringMatching(/ x\\n-rw-r--r-- {10}999 {2}2026-01-01T00:00:00\.000Z {2}payroll\.xlsx$/)]);
    expect(lines.filter((l) => l.endsWith(' y\\e[2Kz'))).toHaveLength(1);
    expect(lines.filter((l) => l.endsWith(' link -> a\\nb'))).toHaveLength(1);
    expect(r.stdout).not.toContain('\u001b');
    // --json keeps the names as they are (JSON escapes them).
    const json = (await run(store, { json: true })).stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string });
    expect(json.map((e) => e.path)).toContain(forged);
  });

  it('--json writes one JSON object a path, with its SHA-256 and without where its bytes are packed', async () => {
    const { store, manifest } = await share();
    const r = await run(store, { json: true });
    const rows = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((e) => e.path)).toEqual(['docs', 'docs/a.xml', 'docs/b.bin', 'top.txt']);
    expect(rows[1]).toEqual({ path: 'docs/a.xml', type: 'file', mode: 0o644, mtime: '2026-02-01T08:00:00.000Z', size: 4, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rows.some((e) => 'pack' in e || 'offset' in e)).toBe(false);
    expect(manifest.counts.files).toBe(3);
  });

  it('--include of a directory lists what it holds, and the footer says how much of the snapshot that is', async () => {
    const { store } = await share();
    const r = await run(store, { include: ['docs/'] });
    expect(r.stdout.split('\n').filter((l) => /^[-dl][-rwxsStT]{9} /.test(l)).map((l) => l.split('  ').at(-1))).toEqual(['docs', 'docs/a.xml', 'docs/b.bin']);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('2 file(s), 50.0 KB; 1 dir(s); 0 link(s) matched (the snapshot holds 3 file(s), 50.0 KB)');
  });

  it('an --include that matches nothing is refused before any line is written, naming the earlier snapshot that holds it', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    rmSync(join(site.root, 'top.txt'));
    const { manifest: second } = await snapshot(site, store);
    const out = sink();
    await expect(runSnapshotFiles({ site: 'site-a', source: 'share', include: ['top.txt'] }, store, { stdout: out.stream, stderr: sink().stream })).rejects.toThrow(
      `--include "top.txt" matches nothing in snapshot ${second.snapshotId} (taken ${second.takenAt}): paths are relative to the source's root, with / between directories. Snapshot ${first.snapshotId}, taken ${first.takenAt}, holds it: add --at ${first.takenAt}.`,
    );
    expect(out.text()).toBe('');
    expect((await run(store, { include: ['top.txt'], at: first.takenAt })).stdout).toContain(' top.txt\n');
  });

  it('lists the snapshot a restore at --at would use; before the first it exits 3 saying when the first was taken, and an unknown source is refused naming the real ones', async () => {
    const { site, store, manifest: first } = await share();
    site.clock.set(new Date('2026-03-02T09:00:00Z'));
    write(join(site.root, 'new.txt'), 'new');
    await snapshot(site, store);
    expect((await run(store, { at: first.takenAt })).stdout).not.toContain('new.txt');
    expect((await run(store)).stdout).toContain(' new.txt\n');
    const early = await run(store, { at: '2026-01-01T00:00:00Z' });
    expect(early.code).toBe(3);
    expect(early.stdout).toBe('');
    expect(early.stderr).toContain(`the first was taken at ${first.takenAt}`);
    await expect(run(store, { source: 'shares' })).rejects.toThrow('site site-a has no snapshot of a tree source named shares: its tree sources are share');
  });

  it('waits for a slow reader (a pipe to less): never more than one line held for it, every line arrives in order', async () => {
    const { store, manifest } = await share();
    const chunks: string[] = [];
    let mostHeld = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk.toString());
        setTimeout(cb, 5);
      },
    });
    const write = slow.write.bind(slow);
    slow.write = ((chunk: string) => {
      const ok = write(chunk);
      mostHeld = Math.max(mostHeld, slow.writableLength);
      return ok;
    }) as typeof slow.write;
    const totals = await writeSnapshotFiles(store, manifest, {}, slow);
    expect(totals).toEqual({ files: 3, dirs: 1, symlinks: 0, bytes: 50_007 });
    expect(chunks.join('').split('\n').slice(1, -1).map((l) => l.split('  ').at(-1))).toEqual(['docs', 'docs/a.xml', 'docs/b.bin', 'top.txt']);
    expect(mostHeld).toBeLessThanOrEqual(Math.max(...chunks.map((c) => c.length)));
  });

  it('shows modes as ls -l does, setuid, setgid and sticky bits included', () => {
    expect(modeText({ type: 'file', mode: 0o755 })).toBe('-rwxr-xr-x');
    expect(modeText({ type: 'file', mode: 0o4755 })).toBe('-rwsr-xr-x');
    expect(modeText({ type: 'file', mode: 0o2644 })).toBe('-rw-r-Sr--');
    expect(modeText({ type: 'dir', mode: 0o1777 })).toBe('drwxrwxrwt');
    expect(modeText({ type: 'symlink', mode: 0o777 })).toBe('lrwxrwxrwx');
    expect(modeText({ type: 'file', mode: 0 })).toBe('----------');
  });

  it('says that the temporary directory is full, naming it and TMPDIR, when the index cannot be fetched into it (not a bare ENOSPC a restore reads as its target full)', () => {
    const full = join(mkdtempSync(join(tmpdir(), 'ferry-full-tmp-')), 'tmp');
    mkdirSync(full);
    const script = join(import.meta.dirname, '../support/fetch-index-full-tmp.ts');
    const sh = `mount -t tmpfs -o size=64k tmpfs "$1" || exit 90
head -c 1000000 /dev/zero > "$1/filler" 2>/dev/null
"${process.execPath}" --import tsx "$2" "$1"`;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', sh, 'sh', full, script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^the temporary directory ${full} has no room for the index of snapshot s\\w+ \\(\\d+ bytes, ENOSPC\\): free space there, or set TMPDIR to a directory with room$`));
  }, 60_000);
});
