import { CATALOGUE_INDEXES } from '../../core/catalogue-schema.ts';
import { grantAuditChain } from '../function-grants.ts';
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { leadingKeyPatterns, PURGE_FORGETS } from '../../core/catalogue-table.ts';
import { classPrefix, type DataClass } from '../../core/layout.ts';
import { ERASURES_PREFIX } from '../../core/erasure-items.ts';
import { workflowConfig, type WorkflowConfigInput } from '../../core/workflow-config.ts';
import type { WorkflowContext, WorkflowsFactory } from '../extension.ts';
import { functionEntry } from '../function-bundling.ts';
import { ferryFunctionProps } from '../functions.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import { mayListBucket, objectsArn, viaService } from '../names.ts';
import { grantReplicaErasure, replicaEnvironment } from '../replication.ts';
import { deployedPurgeSettings } from '../site-purge.ts';
import { notifyWorkflowFailures } from './failure-notice.ts';
import { addWorkflows, type Workflows } from './index.ts';
import type { WorkflowFunctionName } from './state-names.ts';

// The orchestration as the processing stack's WorkflowsFactory (infra/extension.ts): the four
// workflow functions (functions/{lock,window,purge,recall}) each with its own least-privilege
// role and retained log group, the state machines (addWorkflows), the EventBridge schedules
// per site, and per scheduled site a CloudWatch alarm when no backup window started for a day
// (the "verify every day that it happened" rule: catches a schedule that never fired).

export interface WorkflowsFactoryOptions {
  /** Orchestration numbers (CVP defaults): core/workflow-config.ts. */
  config?: WorkflowConfigInput;
  /** Called with what was built (tests, outputs). */
  onBuilt?: (built: BuiltWorkflows) => void;
}

export interface BuiltWorkflows extends Workflows {
  functions: Record<WorkflowFunctionName, NodejsFunction>;
}

const SPECS: Record<WorkflowFunctionName, { description: string; timeout: Duration; memorySize: number }> = {
  lock: { description: 'Ferry: site lock (acquire, heartbeat, release, describe)', timeout: Duration.seconds(20), memorySize: 256 },
  window: { description: 'Ferry: backup window verify and record', timeout: Duration.seconds(60), memorySize: 256 },
  purge: { description: 'Ferry: purge plan, delete batch, report', timeout: Duration.minutes(10), memorySize: 1024 },
  recall: { description: 'Ferry: recall of archived packs (restore, check)', timeout: Duration.seconds(30), memorySize: 256 },
};

function buildFunction(scope: Construct, name: WorkflowFunctionName, context: WorkflowContext): NodejsFunction {
  const spec = SPECS[name];
  const id = name.charAt(0).toUpperCase() + name.slice(1);
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: context.config.logs.functionRetentionDays, encryptionKey: context.logsKey, removalPolicy: RemovalPolicy.RETAIN });
  const role = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `${spec.description}: execution role` });
  role.addToPolicy(new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  const fn = new NodejsFunction(
    scope,
    id,
    // What functions/shared/workflow-deps.ts reads. Object Lock buckets are versioned: the purge deletes by version.
    // The purge records every deletion in the sites' durable audit trail (AUDIT_TRAIL=chain), and
    // with replication deletes an erasure's packs in the DR bucket too (DR_BUCKET, DR_REGION).
    ferryFunctionProps(functionEntry(name), { ...spec, role, logGroup, environment: { BUCKET: context.bucketName, TABLE: context.catalogueTable.tableName, PURGE_DELETE_VERSIONS: 'true', ...(name === 'purge' ? { AUDIT_TRAIL: 'chain', ...replicaEnvironment(context.config.replication) } : {}) } }),
  );
  acknowledge(fn, 'AwsSolutions-L1', undefined, 'runtime pinned to nodejs22.x like every Ferry function: the Node line the handlers and their bundled dependencies are tested on');
  return fn;
}

/** Item prefixes of the catalogue table a function may touch (dynamodb:LeadingKeys). */
function tableItems(fn: NodejsFunction, context: WorkflowContext, sid: string, actions: string[], leadingKeys: string[], write: boolean): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources: [context.catalogueTable.tableArn], conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } } }));
  const keyActions = write ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt', 'kms:DescribeKey'];
  fn.addToRolePolicy(new iam.PolicyStatement({ sid: `${sid}Key`, actions: keyActions, resources: [context.dataKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': viaService('dynamodb') } } }));
}

function objects(fn: NodejsFunction, context: WorkflowContext, sid: string, actions: string[], classes: DataClass[], why: string): void {
  const resources = classes.map((c) => objectsArn(context.bucketName, classPrefix(c)));
  fn.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources }));
  for (const r of resources) acknowledgeWildcardResource(fn.role!, r, why);
  if (actions.includes('s3:GetObject')) mayListBucket(fn, context.bucketName);
}

function grant(fns: Record<WorkflowFunctionName, NodejsFunction>, context: WorkflowContext): void {
  const decryptViaS3 = (fn: NodejsFunction, actions = ['kms:Decrypt']) =>
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'DataKeyViaS3', actions, resources: [context.dataKey.keyArn], conditions: { StringEquals: { 'kms:ViaService': viaService('s3') } } }));
  // Lock: its own items only.
  tableItems(fns.lock, context, 'LockItems', ['dynamodb:GetItem', 'dynamodb:PutItem'], leadingKeyPatterns(['lock']), true);
  // Window: HEAD the manifests the agent reported (HEAD is s3:GetObject), write run records.
  objects(fns.window, context, 'HeadManifests', ['s3:GetObject'], ['manifests'], 'the window verify HEADs the manifests an agent reports, under that site prefix (checked in code against the window site)');
  tableItems(fns.window, context, 'RunRecords', ['dynamodb:PutItem'], leadingKeyPatterns(['run']), true);
  // Purge: read manifests, legal holds and its lock; delete objects and their versions, never bypassing Object Lock.
  const purgeable: DataClass[] = ['recordings', 'manifests', 'backups', 'logs', 'trees'];
  objects(fns.purge, context, 'ReadManifests', ['s3:GetObject'], ['manifests'], 'the purge planner reads the manifests (commit records) of the site it purges');
  decryptViaS3(fns.purge, ['kms:Decrypt', 'kms:GenerateDataKey']);
  fns.purge.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ListForPurge',
      actions: ['s3:ListBucket', 's3:ListBucketVersions'],
      resources: [context.bucketArn],
      conditions: { StringLike: { 's3:prefix': purgeable.map((c) => `${classPrefix(c)}*`) } },
    }),
  );
  objects(fns.purge, context, 'DeleteExpired', ['s3:DeleteObject', 's3:DeleteObjectVersion'], purgeable, 'the purge deletes only what the retention plan allows (core/retention.ts), fenced by the site lock; Object Lock still refuses protected versions');
  // With replication, an erasure's old pack and manifest in the DR bucket too (core/erasure-replica.ts): S3 never replicates a version's deletion.
  if (context.config.replication) grantReplicaErasure(fns.purge.role!, context.config.replication, (['recordings', 'manifests'] as DataClass[]).map(classPrefix));
  fns.purge.addToRolePolicy(new iam.PolicyStatement({ sid: 'NeverBypassObjectLock', effect: iam.Effect.DENY, actions: ['s3:BypassGovernanceRetention', 's3:PutObjectRetention'], resources: ['*'] }));
  tableItems(fns.purge, context, 'LegalHolds', ['dynamodb:Query'], leadingKeyPatterns(['hold']), false);
  // The backups and log segments it judges, from the catalogue's artefact items (core/purge-artefacts.ts), not by reading every manifest.
  tableItems(fns.purge, context, 'ArtefactItems', ['dynamodb:Query'], leadingKeyPatterns(['artefact', 'artefactSource']), false);
  // Calls that started before the retention cutoff, by the catalogue's time index: their packs dated after the cutoff day (files written late) are judged too.
  fns.purge.addToRolePolicy(new iam.PolicyStatement({ sid: 'CallsByTime', actions: ['dynamodb:Query'], resources: [`${context.catalogueTable.tableArn}/index/${CATALOGUE_INDEXES.byTime.indexName}`] }));
  // Copy-out (core/copy-out.ts): held calls of an expiring pack are copied to their own pack and
  // manifest (PutObject, ranged GET of the pack), put under legal hold, re-catalogued there; the
  // pack they leave has its legal hold turned OFF only after the copy is verified and catalogued.
  objects(fns.purge, context, 'CopyOutHeldCalls', ['s3:GetObject', 's3:PutObject', 's3:PutObjectLegalHold'], ['recordings', 'manifests'], 'the purge copies held calls of an expiring pack into their own held pack of the same site (checked in code), verified by SHA-256 before the manifest is written');
  // Every deletion, with the recordings it took and why, is a `purge-intent` record before it and a `purge` record after it in the site's audit trail.
  grantAuditChain(fns.purge, { bucketName: context.bucketName, table: context.catalogueTable, dataKey: context.dataKey });
  // An expiring pack with held calls is in Deep Archive by then: the purge asks for its restore, and a later purge copies the held calls out.
  objects(fns.purge, context, 'RestoreHeldPacks', ['s3:RestoreObject'], ['recordings'], 'the purge asks S3 to restore an archived pack past retention whose held calls it must copy out (core/purge.ts copyOutFailure)');
  tableItems(fns.purge, context, 'RecatalogueCopies', ['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:BatchGetItem'], leadingKeyPatterns(['recording', 'pack']), true);
  // The record of each run, written as it starts (PURGERUN# items only: never the window's RUN# records), read by the dead-man's switch.
  tableItems(fns.purge, context, 'PurgeRunRecords', ['dynamodb:PutItem'], leadingKeyPatterns(['purgeRun']), true);
  // The intents it left open (core/purge-intents.ts: PURGEINTENT# items only), each written after its purge-intent record and deleted once its outcome is recorded.
  tableItems(fns.purge, context, 'PurgeIntents', ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'], leadingKeyPatterns(['purgeIntent']), true);
  // Erasure (core/erasure-purge.ts): reads the site's requests, marks one done (the table, and write-once in the bucket) once its call's pack is gone.
  tableItems(fns.purge, context, 'ErasureRequests', ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem'], leadingKeyPatterns(['erasure']), true);
  fns.purge.addToRolePolicy(new iam.PolicyStatement({ sid: 'ErasureRecordsInBucket', actions: ['s3:PutObject'], resources: [objectsArn(context.bucketName, ERASURES_PREFIX)] }));
  acknowledgeWildcardResource(fns.purge.role!, objectsArn(context.bucketName, ERASURES_PREFIX), 'the purge writes, write-once, the done record of each erasure request it carried out, of the site it purges');
  tableItems(fns.purge, context, 'PurgeLock', ['dynamodb:GetItem', 'dynamodb:PutItem'], leadingKeyPatterns(['lock']), true);
  // Deletes through BatchWriteItem (DeleteRequest), only the kinds of item core/purge.ts forgets.
  tableItems(fns.purge, context, 'ForgetCatalogueEntries', ['dynamodb:BatchWriteItem'], leadingKeyPatterns(PURGE_FORGETS), true);
  // Recording items alone: a purged pack's entry goes by a DeleteItem conditional on its still naming
  // that pack (a BatchWrite delete takes no condition); an erased call's other copies (its COPY#
  // items, the call shipped twice) are a Query of its own partition. The table key's grant is above.
  fns.purge.addToRolePolicy(new iam.PolicyStatement({ sid: 'RecordingEntriesAndCopies', actions: ['dynamodb:DeleteItem', 'dynamodb:Query'], resources: [context.catalogueTable.tableArn], conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording']) } } }));
  // Recall: look up the recording, HEAD and restore its pack, write the pack's recall status record (RECALL# items only).
  tableItems(fns.recall, context, 'ReadRecording', ['dynamodb:GetItem'], leadingKeyPatterns(['recording']), false);
  tableItems(fns.recall, context, 'RecallStatus', ['dynamodb:PutItem'], leadingKeyPatterns(['recall']), true);
  objects(fns.recall, context, 'RestorePacks', ['s3:GetObject', 's3:RestoreObject'], ['recordings'], 'the recall HEADs a pack (storage class, restore state) and asks S3 to restore it from Deep Archive');
  decryptViaS3(fns.recall, ['kms:Decrypt', 'kms:GenerateDataKey']);
}

function schedules(scope: Construct, context: WorkflowContext, built: Workflows): void {
  for (const site of context.sites) {
    const schedule = site.config.schedule;
    const machines = built.sites[site.config.name];
    if (!schedule || !machines) continue;
    const id = `Site-${site.config.name}`;
    new events.Rule(scope, `${id}-PurgeSchedule`, {
      description: `Ferry: scheduled purge of site ${site.config.name}`,
      schedule: events.Schedule.expression(`cron(${schedule.purgeCron})`),
      targets: [new targets.SfnStateMachine(machines.purge.stateMachine, { input: events.RuleTargetInput.fromObject({}) })],
    });
    // A retired site has no agent to run a window: its purge runs to the end of retention, no window is scheduled or watched.
    if (site.config.retired) continue;
    new events.Rule(scope, `${id}-BackupSchedule`, {
      description: `Ferry: scheduled backup window of site ${site.config.name}`,
      schedule: events.Schedule.expression(`cron(${schedule.backupCron})`),
      targets: [new targets.SfnStateMachine(machines.backupWindow.stateMachine, { input: events.RuleTargetInput.fromObject({}) })],
    });
    const started = machines.backupWindow.stateMachine.metric('ExecutionsStarted', { statistic: 'Sum', period: Duration.days(1) });
    const alarm = new cloudwatch.Alarm(scope, `${id}-NoBackupWindow`, {
      alarmDescription: `Ferry ${site.config.name}: no backup window started in the last 24 h. What failed: the schedule (${schedule.backupCron}) did not start the backup window state machine. What to do: check the EventBridge rule and the state machine in Step Functions, then start a window on demand ({"onDemand": true}).`,
      metric: started,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(context.alerts.topic));
  }
}

/**
 * The catalogue API's recall route starts the recall workflow: the catalogue function learns
 * its ARN and may start exactly that state machine (no other, no stop, no describe).
 */
function letCatalogueStartRecalls(context: WorkflowContext, built: Workflows): void {
  const recallArn = built.recall.stateMachine.stateMachineArn;
  // The console's recall route is the catalogue's own code, run as the signed-in officer.
  for (const fn of [context.functions.catalogue, context.functions.console]) {
    fn.addEnvironment('RECALL_STATE_MACHINE_ARN', recallArn);
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'StartRecall', actions: ['states:StartExecution'], resources: [recallArn] }));
  }
}

/** The WorkflowsFactory for `buildFerry(app, config, { workflows: workflowsFactory() })`. */
export function workflowsFactory(options: WorkflowsFactoryOptions = {}): WorkflowsFactory {
  return (scope, context) => {
    const root = new Construct(scope, 'Orchestration');
    const names: WorkflowFunctionName[] = ['lock', 'window', 'purge', 'recall'];
    const functions = Object.fromEntries(names.map((n) => [n, buildFunction(root, n, context)])) as Record<WorkflowFunctionName, NodejsFunction>;
    grant(functions, context);
    // A DR bucket in another account must name this role in its bucket policy (docs/deploy.md).
    if (context.config.replication) new CfnOutput(Stack.of(scope), 'PurgeRoleArn', { value: functions.purge.role!.roleArn, description: 'the purge function\'s role: a DR bucket in another account must let it list and delete an erasure\'s versions (docs/deploy.md)' });
    context.useWorkflowConfig(workflowConfig(options.config));
    const built = addWorkflows(root, {
      functions,
      alerts: context.alerts,
      config: options.config,
      logs: { encryptionKey: context.logsKey },
      namePrefix: context.config.stackPrefix,
      sites: context.sites.map((s) => ({ name: s.config.name, activity: s.activity, ...deployedPurgeSettings(context.config, s.config) })),
    });
    schedules(root, context, built);
    notifyWorkflowFailures(root, { alerts: context.alerts, namePrefix: context.config.stackPrefix, recall: built.recall.stateMachine });
    letCatalogueStartRecalls(context, built);
    options.onBuilt?.({ ...built, functions });
  };
}

/** The factory with the CVP defaults. */
export const buildWorkflows: WorkflowsFactory = workflowsFactory();
