import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// The tree of the `share` scenario, kept in the bench cache (FERRY_BENCH_CACHE, default
// ~/.cache/ferry-bench, shared with the other scenarios' fixtures) as `share-{N}/`: a million
// files take minutes to write, so they are written once and reused. Every file's content is a
// function of its number and a generation (AES-CTR keystream: random-looking, nothing for dedup
// or compression to find, and reproducible), so the 1 % a run rewrites are put back at the start
// of the next run instead of writing the whole tree again.

const FIRST_MTIME = new Date('2026-02-01T08:00:00Z');
const SECOND_MTIME = new Date('2026-02-02T08:00:00Z');
/** The files a run rewrites: every hundredth, from the 38th. */
const CHANGED_FROM = 37;

export interface ShareTree {
  root: string;
  files: number;
  bytes: number;
}

export function benchCacheDir(): string {
  return process.env.FERRY_BENCH_CACHE ?? join(homedir(), '.cache', 'ferry-bench');
}

const dirOf = (root: string, i: number) => join(root, `d${String(Math.floor(i / 100)).padStart(5, '0')}`);
const pathOf = (root: string, i: number) => join(dirOf(root, i), `f${i % 100}.bin`);
/**
 * Sizes 0.5-4 KB (`fileKb` undefined), else from a quarter to 1.75 times `fileKb` KB (that on
 * average); the rewritten version of a file has another size as often as not.
 */
const sizeOf = (i: number, generation: number, fileKb?: number) => {
  const step = i * (generation === 0 ? 7919 : 31);
  return fileKb === undefined ? 512 + (step % 3584) : fileKb * 256 + (step % (fileKb * 1536));
};

function contentOf(i: number, generation: number, fileKb?: number): Buffer {
  const key = createHash('sha256').update(`share-${generation}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(i, 12);
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(sizeOf(i, generation, fileKb)));
}

function writeVersion(root: string, i: number, generation: number, fileKb?: number): number {
  const body = contentOf(i, generation, fileKb);
  const path = pathOf(root, i);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
  const mtime = generation === 0 ? FIRST_MTIME : SECOND_MTIME;
  utimesSync(path, mtime, mtime);
  return body.length;
}

/**
 * The share of N files (`d{i/100}/f{i%100}.bin`), in its first state: written when the cache
 * has none (a marker says it is complete), else the files the last run rewrote are put back.
 * `fileKb`: files of that size on average (`share-{N}-{kb}kb`) instead of 0.5-4 KB.
 */
export function cachedShareTree(files: number, say: (line: string) => void, fileKb?: number): ShareTree {
  const dir = join(benchCacheDir(), fileKb === undefined ? `share-${files}` : `share-${files}-${fileKb}kb`);
  const root = join(dir, 'root');
  const marker = join(dir, 'complete.json');
  if (existsSync(marker)) {
    const tree = JSON.parse(readFileSync(marker, 'utf8')) as ShareTree;
    const started = performance.now();
    for (let i = CHANGED_FROM; i < files; i += 100) writeVersion(root, i, 0, fileKb);
    say(`[share] reusing ${dir}; ${Math.ceil((files - CHANGED_FROM) / 100).toLocaleString('en-GB')} files put back in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return tree;
  }
  rmSync(dir, { recursive: true, force: true });
  say(`[share] writing ${files.toLocaleString('en-GB')} files under ${dir} (once; later runs reuse it)…`);
  const started = performance.now();
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    if (i % 100 === 0) mkdirSync(dirOf(root, i), { recursive: true });
    bytes += writeVersion(root, i, 0, fileKb);
  }
  const tree = { root, files, bytes };
  writeFileSync(marker, JSON.stringify(tree));
  say(`[share] written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return tree;
}

/** Rewrites every hundredth file with new content (often another size) and a new mtime, or (`generation` 0) puts them back; the count. */
export function changeOnePercent(root: string, files: number, fileKb?: number, generation = 1): number {
  let changed = 0;
  for (let i = CHANGED_FROM; i < files; i += 100) {
    writeVersion(root, i, generation, fileKb);
    changed++;
  }
  return changed;
}
