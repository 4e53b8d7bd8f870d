import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch } from '../../adapters/sigv4.ts';
import type { RecallRequest } from '../../core/recall.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { localRecallStarter, startApiServer } from '../../local/api-server.ts';
import type { HttpEndpoint } from '../../local/http-endpoint.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import type { LocalExecution } from '../../local/stepfunctions.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { TEST_KEY, TEST_REGION } from '../support/signed.ts';
import { sourceFunctions } from '../support/source-functions.ts';
import { SITE, workflowHarness, type Harness } from '../workflows/harness.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// The recall route on the local catalogue API: real HTTP, a request signed as `ferry calls recall`
// signs it (POST, service execute-api), routed to the catalogue function with the site's local
// recall workflow (the synthesized state machine, run by aws-local-stepfunctions) as its starter.

let h: Harness;
let api: HttpEndpoint;
const started: LocalExecution[] = [];
const audits: AuditEvent[] = [];

beforeAll(async () => {
  h = await workflowHarness({ config: { recallPollSeconds: 3600, recallMaxPolls: 1 } });
  const workflows = {
    runRecall: (input: RecallRequest) => {
      const execution = h.workflows.runRecall(input);
      started.push(execution);
      return execution;
    },
  };
  const starter = localRecallStarter(workflows);
  const { functions } = sourceFunctions({ catalogue: h.catalogue, recall: starter, recalls: h.statuses, audit: (e: AuditEvent) => void audits.push(e) });
  api = await startApiServer({
    ...{ functions, credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined },
    recallWired: (site) => site === SITE,
  });
});

afterAll(async () => {
  await api?.stop();
  h?.activity.stop();
});

const recall = (path: string, method: 'POST' | 'GET' = 'POST') =>
  signedFetch(`${api.url}${path}`, { service: 'execute-api', region: TEST_REGION, credentials: TEST_KEY, method });

describe('recall route of the local catalogue API', () => {
  it('answers 202 for an archived call and starts the site recall workflow, which asks S3 for a restore', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'archived', [500]);
    const rid = pack.manifest.members[0]!.rid;
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });

    const res = await recall(`/sites/${SITE}/recordings/${rid}/recall`);

    expect(res.status).toBe(202);
    const body = (await res.json()) as { site: string; rid: string; packKey: string; execution: string };
    expect(body).toMatchObject({ site: SITE, rid, packKey: pack.packKey });
    expect(started.map((e) => e.executionArn)).toEqual([body.execution]);
    expect(body.execution).toMatch(new RegExp(`:execution:ferry-recall-${SITE}:`));
    await started[0]!.done;
    expect(h.archive.requests).toEqual([{ key: pack.packKey, days: 7, tier: 'Standard' }]);
    expect(h.alerts.at(-1)?.message).toContain(`asked for by ${TEST_KEY.accessKeyId}`);
    expect(audits.at(-1)).toMatchObject({ action: 'recall', site: SITE, rid, principal: TEST_KEY.accessKeyId });
  });

  it('answers 404 naming the call for an unknown recording, and starts no execution', async () => {
    const before = started.length;
    const res = await recall(`/sites/${SITE}/recordings/r0000000000000000000000a/recall`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toBe(`no recording r0000000000000000000000a in site ${SITE}`);
    expect(started).toHaveLength(before);
  });

  it('answers 501 for a site without a local recall workflow, as the deployed function without one does, saying which local cloud runs one', async () => {
    const before = started.length;
    const res = await recall('/sites/site-b/recordings/r0000000000000000000000a/recall');
    expect(res.status).toBe(501);
    expect(await res.json()).toEqual({ error: 'NotImplemented', message: "recall is not available here: no recall workflow runs for site site-b on this local cloud (`ferry start` runs one for its demo site only, `ferry start --no-demo` none; restart with `ferry start --keep` to recall site demo's calls)" });
    expect(started).toHaveLength(before);
  });

  it('answers 400 naming rid for a malformed recording id, on POST and on GET', async () => {
    for (const method of ['POST', 'GET'] as const) {
      const bad = await recall(`/sites/${SITE}/recordings/not-a-rid/recall`, method);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { message: string }).message).toMatch(/rid/);
    }
  });

  it('answers GET of the recall path with the status record the workflow wrote, and 404 for an unknown call', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'status', [500]);
    const rid = pack.manifest.members[0]!.rid;
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    expect(await (await recall(`/sites/${SITE}/recordings/${rid}/recall`, 'GET')).json()).toMatchObject({ rid, state: 'none' });
    const res = await recall(`/sites/${SITE}/recordings/${rid}/recall`);
    const { execution } = (await res.json()) as { execution: string };
    await started.find((e) => e.executionArn === execution)!.done;
    // recallMaxPolls 1: one check, the restore still running, the workflow gave up.
    const status = await recall(`/sites/${SITE}/recordings/${rid}/recall`, 'GET');
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ site: SITE, rid, packKey: pack.packKey, state: 'gave-up', requester: TEST_KEY.accessKeyId, polls: 1 });
    expect((await recall(`/sites/${SITE}/recordings/r0000000000000000000000a/recall`, 'GET')).status).toBe(404);
    // The status route answers whether or not a workflow is wired.
    expect((await recall('/sites/site-b/recordings/r0000000000000000000000a/recall', 'GET')).status).toBe(404);
  });
});

describe('recall route of the embedded local cloud', () => {
  let dir: string;
  let cloud: LocalCloud;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-recall-'));
    cloud = await startTestCloud({ directory: dir, fresh: true, sites: ['site-c'] });
  });

  afterAll(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 501 until a recall workflow is wired for the site, 202 while it is, and 501 again once unwired', async () => {
    const f = buildPack('site-c', [{ path: 'b/one.wav', body: audio(3, 800), meta: { start: '2026-03-01T08:00:00Z' } }]);
    await publish(cloud.blobs, f);
    await ingestManifest({ blobs: cloud.blobs, catalogue: cloud.catalogue }, f.manifestKey);
    const rid = f.manifest.members[0]!.rid;
    const asked: RecallRequest[] = [];
    const starter = { startRecall: async (r: RecallRequest) => (asked.push(r), { execution: `arn:local:${asked.length}` }) };
    // As the site's compliance officer, the principal a user recalls with.
    const signing = { service: 'execute-api', region: cloud.region, credentials: cloud.iam!.credentialsOf('officer:site-c'), method: 'POST' } as const;
    const post = () => signedFetch(`${cloud.apiUrl}/sites/site-c/recordings/${rid}/recall`, signing);

    expect((await post()).status).toBe(501);
    const unwire = cloud.wireRecall('site-c', starter);
    const res = await post();
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ rid, packKey: f.packKey, execution: 'arn:local:1' });
    expect(asked).toEqual([{ site: 'site-c', rid, requester: expect.stringMatching(/^arn:aws:iam::\d{12}:role\/.*[Oo]fficer/) }]);
    unwire();
    expect((await post()).status).toBe(501);
    expect(asked).toHaveLength(1);
  });

  it("answers an officer's GET of the recall status and the recording's archive state from the deployed catalogue bundle", async () => {
    const f = buildPack('site-c', [{ path: 'b/two.wav', body: audio(4, 800), meta: { start: '2026-03-01T08:00:00Z' } }]);
    await publish(cloud.blobs, f);
    await ingestManifest({ blobs: cloud.blobs, catalogue: cloud.catalogue }, f.manifestKey);
    const rid = f.manifest.members[0]!.rid;
    const signing = { service: 'execute-api', region: cloud.region, credentials: cloud.iam!.credentialsOf('officer:site-c'), method: 'GET' } as const;
    const status = await signedFetch(`${cloud.apiUrl}/sites/site-c/recordings/${rid}/recall`, signing);
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({ site: 'site-c', rid, packKey: f.packKey, state: 'none' });
    const entry = (await (await signedFetch(`${cloud.apiUrl}/sites/site-c/recordings/${rid}`, signing)).json()) as { archive?: unknown };
    // A pack under 128 KiB: S3 never moves it out of Standard.
    expect(entry.archive).toEqual({ state: 'online', storageClass: 'STANDARD' });
  });
});
