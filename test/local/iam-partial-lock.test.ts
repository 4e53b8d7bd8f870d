import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectRetentionCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';
import { agentCloudYaml, startTestCloud } from '../support/local-cloud.ts';

// A binlog partial is written with the short lock of binlogs.partialLockDays (2 by default), in
// the bucket's mode, and only a partial: the agent's real SDK PutObject through the IAM gateway,
// decided by the policies the CDK app synthesizes, stored by the S3 stand-in with its Object
// Lock, read back with GetObjectRetention. The same agent key asking for a longer lock on a
// partial, any lock on another of its objects, or another mode is refused (AccessDenied).

const SITE = 'demo'; // the generated deployment's site: no synth of its own
const DAY = 86_400_000;
const dirs: string[] = [];
let cloud: LocalCloud;
let admin: S3Client;
let agentS3: S3Client;

afterAll(async () => {
  await cloud?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function writeSegments(root: string): void {
  mkdirSync(root, { recursive: true });
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const closed = binlogSegment({ startTs: t0, events: [{ ts: t0 + 10 }, { ts: t0 + 20 }], rotateTo: { name: 'mysql-bin.000002', ts: t0 + 30 } });
  const active = binlogSegment({ startTs: t0 + 30, events: [{ ts: t0 + 40 }, { ts: t0 + 50 }], inUse: true });
  writeFileSync(join(root, 'mysql-bin.000001'), closed);
  utimesSync(join(root, 'mysql-bin.000001'), new Date((t0 + 30) * 1000), new Date((t0 + 30) * 1000));
  writeFileSync(join(root, 'mysql-bin.000002'), active);
  writeFileSync(join(root, 'mysql-bin.index'), './mysql-bin.000001\n./mysql-bin.000002\n');
}

/** One pass of a real agent over a closed and an open segment (binlog source `name`, more source settings in `extra`); returns its log lines. */
async function shipBinlogs(dir: string, name: string, extra = ''): Promise<string[]> {
  const root = join(dir, 'binlogs');
  writeSegments(root);
  const config = parseAgentConfig(`
site: ${SITE}
state: ${join(dir, 'state')}
cloud: ${agentCloudYaml(cloud, SITE)}
shipping: { attempts: 1 }
sources:
  - { name: ${name}, type: binlog, path: ${root}, basename: mysql-bin, partialIntervalSeconds: 300${extra} }
`);
  const logged: string[] = [];
  const agent = buildAgent(config, { log: createLogger({ json: true, level: 'info', write: (line) => logged.push(line) }) });
  try {
    expect(await agent.cycle(), logged.join('\n')).toMatchObject({ artefacts: 2, failed: 0 });
  } finally {
    agent.close();
  }
  return logged;
}

/** Days from now until the object's retention ends, and its mode. */
async function retentionOf(key: string): Promise<{ mode?: string; days: number }> {
  const { Retention } = await admin.send(new GetObjectRetentionCommand({ Bucket: cloud.bucket, Key: key }));
  return { mode: Retention?.Mode, days: (Retention!.RetainUntilDate!.getTime() - Date.now()) / DAY };
}

/** The agent key's own PutObject with an explicit lock: undefined when stored, else the error's name. */
async function putLocked(key: string, days: number, mode: 'GOVERNANCE' | 'COMPLIANCE' = 'GOVERNANCE'): Promise<string | undefined> {
  const body = Buffer.from(`probe ${key}`);
  try {
    await agentS3.send(
      new PutObjectCommand({
        Bucket: cloud.bucket,
        Key: key,
        Body: body,
        IfNoneMatch: '*',
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ObjectLockMode: mode,
        ObjectLockRetainUntilDate: new Date(Date.now() + days * DAY - 3_600_000),
      }),
    );
    return undefined;
  } catch (error) {
    return (error as Error).name;
  }
}

describe('the short lock of binlog partials, through the IAM gateway', () => {
  let published: { key: string; manifestKey: string; partial: boolean }[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-partial-lock-'));
    dirs.push(dir);
    cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
    admin = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
    agentS3 = createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials: cloud.iam!.credentialsOf(`agent:${SITE}`) });
    await shipBinlogs(dir, 'db');
    await cloud.drain();
    const keys = async (prefix: string) => {
      const out: string[] = [];
      for await (const info of cloud.blobs.list(prefix)) out.push(info.key);
      return out;
    };
    const objects = await keys(`logs/${SITE}/db/`);
    const manifests = await keys(`manifests/${SITE}/logs/db/`);
    const isPartial = (k: string) => k.includes('/partial/');
    published = [true, false].map((partial) => ({ key: objects.find((k) => isPartial(k) === partial)!, manifestKey: manifests.find((k) => isPartial(k) === partial)!, partial }));
  }, 180_000);

  it("writes the partial and its manifest with the agent's 2-day lock in the bucket's mode, the closed segment with the bucket's 30 days", async () => {
    const partial = published.find((p) => p.partial)!;
    const final = published.find((p) => !p.partial)!;
    expect(partial.key).toMatch(new RegExp(`^logs/${SITE}/db/partial/`));
    expect(partial.manifestKey).toMatch(new RegExp(`^manifests/${SITE}/logs/db/partial/a[0-9a-f]{23}\\.json$`));
    for (const key of [partial.key, partial.manifestKey]) {
      const r = await retentionOf(key);
      expect(r.mode, key).toBe('GOVERNANCE');
      expect(r.days, key).toBeGreaterThan(1.9);
      expect(r.days, key).toBeLessThanOrEqual(2);
    }
    for (const key of [final.key, final.manifestKey]) expect((await retentionOf(key)).days, key).toBeGreaterThan(29.9);
    expect(cloud.ingestErrors).toEqual([]);
  });

  it('refuses the agent key a partial lock longer than binlogs.partialLockDays, or in another mode than the bucket', async () => {
    expect(await putLocked(`logs/${SITE}/db/partial/2026/01/01/a00000000000000000000001-mysql-bin.000009`, 2)).toBeUndefined();
    expect(await putLocked(`logs/${SITE}/db/partial/2026/01/01/a00000000000000000000002-mysql-bin.000009`, 3)).toBe('AccessDenied');
    expect(await putLocked(`logs/${SITE}/db/partial/2026/01/01/a00000000000000000000003-mysql-bin.000009`, 365)).toBe('AccessDenied');
    expect(await putLocked(`logs/${SITE}/db/partial/2026/01/01/a00000000000000000000004-mysql-bin.000009`, 1, 'COMPLIANCE')).toBe('AccessDenied');
  });

  it("publishes the partial under the bucket's lock, with a warning naming the setting, when the deployment refuses the agent's own (partialLockDays set higher on the agent than in the stack, or an agent upgraded first)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-partial-lock-refused-'));
    dirs.push(dir);
    const logged = await shipBinlogs(dir, 'db2', ', partialLockDays: 5');
    const warned = logged.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn' && /refused this partial's own short lock/.test(l.msg));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.msg).toMatch(/binlogs\.partialLockDays/);
    const partials: string[] = [];
    for await (const info of cloud.blobs.list(`logs/${SITE}/db2/partial/`)) partials.push(info.key);
    for await (const info of cloud.blobs.list(`manifests/${SITE}/logs/db2/partial/`)) partials.push(info.key);
    expect(partials).toHaveLength(2);
    for (const key of partials) expect((await retentionOf(key)).days, key).toBeGreaterThan(29.9);
  }, 120_000);

  it('refuses the agent key any lock of its own on an object outside the partial prefixes', async () => {
    for (const key of [
      `logs/${SITE}/db/2026/01/01/a00000000000000000000005-mysql-bin.000009`,
      `manifests/${SITE}/logs/db/a00000000000000000000005.json`,
      `backups/${SITE}/dump/2026/01/01/a00000000000000000000006-full.sql`,
      `recordings/${SITE}/2026/01/01/p1.tar`,
      `logs/other/db/partial/2026/01/01/a00000000000000000000007-mysql-bin.000009`,
    ]) {
      expect(await putLocked(key, 1), key).toBe('AccessDenied');
    }
  });
});
