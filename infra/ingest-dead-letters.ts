import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

// Where the ingest's failures go. S3 invokes the ingest asynchronously; when Lambda's own two
// retries fail (a manifest that does not parse, a throttled table, a bug), the event would be
// dropped and the pack would silently stay out of the catalogue. Instead it lands here, and an
// alarm tells the operators at the first message. docs/deploy.md says how to re-drive them.
//
// SQS-managed encryption rather than a KMS key: the messages are S3 event notifications (bucket,
// key, size), and SSE-SQS needs no key grant for Lambda to send.

export class IngestDeadLetters extends Construct {
  readonly queue: sqs.Queue;
  private alarm?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS keeps a message: two weeks to notice, fix and re-drive.
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Alarms to `topic` as soon as one failed ingest is waiting. */
  alarmTo(topic: sns.ITopic): cloudwatch.Alarm {
    this.alarm ??= new cloudwatch.Alarm(this, 'Waiting', {
      alarmDescription:
        'Ferry ingest: at least one manifest could not be catalogued after retries, ' +
        'so its recordings or artefact are missing from the catalogue. What to do: read the function logs for the error, ' +
        'fix its cause, then re-drive the queue as docs/deploy.md (Ingest failures) says.',
      metric: this.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm.addAlarmAction(new cwActions.SnsAction(topic));
    return this.alarm;
  }
}
