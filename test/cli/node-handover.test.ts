import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `./bin/ferry.mjs` started by an older system Node hands over to the Node 22 of the `node`
// package. Runs where the machine has a system Node older than 22 (Debian's, CI's).

const ROOT = join(import.meta.dirname, '..', '..');
const SYSTEM_NODE = '/usr/bin/node';
const majorOf = (node: string) => Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }));
const systemMajor = existsSync(SYSTEM_NODE) ? majorOf(SYSTEM_NODE) : 0;
const dir = mkdtempSync(join(tmpdir(), 'ferry-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(systemMajor > 0 && systemMajor < 22)('bin/ferry.mjs on an older system Node', () => {
  it('runs the command on Node 22 and passes its arguments and exit code through', () => {
    // Every Node process started prints its version: the system one, then the one it hands over to.
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, 'process.stderr.write(`node ${process.versions.node}\\n`);\n');
    const env = { ...process.env, NODE_OPTIONS: `--require ${probe}` };
    const r = spawnSync(SYSTEM_NODE, [join(ROOT, 'bin', 'ferry.mjs'), '--version'], { encoding: 'utf8', env });
    const versions = [...r.stderr.matchAll(/^node (\d+)\./gm)].map((m) => Number(m[1]));
    // The system Node first; every process after it (the CLI may re-exec itself) on Node 22.
    expect(versions[0]).toBe(systemMajor);
    expect(versions.length).toBeGreaterThan(1);
    expect(versions.slice(1).every((major) => major === 22)).toBe(true);
    // The package's version and the commit the checkout is at (cli/version.ts).
    expect(r.stdout.trim()).toMatch(/^0\.1\.0(\+[0-9a-f]{7})?$/);
    expect(r.status).toBe(0);
  });
});

// The launcher stands for the command: what is sent to its PID reaches the command, and the
// command never outlives it. FERRY_NODE makes the launcher hand over whatever Node runs it, so
// this runs on every machine.
describe('bin/ferry.mjs handing over to another Node', () => {
  /** A service that runs until stopped (its store is never reached: nothing to ship), started through the launcher. */
  async function service(name: string) {
    const rec = join(dir, `${name}-rec`);
    mkdirSync(rec, { recursive: true });
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, `site: site-a\nstate: ${join(dir, `${name}-state`)}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: k, secretAccessKey: s } }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    const launcher = spawn(process.execPath, [join(ROOT, 'bin', 'ferry.mjs'), 'agent', 'run', '--config', config, '--json-logs'], { env: { ...process.env, FERRY_NODE: process.execPath, FERRY_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => launcher.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "agent started" log line')), 20_000);
      for (const stream of [launcher.stdout, launcher.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          if (line.includes('agent started')) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
    });
    const children = readFileSync(`/proc/${launcher.pid}/task/${launcher.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children).toHaveLength(1);
    return { launcher, command: children[0]!, exited };
  }
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  async function gone(pid: number, withinMs: number): Promise<boolean> {
    for (const until = Date.now() + withinMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (!alive(pid)) return true;
    return !alive(pid);
  }

  it('passes SIGTERM sent to the launcher on to the command, which stops cleanly, and exits with its status', async () => {
    const { launcher, command, exited } = await service('term');
    launcher.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await gone(command, 5000)).toBe(true);
  }, 40_000);

  it('a Ctrl-C at a terminal (SIGINT to the command and, passed on, once more) stops the command cleanly', async () => {
    const { launcher, command, exited } = await service('int');
    process.kill(command, 'SIGINT');
    launcher.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await gone(command, 5000)).toBe(true);
  }, 40_000);

  it('the command kills itself within seconds when its launcher is killed with SIGKILL', async () => {
    const { launcher, command, exited } = await service('kill');
    // The command is held (SIGSTOP) while its launcher dies, so that what the test sees then does not
    // depend on when the command's once-a-second look falls: nothing kills it with the launcher.
    process.kill(command, 'SIGSTOP');
    while (!/^State:\s+T/m.test(readFileSync(`/proc/${command}/status`, 'utf8'))) await new Promise((r) => setTimeout(r, 10));
    launcher.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    expect(alive(command)).toBe(true); // not at once: it notices the launcher is gone
    process.kill(command, 'SIGCONT');
    expect(await gone(command, 5000)).toBe(true);
  }, 40_000);
});
