import { describe, expect, it } from 'vitest';
import { DeploymentConfigError, parseDeploymentConfig } from '../../infra/config.ts';
import { workflowsFactory } from '../../infra/workflows/build.ts';
import { synthFerry } from './fixture.ts';

// `sites[].keepFullCycles` in the deployment configuration: how many full backups the purge keeps
// per source, validated with its path and carried into the purge state machine's plan step.

function problemsOf(input: unknown): string[] {
  try {
    parseDeploymentConfig(input);
  } catch (error) {
    if (error instanceof DeploymentConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('keepFullCycles in the deployment configuration', () => {
  it('defaults to 2 and refuses anything but a whole number from 1 to 1000, naming the site', () => {
    expect(parseDeploymentConfig({ sites: [{ name: 'ocs', retentionDays: 730 }] }).sites[0]?.keepFullCycles).toBe(2);
    expect(parseDeploymentConfig({ sites: [{ name: 'ocs', retentionDays: 730, keepFullCycles: 1000 }] }).sites[0]?.keepFullCycles).toBe(1000);
    const sites = [0, 1001, 2.5].map((keepFullCycles) => ({ name: 'ocs', retentionDays: 730, keepFullCycles }));
    expect(sites.map((site) => problemsOf({ sites: [site] }))).toEqual([
      [expect.stringMatching(/^sites\[0\]\.keepFullCycles: Number must be greater than or equal to 1$/)],
      [expect.stringMatching(/^sites\[0\]\.keepFullCycles: Number must be less than or equal to 1000$/)],
      [expect.stringMatching(/^sites\[0\]\.keepFullCycles: Expected integer/)],
    ]);
  });

  it("reaches the plan step of each site's purge state machine as configured", () => {
    const config = { sites: [{ name: 'ocs', retentionDays: 730, keepFullCycles: 14 }, { name: 'other', retentionDays: 730 }] };
    const synth = synthFerry(config, { workflows: workflowsFactory() });
    const machines = Object.values(synth.raw[synth.processing.stackName]!.Resources!).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
    const purges = machines.map((m) => JSON.stringify(m.Properties)).filter((d) => d.includes('\\"action\\":\\"plan\\"'));
    const of = (site: string) => purges.filter((d) => d.includes(`\\"site\\":\\"${site}\\"`));
    expect(of('ocs')).toHaveLength(1);
    expect(of('ocs')[0]).toContain('\\"settings\\":{\\"retentionDays\\":730,\\"keepFullCycles\\":14}');
    expect(of('other')[0]).toContain('\\"settings\\":{\\"retentionDays\\":730,\\"keepFullCycles\\":2}');
  });
});
