import type { ActivityClient } from '../core/activity.ts';
import { LOCAL_REGION } from '../core/deployment.ts';
import type { Alert, Notifier } from '../core/ports.ts';
import type { SitePurgeSettings } from '../core/workflow-config.ts';
import type { RenderedWorkflows } from '../infra/workflows/render.ts';
import type { WorkflowFunctionName } from '../infra/workflows/state-names.ts';
import { LocalActivityService } from './activity-service.ts';
import { startActivityServer, type ActivityServer } from './activity-server.ts';
import { buildFunctionBundles } from './function-bundles.ts';
import { LocalLambda, standInEnvironment } from './local-lambda.ts';
import { LOCAL_S3_CREDENTIALS } from './s3-process.ts';
import { LocalWorkflows, type ExecutionEvent, type StatusEventSink } from './stepfunctions.ts';
import type { LocalCloudEvents, LocalCloudIam } from './cloud.ts';
import { generatedWorkflows } from './workflow-definitions.ts';
import { functionEnvironment } from './function-environment.ts';
import type { DeploymentSnapshot } from './iam-gateway/deployment.ts';

// The orchestration of one site on the embedded local cloud, from the deployment's own
// artefacts: the state machines as CDK synthesized them (local/workflows.generated.json) and
// the workflow functions as CDK bundles them (local/function-bundles.ts), each in a runtime of
// its own with the environment CDK gives it, pointed at the stand-ins (locks and run records in
// dynalite, deletions and restores on s3rver). The site's activity is served in process and,
// on request, over HTTP for an agent in another process.

const WORKFLOW_FUNCTIONS: readonly WorkflowFunctionName[] = ['lock', 'window', 'purge', 'recall'];

export interface LocalOrchestrationOptions {
  /** The running local cloud (local/cloud.ts): its endpoints and names, and its IAM gateway when it runs one. */
  cloud: { s3Endpoint: string; dynamoEndpoint: string; bucket: string; table: string; iam?: LocalCloudIam; events?: LocalCloudEvents };
  site: string;
  purge: SitePurgeSettings;
  /** The site's definitions; absent: the generated ones of the local deployment (LOCAL_WORKFLOW_SITES). */
  definitions?: RenderedWorkflows;
  /** Where alerts go (default: printed by `say`). */
  notifier?: Notifier;
  say?: (line: string) => void;
  /** Shorten every Wait and Retry pause to this many ms (the demo does not wait 10 minutes). */
  pauseMs?: number;
  /** Serve the activity over HTTP (for `ferry agent run` in another process); port 0 = any. */
  activityPort?: number;
  /** Each log line of a function (its CloudWatch log); absent: dropped. */
  onFunctionLog?: (fn: WorkflowFunctionName, line: string) => void;
  /** Where the function bundles are built (default: node_modules/.cache/ferry-functions). */
  bundleDir?: string;
  /** The synthesized deployment whose functions' environment the workflow functions get (default: the generated local deployment): the cloud's own snapshot, when it has one. */
  snapshot?: DeploymentSnapshot;
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

/** The four workflow functions, each from its bundle; stops those started if one fails. */
async function startWorkflowFunctions(options: LocalOrchestrationOptions): Promise<Record<WorkflowFunctionName, LocalLambda>> {
  const bundles = await buildFunctionBundles(WORKFLOW_FUNCTIONS, { dir: options.bundleDir });
  // With the IAM gateway each function signs as its own role, through the gateway (what it may do
  // is what the app grants it); without, it talks to the stand-ins directly.
  const environmentOf = (fn: WorkflowFunctionName) => {
    const iam = options.cloud.iam;
    const cloud = iam
      ? { ...options.cloud, s3Endpoint: iam.s3Endpoint, dynamoEndpoint: iam.dynamoEndpoint, credentials: iam.credentialsOf(`function:${fn}`), region: LOCAL_REGION }
      : { ...options.cloud, credentials: { ...LOCAL_S3_CREDENTIALS }, region: LOCAL_REGION };
    // The settings the app gives the function (PURGE_DELETE_VERSIONS: the bucket is versioned under
    // Object Lock, and the stand-in keeps versions and lock rules as S3 does); the endpoints, names
    // and keys are the local cloud's.
    const app = functionEnvironment(fn, { BUCKET: options.cloud.bucket, TABLE: options.cloud.table }, options.snapshot);
    return { ...app, ...standInEnvironment(cloud) };
  };
  const onLog = (fn: WorkflowFunctionName) => options.onFunctionLog && ((line: string) => options.onFunctionLog?.(fn, line));
  const started = await Promise.allSettled(
    WORKFLOW_FUNCTIONS.map((fn) => LocalLambda.start({ functionName: `ferry-${fn}`, bundle: bundles[fn], environment: environmentOf(fn), onLog: onLog(fn) })),
  );
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  const lambdas = started.map((s) => (s as PromiseFulfilledResult<LocalLambda>).value);
  return Object.fromEntries(WORKFLOW_FUNCTIONS.map((fn, i) => [fn, lambdas[i]])) as Record<WorkflowFunctionName, LocalLambda>;
}

/** Each execution's end to the cloud's event bus (the deployment's rules on failed workflows), under the site's deployed state machine ARNs. */
function statusEvents(options: LocalOrchestrationOptions): StatusEventSink | undefined {
  const events = options.cloud.events;
  if (!events) return undefined;
  const stateMachines = events.stateMachines(options.site);
  if (!stateMachines) throw new Error(`the local cloud's deployment has no state machines for site ${options.site}: start the cloud for that site (its sites, or a snapshot synthesized with it)`);
  return { stateMachines, account: events.account, region: events.region, put: (event) => events.put(event) };
}

export async function startLocalOrchestration(options: LocalOrchestrationOptions): Promise<LocalOrchestration> {
  const definitions = options.definitions ?? generatedWorkflows(options.site, options.purge);
  const functions = await startWorkflowFunctions(options);
  const activity = new LocalActivityService();
  const stopFunctions = () => Promise.all(Object.values(functions).map((f) => f.stop()));
  let workflows: LocalWorkflows;
  let server: ActivityServer | undefined;
  try {
    workflows = await LocalWorkflows.create({
      site: options.site,
      definitions,
      handlers: {
        lock: (event) => functions.lock.invoke(event),
        window: (event) => functions.window.invoke(event),
        purge: (event) => functions.purge.invoke(event),
        recall: (event) => functions.recall.invoke(event),
      },
      activity,
      notifier: options.notifier ?? printAlerts(options.say ?? ((line) => process.stdout.write(`${line}\n`))),
      pauseMs: options.pauseMs,
      onEvent: options.onEvent,
      statusEvents: statusEvents(options),
    });
    if (options.activityPort !== undefined) server = await startActivityServer(activity, { port: options.activityPort });
  } catch (error) {
    await stopFunctions();
    throw error;
  }
  const activityArn = workflows.definitions.activityArn;
  return {
    workflows,
    activity,
    activityArn,
    // With IAM, the agent in another process reaches its activity through the gateway, as its site's agent role.
    activityEndpoint: server && options.cloud.iam ? await options.cloud.iam.guardActivity(server.endpoint, activityArn, options.site) : server?.endpoint,
    activityClient: () => activity.client(activityArn),
    async stop() {
      activity.stop();
      await server?.stop();
      await stopFunctions();
    },
  };
}
