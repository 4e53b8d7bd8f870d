import { mkdtempSync, mkdirSync, renameSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../../agent/sources/recordings.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A recorder upgraded to write each call's sidecar a few seconds after its audio: the batch
// fills (closeAfterFiles) with its last call's audio, and the sidecar comes after the pass.

function site(extra = '') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-late-sidecar-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1${extra} }
`);
  return { root, config };
}

async function pass(config: AgentConfig, store: BlobStore, clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

async function members(store: BlobStore) {
  const out = [];
  for await (const o of store.list('manifests/')) out.push(...parseManifest(await readAll(store, o.key)).members);
  return out;
}

/** The batch's last call as the recorder has it mid-write: its audio just written (10 s before `now`, the recorder's clock), its sidecar not yet. */
function lastCallWithoutSidecar(root: string, now: number) {
  const wav = join(root, '000001', 'c000001-9.wav');
  utimesSync(wav, new Date(now - 10_000), new Date(now - 10_000));
  renameSync(join(root, '000001', 'c000001-9.json'), join(root, 'later.json'));
  // The directory's time is the recorder's clock too: it changed when the audio was written.
  utimesSync(join(root, '000001'), new Date(now - 10_000), new Date(now - 10_000));
  return () => renameSync(join(root, 'later.json'), join(root, '000001', 'c000001-9.json'));
}

describe('a sidecar written after its recording', () => {
  it('holds the batch back until the sidecar comes, then ships the call with its metadata', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10);
    const sidecarWritten = lastCallWithoutSidecar(s.root, clock.now().getTime());
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0, recordings: 0 });
    sidecarWritten();
    clock.advance(5_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const last = (await members(store)).find((m) => m.path === '000001/c000001-9.wav');
    expect(last?.sidecar).toBeDefined();
    expect(last?.meta.callId).toBe('c000001-9');
  });

  it('ships the call without a sidecar once metadata.sidecar.waitSeconds have passed since its audio was written', async () => {
    const store = new MemoryBlobStore();
    const s = site(', metadata: { sidecar: { waitSeconds: 30 } }');
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10);
    lastCallWithoutSidecar(s.root, clock.now().getTime());
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0 });
    // 35 s by its file time, but seen by a pass only 25 s ago: the recorder's clock may be behind.
    // Then a pass 30 s before the next one saw it.
    clock.advance(25_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0 });
    clock.advance(30_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const last = (await members(store)).find((m) => m.path === '000001/c000001-9.wav');
    expect(last?.sidecar).toBeUndefined();
    expect(last?.issues).toContain('c000001-9.wav: no sidecar (.xml, .json)');
  });

  it('holds the call back for its sidecar by this machine\'s clock when the recorder\'s clock is behind it (its audio dated 60 s ago, written 10 s ago), pass after pass', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10);
    const sidecarWritten = lastCallWithoutSidecar(s.root, clock.now().getTime() - 50_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0, recordings: 0 });
    clock.advance(5_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0, recordings: 0 });
    sidecarWritten();
    clock.advance(5_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const last = (await members(store)).find((m) => m.path === '000001/c000001-9.wav');
    expect(last?.meta.callId).toBe('c000001-9');
  });

  it('holds the call for its sidecar by when this machine first saw it when the recorder\'s clock is 10 minutes behind: passes every 20 s, the sidecar 40 s after the audio ships with it', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10, { ageMs: 3600_000 + 600_000 });
    // The audio is written now; the recorder dates it by its clock, 10 minutes behind this machine's.
    const sidecarWritten = lastCallWithoutSidecar(s.root, clock.now().getTime() + 10_000 - 600_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0, recordings: 0 });
    clock.advance(20_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0, recordings: 0 });
    clock.advance(20_000);
    sidecarWritten();
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const last = (await members(store)).find((m) => m.path === '000001/c000001-9.wav');
    expect(last?.sidecar).toBeDefined();
    expect(last?.meta.callId).toBe('c000001-9');
  });

  it('adds up the wait over passes more frequent than it (every 20 s): the call ships without a sidecar at the first pass 60 s after this machine first saw it, however old its file time', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10);
    lastCallWithoutSidecar(s.root, clock.now().getTime() - 60_000 - CLOCK_SKEW_ALLOWANCE_MS);
    for (let i = 0; i < 3; i++) {
      expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0 });
      clock.advance(20_000);
    }
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const last = (await members(store)).find((m) => m.path === '000001/c000001-9.wav');
    expect(last?.sidecar).toBeUndefined();
    expect(last?.issues).toContain('c000001-9.wav: no sidecar (.xml, .json)');
  });
});

describe('calls recorded while the recorder\'s clock ran an hour ahead', () => {
  it('holds them until the clock passes their file times, then ships them with the skew named in each call\'s issues', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10, { ageMs: -3600_000, now: clock.now().getTime() });
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 0 });
    // Passes every 20 minutes meanwhile: the first sight is kept, not the last.
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * 60_000);
      await pass(s.config, store, clock);
    }
    clock.advance(5 * 60_000);
    expect(await pass(s.config, store, clock)).toMatchObject({ packs: 1, recordings: 10 });
    const shipped = await members(store);
    expect(shipped).toHaveLength(10);
    for (const m of shipped) expect(m.issues.join(' ')).toMatch(/: its file time \S+ was 1\.0 h ahead of the agent's clock when a pass first saw it \(\S+\): the recorder's clock was wrong, and the call's times may be off by as much/);
  });
});
