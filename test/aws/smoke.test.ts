import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { InvokeCommand, LambdaClient, paginateListFunctions } from '@aws-sdk/client-lambda';
import { generateBatches, type GeneratedRecording } from '../../scripts/demo/site.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';
import { writeAt } from '../support/artefact-agent.ts';
import {
  agentConfigYaml,
  awsConfigFile,
  credentialsFileFromEnv,
  ENV_SOURCE_PROFILE,
  purgeFunctionName,
  purgePlanEvent,
  rangeOf,
  readStackOutputs,
  roleEnv,
  smokeGate,
  type SmokeRole,
  type SmokeTargets,
} from './smoke-config.ts';

// Real-AWS smoke: the product's own CLI, as each site principal would run it, against a deployed
// stack. It covers what the local cloud cannot enforce (docs/parity.md): real IAM and KMS, S3
// Object Lock and checksums, Lambda Function URLs, Step Functions activities. Skipped, visibly,
// unless FERRY_AWS_SMOKE=1, credentials and FERRY_STACK_OUTPUTS are set (docs/deploy.md).
// It adds one small pack and three backup files under the site's prefixes; they stay until the
// site's purge takes them (Object Lock keeps them at least the lock days).

const gate = smokeGate(process.env);
const root = fileURLToPath(new URL('../..', import.meta.url));
const ferryBin = join(root, 'bin', 'ferry.mjs');
const run = promisify(execFile);

let t: SmokeTargets;
let dir: string;
let files: { config: string; credentials?: string; home: string };
let recordings: GeneratedRecording[];
let full: Buffer;
let restoreAt: string;
let agentConfig: string;

const envOf = (role: SmokeRole) => roleEnv(process.env, role, files, t);
const searchArgs = (callId: string) => ['calls', 'search', '--site', t.site, '--call-id', callId, '--json'];

async function ferry(role: SmokeRole, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [ferryBin, ...args], { cwd: root, env: envOf(role), maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`ferry ${args.join(' ')} (as ${role}) failed: ${e.stderr || e.stdout || e.message}`);
  }
}

async function eventually<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 3000));
  }
}

/** A full backup, then two closed binlog segments around it and an open one, with past times. */
function writeDatabase(database: string, now: number): void {
  mkdirSync(database, { recursive: true });
  const s = Math.floor(now / 1000);
  const seg = (n: number) => `mysql-bin.${String(n).padStart(6, '0')}`;
  const starts = [s - 2400, s - 1200, s - 600];
  full = Buffer.from(`-- ferry smoke full backup ${new Date(now).toISOString()}\n`.repeat(200));
  writeAt(join(database, 'full-1.sql'), full, new Date((s - 1800) * 1000));
  starts.forEach((start, i) => {
    const events = [1, 2, 3].map((k) => ({ ts: start + 60 * k }));
    const last = i < 2 ? starts[i + 1]! : start + 200;
    const bytes = binlogSegment({ startTs: start, events, ...(i < 2 ? { rotateTo: { name: seg(i + 2), ts: last } } : { inUse: true }) });
    writeAt(join(database, seg(i + 1)), bytes, new Date(last * 1000));
  });
  restoreAt = new Date((s - 900) * 1000).toISOString();
}

function writeProfiles(): void {
  const credentials = credentialsFileFromEnv(process.env);
  const userConfig = process.env.AWS_CONFIG_FILE ?? join(homedir(), '.aws', 'config');
  const base = credentials || !existsSync(userConfig) ? '' : readFileSync(userConfig, 'utf8');
  files = { config: join(dir, 'aws-config'), home: join(dir, 'ferry-home') };
  if (credentials) {
    files.credentials = join(dir, 'aws-credentials');
    writeFileSync(files.credentials, credentials, { mode: 0o600 });
  }
  writeFileSync(files.config, awsConfigFile(base, t, credentials ? ENV_SOURCE_PROFILE : process.env.AWS_PROFILE!), { mode: 0o600 });
}

describe.skipIf(!gate.enabled)(gate.title, () => {
  beforeAll(async () => {
    t = readStackOutputs(JSON.parse(readFileSync(process.env.FERRY_STACK_OUTPUTS!, 'utf8')), process.env.FERRY_SMOKE_SITE ?? 'site-a');
    dir = mkdtempSync(join(tmpdir(), 'ferry-aws-smoke-'));
    writeProfiles();
    const now = Date.now();
    const paths = { state: join(dir, 'state'), recordings: join(dir, 'recorder'), database: join(dir, 'db') };
    // A fresh seed and start each run: the bucket refuses to overwrite what an earlier run published.
    const start = new Date(now - 3600_000);
    const batch = { firstBatch: 1, batches: 1, perBatch: 5, seconds: 2, start, seed: now % 1e9, sidecar: 'xml' as const };
    recordings = await generateBatches({ root: paths.recordings, ...batch });
    writeDatabase(paths.database, now);
    agentConfig = join(dir, 'agent.yaml');
    writeFileSync(agentConfig, agentConfigYaml(t, paths, false));
    // The same state: the window's agent knows what the first pass shipped.
    writeFileSync(join(dir, 'agent-window.yaml'), agentConfigYaml(t, paths, true));
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes `ferry agent check` as the site agent role (AWS decides its probes by policy before it refuses their bodies: nothing stored)", async () => {
    expect(await ferry('agent', ['agent', 'check', '--config', agentConfig])).toContain("store: it answers and takes this agent's credentials");
  }, 120_000);

  it('ships one batch of recordings and the database files with `ferry agent run --once` as the site agent role', async () => {
    // A pass with a failed or lost item exits non-zero, and `ferry` then throws with its log.
    await expect(ferry('agent', ['agent', 'run', '--once', '--json-logs', '-c', agentConfig])).resolves.toBeTypeOf('string');
  }, 300_000);

  it('finds the shipped call with `ferry calls search` as the site officer', async () => {
    const callId = recordings[0]!.metadata.callId;
    const found = await eventually('catalogue entry after ingest', 120, async () => {
      const items = JSON.parse(await ferry('officer', searchArgs(callId))) as { rid: string }[];
      return items.length ? items : undefined;
    });
    expect(found).toHaveLength(1);
  }, 180_000);

  it('replays a byte range of that call through a presigned `ferry calls link`, byte-identical to the original', async () => {
    const rec = recordings[0]!;
    const [entry] = JSON.parse(await ferry('officer', searchArgs(rec.metadata.callId))) as { rid: string }[];
    const link = (await ferry('officer', ['calls', 'link', `${t.site}/${entry!.rid}`, '--expires', '120'])).trim();
    expect(link).toMatch(/^https:\/\/.*X-Amz-Signature=/);
    const original = readFileSync(join(dir, 'recorder', rec.relativePath));
    const range = rangeOf(44, 1000);
    const res = await fetch(link, { headers: { Range: range.header } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${range.start}-${range.end - 1}/${original.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(original.subarray(range.start, range.end))).toBe(true);
  }, 120_000);

  it("runs an on-demand backup window through the site's activity and records it FULL", async () => {
    const agent: ChildProcess = spawn(process.execPath, [ferryBin, 'agent', 'run', '--json-logs', '-c', join(dir, 'agent-window.yaml')], {
      cwd: root,
      env: envOf('agent'),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    agent.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    try {
      const sfn = new SFNClient({ region: t.region });
      const start = { stateMachineArn: t.windowStateMachineArn, name: `smoke-${Date.now()}`, input: '{"onDemand":true}' };
      const started = await sfn.send(new StartExecutionCommand(start));
      const done = await eventually('backup window execution', 600, async () => {
        const d = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
        return d.status === 'RUNNING' || d.status === 'PENDING_REDRIVE' ? undefined : d;
      });
      const output = JSON.parse(done.output ?? '{}') as { record?: { outcome?: string; reasons?: string[] } };
      const agentLog = done.status === 'SUCCEEDED' ? '' : log;
      const seen = { status: done.status, outcome: output.record?.outcome, reasons: output.record?.reasons, agentLog };
      expect(seen).toMatchObject({ status: 'SUCCEEDED', outcome: 'FULL' });
    } finally {
      agent.kill('SIGTERM');
    }
  }, 700_000);

  it('plans a purge of the site without deleting anything (the purge function’s plan step)', async () => {
    const lambda = new LambdaClient({ region: t.region });
    const names: string[] = [];
    for await (const page of paginateListFunctions({ client: lambda }, {})) {
      names.push(...(page.Functions ?? []).map((f) => f.FunctionName!));
    }
    const fn = purgeFunctionName(names, t.stackPrefix);
    const payload = Buffer.from(JSON.stringify(purgePlanEvent(t.site, 36_500)));
    const res = await lambda.send(new InvokeCommand({ FunctionName: fn, Payload: payload }));
    const body = JSON.parse(Buffer.from(res.Payload ?? []).toString('utf8')) as { summary?: { packs: number } };
    expect({ error: res.FunctionError, body }).toMatchObject({ error: undefined, body: { summary: { packs: 0 } } });
  }, 120_000);

  it('plans and fetches a point-in-time restore with `ferry restore` as the DR role, the full backup byte-identical', async () => {
    const args = ['--site', t.site, '--source', 'db', '--log-source', 'binlog', '--at', restoreAt, '--json'];
    const plan = JSON.parse(await ferry('dr', ['restore', 'plan', ...args])) as { ok: boolean };
    expect(plan.ok).toBe(true);
    const to = join(dir, 'restore');
    const report = JSON.parse(await ferry('dr', ['restore', 'fetch', ...args, '--to', to])) as { dir: string; files: { name: string }[] };
    const names = report.files.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['full-1.sql', 'mysql-bin.000001', 'mysql-bin.000002']));
    expect(readFileSync(join(report.dir, 'full-1.sql')).equals(full)).toBe(true);
  }, 300_000);
});
