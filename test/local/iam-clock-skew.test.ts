import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// An agent host whose clock is 30 minutes behind: AWS refuses its first requests
// (RequestTimeTooSkewed) and dates each answer by its own clock, from which the SDK learns the
// difference and signs with it. The gateway dates its answers by its clock too, so the agent
// ships as it would against AWS, and warns that its clock is off, by how much and which way.

const SITE = 'site-a';
const SKEW_MS = 30 * 60_000;
let dir: string;
let cloud: LocalCloud;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-skew-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE], iam: { clock: { now: () => new Date(Date.now() + SKEW_MS) } } });
}, 180_000);
afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an agent host whose clock is 30 minutes behind the store', () => {
  it('ships (its requests signed with the difference the answers gave) and warns that its clock is 30 min behind the store', async () => {
    const root = join(dir, 'dumps');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'full-0001.bak'), 'backup bytes\n');
    const { accessKeyId, secretAccessKey } = cloud.iam!.credentialsOf(`agent:${SITE}`);
    const config = parseAgentConfig(`
site: ${SITE}
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: "${cloud.iam!.s3Endpoint}", credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }
`);
    const logged: string[] = [];
    const agent = buildAgent(config, { log: createLogger({ json: true, level: 'info', write: (line) => logged.push(line) }) });
    try {
      expect(await agent.cycle()).toMatchObject({ failed: 0, artefacts: 1 });
    } finally {
      agent.close();
    }
    const alerts = logged.map((l) => JSON.parse(l) as { msg: string }).filter((l) => l.msg.startsWith('alert: ')).map((l) => l.msg);
    expect(alerts).toEqual([`alert: the clock of site ${SITE}'s agent is 30 min behind the store's`]);
  }, 120_000);
});
