import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { isAllowed } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// An ingest that fails (a bad manifest, a throttled table) after Lambda's own retries lands in
// an encrypted dead-letter queue, and an alarm tells the operators as soon as one is there.

let synth: Synthesized;

beforeAll(() => {
  synth = synthFerry();
});

describe('ingest dead letters', () => {
  it('the ingest function sends failed events to an encrypted, TLS-only queue kept 14 days', () => {
    const t = synth.processingTemplate;
    // Two queues: the ingest dead letters and the scheduled reports' (infra/reports.ts).
    const queues = t.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2);
    const dlqOfIngest = JSON.stringify(t.toJSON().Resources[logicalId(synth.processing.functions.ingest)].Properties.DeadLetterConfig);
    const [queueId, queue] = Object.entries(queues).find(([id]) => dlqOfIngest.includes(`"${id}"`))!;
    expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    const fn = t.toJSON().Resources[logicalId(synth.processing.functions.ingest)];
    expect(fn.Properties.DeadLetterConfig).toEqual({ TargetArn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('the ingest role may send to that queue and to no other', () => {
    const p = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.functions.roles.ingest));
    const queueArn = synth.resolver.resolveString(synth.processing.stackName, { 'Fn::GetAtt': [logicalId(synth.processing.ingestDeadLetters.queue), 'Arn'] });
    expect(isAllowed(p, { action: 'sqs:SendMessage', resource: queueArn })).toBe(true);
    expect(isAllowed(p, { action: 'sqs:SendMessage', resource: `${queueArn}-other` })).toBe(false);
    expect(isAllowed(p, { action: 'sqs:ReceiveMessage', resource: queueArn })).toBe(false);
  });

  it('alarms to the alert topic when one message is waiting, with what to do', () => {
    const t = synth.processingTemplate;
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(synth.processing.ingestDeadLetters.queue), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: logicalId(synth.processing.alerts.topic) }],
      AlarmDescription: Match.stringLikeRegexp('docs/deploy.md'),
    });
  });
});
