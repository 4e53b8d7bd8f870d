import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, DeploymentConfigError, parseDeploymentConfig } from '../../infra/config.ts';
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
    expect(of('ocs')[0]).toContain('\\"settings\\":{\\"retentionDays\\":730,\\"keepFullCycles\\":14,\\"objectLockDays\\":30,\\"partialLockDays\\":2}');
    expect(of('other')[0]).toContain('\\"settings\\":{\\"retentionDays\\":730,\\"keepFullCycles\\":2,\\"objectLockDays\\":30,\\"partialLockDays\\":2}');
  });
});

describe('a Standard-IA transition of backups and logs the purge makes useless', () => {
  const weekly = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
  const site = { name: 'london-cc', retentionDays: 2555, schedule: weekly };

  it('is refused, naming both settings, when the purge deletes the fulls within 30 days of their move to Standard-IA', () => {
    expect(problemsOf({ sites: [{ name: 'leeds-cc', retentionDays: 730 }, site], lifecycle: { backupsToIaDays: 30 } })).toEqual([
      "lifecycle.backupsToIaDays: 30 moves backups and logs to Standard-IA before or as site london-cc's purge deletes them: " +
        'it keeps 2 full(s) (sites[1].keepFullCycles), one every 1 day(s) (backupCron), under a 30-day lock (objectLock.defaultRetentionDays), ' +
        "purged every 7 day(s) (purgeCron), so each full goes 30-37 days after it is written, within Standard-IA's 30-day minimum: " +
        "S3 bills a transition and 30 days of Standard-IA for each. Use more than 37, or leave it out (the default avoids every site's deletions)",
    ]);
    expect(problemsOf({ sites: [site, { ...site, name: 'leeds-cc' }], lifecycle: { backupsToIaDays: 37 } })).toEqual([expect.stringMatching(/^lifecycle\.backupsToIaDays: 37 moves .* \(and 1 other site\(s\) alike\)$/)]);
  });

  it('is accepted when every full is gone before the move, or stays its 30 days after it', () => {
    expect(problemsOf({ sites: [site], lifecycle: { backupsToIaDays: 38 } })).toEqual([]);
    expect(problemsOf({ sites: [{ ...site, keepFullCycles: 60 }], lifecycle: { backupsToIaDays: 30 } })).toEqual([]);
    // A site with no schedule is purged only on demand: nothing to compare with.
    expect(problemsOf({ sites: [{ name: 'leeds-cc', retentionDays: 730 }], lifecycle: { backupsToIaDays: 30 } })).toEqual([]);
  });

  it('says how to keep the transition when fulls are kept longer than the lock', () => {
    expect(problemsOf({ sites: [{ ...site, keepFullCycles: 90 }], lifecycle: { backupsToIaDays: 90 } })).toEqual([expect.stringMatching(/so each full goes 90-97 days after .* Use more than 97, or at most 60 \(each full then stays its 30 days there\), or leave it out \(the default avoids every site.s deletions\)$/)]);
  });

  it('defaults to the first day no scheduled site deletes a full inside the minimum: 38 for the default deployment, none moves', () => {
    expect(parseDeploymentConfig(DEFAULT_CONFIG).lifecycle.backupsToIaDays).toBe(38);
    // A 90-day lock: fulls go at 90-97 days, so moving them at 30 leaves each 60 days in Standard-IA.
    expect(parseDeploymentConfig({ ...DEFAULT_CONFIG, objectLock: { defaultRetentionDays: 90 } }).lifecycle.backupsToIaDays).toBe(30);
    // One site keeps 40 nightly fulls (deleted at 40-47), another 2: past both windows.
    expect(parseDeploymentConfig({ sites: [site, { ...site, name: 'leeds-cc', keepFullCycles: 40 }] }).lifecycle.backupsToIaDays).toBe(48);
    expect(parseDeploymentConfig({ sites: [{ name: 'leeds-cc', retentionDays: 730 }] }).lifecycle.backupsToIaDays).toBe(30);
  });
});
