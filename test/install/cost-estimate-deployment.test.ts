import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CostInput } from '../../core/cost.ts';

// `ferry cost estimate` prices what the deployment really applies, not what an option says:
// how long the site's purge keeps backups (keepFullCycles, the lock, the purge interval).

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const GiB = 2 ** 30;

function ferry(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function deployment(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-cost-')), 'deploy.yaml');
  writeFileSync(file, yaml);
  return file;
}

interface Estimate {
  input: CostInput;
  backupRetention: string;
  warnings: string[];
  lines: { dataClass: string; storageClass: string; fromDay: number; toDay: number; storagePerMonth: number; requestsPerMonth: number }[];
}
const estimate = (args: string[]) => {
  const r = ferry(['cost', 'estimate', '--calls-per-day', '0', ...args, '--json']);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Estimate;
};
const WEEKLY = "schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' }";

describe('the backup retention an estimate prices', () => {
  it("is the site's purge's: 2 nightly fulls under a 30-day lock, purged weekly, go at 30-37 days, priced at 33.5 in Standard", () => {
    const e = estimate(['--config', deployment(`sites:\n  - { name: lon, retentionDays: 2555, ${WEEKLY} }\n`), '--backup-gb-per-day', '20']);
    expect(e.input.backupRetentionDays).toBe(33.5);
    expect(e.backupRetention).toBe('30-37 days, priced at 33.5 (2 full(s) kept (sites[0].keepFullCycles), one every 1 day(s), under a 30-day lock, purged every 7 day(s))');
    const backups = e.lines.filter((l) => l.dataClass === 'backups');
    expect(backups.map((l) => [l.storageClass, l.fromDay, l.toDay])).toEqual([['STANDARD', 0, 33.5]]);
    expect(backups[0]!.storagePerMonth).toBeCloseTo(((20 * GiB * 33.5) / GiB) * 0.023, 9);
  });

  it('follows keepFullCycles: 1000 nightly fulls are priced 1000-1007 days, in Standard-IA from day 30', () => {
    const e = estimate(['--config', deployment(`sites:\n  - { name: lon, retentionDays: 2555, keepFullCycles: 1000, ${WEEKLY} }\n`), '--backup-gb-per-day', '20']);
    expect(e.input.backupRetentionDays).toBe(1003.5);
    expect(e.lines.filter((l) => l.dataClass === 'backups').map((l) => [l.storageClass, l.fromDay, l.toDay])).toEqual([['STANDARD', 0, 30], ['STANDARD_IA', 30, 1003.5]]);
  });

  it('prints the retention the deployment applies under the header', () => {
    const r = ferry(['cost', 'estimate', '--config', deployment(`sites:\n  - { name: lon, retentionDays: 730, ${WEEKLY} }\n`), '--backup-gb-per-day', '20']);
    expect(r.stdout.split('\n')[2]).toBe('backups kept 30-37 days, priced at 33.5 (2 full(s) kept (sites[0].keepFullCycles), one every 1 day(s), under a 30-day lock, purged every 7 day(s))');
  });

  it('refuses --backup-retention-days outside what the purge keeps, naming the setting to change; takes it inside', () => {
    const config = deployment(`sites:\n  - { name: lon, retentionDays: 2555, ${WEEKLY} }\n`);
    const r = ferry(['cost', 'estimate', '--config', config, '--backup-gb-per-day', '20', '--backup-retention-days', '2555']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--backup-retention-days 2555 contradicts the deployment: site lon's purge deletes each full 30-37 days after it is written " +
        '(2 full(s) kept (sites[0].keepFullCycles), one every 1 day(s), under a 30-day lock, purged every 7 day(s)). ' +
        'Set sites[0].keepFullCycles to keep backups longer and estimate again, or leave the option out',
    );
    expect(estimate(['--config', config, '--backup-retention-days', '37']).input.backupRetentionDays).toBe(37);
  });

  it('takes the option as given for a site purged only on demand, else the least its purge keeps', () => {
    const config = deployment('sites:\n  - { name: lon, retentionDays: 730 }\n');
    expect(estimate(['--config', config, '--backup-retention-days', '400']).input.backupRetentionDays).toBe(400);
    const e = estimate(['--config', config]);
    expect(e.input.backupRetentionDays).toBe(30);
    expect(e.backupRetention).toBe('30 days (site lon has no schedule: its purge runs only on demand; at the soonest 30 days, 2 daily full(s) (keepFullCycles) under a 30-day lock)');
  });
});
