import { describe, it, expect } from 'vitest';
import { appendFileSync, closeSync, constants, mkdirSync, openSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { readAll } from '../../agent/recover.ts';
import { DumpPositionSniffer } from '../../agent/dump-position.ts';
import { artefactSite, artefactAgent, artefactManifests, keys, writeAt, bytesOf } from '../support/artefact-agent.ts';
import { freshImport } from '../support/file-isolation.ts';
import { selectionNotes } from '../../cli/check-notes.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Pushes the bytes in chunks through one buffer the reader reuses, as the agent's read pass does, waiting when asked. */
async function judgeBytes(bytes: Buffer, chunk: number) {
  const s = new DumpPositionSniffer();
  const reused = Buffer.alloc(chunk);
  for (let i = 0; i < bytes.length; i += chunk) {
    const n = bytes.copy(reused, 0, i, i + chunk);
    await s.push(reused.subarray(0, n));
  }
  return s.finish();
}
const MIN = 60_000;

describe('rotated source, Cisco CVP profile', () => {
  const cvp = () => artefactSite(`  - { name: cvp, type: rotated, profile: cvp, path: "{root}", stableSeconds: 120 }`);

  it("raises nothing on a new CVP install whose first backup has no .old copy yet (the configuration is right), and agent check says the copy comes with the next backup", async () => {
    const site = cvp();
    writeAt(join(site.root, 'cvp_backup_data'), bytesOf(1000, 1), new Date(Date.now() - 10 * MIN));
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock: new ManualClock(new Date()) });
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 0 });
    expect(h.alerts.filter((a) => a.key === 'selects-nothing:cvp')).toEqual([]);
    h.agent.close();
    expect(await selectionNotes(site.config)).toEqual(['note: source cvp: CVP has written its first backup only; its copy cvp_backup_data.old (the file that is shipped: the live one is never read) appears after the next backup']);
  });

  it('never opens the live cvp_backup_data; ships cvp_backup_data.old, and the next .old as a new artefact', async () => {
    const site = cvp();
    const clock = new ManualClock(new Date());
    const live = join(site.root, 'cvp_backup_data');
    const old = join(site.root, 'cvp_backup_data.old');
    const v1 = bytesOf(40_000, 1);
    writeAt(old, v1, new Date(clock.now().getTime() - 10 * MIN));
    writeAt(live, bytesOf(1000, 99), clock.now()); // the backup being written
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, {
      clock,
      openFile: async (path, flags) => {
        if (path === live) throw new Error('the live CVP backup was opened');
        return open(path, flags);
      },
    });
    expect((await h.agent.cycle()).artefacts).toBe(0); // first sight: inside the stability window
    appendFileSync(live, bytesOf(5000, 98)); // the live backup keeps growing
    clock.advance(3 * MIN);
    const first = await h.agent.cycle();
    expect(first).toMatchObject({ artefacts: 1, failed: 0 });
    const [m1] = await artefactManifests(store);
    expect(m1).toMatchObject({ sourceType: 'rotated', role: 'full', profile: 'cvp', name: 'cvp_backup_data.old', slot: 'cvp_backup_data.old', size: v1.length, sha256: sha(v1) });
    expect(m1!.key).toMatch(/^backups\/site-a\/cvp\/\d{4}\/\d{2}\/\d{2}\/a[0-9a-f]{23}-cvp_backup_data\.old$/);
    expect((await readAll(store, m1!.key)).equals(v1)).toBe(true);

    // The next backup: CVP copies the finished backup to .old and starts a new live file.
    const v2 = bytesOf(48_000, 2);
    clock.advance(24 * 60 * MIN);
    writeAt(old, v2, new Date(clock.now().getTime() - MIN));
    writeAt(live, bytesOf(2000, 97), clock.now());
    await h.agent.cycle();
    clock.advance(3 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    const ms = await artefactManifests(store);
    expect(ms.map((m) => m.sha256).sort()).toEqual([sha(v1), sha(v2)].sort());
    expect(new Set(ms.map((m) => m.key)).size).toBe(2);
    expect((await readAll(store, m1!.key)).equals(v1)).toBe(true); // the first version was not replaced

    expect(h.opened.length).toBeGreaterThan(0);
    expect(h.opened).not.toContain(live);
    expect(h.opened.every((p) => p === old)).toBe(true);
    expect((await keys(store)).some((k) => /cvp_backup_data$/.test(k))).toBe(false);
    h.agent.close();
  });

  it('proves it at the OS level: the live file is never read (its atime stays put while the .old one moves)', async () => {
    const site = cvp();
    const clock = new ManualClock(new Date());
    const live = join(site.root, 'cvp_backup_data');
    const old = join(site.root, 'cvp_backup_data.old');
    writeAt(live, bytesOf(3000, 4), new Date(clock.now().getTime() - 10 * MIN));
    writeAt(old, bytesOf(3000, 3), new Date(clock.now().getTime() - 10 * MIN));
    // atime before mtime: with relatime (or strictatime) the kernel updates atime on the next read.
    const past = new Date('2000-01-01T00:00:00Z');
    for (const f of [live, old]) utimesSync(f, past, statSync(f).mtime);
    // Reads that record their access time: the agent asks for O_NOATIME, which the kernel refuses
    // for a file the agent's user does not own, and then reads without it for the rest of the
    // run. A fresh copy of the modules, whose first open was refused so, as for such a user.
    const [{ openSyncNoAtime }, fresh] = await freshImport(() => Promise.all([import('../../agent/no-atime.ts'), import('../support/artefact-agent.ts')]));
    const refused = (path: string, flags: number) => {
      if (flags & constants.O_NOATIME) throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
      return openSync(path, flags);
    };
    closeSync(openSyncNoAtime(refused, site.root, constants.O_RDONLY));
    const store = new MemoryBlobStore();
    const h = fresh.artefactAgent(site.config, store, { clock }); // plain open: nothing intercepted
    await h.agent.cycle();
    clock.advance(3 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    h.agent.close();
    expect(statSync(old).atimeMs, 'control: this filesystem must record reads (mounted noatime?)').toBeGreaterThan(past.getTime());
    expect(statSync(live).atimeMs).toBe(past.getTime());
  });

  it('keeps the live file out even for a generic profile whose pattern would match it', async () => {
    const site = artefactSite(`  - { name: cvp, type: rotated, profile: generic, patterns: ["cvp_*"], path: "{root}", stableSeconds: 0 }`);
    const live = join(site.root, 'cvp_backup_data');
    writeAt(live, 'live', new Date(Date.now() - 10 * MIN));
    writeAt(join(site.root, 'cvp_backup_data.old'), 'old', new Date(Date.now() - 10 * MIN));
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store);
    await h.agent.cycle();
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['cvp_backup_data.old']);
    expect(h.opened).not.toContain(live);
    h.agent.close();
  });
});

describe('rotated source, rostrvm profile', () => {
  it.each([2, 3])('over several weeks with CYCLE %i, every version is offsite exactly once and an unchanged slot is not shipped again', async (cycle) => {
    const site = artefactSite(`  - { name: rostrvm, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date('2026-01-04T02:00:00Z')); // a Sunday
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const written: Buffer[] = [];
    const weeks = 7;
    for (let week = 0; week < weeks; week++) {
      // Sunday 03:00: the backup overwrites the oldest slot (rostrvm_920_<n>.rbk, n cycling 1..CYCLE), in two writes.
      clock.set(new Date(Date.UTC(2026, 0, 4 + 7 * week, 3, 0)));
      const slot = join(site.root, `rostrvm_920_${(week % cycle) + 1}.rbk`);
      const full = Buffer.concat([Buffer.from(`-- rostrvm dump week ${week}\n`), bytesOf(30_000 + week * 1000, 10 + week)]);
      writeAt(slot, full.subarray(0, 10_000), clock.now());
      await h.agent.cycle(); // half written: not shipped
      clock.advance(MIN);
      writeAt(slot, full, clock.now());
      await h.agent.cycle(); // complete, but not stable yet
      written.push(full);
      // The rest of the week: the agent polls; only the new version ships.
      for (let poll = 0; poll < 6; poll++) {
        clock.advance(30 * MIN);
        await h.agent.cycle();
      }
      const shipped = await artefactManifests(store);
      expect(shipped.map((m) => m.sha256).sort()).toEqual(written.map(sha).sort());
    }
    const ms = await artefactManifests(store);
    expect(ms).toHaveLength(weeks);
    expect(new Set(ms.map((m) => m.key)).size).toBe(weeks);
    for (const m of ms) {
      expect(m).toMatchObject({ profile: 'rostrvm', role: 'full' });
      expect(m.slot).toMatch(/^rostrvm_920_[1-3]\.rbk$/);
      expect(sha(await readAll(store, m.key))).toBe(m.sha256); // every version still whole offsite, none replaced
    }
    // Steady state: nothing is even opened again.
    const before = h.opened.length;
    clock.advance(60 * MIN);
    await h.agent.cycle();
    expect(h.opened.length).toBe(before);
    // A slot touched without a change of content is read (new mtime) but not shipped again.
    const slot1 = join(site.root, 'rostrvm_920_1.rbk');
    utimesSync(slot1, clock.now(), clock.now());
    await h.agent.cycle();
    clock.advance(3 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(0);
    expect(h.opened.length).toBe(before + 1);
    expect(await artefactManifests(store)).toHaveLength(weeks);
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ type: 'rotated', backlog: { files: 0 }, lost: 0 });
    h.agent.close();
  });

  it('does not ship a half-written file until it stays unchanged for the window, then ships all of it', async () => {
    const site = artefactSite(`  - { name: rostrvm, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const file = join(site.root, 'rostrvm_920_1.rbk');
    const full = bytesOf(90_000, 5);
    writeAt(file, full.subarray(0, 30_000), clock.now());
    expect((await h.agent.cycle()).artefacts).toBe(0);
    for (const end of [60_000, 90_000]) {
      clock.advance(100_000);
      writeAt(file, full.subarray(0, end), clock.now());
      expect((await h.agent.cycle()).artefacts).toBe(0);
      expect(h.opened).toEqual([]);
    }
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ backlog: { files: 1, bytes: 90_000 } });
    clock.advance(119_000);
    expect((await h.agent.cycle()).artefacts).toBe(0);
    clock.advance(1_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ size: 90_000, sha256: sha(full) });
    expect(h.agent.statusSnapshot().sources[0]).toMatchObject({ backlog: { files: 0 }, lastShipped: { name: 'rostrvm_920_1.rbk', partial: false } });
    h.agent.close();
  });

  it('does not publish a file that changes while it is read, and ships the finished one later', async () => {
    const site = artefactSite(`  - { name: rostrvm, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 60 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const file = join(site.root, 'rostrvm_920_2.rbk');
    writeAt(file, bytesOf(20_000, 6), new Date(clock.now().getTime() - MIN));
    let strike = true;
    const h = artefactAgent(site.config, store, {
      clock,
      openFile: async (path, flags) => {
        const handle = await open(path, flags);
        if (strike) {
          strike = false;
          appendFileSync(path, 'more'); // the vendor tool writes again
        }
        return handle;
      },
    });
    await h.agent.cycle();
    clock.advance(2 * MIN);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1 });
    expect(await keys(store)).toEqual([]);
    clock.advance(2 * MIN);
    await h.agent.cycle(); // new state first seen
    clock.advance(2 * MIN);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    expect((await artefactManifests(store))[0]).toMatchObject({ size: statSync(file).size });
    h.agent.close();
  });

  it('reports a complete version overwritten before it could be shipped as lost', async () => {
    const site = artefactSite(`  - { name: rostrvm, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 0 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const file = join(site.root, 'rostrvm_920_1.rbk');
    writeAt(file, 'week 1', new Date(clock.now().getTime() - MIN));
    const h = artefactAgent(site.config, store, { clock, openFile: async () => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      },
    });
    expect((await h.agent.cycle()).failed).toBe(1);
    writeFileSync(file, 'week 2, overwritten');
    const r = await h.agent.cycle();
    expect(r.lost).toBe(1);
    expect(h.alerts.some((a) => a.severity === 'critical' && a.subject.includes('rostrvm_920_1.rbk'))).toBe(true);
    expect(h.agent.statusSnapshot().totals).toMatchObject({ lostArtefacts: 1, lostRecordings: 0 });
    h.agent.close();
  });
});

describe('binlog position of a SQL dump', () => {
  const sniff = async (text: string, chunk = 7) => (await judgeBytes(Buffer.from(text), chunk)).position;
  it('reads mysqldump / mariadb-dump and MySQL 8.0.23+ spellings, commented or not', async () => {
    expect(await sniff("-- MySQL dump\n-- CHANGE MASTER TO MASTER_LOG_FILE='rtmbinlog.000123', MASTER_LOG_POS=4567;\n")).toEqual({ logFile: 'rtmbinlog.000123', logPos: 4567 });
    expect(await sniff("CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157;")).toEqual({ logFile: 'binlog.000002', logPos: 157 });
    expect(await sniff('-- a dump taken without --master-data\nCREATE TABLE t (i int);')).toBeUndefined();
    expect(await sniff(`${'x'.repeat(1024 * 1024)}CHANGE MASTER TO MASTER_LOG_FILE='late.000001', MASTER_LOG_POS=1;`)).toBeUndefined(); // only the header is looked at
  });

  it('reads the position in a gzip\'d dump (.sql.gz) from the head it inflates to', async () => {
    const dump = gzipSync(Buffer.from(`/*M!999999\\- enable the sandbox mode */\n-- MariaDB dump 10.19\n-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000009', MASTER_LOG_POS=577;\n${'INSERT INTO t VALUES (1);\n'.repeat(200_000)}-- Dump completed on 2026-12-05 12:00:00\n`));
    expect(await judgeBytes(dump, 65_536)).toEqual({ position: { logFile: 'mysql-bin.000009', logPos: 577 }, format: 'gzip' });
  });
});

describe('a dump not yet whole', () => {
  const header = "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n-- Host: localhost    Database: shop\n-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000006', MASTER_LOG_POS=578;\n";
  const body = `${header}${"INSERT INTO `orders` VALUES (1,'a'),(2,'b');\n".repeat(3000)}`;
  const whole = `${body}/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n\n-- Dump completed on 2026-12-05  9:53:01\n`;

  it('is not shipped as a full while its tool has not written its last line, fails the pass naming why, and ships once whole with no loss reported', async () => {
    const site = artefactSite(`  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const file = join(site.root, 'nightly.sql');
    // The nightly job pauses, half way, for longer than stableSeconds.
    const half = body.slice(0, Math.floor(body.length / 2));
    writeAt(file, half, new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    const stalled = await h.agent.cycle();
    expect(stalled).toMatchObject({ artefacts: 0, failed: 1, lost: 0 });
    expect(await keys(store)).toEqual([]);
    expect(h.alerts.find((a) => a.subject === 'nightly.sql could not be shipped')?.message).toContain(`${file} is not whole: it starts as a mariadb-dump dump but does not end with the "-- Dump completed" line mariadb-dump writes last`);
    // It resumes and finishes: the whole dump ships, and the half one was never a version to lose.
    writeAt(file, whole, clock.now());
    await h.agent.cycle();
    clock.advance(30_000);
    const done = await h.agent.cycle();
    expect(done).toMatchObject({ artefacts: 1, failed: 0, lost: 0 });
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ name: 'nightly.sql', size: Buffer.byteLength(whole), position: { logFile: 'mysql-bin.000006', logPos: 578 } });
    expect(h.agent.statusSnapshot().totals).toMatchObject({ lostArtefacts: 0 });
    h.agent.close();
  });

  it('knows the last lines of mysqldump, mariadb-dump and pg_dump, and judges no other file', async () => {
    const judge = async (text: string) => (await judgeBytes(Buffer.from(text), 4096)).incomplete;
    expect(await judge(whole)).toBeUndefined();
    expect(await judge(body)).toEqual({ kind: 'dump', gzip: false, tool: 'mariadb-dump', trailer: '-- Dump completed' });
    expect(await judge('-- MySQL dump 10.13  Distrib 8.0.36\nCREATE TABLE t (i int);\n')).toEqual({ kind: 'dump', gzip: false, tool: 'mysqldump', trailer: '-- Dump completed' });
    expect(await judge('-- MySQL dump 10.13  Distrib 8.0.36\nCREATE TABLE t (i int);\n-- Dump completed\n')).toBeUndefined();
    // MariaDB 10.5.25, 10.6.18, 10.11.8 and later write a sandbox line before their header.
    const sandbox = '/*M!999999\\- enable the sandbox mode */\n';
    expect(await judge(`${sandbox}-- MariaDB dump 10.19-10.11.19-MariaDB, for debian-linux-gnu (x86_64)\nCREATE TABLE t (i int);\n`)).toEqual({ kind: 'dump', gzip: false, tool: 'mariadb-dump', trailer: '-- Dump completed' });
    expect(await judge(`${sandbox}-- MariaDB dump 10.19\nCREATE TABLE t (i int);\n-- Dump completed on 2026-12-05 10:50:50\n`)).toBeUndefined();
    expect(await judge('--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t (i int);\n')).toEqual({ kind: 'dump', gzip: false, tool: 'pg_dump', trailer: '-- PostgreSQL database dump complete' });
    expect(await judge('--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t (i int);\n--\n-- PostgreSQL database dump complete\n--\n\n')).toBeUndefined();
    // Dumps taken with --skip-comments, and files that are no text dump, are not judged.
    expect(await judge('CREATE TABLE t (i int);\n')).toBeUndefined();
    expect(await judge('\x00\x01binary backup')).toBeUndefined();
  });
  it('judges a gzip\'d dump by what it inflates to, and a gzip stream that stops before its end as not whole', async () => {
    const wholeGz = gzipSync(Buffer.from(whole));
    expect(await judgeBytes(wholeGz, 1000)).toEqual({ position: { logFile: 'mysql-bin.000006', logPos: 578 }, format: 'gzip' });
    // The dump was cut, then gzip closed its stream: a whole gzip of a cut dump.
    expect((await judgeBytes(gzipSync(Buffer.from(body)), 1000)).incomplete).toEqual({ kind: 'dump', gzip: true, tool: 'mariadb-dump', trailer: '-- Dump completed' });
    // `mariadb-dump | gzip > nightly.sql.gz` still running, or killed: the gzip stream has no end.
    expect((await judgeBytes(wholeGz.subarray(0, wholeGz.length - 8), 1000)).incomplete).toEqual({ kind: 'gzip' });
    expect((await judgeBytes(wholeGz.subarray(0, Math.floor(wholeGz.length / 2)), 1000)).incomplete).toEqual({ kind: 'gzip' });
    // Any gzip'd file: a PBX configuration tarball cut short is not whole either; whole, it is not judged.
    const tarball = gzipSync(bytesOf(300_000, 7));
    expect(await judgeBytes(tarball, 65_536)).toEqual({ format: 'gzip' });
    expect((await judgeBytes(tarball.subarray(0, 100_000), 65_536)).incomplete).toEqual({ kind: 'gzip' });
    // Two gzip members one after the other (`cat a.gz b.gz`) are one whole stream.
    expect(await judgeBytes(Buffer.concat([gzipSync(Buffer.from(body)), gzipSync(Buffer.from(whole.slice(body.length)))]), 4096)).toEqual({ position: { logFile: 'mysql-bin.000006', logPos: 578 }, format: 'gzip' });
  });

  it('does not ship a gzip\'d dump whose stream has no end yet, says why, and ships it once gzip has finished', async () => {
    const site = artefactSite(`  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql.gz"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const file = join(site.root, 'nightly.sql.gz');
    const gz = gzipSync(Buffer.from(whole));
    writeAt(file, gz.subarray(0, Math.floor(gz.length / 2)), new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1, lost: 0 });
    expect(await keys(store)).toEqual([]);
    expect(h.alerts.find((a) => a.subject === 'nightly.sql.gz could not be shipped')?.message).toContain(`${file} is not whole: its gzip stream stops before gzip's end (no trailer)`);
    writeAt(file, gz, clock.now());
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0, lost: 0 });
    const [m] = await artefactManifests(store);
    expect(m).toMatchObject({ name: 'nightly.sql.gz', size: gz.length, sha256: sha(gz), position: { logFile: 'mysql-bin.000006', logPos: 578 } });
    expect(h.agent.statusSnapshot().totals).toMatchObject({ lostArtefacts: 0 });
    h.agent.close();
  });
});

describe('a source whose selection takes nothing', () => {
  it('is alerted (warning) while its directory holds files none of which it selects and it has never shipped, and resolved once it selects one', async () => {
    const site = artefactSite(`  - { name: sql, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock });
    writeAt(join(site.root, 'rtc_full.BAK.zip'), 'x', new Date(clock.now().getTime() - MIN));
    writeAt(join(site.root, 'global-pool.XML'), 'y', new Date(clock.now().getTime() - MIN));
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 0 });
    const raised = h.alerts.find((a) => a.key === 'selects-nothing:sql');
    expect(raised).toMatchObject({ severity: 'warning', subject: `source sql selects none of the files in ${site.root}` });
    expect(raised?.message).toContain('holds 2 file(s) (global-pool.XML, rtc_full.BAK.zip) and its profile generic, patterns ["*.bak"] (matched ignoring case) takes none of them');
    writeAt(join(site.root, 'rtc_full.bak'), 'z', new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    expect(h.alerts.filter((a) => a.key === 'selects-nothing:sql').map((a) => a.subject)).toEqual([`source sql selects none of the files in ${site.root}`, `resolved: source sql selects none of the files in ${site.root}`]);
    h.agent.close();
  });

  it('is alerted while its directory holds only folders (a job that writes into a folder per database), naming them, and resolved once it ships', async () => {
    const site = artefactSite(`  - { name: sql, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock });
    for (const db of ['rtc', 'rtcdyn']) mkdirSync(join(site.root, db, 'FULL'), { recursive: true });
    writeAt(join(site.root, 'rtc', 'FULL', 'rtc_full.bak'), 'x', new Date(clock.now().getTime() - MIN));
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 0 });
    const raised = h.alerts.find((a) => a.key === 'selects-nothing:sql');
    expect(raised).toMatchObject({ severity: 'warning', subject: `source sql holds only folders, no files, in ${site.root}` });
    expect(raised?.message).toContain(`${site.root} holds 2 folder(s) (rtc, rtcdyn) and no files: a rotated source takes only the files directly in its path, not those in sub-folders`);
    writeAt(join(site.root, 'rtc_full.bak'), 'z', new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    expect(h.alerts.filter((a) => a.key === 'selects-nothing:sql').map((a) => a.subject)).toEqual([`source sql holds only folders, no files, in ${site.root}`, `resolved: source sql holds only folders, no files, in ${site.root}`]);
    h.agent.close();
  });

  it('says nothing of an empty directory (the first backup has not been written yet)', async () => {
    const site = artefactSite(`  - { name: sql, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 20 }`);
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock: new ManualClock(new Date()) });
    await h.agent.cycle();
    expect(h.alerts.filter((a) => a.key === 'selects-nothing:sql')).toEqual([]);
    h.agent.close();
  });
});


describe('a backup dated ahead of this machine\'s clock', () => {
  it('waits with a warning naming the file and how far ahead, resolved once none is ahead; a few seconds ahead says nothing', async () => {
    const site = artefactSite(`  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.bak"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const h = artefactAgent(site.config, new MemoryBlobStore(), { clock });
    writeAt(join(site.root, 'soon.bak'), bytesOf(1000, 1), new Date(clock.now().getTime() + 20_000));
    await h.agent.cycle();
    expect(h.alerts.filter((a) => a.key === 'clock-ahead:shop-db')).toEqual([]);
    clock.advance(30_000);
    writeAt(join(site.root, 'full.bak'), bytesOf(1000, 2), new Date(clock.now().getTime() + 3 * 3600_000));
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 }); // soon.bak, settled; full.bak waits
    const alert = h.alerts.find((a) => a.key === 'clock-ahead:shop-db');
    expect(alert).toMatchObject({ severity: 'warning', subject: "shop-db: backups dated ahead of this machine's clock" });
    expect(alert?.message).toContain('1 file(s) of');
    expect(alert?.message).toContain('dated up to 3 h after this machine\'s time (full.bak, modified ');
    clock.advance(3 * 3600_000 + 30_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    expect(h.alerts.filter((a) => a.key === 'clock-ahead:shop-db').map((a) => a.severity)).toEqual(['warning', 'info']);
    h.agent.close();
  });
});
