import { createHash } from 'node:crypto';
import { startLocalCloud } from '../../local/cloud.ts';
import { DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import type { LocalCredentials } from '../../local/iam-gateway/credentials.ts';
import { startCloudProcess, type CloudProcessInfo } from './cloud-process.ts';
import type { CpuPids } from './cpu-split.ts';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { cpuSecondsOf } from './measure.ts';
import { round } from './report.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MANIFEST_FORMAT, type CallMetadata, type PackManifest } from '../../core/manifest.ts';
import { packKey, packManifestKey } from '../../core/layout.ts';
import { recordingId } from '../../core/ids.ts';
import { mapLimit } from '../../core/map-limit.ts';

// The cloud rows of the bench (replay, ingest, search): the local cloud as `ferry start` runs
// it for users (local/cloud.ts: the functions from their CDK bundles in the local Lambda
// runtime, the IAM gateway in front of s3rver and dynalite, the catalogue API and the replay
// URL verifying SigV4 and IAM), started in a process of its own (cloud-process.ts; as deployed,
// the players' CPU is not the service's) or, with `--cloud-in-process`, in the bench's. Each raw
// baseline goes to the same store through the same gateway (in the cloud's process), signed
// with the AWS SDK as the function's own role (what the function itself may do), in the same
// run. Ratios only: both sides share the machine.

export const BENCH_SITE = 'demo';
export const BENCH_SOURCE = 'rec';

/** Where a bench row's local cloud is (the same facts wherever it runs), and its catalogue. */
export interface BenchCloudView extends Omit<CloudProcessInfo, 'iam'> {
  /** The catalogue read and seeded directly on the DynamoDB stand-in (no IAM): set-up and checks, never measured. */
  catalogue: DynamoCatalogue;
}

/** Where the local cloud runs: its own process (as deployed: the client's CPU is not the service's), or the bench's. */
export type CloudMode = 'process' | 'in-process';

export interface BenchCloud {
  mode: CloudMode;
  cloud: BenchCloudView;
  /** A principal's keys (`officer:demo`, `function:replay`, …). */
  credentialsOf(principal: string): LocalCredentials;
  /** S3 through the IAM gateway as `principal`. */
  s3As(principal: string): S3Client;
  /** DynamoDB through the IAM gateway as `principal`. */
  dynamoAs(principal: string): DynamoDBDocumentClient;
  /** Resolves when every S3 notification received so far has been ingested. */
  drain(): Promise<void>;
  /** Ingest failures seen so far. */
  ingestErrors(): Promise<{ key: string; error: string }[]>;
  /** CPU seconds of the stand-ins (s3rver, dynalite) and of the cloud's own process (process mode; 0 in-process) since start. */
  standInCpu(): { s3: number; dynamo: number; cloud: number };
  /** The processes a request's CPU is read from (cpu-split.ts); the cloud's absent in-process (its CPU is the bench's). */
  cpuPids: CpuPids;
  stop(): Promise<void>;
}

export interface BenchCloudOptions {
  fresh?: boolean;
  mode?: CloudMode;
  /** Node flags for the cloud's process (process mode), e.g. `--cpu-prof --cpu-prof-dir DIR`. */
  nodeFlags?: string[];
  /** Runtimes of the replay function (default 1; LocalCloudOptions.replayEnvironments). */
  replayEnvironments?: number;
}

export async function startBenchCloud(directory: string, options: BenchCloudOptions = {}): Promise<BenchCloud> {
  const fresh = options.fresh ?? true;
  if ((options.mode ?? 'process') === 'in-process') {
    const cloud = await startLocalCloud({ directory, fresh, replayEnvironments: options.replayEnvironments });
    const iam = cloud.iam;
    if (!iam) throw new Error('the local cloud started without its IAM gateway');
    const view = { ...pick(cloud), catalogue: cloud.catalogue as DynamoCatalogue };
    const ends = { drain: () => cloud.drain(), ingestErrors: async () => [...cloud.ingestErrors], stop: () => cloud.stop() };
    return benchClients('in-process', view, iam, (p) => iam.credentialsOf(p), undefined, ends);
  }
  const proc = await startCloudProcess({ directory, fresh, nodeFlags: options.nodeFlags, replayEnvironments: options.replayEnvironments });
  const { info } = proc;
  const standIn = createDynamoClients({ region: info.region, endpoint: info.dynamoEndpoint, credentials: info.credentials });
  const view = { ...pick(info), catalogue: new DynamoCatalogue(standIn.doc, info.table) };
  const stop = async () => {
    standIn.client.destroy();
    await proc.stop();
  };
  const ends = { drain: () => proc.drain(), ingestErrors: () => proc.ingestErrors(), stop };
  return benchClients('process', view, info.iam, (p) => proc.credentials.of(p), proc.pid, ends);
}

const pick = (c: Omit<BenchCloudView, 'catalogue'>): Omit<BenchCloudView, 'catalogue'> => ({
  ...{ bucket: c.bucket, table: c.table, region: c.region, apiUrl: c.apiUrl, replayUrl: c.replayUrl },
  ...{ s3Endpoint: c.s3Endpoint, dynamoEndpoint: c.dynamoEndpoint, credentials: c.credentials, children: c.children },
});

function benchClients(
  mode: CloudMode,
  cloud: BenchCloudView,
  iam: { s3Endpoint: string; dynamoEndpoint: string },
  credentialsOf: (principal: string) => LocalCredentials,
  cloudPid: number | undefined,
  ends: Pick<BenchCloud, 'drain' | 'ingestErrors' | 'stop'>,
): BenchCloud {
  const clients: { destroy(): void }[] = [];
  const s3As = (principal: string) => {
    const c = createS3Client({ region: cloud.region, endpoint: iam.s3Endpoint, credentials: credentialsOf(principal) });
    clients.push(c);
    return c;
  };
  const dynamoAs = (principal: string) => {
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: iam.dynamoEndpoint, credentials: credentialsOf(principal) });
    clients.push(client);
    return doc;
  };
  const { children } = cloud;
  const cpu = () => ({ s3: cpuSecondsOf(children.s3), dynamo: cpuSecondsOf(children.dynamo), cloud: cloudPid === undefined ? 0 : cpuSecondsOf(cloudPid) });
  const base = cpu();
  return {
    ...{ mode, cloud, credentialsOf, s3As, dynamoAs, drain: ends.drain, ingestErrors: ends.ingestErrors },
    cpuPids: { cloud: cloudPid, s3: children.s3, dynamo: children.dynamo },
    standInCpu: () => {
      const now = cpu();
      return { s3: now.s3 - base.s3, dynamo: now.dynamo - base.dynamo, cloud: now.cloud - base.cloud };
    },
    async stop() {
      for (const c of clients.splice(0)) c.destroy();
      await ends.stop();
    },
  };
}

/** The p-th percentile (0-100) of samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function latencySummary(samplesMs: number[]): { n: number; p50Ms: number; p99Ms: number; meanMs: number } {
  const mean = samplesMs.reduce((a, b) => a + b, 0) / Math.max(1, samplesMs.length);
  return { n: samplesMs.length, p50Ms: round(percentile(samplesMs, 50), 2), p99Ms: round(percentile(samplesMs, 99), 2), meanMs: round(mean, 2) };
}

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at once. */
export async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  await mapLimit(Array.from({ length: count }, (_, i) => i), concurrency, work);
}

const hex = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/** A recording id (r + 23 hex) for synthetic call n of the search catalogue (loaded straight into the table, not ingested). */
export const syntheticRid = (n: number) => `r${hex(`rid:${n}`, 23)}`;
/** A pack id (p + 23 hex) for synthetic pack n. */
export const syntheticPackId = (n: number) => `p${hex(`pack:${n}`, 23)}`;
export const syntheticSha = (n: number) => hex(`sha:${n}`, 64);

/** Agents calls are spread over: a search by agent reads one of them. */
export const AGENTS = 200;

/** The call metadata of synthetic call n: one call a minute from 2023-01-01, 200 agents. */
export function syntheticMeta(n: number): CallMetadata {
  const start = new Date(Date.UTC(2023, 0, 1) + n * 60_000).toISOString();
  return {
    callId: `c${n}`,
    start,
    durationSec: 60,
    agent: `agent-${n % AGENTS}`,
    caller: `+4420${String(7_000_000 + (n % 900_000)).padStart(7, '0')}`,
    called: '+442079460000',
    direction: 'inbound',
    codec: 'pcm_s16le',
  };
}

/** Synthetic pack n: `members` calls of `memberBytes` each, as a manifest would describe them (not a real tar: only its size and ranges matter here). */
export interface SyntheticPack {
  manifest: PackManifest;
  manifestKey: string;
  /** The pack's bytes: each member's bytes at its offset. */
  size: number;
}

export function syntheticPack(n: number, members: number, memberBytes: number): SyntheticPack {
  const packId = syntheticPackId(n);
  const first = n * members;
  const at = new Date(Date.UTC(2023, 0, 1) + first * 60_000);
  const key = packKey(BENCH_SITE, packId, at);
  const slot = 512 + memberBytes;
  const manifest: PackManifest = {
    format: MANIFEST_FORMAT,
    kind: 'recordings',
    site: BENCH_SITE,
    source: BENCH_SOURCE,
    packId,
    packKey: key,
    createdAt: at.toISOString(),
    batch: { path: `batch-${n}`, files: members },
    pack: { size: members * slot, sha256: syntheticSha(-n - 1), parts: 1, partSize: members * slot },
    members: Array.from({ length: members }, (_, i) => {
      const call = first + i;
      const meta = syntheticMeta(call);
      const name = `batch-${n}/${call}.wav`;
      // Its id is its content's, as an agent's is: ingest refuses a member under another recording's id.
      const sha256 = syntheticSha(call);
      return { name, offset: i * slot + 512, length: memberBytes, sha256, rid: recordingId(BENCH_SITE, name, sha256), path: name, contentType: 'audio/wav', mtime: meta.start!, meta, issues: [] };
    }),
  };
  return { manifest, manifestKey: packManifestKey(BENCH_SITE, packId, at), size: members * slot };
}
