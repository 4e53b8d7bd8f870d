import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { parseTreeSnapshotManifest, treeEntrySchema, type SnapshotSummary } from '../../core/tree-manifest.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import type { PrincipalName } from '../../local/iam-gateway/deployment.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { sitePurgeSchema } from '../../core/workflow-config.ts';
import { startLocalOrchestration } from '../../local/orchestration.ts';
import type { Alert } from '../../core/ports.ts';
import { apiGet } from '../support/signed.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// Tree snapshots through the IAM gateway, every step on the role the CDK app gives it: site-a's
// agent publishes packs, index and manifest; ingest (its own role) catalogues the snapshot; the
// API lists it; site-a's DR role lists and reads the manifest, index and packs and restores
// every file byte for byte, and is refused site-b's; the purge (its own role) forgets a snapshot
// the site's trees policy does not keep.

const dirs: string[] = [];
let cloud: LocalCloud;

const storeAs = (principal: PrincipalName) =>
  new S3BlobStore(createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials: cloud.iam!.credentialsOf(principal) }), cloud.bucket, {
    features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true },
  });

async function readAll(blobs: Pick<BlobStore, 'get'>, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const { body } = await blobs.get(key, range);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

let published: Awaited<ReturnType<typeof publishSnapshot>>;
let foreign: Awaited<ReturnType<typeof publishSnapshot>>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-iam-trees-'));
  dirs.push(dir);
  const sites = ['site-a', 'site-b'];
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, iam: { sites, snapshot: await synthesizeDeployment(sites) } });
  const at = new Date('2026-03-01T22:00:00.000Z');
  const agentA = storeAs('agent:site-a');
  const pack = await publishTreePack(agentA, 'site-a', 'share', at, ['meeting content', 'address book']);
  published = await publishSnapshot(agentA, { site: 'site-a', source: 'share', takenAt: at.toISOString(), packs: [pack] });
  const agentB = storeAs('agent:site-b');
  const packB = await publishTreePack(agentB, 'site-b', 'share', at, ['site b only']);
  foreign = await publishSnapshot(agentB, { site: 'site-b', source: 'share', takenAt: at.toISOString(), packs: [packB] });
  await cloud.drain();
}, 180_000);

afterAll(async () => {
  await cloud?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('tree snapshots through the IAM gateway', () => {
  it('the agent publishes a snapshot, ingest catalogues it on its own role, and the API lists it', async () => {
    expect(cloud.ingestErrors).toEqual([]);
    const res = await apiGet(`${cloud.apiUrl}/sites/site-a/snapshots?source=share&at=2026-03-02T00:00:00Z&limit=1`, { credentials: cloud.credentials });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: SnapshotSummary[] };
    expect(items).toEqual([expect.objectContaining({ snapshotId: published.manifest.snapshotId, manifestKey: published.manifestKey, files: 2, packs: 1 })]);
  });

  it("site-a's DR role lists and reads the manifest, index and packs and restores every file exactly; site-b's are refused", async () => {
    const dr = storeAs('dr:site-a');
    const manifests: string[] = [];
    for await (const o of dr.list('manifests/site-a/trees/share/')) manifests.push(o.key);
    expect(manifests).toEqual([published.manifestKey]);
    const m = parseTreeSnapshotManifest(await readAll(dr, published.manifestKey));
    const lines = gunzipSync(await readAll(dr, m.index.key)).toString('utf8').trim().split('\n').slice(1);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const e = treeEntrySchema.parse(JSON.parse(line));
      const bytes = await readAll(dr, m.packs[e.pack!]!.key, { start: e.offset!, end: e.offset! + e.size - 1 });
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(e.sha256);
    }
    await expect(readAll(dr, foreign.manifestKey)).rejects.toThrow(/AccessDenied|not authorized|denied/i);
    await expect(readAll(dr, foreign.manifest.packs[0]!.key)).rejects.toThrow(/AccessDenied|not authorized|denied/i);
  });

  it('the purge, on its own role, forgets the snapshot a newer one replaces and deletes what only it listed', async () => {
    const agentA = storeAs('agent:site-a');
    const at = new Date('2026-03-02T22:00:00.000Z');
    const pack = await publishTreePack(agentA, 'site-a', 'share', at, ['meeting content v2']);
    const newer = await publishSnapshot(agentA, { site: 'site-a', source: 'share', takenAt: at.toISOString(), packs: [pack] });
    await cloud.drain();
    // Just written, every version is under the bucket's default Object Lock retention (30 days),
    // which the purge's versioned deletes respect as on S3: let it run out first.
    await cloud.advanceClock(31 * 24 * 3600 * 1000);
    const purge = sitePurgeSchema.parse({ retentionDays: 3650, trees: { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 } });
    const alerts: Alert[] = [];
    const orchestration = await startLocalOrchestration({ cloud, site: 'site-a', purge, definitions: renderWorkflowDefinitions({ site: 'site-a', purge }), pauseMs: 0, notifier: { notify: async (a) => void alerts.push(a) } });
    try {
      const outcome = await orchestration.workflows.runPurge().done;
      expect(outcome.status).toBe('SUCCEEDED');
    } finally {
      await orchestration.stop();
    }
    expect(alerts[0]?.message).toMatch(/tree snapshots: 1 forgotten, 1 kept; 1 pack\(s\) no kept snapshot lists/);
    expect(alerts[0]).toMatchObject({ severity: 'info', subject: 'Ferry site-a: purge done - 3 object(s) deleted' });
    for (const key of [published.manifestKey, published.manifest.index.key, published.manifest.packs[0]!.key]) expect(await cloud.blobs.head(key), key).toBeUndefined();
    expect(await cloud.blobs.head(newer.manifestKey)).toBeDefined();
    const res = await apiGet(`${cloud.apiUrl}/sites/site-a/snapshots?source=share`, { credentials: cloud.credentials });
    expect(((await res.json()) as { items: SnapshotSummary[] }).items.map((s) => s.snapshotId)).toEqual([newer.manifest.snapshotId]);
  }, 180_000);
});
