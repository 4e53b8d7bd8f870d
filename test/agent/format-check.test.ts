import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { formatOf } from '../../agent/file-format.ts';
import { artefactSite, artefactAgent, artefactManifests, writeAt } from '../support/artefact-agent.ts';

const MIN = 60_000;
const dump = (n: number) => `-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n--\n-- Host: localhost    Database: shop\n${`INSERT INTO t VALUES (${n});\n`.repeat(50)}-- Dump completed on 2026-12-05  9:53:01\n`;

describe('the format of a backup, from its first bytes', () => {
  it('names the vendors\' formats and containers, plain text and XML, and nothing for random bytes', () => {
    expect(formatOf(Buffer.from('-- MariaDB dump'), 'mariadb-dump')).toBe('dump:mariadb-dump');
    expect(formatOf(Buffer.concat([Buffer.from('TAPE'), randomBytes(200)]))).toBe('mtf');
    expect(formatOf(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(formatOf(Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2]))).toBe('zip');
    const tar = Buffer.alloc(512);
    tar.write('ustar', 257, 'latin1');
    expect(formatOf(tar)).toBe('tar');
    expect(formatOf(Buffer.from('\uFEFF<?xml version="1.0" encoding="utf-8"?>\n<LcsCmd/>'))).toBe('xml');
    expect(formatOf(Buffer.from('CREATE TABLE t (i int);\nINSERT INTO t VALUES (1, \'é\');\n'))).toBe('text');
    // A multi-byte character cut by the end of the head is still text.
    expect(formatOf(Buffer.from('Réunion é', 'utf8').subarray(0, 10))).toBe('text');
    for (let i = 0; i < 20; i++) expect(formatOf(randomBytes(512))).toBeUndefined();
  });
});

describe('a rotated backup overwritten with something that is no backup (ransomware, a disk error)', () => {
  const source = (extra = '') => `  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 20${extra} }`;

  it('is held back, not shipped as a full, with a critical alert naming what it was and the pass failing; the good fulls stay the newest offsite', async () => {
    const site = artefactSite(source());
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const file = join(site.root, 'full-20260301.sql');
    writeAt(file, dump(1), new Date(clock.now().getTime() - 10 * MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    // The ransomware rewrites the dump in place, and the next night's file is garbage too.
    writeAt(file, randomBytes(131), new Date(clock.now().getTime() - MIN));
    writeAt(join(site.root, 'full-20260302.sql'), randomBytes(4000), new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 2, lost: 0 });
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['full-20260301.sql']);
    const alert = h.alerts.find((a) => a.key === 'ship-failed:shop-db:full-20260301.sql');
    expect(alert).toMatchObject({ severity: 'critical', subject: 'full-20260301.sql of shop-db is not a backup any more: held back' });
    expect(alert?.message).toContain(`${file} shows no known format (its first bytes are not a mariadb-dump dump), as full-20260301.sql (shipped `);
    expect(alert?.message).toContain('set formatCheck: false on source shop-db');
    expect(h.alerts.find((a) => a.key === 'ship-failed:shop-db:full-20260302.sql')?.severity).toBe('critical');
    // A held-back file overwritten again is no version lost.
    writeAt(file, randomBytes(140), new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, lost: 0 });
    // The site restored: a good dump ships again.
    writeAt(join(site.root, 'full-20260303.sql'), dump(3), new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    h.agent.close();
  });

  it('holds back a dump that became other text (a failed job\'s error message), but ships a gzip\'d dump after a plain one', async () => {
    const site = artefactSite(`  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql", "*.sql.gz"], path: "{root}", stableSeconds: 20 }`);
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    writeAt(join(site.root, 'a.sql'), dump(1), new Date(clock.now().getTime() - 10 * MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    writeAt(join(site.root, 'b.sql'), 'mysqldump: Got error: 1045: "Access denied for user \'backup\'@\'localhost\'" when trying to connect\n', new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1 });
    expect(h.alerts.find((a) => a.key === 'ship-failed:shop-db:b.sql')?.message).toContain('b.sql is plain text, not a mariadb-dump dump');
    writeAt(join(site.root, 'c.sql.gz'), gzipSync(Buffer.from(dump(3))), new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    h.agent.close();
  });

  it('holds back a SQL Server .bak become random bytes, and ships whatever is there with formatCheck: false', async () => {
    const bak = (n: number) => Buffer.concat([Buffer.from('TAPE'), Buffer.alloc(2000, n)]);
    const run = async (extra: string) => {
      const site = artefactSite(source(extra).replace('["*.sql"]', '["*.bak"]'));
      const clock = new ManualClock(new Date());
      const store = new MemoryBlobStore();
      const h = artefactAgent(site.config, store, { clock });
      writeAt(join(site.root, 'ocs.bak'), bak(1), new Date(clock.now().getTime() - 10 * MIN));
      await h.agent.cycle();
      clock.advance(30_000);
      await h.agent.cycle();
      writeAt(join(site.root, 'ocs.bak'), randomBytes(2004), new Date(clock.now().getTime() - MIN));
      await h.agent.cycle();
      clock.advance(30_000);
      const cycle = await h.agent.cycle();
      h.agent.close();
      return { cycle, alert: h.alerts.find((a) => a.key === 'ship-failed:shop-db:ocs.bak'), shipped: (await artefactManifests(store)).length };
    };
    const held = await run('');
    expect(held).toMatchObject({ cycle: { artefacts: 0, failed: 1 }, shipped: 1 });
    expect(held.alert?.message).toContain('its first bytes are not Microsoft Tape Format (a SQL Server .bak)');
    expect(await run(', formatCheck: false')).toMatchObject({ cycle: { artefacts: 1, failed: 0 }, shipped: 2, alert: undefined });
  });
});
