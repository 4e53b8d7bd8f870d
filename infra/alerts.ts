import { viaService } from './names.ts';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

// The SNS alert topic: failed, partial and missed backup windows, give-up alerts of the purge,
// recall notifications. KMS-encrypted with its own key (the AWS-managed SNS key cannot be used
// by EventBridge or CloudWatch alarms), TLS-only publishing. The workflows publish to it; the
// operators subscribe (e-mail, chat, pager) outside this stack.

/** The namespace the functions' metrics go to (functions/shared/metrics.ts METRICS_NAMESPACE; infra may not import functions/). */
export const FUNCTION_METRICS_NAMESPACE = 'Ferry';

/** An alarm on the alert topic when two scheduled runs in a row of `fn` (every `periodMinutes`) failed. */
export function twoFailedRunsAlarm(scope: Construct, id: string, fn: { metricErrors(props: cloudwatch.MetricOptions): cloudwatch.Metric }, periodMinutes: number, topic: sns.ITopic, description: string): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    metric: fn.metricErrors({ period: Duration.minutes(periodMinutes), statistic: 'Sum' }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(topic));
  return alarm;
}

/** How often the alarm on undelivered alerts looks (the dead-man's switch runs every 15 min). */
export const UNDELIVERED_PERIOD_MINUTES = 15;

export class AlertTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  private undelivered?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Ferry: alert topic',
      enableKeyRotation: true,
      // Messages are not stored: a new stack can start with a new key.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // Service publishers that may be pointed at the topic (EventBridge rules, CloudWatch alarms).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServicePublishers',
        principals: [new iam.ServicePrincipal('events.amazonaws.com'), new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Ferry alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    // The topic's own policy replaces SNS's default one (which let the account publish): a
    // CloudWatch alarm or an EventBridge rule publishes as its service, which only a statement
    // here lets in (the key's statement above covers the encryption, not the publish). Without
    // it every alarm action fails, seen only in the alarm's history. Limited to this account's
    // alarms and rules (the confused-deputy conditions).
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServicePublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
  }

  /**
   * Lets a role (a state machine's, a Lambda's) publish: sns:Publish plus the key use that needs.
   * Written out instead of `topic.grantPublish`, whose `kms:GenerateDataKey*` is a wildcard
   * cdk-nag would make every caller acknowledge.
   */
  grantPublish(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }));
    // Only as SNS encrypts the message for the publisher: never the key itself.
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn], conditions: { StringEquals: { 'kms:ViaService': viaService('sns') } } }));
  }

  /**
   * Alarms at the first alert a function could not publish (the `AlertsNotDelivered` count of
   * the dead-man's switch and the report function, functions/shared/metrics.ts). The count has a
   * `site` dimension and no function one, so one Metrics Insights query sums it over every
   * site. CloudWatch publishes as its own service: a topic that refuses one function's role (a
   * grant lost in a stack change) still takes the alarm; a topic that refuses everyone leaves
   * it in the alarm's history and the CloudWatch console only.
   */
  alarmOnUndelivered(): cloudwatch.Alarm {
    if (this.undelivered) return this.undelivered;
    this.undelivered = new cloudwatch.Alarm(this, 'NotDelivered', {
      alarmDescription:
        "Ferry alerts: the dead-man's switch or the scheduled reports could not publish an alert to the alert topic (SNS refused it), " +
        'so a silent site, a missed backup window or a daily report was not told. What to do: read their logs for "alert not delivered" ' +
        '(the site, subject and SNS error), fix the topic, its key or the function role, then run `ferry fleet status` and read the day\'s reports ' +
        '(docs/operations.md, Alarms).',
      metric: new cloudwatch.MathExpression({
        expression: `SELECT SUM(AlertsNotDelivered) FROM ${FUNCTION_METRICS_NAMESPACE}`,
        period: Duration.minutes(UNDELIVERED_PERIOD_MINUTES),
        label: 'AlertsNotDelivered',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.undelivered.addAlarmAction(new cwActions.SnsAction(this.topic));
    return this.undelivered;
  }
}
