import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import type { CloudConfig } from '../core/config.ts';
import type { LocalCloudInfo } from '../local/cloud.ts';

// Where the commands find a cloud: the agent config's `cloud:` block, else the standard
// environment (FERRY_BUCKET, FERRY_API_URL, FERRY_REPLAY_URL, AWS_ENDPOINT_URL_S3…), else the
// embedded local cloud that `ferry start` left running (its address file under FERRY_HOME).

export type { LocalCloudInfo };

export function ferryHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.FERRY_HOME ?? '.ferry-local');
}

export function localCloudFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(ferryHome(env), 'cloud.json');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readLocalCloud(env: NodeJS.ProcessEnv = process.env): LocalCloudInfo | undefined {
  const file = localCloudFile(env);
  if (!existsSync(file)) return undefined;
  const info = JSON.parse(readFileSync(file, 'utf8')) as LocalCloudInfo;
  return isAlive(info.pid) ? info : undefined;
}

export class NoCloudError extends Error {
  /** `what`: what to set instead, when it is not the agent config's `cloud:` or FERRY_BUCKET / FERRY_API_URL (the table-reading commands). */
  constructor(what?: string) {
    super(`no cloud configured and no local cloud running (looked for ${localCloudFile()}).\n` + (what ?? `Start the embedded local cloud with \`ferry start\` (or \`npm start\`), or set \`cloud:\` in the agent config, or FERRY_BUCKET / FERRY_API_URL.`));
    this.name = 'NoCloudError';
  }
}

export function resolveCloud(configured: CloudConfig | undefined, env: NodeJS.ProcessEnv = process.env): CloudConfig {
  if (configured) return configured;
  if (env.FERRY_BUCKET) {
    return { bucket: env.FERRY_BUCKET, region: env.AWS_REGION ?? 'us-east-1', endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL, api: env.FERRY_API_URL, verify: 'auto' };
  }
  const local = readLocalCloud(env);
  if (!local) throw new NoCloudError();
  // Ferry's own local cloud honours If-None-Match: * (docs/parity.md).
  return { bucket: local.bucket, region: local.region, endpoint: local.s3, api: local.api, verify: 'auto', writeOnce: true, credentials: local.credentials };
}

/** Where an HTTP endpoint of the cloud is, and how to sign for it. */
export interface EndpointTarget {
  url: string;
  region: string;
  /** Absent: the AWS SDK's standard credential chain (env, profiles, SSO, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Where those credentials came from, as a refusal names them (credentialsInUse); set by the commands' apiFor. */
  credentialsFrom?: string;
  /** The `site` of the configuration the target came from, when one was given (siteDeniedMessage). */
  configuredSite?: string;
}

/** The region in an API Gateway or Function URL host name (…execute-api.eu-west-2.amazonaws.com, …lambda-url.eu-west-2.on.aws). */
export function regionOfUrl(url: string): string | undefined {
  return /\.(?:execute-api|lambda-url)\.([a-z]{2}(?:-[a-z]+)+-\d)\./.exec(new URL(url).hostname)?.[1];
}

function target(url: string, configured: CloudConfig | undefined, env: NodeJS.ProcessEnv, local?: LocalCloudInfo): EndpointTarget {
  const region = regionOfUrl(url) ?? configured?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? local?.region ?? 'us-east-1';
  const credentials = configured?.credentials ?? local?.credentials;
  return { url: url.replace(/\/$/, ''), region, ...(credentials ? { credentials } : {}) };
}

/**
 * The first URL given, in order: the command line, the config, the environment (http(s), or an
 * error naming where it came from); undefined when none is.
 */
function givenUrl(candidates: [value: string | undefined, from: string][]): string | undefined {
  const [url, from] = candidates.find(([value], i) => (i === 0 ? value !== undefined : Boolean(value))) ?? [];
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInputError(`${from} ${JSON.stringify(url)} is not a URL (e.g. https://abc123.execute-api.eu-west-2.amazonaws.com/prod)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new InvalidInputError(`${from} ${JSON.stringify(url)}: only https:// (or http:// for a local cloud) is spoken`);
  return url;
}

/** The endpoint given (command line, config, environment), else the running local cloud's. */
function resolveEndpoint(given: string | undefined, configured: CloudConfig | undefined, env: NodeJS.ProcessEnv, ofLocal: (local: LocalCloudInfo) => string): EndpointTarget {
  if (given) return target(given, configured, env, localFor(given, env));
  const local = readLocalCloud(env);
  if (!local) throw new NoCloudError();
  return target(ofLocal(local), undefined, env, local);
}

export function resolveApi(configured: CloudConfig | undefined, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): EndpointTarget {
  const given = givenUrl([[explicit, '--api'], [configured?.api, 'cloud.api'], [env.FERRY_API_URL, 'FERRY_API_URL']]);
  return resolveEndpoint(given, configured, env, (local) => local.api);
}

export function resolveReplay(configured: CloudConfig | undefined, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): EndpointTarget {
  const given = givenUrl([[explicit, '--replay-url'], [configured?.replay, 'cloud.replay'], [env.FERRY_REPLAY_URL, 'FERRY_REPLAY_URL']]);
  return resolveEndpoint(given, configured, env, (local) => local.replay);
}

/** The running local cloud when `url` is one of its endpoints (so its local key signs). */
function localFor(url: string, env: NodeJS.ProcessEnv): LocalCloudInfo | undefined {
  const local = readLocalCloud(env);
  const origin = new URL(url).origin;
  return local && (new URL(local.api).origin === origin || new URL(local.replay).origin === origin) ? local : undefined;
}
