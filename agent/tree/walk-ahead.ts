import { Worker } from 'node:worker_threads';
import { treeGlobToRegExp } from './paths.ts';
import { MAX_RUN, SPECIAL_NAMES, TreeVanishedError, rootPathBytes, type WalkItem, type WalkKind, type WalkStat } from './walk.ts';

// The walk of a tree on a thread of its own. An incremental snapshot of a share is mostly a walk:
// a listing per directory and an lstat per path, then a comparison with the previous record
// (100,000 files, 1 % changed: about a third of the snapshot's time in lstat and readdir alone).
// Here those calls run on a second core, ahead of the snapshot, which takes the results in
// batches: the same items, in the same order, in the same runs, with the same problems as the
// walk on the snapshot's own thread (walk.ts), which is still used where tests inject listing
// failures. The walker never runs far ahead: it waits while MAX_BATCHES_AHEAD batches are
// unread (a tree of a million files is not held as a million stats), and stops when the
// snapshot stops.

/** Items a batch holds at least (it ends with a run); the first, fewer, so that the snapshot starts sooner. */
const BATCH_ITEMS = 2048;
const FIRST_BATCH_ITEMS = 256;
/** Batches the walker may have sent and the snapshot not yet taken. */
export const MAX_BATCHES_AHEAD = 4;
/** Numbers per item in a batch (the walker's `nums`): kind code, mode, size, ino, dev, mtimeMs, ctimeMs. */
const FIELDS = 7;

/** Kind codes (the walker's `code`): a file, a directory, a link, then special files in the order of SPECIAL_NAMES. */
const KINDS: WalkKind[] = ['file', 'dir', 'symlink', ...SPECIAL_NAMES.map((): WalkKind => 'special')];
const SPECIAL: (string | undefined)[] = [undefined, undefined, undefined, ...SPECIAL_NAMES];

/**
 * The walker: the same walk as walk.ts (depth first, names sorted as latin1 strings, which is
 * byte order, nothing followed, excluded paths left out and excluded directories not entered),
 * its results packed into a batch: the paths' bytes in one buffer, seven numbers a path in a
 * Float64Array, the runs' ends, and problems with the item they come before. `gate[0]` counts
 * batches sent and not taken; `gate[1]` set means stop.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { lstatSync, readdirSync } = require('node:fs');
const { root, excludes, maxRun, batchItems, firstBatchItems, maxAhead, gate: shared } = workerData;
let limit = firstBatchItems;
const gate = new Int32Array(shared);
const res = excludes.map((e) => new RegExp(e.source, e.flags));
const excluded = res.length === 0 ? undefined : (relLatin1) => { const path = Buffer.from(relLatin1, 'latin1').toString('utf8'); return res.some((re) => re.test(path)); };
const rootLatin1 = Buffer.from(root).toString('latin1');
const relAt = rootLatin1.length + 1;
// The batch being made: the paths' bytes written straight into one buffer (an lstat is asked
// with its path's bytes there, so a path is copied once), and seven numbers a path in a
// Float64Array; both grow by doubling, and are handed over whole at a flush (the reader takes
// the items its runs name). The next batch starts at the size the last one reached.
let body = Buffer.allocUnsafe(1 << 18);
let bodyAt = 0;
let ends = new Uint32Array(1024);
let nums = new Float64Array(ends.length * 7);
let runEnds = [];
let problems = [];
let count = 0;
let run = 0;
class Stopped extends Error {}
function code(st) {
  if (st.isFile()) return 0;
  if (st.isDirectory()) return 1;
  if (st.isSymbolicLink()) return 2;
  if (st.isFIFO()) return 3;
  if (st.isSocket()) return 4;
  if (st.isCharacterDevice()) return 5;
  if (st.isBlockDevice()) return 6;
  return 7;
}
function utf8(latin1) { return Buffer.from(latin1, 'latin1').toString('utf8'); }
function problem(relLatin1, text) { problems.push(count, utf8(relLatin1), text); }
function endRun() {
  if (run === 0) return;
  runEnds.push(count);
  run = 0;
  if (count >= limit) {
    flush(false);
    limit = batchItems;
  }
}
/** The path's bytes appended to the batch's body; returns them (a view: no copy). */
function place(absLatin1) {
  const n = absLatin1.length;
  if (bodyAt + n > body.length) {
    const bigger = Buffer.allocUnsafe(Math.max(2 * body.length, bodyAt + n));
    body.copy(bigger, 0, 0, bodyAt);
    body = bigger;
  }
  body.latin1Write(absLatin1, bodyAt, n);
  bodyAt += n;
  return body.subarray(bodyAt - n, bodyAt);
}
/** Keeps the path just placed: its end, and its seven numbers. */
function keep(c, st) {
  if (count === ends.length) {
    const e = new Uint32Array(2 * ends.length);
    e.set(ends);
    ends = e;
    const m = new Float64Array(2 * nums.length);
    m.set(nums);
    nums = m;
  }
  ends[count] = bodyAt;
  const f = count * 7;
  nums[f] = c;
  nums[f + 1] = st.mode;
  nums[f + 2] = st.size;
  nums[f + 3] = st.ino;
  nums[f + 4] = st.dev;
  nums[f + 5] = st.mtimeMs;
  nums[f + 6] = st.ctimeMs;
  count++;
}
function flush(last) {
  for (;;) {
    if (Atomics.load(gate, 1) !== 0) throw new Stopped();
    const ahead = Atomics.load(gate, 0);
    if (ahead < maxAhead) break;
    Atomics.wait(gate, 0, ahead);
  }
  const runs = new Uint32Array(runEnds);
  Atomics.add(gate, 0, 1);
  // Handed over whole: the next batch gets buffers of its own.
  const items = ends.length;
  const bytes = body.buffer.byteLength === body.length && body.byteOffset === 0 ? body.buffer : body.buffer.slice(body.byteOffset, body.byteOffset + bodyAt);
  parentPort.postMessage({ body: bytes, ends: ends.buffer, numbers: nums.buffer, runs: runs.buffer, problems, last }, [bytes, ends.buffer, nums.buffer, runs.buffer]);
  body = Buffer.allocUnsafe(Math.max(1 << 16, bodyAt + (bodyAt >> 2)));
  bodyAt = 0;
  ends = new Uint32Array(items);
  nums = new Float64Array(items * 7);
  runEnds = [];
  problems = [];
  count = 0;
}
function list(absLatin1) {
  return readdirSync(Buffer.from(absLatin1, 'latin1'), { encoding: 'latin1' }).sort();
}
function walkDir(absDir, names) {
  for (const name of names) {
    // Cisco CVP's live backup is never examined (core/artefact-sources.ts, isCvpLive: this thread's code is a string).
    if (name.length === 15 && name.toLowerCase() === 'cvp_backup_data') continue;
    const abs = absDir + '/' + name;
    if (excluded && excluded(abs.slice(relAt))) continue;
    const at = bodyAt;
    let st;
    try {
      st = lstatSync(place(abs), { throwIfNoEntry: false });
    } catch (error) {
      bodyAt = at;
      problem(abs.slice(relAt), 'cannot be examined (' + (error.code || error.message) + ')');
      continue;
    }
    if (!st) {
      bodyAt = at;
      continue;
    }
    const c = code(st);
    keep(c, st);
    run++;
    if (c !== 1) {
      if (run >= maxRun) endRun();
      continue;
    }
    endRun();
    let children;
    try {
      children = list(abs);
    } catch (error) {
      if (error.code === 'ENOENT') continue;
      problem(abs.slice(relAt), 'directory cannot be read (' + (error.code || error.message) + '); its contents are not in this snapshot');
      continue;
    }
    walkDir(abs, children);
  }
  endRun();
}
try {
  let names;
  try {
    names = list(rootLatin1);
  } catch (error) {
    parentPort.postMessage({ vanished: error.code || error.message });
    names = undefined;
  }
  if (names) {
    walkDir(rootLatin1, names);
    flush(true);
  }
} catch (error) {
  if (!(error instanceof Stopped)) throw error;
}
`;

interface Batch {
  body: ArrayBuffer;
  ends: ArrayBuffer;
  numbers: ArrayBuffer;
  runs: ArrayBuffer;
  /** Flat: item index it comes before, path, text; repeated. */
  problems: (number | string)[];
  last: boolean;
}

export interface WalkAheadOptions {
  /** Globs of paths to leave out (treeGlobToRegExp); an excluded directory is not entered. */
  exclude?: readonly string[];
}

/**
 * The walk of walk.ts, its listings and lstats made on a thread of its own (above). The thread
 * starts at once (a thread takes tens of milliseconds to start: the snapshot loads its previous
 * index meanwhile); `runs()` yields the same runs as walkTree, a root that cannot be listed being
 * a TreeVanishedError. `stop()` ends the thread, whether the runs were read to the end, in part
 * or not at all; reading them to their end or stopping early (a `return` or a throw in the loop
 * that reads them) stops it too.
 */
export class TreeWalkAhead {
  private readonly relAt: number;
  private readonly gate = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly inbox: (Batch | { vanished: string })[] = [];
  private failure: Error | undefined;
  private finished = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly root: string,
    options: WalkAheadOptions = {},
  ) {
    const rootBytes = rootPathBytes(root);
    this.relAt = rootBytes.length + 1;
    const excludes = (options.exclude ?? []).map((g) => {
      const re = treeGlobToRegExp(g);
      return { source: re.source, flags: re.flags };
    });
    const workerData = { root: rootBytes, excludes, maxRun: MAX_RUN, batchItems: BATCH_ITEMS, firstBatchItems: FIRST_BATCH_ITEMS, maxAhead: MAX_BATCHES_AHEAD, gate: this.gate.buffer };
    // Small heaps: it holds one directory's names per level and a few batches.
    const resourceLimits = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'tree walk', workerData, resourceLimits });
    this.worker.on('message', (m: Batch | { vanished: string }) => {
      this.inbox.push(m);
      this.notify();
    });
    this.worker.on('error', (error) => {
      this.failure ??= new Error(`the tree walk of ${root} failed: ${error.message}`, { cause: error });
      this.notify();
    });
    this.worker.on('exit', (code) => {
      this.finished = true;
      if (code !== 0) this.failure ??= new Error(`the tree walk of ${root} stopped (exit code ${code})`);
      this.notify();
    });
  }

  /** Batches the walker sent that the runs have not taken yet (tests: never above MAX_BATCHES_AHEAD). */
  get batchesWaiting(): number {
    return this.inbox.filter((m) => !('vanished' in m)).length;
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }

  /** The runs, what cannot be examined or read reported through `onProblem` as it is met. */
  async *runs(onProblem: (path: string, problem: string) => void): AsyncGenerator<WalkItem[]> {
    try {
      for (;;) {
        while (this.inbox.length === 0) {
          if (this.failure) throw this.failure;
          if (this.finished) throw new Error(`the tree walk of ${this.root} ended without its last batch`);
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
        const m = this.inbox.shift()!;
        if ('vanished' in m) throw new TreeVanishedError(`${this.root} cannot be listed (${m.vanished})`);
        Atomics.sub(this.gate, 0, 1);
        Atomics.notify(this.gate, 0);
        yield* runsOf(m, this.relAt, onProblem);
        if (m.last) return;
      }
    } finally {
      await this.stop();
    }
  }

  /** Ends the thread (waiting or walking); safe to call more than once. */
  async stop(): Promise<void> {
    Atomics.store(this.gate, 1, 1);
    Atomics.notify(this.gate, 0);
    await this.worker.terminate();
  }
}

/**
 * One item of a batch, read where the batch holds it: its stat is itself (the seven numbers read
 * from the batch's array), and its absolute path is made only when asked for (an unchanged file,
 * which is most of an incremental snapshot, never asks). One object and one view a path, instead
 * of three objects and two views.
 */
class BatchItem implements WalkItem, WalkStat {
  readonly rel: Buffer;
  readonly kind: WalkKind;
  constructor(
    private readonly body: Buffer,
    private readonly n: Float64Array,
    private readonly f: number,
    private readonly start: number,
    private readonly end: number,
    relAt: number,
  ) {
    this.rel = body.subarray(start + relAt, end);
    this.kind = KINDS[n[f]!]!;
  }
  get abs(): Buffer {
    return this.body.subarray(this.start, this.end);
  }
  get stat(): WalkStat {
    return this;
  }
  get special(): string | undefined {
    return SPECIAL[this.n[this.f]!];
  }
  get mode(): number {
    return this.n[this.f + 1]!;
  }
  get size(): number {
    return this.n[this.f + 2]!;
  }
  get ino(): number {
    return this.n[this.f + 3]!;
  }
  get dev(): number {
    return this.n[this.f + 4]!;
  }
  get mtimeMs(): number {
    return this.n[this.f + 5]!;
  }
  get ctimeMs(): number {
    return this.n[this.f + 6]!;
  }
}

/** The runs of one batch, its problems reported before the items they came before. */
function* runsOf(m: Batch, relAt: number, onProblem: (path: string, problem: string) => void): Generator<WalkItem[]> {
  const body = Buffer.from(m.body);
  const ends = new Uint32Array(m.ends);
  const n = new Float64Array(m.numbers);
  const runs = new Uint32Array(m.runs);
  const problems = m.problems;
  let p = 0;
  let start = 0;
  let item = 0;
  const reportUpTo = (index: number) => {
    for (; p < problems.length && (problems[p] as number) <= index; p += 3) onProblem(problems[p + 1] as string, problems[p + 2] as string);
  };
  for (const runEnd of runs) {
    const run: WalkItem[] = [];
    for (; item < runEnd; item++) {
      reportUpTo(item);
      const end = ends[item]!;
      run.push(new BatchItem(body, n, item * FIELDS, start, end, relAt));
      start = end;
    }
    reportUpTo(item);
    yield run;
  }
  reportUpTo(Number.MAX_SAFE_INTEGER);
}
