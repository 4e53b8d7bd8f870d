import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityWorker } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { dynamoLockStore } from '../../adapters/dynamo-lock.ts';
import { createSfnClient, SfnActivityClient } from '../../adapters/sfn-activity-client.ts';
import { systemClock } from '../../core/clock.ts';
import { LOCAL_REGION } from '../../core/deployment.ts';
import type { Alert } from '../../core/ports.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3-process.ts';
import type { ExecutionEvent } from '../../local/stepfunctions.ts';
import { WINDOW_STATES } from '../../infra/workflows/state-names.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { publishPack } from './purge-fixtures.ts';
import { signedFetch } from '../../adapters/sigv4.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { DynamoRecallStatusStore } from '../../adapters/dynamo-recalls.ts';
import { verifyAuditChain } from '../../core/audit-trail.ts';
import { readTrail } from '../../cli/audit-commands.ts';
import type { BlobStore } from '../../core/ports.ts';

// The workflows on the embedded local cloud, through the real SDK everywhere: the workflow
// functions from their minified bundles (as CDK deploys them), the lock and run records in dynalite, deletions on s3rver, and an agent worker polling the activity
// over HTTP with SfnActivityClient, as `ferry agent run` would from its own process. Every call
// goes through the IAM gateway, each component signing as its role of the synthesized app.

const SITE = 'local-site';
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
const alerts: Alert[] = [];
const events: { listener?: (event: ExecutionEvent) => void } = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-wf-'));
  cloud = await startTestCloud({ directory: dir, fresh: true, sites: [SITE] });
  const purge = { retentionDays: 365, keepFullCycles: 2 };
  // A site of the test's own: its definitions synthesized here (the demo's are generated at build time).
  const definitions = renderWorkflowDefinitions({ site: SITE, purge });
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge, definitions, pauseMs: 0, onEvent: (e) => events.listener?.(e), activityPort: 0, notifier: { notify: async (a) => void alerts.push(a) } });
});

afterAll(async () => {
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('workflows on the local cloud', () => {
  it('runs a backup window with an agent polling over HTTP, then a purge that deletes every version once Object Lock lets it', async () => {
    const now = new Date();
    const old = await publishPack(cloud, SITE, now, 'old', [500, 501]);
    const young = await publishPack(cloud, SITE, now, 'young', [5]);
    await cloud.drain();

    const client = new SfnActivityClient(createSfnClient({ endpoint: orchestration.activityEndpoint, credentials: cloud.iam!.credentialsOf(`agent:${SITE}`) }), orchestration.activityArn);
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

    // Just shipped, the old calls' objects are under the bucket's default Object Lock retention
    // (30 days): the purge (versioned deletes, as the app configures it) leaves them in place.
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(old.packKey)).toBeDefined();
    expect(alerts.map((a) => a.subject)).toEqual([expect.stringMatching(new RegExp(`^Ferry ${SITE}: purge`))]);
    expect(alerts[0]!.subject).not.toMatch(/purge done - 2 object/);

    await cloud.advanceClock(31 * 24 * 3600 * 1000);
    const purge = await orchestration.workflows.runPurge().done;
    expect(purge.status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(old.packKey)).toBeUndefined();
    expect(await cloud.blobs.head(old.manifestKey)).toBeUndefined();
    expect(await cloud.blobs.head(young.packKey)).toBeDefined();
    expect(alerts.at(-1)!.subject).toBe(`Ferry ${SITE}: purge done - 2 object(s) deleted`);
    // Every version went, not just the current one behind a delete marker.
    const s3 = createS3Client({ region: LOCAL_REGION, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
    const left = await s3.send(new ListObjectVersionsCommand({ Bucket: cloud.bucket, Prefix: old.packKey }));
    s3.destroy();
    expect([...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])]).toEqual([]);

    // The lifecycle moved the young pack to Glacier Instant Retrieval at 30 days: readable at once.
    const recall = await orchestration.workflows.runRecall({ site: SITE, packKey: young.packKey, requester: 'ops' }).done;
    expect(recall.status).toBe('SUCCEEDED');
  });

  it('purges a pack past retention that holds a call on legal hold: asks for its restore from Deep Archive, then copies the held call out (write-once, under the bucket policy) and deletes the rest', async () => {
    const now = new Date();
    // The pack in Deep Archive, where the lifecycle puts every pack long before its retention ends.
    const archived = Object.create(cloud.blobs) as BlobStore;
    archived.put = (key, body, options) => cloud.blobs.put(key, body, { ...options, ...(key.endsWith('.tar') ? { storageClass: 'DEEP_ARCHIVE' } : {}) });
    const pack = await publishPack({ blobs: archived, catalogue: cloud.catalogue }, SITE, now, 'heldpack', [700, 701, 702]);
    await cloud.drain();
    const held = pack.manifest.members[1]!.rid;
    const placed = await signedFetch(`${cloud.apiUrl}/sites/${SITE}/holds`, { service: 'execute-api', region: cloud.region, credentials: cloud.credentials, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rid: held, reason: 'litigation 12/2026' }) });
    expect(placed.status).toBe(201);
    await cloud.advanceClock(31 * 24 * 3600 * 1000); // past the bucket's default Object Lock retention
    alerts.length = 0;

    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(pack.packKey)).toBeDefined();
    const first = alerts.at(-1)!;
    expect(first.message).toContain(`${pack.packKey}: 1 held call(s) not copied out, pack kept past retention: it is in the archive tier (DEEP_ARCHIVE); a restore was requested`);
    expect(first.message).not.toMatch(/were copied out/);

    await cloud.advanceClock(2 * 24 * 3600 * 1000); // a Bulk restore's 48 hours
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(alerts.at(-1)!.message).not.toContain('held call(s) not copied out');
    expect(await cloud.blobs.head(pack.packKey)).toBeUndefined();
    const entry = await cloud.catalogue.getRecording(SITE, held);
    expect(entry?.packKey).toBeDefined();
    expect(entry!.packKey).not.toBe(pack.packKey);
    expect(await cloud.blobs.head(entry!.packKey)).toBeDefined();
    expect(await cloud.catalogue.getRecording(SITE, pack.manifest.members[0]!.rid)).toBeUndefined();
    // The deletion is a record of the site's hash-chained audit trail: the pack, its calls, the held one kept.
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      const ledger = new DynamoAuditLedger(doc, cloud.table);
      const records = await ledger.records(SITE, 1, Infinity);
      const purged = records.filter((r) => r.event.action === 'purge' && r.event.detail?.object === pack.packKey);
      expect(purged).toHaveLength(1);
      expect(purged[0]!.event).toMatchObject({ principal: 'ferry purge (retention)', detail: { kind: 'pack', manifest: pack.manifestKey, recordings: 2, keptHeld: [held] } });
      expect([...(purged[0]!.event.detail!.rids as string[])].sort()).toEqual([pack.manifest.members[0]!.rid, pack.manifest.members[2]!.rid].sort());
      // Which calls went, as a person finds them (call id, start, parties), and under which rule: the site's retention and its cutoff.
      expect(purged[0]!.event.detail).toMatchObject({ rule: 'retention', retentionDays: expect.any(Number), cutoff: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/) });
      const calls = purged[0]!.event.detail!.calls as string[];
      for (const m of [pack.manifest.members[0]!, pack.manifest.members[2]!]) {
        expect(calls.find((c) => c.startsWith(`${m.rid} `))).toBe(`${m.rid} callId=${m.meta?.callId ?? '-'} start=${m.meta?.start ?? m.mtime} ${m.meta?.caller ?? '?'}→${m.meta?.called ?? '?'}${m.meta?.agent === undefined ? '' : ` agent=${m.meta.agent}`}`);
      }
      expect(calls).toHaveLength(2);
      expect(verifyAuditChain(SITE, await readTrail(cloud.blobs, SITE), await ledger.head(SITE), records)).toMatchObject({ ok: true });
    } finally {
      client.destroy();
    }
  });

  it('marks a recall whose pack is not in the bucket as gave-up (the recall role writes the RECALL# record) and tells its requester with kind=recall, the site and the requester', async () => {
    const packKey = `recordings/${SITE}/2026/01/01/pmissing000000000000000.tar`;
    const before = alerts.length;
    const outcome = await orchestration.workflows.runRecall({ site: SITE, packKey, requester: 'grace@example.com' }).done;
    expect(outcome.status).toBe('FAILED');
    const told = alerts.slice(before);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ site: SITE, severity: 'warning', subject: `Ferry ${SITE}: recall failed - pmissing000000000000000.tar` });
    const attributes = (told[0]!.details as { attributes: Record<string, { StringValue: string }> }).attributes;
    expect(Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v.StringValue]))).toEqual({ kind: 'recall', site: SITE, requester: 'grace@example.com', severity: 'warning' });
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      expect(await new DynamoRecallStatusStore(doc, cloud.table).get(SITE, packKey)).toMatchObject({ state: 'gave-up', requester: 'grace@example.com', polls: 0 });
    } finally {
      client.destroy();
    }
  });

  it('retries a busy lock with the LockHeldError retrier of the synthesized definition, then acquires it once freed', async () => {
    const { doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: cloud.dynamoEndpoint, credentials: { ...LOCAL_S3_CREDENTIALS } });
    const locks = dynamoLockStore(doc, cloud.table, systemClock);
    const held = await locks.acquire({ site: SITE, holder: 'arn:aws:states:us-east-1:000000000000:execution:other:purge', operation: 'purge' });
    const busy = await publishPack(cloud, SITE, new Date(), 'busy', [1]);
    await cloud.drain();
    const client = new SfnActivityClient(createSfnClient({ endpoint: orchestration.activityEndpoint, credentials: cloud.iam!.credentialsOf(`agent:${SITE}`) }), orchestration.activityArn);
    const summary = { packs: 1, recordings: 1, bytes: busy.pack.length, failed: 0, lost: 0, manifests: [busy.manifestKey] };
    const worker = new ActivityWorker({ client, site: SITE, runBackup: async () => summary, clock: systemClock, log: silentLogger, workerName: 'local-agent' });
    const controller = new AbortController();
    const polling = worker.run(controller.signal);
    // The other holder lets go after the second retry.
    let released: Promise<unknown> | undefined;
    let retries = 0;
    events.listener = (e) => {
      if (e.type === 'StateRetried' && e.state?.name === WINDOW_STATES.acquire && ++retries === 2) released = locks.release(SITE, held.token);
    };
    try {
      const window = await orchestration.workflows.runBackupWindow().done;
      await released;
      const retried = window.events.filter((e) => e.type === 'StateRetried' && e.state?.name === WINDOW_STATES.acquire);
      expect(retried.length).toBeGreaterThanOrEqual(2);
      expect(retried.every((e) => e.retry?.retrier.ErrorEquals.join() === 'LockHeldError')).toBe(true);
      const entered = window.events.filter((e) => e.type === 'StateEntered').map((e) => e.state?.name);
      expect(entered).not.toContain(WINDOW_STATES.whoHolds);
      expect(entered).toContain(WINDOW_STATES.dispatch);
      expect(window.status).toBe('SUCCEEDED');
    } finally {
      events.listener = undefined;
      controller.abort();
      await polling;
      doc.destroy();
    }
  });
});
