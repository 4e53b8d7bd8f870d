// AWS's limits that a deployment's configuration can break, and that AWS enforces only at deploy
// time, after a synth that succeeded (a stack half created, a retained bucket left behind): the
// data bucket's name, a stack's resources, a role's trust policy, a state machine's name, the log
// retentions CloudWatch takes, the regions without Lambda function URLs. The configuration check
// (infra/config.ts) says each with the setting to change; test/infra/stack-limits.test.ts holds
// the resource figures to the synthesized template. No CDK and no zod here.

/** The retentions CloudWatch Logs accepts (AWS::Logs::LogGroup RetentionInDays); any other fails the deploy. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/**
 * Regions where Lambda function URLs are not offered (Lambda developer guide, "Creating and
 * managing Lambda function URLs"): a pinned region among them synthesizes, and the processing
 * stack then rolls back at AWS::Lambda::Url, after the retained bucket exists.
 */
export const NO_FUNCTION_URL_REGIONS: readonly string[] = ['ap-south-2', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7', 'ap-east-2', 'ca-west-1', 'eu-south-2', 'eu-central-2', 'il-central-1', 'me-central-1'];

/** The longest region name (ap-southeast-2 and its kind): the bucket name must fit S3's 63 characters in any. */
const LONGEST_REGION = 14;
/** Step Functions caps a state machine's name at 80 characters. */
const STATE_MACHINE_NAME_MAX = 80;

/** IAM's default limit of a role's trust policy (ACLSizePerRole), in characters. */
export const TRUST_POLICY_MAX = 2048;

/** About how long a site role's trust policy is with these principals: the statements around them, and each quoted, as IAM counts it. */
export function trustPolicySize(principals: readonly string[]): number {
  return 120 + principals.reduce((n, p) => n + p.length + 3, 0);
}

/** CloudFormation's limit of resources in one stack. */
export const STACK_RESOURCES_MAX = 500;

/**
 * The resources of the processing stack: a fixed part and each site's (roles, replay URL,
 * officer group, activity, the backup-window and purge workflows), more with a schedule (rules,
 * their roles, the missed-window alarm) and with Roles Anywhere. test/infra/stack-limits.test.ts
 * holds these figures to the synthesized template.
 */
export const PROCESSING_RESOURCES = { base: 171, site: 21, schedule: 7, rolesAnywhere: 1 } as const;

export function processingResources(sites: readonly { schedule?: unknown; agent?: { rolesAnywhereTrustAnchorArn?: string } }[]): number {
  const r = PROCESSING_RESOURCES;
  return r.base + sites.reduce((n, s) => n + r.site + (s.schedule ? r.schedule : 0) + (s.agent?.rolesAnywhereTrustAnchorArn ? r.rolesAnywhere : 0), 0);
}

/** What of a configuration the limits read. */
export interface LimitedConfig {
  stackPrefix: string;
  env?: { account: string; region: string };
  sites: readonly { name: string; officers: readonly string[]; listeners?: readonly string[]; drReaders: readonly string[]; schedule?: unknown; agent?: { rolesAnywhereTrustAnchorArn?: string } }[];
}

export interface LimitProblem {
  path: (string | number)[];
  message: string;
}

/** The limits the deployment as a whole breaks (its bucket's name, its processing stack's resources), each with the setting to change. */
export function deploymentLimitProblems(config: LimitedConfig): LimitProblem[] {
  const problems: LimitProblem[] = [];
  const bucket = `${config.stackPrefix.toLowerCase()}-data-${config.env?.account ?? '123456789012'}-${config.env?.region ?? 'x'.repeat(LONGEST_REGION)}`;
  if (bucket.length > 63) {
    problems.push({ path: ['stackPrefix'], message: `makes the data bucket's name ${bucket.length} characters long${config.env ? '' : ' in the longest region name'}, over S3's 63: use at most ${63 - (bucket.length - config.stackPrefix.length)} characters` });
  }
  const resources = processingResources(config.sites);
  if (resources > STACK_RESOURCES_MAX) {
    const most = (perSite: number) => Math.floor((STACK_RESOURCES_MAX - PROCESSING_RESOURCES.base) / perSite);
    problems.push({
      path: ['sites'],
      message:
        `${config.sites.length} sites make ${resources} resources in the ${config.stackPrefix}-processing stack, over CloudFormation's ${STACK_RESOURCES_MAX} a stack ` +
        `(each site ${PROCESSING_RESOURCES.site}, ${PROCESSING_RESOURCES.site + PROCESSING_RESOURCES.schedule} with a schedule): one deployment holds at most ${most(PROCESSING_RESOURCES.site + PROCESSING_RESOURCES.schedule)} scheduled sites (${most(PROCESSING_RESOURCES.site)} without schedules). ` +
        `Split the sites into deployments, each with its own stackPrefix (its own bucket, catalogue and console)`,
    });
  }
  return problems;
}

/** The limits one site (at `sites[i]`) breaks: its roles' trust policies, its state machine's name. */
export function siteLimitProblems(stackPrefix: string, site: LimitedConfig['sites'][number], i: number): LimitProblem[] {
  const problems: LimitProblem[] = [];
  for (const [key, role, instead] of [
    ['officers', 'officer', 'tag the officers with ferry-officer-site (leave officers empty) or trust one role they assume'],
    ['listeners', 'listener', 'tag the listeners with ferry-listener-site (leave listeners empty) or trust one role they assume'],
    ['drReaders', 'DR reader', 'trust one role the readers assume'],
  ] as const) {
    const principals = site[key] ?? [];
    const size = trustPolicySize(principals);
    if (size > TRUST_POLICY_MAX) {
      problems.push({ path: ['sites', i, key], message: `${principals.length} principals make the ${role} role's trust policy about ${size} characters, over IAM's ${TRUST_POLICY_MAX}: ${instead}` });
    }
  }
  const machine = `${stackPrefix}-${site.name}-backup-window`;
  if (machine.length > STATE_MACHINE_NAME_MAX) {
    problems.push({ path: ['sites', i, 'name'], message: `with stackPrefix "${stackPrefix}" names the state machine ${machine} (${machine.length} characters), over Step Functions' ${STATE_MACHINE_NAME_MAX}: shorten the site name or the prefix` });
  }
  return problems;
}
