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
    // A multi-byte character cut by the end of the head is still text, and so is Latin-1 (as an export's prolog may say).
    expect(formatOf(Buffer.from('Réunion é', 'utf8').subarray(0, 10))).toBe('text');
    expect(formatOf(Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?>\n<Users><User Name="Zoë Müller"/></Users>', 'latin1'))).toBe('xml');
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
    writeAt(join(site.root, 'shop-20260301.sql'), dump(1), new Date(clock.now().getTime() - 10 * MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect((await h.agent.cycle()).artefacts).toBe(1);
    writeAt(join(site.root, 'shop-20260302.sql'), 'mysqldump: Got error: 1045: "Access denied for user \'backup\'@\'localhost\'" when trying to connect\n', new Date(clock.now().getTime() - MIN));
    await h.agent.cycle();
    clock.advance(30_000);
    expect(await h.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1 });
    expect(h.alerts.find((a) => a.key === 'ship-failed:shop-db:shop-20260302.sql')?.message).toContain('shop-20260302.sql is plain text, not a mariadb-dump dump');
    writeAt(join(site.root, 'shop-20260303.sql.gz'), gzipSync(Buffer.from(dump(3))), new Date(clock.now().getTime() - MIN));
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

  it('holds back a .bak or a gzip\'d dump overwritten by text (a ransom note), and judges each backup by the earlier versions of its own name, not by other files of the source', async () => {
    const site = artefactSite(source().replace('["*.sql"]', '["*.sql", "*.bak", "*.sql.gz"]'));
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    const h = artefactAgent(site.config, store, { clock });
    const night = async (files: Record<string, string | Buffer>) => {
      for (const [name, body] of Object.entries(files)) writeAt(join(site.root, name), body, new Date(clock.now().getTime() - MIN));
      await h.agent.cycle();
      clock.advance(30_000);
      const cycle = await h.agent.cycle();
      clock.advance(24 * 60 * MIN);
      return cycle;
    };
    const globals = '--\n-- PostgreSQL database cluster dump\n--\n\nCREATE ROLE app;\n';
    // pg_dump's dumps and pg_dumpall's globals beside them, night after night: nothing held back.
    expect(await night({ 'shop-20260301.sql': dump(1), 'globals.sql': globals, 'ocs.bak': Buffer.concat([Buffer.from('TAPE'), Buffer.alloc(500, 1)]), 'cfg-20260301.sql.gz': gzipSync(Buffer.from(dump(2))) })).toMatchObject({ artefacts: 4, failed: 0 });
    expect(await night({ 'shop-20260302.sql': dump(3), 'globals.sql': `${globals}CREATE ROLE report;\n` })).toMatchObject({ artefacts: 2, failed: 0 });
    // The ransomware leaves its note in place of the backups.
    const note = 'YOUR FILES ARE ENCRYPTED. To recover them, write to recover@example.invalid\n';
    expect(await night({ 'ocs.bak': note, 'cfg-20260302.sql.gz': note })).toMatchObject({ artefacts: 0, failed: 2 });
    expect(h.alerts.find((a) => a.key === 'ship-failed:shop-db:ocs.bak')?.message).toContain('ocs.bak is plain text, not Microsoft Tape Format (a SQL Server .bak)');
    expect(h.alerts.find((a) => a.key === 'ship-failed:shop-db:cfg-20260302.sql.gz')?.message).toContain('cfg-20260302.sql.gz is plain text, not gzip data, as cfg-20260301.sql.gz');
    h.agent.close();
  });
});
