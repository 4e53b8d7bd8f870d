import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// A real MariaDB server for tests, started as a plain process in its own temporary directory:
// `mariadb-install-db` into a fresh data directory, then `mariadbd` with binary logging on a
// free loopback port and a private socket, root without a password. Works as root (`--user=root`)
// and as an ordinary user. Nothing is skipped: when MariaDB is missing, start fails and says how
// to install it. Server and client tools run with TZ=UTC unless told otherwise, so event times,
// NOW() and `mariadb-binlog --start/--stop-datetime` all speak UTC.

export interface MariaDbOptions {
  /** Binary log base name in the data directory (default mysql-bin). */
  binlogBasename?: string;
  /** Extra mariadbd arguments, e.g. ['--binlog-format=ROW', '--max-binlog-size=4096']. */
  args?: string[];
  /** TZ of the server and of the tools run through the helper (default UTC). */
  timeZone?: string;
  startTimeoutMs?: number;
  /** Leave the directory in place after stop (debugging). */
  keep?: boolean;
}

export interface MariaDb {
  readonly dir: string;
  readonly datadir: string;
  readonly socket: string;
  readonly port: number;
  readonly binlogBasename: string;
  /** Environment for client tools (PATH with sbin, TZ). */
  readonly env: NodeJS.ProcessEnv;
  /** Connection arguments for mariadb / mariadb-dump / mariadb-admin (root over the socket); `--no-defaults` first. */
  clientArgs(database?: string): string[];
  /** Runs SQL statements with the mariadb client in batch mode; resolves its stdout. */
  exec(sql: string, database?: string): Promise<string>;
  /** Rows of a query (tab-separated columns, no header). */
  query(sql: string, database?: string): Promise<string[][]>;
  /** Runs a MariaDB tool (mariadb-binlog, mariadb-dump, …) by name; resolves stdout; rejects with stderr. */
  run(tool: string, args: string[], input?: Buffer | string): Promise<Buffer>;
  /** Feeds SQL (a dump, mariadb-binlog output) to the client. */
  load(input: Buffer | string, database?: string): Promise<void>;
  /** FLUSH BINARY LOGS: closes the active segment and opens the next. */
  flushBinaryLogs(): Promise<void>;
  /** Absolute paths of the binlog segments, in sequence order. */
  binlogSegments(): string[];
  /** Stops the server (SIGTERM, then SIGKILL after 30 s) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];

/** Absolute path of a MariaDB program; throws a message saying how to install it. */
export function findMariaDbTool(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`MariaDB is not installed: "${name}" was not found on PATH or in ${SBIN_DIRS.join(', ')}. Run scripts/setup-system.sh (it installs the Debian package mariadb-server) and try again.`);
}

function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; input?: Buffer | string }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}): ${Buffer.concat(err).toString().trim().slice(-2000)}`));
    });
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin
    child.stdin.end(options.input ?? '');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const mariadbd = findMariaDbTool('mariadbd');
  const installDb = findMariaDbTool('mariadb-install-db');
  const client = findMariaDbTool('mariadb');
  // Unix socket paths are limited to ~108 bytes: keep the directory short.
  const dir = mkdtempSync(join(tmpdir().length < 40 ? tmpdir() : '/tmp', 'ferry-mdb-'));
  const datadir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const basename = options.binlogBasename ?? 'mysql-bin';
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: options.timeZone ?? 'UTC', PATH: [process.env.PATH, ...SBIN_DIRS].filter(Boolean).join(delimiter) };
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  try {
    await run(installDb, ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asRoot], { env });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const args = [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      `--tmpdir=${dir}`,
      `--log-bin=${join(datadir, basename)}`,
      '--server-id=1',
      '--innodb-buffer-pool-size=32M',
      '--innodb-use-native-aio=0',
      ...asRoot,
      ...(options.args ?? []),
    ];
    const child = spawn(mariadbd, args, { env, stdio: 'ignore' });
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    try {
      await waitReady(child, client, socket, env, dir, options.startTimeoutMs ?? 60_000);
      return handle({ dir, datadir, socket, port, basename, env, client, child, kill, keep: options.keep ?? false });
    } catch (error) {
      lastError = error;
      kill();
      process.removeListener('exit', kill);
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
      if (!/in use|bind/i.test(String(error))) break; // only a lost race for the port is worth a retry
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function waitReady(child: ChildProcess, client: string, socket: string, env: NodeJS.ProcessEnv, dir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const log = () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-15).join('\n') : '(no error log)');
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mariadbd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    if (existsSync(socket)) {
      try {
        await run(client, ['--no-defaults', '--user=root', `--socket=${socket}`, '--batch', '-e', 'SELECT 1'], { env });
        return;
      } catch {
        // not accepting yet
      }
    }
    await sleep(100);
  }
  throw new Error(`mariadbd was not ready after ${timeoutMs} ms:\n${log()}`);
}

interface HandleParts {
  dir: string;
  datadir: string;
  socket: string;
  port: number;
  basename: string;
  env: NodeJS.ProcessEnv;
  client: string;
  child: ChildProcess;
  kill: () => void;
  keep: boolean;
}

function handle(p: HandleParts): MariaDb {
  const clientArgs = (database?: string) => ['--no-defaults', '--user=root', `--socket=${p.socket}`, ...(database ? [`--database=${database}`] : [])];
  let stopped: Promise<void> | undefined;
  const db: MariaDb = {
    dir: p.dir,
    datadir: p.datadir,
    socket: p.socket,
    port: p.port,
    binlogBasename: p.basename,
    env: p.env,
    clientArgs,
    exec: async (sql, database) => (await run(p.client, [...clientArgs(database), '--batch', '--skip-column-names'], { env: p.env, input: sql })).toString('utf8'),
    query: async (sql, database) =>
      (await db.exec(sql, database))
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.split('\t')),
    run: (tool, args, input) => run(findMariaDbTool(tool), args, { env: p.env, input }),
    load: async (input, database) => void (await run(p.client, clientArgs(database), { env: p.env, input })),
    flushBinaryLogs: async () => void (await db.exec('FLUSH BINARY LOGS')),
    binlogSegments: () =>
      readdirSync(p.datadir)
        .filter((n) => n.startsWith(`${p.basename}.`) && /^\d{6,}$/.test(n.slice(p.basename.length + 1)))
        .sort()
        .map((n) => join(p.datadir, n)),
    stop: () => (stopped ??= stop(p)),
  };
  return db;
}

async function stop(p: HandleParts): Promise<void> {
  const exited = new Promise<void>((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once('exit', () => r())));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
  process.removeListener('exit', p.kill);
  if (!p.keep) rmSync(p.dir, { recursive: true, force: true });
}

/**
 * Site A's agent config for a MariaDB: its dumps (`*.sql` in `dumps`) as a rotated source
 * `shop-db`, its binlogs as `shop-binlog`, shipped to the local cloud as site A's agent role.
 */
export function shopSiteConfig(o: { dir: string; cloudYaml: string; dumps: string; datadir: string; partialIntervalSeconds: number }): string {
  return `
site: site-a
state: ${join(o.dir, 'state-a')}
cloud: ${o.cloudYaml}
sources:
  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql"], path: ${o.dumps}, stableSeconds: 0 }
  - { name: shop-binlog, type: binlog, path: ${o.datadir}, basename: mysql-bin, partialIntervalSeconds: ${o.partialIntervalSeconds} }
`;
}
