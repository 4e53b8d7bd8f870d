import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { ManualClock } from '../../core/clock.ts';
import { DEFAULT_WORKFLOW_CONFIG, lockWaitSeconds } from '../../core/workflow-config.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { deploymentFor } from '../support/local-cloud.ts';

// A scheduled purge that never ran, on the local cloud as deployed: the dead-man's switch runs
// on its 15-minute rule (the scheduler's clock moved by the test) from its bundle as its own
// role through the IAM gateway, reads the site's purge runs and its memory on the table, and
// publishes to the SNS stand-in; the purge runs from its synthesized definition, its bundle
// writing the run's record as the purge role. The local deployment's site has no schedule (the
// local cloud runs no state machine from a rule), so the switch's FLEET_SITES in the snapshot is
// given the purgeCron a scheduled site gets (infra/function-env.ts; test/fleet/deadman-infra.test.ts
// checks the synthesized value). The switch reads the wall clock: the cron is set 8 hours back.

const SITE = 'demo';
const MIN = 60_000;
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
let admin: ReturnType<typeof createDynamoClients>;
const clock = new ManualClock(new Date('2026-04-01T10:00:00Z'));
const due = new Date(Math.floor((Date.now() - 8 * 60 * MIN) / MIN) * MIN);
const purgeCron = `${due.getUTCMinutes()} ${due.getUTCHours()} * * ? *`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-purge-watch-'));
  const snapshot = structuredClone(await deploymentFor([SITE]));
  const purgeGraceMinutes = lockWaitSeconds(DEFAULT_WORKFLOW_CONFIG, 'purge') / 60 + 60;
  for (const template of Object.values(snapshot.templates)) {
    for (const resource of Object.values((template.Resources ?? {}) as Record<string, { Type: string; Properties?: { Environment?: { Variables?: Record<string, unknown> } } }>)) {
      const variables = resource.Properties?.Environment?.Variables;
      if (resource.Type !== 'AWS::Lambda::Function' || typeof variables?.FLEET_SITES !== 'string') continue;
      variables.FLEET_SITES = JSON.stringify((JSON.parse(variables.FLEET_SITES) as { name: string }[]).map((s) => (s.name === SITE ? { ...s, purgeCron, purgeGraceMinutes } : s)));
    }
  }
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, iam: { sites: [SITE], snapshot }, schedules: { clock, pollMs: 0 } });
  admin = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
  const purge = { retentionDays: 365, keepFullCycles: 2 };
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge, definitions: renderWorkflowDefinitions({ site: SITE, purge }), pauseMs: 0, notifier: { notify: async () => undefined } });
}, 240_000);

afterAll(async () => {
  admin?.client.destroy();
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const purgeAlerts = () => cloud.schedules.alerts.filter((a) => /purge/.test(a.subject ?? ''));

async function deadmanPass(): Promise<void> {
  clock.advance(15 * MIN);
  const runs = (await cloud.schedules.tick()).filter((r) => r.rule.startsWith('DeadmanSchedule'));
  expect(runs.map((r) => [r.outcome, r.error])).toEqual([['succeeded', undefined]]);
}

describe("the dead-man's switch and a scheduled purge on the local cloud", () => {
  it('alerts a purge that did not run once, as the switch role, stays quiet on its next run, and resolves once the purge ran and recorded its start as the purge role', async () => {
    // The switch has watched the site for two days (its memory on the table), so today's purge is owed.
    await new DynamoPurgeWatchStore(admin.doc, cloud.table).putPurgeWatch({ site: SITE, cron: purgeCron, since: new Date(Date.now() - 2 * 24 * 60 * MIN).toISOString() });

    await deadmanPass();
    expect(purgeAlerts().map((a) => [a.subject, a.principal])).toEqual([[`Ferry ${SITE}: scheduled purge did not run`, 'function:deadman']]);
    expect(purgeAlerts()[0]!.message).toContain(`What failed: the purge of site ${SITE} due ${due.toISOString()} (schedule cron(${purgeCron})) has not started`);

    await deadmanPass();
    expect(purgeAlerts()).toHaveLength(1);

    const outcome = await orchestration.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    await deadmanPass();
    expect(purgeAlerts().map((a) => [a.subject, a.principal])).toEqual([
      [`Ferry ${SITE}: scheduled purge did not run`, 'function:deadman'],
      [`Ferry ${SITE}: resolved - a scheduled purge ran`, 'function:deadman'],
    ]);
    expect(purgeAlerts()[1]!.message).toMatch(new RegExp(`^Site: ${SITE}\\nThe purge due ${due.toISOString().replace(/\./g, '\\.')} did not run; a purge started \\S+ since\\.$`));
  }, 120_000);
});
