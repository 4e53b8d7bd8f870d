import { describe, it, expect, beforeEach } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, symlinkSync, mkdirSync, utimesSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { parseManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { recordingId } from '../../core/ids.ts';
import { Agent, type RecordingsSourceStatus } from '../../agent/agent.ts';
import type { VerifyMode } from '../../agent/verify.ts';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';

const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function setup(extra = '') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-ship-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config: AgentConfig = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 3 }
sources:
  - name: cs
    type: recordings
    path: ${root}
    closeAfterFiles: 10
    quietSeconds: 60
    settleSeconds: 1
${extra}`);
  return { dir, root, config };
}

function makeAgent(config: AgentConfig, store: BlobStore, alerts: Alert[] = [], verify: VerifyMode = 'read-back') {
  return new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify, retryDelayMs: () => 1 });
}

/** Counts whole-object reads of packs (a read-back), passing everything through. */
function countingPackReads(store: BlobStore, etagOf?: (etag: string | undefined) => string | undefined) {
  const reads = { packs: 0 };
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    get: (k: string, r?: { start: number; end: number }) => {
      if (k.endsWith('.tar') && !r) reads.packs++;
      return store.get(k, r);
    },
    head: async (k: string) => {
      const info = await store.head(k);
      return info && etagOf ? { ...info, etag: etagOf(info.etag) } : info;
    },
  });
  return { spy, reads };
}

async function manifests(store: BlobStore) {
  const out = [];
  for await (const o of store.list('manifests/')) out.push(parseManifest(await readAll(store, o.key)));
  return out;
}

describe('agent shipping', () => {
  let ctx: ReturnType<typeof setup>;
  beforeEach(() => {
    ctx = setup();
  });

  it('ships each closed batch as one tar pack with a manifest, oldest first, and catalogues every recording', async () => {
    const recs = writeTree(ctx.root, 3, 10);
    const store = new MemoryBlobStore();
    const agent = makeAgent(ctx.config, store);
    const report = await agent.cycle();
    expect(report).toMatchObject({ packs: 3, recordings: 30, failed: 0, lost: 0 });
    const ms = await manifests(store);
    expect(ms.map((m) => m.batch.path).sort()).toEqual(['000001', '000002', '000003']);
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) await ingestManifest({ blobs: store, catalogue }, o.key);
    for (const r of recs) {
      const page = await catalogue.searchRecordings({ site: 'site-a', callId: r.callId });
      expect(page.items).toHaveLength(1);
      const e = page.items[0]!;
      expect(e.meta).toMatchObject({ agent: r.agent, caller: r.caller, called: r.called, start: r.start });
      const { body } = await store.get(e.packKey, { start: e.offset, end: e.offset + e.length - 1 });
      const bytes = Buffer.concat(await body.toArray());
      expect(bytes.equals(r.bytes)).toBe(true);
    }
    // A second pass finds nothing new.
    expect(await agent.cycle()).toMatchObject({ packs: 0, recordings: 0 });
    agent.close();
  });

  it('catalogues a recording whose file time is 1970 (a recorder clock not set) at the time the agent read it, with the reason', async () => {
    const batch = join(ctx.root, '000001');
    mkdirSync(batch);
    writeFileSync(join(batch, 'rtc-reset.wav'), Buffer.alloc(4000, 7));
    utimesSync(join(batch, 'rtc-reset.wav'), 60, 60);
    utimesSync(batch, 60, 60);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-05T19:30:00Z'));
    const agent = new Agent({ config: ctx.config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    expect(await agent.cycle()).toMatchObject({ packs: 1, recordings: 1 });
    agent.close();
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) await ingestManifest({ blobs: store, catalogue }, o.key);
    const [entry] = (await catalogue.searchRecordings({ site: 'site-a' })).items;
    expect(entry?.start).toBe('2026-12-05T19:30:00.000Z');
    expect(entry?.issues?.join('\n')).toContain("its time 1970-01-01T00:01:00.000Z is before 2001: the recorder's clock was not set");
  });

  it('writes packs the ordinary tar tool opens, with sidecars', async () => {
    const recs = writeTree(ctx.root, 1, 10);
    const store = new MemoryBlobStore();
    const agent = makeAgent(ctx.config, store);
    await agent.cycle();
    const [m] = await manifests(store);
    const file = join(ctx.dir, 'p.tar');
    writeFileSync(file, await readAll(store, m!.packKey));
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toHaveLength(20);
    expect(names).toContain(recs[0]!.path);
    expect(names).toContain(recs[0]!.path.replace('.wav', '.json'));
    agent.close();
  });

  it('uses multipart with bounded parts for a large batch', async () => {
    writeTree(ctx.root, 1, 10, { size: 1_500_000 });
    const store = new MemoryBlobStore();
    // Part sizes by part number (parts digested on two threads may be sent out of order).
    const parts: number[] = [];
    const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: (k: string, u: string, n: number, b: Uint8Array, s?: string) => {
        parts[n - 1] = b.length;
        return store.uploadPart(k, u, n, b, s);
      },
    });
    const agent = makeAgent(ctx.config, spy);
    await agent.cycle();
    const [m] = await manifests(store);
    expect(m!.pack.parts).toBe(3);
    expect(parts.slice(0, 2)).toEqual([5 * 1024 * 1024, 5 * 1024 * 1024]);
    expect(Math.max(...parts)).toBeLessThanOrEqual(5 * 1024 * 1024);
    const open = [];
    for await (const u of store.listMultipart('')) open.push(u);
    expect(open).toEqual([]);
    agent.close();
  });

  it("gives every member and sidecar in the manifest the SHA-256 of its file and the recording id of that, in a one-part and a multipart pack", async () => {
    const small = writeTree(ctx.root, 1, 10);
    const large = writeTree(ctx.root, 1, 10, { size: 1_500_000, firstBatch: 2 });
    const store = new MemoryBlobStore();
    const agent = makeAgent(ctx.config, store);
    await agent.cycle();
    const packs = await manifests(store);
    expect(packs.map((m) => m.pack.parts).sort()).toEqual([1, 3]);
    const members = packs.flatMap((m) => m.members);
    for (const rec of [...small, ...large]) {
      const member = members.find((x) => x.path === rec.path);
      expect(member?.sha256).toBe(rec.sha256);
      expect(member?.rid).toBe(recordingId('site-a', rec.path, rec.sha256));
      expect(member?.sidecar?.sha256).toBe(sha256hex(readFileSync(join(ctx.root, rec.path.replace('.wav', '.json')))));
    }
    agent.close();
  });

  it('does not wait for a batch that is neither full nor quiet, nor for a file still settling', async () => {
    writeTree(ctx.root, 1, 5, { ageMs: 10_000 }); // 5 of 10, 10 s old < 60 s quiet
    const store = new MemoryBlobStore();
    const agent = makeAgent(ctx.config, store);
    expect((await agent.cycle()).packs).toBe(0);
    agent.close();
  });

  it('re-ships a torn or corrupted upload and never publishes its manifest', async () => {
    writeTree(ctx.root, 2, 10);
    // Stores that can keep a torn body (s3rver) neither check checksums nor honour If-None-Match;
    // AWS S3 rejects such a body outright, so this is the combination that happens.
    const store = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false } });
    const faulty = new FaultyBlobStore(store).truncateNext(1, { match: (k) => k.endsWith('.tar') }).flipNext(1, { match: (k) => k.endsWith('.tar') });
    const agent = makeAgent(ctx.config, faulty);
    const report = await agent.cycle();
    expect(faulty.injected.length).toBe(2);
    expect(report).toMatchObject({ packs: 2, failed: 0 });
    const ms = await manifests(store);
    expect(ms).toHaveLength(2);
    for (const m of ms) {
      const pack = await readAll(store, m.packKey);
      expect(pack.length).toBe(m.pack.size);
    }
    agent.close();
  });

  it('in etag mode, trusts a store ETag equal to the MD5 of what was sent and reads nothing back', async () => {
    writeTree(ctx.root, 3, 10, { size: 600_000 }); // 6 MB batches: multipart with 5 MiB parts
    const store = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false } });
    const { spy, reads } = countingPackReads(store);
    const report = await makeAgent(ctx.config, spy, [], 'etag').cycle();
    expect(report).toMatchObject({ packs: 3, failed: 0 });
    expect(reads.packs).toBe(0);
    const ms = await manifests(store);
    expect(ms.map((m) => m.pack.parts).sort()).toEqual([2, 2, 2]);
  });

  it('in etag mode, sends no HEAD for a single-PUT pack the store answered with the MD5 sent, and one for a multipart pack', async () => {
    writeTree(ctx.root, 2, 10); // ~20 KB batches: one PUT each
    writeTree(ctx.root, 1, 10, { size: 600_000, firstBatch: 3 }); // 6 MB: multipart with 5 MiB parts
    const store = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
    const heads: string[] = [];
    const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, { head: (k: string) => (heads.push(k), store.head(k)) });
    expect(await makeAgent(ctx.config, spy, [], 'etag').cycle()).toMatchObject({ packs: 3, failed: 0 });
    const ms = await manifests(store);
    expect(ms.map((m) => m.pack.parts).sort()).toEqual([1, 1, 2]);
    expect(heads.filter((k) => k.endsWith('.tar'))).toEqual(ms.filter((m) => m.pack.parts > 1).map((m) => m.packKey));
  });

  it('in etag mode, reads back when the ETag is not an MD5 of the data, and still catches a torn upload', async () => {
    writeTree(ctx.root, 2, 10);
    const store = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false, md5ETags: false } });
    const faulty = new FaultyBlobStore(store).flipNext(1, { match: (k) => k.endsWith('.tar') });
    const { spy, reads } = countingPackReads(faulty, () => '"not-an-md5"');
    const report = await makeAgent(ctx.config, spy, [], 'etag').cycle();
    expect(report).toMatchObject({ packs: 2, failed: 0 });
    // Two published packs and the damaged one (same size, so only its bytes tell): all read back in full.
    expect(reads.packs).toBe(3);
    for (const m of await manifests(store)) expect(sha256hex(await readAll(store, m.packKey))).toBe(m.pack.sha256);

    // With truthful ETags the damaged upload is caught by its ETag, and only it is read back.
    const again = setup();
    writeTree(again.root, 2, 10);
    const store2 = new MemoryBlobStore({ features: { verifiesChecksums: false, conditionalPut: false } });
    const faulty2 = new FaultyBlobStore(store2).flipNext(1, { match: (k) => k.endsWith('.tar') });
    const counted = countingPackReads(faulty2);
    expect(await makeAgent(again.config, counted.spy, [], 'etag').cycle()).toMatchObject({ packs: 2, failed: 0 });
    expect(faulty2.injected).toHaveLength(1);
    // The store answered the damaged PUT with another MD5 than the one sent: re-shipped under the next attempt's key, nothing read back.
    expect(counted.reads.packs).toBe(0);
    expect((await manifests(store2)).filter((m) => m.superseded?.length === 1)).toHaveLength(1);
    for (const m of await manifests(store2)) expect(sha256hex(await readAll(store2, m.packKey))).toBe(m.pack.sha256);
  });

  it('does not publish a batch the recorder deletes while it is packed, reports its recordings lost in that pass, once', async () => {
    writeTree(ctx.root, 2, 10, { size: 1_200_000 });
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    // The recorder deletes batch 000001 while its first part is on the wire.
    let evicted = false;
    const evicting: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      uploadPart: async (k: string, u: string, n: number, b: Uint8Array, sum?: string) => {
        if (!evicted) {
          evicted = true;
          rmSync(join(ctx.root, '000001'), { recursive: true });
        }
        return store.uploadPart(k, u, n, b, sum);
      },
    });
    const agent = makeAgent({ ...ctx.config, shipping: { ...ctx.config.shipping, packConcurrency: 1 } }, evicting, alerts);
    const first = await agent.cycle();
    expect(first).toMatchObject({ packs: 1, lost: 10, failed: 0 });
    expect((await manifests(store)).map((m) => m.batch.path)).toEqual(['000002']);
    let tars = 0;
    for await (const o of store.list('recordings/')) tars += o.key.endsWith('.tar') ? 1 : 0;
    expect(tars).toBe(1);
    expect(alerts.filter((a) => a.severity === 'critical' && a.message.includes('000001'))).toHaveLength(1);
    const second = await agent.cycle();
    expect(second.lost).toBe(0);
    expect(alerts.filter((a) => a.severity === 'critical')).toHaveLength(1);
    expect(agent.statusSnapshot().totals).toMatchObject({ lostBatches: 1, lostRecordings: 10 });
    agent.close();
  });

  it('copes with odd names, ignores symlinks out of the root, and never follows them', async () => {
    const batch = join(ctx.root, '000009');
    mkdirSync(batch);
    const names = ['appel élève "1".wav', "it's #2 & more.wav", '日本語.wav', 'x'.repeat(120) + '.wav'];
    for (const n of names) writeFileSync(join(batch, n), Buffer.from(`audio of ${n}`));
    const outside = join(ctx.dir, 'secret.wav');
    writeFileSync(outside, 'secret');
    symlinkSync(outside, join(batch, 'link.wav'));
    symlinkSync(ctx.dir, join(ctx.root, 'linked-batch'));
    const old = new Date(Date.now() - 3600_000);
    for (const n of names) utimesSync(join(batch, n), old, old);
    utimesSync(batch, old, old);
    const store = new MemoryBlobStore();
    const agent = makeAgent(ctx.config, store);
    await agent.cycle();
    const [m] = await manifests(store);
    expect(m!.members.map((x) => x.path.split('/')[1]).sort()).toEqual([...names].sort());
    const pack = await readAll(store, m!.packKey);
    expect(pack.includes(Buffer.from('secret'))).toBe(false);
    const file = join(ctx.dir, 'odd.tar');
    writeFileSync(file, pack);
    const out = join(ctx.dir, 'x');
    mkdirSync(out);
    execFileSync('tar', ['-xf', file, '-C', out]);
    expect(execFileSync('ls', [join(out, '000009')], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual([...names].sort());
    agent.close();
  });

  it('ships the rest of a batch around an unreadable recording, alerts it once, keeps it in the backlog, and resolves the alert when it ships', async () => {
    const recs = writeTree(ctx.root, 1, 10);
    const bad = recs[3]!;
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    let failing = true;
    const agent = new Agent({
      config: ctx.config,
      store,
      clock: new ManualClock(new Date()),
      log: silentLogger,
      notifier: { notify: async (a) => void alerts.push(a) },
      verify: 'read-back',
      retryDelayMs: () => 1,
      openFile: async (path, flags) => {
        if (failing && path.endsWith(bad.name)) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
        return open(path, flags);
      },
    });
    const first = await agent.cycle();
    expect(first).toMatchObject({ packs: 1, recordings: 9, failed: 0 });
    expect((await manifests(store))[0]!.members.map((m) => m.path)).not.toContain(bad.path);
    expect(alerts.some((a) => a.subject.includes(bad.name))).toBe(true);
    expect((agent.statusSnapshot().sources[0] as RecordingsSourceStatus | undefined)?.backlog).toMatchObject({ recordings: 1 });
    await agent.cycle();
    expect(alerts.filter((a) => a.subject.includes(bad.name))).toHaveLength(1);
    failing = false;
    const second = await agent.cycle();
    expect(second).toMatchObject({ packs: 1, recordings: 1 });
    expect((agent.statusSnapshot().sources[0] as RecordingsSourceStatus | undefined)?.backlog).toMatchObject({ recordings: 0 });
    expect(alerts.filter((a) => a.subject === `resolved: recording cannot be read: ${join(ctx.root, bad.path)}`)).toHaveLength(1);
    expect(agent.statusSnapshot().openAlerts).toEqual([]);
    agent.close();
  });

  it('publishes write-once: a batch shipped again after losing its journal finds its own pack and manifest and accepts them', async () => {
    writeTree(ctx.root, 2, 10);
    const store = new MemoryBlobStore(); // declares conditional puts, like AWS S3
    const first = makeAgent(ctx.config, store);
    expect((await first.cycle()).packs).toBe(2);
    first.close();
    const before = (await manifests(store)).map((m) => m.packKey).sort();
    rmSync(ctx.config.state, { recursive: true }); // the journal is gone: everything looks unshipped
    const again = makeAgent(ctx.config, store);
    // Found already offsite, not sent again: counted apart from what the pass sent.
    expect(await again.cycle()).toMatchObject({ packs: 0, found: { packs: 2, recordings: 20 }, failed: 0 });
    expect((await manifests(store)).map((m) => m.packKey).sort()).toEqual(before);
    again.close();
  });

  it('refuses to replace a different manifest already published at the key', async () => {
    writeTree(ctx.root, 1, 10);
    const store = new MemoryBlobStore();
    const first = makeAgent(ctx.config, store);
    await first.cycle();
    first.close();
    const [m] = await manifests(store);
    const key = (await (async () => { for await (const o of store.list('manifests/')) return o.key; })())!;
    await store.delete(key);
    await store.put(key, Buffer.from(JSON.stringify({ ...m, members: m!.members.slice(1) })));
    rmSync(ctx.config.state, { recursive: true });
    const alerts: Alert[] = [];
    const again = makeAgent(ctx.config, store, alerts);
    expect(await again.cycle()).toMatchObject({ packs: 0, failed: 1 });
    expect(alerts.map((a) => a.message).join()).toMatch(/different manifest is already published/);
    again.close();
  });
});
