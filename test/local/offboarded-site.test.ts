import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../core/config.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { generateBatches } from '../../scripts/demo/site.ts';
import { cycleOnce } from '../support/agent-cycle.ts';
import { ferryAsync } from '../support/bin-async.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { signedInConsolePage } from '../support/console-browser.ts';
import { agentCloudYaml } from '../support/local-cloud.ts';

// A managed-service provider's deployment for two customers, one of whom left: site acme-cc is
// retired and off-boarded (docs/deploy.md "Decommissioning a site"), globex-cc is live. On the
// local cloud with the IAM the CDK app synthesizes for that configuration: acme's agent key ships
// nothing, acme's officer role and console officer read nothing, while the provider's admin still
// finds acme's calls and globex works as before.

const ACME = 'acme-cc';
const GLOBEX = 'globex-cc';
const schedule = { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' };
let dir: string;
let cloud: LocalCloud;

/**
 * A retired site needs a schedule (its purge runs to the end of retention); the local cloud runs
 * scheduled functions, not scheduled workflows, and this test needs neither: their rules are left
 * disabled, as the local scheduler skips a disabled rule.
 */
function withoutWorkflowSchedules(snapshot: DeploymentSnapshot): DeploymentSnapshot {
  for (const template of Object.values(snapshot.templates)) {
    for (const resource of Object.values(template.Resources ?? {})) {
      const props = resource.Properties as { ScheduleExpression?: unknown; Targets?: { Arn?: unknown }[]; State?: string } | undefined;
      if (resource.Type === 'AWS::Events::Rule' && props?.ScheduleExpression && JSON.stringify(props.Targets ?? []).includes('StateMachine')) props.State = 'DISABLED';
    }
  }
  return snapshot;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-offboarded-'));
  const siteSettings = { [ACME]: { retired: '2026-01-05', offboarded: true, schedule } };
  const snapshot = withoutWorkflowSchedules(await synthesizeDeployment([ACME, GLOBEX], { siteSettings }));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, iam: { sites: [ACME, GLOBEX], snapshot } });
  // What acme shipped while it was a customer: kept to the end of its retention.
  await cloud.catalogue.putRecordings(Array.from({ length: 3 }, (_, i) => makeEntry(ACME, i)));
}, 240_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function shipAs(site: string) {
  const root = join(dir, `recorder-${site}`);
  await generateBatches({ root, firstBatch: 1, batches: 1, perBatch: 3, seconds: 1, start: new Date('2026-02-01T08:00:00Z'), seed: 5, sidecar: 'xml' });
  const config = parseAgentConfig(`
site: ${site}
state: ${join(dir, `state-${site}`)}
cloud: ${agentCloudYaml(cloud, site)}
shipping: { attempts: 1 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
  const shipped = await cycleOnce(config);
  await cloud.drain();
  return shipped;
}

/** `ferry calls search` as a principal of the local IAM (the CLI signs with its key, as with an assumed role's). */
function searchAs(principal: string, site: string) {
  const args = ['calls', 'search', '--site', site, '--from', '2000-01-01T00:00:00Z', '--to', '2100-01-01T00:00:00Z', '--json', '--api', cloud.apiUrl];
  return ferryAsync(args, join(dir, 'home'), cloud.iam!.credentialsOf(principal as never));
}

const PASSWORD = 'Offboard-test-password-1!';

async function consoleAs(username: string, groups: string[], path: string) {
  const password = PASSWORD;
  cloud.console.addUser({ username, password, groups });
  const signIn = await fetch(cloud.console.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: cloud.console.clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
  const token = ((await signIn.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
  const res = await fetch(`${cloud.console.apiUrl}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('an off-boarded customer on the local cloud', () => {
  it("refuses the off-boarded site's agent key every write (AccessDenied), while the live customer's agent ships", async () => {
    const acme = await shipAs(ACME);
    expect(acme.report.packs).toBe(0);
    expect(acme.logged).toMatch(/AccessDenied|not authorized/);
    const globex = await shipAs(GLOBEX);
    expect(globex.report).toMatchObject({ packs: 1, recordings: 3, failed: 0 });
  }, 120_000);

  it("refuses the off-boarded site's officer role on the CLI, and still answers the live site's officer", async () => {
    const acme = await searchAs(`officer:${ACME}`, ACME);
    expect(acme.code).not.toBe(0);
    expect(acme.stdout).toBe('');
    expect(acme.stderr).toMatch(/403|not authorized|AccessDenied|Forbidden/i);
    const globex = await searchAs(`officer:${GLOBEX}`, GLOBEX);
    expect(globex.stderr).toBe('');
    expect(globex.code).toBe(0);
  }, 60_000);

  it("opens the site to no former officer of it in the console, and to the provider's admin still", async () => {
    const former = await consoleAs('wile', [`officer-${ACME}`], `/sites/${ACME}/recordings?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`);
    expect(former.status).toBe(403);
    expect(former.body.message).toContain(`may not see site ${ACME} any more: it was closed (off-boarded)`);
    expect((await consoleAs('wile2', [`officer-${ACME}`], '/sites')).body).toEqual({ sites: [], closed: [ACME] });
    const admin = await consoleAs('ops', ['admin'], `/sites/${ACME}/recordings?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`);
    expect(admin.status).toBe(200);
    expect((admin.body.items as unknown[]).length).toBe(3);
  }, 60_000);
});

describe('an off-boarded customer in the console page (Chromium)', () => {
  const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

  it("shows its former officer no call of it (a bookmark of its search is refused) and no site at all, saying the site was closed and whom to ask; the provider's admin finds its calls", async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
    const pageErrors: string[] = [];
    try {
      const former = { username: 'wile-page', password: PASSWORD, groups: [`officer-${ACME}`] };
      cloud.console.addUser(former);
      const gone = await signedInConsolePage(browser, cloud, `#site=${ACME}&view=search`, { pageErrors, user: former });
      try {
        // A bookmark of the site's search: refused, nothing of it listed.
        await expect.poll(() => gone.p.textContent('#status')).toBe(`No search ran: ${ACME} is not one of your sites.`);
        expect(await gone.p.$$eval('#results tbody tr', (rows) => rows.length)).toBe(0);
        // The console's own start: no site at all.
        await gone.p.goto(gone.p.url().replace(/#.*$/, '#'));
        await gone.p.reload();
        await expect
          .poll(() => gone.p.textContent('#error'))
          .toContain(
            `The site your account was given, ${ACME}, was closed (off-boarded): your groups open it to no one any more, so your account may see no site. Its calls are kept to the end of their retention; for one of them (a legal request), ask the administrator of this service, who can still find them.`,
          );
        const shown = await gone.p.textContent('#error');
        expect(shown).not.toContain('may not see any site yet');
        expect(shown).not.toContain(GLOBEX);
      } finally {
        await gone.close();
      }
      const ops = { username: 'ops-page', password: PASSWORD, groups: ['admin'] };
      cloud.console.addUser(ops);
      const admin = await signedInConsolePage(browser, cloud, `#site=${ACME}&view=search&from=2000-01-01T00%3A00%3A00.000Z&to=2100-01-01T00%3A00%3A00.000Z`, { pageErrors, user: ops });
      try {
        await admin.p.click('#search button[type=submit]');
        await expect.poll(() => admin.p.textContent('#status')).toBe('3 calls match this search.');
      } finally {
        await admin.close();
      }
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
