import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { classPrefix } from '../core/layout.ts';
import type { AlertTopic } from './alerts.ts';
import type { DeploymentConfig } from './config.ts';
import { ferryFunctionProps, functionEntry } from './functions.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';
import { bucketArn, objectsArn, viaService } from './names.ts';

// The dead-man's switch (functions/deadman): a function EventBridge runs every
// `DEADMAN_RATE_MINUTES`, reading every site's newest heartbeat (heartbeats/{site}/) and window
// run (catalogue table), keeping what it raised on the table, and publishing to the alert topic.
// Its role reads the heartbeats class and nothing else of the bucket.

export const DEADMAN_RATE_MINUTES = 15;

export interface FleetProps {
  config: DeploymentConfig;
  bucketName: string;
  dataKey: kms.IKey;
  logsKey: kms.IKey;
  table: dynamodb.ITable;
  alerts: AlertTopic;
}

/** The sites as the dead-man function reads them (FLEET_SITES). */
export function fleetSitesEnv(config: DeploymentConfig): string {
  return JSON.stringify(config.sites.map((s) => ({ name: s.name, silentAfterMinutes: s.silentAfterMinutes, ...(s.schedule ? { backupCron: s.schedule.backupCron } : {}) })));
}

export class DeadmanSwitch extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { config, bucketName, dataKey, logsKey, table, alerts } = props;
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: config.logs.functionRetentionDays, encryptionKey: logsKey, removalPolicy: RemovalPolicy.RETAIN });
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: "Ferry: dead-man's switch: execution role" });
    const allow = (sid: string, actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) => this.role.addToPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
    allow('OwnLogGroup', ['logs:CreateLogStream', 'logs:PutLogEvents'], [logGroup.logGroupArn]);
    const heartbeats = objectsArn(bucketName, classPrefix('heartbeats'));
    allow('ReadHeartbeats', ['s3:GetObject'], [heartbeats]);
    allow('ListHeartbeats', ['s3:ListBucket'], [bucketArn(bucketName)], { StringLike: { 's3:prefix': [`${classPrefix('heartbeats')}*`] } });
    allow('DecryptHeartbeats', ['kms:Decrypt'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    allow('RunsAndSwitchState', ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn]);
    allow('TableKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
    alerts.grantPublish(this.role);
    acknowledgeWildcardResource(this.role, heartbeats, "the switch reads the newest heartbeat of every site of the deployment (heartbeats/{site}/…); heartbeats hold no call data");

    this.fn = new NodejsFunction(this, 'Function', {
      ...ferryFunctionProps(functionEntry('deadman'), {
        description: "Ferry: dead-man's switch (silent agents, windows that did not run)",
        timeout: Duration.seconds(60),
        memorySize: 256,
        role: this.role,
        logGroup,
        environment: { BUCKET: bucketName, TABLE: table.tableName, TOPIC_ARN: alerts.topic.topicArn, FLEET_SITES: fleetSitesEnv(config) },
      }),
    });
    acknowledge(this.fn, 'AwsSolutions-L1', undefined, 'runtime pinned to nodejs22.x, the Node line the handlers and their bundled dependencies are tested on; moving to 24.x is a deliberate upgrade');
    this.rule = new events.Rule(this, 'Schedule', {
      description: `Ferry: dead-man's switch every ${DEADMAN_RATE_MINUTES} min`,
      schedule: events.Schedule.rate(Duration.minutes(DEADMAN_RATE_MINUTES)),
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
  }
}
