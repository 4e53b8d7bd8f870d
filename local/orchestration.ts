import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { dynamoLockStore } from '../adapters/dynamo-lock.ts';
import { DynamoRunStore } from '../adapters/dynamo-runs.ts';
import { S3ArchiveStore } from '../adapters/s3-archive.ts';
import { S3ObjectDeleter } from '../adapters/s3-purge.ts';
import type { ActivityClient } from '../core/activity.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { LOCAL_REGION } from '../core/deployment.ts';
import type { Alert, BlobStore, CatalogueStore, Notifier } from '../core/ports.ts';
import type { SitePurgeSettings, WorkflowConfigInput } from '../core/workflow-config.ts';
import { createLockHandler } from '../functions/lock/handler.ts';
import { createPurgeHandler } from '../functions/purge/handler.ts';
import { createRecallHandler } from '../functions/recall/handler.ts';
import { createWindowHandler } from '../functions/window/handler.ts';
import type { Log } from '../functions/shared/log.ts';
import { LocalActivityService } from './activity-service.ts';
import { startActivityServer, type ActivityServer } from './activity-server.ts';
import { LOCAL_S3_CREDENTIALS } from './s3-process.ts';
import { LocalWorkflows, type ExecutionEvent } from './stepfunctions.ts';
import type { LocalCloudIam } from './cloud.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { DynamoCatalogue } from '../adapters/dynamo-catalogue.ts';
import type { WorkflowFunctionName } from '../infra/workflows/state-names.ts';

// The orchestration of one site on the embedded local cloud: the workflow handlers on the
// local stand-ins (lock and run records in dynalite's catalogue table, deletions and restore
// state on s3rver), the synthesized state machines run locally, the site's activity served
// in process and, on request, over HTTP for an agent in another process.

export interface LocalOrchestrationOptions {
  /** The running local cloud (local/cloud.ts): its stores and endpoints. */
  cloud: { blobs: BlobStore; catalogue: CatalogueStore; s3Endpoint: string; dynamoEndpoint: string; bucket: string; table: string; iam?: LocalCloudIam };
  site: string;
  purge: SitePurgeSettings;
  config?: WorkflowConfigInput;
  /** Where alerts go (default: printed by `say`). */
  notifier?: Notifier;
  say?: (line: string) => void;
  /** Shorten every Wait and Retry pause to this many ms (the demo does not wait 10 minutes). */
  pauseMs?: number;
  /** Serve the activity over HTTP (for `ferry agent run` in another process); port 0 = any. */
  activityPort?: number;
  clock?: Clock;
  log?: Log;
  onEvent?: (event: ExecutionEvent) => void;
}

export interface LocalOrchestration {
  workflows: LocalWorkflows;
  activity: LocalActivityService;
  /** The ARN the backup window's dispatch state names: what the agent's config points at. */
  activityArn: string;
  /** The local Step Functions endpoint for the activity API, when served. */
  activityEndpoint?: string;
  /** An activity client for an agent in this process. */
  activityClient(): ActivityClient;
  stop(): Promise<void>;
}

function printAlerts(say: (line: string) => void): Notifier {
  return {
    async notify(alert: Alert) {
      say(`  ALERT [${alert.severity}] ${alert.subject}`);
      for (const line of alert.message.split('\n')) say(`    ${line}`);
    },
  };
}

/**
 * Each workflow function's clients. With the cloud's IAM gateway: signed as the function's own
 * role, through the gateway (what the function may do is what the app grants it). Without: the
 * stand-ins directly, one shared client pair.
 */
function functionClients(cloud: LocalOrchestrationOptions['cloud']) {
  const direct = () => {
    const credentials = { ...LOCAL_S3_CREDENTIALS };
    const s3 = createS3Client({ region: LOCAL_REGION, endpoint: cloud.s3Endpoint, credentials });
    const { doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: cloud.dynamoEndpoint, credentials });
    return { s3, doc, blobs: cloud.blobs, catalogue: cloud.catalogue };
  };
  const shared = cloud.iam ? undefined : direct();
  return (fn: WorkflowFunctionName) => {
    if (shared) return shared;
    const iam = cloud.iam!;
    const credentials = iam.credentialsOf(`function:${fn}`);
    const s3 = createS3Client({ region: LOCAL_REGION, endpoint: iam.s3Endpoint, credentials });
    const { doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: iam.dynamoEndpoint, credentials });
    const blobs = new S3BlobStore(s3, cloud.bucket, { features: { verifiesChecksums: false, conditionalPut: false } });
    return { s3, doc, blobs, catalogue: new DynamoCatalogue(doc, cloud.table) };
  };
}

export async function startLocalOrchestration(options: LocalOrchestrationOptions): Promise<LocalOrchestration> {
  const { cloud } = options;
  const clock = options.clock ?? systemClock;
  const log: Log = options.log ?? (() => undefined);
  const clientsOf = functionClients(cloud);
  const [lock, window, purge, recall] = (['lock', 'window', 'purge', 'recall'] as const).map(clientsOf);
  const activity = new LocalActivityService();
  const workflows = await LocalWorkflows.create({
    site: options.site,
    purge: options.purge,
    config: options.config,
    handlers: {
      lock: createLockHandler({ locks: dynamoLockStore(lock!.doc, cloud.table, clock), log }),
      window: createWindowHandler({ blobs: window!.blobs, runs: new DynamoRunStore(window!.doc, cloud.table), clock, log }),
      // s3rver keeps no versions: delete by key (AWS: by version, see adapters/s3-purge.ts).
      purge: createPurgeHandler({
        blobs: purge!.blobs,
        catalogue: purge!.catalogue,
        deleter: new S3ObjectDeleter(purge!.s3, cloud.bucket, { versions: false }),
        locks: dynamoLockStore(purge!.doc, cloud.table, clock),
        clock,
        log,
      }),
      recall: createRecallHandler({ catalogue: recall!.catalogue, archive: new S3ArchiveStore(recall!.s3, cloud.bucket), clock, log }),
    },
    activity,
    notifier: options.notifier ?? printAlerts(options.say ?? ((line) => process.stdout.write(`${line}\n`))),
    pauseMs: options.pauseMs,
    onEvent: options.onEvent,
  });
  const activityArn = workflows.definitions.activityArn;
  let server: ActivityServer | undefined;
  if (options.activityPort !== undefined) server = await startActivityServer(activity, { port: options.activityPort });
  return {
    workflows,
    activity,
    activityArn,
    // With IAM, the agent in another process reaches its activity through the gateway, as its site's agent role.
    activityEndpoint: server && cloud.iam ? await cloud.iam.guardActivity(server.endpoint, activityArn, options.site) : server?.endpoint,
    activityClient: () => activity.client(activityArn),
    async stop() {
      activity.stop();
      await server?.stop();
      for (const c of new Set([lock!, window!, purge!, recall!])) {
        c.s3.destroy();
        c.doc.destroy();
      }
    },
  };
}
