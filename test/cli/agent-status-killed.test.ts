import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, renderStatus, type StatusReport } from '../../cli/agent-commands.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { writeTree } from '../support/recorder-tree.ts';

// An agent run from cron killed mid-pass (the OOM killer, a reboot) leaves status.json as the
// pass before it wrote it: `agent status` at 3 a.m. read "last pass 02:10" while the runs of
// 02:12, 02:14 … had all died. The pass's start is on disk (pass.json): status says that a pass
// started and is running, or that it did not finish. Here for real: `ferry agent run --once` in
// a process of its own, slowed by a bandwidth limit, SIGKILLed in the middle of its pass.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let s3: LocalS3;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-status-killed-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const config = (root: string, state: string, bandwidth = '') => `
site: killed
state: ${state}
cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
shipping: { attempts: 1, packConcurrency: 1 }
${bandwidth}
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 4, quietSeconds: 60, settleSeconds: 1 }
`;

function run(configFile: string) {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
  const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--json-logs', '--config', configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => child.on('error', reject).on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, log: () => log };
}

/** Waits for the condition the test needs next (no time is asserted: the test's own timeout bounds it). */
async function until<T>(what: () => T | undefined | false): Promise<T> {
  for (;;) {
    const v = what();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('agent status after a pass killed with SIGKILL', () => {
  it('says a pass started after the last finished one is running while its process holds the lock, and that it did not finish once it is killed, in text and --json', async () => {
    const root = join(dir, 'recorder');
    const state = join(dir, 'state');
    const configFile = join(dir, 'agent.yaml');
    const journal = join(state, 'journal.jsonl');
    writeTree(root, 1, 4);
    writeFileSync(configFile, config(root, state));
    const first = run(configFile);
    expect((await first.exited).code, first.log()).toBe(0);
    const finished = (JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')) as { updatedAt: string }).updatedAt;

    // Six more batches of 4 × 40 KB at 8 KiB/s: a pass of minutes, killed in its first.
    writeTree(root, 6, 4, { firstBatch: 2, size: 40_000 });
    writeFileSync(configFile, config(root, state, 'bandwidth: { default: 8KiB/s }'));
    const second = run(configFile);
    try {
      // Mid-pass: it began shipping the first of the new batches (the journal's begin line).
      await until(() => existsSync(journal) && readFileSync(journal, 'utf8').includes('000002'));
      // Its process holds the state directory: the pass is under way.
      const during = await collectStatus(configFile);
      expect(during.unfinishedPass).toMatchObject({ running: true });
      const started = during.unfinishedPass!;
      expect(started.startedAt > finished).toBe(true);
      expect(renderStatus(during)).toContain(`pass              running since ${started.startedAt} (pid ${started.pid}); last finished pass ${finished}: the figures below are that pass's`);

      second.child.kill('SIGKILL');
      expect((await second.exited).signal).toBe('SIGKILL');
      const after: StatusReport = await collectStatus(configFile);
      expect(after.running).toBeUndefined();
      expect(after.unfinishedPass).toEqual({ startedAt: started.startedAt, pid: started.pid, running: false });
      expect(renderStatus(after)).toContain(`pass              started ${started.startedAt} (pid ${started.pid}) did not finish (killed or crashed: see the agent's log; the next run ships what it left); last finished pass ${finished}: the figures below are that pass's`);
      expect(JSON.parse(JSON.stringify(after))).toMatchObject({ unfinishedPass: { startedAt: started.startedAt, running: false }, agent: { updatedAt: finished } });
    } finally {
      second.child.kill('SIGKILL');
    }

    // The next run finishes its pass: status no longer speaks of one that did not.
    writeFileSync(configFile, config(root, state));
    const third = run(configFile);
    expect((await third.exited).code, third.log()).toBe(0);
    const done = await collectStatus(configFile);
    expect(done.unfinishedPass).toBeUndefined();
    expect(renderStatus(done)).not.toContain('did not finish');
  }, 120_000);
});
