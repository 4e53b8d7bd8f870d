import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import type { LocalCloud } from '../../local/cloud.ts';
import { agentCloudYaml, startTestCloud } from '../support/local-cloud.ts';
import { parseManifest } from '../../core/manifest.ts';
import { readAll } from '../../agent/recover.ts';
import { collectPages } from '../../core/paging.ts';
import { writeTree } from '../support/recorder-tree.ts';

// The agent as an administrator runs it from cron, against the local cloud: one `agent run
// --once` process per run, a recorder that evicts its oldest batches between runs, and runs
// killed with SIGKILL in the middle. Every recording present when a run that completed began
// ends shipped and catalogued exactly once, or reported lost exactly once; every loss is real.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let cloud: LocalCloud;
let dir: string;
let root: string;
let configFile: string;

function cronRun(killAfterPublished?: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', configFile, '--once', '--json-logs'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let published = 0;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      published += (d.toString().match(/"pack published"/g) ?? []).length;
      if (killAfterPublished !== undefined && published >= killAfterPublished) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const present = () => readdirSync(root).sort().flatMap((b) => readdirSync(join(root, b)).filter((f) => f.endsWith('.wav')).map((f) => `${b}/${f}`));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-cron-e2e-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['cron'] });
  root = join(dir, 'recorder');
  mkdirSync(root);
  configFile = join(dir, 'agent.yaml');
  writeFileSync(
    configFile,
    `
site: cron
state: ${join(dir, 'state')}
cloud: ${agentCloudYaml(cloud, 'cron')}
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 2 }
sources:
  - name: contactstore
    type: recordings
    path: ${root}
    extensions: [.wav]
    closeAfterFiles: 20
    quietSeconds: 0
    settleSeconds: 0
    metadata:
      sidecar: { extensions: [.json], fields: { callId: Recording.CallId, start: Recording.StartTime } }
`,
  );
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cron-driven agent under eviction and kill -9', () => {
  it('ends every recording shipped once or reported lost once, across runs, evictions and kills', async () => {
    let next = 1;
    const written: string[] = [];
    const evicted = new Set<string>();
    const seenByCompletedRun = new Set<string>();
    const write = (batches: number) => {
      const recs = writeTree(root, batches, 20, { firstBatch: next, size: 20_000 });
      next += batches;
      written.push(...recs.map((r) => r.path));
    };
    const evictOldest = (n: number) => {
      for (const b of readdirSync(root).sort().slice(0, n)) {
        for (const f of readdirSync(join(root, b))) if (f.endsWith('.wav')) evicted.add(`${b}/${f}`);
        rmSync(join(root, b), { recursive: true });
      }
    };
    write(6);
    // Each round: the recorder writes, the disk fills and the oldest batches go, cron starts the agent.
    const rounds = [
      { write: 3, evict: 0, kill: 1 },
      { write: 3, evict: 4 },
      { write: 2, evict: 2, kill: 2 },
      { write: 4, evict: 3 },
      { write: 1, evict: 2, kill: 1 },
      { write: 2, evict: 1 },
    ];
    const codes: (number | string | null)[] = [];
    for (const round of rounds) {
      write(round.write);
      evictOldest(round.evict);
      const before = present();
      const r = await cronRun(round.kill);
      codes.push(r.signal ?? r.code);
      if (r.signal === null) for (const p of before) seenByCompletedRun.add(p);
      if (r.signal === null) expect([0, 3]).toContain(r.code); // 3: losses recorded and alerted in this run
      if (r.signal === null) {
        // The run's last line counts what it published; it does not list every manifest's key.
        const done = r.stderr.split('\n').filter((l) => l.includes('"pass complete"')).map((l) => JSON.parse(l) as { packs: number; manifests: unknown });
        expect(done).toHaveLength(1);
        expect(done[0]?.manifests).toBe(done[0]?.packs);
      }
    }
    expect(codes.filter((c) => c === 'SIGKILL').length).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 2; i++) {
      const before = present();
      const r = await cronRun();
      expect(r.code).toBe(0);
      for (const p of before) seenByCompletedRun.add(p);
    }

    await cloud.drain();
    expect(cloud.ingestErrors).toEqual([]);
    const shipped = new Map<string, number>();
    for await (const o of cloud.blobs.list('manifests/cron/')) {
      for (const m of parseManifest(await readAll(cloud.blobs, o.key)).members) shipped.set(m.path, (shipped.get(m.path) ?? 0) + 1);
    }
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', configFile, '--losses'], { encoding: 'utf8' });
    expect(status.status).toBe(0);
    const { losses } = JSON.parse(status.stdout) as { losses: { batch: string; files: { name: string; path: string }[] }[] };
    const lost = new Map<string, number>();
    for (const l of losses) for (const f of l.files) lost.set(`${l.batch}/${f.name}`, (lost.get(`${l.batch}/${f.name}`) ?? 0) + 1);

    expect([...shipped.values()].every((n) => n === 1)).toBe(true);
    expect([...lost.values()].every((n) => n === 1)).toBe(true);
    for (const p of lost.keys()) {
      expect(evicted.has(p)).toBe(true);
      expect(shipped.has(p)).toBe(false);
    }
    for (const p of seenByCompletedRun) expect({ p, state: shipped.has(p) ? 'shipped' : lost.has(p) ? 'lost' : 'neither' }).not.toMatchObject({ state: 'neither' });
    for (const p of present()) expect(shipped.get(p)).toBe(1);
    expect(lost.size).toBeGreaterThan(0); // the schedule does evict unshipped batches

    // Catalogued once each: the catalogue is built from the manifests.
    const entries = await collectPages((cursor) => cloud.catalogue.searchRecordings({ site: 'cron', from: '2023-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', limit: 1000, cursor }));
    expect(entries.length).toBe(shipped.size);
    expect(new Set(entries.map((e) => e.path)).size).toBe(entries.length);
  }, 300_000);
});
