import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { heartbeatMemoryFile, type HeartbeatMemory } from '../../agent/heartbeat-memory.ts';
import { silentLogger } from '../../agent/log.ts';
import { shippingAgent } from '../../agent/shipped-by.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { Heartbeat } from '../../core/fleet.ts';
import { readAll } from '../../agent/recover.ts';
import { parseManifest } from '../../core/manifest.ts';
import { parseArtefactManifest } from '../../core/artefact.ts';
import { parseTreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { writeAt } from '../support/artefact-agent.ts';

// Every manifest names the agent that shipped it (host, agent id): after a failover two hosts
// ship one site, each numbering its own calls, and a copy offsite must say which it came from.

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-shipped-by-'));
  const [root, share, dumps] = [join(dir, 'rec'), join(dir, 'share'), join(dir, 'dumps')];
  for (const d of [root, share, dumps]) mkdirSync(d);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
  - { name: share, type: tree, path: ${share}, everySeconds: 0 }
  - { name: db, type: rotated, profile: generic, patterns: ["*.sql"], path: ${dumps}, stableSeconds: 20 }
`);
  return { dir, root, share, dumps, config };
}

async function manifestsOf(store: MemoryBlobStore) {
  const out = { packs: [] as ReturnType<typeof parseManifest>[], trees: [] as ReturnType<typeof parseTreeSnapshotManifest>[], artefacts: [] as ReturnType<typeof parseArtefactManifest>[] };
  for await (const o of store.list('manifests/site-a/')) {
    const text = (await readAll(store, o.key)).toString('utf8');
    if (o.key.includes('/trees/')) out.trees.push(parseTreeSnapshotManifest(text));
    else if (o.key.endsWith('.json') && o.key.includes('/recordings/')) out.packs.push(parseManifest(text));
    else if (o.key.endsWith('.json')) out.artefacts.push(parseArtefactManifest(text));
  }
  return out;
}

describe('the agent names itself in every manifest it writes', () => {
  it('writes shippedBy { host, agentId } in recordings, tree snapshot and backup manifests, the host and id its heartbeat carries, from its first pass on', async () => {
    const s = site();
    try {
      const store = new MemoryBlobStore();
      const clock = new ManualClock(new Date());
      writeTree(s.root, 1, 10, { now: clock.now().getTime() });
      writeFileSync(join(s.share, 'book.txt'), 'address book');
      writeAt(join(s.dumps, 'full-1.sql'), '-- a dump\nINSERT INTO t VALUES (1);\n', new Date(clock.now().getTime() - 600_000));
      const agent = new Agent({ config: s.config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        await agent.cycle();
        clock.advance(30_000);
        await agent.cycle();
      } finally {
        agent.close();
      }
      const heartbeatKeys: string[] = [];
      for await (const o of store.list('heartbeats/site-a/')) heartbeatKeys.push(o.key);
      const heartbeat = JSON.parse((await readAll(store, heartbeatKeys.at(-1)!)).toString('utf8')) as Heartbeat;
      const memory = JSON.parse(readFileSync(heartbeatMemoryFile(s.config.state), 'utf8')) as HeartbeatMemory;
      const expected = { host: hostname(), agentId: memory.agentId };
      expect(heartbeat?.agent).toMatchObject({ id: memory.agentId, host: hostname() });
      const m = await manifestsOf(store);
      // One pack, one backup; a snapshot of the share each pass.
      expect([m.packs.length, m.trees.length, m.artefacts.length]).toEqual([1, 2, 1]);
      for (const manifest of [...m.packs, ...m.trees, ...m.artefacts]) expect(manifest.shippedBy).toEqual(expected);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('names the agent again at each pass of a long-running agent: a heartbeat.json damaged when it started, moved aside since, gives the next pass\'s manifests the id its heartbeat carries', async () => {
    const s = site();
    try {
      const store = new MemoryBlobStore();
      const clock = new ManualClock(new Date());
      mkdirSync(s.config.state, { recursive: true });
      writeFileSync(heartbeatMemoryFile(s.config.state), '{"agentId": "6f1c');
      writeTree(s.root, 1, 10, { now: clock.now().getTime() });
      const agent = new Agent({ config: { ...s.config, sources: s.config.sources.filter((src) => src.type === 'recordings') }, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        await expect(agent.cycle()).rejects.toThrow(/heartbeat\.json is damaged .*move it aside/);
        // The operator moves the damaged file aside, as the error says; the service goes on.
        rmSync(heartbeatMemoryFile(s.config.state));
        clock.advance(30_000);
        await agent.cycle();
      } finally {
        agent.close();
      }
      const memory = JSON.parse(readFileSync(heartbeatMemoryFile(s.config.state), 'utf8')) as HeartbeatMemory;
      const heartbeatKeys: string[] = [];
      for await (const o of store.list('heartbeats/site-a/')) heartbeatKeys.push(o.key);
      const heartbeat = JSON.parse((await readAll(store, heartbeatKeys.at(-1)!)).toString('utf8')) as Heartbeat;
      expect(heartbeat.agent?.id).toBe(memory.agentId);
      expect((await manifestsOf(store)).packs.map((m) => [m.batch.path, m.shippedBy])).toEqual([['000001', { host: hostname(), agentId: memory.agentId }]]);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('keeps a new agent id in heartbeat.json before anything ships, takes the kept one after, and names the host only (a warning, shipping goes on) when heartbeat.json is damaged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-shipped-by-id-'));
    try {
      const warnings: string[] = [];
      const log = { warn: (message: string) => void warnings.push(message) };
      const first = shippingAgent(dir, log);
      const kept = JSON.parse(readFileSync(heartbeatMemoryFile(dir), 'utf8')) as HeartbeatMemory;
      expect(first).toEqual({ host: hostname(), agentId: kept.agentId });
      expect(shippingAgent(dir, log)).toEqual(first);
      writeFileSync(heartbeatMemoryFile(dir), '{"agentId": "6f1c');
      expect(shippingAgent(dir, log)).toEqual({ host: hostname() });
      expect(warnings).toEqual(['agent id not read from the state directory: manifests of this pass name the host only']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
