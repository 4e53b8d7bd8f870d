// Plumbing of the real-AWS smoke suite (test/aws/smoke.test.ts), kept pure so that it is checked on
// every run without AWS (test/aws/smoke-config.test.ts): when the suite runs, what it reads from
// `cdk deploy --outputs-file`, the AWS profiles each step signs with, and the agent config it ships with.

/** Why the smoke suite is skipped, or that it runs; the title says so in the test report. */
export interface SmokeGate {
  enabled: boolean;
  title: string;
}

export function smokeGate(env: NodeJS.ProcessEnv): SmokeGate {
  const missing: string[] = [];
  if (env.FERRY_AWS_SMOKE !== '1') missing.push('FERRY_AWS_SMOKE=1');
  if (!env.AWS_PROFILE && !env.AWS_ACCESS_KEY_ID) missing.push('AWS_PROFILE or AWS_ACCESS_KEY_ID');
  if (!env.FERRY_STACK_OUTPUTS) missing.push('FERRY_STACK_OUTPUTS=<cdk-outputs.json>');
  if (missing.length === 0) return { enabled: true, title: 'real AWS smoke' };
  return { enabled: false, title: `real AWS smoke (skipped: set ${missing.join(', ')}; see docs/deploy.md)` };
}

/** What the suite needs from the two stacks' outputs, for one site. */
export interface SmokeTargets {
  stackPrefix: string;
  site: string;
  bucket: string;
  region: string;
  apiUrl: string;
  /** The site's own replay URL (its officer and DR roles may call only that one). */
  replayUrl: string;
  agentRoleArn: string;
  agentExternalId: string;
  activityArn: string;
  officerRoleArn: string;
  drRoleArn: string;
  /** Not an output: built from the activity ARN and the name infra/workflows gives it. */
  windowStateMachineArn: string;
}

/** The key suffix infra uses for per-site outputs (`AgentRoleArnlondoncc`). */
export const outputKeyOf = (site: string): string => site.replace(/[^A-Za-z0-9]/g, '');

/** `arn:aws:states:eu-west-2:111122223333:stateMachine:{prefix}-{site}-backup-window`, in the activity's partition, region and account. */
export function windowStateMachineArn(activityArn: string, stackPrefix: string, site: string): string {
  const m = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):activity:/.exec(activityArn);
  if (!m) throw new Error(`not an activity ARN: ${activityArn}`);
  return `arn:${m[1]}:states:${m[2]}:${m[3]}:stateMachine:${stackPrefix}-${site}-backup-window`;
}

/**
 * Reads `cdk deploy --all --outputs-file` (`{ "Ferry-stateful": {…}, "Ferry-processing": {…} }`).
 * Every missing output is named in one error, so a wrong file or site is fixed in one go.
 */
export function readStackOutputs(json: unknown, site: string): SmokeTargets {
  if (typeof json !== 'object' || json === null) {
    throw new Error('stack outputs: expected the JSON object cdk deploy --outputs-file writes');
  }
  const stacks = json as Record<string, Record<string, string>>;
  const stateful = Object.keys(stacks).filter((k) => k.endsWith('-stateful'));
  if (stateful.length !== 1) {
    throw new Error(`stack outputs: expected one {prefix}-stateful stack, found ${stateful.length ? stateful.join(', ') : 'none'}`);
  }
  const stackPrefix = stateful[0]!.slice(0, -'-stateful'.length);
  const all = { ...stacks[`${stackPrefix}-stateful`], ...stacks[`${stackPrefix}-processing`] };
  const key = outputKeyOf(site);
  const missing: string[] = [];
  const get = (name: string): string => {
    const v = all[name];
    if (typeof v !== 'string' || v === '') missing.push(name);
    return v ?? '';
  };
  const t = {
    stackPrefix,
    site,
    bucket: get('DataBucketName'),
    region: get('Region'),
    apiUrl: get('CatalogueApiUrl').replace(/\/$/, ''),
    replayUrl: get(`ReplayUrl${key}`),
    agentRoleArn: get(`AgentRoleArn${key}`),
    agentExternalId: get(`AgentExternalId${key}`),
    activityArn: get(`ActivityArn${key}`),
    officerRoleArn: get(`OfficerRoleArn${key}`),
    drRoleArn: get(`DrRoleArn${key}`),
  };
  if (missing.length) throw new Error(`stack outputs of ${stackPrefix} lack ${missing.join(', ')} (site ${site})`);
  return { ...t, windowStateMachineArn: windowStateMachineArn(t.activityArn, stackPrefix, site) };
}

/** The three principals of a site the suite acts as. */
export type SmokeRole = 'agent' | 'officer' | 'dr';
export const profileOf = (role: SmokeRole): string => `ferry-smoke-${role}`;

/**
 * An AWS config file: the caller's own (`base`, so SSO sessions and source profiles still resolve)
 * plus one profile per role, each assuming its role from `sourceProfile` as an operator's host would.
 */
export function awsConfigFile(base: string, t: SmokeTargets, sourceProfile: string): string {
  const profile = (role: SmokeRole, arn: string, extra: string[] = []) =>
    [`[profile ${profileOf(role)}]`, `role_arn = ${arn}`, ...extra, `source_profile = ${sourceProfile}`]
      .concat([`role_session_name = ${profileOf(role)}`, `region = ${t.region}`])
      .join('\n');
  return [
    base.trimEnd(),
    profile('agent', t.agentRoleArn, [`external_id = ${t.agentExternalId}`]),
    profile('officer', t.officerRoleArn),
    profile('dr', t.drRoleArn),
    '',
  ].join('\n\n');
}

/** Keys given in the environment become a source profile in a credentials file of the suite's own. */
export const ENV_SOURCE_PROFILE = 'ferry-smoke-source';

export function credentialsFileFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return undefined;
  const lines = [`[${ENV_SOURCE_PROFILE}]`, `aws_access_key_id = ${env.AWS_ACCESS_KEY_ID}`];
  lines.push(`aws_secret_access_key = ${env.AWS_SECRET_ACCESS_KEY}`);
  if (env.AWS_SESSION_TOKEN) lines.push(`aws_session_token = ${env.AWS_SESSION_TOKEN}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The environment of one `ferry` child process signing as `role`: its profile and nothing that
 * would win over it (environment keys come first in the SDK's chain), no local cloud, no stray
 * endpoint, and the deployed API and replay URL.
 */
export interface SmokeFiles {
  config: string;
  credentials?: string;
  home: string;
}

export function roleEnv(env: NodeJS.ProcessEnv, role: SmokeRole, files: SmokeFiles, t: SmokeTargets): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of Object.keys(out)) {
    if (/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|ENDPOINT_URL.*|PROFILE|DEFAULT_PROFILE)$/.test(name)) delete out[name];
  }
  delete out.FERRY_BUCKET;
  return {
    ...out,
    AWS_CONFIG_FILE: files.config,
    ...(files.credentials ? { AWS_SHARED_CREDENTIALS_FILE: files.credentials } : {}),
    AWS_PROFILE: profileOf(role),
    AWS_REGION: t.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    FERRY_HOME: files.home,
    FERRY_API_URL: t.apiUrl,
    FERRY_REPLAY_URL: t.replayUrl,
  };
}

export interface SmokeSitePaths {
  state: string;
  recordings: string;
  database: string;
}

/**
 * The agent config the smoke ships with: the deployment's `cloud:` block (no endpoint, no keys:
 * AWS itself, the profile's role) and a recordings, a full-backup and a binlog source.
 */
export function agentConfigYaml(t: SmokeTargets, p: SmokeSitePaths, withActivity: boolean): string {
  return [
    `site: ${t.site}`,
    `state: ${JSON.stringify(p.state)}`,
    'cloud:',
    `  bucket: ${t.bucket}`,
    `  region: ${t.region}`,
    `  api: ${t.apiUrl}`,
    `  replay: ${t.replayUrl}`,
    '  verify: auto',
    ...(withActivity ? ['  activity:', `    arn: ${t.activityArn}`] : []),
    'shipping: { partSizeMiB: 5, attempts: 3 }',
    'sources:',
    `  - { name: contactstore, type: recordings, path: ${JSON.stringify(p.recordings)}, quietSeconds: 0, settleSeconds: 0 }`,
    `  - { name: db, type: rotated, profile: generic, patterns: ["*.sql"], path: ${JSON.stringify(p.database)}, stableSeconds: 0 }`,
    `  - { name: binlog, type: binlog, path: ${JSON.stringify(p.database)}, basename: mysql-bin, partialIntervalSeconds: 0 }`,
    '',
  ].join('\n');
}

/** The purge function among the deployment's functions (CDK names it `{prefix}-processing-…Purge…`). */
export function purgeFunctionName(names: string[], stackPrefix: string): string {
  const found = names.filter((n) => n.startsWith(`${stackPrefix}-processing`) && /Purge/.test(n));
  if (found.length !== 1) {
    throw new Error(`expected one purge function of ${stackPrefix}-processing, found ${found.length ? found.join(', ') : 'none'}`);
  }
  return found[0]!;
}

/** The purge function's read-only step: a plan, nothing deleted (the purge has no dry-run; plan is its first step). */
export function purgePlanEvent(site: string, retentionDays: number, keepFullCycles = 2): Record<string, unknown> {
  return { action: 'plan', site, settings: { retentionDays, keepFullCycles }, maxTargets: 1000, batchObjects: 100 };
}

/** `bytes=a-b` for `length` bytes starting at `start`, and the bytes it names. */
export function rangeOf(start: number, length: number): { header: string; start: number; end: number } {
  return { header: `bytes=${start}-${start + length - 1}`, start, end: start + length };
}
