import { mkdtempSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { readAll } from '../../agent/recover.ts';
import { silentLogger } from '../../agent/log.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { batchNumbers, numberedBatches } from '../../agent/sources/batch-order.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A recorder upgrade that changes the layout on disk: the agent says what it does not
// understand, and never takes a directory of the new layout for batches of the old numbering.

function site(source = '') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const yaml = (extra: string) => `
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1${extra} }
`;
  return { root, config: parseAgentConfig(yaml(source)), with: (other: string) => parseAgentConfig(yaml(other)) };
}

/** The recorder's new format: batch `batch`'s recordings renamed from .wav to `ext` (their sidecars stay). */
function reformat(root: string, batch: string, ext: string) {
  for (let i = 0; i < 10; i++) renameSync(join(root, batch, `c${batch}-${i}.wav`), join(root, batch, `c${batch}-${i}${ext}`));
}

async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

describe('a recorder that starts writing its batches one level deeper', () => {
  it('does not read a year directory beside zero-padded batches as a batch number, so no batch is recorded lost unseen', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 10);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 3, lost: 0 });
    // The upgraded recorder writes 2026/000001/…; the old batches 000002 and 000003 stay until evicted.
    rmSync(join(s.root, '000001'), { recursive: true });
    writeTree(join(s.root, '2026'), 1, 10);
    clock.advance(60_000);
    const report = await cronPass(s.config, store, alerts, clock);
    expect(report.lost).toBe(0);
    expect(new LossLog(s.config.state).all()).toEqual([]);
    expect(alerts.map((a) => a.subject)).toEqual(['cs: recordings outside the batch directories are not shipped']);
  });

  it('with batchDepth set to the new layout, still ships the batches the recorder wrote before at the old depth, and sends none again', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 10);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 2 });
    // Before the upgrade the recorder wrote 000003 (not shipped yet); after it, 2026/12/000001.
    writeTree(s.root, 1, 10, { firstBatch: 3 });
    writeTree(join(s.root, '2026', '12'), 1, 10);
    clock.advance(60_000);
    const report = await cronPass(s.with(', batchDepth: 3'), store, alerts, clock);
    expect(report).toMatchObject({ packs: 2, recordings: 20, failed: 0, lost: 0 });
    expect(alerts).toEqual([]);
    const keys: string[] = [];
    for await (const o of store.list('manifests/')) keys.push(o.key);
    expect(keys).toHaveLength(4);
  });

  it('does not take a directory holding batch directories for a batch when a recording lies in it: the recording is named outside the batches, the batches below are shipped and not named', async () => {
    const store = new MemoryBlobStore();
    const s = site(', batchDepth: 3');
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(join(s.root, '2026', '12'), 2, 10);
    // A call the recorder writes in the month directory and moves into its batch when it ends.
    writeFileSync(join(s.root, '2026', '12', 'c000003-0.wav'), Buffer.alloc(2000, 1));
    utimesSync(join(s.root, '2026', '12', 'c000003-0.wav'), new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    const report = await cronPass(s.config, store, alerts, clock);
    expect(report).toMatchObject({ packs: 2, recordings: 20, lost: 0 });
    expect(alerts.map((a) => a.subject)).toEqual(['cs: recordings outside the batch directories are not shipped']);
    expect(alerts[0]?.details).toMatchObject({ places: 1, examples: ['2026/12/c000003-0.wav'] });
    // The batches are where batchDepth says: the call lies beside them, and no other depth is offered.
    expect(alerts[0]!.message).toContain("The recorder's batch directories are where batchDepth says (3 levels below");
    expect(alerts[0]!.message).not.toContain('set batchDepth');
    const batches: string[] = [];
    for await (const o of store.list('manifests/')) batches.push(parseManifest(await readAll(store, o.key)).batch.path);
    expect(batches.sort()).toEqual(['2026/12/000001', '2026/12/000002']);
  });

  it('names batchDepth 3, not 2, for batches written into 2026/12/ while batchDepth is 1, though a call lies loose in 2026/12/ itself', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    writeTree(s.root, 2, 10);
    writeTree(join(s.root, '2026', '12'), 1, 10);
    writeFileSync(join(s.root, '2026', '12', 'c000002-0.wav'), Buffer.alloc(2000, 1));
    await cronPass(s.config, store, alerts, new ManualClock(new Date()));
    expect(alerts.map((a) => a.subject)).toEqual(['cs: recordings outside the batch directories are not shipped']);
    expect(alerts[0]!.message).toContain('set batchDepth: 3;');
    expect(alerts[0]!.message).not.toContain('set batchDepth: 2');
  });

  it('does not take batches at two depths for one numbering: the old layout\'s batches ship first, oldest first, not after the new ones by their number', async () => {
    expect(numberedBatches(['000001', '000002'])).toBe(true);
    expect(numberedBatches(['2026/12/000001', '2026/12/000002'])).toBe(true);
    expect(numberedBatches(['004711', '004712', '2026/12/000001'])).toBe(false);
    const shipped: string[] = [];
    const store = new (class extends MemoryBlobStore {
      override async put(key: string, body: Uint8Array, options?: Parameters<MemoryBlobStore['put']>[2]) {
        if (key.startsWith('manifests/')) shipped.push(parseManifest(body).batch.path);
        return super.put(key, body, options);
      }
    })();
    const s = site(', batchDepth: 3');
    // The old layout's last batch, not shipped yet (the recorder evicts it first), and the new layout's.
    writeTree(s.root, 1, 10, { firstBatch: 4711, ageMs: 7200_000 });
    writeTree(join(s.root, '2026', '12'), 2, 10);
    expect(await cronPass(s.config, store, [], new ManualClock(new Date()))).toMatchObject({ packs: 3, failed: 0 });
    expect(shipped).toEqual(['004711', '2026/12/000001', '2026/12/000002']);
  });

  it('takes zero-padded names of one width as a numbering, and sets a shorter unpadded name beside them aside', () => {
    expect(batchNumbers(['099999', '100000', '100001'])).toMatchObject({ shape: '\0', numbers: [99999, 100000, 100001] });
    expect(batchNumbers(['9', '10', '11'])).toMatchObject({ shape: '\0', numbers: [9, 10, 11] });
    expect(batchNumbers(['000009', '000010', '2026'])).toMatchObject({ numbers: [9, 10], outside: ['2026'] });
    expect(batchNumbers(['000009', '0000010'])).toBeUndefined();
  });
});

/** The root's zero-padded batch directories renamed to the recorder's unpadded numbering (`000007` → `7`). */
function unpad(root: string) {
  for (const name of readdirSync(root)) if (/^0+\d$|^0+[1-9]\d*$/.test(name)) renameSync(join(root, name), join(root, String(Number(name))));
}

const drop = (root: string, ...names: string[]) => names.forEach((name) => rmSync(join(root, name), { recursive: true }));

describe('a year directory beside the batches of an unpadded numbering', () => {
  it('is no batch number: nothing is recorded lost unseen when it appears beside 1 … 10, nor once the old batches are all evicted', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 10, 10);
    unpad(s.root);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 10, lost: 0 });
    // The upgraded recorder writes 2026/000001/…; the old batches 2 … 10 stay until evicted.
    drop(s.root, '1');
    writeTree(join(s.root, '2026'), 1, 10);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ lost: 0 });
    // The recorder evicts the rest of the old layout: the year directory is alone.
    drop(s.root, ...['2', '3', '4', '5', '6', '7', '8', '9', '10']);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ lost: 0 });
    expect(new LossLog(s.config.state).all()).toEqual([]);
    expect(alerts.filter((a) => a.subject.includes('lost'))).toEqual([]);
  });

  it('still records lost unseen the batches of a real gap in the run beside a year directory, unpadded or zero-padded', async () => {
    for (const padded of [false, true]) {
      const store = new MemoryBlobStore();
      const s = site();
      const clock = new ManualClock(new Date());
      writeTree(s.root, 10, 10);
      if (!padded) unpad(s.root);
      expect(await cronPass(s.config, store, [], clock)).toMatchObject({ packs: 10, lost: 0 });
      // No pass looks while the recorder writes 11 … 15, evicts 1 … 13, and its upgrade adds 2026/.
      writeTree(s.root, 5, 10, { firstBatch: 11 });
      if (!padded) unpad(s.root);
      const name = (n: number) => (padded ? String(n).padStart(6, '0') : String(n));
      drop(s.root, ...Array.from({ length: 13 }, (_, i) => name(i + 1)));
      writeTree(join(s.root, '2026'), 1, 10);
      clock.advance(60_000);
      expect(await cronPass(s.config, store, [], clock)).toMatchObject({ lost: 3 });
      expect(new LossLog(s.config.state).all().map((l) => [l.batch, l.unseen])).toEqual([[`${name(11)}–${name(13)}`, true]]);
    }
  });

  it('records nothing lost unseen when the recorder renumbers far above its run and then evicts the old run', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 10, 10);
    unpad(s.root);
    expect(await cronPass(s.config, store, [], clock)).toMatchObject({ packs: 10, lost: 0 });
    // The recorder's counter is reset to 5000 (a new numbering): 5000 appears beside the old run.
    writeTree(s.root, 1, 10, { firstBatch: 5000 });
    unpad(s.root);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, [], clock)).toMatchObject({ lost: 0 });
    // It writes 5001 and evicts the old run: the numbers go on above the one set aside.
    drop(s.root, ...Array.from({ length: 10 }, (_, i) => String(i + 1)));
    writeTree(s.root, 1, 10, { firstBatch: 5001 });
    unpad(s.root);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, [], clock)).toMatchObject({ lost: 0 });
    expect(new LossLog(s.config.state).all()).toEqual([]);
  });

  it('takes a zero-padded number\'s year directory left alone, after every old batch is evicted, for no batch of the numbering', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 10);
    expect(await cronPass(s.config, store, [], clock)).toMatchObject({ packs: 3, lost: 0 });
    // Between two looks the recorder is upgraded and evicts the whole old layout.
    drop(s.root, '000001', '000002', '000003');
    writeTree(join(s.root, '2026'), 1, 10);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, [], clock)).toMatchObject({ lost: 0 });
    expect(new LossLog(s.config.state).all()).toEqual([]);
  });

  it('sets a number far outside the run of the others aside in either naming, and keeps a name set aside before out of the numbering', () => {
    expect(batchNumbers(['1', '2', '10', '2026'])).toEqual({ shape: '\0', numbers: [1, 2, 10], names: ['1', '2', '10'], outside: ['2026'] });
    expect(batchNumbers(['000004', '000005', '000009', '002026'])).toMatchObject({ numbers: [4, 5, 9], outside: ['002026'] });
    expect(batchNumbers(['4', '5', '9', '10'])).toMatchObject({ numbers: [4, 5, 9, 10], outside: [] });
    expect(batchNumbers(['2026'], new Set(['2026']))).toMatchObject({ numbers: [], outside: ['2026'] });
    // Two groups of one size: neither is known to be the run, so both stay.
    expect(batchNumbers(['7', '2026'])).toMatchObject({ numbers: [7, 2026], outside: [] });
  });
});

describe('a recorder that starts writing its calls in a format the source does not list', () => {
  it('alerts the new format critically (the pass fails), naming the extension to add, and ships the calls once it is added', async () => {
    const store = new MemoryBlobStore();
    const s = site(', extensions: [.wav]');
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 10);
    reformat(s.root, '000003', '.opus');
    const report = await cronPass(s.config, store, alerts, clock);
    expect(report).toMatchObject({ packs: 2, lost: 0 });
    expect(report.failed).toBeGreaterThan(0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', subject: 'cs: recordings of a type not in extensions are not shipped (.opus)' });
    expect(alerts[0]!.message).toContain('10 file(s) in 1 batch directory (000003)');
    expect(alerts[0]!.message).toContain('.opus: 10 (e.g. 000003/c000003-0.opus)');
    expect(alerts[0]!.message).toContain('extensions: [.wav, .opus]');
    // The administrator adds the extension: the calls ship, the alert is resolved.
    clock.advance(60_000);
    const after = await cronPass(s.with(', extensions: [.wav, .opus]'), store, alerts, clock);
    expect(after).toMatchObject({ packs: 1, recordings: 10, failed: 0 });
    expect(alerts.at(-1)).toMatchObject({ subject: 'resolved: cs: recordings of a type not in extensions are not shipped (.opus)' });
  });

  it('names a file beside a sidecar of no shipped recording whatever its extension, and leaves other files and one just written alone', async () => {
    const store = new MemoryBlobStore();
    const s = site(', extensions: [.wav]');
    const alerts: Alert[] = [];
    writeTree(s.root, 2, 10);
    reformat(s.root, '000002', '.xyz');
    writeFileSync(join(s.root, '000001', 'index.dat'), 'catalogue');
    // A recorder's temporary file beside its sidecar, just written, about to be renamed to .wav.
    writeTree(s.root, 1, 10, { firstBatch: 3, ageMs: 0 });
    renameSync(join(s.root, '000003', 'c000003-0.wav'), join(s.root, '000003', 'c000003-0.tmp'));
    await cronPass(s.config, store, alerts, new ManualClock(new Date()));
    expect(alerts.map((a) => a.subject)).toEqual(['cs: recordings of a type not in extensions are not shipped (.xyz)']);
  });

  it('says nothing of a call the recorder records as .wav and converts to the listed .mp3: the .wav still being written, or kept beside its .mp3', async () => {
    const store = new MemoryBlobStore();
    const s = site(', extensions: [.mp3]');
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 10);
    reformat(s.root, '000001', '.mp3');
    reformat(s.root, '000002', '.mp3');
    // A call of the next batch being recorded (written to now), and an older call's .wav left beside its .mp3.
    mkdirSync(join(s.root, '000003'));
    writeFileSync(join(s.root, '000003', 'c000003-0.wav'), Buffer.alloc(2000, 1));
    writeFileSync(join(s.root, '000001', 'c000001-0.wav'), Buffer.alloc(2000, 1));
    utimesSync(join(s.root, '000001', 'c000001-0.wav'), new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 2, recordings: 20, failed: 0 });
    expect(alerts).toEqual([]);
  });

  it('says nothing of a format another source on the same root ships', async () => {
    const store = new MemoryBlobStore();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-'));
    const root = join(dir, 'rec');
    writeTree(root, 2, 10);
    reformat(root, '000002', '.mp3');
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, extensions: [.wav], closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
  - { name: mp3, type: recordings, path: ${root}, extensions: [.mp3], closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
    const alerts: Alert[] = [];
    expect(await cronPass(config, store, alerts, new ManualClock(new Date()))).toMatchObject({ packs: 2, failed: 0 });
    expect(alerts).toEqual([]);
  });
});

describe('a recorder that renames the elements of its sidecars', () => {
  it('warns once for the pass that the sidecars hold none of the configured fields, naming what they hold, and resolves when they match again', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 10);
    const past = new Date(clock.now().getTime() - 3600_000);
    for (let i = 0; i < 10; i++) {
      const sidecar = join(s.root, '000002', `c000002-${i}.json`);
      writeFileSync(sidecar, JSON.stringify({ Call: { Id: `c000002-${i}`, Started: '2024-01-02T09:00:00Z' } }));
      utimesSync(sidecar, past, past);
    }
    const report = await cronPass(s.config, store, alerts, clock);
    expect(report).toMatchObject({ packs: 2, recordings: 20 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'warning', subject: 'cs: 10 sidecar(s) hold none of the configured metadata fields' });
    expect(alerts[0]!.message).toContain('(batches 000002)');
    expect(alerts[0]!.message).toContain('For example: 000002/c000002-0.json: none of the configured fields is in the sidecar');
    expect(alerts[0]!.message).toContain('it holds Call.Id, Call.Started');
    // The next batch's sidecars match the configuration: the alert is resolved.
    writeTree(s.root, 1, 10, { firstBatch: 3 });
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.at(-1)).toMatchObject({ subject: 'resolved: cs: 10 sidecar(s) hold none of the configured metadata fields' });
  });
});
