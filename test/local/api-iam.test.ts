import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { sigV4Signer, signedFetch } from '../../adapters/sigv4.ts';
import { readTrail } from '../../cli/audit-commands.ts';
import { playCall } from '../../cli/calls-commands.ts';
import { verifyAuditChain, type AuditRecord } from '../../core/audit-trail.ts';
import type { RecallRequest } from '../../core/recall.ts';
import type { CfnTemplate } from '../../infra/cfn-resolve.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import type { DeploymentSnapshot } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';
import { restoreEnv } from '../support/env.ts';

// IAM at the local catalogue API and replay URL, decided by the policies the CDK app
// synthesizes: real HTTP, requests signed with the SDK's SigV4 signer as each principal of the
// deployment (a site's officer role, its DR role). A route's execute-api:Invoke, and both
// Function URL actions for replay, must be granted, or the answer is 403 AccessDeniedException.

const A = 'site-a';
const B = 'site-b';
const dirs: string[] = [];
const clouds: LocalCloud[] = [];
let snapshot: DeploymentSnapshot;

type Caller = { accessKeyId: string; secretAccessKey: string };
const api = (cloud: LocalCloud, as: Caller, path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}${path}`, { service: 'execute-api', region: cloud.region, credentials: as, method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
const replay = (cloud: LocalCloud, as: Caller, f: PackFixture, headers: Record<string, string> = {}) =>
  signedFetch(`${cloud.replayUrl}/sites/${f.manifest.site}/recordings/${f.manifest.members[0]!.rid}/audio`, {
    service: 'lambda',
    region: cloud.region,
    credentials: as,
    headers,
  });

async function cloudWithPacks(editTemplates?: (t: Record<string, CfnTemplate>) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-api-iam-'));
  dirs.push(dir);
  const denials: { principal: string; action: string }[] = [];
  const onDecision = (d: { principal: string; denial?: { action: string } }) => {
    if (d.denial) denials.push({ principal: d.principal, action: d.denial.action });
  };
  const cloud = await startLocalCloud({ directory: dir, fresh: true, iam: { sites: [A, B], snapshot, editTemplates, onDecision } });
  clouds.push(cloud);
  const packs = {
    [A]: buildPack(A, [{ path: 'b/1.wav', body: audio(1, 4000) }]),
    [B]: buildPack(B, [{ path: 'b/2.wav', body: audio(2, 4000) }]),
  };
  for (const f of Object.values(packs)) await publish(cloud.blobs, f);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  const as = (principal: string) => cloud.iam!.credentialsOf(principal);
  const recalls: RecallRequest[] = [];
  cloud.wireRecall(A, { startRecall: async (r) => (recalls.push(r), { execution: `arn:local:recall:${recalls.length}` }) });
  return { cloud, packs, as, recalls, denials };
}

/** Test hook: drops the statements with these Sids from the policies of the roles whose logical id matches. */
function withoutStatements(role: RegExp, sids: string[]) {
  return (templates: Record<string, CfnTemplate>) => {
    for (const template of Object.values(templates)) {
      for (const resource of Object.values(template.Resources ?? {})) {
        const props = resource.Properties as { Roles?: { Ref?: string }[]; PolicyDocument?: { Statement: { Sid?: string }[] } } | undefined;
        if (resource.Type !== 'AWS::IAM::Policy' || !props?.Roles?.some((r) => role.test(r.Ref ?? ''))) continue;
        props.PolicyDocument!.Statement = props.PolicyDocument!.Statement.filter((s) => !sids.includes(s.Sid ?? ''));
      }
    }
  };
}

beforeAll(async () => {
  snapshot = await synthesizeDeployment([A, B]);
}, 120_000);

afterAll(async () => {
  await Promise.all(clouds.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('IAM at the local catalogue API and replay URL, as the app grants it', () => {
  let c: Awaited<ReturnType<typeof cloudWithPacks>>;
  beforeAll(async () => {
    c = await cloudWithPacks();
  }, 120_000);

  it("lets a site's officer search and replay its own site, and audits the officer's role as the caller", async () => {
    const officer = c.as(`officer:${A}`);
    const search = await api(c.cloud, officer, `/sites/${A}/recordings?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z`);
    expect(search.status).toBe(200);
    expect(((await search.json()) as { items: { rid: string }[] }).items.map((e) => e.rid)).toEqual([c.packs[A]!.manifest.members[0]!.rid]);
    const played = await replay(c.cloud, officer, c.packs[A]!, { Range: 'bytes=0-99' });
    expect(played.status).toBe(206);
    expect(Buffer.from(await played.arrayBuffer())).toEqual(audio(1, 4000).subarray(0, 100));
    const lines = readFileSync(c.cloud.auditFile, 'utf8').trim().split('\n');
    const audited = lines.map((l) => JSON.parse(l) as { action: string; principal: string });
    expect(audited.map((e) => e.action)).toEqual(['search', 'listen']);
    expect(audited[0]!.principal).toMatch(/^arn:aws:iam::\d{12}:role\/.*officer/i);
    // The functions appended both events to the site's durable chain, through the IAM gateway as their own roles.
    const { client, doc } = createDynamoClients({ region: c.cloud.region, endpoint: c.cloud.dynamoEndpoint, credentials: c.cloud.credentials });
    try {
      const ledger = new DynamoAuditLedger(doc, c.cloud.table);
      const chain = verifyAuditChain(A, await readTrail(c.cloud.blobs, A), await ledger.head(A), await ledger.records(A, 1, Infinity));
      expect(chain).toMatchObject({ ok: true, records: 2 });
      // The functions then sealed them (copied write-once to audit/), as their own roles too.
      await vi.waitFor(async () => expect(await ledger.sealed(A)).toBe(2), { timeout: 20_000, interval: 200 });
      expect(verifyAuditChain(A, await readTrail(c.cloud.blobs, A), await ledger.head(A))).toMatchObject({ ok: true, records: 2 });
      const events = (await readTrail(c.cloud.blobs, A)).map((r) => (JSON.parse(r.text) as AuditRecord).event.action);
      expect(events).toEqual(['search', 'listen']);
    } finally {
      client.destroy();
    }
  });

  it("refuses a site's officer every route and the replay of another site with 403 AccessDeniedException", async () => {
    const officer = c.as(`officer:${A}`);
    for (const path of [`/sites/${B}/recordings`, `/sites/${B}/recordings/${c.packs[B]!.manifest.members[0]!.rid}`]) {
      const res = await api(c.cloud, officer, path);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
      const { message } = (await res.json()) as { message: string };
      expect(message).toMatch(new RegExp(`not authorized to perform: execute-api:Invoke on resource: .*/GET/sites/${B}/`));
    }
    const recall = await api(c.cloud, officer, `/sites/${B}/recordings/${c.packs[B]!.manifest.members[0]!.rid}/recall`, 'POST');
    expect(recall.status).toBe(403);
    const played = await replay(c.cloud, officer, c.packs[B]!);
    expect(played.status).toBe(403);
    const { message } = (await played.json()) as { message: string };
    expect(message).toMatch(/lambda:InvokeFunctionUrl on resource: ".*:function:[^:]+:site-site-b"/);
    // The officer of a site has no business with its backups (that is the DR role's).
    expect((await api(c.cloud, officer, `/sites/${A}/artefacts`)).status).toBe(403);
  });

  it("refuses a site's officer naming a console user in its own replay request (officer=): only the console's role gives that name", async () => {
    const officer = c.as(`officer:${A}`);
    const f = c.packs[A]!;
    const before = readFileSync(c.cloud.auditFile, 'utf8');
    const res = await signedFetch(`${c.cloud.replayUrl}/sites/${A}/recordings/${f.manifest.members[0]!.rid}/audio?officer=demo-officer`, { service: 'lambda', region: c.cloud.region, credentials: officer, headers: { range: 'bytes=0-9' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/^officer: only the compliance console names an officer/);
    expect(readFileSync(c.cloud.auditFile, 'utf8')).toBe(before);
  });

  it("refuses a site's officer another site's route reached through dot segments (`/sites/A/recordings/../../B/recordings`): IAM judges the path served", async () => {
    const officer = c.as(`officer:${A}`);
    const rawPath = `/sites/${A}/recordings/../../${B}/recordings`;
    const target = new URL(c.cloud.apiUrl);
    const base = target.pathname.replace(/\/$/, '');
    // fetch would resolve the dots before sending: a raw request, signed over the raw path as a hand-made client would.
    const signed = await sigV4Signer('execute-api', c.cloud.region, officer).sign({ method: 'GET', protocol: 'http:', hostname: target.hostname, port: Number(target.port), path: `${base}${rawPath}`, query: {}, headers: { host: target.host } });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ method: 'GET', host: target.hostname, port: target.port, path: `${base}${rawPath}`, headers: signed.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status, answer.body).toBe(403);
    expect((JSON.parse(answer.body) as { message: string }).message).toMatch(new RegExp(`execute-api:Invoke on resource: .*/GET/sites/${B}/recordings`));
    // Nothing was searched at site B in the officer's name.
    expect(readFileSync(c.cloud.auditFile, 'utf8')).not.toMatch(new RegExp(`"site":"${B}"`));
  });

  it('lets the DR role of a primary list its artefacts, plan a restore, find and replay its calls; nothing of another site', async () => {
    const dr = c.as(`dr:${A}`);
    const list = await api(c.cloud, dr, `/sites/${A}/artefacts`);
    expect(list.status).toBe(200);
    // Allowed through IAM: the answer is the artefacts function's own (no such source yet).
    const plan = await api(c.cloud, dr, `/sites/${A}/sources/db/restore-plan?at=2026-03-01T00:00:00Z`);
    expect(plan.headers.get('x-amzn-errortype')).toBeNull();
    expect([200, 404, 422]).toContain(plan.status);
    expect((await api(c.cloud, dr, `/sites/${A}/recordings`)).status).toBe(200);
    expect((await replay(c.cloud, dr, c.packs[A]!, { Range: 'bytes=10-19' })).status).toBe(206);
    expect((await api(c.cloud, dr, `/sites/${B}/artefacts`)).status).toBe(403);
    expect((await replay(c.cloud, dr, c.packs[B]!)).status).toBe(403);
  });

  it("lets a site's officer ask for a recall, started by the catalogue function's own role (StartExecution); not the DR role", async () => {
    const rid = c.packs[A]!.manifest.members[0]!.rid;
    const asked = await api(c.cloud, c.as(`officer:${A}`), `/sites/${A}/recordings/${rid}/recall`, 'POST');
    expect(asked.status).toBe(202);
    expect(c.recalls).toEqual([{ site: A, rid, requester: expect.stringMatching(/:role\/.*officer/i) }]);
    expect((await api(c.cloud, c.as(`dr:${A}`), `/sites/${A}/recordings/${rid}/recall`, 'POST')).status).toBe(403);
    expect(c.recalls).toHaveLength(1);
  });

  it("lets a site's officer place a legal hold and open a case at its own site (as `ferry hold place` and `ferry case create` do), not at another", async () => {
    const officer = c.as(`officer:${A}`);
    const rid = c.packs[A]!.manifest.members[0]!.rid;
    const held = await api(c.cloud, officer, `/sites/${A}/holds`, 'POST', { rid, reason: 'court order 9/2026' });
    expect(held.status).toBe(201);
    expect((await api(c.cloud, officer, `/sites/${A}/holds`)).status).toBe(200);
    expect((await api(c.cloud, officer, `/sites/${A}/holds/release`, 'POST', { rid, reason: 'case closed' })).status).toBe(200);
    const opened = await api(c.cloud, officer, `/sites/${A}/cases`, 'POST', { name: 'SAR 9', reason: 'subject access request' });
    expect(opened.status).toBe(201);
    const other = await api(c.cloud, officer, `/sites/${B}/holds`, 'POST', { rid: c.packs[B]!.manifest.members[0]!.rid, reason: 'x' });
    expect(other.status).toBe(403);
    expect((await api(c.cloud, officer, `/sites/${B}/cases`)).status).toBe(403);
  });

  it("records a hold and its release placed through the holds API in the site's audit chain, as the caller's role", async () => {
    const rid = c.packs[B]!.manifest.members[0]!.rid;
    const post = (path: string, body: unknown) =>
      signedFetch(`${c.cloud.apiUrl}/sites/${B}${path}`, { service: 'execute-api', region: c.cloud.region, credentials: c.cloud.credentials, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/holds', { rid, reason: 'court order 7/2026', reference: 'R-7' })).status).toBe(201);
    expect((await post('/holds/release', { rid, reason: 'case closed' })).status).toBe(200);
    const { client, doc } = createDynamoClients({ region: c.cloud.region, endpoint: c.cloud.dynamoEndpoint, credentials: c.cloud.credentials });
    try {
      const ledger = new DynamoAuditLedger(doc, c.cloud.table);
      const records = await ledger.records(B, 1, Infinity);
      expect(records.map((r) => [r.event.action, r.event.rid])).toEqual([
        ['hold', rid],
        ['release', rid],
      ]);
      expect(records[0]!.event.principal).toMatch(/^arn:aws:iam::\d{12}:role\//);
      expect(verifyAuditChain(B, await readTrail(c.cloud.blobs, B), await ledger.head(B), records)).toMatchObject({ ok: true, records: 2 });
    } finally {
      client.destroy();
    }
  });

  it('audits `ferry calls play --out FILE` as a download (a copy leaves the archive) and writes the copy owner-only (0600) whatever the umask', async () => {
    const officer = c.as(`officer:${A}`);
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: officer.accessKeyId, AWS_SECRET_ACCESS_KEY: officer.secretAccessKey, AWS_REGION: c.cloud.region });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    try {
      const out = join(dirs[0]!, 'played.wav');
      const played = await playCall(`${A}/${c.packs[A]!.manifest.members[0]!.rid}`, { out, api: c.cloud.apiUrl, replayUrl: c.cloud.replayUrl });
      expect(played.bytes).toBe(audio(1, 4000).length);
      expect(statSync(out).mode & 0o777).toBe(0o600);
    } finally {
      restoreEnv(saved);
    }
    const audited = readFileSync(c.cloud.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
    expect(audited.at(-1)!.action).toBe('download');
  });

  it("refuses a function's role at the API: only the roles the app grants it may call", async () => {
    const res = await api(c.cloud, c.as('function:ingest'), `/sites/${A}/recordings`);
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
  });
});

describe('IAM at the local front doors follows the app: a grant taken out of it is refused at run time', () => {
  let c: Awaited<ReturnType<typeof cloudWithPacks>>;
  beforeAll(async () => {
    // Site A's officer loses lambda:InvokeFunction, site B's lambda:InvokeFunctionUrl, site A's DR role its API grant.
    const edits = [
      withoutStatements(/SitesiteaOfficerRole/, ['ReplayUrlInvoke']),
      withoutStatements(/SitesitebOfficerRole/, ['ReplayUrl']),
      withoutStatements(/SitesiteaDrRole/, ['RestorePlanAndCalls']),
      withoutStatements(/FunctionsCatalogueRole/, ['StartRecall']),
    ];
    c = await cloudWithPacks((templates) => edits.forEach((edit) => edit(templates)));
  }, 120_000);

  it('refuses the replay URL to a caller with lambda:InvokeFunctionUrl but not lambda:InvokeFunction; the API still answers', async () => {
    const officer = c.as(`officer:${A}`);
    const played = await replay(c.cloud, officer, c.packs[A]!);
    expect(played.status).toBe(403);
    expect(played.headers.get('x-amzn-errortype')).toBe('AccessDeniedException');
    expect(((await played.json()) as { message: string }).message).toMatch(/not authorized to perform: lambda:InvokeFunction on resource/);
    expect((await api(c.cloud, officer, `/sites/${A}/recordings`)).status).toBe(200);
  });

  it('refuses the replay URL when the caller holds lambda:InvokeFunction but not lambda:InvokeFunctionUrl', async () => {
    const played = await replay(c.cloud, c.as(`officer:${B}`), c.packs[B]!);
    expect(played.status).toBe(403);
    const { message } = (await played.json()) as { message: string };
    expect(message).toMatch(/not authorized to perform: lambda:InvokeFunctionUrl on resource/);
  });

  it("fails the recall (500, nothing started) when the catalogue function's role lost states:StartExecution", async () => {
    const rid = c.packs[A]!.manifest.members[0]!.rid;
    const asked = await api(c.cloud, c.as(`officer:${A}`), `/sites/${A}/recordings/${rid}/recall`, 'POST');
    expect(asked.status).toBe(500);
    expect(c.recalls).toEqual([]);
    expect(c.denials).toContainEqual({ principal: 'function:catalogue', action: 'states:StartExecution' });
  });

  it('refuses the DR role the restore plan once its execute-api grant is gone, while its S3 replay grant still plays', async () => {
    const dr = c.as(`dr:${A}`);
    const plan = await api(c.cloud, dr, `/sites/${A}/sources/db/restore-plan?at=2026-03-01T00:00:00Z`);
    expect(plan.status).toBe(403);
    const { message } = (await plan.json()) as { message: string };
    // The refused route's ARN names the region the caller signs for (the local cloud's), not another.
    expect(message).toMatch(new RegExp(`execute-api:Invoke on resource: "arn:aws:execute-api:${c.cloud.region}:\\d{12}:[^/]+/[^/]+/GET/sites/${A}/sources/db/restore-plan"`));
    expect(c.cloud.region).toBe('us-east-1');
    expect((await replay(c.cloud, dr, c.packs[A]!)).status).toBe(200);
  });
});
