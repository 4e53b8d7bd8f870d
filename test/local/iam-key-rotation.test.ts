import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// A key rotation under a pass that ships: the administrator creates the agent's new key, gives
// it to the agent, and deletes the old one while a big upload is under way with it. The parts the
// store took stay usable for the next pass, which signs with the new key: the upload is kept open
// (its record in the state directory) and gone on with, not aborted and sent again from byte 0
// (an abort the deleted key could not even make: the parts would wait for the lifecycle rule).

const SITE = 'site-a';
const MiB = 1024 * 1024;
let dir: string;
let cloud: LocalCloud;
/** Called at each request the gateway allows: the test deletes the key from there. */
let onAllowed: (checks: { action: string; resource: string }[]) => void = () => undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-rotation-'));
  const onDecision = (d: { checks: { action: string; resource: string }[]; denial?: unknown }) => void (d.denial ? undefined : onAllowed(d.checks));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE], iam: { onDecision } });
}, 180_000);
afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function agentOf(state: string, root: string, key: { accessKeyId: string; secretAccessKey: string }, logged: string[]) {
  const config = parseAgentConfig(`
site: ${SITE}
state: ${state}
cloud: { bucket: ${cloud.bucket}, endpoint: "${cloud.iam!.s3Endpoint}", credentials: { accessKeyId: ${key.accessKeyId}, secretAccessKey: "${key.secretAccessKey}" } }
shipping: { partSizeMiB: 5, partConcurrency: 1, packConcurrency: 1, attempts: 1 }
sources:
  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }
`);
  return buildAgent(config, { log: createLogger({ json: true, level: 'debug', write: (line) => logged.push(line) }) });
}

const records = (state: string) => (existsSync(join(state, 'uploads')) ? readdirSync(join(state, 'uploads')).filter((f) => f.endsWith('.json')) : []);

describe('the agent key deleted while a pass uploads a backup', () => {
  it('keeps the upload open with the parts the store took, alerts the unknown key, and the next pass with the new key goes on with it', async () => {
    const root = join(dir, 'dumps');
    const state = join(dir, 'state');
    mkdirSync(root, { recursive: true });
    const body = randomBytes(24 * MiB);
    writeFileSync(join(root, 'full-0001.bak'), body);

    const old = cloud.iam!.credentialsOf(`agent:${SITE}`);
    let fresh: { accessKeyId: string; secretAccessKey: string } | undefined;
    // The administrator's rotation, once two parts of the backup are in: a new key, the old one deleted.
    let writes = 0;
    onAllowed = (checks) => {
      if (!checks.some((c) => c.action === 's3:PutObject' && c.resource.includes(`/backups/${SITE}/`))) return;
      // The first is CreateMultipartUpload, then one per part.
      if (++writes !== 3) return;
      fresh = cloud.iam!.issueKey(`agent:${SITE}`);
      cloud.iam!.revokeKey(old.accessKeyId);
    };
    const logged: string[] = [];
    const first = agentOf(state, root, old, logged);
    try {
      await first.cycle();
    } finally {
      first.close();
    }
    onAllowed = () => undefined;
    expect(fresh).toBeDefined();
    const alert = logged.map((l) => JSON.parse(l) as { msg: string; message?: string }).find((l) => l.msg === 'alert: full-0001.bak could not be shipped');
    expect(alert?.message).toMatch(/the store knows no such access key: it was revoked or rotated/);
    expect(records(state)).toHaveLength(1);
    const record = JSON.parse(readFileSync(join(state, 'uploads', records(state)[0]!), 'utf8')) as { resume: { key: string; uploadId: string; parts: unknown[] } };
    expect(record.resume.parts.length).toBeGreaterThanOrEqual(2);
    expect(await cloud.blobs.uploadOpen(record.resume.key, record.resume.uploadId)).toBe(true);

    // The next pass, with the new key: the parts the store holds are not sent again.
    const second = agentOf(state, root, fresh!, logged);
    try {
      expect(await second.cycle()).toMatchObject({ failed: 0 });
    } finally {
      second.close();
    }
    const resumed = logged.find((l) => l.includes('going on with the upload an earlier run left open'));
    expect(resumed).toMatch(/"parts":[2-9]/);
    expect(records(state)).toEqual([]);
    const shipped = await readAll(cloud.blobs, record.resume.key);
    expect(createHash('sha256').update(shipped).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  }, 180_000);
});
