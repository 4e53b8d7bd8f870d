import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { startCloudProcess } from '../../scripts/bench/cloud-process.ts';
import { processTree } from '../../scripts/bench/measure.ts';

// The bench's local cloud in its own process (scripts/bench/cloud-process.ts): it answers on
// the endpoints it reports, and nothing of it outlives the bench: not after stop(), not after a
// failed start, not when the bench is killed outright or interrupted with Ctrl-C.

const dir = mkdtempSync(join(tmpdir(), 'cloudproc-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Running, not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

type Started = { pid: number; children: { s3: number; dynamo: number } };

/** A bench stand-in (bench-cloud-holder.ts) with its cloud started; `group` makes it a process-group leader as a shell makes a job. */
async function holder(name: string): Promise<{ holder: number; cloud: Started }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bench-cloud-holder.ts'), join(dir, name)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before its cloud was up`)));
  });
  return { holder: child.pid!, cloud: JSON.parse(line) as Started };
}

const everyPid = (s: Started) => [s.pid, s.children.s3, s.children.dynamo];

describe('the bench cloud in its own process', () => {
  it('reports endpoints that answer from another process, and stop() leaves no process of it behind', async () => {
    const before = new Set(processTree(process.pid));
    const cloud = await startCloudProcess({ directory: join(dir, 'stop'), fresh: true });
    const pids = everyPid({ pid: cloud.pid, children: cloud.info.children });
    expect(pids.every(alive)).toBe(true);
    expect(cloud.pid).not.toBe(process.pid);
    // The replay URL refuses an unsigned request (SigV4 is checked in the cloud process).
    const res = await fetch(`${cloud.info.replayUrl}/sites/demo/recordings/r1/audio`);
    expect(res.status).toBe(403);
    expect(cloud.credentials.of('function:replay').accessKeyId).toMatch(/^AKIA/);
    await cloud.drain();
    expect(await cloud.ingestErrors()).toEqual([]);
    await cloud.stop();
    await expect.poll(() => pids.filter(alive)).toEqual([]);
    expect(processTree(process.pid).filter((p) => !before.has(p) && alive(p))).toEqual([]);
  }, 180_000);

  it('rejects a start that fails and leaves no process behind', async () => {
    const before = new Set(processTree(process.pid));
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, '');
    await expect(startCloudProcess({ directory: join(file, 'cloud'), fresh: true })).rejects.toThrow(/could not start the local cloud|exited before it was ready/);
    await expect.poll(() => processTree(process.pid).filter((p) => !before.has(p) && alive(p))).toEqual([]);
  }, 180_000);

  it('stops by itself, stand-ins included, when the bench is killed outright (SIGKILL)', async () => {
    const { holder: pid, cloud } = await holder('killed');
    expect(everyPid(cloud).every(alive)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => everyPid(cloud).filter(alive), { timeout: 30_000 }).toEqual([]);
  }, 180_000);

  it('stops, stand-ins included, on Ctrl-C (SIGINT to the whole process group)', async () => {
    const { holder: pid, cloud } = await holder('interrupted');
    expect(everyPid(cloud).every(alive)).toBe(true);
    process.kill(-pid, 'SIGINT');
    await expect.poll(() => [pid, ...everyPid(cloud)].filter(alive), { timeout: 30_000 }).toEqual([]);
  }, 180_000);
});
