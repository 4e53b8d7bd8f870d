import { describe, expect, it } from 'vitest';
import { DeploymentConfigError, parseDeploymentConfig } from '../../infra/config.ts';
import { workflowsFactory } from '../../infra/workflows/build.ts';
import { synthFerry } from './fixture.ts';

// `sites[].trees` in the deployment configuration: validated with paths, defaults filled in, and
// carried into the purge state machine's plan step (which the purge function parses again).

function problemsOf(input: unknown): string[] {
  try {
    parseDeploymentConfig(input);
  } catch (error) {
    if (error instanceof DeploymentConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('tree snapshot retention in the deployment configuration', () => {
  it('fills in the defaults under a site and per source, and names every bad value with its path', () => {
    const config = parseDeploymentConfig({ sites: [{ name: 'ocs', retentionDays: 730, trees: { keepDaily: 7, sources: { 'meeting-content': { keepWeekly: 52 } } } }] });
    expect(config.sites[0]?.trees).toEqual({ keepDaily: 7, keepWeekly: 8, keepMonthly: 12, keepBeforeMassChangeDays: 90, orphanGraceDays: 7, sources: { 'meeting-content': { keepWeekly: 52 } } });
    expect(parseDeploymentConfig({ sites: [{ name: 'ocs', retentionDays: 730 }] }).sites[0]?.trees).toBeUndefined();
    const problems = problemsOf({ sites: [{ name: 'ocs', retentionDays: 730, trees: { keepDaily: -1, orphanGraceDays: 0, sources: { 'Bad Name': {} }, keepYearly: 3 } }] });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sites\[0\]\.trees\.keepDaily: /),
        expect.stringMatching(/^sites\[0\]\.trees\.orphanGraceDays: /),
        expect.stringMatching(/^sites\[0\]\.trees\.sources/),
        expect.stringMatching(/^sites\[0\]\.trees: Unrecognized key.*keepYearly/),
      ]),
    );
  });

  it("reaches the plan step of the site's purge state machine as configured", () => {
    const config = { sites: [{ name: 'ocs', retentionDays: 730, trees: { keepDaily: 3, keepWeekly: 0 } }, { name: 'other', retentionDays: 730 }] };
    const synth = synthFerry(config, { workflows: workflowsFactory() });
    const machines = Object.values(synth.raw[synth.processing.stackName]!.Resources!).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
    const purges = machines.map((m) => JSON.stringify(m.Properties)).filter((d) => d.includes('\\"action\\":\\"plan\\"'));
    expect(purges).toHaveLength(2);
    const ocs = purges.filter((d) => d.includes('\\"site\\":\\"ocs\\"'));
    expect(ocs).toHaveLength(1);
    expect(ocs[0]).toContain('\\"trees\\":{\\"keepDaily\\":3,\\"keepWeekly\\":0,\\"keepMonthly\\":12,\\"keepBeforeMassChangeDays\\":90,\\"orphanGraceDays\\":7,\\"sources\\":{}}');
    expect(purges.find((d) => !d.includes('\\"site\\":\\"ocs\\"'))).not.toContain('trees');
  });
});
