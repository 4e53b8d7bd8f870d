#!/usr/bin/env node
// Entry point of the `ferry` command.
// The agent is a long-running service on the recorder's site: it runs from a prebuilt bundle
// (`npm run build`, run by `npm install`), which starts in a fraction of the time and memory of
// compiling TypeScript at start-up; so do the `restore` commands, which the bundle also holds.
// The bundle is used only when it is newer than every source file, so a changed tree never
// runs stale code. Everything else runs from source.
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);

// Ferry runs on Node 22 (the Lambda runtime's major). Started by an older system Node (e.g.
// `./bin/ferry.mjs` outside npm scripts), it hands over to the Node 22 that `npm install`
// brings (the `node` package) rather than fail later in the middle of a command; `FERRY_NODE`
// names another Node to hand over to. This process then only stands for the command: SIGINT,
// SIGTERM and SIGHUP sent to it are passed on, it exits as the command did (with its status, or
// by the same signal), and a command whose launcher was killed outright (`kill -9`, which cannot
// be passed on) kills itself within a second, so a PID that cron, `timeout` or an operator
// signals stops the command, never leaving it running on its own.
// Behind an outbound proxy (HTTPS_PROXY, HTTP_PROXY) it hands over too, to a Node started with
// NODE_USE_ENV_PROXY=1: the catalogue API, replay and alert webhook calls (fetch) then take the
// proxy as well (the AWS SDK's calls take it in cli/main.ts), and this machine's own stand-ins
// (loopback) never do.
const launcher = Number(process.env.FERRY_LAUNCHER_PID);
delete process.env.FERRY_LAUNCHER_PID;
const major = Number(process.versions.node.split('.')[0]);
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
// A proxy written without a scheme (`proxy.corp.example:3128`, as curl, pip and the AWS CLI take
// it) is read as http://…, as they read it; one that is no http(s) URL even so (a SOCKS proxy) is
// said and left out: Node would otherwise stop every command at start with a trace of its own.
for (const name of PROXY_VARIABLES) {
  const value = process.env[name]?.trim();
  if (!value) continue;
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    ok = false;
  }
  if (ok) process.env[name] = url;
  else {
    console.error(`ferry: ${name} ${JSON.stringify(value)} is not an http(s) proxy URL (http://host:port): left out, requests go direct`);
    delete process.env[name];
  }
}
const proxied = PROXY_VARIABLES.some((name) => process.env[name]) && process.env.NODE_USE_ENV_PROXY === undefined;
if (launcher > 0) {
  setInterval(() => {
    if (process.ppid !== launcher) process.kill(process.pid, 'SIGKILL');
  }, 1000).unref();
} else if (major < 22 || process.env.FERRY_NODE || proxied) {
  const node22 = process.env.FERRY_NODE || (major >= 22 ? process.execPath : join(root, 'node_modules', '.bin', 'node'));
  if (!existsSync(node22)) {
    console.error(`ferry needs Node.js 22 or later (this is ${process.version}); run npm install, which brings it`);
    process.exit(1);
  }
  const env = { ...process.env, FERRY_LAUNCHER_PID: String(process.pid) };
  delete env.FERRY_NODE;
  if (proxied) {
    const noProxy = env.NO_PROXY ?? env.no_proxy;
    // Node 22 calls its proxy support for fetch experimental, once per process, on stderr (cron
    // mails it): not said, in this process or any Node it starts.
    const options = env.NODE_OPTIONS?.includes('--disable-warning=UNDICI-EHPA') ? env.NODE_OPTIONS : [env.NODE_OPTIONS, '--disable-warning=UNDICI-EHPA'].filter(Boolean).join(' ');
    Object.assign(env, { NODE_USE_ENV_PROXY: '1', NODE_OPTIONS: options, NO_PROXY: [noProxy, 'localhost', '127.0.0.1', '::1'].filter(Boolean).join(',') });
  }
  const child = spawn(node22, [fileURLToPath(import.meta.url), ...args], { stdio: 'inherit', env });
  // A Ctrl-C at a terminal reaches the command too (the same process group): the commands
  // that stop cleanly take a second SIGINT as the same request.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const pass = (signal) => child.kill(signal);
  for (const signal of signals) process.on(signal, pass);
  child.on('error', (error) => {
    console.error(`ferry: could not start ${node22}: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, pass);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  await new Promise(() => undefined); // until the command exits (above)
}
const bundle = join(root, 'dist', 'ferry-agent.mjs');

/**
 * Whether the bundle is newer than every source file. Asked on libuv's thread pool, beside the
 * bundle's own loading on the main thread: the 260-odd stats took 40-120 ms of every start on a
 * busy host when made one after another before the bundle was even read.
 */
async function bundleIsFresh() {
  let built;
  try {
    built = (await stat(bundle)).mtimeMs;
  } catch {
    return false;
  }
  const sources = async (dir) => (await readdir(join(root, dir), { recursive: true })).filter((name) => name.endsWith('.ts')).map((name) => join(root, dir, name));
  const files = (await Promise.all(['core', 'adapters', 'agent', 'cli', 'functions', 'local'].map(sources))).flat();
  const times = await Promise.all(files.map(async (file) => (await stat(file)).mtimeMs));
  return times.every((mtime) => mtime <= built);
}

let main;
// The bundle holds the `agent`, `restore` and `snapshots` commands (cli/agent-entry.ts).
if (['agent', 'restore', 'snapshots'].includes(args.find((a) => !a.startsWith('-'))) && process.env.FERRY_FROM_SOURCE === undefined && existsSync(bundle)) {
  // Node keeps the bundle's compiled code on disk: every start after the first skips most of
  // compiling the bundle (the agent also runs from cron with --once, and a start is time
  // before the first pack). The cache is keyed by the bundle's content, so a new build is
  // compiled afresh. NODE_COMPILE_CACHE names its directory (default: under the system's
  // temporary directory); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
  const { enableCompileCache } = await import('node:module');
  enableCompileCache?.();
  // Loaded while its freshness is checked; a stale bundle is loaded for nothing (its module code
  // runs no command) and the sources run instead, so a changed tree never runs stale code.
  const fresh = bundleIsFresh();
  const loaded = await import(bundle).catch((error) => ({ error }));
  if (await fresh) {
    if (loaded.error) throw loaded.error;
    main = loaded.main;
  }
}
if (main === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(args);
