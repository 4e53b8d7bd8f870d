import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, DeploymentConfigError, loadDeploymentConfig, parseDeploymentConfig, purgeIntervalDays } from '../../infra/config.ts';
import { roomBeforeUtcBoundary } from '../support/utc-boundary.ts';

// The deployment configuration: defaults, one entry per site, every problem listed with its path.

function problemsOf(input: unknown): string[] {
  try {
    parseDeploymentConfig(input);
  } catch (error) {
    if (error instanceof DeploymentConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('deployment configuration', () => {
  it('defaults to two demo sites, governance lock for 30 days and the documented tiers', () => {
    const config = loadDeploymentConfig(undefined);
    expect(config.sites.map((s) => s.name)).toEqual(['site-a', 'site-b']);
    expect(config.objectLock).toEqual({ mode: 'governance', defaultRetentionDays: 30 });
    expect(config.lifecycle).toMatchObject({ packsToGlacierIrDays: 30, packsToDeepArchiveDays: 365, backupsToIaDays: 38, archivesToIaDays: 30 });
    expect(config.replication).toBeUndefined();
    expect(config.env).toBeUndefined();
    expect(config.sites[0]?.agent).toEqual({});
    expect(config.sites[0]?.drReaders).toEqual([]);
  });

  it('lists every problem with its path, not just the first', () => {
    const problems = problemsOf({
      sites: [
        { name: 'Site A', retentionDays: 0 },
        { name: 'site-b', retentionDays: 10, schedule: { backupCron: 'daily', purgeCron: '0 5 ? * SUN *' }, drReaders: ['not-an-arn'] },
        { name: 'site-b', retentionDays: 400, colour: 'red' },
      ],
      objectLock: { mode: 'strict' },
      replication: { destinationBucketArn: 'my-bucket' },
    });
    const text = problems.join('\n');
    expect(text).toMatch(/^sites\[0\]\.name: must be 1-63 lowercase/m);
    expect(text).toMatch(/^sites\[0\]\.retentionDays: /m);
    expect(text).toMatch(/^sites\[1\]\.schedule\.backupCron: cron "daily" must have six fields/m);
    expect(text).toMatch(/^sites\[1\]\.drReaders\[0\]: must be a 12-digit account id or an IAM/m);
    expect(text).toMatch(/^sites\[2\]: Unrecognized key.*colour/m);
    expect(text).toMatch(/^objectLock\.mode: /m);
    expect(text).toMatch(/^replication\.destinationBucketArn: must be an S3 bucket ARN/m);
    expect(text).toMatch(/^replication\.kmsKeyArn: Required/m);
    expect(problems.length).toBeGreaterThanOrEqual(8);
  });

  it('refuses a site named all, whose console group officer-all would show its officers every site', () => {
    expect(problemsOf({ sites: [{ name: 'site-a', retentionDays: 90 }, { name: 'all', retentionDays: 90 }] })).toEqual([
      'sites[1].name: "all" is reserved: its console group would be officer-all, the group that sees every site, so its officers would see every site\'s calls; rename the site',
    ]);
    expect(problemsOf({ sites: [{ name: 'all-sites', retentionDays: 90 }] })).toEqual([]);
  });

  it('refuses a site listed twice and a retention shorter than the Object Lock', () => {
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90 }, { name: 'a', retentionDays: 90 }] })).toEqual(['sites[1].name: site "a" is listed twice']);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 20 }] })).toEqual([
      'sites[0].retentionDays: must be at least objectLock.defaultRetentionDays (30): locked objects cannot be purged earlier',
    ]);
    expect(problemsOf({ sites: [] })).toEqual(['sites: at least one site is required']);
  });

  it('refuses what synthesizes but AWS rejects at deploy: a log retention CloudWatch does not offer, a bucket name over 63 characters, a state machine name over 80', () => {
    const site = { name: 'a', retentionDays: 90 };
    expect(problemsOf({ sites: [site], logs: { functionRetentionDays: 100, auditRetentionDays: 731 } })).toEqual([
      expect.stringMatching(/^logs\.functionRetentionDays: CloudWatch keeps logs for one of 1, 3, 5, .*, 3653 days; give one of them$/),
    ]);
    expect(problemsOf({ sites: [site], logs: { functionRetentionDays: 90, auditRetentionDays: 1096 } })).toEqual([]);
    const prefix = `F${'x'.repeat(33)}`;
    expect(problemsOf({ stackPrefix: prefix, sites: [site] })).toEqual([`stackPrefix: makes the data bucket's name 67 characters long in the longest region name, over S3's 63: use at most 30 characters`]);
    expect(problemsOf({ stackPrefix: 'F'.repeat(30), sites: [site] })).toEqual([]);
    expect(problemsOf({ stackPrefix: prefix, env: { account: '111122223333', region: 'eu-west-1' }, sites: [site] })).toEqual([]);
    const long = 'site-with-a-very-long-name-for-a-contact-centre-abcdefghijklm';
    expect(problemsOf({ stackPrefix: 'Ferry', sites: [{ name: long, retentionDays: 90 }] })).toEqual([
      `sites[0].name: with stackPrefix "Ferry" names the state machine Ferry-${long}-backup-window (${`Ferry-${long}-backup-window`.length} characters), over Step Functions' 80: shorten the site name or the prefix`,
    ]);
  });

  it('refuses a pinned region without Lambda function URLs (replay is served by them), naming it and another region', () => {
    const site = { name: 'a', retentionDays: 90 };
    expect(problemsOf({ env: { account: '111122223333', region: 'eu-central-2' }, sites: [site] })).toEqual([
      'env.region: eu-central-2 has no Lambda function URLs, which replay (every listen, download and console link) is served by: the processing stack would fail to deploy there; choose a region that has them (eu-central-1 and eu-west-1 do)',
    ]);
    expect(problemsOf({ env: { account: '111122223333', region: 'eu-central-1' }, sites: [site] })).toEqual([]);
  });

  it("takes a site's orphanGraceDays (absent: the purge's default) and refuses one under a day", () => {
    expect(parseDeploymentConfig({ sites: [{ name: 'a', retentionDays: 90, orphanGraceDays: 14 }] }).sites[0]!.orphanGraceDays).toBe(14);
    expect(parseDeploymentConfig({ sites: [{ name: 'a', retentionDays: 90 }] }).sites[0]!.orphanGraceDays).toBeUndefined();
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, orphanGraceDays: 0 }] })).toEqual([expect.stringMatching(/^sites\[0\]\.orphanGraceDays: /)]);
  });

  it('refuses a recordings retention that would delete packs inside the Deep Archive minimum storage duration', () => {
    const problems = problemsOf({ sites: [{ name: 'a', retentionDays: 400 }] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^sites\[0\]\.retentionDays: 400 days would delete packs within Deep Archive's 180-day minimum storage duration/);
    expect(problems[0]).toContain('at 365 days (lifecycle.packsToDeepArchiveDays)');
    expect(problems[0]).toContain('at least 545');
    // The bound moves with the transition; before the transition or past the minimum is fine.
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 400 }], lifecycle: { packsToDeepArchiveDays: 200 } })).toEqual([]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 545 }] })).toEqual([]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 364 }] })).toEqual([]);
  });

  it('counts the purge interval: with a weekly purge, 364 days would delete packs a week later, after they reached Deep Archive', () => {
    const weekly = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
    const problems = problemsOf({ sites: [{ name: 'a', retentionDays: 364, schedule: weekly }] });
    expect(problems).toEqual([expect.stringMatching(/^sites\[0\]\.retentionDays: 364 days would delete packs within Deep Archive's 180-day minimum .* the purge runs every 7 day\(s\) \(purgeCron\).* or at most 357 to purge packs before they are archived$/)]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 357, schedule: weekly }] })).toEqual([]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 363, schedule: { ...weekly, purgeCron: '0 5 * * ? *' } }] })).toEqual([]);
    expect(purgeIntervalDays('0 5 1 * ? *')).toBe(31);
    expect(purgeIntervalDays('0 5 ? * MON,THU *')).toBe(7);
  });

  it('keeps Deep Archive at least 90 days after Glacier IR', () => {
    expect(problemsOf({ ...DEFAULT_CONFIG, lifecycle: { packsToGlacierIrDays: 30, packsToDeepArchiveDays: 100 } })).toEqual([
      'lifecycle.packsToDeepArchiveDays: packsToDeepArchiveDays must be at least 90 days after packsToGlacierIrDays (Glacier IR minimum storage duration)',
    ]);
  });

  it('takes a retired site as the first day it no longer ships, and refuses true, a day that is none, or a retired site nothing purges', async () => {
    await roomBeforeUtcBoundary(5_000); // one today for the test and the check, not two across midnight UTC
    const schedule = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
    expect(parseDeploymentConfig({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '2026-12-01' }] }).sites[0]?.retired).toBe('2026-12-01');
    expect(parseDeploymentConfig({ sites: [{ name: 'a', retentionDays: 90 }] }).sites[0]?.retired).toBeUndefined();
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: true }] })).toEqual([
      'sites[0].retired: must be the first day the site no longer ships, as "YYYY-MM-DD" (e.g. "2026-12-01"), not true: its reports from that day on say RETIRED and name it',
    ]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '1 Dec 2026' }] })).toEqual([
      'sites[0].retired: must be a date "YYYY-MM-DD" (e.g. "2026-12-01"): the first day the site no longer ships',
    ]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '2026-02-30' }] })).toEqual(['sites[0].retired: is no calendar day: give the first day the site no longer ships, "YYYY-MM-DD"']);
    // A day still to come: the deploy would stop its backup windows at once.
    const today = new Date().toISOString().slice(0, 10);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '2999-01-01' }] })).toEqual([
      `sites[0].retired: 2999-01-01 is after today (${today}): a deploy with \`retired\` stops the site's backup windows at once; deploy it on or after that day`,
    ]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: today }] })).toEqual([]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, retired: '2026-12-01' }] })).toEqual([
      'sites[0].retired: a retired site needs a schedule whose purgeCron runs its purge to the end of retention (its backupCron is not scheduled once retired); without one, nothing deletes its calls',
    ]);
  });

  it('takes an off-boarded site only when retired, and only as true', () => {
    const schedule = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
    expect(parseDeploymentConfig({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '2026-12-01', offboarded: true }] }).sites[0]?.offboarded).toBe(true);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, offboarded: true }] })).toEqual([
      'sites[0].offboarded: an off-boarded site must be retired too ("retired": the first day it no longer ships): its agent would still ship calls nobody of the site may see',
    ]);
    expect(problemsOf({ sites: [{ name: 'a', retentionDays: 90, schedule, retired: '2026-12-01', offboarded: 'yes' }] })).toEqual([
      "sites[0].offboarded: must be true (or left out): the site's own people lose their access",
    ]);
  });

  it('adds a site with one entry', () => {
    const config = parseDeploymentConfig({ ...DEFAULT_CONFIG, sites: [...DEFAULT_CONFIG.sites, { name: 'site-c', retentionDays: 90 }] });
    expect(config.sites.map((s) => s.name)).toEqual(['site-a', 'site-b', 'site-c']);
  });

  it('loads a JSON file named by -c ferryConfig=…, and says which file is wrong', () => {
    const files: Record<string, string> = {
      'good.json': JSON.stringify({ stackPrefix: 'Acme', sites: [{ name: 'hq', retentionDays: 90 }] }),
      'bad.json': '{ "sites": [',
    };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return text;
    };
    expect(loadDeploymentConfig('good.json', read)).toMatchObject({ stackPrefix: 'Acme', sites: [{ name: 'hq' }] });
    expect(() => loadDeploymentConfig('bad.json', read)).toThrow(/bad\.json: not valid JSON/);
    expect(() => loadDeploymentConfig('missing.json', read)).toThrow(/missing\.json: cannot be read \(ENOENT/);
  });
});
