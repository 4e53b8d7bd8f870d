import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { assertName } from '../../core/layout.ts';
import { lockWaitSeconds, sitePurgeSchema, workflowConfig, type SitePurgeSettings, type WorkflowConfig } from '../../core/workflow-config.ts';
import { alertConfig } from './backup-window.ts';
import { invoke, publishAt, publishFallback, stateMachine, type WorkflowCommonProps } from './common.ts';

/**
 * The error a purge execution ends with after its report (or the report's fallback) told the
 * alert topic why: the workflow-failed rule leaves these out (infra/workflows/failure-notice.ts).
 */
export const PURGE_REPORTED_FAILURE = 'PurgeFailed';
import { PURGE_STATES as S } from './state-names.ts';

// The purge of one site (Standard workflow): record the start (core/purge-watch.ts: the
// dead-man's switch alerts a scheduled purge with no record) → acquire the lock (Retry on LockHeldError every
// 10 min, 36 times = 6 h) → plan (core/retention.ts) → delete in batches (Map; each batch
// heartbeats the lock first, so a purge that lost its lock stops) → release → report, always
// published; a plan cut at its size runs another round, up to purgeMaxRounds. Objects under
// Object Lock are skipped and reported by the delete step.

export interface PurgeProps extends WorkflowCommonProps {
  site: string;
  purge: SitePurgeSettings;
}

export class PurgeWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly config: WorkflowConfig;

  constructor(scope: Construct, id: string, props: PurgeProps) {
    super(scope, id);
    assertName('site', props.site);
    const config = workflowConfig(props.config);
    const settings = sitePurgeSchema.parse(props.purge);
    this.config = config;
    const { site, functions } = props;

    const acquire = invoke(this, S.acquire, functions.lock, { action: 'acquire', site, operation: 'purge', holder: sfn.JsonPath.stringAt('$$.Execution.Id'), staleAfterSeconds: config.staleLockHours * 3600 }, '$.lock');
    acquire.addRetry({ errors: ['LockHeldError'], interval: Duration.seconds(config.lockRetryIntervalSeconds), maxAttempts: config.purgeLockMaxAttempts, backoffRate: 1 });
    const whoHolds = invoke(this, S.whoHolds, functions.lock, { action: 'describe', site }, '$.heldBy');
    const plan = invoke(this, S.plan, functions.purge, { action: 'plan', site, settings, maxTargets: config.purgeMaxTargets, batchObjects: config.purgeBatchSize }, '$.plan');
    plan.addRetry({ errors: ['TransientError'], interval: Duration.seconds(10), maxAttempts: 3, backoffRate: 2 });

    const deleteBatch = invoke(this, S.deleteBatch, functions.purge, { action: 'delete', site: sfn.JsonPath.stringAt('$.site'), token: sfn.JsonPath.numberAt('$.token'), batch: sfn.JsonPath.objectAt('$.batch') });
    deleteBatch.addRetry({ errors: ['TransientError'], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });
    const deleteBatches = new sfn.Map(this, S.deleteBatches, {
      itemsPath: '$.plan.batches',
      maxConcurrency: config.purgeConcurrency,
      itemSelector: { site, token: sfn.JsonPath.numberAt('$.lock.token'), batch: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      resultPath: '$.deleted',
    });
    deleteBatches.itemProcessor(deleteBatch);

    const release = invoke(this, S.release, functions.lock, { action: 'release', site, token: sfn.JsonPath.numberAt('$.lock.token') }, '$.release');
    const report = invoke(
      this,
      S.report,
      functions.purge,
      { action: 'report', site, startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'), execution: sfn.JsonPath.stringAt('$$.Execution.Id'), config: alertConfig(config), run: sfn.JsonPath.entirePayload },
      '$.report',
    );
    const publish = publishAt(this, S.publish, props.alerts, '$.report.alert', { site, kind: 'purge' });
    const reportFailed = publishFallback(this, S.reportFailed, props.alerts, { subject: `Ferry ${site}: purge report failed`, what: `the purge of site ${site} could not write its report` }, { site, kind: 'purge' }, '$.reportError');
    const failed = new sfn.Fail(this, S.failed, { error: PURGE_REPORTED_FAILURE, cause: 'the purge failed or could not start: see the report' });
    const done = new sfn.Succeed(this, S.done);

    acquire.addCatch(whoHolds, { errors: ['LockHeldError'], resultPath: '$.lockError' });
    acquire.addCatch(report, { errors: ['States.ALL'], resultPath: '$.error' });
    whoHolds.addCatch(report, { errors: ['States.ALL'], resultPath: '$.describeError' });
    plan.addCatch(release, { errors: ['States.ALL'], resultPath: '$.error' });
    deleteBatches.addCatch(release, { errors: ['States.ALL'], resultPath: '$.error' });
    release.addCatch(report, { errors: ['States.ALL'], resultPath: '$.releaseError' });
    report.addCatch(reportFailed, { errors: ['States.ALL'], resultPath: '$.reportError' });

    acquire.next(plan);
    whoHolds.next(report);
    plan.next(deleteBatches);
    deleteBatches.next(release);
    release.next(report);
    report.next(publish);
    reportFailed.next(failed);
    // A plan cut at purgeMaxTargets is followed by another round at once (lock, plan, delete,
    // report), up to purgeMaxRounds: each round starts from a state holding only its number.
    const firstRound = new sfn.Pass(this, S.firstRound, { result: sfn.Result.fromNumber(1), resultPath: '$.round' });
    const nextRound = new sfn.Pass(this, S.nextRound, { parameters: { 'round.$': 'States.MathAdd($.round, 1)' } });
    firstRound.next(acquire);
    nextRound.next(acquire);
    // The run's record, written first (before any lock wait) so the dead-man's switch tells a
    // purge that never started from one that is waiting or running. A failure to write it does
    // not stop the purge: the function logs it as an error and Lambda counts it, and the execution
    // carries the error at $.startError; the switch may then report this run missed, naming this step.
    const recordStart = invoke(this, S.start, functions.purge, { action: 'start', site, startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'), execution: sfn.JsonPath.stringAt('$$.Execution.Id') }, sfn.JsonPath.DISCARD);
    recordStart.addRetry({ errors: ['TransientError'], interval: Duration.seconds(5), maxAttempts: 2, backoffRate: 2 });
    recordStart.addCatch(firstRound, { errors: ['States.ALL'], resultPath: '$.startError' });
    recordStart.next(firstRound);
    const truncated = sfn.Condition.and(
      sfn.Condition.isPresent('$.plan.summary.truncated'),
      sfn.Condition.booleanEquals('$.plan.summary.truncated', true),
      sfn.Condition.numberLessThan('$.round', config.purgeMaxRounds),
    );
    publish.next(
      new sfn.Choice(this, S.outcome)
        .when(sfn.Condition.or(sfn.Condition.stringEquals('$.report.outcome', 'FAILED'), sfn.Condition.stringEquals('$.report.outcome', 'NOT-STARTED')), failed)
        .when(truncated, nextRound)
        .otherwise(done),
    );

    const timeout = Duration.seconds(lockWaitSeconds(config, 'purge') + 6 * 3600 * config.purgeMaxRounds);
    this.stateMachine = stateMachine(this, props, recordStart, timeout, `Ferry purge of site ${site}`, [functions.lock, functions.purge]);
  }
}
