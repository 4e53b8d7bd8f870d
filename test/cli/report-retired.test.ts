import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { siteSettings } from '../../cli/report-commands.ts';
import { fleetSites } from '../../cli/fleet-commands.ts';
import { parseDeploymentConfig } from '../../infra/config.ts';

// `ferry report daily` and `ferry fleet status` learn a site's retirement from the deployment
// configuration, as the deployed functions do from the environment the CDK app renders.

const dir = mkdtempSync(join(tmpdir(), 'ferry-retired-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const schedule = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
const sites = [{ name: 'live', retentionDays: 730, schedule }, { name: 'gone', retentionDays: 730, schedule, retired: '2026-12-01' }];

describe('a retired site in the CLI', () => {
  it("report daily takes the site's retired day from --deployment or $FERRY_DEPLOYMENT, none without a file or for a site it does not list", () => {
    const file = join(dir, 'deployment.json');
    writeFileSync(file, JSON.stringify({ sites }));
    expect(siteSettings('gone', file)).toEqual({ retired: '2026-12-01' });
    expect(siteSettings('live', file)).toEqual({});
    expect(siteSettings('removed', file)).toEqual({});
    expect(siteSettings('gone', undefined)).toEqual({});
  });

  it("report daily takes the site's own time zone from the deployment config", () => {
    const file = join(dir, 'deployment-zones.json');
    writeFileSync(file, JSON.stringify({ sites: [...sites, { name: 'kolkata', retentionDays: 730, timeZone: 'Asia/Kolkata' }] }));
    expect(siteSettings('kolkata', file)).toEqual({ timeZone: 'Asia/Kolkata' });
  });

  it("fleet status passes the retired day on and watches no backup window of a retired site, but still its purge (a retired site's purge goes on until nothing is left)", () => {
    expect(fleetSites(parseDeploymentConfig({ sites }))).toEqual([
      { name: 'live', silentAfterMinutes: 90, backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' },
      { name: 'gone', silentAfterMinutes: 90, backupCron: undefined, purgeCron: '0 5 ? * SUN *', retired: '2026-12-01' },
    ]);
  });
});
