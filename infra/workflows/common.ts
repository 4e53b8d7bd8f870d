import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { WorkflowConfig } from '../../core/workflow-config.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';
import type { WorkflowFunctionName } from './state-names.ts';

// Pieces every workflow construct uses: props, the Lambda task and SNS publish helpers, the
// state machine with its log group and tracing (cdk-nag SF1, SF2).

export type WorkflowFunctions = Record<WorkflowFunctionName, lambda.IFunction>;

/** The alert topic; `grantPublish` when publishing needs more than sns:Publish (a KMS key). infra/alerts.ts AlertTopic fits. */
export interface AlertTarget {
  topic: sns.ITopic;
  grantPublish?(grantee: iam.IGrantable): void;
}

export interface WorkflowLogOptions {
  encryptionKey?: kms.IKey;
  /** Default one year. */
  retention?: logs.RetentionDays;
}

export interface WorkflowCommonProps {
  functions: WorkflowFunctions;
  alerts: AlertTarget;
  /** Orchestration numbers (CVP defaults); see core/workflow-config.ts. */
  config?: Partial<WorkflowConfig>;
  logs?: WorkflowLogOptions;
  stateMachineName?: string;
}

/**
 * A Lambda task whose result is the function's own return value (no Payload envelope), stored
 * at `resultPath`; absent, the result replaces the state (written as no ResultPath at all:
 * aws-local-stepfunctions 3 mistakes an explicit `"ResultPath": "$"` for a field named `$`).
 */
export function invoke(scope: Construct, id: string, fn: lambda.IFunction, payload: Record<string, unknown>, resultPath?: string): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, { lambdaFunction: fn, payloadResponseOnly: true, payload: sfn.TaskInput.fromObject(payload), ...(resultPath ? { resultPath } : {}), retryOnServiceExceptions: true });
}

/** SNS message attributes: severity (a value, or a path), then `attributes` (values or JsonPath.stringAt paths). */
function messageAttributesOf(severity: string, attributes: Record<string, string>): Record<string, tasks.MessageAttribute> {
  const messageAttributes: Record<string, tasks.MessageAttribute> = { severity: { value: severity } };
  for (const [name, value] of Object.entries(attributes)) messageAttributes[name] = { value };
  return messageAttributes;
}

/** Publishes an alert whose subject, message and severity the state holds at `path`. */
export function publishAt(scope: Construct, id: string, alerts: AlertTarget, path: string, attributes: Record<string, string>): tasks.SnsPublish {
  const task = new tasks.SnsPublish(scope, id, {
    topic: alerts.topic,
    subject: sfn.JsonPath.stringAt(`${path}.subject`),
    message: sfn.TaskInput.fromJsonPathAt(`${path}.message`),
    messageAttributes: messageAttributesOf(sfn.JsonPath.stringAt(`${path}.severity`), attributes),
    resultPath: sfn.JsonPath.DISCARD,
  });
  task.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });
  return task;
}

/**
 * Last-resort alert when the step that writes the alert text itself failed: a fixed text with the
 * error, severity critical, and the same `attributes` (site, kind…) as the alert it stands in for,
 * so a subscription filtered on them gets this one too. Each `{}` of `text.what` is filled from
 * the string at the same place in `whatPaths`.
 */
export function publishFallback(
  scope: Construct,
  id: string,
  alerts: AlertTarget,
  text: { subject: string; what: string },
  attributes: Record<string, string>,
  errorPath: string,
  whatPaths: string[] = [],
): tasks.SnsPublish {
  const values = [...whatPaths, `${errorPath}.Cause`, '$$.Execution.Id'].map((path) => sfn.JsonPath.stringAt(path));
  return new tasks.SnsPublish(scope, id, {
    topic: alerts.topic,
    subject: text.subject.slice(0, 100),
    message: sfn.TaskInput.fromText(sfn.JsonPath.format(`What failed: ${text.what}: {}\nWhat to do: look at the history of execution {} and at the function logs.`, ...values)),
    messageAttributes: messageAttributesOf('critical', attributes),
    resultPath: sfn.JsonPath.DISCARD,
  });
}

export function stateMachine(scope: Construct, props: WorkflowCommonProps, definition: sfn.IChainable, timeout: Duration, comment: string, invoked: lambda.IFunction[]): sfn.StateMachine {
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: props.logs?.retention ?? logs.RetentionDays.ONE_YEAR,
    encryptionKey: props.logs?.encryptionKey,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const machine = new sfn.StateMachine(scope, 'StateMachine', {
    stateMachineName: props.stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    timeout,
    comment,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
  });
  props.alerts.grantPublish?.(machine);
  // The two wildcards CDK writes into the state machine role, each acknowledged with its reason (infra/nag.ts).
  for (const fn of invoked) {
    acknowledgeWildcardResource(machine, `${fn.functionArn}:*`, 'LambdaInvoke grants the function and its versions and aliases (`:*`); the state machine invokes only this Ferry function');
  }
  acknowledge(machine, 'AwsSolutions-IAM5', 'Resource::*', 'CloudWatch Logs delivery (logs:*LogDelivery*, logs:DescribeResourcePolicies…) and X-Ray (xray:PutTraceSegments…) accept no resource scoping; they serve the ALL-level execution logs and tracing');
  return machine;
}

export const DISCARD = sfn.JsonPath.DISCARD;
