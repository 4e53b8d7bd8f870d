import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, ListObjectVersionsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { signedFetch } from '../../adapters/sigv4.ts';
import type { PolicyDocument } from '../../infra/policy-eval.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { loadLocalDeployment } from '../../local/iam-gateway/deployment.ts';
import { startLocalOrchestration, type LocalOrchestration } from '../../local/orchestration.ts';
import { deploymentFor, startTestCloud } from '../support/local-cloud.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// An erasure with a DR replica (`replication`), on the embedded local cloud: a deployment
// synthesized with replication (the purge function told the DR bucket, granted what it needs
// there), the DR bucket a second versioned bucket of the S3 stand-in under the same Object Lock,
// the replicas put by the test as S3 replication would (same keys: the stand-in does not
// replicate). The request made by the site's officer through the API, the purge workflow's
// functions from their bundles, every AWS call through the IAM gateway as the functions' roles.

const SITE = 'demo';
const DR = 'ferry-dr-copy';
const REPLICATION = { destinationBucketArn: `arn:aws:s3:::${DR}`, kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/abcd-1234' };
const DAY = 86_400_000;
let dir: string;
let cloud: LocalCloud;
let orchestration: LocalOrchestration;
let admin: S3Client;
let replica: S3BlobStore;
let purgeGrants: PolicyDocument[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-erasure-replica-'));
  const snapshot = await deploymentFor([SITE], { replication: REPLICATION });
  cloud = await startTestCloud({ directory: dir, fresh: true, sites: [SITE], settings: { replication: REPLICATION }, drBucket: DR });
  orchestration = await startLocalOrchestration({ cloud, site: SITE, purge: { retentionDays: 3650, keepFullCycles: 2 }, pauseMs: 0, snapshot, notifier: { notify: async () => undefined } });
  // The stand-in's own key: what S3 replication (its role) writes, and what the test looks at.
  admin = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
  replica = new S3BlobStore(admin, DR, { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
  purgeGrants = loadLocalDeployment({ sites: [SITE], snapshot }).principals.get('function:purge')!.policies;
}, 180_000);

afterAll(async () => {
  await orchestration?.stop();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const officer = () => cloud.iam!.credentialsOf(`officer:${SITE}`);
const api = (path: string, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
  signedFetch(`${cloud.apiUrl}/sites/${SITE}${path}`, { service: 'execute-api', region: cloud.region, credentials: officer(), method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
const requestOf = async (rid: string) => ((await (await api('/erasures')).json()) as { items: { rid: string; status: string; waiting?: string }[] }).items.find((e) => e.rid === rid);

/** Every version (and delete marker) in the DR bucket, as `key` per version. */
async function drVersions(): Promise<string[]> {
  const out: string[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  do {
    const page = await admin.send(new ListObjectVersionsCommand({ Bucket: DR, KeyMarker, VersionIdMarker }));
    for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) out.push(v.Key!);
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    VersionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (KeyMarker);
  return out.sort();
}

/** Ships a batch of three calls and replicates the bucket's new objects to the DR bucket, under the same keys. */
async function shipAndReplicate(seed: string) {
  const now = new Date();
  const calls = [0, 1, 2].map((i) => ({ path: `${seed}/call-${i}.wav`, body: audio(60 + i + seed.length, 1200), meta: { callId: `${seed}-${i}`, start: new Date(now.getTime() - DAY).toISOString(), caller: '+441000000000' } }));
  const pack = buildPack(SITE, calls, { seed, day: `${new Date(now.getTime() - DAY).toISOString().slice(0, 10)}T00:00:00Z`, createdAt: now.toISOString() });
  await publish(cloud.blobs, pack);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
  for (const key of [pack.packKey, pack.manifestKey]) {
    const { body } = await cloud.blobs.get(key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
    await replica.put(key, Buffer.concat(chunks));
  }
  return { pack, erased: pack.manifest.members[1]!.rid };
}

describe('an erasure with a DR replica (replication), through the deployed purge', () => {
  it("deletes the erased call's old pack and manifest in both buckets, every version, and nothing else in the DR bucket; the request is done", async () => {
    const { pack, erased } = await shipAndReplicate('replicated');
    const kept = await shipAndReplicate('not erased');
    // A key the pack's key is a prefix of: an exact-key deletion leaves it.
    await replica.put(`${pack.packKey}.note`, Buffer.from('not a pack'));
    // More than one version of each key there: the pack behind a delete marker and written again (the
    // stand-in keeps an overwritten version only behind a marker), the manifest behind a delete marker.
    await admin.send(new DeleteObjectCommand({ Bucket: DR, Key: pack.packKey }));
    await admin.send(new PutObjectCommand({ Bucket: DR, Key: pack.packKey, Body: pack.pack, ContentMD5: createHash('md5').update(pack.pack).digest('base64') }));
    await admin.send(new DeleteObjectCommand({ Bucket: DR, Key: pack.manifestKey }));
    const before = await drVersions();
    expect(before).toEqual(expect.arrayContaining([pack.packKey, pack.manifestKey, kept.pack.packKey, `${pack.packKey}.note`]));
    expect(before.filter((key) => key === pack.packKey)).toHaveLength(3);
    expect(before.filter((key) => key === pack.manifestKey)).toHaveLength(2);

    expect((await api('/erasures', 'POST', { rid: erased, reason: 'data subject request', reference: 'DSAR-11' })).status).toBe(201);
    await cloud.advanceClock(31 * DAY); // past the buckets' default Object Lock retention (replicas keep their source's)
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');

    expect(await cloud.blobs.head(pack.packKey)).toBeUndefined();
    expect(await cloud.blobs.head(pack.manifestKey)).toBeUndefined();
    expect(await drVersions()).toEqual(before.filter((key) => key !== pack.packKey && key !== pack.manifestKey));
    expect(await requestOf(erased)).toMatchObject({ status: 'done' });
  }, 300_000);

  it('keeps both copies and the request pending, naming the DR bucket and its refusal, while the DR bucket refuses the purge; done once it allows and both are gone', async () => {
    const { pack, erased } = await shipAndReplicate('refused');
    expect((await api('/erasures', 'POST', { rid: erased, reason: 'data subject request', reference: 'DSAR-12' })).status).toBe(201);
    await cloud.advanceClock(31 * DAY);
    // As a DR bucket in another account whose bucket policy does not name the purge's role: S3 answers AccessDenied.
    const refused = purgeGrants.map((p): PolicyDocument => ({ ...p, Statement: [p.Statement].flat().filter((st) => st.Sid !== 'ListErasedInReplica' && st.Sid !== 'DeleteErasedInReplica') }));
    cloud.iam!.revisePolicies({ principal: 'function:purge', policies: refused });
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(pack.packKey)).toBeDefined();
    expect(await replica.head(pack.packKey)).toBeDefined();
    const pending = await requestOf(erased);
    expect(pending?.status).toBe('pending');
    expect(pending?.waiting).toMatch(new RegExp(`its copy in the DR bucket ${DR} could not be deleted: ${pack.packKey} \\(.*AccessDenied`));

    cloud.iam!.revisePolicies({ principal: 'function:purge', policies: purgeGrants });
    expect((await orchestration.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await cloud.blobs.head(pack.packKey)).toBeUndefined();
    const left = await drVersions();
    expect(left).not.toContain(pack.packKey);
    expect(left).not.toContain(pack.manifestKey);
    expect(await requestOf(erased)).toMatchObject({ status: 'done' });
  }, 300_000);
});
