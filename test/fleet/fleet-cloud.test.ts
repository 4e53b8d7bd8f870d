import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent, buildStore } from '../../cli/build-agent.ts';
import { main } from '../../cli/main.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { heartbeatPrefix, type FleetRow } from '../../core/fleet.ts';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { generateBatches } from '../../scripts/demo/site.ts';
import { Agent } from '../../agent/agent.ts';
import { heartbeatMemoryFile, type HeartbeatMemory } from '../../agent/heartbeat-memory.ts';
import { ManualClock } from '../../core/clock.ts';
import type { AgentConfig } from '../../core/config.ts';
import { cycleOnce } from '../support/agent-cycle.ts';
import { restoreEnv } from '../support/env.ts';

// The heartbeat for real: the agent of site-a ships to the local S3 with the real SDK, its
// heartbeat lands under heartbeats/site-a/, and `ferry fleet status --json` reads the fleet back
// from the stand-ins. (That the site's write-once role allows exactly this key is asserted on
// the synthesized statements in fleet.test.ts; a full IAM-gateway start costs ~50 s here.)

const dirs: string[] = [];
const clouds: LocalCloud[] = [];
afterAll(async () => {
  await Promise.all(clouds.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('heartbeats in the local S3, read by `ferry fleet status`', () => {
  it('lists site-a OK with its last good pack and site-b, which never reported, SILENT first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-'));
    dirs.push(dir);
    const cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
    clouds.push(cloud);
    const root = join(dir, 'recorder');
    await generateBatches({ root, firstBatch: 1, batches: 2, perBatch: 5, seconds: 1, start: new Date('2024-03-01T08:00:00Z'), seed: 3, sidecar: 'xml' });
    const { accessKeyId, secretAccessKey } = cloud.credentials;
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.s3Endpoint}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
    const { report, logged } = await cycleOnce(config);
    expect(report.packs).toBeGreaterThan(0);
    expect(logged).not.toContain('heartbeat not written');
    const keys: string[] = [];
    for await (const o of cloud.blobs.list(heartbeatPrefix('site-a'))) keys.push(o.key);
    expect(keys).toHaveLength(1);
    // The day's first heartbeat is kept under heartbeats-daily/ too (for a site silent past the 31 days heartbeats are kept).
    const daily: string[] = [];
    for await (const o of cloud.blobs.list(heartbeatPrefix('site-a', 'heartbeats-daily'))) daily.push(o.key);
    expect(daily).toEqual([keys[0]!.replace(/^heartbeats\//, 'heartbeats-daily/')]);

    const deployment = join(dir, 'deployment.json');
    writeFileSync(deployment, JSON.stringify({ sites: [{ name: 'site-a', retentionDays: 730 }, { name: 'site-b', retentionDays: 730, silentAfterMinutes: 30 }] }));
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    const env = { ...process.env };
    Object.assign(process.env, { FERRY_BUCKET: cloud.bucket, FERRY_TABLE: cloud.table, AWS_ENDPOINT_URL_S3: cloud.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint, AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey, AWS_REGION: cloud.region });
    let code: number;
    try {
      code = await main(['fleet', 'status', '--json', '--deployment', deployment]);
    } finally {
      write.mockRestore();
      restoreEnv(env);
      process.exitCode = undefined;
    }
    expect(code).toBe(3);
    const rows = JSON.parse(out.join('')) as FleetRow[];
    expect(rows.map((r) => `${r.site}:${r.state}`)).toEqual(['site-b:SILENT', 'site-a:OK']);
    expect(rows[0]).toMatchObject({ silentAfterMinutes: 30, reasons: ['no heartbeat received yet'] });
    expect(rows[1]!.sources).toEqual([expect.objectContaining({ name: 'contactstore', type: 'recordings', pendingBatches: 0, lastGood: expect.objectContaining({ key: expect.stringMatching(/^manifests\/site-a\/recordings\/.*\.json$/) }) })]);
  }, 60_000);

  it("reads the running local cloud's own site (what its GET /fleet reads), not the demo deployment's site-a and site-b, when no deployment is named", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-local-'));
    dirs.push(dir);
    const home = join(dir, 'home');
    const cloud = await startLocalCloud({ directory: join(home, 'cloud'), fresh: true, addressFile: join(home, 'cloud.json') });
    clouds.push(cloud);
    const root = join(dir, 'recorder');
    await generateBatches({ root, firstBatch: 1, batches: 1, perBatch: 5, seconds: 1, start: new Date('2024-03-01T08:00:00Z'), seed: 4, sidecar: 'xml' });
    const { accessKeyId, secretAccessKey } = cloud.credentials;
    const agent = buildAgent(parseAgentConfig(`
site: demo
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.s3Endpoint}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`), { log: createLogger({ json: true, level: 'error', write: () => undefined }) });
    try {
      expect((await agent.cycle()).packs).toBeGreaterThan(0);
    } finally {
      agent.close();
    }

    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    const env = { ...process.env };
    for (const name of ['FERRY_BUCKET', 'FERRY_TABLE', 'FERRY_DEPLOYMENT']) delete process.env[name];
    process.env.FERRY_HOME = home;
    let code: number;
    try {
      code = await main(['fleet', 'status', '--json']);
    } finally {
      write.mockRestore();
      restoreEnv(env);
      process.exitCode = undefined;
    }
    const rows = JSON.parse(out.join('')) as FleetRow[];
    expect(rows.map((r) => `${r.site}:${r.state}`)).toEqual(['demo:OK']);
    expect(code).toBe(0);
  }, 120_000);

  it("says per site whether its scheduled purge ran (last ran, MISSED since, not scheduled), from the purge's run records and the dead-man's switch's memory on the table, in text and in --json", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-purge-'));
    dirs.push(dir);
    const cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
    clouds.push(cloud);
    const { doc, client } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      // What the purge and the switch write: weekly's Sunday purge ran; the switch holds late's missed.
      await new DynamoPurgeRunStore(doc, cloud.table).putPurgeRun({ site: 'weekly', startedAt: '2026-11-29T05:00:03.000Z', execution: 'arn:aws:states:eu-west-2:111122223333:execution:purge-weekly:e1' });
      await new DynamoPurgeWatchStore(doc, cloud.table).putPurgeWatch({ site: 'late', cron: '0 6 ? * SUN *', since: '2026-11-01T00:00:00.000Z', alertedDue: '2026-11-29T06:00:00.000Z' });
    } finally {
      client.destroy();
    }
    const deployment = join(dir, 'deployment.json');
    const schedule = (purgeCron: string) => ({ backupCron: '0 2 * * ? *', purgeCron });
    writeFileSync(deployment, JSON.stringify({ sites: [{ name: 'weekly', retentionDays: 730, schedule: schedule('0 5 ? * SUN *') }, { name: 'late', retentionDays: 730, schedule: schedule('0 6 ? * SUN *') }, { name: 'manual', retentionDays: 730 }] }));
    const env = { ...process.env };
    Object.assign(process.env, { FERRY_BUCKET: cloud.bucket, FERRY_TABLE: cloud.table, AWS_ENDPOINT_URL_S3: cloud.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint, AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey, AWS_REGION: cloud.region });
    const status = async (...args: string[]) => {
      const out: string[] = [];
      const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
      try {
        await main(['fleet', 'status', '--deployment', deployment, ...args]);
      } finally {
        write.mockRestore();
        process.exitCode = undefined;
      }
      return out.join('');
    };
    let text: string;
    let rows: FleetRow[];
    try {
      text = await status();
      rows = JSON.parse(await status('--json')) as FleetRow[];
    } finally {
      restoreEnv(env);
    }
    // Each site's block (its first line starts with the state) holds its purge line.
    const blockOf = (site: string) => text.split(/\n(?=\S)/).find((b) => b.split('\n')[0]!.includes(` ${site}  `)) ?? '';
    expect(blockOf('weekly')).toContain('\n          purge: last ran 2026-11-29 05:00 UTC (no report yet) (schedule cron(0 5 ? * SUN *))\n');
    expect(blockOf('late')).toContain('\n          purge: MISSED since 2026-11-29 06:00 UTC (never ran (none on record); schedule cron(0 6 ? * SUN *))\n');
    expect(blockOf('late')).toContain('\n          ! the scheduled purge due 2026-11-29T06:00:00.000Z did not run (purge-missed alert open): retention is not being enforced');
    expect(blockOf('manual')).toContain('\n          purge: not scheduled\n');
    const bySite = Object.fromEntries(rows.map((r) => [r.site, r.purge]));
    expect(bySite).toEqual({
      weekly: { cron: '0 5 ? * SUN *', lastRun: { startedAt: '2026-11-29T05:00:03.000Z', execution: 'arn:aws:states:eu-west-2:111122223333:execution:purge-weekly:e1' } },
      late: { cron: '0 6 ? * SUN *', missedSince: '2026-11-29T06:00:00.000Z' },
      manual: {},
    });
  }, 60_000);

  it('names on the site\'s row, in text and in --json, the old primary that came back with its pre-failover state directory and was refused, from the record its pass left in the local S3; the row\'s heartbeat stays the standby\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-refused-'));
    dirs.push(dir);
    const cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
    clouds.push(cloud);
    const { accessKeyId, secretAccessKey } = cloud.credentials;
    const hostConfig = async (name: string, seed: number) => {
      const root = join(dir, name, 'recorder');
      await generateBatches({ root, firstBatch: seed, batches: 1, perBatch: 3, seconds: 1, start: new Date('2024-03-01T08:00:00Z'), seed, sidecar: 'xml' });
      // Recorded three days ago: settled before the passes' clock, which runs a day behind the real one.
      const recorded = new Date(Date.now() - 3 * 86_400_000);
      for (const entry of readdirSync(root, { recursive: true })) utimesSync(join(root, String(entry)), recorded, recorded);
      return parseAgentConfig(`
site: site-a
state: ${join(dir, name, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.s3Endpoint}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
    };
    const [primary, standby] = [await hostConfig('primary', 1), await hostConfig('standby', 20)];
    // The passes' times are a manual clock's, the fleet reads at the real now: the primary ships a day ago, the standby from two hours later on.
    const clock = new ManualClock(new Date(Date.now() - 26 * 3600_000));
    const pass = async (config: AgentConfig) => {
      const agent = new Agent({ config, store: buildStore(config).store, clock, log: createLogger({ json: true, level: 'error', write: () => undefined }), notifier: { notify: async () => undefined }, verify: 'read-back' });
      try {
        return await agent.cycle();
      } finally {
        agent.close();
      }
    };
    expect((await pass(primary)).packs).toBe(1);
    clock.set(new Date(Date.now() - 24 * 3600_000));
    expect((await pass(standby)).packs).toBe(1);
    clock.set(new Date(Date.now() - 10 * 60_000));
    await pass(standby);
    const standbyLast = clock.now().toISOString();
    clock.set(new Date(Date.now() - 5 * 60_000));
    expect(await pass(primary)).toMatchObject({ packs: 0, failed: 1 });
    const standbyId = (JSON.parse(readFileSync(heartbeatMemoryFile(standby.state), 'utf8')) as HeartbeatMemory).agentId!;
    const primaryId = (JSON.parse(readFileSync(heartbeatMemoryFile(primary.state), 'utf8')) as HeartbeatMemory).agentId!;

    const deployment = join(dir, 'deployment.json');
    writeFileSync(deployment, JSON.stringify({ sites: [{ name: 'site-a', retentionDays: 730 }] }));
    const env = { ...process.env };
    Object.assign(process.env, { FERRY_BUCKET: cloud.bucket, FERRY_TABLE: cloud.table, AWS_ENDPOINT_URL_S3: cloud.s3Endpoint, AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint, AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey, AWS_REGION: cloud.region });
    const status = async (...args: string[]) => {
      const out: string[] = [];
      const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
      try {
        await main(['fleet', 'status', '--deployment', deployment, ...args]);
      } finally {
        write.mockRestore();
        process.exitCode = undefined;
      }
      return out.join('');
    };
    let text: string;
    let rows: FleetRow[];
    try {
      text = await status();
      rows = JSON.parse(await status('--json')) as FleetRow[];
    } finally {
      restoreEnv(env);
    }
    // Both hosts of this test are this machine: the standby is another agent on a host of the same name.
    const line = `critical: the agent on ${hostname()} (id ${primaryId}) came back with the state directory it had before `;
    expect(rows).toEqual([expect.objectContaining({ site: 'site-a', state: 'WARN', refusedAgents: [expect.objectContaining({ agent: { id: primaryId, host: hostname(), state: primary.state } })] })]);
    expect(rows[0]!.reasons).toEqual([expect.stringContaining(line)]);
    expect(rows[0]!.reasons[0]).toContain(`while another agent (id ${standbyId}) on a host also named ${hostname()} ships the site since`);
    expect(text).toContain(`          ! ${line}`);
    expect(rows[0]!.lastHeartbeat).toBe(standbyLast);
  }, 60_000);
});
