import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, rmSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from './s3-process.ts';
import { startLocalDynamo } from './dynalite-process.ts';
import { createDynamoClients, createS3Client } from '../adapters/aws-clients.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import { DynamoCatalogue, createCatalogueTable } from '../adapters/dynamo-catalogue.ts';
import { LOCAL_BUCKET, LOCAL_REGION, LOCAL_TABLE } from '../core/deployment.ts';
import { FrontDoorAccess, deployedEntryPoints } from './api-access.ts';
import { startApiFunctions, type ApiFunctionName } from './api-functions.ts';
import { startApiServer } from './api-server.ts';
import { demoPassword, startCognitoStandIn } from './cognito-server.ts';
import { listenerGroup, siteGroup } from '../core/console-access.ts';
import { generatedSnapshot } from './function-environment.ts';
import { LOCAL_ENV } from '../infra/cfn-resolve.ts';
import { startReplayServer, type ReplayFunction } from './replay-server.ts';
import { createS3EventDelivery, deliveryLog } from './s3-events.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import type { RecallStarter } from '../core/recall.ts';
import type { AuditEvent } from '../functions/shared/audit.ts';
import { revisePolicies, startLocalIam, type LocalCredentials, type LocalIamOptions, type PolicyRevision, type PrincipalName } from './iam-gateway/index.ts';
import { LOCAL_WORKFLOW_SITES } from './workflow-definitions.ts';
import { startScheduledFunctions, type LocalSchedules, type ScheduledFunctionsOptions } from './scheduled-functions.ts';
import type { Clock } from '../core/clock.ts';
import { eventRules, LocalEventBus, siteStateMachines, type EventDelivery, type WorkflowName } from './event-rules.ts';

// The embedded local cloud, in the deployed topology: s3rver and dynalite on loopback (child
// processes), the catalogue API and the replay URL as two endpoints (API Gateway and a Function
// URL in the stack), both verifying SigV4 (and, with the IAM gateway, evaluating the caller's
// policies), and the S3 bucket notification for manifests delivered to the ingest function as
// S3 → Lambda does. The functions run from their deployed bundles (local/api-functions.ts).
// No account, no Docker. The IAM gateway (local/iam-gateway/) is on by default: agents,
// functions and tools sign as principals of the deployment and get what its synthesized
// policies allow.

export interface LocalCloudOptions {
  directory: string;
  apiPort?: number;
  replayPort?: number;
  /** Start from empty storage. */
  fresh?: boolean;
  /** How long a RestoreObject (a recall from the archive tier) takes on the S3 stand-in; default S3's own (12 h, Standard tier). */
  restoreDelayMs?: number;
  /** Where to write the address file the CLI reads (`cloud.json`). */
  addressFile?: string;
  log?: (message: string) => void;
  /**
   * The IAM gateway (local/iam-gateway/) in front of S3, DynamoDB and the local Step Functions
   * calls, and IAM at the API and replay URL, for the deployment's sites (default: the generated
   * local deployment, `ferry start`'s sites; other sites need their synthesized `snapshot`). The
   * functions call the stand-ins with their own roles and `iam` hands out each principal's
   * credentials. `false` only for tests of a raw stand-in itself, and the caller says why in a
   * comment: nothing is checked then.
   */
  iam?: false | LocalCloudIamOptions;
  /** Where the function bundles are built (default: node_modules/.cache/ferry-functions). */
  bundleDir?: string;
  /**
   * The deployment's scheduled rules (local/scheduled-functions.ts), run on this clock, looked
   * for every `pollMs` (0: only when the caller ticks: tests). Default: the system clock, 15 s.
   */
  schedules?: { clock?: Clock; pollMs?: number };
  /** Runtimes of the replay function (default 1): concurrent invocations spread over them (local/lambda-pool.ts). */
  replayEnvironments?: number;
  /**
   * A second bucket on the S3 stand-in, versioned under the same Object Lock, standing for the DR
   * bucket of `replication` (its name as the deployment's `destinationBucketArn` gives it). The
   * stand-in does not replicate: a test puts the replicas itself, under the same keys.
   */
  drBucket?: string;
}

/** `clock`: the gateway's (tests: an agent host whose clock is off from AWS's). */
export interface LocalCloudIamOptions extends Pick<LocalIamOptions, 'editTemplates' | 'onDecision' | 'snapshot' | 'clock'> {
  /** The deployment's sites; default: the snapshot's, else the generated local deployment's. */
  sites?: string[];
}

/** The local cloud's IAM: gateway endpoints and every principal's credentials. */
export interface LocalCloudIam {
  s3Endpoint: string;
  dynamoEndpoint: string;
  credentialsFile: string;
  credentialsOf(principal: PrincipalName): LocalCredentials;
  /** Puts a gateway in front of a local activity server whose activity stands for `site`'s; returns its endpoint. */
  guardActivity(upstream: string, localActivityArn: string, site: string): Promise<string>;
  /** Changes a policy of the running deployment, as an IAM update does (tests: a grant revoked, then given back). */
  revisePolicies(revision: PolicyRevision): void;
  /** A new access key for a principal beside its current one, as `aws iam create-access-key` (a key rotation's first step). */
  issueKey(principal: PrincipalName): LocalCredentials;
  /** Deletes an access key, as `aws iam delete-access-key`: what it signs is refused from the next request on. */
  revokeKey(accessKeyId: string): void;
}

/** EventBridge's default bus on the local cloud, and what an event source needs to speak as AWS would. */
export interface LocalCloudEvents {
  /** Matches an event against the deployment's rules; resolves once each match reached its target. */
  put(event: Record<string, unknown>): Promise<EventDelivery[]>;
  /** The deployed ARNs of a site's state machines (the `stateMachineArn` of their events); undefined for a site the deployment lacks. */
  stateMachines(site: string): Record<WorkflowName, string> | undefined;
  /** The account and region of the deployment's ARNs. */
  account: string;
  region: string;
}

/** Where the console signs in, and the demo officer `ferry start` prints. */
export interface ConsoleSignIn {
  /** The console API's base (`{apiUrl}/console`). */
  apiUrl: string;
  /** The console's web page (web/console.html, with the config.json it reads beside it). */
  pageUrl: string;
  /** Where InitiateAuth (USER_PASSWORD_AUTH) is posted. */
  cognitoEndpoint: string;
  issuer: string;
  userPoolId: string;
  clientId: string;
  demo: { username: string; password: string; groups: string[] };
  /** A listener of the first site (listener-<site>): searches and plays its calls, nothing else. */
  listener: { username: string; password: string; groups: string[] };
  /** Adds an officer (tests: a second site's officer). */
  addUser(user: { username: string; password: string; groups: string[]; temporary?: boolean }): void;
}

/** What `cloud.json` holds: where everything is, and the local credentials. */
export interface LocalCloudInfo {
  bucket: string;
  table: string;
  region: string;
  s3: string;
  dynamo: string;
  api: string;
  replay: string;
  /** The page, with its session token in the fragment. */
  web: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  pid: number;
  /** The stand-ins' child processes. */
  children: { s3: number; dynamo: number };
  /** The IAM gateway, when it runs: its endpoints and every principal's keys (owner-only file). */
  iam?: { s3: string; dynamo: string; credentialsFile: string };
}

export interface LocalCloud {
  bucket: string;
  table: string;
  region: string;
  /** The stand-ins themselves (no IAM): provisioning, operator tools, test assertions. */
  s3Endpoint: string;
  dynamoEndpoint: string;
  /** The catalogue API (SigV4, service execute-api). */
  apiUrl: string;
  /** The replay endpoint (SigV4, service lambda; presigned links too). */
  replayUrl: string;
  /** The Lambda Invoke endpoint the console starts exports through (their Event invocations, failures to the on-failure destination). */
  lambdaEndpoint: string;
  /** The compliance officer's page, session token included. */
  webUrl: string;
  /** The stand-ins' own key pair (the account administrator's: no policy applies); the API and replay accept it too. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** JSON lines: every search, listen and download. */
  auditFile: string;
  /** The compliance console's sign-in (the local Cognito stand-in) and its demo officer (officer of the first site). */
  console: ConsoleSignIn;
  blobs: BlobStore;
  catalogue: CatalogueStore;
  children: { s3: number; dynamo: number };
  /** Resolves when every S3 notification received so far has been ingested. */
  drain(): Promise<void>;
  /** Ingest failures seen so far (key and reason). */
  ingestErrors: { key: string; error: string }[];
  /** Present unless started with `iam: false`. */
  iam?: LocalCloudIam;
  /** The deployment's scheduled functions (dead-man's switch, reports, audit sealer) and the alerts they published. */
  schedules: LocalSchedules;
  /** The default event bus: the deployment's event-pattern rules (local/event-rules.ts), delivered to the alert topic. */
  events: LocalCloudEvents;
  /** Moves the S3 stand-in's clock forward (Object Lock retention, lifecycle transitions, restores). */
  advanceClock(ms: number): Promise<void>;
  /** Routes the API's recall requests for `site` to its recall workflow (until the returned function is called: 501 again). */
  wireRecall(site: string, starter: RecallStarter): () => void;
  stop(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  if (options.fresh) rmSync(options.directory, { recursive: true, force: true });
  mkdirSync(options.directory, { recursive: true });
  const events = createS3EventDelivery(deliveryLog(options.directory, options.log));
  const s3 = await startLocalS3({ directory: join(options.directory, 's3'), buckets: [LOCAL_BUCKET, ...(options.drBucket ? [options.drBucket] : [])], onEvent: (e) => events.deliver(e), ...(options.restoreDelayMs === undefined ? {} : { restoreDelayMs: options.restoreDelayMs }) });
  const dynamo = await startLocalDynamo({ directory: join(options.directory, 'dynamo') }).catch(async (e: unknown) => {
    await s3.stop();
    throw e;
  });
  const stops: (() => Promise<void>)[] = [() => s3.stop(), () => dynamo.stop()];
  const stopAll = async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
    if (options.addressFile) rmSync(options.addressFile, { force: true });
  };
  try {
    return await wire(options, s3, dynamo, events, stops, stopAll);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function wire(
  options: LocalCloudOptions,
  s3: { endpoint: string; pid: number; advanceClock(ms: number): Promise<unknown> },
  dynamo: { endpoint: string; pid: number },
  s3Events: ReturnType<typeof createS3EventDelivery>,
  stops: (() => Promise<void>)[],
  stopAll: () => Promise<void>,
): Promise<LocalCloud> {
  const credentials = { ...LOCAL_S3_CREDENTIALS };
  const s3Client = createS3Client({ region: LOCAL_REGION, endpoint: s3.endpoint, credentials });
  const { client, doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials });
  await createCatalogueTable(client, LOCAL_TABLE);
  const blobs = new S3BlobStore(s3Client, LOCAL_BUCKET, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
  const catalogue = new DynamoCatalogue(doc, LOCAL_TABLE);
  // The audit trail and the functions' logs go to files, as CloudWatch would keep them.
  const auditFile = join(options.directory, 'audit.jsonl');
  const logFile = join(options.directory, 'functions.log');
  const audit = (event: AuditEvent) => appendFileSync(auditFile, `${JSON.stringify(event)}\n`);
  const log = (level: string, message: string, detail?: Record<string, unknown>) =>
    appendFileSync(logFile, `${JSON.stringify({ time: new Date().toISOString(), level, message, ...detail })}\n`);
  const iamOptions = options.iam === false ? undefined : withSites(options.iam ?? {});
  const iam = iamOptions ? await startGateways(options, iamOptions, s3.endpoint, dynamo.endpoint, credentials) : undefined;
  if (iam) stops.unshift(() => iam.stop());
  // Random per local cloud, like the secret the stack generates: the page's session token
  // and the key that seals listing cursors.
  const cursorKey = randomBytes(32).toString('base64url');
  const sites = iamOptions?.sites ?? LOCAL_WORKFLOW_SITES.map((s) => s.site);
  const cognito = await startCognitoStandIn({ region: LOCAL_REGION });
  stops.push(() => cognito.stop());
  const demo = { username: 'demo-officer', password: demoPassword(), groups: [siteGroup(sites[0]!)] };
  cognito.addUser(demo);
  const listener = { username: 'demo-listener', password: demoPassword(), groups: [listenerGroup(sites[0]!)] };
  cognito.addUser(listener);
  // The replay endpoint first (its function bound once it runs): the console function's
  // environment names it, as the stack gives the console each site's replay URL.
  const bound: { replay?: ReplayFunction } = {};
  const front = iam?.front(credentials);
  const shared = { credentials: [credentials], region: LOCAL_REGION, log, iam: front };
  const replay = await startReplayServer({ ...shared, replay: (event, invocation) => bound.replay!(event, invocation) }, { port: options.replayPort ?? 0 });
  stops.push(() => replay.stop());
  const recalls = new Map<string, RecallStarter>();
  // Each function from its bundle, as its own role through the IAM gateway when there is one.
  const functions = await startApiFunctions({
    ...{ bucket: LOCAL_BUCKET, table: LOCAL_TABLE, region: LOCAL_REGION, cursorKey, bundleDir: options.bundleDir },
    console: { issuer: cognito.issuer, clientId: cognito.clientId, replayUrls: Object.fromEntries(sites.map((site) => [site, replay.url])) },
    s3Endpoint: iam?.cloudIam.s3Endpoint ?? s3.endpoint,
    dynamoEndpoint: iam?.cloudIam.dynamoEndpoint ?? dynamo.endpoint,
    credentialsOf: (fn: ApiFunctionName) => iam?.cloudIam.credentialsOf(`function:${fn}`) ?? credentials,
    recallFor: (site) => recalls.get(site),
    guardStates: iam?.guardStates,
    snapshot: iamOptions?.snapshot,
    onAudit: audit,
    onLog: (line) => appendFileSync(logFile, `${line}\n`),
    environments: { replay: options.replayEnvironments ?? 1 },
  });
  stops.push(() => functions.stop());
  s3Events.attach((event) => functions.ingest(event));
  const schedules = await startSchedules(options, iam, { s3: s3.endpoint, dynamo: dynamo.endpoint, credentials, snapshot: iamOptions?.snapshot, log, logFile });
  stops.push(() => schedules.stop());
  const events = eventBus(iamOptions?.snapshot ?? generatedSnapshot(), schedules);

  bound.replay = functions.replay;
  const session = { token: randomBytes(24).toString('base64url'), replayUrl: replay.url, credentials };
  const routes = {
    ...{ catalogue: functions.route('catalogue'), artefacts: functions.route('artefacts') },
    ...{ fleet: functions.route('fleet'), console: functions.route('console'), holds: functions.route('holds') },
  };
  const recallWired = (site: string) => recalls.has(site);
  const consoleSignIn = { region: LOCAL_REGION, userPoolId: cognito.poolId, clientId: cognito.clientId, issuer: cognito.issuer, cognitoEndpoint: `${cognito.endpoint}/` };
  const api = await startApiServer({ ...shared, functions: routes, session, recallWired, consoleSignIn }, { port: options.apiPort ?? 0 });
  stops.push(() => api.stop());

  const webUrl = `${api.url}/#session=${session.token}`;
  const children = { s3: s3.pid, dynamo: dynamo.pid };
  const info: LocalCloudInfo = {
    ...{ bucket: LOCAL_BUCKET, table: LOCAL_TABLE, region: LOCAL_REGION, s3: s3.endpoint, dynamo: dynamo.endpoint },
    ...{ api: api.url, replay: replay.url, web: webUrl, credentials, pid: process.pid, children },
    ...(iam ? { iam: { s3: iam.cloudIam.s3Endpoint, dynamo: iam.cloudIam.dynamoEndpoint, credentialsFile: iam.cloudIam.credentialsFile } } : {}),
  };
  if (options.addressFile) writeFileSync(options.addressFile, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });

  return {
    ...{ bucket: LOCAL_BUCKET, table: LOCAL_TABLE, region: LOCAL_REGION, s3Endpoint: s3.endpoint, dynamoEndpoint: dynamo.endpoint },
    ...{ apiUrl: api.url, replayUrl: replay.url, lambdaEndpoint: functions.lambdaEndpoint, webUrl, credentials, auditFile, blobs, catalogue, children },
    console: {
      ...{ apiUrl: `${api.url}/console`, pageUrl: `${api.url}/web/console.html`, cognitoEndpoint: cognito.endpoint, issuer: cognito.issuer, userPoolId: cognito.poolId, clientId: cognito.clientId },
      demo,
      listener,
      addUser: (user) => cognito.addUser(user),
    },
    ingestErrors: s3Events.errors,
    ...(iam ? { iam: iam.cloudIam } : {}),
    schedules,
    events,
    drain: () => s3Events.drain(),
    advanceClock: async (ms) => void (await s3.advanceClock(ms)),
    wireRecall(site, starter) {
      recalls.set(site, starter);
      return () => void (recalls.get(site) === starter && recalls.delete(site));
    },
    stop: stopAll,
  };
}

/** The deployment's event rules, each match published to the alert topic as EventBridge does (no subject, no message attributes). */
function eventBus(snapshot: NonNullable<LocalCloudIamOptions['snapshot']>, schedules: LocalSchedules): LocalCloudEvents {
  const bus = new LocalEventBus(eventRules(snapshot), (d) => schedules.publish({ topicArn: d.topicArn, message: d.message, principal: 'service:events.amazonaws.com', at: new Date().toISOString() }));
  const { account, region } = LOCAL_ENV;
  return { put: (event) => bus.put(event), stateMachines: (site) => siteStateMachines(snapshot, site), account, region };
}

/** The scheduled functions, as their own roles through the gateways when there are, else with the stand-ins' key. */
function startSchedules(
  options: LocalCloudOptions,
  iam: Awaited<ReturnType<typeof startGateways>> | undefined,
  standIn: { s3: string; dynamo: string; credentials: LocalCredentials; snapshot?: LocalCloudIamOptions['snapshot']; log: ScheduledFunctionsOptions['log']; logFile: string },
): Promise<LocalSchedules> {
  return startScheduledFunctions({
    ...{ directory: options.directory, bucket: LOCAL_BUCKET, table: LOCAL_TABLE, region: LOCAL_REGION, bundleDir: options.bundleDir, snapshot: standIn.snapshot },
    s3Endpoint: iam?.cloudIam.s3Endpoint ?? standIn.s3,
    dynamoEndpoint: iam?.cloudIam.dynamoEndpoint ?? standIn.dynamo,
    credentialsOf: (fn) => iam?.cloudIam.credentialsOf(`function:${fn}`) ?? standIn.credentials,
    ...(iam ? { iam: { deployment: iam.local.deployment, credentials: iam.local.credentials } } : {}),
    ...{ clock: options.schedules?.clock, pollMs: options.schedules?.pollMs, log: standIn.log, onLog: (line: string) => appendFileSync(standIn.logFile, `${line}\n`) },
  });
}

/** The IAM options with their sites: given, the snapshot's, or the generated local deployment's. */
function withSites(iam: LocalCloudIamOptions): LocalCloudIamOptions & { sites: string[] } {
  return { ...iam, sites: iam.sites ?? iam.snapshot?.sites ?? LOCAL_WORKFLOW_SITES.map((s) => s.site) };
}

async function startGateways(
  options: LocalCloudOptions,
  iamOptions: LocalCloudIamOptions & { sites: string[] },
  s3Endpoint: string,
  dynamoEndpoint: string,
  standIn: LocalCredentials,
) {
  const iam = await startLocalIam({ directory: options.directory, bucket: LOCAL_BUCKET, table: LOCAL_TABLE, ...iamOptions });
  const [s3Gateway, dynamoGateway] = await Promise.all([iam.gateway('s3', s3Endpoint, standIn), iam.gateway('dynamodb', dynamoEndpoint, standIn)]);
  const entryPoints = deployedEntryPoints(iamOptions.snapshot ?? generatedSnapshot());
  return {
    /** IAM at the API and replay URL; the local cloud's own key stands for the account administrator. */
    front: (administrator: LocalCredentials) =>
      new FrontDoorAccess({ deployment: iam.deployment, credentials: iam.credentials, entryPoints, administrators: [administrator] }),
    /** The gateway in front of a local Step Functions endpoint (the recall's StartExecution). */
    guardStates: async (upstream: string) => (await iam.gateway('states', upstream, standIn)).endpoint,
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
      revisePolicies: (revision: PolicyRevision) => revisePolicies(iam.deployment, revision),
      issueKey: (principal: PrincipalName) => iam.credentials.issue(principal),
      revokeKey: (accessKeyId: string) => iam.credentials.revoke(accessKeyId),
    } satisfies LocalCloudIam,
    /** The local IAM itself (the SNS stand-in checks Publish against it). */
    local: iam,
    stop: () => iam.stop(),
  };
}
