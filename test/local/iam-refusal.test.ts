import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { generateBatches } from '../../scripts/demo/site.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// What a site's operator reads when the store refuses the agent's key: a real agent, its real
// SDK, through the IAM gateway deciding by the synthesized policies. A DR site's read-only key
// put in an agent's config, and a key the store no longer knows (revoked or rotated), each fail
// every batch, the backup and the heartbeat; each alert says first what was refused and what the
// key lacks or is, and what to check, S3's own words after it.

const SITE = 'demo'; // the generated deployment's site: no synth of its own
const dirs: string[] = [];
let cloud: LocalCloud;

interface AlertLine {
  msg: string;
  message: string;
}

/** One pass of an agent for SITE signing with `credentials`; the alerts it raised, by subject. */
async function alertsOfPass(credentials: { accessKeyId: string; secretAccessKey: string }): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-iam-refusal-'));
  dirs.push(dir);
  const root = join(dir, 'recorder');
  await generateBatches({ root, firstBatch: 1, batches: 2, perBatch: 2, seconds: 1, start: new Date('2024-03-01T08:00:00Z'), seed: 5, sidecar: 'xml' });
  mkdirSync(join(dir, 'dumps'));
  writeFileSync(join(dir, 'dumps', 'full.sql'), '-- MariaDB dump\n');
  const config = parseAgentConfig(`
site: ${SITE}
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}, credentials: { accessKeyId: ${credentials.accessKeyId}, secretAccessKey: ${JSON.stringify(credentials.secretAccessKey)} } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
  - { name: db, type: rotated, profile: generic, patterns: ['*.sql'], path: ${join(dir, 'dumps')}, stableSeconds: 0 }
`);
  const logged: string[] = [];
  const agent = buildAgent(config, { log: createLogger({ json: true, level: 'info', write: (line) => logged.push(line) }) });
  try {
    await agent.cycle();
  } finally {
    agent.close();
  }
  const alerts = logged.map((l) => JSON.parse(l) as AlertLine).filter((l) => l.msg.startsWith('alert: '));
  return new Map(alerts.map((a) => [a.msg.slice('alert: '.length), a.message]));
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-iam-refusal-cloud-'));
  dirs.push(dir);
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
}, 180_000);

afterAll(async () => {
  await cloud?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("the store's refusal of the agent's key, as its alerts say it", () => {
  it("names, for a DR site's read-only key, the object refused, the permission the key lacks and what to check, in the batches', the backup's and the heartbeat's alerts", async () => {
    const alerts = await alertsOfPass(cloud.iam!.credentialsOf(`dr:${SITE}`));
    const check = `Check that cloud.credentials is site ${SITE}'s own agent key (not another site's, not a DR site's read-only one) and cloud.bucket the deployment's bucket: \`ferry agent check\` tests both. The store said: S3 `;
    const batches = alerts.get('contactstore: 2 batches could not be shipped');
    expect(batches).toMatch(new RegExp(`After 1 attempt\\(s\\): access denied to recordings/${SITE}/\\S+ \\(\\w+\\): the site's key lacks s3:PutObject there \\(it signs as arn:aws:iam::\\d+:role/\\S+\\)\\. `));
    expect(batches).toContain(check);
    const backup = alerts.get('full.sql could not be shipped');
    expect(backup).toMatch(new RegExp(`^After 1 attempt\\(s\\): access denied to backups/${SITE}/db/\\S+ \\(\\w+\\): the site's key lacks s3:PutObject there`));
    expect(backup).toContain(check);
    expect(alerts.get('the heartbeat cannot be written to the store')).toMatch(new RegExp(`could not write its heartbeat \\(access denied to heartbeats/${SITE}/\\S+ \\(put\\): the site's key lacks s3:PutObject there`));
    // S3's own words stay, after the explanation.
    expect(batches).toMatch(/The store said: S3 \w+ \S+: AccessDenied: User: arn:\S+ is not authorized to perform: s3:PutObject .*\. They stay in the backlog/);
  }, 120_000);

  it('says of a key the store does not know (revoked or rotated) that it was revoked, rotated or mistyped, and which key to give, in one sentence', async () => {
    const alerts = await alertsOfPass({ accessKeyId: 'AKIA0000000000REVOKED', secretAccessKey: 'gone' });
    const words = `the store knows no such access key: it was revoked or rotated, or is mistyped. Give cloud.credentials site ${SITE}'s current agent key (the agent reads it again at its next run). The store said: S3 `;
    for (const subject of ['contactstore: 2 batches could not be shipped', 'full.sql could not be shipped', 'the heartbeat cannot be written to the store']) {
      expect(alerts.get(subject), subject).toContain(words);
      expect(alerts.get(subject), subject).not.toMatch(/\.\./);
    }
  }, 120_000);
});
