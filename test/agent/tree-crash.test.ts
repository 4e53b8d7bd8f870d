import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { isTreeSnapshotManifestKey } from '../../core/layout.ts';
import { parseTreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { readAll } from '../../agent/recover.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { picture } from './tree-support.ts';

// kill -9 the agent (a real `ferry agent run --once` process) in the middle of a tree snapshot,
// at several points of a pack's life; a clean run after that publishes a snapshot that restores
// exactly, with every content stored once across all the packs in the store and no upload open.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let s3: LocalS3;
let dir: string;
let root: string;
let configFile: string;
let store: S3BlobStore;
const state = () => join(dir, 'state', 'trees', 'share');

function runAgent(kill?: (s: { packs: number; inflight: string }) => boolean): Promise<{ signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', configFile, '--once', '--json-logs'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FERRY_HOME: join(dir, 'home') } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = kill
      ? setInterval(() => {
          const packsFile = join(state(), 'packs.jsonl');
          const inflightFile = join(state(), 'inflight.json');
          const packs = existsSync(packsFile) ? readFileSync(packsFile, 'utf8').split('\n').filter(Boolean).length : 0;
          let inflight = '';
          try {
            inflight = readFileSync(inflightFile, 'utf8');
          } catch {
            // not there (yet)
          }
          if (kill({ packs, inflight })) child.kill('SIGKILL');
        }, 2)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code !== null && code !== 0) reject(new Error(`agent exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ signal, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-tree-crash-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  store = new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }), 'ferry-data', { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
  root = join(dir, 'share');
  const t = new Date('2026-02-01T08:00:00Z');
  for (let d = 0; d < 12; d++) {
    mkdirSync(join(root, `meeting ${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      const path = join(root, `meeting ${d}`, `content ${f}.bin`);
      // Every tenth file repeats another's content: stored once.
      writeFileSync(path, f % 10 === 9 ? Buffer.alloc(20_000, d) : randomBytes(20_000));
      utimesSync(path, t, t);
    }
  }
  writeFileSync(join(root, 'address book.lsabs'), randomBytes(7 * 1024 * 1024));
  configFile = join(dir, 'agent.yaml');
  writeFileSync(
    configFile,
    `
site: site-a
state: ${join(dir, 'state')}
cloud: { bucket: ferry-data, endpoint: ${s3.endpoint}, credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
shipping: { partSizeMiB: 5, partConcurrency: 2 }
sources:
  - { name: share, type: tree, path: "${root}", packTargetMiB: 6 }
`,
  );
}, 60_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tree snapshot crash safety', () => {
  it('after kill -9 mid-pack, mid-commit and after some packs, the next run publishes a whole snapshot with no content stored twice', async () => {
    const points: ((s: { packs: number; inflight: string }) => boolean)[] = [
      (s) => s.inflight.includes('uploadIds":["'), // a multipart upload open
      (s) => s.inflight.includes('"members"'), // a pack committing
      (s) => s.packs >= 2 && s.inflight.length > 0, // some packs published, the next under way
    ];
    const kills = [];
    for (const point of points) kills.push(await runAgent(point));
    expect(kills.filter((k) => k.signal === 'SIGKILL').length).toBeGreaterThanOrEqual(2);
    const final = await runAgent();
    expect(final.stderr).toMatch(/"tree snapshot published"/);
    // Later runs found the killed runs' packs and settled them (adopted or aborted).
    expect([...kills.slice(1), final].map((k) => k.stderr).join('')).toMatch(/"tree packs of an interrupted snapshot recovered"/);

    const manifests = [];
    for await (const o of store.list('manifests/site-a/trees/share/')) if (isTreeSnapshotManifestKey(o.key)) manifests.push(parseTreeSnapshotManifest(await readAll(store, o.key)));
    const newest = manifests.sort((a, b) => a.takenAt.localeCompare(b.takenAt)).at(-1)!;
    const to = join(dir, 'restored');
    await restoreTree({ blobs: store, manifest: newest, to });
    expect(picture(to)).toEqual(picture(root));

    const open = [];
    for await (const u of store.listMultipart('trees/')) open.push(u.key);
    expect(open).toEqual([]);
    // Every content once across every pack object in the store (adopted, not shipped again).
    const members: string[] = [];
    for await (const o of store.list('trees/site-a/share/packs/')) {
      const file = join(dir, 'pack.tar');
      writeFileSync(file, await readAll(store, o.key));
      members.push(...execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n'));
    }
    expect(members.length).toBe(new Set(members).size);
    expect(members.length).toBe(12 * 90 + 12 + 1);
  }, 180_000);
});
