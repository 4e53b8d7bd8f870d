import { existsSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { LOCAL_ENV, TemplateResolver, type CfnTemplate, type FakeEnvironment } from '../../infra/cfn-resolve.ts';
import type { PolicyDocument } from '../../infra/policy-eval.ts';

// The deployment as IAM sees it, taken from the CDK app itself: `buildFerry` + the workflows
// factory, synthesized (no bundling, no nag) with the local sites, intrinsics resolved with a
// fixed fake account/region/partition (infra/cfn-resolve.ts). What comes out is every
// principal's identity policies, the bucket policy and the data key's key policy: exactly what
// `cdk deploy` would put in the account. The synth runs at build time for the local sites
// (local/iam-deployment.generated.json) and only for other site lists (tests) at run time.

/** `agent:{site}`, `dr:{site}`, `officer:{site}`, `function:{name}`, `officer`, `fleet-reader`. */
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
  /**
   * Bumped by every change of a policy (revisePolicies): the authorizers keep decisions only for
   * the version they were made under, so a changed or revoked grant applies to the next request.
   */
  policyVersion: number;
}

export interface DeploymentOptions {
  /** The sites of the local deployment (each gets an agent and a DR role). */
  sites: string[];
  /** Test hook: edits the synthesized templates (by stack name) before anything is read from them. */
  editTemplates?: (templates: Record<string, CfnTemplate>) => void;
  /** The synthesized deployment; absent: the generated one (local/iam-deployment.generated.json), which must be for `sites`. */
  snapshot?: DeploymentSnapshot;
}

/** A compliance officer with no site: the app grants it nothing (each site's officer role is `officer:{site}`). */
export const OFFICER: PrincipalName = 'officer';

/** The deployment's fleet reader (GET /fleet only): infra/fleet.ts FleetReader. */
export const FLEET_READER: PrincipalName = 'fleet-reader';

/**
 * What IAM needs of the synthesized app, as plain data: the raw templates and where each
 * principal, the bucket, the table, the data key and each site's activity sit in them.
 * `npm run render-workflows` writes it for the local sites to local/iam-deployment.generated.json
 * (a test checks it equals a fresh synth), so `ferry start` needs no aws-cdk-lib at run time.
 */
export interface DeploymentSnapshot {
  sites: string[];
  templates: Record<string, CfnTemplate>;
  stateful: string;
  processing: string;
  bucket: string;
  bucketPolicy: string;
  table: string;
  dataKey: string;
  /** Principal name → [stack, logical id of its role]. */
  roles: Record<PrincipalName, [string, string]>;
  /** Site → logical id of its activity (processing stack). */
  activities: Record<string, string>;
}

export const GENERATED_DEPLOYMENT_FILE = new URL('../iam-deployment.generated.json', import.meta.url);

/** The given snapshot, or the generated one when it is for exactly `sites`. */
function snapshotFor(sites: string[], given?: DeploymentSnapshot): DeploymentSnapshot {
  if (given) return given;
  const generated = existsSync(GENERATED_DEPLOYMENT_FILE) ? (JSON.parse(readFileSync(GENERATED_DEPLOYMENT_FILE, 'utf8')) as DeploymentSnapshot) : undefined;
  if (generated && isDeepStrictEqual([...generated.sites].sort(), [...sites].sort())) return generated;
  throw new Error(
    `no synthesized deployment for the sites ${sites.join(', ')} (the generated one has ${generated?.sites.join(', ') ?? 'none'}): ` +
      'run `npm run render-workflows`, or pass a snapshot from local/iam-gateway/synthesize.ts',
  );
}

export function loadLocalDeployment(options: DeploymentOptions): LocalDeployment {
  return resolveDeployment(snapshotFor(options.sites, options.snapshot), options.editTemplates);
}

/** Every principal's policies, the bucket and key policies, with intrinsics resolved in the fake account. */
export function resolveDeployment(snapshot: DeploymentSnapshot, editTemplates?: DeploymentOptions['editTemplates']): LocalDeployment {
  const raw = structuredClone(snapshot.templates);
  editTemplates?.(raw);
  const resolver = new TemplateResolver(raw, LOCAL_ENV);
  const { stateful, processing } = snapshot;
  const attr = (stack: string, id: string, name: string) => resolver.resolveString(stack, { 'Fn::GetAtt': [id, name] });
  const resourcePolicy = (stack: string, id: string, property: string) => resolver.resolve(stack, raw[stack]!.Resources![id]!.Properties![property]) as PolicyDocument;
  const principals = new Map<PrincipalName, DeployedPrincipal>();
  for (const [name, [stack, id]] of Object.entries(snapshot.roles)) principals.set(name, { name, arn: attr(stack, id, 'Arn'), policies: resolver.policiesOfRole(stack, id) });
  const siteActivities = new Map(Object.entries(snapshot.activities).map(([site, id]) => [site, resolver.resolveString(processing, { Ref: id })]));
  const { account, region, partition } = LOCAL_ENV;
  principals.set(OFFICER, { name: OFFICER, arn: `arn:${partition}:iam::${account}:role/ferry-officer`, policies: [] });
  return {
    env: LOCAL_ENV,
    bucketName: resolver.resolveString(stateful, { Ref: snapshot.bucket }),
    tableName: resolver.resolveString(stateful, { Ref: snapshot.table }),
    tableArn: attr(stateful, snapshot.table, 'Arn'),
    dataKeyArn: attr(stateful, snapshot.dataKey, 'Arn'),
    bucketPolicy: resourcePolicy(stateful, snapshot.bucketPolicy, 'PolicyDocument'),
    dataKeyPolicy: resourcePolicy(stateful, snapshot.dataKey, 'KeyPolicy'),
    principals,
    siteActivities,
    activityArn: (name) => `arn:${partition}:states:${region}:${account}:activity:${name}`,
    policyVersion: 0,
  };
}

/** What a change of the deployment's policies may touch: a principal's identity policies, the bucket or key policy. */
export type PolicyRevision = { principal: PrincipalName; policies: PolicyDocument[] } | { bucketPolicy: PolicyDocument } | { dataKeyPolicy: PolicyDocument };

/**
 * Changes a policy of the running deployment, as an IAM update does in the account (tests of
 * revocation; an operator's edit): the only way to change one, since it moves policyVersion.
 */
export function revisePolicies(deployment: LocalDeployment, revision: PolicyRevision): void {
  if ('principal' in revision) {
    const known = deployment.principals.get(revision.principal);
    if (!known) throw new Error(`the local deployment has no principal ${revision.principal}`);
    deployment.principals.set(revision.principal, { ...known, policies: revision.policies });
  } else if ('bucketPolicy' in revision) deployment.bucketPolicy = revision.bucketPolicy;
  else deployment.dataKeyPolicy = revision.dataKeyPolicy;
  deployment.policyVersion++;
}
