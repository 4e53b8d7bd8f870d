import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CloudConfig } from '../core/config.ts';

// Where the commands find a cloud: the agent config's `cloud:` block, else the standard
// environment (FERRY_BUCKET, FERRY_API_URL, AWS_ENDPOINT_URL_S3…), else the embedded local
// cloud that `ferry start` left running (its address file under FERRY_HOME).

export interface LocalCloudInfo {
  bucket: string;
  table: string;
  region: string;
  s3: string;
  dynamo: string;
  api: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  pid: number;
}

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
  constructor() {
    super(`no cloud configured and no local cloud running (looked for ${localCloudFile()}).\n` + `Start the embedded local cloud with \`ferry start\` (or \`npm start\`), or set \`cloud:\` in the agent config, or FERRY_BUCKET / FERRY_API_URL.`);
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
  return { bucket: local.bucket, region: local.region, endpoint: local.s3, api: local.api, verify: 'auto', credentials: local.credentials };
}

export function resolveApi(configured: CloudConfig | undefined, explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (configured?.api) return configured.api;
  if (env.FERRY_API_URL) return env.FERRY_API_URL;
  const local = readLocalCloud(env);
  if (!local) throw new NoCloudError();
  return local.api;
}
