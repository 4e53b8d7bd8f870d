import aslValidator from 'asl-validator';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addWorkflows } from '../../infra/workflows/index.ts';
import { placeholderFunctionArn, renderWorkflowDefinitions, stateMachineDefinitions, type AslDefinition } from '../../infra/workflows/render.ts';
import { PURGE_STATES as P, WINDOW_STATES as W } from '../../infra/workflows/state-names.ts';
import { allStates } from '../../local/stepfunctions.ts';

// Every workflow definition, as CDK synthesizes it (Template.fromStack, DefinitionString
// resolved with placeholder ARNs), is valid ASL for asl-validator, carries the CVP numbers,
// and releases the lock on every path once it holds it.

const validate = (d: AslDefinition) => aslValidator(structuredClone(d), { checkArn: true, checkPaths: true });

const defaults = renderWorkflowDefinitions({ site: 'site-a', purge: { retentionDays: 365, keepFullCycles: 2 } });
const tight = renderWorkflowDefinitions({ site: 'site-b', purge: { retentionDays: 30, keepFullCycles: 1 }, config: { lockRetryIntervalSeconds: 60, backupLockMaxAttempts: 0, activityHeartbeatSeconds: 1, activityTimeoutSeconds: 2, recallPollSeconds: 1 } });

/** States reachable from `from` without entering `avoid`. */
function reachable(d: AslDefinition, from: string[], avoid: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...from];
  while (todo.length) {
    const name = todo.pop()!;
    if (name === avoid || seen.has(name)) continue;
    seen.add(name);
    const s = d.States[name]!;
    const next = [s.Next, s.Default, ...((s.Choices as { Next: string }[] | undefined) ?? []).map((c) => c.Next), ...((s.Catch as { Next: string }[] | undefined) ?? []).map((c) => c.Next)];
    todo.push(...next.filter((n): n is string => typeof n === 'string'));
  }
  return seen;
}

const terminal = (s: Record<string, unknown>) => s.Type === 'Succeed' || s.Type === 'Fail' || s.End === true;

describe('workflow definitions', () => {
  it.each([
    ['backup window', defaults.backupWindow],
    ['purge', defaults.purge],
    ['recall', defaults.recall],
    ['backup window (tight config: no lock retry at all)', tight.backupWindow],
  ])('%s is valid for asl-validator', (_name, definition) => {
    const result = validate(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('backup window: scheduled acquire retries LockHeldError every 600 s, 24 times, rate 1; on-demand acquire does not', () => {
    const d = defaults.backupWindow;
    expect(d.States[W.acquire]!.Retry).toContainEqual({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 600, MaxAttempts: 24, BackoffRate: 1 });
    expect(JSON.stringify(d.States[W.acquireOnce]!.Retry)).not.toContain('LockHeldError');
    expect(d.States[W.acquire]!.Parameters).toMatchObject({ action: 'acquire', operation: 'backup', staleAfterSeconds: 12 * 3600, 'holder.$': '$$.Execution.Id' });
    expect(d.States[W.dispatch]).toMatchObject({ Resource: defaults.activityArn, HeartbeatSeconds: 300, TimeoutSeconds: 21600 });
    expect(d.States[W.acquire]!.Resource).toBe(placeholderFunctionArn('lock'));
  });

  it('purge: acquire retries LockHeldError every 600 s, 36 times, rate 1; deletes in a Map', () => {
    const d = defaults.purge;
    expect(d.States[P.acquire]!.Retry).toContainEqual({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 600, MaxAttempts: 36, BackoffRate: 1 });
    expect(d.States[P.deleteBatches]).toMatchObject({ Type: 'Map', ItemsPath: '$.plan.batches' });
    expect(d.States[P.plan]!.Parameters).toMatchObject({ settings: { retentionDays: 365, keepFullCycles: 2 } });
  });

  it("purge: a site's orphanGraceDays reaches the plan's settings; without it the function's default applies", () => {
    expect((defaults.purge.States[P.plan]!.Parameters as { settings: object }).settings).not.toHaveProperty('orphanGraceDays');
    const graced = renderWorkflowDefinitions({ site: 'site-a', purge: { retentionDays: 365, keepFullCycles: 2, orphanGraceDays: 3 } });
    expect(graced.purge.States[P.plan]!.Parameters).toMatchObject({ settings: { orphanGraceDays: 3 } });
  });

  it('the numbers are data: another configuration renders other numbers', () => {
    expect(tight.backupWindow.States[W.acquire]!.Retry).toContainEqual({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 60, MaxAttempts: 0, BackoffRate: 1 });
    expect(tight.backupWindow.States[W.dispatch]).toMatchObject({ HeartbeatSeconds: 1, TimeoutSeconds: 2 });
  });

  it.each([
    ['backup window', defaults.backupWindow, [W.acquire, W.acquireOnce], W.release],
    ['purge', defaults.purge, [P.acquire], P.release],
  ])('%s: once the lock is held, every path to an end goes through the release', (_name, d, acquires, release) => {
    const afterAcquire = acquires.map((a) => d.States[a]!.Next as string);
    const escaped = [...reachable(d, afterAcquire, release)].filter((n) => terminal(allStates(d)[n]!));
    expect(escaped).toEqual([]);
    // …and the release is reachable (it is not avoided by accident).
    expect(reachable(d, afterAcquire, '')).toContain(release);
  });

  it('addWorkflows builds a backup window and a purge per site and one recall, all valid', () => {
    const app = new App({ builtinCloudFormationValidation: false, analyticsReporting: false, context: { 'aws:cdk:disable-stack-trace': true } });
    const stack = new Stack(app, 'Processing', { env: { account: '000000000000', region: 'us-east-1' } });
    const fn = (n: 'lock' | 'window' | 'purge' | 'recall') => lambda.Function.fromFunctionArn(stack, `F${n}`, placeholderFunctionArn(n));
    const built = addWorkflows(stack, {
      functions: { lock: fn('lock'), window: fn('window'), purge: fn('purge'), recall: fn('recall') },
      alerts: { topic: new sns.Topic(stack, 'Alerts') },
      sites: [
        { name: 'site-a', activity: new sfn.Activity(stack, 'ActA'), retentionDays: 365 },
        { name: 'site-b', activity: new sfn.Activity(stack, 'ActB'), retentionDays: 730, keepFullCycles: 3 },
      ],
      namePrefix: 'Ferry',
    });
    const template = Template.fromStack(stack);
    const definitions = stateMachineDefinitions(template.toJSON());
    expect(Object.keys(definitions)).toHaveLength(5);
    // Same constructs as rendered above; validate one site's pair (validation costs about a second each).
    const siteB = Object.entries(definitions).filter(([id]) => id.includes('sitebBackupWindow') || id.includes('sitebPurge'));
    expect(siteB).toHaveLength(2);
    for (const [, d] of siteB) expect(validate(d).isValid).toBe(true);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'Ferry-site-b-purge', TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL' } });
    expect(Object.keys(built.sites)).toEqual(['site-a', 'site-b']);
  });

  it('raises no unacknowledged cdk-nag AwsSolutions finding (SF1 logging ALL, SF2 tracing, IAM5 wildcards acknowledged with reasons)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'ferry-nag-'));
    try {
      // The CloudFormation schema validation is the stateful/processing stacks' business; cdk-nag is what this checks.
      const app = new App({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:disable-stack-trace': true } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      const stack = new Stack(app, 'Nag', { env: { account: '000000000000', region: 'us-east-1' } });
      const fn = (n: 'lock' | 'window' | 'purge' | 'recall') => lambda.Function.fromFunctionArn(stack, `F${n}`, placeholderFunctionArn(n));
      addWorkflows(stack, {
        functions: { lock: fn('lock'), window: fn('window'), purge: fn('purge'), recall: fn('recall') },
        alerts: { topic: new sns.Topic(stack, 'Alerts', { enforceSSL: true }) },
        sites: [{ name: 'site-a', activity: new sfn.Activity(stack, 'Act'), retentionDays: 365 }],
      });
      expect(() => app.synth()).not.toThrow();
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
