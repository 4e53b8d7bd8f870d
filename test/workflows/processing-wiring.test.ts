import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { stateMachineDefinitions } from '../../infra/workflows/render.ts';
import { WINDOW_STATES as W } from '../../infra/workflows/state-names.ts';
import { synthFerry } from '../infra/fixture.ts';

// The orchestration plugged into the real app through the processing stack's extension point
// (no esbuild bundling; cdk-nag AwsSolutions on): functions, state machines, schedules and
// the missed-window alarm per site, with no unacknowledged finding.

describe('workflows in the processing stack', () => {
  it('synthesizes with cdk-nag clean: 4 functions, a window and a purge per site, one recall, schedules (windows, purges, the dead-man check, the audit sealer), the failed-workflow rule, alarms', () => {
    let built: BuiltWorkflows | undefined;
    const s = synthFerry(DEFAULT_CONFIG, { nag: true, workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
    const t = s.processingTemplate;
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 5);
    // A window and a purge schedule per scheduled site (two), the dead-man check, the audit sealer and the one WorkflowFailed rule.
    t.resourceCountIs('AWS::Events::Rule', 7);
    t.hasResourceProperties('AWS::Events::Rule', { EventPattern: { source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'] } });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    t.resourceCountIs('AWS::CloudWatch::Alarm', 7); // a missed window per scheduled site, failed ingests, failed scheduled reports, failed audit seals, failed dead-man's switch runs, undelivered alerts
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(0 2 * * ? *)', State: 'ENABLED' });
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'Ferry-site-a-backup-window' });
    expect(Object.keys(built!.sites)).toEqual(['site-a', 'site-b']);

    // The window dispatches to the site's own activity (the agent role polls exactly that one).
    const raw = s.raw[s.processing.stackName] as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
    const windowId = s.processing.getLogicalId(built!.sites['site-a']!.backupWindow.stateMachine.node.defaultChild as never);
    const definitionText = JSON.stringify(raw.Resources[windowId]!.Properties!.DefinitionString);
    const activityId = s.processing.getLogicalId(s.processing.sites[0]!.activity.node.defaultChild as never);
    expect(definitionText).toContain(`{"Ref":"${activityId}"}`);

    // The purge role can delete, but never bypass Object Lock.
    const purgePolicy = JSON.stringify(Object.values(raw.Resources).filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r).includes('s3:DeleteObjectVersion')));
    expect(purgePolicy).toContain('NeverBypassObjectLock');
    expect(purgePolicy).not.toMatch(/"Effect":"Allow","[^}]*BypassGovernanceRetention/);

    // And the deployed definitions are valid ASL (ARNs resolved with placeholders).
    const definitions = stateMachineDefinitions(resolvable(raw));
    const window = Object.entries(definitions).find(([id]) => id === windowId)![1];
    expect(window.States[W.acquire]!.Retry).toContainEqual({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 600, MaxAttempts: 24, BackoffRate: 1 });
    expect(aslValidator(window, { checkArn: false, checkPaths: true }).isValid).toBe(true);
  });
});

/** Cross-stack imports and the functions' GetAtt stand as placeholders the renderer knows. */
function resolvable(raw: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }) {
  const text = JSON.stringify(raw).replace(/\{"Fn::ImportValue":"[^"]*"\}/g, '"imported"');
  return JSON.parse(text) as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
}
