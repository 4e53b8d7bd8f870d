import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalCloud, type LocalCloud, type LocalCloudIamOptions, type LocalCloudOptions } from '../../local/cloud.ts';
import { GENERATED_DEPLOYMENT_FILE, type DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';

// The local cloud as tests start it: always with the IAM gateway, for the sites the test uses.
// A deployment for sites other than the generated one is synthesized from the CDK app (5 s) and
// kept under node_modules/.cache, keyed by the sites and by the generated deployment's content:
// a change to the app changes that file (`npm run render-workflows`; a test checks it equals a
// fresh synth), so a cached synth never outlives the app it came from.

const CACHE = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'ferry-test', 'iam');

/** The synthesized deployment of `sites` (and other top-level `settings`: `replication`): the generated one, a cached synth, or a fresh synth. */
export async function deploymentFor(sites: string[], settings: Record<string, unknown> = {}): Promise<DeploymentSnapshot> {
  const generated = readFileSync(GENERATED_DEPLOYMENT_FILE, 'utf8');
  const generatedSites = (JSON.parse(generated) as DeploymentSnapshot).sites;
  const plain = Object.keys(settings).length === 0;
  if (plain && [...generatedSites].sort().join(',') === [...sites].sort().join(',')) return JSON.parse(generated) as DeploymentSnapshot;
  const key = createHash('sha256').update(generated).update(JSON.stringify([...sites].sort())).update(plain ? '' : JSON.stringify(settings)).digest('hex').slice(0, 24);
  const file = join(CACHE, `${key}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DeploymentSnapshot;
  const snapshot = await synthesizeDeployment(sites, settings);
  mkdirSync(CACHE, { recursive: true });
  // Written aside then renamed: test files running at once never read half a file.
  const aside = `${file}.${process.pid}.tmp`;
  writeFileSync(aside, JSON.stringify(snapshot));
  renameSync(aside, file);
  return snapshot;
}

export interface TestCloudOptions extends Omit<LocalCloudOptions, 'iam'> {
  /** The sites of the deployment (each gets its agent and DR roles). */
  sites: string[];
  /** Other top-level settings of the deployment synthesized for them (`replication`). */
  settings?: Record<string, unknown>;
  iam?: Omit<LocalCloudIamOptions, 'sites' | 'snapshot'>;
}

/** The local cloud with its IAM gateway for `sites`. */
export async function startTestCloud(options: TestCloudOptions): Promise<LocalCloud> {
  const { sites, settings, iam, ...rest } = options;
  return startLocalCloud({ ...rest, iam: { ...iam, sites, snapshot: await deploymentFor(sites, settings) } });
}

/** The `cloud:` block of an agent config for `site`: through the gateway, signed as the site's agent role. */
export function agentCloudYaml(cloud: LocalCloud, site: string, extra: Record<string, string> = {}): string {
  return principalCloudYaml(cloud, `agent:${site}`, extra);
}

/** The same block for another principal (`dr:{site}`, …). */
export function principalCloudYaml(cloud: LocalCloud, principal: string, extra: Record<string, string> = {}): string {
  const { accessKeyId, secretAccessKey } = cloud.iam!.credentialsOf(principal);
  const more = Object.entries(extra).map(([k, v]) => `, ${k}: ${v}`).join('');
  return `{ bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}${more}, credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: ${JSON.stringify(secretAccessKey)} } }`;
}
