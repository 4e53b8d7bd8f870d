// The order in which a recordings root is walked, and whether that order is also the age order.
//
// ContactStore numbers its batch directories (`000001`, `000002`, …) and evicts the lowest
// number first, so on such a root the names alone say which batch is oldest: the agent can pack
// the first closed batch as soon as it has seen it, without stat'ing a million files first
// (docs/benchmarks.md, the 1,000,000-file tree). Any other naming falls back to the age of
// each batch's files, which needs the whole root scanned before the first pack.

const RUNS = /\d+|\D+/g;

function compareRuns(a: string, b: string): number {
  const da = a.charCodeAt(0) >= 48 && a.charCodeAt(0) <= 57;
  const db = b.charCodeAt(0) >= 48 && b.charCodeAt(0) <= 57;
  if (da && db) {
    // Numbers by value whatever their width (`9` before `10`); leading zeros only break ties below.
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length - y.length;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNames(a: string, b: string): number {
  const ra = a.match(RUNS) ?? [];
  const rb = b.match(RUNS) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const c = compareRuns(ra[i] as string, rb[i] as string);
    if (c !== 0) return c;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A total order on batch paths (POSIX, relative to the root): component by component, numbers
 * by value. The scan walks in this order and the pending view (state/pending-view.ts) is kept
 * sorted by it, so the two can be compared batch by batch without holding either in memory.
 * Changing it needs a new PENDING_VIEW_ORDER.
 */
export function compareBatches(a: string, b: string): number {
  if (a === b) return 0;
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = compareNames(pa[i] as string, pb[i] as string);
    if (c !== 0) return c;
  }
  return pa.length - pb.length || (a < b ? -1 : 1);
}

/** The name of compareBatches, written in the pending view's header. */
export const BATCH_ORDER = 'numeric-path-1';

const NUMBERED = /^(\D*)(\d+)(\D*)$/;

/**
 * Whether the batch names are the recorder's numbering: at each depth every name is one number
 * between the same prefix and suffix (`000123`, `batch-17`, `2024/000017`). Then the walk order
 * is taken as the age order (the recorder numbers new batches upwards and evicts from the
 * bottom). Anything else (names, dates in another format, a mix) is ordered by age instead, and
 * so are batches at more than one depth: the old layout's `004711/` beside an upgraded recorder's
 * `2026/12/000001/` is older, though 4711 walks after 2026.
 */
export function numberedBatches(batches: readonly string[]): boolean {
  const shapes: (string | undefined)[] = [];
  let depth: number | undefined;
  for (const batch of batches) {
    const parts = batch.split('/');
    if (depth !== undefined && parts.length !== depth) return false;
    depth = parts.length;
    for (let i = 0; i < parts.length; i++) {
      const m = NUMBERED.exec(parts[i] as string);
      if (!m) return false;
      const shape = `${m[1]}\0${m[3]}`;
      if (shapes[i] === undefined) shapes[i] = shape;
      else if (shapes[i] !== shape) return false;
    }
  }
  return true;
}

/** Batches between two batches still on the recorder's disk that a gap may hold before the two are taken for different things. */
const FAR_APART = 100;

/**
 * The numbers of a root of single-level numbered batches (`000123`, `batch-17`), with their
 * shape (what stands around the number) and their names; undefined for any other naming.
 * Zero-padded numbers (`000123`) are one width: a shorter name beside them (`2026`, a year
 * directory an upgraded recorder writes its batches under) is no batch of that numbering, or it
 * would be read as batch 2026 and every number below it taken for batches nobody saw; it is set
 * aside (`outside`), and the gap check still judges the batches of the numbering.
 *
 * Nor, in either naming, is a name far outside the run of the others (`1` … `10` beside `2026`):
 * the recorder numbers upwards and evicts the lowest first, so the batches on its disk are one
 * run, with at most a few holes where one went out of turn. Numbers more than max(100, how many
 * there are) apart split the root into groups; the largest is the run, and the smaller ones are
 * set aside (`outside`), as are the names an earlier walk set aside (`outside` given): a year
 * directory stays no batch number when the old layout's batches are all evicted and it is alone.
 */
export function batchNumbers(batches: readonly string[], setAside: ReadonlySet<string> = new Set()): { shape: string; numbers: number[]; names: string[]; outside: string[] } | undefined {
  let shape: string | undefined;
  const all: { name: string; n: number; width: number }[] = [];
  const outside: string[] = [];
  let padded = 0;
  for (const batch of batches) {
    const m = NUMBERED.exec(batch);
    if (!m || batch.includes('/')) return undefined;
    const here = `${m[1]}\0${m[3]}`;
    if (shape !== undefined && shape !== here) return undefined;
    shape = here;
    if (setAside.has(batch)) {
      outside.push(batch);
      continue;
    }
    const digits = m[2] as string;
    if (digits.length > 1 && digits.startsWith('0')) {
      if (padded !== 0 && padded !== digits.length) return undefined;
      padded = digits.length;
    }
    all.push({ name: batch, n: Number(digits), width: digits.length });
  }
  if (shape === undefined) return undefined;
  const ofWidth = all.filter((b) => {
    if (b.width >= padded) return true;
    outside.push(b.name);
    return false;
  });
  const run = largestRun(ofWidth.map((b) => b.n));
  const kept = ofWidth.filter((b) => {
    const inside = b.n >= run.low && b.n <= run.high;
    if (!inside) outside.push(b.name);
    return inside;
  });
  return { shape, numbers: kept.map((b) => b.n), names: kept.map((b) => b.name), outside };
}

/** The range of the largest group of numbers no more than max(FAR_APART, count) apart; all of them when the largest is not alone in its size. */
function largestRun(numbers: readonly number[]): { low: number; high: number } {
  const sorted = [...numbers].sort((a, b) => a - b);
  const far = Math.max(FAR_APART, sorted.length);
  const groups: { low: number; high: number; count: number }[] = [];
  for (const n of sorted) {
    const last = groups.at(-1);
    if (last && n - last.high <= far) {
      last.high = n;
      last.count++;
    } else groups.push({ low: n, high: n, count: 1 });
  }
  const sizes = groups.map((g) => g.count).sort((a, b) => b - a);
  if (groups.length <= 1 || sizes[0] === sizes[1]) return { low: -Infinity, high: Infinity };
  return groups.find((g) => g.count === sizes[0]) ?? { low: -Infinity, high: Infinity };
}

/** The number in a batch name of the numbering's kind (`000123`, `batch-17`), undefined for another name. */
export function numberOf(name: string): number | undefined {
  const m = NUMBERED.exec(name);
  return m && !name.includes('/') ? Number(m[2]) : undefined;
}

/** The name of batch `n` in a numbering whose names look like `example` (same prefix, suffix and width). */
export function batchNameOf(example: string, n: number): string {
  const m = NUMBERED.exec(example);
  if (!m) return String(n);
  return `${m[1]}${String(n).padStart((m[2] as string).length, '0')}${m[3]}`;
}
