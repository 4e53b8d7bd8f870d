import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { recordingId } from '../../core/ids.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobStore, CatalogueEntry } from '../../core/ports.ts';

// A recorder that restarted its numbering writes a new call under an old path. When its audio is
// byte for byte the old call's (an empty call's header-only WAV, a recorded announcement), only
// its sidecar tells the calls apart: both must reach the catalogue, each under its own id.

const HEADER_ONLY = Buffer.from('RIFF$\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0@\x1f\0\0\x80>\0\0\x02\0\x10\0data\0\0\0\0', 'latin1');

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rewritten-'));
  const root = join(dir, 'rec');
  mkdirSync(join(root, '000001'), { recursive: true });
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 1, quietSeconds: 60, settleSeconds: 1 }
`);
  return { dir, root, config };
}

function writeCall(root: string, callId: string, start: string, caller: string, mtime: Date) {
  const wav = join(root, '000001', 'c.wav');
  const json = join(root, '000001', 'c.json');
  writeFileSync(wav, HEADER_ONLY);
  writeFileSync(json, JSON.stringify({ Recording: { CallId: callId, StartTime: start, Duration: 0, Agent: 'agent-1', Caller: caller, Called: '+442080000' } }));
  for (const p of [wav, json]) utimesSync(p, mtime, mtime);
}

async function pass(config: AgentConfig, store: BlobStore, clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

async function manifestKeys(store: BlobStore) {
  const keys: string[] = [];
  for await (const o of store.list('manifests/')) keys.push(o.key);
  return keys;
}

async function ingestNew(store: BlobStore, catalogue: MemoryCatalogue, done: Set<string>) {
  for (const key of await manifestKeys(store)) {
    if (done.has(key)) continue;
    await ingestManifest({ blobs: store, catalogue }, key);
    done.add(key);
  }
}

async function entries(catalogue: MemoryCatalogue): Promise<CatalogueEntry[]> {
  return (await catalogue.searchRecordings({ site: 'site-a', limit: 100 })).items;
}

/** Ships the old call, then (its files deleted) the new call written at its path with the same audio. */
async function twoCallsOnePath() {
  const s = site();
  const store = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const done = new Set<string>();
  const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
  writeCall(s.root, 'old-17', '2026-03-01T09:00:00Z', '+441111', new Date('2026-03-01T09:01:00Z'));
  expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
  await ingestNew(store, catalogue, done);
  rmSync(join(s.root, '000001', 'c.wav'));
  rmSync(join(s.root, '000001', 'c.json'));
  clock.advance(3600_000);
  writeCall(s.root, 'new-1', '2026-03-02T12:30:00Z', '+442222', new Date('2026-03-02T12:31:00Z'));
  clock.advance(600_000);
  expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
  await ingestNew(store, catalogue, done);
  return { s, store, catalogue, done, clock };
}

/** One call (old-17) shipped by an agent at a fresh site and catalogued. */
async function oldCallCatalogued() {
  const s = site();
  const store = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
  writeCall(s.root, 'old-17', '2026-03-01T09:00:00Z', '+441111', new Date('2026-03-01T09:01:00Z'));
  await pass(s.config, store, clock);
  const [first] = await manifestKeys(store);
  const ingested = await ingestManifest({ blobs: store, catalogue }, first!);
  return { s, store, catalogue, clock, first: first!, ingested };
}

describe('a new call written at an old path with the same audio', () => {
  it('is catalogued beside the old call, each under its own id, with its own call id, caller and start', async () => {
    const { s, catalogue } = await twoCallsOnePath();
    try {
      const found = await entries(catalogue);
      expect(found.map((e) => [e.meta.callId, e.meta.caller, e.start]).sort()).toEqual([
        ['new-1', '+442222', '2026-03-02T12:30:00.000Z'],
        ['old-17', '+441111', '2026-03-01T09:00:00.000Z'],
      ]);
      const old = found.find((e) => e.meta.callId === 'old-17')!;
      // The old call keeps the id it was catalogued under (holds, cases and erasures name it).
      expect(old.rid).toBe(recordingId('site-a', '000001/c.wav', old.sha256));
      expect(found.find((e) => e.meta.callId === 'new-1')!.rid).not.toBe(old.rid);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('rebuilds the same catalogue from the manifests, in either order', async () => {
    const { s, store, catalogue } = await twoCallsOnePath();
    try {
      const keys = await manifestKeys(store);
      for (const order of [keys, [...keys].reverse()]) {
        const rebuilt = new MemoryCatalogue();
        for (const key of order) await ingestManifest({ blobs: store, catalogue: rebuilt }, key);
        expect(await entries(rebuilt)).toEqual(await entries(catalogue));
      }
      const rebuilt = new MemoryCatalogue();
      expect(await rebuildCatalogue({ blobs: store, catalogue: rebuilt })).toMatchObject({ ok: 2, recordings: 2, failed: [] });
      expect(await entries(rebuilt)).toEqual(await entries(catalogue));
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('gives the new call the same id when a pass that could not publish it is followed by one that can', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const done = new Set<string>();
    const clock = new ManualClock(new Date('2026-03-02T12:00:00Z'));
    writeCall(s.root, 'old-17', '2026-03-01T09:00:00Z', '+441111', new Date('2026-03-01T09:01:00Z'));
    await pass(s.config, store, clock);
    await ingestNew(store, catalogue, done);
    rmSync(join(s.root, '000001', 'c.wav'));
    rmSync(join(s.root, '000001', 'c.json'));
    writeCall(s.root, 'new-1', '2026-03-02T12:30:00Z', '+442222', new Date('2026-03-02T12:31:00Z'));
    clock.advance(3600_000);
    // The pack goes up, its manifest does not: the call is shipped again by the next pass.
    const refusing: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: (key: string, ...rest: unknown[]) => (key.startsWith('manifests/') ? Promise.reject(new Error('connection reset')) : (store.put as (...a: unknown[]) => Promise<unknown>).call(store, key, ...rest)),
    });
    expect(await pass(s.config, refusing, clock)).toMatchObject({ packs: 0 });
    clock.advance(600_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
    await ingestNew(store, catalogue, done);
    const found = await entries(catalogue);
    expect(found.map((e) => e.meta.callId).sort()).toEqual(['new-1', 'old-17']);
    const other = await twoCallsOnePath();
    try {
      // The same call, shipped by another agent in one go: the same id.
      expect(found.find((e) => e.meta.callId === 'new-1')!.rid).toBe((await entries(other.catalogue)).find((e) => e.meta.callId === 'new-1')!.rid);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
      rmSync(other.s.dir, { recursive: true, force: true });
    }
  });

  it('lands a reship of the new call (its state directory lost) on the same entry', async () => {
    const { s, store, catalogue, done, clock } = await twoCallsOnePath();
    try {
      const before = await entries(catalogue);
      rmSync(join(s.dir, 'state'), { recursive: true, force: true });
      clock.advance(600_000);
      await pass(s.config, store, clock);
      await ingestNew(store, catalogue, done);
      expect(await entries(catalogue)).toEqual(before);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it("names the new call, with both calls' metadata, in ingest's result and the old call's issues when its agent had lost its state directory", async () => {
    const { s, store, catalogue, clock, first, ingested } = await oldCallCatalogued();
    expect(ingested.collisions).toBeUndefined();
    // The agent's state directory is lost: it cannot know the name shipped before.
    rmSync(join(s.dir, 'state'), { recursive: true, force: true });
    rmSync(join(s.root, '000001', 'c.wav'));
    rmSync(join(s.root, '000001', 'c.json'));
    writeCall(s.root, 'new-1', '2026-03-02T12:30:00Z', '+442222', new Date('2026-03-02T12:31:00Z'));
    clock.advance(3600_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
    const second = (await manifestKeys(store)).find((k) => k !== first)!;
    try {
      const result = await ingestManifest({ blobs: store, catalogue }, second);
      expect(result).toMatchObject({ recordings: 0, alreadyCatalogued: 1 });
      expect(result.collisions).toEqual([
        expect.objectContaining({
          path: '000001/c.wav',
          kind: 'merged',
          catalogued: expect.objectContaining({ callId: 'old-17', caller: '+441111', start: '2026-03-01T09:00:00.000Z', manifestKey: first }),
          shipped: expect.objectContaining({ callId: 'new-1', caller: '+442222', start: '2026-03-02T12:30:00.000Z', manifestKey: second }),
        }),
      ]);
      const [old] = await entries(catalogue);
      expect(old?.issues?.join('\n')).toContain('another call with the same audio at this path (call id new-1, start 2026-03-02T12:30:00.000Z, caller +442222');
      // Ingesting it again names it again, and adds no second issue.
      expect((await ingestManifest({ blobs: store, catalogue }, second)).collisions).toHaveLength(1);
      expect((await entries(catalogue))[0]?.issues).toEqual(old?.issues);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('names nothing when the very same call and sidecar is shipped again by an agent that lost its state directory', async () => {
    const { s, store, catalogue, clock } = await oldCallCatalogued();
    const before = await entries(catalogue);
    rmSync(join(s.dir, 'state'), { recursive: true, force: true });
    // Copied without its file times (a new PC, no state directory): sent again whole, in a new pack.
    const copied = new Date('2026-03-02T12:10:00Z');
    for (const f of ['c.wav', 'c.json']) utimesSync(join(s.root, '000001', f), copied, copied);
    clock.advance(3600_000);
    try {
      expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
      const results = [];
      for (const key of await manifestKeys(store)) results.push(await ingestManifest({ blobs: store, catalogue }, key));
      expect(results.map((r) => r.alreadyCatalogued ?? 0)).toEqual([0, 1]);
      expect(results.flatMap((r) => r.collisions ?? [])).toEqual([]);
      expect(await entries(catalogue)).toEqual(before);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('names nothing when the new call, catalogued under its own id, is sent again by an agent that lost its state directory', async () => {
    const { s, store, catalogue, done, clock } = await twoCallsOnePath();
    try {
      const before = await entries(catalogue);
      rmSync(join(s.dir, 'state'), { recursive: true, force: true });
      // Copied without its file times: sent again whole, under the old call's id (nothing tells the agent otherwise).
      const copied = new Date(clock.now().getTime() - 120_000);
      for (const f of ['c.wav', 'c.json']) utimesSync(join(s.root, '000001', f), copied, copied);
      expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 1 });
      const key = (await manifestKeys(store)).find((k) => !done.has(k))!;
      const result = await ingestManifest({ blobs: store, catalogue }, key);
      expect(result).toMatchObject({ recordings: 0, alreadyCatalogued: 1 });
      expect(result.collisions).toBeUndefined();
      expect(await entries(catalogue)).toEqual(before);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});
