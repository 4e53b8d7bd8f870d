// The agent's publish path through a fault-injecting proxy in front of the local S3 stand-in,
// with the real SDK and write-once rules (If-None-Match: * answered 412 as AWS does).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseManifest, type PackManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { FAULT_KINDS, startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../support/fault-proxy.ts';
import { writeTree } from '../support/recorder-tree.ts';

const STAND_IN = { verifiesChecksums: false, conditionalPut: true, md5ETags: true };

interface Rig {
  dir: string;
  root: string;
  s3: LocalS3;
  proxy: FaultProxy;
  /** Through the proxy: what the agent uses. */
  store: S3BlobStore;
  /** Straight to the stand-in: what the test inspects. */
  direct: S3BlobStore;
  alerts: Alert[];
  agent(perBatch: number): Agent;
  stop(): Promise<void>;
}

async function rig(proxyOptions: Omit<FaultProxyOptions, 'target'>): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-write-path-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  // The S3 stand-in alone, not the local cloud with its IAM gateway: this exercises the publish
  // path against a store that would let the agent list open uploads (the stand-in's own key). The
  // agent does not (its role on AWS may not: no s3:ListBucketMultipartUploads): a lost create's
  // stray is left to the bucket lifecycle, as test/e2e/crash.e2e.test.ts shows through the gateway.
  // A store that checks no checksum is an S3-compatible store, whose bucket has no Object Lock
  // either (S3 refuses a write under Object Lock without a digest): a plain bucket then.
  const plain = proxyOptions.storeIgnoresChecksums === true;
  const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: plain ? [] : ['ferry-data'], plainBuckets: plain ? ['ferry-data'] : [] });
  const proxy = await startFaultProxy({ target: s3.endpoint, ...proxyOptions });
  const client = createS3Client({ endpoint: proxy.endpoint, credentials: s3.credentials, maxAttempts: 4 });
  const directClient = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
  const alerts: Alert[] = [];
  const agents: Agent[] = [];
  const store = new S3BlobStore(client, 'ferry-data', { features: STAND_IN });
  return {
    dir,
    root,
    s3,
    proxy,
    store,
    direct: new S3BlobStore(directClient, 'ferry-data', { features: STAND_IN }),
    alerts,
    agent(perBatch) {
      const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 4 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: ${perBatch}, quietSeconds: 60, settleSeconds: 1 }
`);
      const notifier = { notify: async (a: Alert) => void alerts.push(a) };
      const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier, verify: 'etag', retryDelayMs: () => 5 });
      agents.push(agent);
      return agent;
    },
    async stop() {
      for (const a of agents) a.close();
      client.destroy();
      directClient.destroy();
      await proxy.close();
      await s3.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function manifests(store: BlobStore): Promise<PackManifest[]> {
  const out = [];
  for await (const o of store.list('manifests/')) out.push(parseManifest(await readAll(store, o.key)));
  return out;
}

async function openUploads(store: BlobStore): Promise<string[]> {
  const out = [];
  for await (const u of store.listMultipart('')) out.push(u.key);
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('publishing through a faulty link under write-once rules', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.stop();
    r = undefined;
  });

  describe('one multipart pack', () => {
    beforeEach(async () => {
      r = await rig({ seed: 1, storeIgnoresChecksums: true });
      writeTree(r.root, 1, 10, { size: 600_000 }); // 6 MB: two 5 MiB parts
    });

    it('publishes the pack once after a lost CreateMultipartUpload answer, without listing open uploads: the stray is left to the bucket lifecycle', async () => {
      const { proxy, direct } = r!;
      proxy.script('reset-after', (q) => q.operation === 'createMultipart');
      const report = await r!.agent(10).cycle();
      expect(proxy.counts.createMultipart).toBe(2); // the store created two uploads
      expect(report).toMatchObject({ packs: 1, failed: 0 });
      expect(proxy.counts.listMultipart).toBe(0);
      expect(await openUploads(direct)).toHaveLength(1);
      expect(r!.alerts).toEqual([]);
    });

    it('recognises a completed upload after a lost CompleteMultipartUpload answer: no alert, no second upload', async () => {
      const { proxy, direct } = r!;
      proxy.script('reset-after', (q) => q.operation === 'completeMultipart');
      const report = await r!.agent(10).cycle();
      expect(report).toMatchObject({ packs: 1, failed: 0 });
      expect(r!.alerts).toEqual([]);
      expect(proxy.counts.createMultipart).toBe(1);
      expect(proxy.counts.uploadPart).toBe(2);
      const [m] = await manifests(direct);
      expect(m!.packKey).toMatch(/\/p[0-9a-f]{23}\.tar$/);
      expect(sha256(await readAll(direct, m!.packKey))).toBe(m!.pack.sha256);
      expect(await openUploads(direct)).toEqual([]);
    });

    it('sends again a part the store kept torn (its ETag is not the MD5 sent), so the pack is whole at its first key', async () => {
      const { proxy, direct } = r!;
      proxy.script('torn-body', (q) => q.operation === 'uploadPart');
      const report = await r!.agent(10).cycle();
      expect(report).toMatchObject({ packs: 1, failed: 0 });
      expect(proxy.counts.uploadPart).toBe(3);
      const [m] = await manifests(direct);
      expect(m!.superseded).toBeUndefined();
      expect(sha256(await readAll(direct, m!.packKey))).toBe(m!.pack.sha256);
    });
  });

  it('commits a one-PUT pack with two requests in etag mode: the manifest PUT\'s answer stands for its read-back', async () => {
    r = await rig({ seed: 3, storeIgnoresChecksums: true });
    writeTree(r.root, 2, 10);
    const report = await r.agent(10).cycle();
    expect(report).toMatchObject({ packs: 2, failed: 0 });
    // Two PUTs a pack (the pack, its manifest) and the pass's heartbeat with its copy of the day
    // (the agent's first heartbeat of a UTC day, kept longer); no HEAD and no GET for the packs.
    // The heartbeat lists the site's heartbeats first (one request: none is there yet) and its
    // refused agents' records (one: an old primary refused after a failover, none here), and the
    // new state directory asks once whether an agent ran as the site before (one listing).
    expect(r.proxy.counts).toMatchObject({ put: 6, uploadPart: 0, other: 3 });
    const ms = await manifests(r.direct);
    expect(ms).toHaveLength(2);
    for (const m of ms) expect(sha256(await readAll(r.direct, m.packKey))).toBe(m.pack.sha256);
    expect(r.alerts).toEqual([]);
  });

  it('refuses a manifest the store kept torn in etag mode (its answer is not the MD5 sent): the batch is not counted published and an alert is raised', async () => {
    r = await rig({ seed: 4, storeIgnoresChecksums: true });
    writeTree(r.root, 1, 10);
    r.proxy.script('torn-body', (q) => q.operation === 'put' && q.path.includes('/manifests/'));
    const agent = r.agent(10);
    const report = await agent.cycle();
    expect(r.proxy.injected.map((f) => f.kind)).toEqual(['torn-body']);
    // Its answer named the MD5 of other bytes: read back, refused, never counted (the store keeps
    // the torn object, write-once; the batch stays in the backlog and the alert says so).
    expect(report).toMatchObject({ packs: 0, failed: 1 });
    expect(agent.journal.totals.recordings).toBe(0);
    expect(r.alerts.map((a) => a.subject)).toEqual(['cs: batch 000001 could not be shipped']);
  });

  it('ships a pack whose single PUT the store kept torn again under a new key, named by the manifest with the dead one listed', async () => {
    r = await rig({ seed: 2, storeIgnoresChecksums: true });
    writeTree(r.root, 1, 10);
    r.proxy.script('torn-body', (q) => q.operation === 'put' && q.path.endsWith('.tar'));
    const report = await r.agent(10).cycle();
    expect(report).toMatchObject({ packs: 1, failed: 0 });
    const [m] = await manifests(r.direct);
    expect(m!.packKey).toMatch(/\/p[0-9a-f]{23}-1\.tar$/);
    expect(m!.superseded).toEqual([m!.packKey.replace(/-1\.tar$/, '.tar')]);
    expect(sha256(await readAll(r.direct, m!.packKey))).toBe(m!.pack.sha256);
    const catalogue = new MemoryCatalogue();
    for await (const o of r.direct.list('manifests/')) await ingestManifest({ blobs: r.direct, catalogue }, o.key);
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items.map((e) => e.packKey)).toEqual(Array(10).fill(m!.packKey));
  });

  it('catalogues 200 recordings exactly once through 10 % faults, with no damaged pack named, no upload left open but the strays of lost create answers (the lifecycle ends them) and no alert', async () => {
    r = await rig({ seed: 20261202, rate: 0.1, checkContentMd5: true });
    // Besides the random ones, each kind of fault at least once where it hurts most.
    r.proxy.script('reset-after', (q) => q.operation === 'createMultipart');
    r.proxy.script('reset-after', (q) => q.operation === 'completeMultipart');
    r.proxy.script('torn-body', (q) => q.operation === 'uploadPart');
    r.proxy.script('torn-body', (q) => q.operation === 'put' && q.path.includes('/manifests/'));
    r.proxy.script('reset-before', (q) => q.operation === 'uploadPart');
    r.proxy.script('error-500', (q) => q.operation === 'completeMultipart');
    r.proxy.script('slow-down-503', (q) => q.operation === 'put');
    const recs = writeTree(r.root, 10, 20, { size: 300_000 }); // 6 MB packs: multipart
    const agent = r.agent(20);
    let passes = 0;
    for (; passes < 3 && agent.journal.totals.recordings < recs.length; passes++) await agent.cycle();
    r.proxy.setRate(0);
    expect([...new Set(r.proxy.injected.map((f) => f.kind))]).toEqual(expect.arrayContaining([...FAULT_KINDS, 'bad-digest-400']));
    expect(agent.journal.totals.recordings).toBe(200);

    const ms = await manifests(r.direct);
    const rids = ms.flatMap((m) => m.members.map((x) => x.rid));
    expect(rids).toHaveLength(200);
    expect(new Set(rids).size).toBe(200);
    for (const m of ms) expect(sha256(await readAll(r.direct, m.packKey))).toBe(m.pack.sha256);
    const catalogue = new MemoryCatalogue();
    for await (const o of r.direct.list('manifests/')) await ingestManifest({ blobs: r.direct, catalogue }, o.key);
    for (const rec of recs) expect((await catalogue.searchRecordings({ site: 'site-a', callId: rec.callId })).items).toHaveLength(1);
    const lostCreates = r.proxy.injected.filter((f) => f.operation === 'createMultipart' && f.kind === 'reset-after').map((f) => f.path);
    const open = await openUploads(r.direct);
    expect(open.length).toBeLessThanOrEqual(lostCreates.length);
    for (const key of open) expect(lostCreates.some((path) => path.includes(key))).toBe(true);
    expect(r.proxy.counts.listMultipart).toBe(0);
    expect(r.alerts).toEqual([]);
  }, 120_000);
});
