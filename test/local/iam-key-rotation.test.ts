import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { restoreEnv } from '../support/env.ts';
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
  const config = parseAgentConfig(configYaml(state, root, key));
  return buildAgent(config, { log: createLogger({ json: true, level: 'debug', write: (line) => logged.push(line) }) });
}

function configYaml(state: string, root: string, key: { accessKeyId: string; secretAccessKey: string }): string {
  return `
site: ${SITE}
state: ${state}
cloud: { bucket: ${cloud.bucket}, endpoint: "${cloud.iam!.s3Endpoint}", credentials: { accessKeyId: ${key.accessKeyId}, secretAccessKey: "${key.secretAccessKey}" } }
shipping: { partSizeMiB: 5, partConcurrency: 1, packConcurrency: 1, attempts: 1 }
sources:
  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }
`;
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
    // `agent status` says where it stopped and why: the credentials, not the line.
    const configFile = join(dir, 'agent.yaml');
    writeFileSync(configFile, configYaml(state, root, old));
    const status = renderStatus(await collectStatus(configFile));
    expect(status).toMatch(/^ {2}kept open {7}nightly\/full-0001\.bak: stopped at \S+ MB of 25\.2 MB at \S+: the store refused the credentials it was signed with; the next run resumes \(upload under way since \S+, stopped 1 time\(s\)\)$/m);

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

  it('names, for a key the agent takes from an AWS profile, that profile and its file as the place to give the current key, not cloud.credentials', async () => {
    const home = join(dir, 'profile-home');
    mkdirSync(home, { recursive: true });
    const credentialsFile = join(home, 'credentials');
    writeFileSync(credentialsFile, '[ferry]\naws_access_key_id = AKIA0000000000DELETED\naws_secret_access_key = gone\n');
    writeFileSync(join(home, 'config'), '');
    const root = join(dir, 'profile-dumps');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'full-0001.bak'), randomBytes(1024));
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: credentialsFile, AWS_CONFIG_FILE: join(home, 'config'), AWS_PROFILE: 'ferry' });
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete process.env[name];
    const logged: string[] = [];
    const config = parseAgentConfig(`
site: ${SITE}
state: ${join(dir, 'profile-state')}
cloud: { bucket: ${cloud.bucket}, endpoint: "${cloud.iam!.s3Endpoint}", region: us-east-1 }
shipping: { attempts: 1 }
sources:
  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }
`);
    const agent = buildAgent(config, { log: createLogger({ json: true, level: 'info', write: (line) => logged.push(line) }) });
    try {
      await agent.cycle();
    } finally {
      agent.close();
      restoreEnv(saved);
    }
    const alert = logged.map((l) => JSON.parse(l) as { msg: string; message?: string }).find((l) => l.msg === 'alert: full-0001.bak could not be shipped');
    expect(alert?.message).toContain(`the store knows no such access key: it was revoked or rotated, or is mistyped. Give profile ferry (AWS_PROFILE) in ${credentialsFile} site ${SITE}'s current agent key (the agent reads it again at its next run).`);
    expect(alert?.message).not.toContain('cloud.credentials');
  }, 60_000);
});
