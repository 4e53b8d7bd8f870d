import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgent } from '../../cli/build-agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { RestorePlan } from '../../core/restore-plan.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { agentCloudYaml, principalCloudYaml, startTestCloud } from '../support/local-cloud.ts';
import { findMariaDbTool, shopSiteConfig, startMariaDb, type MariaDb } from '../support/mariadb.ts';

// The real round trip: a MariaDB server with binary logging, a full dump that records its
// binlog position, writes across several segments, the agent ships dump and segments to the
// local cloud, the database is destroyed; then a *secondary site* (its own config) asks the
// catalogue API for the plan at a time T between two writes, fetches the files, and applies
// them to a fresh server with the plan's own apply.sh. The result must be exactly the state
// at T: every change before T, none after.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let cloud: LocalCloud;
let db: MariaDb | undefined;
let fresh: MariaDb | undefined;
let second: MariaDb | undefined;
let T: string;
/** The whole second in which a row and then a DELETE without WHERE were written (segment 4). */
let deleteSecond: number;
let stateAtT: string[][];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const ferry = (args: string[]) => run(process.execPath, [BIN, ...args], { ...process.env, FERRY_HOME: join(dir, 'home') });
const rows = (m: MariaDb) => m.query('SELECT id, item, qty FROM shop.orders ORDER BY id');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-pitr-'));
  const dumps = join(dir, 'dumps');
  mkdirSync(dumps);
  [cloud, db] = await Promise.all([startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['site-a', 'site-b'] }), startMariaDb()]);

  // Segment 1: the schema, two rows, then the full dump (it records its position in segment 1).
  await db.exec("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT) ENGINE=InnoDB; INSERT INTO shop.orders VALUES (1, 'anchor', 1), (2, 'bolt', 2);");
  const dump = await db.run('mariadb-dump', [...db.clientArgs(), '--single-transaction', '--master-data=2', '--databases', 'shop']);
  writeFileSync(join(dumps, 'shop-full.sql'), dump);
  await db.exec("INSERT INTO shop.orders VALUES (10, 'after-dump', 10);");
  await db.flushBinaryLogs();
  // Segment 2.
  await db.exec("INSERT INTO shop.orders VALUES (3, 'cable', 3); UPDATE shop.orders SET qty = 20 WHERE id = 2;");
  await db.flushBinaryLogs();
  // Segment 3: the last writes before T, T itself, the first writes after it (1 s apart: binlog times are whole seconds).
  await db.exec("INSERT INTO shop.orders VALUES (4, 'drill', 4); DELETE FROM shop.orders WHERE id = 1;");
  await sleep(1200);
  T = new Date().toISOString();
  stateAtT = await rows(db);
  await sleep(1200);
  await db.exec("INSERT INTO shop.orders VALUES (5, 'epoxy', 5); UPDATE shop.orders SET qty = 40 WHERE id = 4;");
  await db.flushBinaryLogs();
  // Segment 4: then a row and a DELETE without WHERE in one second (SET TIMESTAMP pins both to it:
  // binlog times are whole seconds), a row a second later; then an active segment 5.
  await db.exec("INSERT INTO shop.orders VALUES (6, 'fuse', 6); DELETE FROM shop.orders WHERE id = 3;");
  deleteSecond = Math.floor(Date.now() / 1000);
  await db.exec(`SET TIMESTAMP = ${deleteSecond}; INSERT INTO shop.orders VALUES (7, 'gauge', 7); DELETE FROM shop.orders; SET TIMESTAMP = DEFAULT;`);
  await sleep(1200);
  await db.exec("INSERT INTO shop.orders VALUES (8, 'hinge', 8);");
  await db.flushBinaryLogs();

  // Site A's agent ships the dump and the closed segments.
  const config = parseAgentConfig(shopSiteConfig({ dir, cloudYaml: agentCloudYaml(cloud, 'site-a'), dumps, datadir: db.datadir, partialIntervalSeconds: 0 }));
  const agent = buildAgent(config, { log: silentLogger });
  try {
    for (let i = 0; i < 3; i++) await agent.cycle();
  } finally {
    agent.close();
  }
  await cloud.drain();

  // The primary is lost.
  await db.stop();
  db = undefined;

  // Site B: its own config, whose cloud block reaches the catalogue API and (read-only) site A's
  // objects as site A's DR reader, the role the deployment gives a secondary site.
  mkdirSync(join(dir, 'site-b'));
  writeFileSync(
    join(dir, 'site-b.yaml'),
    `site: site-b\nstate: ${join(dir, 'state-b')}\ncloud: ${principalCloudYaml(cloud, 'dr:site-a', { api: cloud.apiUrl })}\nsources:\n  - { name: local-db, type: rotated, profile: generic, patterns: ["*.sql"], path: ${join(dir, 'site-b')} }\n`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([db?.stop(), fresh?.stop(), second?.stop(), cloud?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('point-in-time restore of a real MariaDB, fetched by a secondary site', () => {
  it('ships and catalogues the dump (with its binlog position) and every closed segment', async () => {
    expect(cloud.ingestErrors).toEqual([]);
    const full = await cloud.catalogue.listArtefacts({ site: 'site-a', source: 'shop-db' });
    expect(full.items).toEqual([expect.objectContaining({ role: 'full', name: 'shop-full.sql', position: { logFile: 'mysql-bin.000001', logPos: expect.any(Number) } })]);
    const segments = await cloud.catalogue.listArtefacts({ site: 'site-a', source: 'shop-binlog' });
    expect(segments.items.filter((s) => !s.partial).map((s) => s.sequence)).toEqual([1, 2, 3, 4]);
  });

  it('plans from the secondary site: the dump, then segments 1 to 3 up to T', async () => {
    const r = await ferry(['restore', 'plan', '--site', 'site-a', '--source', 'shop-db', '--at', T, '--json', '-c', join(dir, 'site-b.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as RestorePlan;
    expect(plan.files.map((f) => f.name)).toEqual(['shop-full.sql', 'mysql-bin.000001', 'mysql-bin.000002', 'mysql-bin.000003']);
    expect(plan.logSource).toBe('shop-binlog');
  });

  it('fetches, applies the plan to a fresh server, and gets exactly the state at T', async () => {
    const to = join(dir, 'restore');
    const fetched = await ferry(['restore', 'fetch', '--site', 'site-a', '--source', 'shop-db', '--at', T, '--to', to, '-c', join(dir, 'site-b.yaml')]);
    expect(fetched.stderr).toBe('');
    expect(fetched.code).toBe(0);
    expect(fetched.stdout).toMatch(/every file verified against its SHA-256/);

    fresh = await startMariaDb();
    // The operator's machine is not in UTC: the plan's TZ=UTC must keep --stop-datetime right.
    const env = {
      ...fresh.env,
      TZ: 'Asia/Kolkata',
      MARIADB: [findMariaDbTool('mariadb'), ...fresh.clientArgs()].join(' '),
      MARIADB_BINLOG: `${findMariaDbTool('mariadb-binlog')} --no-defaults`,
    };
    const applied = await run('bash', [join(to, 'apply.sh')], env);
    expect(applied.stderr).toMatch(/restore plan applied/);
    expect(applied.code).toBe(0);
    expect(stateAtT).toEqual([
      ['2', 'bolt', '20'],
      ['3', 'cable', '3'],
      ['4', 'drill', '4'],
      ['10', 'after-dump', '10'],
    ]);
    expect(await rows(fresh)).toEqual(stateAtT);
    expect(readFileSync(join(to, 'apply.sh'), 'utf8')).toMatch(/TZ=UTC \$MARIADB_BINLOG --start-position=\d+ --stop-datetime='[\d-]+ [\d:]+' \$\{STOP_POSITION:\+--stop-position=\$STOP_POSITION\} "\$\{segments\[@\]\}" \| \$MARIADB/);
    expect(readFileSync(join(to, 'apply.sh'), 'utf8')).toContain('segments=(mysql-bin.000001 mysql-bin.000002 mysql-bin.000003)');
  }, 120_000);
});

describe('a DELETE without WHERE in the same second as the rows before it', () => {
  it('STOP_POSITION=N ./apply.sh replays up to the DELETE\'s own event: the row written in its second is back, the DELETE and what followed are not', async () => {
    // The operator fetches with T a second after the DELETE's, so the segment holding it is fetched whole.
    const to = join(dir, 'restore-position');
    const at = new Date((deleteSecond + 1) * 1000).toISOString();
    const fetched = await ferry(['restore', 'fetch', '--site', 'site-a', '--source', 'shop-db', '--at', at, '--to', to, '-c', join(dir, 'site-b.yaml')]);
    expect(fetched.code, fetched.stderr).toBe(0);
    const script = readFileSync(join(to, 'apply.sh'), 'utf8');
    expect(script).toMatch(/^segments=\(mysql-bin.000001 .* mysql-bin.000004\)$/m);
    // Where the DELETE's transaction starts, as the operator reads it: the `# at N` above its GTID event.
    const listing = (await run(findMariaDbTool('mariadb-binlog'), ['--no-defaults', join(to, 'mysql-bin.000004')])).stdout;
    const before = listing.slice(0, listing.search(/^DELETE FROM shop\.orders$/m));
    const position = Number([...before.slice(0, before.lastIndexOf(' GTID ')).matchAll(/^# at (\d+)$/gm)].at(-1)![1]);
    expect(position).toBeGreaterThan(4);

    second = await startMariaDb();
    const env = { ...second.env, FERRY_APPLY_YES: '1', MARIADB: [findMariaDbTool('mariadb'), ...second.clientArgs()].join(' '), MARIADB_BINLOG: `${findMariaDbTool('mariadb-binlog')} --no-defaults` };
    const refused = await run('bash', [join(to, 'apply.sh')], { ...env, STOP_POSITION: '12ab' });
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain('apply.sh: STOP_POSITION=12ab is not a position in mysql-bin.000004 from byte 4 on');
    expect(refused.stderr).not.toContain('loading the full backup');

    const applied = await run('bash', [join(to, 'apply.sh')], { ...env, STOP_POSITION: String(position) });
    expect(applied.stderr).toContain(`the replay stops before byte ${position} of mysql-bin.000004 (STOP_POSITION)`);
    expect(applied.stderr).toMatch(/restore plan applied/);
    expect(applied.code).toBe(0);
    expect(await rows(second)).toEqual([
      ['2', 'bolt', '20'],
      ['4', 'drill', '40'],
      ['5', 'epoxy', '5'],
      ['6', 'fuse', '6'],
      ['7', 'gauge', '7'],
      ['10', 'after-dump', '10'],
    ]);
  }, 120_000);
});
