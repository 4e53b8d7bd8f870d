import { LossLog } from '../../agent/state/loss-log.ts';
import { Observations } from '../../agent/state/observations.ts';
import { describe, it, expect } from 'vitest';
import { appendFileSync, cpSync, symlinkSync, mkdtempSync, mkdirSync, rmSync, readdirSync, readFileSync, writeFileSync, utimesSync, renameSync, existsSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { HEARTBEAT_MIN_SECONDS } from '../../agent/heartbeat.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { targetNote } from '../../cli/check-notes.ts';
import type { ArtefactSourceStatus } from '../../agent/artefact-runner.ts';
import { artefactSite, artefactManifests, writeAt, bytesOf } from '../support/artefact-agent.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';

// The agent as cron runs it: every pass is a new process (here: a new Agent on the same state
// directory, the old one dropped without ceremony), so nothing may depend on process memory.

function site(extra = '', shipping = '{ partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cron-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const text = `
site: site-a
state: ${join(dir, 'state')}
shipping: ${shipping}
sources:
  - name: cs
    type: recordings
    path: ${root}
    closeAfterFiles: 10
    quietSeconds: 600
    settleSeconds: 1
${extra}`;
  return { dir, root, config: parseAgentConfig(text) };
}

/** One cron run: a fresh agent on the shared state directory, one pass, closed. */
async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock = new ManualClock(new Date())) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), status: agent.statusSnapshot() };
  } finally {
    agent.close();
  }
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function shippedPaths(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('manifests/')) out.push(...parseManifest(await readAll(store, o.key)).members.map((m) => m.path));
  return out.sort();
}

describe('a cron-driven agent (--once) under eviction', () => {
  it('reports batches the recorder evicts during a pass as lost in that pass, member by member, and never again', async () => {
    const s = site();
    writeTree(s.root, 4, 10);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    // While the first pack goes out, the recorder deletes batches 2 and 3 and half of batch 4,
    // which the agent has seen by then (the walk has written batch 4 to the pending view).
    let evicted = false;
    const evicting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: async (key: string, body: Uint8Array, opts?: Parameters<BlobStore['put']>[2]) => {
        if (!evicted && key.endsWith('.tar')) {
          evicted = true;
          await until(() => ['cs.jsonl', 'cs.jsonl.tmp'].some((f) => existsSync(join(s.config.state, 'pending', f)) && readFileSync(join(s.config.state, 'pending', f), 'utf8').includes('"000004"')));
          rmSync(join(s.root, '000002'), { recursive: true });
          rmSync(join(s.root, '000003'), { recursive: true });
          for (const name of readdirSync(join(s.root, '000004')).sort().slice(0, 10)) rmSync(join(s.root, '000004', name));
        }
        return store.put(key, body, opts);
      },
    });
    const first = await cronPass(s.config, evicting, alerts);
    expect(first.report).toMatchObject({ packs: 2, recordings: 15, lost: 25, failed: 0 });
    const shipped = await shippedPaths(store);
    expect(shipped.filter((p) => p.startsWith('000001/'))).toHaveLength(10);
    expect(shipped.filter((p) => p.startsWith('000004/'))).toHaveLength(5);
    expect(first.status.totals).toMatchObject({ lostBatches: 3, lostRecordings: 25 });
    // One pass's losses of one source are one alert, counted and spanned.
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.subject)).toEqual(['cs: 3 batch(es), 25 recording(s) lost before shipping (000002 to 000004)']);

    const second = await cronPass(s.config, evicting, alerts);
    expect(second.report).toMatchObject({ packs: 0, lost: 0, failed: 0 });
    expect(second.status.totals).toMatchObject({ lostBatches: 3, lostRecordings: 25 });
    expect(alerts.filter((a) => a.severity === 'critical')).toHaveLength(1);
  });

  it('finds losses that happened while no agent was running (pending in one process, gone in the next)', async () => {
    const s = site();
    // Batch 1 is closed; batch 2 is still being written (too few files, too recent to be quiet).
    writeTree(s.root, 1, 10);
    writeTree(s.root, 1, 4, { firstBatch: 2, ageMs: 10_000 });
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const first = await cronPass(s.config, store, alerts);
    expect(first.report).toMatchObject({ packs: 1, lost: 0 });
    expect(first.status.sources[0]).toMatchObject({ backlog: { batches: 1, recordings: 4 } });
    rmSync(join(s.root, '000002'), { recursive: true }); // evicted between two cron runs
    const second = await cronPass(s.config, store, alerts);
    expect(second.report.lost).toBe(4);
    expect(second.status.recentLosses.at(-1)).toMatchObject({ source: 'cs', batch: '000002', reason: 'deleted by the recorder before it was shipped', lastSeen: expect.any(String) });
    expect(second.status.recentLosses.at(-1)!.files.map((f) => f.path)).toEqual([0, 1, 2, 3].map((i) => join(s.root, '000002', `c000002-${i}.wav`)));
    expect((await cronPass(s.config, store, alerts)).report.lost).toBe(0);
    expect(alerts.filter((a) => a.severity === 'critical')).toHaveLength(1);
  });

  it('reports a batch that failed to ship in every pass and was evicted later as lost, in the next process', async () => {
    const s = site();
    writeTree(s.root, 2, 10);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const down: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    });
    // Each batch, and the heartbeat: the store takes nothing.
    const first = await cronPass(s.config, down, alerts);
    expect(first.report).toMatchObject({ packs: 0, failed: 3, lost: 0 });
    const again = await cronPass(s.config, down, alerts);
    expect(again.report.failed).toBe(3);
    // One "could not be shipped" alert for the source (one cause, not one a batch), with memory: not once per pass.
    expect(alerts.filter((a) => a.subject.includes('could not be shipped')).map((a) => a.subject)).toEqual(['cs: 2 batches could not be shipped']);
    rmSync(join(s.root, '000001'), { recursive: true });
    const third = await cronPass(s.config, store, alerts);
    expect(third.report).toMatchObject({ packs: 1, lost: 10, failed: 0 });
    expect(await shippedPaths(store)).toHaveLength(10);
    expect(alerts.filter((a) => a.subject.startsWith('resolved: cs: 2 batches could not be shipped'))).toHaveLength(1);
  });
});

describe('a cron-driven agent and stability windows', () => {
  it('ships a rotated full with stableSeconds 120 on the second cron run after it settled', async () => {
    const s = artefactSite(`  - { name: db, type: rotated, profile: rostrvm, path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date());
    writeAt(join(s.root, 'rostrvm_5_1.rbk'), bytesOf(30_000, 3), new Date(clock.now().getTime() - 60_000));
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const first = await cronPass(s.config, store, alerts, clock);
    expect(first.report.artefacts).toBe(0);
    // What `agent status` reads: the full waits to be judged complete, under the source's window.
    const db = first.status.sources.find((x) => x.name === 'db') as ArtefactSourceStatus;
    expect(db.backlog.files).toBe(1);
    expect(db.settling).toEqual({ files: 1, stableSeconds: 120, minAgeSeconds: 0 });
    clock.advance(5 * 60_000); // the next cron run, five minutes later
    const second = await cronPass(s.config, store, alerts, clock);
    expect(second.report.artefacts).toBe(1);
    expect((second.status.sources.find((x) => x.name === 'db') as ArtefactSourceStatus).settling).toBeUndefined();
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['rostrvm_5_1.rbk']);
  });

  it('ships a closed archive on the second cron run too, and not a file that kept changing between runs', async () => {
    const s = artefactSite(`  - { name: arch, type: archive, path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date());
    const old = new Date(clock.now().getTime() - 3600_000);
    writeAt(join(s.root, 'Voice Recording 20260101 20260107.sdb'), bytesOf(20_000, 4), old);
    writeAt(join(s.root, 'Voice Recording 20260108 20260114.sdb'), bytesOf(10_000, 5), old);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    expect((await cronPass(s.config, store, alerts, clock)).report.artefacts).toBe(0);
    clock.advance(5 * 60_000);
    writeAt(join(s.root, 'Voice Recording 20260108 20260114.sdb'), bytesOf(12_000, 5), new Date(clock.now().getTime() - 1000));
    const second = await cronPass(s.config, store, alerts, clock);
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['Voice Recording 20260101 20260107.sdb']);
    expect(second.report.artefacts).toBe(1);
  });
});

describe('a backup gone before two cron runs could judge it complete', () => {
  it('is recorded and alerted (critical) as lost, once, when it looked finished at its first sight; a partial file a failed job removed and a backup renamed are not', async () => {
    const s = artefactSite(`  - { name: db, type: rotated, path: "{root}", patterns: ["*.bak"], stableSeconds: 120 }`);
    const clock = new ManualClock(new Date('2026-12-06T03:00:00.000Z'));
    const tenMinutesAgo = new Date(clock.now().getTime() - 600_000);
    writeAt(join(s.root, 'nightly.bak'), bytesOf(30_000, 3), tenMinutesAgo);
    writeAt(join(s.root, 'partial.bak'), bytesOf(9_000, 4), new Date(clock.now().getTime() - 1000));
    writeAt(join(s.root, 'weekly.bak'), bytesOf(20_000, 5), tenMinutesAgo);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const first = await cronPass(s.config, store, alerts, clock);
    expect(first.report.artefacts).toBe(0);
    // Before the next cron run: the job's rotation removes the night's backup, a failed job its
    // partial file, and weekly.bak is renamed (its content still there).
    rmSync(join(s.root, 'nightly.bak'));
    rmSync(join(s.root, 'partial.bak'));
    renameSync(join(s.root, 'weekly.bak'), join(s.root, 'weekly-01.bak'));
    clock.advance(5 * 60_000);
    const second = await cronPass(s.config, store, alerts, clock);
    expect(second.report.lost).toBe(1);
    expect(second.status.recentLosses.map((l) => l.batch)).toEqual(['nightly.bak']);
    const critical = alerts.filter((a) => a.severity === 'critical');
    expect(critical.map((a) => a.subject)).toEqual(['db: nightly.bak lost before shipping']);
    expect(critical[0]!.message).toContain(`was removed from the site before the agent could judge it complete: first seen 2026-12-06T03:00:00.000Z, already unchanged since ${tenMinutesAgo.toISOString()}, and gone at the next pass (a version ships once passes 120 s apart find it unchanged)`);
    expect(critical[0]!.message).toContain("Keep each backup on the site for longer than the agent's pass interval plus the source's stableSeconds");
    clock.advance(5 * 60_000);
    const third = await cronPass(s.config, store, alerts, clock);
    expect(third.report.lost).toBe(0);
    expect(third.report.artefacts).toBe(1);
    expect(alerts.filter((a) => a.severity === 'critical')).toHaveLength(1);
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['weekly-01.bak']);
  });
});

describe("a store's refusal in an alert", () => {
  it("reads as one sentence: the store's message ends with its own full stop, and none is added after it", async () => {
    const s = artefactSite(`  - { name: db, type: rotated, path: "{root}", patterns: ["*.bak"], stableSeconds: 0 }`, '{ partSizeMiB: 5, attempts: 1 }');
    const clock = new ManualClock(new Date('2026-12-06T03:00:00.000Z'));
    writeAt(join(s.root, 'nightly.bak'), bytesOf(3_000, 3), new Date(clock.now().getTime() - 600_000));
    const refusal = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    const memory = new MemoryBlobStore();
    const store = new Proxy(memory, {
      get: (target, key, receiver) => (['put', 'createMultipart', 'uploadPart', 'completeMultipart'].includes(String(key)) ? () => Promise.reject(Object.assign(new Error(refusal), { name: 'SignatureDoesNotMatch' })) : Reflect.get(target, key, receiver)),
    }) as BlobStore;
    const alerts: Alert[] = [];
    await cronPass(s.config, store, alerts, clock);
    const failed = alerts.find((a) => a.key === 'ship-failed:db:nightly.bak');
    expect(failed?.message).toContain(`${refusal} It stays in the backlog`);
    expect(failed?.message).not.toContain('..');
  });
});

describe('hostile sidecars', () => {
  it('ships every recording of a batch whose XML sidecar declares an external entity, never resolving it', async () => {
    const s = site(`    extensions: [.wav]
    metadata:
      sidecar:
        extensions: [.xml]
        fields: { callId: Recording.CallId, agent: Recording.Agent }`);
    const batch = join(s.root, '000001');
    mkdirSync(batch);
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 10; i++) {
      writeFileSync(join(batch, `c${i}.wav`), Buffer.alloc(500, i));
      const xml = i === 3
        ? `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]><Recording><CallId>c${i}</CallId><Agent>&x;</Agent></Recording>`
        : `<Recording><CallId>c${i}</CallId><Agent>alice</Agent></Recording>`;
      writeFileSync(join(batch, `c${i}.xml`), xml);
      utimesSync(join(batch, `c${i}.wav`), old, old);
      utimesSync(join(batch, `c${i}.xml`), old, old);
    }
    const store = new MemoryBlobStore();
    const { report } = await cronPass(s.config, store, []);
    expect(report).toMatchObject({ packs: 1, recordings: 10, failed: 0 });
    let members: ReturnType<typeof parseManifest>['members'] = [];
    for await (const o of store.list('manifests/')) members = parseManifest(await readAll(store, o.key)).members;
    const hostile = members.find((m) => m.path === '000001/c3.wav');
    expect(hostile?.meta.callId).toBe('c3');
    expect(JSON.stringify(hostile?.meta)).not.toContain(hostname());
    expect(hostile?.issues.join(' ')).toMatch(/c3\.xml: sidecar declares entities; they are not resolved/);
    expect(members.find((m) => m.path === '000001/c4.wav')?.meta).toMatchObject({ callId: 'c4', agent: 'alice' });
  });
});

describe('batches no pass ever saw', () => {
  it('records as lost, once, the numbered batches the recorder wrote and evicted between two looks (the numbering jumped), and alerts them naming the range', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 5, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ lost: 0 });
    // While the state directory was held (a pass stuck on the store), the recorder wrote 000006–000010 and evicted everything up to 000008.
    writeTree(s.root, 5, 10, { firstBatch: 6 });
    for (let b = 1; b <= 8; b++) rmSync(join(s.root, String(b).padStart(6, '0')), { recursive: true });
    clock.advance(60_000);
    const { report, status } = await cronPass(s.config, store, alerts, clock);
    expect(report.lost).toBe(3);
    const unseen = new LossLog(s.config.state).all().filter((l) => l.unseen);
    expect(unseen).toEqual([expect.objectContaining({ source: 'cs', batch: '000006–000008', files: ['000006', '000007', '000008'].map((name) => ({ name, size: 0, mtimeMs: 0, path: join(s.root, name) })) })]);
    expect(unseen[0]!.reason).toMatch(/^written and evicted by the recorder without any pass seeing them: the last complete look \(.+\) ended at 000005, and the batches now start above it at 000009$/);
    expect(alerts.find((a) => a.key === `loss:${unseen[0]!.id}`)).toMatchObject({ severity: 'critical', subject: 'cs: 3 batch(es) lost unseen (000006–000008)' });
    expect(status.totals).toMatchObject({ lostBatches: 3 });
    // The heartbeat tells the fleet view they are batches, not files.
    const [newest] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], clock.now());
    expect(newest!.reasons).toContain('3 batch(es) never seen lost in the last 24 h (cs: 000006–000008)');
    // Said once: the next pass finds nothing new.
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(0);
    expect(new LossLog(s.config.state).all().filter((l) => l.unseen)).toHaveLength(1);
  });

  it('never records as lost unseen a batch a pass saw: the newest batch shipped and then gone, or seen pending and recorded lost by name, before the next number comes', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 3, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 3, lost: 0 });
    // The recorder drops its newest batch, already shipped; then writes the next number.
    rmSync(join(s.root, '000003'), { recursive: true });
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(0);
    writeTree(s.root, 1, 10, { firstBatch: 4 });
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 1, lost: 0 });
    // 000005 is seen still being written (2 recordings, fresh), then deleted: lost by name, once.
    writeTree(s.root, 1, 2, { firstBatch: 5, ageMs: 0 });
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 0, lost: 0 });
    rmSync(join(s.root, '000005'), { recursive: true });
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(2);
    writeTree(s.root, 1, 10, { firstBatch: 6 });
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 1, lost: 0 });
    const losses = new LossLog(s.config.state).all();
    expect(losses.map((l) => `${l.batch}${l.unseen ? ' unseen' : ''}`)).toEqual(['000005']);
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.message)).toEqual([expect.stringMatching(/^Batch 000005 of source cs: .+ were deleted by the recorder before it was shipped/)]);
  });

  it('finds no gap in a numbering with holes (batch names that are times, not a count), nor after the recorder starts counting again from 1', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    for (const name of ['1733212000', '1733215600']) mkdirSync(join(s.root, name));
    writeTree(s.root, 1, 2, { firstBatch: 1733212000 });
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(s.config, store, alerts, clock);
    mkdirSync(join(s.root, '1733222800'));
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(0);
    // A contiguous numbering that starts again lower is no gap either.
    const t = site();
    writeTree(t.root, 3, 2, { firstBatch: 40 });
    await cronPass(t.config, store, alerts, clock);
    for (const b of [40, 41, 42]) rmSync(join(t.root, String(b).padStart(6, '0')), { recursive: true });
    writeTree(t.root, 3, 2, { firstBatch: 1 });
    clock.advance(60_000);
    const again = await cronPass(t.config, store, alerts, clock);
    expect(new LossLog(t.config.state).all().filter((l) => l.unseen)).toEqual([]);
    expect(again.report.lost).toBe(0); // 40–42 had shipped before they went
  });
});

describe('a source removed from the configuration', () => {
  it("is kept (its observations and pending view) by the first pass without it, and forgotten a week later, so agent check stops noting it", async () => {
    const s = site();
    writeTree(s.root, 2, 3);
    const other = join(s.dir, 'rec2');
    mkdirSync(other);
    writeTree(other, 1, 2, { ageMs: 10_000 });
    const both = parseAgentConfig(`site: site-a\nstate: ${s.config.state}\nsources:\n  - { name: cs, type: recordings, path: ${s.root} }\n  - { name: old, type: recordings, path: ${other}, quietSeconds: 600 }\n`);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    await cronPass(both, store, [], clock);
    expect(Observations.unconfigured(s.config.state, new Set(['cs']))).toEqual(['old']);
    clock.advance(60_000);
    await cronPass(s.config, store, [], clock);
    expect(Observations.unconfigured(s.config.state, new Set(['cs']))).toEqual(['old']);
    clock.advance(7 * 86_400_000);
    await cronPass(s.config, store, [], clock);
    expect(Observations.unconfigured(s.config.state, new Set(['cs']))).toEqual([]);
    expect(existsSync(join(s.config.state, 'pending', 'old.jsonl'))).toBe(false);
  });
});

describe('a tree source whose include takes nothing', () => {
  it('publishes its empty snapshot and alerts (warning) that the source backs up nothing, naming the patterns and the case rule; resolved once they take a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tree-include-'));
    mkdirSync(join(dir, 'share', 'Web Components'), { recursive: true });
    writeFileSync(join(dir, 'share', 'Web Components', 'deck.pptx'), 'slides');
    const configOf = (include: string) => parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: meetings, type: tree, path: ${join(dir, 'share')}, include: ["${include}"], everySeconds: 0 }\n`);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(configOf('web components/**'), store, alerts, clock);
    const raised = alerts.find((a) => a.key === 'selects-nothing:meetings');
    expect(raised).toMatchObject({ severity: 'warning', subject: `source meetings selects none of the files in ${join(dir, 'share')}` });
    expect(raised?.message).toContain('its include patterns ["web components/**"] take none of the files');
    clock.advance(60_000);
    await cronPass(configOf('Web Components/**'), store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'selects-nothing:meetings').map((a) => a.subject)).toEqual([`source meetings selects none of the files in ${join(dir, 'share')}`, `resolved: source meetings selects none of the files in ${join(dir, 'share')}`]);
  });
});

describe("an agent whose clock is ahead of the recorder's", () => {
  it('never ships a recording the recorder is still writing, cut short, when its clock runs 10 s ahead of the file times; ships it whole once it stops changing', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 1, 9); // nine finished calls, an hour old
    const writing = join(s.root, '000001', 'c-last.wav');
    const real = Date.now();
    writeFileSync(writing, Buffer.alloc(1000, 1)); // the tenth call, being written now (the recorder's clock)
    utimesSync(writing, new Date(real), new Date(real));
    const clock = new ManualClock(new Date(real + 10_000)); // the agent's clock, 10 s ahead
    expect((await cronPass(s.config, store, [], clock)).report.packs).toBe(0);
    appendFileSync(writing, Buffer.alloc(1000, 2)); // the call goes on
    utimesSync(writing, new Date(real + 60_000), new Date(real + 60_000));
    clock.advance(60_000);
    expect((await cronPass(s.config, store, [], clock)).report.packs).toBe(0);
    clock.advance(60_000); // the call ended: unchanged since the pass before
    expect((await cronPass(s.config, store, [], clock)).report).toMatchObject({ packs: 1, recordings: 10 });
    let members: ReturnType<typeof parseManifest>['members'] = [];
    for await (const o of store.list('manifests/')) members = parseManifest(await readAll(store, o.key)).members;
    expect(members.find((m) => m.path === '000001/c-last.wav')?.length).toBe(2000);
  });
});

describe('a recording whose file time changed after it shipped', () => {
  it('is not counted lost when the recorder evicts it before it ships again (exit 0, no critical alert), but is recorded and alerted as a warning naming both readings', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 2, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 2, lost: 0 });
    // A scanner touches every file: pending again, by their new time.
    const touched = new Date(clock.now().getTime() - 1000);
    for (const f of readdirSync(join(s.root, '000001'))) utimesSync(join(s.root, '000001', f), touched, touched);
    clock.advance(1500);
    await cronPass(s.config, store, alerts, clock); // seen pending (not settled yet)
    rmSync(join(s.root, '000001'), { recursive: true }); // the recorder evicts the batch
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(0);
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.subject)).toEqual([]);
    const [entry, ...more] = new LossLog(s.config.state).all();
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ batch: '000001', shippedBefore: true });
    expect(entry!.files).toHaveLength(10);
    const warning = alerts.find((a) => a.key === `loss:${entry!.id}`);
    expect(warning).toMatchObject({ severity: 'warning', subject: '10 recording(s) gone before shipping again: shipped before under another file time' });
    expect(warning?.message).toContain('If the recorder was replaced or its numbering restarted, these are new calls and they are lost');
  });

  it('is not silent when a replaced recorder writes new calls under the old names and sizes and evicts them before they ship', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 2, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report).toMatchObject({ packs: 2, lost: 0 });
    // New hardware on the same share: its numbering restarts, batch 000001 again, other audio of the same sizes.
    rmSync(join(s.root, '000001'), { recursive: true });
    const fresh = new Date(clock.now().getTime() - 1000);
    for (const f of writeTree(s.root, 1, 10, { now: clock.now().getTime() })) {
      const path = join(s.root, f.path);
      const bytes = readFileSync(path);
      bytes.fill(0x55, 64);
      writeFileSync(path, bytes);
    }
    for (const f of readdirSync(join(s.root, '000001'))) utimesSync(join(s.root, '000001', f), fresh, fresh);
    clock.advance(1500);
    await cronPass(s.config, store, alerts, clock); // seen pending
    rmSync(join(s.root, '000001'), { recursive: true }); // evicted before it shipped
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    const losses = new LossLog(s.config.state).all();
    expect(losses.flatMap((l) => l.files.map((f) => f.name))).toHaveLength(10);
    expect(alerts.filter((a) => a.key?.startsWith('loss:')).map((a) => a.severity)).toEqual(['warning']);
  });
});

describe('a state directory pointed at another store or site', () => {
  it('alerts (critical) once that what it shipped before is not in the new place, naming both and what to do; resolved at the next pass', async () => {
    const s = site();
    writeTree(s.root, 1, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const pass = async (target: string) => {
      const agent = new Agent({ config: s.config, store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1, target });
      try {
        return await agent.cycle();
      } finally {
        agent.close();
      }
    };
    await pass('s3://ferry-data');
    expect(alerts.filter((a) => a.key === 'target-changed')).toEqual([]);
    clock.advance(60_000);
    await pass('s3://ferry-data2');
    const raised = alerts.find((a) => a.key === 'target-changed');
    expect(raised).toMatchObject({ severity: 'critical', subject: 'state directory of site-a now ships store s3://ferry-data → s3://ferry-data2' });
    expect(raised?.message).toContain('the recordings still on the recorder, the current full backups and the binlogs count as shipped and are not shipped again');
    expect(raised?.message).toContain('start it with a new, empty state directory');
    expect(targetNote({ ...s.config, cloud: { bucket: 'ferry-data3', region: 'eu-west-2', verify: 'auto' } })).toMatch(/^This state directory .* shipped site site-a to s3:\/\/ferry-data2; it now ships site site-a to s3:\/\/ferry-data3/);
    clock.advance(60_000);
    await pass('s3://ferry-data2');
    expect(alerts.filter((a) => a.key === 'target-changed').map((a) => a.severity)).toEqual(['critical', 'info']);
  });
  it('does not call a misspelt bucket set right a move of the state directory: a first pass the store took nothing from remembers no store', async () => {
    const s = site();
    writeTree(s.root, 1, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    // The misspelt bucket: every call refused, as S3 answers NoSuchBucket (or an endpoint nothing listens on).
    const noBucket = new Proxy(new MemoryBlobStore(), {
      get: (t, p) => {
        const v: unknown = Reflect.get(t, p);
        if (typeof v !== 'function' || p === 'clockOffsetMs') return v;
        const refused = () => new Error(`S3 ${String(p)}: NoSuchBucket: The specified bucket does not exist`);
        return p === 'list' || p === 'listMultipart' ? async function* () { throw refused(); } : async () => { throw refused(); };
      },
    }) as BlobStore;
    const pass = async (store: BlobStore, target: string) => {
      const agent = new Agent({ config: s.config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1, target });
      try {
        return await agent.cycle();
      } finally {
        agent.close();
      }
    };
    expect((await pass(noBucket, 's3://ferry-data-leeds')).packs).toBe(0);
    clock.advance(60_000);
    const right = await pass(new MemoryBlobStore(), 's3://ferry-data');
    expect(right.recordings).toBe(10);
    expect(alerts.filter((a) => a.key === 'target-changed')).toEqual([]);
    // What did ship is remembered: a move after it is still alerted.
    clock.advance(60_000);
    await pass(new MemoryBlobStore(), 's3://ferry-data2');
    expect(alerts.filter((a) => a.key === 'target-changed').map((a) => a.subject)).toEqual(['state directory of site-a now ships store s3://ferry-data → s3://ferry-data2']);
  });
});

describe('a tree source after the clock was fast', () => {
  it('takes the next snapshot when the last is dated ahead of the clock (set right since), not a day later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tree-ahead-'));
    mkdirSync(join(dir, 'share'));
    writeFileSync(join(dir, 'share', 'a.txt'), 'one');
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: share, type: tree, path: ${join(dir, 'share')}, everySeconds: 86400 }\n`);
    const store = new MemoryBlobStore();
    const real = new Date();
    const clock = new ManualClock(new Date(real.getTime() + 86_400_000));
    expect((await cronPass(config, store, [], clock)).report.manifests).toHaveLength(1);
    clock.set(real); // NTP sets the clock right
    writeFileSync(join(dir, 'share', 'b.txt'), 'two');
    expect((await cronPass(config, store, [], clock)).report.manifests).toHaveLength(1);
    // and then waits its interval again, from the snapshot just taken
    clock.advance(60_000);
    expect((await cronPass(config, store, [], clock)).report.manifests).toHaveLength(0);
  });
});

describe('one pass under a clock hours fast, then NTP sets it right', () => {
  it('raises neither "another agent ships as site" nor "state directory older": the heartbeats written before the jump are its own', async () => {
    const s = site();
    writeTree(s.root, 1, 4, { ageMs: 10_000 });
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const real = new Date();
    const clock = new ManualClock(real);
    await cronPass(s.config, store, alerts, clock);
    clock.set(new Date(real.getTime() + 86_400_000)); // a day fast for one pass
    writeTree(s.root, 1, 4, { firstBatch: 2, ageMs: 10_000 });
    await cronPass(s.config, store, alerts, clock);
    clock.set(new Date(real.getTime() + 60_000)); // set right
    writeTree(s.root, 1, 4, { firstBatch: 3, ageMs: 10_000 });
    const after = await cronPass(s.config, store, alerts, clock);
    expect(alerts.map((a) => a.subject).filter((t) => /another agent|older than its agent/.test(t))).toEqual([]);
    expect(after.status.openAlerts.map((a) => a.key)).not.toContain('site-name-shared');
  });
});

describe('two agents configured as one site', () => {
  it("each alerts (critical) that another agent ships as its site, naming the other's host, and the alert resolves once only one writes", async () => {
    const store = new MemoryBlobStore();
    const [one, two] = [site(), site()];
    writeTree(one.root, 1, 10);
    writeTree(two.root, 1, 10, { firstBatch: 5 });
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(one.config, store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'site-name-shared')).toEqual([]);
    clock.advance(60_000);
    // Its first pass cannot tell the other from the agent it replaced (the other's heartbeat predates its state directory) ...
    await cronPass(two.config, store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'site-name-shared')).toEqual([]);
    // ... until the other writes after this one began: a second agent, paged by both.
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    await cronPass(one.config, store, alerts, clock);
    clock.advance(60_000);
    await cronPass(two.config, store, alerts, clock);
    const shared = alerts.filter((a) => a.key === 'site-name-shared');
    expect(shared).toEqual([expect.objectContaining({ severity: 'critical', subject: 'another agent ships as site site-a' }), expect.objectContaining({ severity: 'critical', subject: 'another agent ships as site site-a' })]);
    expect(shared[0]!.message).toMatch(/^An agent on .+ \(id [0-9a-f-]{36}\) wrote a heartbeat as site site-a at /);
    // The second agent's next pass tells the fleet view: its heartbeat carries the open alert, and the site is WARN.
    clock.advance(60_000);
    await cronPass(two.config, store, alerts, clock);
    const [newest] = await readFleet({ blobs: store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], clock.now());
    expect(newest).toMatchObject({ state: 'WARN', reasons: [expect.stringMatching(/^critical alert open since .+: another agent ships as site site-a$/)] });
    // An hour and more later only the second agent writes: its own heartbeat is the newest, and the alert resolves.
    clock.advance(2 * 3600_000);
    await cronPass(two.config, store, alerts, clock);
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    await cronPass(two.config, store, alerts, clock);
    // The first agent's alert (it saw the second's heartbeat), the second's, and the second's resolution.
    expect(alerts.filter((a) => a.key === 'site-name-shared').map((a) => a.subject)).toEqual(['another agent ships as site site-a', 'another agent ships as site site-a', 'resolved: another agent ships as site site-a']);
  });
});

describe('a host rebuilt within the hour (a new state directory as the same site)', () => {
  it("does not page \"another agent ships as site\" for the agent it replaced (says at info when that one's last heartbeat was), and pages once that agent writes again", async () => {
    const store = new MemoryBlobStore();
    const [old, rebuilt] = [site(), site()];
    writeTree(old.root, 1, 10);
    writeTree(rebuilt.root, 1, 10, { firstBatch: 5 });
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(old.config, store, alerts, clock);
    const lastOld = clock.now().toISOString();
    // The old host dies; ten minutes later its replacement, with a new state directory, runs its first passes.
    clock.advance(10 * 60_000);
    const first = await cronPass(rebuilt.config, store, alerts, clock);
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    await cronPass(rebuilt.config, store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'site-name-shared')).toEqual([]);
    const replaced = alerts.filter((a) => a.key === 'site-replaced-agent');
    expect(replaced).toEqual([expect.objectContaining({ severity: 'info', subject: `this agent took over site site-a from the agent on ${hostname()}, whose last heartbeat was at ${lastOld}` })]);
    expect(replaced[0]!.message).toMatch(/^This state directory began at .+ \(a new or rebuilt host\)\. The agent on .+ \(id [0-9a-f-]{36}\) last wrote a heartbeat as site site-a at .+, before then: it is taken as the agent this one replaced, not a second agent\./);
    expect(first.status.openAlerts.map((a) => [a.key, a.severity])).toEqual([['site-replaced-agent', 'info']]);
    // The old agent was not dead after all: it writes after the new one began, and the new one pages.
    clock.advance(60_000);
    await cronPass(old.config, store, alerts, clock);
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    const after = await cronPass(rebuilt.config, store, alerts, clock);
    expect(after.status.openAlerts.map((a) => a.key)).toContain('site-name-shared');
    expect(alerts.filter((a) => a.key === 'site-name-shared' && a.severity === 'critical').length).toBeGreaterThanOrEqual(1);
  });
});

describe('two agents from copies of one state directory (a cloned VM, a moved host left running)', () => {
  it('are found though they share id, host and state path, and the alert stays open while the other still writes within the hour', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    writeTree(s.root, 1, 10);
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(s.config, store, alerts, clock);
    // The clone: the same state directory's contents at the same path, on a copy of the machine.
    const original = `${s.config.state}.original`;
    cpSync(s.config.state, original, { recursive: true });
    const passOf = async (which: 'original' | 'clone') => {
      if (which === 'clone') {
        renameSync(s.config.state, `${s.config.state}.swap`);
        renameSync(`${s.config.state}.clone`, s.config.state);
      }
      try {
        return await cronPass(s.config, store, alerts, clock);
      } finally {
        if (which === 'clone') {
          renameSync(s.config.state, `${s.config.state}.clone`);
          renameSync(`${s.config.state}.swap`, s.config.state);
        }
      }
    };
    cpSync(original, `${s.config.state}.clone`, { recursive: true });
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    await passOf('original');
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    // At their first look each cannot tell the other from its own heartbeats written before its
    // directory went back to an older copy (a VM snapshot put back): each says it is older.
    const clone = await passOf('clone');
    expect(clone.status.openAlerts.map((a) => a.key)).toEqual(['state-restored']);
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    await passOf('original');
    // The other goes on writing after that: a copy, not the past.
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    expect((await passOf('clone')).status.openAlerts.map((a) => a.key)).toContain('site-name-shared');
    expect(alerts.find((a) => a.key === 'site-name-shared')?.message).toMatch(/^An agent with this agent's own id, on .+, wrote a heartbeat as site site-a at .+ that this state directory did not write: a copy of it runs elsewhere/);
    // Both go on writing: each one's own heartbeat is soon the newest, and the alert holds on both.
    for (let i = 0; i < 3; i++) {
      clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
      expect((await passOf('original')).status.openAlerts.map((a) => a.key)).toContain('site-name-shared');
      clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
      expect((await passOf('clone')).status.openAlerts.map((a) => a.key)).toContain('site-name-shared');
    }
    expect(alerts.filter((a) => a.subject === 'resolved: another agent ships as site site-a')).toEqual([]);
  });
});

describe('an agent whose heartbeat memory is newer than its heartbeats', () => {
  it('takes its own earlier heartbeats for its own after an upgrade (no list of its heartbeats kept yet) and after heartbeat.json was moved aside: no shared-site alert', async () => {
    const s = site();
    writeTree(s.root, 1, 4, { ageMs: 10_000 });
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(s.config, store, alerts, clock);
    // An agent of an earlier version kept no list of the heartbeats it wrote.
    const file = join(s.config.state, 'heartbeat.json');
    const { recent: _recent, recentSince: _since, ...older } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify(older));
    for (let i = 0; i < 3; i++) {
      clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
      await cronPass(s.config, store, alerts, clock);
    }
    // The file moved aside, as the "damaged" message advises: a new id, the same host and path.
    renameSync(file, `${file}.damaged`);
    for (let i = 0; i < 3; i++) {
      clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
      await cronPass(s.config, store, alerts, clock);
    }
    expect(alerts.filter((a) => a.key === 'site-name-shared')).toEqual([]);
  });
});

describe('a state directory restored from an older backup', () => {
  it('does not call lost what the store lists as shipped after the backup and was evicted since: a warning says the state is older than the agent\'s last heartbeat, and the next pass resolves it', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 4, { ageMs: 10_000, now: clock.now().getTime() }); // pending: quiet for 10 s of 600
    expect((await cronPass(s.config, store, alerts, clock)).report.packs).toBe(0);
    clock.advance(9 * 60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.packs).toBe(0);
    cpSync(s.config.state, `${s.config.state}.backup`, { recursive: true }); // the nightly backup of /var/lib/ferry
    clock.advance(2 * 60_000); // the batches close and ship, within the heartbeat interval of the pass before
    expect((await cronPass(s.config, store, alerts, clock)).report.packs).toBe(2);
    rmSync(join(s.root, '000001'), { recursive: true }); // the recorder evicts it: it is offsite
    rmSync(s.config.state, { recursive: true });
    // The host rebuilt with another layout, its state restored from the backup: a minute later,
    // well within the heartbeat interval.
    const config = { ...s.config, state: join(s.dir, 'var-lib-ferry') } as AgentConfig;
    renameSync(`${s.config.state}.backup`, config.state);
    clock.advance(60_000);
    const restored = await cronPass(config, store, alerts, clock);
    expect(restored.report.lost).toBe(0);
    expect(new LossLog(config.state, { readOnly: true }).all()).toEqual([]);
    expect(restored.status.openAlerts.map((a) => a.key)).toContain('state-restored');
    expect(alerts.find((a) => a.key === 'state-restored')?.message).toMatch(/The 2 pack\(s\) the store lists since .* were read, so what they hold is not called lost/);
    clock.advance(6 * 60_000);
    await cronPass(config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject === 'resolved: the state directory of site site-a is older than its agent\'s last run')).toHaveLength(1);
  });
});

describe('sources that cannot be read', () => {
  it('alerts once when the recordings mount disappears, keeps what was pending, and resolves when it is back', async () => {
    const s = site();
    writeTree(s.root, 1, 4, { ageMs: 10_000 }); // pending: not closed yet
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(s.config, store, alerts, clock);
    renameSync(s.root, `${s.root}.away`); // the mount is gone
    const gone = await cronPass(s.config, store, alerts, clock);
    expect(gone.report.lost).toBe(0);
    expect(gone.status.sources[0]).toMatchObject({ problem: `${s.root} does not exist`, backlog: { recordings: 4 } });
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject === 'source cs cannot be read')).toHaveLength(1);
    expect(gone.status.openAlerts.map((a) => a.key)).toEqual(['source-unavailable:cs']);
    clock.advance(25 * 3600_000); // past repeatHours (24): reminded once
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject.includes('source cs cannot be read'))).toHaveLength(2);
    renameSync(`${s.root}.away`, s.root);
    const back = await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject === 'resolved: source cs cannot be read')).toHaveLength(1);
    expect(back.status.openAlerts).toEqual([]);
    expect(back.report.lost).toBe(0);
  });

  it("resolves the alerts of a source taken out of the configuration, which no pass of its own will ever resolve, and keeps the other sources' alerts", async () => {
    const s = site();
    const extra = join(s.dir, 'gone');
    const two = { ...s.config, sources: [...s.config.sources, { ...s.config.sources[0]!, name: 'old', path: extra }] } as AgentConfig;
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    renameSync(s.root, `${s.root}.away`);
    const both = await cronPass(two, new MemoryBlobStore(), alerts, clock);
    expect(both.status.openAlerts.map((a) => a.key).sort()).toEqual(['source-unavailable:cs', 'source-unavailable:old']);
    const after = await cronPass(s.config, new MemoryBlobStore(), alerts, clock);
    expect(after.status.openAlerts.map((a) => a.key)).toEqual(['source-unavailable:cs']);
    expect(alerts.find((a) => a.subject === 'resolved: source old cannot be read')?.message).toBe("Source old is no longer in the agent's configuration: this condition is no longer watched.");
  });

  it("does not call lost what was pending under a source's old path when its path changes: a warning names both paths and the count, then the new root is followed", async () => {
    const s = site();
    writeTree(s.root, 2, 4, { ageMs: 10_000 }); // pending: not closed yet
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const store = new MemoryBlobStore();
    await cronPass(s.config, store, alerts, clock);
    const other = join(s.dir, 'rec-b');
    mkdirSync(other);
    writeTree(other, 1, 4, { firstBatch: 100, ageMs: 10_000 });
    const moved = { ...s.config, sources: [{ ...s.config.sources[0]!, path: other }] } as AgentConfig;
    const first = await cronPass(moved, store, alerts, clock);
    expect(first.report.lost).toBe(0);
    expect(new LossLog(s.config.state, { readOnly: true }).all()).toEqual([]);
    const warning = alerts.find((a) => a.subject === 'source cs now reads another directory');
    expect(warning).toMatchObject({ severity: 'warning' });
    expect(warning!.message).toBe(`Source cs reads ${other}; at its last pass it read ${s.root}, where 8 recording(s) in 2 batch(es) were waiting to be shipped. They are not followed under the new path (neither shipped nor called lost): if ${s.root} still holds them, ship them with a source that reads it until it is drained.`);
    expect(first.status.sources[0]).toMatchObject({ backlog: { recordings: 4 } });
    const next = await cronPass(moved, store, alerts, clock);
    expect(next.report.lost).toBe(0);
    expect(next.status.openAlerts).toEqual([]);
    // The same directory spelled otherwise (a trailing slash, a link to it) is no move.
    symlinkSync(other, join(s.dir, 'link'));
    for (const path of [`${other}/`, join(s.dir, 'link')]) {
      const respelled = await cronPass({ ...moved, sources: [{ ...moved.sources[0]!, path }] } as AgentConfig, store, alerts, clock);
      expect(respelled.status.openAlerts).toEqual([]);
    }
    expect(alerts.filter((a) => a.subject === 'source cs now reads another directory')).toHaveLength(1);
  });

  it('reports as the backlog of a mount that disappeared what its last pass left unshipped, not what that pass shipped after its walk', async () => {
    const s = site();
    writeTree(s.root, 2, 10); // closed: shipped by the first pass, after its walk wrote the view
    writeTree(s.root, 1, 4, { firstBatch: 3, ageMs: 10_000 }); // not closed yet: pending
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const first = await cronPass(s.config, store, alerts, clock);
    expect(first.report.recordings).toBe(20);
    renameSync(s.root, `${s.root}.away`); // the mount is gone
    const gone = await cronPass(s.config, store, alerts, clock);
    expect(gone.status.sources[0]).toMatchObject({ problem: `${s.root} does not exist`, backlog: { batches: 1, recordings: 4 } });
    expect(gone.report.lost).toBe(0);
  });

  it('calls nothing lost when a root that held batches is suddenly empty (an unmounted share) and alerts instead', async () => {
    const s = site();
    writeTree(s.root, 2, 4, { ageMs: 10_000 });
    const alerts: Alert[] = [];
    await cronPass(s.config, new MemoryBlobStore(), alerts);
    for (const b of readdirSync(s.root)) renameSync(join(s.root, b), join(s.dir, b));
    const empty = await cronPass(s.config, new MemoryBlobStore(), alerts);
    expect(empty.report.lost).toBe(0);
    expect(alerts.map((a) => a.subject)).toContain('source cs is suddenly empty');
    // Nothing of the source can ship: the pass fails (exit 1), and its status names why.
    expect(empty.report.failed).toBe(1);
    expect(empty.status.sources[0]).toMatchObject({ problem: expect.stringMatching(/^\S+ is suddenly empty \(it held 2 batch directories at the pass of .*\): is the recorder's share mounted\?$/) });
    for (const b of ['000001', '000002']) renameSync(join(s.dir, b), join(s.root, b));
    const back = await cronPass(s.config, new MemoryBlobStore(), alerts);
    expect(back.report.lost).toBe(0);
    expect(back.report.failed).toBe(0);
    expect(alerts.map((a) => a.subject)).toContain('resolved: source cs is suddenly empty');
  });
});

const T0 = 1_790_000_000;
const segName = (n: number) => `mysql-bin.${String(n).padStart(6, '0')}`;
function writeSegment(root: string, n: number, active = false): void {
  const start = T0 + n * 100;
  const events = [1, 2, 3].map((i) => ({ ts: start + 10 * i }));
  const last = start + 30 + (active ? 0 : 5);
  writeAt(join(root, segName(n)), binlogSegment({ startTs: start, events, ...(active ? { inUse: true } : { rotateTo: { name: segName(n + 1), ts: last } }) }), new Date(last * 1000));
}

describe('alerts with memory', () => {
  it('raises a binlog gap once across cron runs, repeats it daily while open, and resolves it when a newer full is offsite', async () => {
    const s = artefactSite(`  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 0 }`);
    for (const n of [1, 2, 4, 5]) writeSegment(s.root, n, n === 5);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const gapAlerts = () => alerts.filter((a) => a.subject.includes('binlog gap in binlog: segment 3 missing'));
    await cronPass(s.config, store, alerts, clock);
    clock.advance(10 * 60_000);
    await cronPass(s.config, store, alerts, clock);
    expect(gapAlerts()).toHaveLength(1);
    expect(gapAlerts()[0]).toMatchObject({ key: 'binlog-gap:binlog:3-3', details: { alertState: 'raised' } });
    // What happened, that the loss page is the same event, what to do now, and how it ends.
    expect(gapAlerts()[0]!.message).toContain('segment 3 of source binlog is neither on the site nor offsite: removed from the site (purged by the database server) before the agent shipped it. Recorded lost (`ferry agent status --losses` lists it): this alert is its page, with no loss alert of its own.');
    // One event, one page: the purged segment's loss is recorded, not paged again by a loss alert.
    expect(alerts.filter((a) => a.subject.includes('lost before shipping'))).toEqual([]);
    expect(gapAlerts()[0]!.message).toContain('take a new full backup of the database now');
    expect(gapAlerts()[0]!.message).toContain('This alert resolves by itself once a full backup newer than the gap is offsite');
    clock.advance(25 * 3600_000);
    await cronPass(s.config, store, alerts, clock);
    await cronPass(s.config, store, alerts, clock);
    expect(gapAlerts()).toHaveLength(2);
    expect(gapAlerts()[1]!.subject).toMatch(/^still open since/);
    // The DBA takes a new full backup, as the alert advised.
    writeAt(join(s.root, 'full-after-gap.sql'), bytesOf(5000, 7), clock.now());
    clock.advance(60_000);
    const bridged = await cronPass(s.config, store, alerts, clock);
    expect(bridged.report.artefacts).toBeGreaterThanOrEqual(1);
    expect(alerts.filter((a) => a.subject === 'resolved: binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    expect(bridged.status.openAlerts).toEqual([]);
    clock.advance(25 * 3600_000);
    await cronPass(s.config, store, alerts, clock);
    expect(gapAlerts()).toHaveLength(3); // the two raised ones and the resolution, nothing after
  });
  it('keeps a bridged binlog gap resolved when the segment after it closes after the full was taken (the full holds a position in it)', async () => {
    const s = artefactSite(`  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 0 }`);
    for (const n of [1, 2, 4]) writeSegment(s.root, n, n === 4);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const gap = (subject: string) => alerts.filter((a) => a.subject === subject);
    // The pass that finds the gap: the purged segment is a loss (exit 3), recorded, and paged once, by the gap's alert.
    const found = await cronPass(s.config, store, alerts, clock);
    expect(found.report.lost).toBe(1);
    expect(gap('binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    expect(gap('binlog: mysql-bin.000003 lost before shipping')).toEqual([]);
    expect(new LossLog(s.config.state, { readOnly: true }).all()[0]).toMatchObject({ reason: 'purged by the database server before it was shipped (a binlog gap: point-in-time restore cannot cross it)', pagedBy: 'binlog-gap:binlog:3-3' });
    expect(new LossLog(s.config.state, { readOnly: true }).all().map((l) => [l.batch, l.files.map((f) => f.path)])).toEqual([['mysql-bin.000003', [join(s.root, 'mysql-bin.000003')]]]);
    // The DBA takes a new full while mysql-bin.000004 is the active segment.
    clock.advance(60_000);
    writeAt(join(s.root, 'full-after-gap.sql'), bytesOf(5000, 7), clock.now());
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    expect(gap('resolved: binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    // Then 000004 closes (after the full) and 000005 opens.
    clock.advance(60_000);
    const closedAt = Math.floor(clock.now().getTime() / 1000);
    writeAt(join(s.root, segName(4)), binlogSegment({ startTs: T0 + 400, events: [{ ts: T0 + 410 }], rotateTo: { name: segName(5), ts: closedAt } }), clock.now());
    writeSegment(s.root, 5, true);
    for (let pass = 0; pass < 3; pass++) {
      clock.advance(60_000);
      const r = await cronPass(s.config, store, alerts, clock);
      expect(r.status.openAlerts).toEqual([]);
      expect(r.report.lost).toBe(0);
    }
    expect(gap('binlog gap in binlog: segment 3 missing')).toHaveLength(1);
  });

  it('finds the binlog numbering restarted (RESET MASTER): the run before\'s unclosed segment recorded lost once, a critical alert until a newer full is offsite, and no gap of the new run\'s numbers', async () => {
    const s = artefactSite(`  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 1 }`);
    for (const n of [1, 2, 3, 4]) writeSegment(s.root, n, n === 4);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const first = await cronPass(s.config, store, alerts, clock);
    expect(first.report).toMatchObject({ artefacts: 4, lost: 0 }); // 1-3 closed, 4 as a partial
    // RESET MASTER: every binlog deleted, mysql-bin.000001 again, active.
    for (const n of [1, 2, 3, 4]) rmSync(join(s.root, segName(n)));
    const now = () => Math.floor(clock.now().getTime() / 1000);
    clock.advance(60_000);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: now(), events: [{ ts: now() }], inUse: true }), clock.now());
    const reset = await cronPass(s.config, store, alerts, clock);
    expect(reset.report.lost).toBe(1);
    const losses = new LossLog(s.config.state, { readOnly: true }).all();
    expect(losses.map((l) => l.batch)).toEqual([segName(4)]);
    expect(losses[0]!.reason).toMatch(/^cut off by a restart of the binlog numbering \(RESET MASTER, or a new or restored server\) before its closed segment was shipped/);
    expect(alerts.filter((a) => a.subject === 'binlog numbering of binlog restarted' && a.severity === 'critical')).toHaveLength(1);
    // The new run goes on: 1 and 2 close, 3 is active. Its numbers are not the old run's gaps or partials.
    clock.advance(60_000);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: now() - 60, events: [{ ts: now() - 59 }], rotateTo: { name: segName(2), ts: now() } }), clock.now());
    writeAt(join(s.root, segName(2)), binlogSegment({ startTs: now(), events: [{ ts: now() }], rotateTo: { name: segName(3), ts: now() } }), clock.now());
    writeAt(join(s.root, segName(3)), binlogSegment({ startTs: now(), events: [{ ts: now() }], inUse: true }), clock.now());
    clock.advance(60_000);
    const next = await cronPass(s.config, store, alerts, clock);
    expect(next.report.lost).toBe(0);
    // The dump source shares the directory and has shipped no full yet: it is told it selects nothing there (a warning).
    expect(next.status.openAlerts.map((a) => a.subject).sort()).toEqual(['binlog numbering of binlog restarted', `source full selects none of the files in ${s.root}`]);
    expect(alerts.some((a) => a.subject.includes('binlog gap'))).toBe(false);
    // A new full: point-in-time restore reaches the times after it.
    writeAt(join(s.root, 'full-after-reset.sql'), bytesOf(5000, 8), clock.now());
    clock.advance(60_000);
    const bridged = await cronPass(s.config, store, alerts, clock);
    expect(bridged.status.openAlerts).toEqual([]);
    expect(alerts.filter((a) => a.subject === 'resolved: binlog numbering of binlog restarted')).toHaveLength(1);
    clock.advance(60_000);
    expect((await cronPass(s.config, store, alerts, clock)).report.lost).toBe(0);
    expect(new LossLog(s.config.state, { readOnly: true }).all()).toHaveLength(1);
  });

  it('finds RESET MASTER while the server was still writing its first segment: the new mysql-bin.000001 is shorter than the snapshot shipped of the old one', async () => {
    const s = artefactSite(`  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 1 }`);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: T0, events: Array.from({ length: 20 }, (_, i) => ({ ts: T0 + i })), inUse: true }), new Date((T0 + 20) * 1000));
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report.artefacts).toBe(1); // the partial of 000001
    const now = Math.floor(clock.now().getTime() / 1000);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: now, events: [{ ts: now }], inUse: true }), clock.now());
    clock.advance(60_000);
    const reset = await cronPass(s.config, store, alerts, clock);
    expect(reset.report.lost).toBe(1);
    expect(alerts.filter((a) => a.subject === 'binlog numbering of binlog restarted')).toHaveLength(1);
  });

  it('counts a full taken right after RESET MASTER, before the agent found the restart, as reaching the new run: the restart alert does not stay open', async () => {
    const s = artefactSite(`  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 1 }`);
    for (const n of [1, 2, 3]) writeSegment(s.root, n, n === 3);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date(Date.now() - 10 * 60_000));
    await cronPass(s.config, store, alerts, clock);
    // RESET MASTER now (the new 000001 is made now), a full a minute later, the agent's pass five minutes later.
    for (const n of [1, 2, 3]) rmSync(join(s.root, segName(n)));
    const nowSec = Math.floor(Date.now() / 1000);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: nowSec, events: [{ ts: nowSec }], inUse: true }), new Date());
    writeAt(join(s.root, 'full-after-reset.sql'), bytesOf(5000, 9), new Date(Date.now() + 60_000));
    clock.advance(15 * 60_000);
    const found = await cronPass(s.config, store, alerts, clock);
    expect(found.report.lost).toBe(1);
    expect(found.status.openAlerts.map((a) => a.key)).not.toContain('binlog-restart:binlog');
  });

  it('finds segments purged while the state directory was lost: the store says where the chain offsite ends', async () => {
    const s = artefactSite(`  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 0 }`);
    for (const n of [1, 2, 3, 4]) writeSegment(s.root, n, n === 4);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report.artefacts).toBe(3);
    // The state directory is lost; meanwhile the server closes 4 to 6 and purges up to 5.
    rmSync(s.config.state, { recursive: true });
    for (const n of [4, 5, 6, 7]) writeSegment(s.root, n, n === 7);
    for (const n of [1, 2, 3, 4, 5]) rmSync(join(s.root, segName(n)));
    clock.advance(60_000);
    const after = await cronPass(s.config, store, alerts, clock);
    expect(after.report.lost).toBe(2);
    expect(alerts.filter((a) => a.subject === 'binlog gap in binlog: segments 4 to 5 missing')).toHaveLength(1);
    expect(new LossLog(s.config.state, { readOnly: true }).all().map((l) => l.batch)).toEqual(['mysql-bin.000004 to mysql-bin.000005']);
    clock.advance(60_000);
    const next = await cronPass(s.config, store, alerts, clock);
    expect(next.report.lost).toBe(0);
    expect(next.status.openAlerts.map((a) => a.key)).toEqual(['binlog-gap:binlog:4-5']);
  });

  it('at a failover (a new host with no state directory, a new server numbering from 000001 again) finds the restart from the store, and a segment purged while offsite only as a partial is a gap', async () => {
    const s = artefactSite(`  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 1 }`);
    for (const n of [1, 2, 3, 4, 5]) writeSegment(s.root, n, n === 5);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    expect((await cronPass(s.config, store, alerts, clock)).report.artefacts).toBe(5); // 1-4 closed, the partial of 5
    // The primary is lost; the standby's server was restored from a dump and numbers from 000001 again, its agent has a new state directory.
    rmSync(s.config.state, { recursive: true });
    for (const n of [1, 2, 3, 4, 5]) rmSync(join(s.root, segName(n)));
    const nowSec = Math.floor(clock.now().getTime() / 1000);
    writeAt(join(s.root, segName(1)), binlogSegment({ startTs: nowSec, events: [{ ts: nowSec }], inUse: true }), clock.now());
    clock.advance(60_000);
    const failover = await cronPass(s.config, store, alerts, clock);
    expect(failover.report.artefacts).toBe(1); // the new server's 000001, as a partial
    expect(alerts.filter((a) => a.subject === 'binlog numbering of binlog restarted' && a.severity === 'critical')).toHaveLength(1);
    expect(failover.status.openAlerts.map((a) => a.key)).toContain('binlog-restart:binlog');
    // The new server rotates twice and purges 000001 (offsite only as a partial) and 000002 (never offsite) before the next pass.
    const at = Math.floor(clock.now().getTime() / 1000);
    writeAt(join(s.root, segName(3)), binlogSegment({ startTs: at + 20, events: [{ ts: at + 21 }], inUse: true }), new Date((at + 21) * 1000));
    rmSync(join(s.root, segName(1)));
    clock.advance(60_000);
    const purged = await cronPass(s.config, store, alerts, clock);
    expect(purged.report.lost).toBe(2);
    expect(alerts.filter((a) => a.subject === 'binlog gap in binlog: segments 1 to 2 missing')).toHaveLength(1);
    expect(new LossLog(s.config.state, { readOnly: true }).all().map((l) => l.batch)).toEqual(['mysql-bin.000001 to mysql-bin.000002']);
  });

  it("keeps a binlog gap open when only a file that is no database dump (a PBX configuration tarball) is newer, and resolves it with the next dump that records its binlog position", async () => {
    const s = artefactSite(`  - { name: db, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: pbx, type: rotated, profile: generic, patterns: ["*.tar"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 0 }`);
    const clock = new ManualClock(new Date());
    const dump = (name: string, seq: number, at: Date) => writeAt(join(s.root, name), `-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.${String(seq).padStart(6, '0')}', MASTER_LOG_POS=4;\nCREATE TABLE t (i int);\n`, at);
    dump('full-1.sql', 1, new Date((T0 - 3600) * 1000)); // before the segments: it bridges nothing
    for (const n of [1, 2, 4, 5]) writeSegment(s.root, n, n === 5);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject === 'binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    clock.advance(60_000);
    writeAt(join(s.root, 'pbx-config.tar'), bytesOf(3000, 4), clock.now());
    clock.advance(60_000);
    const tar = await cronPass(s.config, store, alerts, clock);
    expect(tar.report.artefacts).toBe(1);
    expect(tar.status.openAlerts.map((a) => a.key)).toEqual(['binlog-gap:binlog:3-3']);
    dump('full-2.sql', 5, clock.now());
    clock.advance(60_000);
    const bridged = await cronPass(s.config, store, alerts, clock);
    expect(bridged.status.openAlerts).toEqual([]);
    expect(alerts.find((a) => a.subject === 'resolved: binlog gap in binlog: segment 3 missing')?.message).toContain('(db/full-2.sql,');
  });

  it('resolves a binlog gap in the same pass as the full that bridges it, however slowly the full uploads beside the binlog source', async () => {
    const s = artefactSite(`  - { name: full, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 0 }
  - { name: binlog, type: binlog, path: "{root}", basename: mysql-bin, partialIntervalSeconds: 0 }`);
    for (const n of [1, 2, 4, 5]) writeSegment(s.root, n, n === 5);
    const memory = new MemoryBlobStore();
    let slow = false;
    const pause = () => (slow ? new Promise((r) => setTimeout(r, 50)) : Promise.resolve());
    // Every write waits while `slow`: the binlog source scans long before the full is offsite.
    const store: BlobStore = Object.assign(Object.create(memory) as BlobStore, {
      put: async (...args: Parameters<BlobStore['put']>) => (await pause(), (memory as BlobStore).put(...args)),
      uploadPart: async (...args: Parameters<BlobStore['uploadPart']>) => (await pause(), (memory as BlobStore).uploadPart(...args)),
    });
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.subject === 'binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    writeAt(join(s.root, 'full-after-gap.sql'), bytesOf(5000, 7), clock.now());
    clock.advance(60_000);
    slow = true;
    const bridged = await cronPass(s.config, store, alerts, clock);
    expect(bridged.report.artefacts).toBeGreaterThanOrEqual(1);
    expect(alerts.filter((a) => a.subject === 'resolved: binlog gap in binlog: segment 3 missing')).toHaveLength(1);
    expect(bridged.status.openAlerts).toEqual([]);
  });
});

describe('the continuous agent', () => {
  it('keeps at most one abort listener on its signal however many polls it makes', async () => {
    const s = site('', '{ partSizeMiB: 5, pollSeconds: 0.005 }');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => void warnings.push(w);
    process.on('warning', onWarning);
    const agent = new Agent({ config: s.config, store: new MemoryBlobStore(), clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back' });
    let cycles = 0;
    let most = 0;
    const controller = new AbortController();
    const cycle = agent.cycle.bind(agent);
    agent.cycle = async () => {
      cycles++;
      most = Math.max(most, getEventListeners(controller.signal, 'abort').length);
      if (cycles >= 25) controller.abort();
      return cycle();
    };
    await agent.run(controller.signal);
    agent.close();
    process.off('warning', onWarning);
    expect(cycles).toBeGreaterThanOrEqual(25);
    expect(most).toBeLessThanOrEqual(1);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('state files', () => {
  it('keeps every observation in the state directory, written whole', async () => {
    const s = site();
    writeTree(s.root, 1, 4, { ageMs: 10_000 });
    await cronPass(s.config, new MemoryBlobStore(), []);
    for (const f of ['journal.jsonl', 'observations.json', 'losses.jsonl', 'status.json']) expect(existsSync(join(s.config.state, f))).toBe(true);
    expect(readdirSync(s.config.state).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
