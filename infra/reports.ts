import type { FleetProps } from './fleet.ts';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { classPrefix, type DataClass } from '../core/layout.ts';
import { INGEST_WRITES, leadingKeyPatterns } from '../core/catalogue-table.ts';
import { REPORTS_PREFIX } from '../core/report-keys.ts';
import type { DeploymentConfig } from './config.ts';
import { ferryFunctionProps, functionEntry } from './functions.ts';
import { retiredSitesEnv, siteTimeZonesEnv } from './function-env.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';
import { bucketArn, mayListBucket, objectsArn, viaService } from './names.ts';
import { scheduledFunctionBase, type Allow } from './scheduled-function.ts';

// The scheduled reports (functions/report), run by EventBridge Scheduler in the deployment's
// time zone (`reports.timeZone`, so `reports.dailyHour` stays the local hour across daylight
// saving):
//  - daily at dailyHour:00: each site's daily report of the day before (UTC) is kept under
//    reports/ and published to the alert topic, then a scrub reads back a bounded sample of each
//    site's packs and backups (scrubEnv);
//  - monthly on the 1st at dailyHour:30: each site's attestation of the month before (UTC),
//    kept under reports/ as JSON, Markdown and CSV.
// Scheduler invokes the function asynchronously: a run that fails (a publish SNS did not take, a
// site that could not be reported) is retried twice by Lambda and then kept in the dead-letter
// queue, as is an invocation Scheduler could not deliver; one message there raises an alarm on
// the alert topic. The role reads manifests and the objects they name, and writes reports/ only,
// write-once (the handler PUTs with If-None-Match; the bucket's Object Lock keeps what is written).

/** The data classes whose objects the scrub reads back and the attestation HEADs (by their manifests). */
export const REPORT_READ_CLASSES: readonly DataClass[] = ['manifests', 'recordings', 'backups', 'logs', 'archives', 'heartbeats', 'heartbeats-daily'];

/** The artefact data classes whose dated prefixes the daily report and the reconciler list (their manifests are not dated). */
export const RECONCILE_LIST_CLASSES: readonly DataClass[] = ['backups', 'logs', 'archives'];
/**
 * The scrub's bounds, as the report function reads them: bytes a site a run, Glacier IR bytes,
 * and the window of pack days it picks from: the packs' days before Glacier IR when it may read
 * none there, else their days before Deep Archive (which no GET reads without a recall).
 */
export function scrubEnv(config: DeploymentConfig): Record<'SCRUB_MAX_BYTES' | 'SCRUB_GLACIER_IR_BYTES' | 'SCRUB_WINDOW_DAYS', string> {
  const bytes = (gib: number) => String(Math.round(gib * 1024 ** 3));
  const { scrubMaxGiB, scrubGlacierIrGiB } = config.reports;
  const window = scrubGlacierIrGiB > 0 ? config.lifecycle.packsToDeepArchiveDays : config.lifecycle.packsToGlacierIrDays;
  return { SCRUB_MAX_BYTES: bytes(scrubMaxGiB), SCRUB_GLACIER_IR_BYTES: bytes(scrubGlacierIrGiB), SCRUB_WINDOW_DAYS: String(window) };
}

/** The same deployment pieces the dead-man's switch is built from. */
export type ReportsProps = FleetProps;

/** The two schedule expressions (EventBridge Scheduler cron, evaluated in `reports.timeZone`). */
export function reportSchedules(config: DeploymentConfig): { daily: string; monthly: string; timeZone: string } {
  const hour = config.reports.dailyHour;
  return { daily: `cron(0 ${hour} * * ? *)`, monthly: `cron(30 ${hour} 1 * ? *)`, timeZone: config.reports.timeZone };
}

export class ScheduledReports extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly schedulerRole: iam.Role;
  readonly daily: scheduler.CfnSchedule;
  readonly monthly: scheduler.CfnSchedule;
  readonly deadLetters: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ReportsProps) {
    super(scope, id);
    const { config, bucketName, logsKey, table, alerts } = props;
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const { logGroup, role, allow } = scheduledFunctionBase(this, { config, logsKey, roleDescription: 'Ferry: scheduled reports, scrub and attestations: execution role' });
    this.role = role;
    this.grant(props, allow);

    this.fn = new NodejsFunction(this, 'Function', {
      ...ferryFunctionProps(functionEntry('report'), {
        description: 'Ferry: scheduled scrub, daily reports and monthly attestations',
        // The reports of every site, then each site's scrub within its share of what is left of this.
        timeout: Duration.minutes(15),
        memorySize: 1024,
        role: this.role,
        logGroup,
        environment: {
          BUCKET: bucketName,
          TABLE: table.tableName,
          TOPIC_ARN: alerts.topic.topicArn,
          SITES: config.sites.map((s) => s.name).join(','),
          RETIRED_SITES: retiredSitesEnv(config),
          SITE_TIME_ZONES: siteTimeZonesEnv(config),
          SCRUB_SAMPLE: String(config.reports.scrubSample),
          RECONCILE_DAYS: String(config.reports.reconcileDays),
          ...scrubEnv(config),
        },
      }),
      deadLetterQueue: this.deadLetters,
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
    });
    acknowledge(this.fn, 'AwsSolutions-L1', undefined, 'runtime pinned to nodejs22.x, the Node line the handlers and their bundled dependencies are tested on; moving to 24.x is a deliberate upgrade');

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'), description: 'Ferry: EventBridge Scheduler invoking the report function' });
    this.schedulerRole.addToPolicy(new iam.PolicyStatement({ sid: 'InvokeReports', actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }));
    this.schedulerRole.addToPolicy(new iam.PolicyStatement({ sid: 'UndeliveredToDeadLetters', actions: ['sqs:SendMessage'], resources: [this.deadLetters.queueArn] }));
    const when = reportSchedules(config);
    this.daily = this.schedule('Daily', when.daily, when.timeZone, { run: 'daily' }, `Ferry: scrub and daily report of every site, ${String(config.reports.dailyHour).padStart(2, '0')}:00 ${when.timeZone}`);
    this.monthly = this.schedule('Monthly', when.monthly, when.timeZone, { run: 'monthly' }, `Ferry: monthly attestation of every site, the 1st at ${String(config.reports.dailyHour).padStart(2, '0')}:30 ${when.timeZone}`);

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'Failed', {
      alarmDescription:
        'Ferry reports: a scheduled daily report or attestation run failed after its retries (a report not published, a site not reported, ' +
        'or the schedule could not invoke the function). What to do: read the report function logs for the error, fix its cause, ' +
        'then run it again (docs/operations.md, Daily report).',
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(new cwActions.SnsAction(alerts.topic));
  }

  private schedule(id: string, expression: string, timeZone: string, input: Record<string, unknown>, description: string): scheduler.CfnSchedule {
    return new scheduler.CfnSchedule(this, id, {
      description,
      scheduleExpression: expression,
      scheduleExpressionTimezone: timeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: this.fn.functionArn,
        roleArn: this.schedulerRole.roleArn,
        input: JSON.stringify(input),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 6 * 3600 },
        deadLetterConfig: { arn: this.deadLetters.queueArn },
      },
    });
  }

  private grant(props: ReportsProps, allow: Allow): void {
    const { bucketName, dataKey, table, alerts } = props;
    const readable = REPORT_READ_CLASSES.map((c) => objectsArn(bucketName, classPrefix(c)));
    const reports = objectsArn(bucketName, REPORTS_PREFIX);
    // GetObject also authorises HEAD; retention is what the attestation calls "immutable until".
    allow('ReadStoredObjects', ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectLegalHold'], readable);
    mayListBucket(this.role, bucketName);
    // Artefact manifests are not dated, their objects are: the day's backups, segments and archives are listed by their objects' prefixes (core/catalogue-gaps.ts).
    const listed = [...(['manifests', ...RECONCILE_LIST_CLASSES] as const).map((c) => `${classPrefix(c)}*`), `${REPORTS_PREFIX}*`];
    allow('ListManifestsAndReports', ['s3:ListBucket'], [bucketArn(bucketName)], { StringLike: { 's3:prefix': listed } });
    // Earlier scrubs and drills (read by the report), and the new reports (written once).
    allow('ReadAndAddReports', ['s3:GetObject', 's3:PutObject'], [reports]);
    allow('DataKeyViaS3', ['kms:Decrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    allow('ReadCatalogue', ['dynamodb:Query'], [table.tableArn]);
    // Whether each pack of the day is catalogued (its PACK# item): shipped but never catalogued is not found by any search.
    allow('ReadPackRecords', ['dynamodb:GetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['pack']) } });
    // The reconciler (functions/report/reconcile.ts) catalogues again what ingest left out, as ingest does: the items a manifest makes, and no others.
    allow('ReconcileCatalogue', ['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(INGEST_WRITES) } });
    // A pack a purge deleted while it was catalogued again: its entries forgotten, each only while it still names that pack (core/ingest-checked.ts).
    allow('ForgetRecordingEntries', ['dynamodb:DeleteItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['recording']) } });
    allow('HeadTreeObjects', ['s3:GetObject'], [objectsArn(bucketName, classPrefix('trees'))]);
    allow('TableKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
    alerts.grantPublish(this.role);
    for (const c of REPORT_READ_CLASSES) {
      const why = c === 'heartbeats' ? "the daily report reads each site's heartbeat of the day: the losses and the backlog its agent reported" : c === 'heartbeats-daily' ? "the daily report reads a site's daily heartbeat once its recent ones expired: the recordings sources a silent site still owes" : `the scrub reads back a sample of every site's ${c} objects whole and the attestation checks they are still there and locked`;
      acknowledgeWildcardResource(this.role, objectsArn(bucketName, classPrefix(c)), why);
    }
    acknowledgeWildcardResource(this.role, objectsArn(bucketName, classPrefix('trees')), "the reconciler HEADs the index and packs a tree snapshot manifest names (any site) before cataloguing it again, as ingest does");
    acknowledgeWildcardResource(this.role, reports, "the report function keeps every site's daily reports, scrubs and attestations under reports/{site}/, outside every agent's prefixes, each under a new key");
  }
}
