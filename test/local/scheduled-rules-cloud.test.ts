import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { readTrail } from '../../cli/audit-commands.ts';
import { appendAuditEvents, auditRecordKey, type AuditEvent } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import type { PolicyDocument } from '../../infra/policy-eval.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { loadLocalDeployment } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { LOCAL_IAM_SITES } from '../../scripts/render-workflows.ts';

// The local cloud runs the deployment's scheduled rules: the rules a fresh synth of the app
// holds are exactly the ones it runs, each function from its bundle as its own role through the
// IAM gateway. The scheduler's clock is the test's and has no timer: the test moves it and
// ticks, so no 5-minute wait. The functions themselves read the wall clock (a heartbeat's age).

const SITE = 'demo';
const MIN = 60_000;
let dir: string;
let cloud: LocalCloud;
let clock: ManualClock;
let admin: ReturnType<typeof createDynamoClients>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parity-schedules-'));
  clock = new ManualClock(new Date('2026-04-01T10:00:00Z'));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, schedules: { clock, pollMs: 0 } });
  admin = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
}, 240_000);

afterAll(async () => {
  admin?.client.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Resource = { Type: string; Properties?: { ScheduleExpression?: string } };

describe("the local cloud's scheduled rules", () => {
  it('runs exactly the scheduled rules and schedules a fresh synth of the app holds (an EventBridge rule or Scheduler schedule added to infra/ and not run fails here)', async () => {
    const fresh = await synthesizeDeployment(LOCAL_IAM_SITES);
    const synthesized = Object.values(fresh.templates)
      .flatMap((t) => Object.entries((t.Resources ?? {}) as Record<string, Resource>))
      .filter(([, r]) => (r.Type === 'AWS::Events::Rule' || r.Type === 'AWS::Scheduler::Schedule') && r.Properties?.ScheduleExpression !== undefined)
      .map(([id, r]) => `${id} ${r.Properties!.ScheduleExpression}`);
    expect(synthesized.length).toBeGreaterThanOrEqual(4);
    expect(cloud.schedules.rules.map((r) => `${r.name} ${r.expression}`).sort()).toEqual(synthesized.sort());
  }, 120_000);

  it('seals audit records to audit/ on the 5-minute rule without `ferry audit seal`, as the sealer role', async () => {
    const ledger = new DynamoAuditLedger(admin.doc, cloud.table);
    const listen = (i: number): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 9, 0, i)).toISOString(), action: 'listen', site: SITE, rid: `r${i}`, principal: 'arn:aws:iam::000000000000:role/officer' });
    await appendAuditEvents({ ledger }, [listen(1), listen(2)]);
    expect(await readTrail(cloud.blobs, SITE)).toEqual([]);
    clock.advance(4 * MIN);
    expect(await cloud.schedules.tick()).toEqual([]);
    expect(await readTrail(cloud.blobs, SITE)).toEqual([]);
    clock.advance(1 * MIN);
    const runs = await cloud.schedules.tick();
    expect(runs.map((r) => [r.rule.replace(/[0-9A-F]{8}$/, ''), r.outcome])).toEqual([['AuditSealerSchedule', 'succeeded']]);
    expect((await readTrail(cloud.blobs, SITE)).map((r) => r.key)).toEqual([auditRecordKey(SITE, 1), auditRecordKey(SITE, 2)]);
    expect(await ledger.sealed(SITE)).toBe(2);
    const log = readFileSync(join(dir, 'cloud', 'functions.log'), 'utf8');
    expect(log).toMatch(/"message":"scheduled run","rule":"AuditSealerSchedule[0-9A-F]{8}","function":"audit-seal"/);
  }, 60_000);

  it("raises the dead-man alert for a site silent past its window through the local SNS stand-in, published as the switch's role", async () => {
    // Silent for 2 hours (demo's window: 90 minutes), by the wall clock the function reads.
    const at = new Date(Date.now() - 120 * MIN);
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: SITE, at: at.toISOString(), agentVersion: 't', sources: [], losses: 0, lastPass: { at: at.toISOString(), failed: 0, lost: 0 } };
    await cloud.blobs.put(heartbeatKey(SITE, at), Buffer.from(JSON.stringify(hb)));
    expect(cloud.schedules.alerts).toEqual([]);
    clock.advance(10 * MIN);
    const runs = await cloud.schedules.tick();
    expect(runs.map((r) => [r.rule.replace(/[0-9A-F]{8}$/, ''), r.outcome]).sort()).toEqual([
      ['AuditSealerSchedule', 'succeeded'],
      ['DeadmanSchedule', 'succeeded'],
    ]);
    expect(cloud.schedules.alerts.map((a) => [a.subject, a.principal])).toEqual([['Ferry demo: agent silent', 'function:deadman']]);
    expect(cloud.schedules.alerts[0]!.message).toMatch(/no heartbeat for 120 min \(silent after 90 min\)/);
    expect(readFileSync(join(dir, 'cloud', 'alerts.jsonl'), 'utf8')).toContain('Ferry demo: agent silent');
    // The daily report comes due at 06:00 UTC the next day, as deployed.
    const next = cloud.schedules.nextRuns();
    expect(Object.entries(next).find(([name]) => name.startsWith('ReportsDaily'))?.[1]).toBe('2026-04-02T06:00:00.000Z');
  }, 60_000);

  it("logs a failing scheduled function with its rule's name and runs it again at the next tick: the sealer without its audit/ grant fails and leaves the records, with it back seals them", async () => {
    const ledger = new DynamoAuditLedger(admin.doc, cloud.table);
    const listen = (i: number): AuditEvent => ({ at: new Date(Date.UTC(2026, 3, 1, 9, 30, i)).toISOString(), action: 'listen', site: SITE, rid: `r${i}`, principal: 'arn:aws:iam::000000000000:role/officer' });
    await appendAuditEvents({ ledger }, [listen(3), listen(4)]);
    const granted = loadLocalDeployment({ sites: [SITE] }).principals.get('function:audit-seal')!.policies;
    const without = granted.map((p): PolicyDocument => ({ ...p, Statement: [p.Statement].flat().filter((st) => st.Sid !== 'SealAuditRecords') }));
    const sealerRuns = async () => (await cloud.schedules.tick()).filter((r) => r.rule.startsWith('AuditSealerSchedule'));
    cloud.iam!.revisePolicies({ principal: 'function:audit-seal', policies: without });
    clock.advance(5 * MIN);
    const failed = await sealerRuns();
    expect(failed.map((r) => r.outcome)).toEqual(['failed']);
    expect(failed[0]!.error).toMatch(/demo/);
    expect(await ledger.sealed(SITE)).toBe(2);
    const log = readFileSync(join(dir, 'cloud', 'functions.log'), 'utf8');
    expect(log).toMatch(/"level":"error","message":"scheduled run failed","rule":"AuditSealerSchedule[0-9A-F]{8}","function":"audit-seal"/);

    cloud.iam!.revisePolicies({ principal: 'function:audit-seal', policies: granted });
    clock.advance(5 * MIN);
    expect((await sealerRuns()).map((r) => r.outcome)).toEqual(['succeeded']);
    expect(await ledger.sealed(SITE)).toBe(4);
    expect((await readTrail(cloud.blobs, SITE)).map((r) => r.key)).toEqual([1, 2, 3, 4].map((seq) => auditRecordKey(SITE, seq)));
  }, 60_000);
});
