import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { subjectLine } from '../core/alert-text.ts';
import { messageOf } from '../core/errors.ts';
import type { Alert, Notifier } from '../core/ports.ts';
import type { AwsClientOptions } from './aws-clients.ts';

// Notifier on an SNS topic. Subject, site and severity go in message attributes too, so a
// subscription filter policy can route (pager for critical, mail for the rest). Best effort,
// as the Notifier contract says: a failed publish is logged, never thrown at the caller.

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
    MessageAttributes: { site: attribute(alert.site), severity: attribute(alert.severity) },
  };
}

export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly onError: (message: string, error: unknown) => void = (message, error) => console.error(JSON.stringify({ level: 'error', message, error: messageOf(error) })),
  ) {}

  async notify(alert: Alert): Promise<void> {
    try {
      await this.sns.send(new PublishCommand(snsPublishInput(this.topicArn, alert)));
    } catch (error) {
      this.onError(`alert not delivered to ${this.topicArn}: ${alert.subject}`, error);
    }
  }
}
