import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROCESSING_RESOURCES, STACK_RESOURCES_MAX, parseDeploymentConfig, processingResources, type DeploymentConfigInput } from '../../infra/config.ts';
import { buildWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry } from './fixture.ts';

// What CloudFormation refuses at deploy time, after a synth that succeeded (or crashed): more
// than 500 resources in a stack, a template over 1,000,000 bytes, a cron EventBridge cannot
// read, two sites whose ids clash. The deployment config says so first, naming the setting.

const SCHEDULE = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
const ANCHOR = 'arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/abc';
/** Site names as long as the state machines' 80 characters allow with the default prefix. */
const longName = (i: number) => `s${String(i).padStart(2, '0')}-${'contact-centre-'.repeat(4)}`.slice(0, 60).replace(/-$/, 'x');
const config = (sites: object[]): DeploymentConfigInput => ({ sites, fleetReaders: ['arn:aws:iam::444455556666:role/fleet'] }) as DeploymentConfigInput;
const problems = (input: DeploymentConfigInput): string => {
  try {
    parseDeploymentConfig(input);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
};
const mostScheduled = Math.floor((STACK_RESOURCES_MAX - PROCESSING_RESOURCES.base) / (PROCESSING_RESOURCES.site + PROCESSING_RESOURCES.schedule));

function synthesized(sites: object[]) {
  const s = synthFerry(config(sites), { workflows: buildWorkflows });
  const file = readdirSync(s.outdir).find((f) => f.startsWith('Ferry-processing') && f.endsWith('.template.json'))!;
  return { resources: Object.keys((s.raw['Ferry-processing'] as { Resources: object }).Resources).length, bytes: readFileSync(join(s.outdir, file)).length };
}

describe('the limits CloudFormation sets on a deployment', () => {
  it("counts the processing stack's resources as the synthesized template has them, for sites plain, scheduled and with Roles Anywhere", () => {
    const sites = [
      { name: 'plain', retentionDays: 2555 },
      { name: 'scheduled', retentionDays: 2555, schedule: SCHEDULE },
      { name: 'anchored', retentionDays: 2555, schedule: SCHEDULE, agent: { rolesAnywhereTrustAnchorArn: ANCHOR } },
    ];
    expect(synthesized(sites).resources).toBe(processingResources(parseDeploymentConfig(config(sites)).sites));
  });

  it('accepts the most scheduled sites a deployment holds, with the longest names, and their template stays under 500 resources and 1,000,000 bytes', () => {
    const sites = Array.from({ length: mostScheduled }, (_, i) => ({ name: longName(i), retentionDays: 2555, schedule: SCHEDULE, officers: ['arn:aws:iam::444455556666:role/officer'], drReaders: ['arn:aws:iam::444455556666:role/dr'] }));
    expect(problems(config(sites))).toBe('');
    const { resources, bytes } = synthesized(sites);
    expect(resources).toBeLessThanOrEqual(STACK_RESOURCES_MAX);
    expect(bytes).toBeLessThan(1_000_000);
  });

  it('refuses one site more, saying how many a deployment holds and what to do', () => {
    const sites = Array.from({ length: mostScheduled + 1 }, (_, i) => ({ name: `site-${i}`, retentionDays: 2555, schedule: SCHEDULE }));
    expect(problems(config(sites))).toContain(
      `sites: ${mostScheduled + 1} sites make ${processingResources(sites)} resources in the Ferry-processing stack, over CloudFormation's 500 a stack (each site 21, 28 with a schedule): one deployment holds at most ${mostScheduled} scheduled sites (15 without schedules). Split the sites into deployments, each with its own stackPrefix`,
    );
  });

  it.each([
    ['0 2 * * * *', 'exactly one of day-of-month (3rd field) and day-of-week (5th) must be "?"'],
    ['0 2 ? * ? *', 'exactly one of day-of-month (3rd field) and day-of-week (5th) must be "?"'],
    ['0 2 * * MON *', 'exactly one of day-of-month (3rd field) and day-of-week (5th) must be "?"'],
    ['? 2 * * ? *', '"?" is allowed only in day-of-month and day-of-week'],
    ['0 2 ? * 1#1 *', 'L, W and # are not supported'],
    ['0 25 * * ? *', '"25" is not in 0-23'],
    ['0 2 * *', 'must have six fields'],
  ])('refuses the cron "%s", which EventBridge or the missed-window checks cannot take', (cron, why) => {
    expect(problems(config([{ name: 'a', retentionDays: 2555, schedule: { ...SCHEDULE, backupCron: cron } }]))).toMatch(new RegExp(`sites\\[0\\]\\.schedule\\.backupCron: .*${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('refuses two sites whose names differ only by dashes (their CloudFormation ids would clash)', () => {
    expect(problems(config([{ name: 'leeds-cc', retentionDays: 2555 }, { name: 'leedscc', retentionDays: 2555 }]))).toContain('sites[1].name: "leedscc" and "leeds-cc" differ only by dashes');
  });
});

describe("the trust policies of a site's roles", () => {
  const officers = (n: number) => Array.from({ length: n }, (_, i) => `arn:aws:iam::444455556666:user/compliance-officer-${String(i).padStart(3, '0')}`);

  it("keeps the longest officer and DR reader lists the config accepts under IAM's 2,048 characters of trust policy", () => {
    let most = 0;
    while (problems(config([{ name: 'a', retentionDays: 2555, officers: officers(most + 1), drReaders: officers(most + 1) }])) === '') most++;
    expect(most).toBeGreaterThan(10);
    const s = synthFerry(config([{ name: 'a', retentionDays: 2555, officers: officers(most), drReaders: officers(most) }]), { workflows: buildWorkflows });
    const template = s.raw['Ferry-processing'] as { Resources: Record<string, { Type: string; Properties: { AssumeRolePolicyDocument?: unknown } }> };
    const trusts = Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Role' && JSON.stringify(r.Properties.AssumeRolePolicyDocument ?? '').includes('compliance-officer-000'));
    expect(trusts.length).toBeGreaterThanOrEqual(2);
    for (const role of trusts) expect(JSON.stringify(s.resolver.resolve('Ferry-processing', role.Properties.AssumeRolePolicyDocument as never)).length).toBeLessThanOrEqual(2048);
  });

  it('refuses a list that would not fit, naming the setting and the way out', () => {
    expect(problems(config([{ name: 'a', retentionDays: 2555, officers: officers(60) }]))).toContain("sites[0].officers: 60 principals make the officer role's trust policy about");
    expect(problems(config([{ name: 'a', retentionDays: 2555, listeners: officers(60) }]))).toContain("sites[0].listeners: 60 principals make the listener role's trust policy about");
  });
});

describe("the permission policies of a site's roles", () => {
  it("keeps the permission policies of a site's agent, DR and officer roles, with the longest site name, under IAM's 10,240 characters of inline policy a role", () => {
    const name = longName(0);
    const s = synthFerry(config([{ name, retentionDays: 2555, schedule: SCHEDULE, agent: { rolesAnywhereTrustAnchorArn: ANCHOR } }]), { workflows: buildWorkflows });
    const site = s.processing.sites.find((x) => x.site === name)!;
    for (const role of [site.agentRole, site.drRole, site.officerRole, site.listenerRole]) {
      // IAM counts the policy documents without their whitespace; a role's inline policies add up.
      const chars = s.resolver.policiesOfRole('Ferry-processing', logicalId(role)).reduce((sum, doc) => sum + JSON.stringify(doc).length, 0);
      expect(chars, role.node.id).toBeLessThanOrEqual(10_240);
    }
  });
});
