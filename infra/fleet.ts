import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { classPrefix } from '../core/layout.ts';
import { leadingKeyPatterns } from '../core/catalogue-table.ts';
import { twoFailedRunsAlarm, type AlertTopic } from './alerts.ts';
import type { DeploymentConfig } from './config.ts';
import { fleetSitesEnv } from './function-env.ts';
import { ferryFunctionProps, functionEntry } from './functions.ts';
import { acknowledge, acknowledgeWildcardResource } from './nag.ts';
import { bucketArn, objectsArn, viaService } from './names.ts';
import { scheduledFunctionBase } from './scheduled-function.ts';

// The dead-man's switch (functions/deadman): a function EventBridge runs every
// `DEADMAN_RATE_MINUTES`, reading every site's newest heartbeat (heartbeats/{site}/), window
// run and purge run (catalogue table), keeping what it raised on the table, and publishing to the alert topic.
// Its role reads the two heartbeat classes (heartbeats/, heartbeats-daily/) and nothing else of the bucket.
// It watches every other part, so its own failure must not be silent: two failed runs in a row
// (a table read throttled, a permission lost in a stack change, a bug on one heartbeat) raise an
// alarm on the alert topic, published by CloudWatch, not by the switch.

export const DEADMAN_RATE_MINUTES = 15;

export interface FleetProps {
  config: DeploymentConfig;
  bucketName: string;
  dataKey: kms.IKey;
  logsKey: kms.IKey;
  table: dynamodb.ITable;
  alerts: AlertTopic;
}

export class DeadmanSwitch extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly rule: events.Rule;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { config, bucketName, dataKey, logsKey, table, alerts } = props;
    const { logGroup, role, allow } = scheduledFunctionBase(this, { config, logsKey, roleDescription: "Ferry: dead-man's switch: execution role" });
    this.role = role;
    const heartbeats = objectsArn(bucketName, classPrefix('heartbeats'));
    // The daily ones, read once a site's recent heartbeats expired (a site silent for over a month).
    const daily = objectsArn(bucketName, classPrefix('heartbeats-daily'));
    // Reads only heartbeats it listed: no key it asks for can be missing, so it lists the two heartbeat classes alone.
    allow('ReadHeartbeats', ['s3:GetObject'], [heartbeats, daily]);
    allow('ListHeartbeats', ['s3:ListBucket'], [bucketArn(bucketName)], { StringLike: { 's3:prefix': [`${classPrefix('heartbeats')}*`, `${classPrefix('heartbeats-daily')}*`] } });
    allow('DecryptHeartbeats', ['kms:Decrypt'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('s3') } });
    // Its own items only: the window and purge runs it reads and its memory of each site.
    allow('RunsAndSwitchState', ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem'], [table.tableArn], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeyPatterns(['run', 'purgeRun', 'deadman']) } });
    allow('TableKey', ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'], [dataKey.keyArn], { StringEquals: { 'kms:ViaService': viaService('dynamodb') } });
    alerts.grantPublish(this.role);
    acknowledgeWildcardResource(this.role, heartbeats, "the switch reads the newest heartbeat of every site of the deployment (heartbeats/{site}/…); heartbeats hold no call data");
    acknowledgeWildcardResource(this.role, daily, "the switch reads a silent site's newest daily heartbeat once its recent ones expired (heartbeats-daily/{site}/…); heartbeats hold no call data");

    this.fn = new NodejsFunction(this, 'Function', {
      ...ferryFunctionProps(functionEntry('deadman'), {
        description: "Ferry: dead-man's switch (silent agents, windows and purges that did not run)",
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
    this.alarm = twoFailedRunsAlarm(this, 'Failing', this.fn, DEADMAN_RATE_MINUTES, alerts.topic,
      "Ferry dead-man's switch: two runs in a row failed, so no silent site, missed backup window or missed purge is being alerted. " +
        'What to do: read the dead-man\'s switch logs for the error (a table or bucket refusal, a KMS or IAM change, an alert SNS did not take), ' +
        "fix the cause, then check every site by hand with `ferry fleet status` until the alarm clears (docs/operations.md, The dead-man's switch).");
  }
}

/** Who may read the fleet status: the deployment's operators (none listed: principals tagged ferry-fleet-reader=true). */
export interface FleetReaderProps {
  readers: string[];
  /** execute-api ARN of a request path of the catalogue API. */
  invokeArn(method: 'GET', path: string): string;
}

/**
 * The fleet reader: one role for the whole deployment that may call GET /fleet and nothing
 * else. Not a site's officer role: an officer sees one site's calls and no other site, while the
 * fleet view spans every site; and not the officers of every site at once: whoever watches
 * backups needs no call. The view holds no call data (ages, counts, outcomes), so an on-call
 * operator gets it without any access to recordings, objects or the table.
 */
export class FleetReader extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: FleetReaderProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      description: 'Ferry fleet reader: the status of every site (GET /fleet); no call, no object',
      assumedBy:
        props.readers.length > 0
          ? new iam.CompositePrincipal(...props.readers.map((r) => (/^\d{12}$/.test(r) ? new iam.AccountPrincipal(r) : new iam.ArnPrincipal(r))))
          : new iam.AccountRootPrincipal().withConditions({ StringEquals: { 'aws:PrincipalTag/ferry-fleet-reader': 'true' } }),
      maxSessionDuration: Duration.hours(12),
    });
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'FleetStatus', actions: ['execute-api:Invoke'], resources: [props.invokeArn('GET', '/fleet')] }));
  }
}
