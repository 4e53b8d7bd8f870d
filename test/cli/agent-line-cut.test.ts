import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import type { UploadProgressRecord } from '../../agent/upload-progress.ts';
import { AlertBook } from '../../agent/state/alert-book.ts';
import { readAll } from '../../agent/recover.ts';
import { startPartProxy, type PartProxy, type PartProxyHooks } from '../support/part-proxy.ts';

// A big backup whose line fails mid-upload (connections reset after the SDK's retries and the
// uploader's own resends) is left open with the parts the store took, as a killed run's is, and
// the next run sends only the rest under the same upload; a failure the store answers as final
// still ends the upload. Here for real: `ferry agent run --once` in its own process, a 24 MiB
// backup in 5 MiB parts one at a time, every request through a proxy that counts the parts it
// carries and, while the line is "down", cuts each part upload after its first bytes.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const MiB = 1024 * 1024;
const SIZE = 24 * MiB;
let s3: LocalS3;
let proxy: PartProxy;
let endpoint: string;
let store: S3BlobStore;
let dir: string;
let run = 'none';
/**
 * What the proxy does to part uploads: carry them; cut every one once `cutAfter` parts were carried
 * in the run (the line down); or answer part number `refuse` with S3's 403 AccessDenied.
 */
let line: { cutAfter?: number; refuse?: number; cutAtBytes?: number; down?: boolean } = {};
/** Part body bytes the proxy carried on to the store in each run, whole parts or not. */
const carried = new Map<string, number>();
/** The proxy's hooks; `bytesPerSecond` makes it a slow line for the runs that set it. */
const hooks: PartProxyHooks = {};
/** Every part upload the proxy carried whole: the run it came from, its upload and number, its bytes. */
const parts: { run: string; uploadId: string; partNumber: number; bytes: number }[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-line-cut-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  Object.assign(hooks, {
    decide: (part) => (line.down || (line.cutAfter !== undefined && parts.filter((p) => p.run === run).length >= line.cutAfter) ? 'cut' : line.refuse === part.partNumber ? 'refuse' : undefined),
    stored: (part) => parts.push({ run, ...part }),
    carried: (_part, bytes) => {
      const total = (carried.get(run) ?? 0) + bytes;
      carried.set(run, total);
      // The line drops once it has carried `cutAtBytes` in the run: every part in flight is cut mid-body, and so is every later one.
      if (line.cutAtBytes !== undefined && total >= line.cutAtBytes && !line.down) {
        line.down = true;
        proxy.cut();
      }
    },
  } satisfies PartProxyHooks);
  proxy = await startPartProxy(s3.endpoint, hooks);
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
  state: string;
  file: string;
  configFile: string;
}

function site(name: string, shipping = 'partSizeMiB: 5, partConcurrency: 1, packConcurrency: 1, attempts: 1', storeEndpoint = endpoint): Site {
  const base = join(dir, name);
  const root = join(base, 'dumps');
  const state = join(base, 'state');
  mkdirSync(root, { recursive: true });
  const file = join(root, 'full-0001.bak');
  writeFileSync(file, randomBytes(SIZE));
  const configFile = join(base, 'agent.yaml');
  writeFileSync(
    configFile,
    `site: ${name}\nstate: ${state}\n` +
      `cloud: { bucket: ferry-data, endpoint: "${storeEndpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }\n` +
      `shipping: { ${shipping} }\n` +
      `sources:\n  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }\n`,
  );
  return { name, state, file, configFile };
}

/** `agent run --once` in its own process to its end: its exit code and stderr (JSON log lines). */
async function runOnce(s: Site, tag: string, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  run = tag;
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home'), ...extraEnv };
  const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--json-logs', '--config', s.configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stderr };
}

function records(state: string): UploadProgressRecord[] {
  const uploads = join(state, 'uploads');
  if (!existsSync(uploads)) return [];
  return readdirSync(uploads)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(uploads, f), 'utf8')) as UploadProgressRecord);
}

async function publishedSha256(s: Site): Promise<string> {
  const keys: string[] = [];
  for await (const o of store.list('')) if (o.key.includes(`/${s.name}/`) && o.key.endsWith('full-0001.bak') && !o.key.startsWith('manifests/')) keys.push(o.key);
  expect(keys).toHaveLength(1);
  return createHash('sha256').update(await readAll(store, keys[0]!)).digest('hex');
}

const fileSha256 = (s: Site) => createHash('sha256').update(readFileSync(s.file)).digest('hex');
const sentIn = (tag: string) => parts.filter((p) => p.run === tag);
/** The part numbers a run sent, in order (two may be in flight at once). */
const numbersIn = (tag: string) => sentIn(tag).map((p) => p.partNumber).sort((a, b) => a - b);
const ALL = [1, 2, 3, 4, 5];

async function openUploads(s: Site): Promise<string[]> {
  const open: string[] = [];
  for await (const u of store.listMultipart('')) if (u.key.includes(`/${s.name}/`)) open.push(u.uploadId);
  return open;
}

describe('a backup upload whose line fails mid-way', () => {
  it('is left open with the parts the store took; status says where it stopped; no failure alert; the next run sends only the rest under the same upload and the object is the file', async () => {
    const s = site('cut');
    line = { cutAfter: 2 };
    const first = await runOnce(s, 'cut-1');
    expect(first.code).toBe(1);
    const stored = numbersIn('cut-1');
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(stored.length).toBeLessThan(5);
    const [record] = records(s.state);
    expect(record?.stopReason).toBe('the line failed');
    expect(record?.resume?.parts.map((p) => p.n)).toEqual(stored);
    expect(record?.resume?.stops).toBe(1);
    const uploadId = record!.resume!.uploadId;
    expect(await openUploads(s)).toEqual([uploadId]);
    expect(first.stderr).toContain('the line stopped the upload: kept open');
    // A stop the next run resumes is no failure to page about.
    expect(AlertBook.read(s.state).map((a) => a.key)).toEqual([]);
    const status = renderStatus(await collectStatus(s.configFile));
    const at = `${((stored.length * 5 * MiB) / 1e6).toFixed(1)} MB`;
    expect(status).toMatch(new RegExp(`^ {2}kept open {7}nightly/full-0001\\.bak: stopped at ${at.replace('.', '\\.')} of 25\\.2 MB at \\S+: the line failed; the next run resumes \\(upload under way since \\S+, stopped 1 time\\(s\\)\\)$`, 'm'));

    line = {};
    const second = await runOnce(s, 'cut-2');
    expect(second.code).toBe(0);
    const sent = sentIn('cut-2');
    expect(numbersIn('cut-2')).toEqual(ALL.filter((n) => !stored.includes(n)));
    expect(new Set(sent.map((p) => p.uploadId))).toEqual(new Set([uploadId]));
    expect(sent.reduce((n, p) => n + p.bytes, 0)).toBe(SIZE - stored.length * 5 * MiB);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
    expect(await openUploads(s)).toEqual([]);
    expect(records(s.state)).toEqual([]);
  }, 180_000);

  it('is ended when the store refuses a part as final (403): no upload left open, no record, the next run starts from the first byte', async () => {
    const s = site('refused');
    line = { refuse: 3 };
    const first = await runOnce(s, 'refused-1');
    expect(first.code).toBe(1);
    expect(numbersIn('refused-1')).not.toContain(3);
    expect(records(s.state)).toEqual([]);
    expect(await openUploads(s)).toEqual([]);
    expect(AlertBook.read(s.state).map((a) => a.key)).toEqual(['ship-failed:nightly:full-0001.bak']);

    line = {};
    expect((await runOnce(s, 'refused-2')).code).toBe(0);
    expect(numbersIn('refused-2')).toEqual(ALL);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
  }, 180_000);

  it('pages (critical) once the upload has been under way for a day of stops, and resolves it when the backup is offsite', async () => {
    const s = site('stalled');
    line = { cutAfter: 1 };
    expect((await runOnce(s, 'stalled-1')).code).toBe(1);
    // The upload began a day and an hour ago, as the record says (the runs before were stopped too).
    const file = join(s.state, 'uploads', readdirSync(join(s.state, 'uploads'))[0]!);
    const record = JSON.parse(readFileSync(file, 'utf8')) as UploadProgressRecord;
    writeFileSync(file, JSON.stringify({ ...record, resume: { ...record.resume, since: new Date(Date.now() - 25 * 3_600_000).toISOString() } }));
    line = { cutAfter: 1 };
    expect((await runOnce(s, 'stalled-2')).code).toBe(1);
    const before = numbersIn('stalled-1');
    expect(numbersIn('stalled-2').filter((n) => before.includes(n))).toEqual([]);
    const [alert] = AlertBook.read(s.state);
    expect(alert).toMatchObject({ key: 'upload-stalled:nightly:full-0001.bak', severity: 'critical' });
    expect(alert!.subject).toMatch(/^full-0001\.bak of nightly is not offsite after 25 h: its upload keeps stopping on the line$/);

    line = {};
    expect((await runOnce(s, 'stalled-3')).code).toBe(0);
    const held = [...before, ...numbersIn('stalled-2')];
    expect(numbersIn('stalled-3')).toEqual(ALL.filter((n) => !held.includes(n)));
    expect(AlertBook.read(s.state)).toEqual([]);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
  }, 240_000);
});

describe('a backup shipped alone on a slow line that drops', () => {
  it('has at most partConcurrency + 1 parts in flight, not every part buffer of the agent: a cut loses at most that many parts of what the line carried; the next run sends only the rest', async () => {
    // The agent's part buffers: packConcurrency × (partConcurrency + 1) = 6, more than the backup's 5 parts.
    const s = site('slow', 'partSizeMiB: 5, partConcurrency: 1, packConcurrency: 3, attempts: 1');
    hooks.bytesPerSecond = 4 * MiB;
    line = { cutAtBytes: 12 * MiB };
    try {
      expect((await runOnce(s, 'slow-1')).code).toBe(1);
    } finally {
      delete hooks.bytesPerSecond;
    }
    const total = carried.get('slow-1') ?? 0;
    const kept = sentIn('slow-1').reduce((n, p) => n + p.bytes, 0);
    console.log(`a cut after ${(total / MiB).toFixed(1)} MiB carried: ${(kept / MiB).toFixed(1)} MiB in parts the store kept, ${((total - kept) / MiB).toFixed(1)} MiB lost`);
    expect(total).toBeGreaterThanOrEqual(12 * MiB);
    // Two parts at a time share the line: the first two are whole before it drops.
    expect(total - kept).toBeLessThanOrEqual(2 * 5 * MiB);
    expect(kept).toBeGreaterThanOrEqual(2 * 5 * MiB);
    const stored = numbersIn('slow-1');
    expect(records(s.state)[0]?.resume?.parts.map((p) => p.n)).toEqual(stored);

    line = {};
    expect((await runOnce(s, 'slow-2')).code).toBe(0);
    expect(numbersIn('slow-2')).toEqual(ALL.filter((n) => !stored.includes(n)));
    expect(await publishedSha256(s)).toBe(fileSha256(s));
  }, 180_000);
});

describe("a backup upload whose store's name stops resolving mid-way (DNS failing on a flaky line)", () => {
  /** The site's store is http://localhost:PORT, the part proxy's port; its name resolves while `down` (a file) does not exist (test/support/dns-switch.mjs). */
  function dnsSite(name: string): { s: Site; env: Record<string, string>; down: string } {
    const down = join(dir, `${name}-dns-down`);
    const s = site(name, undefined, endpoint.replace('127.0.0.1', 'localhost'));
    const preload = join(import.meta.dirname, '../support/dns-switch.mjs');
    return { s, down, env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(), LINE_DNS_DOWN: down } };
  }
  /** Once `bytes` of parts were carried in the run, the name stops resolving and the connections in flight drop (a new one must look the name up); `upAfterMs`: it resolves again that much later. */
  function dnsFailsAt(bytes: number, down: string, upAfterMs?: number): void {
    line = {};
    const carriedBefore = hooks.carried!;
    hooks.carried = (part, n) => {
      carriedBefore(part, n);
      if ((carried.get(run) ?? 0) < bytes || existsSync(down) || hooks.carried !== watcher) return;
      hooks.carried = carriedBefore;
      writeFileSync(down, '');
      proxy.cut();
      if (upAfterMs !== undefined) setTimeout(() => rmSync(down, { force: true }), upAfterMs);
    };
    const watcher = hooks.carried;
  }

  it('is left open with the parts the store took, its stop reason naming DNS, no alert (neither ship-failed nor the heartbeat\'s), and the next run sends only the rest', async () => {
    const { s, env, down } = dnsSite('dns');
    // A run before the backup is there: the site's heartbeat went out (a store never reached pages at once).
    renameSync(s.file, `${s.file}.later`);
    expect((await runOnce(s, 'dns-0', env)).code).toBe(0);
    renameSync(`${s.file}.later`, s.file);
    dnsFailsAt(11 * MiB, down);
    const first = await runOnce(s, 'dns-1', env);
    expect(first.code).toBe(1);
    const stored = numbersIn('dns-1');
    expect(stored.length).toBeGreaterThanOrEqual(1);
    expect(stored.length).toBeLessThan(5);
    const [record] = records(s.state);
    expect(record?.stopReason).toMatch(/^the store's name did not resolve \(DNS (ENOTFOUND|EAI_AGAIN)\)$/);
    expect(record?.resume?.parts.map((p) => p.n)).toEqual(stored);
    expect(await openUploads(s)).toEqual([record!.resume!.uploadId]);
    expect(first.stderr).toContain('the line stopped the upload: kept open');
    // The heartbeat could not go out either: the store not reached for a moment pages nobody.
    expect(first.stderr).toContain('heartbeat not written');
    expect(AlertBook.read(s.state).map((a) => a.key)).toEqual([]);

    rmSync(down, { force: true });
    expect((await runOnce(s, 'dns-2', env)).code).toBe(0);
    expect(numbersIn('dns-2')).toEqual(ALL.filter((n) => !stored.includes(n)));
    expect(new Set(sentIn('dns-2').map((p) => p.uploadId))).toEqual(new Set([record!.resume!.uploadId]));
    expect(await publishedSha256(s)).toBe(fileSha256(s));
    expect(records(s.state)).toEqual([]);
  }, 180_000);

  it('for a few seconds only: the part is sent again once the name resolves, and the run publishes the backup under its one upload', async () => {
    const { s, env, down } = dnsSite('dns-blip');
    dnsFailsAt(6 * MiB, down, 2_500);
    expect((await runOnce(s, 'dns-blip-1', env)).code).toBe(0);
    expect(new Set(sentIn('dns-blip-1').map((p) => p.uploadId)).size).toBe(1);
    expect(numbersIn('dns-blip-1')).toEqual(ALL);
    expect(await publishedSha256(s)).toBe(fileSha256(s));
    expect(AlertBook.read(s.state)).toEqual([]);
  }, 180_000);
});
