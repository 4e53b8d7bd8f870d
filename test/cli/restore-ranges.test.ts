import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import type { PlanFile } from '../../core/restore-plan.ts';
import { FETCH_TUNING, fetchPlan } from '../../cli/restore-fetch.ts';
import { RangeRecord, missingRanges, parseRecord, type Interval } from '../../cli/range-record.ts';
import { CuttingStore, GB, listing, scenario } from '../support/restore-scenario.ts';

// `ferry restore fetch` writes ranges at their offsets as they arrive and records the whole ones
// in NAME.part.ranges: out-of-order answers land right, a fetch killed with SIGKILL resumes with
// exactly the ranges not recorded, and a record that is missing, corrupted or false never makes
// a wrong file.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KIB = 1024;

/** Holds the GETs of each window of `size` and answers them last first, `gapMs` apart; notes the .part's length on disk when each is answered. */
class ReversingStore {
  readonly answered: { key: string; start: number; partSize: number }[] = [];
  private waiting: { key: string; start: number; release: () => void }[] = [];
  constructor(
    private readonly inner: BlobStore,
    private readonly size: number,
    private readonly partOf: (key: string) => string,
  ) {}
  async get(key: string, range?: { start: number; end: number }) {
    const got = await this.inner.get(key, range);
    const chunks: Buffer[] = [];
    for await (const c of got.body) chunks.push(c as Buffer);
    await new Promise<void>((release) => {
      this.waiting.push({ key, start: range!.start, release });
      if (this.waiting.length === this.size) void this.releaseAll();
      else setTimeout(() => void this.releaseAll(), 50);
    });
    return { ...got, body: Readable.from([Buffer.concat(chunks)]) };
  }
  private async releaseAll() {
    const batch = this.waiting.splice(0).reverse();
    for (const w of batch) {
      const part = this.partOf(w.key);
      this.answered.push({ key: w.key, start: w.start, partSize: existsSync(part) ? statSync(part).size : 0 });
      w.release();
      await sleep(50);
    }
  }
}

/** The ranges a fetch must GET for each file given what is in DIR: none for a final name, else those its record does not hold. */
function expectedGets(dir: string, files: PlanFile[], rangeBytes: number): Map<string, Interval[]> {
  const out = new Map<string, Interval[]>();
  for (const f of files) {
    const part = join(dir, `${f.name}.part`);
    if (existsSync(join(dir, f.name))) out.set(f.key, []);
    else {
      const done = existsSync(part) && existsSync(`${part}.ranges`) ? (parseRecord(readFileSync(`${part}.ranges`, 'utf8'), f, statSync(part).size) ?? []) : [];
      out.set(f.key, missingRanges(done, f.size, rangeBytes));
    }
  }
  return out;
}

const getsByKey = (store: CuttingStore) => {
  const out = new Map<string, Interval[]>();
  for (const g of store.gets) out.set(g.key, [...(out.get(g.key) ?? []), g.range!]);
  return out;
};

describe('restore fetch, ranges at their offsets', () => {
  it.each([
    ['hashed from memory', FETCH_TUNING.holdBytes],
    ['read back from the file for the hash', 0],
  ])('writes ranges answered out of order at their offsets before the earlier ones arrive, and every file ends byte-identical (%s)', async (_, holdBytes) => {
    const { blobs, plan, bodies, dir } = await scenario();
    const store = new ReversingStore(blobs, 4, (key) => join(dir, `${plan.files.find((f) => f.key === key)!.name}.part`));
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 32 * KIB, inFlight: 4, holdBytes } });
    expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
    const first = store.answered.find((a) => a.key === plan.files[0]!.key && a.start === 0)!;
    // When the first range of full.sql was answered, a range after it was already written at its offset.
    expect(first.partSize).toBeGreaterThan(32 * KIB);
    for (const f of plan.files) expect(readFileSync(join(dir, f.name)).equals(bodies.get(f.name)!)).toBe(true);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
  });

  it('after a kill -9 mid-fetch, holds only true claims, and a resumed fetch GETs exactly the ranges not recorded and ends byte-identical', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const tuning = { rangeBytes: 16 * KIB, inFlight: 3, flushBytes: 32 * KIB };
    const work = join(dir, '..');
    const objects: Record<string, string> = {};
    for (const [i, f] of plan.files.entries()) {
      objects[f.key] = join(work, `object-${i}`);
      writeFileSync(objects[f.key]!, bodies.get(f.name)!);
    }
    writeFileSync(join(work, 'spec.json'), JSON.stringify({ plan, dir, objects, delayMs: 80, tuning }));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/support/fetch-child.ts'), join(work, 'spec.json')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const full = plan.files[0]!;
    const part = join(dir, 'full.sql.part');
    // Killed as soon as full.sql has a range recorded whole.
    for (let t = Date.now(); Date.now() - t < 20_000 && child.exitCode === null; await sleep(2)) {
      const text = existsSync(`${part}.ranges`) ? readFileSync(`${part}.ranges`, 'utf8') : '';
      if (text && (parseRecord(text, full, statSync(part).size) ?? []).length > 0) break;
    }
    child.kill('SIGKILL');
    expect(await exited, output).toBe('SIGKILL');
    expect(existsSync(join(dir, 'full.sql'))).toBe(false);

    // The record never leads the data: every range it claims holds the file's bytes.
    const expected = expectedGets(dir, plan.files, tuning.rangeBytes);
    const recorded = parseRecord(readFileSync(`${part}.ranges`, 'utf8'), full, statSync(part).size)!;
    expect(recorded.length).toBeGreaterThan(0);
    const onDisk = readFileSync(part);
    for (const r of recorded) expect(onDisk.subarray(r.start, r.end + 1).equals(bodies.get('full.sql')!.subarray(r.start, r.end + 1))).toBe(true);
    expect(expected.get(full.key)!.length).toBeLessThan(Math.ceil(full.size / tuning.rangeBytes));

    const store = new CuttingStore(blobs);
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning });
    expect(report.files[0]!.status).toBe('resumed');
    const got = getsByKey(store);
    for (const f of plan.files) expect(got.get(f.key) ?? [], f.name).toEqual(expected.get(f.key));
    expect(report.bytesDownloaded).toBe([...expected.values()].flat().reduce((n, r) => n + r.end - r.start + 1, 0));
    for (const f of plan.files) expect(readFileSync(join(dir, f.name)).equals(bodies.get(f.name)!)).toBe(true);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
  });

  /** full.sql.part holding the file's first `good` bytes then garbage up to `length`. */
  const partWith = (path: string, body: Buffer, good: number, length: number) => writeFileSync(path, Buffer.concat([body.subarray(0, good), Buffer.alloc(length - good, 0xee)]));

  it.each([
    ['no record beside the .part', 0, async () => undefined],
    ['a record of another file (its header names another SHA-256)', 0, async (record: string, f: PlanFile) => void (await RangeRecord.start(record, { size: f.size, sha256: '0'.repeat(64) }, [{ start: 0, end: f.size - 1 }], true))],
    ['a torn header', 0, async (record: string) => writeFileSync(record, 'ferry-ranges 1 30')],
    [
      'a line whose check fails and a torn last line (only the line that checks is kept)',
      64 * KIB,
      async (record: string, f: PlanFile) => {
        await RangeRecord.start(record, f, [{ start: 0, end: 64 * KIB - 1 }], true);
        appendFileSync(record, `${64 * KIB} ${128 * KIB - 1} 0123456789abcdef\n${128 * KIB} 19`);
      },
    ],
    ['a .part longer than the file', 0, async (record: string, f: PlanFile) => void (await RangeRecord.start(record, f, [{ start: 0, end: 64 * KIB - 1 }], true))],
    ['a claim past the end of the .part', 64 * KIB, async (record: string, f: PlanFile) => void (await RangeRecord.start(record, f, [{ start: 0, end: 64 * KIB - 1 }, { start: 64 * KIB, end: f.size - 1 }], true))],
  ])('falls back safely on %s: GETs every range not truly recorded and ends byte-identical', async (_, trusted, writeRecord) => {
    const { blobs, plan, bodies, dir } = await scenario();
    mkdirSync(dir);
    const full = plan.files[0]!;
    const part = join(dir, 'full.sql.part');
    // Garbage beyond the trusted bytes; for the claim past the end, the .part stops at the trusted bytes; one byte too many for the longer .part.
    const length = _.startsWith('a claim past') ? trusted : _.startsWith('a .part longer') ? full.size + 1 : full.size;
    partWith(part, bodies.get('full.sql')!, _.startsWith('a .part longer') ? 64 * KIB : trusted, length);
    await writeRecord(`${part}.ranges`, full);
    const store = new CuttingStore(blobs);
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 64 * KIB, inFlight: 2 } });
    expect(getsByKey(store).get(full.key)).toEqual(missingRanges(trusted > 0 ? [{ start: 0, end: trusted - 1 }] : [], full.size, 64 * KIB));
    expect(report.files[0]!.status).toBe(trusted > 0 ? 'resumed' : 'fetched');
    for (const f of plan.files) expect(readFileSync(join(dir, f.name)).equals(bodies.get(f.name)!)).toBe(true);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
  });

  it('refuses a file whose record claims bytes that are not its own (SHA-256 mismatch), removing the .part and its record; the next fetch GETs it whole', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    mkdirSync(dir);
    const full = plan.files[0]!;
    const part = join(dir, 'full.sql.part');
    partWith(part, bodies.get('full.sql')!, 0, full.size);
    await RangeRecord.start(`${part}.ranges`, full, [{ start: 0, end: 128 * KIB - 1 }], true);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB, tuning: { rangeBytes: 64 * KIB } })).rejects.toThrow(IntegrityError);
    expect(listing(dir).filter((n) => n.startsWith('full.sql'))).toEqual([]);
    const store = new CuttingStore(blobs);
    await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 64 * KIB } });
    expect(getsByKey(store).get(full.key)).toEqual(missingRanges([], full.size, 64 * KIB));
    expect(readFileSync(join(dir, 'full.sql')).equals(bodies.get('full.sql')!)).toBe(true);
  });

  it('never follows a record that is a symbolic link', async () => {
    const { blobs, plan, dir } = await scenario();
    mkdirSync(dir);
    const outside = join(dir, '..', 'outside.txt');
    writeFileSync(outside, 'precious');
    writeFileSync(join(dir, 'full.sql.part'), 'x');
    symlinkSync(outside, join(dir, 'full.sql.part.ranges'));
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(InvalidInputError);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(/full.sql.part.ranges: it is a symbolic link/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
  });

  it('a disk that fills mid-fetch (a 200 KB tmpfs) is named with the advice to free space first; with room made, the same fetch resumes and ends byte-identical', async () => {
    const { plan, bodies, dir } = await scenario();
    const work = join(dir, '..');
    const objects: Record<string, string> = {};
    for (const [i, f] of plan.files.entries()) {
      objects[f.key] = join(work, `object-${i}`);
      writeFileSync(objects[f.key]!, bodies.get(f.name)!);
    }
    writeFileSync(join(work, 'spec.json'), JSON.stringify({ plan, dir, objects, delayMs: 0, tuning: { rangeBytes: 16 * KIB, inFlight: 3 } }));
    mkdirSync(dir);
    const out = join(work, 'copied');
    mkdirSync(out);
    // A mount namespace of its own (root or not): a real file system that really fills, then is grown as an operator frees space.
    const child = [process.execPath, '--import', 'tsx', join(REPO, 'test/support/fetch-child.ts'), join(work, 'spec.json')].map((a) => `'${a}'`).join(' ');
    const script = `mount -t tmpfs -o size=200k tmpfs "$1" || exit 90
${child} 2>"$3/first.err"; echo "first exit $?"
ls "$1" > "$3/after-first.txt"
mount -o remount,size=4m tmpfs "$1" || exit 91
${child}; echo "second exit $?"
cp -a "$1"/. "$2"/`;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, out, work], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/first exit [1-9]/);
    expect(readFileSync(join(work, 'first.err'), 'utf8')).toMatch(/fetching [^ ]+ was interrupted \(ENOSPC: no space left on device[^)]*\): free space in the target directory \(what is fetched is kept\), then run the same command again to resume/);
    // Nothing left looking complete: only .part files (and their records) after the failure.
    expect(readFileSync(join(work, 'after-first.txt'), 'utf8').split('\n').filter(Boolean).every((n) => n.includes('.part'))).toBe(true);
    expect(r.stdout).toContain('second exit 0');
    for (const f of plan.files) expect(readFileSync(join(out, f.name)).equals(bodies.get(f.name)!), f.name).toBe(true);
    expect(listing(out)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
  }, 60_000);
});
