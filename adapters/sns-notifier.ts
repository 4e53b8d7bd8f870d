import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { subjectLine } from '../core/alert-text.ts';
import { NotDeliveredError, messageOf } from '../core/errors.ts';
import type { Alert, Notifier } from '../core/ports.ts';
import type { AwsClientOptions } from './aws-clients.ts';

// Notifier on an SNS topic. Site, severity and kind (when the alert has one) go in message attributes, so a
// subscription filter policy can route (pager for critical, mail for the rest). A failed
// publish is never silent: it is logged as an error, handed to `onError` (the functions count
// it as the AlertsNotDelivered metric) and thrown as NotDeliveredError, so the scheduled
// function that sent it fails and its retries and dead-letter queue catch it.

export function createSnsClient(opts: AwsClientOptions = {}): SNSClient {
  const region = opts.region ?? (opts.endpoint === undefined ? undefined : 'us-east-1');
  return new SNSClient({
    ...(region === undefined ? {} : { region }),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
  });
}

/** SNS message attribute values must not be empty. */
const attribute = (value: string) => ({ DataType: 'String', StringValue: value || '-' });

export function snsPublishInput(topicArn: string, alert: Alert) {
  return {
    TopicArn: topicArn,
    Subject: subjectLine(alert.subject),
    Message: alert.details ? `${alert.message}\n\n${JSON.stringify(alert.details, null, 2)}` : alert.message,
    MessageAttributes: { site: attribute(alert.site), severity: attribute(alert.severity), ...(alert.kind ? { kind: attribute(alert.kind) } : {}) },
  };
}

export type NotDelivered = (message: string, error: unknown, alert: Alert) => void;

/** The default report of a failed publish: one error line on stderr (CloudWatch keeps it). */
export const logNotDelivered: NotDelivered = (message, error, alert) =>
  console.error(JSON.stringify({ level: 'error', message, site: alert.site, subject: alert.subject, error: messageOf(error), errorName: (error as { name?: string } | undefined)?.name }));

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly onError: NotDelivered = logNotDelivered,
  ) {}

  /** Publishes the alert; throws NotDeliveredError (after `onError`) when SNS did not take it. */
  async notify(alert: Alert): Promise<void> {
    try {
      await this.sns.send(new PublishCommand(snsPublishInput(this.topicArn, alert)));
    } catch (error) {
      const message = `alert not delivered to ${this.topicArn}: ${alert.subject}`;
      this.onError(message, error, alert);
      throw new NotDeliveredError(`${message}: ${messageOf(error)}`, { cause: error });
    }
  }
}
