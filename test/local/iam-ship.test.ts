import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { CfnTemplate } from '../../infra/cfn-resolve.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { generateBatches } from '../../scripts/demo/site.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { apiGet } from '../support/signed.ts';

// A real ship (agent → S3 through the IAM gateway → S3 notification → ingest with its own role
// → catalogue API with its own role) decided by the policies the CDK app synthesizes. Take the
// agent's s3:PutObject grant out of the app and the same ship must fail with AccessDenied:
// the local cloud now catches a missing permission before a deployment does.

const SITE = 'site-a';
const dirs: string[] = [];
const clouds: LocalCloud[] = [];

afterAll(async () => {
  await Promise.all(clouds.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Test hook: drops every Allow statement granting s3:PutObject from the policies of the agent roles. */
function withoutAgentPutObject(templates: Record<string, CfnTemplate>): void {
  for (const template of Object.values(templates)) {
    for (const resource of Object.values(template.Resources ?? {})) {
      const props = resource.Properties as { Roles?: { Ref?: string }[]; PolicyDocument?: { Statement: { Effect: string; Action: string | string[] }[] } } | undefined;
      if (resource.Type !== 'AWS::IAM::Policy' || !props?.Roles?.some((r) => /AgentRole/.test(r.Ref ?? ''))) continue;
      const grantsPut = (s: { Effect: string; Action: string | string[] }) => s.Effect === 'Allow' && ([] as string[]).concat(s.Action).includes('s3:PutObject');
      props.PolicyDocument!.Statement = props.PolicyDocument!.Statement.filter((s) => !grantsPut(s));
    }
  }
}

async function ship(editTemplates?: (t: Record<string, CfnTemplate>) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-iam-ship-'));
  dirs.push(dir);
  const principals = new Set<string>();
  const onDecision = (d: { principal: string; denial?: unknown }) => void (d.denial ? undefined : principals.add(d.principal));
  const cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE], iam: { editTemplates, onDecision } });
  clouds.push(cloud);
  const root = join(dir, 'recorder');
  await generateBatches({ root, firstBatch: 1, batches: 2, perBatch: 5, seconds: 1, start: new Date('2024-03-01T08:00:00Z'), seed: 3, sidecar: 'xml' });
  const { accessKeyId, secretAccessKey } = cloud.iam!.credentialsOf(`agent:${SITE}`);
  const config = parseAgentConfig(`
site: ${SITE}
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
  const logged: string[] = [];
  const log = createLogger({ json: true, level: 'debug', write: (line) => logged.push(line) });
  const agent = buildAgent(config, { log });
  try {
    const report = await agent.cycle();
    await cloud.drain();
    return { cloud, report, principals, logged: logged.join('\n') };
  } finally {
    agent.close();
  }
}

describe('shipping through the IAM gateway', () => {
  let shipped: Awaited<ReturnType<typeof ship>>;
  beforeAll(async () => {
    shipped = await ship();
  }, 180_000);

  it('ships, ingests and serves the packs with every component on its own role', async () => {
    expect(shipped.report).toMatchObject({ packs: 2, recordings: 10, failed: 0 });
    expect(shipped.cloud.ingestErrors).toEqual([]);
    const res = await apiGet(`${shipped.cloud.apiUrl}/sites/${SITE}/recordings?from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z`, { credentials: shipped.cloud.credentials });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(10);
    // Every one of them went through the gateway, allowed as its own principal.
    expect([...shipped.principals].sort()).toEqual(['agent:site-a', 'function:catalogue', 'function:ingest']);
  });

  it("fails with AccessDenied when the app no longer grants the agent s3:PutObject, and alerts that the heartbeat cannot be written", async () => {
    const denied = await ship(withoutAgentPutObject);
    expect(denied.report.packs).toBe(0);
    // Both batches, and the heartbeat the cloud would have seen the site by.
    expect(denied.report.failed).toBe(3);
    expect(denied.logged).toMatch(/AccessDenied|not authorized to perform: s3:PutObject/);
    expect(denied.logged).toMatch(/"msg":"alert: the heartbeat cannot be written to the store"/);
  }, 180_000);
});
