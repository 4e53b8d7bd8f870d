import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GetObjectRetentionCommand } from '@aws-sdk/client-s3';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { verifyBundle } from '../../core/case-export.ts';
import { requestedDeadline, startedDeadline } from '../../core/export-deadline.ts';
import type { ExportStatus } from '../../core/exports.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

// A compliance officer's case, end to end through the local cloud over real HTTP, every
// function from its bundle and every AWS call through the local IAM gateway as the function's
// own role: sign in (Cognito stand-in), create a case, add a call, hold the case (S3 Object
// Lock legal hold), export it (the console invokes the export function asynchronously through
// the local Lambda endpoint; the bundle is streamed to exports/ by multipart upload), poll until
// done, download the bundle through the presigned link (checked by the gateway as the console's
// role), verify it offline, and release the hold with a reason. An export whose invocation failed
// is marked failed at once by its on-failure destination (a late failure leaves a done export
// done); one whose invocation died unreported is answered, and recorded, as failed once past its
// deadline.

const A = 'site-a';
const B = 'site-b';
let dir: string;
let cloud: LocalCloud;
let pack: PackFixture;

async function accessToken(): Promise<string> {
  const res = await fetch(cloud.console.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: cloud.console.clientId, AuthParameters: { USERNAME: cloud.console.demo.username, PASSWORD: cloud.console.demo.password } }),
  });
  return ((await res.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
}

const call = async (token: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${cloud.console.apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

const exportStore = () => new DynamoExportStatusStore(createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials }).doc, cloud.table);

const runningRecord = (exportId: string, requestedAt: Date): ExportStatus => ({
  ...{ site: A, exportId, state: 'running', requestedBy: 'demo-officer', requestedAt: requestedAt.toISOString(), reason: 'court order 118/2026' },
  ...{ calls: 1, key: `exports/${A}/${exportId}.tar`, bytes: 0 },
});

/** What the console does to start an export: an asynchronous Invoke of the export function (202). */
async function invokeExport(job: unknown): Promise<void> {
  const res = await fetch(`${cloud.lambdaEndpoint}/2015-03-31/functions/ferry-export/invocations`, { method: 'POST', headers: { 'X-Amz-Invocation-Type': 'Event' }, body: JSON.stringify(job) });
  expect(res.status).toBe(202);
}

async function pollUntilEnded(token: string, exportId: string): Promise<Record<string, unknown>> {
  let status: Record<string, unknown> = { state: 'running' };
  for (let i = 0; i < 60 && status.state === 'running'; i++) {
    await new Promise((r) => setTimeout(r, 500));
    status = (await call(token, 'GET', `/sites/${A}/exports/${exportId}`)).json;
  }
  return status;
}

beforeAll(async () => {
  const snapshot = await synthesizeDeployment([A, B]);
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-cases-'));
  cloud = await startLocalCloud({ directory: dir, fresh: true, iam: { sites: [A, B], snapshot } });
  pack = buildPack(A, [
    { path: 'b/1.wav', body: audio(1, 6000) },
    { path: 'b/2.wav', body: audio(2, 3000) },
  ]);
  await publish(cloud.blobs, pack);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
}, 300_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a case through the console on the local cloud', () => {
  it('creates a case, adds a call, holds it, exports it, downloads and verifies the bundle, and releases the hold with a reason', async () => {
    const token = await accessToken();
    const [r1, r2] = pack.manifest.members.map((m) => m.rid);
    const created = await call(token, 'POST', `/sites/${A}/cases`, { caseId: 'C-17', name: 'Smith v Acme', reason: 'court order 118/2026', rids: [r1] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ caseId: 'C-17', createdBy: 'demo-officer', members: [r1] });
    expect((await call(token, 'POST', `/sites/${A}/cases/C-17/calls`, { rids: [r2] })).json).toMatchObject({ added: [r2] });
    const held = await call(token, 'POST', `/sites/${A}/holds`, { caseId: 'C-17', reason: 'court order 118/2026' });
    expect(held.status).toBe(201);
    expect(held.json.objects).toEqual([pack.packKey, pack.manifestKey]);
    expect((await call(token, 'GET', `/sites/${A}/cases`)).json).toMatchObject({ items: [{ caseId: 'C-17', members: [r1, r2], held: { by: 'demo-officer' } }] });
    // The console's role wrote every hold and case record to the bucket too (what a rebuild puts back after a table loss).
    const kept: string[] = [];
    for await (const o of cloud.blobs.list(`holds/${A}/`)) kept.push(o.key);
    expect(kept.filter((k) => k.endsWith('/placed.json')).map((k) => k.split('/')[2]).sort()).toEqual([r1, r2].sort());
    const versions: string[] = [];
    for await (const o of cloud.blobs.list(`cases/${A}/C-17/`)) versions.push(o.key);
    expect(versions.length).toBeGreaterThanOrEqual(2);

    const started = await call(token, 'POST', `/sites/${A}/exports`, { caseId: 'C-17', reason: 'court order 118/2026' });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ state: 'running', calls: 2 });
    const exportId = started.json.exportId as string;
    let status = started.json;
    for (let i = 0; i < 120 && status.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      status = (await call(token, 'GET', `/sites/${A}/exports/${exportId}`)).json;
    }
    expect(status, String(status.error)).toMatchObject({ state: 'done', calls: 2, expiresInSeconds: 300 });
    const download = await fetch(status.url as string);
    expect(download.status, await download.clone().text()).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(status.sha256);
    expect(bytes.length).toBe(status.bytes);
    const verdict = await verifyBundle(async (p, l) => bytes.subarray(p, p + l), bytes.length);
    expect(verdict).toMatchObject({ ok: true, problems: [], root: expect.stringMatching(new RegExp(`^case-${A}-C-17-`)) });
    // Written under a GOVERNANCE retention that ends with the bundle's 7 days, not the bucket's 30-day default.
    const s3 = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
    const { Retention } = await s3.send(new GetObjectRetentionCommand({ Bucket: cloud.bucket, Key: `exports/${A}/${exportId}.tar` }));
    expect(Retention?.Mode).toBe('GOVERNANCE');
    const days = (Retention!.RetainUntilDate!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    // The link is the console role's presign: altered, the gateway refuses it.
    const tampered = new URL(status.url as string);
    tampered.pathname = tampered.pathname.replace(exportId, 'exp-20000101T000000Z-00000000');
    expect((await fetch(tampered)).status).toBe(403);

    const released = await call(token, 'POST', `/sites/${A}/holds/release`, { caseId: 'C-17', reason: 'order lifted' });
    expect(released.status).toBe(200);
    expect(released.json.objects).toEqual([pack.packKey, pack.manifestKey]);

    const audit = readFileSync(cloud.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const action of ['hold', 'export', 'release']) expect(audit, action).toContainEqual(expect.objectContaining({ action, site: A, principal: 'demo-officer' }));
    // Who put which call in the case, and when: its creation and the call added, each in the trail.
    const caseChanges = [
      expect.objectContaining({ action: 'case-create', site: A, principal: 'demo-officer', query: { caseId: 'C-17', reason: 'court order 118/2026' }, detail: expect.objectContaining({ name: 'Smith v Acme', rids: [r1], members: 1 }) }),
      expect.objectContaining({ action: 'case-add', site: A, principal: 'demo-officer', query: { caseId: 'C-17', reason: 'court order 118/2026' }, detail: expect.objectContaining({ added: 1, rids: [r2], members: 2 }) }),
    ];
    expect(audit.filter((e) => String(e.action).startsWith('case-'))).toEqual(caseChanges);
    // The console's audit view lists them by action, naming the case.
    const listed = await call(token, 'GET', `/sites/${A}/audit?action=case-add`);
    expect(listed.json.items).toEqual([expect.objectContaining({ action: 'case-add', case: 'C-17', principal: 'demo-officer' })]);
    // Sealed like every record: copied write-once under audit/ in the bucket.
    await vi.waitFor(
      async () => {
        const sealed: unknown[] = [];
        for await (const o of cloud.blobs.list(`audit/${A}/`)) sealed.push((JSON.parse(await text((await cloud.blobs.get(o.key)).body)) as { event: unknown }).event);
        expect(sealed.filter((e) => String((e as { action: string }).action).startsWith('case-'))).toEqual(caseChanges);
      },
      { timeout: 20_000, interval: 200 },
    );
  }, 120_000);

  it('answers failed with the reason for an export whose invocation died (running, past its deadline), and records it as the console role', async () => {
    const token = await accessToken();
    const store = new DynamoExportStatusStore(createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials }).doc, cloud.table);
    // What a dead invocation leaves: the record the console wrote and the function took, never ended.
    const requestedAt = new Date(Date.now() - 30 * 60_000);
    const exportId = 'exp-20000101T000000Z-deadbeef';
    const startedAt = new Date(requestedAt.getTime() + 60_000);
    const dead: ExportStatus = { site: A, exportId, state: 'running', requestedBy: 'demo-officer', requestedAt: requestedAt.toISOString(), reason: 'court order 118/2026', calls: 2, key: `exports/${A}/${exportId}.tar`, bytes: 0, startedAt: startedAt.toISOString(), deadline: startedDeadline(startedAt, 900) };
    await store.create(dead);
    const res = await call(token, 'GET', `/sites/${A}/exports/${exportId}`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ state: 'failed', error: 'the export did not finish within 17 minutes; request it again' });
    expect(res.json.url).toBeUndefined();
    expect(await store.get(A, exportId)).toMatchObject({ state: 'failed', error: expect.stringContaining('17 minutes'), finishedAt: expect.any(String) });
  });

  it('answers failed within seconds, naming the error, when the export invocation throws (its on-failure destination marks it), long before its deadline', async () => {
    const token = await accessToken();
    const store = exportStore();
    const exportId = 'exp-20260101T000000Z-0000fa11';
    const requestedAt = new Date();
    await store.create({ ...runningRecord(exportId, requestedAt), deadline: requestedDeadline(requestedAt, 900) });
    // A job the export function rejects (its schema throws): an unhandled error, as Lambda sees it.
    await invokeExport({ site: A, exportId, rids: ['not-a-recording'], reason: 'court order 118/2026', principal: 'demo-officer', at: requestedAt.toISOString() });
    const status = await pollUntilEnded(token, exportId);
    expect(Date.now() - requestedAt.getTime()).toBeLessThan(30_000);
    expect(status).toMatchObject({ state: 'failed', error: 'the export function failed: invalid export job: rids.0: Invalid' });
    expect(await store.get(A, exportId)).toMatchObject({ state: 'failed', finishedAt: expect.any(String) });
  }, 60_000);

  it('leaves a done export done when a failure record of its id arrives late (conditional write)', async () => {
    const store = exportStore();
    const exportId = 'exp-20260101T000000Z-00000d0e';
    const done: ExportStatus = { ...runningRecord(exportId, new Date()), state: 'done', bytes: 4096, sha256: 'a'.repeat(64), finishedAt: new Date().toISOString() };
    await store.create(done);
    await invokeExport({ site: A, exportId, rids: ['not-a-recording'], reason: 'late', principal: 'demo-officer', at: done.requestedAt });
    const logFile = join(dir, 'functions.log');
    for (let i = 0; i < 60 && !(readFileSync(logFile, 'utf8').includes(`export ${exportId} already done`)); i++) await new Promise((r) => setTimeout(r, 500));
    expect(readFileSync(logFile, 'utf8')).toContain(`export ${exportId} already done`);
    expect(await store.get(A, exportId)).toEqual(done);
  }, 60_000);

  it("refuses site-b's case, hold and export routes to site-a's officer", async () => {
    const token = await accessToken();
    for (const [method, path] of [['GET', `/sites/${B}/cases`], ['POST', `/sites/${B}/holds`], ['POST', `/sites/${B}/exports`]] as const) {
      expect((await call(token, method, path, method === 'POST' ? { caseId: 'C-17', reason: 'court order' } : undefined)).status, path).toBe(403);
    }
  });
});
