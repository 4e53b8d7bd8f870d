import { describe, expect, it } from 'vitest';
import { buildWorkflows } from '../../infra/workflows/build.ts';
import { FAKE_ENV, LOCAL_ENV, TemplateResolver } from '../../infra/cfn-resolve.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import type { DeploymentConfigInput } from '../../infra/config.ts';
import { eventRules, stateMachineArns } from '../../local/event-rules.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { PURGE_REPORTED_FAILURE } from '../../infra/workflows/purge.ts';
import { synthFerry } from './fixture.ts';
import { PROCESSING_RESOURCES, STACK_RESOURCES_MAX } from '../../infra/config-limits.ts';

// A purge or recall execution that failed, timed out or was aborted reaches the alert topic
// through ONE EventBridge rule for the deployment, whatever its number of sites (per-site alarms
// cost a 12th scheduled site its room in the stack). The rule is read from the synthesized
// template and evaluated by the local cloud's evaluator (local/event-rules.ts), which refuses
// any part of a pattern it cannot evaluate, against the deployed names of every state machine.

const SCHEDULE = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
const config = (n: number): DeploymentConfigInput =>
  ({ sites: Array.from({ length: n }, (_, i) => ({ name: `site-${i}`, retentionDays: 2555, schedule: SCHEDULE })), fleetReaders: ['arn:aws:iam::444455556666:role/fleet'] }) as DeploymentConfigInput;

function synth(n: number) {
  const s = synthFerry(config(n), { workflows: buildWorkflows });
  const snapshot = { templates: s.raw, processing: 'Ferry-processing' } as unknown as DeploymentSnapshot;
  return { s, snapshot, rules: eventRules(snapshot), machines: stateMachineArns(snapshot) };
}

/** As Step Functions sends it: a FAILED execution names its error (a task's, or a Fail state's). */
const statusChange = (stateMachineArn: string, status: string, error: string | null = status === 'FAILED' ? 'States.TaskFailed' : null) => ({
  ...{ version: '0', id: 'e1', 'detail-type': 'Step Functions Execution Status Change', source: 'aws.states', account: '111122223333', region: 'eu-west-1', time: '2026-12-06T05:10:00Z' },
  resources: [`${stateMachineArn.replace(':stateMachine:', ':execution:')}:x1`],
  detail: { executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:x1`, stateMachineArn, name: 'x1', status, error },
});

/** The most scheduled sites one deployment holds (infra/config-limits.ts): the rule stays one at the limit. */
const MOST_SCHEDULED = Math.floor((STACK_RESOURCES_MAX - PROCESSING_RESOURCES.base) / (PROCESSING_RESOURCES.site + PROCESSING_RESOURCES.schedule));

describe('the rule on failed purge and recall executions', () => {
  it.each([1, MOST_SCHEDULED])('is one rule, on the alert topic, with %i scheduled site(s)', (n) => {
    const { s, rules } = synth(n);
    expect(rules.map((r) => r.name)).toEqual([expect.stringMatching(/^WorkflowsOrchestrationWorkflowFailed/)]);
    // Resolved as the local cloud resolves the rule (its account, in the region its clients use).
    const resolver = new TemplateResolver(s.raw, LOCAL_ENV);
    const topic = resolver.resolveString('Ferry-processing', { Ref: Object.keys(s.raw['Ferry-processing']!.Resources!).find((id) => id.startsWith('AlertsTopic'))! });
    expect(rules[0]!.targets.map((t) => t.topicArn)).toEqual([topic]);
    // The topic's own policy lets this account's rules publish (EventBridge as its service, no role), not another account's.
    const policies = Object.values(s.raw['Ferry-processing']!.Resources!)
      .filter((r) => r.Type === 'AWS::SNS::TopicPolicy')
      .map((r) => resolver.resolve('Ferry-processing', r.Properties!.PolicyDocument) as unknown as PolicyDocument);
    const request = (sourceAccount: string) => ({ action: 'sns:Publish', resource: topic, principal: { type: 'Service' as const, id: 'events.amazonaws.com' }, context: { 'aws:SecureTransport': true, 'aws:SourceAccount': sourceAccount } });
    expect(isAllowed(policies, request(FAKE_ENV.account))).toBe(true);
    expect(isAllowed(policies, request('444455556666'))).toBe(false);
  });

  it("matches every site's purge and the recall when they fail, time out or are aborted, and never a backup window or a succeeded execution", () => {
    const { rules, machines } = synth(3);
    const rule = rules[0]!;
    const names = [...machines.keys()].sort();
    expect(names).toEqual(['Ferry-recall', ...[0, 1, 2].flatMap((i) => [`Ferry-site-${i}-backup-window`, `Ferry-site-${i}-purge`])].sort());
    for (const [name, arn] of machines) {
      const told = !name.endsWith('-backup-window');
      for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED']) expect([name, status, rule.matches(statusChange(arn, status))]).toEqual([name, status, told]);
      for (const status of ['SUCCEEDED', 'RUNNING']) expect([name, status, rule.matches(statusChange(arn, status))]).toEqual([name, status, false]);
    }
    // Another account's (or region's) purge of the same name is not this deployment's.
    expect(rule.matches(statusChange(machines.get('Ferry-site-0-purge')!.replace('111122223333', '999999999999'), 'FAILED'))).toBe(false);
  });

  it('leaves out a purge that FAILED after its own report told the topic why (PurgeFailed), never a recall that failed so, nor a purge failed otherwise', () => {
    const { rules, machines } = synth(2);
    const rule = rules[0]!;
    for (const site of ['site-0', 'site-1']) {
      const purge = machines.get(`Ferry-${site}-purge`)!;
      expect(rule.matches(statusChange(purge, 'FAILED', PURGE_REPORTED_FAILURE))).toBe(false);
      for (const error of ['States.TaskFailed', 'KMS.AccessDeniedException', 'States.DataLimitExceeded']) expect([site, error, rule.matches(statusChange(purge, 'FAILED', error))]).toEqual([site, error, true]);
    }
    expect(rule.matches(statusChange(machines.get('Ferry-recall')!, 'FAILED', 'RecallFailed'))).toBe(true);
  });

  it('writes a JSON message naming the status, the state machine, the execution and what to do', () => {
    const { rules, machines } = synth(1);
    const arn = machines.get('Ferry-site-0-purge')!;
    const message = JSON.parse(rules[0]!.targets[0]!.message(statusChange(arn, 'TIMED_OUT'))) as Record<string, string>;
    expect(message).toMatchObject({ kind: 'workflow-failed', deployment: 'Ferry', severity: 'critical', status: 'TIMED_OUT', stateMachine: arn, execution: `${arn.replace(':stateMachine:', ':execution:')}:x1`, at: '2026-12-06T05:10:00Z' });
    expect(message.what).toContain('ended TIMED_OUT');
    expect(message.what).toContain('Ferry-{site}-purge is the purge of that site');
    expect(message.whatToDo).toContain('docs/operations.md');
  });
});
