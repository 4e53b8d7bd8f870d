import { beforeAll, describe, expect, it } from 'vitest';
import { DATA_CLASSES, sitePrefix } from '../../core/layout.ts';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { evaluate, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// Off-boarding a site (`retired`, and `offboarded` when its customer leaves: docs/deploy.md
// "Decommissioning a site"): its data stays until its purge deletes it, but the credentials its
// agent held (an IAM user's key, a Roles Anywhere certificate) no longer reach anything, nor do its
// officer, listener and DR roles. Evaluated on the policies `cdk synth` produces.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
const PUBLISH = { 's3:if-none-match': '*', 's3:ObjectCreationOperation': true };
const activity = (site: string) => `arn:aws:states:${region}:${account}:activity:Ferry-${site}-agent`;

let synth: Synthesized;
let bucketPolicy: PolicyDocument;
const siteA = DEFAULT_CONFIG.sites[0]!;
const siteB = DEFAULT_CONFIG.sites[1]!;
const retiredDay = '2026-01-05';
const ANCHOR = `arn:aws:rolesanywhere:${region}:${account}:trust-anchor/ta-1`;

type SiteRole = 'agentRole' | 'officerRole' | 'listenerRole' | 'drRole';

function policies(site: string, role: SiteRole): PolicyDocument[] {
  const roles = synth.processing.sites.find((s) => s.site === site)!;
  return synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(roles[role]));
}

function decide(site: string, action: string, resource: string, context: Record<string, unknown> = {}, role: SiteRole = 'agentRole') {
  return evaluate([...policies(site, role), bucketPolicy], {
    action,
    resource,
    context: { 'aws:SecureTransport': true, 's3:TlsVersion': 1.3, ...context },
    principal: { type: 'AWS', id: `arn:aws:iam::${account}:role/agent` },
  } as Parameters<typeof evaluate>[1]).decision;
}

beforeAll(() => {
  const agent = { rolesAnywhereTrustAnchorArn: ANCHOR };
  synth = synthFerry({ ...DEFAULT_CONFIG, sites: [{ ...DEFAULT_CONFIG.sites[0]!, retired: retiredDay, offboarded: true, agent }, { ...DEFAULT_CONFIG.sites[1]!, agent }] });
  const statefulName = synth.stateful.stackName;
  const bucketPolicyId = logicalId(synth.stateful.dataBucket.policy!);
  bucketPolicy = synth.resolver.resolve(statefulName, synth.raw[statefulName]!.Resources![bucketPolicyId]!.Properties!.PolicyDocument) as PolicyDocument;
}, 120_000);

describe("a retired site's agent role", () => {
  it.each(DATA_CLASSES)('may no longer add an object under %s/ of its site', (dataClass) => {
    expect(decide(siteA.name, 's3:PutObject', `${BUCKET}/${sitePrefix(dataClass, siteA.name)}2026/02/01/p1.tar`, PUBLISH)).toBe('explicit-deny');
  });

  it('may no longer read back, list its prefixes, or poll its activity', () => {
    expect(decide(siteA.name, 's3:GetObject', `${BUCKET}/${sitePrefix('recordings', siteA.name)}2025/12/01/p1.tar`)).toBe('explicit-deny');
    expect(decide(siteA.name, 's3:ListBucket', BUCKET, { 's3:prefix': sitePrefix('recordings', siteA.name) })).toBe('explicit-deny');
    expect(decide(siteA.name, 'states:GetActivityTask', activity(siteA.name))).toBe('explicit-deny');
  });

  it("disables the site's Roles Anywhere profile, so its agent's certificate gets no session", () => {
    const profiles = synth.processingTemplate.findResources('AWS::RolesAnywhere::Profile');
    const enabled = Object.fromEntries(Object.values(profiles).map((p) => [(p.Properties as { Name: string }).Name, (p.Properties as { Enabled: boolean }).Enabled]));
    expect(enabled).toEqual({ [`Ferry-agent-${siteA.name}`]: false, [`Ferry-agent-${siteB.name}`]: true });
  });

  it('leaves the active site next to it as it was: it still publishes under its own prefix', () => {
    expect(decide(siteB.name, 's3:PutObject', `${BUCKET}/${sitePrefix('recordings', siteB.name)}2026/02/01/p1.tar`, PUBLISH)).toBe('allow');
    expect(decide(siteB.name, 'states:GetActivityTask', activity(siteB.name))).toBe('allow');
  });
});

describe("an off-boarded site's officer, listener and DR roles", () => {
  const apiArn = (method: string, path: string) => {
    const apiId = synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(synth.processing.api.api) });
    return `arn:aws:execute-api:${region}:${account}:${apiId}/$default/${method}${path}`;
  };

  it('reach none of its routes and none of its objects', () => {
    for (const role of ['officerRole', 'listenerRole', 'drRole'] as const) {
      for (const [method, path] of [['GET', `/sites/${siteA.name}/recordings`], ['GET', `/sites/${siteA.name}/recordings/r0123`], ['GET', `/sites/${siteA.name}/audit`], ['GET', `/sites/${siteA.name}/artefacts`]] as const) {
        expect(decide(siteA.name, 'execute-api:Invoke', apiArn(method, path), {}, role), `${role} ${method} ${path}`).toBe('explicit-deny');
      }
      expect(decide(siteA.name, 's3:GetObject', `${BUCKET}/audit/${siteA.name}/2026/01/01/x.json`, {}, role), role).toBe('explicit-deny');
      expect(decide(siteA.name, 's3:GetObject', `${BUCKET}/${sitePrefix('backups', siteA.name)}db/full.tar`, {}, role), role).toBe('explicit-deny');
    }
  });

  it("leave the other site's officer its own routes", () => {
    expect(decide(siteB.name, 'execute-api:Invoke', apiArn('GET', `/sites/${siteB.name}/recordings`), {}, 'officerRole')).toBe('allow');
  });

  it('tell the console function which sites its own groups no longer open', () => {
    const fn = synth.processingTemplate.toJSON().Resources[logicalId(synth.processing.functions.console)];
    expect(JSON.parse(fn.Properties.Environment.Variables.CONSOLE_OFFBOARDED_SITES)).toEqual([siteA.name]);
  });
});
