import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityWorker } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { systemClock } from '../../core/clock.ts';
import type { Alert } from '../../core/ports.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoLockTable } from '../../adapters/dynamo-lock.ts';
import { SiteLocks } from '../../core/lock.ts';
import { PURGE_REPORTED_FAILURE } from '../../infra/workflows/purge.ts';

// A purge or recall execution that ends FAILED, TIMED_OUT or ABORTED is told on the alert topic
// by the deployment's one EventBridge rule (infra/workflows/failure-notice.ts), on the local
// cloud as deployed: the local Step Functions sends the execution's status change to the
// cloud's event bus, which evaluates the synthesized rule's pattern and publishes its input
// transformer's message to the SNS stand-in, as EventBridge (no subject, no message attributes).

const SITE = 'fail-site';
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
const published: Alert[] = [];
/** The workflows' own publish (their SNS task) is refused while this is set: the topic or its key broken for the state machine's role. */
let refusePublish = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-wf-fail-'));
  cloud = await startTestCloud({ directory: dir, fresh: true, sites: [SITE] });
  const purge = { retentionDays: 365, keepFullCycles: 2 };
  const notifier = {
    notify: async (alert: Alert) => {
      if (refusePublish) throw Object.assign(new Error('KMS.AccessDeniedException: the key refused'), { name: 'KMS.AccessDeniedException' });
      published.push(alert);
    },
  };
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge, definitions: renderWorkflowDefinitions({ site: SITE, purge }), pauseMs: 0, notifier });
}, 240_000);

afterAll(async () => {
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const notices = () => cloud.schedules.alerts.filter((a) => a.principal === 'service:events.amazonaws.com');

describe('failed purge and recall executions on the local cloud', () => {
  it('tells the alert topic of a purge whose report the topic refused (the execution FAILED), naming the status, the state machine and the execution', async () => {
    refusePublish = true;
    const outcome = await orchestration.workflows.runPurge().done.finally(() => (refusePublish = false));
    expect([outcome.status, outcome.error]).toEqual(['FAILED', 'KMS.AccessDeniedException']);
    expect(notices()).toHaveLength(1);
    const [notice] = notices();
    expect(notice!.subject).toBeUndefined();
    expect(JSON.parse(notice!.message)).toMatchObject({
      kind: 'workflow-failed',
      severity: 'critical',
      status: 'FAILED',
      stateMachine: `arn:aws:states:${cloud.events.region}:${cloud.events.account}:stateMachine:Ferry-${SITE}-purge`,
      execution: outcome.executionArn,
    });
    expect(outcome.executionArn).toMatch(new RegExp(`:execution:Ferry-${SITE}-purge:local-`));
    // Where the topic's messages are kept on the local cloud, beside the functions' alerts.
    expect(readFileSync(join(dir, 'alerts.jsonl'), 'utf8')).toContain(outcome.executionArn);
  }, 60_000);

  it('tells nothing more of a purge that succeeded (its own report is the notice)', async () => {
    const before = notices().length;
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(published.at(-1)!.subject).toMatch(new RegExp(`^Ferry ${SITE}: purge`));
    expect(notices()).toHaveLength(before);
  }, 60_000);

  it("tells nothing more of a purge that could not start (the site's lock held): its own report said so, and the execution ended PurgeFailed", async () => {
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    const locks = new SiteLocks(new DynamoLockTable(doc, cloud.table), systemClock);
    const grant = await locks.acquire({ site: SITE, holder: 'a-backup-window-still-running', operation: 'backup' });
    const [before, reports] = [notices().length, published.length];
    try {
      const outcome = await orchestration.workflows.runPurge().done;
      expect([outcome.status, outcome.error]).toEqual(['FAILED', PURGE_REPORTED_FAILURE]);
    } finally {
      await locks.release(SITE, grant.token);
      client.destroy();
    }
    expect(published.slice(reports)).toEqual([expect.objectContaining({ site: SITE, message: expect.stringContaining('a-backup-window-still-running') })]);
    expect(notices()).toHaveLength(before);
  }, 60_000);

  it('tells the alert topic of a recall that was aborted, under the recall state machine', async () => {
    const before = notices().length;
    const execution = orchestration.workflows.runRecall({ site: SITE, packKey: `recordings/${SITE}/2026/01/01/p000000000000000000000.tar`, requester: 'ops' });
    execution.abort();
    expect((await execution.done).status).toBe('ABORTED');
    expect(notices().slice(before).map((n) => JSON.parse(n.message) as Record<string, string>)).toEqual([
      expect.objectContaining({ status: 'ABORTED', stateMachine: expect.stringMatching(/:stateMachine:Ferry-recall$/), execution: execution.executionArn }),
    ]);
  }, 60_000);

  it('tells nothing of a backup window that failed: the window publishes its own alert', async () => {
    const before = notices().length;
    const controller = new AbortController();
    const worker = new ActivityWorker({
      client: orchestration.activityClient(),
      site: SITE,
      runBackup: async () => ({ packs: 0, recordings: 0, bytes: 0, failed: 3, lost: 0, manifests: [] }),
      clock: systemClock,
      log: silentLogger,
      workerName: 'failing-agent',
    });
    const polling = worker.run(controller.signal);
    refusePublish = true;
    try {
      expect((await orchestration.workflows.runBackupWindow({ onDemand: true }).done).status).toBe('FAILED');
    } finally {
      refusePublish = false;
      controller.abort();
      await polling;
    }
    expect(notices()).toHaveLength(before);
  }, 60_000);
});
