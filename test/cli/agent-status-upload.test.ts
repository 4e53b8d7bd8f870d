import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';

// A nightly full over a slow uplink takes hours; `agent status` said "in flight: 1 backup/log
// file(s)" and nothing of how far it had got. The running agent records its upload's progress in
// the state directory as parts are stored; status (another process) says bytes sent of the
// file's size, the rate and the time left. Here for real: `ferry agent run --once` in its own
// process, a 24 MiB backup in parts under a bandwidth limit, status read while it uploads.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let s3: LocalS3;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-status-upload-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits for what the test needs next, while the agent runs (no time is asserted). */
async function until<T>(what: () => Promise<T | undefined | false>, running: () => boolean): Promise<T> {
  for (;;) {
    const v = await what();
    if (v) return v;
    if (!running()) throw new Error('the agent ended before status showed what the test waits for');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('agent status while a backup uploads', () => {
  it('says how many bytes of the file the store took, of its size, the rate and the time left; nothing once the upload ended', async () => {
    const root = join(dir, 'dumps');
    const state = join(dir, 'state');
    mkdirSync(root);
    writeFileSync(join(root, 'full-0001.bak'), randomBytes(24 * 1024 * 1024));
    const configFile = join(dir, 'agent.yaml');
    writeFileSync(
      configFile,
      `site: up\nstate: ${state}\n` +
        `cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }\n` +
        `shipping: { partSizeMiB: 5, partConcurrency: 1 }\nbandwidth: { default: 2MiB/s }\n` +
        `sources:\n  - { name: nightly, type: rotated, profile: generic, patterns: ["*.bak"], path: ${root}, stableSeconds: 0 }\n`,
    );
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--json-logs', '--config', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let ended = false;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((ended = true), resolve(code))));

    // While it runs: a part or more stored, not all of them.
    const upload = await until(async () => {
      if (!existsSync(join(state, 'journal.jsonl'))) return undefined;
      const u = (await collectStatus(configFile)).inflightUploads?.[0];
      return u && u.sentBytes > 0 && u.sentBytes < u.size ? u : undefined;
    }, () => !ended);
    expect(upload).toMatchObject({ file: 'nightly/full-0001.bak', size: 24 * 1024 * 1024 });
    expect(upload.bytesPerSec).toBeGreaterThan(0);
    const text = renderStatus(await collectStatus(configFile));
    expect(text).toMatch(/^ {2}uploading {7}nightly\/full-0001\.bak: [\d.]+ MB of 25\.2 MB \(\d+ %\) since \S+, [\d.]+ [kKM]B\/s: about \d+ (s|min) left \(as of \S+\)$/m);

    expect(await exited).toBe(0);
    expect((await collectStatus(configFile)).inflightUploads).toEqual([]);
    expect(existsSync(join(state, 'uploads')) ? readdirSync(join(state, 'uploads')) : []).toEqual([]);
  }, 120_000);
});
