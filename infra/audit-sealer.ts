import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { twoFailedRunsAlarm } from './alerts.ts';
import { AUDIT_LEDGER_KEY_PREFIX, AUDIT_SEAL_KEY_PREFIX } from '../core/audit-ledger.ts';
import type { FleetProps } from './fleet.ts';
import { fleetSitesEnv } from './function-env.ts';
import { ferryFunctionProps, functionEntry } from './functions.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';
import { objectsArn, viaService } from './names.ts';
import { scheduledFunctionBase } from './scheduled-function.ts';

// The scheduled audit sealer (functions/audit-seal): EventBridge runs it every
// `AUDIT_SEAL_RATE_MINUTES` to copy every site's unsealed audit records from the ledger (the
// catalogue table, `AUDIT#{site}`) to `audit/{site}/{seq}.json`, write-once. Its role reads the
// ledger items and the sealed marks; it writes only the marks, which live under a partition of
// their own (`AUDITSEAL#{site}`), so no PutItem of the sealer can land on a record's key, and
// only with the mark's attributes; and it PUTs audit/ objects (the bucket policy demands
// If-None-Match); nothing else of the table or the bucket. A run that fails (a
// site not sealed) is not retried by Lambda: the next run is the retry, and two failed runs in a
// row raise the alarm on the alert topic.

export const AUDIT_SEAL_RATE_MINUTES = 5;

/** The attributes of the sealed mark (adapters/dynamo-audit-ledger.ts markSealed): all a PutItem of the sealer may carry. */
export const AUDIT_SEAL_MARK_ATTRIBUTES = ['pk', 'sk', 'type', 'site', 'seq'] as const;

export class AuditSealer extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly rule: events.Rule;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { config, bucketName, dataKey, logsKey, table, alerts } = props;
    const { logGroup, role, allow } = scheduledFunctionBase(this, { config, logsKey, roleDescription: 'Ferry: scheduled audit sealer: execution role' });
    this.role = role;
    // Reads both (a mark written under the ledger's partition before the move is still honoured).
    const readable = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${AUDIT_LEDGER_KEY_PREFIX}*`, `${AUDIT_SEAL_KEY_PREFIX}*`] } };
    allow('ReadAuditLedger', ['dynamodb:GetItem', 'dynamodb:Query'], [table.tableArn], readable);
    allow('WriteSealedMark', ['dynamodb:PutItem'], [table.tableArn], {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${AUDIT_SEAL_KEY_PREFIX}*`] },
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...AUDIT_SEAL_MARK_ATTRIBUTES] },
      StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
    });
    allow('LedgerKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
    const records = objectsArn(bucketName, 'audit/');
    allow('SealAuditRecords', ['s3:PutObject'], [records]);
    allow('AuditRecordsKey', ['kms:GenerateDataKey', 'kms:Decrypt'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    acknowledgeWildcardResource(this.role, records, 'the sealer copies the audit records of every site of the deployment (one object per record, write-once, under Object Lock); it can neither read nor delete them');

    this.fn = new NodejsFunction(this, 'Function', {
      ...ferryFunctionProps(functionEntry('audit-seal'), {
        description: 'Ferry: scheduled audit sealer (ledger records to the write-once bucket)',
        timeout: Duration.seconds(120),
        memorySize: 256,
        role: this.role,
        logGroup,
        environment: { BUCKET: bucketName, TABLE: table.tableName, FLEET_SITES: fleetSitesEnv(config) },
      }),
      retryAttempts: 0,
    });
    acknowledge(this.fn, 'AwsSolutions-L1', undefined, 'runtime pinned to nodejs22.x, the Node line the handlers and their bundled dependencies are tested on; moving to 24.x is a deliberate upgrade');
    this.rule = new events.Rule(this, 'Schedule', {
      description: `Ferry: audit sealer every ${AUDIT_SEAL_RATE_MINUTES} min`,
      schedule: events.Schedule.rate(Duration.minutes(AUDIT_SEAL_RATE_MINUTES)),
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
    this.alarm = twoFailedRunsAlarm(this, 'Failing', this.fn, AUDIT_SEAL_RATE_MINUTES, alerts.topic,
      'Ferry audit sealer: two runs in a row could not seal every site, so audit records stay only in the catalogue table (not yet write-once). ' +
        'What to do: read the audit sealer logs ("audit seal failed", with the site and error), fix the cause, then run `ferry audit seal --site S` ' +
        'or wait for the next run (docs/operations.md, Audit sealer).');
  }
}
