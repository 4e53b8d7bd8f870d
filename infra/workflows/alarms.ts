import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { Cron } from '../../core/fleet-cron.ts';

// The alarms on the state machines whose failure nothing else tells: a purge or a recall
// execution that failed, timed out or was aborted (an execution-level timeout, a publish SNS
// refused, `States.DataLimitExceeded`, an operator's stop: no Catch of the workflow sees them),
// and a purge schedule that stopped firing (retention silently no longer enforced). Each
// publishes to the alert topic as CloudWatch, as the missed-window alarm does.

/** How often the failed-executions alarm looks. */
export const FAILED_EXECUTIONS_PERIOD = Duration.minutes(5);
/** The longest CloudWatch lets an alarm look back (period x evaluation periods, periods of an hour or more). */
export const MAX_ALARM_LOOKBACK_HOURS = 7 * 24;
/** Added to a schedule's longest gap: EventBridge may start a run a little late, and the metric lands a little after. */
export const MISSED_RUN_SLACK_HOURS = 1;
/** A fixed start for measuring a cron's gaps (synthesis must not depend on the day it runs), over more than a year. */
const GAP_FROM = new Date('2026-01-01T00:00:00Z');
const GAP_HORIZON_DAYS = 400;

/** An alarm at the first execution of `machine` that failed, timed out or was aborted, to `topic`. */
export function failedExecutionsAlarm(scope: Construct, id: string, machine: sfn.StateMachine, topic: sns.ITopic, description: string): cloudwatch.Alarm {
  const metric = (m: cloudwatch.Metric) => m.with({ statistic: 'Sum', period: FAILED_EXECUTIONS_PERIOD });
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    // FILL: one count with no data point (no aborted execution) must not hide the others.
    metric: new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
      usingMetrics: { failed: metric(machine.metricFailed()), timedOut: metric(machine.metricTimedOut()), aborted: metric(machine.metricAborted()) },
      period: FAILED_EXECUTIONS_PERIOD,
      label: 'ExecutionsFailed + ExecutionsTimedOut + ExecutionsAborted',
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(topic));
  return alarm;
}

/**
 * Hours without a run after which a schedule of `cronExpression` missed one: its longest gap
 * plus the slack, capped at what an alarm can look back (a weekly schedule then gets no slack,
 * as the daily NoBackupWindow has none); undefined when the gap itself is longer, or when it
 * fires fewer than twice in a year.
 */
export function missedRunHours(cronExpression: string): number | undefined {
  const gap = new Cron(cronExpression).longestGapMinutes(GAP_FROM, GAP_HORIZON_DAYS);
  if (gap === undefined || gap > MAX_ALARM_LOOKBACK_HOURS * 60) return undefined;
  return Math.min(Math.ceil(gap / 60) + MISSED_RUN_SLACK_HOURS, MAX_ALARM_LOOKBACK_HOURS);
}

/**
 * An alarm when `machine` started no execution for longer than its schedule's longest gap, to
 * `topic`: hourly counts, every one of them empty (missing data breaches). Undefined, with a
 * synthesis warning, when the gap is longer than CloudWatch can look back (7 days): a fortnightly
 * or monthly purge is not watched this way.
 */
export function missedRunAlarm(scope: Construct, id: string, machine: sfn.StateMachine, topic: sns.ITopic, p: { cronExpression: string; description: (hours: number) => string }): cloudwatch.Alarm | undefined {
  const hours = missedRunHours(p.cronExpression);
  if (hours === undefined) {
    Annotations.of(scope).addWarningV2(
      'ferry:missed-run-unwatched',
      `${machine.node.path}: its schedule cron(${p.cronExpression}) leaves more than ${MAX_ALARM_LOOKBACK_HOURS} h between runs, longer than a CloudWatch alarm can look back: no alarm watches for a missed run`,
    );
    return undefined;
  }
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: p.description(hours),
    metric: machine.metricStarted({ statistic: 'Sum', period: Duration.hours(1) }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: hours,
    datapointsToAlarm: hours,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(topic));
  return alarm;
}
