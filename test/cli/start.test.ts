import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalCloudInfo } from '../../local/cloud.ts';

// `ferry start` as an operator runs it: a real process, its stand-ins' child processes, and
// every way it can end. No child may outlive it.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const started: ChildProcess[] = [];

afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `ferry start --no-demo` in the background, once its address file is written. */
async function startCloudOnly(home = mkdtempSync(join(tmpdir(), 'ferry-start-')), more: string[] = []): Promise<{ proc: ChildProcess; info: LocalCloudInfo; home: string; out: () => string }> {
  const proc = spawn(process.execPath, [BIN, 'start', '--no-demo', '--port', '0', ...more], { env: { ...process.env, FERRY_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const file = join(home, 'cloud.json');
  // Bundling the functions and starting the stand-ins took 41 s on a machine at load 20: the wait
  // ends when the cloud is up or the process has ended, saying what it printed, within the test's 120 s.
  const info = await waitFor('cloud.json', () => {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`ferry start ended (${proc.exitCode ?? proc.signalCode}) before its cloud was up`);
    return /Ctrl-C stops it/.test(out) ? readInfo(file) : undefined;
  }, 100_000).catch((error: Error) => {
    throw new Error(`${error.message}; ferry start printed:\n${out}`);
  });
  return { proc, info, home, out: () => out };
}

/** cloud.json once it is written whole (it may be read while being written). */
function readInfo(file: string): LocalCloudInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalCloudInfo;
  } catch {
    return undefined;
  }
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Pids of live processes whose command line mentions `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('ferry start', () => {
  it('--once --batches 3 --per-batch 1 ships, replays an evicted call and exits 0 with no child left', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-start-'));
    const proc = spawn(process.execPath, [BIN, 'start', '--once', '--batches', '3', '--per-batch', '1', '--port', '0'], { env: { ...process.env, FERRY_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    let children: LocalCloudInfo['children'] | undefined;
    const file = join(home, 'cloud.json');
    const watch = setInterval(() => {
      children ??= readInfo(file)?.children;
    }, 50);
    const end = await exited(proc);
    clearInterval(watch);
    expect(end, out).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/shipped 3 pack\(s\), 3 recording\(s\)/);
    expect(out).toMatch(/byte-identical to the original/);
    expect(children).toBeDefined();
    await waitFor('children to exit', () => (alive(children!.s3) || alive(children!.dynamo) ? undefined : true), 10_000);
    expect(existsSync(file)).toBe(false);
  }, 180_000);

  it("says on start that it removes the previous run's local cloud data and the printed site-b config's agent state, how much, and that --keep keeps them; says nothing on a first start or with --keep", async () => {
    const first = await startCloudOnly();
    expect(first.out()).not.toMatch(/previous run/);
    // What a run leaves behind: its tables, bucket and logs, and something it shipped; and the
    // printed site-b config's state directory, whose journal takes what it shipped there for shipped.
    writeFileSync(join(first.home, 'cloud', 'shipped.bin'), Buffer.alloc(3 * 1024 * 1024));
    const siteB = join(first.home, 'site-b-state');
    mkdirSync(siteB);
    writeFileSync(join(siteB, 'journal.jsonl'), '{"t":"published"}\n');
    first.proc.kill('SIGINT');
    expect((await exited(first.proc)).code).toBe(130);
    const again = await startCloudOnly(first.home);
    const [, files, size] = /Removing the previous run's data: \S+cloud \((\d+) files, ([\d.]+) MB: its bucket, tables, audit trail and logs\)(?: and [^\n]*?)?\. This run starts empty; start with --keep/.exec(again.out()) ?? [];
    expect(Number(files), again.out()).toBeGreaterThan(1);
    expect(Number(size)).toBeGreaterThanOrEqual(3);
    expect(again.out().indexOf('Removing the previous run')).toBeLessThan(again.out().indexOf('Starting the embedded local cloud'));
    expect(existsSync(join(first.home, 'cloud', 'shipped.bin'))).toBe(false);
    expect(again.out()).toContain(`${siteB} (1 files, 18 B: the state of the site-b agent config printed before, which took what it shipped there for shipped)`);
    expect(existsSync(siteB)).toBe(false);
    again.proc.kill('SIGINT');
    expect((await exited(again.proc)).code).toBe(130);
    writeFileSync(join(first.home, 'cloud', 'shipped.bin'), 'kept');
    mkdirSync(siteB);
    writeFileSync(join(siteB, 'journal.jsonl'), 'kept');
    const kept = await startCloudOnly(first.home, ['--keep']);
    expect(kept.out()).not.toMatch(/previous run/);
    expect(readFileSync(join(first.home, 'cloud', 'shipped.bin'), 'utf8')).toBe('kept');
    expect(readFileSync(join(siteB, 'journal.jsonl'), 'utf8')).toBe('kept');
    kept.proc.kill('SIGINT');
    expect((await exited(kept.proc)).code).toBe(130);
  }, 180_000);

  it("refuses a start without --keep while an agent holds the printed site-b config's state directory (exit 1, naming its pid), and removes nothing", () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-start-'));
    mkdirSync(join(home, 'cloud'));
    writeFileSync(join(home, 'cloud', 'shipped.bin'), 'shipped');
    const siteB = join(home, 'site-b-state');
    mkdirSync(siteB);
    // This test's own process stands for the agent holding the directory.
    writeFileSync(join(siteB, 'agent.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    const start = spawnSync(process.execPath, [BIN, 'start', '--no-demo', '--once', '--port', '0'], { env: { ...process.env, FERRY_HOME: home }, encoding: 'utf8', timeout: 60_000 });
    expect(start.status, start.stdout + start.stderr).toBe(1);
    expect(start.stderr).toContain(`an agent (pid ${process.pid} on ${hostname()}) is using ${siteB}, the state directory of the site-b config printed before`);
    expect(start.stdout + start.stderr).not.toMatch(/Removing the previous run/);
    expect(readFileSync(join(home, 'cloud', 'shipped.bin'), 'utf8')).toBe('shipped');
    expect(existsSync(join(siteB, 'agent.lock'))).toBe(true);
  }, 60_000);

  it('refuses a second start while a local cloud of the same FERRY_HOME runs (exit 1, naming its pid), and removes nothing of it', async () => {
    const first = await startCloudOnly();
    writeFileSync(join(first.home, 'cloud', 'shipped.bin'), 'shipped');
    const second = spawnSync(process.execPath, [BIN, 'start', '--no-demo', '--once', '--port', '0'], { env: { ...process.env, FERRY_HOME: first.home }, encoding: 'utf8', timeout: 60_000 });
    expect(second.status, second.stdout + second.stderr).toBe(1);
    expect(second.stderr).toContain(`a local cloud of ${first.home} is already running (pid ${first.info.pid}, catalogue API ${first.info.api}`);
    expect(second.stdout + second.stderr).not.toMatch(/Removing the previous run/);
    expect(readFileSync(join(first.home, 'cloud', 'shipped.bin'), 'utf8')).toBe('shipped');
    expect(readInfo(join(first.home, 'cloud.json'))?.pid).toBe(first.info.pid);
    first.proc.kill('SIGINT');
    expect((await exited(first.proc)).code).toBe(130);
  }, 180_000);

  it('starts when the address file left by a killed run names a pid now taken by another process whose port does not answer (a reused pid is no running cloud)', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-start-'));
    const other = spawn('sleep', ['60']);
    started.push(other);
    const closed = await new Promise<number>((done) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => done(port));
      });
    });
    writeFileSync(join(home, 'cloud.json'), JSON.stringify({ pid: other.pid, api: `http://127.0.0.1:${closed}`, bucket: 'b', region: 'us-east-1' }));
    const { proc, info } = await startCloudOnly(home);
    expect(info.pid).toBe(proc.pid);
    proc.kill('SIGINT');
    expect((await exited(proc)).code).toBe(130);
  }, 180_000);

  it('--no-demo runs the local cloud alone: prints both endpoints, the local credentials, a second site config and how to see that site in the fleet', async () => {
    const { proc, info, home, out } = await startCloudOnly();
    expect(out()).toContain(`catalogue API  ${info.api}`);
    expect(out()).toContain(`replay URL     ${info.replay}`);
    expect(info.api).not.toBe(info.replay);
    expect(out()).toContain(`access key ${info.credentials.accessKeyId}, secret ${info.credentials.secretAccessKey}`);
    expect(out()).toMatch(/site: site-b[\s\S]*api: http:\/\/127\.0\.0\.1:\d+[\s\S]*replay: http:\/\/127\.0\.0\.1:\d+/);
    expect(out()).not.toMatch(/Demo site/);
    // The console's sign-in: the printed demo officer signs in at the printed stand-in and reaches the printed console API.
    const [, consoleApi] = /console API +(\S+)/.exec(out())!;
    const [, cognito, clientId] = /console sign-in (\S+) .*client (\w+)\)/.exec(out())!;
    const [, username, password] = /demo officer +(\S+) \/ (\S+)/.exec(out())!;
    const signIn = await fetch(cognito!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
      body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
    });
    const token = ((await signIn.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
    const me = await fetch(`${consoleApi}/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ username: 'demo-officer', sites: ['demo'] });
    // The printed demo listener signs in too, and may search and listen at the site only.
    const [, listenerName, listenerPassword] = /demo listener +(\S+) \/ (\S+) +\(groups listener-demo: search and play calls only\)/.exec(out())!;
    const listenerSignIn = await fetch(cognito!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
      body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: clientId, AuthParameters: { USERNAME: listenerName, PASSWORD: listenerPassword } }),
    });
    const listenerToken = ((await listenerSignIn.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
    const sites = await fetch(`${consoleApi}/sites`, { headers: { Authorization: `Bearer ${listenerToken}` } });
    expect(await sites.json()).toEqual({ sites: [{ name: 'demo', access: 'listener' }] });
    // The CLI finds it and signs its requests: an empty site is an empty answer, not a 403.
    const env = { ...process.env, FERRY_HOME: home };
    const search = spawnSync(process.execPath, [BIN, 'calls', 'search', '--site', 'site-b'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(search.stderr).toBe('');
    expect(search.stdout).toBe('no recordings found\n');
    const link = spawnSync(process.execPath, [BIN, 'calls', 'link', 'site-b/r0123456789abcdef0123456'], { env, encoding: 'utf8', timeout: 30_000 });
    const url = new URL(link.stdout.trim());
    expect(`${url.origin}${url.pathname}`).toBe(`${info.replay}/sites/site-b/recordings/r0123456789abcdef0123456/audio`);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/\/lambda\/aws4_request$/);
    // The printed config, as printed (its recordings path made real), installs: its state directory is an absolute path.
    const printed = /write an agent config:\n\n([\s\S]*?)\n\nthen /.exec(out())![1]!.replace(/^ {2}/gm, '');
    const recordings = join(home, 'recordings');
    mkdirSync(recordings);
    const config = join(home, 'site-b.yaml');
    writeFileSync(config, printed.replace('/path/to/recordings', recordings));
    expect(printed).toContain(`state: ${join(home, 'site-b-state')}\n`);
    const install = spawnSync(process.execPath, [BIN, 'agent', 'install', '--config', config, '--dry-run', '--user', 'root'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(install.stderr).not.toMatch(/state:/);
    expect(install.status).toBe(0);
    expect(install.stdout).toContain('[Service]');
    // site-b is not the local cloud's: the fleet lists demo only, and the printed deployment file shows site-b's row.
    const fleet = spawnSync(process.execPath, [BIN, 'fleet', 'status'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(fleet.stdout).toMatch(/^SILENT  demo /);
    expect(fleet.stdout).not.toContain('site-b');
    const [, deployment] = /echo '(.*site-b.*)' > fleet\.json/.exec(out())!;
    expect(out()).toContain('./bin/ferry.mjs fleet status --deployment fleet.json');
    const file = join(home, 'fleet.json');
    writeFileSync(file, deployment!);
    const named = spawnSync(process.execPath, [BIN, 'fleet', 'status', '--deployment', file], { env, encoding: 'utf8', timeout: 30_000 });
    expect(named.stderr).toBe('');
    expect(named.stdout).toMatch(/^SILENT  site-b  heartbeat never[\s\S]*! no heartbeat received yet/);
    proc.kill('SIGINT');
    expect((await exited(proc)).code).toBe(130);
  }, 120_000);

  it.each(['SIGINT', 'SIGTERM', 'SIGKILL'] as const)('leaves no child process running when the parent gets %s', async (signal) => {
    const { proc, info } = await startCloudOnly();
    const { s3, dynamo } = info.children;
    expect(alive(s3) && alive(dynamo)).toBe(true);
    proc.kill(signal);
    const end = await exited(proc);
    if (signal === 'SIGKILL') expect(end.signal).toBe('SIGKILL');
    else expect(end.code).toBe(signal === 'SIGINT' ? 130 : 143);
    await waitFor(`children of a ${signal}ed parent to exit`, () => (alive(s3) || alive(dynamo) ? undefined : true), 10_000);
  }, 120_000);

  it('stops the children when the demo fails after the cloud started, and exits 1 instead of hanging', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-start-'));
    // A file where the demo's directory goes (kept by --keep): the demo fails once the cloud is up.
    writeFileSync(join(home, 'demo'), 'not a directory');
    const proc = spawn(process.execPath, [BIN, 'start', '--once', '--keep', '--port', '0'], { env: { ...process.env, FERRY_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(proc);
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const end = await exited(proc);
    expect(end, out).toEqual({ code: 1, signal: null });
    expect(out).toMatch(/^ferry: .*demo/m);
    expect(out).toMatch(/S3\s+http:\/\/127\.0\.0\.1:\d+/); // the cloud had started its children
    // The stand-ins run with their directory under this FERRY_HOME in their arguments: none may survive.
    await waitFor('children to exit', () => (processesMentioning(home).length > 0 ? undefined : true), 10_000);
  }, 120_000);
});
