import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { open } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { planRestore, type RestorePlan } from '../../core/restore-plan.ts';
import { FetchInterruptedError, InsufficientSpaceError, fetchPlan, localPlan } from '../../cli/restore-fetch.ts';
import { renderFetch, renderPlan } from '../../cli/restore-commands.ts';
import { renderApplyScript } from '../../core/restore-commands.ts';
import { makeFull, min } from '../support/artefact-fixtures.ts';
import { missingRanges, parseRecord } from '../../cli/range-record.ts';
import { CuttingStore, GB, listing, readAll, scenario } from '../support/restore-scenario.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { planRestoreFromCatalogue } from '../../core/restore-source.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';

// `ferry restore fetch` against an in-memory store: free space first, verified files under
// their final names only, resume after an interruption, and no way out of DIR.

/** A store whose every answer is `change` of the true one. */
function answering(blobs: Pick<BlobStore, 'get'>, change: (body: Buffer) => Buffer): Pick<BlobStore, 'get'> {
  return {
    async get(key, range) {
      const got = await blobs.get(key, range);
      return { ...got, body: Readable.from([change(await buffer(got.body as Readable))]) };
    },
  };
}

/** A store that offers `readInto` (as S3 with direct GETs does), answering `change` of the true bytes; its body stream must not be read. */
function direct(blobs: Pick<BlobStore, 'get'>, change: (body: Buffer) => Buffer = (b) => b): Pick<BlobStore, 'get'> & { streamed: number; direct: number } {
  const store = {
    streamed: 0,
    direct: 0,
    async get(key: string, range?: { start: number; end: number }) {
      const got = await blobs.get(key, range);
      const bytes = change(await buffer(got.body as Readable));
      const body = new Readable({ read: () => void (store.streamed++, body.destroy(new Error('the body stream was read'))) });
      const readInto = async (target: Uint8Array) => {
        store.direct++;
        if (bytes.length > target.length) throw new RangeError(`the body holds ${bytes.length} bytes, more than the ${target.length} given for it`);
        target.set(bytes);
        return bytes.length;
      };
      return { ...got, body, readInto };
    },
  };
  return store;
}

describe('restore fetch', () => {
  it('downloads every file verified, writes restore-plan.json and an executable apply.sh; a re-run fetches nothing', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    expect(plan.files.map((f) => f.name)).toEqual(['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']);
    const progress: number[] = [];
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB, onProgress: (p) => progress.push(p.bytesDone) });
    expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
    expect(report.bytesDownloaded).toBe(plan.totalBytes);
    expect(progress.at(-1)).toBe(plan.totalBytes);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
    for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
    const saved = JSON.parse(readFileSync(join(dir, 'restore-plan.json'), 'utf8')) as RestorePlan;
    expect(saved.commands).toEqual(plan.commands);
    const script = readFileSync(join(dir, 'apply.sh'), 'utf8');
    expect(script).toContain("TZ=UTC $MARIADB_BINLOG --start-position=328 --stop-datetime='2026-03-01 00:25:00' ${STOP_POSITION:+--stop-position=$STOP_POSITION} \"${segments[@]}\" | $MARIADB");
    expect(script).toContain('segments=(mysql-bin.000002 mysql-bin.000003)');
    expect(statSync(join(dir, 'apply.sh')).mode & 0o111).not.toBe(0);
    const again = await fetchPlan({ plan, dir, blobs, freeBytes: 0 + 2 * 1024 * 1024 });
    expect(again.files.map((f) => f.status)).toEqual(['present', 'present', 'present']);
    expect(again.bytesDownloaded).toBe(0);
  });

  it('apply.sh checks every file against its SHA-256 before it applies any: one changed since the fetch (a server writing its own binlog of that name into DIR) stops it, named, with nothing applied', async () => {
    const { blobs, plan, dir } = await scenario();
    await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    // Stand-ins for the clients: each records what it was given, so "nothing applied" is seen.
    const client = join(dir, '..', 'client.sh');
    writeFileSync(client, `#!/bin/sh\ncat > /dev/null; echo applied >> ${join(dir, '..', 'applied.log')}\n`, { mode: 0o755 });
    const env = { ...process.env, MARIADB: client, MARIADB_BINLOG: client };
    const whole = spawnSync('bash', [join(dir, 'apply.sh')], { env, encoding: 'utf8' });
    expect(whole.stderr).toMatch(/restore plan applied/);
    expect(whole.status).toBe(0);
    rmSync(join(dir, '..', 'applied.log'));
    // The server whose data directory DIR is rotates to mysql-bin.000003: its header over the fetched file's start.
    const fd = openSync(join(dir, 'mysql-bin.000003'), 'r+');
    writeSync(fd, Buffer.from('\xfebin server header'), 0, undefined, 0);
    closeSync(fd);
    const changed = spawnSync('bash', [join(dir, 'apply.sh')], { env, encoding: 'utf8' });
    expect(changed.status).not.toBe(0);
    expect(changed.stderr).toMatch(/mysql-bin\.000003 is not the file fetched and verified: its SHA-256 is not the plan's .*Nothing was applied.*ferry restore fetch .*into an empty directory/s);
    expect(changed.stderr).not.toMatch(/loading the full backup/);
    expect(existsSync(join(dir, '..', 'applied.log'))).toBe(false);
  });

  it('apply.sh names the server it restores into before anything is applied; from a terminal it goes on only when that host name is typed; a client that reaches no server stops it (exit 5) naming the variable to set', async () => {
    const { blobs, plan, dir } = await scenario();
    await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    const log = join(dir, '..', 'applied.log');
    // A stand-in client: answers the server's name to the SELECT, records everything else it is given.
    const client = join(dir, '..', 'client.sh');
    writeFileSync(client, `#!/bin/sh\ncase "$*" in *@@hostname*) echo "standby-db:3306 (data directory /var/lib/mysql/, 10.11.6-MariaDB)";; *) cat > /dev/null; echo applied >> ${log};; esac\n`, { mode: 0o755 });
    const env = { ...process.env, MARIADB: client, MARIADB_BINLOG: client };
    const batch = spawnSync('bash', [join(dir, 'apply.sh')], { env, encoding: 'utf8' });
    expect(batch.status).toBe(0);
    expect(batch.stderr.split('\n')[0]).toBe('apply.sh: the plan below will be applied to the server standby-db:3306 (data directory /var/lib/mysql/, 10.11.6-MariaDB)');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(3);
    rmSync(log);
    // From a terminal (script(1) gives bash one), with another name typed: nothing applied.
    const tty = (typed: string) => spawnSync('script', ['-qec', `bash ${join(dir, 'apply.sh')}`, '/dev/null'], { env, input: `${typed}\n`, encoding: 'utf8' });
    const wrong = tty('prod-db');
    expect(wrong.status).toBe(6);
    expect(wrong.stdout).toContain("Type that server's host name (standby-db) to apply the plan to it, anything else stops:");
    expect(wrong.stdout).toContain('apply.sh: stopped, nothing was applied');
    expect(existsSync(log)).toBe(false);
    const right = tty('standby-db');
    expect(right.status).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(3);
    rmSync(log);
    const unreachable = spawnSync('bash', [join(dir, 'apply.sh')], { env: { ...env, MARIADB: 'false' }, encoding: 'utf8' });
    expect(unreachable.status).toBe(5);
    expect(unreachable.stderr).toContain('apply.sh: cannot reach the server to restore into with $MARIADB (MARIADB=false): nothing was applied. Set MARIADB to the client command for that server, e.g. MARIADB="mariadb --host=standby-db --user=root --password" ./apply.sh');
    expect(existsSync(log)).toBe(false);
  });

  it("apply.sh gives STOP_POSITION to the last segment's replay, FILE:N to FILE's with the segments after it left out; one that is not a position from the segment's first event on (the full's position in the first), is past the segment's end, names no segment of the plan, or is set for a plan that replays no segment, stops it (exit 7) with nothing applied", async () => {
    const { blobs, plan, dir } = await scenario();
    await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    const log = join(dir, '..', 'applied.log');
    // A stand-in client: answers the server's name, records the arguments of everything else.
    const client = join(dir, '..', 'client.sh');
    writeFileSync(client, `#!/bin/sh\ncase "$*" in *@@hostname*) echo "standby-db:3306";; *) cat > /dev/null; echo "$*" >> ${log};; esac\n`, { mode: 0o755 });
    const env = { ...process.env, MARIADB: client, MARIADB_BINLOG: client };
    const apply = (stop: string) => spawnSync('bash', [join(dir, 'apply.sh')], { env: { ...env, STOP_POSITION: stop }, encoding: 'utf8' });
    const stopped = apply('900');
    expect(stopped.status).toBe(0);
    expect(stopped.stderr).toContain('apply.sh: the replay stops before byte 900 of mysql-bin.000003 (STOP_POSITION), or at the plan\'s time, whichever comes first');
    expect(readFileSync(log, 'utf8')).toContain("--start-position=328 --stop-datetime=2026-03-01 00:25:00 --stop-position=900 mysql-bin.000002 mysql-bin.000003");
    rmSync(log);
    for (const wrong of ['9OO', '3', '-1']) {
      const refused = apply(wrong);
      expect(refused.status, wrong).toBe(7);
      expect(refused.stderr).toContain(`apply.sh: STOP_POSITION=${wrong} is not a position in mysql-bin.000003 from byte 4 on: give the byte offset of the first event not to apply`);
      expect(existsSync(log)).toBe(false);
    }
    // FILE:N: the server rotated between the statement and T: the replay ends with FILE.
    const earlier = apply('mysql-bin.000002:900');
    expect(earlier.status).toBe(0);
    expect(earlier.stderr).toContain('apply.sh: the segments after mysql-bin.000002 are not applied (STOP_POSITION)');
    expect(earlier.stderr).toContain('the replay stops before byte 900 of mysql-bin.000002 (STOP_POSITION)');
    expect(readFileSync(log, 'utf8')).toMatch(/--stop-position=900 mysql-bin\.000002\n/);
    rmSync(log);
    for (const [wrong, said] of [
      ['mysql-bin.000009:900', 'apply.sh: STOP_POSITION names mysql-bin.000009, which is not a segment this plan replays (mysql-bin.000002 mysql-bin.000003). Nothing was applied.'],
      ['mysql-bin.000002:100', 'apply.sh: STOP_POSITION=100 is not a position in mysql-bin.000002 from byte 328 on'],
      ['mysql-bin.000003:x', 'apply.sh: STOP_POSITION=x is not a position in mysql-bin.000003 from byte 4 on'],
      // Past the segment's end: nothing would stop, all of it would be applied.
      ['99999999', `apply.sh: STOP_POSITION=99999999 is past the end of mysql-bin.000003 (${statSync(join(dir, 'mysql-bin.000003')).size} bytes): the replay would stop nowhere in it and apply all of it`],
      [`mysql-bin.000002:${statSync(join(dir, 'mysql-bin.000002')).size + 1}`, `is past the end of mysql-bin.000002 (${statSync(join(dir, 'mysql-bin.000002')).size} bytes)`],
    ]) {
      const refused = apply(wrong!);
      expect(refused.status, wrong).toBe(7);
      expect(refused.stderr).toContain(said);
      expect(existsSync(log)).toBe(false);
    }
    // Unset, the replay runs to the plan's time with no --stop-position.
    expect(apply('').status).toBe(0);
    expect(readFileSync(log, 'utf8')).not.toContain('--stop-position');
    rmSync(log);
    const fullOnly = join(dir, '..', 'full-only.sh');
    writeFileSync(fullOnly, renderApplyScript([{ kind: 'load-sql', file: 'full.sql', family: 'mariadb' }], { site: 's', source: 'db', at: '2026-03-01T00:25:00Z', stopAt: '2026-03-01T00:25:00Z', fullAsTakenAt: '2026-03-01T00:00:00Z' }));
    const noReplay = spawnSync('bash', [fullOnly], { cwd: dir, env: { ...env, STOP_POSITION: '900' }, encoding: 'utf8' });
    expect(noReplay.status).toBe(7);
    expect(noReplay.stderr).toContain('apply.sh: STOP_POSITION is set but this plan replays no log segment');
    expect(existsSync(log)).toBe(false);
  });

  it.each([
    ['a MariaDB data directory (it holds ibdata1)', 'ibdata1', /holds ibdata1/],
    ['a binlog directory (it holds mysql-bin.index, the server\'s index of the series the plan replays)', 'mysql-bin.index', /holds mysql-bin\.index.*mysql-bin\.000002/],
  ])('refuses %s as DIR before writing anything, saying where to fetch instead', async (_what, marker, detail) => {
    const { blobs, plan, dir } = await scenario();
    mkdirSync(dir);
    writeFileSync(join(dir, marker), 'the server\'s own');
    const err = await fetchPlan({ plan, dir, blobs, freeBytes: GB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/^refusing .*target: a MySQL\/MariaDB server's directory/);
    expect((err as Error).message).toMatch(detail);
    expect((err as Error).message).toMatch(/overwrites .* in place.*fetch into an empty directory of its own/);
    expect(listing(dir)).toEqual([marker]);
  });

  it('names the files DIR holds besides the plan\'s (an earlier fetch at another time): apply.sh does not use them, and restore-plan.json keeps the plan\'s own notes', async () => {
    const { blobs, plan, dir } = await scenario();
    mkdirSync(dir);
    for (const name of ['old-full.sql', 'mysql-bin.000009']) writeFileSync(join(dir, name), name);
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    expect(report.notes.at(-1)).toBe(`${dir} also holds 2 file(s) that are not part of this plan (mysql-bin.000009, old-full.sql): apply.sh does not use them; apply the plan with apply.sh, not with a listing of the directory (an empty directory holds the plan alone)`);
    expect(renderFetch(report)).toContain('also holds 2 file(s) that are not part of this plan');
    const saved = JSON.parse(readFileSync(join(dir, 'restore-plan.json'), 'utf8')) as RestorePlan;
    expect(saved.notes).toEqual(plan.notes);
    const alone = await fetchPlan({ plan, dir: `${dir}-empty`, blobs, freeBytes: GB });
    expect(alone.notes).toEqual(plan.notes);
  });

  it('refuses before writing anything when the disk is too small, saying what is needed (the room kept for restore-plan.json and apply.sh named) and free', async () => {
    const { blobs, plan, dir } = await scenario();
    const err = await fetchPlan({ plan, dir, blobs, freeBytes: 200_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientSpaceError);
    expect((err as Error).message).toMatch(/^not enough disk space in .*target: the plan needs 1\.6 MB more \(3 file\(s\), 600\.\d KB in all, and 1\.0 MB kept for restore-plan\.json and apply\.sh\), only 200\.0 KB is free\. Nothing was written\.$/);
    expect(existsSync(dir)).toBe(false);
    mkdirSync(dir);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: 200_000 })).rejects.toThrow(InsufficientSpaceError);
    expect(listing(dir)).toEqual([]);
  });

  it('resumes an interrupted download with ranged GETs of exactly the ranges not recorded whole in NAME.part.ranges, and re-hashes the whole file', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const tuning = { rangeBytes: 64 * 1024, inFlight: 4 };
    const full = plan.files[0]!;
    // The third range of full.sql breaks mid-way: the ranges written whole around it are recorded, it is not.
    const store = new CuttingStore(blobs).cutGetAfter(3, 10_000);
    const err = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/fetching full.sql was interrupted \(socket hang up\): run the same command again to resume/);
    expect(listing(dir).filter((n) => !n.endsWith('.part') && !n.endsWith('.part.ranges'))).toEqual([]);
    const part = join(dir, 'full.sql.part');
    const recorded = parseRecord(readFileSync(`${part}.ranges`, 'utf8'), full, statSync(part).size)!;
    // Ranges 0 and 1 (and 3, fetched beside the broken one) were written and recorded; range 2 was not.
    expect(recorded[0]).toEqual({ start: 0, end: 2 * 64 * 1024 - 1 });
    expect(recorded.some((r) => r.start <= 2 * 64 * 1024 && r.end >= 2 * 64 * 1024)).toBe(false);
    for (const r of recorded) expect(readFileSync(part).subarray(r.start, r.end + 1).equals(bodies.get('full.sql')!.subarray(r.start, r.end + 1))).toBe(true);
    const before = store.gets.length;
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning });
    expect(report.files.map((f) => f.status)).toEqual(['resumed', expect.stringMatching(/^(fetched|resumed)$/), expect.stringMatching(/^(fetched|resumed)$/)]);
    const again = store.gets.slice(before).filter((g) => g.key === full.key);
    expect(again.map((g) => g.range)).toEqual(missingRanges(recorded, full.size, 64 * 1024));
    const keptBytes = recorded.reduce((n, r) => n + r.end - r.start + 1, 0);
    expect(keptBytes).toBeGreaterThanOrEqual(2 * 64 * 1024);
    expect(report.files[0]!.status).toBe('resumed');
    expect(readFileSync(join(dir, 'full.sql')).equals(bodies.get('full.sql')!)).toBe(true);
    expect(listing(dir)).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'restore-plan.json']);
  });

  it('stops when its signal aborts (Ctrl-C): no new range is asked for, what was written is recorded, the error says how to resume, and the same command finishes it', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const tuning = { rangeBytes: 64 * 1024, inFlight: 1 };
    const controller = new AbortController();
    let gets = 0;
    const store = { get: async (key: string, range?: { start: number; end: number }) => {
      if (++gets === 3) controller.abort();
      return blobs.get(key, range);
    } } as typeof blobs;
    const err = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning, signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchInterruptedError);
    expect((err as Error).message).toBe('interrupted: what was fetched is kept (flushed and recorded); run the same command again to resume');
    expect(gets).toBe(3);
    const full = plan.files[0]!;
    const part = join(dir, 'full.sql.part');
    const recorded = parseRecord(readFileSync(`${part}.ranges`, 'utf8'), full, statSync(part).size)!;
    expect(recorded).toEqual([{ start: 0, end: 3 * 64 * 1024 - 1 }]);
    expect(listing(dir).filter((n) => n === 'apply.sh')).toEqual([]);
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB, tuning });
    expect(report.files[0]!.status).toBe('resumed');
    expect(readFileSync(join(dir, 'full.sql')).equals(bodies.get('full.sql')!)).toBe(true);
  });

  it('leaves no apply.sh or restore-plan.json of an earlier fetch into the same DIR when a fetch at another time stops half way; the re-run writes its own', async () => {
    const { blobs, catalogue, plan, dir } = await scenario();
    await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    expect(readFileSync(join(dir, 'apply.sh'), 'utf8')).toContain("--stop-datetime='2026-03-01 00:25:00'");
    const later = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', at: min(35), now: new Date(min(100)) });
    if (!later.ok) throw new Error(later.reason);
    expect(later.files.map((f) => f.name)).toEqual(['full.sql', 'mysql-bin.000002', 'mysql-bin.000003', 'mysql-bin.000004']);
    // The only GET is mysql-bin.000004's (the rest is in DIR already): it breaks mid-way.
    const store = new CuttingStore(blobs).cutGetAfter(1, 1000);
    await expect(fetchPlan({ plan: later, dir, blobs: store, freeBytes: GB })).rejects.toThrow(/fetching mysql-bin.000004 was interrupted/);
    expect(listing(dir).filter((n) => n === 'apply.sh' || n === 'restore-plan.json')).toEqual([]);
    await fetchPlan({ plan: later, dir, blobs, freeBytes: GB });
    expect(readFileSync(join(dir, 'apply.sh'), 'utf8')).toContain("--stop-datetime='2026-03-01 00:35:00' ${STOP_POSITION:+--stop-position=$STOP_POSITION} \"${segments[@]}\"");
    expect(readFileSync(join(dir, 'apply.sh'), 'utf8')).toContain('segments=(mysql-bin.000002 mysql-bin.000003 mysql-bin.000004)');
    expect((JSON.parse(readFileSync(join(dir, 'restore-plan.json'), 'utf8')) as RestorePlan).at).toBe(later.at);
  });

  it('says in apply.sh and the printed plan that a plan without log segments (--log-source none) gives the full as taken, not the state at T', async () => {
    const { blobs, catalogue, dir } = await scenario();
    const alone = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', at: min(25), logSource: 'none', now: new Date(min(100)) });
    if (!alone.ok) throw new Error(alone.reason);
    await fetchPlan({ plan: alone, dir, blobs, freeBytes: GB });
    const header = readFileSync(join(dir, 'apply.sh'), 'utf8').split('\n')[1];
    expect(header).toBe(`# Ferry restore plan: site site-a, source db: the full backup as taken at ${min(0)}, not the state at ${min(25)} (no log segment is replayed).`);
    expect(renderPlan(alone).split('\n')[1]).toBe(`  the full as taken at ${min(0)}, not the state at ${min(25)}: no log segment is replayed`);
    const withLogs = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', at: min(25), now: new Date(min(100)) });
    expect(renderPlan(withLogs as RestorePlan).split('\n')[1]).toBe(`  state at ${min(25)}; events from 2026-03-01 00:25:00Z on are not applied`);
  });

  it('keeps at most `inFlight` ranged GETs of `rangeBytes` at once, across files, and writes every file whole', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const store = new CuttingStore(blobs);
    const report = await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 32 * 1024, inFlight: 3 } });
    expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
    expect(store.maxActive).toBe(3);
    expect(store.gets.every((g) => g.range !== undefined && g.range.end - g.range.start + 1 <= 32 * 1024)).toBe(true);
    expect(store.gets).toHaveLength(plan.files.reduce((n, f) => n + Math.ceil(f.size / (32 * 1024)), 0));
    for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
  });

  it('flushes a file to disk every `flushBytes` while it downloads (fdatasync), then fsyncs it, and publishes it whole', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    // FileHandle is not exported: its prototype, from a handle.
    const probe = await open(join(dir, '..', 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void>; sync(): Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    const sync = vi.spyOn(proto, 'sync');
    try {
      const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB, tuning: { rangeBytes: 32 * 1024, inFlight: 3, flushBytes: 64 * 1024 } });
      expect(report.files.map((f) => f.status)).toEqual(['fetched', 'fetched', 'fetched']);
      const full = bodies.get('full.sql')!.length;
      expect(full).toBeGreaterThan(2 * 64 * 1024);
      // At most one flush per 64 KiB written (one at a time, so fewer when the disk is slow), at least one for the large file.
      expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(datasync.mock.calls.length).toBeLessThanOrEqual(Math.floor(plan.totalBytes / (64 * 1024)));
      expect(sync.mock.calls.length).toBeGreaterThanOrEqual(3);
      for (const name of ['full.sql', 'mysql-bin.000002', 'mysql-bin.000003']) expect(readFileSync(join(dir, name)).equals(bodies.get(name)!)).toBe(true);
    } finally {
      datasync.mockRestore();
      sync.mockRestore();
    }
  });

  it('treats a store that answers fewer bytes than the range asked for as an interruption, keeping nothing under the name', async () => {
    const { blobs, plan, dir } = await scenario();
    const short = answering(blobs, (body) => body.subarray(1));
    const size = plan.files[0]!.size;
    // Every file's only range is in flight at once and every one comes short: the first file's error is reported, no range is recorded.
    await expect(fetchPlan({ plan, dir, blobs: short, freeBytes: GB })).rejects.toThrow(`fetching full.sql was interrupted (the store sent ${size - 1} of the ${size} bytes asked for (bytes 0-${size - 1}))`);
    expect(listing(dir)).toEqual(['full.sql.part', 'mysql-bin.000002.part', 'mysql-bin.000003.part']);
  });

  it('treats a store that answers more bytes than the range asked for as an interruption, never writing them', async () => {
    const { blobs, plan, dir } = await scenario();
    const long = answering(blobs, (body) => Buffer.concat([body, Buffer.from('x')]));
    const size = plan.files[0]!.size;
    await expect(fetchPlan({ plan, dir, blobs: long, freeBytes: GB })).rejects.toThrow(`fetching full.sql was interrupted (the store sent more than the ${size} bytes asked for (bytes 0-${size - 1}))`);
    for (const name of listing(dir)) expect(statSync(join(dir, name)).size, name).toBe(0);
  });

  it('reads each range straight into its buffer when the store offers readInto (no body stream read), and still treats a short or long answer as an interruption', async () => {
    const { blobs, plan, bodies, dir } = await scenario();
    const store = direct(blobs);
    await fetchPlan({ plan, dir, blobs: store, freeBytes: GB, tuning: { rangeBytes: 64 * 1024 } });
    for (const f of plan.files) expect(readFileSync(join(dir, f.name)).equals(bodies.get(f.name)!)).toBe(true);
    expect(store.streamed).toBe(0);
    expect(store.direct).toBe(plan.files.reduce((n, f) => n + missingRanges([], f.size, 64 * 1024).length, 0));
    const size = plan.files[0]!.size;
    const again = await scenario();
    await expect(fetchPlan({ plan: again.plan, dir: again.dir, blobs: direct(again.blobs, (b) => b.subarray(1)), freeBytes: GB })).rejects.toThrow(`(the store sent ${size - 1} of the ${size} bytes asked for (bytes 0-${size - 1}))`);
    const third = await scenario();
    await expect(fetchPlan({ plan: third.plan, dir: third.dir, blobs: direct(third.blobs, (b) => Buffer.concat([b, Buffer.from('x')])), freeBytes: GB })).rejects.toThrow(`(the store sent more than the ${size} bytes asked for (bytes 0-${size - 1}))`);
    for (const name of listing(third.dir)) expect(statSync(join(third.dir, name)).size, name).toBe(0);
  });

  it('refuses a file whose SHA-256 does not match, keeping nothing under its name', async () => {
    const { blobs, plan, dir } = await scenario();
    const key = plan.files[1]!.key;
    const original = await readAll(blobs, key);
    const flipped = Buffer.from(original);
    flipped[1000] = flipped[1000]! ^ 0xff;
    await blobs.put(key, flipped);
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(/mysql-bin.000002 does not match its SHA-256 .*refused, nothing kept under its name/);
    // Neither the name, nor its .part, nor its record; the other files are verified (the next one may have completed beside it).
    expect(listing(dir).filter((n) => n.startsWith('mysql-bin.000002'))).toEqual([]);
    expect(listing(dir)).toContain('full.sql');
    await blobs.put(key, original);
    const report = await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    expect(report.files.map((f) => f.status)).toEqual(['present', 'fetched', expect.stringMatching(/^(present|fetched)$/)]);
  });

  it.each([
    ['a parent reference', '../../etc/cron.d/evil'],
    ['an absolute path', '/etc/passwd'],
    ['a Windows drive', 'C:\\backups\\full.sql'],
    ['a bare ..', 'x/..'],
    ['an option-like name', '-rf.sql'],
    ['a name the fetch uses', 'apply.sh'],
  ])('rejects %s in an artefact name before writing anything', async (_, name) => {
    const { blobs, plan, dir } = await scenario();
    const tampered = { ...plan, full: { ...plan.full, name } };
    await expect(fetchPlan({ plan: tampered, dir, blobs, freeBytes: GB })).rejects.toThrow(InvalidInputError);
    expect(existsSync(dir)).toBe(false);
  });

  it('never follows a symbolic link in DIR, as a final name or as a .part', async () => {
    const { blobs, plan, dir } = await scenario();
    mkdirSync(dir);
    const outside = join(dir, '..', 'outside.txt');
    writeFileSync(outside, 'precious');
    symlinkSync(outside, join(dir, 'mysql-bin.000002.part'));
    await expect(fetchPlan({ plan, dir, blobs, freeBytes: GB })).rejects.toThrow(/mysql-bin.000002.part: it is a symbolic link, and is never followed or replaced/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
    expect(listing(dir)).toEqual(['mysql-bin.000002.part']);
    const other = join(dir, '..', 'other');
    mkdirSync(other);
    const linked = join(dir, '..', 'linked');
    symlinkSync(outside, join(other, 'full.sql'));
    symlinkSync(other, linked);
    await expect(fetchPlan({ plan, dir: linked, blobs, freeBytes: GB })).rejects.toThrow(/full.sql: it is a symbolic link/);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
  });
});

describe('a plan received with backups under several names', () => {
  const bak = (name: string, minute: number) => makeFull(min(minute), { name, source: 'sql' });
  const received = () => {
    const p = planRestore([bak('rtc_full.bak', 0), bak('rtc_full.bak', 60), bak('rtcconfig_full.bak', 65)], { at: min(70), now: new Date(Date.parse(min(100))), fullOnly: true });
    if (!p.ok) throw new Error(p.reason);
    return JSON.parse(JSON.stringify(p)) as RestorePlan;
  };

  it('is re-planned locally into the same files', () => {
    expect(localPlan(received()).files.map((f) => f.name)).toEqual(['rtcconfig_full.bak', 'rtc_full.bak']);
  });

  it('is refused when its other backups are not one a name (two versions of RTC offered)', () => {
    const p = received();
    p.others = [bak('rtc_full.bak', 0), bak('rtc_full.bak', 60)];
    expect(() => localPlan(p)).toThrow('the plan received is inconsistent: its other backups are not one a name, the newest at or before T');
  });
});

describe('an archive source fetched', () => {
  it('fetches the archive covering T byte for byte, re-planned locally from the plan received, with apply.sh saying where it goes', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const body = randomBytes(120_000);
    await publishArtefact(blobs, { source: 'archives', sourceType: 'archive', role: 'archive', name: 'Voice Recording 2026-03-01 2026-03-01.sdb', body, takenAt: min(59), extra: { span: { from: min(0), to: min(59) }, spanSource: 'name' } });
    await rebuildCatalogue({ blobs, catalogue });
    const planned = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'archives', at: min(30), now: new Date(min(100)) });
    if (!planned.ok) throw new Error(planned.reason);
    const plan = localPlan(JSON.parse(JSON.stringify(planned)) as RestorePlan);
    const dir = join(mkdtempSync(join(tmpdir(), 'ferry-restore-')), 'target');
    await fetchPlan({ plan, dir, blobs, freeBytes: GB });
    expect(readFileSync(join(dir, 'Voice Recording 2026-03-01 2026-03-01.sdb')).equals(body)).toBe(true);
    expect(readFileSync(join(dir, 'apply.sh'), 'utf8')).toContain('# rostrvm archive: copy');
  });
});

