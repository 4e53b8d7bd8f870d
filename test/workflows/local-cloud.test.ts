import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityWorker } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { createSfnClient, SfnActivityClient } from '../../adapters/sfn-activity-client.ts';
import { systemClock } from '../../core/clock.ts';
import type { Alert } from '../../core/ports.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { publishPack } from './purge-fixtures.ts';

// The workflows on the embedded local cloud, through the real SDK everywhere: the lock and
// run records in dynalite, deletions on s3rver, and an agent worker polling the activity
// over HTTP with SfnActivityClient, as `ferry agent run` would from its own process.

const SITE = 'local-site';
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
const alerts: Alert[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-wf-'));
  cloud = await startLocalCloud({ directory: dir, fresh: true });
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge: { retentionDays: 365, keepFullCycles: 2 }, pauseMs: 0, activityPort: 0, notifier: { notify: async (a) => void alerts.push(a) } });
});

afterAll(async () => {
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('workflows on the local cloud', () => {
  it('runs a backup window with an agent polling over HTTP, then a purge that deletes on s3rver', async () => {
    const now = new Date();
    const old = await publishPack(cloud, SITE, now, 'old', [500, 501]);
    const young = await publishPack(cloud, SITE, now, 'young', [5]);
    await cloud.drain();

    const client = new SfnActivityClient(createSfnClient({ endpoint: orchestration.activityEndpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), orchestration.activityArn);
    const worker = new ActivityWorker({
      client,
      site: SITE,
      runBackup: async () => ({ packs: 1, recordings: 1, bytes: young.pack.length, failed: 0, lost: 0, manifests: [young.manifestKey] }),
      clock: systemClock,
      log: silentLogger,
      workerName: 'local-agent',
    });
    const controller = new AbortController();
    const polling = worker.run(controller.signal);

    const window = await orchestration.workflows.runBackupWindow().done;
    expect(window.status).toBe('SUCCEEDED');
    controller.abort();
    await polling;

    const purge = await orchestration.workflows.runPurge().done;
    expect(purge.status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(old.packKey)).toBeUndefined();
    expect(await cloud.blobs.head(old.manifestKey)).toBeUndefined();
    expect(await cloud.blobs.head(young.packKey)).toBeDefined();
    expect(alerts.map((a) => a.subject)).toEqual([`Ferry ${SITE}: purge done - 2 object(s) deleted`]);

    const recall = await orchestration.workflows.runRecall({ site: SITE, packKey: young.packKey, requester: 'ops' }).done;
    expect(recall.status).toBe('SUCCEEDED'); // s3rver keeps everything in STANDARD: available at once
  });
});
