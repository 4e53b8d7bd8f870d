import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// A real MariaDB whose binlog numbering restarts (RESET MASTER): the catalogue then holds two
// segments named mysql-bin.000001, two named 000002. A restore to a time of the first run must
// replay the first run's segments, one of the second run the second's; and the agent records
// the first run's segment that never closed offsite as lost.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let cloud: LocalCloud;
let db: MariaDb | undefined;
const fresh: MariaDb[] = [];
const T: Record<'first' | 'second', string> = { first: '', second: '' };
const stateAt: Record<'first' | 'second', string[][]> = { first: [], second: [] };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
const ferry = (args: string[]) => run(process.execPath, [BIN, ...args], { ...process.env, FERRY_HOME: join(dir, 'home') });
const rows = (m: MariaDb) => m.query('SELECT id, item FROM shop.orders ORDER BY id');
let agentConfig: ReturnType<typeof parseAgentConfig>;
let lostByRestart: number;

async function ship(passes = 2): Promise<number> {
  const agent = buildAgent(agentConfig, { log: silentLogger });
  let lost = 0;
  try {
    for (let i = 0; i < passes; i++) lost += (await agent.cycle()).lost;
  } finally {
    agent.close();
  }
  await cloud.drain();
  return lost;
}

/** A moment between two writes, a second from each (binlog times are whole seconds), and the rows then. */
async function markT(which: 'first' | 'second'): Promise<void> {
  await sleep(1200);
  T[which] = new Date().toISOString();
  stateAt[which] = await rows(db!);
  await sleep(1200);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-reset-'));
  const dumps = join(dir, 'dumps');
  mkdirSync(dumps);
  [cloud, db] = await Promise.all([startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['site-a', 'site-b'] }), startMariaDb()]);
  agentConfig = parseAgentConfig(shopSiteConfig({ dir, cloudYaml: agentCloudYaml(cloud, 'site-a'), dumps, datadir: db.datadir, partialIntervalSeconds: 1 }));
  const dump = async (name: string) => writeFileSync(join(dumps, name), await db!.run('mariadb-dump', [...db!.clientArgs(), '--single-transaction', '--master-data=2', '--databases', 'shop']));

  // The first run: a full from 000001, writes in 000002 around T.first, 000003 shipped only as a partial.
  await db.exec("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(40)) ENGINE=InnoDB; INSERT INTO shop.orders VALUES (1, 'one');");
  await dump('first-full.sql');
  await db.exec("INSERT INTO shop.orders VALUES (2, 'two');");
  await db.flushBinaryLogs();
  await db.exec("INSERT INTO shop.orders VALUES (3, 'three');");
  await markT('first');
  await db.exec("INSERT INTO shop.orders VALUES (4, 'four');");
  await db.flushBinaryLogs();
  await db.exec("INSERT INTO shop.orders VALUES (5, 'five');");
  await ship();
  // A last write the agent never sees, then RESET MASTER: the second run starts at 000001 again.
  await db.exec("INSERT INTO shop.orders VALUES (6, 'six'); RESET MASTER;");
  await db.exec("INSERT INTO shop.orders VALUES (7, 'seven');");
  await db.flushBinaryLogs();
  await dump('second-full.sql');
  await db.exec("INSERT INTO shop.orders VALUES (8, 'eight');");
  await markT('second');
  await db.exec("INSERT INTO shop.orders VALUES (9, 'nine');");
  await db.flushBinaryLogs();
  await db.exec("INSERT INTO shop.orders VALUES (10, 'ten');");
  await db.flushBinaryLogs();
  lostByRestart = await ship();
  await db.stop();
  db = undefined;
  writeFileSync(join(dir, 'site-b.yaml'), `site: site-b\nstate: ${join(dir, 'state-b')}\ncloud: ${principalCloudYaml(cloud, 'dr:site-a', { api: cloud.apiUrl })}\n`);
}, 180_000);

afterAll(async () => {
  await Promise.all([db?.stop(), ...fresh.map((f) => f.stop()), cloud?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function restoreAt(which: 'first' | 'second'): Promise<{ plan: RestorePlan; rows: string[][] }> {
  const planned = await ferry(['restore', 'plan', '--site', 'site-a', '--source', 'shop-db', '--at', T[which], '--json', '-c', join(dir, 'site-b.yaml')]);
  expect(planned.stderr).toBe('');
  const to = join(dir, `restore-${which}`);
  const fetched = await ferry(['restore', 'fetch', '--site', 'site-a', '--source', 'shop-db', '--at', T[which], '--to', to, '-c', join(dir, 'site-b.yaml')]);
  expect(fetched.code, fetched.stderr).toBe(0);
  const target = await startMariaDb();
  fresh.push(target);
  const env = { ...target.env, MARIADB: [findMariaDbTool('mariadb'), ...target.clientArgs()].join(' '), MARIADB_BINLOG: `${findMariaDbTool('mariadb-binlog')} --no-defaults` };
  const applied = await run('bash', [join(to, 'apply.sh')], env);
  expect(applied.code, applied.stderr).toBe(0);
  return { plan: JSON.parse(planned.stdout) as RestorePlan, rows: await rows(target) };
}

describe('a real MariaDB whose binlog numbering restarted (RESET MASTER)', () => {
  it('holds two segments under one name offsite, and the agent recorded the first run\'s unclosed segment lost', async () => {
    const segments = (await cloud.catalogue.listArtefacts({ site: 'site-a', source: 'shop-binlog' })).items.filter((s) => !s.partial);
    expect(segments.filter((s) => s.name === 'mysql-bin.000001')).toHaveLength(2);
    expect(lostByRestart).toBe(1);
  });

  it('restores a time of the first run from the first full and the first run\'s segments, exactly', async () => {
    const { plan, rows: got } = await restoreAt('first');
    expect(plan.full.name).toBe('first-full.sql');
    expect(plan.segments.every((s) => s.span!.to < T.second)).toBe(true);
    expect(got).toEqual(stateAt.first);
    expect(got.map((r) => r[0])).toEqual(['1', '2', '3']);
  });

  it('restores a time of the second run from the second full and the second run\'s segments, exactly', async () => {
    const { plan, rows: got } = await restoreAt('second');
    expect(plan.full.name).toBe('second-full.sql');
    expect(plan.segments.every((s) => s.span!.from > T.first)).toBe(true);
    expect(got).toEqual(stateAt.second);
    expect(got.map((r) => r[0])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
  });
});
