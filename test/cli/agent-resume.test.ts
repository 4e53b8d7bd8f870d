import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import type { UploadProgressRecord } from '../../agent/upload-progress.ts';
import { readAll } from '../../agent/recover.ts';
import { startPartProxy } from '../support/part-proxy.ts';

// A big backup whose agent is killed mid-upload (a reboot, kill -9) is not sent again from its
// first byte: the next run goes on with the upload the killed one left open, sending only the
// parts its record does not show stored. Here for real: `ferry agent run --once` in its own
// process, a 24 MiB backup in 5 MiB parts under a bandwidth limit (one part in flight at a time:
// packConcurrency 1, partConcurrency 1), killed with SIGKILL once parts are recorded; every request
// reaches the local S3 through a proxy that counts the parts it carries.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const MiB = 1024 * 1024;
const SIZE = 24 * MiB;
let s3: LocalS3;
let proxy: { endpoint: string; close: () => Promise<void> };
let endpoint: string;
let store: S3BlobStore;
let dir: string;
let run = 'none';
/** Every part upload the proxy carried: the run it came from, its upload and number, the bytes it carried. */
const parts: { run: string; uploadId: string; partNumber: number; bytes: number }[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-resume-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  // A part counts as sent when it starts: the same object, its bytes growing as they go by.
  proxy = await startPartProxy(s3.endpoint, { sent: (part) => parts.push(Object.assign(part, { run })) });
  endpoint = proxy.endpoint;
  store = new S3BlobStore(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials }), 'ferry-data', { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await proxy?.close();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Site {
  name: string;
  root: string;
  state: string;
  file: string;
  config: (o: { partSizeMiB: number; limited: boolean }) => string;
}

function site(name: string): Site {
  const base = join(dir, name);
  const root = join(base, 'dumps');
  const state = join(base, 'state');
  mkdirSync(root, { recursive: true });
  const file = join(root, 'full-0001.bak');
  writeFileSync(file, randomBytes(SIZE));
  const config = ({ partSizeMiB, limited }: { partSizeMiB: number; limited: boolean }) => {
    const configFile = join(base, 'agent.yaml');
    writeFileSync(
      configFile,
      `site: ${name}\nstate: ${state}\n` +
        `cloud: { bucket: ferry-data, endpoint: "${endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }\n` +
        `shipping: { partSizeMiB: ${partSizeMiB}, partConcurrency: 1, packConcurrency: 1 }\n${limited ? 'bandwidth: { default: 2MiB/s }\n' : ''}` +
        `sources:\n  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }\n`,
    );
    return configFile;
  };
  return { name, root, state, file, config };
}

/** `agent run --once` in its own process, its stderr (JSON log lines) kept. */
function startAgent(configFile: string, tag: string) {
  run = tag;
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
  const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--json-logs', '--config', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let ended = false;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((ended = true), resolve(code))));
  return { child, exited, running: () => !ended, stderr: () => stderr };
}

function progressRecord(state: string): UploadProgressRecord | undefined {
  const uploads = join(state, 'uploads');
  const name = existsSync(uploads) ? readdirSync(uploads).find((f) => f.endsWith('.json')) : undefined;
  if (!name) return undefined;
  try {
    return JSON.parse(readFileSync(join(uploads, name), 'utf8')) as UploadProgressRecord;
  } catch {
    return undefined;
  }
}

/** Waits for what the test needs next, while the agent runs (no time is asserted). */
async function until<T>(what: () => Promise<T | undefined | false> | T | undefined | false, running: () => boolean): Promise<T> {
  for (;;) {
    const v = await what();
    if (v) return v;
    if (!running()) throw new Error('the agent ended before what the test waits for happened');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A first run of `s` killed with SIGKILL once its record shows two parts stored; the record it left. */
async function killedRun(s: Site, tag: string): Promise<NonNullable<UploadProgressRecord['resume']>> {
  const agent = startAgent(s.config({ partSizeMiB: 5, limited: true }), tag);
  const record = await until(() => {
    const r = progressRecord(s.state)?.resume;
    return r && r.parts.length >= 2 ? r : undefined;
  }, agent.running).catch((error: Error) => {
    throw new Error(`${error.message}; its log: ${agent.stderr().slice(-2000)}`);
  });
  agent.child.kill('SIGKILL');
  await agent.exited;
  return record;
}

/** The data object the site's backup was published as, and the SHA-256 of its bytes. */
async function publishedSha256(s: Site): Promise<string> {
  const keys: string[] = [];
  for await (const o of store.list('')) if (o.key.includes(`/${s.name}/`) && o.key.endsWith('full-0001.bak') && !o.key.startsWith('manifests/')) keys.push(o.key);
  expect(keys).toHaveLength(1);
  return createHash('sha256').update(await readAll(store, keys[0]!)).digest('hex');
}

const fileSha256 = (s: Site) => createHash('sha256').update(readFileSync(s.file)).digest('hex');
const sentIn = (tag: string) => parts.filter((p) => p.run === tag);

async function openUploads(): Promise<string[]> {
  const open: string[] = [];
  for await (const u of store.listMultipart('')) open.push(u.uploadId);
  return open;
}

describe('a backup upload killed mid-way', () => {
  it('is gone on with by the next run, which sends only the parts not recorded stored; status says where it resumed; the object is the file', async () => {
    const s = site('resumes');
    const record = await killedRun(s, 'resumes-1');
    const recorded = record.parts.map((p) => p.n);
    expect(sentIn('resumes-1').map((p) => p.partNumber)).toEqual(expect.arrayContaining(recorded));

    const agent = startAgent(s.config({ partSizeMiB: 5, limited: true }), 'resumes-2');
    const configFile = join(dir, s.name, 'agent.yaml');
    const line = await until(async () => {
      if (!existsSync(join(s.state, 'journal.jsonl'))) return undefined;
      const text = renderStatus(await collectStatus(configFile));
      return /^ {2}uploading .*\(resumed at [\d.]+ MB\)/m.exec(text)?.[0];
    }, agent.running);
    const resumedAt = record.parts.reduce((n, p) => n + p.size, 0);
    expect(line).toContain(`(resumed at ${(resumedAt / 1e6).toFixed(1)} MB)`);
    expect(await agent.exited).toBe(0);

    const second = sentIn('resumes-2');
    const all = [1, 2, 3, 4, 5];
    expect(second.map((p) => p.partNumber).sort()).toEqual(all.filter((n) => !recorded.includes(n)));
    expect(new Set(second.map((p) => p.uploadId))).toEqual(new Set([record.uploadId]));
    expect(second.reduce((n, p) => n + p.bytes, 0)).toBe(SIZE - resumedAt);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
    expect(await openUploads()).toEqual([]);
    expect(agent.stderr()).toContain('going on with the upload an earlier run left open');
  }, 120_000);

  it.each([
    ['the file rewritten between the runs', (s: Site) => writeFileSync(s.file, randomBytes(SIZE)), 5, /interrupted upload changed|not gone on with/],
    // The store here lists uploads: the next run's recovery finds the upload gone before the shipping would (NoSuchUpload where the role may not list).
    ['the upload aborted at the store between the runs', async (s: Site, r: { key: string; uploadId: string }) => store.abortMultipart(r.key, r.uploadId), 5, /given up: aborted, its record removed.*the store no longer has the upload/],
    ['the part size changed', () => undefined, 4, /part size was 5242880 bytes, now 6291456/],
  ])('is uploaded afresh from the first byte, with no error, after %s; the object is the file', async (what, between, partCount, said) => {
    const s = site(`fresh-${partCount}-${what.length}`);
    const tag = `${s.name}`;
    const record = await killedRun(s, `${tag}-1`);
    await between(s, record);
    const agent = startAgent(s.config({ partSizeMiB: partCount === 4 ? 6 : 5, limited: false }), `${tag}-2`);
    expect(await agent.exited).toBe(0);
    const second = sentIn(`${tag}-2`);
    const fresh = second.filter((p) => p.uploadId !== record.uploadId);
    expect(fresh.map((p) => p.partNumber).sort()).toEqual(Array.from({ length: partCount }, (_, i) => i + 1));
    expect(fresh.reduce((n, p) => n + p.bytes, 0)).toBe(SIZE);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
    expect(await openUploads()).toEqual([]);
    expect(agent.stderr()).toMatch(said);
    expect(agent.stderr()).not.toMatch(/"level":"(error|warn)"/);
  }, 120_000);
});
