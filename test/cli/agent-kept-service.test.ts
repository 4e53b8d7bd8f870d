import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startPartProxy, type PartProxy } from '../support/part-proxy.ts';

// An upload the line stopped is kept open for the next run (agent/upload-keep.ts); one nobody goes
// on with (its file gone or changed, the upload no longer at the store) is given up. A cron run
// does so at its start; a service (`agent run` without --once) does so at every pass, not only
// at its own start: one that runs for weeks would otherwise keep the upload, and its parts in
// the bucket, for good. Here for real: a `--once` run the part proxy cuts leaves the upload, then
// the service runs, and the file is removed while it does.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const MiB = 1024 * 1024;
let s3: LocalS3;
let proxy: PartProxy;
let store: S3BlobStore;
let dir: string;
/** Part uploads the proxy cuts once this many were stored. */
let cutAfter: number | undefined;
let stored = 0;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-kept-service-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  proxy = await startPartProxy(s3.endpoint, { decide: () => (cutAfter !== undefined && stored >= cutAfter ? 'cut' : undefined), stored: () => void stored++ });
  store = new S3BlobStore(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials }), 'ferry-data', { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await proxy?.close();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function config(file: string, state: string, root: string): string {
  writeFileSync(
    file,
    `site: svc\nstate: ${state}\n` +
      `cloud: { bucket: ferry-data, endpoint: "${proxy.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }\n` +
      `shipping: { partSizeMiB: 5, partConcurrency: 1, packConcurrency: 1, attempts: 1, pollSeconds: 1 }\n` +
      `sources:\n  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }\n`,
  );
  return file;
}

function agent(args: string[], configFile: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
  const child = spawn(process.execPath, [BIN, 'agent', 'run', ...args, '--json-logs', '--config', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', resolve)), stderr: () => stderr };
}

const recorded = (state: string) => (existsSync(join(state, 'uploads')) ? readdirSync(join(state, 'uploads')).filter((f) => f.endsWith('.json')) : []);

async function openUploads(): Promise<string[]> {
  const open: string[] = [];
  for await (const u of store.listMultipart('')) open.push(u.uploadId);
  return open;
}

/** Resolves once the service has written its status after `since` (ms): a pass ended. */
async function passAfter(state: string, since: number): Promise<number> {
  const status = join(state, 'status.json');
  await expect.poll(() => (existsSync(status) ? statSync(status).mtimeMs : 0), { timeout: 30_000, interval: 100 }).toBeGreaterThan(since);
  return statSync(status).mtimeMs;
}

describe('a service (agent run without --once)', () => {
  it('gives up, at a later pass than its first, a kept upload whose file went while it runs: aborted at the store, its record removed, the log saying why', async () => {
    const base = join(dir, 'svc');
    const root = join(base, 'dumps');
    const elsewhere = join(base, 'elsewhere');
    const state = join(base, 'state');
    mkdirSync(root, { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    const file = join(root, 'full-0001.bak');
    writeFileSync(file, randomBytes(24 * MiB));

    cutAfter = 2;
    const once = agent(['--once'], config(join(base, 'once.yaml'), state, root));
    expect(await once.exited).toBe(1);
    expect(recorded(state)).toHaveLength(1);
    expect(await openUploads()).toHaveLength(1);
    cutAfter = undefined;

    // The service's source does not ship the file now: the upload is kept for a run that does, while its file is there.
    const service = agent([], config(join(base, 'service.yaml'), state, elsewhere));
    const first = await passAfter(state, 0);
    const second = await passAfter(state, first);
    expect(recorded(state)).toHaveLength(1);
    expect(await openUploads()).toHaveLength(1);

    rmSync(file);
    await passAfter(state, second);
    await expect.poll(() => recorded(state), { timeout: 15_000, interval: 200 }).toEqual([]);
    expect(await openUploads()).toEqual([]);
    const said = service
      .stderr()
      .split('\n')
      .filter((l) => l.includes('an upload left open for a later run is given up'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/"reason":"its file \S+full-0001\.bak is gone"/);

    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  }, 180_000);
});
