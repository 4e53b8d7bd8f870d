import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { erasureToItem, type ErasureRecord } from '../../core/erasure-items.ts';
import { signedFetch } from '../../adapters/sigv4.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

// A data subject's erasure request through the local cloud over real HTTP, as `ferry calls erase`
// sends it: signed as the site's officer role, the holds function from its bundle, every AWS call
// through the local IAM gateway as the functions' own roles. Refused while held (409) or when not
// catalogued (404); recorded (201), answered again (200); from then on search leaves the call out
// and its entry and replay answer 410 Gone naming the erasure.

const SITE = 'demo';
let dir: string;
let cloud: LocalCloud;
let f: PackFixture;
let rids: string[];

type Caller = { accessKeyId: string; secretAccessKey: string };
const officer = (): Caller => cloud.iam!.credentialsOf(`officer:${SITE}`);
const api = (path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}/sites/${SITE}${path}`, { service: 'execute-api', region: cloud.region, credentials: officer(), method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
const ferryCli = () => {
  const keys = officer();
  const env = { ...process.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: cloud.region, AWS_PROFILE: '' };
  return (...args: string[]) => promisify(execFile)(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'ferry.mjs'), ...args, '--site', SITE, '--api', cloud.apiUrl], { env, maxBuffer: 64 * 1024 * 1024 });
};
const replay = (rid: string) => signedFetch(`${cloud.replayUrl}/sites/${SITE}/recordings/${rid}/audio`, { service: 'lambda', region: cloud.region, credentials: officer() });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-erasure-route-'));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true });
  f = buildPack(SITE, [0, 1, 2].map((i) => ({ path: `b/call-${i}.wav`, body: audio(i, 4000), meta: { callId: `C-${i}`, caller: '+441000000000' } })));
  rids = f.manifest.members.map((m) => m.rid);
  await publish(cloud.blobs, f);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /sites/{site}/erasures through the local cloud', () => {
  it('refuses a held call with 409 naming the hold, and an uncatalogued call with 404', async () => {
    expect((await api('/holds', 'POST', { rid: rids[0], reason: 'tribunal', reference: 'ET-42' })).status).toBe(201);
    const held = await api('/erasures', 'POST', { rid: rids[0], reason: 'data subject request', reference: 'DSAR-1' });
    expect(held.status).toBe(409);
    expect(await held.json()).toMatchObject({ error: 'UnderLegalHoldError', message: expect.stringMatching(/under legal hold.*call hold ET-42/) });
    const unknown = await api('/erasures', 'POST', { rid: `r${'0'.repeat(23)}`, reason: 'data subject request' });
    expect(unknown.status).toBe(404);
  });

  it('records the request (201, kept in the bucket, audited `erase` as the officer); asked again it answers the same request (200)', async () => {
    const first = await api('/erasures', 'POST', { rid: rids[1], reason: 'data subject request', reference: 'DSAR-2' });
    expect(first.status).toBe(201);
    const recorded = ((await first.json()) as { erasure: { status: string; requestedBy: string; requestedAt: string } }).erasure;
    expect(recorded).toMatchObject({ status: 'pending', requestedBy: expect.stringMatching(/:role\/.*officer/i) });
    expect(await cloud.blobs.head(`erasures/${SITE}/${rids[1]}/requested.json`)).toBeDefined();
    const again = await api('/erasures', 'POST', { rid: rids[1], reason: 'asked twice' });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ existing: true, erasure: { requestedAt: recorded.requestedAt, reference: 'DSAR-2' } });
    const listed = (await (await api('/erasures')).json()) as { items: { rid: string; status: string }[] };
    expect(listed.items.map((e) => [e.rid, e.status])).toEqual([[rids[1], 'pending']]);
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      const records = await new DynamoAuditLedger(doc, cloud.table).records(SITE, 1, Infinity);
      const erase = records.filter((r) => r.event.action === 'erase');
      // The request the hold withheld (the test before) is in the trail too, said refused.
      expect(erase.map((r) => [r.event.rid, r.event.query?.reference, r.event.detail?.status])).toEqual([[rids[0], 'DSAR-1', 'refused'], [rids[1], 'DSAR-2', 'pending']]);
      expect(erase[1]!.event.principal).toMatch(/:role\/.*officer/i);
    } finally {
      client.destroy();
    }
  });

  it('takes the erased call out of reach at once: search leaves it out, its entry and its replay answer 410 naming the erasure; the others play', async () => {
    const found = (await (await api('/recordings')).json()) as { items: { rid: string }[] };
    expect(found.items.map((e) => e.rid).sort()).toEqual([rids[0], rids[2]].sort());
    const entry = await api(`/recordings/${rids[1]}`);
    expect(entry.status).toBe(410);
    expect(await entry.json()).toMatchObject({ error: 'ErasedError', message: expect.stringMatching(/erased at a data subject's request \(reference DSAR-2/) });
    const played = await replay(rids[1]!);
    expect(played.status).toBe(410);
    expect(((await played.json()) as { message: string }).message).toMatch(/erased at a data subject's request/);
    const other = await replay(rids[2]!);
    expect(other.status).toBe(200);
    expect(Buffer.from(await other.arrayBuffer())).toEqual(audio(2, 4000));
  });

  it('`ferry calls erase` and `ferry erasures list` (the real CLI, signed with the officer\'s keys): a held call refused naming the hold (exit 1), a call erased and listed pending with its reference', async () => {
    const ferry = ferryCli();
    const held = await ferry('calls', 'erase', '--rid', rids[0]!, '--reason', 'data subject request').then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(held?.code).toBe(1);
    expect(held?.stderr).toMatch(/under legal hold.*ET-42/);
    const erased = await ferry('calls', 'erase', '--rid', rids[2]!, '--reason', 'data subject request', '--reference', 'DSAR-3');
    expect(erased.stdout).toMatch(new RegExp(`^erasure requested: the call is no longer searchable or playable;\\n${rids[2]}  pending`));
    const listed = await ferry('erasures', 'list');
    expect(listed.stdout).toContain(`${rids[2]}  pending`);
    expect(listed.stdout).toContain('requested DSAR-3 by');
    expect(listed.stdout.trim().split('\n').at(-1)).toBe('2 erasure request(s): 2 pending, 0 done');
    // One data subject's request (its reference) alone: the officer's record of what was asked under it.
    const one = (await ferry('erasures', 'list', '--reference', 'DSAR-3')).stdout.trim().split('\n');
    expect(one[0]).toBe(`${rids[2]}  pending (the purge deletes its bytes once the pack's Object Lock allows)`);
    expect(one.at(-1)).toBe('1 erasure request(s) of reference DSAR-3: 1 pending, 0 done');
    expect((await replay(rids[2]!)).status).toBe(410);
  }, 120_000);

  it('`ferry erasures list` of a site with more requests than a page (1,000) lists every one, newest first, each once, also with --json; --limit N stops after the newest N', async () => {
    // 1,100 older requests written straight to the table (as the administrator), besides the two asked for above.
    const OLD = 1100;
    const old = Array.from({ length: OLD }, (_, i): ErasureRecord => ({
      ...{ site: SITE, rid: `r${(0xe0000 + i).toString(16).padStart(23, '0')}`, reason: 'seeded', requestedBy: 'seed', requestedAt: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() },
      ...{ packKey: 'recordings/demo/p.tar', manifestKey: 'manifests/demo/p.json', call: `callId=S-${i}`, status: i % 2 ? 'pending' : 'done' },
    }));
    const { client, doc } = createDynamoClients({ region: cloud.region, endpoint: cloud.dynamoEndpoint, credentials: cloud.credentials });
    try {
      for (let i = 0; i < OLD; i += 25) await doc.send(new BatchWriteCommand({ RequestItems: { [cloud.table]: old.slice(i, i + 25).map((e) => ({ PutRequest: { Item: erasureToItem(e) } })) } }));
    } finally {
      client.destroy();
    }
    const ferry = ferryCli();
    const newestOld = old.map((e) => e.rid).reverse();
    const all = JSON.parse((await ferry('erasures', 'list', '--json')).stdout) as { items: ErasureRecord[]; more?: boolean };
    expect(all.items).toHaveLength(OLD + 2);
    expect(all.more).toBeUndefined();
    // The two asked for today first (newest first), then the seeded ones, newest first.
    expect(all.items.slice(0, 2).map((e) => e.rid).sort()).toEqual([rids[1], rids[2]].sort());
    expect(all.items.slice(2).map((e) => e.rid)).toEqual(newestOld);
    const text = (await ferry('erasures', 'list')).stdout.trim().split('\n');
    expect(text.at(-1)).toBe(`${OLD + 2} erasure request(s): ${OLD / 2 + 2} pending, ${OLD / 2} done`);
    const limited = (await ferry('erasures', 'list', '--limit', '1003')).stdout.trim().split('\n');
    expect(limited.filter((l) => /^r[0-9a-f]{23} {2}/.test(l))).toHaveLength(1003);
    expect(limited.at(-1)).toMatch(/^1003 erasure request\(s\): .* shown, newest first; more follow/);
    const done = JSON.parse((await ferry('erasures', 'list', '--json', '--status', 'done', '--limit', '3')).stdout) as { items: ErasureRecord[]; more?: boolean };
    expect(done).toMatchObject({ more: true, items: old.filter((e) => e.status === 'done').reverse().slice(0, 3).map((e) => ({ rid: e.rid, status: 'done' })) });
    const bad = await api('/erasures?cursor=not-one');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ issues: [{ field: 'cursor' }] });
  }, 180_000);
});
