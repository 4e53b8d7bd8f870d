import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { AlertTarget } from './common.ts';
import { PURGE_REPORTED_FAILURE } from './purge.ts';

// One EventBridge rule that tells the alert topic of every purge or recall execution that ended
// FAILED, TIMED_OUT or ABORTED: an execution-level timeout, a stop from the console, a publish
// the topic refused after its retries, States.DataLimitExceeded: the ends no Catch of the
// definition can take, which nothing else reports. One rule for the whole deployment, not one
// alarm per site: a scheduled site costs no resource more (infra/config-limits.ts PROCESSING_RESOURCES).
//
// A purge that failed after its report step (the report says why; the execution then ends with
// the error PURGE_REPORTED_FAILURE) is left out: the operator had that report, and a second page
// for the same failure teaches them to ignore the notice. A purge that failed before it could
// report (a publish refused, a step no Catch takes), timed out or was aborted is told.
//
// The purges are matched by a wildcard on their names (`{prefix}-*-purge`, the names
// infra/workflows/index.ts gives them), the recall by its ARN. The backup windows are left out:
// a window that fails publishes its own alert and the missed-window checks (NoBackupWindow, the
// dead-man's switch) catch one that never ran or ended without a word.
//
// The target is the topic itself, with an input transformer writing a JSON message (a
// subscription can filter on its body: `kind`); EventBridge sets no message attributes, as
// CloudWatch alarms set none (docs/operations.md, Alarms). A republishing function could add
// them, at the price of one more thing that can fail silently on the path that reports failures.

/** The `kind` of the notice (the message body's, for a `FilterPolicyScope: MessageBody` subscription). */
export const WORKFLOW_FAILED_KIND = 'workflow-failed';

export interface WorkflowFailureNoticeProps {
  alerts: AlertTarget;
  /** The prefix of the state machine names (`Ferry` → `Ferry-site-a-purge`, `Ferry-recall`). */
  namePrefix: string;
  recall: sfn.IStateMachine;
}

/**
 * The rule's target: the alert topic, bound directly. CDK's SnsTopic target would add its own
 * statement for events.amazonaws.com to the topic policy, without the confused-deputy condition
 * the alert topic's own statement has (infra/alerts.ts), which already lets this account's rules publish.
 */
function alertTopicTarget(alerts: AlertTarget, input: events.RuleTargetInput): events.IRuleTarget {
  return { bind: () => ({ arn: alerts.topic.topicArn, input, targetResource: alerts.topic }) };
}

function noticeInput(namePrefix: string): events.RuleTargetInput {
  const status = events.EventField.fromPath('$.detail.status');
  const machine = events.EventField.fromPath('$.detail.stateMachineArn');
  const execution = events.EventField.fromPath('$.detail.executionArn');
  return events.RuleTargetInput.fromObject({
    kind: WORKFLOW_FAILED_KIND,
    deployment: namePrefix,
    severity: 'critical',
    status,
    stateMachine: machine,
    execution,
    at: events.EventField.time,
    what:
      `A Ferry workflow execution ended ${status}. The state machine's name says which: ${namePrefix}-{site}-purge is the purge of that site ` +
      `(retention is not enforced until a purge succeeds; its lock stays held until staleLockHours unless released), ${namePrefix}-recall is the recall ` +
      '(the site, call and requester are in the execution input; the requester was told only if the give-up step ran).',
    whatToDo:
      'Open the execution in the Step Functions console (its ARN above): the failed state, its error and cause. Fix the cause (a function error, a refused publish, ' +
      'a timeout), then start the purge again on demand or ask the requester to recall again. docs/operations.md, Alarms: Workflow failed.',
  });
}

/** The deployment's one rule on failed purge and recall executions (construct id `WorkflowFailed`). */
export function notifyWorkflowFailures(scope: Construct, props: WorkflowFailureNoticeProps): events.Rule {
  const purges = Stack.of(scope).formatArn({ service: 'states', resource: 'stateMachine', resourceName: `${props.namePrefix}-*-purge`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  return new events.Rule(scope, 'WorkflowFailed', {
    description: `Ferry: a purge or recall execution of deployment ${props.namePrefix} failed, timed out or was aborted (to the alert topic)`,
    eventPattern: {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: events.Match.anyOf(events.Match.wildcard(purges), events.Match.exactString(props.recall.stateMachineArn)),
        // A purge that ends FAILED with PURGE_REPORTED_FAILURE published its own report (or its
        // fallback) first: told once, not twice. Every other FAILED end has another error's name.
        $or: [{ status: ['TIMED_OUT', 'ABORTED'] }, { status: ['FAILED'], error: [{ 'anything-but': [PURGE_REPORTED_FAILURE] }] }],
      },
    },
    targets: [alertTopicTarget(props.alerts, noticeInput(props.namePrefix))],
  });
}
