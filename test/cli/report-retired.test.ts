import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { retiredDay } from '../../cli/report-commands.ts';
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
    expect(retiredDay('gone', file)).toBe('2026-12-01');
    expect(retiredDay('live', file)).toBeUndefined();
    expect(retiredDay('removed', file)).toBeUndefined();
    expect(retiredDay('gone', undefined)).toBeUndefined();
  });

  it("fleet status passes the retired day on and watches no backup window of a retired site, but still its purge (a retired site's purge goes on until nothing is left)", () => {
    expect(fleetSites(parseDeploymentConfig({ sites }))).toEqual([
      { name: 'live', silentAfterMinutes: 90, backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' },
      { name: 'gone', silentAfterMinutes: 90, backupCron: undefined, purgeCron: '0 5 ? * SUN *', retired: '2026-12-01' },
    ]);
  });
});
