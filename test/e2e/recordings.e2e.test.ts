import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';
import { generateBatches, type GeneratedRecording } from '../../scripts/demo/site.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { buildAgent } from '../../cli/build-agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { collectPages } from '../../core/paging.ts';
import { apiGet, replayGet } from '../support/signed.ts';

// End to end on the embedded local cloud, through the real AWS SDK, real HTTP and real files:
// ship 1,000 recordings, let the recorder evict them all, then find each one by every
// criterion and replay it byte-identical, Range requests included.

let cloud: LocalCloud;
let dir: string;
let recordings: GeneratedRecording[];
const originals = new Map<string, Buffer>();

async function search(params: Record<string, string>): Promise<CatalogueEntry[]> {
  return collectPages(async (cursor) => {
    const q = new URLSearchParams({ ...params, limit: '37', ...(cursor ? { cursor } : {}) });
    const res = await apiGet(`${cloud.apiUrl}/sites/e2e/recordings?${q}`, { credentials: cloud.credentials });
    expect(res.status).toBe(200);
    return (await res.json()) as { items: CatalogueEntry[]; cursor?: string };
  });
}

const ids = (entries: { rid: string }[]) => entries.map((e) => e.rid).sort();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  // With the IAM gateway: the agent signs as site e2e's agent role, ingest and the catalogue API as theirs.
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['e2e'] });
  const agentKey = cloud.iam!.credentialsOf('agent:e2e');
  const root = join(dir, 'recorder');
  recordings = await generateBatches({ root, firstBatch: 1, batches: 10, perBatch: 100, seconds: 1.875, start: new Date('2024-03-01T08:00:00Z'), seed: 42, sidecar: 'xml' });
  for (const r of recordings) originals.set(r.metadata.callId, readFileSync(join(root, r.relativePath)));
  const config = parseAgentConfig(`
site: e2e
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}, credentials: { accessKeyId: ${agentKey.accessKeyId}, secretAccessKey: "${agentKey.secretAccessKey}" } }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
  const agent = buildAgent(config, { log: silentLogger });
  const report = await agent.cycle();
  agent.close();
  expect(report).toMatchObject({ packs: 10, recordings: 1000, failed: 0 });
  await cloud.drain();
  // The recorder needs the room: every batch is deleted from its disk.
  rmSync(root, { recursive: true });
}, 180_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('recordings end to end on the local cloud', () => {
  it('catalogues every recording exactly once, with no ingest error', async () => {
    expect(cloud.ingestErrors).toEqual([]);
    const all = await search({ from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z' });
    expect(all).toHaveLength(1000);
    expect(new Set(all.map((e) => e.rid)).size).toBe(1000);
  });

  it('finds each call by call id and replays it byte-identical although the recorder deleted it', async () => {
    // Four players at a time, as officers would: each call is still found and replayed on its own.
    const queue = [...recordings];
    let replayed = 0;
    const player = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        const [entry, ...rest] = await search({ callId: r.metadata.callId });
        expect(rest).toEqual([]);
        const res = await replayGet(`${cloud.replayUrl}/sites/e2e/recordings/${entry!.rid}/audio`, { credentials: cloud.credentials });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('audio/wav');
        const body = Buffer.from(await res.arrayBuffer());
        expect(body.equals(originals.get(r.metadata.callId)!)).toBe(true);
        replayed++;
      }
    };
    await Promise.all([player(), player(), player(), player()]);
    expect(replayed).toBe(1000);
  }, 240_000);

  it('searches by agent, by number (caller or called) and by time range, paginated', async () => {
    const agent = recordings[0]!.metadata.agent;
    expect(ids(await search({ agent }))).toEqual(ids(await Promise.all(recordings.filter((r) => r.metadata.agent === agent).map(async (r) => (await search({ callId: r.metadata.callId }))[0]!))));
    const number = recordings[3]!.metadata.caller;
    const byNumber = await search({ number });
    const expected = recordings.filter((r) => r.metadata.caller === number || r.metadata.called === number).map((r) => r.metadata.callId).sort();
    expect(byNumber.map((e) => e.meta.callId).sort()).toEqual(expected);
    expect(expected.length).toBeGreaterThan(1);
    const sorted = [...recordings].sort((a, b) => a.metadata.start.localeCompare(b.metadata.start));
    const from = new Date(sorted[100]!.metadata.start).toISOString();
    const to = new Date(sorted[349]!.metadata.start).toISOString();
    const inRange = await search({ from, to });
    const want = recordings.filter((r) => { const t = new Date(r.metadata.start).getTime(); return t >= Date.parse(from) && t <= Date.parse(to); });
    expect(inRange.map((e) => e.meta.callId).sort()).toEqual(want.map((r) => r.metadata.callId).sort());
    expect(inRange.length).toBeGreaterThanOrEqual(250);
  });

  it('serves Range requests (206, suffix, open-ended) and refuses unsatisfiable ones (416)', async () => {
    const r = recordings[17]!;
    const original = originals.get(r.metadata.callId)!;
    const [entry] = await search({ callId: r.metadata.callId });
    const url = `${cloud.replayUrl}/sites/e2e/recordings/${entry!.rid}/audio`;
    const cases: [string, Buffer][] = [
      ['bytes=0-43', original.subarray(0, 44)],
      ['bytes=1000-1999', original.subarray(1000, 2000)],
      ['bytes=-100', original.subarray(original.length - 100)],
      [`bytes=${original.length - 10}-`, original.subarray(original.length - 10)],
    ];
    for (const [range, want] of cases) {
      const res = await replayGet(url, { headers: { range }, credentials: cloud.credentials });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range')).toMatch(new RegExp(`^bytes \\d+-\\d+/${original.length}$`));
      expect(Buffer.from(await res.arrayBuffer()).equals(want), range).toBe(true);
    }
    const bad = await replayGet(url, { headers: { range: `bytes=${original.length}-` }, credentials: cloud.credentials });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${original.length}`);
    const head = await replayGet(url, { method: 'HEAD', credentials: cloud.credentials });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(original.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
  });

  it('rebuilds the catalogue from the manifests alone', async () => {
    const fresh = new MemoryCatalogue();
    const report = await rebuildCatalogue({ blobs: cloud.blobs, catalogue: fresh });
    expect(report).toMatchObject({ ok: 10, recordings: 1000, failed: [] });
    const r = recordings[500]!;
    const page = await fresh.searchRecordings({ site: 'e2e', callId: r.metadata.callId });
    expect(page.items[0]?.sha256).toBe(createHash('sha256').update(originals.get(r.metadata.callId)!).digest('hex'));
  });
});
