import { describe, it, expect, beforeEach } from 'vitest';
import { rmSync } from 'node:fs';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import type { AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { artefactSite } from '../support/artefact-agent.ts';

// A pack the journal never saw begin goes straight to its first attempt's key, without the
// manifest's HEAD and the listing of earlier attempts (agent/pack-attempts.ts). These tests
// hold that to its two sides: the requests saved, and a lost state directory, whose earlier
// attempts the store's refusal to replace an object must then reveal (no duplicate, nothing torn
// published, nothing overwritten).

const RECORDINGS = '  - { name: cs, type: recordings, path: {root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }';
const setup = () => artefactSite(RECORDINGS, '{ partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 3 }');

function makeAgent(config: AgentConfig, store: BlobStore, alerts: Alert[] = []) {
  return new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1 });
}

/** Every call the agent makes to the store about packs and manifests, as `method key`, passed through. */
function recording(store: BlobStore) {
  const calls: string[] = [];
  const spy = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (/^(recordings|manifests)\//.test(String(args[0]))) calls.push(`${String(name)} ${String(args[0])}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { spy, calls };
}

/**
 * Deletes the state directory and runs the agent again with one attempt a pack: what it does not
 * settle within that attempt shows as a failure. Every batch must count as sent (`sent`) or found
 * already offsite (`found`, not counted as sent), with no alert.
 */
async function shipAfterLosingState(config: AgentConfig, store: BlobStore, packs: { sent: number; found: number }): Promise<void> {
  rmSync(config.state, { recursive: true });
  const alerts: Alert[] = [];
  const again = makeAgent({ ...config, shipping: { ...config.shipping, attempts: 1 } }, store, alerts);
  const report = await again.cycle();
  expect(report).toMatchObject({ packs: packs.sent, failed: 0 });
  expect(report.found?.packs ?? 0).toBe(packs.found);
  again.close();
  expect(alerts).toEqual([]);
}

async function manifestsByKey(store: BlobStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list('manifests/')) out.set(o.key, (await readAll(store, o.key)).toString('utf8'));
  return out;
}

/** One batch committed under its second attempt: the first attempt's PUT was kept torn (its answer's ETag not the MD5 sent). */
async function committedUnderSecondAttempt(config: AgentConfig, store: BlobStore): Promise<void> {
  const first = makeAgent(config, new FaultyBlobStore(store).flipNext(1, { match: (k) => k.endsWith('.tar') }));
  expect(await first.cycle()).toMatchObject({ packs: 1, failed: 0 });
  first.close();
}

async function objectKeys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('recordings/')) out.push(o.key);
  return out.sort();
}

describe('a pack the journal never saw begin', () => {
  let ctx: ReturnType<typeof setup>;
  beforeEach(() => {
    ctx = setup();
  });

  it('costs the store two requests in etag mode: the pack PUT and the manifest PUT, whose answer stands for its read-back (no HEAD, no listing, no GET)', async () => {
    writeTree(ctx.root, 3, 10);
    const { spy, calls } = recording(new MemoryBlobStore());
    const agent = makeAgent(ctx.config, spy);
    expect(await agent.cycle()).toMatchObject({ packs: 3, failed: 0 });
    agent.close();
    expect(calls.filter((c) => c.startsWith('head ') || c.startsWith('list '))).toEqual([]);
    expect(calls.filter((c) => c.startsWith('put ') && c.endsWith('.tar'))).toHaveLength(3);
    expect(calls.filter((c) => c.startsWith('put ') && c.endsWith('.json'))).toHaveLength(3);
    expect(calls.filter((c) => c.startsWith('get '))).toEqual([]);
    expect(calls).toHaveLength(6);
  });

  it('asks the store first once the journal saw it begin: a retry after a failed attempt HEADs the manifest and lists the attempts', async () => {
    writeTree(ctx.root, 1, 10);
    const faulty = new FaultyBlobStore(new MemoryBlobStore()).flipNext(1, { match: (k) => k.endsWith('.tar') });
    const { spy, calls } = recording(faulty);
    const agent = makeAgent(ctx.config, spy);
    expect(await agent.cycle()).toMatchObject({ packs: 1, failed: 0 });
    agent.close();
    const verbs = calls.map((c) => c.split(' ')[0]);
    // First attempt unasked (its PUT kept torn: the answer's ETag is not the MD5 sent), the retry asked.
    expect(verbs).toEqual(['put', 'head', 'list', 'put', 'put']);
    const [manifest] = [...(await manifestsByKey(faulty)).values()].map((m) => parseManifest(Buffer.from(m)));
    expect(manifest!.packKey).toMatch(/-1\.tar$/);
    expect(manifest!.superseded).toHaveLength(1);
  });

  // The agent that finds the earlier attempts has one attempt a pack: the store's refusal must
  // lead it to them within that attempt, not through a failure and a retry.
  describe('after the state directory is lost', () => {
    it('finds a batch committed before at its first key and publishes nothing new (same objects, same manifests)', async () => {
      writeTree(ctx.root, 2, 10);
      const store = new MemoryBlobStore();
      const first = makeAgent(ctx.config, store);
      expect(await first.cycle()).toMatchObject({ packs: 2, failed: 0 });
      first.close();
      const keysBefore = await objectKeys(store);
      const manifestsBefore = await manifestsByKey(store);
      await shipAfterLosingState(ctx.config, store, { sent: 0, found: 2 });
      expect(await objectKeys(store)).toEqual(keysBefore);
      expect(await manifestsByKey(store)).toEqual(manifestsBefore);
    });

    it('finds a batch committed under a later attempt, its first key holding a torn object, and accepts that manifest untouched', async () => {
      writeTree(ctx.root, 1, 10);
      const store = new MemoryBlobStore();
      await committedUnderSecondAttempt(ctx.config, store);
      const keysBefore = await objectKeys(store);
      const manifestsBefore = await manifestsByKey(store);
      const torn = keysBefore.find((k) => k.endsWith('.tar') && !k.endsWith('-1.tar'))!;
      const tornBytes = await readAll(store, torn);
      await shipAfterLosingState(ctx.config, store, { sent: 0, found: 1 });
      expect(await objectKeys(store)).toEqual(keysBefore);
      expect(await manifestsByKey(store)).toEqual(manifestsBefore);
      expect((await readAll(store, torn)).equals(tornBytes)).toBe(true);
    });

    it('ships again under the next key when uncommitted attempts hold the first ones, listing them as dead and leaving them as they were', async () => {
      writeTree(ctx.root, 1, 10);
      const store = new MemoryBlobStore();
      // Every manifest PUT of the run fails (3 attempts): each pack reached its key, no manifest did.
      const failing = new FaultyBlobStore(store).failNext('put', 3, { match: (k) => k.endsWith('.json') });
      const first = makeAgent(ctx.config, failing);
      expect(await first.cycle()).toMatchObject({ packs: 0, failed: 1 });
      first.close();
      const orphans = await objectKeys(store);
      expect(orphans.map((k) => k.replace(/^.*\/p[0-9a-f]+/, ''))).toEqual(['-1.tar', '-2.tar', '.tar']);
      const orphanBytes = await Promise.all(orphans.map((k) => readAll(store, k)));
      await shipAfterLosingState(ctx.config, store, { sent: 1, found: 0 });
      const [manifest] = [...(await manifestsByKey(store)).values()].map((m) => parseManifest(Buffer.from(m)));
      expect(manifest!.packKey).toMatch(/-3\.tar$/);
      expect([...manifest!.superseded!].sort()).toEqual(orphans);
      for (const [i, key] of orphans.entries()) expect((await readAll(store, key)).equals(orphanBytes[i]!)).toBe(true);
    });

    it('accepts the manifest of a later attempt whose dead first key was purged, without replacing it', async () => {
      writeTree(ctx.root, 1, 10);
      const store = new MemoryBlobStore();
      await committedUnderSecondAttempt(ctx.config, store);
      const manifestsBefore = await manifestsByKey(store);
      const [manifest] = [...manifestsBefore.values()].map((m) => parseManifest(Buffer.from(m)));
      await store.delete(manifest!.superseded![0]!); // the purge took the dead attempt
      await shipAfterLosingState(ctx.config, store, { sent: 0, found: 1 });
      expect(await manifestsByKey(store)).toEqual(manifestsBefore);
    });
  });
});
