import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAKE_ENV, TemplateResolver, type CfnTemplate, type FakeEnvironment } from '../../infra/cfn-resolve.ts';
import type { PolicyDocument } from '../../infra/policy-eval.ts';

// The deployment as IAM sees it, taken from the CDK app itself: `buildFerry` + the workflows
// factory, synthesized (no bundling, no nag) with the local sites, intrinsics resolved with a
// fixed fake account/region/partition (infra/cfn-resolve.ts). What comes out is every
// principal's identity policies, the bucket policy and the data key's key policy: exactly what
// `cdk deploy` would put in the account. aws-cdk-lib is imported on demand, as the local
// Step Functions do (local/stepfunctions.ts), so the agent bundle never pulls it in.

/** `agent:{site}`, `dr:{site}`, `function:{name}`, `officer`. */
export type PrincipalName = string;

export interface DeployedPrincipal {
  name: PrincipalName;
  arn: string;
  policies: PolicyDocument[];
}

export interface LocalDeployment {
  env: FakeEnvironment;
  bucketName: string;
  tableName: string;
  tableArn: string;
  dataKeyArn: string;
  bucketPolicy: PolicyDocument;
  dataKeyPolicy: PolicyDocument;
  principals: Map<PrincipalName, DeployedPrincipal>;
  /** Site → the ARN of its agent activity. */
  siteActivities: Map<string, string>;
  /** The deployed ARN of an activity, from its name. */
  activityArn(name: string): string;
}

export interface DeploymentOptions {
  /** The sites of the local deployment (each gets an agent and a DR role). */
  sites: string[];
  /** Test hook: edits the synthesized templates (by stack name) before anything is read from them. */
  editTemplates?: (templates: Record<string, CfnTemplate>) => void;
}

/** The compliance officer: the app grants officers no direct access to the stand-ins (only the API). */
export const OFFICER: PrincipalName = 'officer';

interface Construct {
  node: { defaultChild?: unknown };
}

export async function loadLocalDeployment(options: DeploymentOptions): Promise<LocalDeployment> {
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
    const config = parseDeploymentConfig({ sites: options.sites.map((name) => ({ name, retentionDays: 3650 })) });
    let workflowRoles: Record<string, Construct> = {};
    const workflows = workflowsFactory({
      onBuilt: (built) => (workflowRoles = Object.fromEntries(Object.entries(built.functions).map(([n, fn]) => [n, fn.role! as unknown as Construct]))),
    });
    const stacks = buildFerry(app, config, { nag: false, workflows });
    const raw = Object.fromEntries(app.synth().stacks.map((s) => [s.stackName, s.template as CfnTemplate]));
    options.editTemplates?.(raw);
    const resolver = new TemplateResolver(raw, FAKE_ENV);
    const stateful = stacks.stateful.stackName;
    const processing = stacks.processing.stackName;
    const attr = (stack: string, construct: Construct, name: string) =>
      resolver.resolveString(stack, { 'Fn::GetAtt': [logicalId(construct), name] });
    const resourcePolicy = (stack: string, id: string, property: string) =>
      resolver.resolve(stack, raw[stack]!.Resources![id]!.Properties![property]) as PolicyDocument;

    const principals = new Map<PrincipalName, DeployedPrincipal>();
    const siteActivities = new Map<string, string>();
    const role = (name: PrincipalName, stack: string, construct: Construct) =>
      principals.set(name, { name, arn: attr(stack, construct, 'Arn'), policies: resolver.policiesOfRole(stack, logicalId(construct)) });
    for (const site of stacks.processing.sites) {
      role(`agent:${site.site}`, processing, site.agentRole);
      role(`dr:${site.site}`, processing, site.drRole);
      siteActivities.set(site.site, resolver.resolveString(processing, { Ref: logicalId(site.activity) }));
    }
    for (const [name, fnRole] of Object.entries(stacks.processing.functions.roles)) role(`function:${name}`, processing, fnRole);
    for (const [name, fnRole] of Object.entries(workflowRoles)) role(`function:${name}`, processing, fnRole);
    const { account, region, partition } = FAKE_ENV;
    principals.set(OFFICER, { name: OFFICER, arn: `arn:${partition}:iam::${account}:role/ferry-officer`, policies: [] });

    const table = stacks.stateful.table as unknown as Construct;
    return {
      env: FAKE_ENV,
      bucketName: resolver.resolveString(stateful, { Ref: logicalId(stacks.stateful.dataBucket as unknown as Construct) }),
      tableName: resolver.resolveString(stateful, { Ref: logicalId(table) }),
      tableArn: attr(stateful, table, 'Arn'),
      dataKeyArn: attr(stateful, stacks.stateful.dataKey, 'Arn'),
      bucketPolicy: resourcePolicy(stateful, logicalId(stacks.stateful.dataBucket.policy!), 'PolicyDocument'),
      dataKeyPolicy: resourcePolicy(stateful, logicalId(stacks.stateful.dataKey), 'KeyPolicy'),
      principals,
      siteActivities,
      activityArn: (name) => `arn:${partition}:states:${region}:${account}:activity:${name}`,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
