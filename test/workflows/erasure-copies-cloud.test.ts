import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch } from '../../adapters/sigv4.ts';
import type { Alert } from '../../core/ports.ts';
import { readSmallObject } from '../../core/read-small.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// An erasure of a call shipped twice, on the embedded local cloud: the packs published to the
// bucket and catalogued by the ingest function from its bundle (S3 events), the request made by
// the site's officer through the API, the purge workflow's functions from their bundles, every
// AWS call through the IAM gateway as the functions' own roles. The second shipping (a lost state
// directory, a recorder copied to a new PC) filed its pack under another day than the first.

const SITE = 'demo';
const DAY = 86_400_000;
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
const alerts: Alert[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-erasure-copies-'));
  cloud = await startTestCloud({ directory: dir, fresh: true, sites: [SITE] });
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge: { retentionDays: 3650, keepFullCycles: 2 }, pauseMs: 0, notifier: { notify: async (a) => void alerts.push(a) } });
}, 120_000);

afterAll(async () => {
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const officer = () => cloud.iam!.credentialsOf(`officer:${SITE}`);
const api = (path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}/sites/${SITE}${path}`, { service: 'execute-api', region: cloud.region, credentials: officer(), method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
const statusOf = async (rid: string) => ((await (await api('/erasures')).json()) as { items: { rid: string; status: string }[] }).items.find((e) => e.rid === rid)?.status;
const dayOf = (at: Date) => `${at.toISOString().slice(0, 10)}T00:00:00Z`;

describe('an erasure of a call shipped twice, its packs filed under different days', () => {
  it('deletes both copies: the request stays pending while a pack lists the call, and is done only once neither does', async () => {
    const now = new Date();
    const start = new Date(now.getTime() - 3 * DAY).toISOString();
    const calls = [0, 1, 2].map((i) => ({ path: `batch/call-${i}.wav`, body: audio(40 + i, 1200), meta: { callId: `C-${i}`, start, caller: '+441000000000' } }));
    const first = buildPack(SITE, calls, { seed: 'first shipping', day: dayOf(new Date(now.getTime() - 3 * DAY)), createdAt: now.toISOString() });
    // The same files shipped again two days later: the same recording ids, a pack of that day.
    const again = buildPack(SITE, calls.slice(1), { seed: 'shipped again', day: dayOf(new Date(now.getTime() - DAY)), createdAt: now.toISOString() });
    expect(again.manifestKey.slice(0, again.manifestKey.lastIndexOf('/'))).not.toBe(first.manifestKey.slice(0, first.manifestKey.lastIndexOf('/')));
    await publish(cloud.blobs, first);
    await cloud.drain();
    await publish(cloud.blobs, again);
    await cloud.drain();
    expect(cloud.ingestErrors).toEqual([]);
    const [kept, erased, other] = first.manifest.members.map((m) => m.rid) as [string, string, string];
    // The first copy is the catalogue's.
    expect((await cloud.catalogue.getRecording(SITE, erased))?.packKey).toBe(first.packKey);

    expect((await api('/erasures', 'POST', { rid: erased, reason: 'data subject request', reference: 'DSAR-7' })).status).toBe(201);
    await cloud.advanceClock(31 * DAY); // past the bucket's default Object Lock retention

    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(first.packKey)).toBeUndefined();
    expect(await cloud.blobs.head(again.packKey)).toBeUndefined();
    expect(await cloud.blobs.head(again.manifestKey)).toBeUndefined();
    // Both packs went in this purge: the next one, finding no manifest that lists the call, says it is done.
    expect(await statusOf(erased)).toBe('pending');

    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await statusOf(erased)).toBe('done');
    // The other calls were copied out first and still play from their new packs.
    for (const rid of [kept, other]) {
      const entry = await cloud.catalogue.getRecording(SITE, rid);
      expect(entry, rid).toBeDefined();
      expect(await cloud.blobs.head(entry!.packKey), rid).toBeDefined();
    }
    const left: string[] = [];
    for await (const info of cloud.blobs.list(`manifests/${SITE}/`)) left.push(info.key);
    for (const key of left) {
      const manifest = JSON.parse((await readSmallObject(cloud.blobs, key, 16 * 1024 * 1024, 'manifest')).toString('utf8')) as { members?: { rid: string }[] };
      expect(manifest.members?.map((m) => m.rid) ?? [], key).not.toContain(erased);
    }
  }, 300_000);
});
