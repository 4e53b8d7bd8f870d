import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnTemplate } from '../../infra/cfn-resolve.ts';
import { FLEET_READER, type DeploymentSnapshot, type PrincipalName } from './deployment.ts';

// Synthesizes the CDK app (no bundling, no nag) into the snapshot the IAM gateway evaluates.
// Needs aws-cdk-lib, a devDependency: it runs at build time (`npm run render-workflows`) and in
// tests that need sites of their own, never on `ferry start`'s path.

interface Construct {
  node: { defaultChild?: unknown };
}

/**
 * Synthesizes the app (no bundling, no nag) for `sites` and other top-level `settings` of the
 * configuration (tests: `search`), and `siteSettings` of a site by its name (tests: `retired`):
 * needs aws-cdk-lib (build time, tests).
 */
export async function synthesizeDeployment(sites: string[], settings: Record<string, unknown> = {}): Promise<DeploymentSnapshot> {
  const [{ CfnElement, Stack }, { createFerryApp, buildFerry }, { parseDeploymentConfig }, { workflowsFactory }] = await Promise.all([
    import('aws-cdk-lib'),
    import('../../infra/ferry-app.ts'),
    import('../../infra/config.ts'),
    import('../../infra/workflows/build.ts'),
  ]);
  const logicalId = (construct: Construct): string => {
    const element = (CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild) as InstanceType<typeof CfnElement>;
    return Stack.of(element).getLogicalId(element);
  };
  const outdir = mkdtempSync(join(tmpdir(), 'ferry-iam-'));
  try {
    const app = createFerryApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const { siteSettings = {}, ...topLevel } = settings as { siteSettings?: Record<string, Record<string, unknown>> };
    const config = parseDeploymentConfig({ ...topLevel, sites: sites.map((name) => ({ name, retentionDays: 3650, ...siteSettings[name] })) });
    let workflowRoles: Record<string, Construct> = {};
    const workflows = workflowsFactory({
      onBuilt: (built) => (workflowRoles = Object.fromEntries(Object.entries(built.functions).map(([n, fn]) => [n, fn.role! as unknown as Construct]))),
    });
    const stacks = buildFerry(app, config, { nag: false, workflows });
    const templates = Object.fromEntries(app.synth().stacks.map((s) => [s.stackName, withoutAssets(s.template as CfnTemplate)]));
    const stateful = stacks.stateful.stackName;
    const processing = stacks.processing.stackName;
    const roles: Record<PrincipalName, [string, string]> = {};
    const activities: Record<string, string> = {};
    for (const site of stacks.processing.sites) {
      roles[`agent:${site.site}`] = [processing, logicalId(site.agentRole)];
      roles[`dr:${site.site}`] = [processing, logicalId(site.drRole)];
      roles[`officer:${site.site}`] = [processing, logicalId(site.officerRole)];
      roles[`listener:${site.site}`] = [processing, logicalId(site.listenerRole)];
      activities[site.site] = logicalId(site.activity);
    }
    roles[FLEET_READER] = [processing, logicalId(stacks.processing.fleetReader.role)];
    for (const [name, fnRole] of Object.entries(stacks.processing.functions.roles)) roles[`function:${name}`] = [processing, logicalId(fnRole)];
    for (const [name, fnRole] of Object.entries(workflowRoles)) roles[`function:${name}`] = [processing, logicalId(fnRole)];
    // The scheduled functions: their roles too, so the local cloud runs them as deployed.
    roles['function:deadman'] = [processing, logicalId(stacks.processing.deadman.role)];
    roles['function:report'] = [processing, logicalId(stacks.processing.reports.role)];
    roles['function:audit-seal'] = [processing, logicalId(stacks.processing.auditSealer.role)];
    return {
      sites: [...sites],
      templates,
      stateful,
      processing,
      bucket: logicalId(stacks.stateful.dataBucket as unknown as Construct),
      bucketPolicy: logicalId(stacks.stateful.dataBucket.policy!),
      table: logicalId(stacks.stateful.table as unknown as Construct),
      dataKey: logicalId(stacks.stateful.dataKey),
      roles,
      activities,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * A template without what changes with every edit of a function's code and matters nothing to
 * IAM (asset locations, construct metadata), so the committed snapshot only goes stale when
 * a permission, a resource or a name changes.
 */
function withoutAssets(template: CfnTemplate): CfnTemplate {
  const copy = structuredClone(template) as CfnTemplate & { Resources?: Record<string, { Type: string; Metadata?: unknown; Properties?: Record<string, unknown> }> };
  for (const [id, resource] of Object.entries(copy.Resources ?? {})) {
    if (resource.Type === 'AWS::CDK::Metadata') delete copy.Resources![id];
    delete resource.Metadata;
    if (resource.Type === 'AWS::Lambda::Function' && resource.Properties) delete resource.Properties.Code;
  }
  return copy;
}

