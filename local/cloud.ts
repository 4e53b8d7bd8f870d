import { mkdirSync, writeFileSync, rmSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalS3, LOCAL_S3_CREDENTIALS, type LocalS3Event } from './s3-process.ts';
import { startLocalDynamo } from './dynalite-process.ts';
import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { DynamoCatalogue, createCatalogueTable } from '../adapters/dynamo-catalogue.ts';
import { LOCAL_BUCKET, LOCAL_REGION, LOCAL_TABLE } from '../core/deployment.ts';
import { startApiServer } from './api-server.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import type { AuditEvent } from '../functions/shared/audit.ts';
import { startLocalIam, type LocalCredentials, type LocalIamOptions, type PrincipalName } from './iam-gateway/index.ts';

// The embedded local cloud: s3rver and dynalite on loopback, the Lambda handlers in process
// behind a local HTTP server, and S3 notifications for manifests delivered to the ingest
// handler, exactly as the S3 → Lambda trigger does in AWS. No account, no Docker.

export interface LocalCloudOptions {
  directory: string;
  apiPort?: number;
  /** Start from empty storage. */
  fresh?: boolean;
  /** Where to write the address file the CLI reads (`cloud.json`). */
  addressFile?: string;
  log?: (message: string) => void;
  /**
   * Put the IAM gateway (local/iam-gateway/) in front of S3 and DynamoDB for these sites: the
   * catalogue functions then call them with their own roles, and `iam` hands out each
   * principal's credentials. Absent: no signature or policy is checked.
   */
  iam?: Pick<LocalIamOptions, 'sites' | 'editTemplates' | 'onDecision' | 'snapshot'>;
}

/** The local cloud's IAM: gateway endpoints and every principal's credentials. */
export interface LocalCloudIam {
  s3Endpoint: string;
  dynamoEndpoint: string;
  credentialsFile: string;
  credentialsOf(principal: PrincipalName): LocalCredentials;
  /** Puts a gateway in front of a local activity server whose activity stands for `site`'s; returns its endpoint. */
  guardActivity(upstream: string, localActivityArn: string, site: string): Promise<string>;
}

export interface LocalCloud {
  bucket: string;
  table: string;
  /** The stand-ins themselves (no IAM): provisioning, operator tools, test assertions. */
  s3Endpoint: string;
  dynamoEndpoint: string;
  apiUrl: string;
  /** JSON lines: every search, listen and download. */
  auditFile: string;
  blobs: BlobStore;
  catalogue: CatalogueStore;
  /** Resolves when every S3 notification received so far has been ingested. */
  drain(): Promise<void>;
  /** Ingest failures seen so far (key and reason). */
  ingestErrors: { key: string; error: string }[];
  /** Present when started with `iam`. */
  iam?: LocalCloudIam;
  stop(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  if (options.fresh) rmSync(options.directory, { recursive: true, force: true });
  mkdirSync(options.directory, { recursive: true });
  const log = options.log ?? (() => undefined);
  const ingestErrors: { key: string; error: string }[] = [];
  let queue: Promise<void> = Promise.resolve();
  let ingest: ((event: LocalS3Event) => Promise<void>) | undefined = undefined;
  const pending: LocalS3Event[] = [];

  const enqueue = (event: LocalS3Event) => {
    if (!ingest) {
      pending.push(event);
      return;
    }
    const run = ingest;
    queue = queue.then(() => run(event)).catch(() => undefined);
  };

  const s3 = await startLocalS3({ directory: join(options.directory, 's3'), buckets: [LOCAL_BUCKET], onEvent: enqueue });
  const dynamo = await startLocalDynamo({ directory: join(options.directory, 'dynamo') }).catch(async (e: unknown) => {
    await s3.stop();
    throw e;
  });
  const credentials = { ...LOCAL_S3_CREDENTIALS };
  const s3Client = createS3Client({ region: LOCAL_REGION, endpoint: s3.endpoint, credentials });
  const { client, doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials });
  await createCatalogueTable(client, LOCAL_TABLE);
  const blobs = new S3BlobStore(s3Client, LOCAL_BUCKET, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
  const catalogue = new DynamoCatalogue(doc, LOCAL_TABLE);
  // The audit trail and the functions' logs go to files, as CloudWatch would keep them.
  const iam = options.iam ? await startGateways(options, s3.endpoint, dynamo.endpoint, credentials).catch(async (e: unknown) => {
    await Promise.all([s3.stop(), dynamo.stop()]);
    throw e;
  }) : undefined;
  const auditFile = join(options.directory, 'audit.jsonl');
  const logFile = join(options.directory, 'functions.log');
  const audit = (event: AuditEvent) => appendFileSync(auditFile, `${JSON.stringify(event)}\n`);
  const functionLog = (level: string, message: string, detail?: Record<string, unknown>) =>
    appendFileSync(logFile, `${JSON.stringify({ time: new Date().toISOString(), level, message, ...detail })}\n`);
  const api = await startApiServer({ blobs, catalogue, audit, log: functionLog, functions: iam?.functions }, { port: options.apiPort ?? 0 });
  ingest = async (event) => {
    const keys = event.Records.filter((r) => r.eventName.startsWith('ObjectCreated')).map((r) => r.s3.object.key);
    if (keys.length === 0) return;
    try {
      await api.ingest(event);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const key of keys) ingestErrors.push({ key, error: message });
      log(`ingest failed: ${message}`);
    }
  };
  for (const e of pending.splice(0)) enqueue(e);

  const info = { bucket: LOCAL_BUCKET, table: LOCAL_TABLE, region: LOCAL_REGION, s3: s3.endpoint, dynamo: dynamo.endpoint, api: api.url, credentials, pid: process.pid };
  if (options.addressFile) writeFileSync(options.addressFile, `${JSON.stringify(info, null, 2)}\n`);

  return {
    bucket: LOCAL_BUCKET,
    table: LOCAL_TABLE,
    s3Endpoint: s3.endpoint,
    dynamoEndpoint: dynamo.endpoint,
    apiUrl: api.url,
    auditFile,
    blobs,
    catalogue,
    ingestErrors,
    iam: iam?.cloudIam,
    async drain() {
      // Notifications arrive asynchronously over IPC; wait until the queue stays empty.
      for (let settled = 0; settled < 3; ) {
        const current = queue;
        await current;
        await new Promise((r) => setTimeout(r, 50));
        settled = current === queue ? settled + 1 : 0;
      }
    },
    async stop() {
      await api.stop();
      await iam?.stop();
      await Promise.all([s3.stop(), dynamo.stop()]);
      if (options.addressFile) rmSync(options.addressFile, { force: true });
    },
  };
}

/** The gateways, and the catalogue functions' stores built with their own roles' credentials through them. */
async function startGateways(options: LocalCloudOptions, s3Endpoint: string, dynamoEndpoint: string, standIn: LocalCredentials) {
  const iam = await startLocalIam({ directory: options.directory, bucket: LOCAL_BUCKET, table: LOCAL_TABLE, ...options.iam! });
  const [s3Gateway, dynamoGateway] = await Promise.all([iam.gateway('s3', s3Endpoint, standIn), iam.gateway('dynamodb', dynamoEndpoint, standIn)]);
  const stores = (fn: string) => {
    const credentials = iam.credentialsOf(`function:${fn}`);
    const s3 = createS3Client({ region: LOCAL_REGION, endpoint: s3Gateway.endpoint, credentials });
    const { doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamoGateway.endpoint, credentials });
    return { blobs: new S3BlobStore(s3, LOCAL_BUCKET, { features: { verifiesChecksums: false, conditionalPut: false } }), catalogue: new DynamoCatalogue(doc, LOCAL_TABLE) };
  };
  return {
    functions: { ingest: stores('ingest'), catalogue: stores('catalogue'), replay: stores('replay'), artefacts: stores('artefacts') },
    cloudIam: {
      s3Endpoint: s3Gateway.endpoint,
      dynamoEndpoint: dynamoGateway.endpoint,
      credentialsFile: iam.credentialsFile,
      credentialsOf: (principal: PrincipalName) => iam.credentialsOf(principal),
      async guardActivity(upstream: string, localActivityArn: string, site: string) {
        const deployed = iam.deployment.siteActivities.get(site);
        if (!deployed) throw new Error(`the local deployment has no site ${site}`);
        return (await iam.gateway('states', upstream, standIn, { [localActivityArn]: deployed })).endpoint;
      },
    } satisfies LocalCloudIam,
    stop: () => iam.stop(),
  };
}
