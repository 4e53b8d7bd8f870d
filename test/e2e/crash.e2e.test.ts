import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { LocalCloud } from '../../local/cloud.ts';
import { agentCloudYaml, startTestCloud } from '../support/local-cloud.ts';
import { DEFAULT_CONFIG, parseDeploymentConfig } from '../../infra/config.ts';
import { generateBatches, type GeneratedRecording } from '../../scripts/demo/site.ts';
import { Journal } from '../../agent/journal.ts';
import { parseManifest } from '../../core/manifest.ts';
import { readAll } from '../../agent/recover.ts';
import { collectPages } from '../../core/paging.ts';

// kill -9 the agent at several points while it ships; after a clean restart every recording
// is catalogued exactly once, every manifest's pack is whole, and no multipart upload is open.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let cloud: LocalCloud;
let dir: string;
let configFile: string;
let recordings: GeneratedRecording[];

/** Multipart uploads the journal shows open right now (begun, neither completed nor aborted). */
function openUploads(): number {
  let text;
  try {
    text = readFileSync(join(dir, 'state', 'journal.jsonl'), 'utf8');
  } catch {
    return 0;
  }
  return (text.match(/"e":"upload"/g) ?? []).length - (text.match(/"e":"upload-end"/g) ?? []).length;
}

/**
 * Runs the agent once. With `kill`, SIGKILLs it `delayMs` after it has logged `afterPublished`
 * packs, or, with `whenUploadOpen`, as soon as after that the journal shows a multipart upload open.
 */
function runAgent(kill?: { afterPublished: number; delayMs?: number; whenUploadOpen?: true }): Promise<{ code: number | null; signal: string | null; published: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', configFile, '--once', '--json-logs'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let published = 0;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      published += (d.toString().match(/"pack published"/g) ?? []).length;
      if (!kill || timer || published < kill.afterPublished) return;
      if (kill.whenUploadOpen) {
        timer = setInterval(() => {
          if (openUploads() > 0) child.kill('SIGKILL');
        }, 2);
      } else timer = setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code !== null && code !== 0) reject(new Error(`agent exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ code, signal, published, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-crash-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: ['crash'] });
  const root = join(dir, 'recorder');
  // ~64 KB recordings, 100 per batch: 6.4 MB packs, so each pack is a 2-part multipart upload.
  recordings = await generateBatches({ root, firstBatch: 1, batches: 12, perBatch: 100, seconds: 4, start: new Date('2024-06-01T08:00:00Z'), seed: 9, sidecar: 'json' });
  configFile = join(dir, 'agent.yaml');
  writeFileSync(configFile, `
site: crash
state: ${join(dir, 'state')}
cloud: ${agentCloudYaml(cloud, 'crash')}
shipping: { partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2 }
sources:
  - { name: contactstore, type: recordings, path: ${root}, quietSeconds: 0, settleSeconds: 0 }
`);
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('crash safety', () => {
  it('after kill -9 at several points, a restart catalogues every recording exactly once and no upload stays open past the bucket lifecycle', async () => {
    // Kill points spread over a pack's life: right after a publish (next pack just begun),
    // mid-upload, around part completion and manifest publication.
    const points = [
      { afterPublished: 1, delayMs: 0 },
      { afterPublished: 1, whenUploadOpen: true as const },
      { afterPublished: 1, delayMs: 150 },
      { afterPublished: 2, delayMs: 250 },
      { afterPublished: 1, delayMs: 400 },
    ];
    const kills: { published: number; signal: string | null; stderr: string }[] = [];
    for (const point of points) {
      const r = await runAgent(point);
      kills.push(r);
    }
    const final = await runAgent();
    expect(final.code).toBe(0);
    // Most runs must really have been killed mid-run (a run may finish first if little was left).
    expect(kills.filter((k) => k.signal === 'SIGKILL').length).toBeGreaterThanOrEqual(3);
    // Restarts found interrupted packs and settled them (aborted uploads, re-shipped batches).
    const recoveries = [...kills.slice(1), final].map((k) => k.stderr).join('').match(/"recovered from an interrupted run"[^\n]*/g) ?? [];
    expect(recoveries.length).toBeGreaterThanOrEqual(2);
    expect(recoveries.some((line) => /"aborted":[1-9]/.test(line))).toBe(true);

    await cloud.drain();
    expect(cloud.ingestErrors).toEqual([]);

    // An agent role may not list open uploads (IAM cannot scope that listing to a site), so an
    // upload whose create answer a kill -9 cut off (never in the journal) stays open until the
    // bucket's lifecycle rule aborts it, as on AWS. Nothing else is left open.
    const openUploads = async () => {
      const open = [];
      for await (const u of cloud.blobs.listMultipart('recordings/')) open.push(u);
      return open;
    };
    expect((await openUploads()).length).toBeLessThanOrEqual(kills.length * 2);
    await cloud.advanceClock((parseDeploymentConfig(DEFAULT_CONFIG).lifecycle.abortIncompleteMultipartDays + 1) * 24 * 3600 * 1000);
    expect(await openUploads()).toEqual([]);

    const journal = new Journal(join(dir, 'state'), { readOnly: true });
    expect(journal.inflightPacks()).toEqual([]);
    expect(journal.totals.recordings).toBeGreaterThanOrEqual(recordings.length);

    // Each manifest's pack is whole; every recording appears exactly once in the catalogue.
    const packs = new Set<string>();
    const dead = new Set<string>();
    for await (const o of cloud.blobs.list('manifests/crash/')) {
      const m = parseManifest(await readAll(cloud.blobs, o.key));
      expect((await cloud.blobs.head(m.packKey))?.size).toBe(m.pack.size);
      packs.add(m.packKey);
      for (const key of m.superseded ?? []) dead.add(key);
    }
    // Pack ids are derived from the batch, so a re-shipped batch lands on its pack's next attempt
    // key: every object is a manifest's pack, or a dead attempt that manifest lists (a kill after
    // the attempt was published and before its manifest), which the purge deletes with the pack.
    const tars: string[] = [];
    for await (const o of cloud.blobs.list('recordings/crash/')) tars.push(o.key);
    expect(tars.filter((key) => !packs.has(key)).sort()).toEqual([...dead].sort());
    expect([...packs].every((key) => tars.includes(key))).toBe(true);
    expect(packs.size).toBe(12);
    const seen = new Map<string, number>();
    const entries = await collectPages((cursor) => cloud.catalogue.searchRecordings({ site: 'crash', from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z', limit: 1000, cursor }));
    for (const e of entries) seen.set(e.meta.callId ?? '', (seen.get(e.meta.callId ?? '') ?? 0) + 1);
    expect(seen.size).toBe(recordings.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    for (const r of recordings) expect(seen.get(r.metadata.callId)).toBe(1);
  }, 240_000);
});
