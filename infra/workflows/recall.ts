import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { workflowConfig, type WorkflowConfig } from '../../core/workflow-config.ts';
import { invoke, publishFallback, stateMachine, type WorkflowCommonProps } from './common.ts';
import { RECALL_STATES as S } from './state-names.ts';

// Recall of a Deep Archive pack (one workflow for all sites: the input names the site):
//   request restore → (restored? no) wait → check → … → notify the requester over SNS.
// Input: `{ "site": "site-a", "rid": "r…", "requester": "alice@example.com" }` (or `packKey`).
// The notice carries `requester` and `kind=recall` as message attributes, for subscription
// filter policies. A request or check that fails for good goes to the give-up step, which sets
// the pack's status record to gave-up (the console stops polling "restoring") and writes the
// failure notice, published with the same attributes so the requester hears of it; only when
// that step itself fails does the fixed last-resort alert go out, with the same attributes
// (taken from the execution's input) so the same subscriptions get it.

export type RecallProps = WorkflowCommonProps;

export class RecallWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly config: WorkflowConfig;

  constructor(scope: Construct, id: string, props: RecallProps) {
    super(scope, id);
    const config = workflowConfig(props.config);
    this.config = config;
    const recallConfig = { recallPollSeconds: config.recallPollSeconds, recallMaxPolls: config.recallMaxPolls, recallDays: config.recallDays, recallTier: config.recallTier };

    const request = invoke(this, S.request, props.functions.recall, { action: 'request', request: sfn.JsonPath.entirePayload, config: recallConfig }, '$.recall');
    request.addRetry({ errors: ['TransientError'], interval: Duration.seconds(10), maxAttempts: 3, backoffRate: 2 });
    const check = invoke(this, S.check, props.functions.recall, { action: 'check', recall: sfn.JsonPath.objectAt('$.recall'), config: recallConfig }, '$.recall');
    check.addRetry({ errors: ['TransientError'], interval: Duration.seconds(30), maxAttempts: 5, backoffRate: 2 });
    const wait = new sfn.Wait(this, S.wait, { time: sfn.WaitTime.duration(Duration.seconds(config.recallPollSeconds)) });
    const notify = recallNotice(this, S.notify, props.alerts.topic, '$.recall');
    notify.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });
    const giveUp = invoke(this, S.giveUp, props.functions.recall, { action: 'fail', run: sfn.JsonPath.entirePayload, execution: sfn.JsonPath.stringAt('$$.Execution.Id'), config: recallConfig }, '$.failure');
    giveUp.addRetry({ errors: ['TransientError'], interval: Duration.seconds(10), maxAttempts: 3, backoffRate: 2 });
    const notifyFailed = recallNotice(this, S.notifyFailed, props.alerts.topic, '$.failure');
    notifyFailed.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });
    // The give-up step failed, so the site and requester come from the execution's input (the
    // request validated them, or failed on them): '-' and 'unknown' where it has none.
    const failedAlert = publishFallback(
      this,
      S.failedAlert,
      props.alerts,
      { subject: 'Ferry: recall failed, not recorded', what: 'a recall failed and its give-up step failed too (site {}, asked for by {})' },
      { kind: 'recall', site: sfn.JsonPath.stringAt('$.alertTo.site'), requester: sfn.JsonPath.stringAt('$.alertTo.requester') },
      '$.giveUpError',
      ['$.alertTo.site', '$.alertTo.requester'],
    );
    const alertTo = new sfn.Pass(this, S.alertTo, { result: sfn.Result.fromObject({ site: '-', requester: 'unknown' }), resultPath: '$.alertTo' });
    alertTo.next(copyIfString(this, S.alertSite, '$.site', '$.alertTo.site', copyIfString(this, S.alertRequester, '$.requester', '$.alertTo.requester', failedAlert)));
    const failed = new sfn.Fail(this, S.failed, { error: 'RecallFailed', cause: 'the pack could not be restored: see the notice' });
    const done = new sfn.Succeed(this, S.done);

    request.addCatch(giveUp, { errors: ['States.ALL'], resultPath: '$.error' });
    check.addCatch(giveUp, { errors: ['States.ALL'], resultPath: '$.error' });
    giveUp.addCatch(alertTo, { errors: ['States.ALL'], resultPath: '$.giveUpError' });
    giveUp.next(notifyFailed);
    notifyFailed.next(failed);
    failedAlert.next(failed);
    const restored = new sfn.Choice(this, S.restored)
      .when(sfn.Condition.stringEquals('$.recall.state', 'restoring'), wait)
      .otherwise(notify);
    request.next(restored);
    wait.next(check);
    check.next(restored);
    notify.next(new sfn.Choice(this, S.recalled).when(sfn.Condition.stringEquals('$.recall.state', 'available'), done).otherwise(failed));

    const timeout = Duration.seconds(config.recallPollSeconds * (config.recallMaxPolls + 1) + 3600);
    this.stateMachine = stateMachine(this, props, request, timeout, 'Ferry recall of an archived pack', [props.functions.recall]);
  }
}

/** Copies the string at `from` to `to` when the state has one there (a Choice, and a Pass named after it), then goes to `next`. */
function copyIfString(scope: Construct, id: string, from: string, to: string, next: sfn.IChainable): sfn.Choice {
  const copy = new sfn.Pass(scope, `${id}: copy`, { inputPath: from, resultPath: to });
  copy.next(next);
  return new sfn.Choice(scope, id).when(sfn.Condition.and(sfn.Condition.isPresent(from), sfn.Condition.isString(from)), copy).otherwise(next);
}

/** A recall notice to the alert topic, from the record at `base` (its site, requester and notice), with the attributes a requester's subscription filters on. */
function recallNotice(scope: Construct, id: string, topic: sns.ITopic, base: string): tasks.SnsPublish {
  return new tasks.SnsPublish(scope, id, {
    topic,
    subject: sfn.JsonPath.stringAt(`${base}.notice.subject`),
    message: sfn.TaskInput.fromJsonPathAt(`${base}.notice.message`),
    messageAttributes: {
      kind: { value: 'recall' },
      site: { value: sfn.JsonPath.stringAt(`${base}.site`) },
      requester: { value: sfn.JsonPath.stringAt(`${base}.requester`) },
      severity: { value: sfn.JsonPath.stringAt(`${base}.notice.severity`) },
    },
    resultPath: sfn.JsonPath.DISCARD,
  });
}
