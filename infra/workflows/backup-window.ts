import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { assertName } from '../../core/layout.ts';
import { WINDOW_JOB_FORMAT } from '../../core/window.ts';
import { lockWaitSeconds, workflowConfig, type WorkflowConfig } from '../../core/workflow-config.ts';
import { invoke, publishAt, publishFallback, stateMachine, type WorkflowCommonProps } from './common.ts';
import { WINDOW_STATES as S } from './state-names.ts';

// The backup window of one site (Standard workflow, CVP semantics):
//   record the start (the run record, state `started`) → acquire the lock (scheduled: Retry on LockHeldError every 10 min, 24 times = 4 h;
//   on demand: once) → dispatch the job to the site's agent through its activity, with
//   HeartbeatSeconds → verify what arrived → release → record FULL/PARTIAL/FAILED →
//   publish an alert on failure, partial run and missed window (lock never obtained).
// Every path after the acquire goes through the release; the record step sees the whole
// state (`run.$: $`) and decides outcome and alert text (core/window.ts judgeWindow).
//
// Input: `{}` for a scheduled run (EventBridge), `{ "onDemand": true }` for an on-demand one.

export interface BackupWindowProps extends WorkflowCommonProps {
  site: string;
  activity: sfn.IActivity;
}

/** The subset of the configuration the record step needs to write its alert texts. */
export function alertConfig(config: WorkflowConfig): Record<string, number> {
  const { lockRetryIntervalSeconds, backupLockMaxAttempts, purgeLockMaxAttempts, staleLockHours, activityHeartbeatSeconds, activityTimeoutSeconds, purgeMaxRounds, purgeMaxTargets } = config;
  return { lockRetryIntervalSeconds, backupLockMaxAttempts, purgeLockMaxAttempts, staleLockHours, activityHeartbeatSeconds, activityTimeoutSeconds, purgeMaxRounds, purgeMaxTargets };
}

export class BackupWindowWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly config: WorkflowConfig;

  constructor(scope: Construct, id: string, props: BackupWindowProps) {
    super(scope, id);
    assertName('site', props.site);
    const config = workflowConfig(props.config);
    if (config.activityHeartbeatSeconds >= config.activityTimeoutSeconds) throw new Error('activityHeartbeatSeconds must be shorter than activityTimeoutSeconds');
    // A window that can outlive staleLockHours could have its lock cleared under it.
    if (config.activityTimeoutSeconds >= config.staleLockHours * 3600) throw new Error(`activityTimeoutSeconds (${config.activityTimeoutSeconds}) must be shorter than staleLockHours (${config.staleLockHours} h)`);
    this.config = config;
    const { site, functions } = props;

    const acquirePayload = {
      action: 'acquire',
      site,
      operation: 'backup',
      holder: sfn.JsonPath.stringAt('$$.Execution.Id'),
      staleAfterSeconds: config.staleLockHours * 3600,
    };
    const acquire = invoke(this, S.acquire, functions.lock, acquirePayload, '$.lock');
    acquire.addRetry({ errors: ['LockHeldError'], interval: Duration.seconds(config.lockRetryIntervalSeconds), maxAttempts: config.backupLockMaxAttempts, backoffRate: 1 });
    const acquireOnce = invoke(this, S.acquireOnce, functions.lock, acquirePayload, '$.lock');

    const whoHolds = invoke(this, S.whoHolds, functions.lock, { action: 'describe', site }, '$.heldBy');
    const dispatch = new tasks.StepFunctionsInvokeActivity(this, S.dispatch, {
      activity: props.activity,
      parameters: {
        format: WINDOW_JOB_FORMAT,
        site,
        windowStartedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        mode: sfn.JsonPath.stringAt('$.mode'),
        lockToken: sfn.JsonPath.numberAt('$.lock.token'),
        heartbeatSeconds: config.activityHeartbeatSeconds,
        execution: sfn.JsonPath.stringAt('$$.Execution.Id'),
      },
      heartbeatTimeout: sfn.Timeout.duration(Duration.seconds(config.activityHeartbeatSeconds)),
      taskTimeout: sfn.Timeout.duration(Duration.seconds(config.activityTimeoutSeconds)),
      resultPath: '$.report',
    });
    const verify = invoke(this, S.verify, functions.window, { action: 'verify', site, report: sfn.JsonPath.objectAt('$.report') }, '$.verify');
    const release = invoke(this, S.release, functions.lock, { action: 'release', site, token: sfn.JsonPath.numberAt('$.lock.token') }, '$.release');
    const record = invoke(
      this,
      S.record,
      functions.window,
      {
        action: 'record',
        site,
        startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        mode: sfn.JsonPath.stringAt('$.mode'),
        execution: sfn.JsonPath.stringAt('$$.Execution.Id'),
        config: alertConfig(config),
        run: sfn.JsonPath.entirePayload,
      },
      '$.record',
    );
    const publish = publishAt(this, S.publish, props.alerts, '$.record.alert', { site, kind: 'backup-window' });
    const recordFailed = publishFallback(this, S.recordFailed, props.alerts, { subject: `Ferry ${site}: backup window not recorded`, what: `the backup window of site ${site} could not be recorded` }, { site, kind: 'backup-window' }, '$.recordError');
    const failed = new sfn.Fail(this, S.failed, { error: 'BackupWindowFailed', cause: 'the backup window failed or was missed: see the alert and the run record' });
    const done = new sfn.Succeed(this, S.done);

    // Failure paths: before the lock nothing to release; after it, always through release.
    acquire.addCatch(whoHolds, { errors: ['LockHeldError'], resultPath: '$.lockError' });
    acquire.addCatch(record, { errors: ['States.ALL'], resultPath: '$.error' });
    acquireOnce.addCatch(whoHolds, { errors: ['LockHeldError'], resultPath: '$.lockError' });
    acquireOnce.addCatch(record, { errors: ['States.ALL'], resultPath: '$.error' });
    whoHolds.addCatch(record, { errors: ['States.ALL'], resultPath: '$.describeError' });
    dispatch.addCatch(release, { errors: ['States.ALL'], resultPath: '$.error' });
    verify.addCatch(release, { errors: ['States.ALL'], resultPath: '$.error' });
    release.addCatch(record, { errors: ['States.ALL'], resultPath: '$.releaseError' });
    record.addCatch(recordFailed, { errors: ['States.ALL'], resultPath: '$.recordError' });

    acquire.next(dispatch);
    acquireOnce.next(dispatch);
    whoHolds.next(record);
    dispatch.next(verify);
    verify.next(release);
    release.next(record);
    recordFailed.next(failed);
    const outcome = new sfn.Choice(this, S.outcome).when(sfn.Condition.stringEquals('$.record.outcome', 'FAILED'), failed).otherwise(done);
    publish.next(outcome);
    record.next(new sfn.Choice(this, S.alertDue).when(sfn.Condition.isPresent('$.record.alert'), publish).otherwise(outcome));

    // The window's record is written as it starts (state `started`), before any lock wait, so the
    // dead-man's switch tells a window waiting its turn from one that did not run. A failure to
    // write it does not stop the window; the record step replaces it either way.
    const startPayload = { action: 'start', site, startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'), mode: sfn.JsonPath.stringAt('$.mode'), execution: sfn.JsonPath.stringAt('$$.Execution.Id') };
    const recordStart = invoke(this, S.start, functions.window, startPayload, sfn.JsonPath.DISCARD);
    recordStart.addCatch(acquire, { errors: ['States.ALL'], resultPath: '$.startError' });
    recordStart.next(acquire);
    const recordStartOnDemand = invoke(this, S.startOnDemand, functions.window, startPayload, sfn.JsonPath.DISCARD);
    recordStartOnDemand.addCatch(acquireOnce, { errors: ['States.ALL'], resultPath: '$.startError' });
    recordStartOnDemand.next(acquireOnce);

    const onDemand = sfn.Condition.and(sfn.Condition.isPresent('$.onDemand'), sfn.Condition.booleanEquals('$.onDemand', true));
    const start = new sfn.Choice(this, S.mode)
      .when(onDemand, new sfn.Pass(this, S.onDemand, { result: sfn.Result.fromString('on-demand'), resultPath: '$.mode' }).next(recordStartOnDemand))
      .otherwise(new sfn.Pass(this, S.scheduled, { result: sfn.Result.fromString('scheduled'), resultPath: '$.mode' }).next(recordStart));

    const timeout = Duration.seconds(lockWaitSeconds(config, 'backup') + config.activityTimeoutSeconds + 3600);
    this.stateMachine = stateMachine(this, props, start, timeout, `Ferry backup window of site ${site}`, [functions.lock, functions.window]);
  }
}
