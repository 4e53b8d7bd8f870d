import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treePathMatcher } from '../../agent/tree/paths.ts';
import { MAX_RUN, TreeVanishedError, walkTree, type WalkItem } from '../../agent/tree/walk.ts';
import { MAX_BATCHES_AHEAD, TreeWalkAhead } from '../../agent/tree/walk-ahead.ts';

// The walk on a thread of its own (walk-ahead.ts) against the walk on the snapshot's thread
// (walk.ts): the same items, stats, runs and problems, over batches, exclusions, names of any
// bytes, links, special files and paths too long to examine; a root that cannot be listed; a
// reader that stops early.

const tmp = () => mkdtempSync(join(tmpdir(), 'ferry-walk-ahead-'));

interface Seen {
  runs: string[][];
  problems: string[];
}

function describeItem(i: WalkItem): string {
  const s = i.stat;
  return [i.rel.toString('hex'), i.abs.toString('hex'), i.kind, i.special ?? '', s.mode, s.size, s.ino, s.dev, s.mtimeMs, s.ctimeMs].join(' ');
}

async function collect(walk: (onProblem: (p: string, why: string) => void) => AsyncIterable<WalkItem[]>): Promise<Seen> {
  const problems: string[] = [];
  const runs: string[][] = [];
  for await (const run of walk((p, why) => problems.push(`${p}: ${why}`))) runs.push(run.map(describeItem));
  return { runs, problems };
}

const both = (root: string, exclude: string[] = []) =>
  Promise.all([
    collect((onProblem) => walkTree(root, { onProblem, excluded: exclude.length ? treePathMatcher(exclude) : undefined })),
    collect((onProblem) => new TreeWalkAhead(root, { exclude }).runs(onProblem)),
  ]);

describe('the walk on a thread of its own', () => {
  // 40 directories of 300 empty files (12,040 paths): several batches, more than the window holds.
  // Made once for the tests that need that many, in a hook: writing them took 20 to 50 s on a
  // loaded machine's disk (a test's 30 s ran out), hence the hook's two minutes. Written through
  // the thread pool, a directory at a time: written synchronously, they held the worker's event
  // loop that long, and the test runner's own messages to it timed out.
  let many: string;
  beforeAll(async () => {
    many = join(tmp(), 'many');
    for (let d = 0; d < 40; d++) {
      const dir = join(many, `d${String(d).padStart(2, '0')}`);
      mkdirSync(dir, { recursive: true });
      await Promise.all(Array.from({ length: 300 }, (_, f) => writeFile(join(dir, `f${String(f).padStart(3, '0')}`), '')));
    }
  }, 120_000);

  it('yields the same items, stats and runs as the walk on this thread over several batches (3,000 files, a directory over MAX_RUN)', async () => {
    const root = join(tmp(), 'share');
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(root, `d${d}`, 'sub'), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(root, `d${d}`, `f${f}`), `${d}/${f}`.repeat(f));
      writeFileSync(join(root, `d${d}`, 'sub', 'x'), 'x');
    }
    mkdirSync(join(root, 'flat'));
    for (let f = 0; f < 1000; f++) writeFileSync(join(root, 'flat', `n${f}`), '');
    const [inline, ahead] = await both(root);
    expect(inline.runs.flat()).toHaveLength(20 * 102 + 20 + 1 + 1000);
    expect(Math.max(...ahead.runs.map((r) => r.length))).toBe(MAX_RUN);
    expect(ahead).toEqual(inline);
  });

  it('yields names of any bytes, links as links and special files as what they are, and leaves excluded paths and directories out, as the walk on this thread does', async () => {
    const root = join(tmp(), 'odd');
    mkdirSync(join(root, 'Meeting Content', 'ünïcødé 会议'), { recursive: true });
    writeFileSync(join(root, 'Meeting Content', 'ünïcødé 会议', 'a b.xml'), '<x/>');
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62])]), 'not utf-8');
    symlinkSync('Meeting Content', join(root, 'link'));
    symlinkSync('/nowhere', join(root, 'dangling'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    mkdirSync(join(root, 'Temp', 'deep'), { recursive: true });
    writeFileSync(join(root, 'Temp', 'deep', 'x'), 'x');
    writeFileSync(join(root, 'scratch.tmp'), 'x');
    const [inline, ahead] = await both(root, ['*.tmp', 'Temp']);
    const kinds = ahead.runs.flat().map((d) => d.split(' ').slice(2, 4).join(' '));
    expect(kinds).toContain('symlink ');
    expect(ahead.runs.flat().some((d) => d.includes('special a named pipe (fifo)'))).toBe(true);
    expect(ahead.runs.flat().some((d) => d.startsWith(Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62]).toString('hex')))).toBe(true);
    expect(ahead.runs.flat().some((d) => d.startsWith(Buffer.from('Temp').toString('hex')) || d.startsWith(Buffer.from('scratch').toString('hex')))).toBe(false);
    expect(ahead).toEqual(inline);
  });

  it('yields long paths whole when a batch holds more path bytes than the last (3,000 paths of about 700 bytes), as the walk on this thread does', async () => {
    const root = join(tmp(), 'long-names');
    // The first batch (256-odd short paths) sizes the next batch's buffer; the next ones hold
    // about 2,300 paths of 700 bytes each (1.6 MB), so the buffer grows while a batch is made.
    for (let d = 0; d < 3; d++) mkdirSync(join(root, `a${d}`), { recursive: true });
    for (let d = 0; d < 3; d++) for (let f = 0; f < 100; f++) writeFileSync(join(root, `a${d}`, `f${f}`), '');
    const deep = join(root, `b${'é'.repeat(100)}`, 'c'.repeat(200));
    mkdirSync(deep, { recursive: true });
    for (let f = 0; f < 2700; f++) writeFileSync(join(deep, `${String(f).padStart(5, '0')}${'ø'.repeat(110)}`), String(f));
    const [inline, ahead] = await both(root);
    const items = ahead.runs.flat();
    expect(items).toHaveLength(3 + 300 + 2 + 2700);
    const longest = Math.max(...items.map((d) => d.split(' ')[1]!.length / 2));
    expect(longest).toBeGreaterThan(root.length + 600);
    expect(ahead).toEqual(inline);
  });

  it('reports a path it cannot examine (longer than the system allows) as the walk on this thread does, and goes on', async () => {
    const base = tmp();
    const root = join(base, 'long');
    mkdirSync(root);
    // 18 directories of 240-byte names: over PATH_MAX (4,096 bytes), made one `cd` at a time.
    const name = 'n'.repeat(240);
    execFileSync('bash', ['-c', `cd "${root}" && for i in $(seq 18); do mkdir ${name} && cd ${name}; done && echo x > file`]);
    writeFileSync(join(root, 'after'), 'still walked');
    try {
      const [inline, ahead] = await both(root);
      expect(ahead.problems.length).toBeGreaterThan(0);
      expect(ahead.problems[0]).toMatch(/cannot be (examined|read) \(ENAMETOOLONG\)/);
      expect(ahead.runs.flat().some((d) => d.startsWith(Buffer.from('after').toString('hex')))).toBe(true);
      expect(ahead).toEqual(inline);
    } finally {
      execFileSync('rm', ['-rf', base]);
    }
  });

  it('throws TreeVanishedError naming a root that cannot be listed', async () => {
    const root = join(tmp(), 'gone');
    await expect(collect((onProblem) => new TreeWalkAhead(root).runs(onProblem))).rejects.toThrow(TreeVanishedError);
    await expect(collect((onProblem) => new TreeWalkAhead(root).runs(onProblem))).rejects.toThrow(`${root} cannot be listed (ENOENT)`);
  });

  it('stops its thread when the reader stops early, while the thread waits with batches unread', async () => {
    const root = many;
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    let items = 0;
    let during = 0;
    for await (const run of new TreeWalkAhead(root).runs(() => undefined)) {
      items += run.length;
      during = ports();
      if (items > 1000) break;
    }
    expect(items).toBeGreaterThan(1000);
    expect(items).toBeLessThan(40 * 301);
    expect(during).toBe(before + 1);
    expect(ports()).toBe(before);
    // And the whole tree again, to its end.
    const again = await collect((onProblem) => new TreeWalkAhead(root).runs(onProblem));
    expect(again.runs.flat()).toHaveLength(40 * 301);
    expect(ports()).toBe(before);
  });

  it('ends its thread when stopped before any run was read (a snapshot that failed while loading its indexes)', async () => {
    const root = join(tmp(), 'unread');
    mkdirSync(join(root, 'd'), { recursive: true });
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    const walk = new TreeWalkAhead(root);
    expect(ports()).toBe(before + 1);
    await walk.stop();
    expect(ports()).toBe(before);
  });

  it('stays at most MAX_BATCHES_AHEAD batches ahead of a reader that pauses, then yields the rest in order', async () => {
    const root = many;
    // 12,040 paths: a first batch of 256, then batches of about 2,048, seven in all.
    const walk = new TreeWalkAhead(root);
    const seen: string[] = [];
    let most = 0;
    for await (const run of walk.runs(() => undefined)) {
      if (seen.length === 0) {
        // The walker fills its window (on a loaded machine that may take a while), then, held
        // back, sends nothing more: 500 ms later it would have sent every batch were it not.
        await expect.poll(() => walk.batchesWaiting, { timeout: 20_000 }).toBeGreaterThanOrEqual(MAX_BATCHES_AHEAD);
        await new Promise((r) => setTimeout(r, 500));
        most = walk.batchesWaiting;
      }
      for (const item of run) seen.push(item.rel.toString());
    }
    expect(most).toBe(MAX_BATCHES_AHEAD);
    expect(seen).toHaveLength(40 * 301);
    expect(seen).toEqual([...seen].sort());
  });
});
