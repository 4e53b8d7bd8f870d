import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import type { AgentConfig } from '../core/config.ts';
import { proxyUrl } from '../adapters/proxy-environment.ts';

// `ferry agent install`: the agent as a hardened systemd service (or a cron line). The unit
// lets the agent read the recorder's paths and write its state directory, and nothing else:
// ransomware or a bug in the agent cannot write to the recorder's disk through it.

export interface UnitInput {
  site: string;
  configFile: string;
  user: string;
  /** The command that runs `ferry`: the Node binary and the agent's entry script (bin/ferry.mjs or the single-file build). */
  node: string;
  entry: string;
  sourcePaths: string[];
  stateDir: string;
  restartSec: number;
  /** Variables the agent needs from the installer's environment (AWS_PROFILE and the files it names). */
  environment?: Record<string, string>;
  /** Paths the agent reads besides its sources (the AWS config and credentials files). */
  readPaths?: string[];
  /** A file (0600) holding the variables that carry a secret (a proxy's password): never on a command line or in a unit others may read. */
  environmentFile?: string;
}

/**
 * The site's network settings the store check ran with, carried likewise (a unit or cron line that
 * checked fine through the proxy and its CA, then ran without them, would fail every request):
 * the outbound proxy, and the CA of a TLS-intercepting one.
 */
export const NETWORK_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NODE_EXTRA_CA_CERTS'] as const;

/** The carried variables that hold a password (a proxy's) apart from the rest, and the file they go to. */
function splitSecrets(carried: Record<string, string>, configFile: string, site: string): { environment: Record<string, string>; secret: Record<string, string>; environmentFile?: string } {
  const secret = Object.fromEntries(Object.entries(carried).filter(([k, v]) => /_PROXY$/i.test(k) && hasPassword(v)));
  const environment = Object.fromEntries(Object.entries(carried).filter(([k]) => !(k in secret)));
  return Object.keys(secret).length ? { environment, secret, environmentFile: join(dirname(configFile), `ferry-agent-${site}.env`) } : { environment, secret };
}

/** Writes the secret variables to their file (0600; for cron, the agent's user's, who reads it; systemd reads it as root) and says so. */
function writeSecrets(file: string | undefined, secret: Record<string, string>, o: { dryRun?: boolean; cron?: boolean; account: Account | null | undefined; user: string }): string[] {
  if (file === undefined || o.dryRun) return [];
  writeFileSync(file, Object.entries(secret).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  chmodSync(file, 0o600);
  const owned = o.cron && o.account && process.getuid?.() === 0;
  if (owned) chownSync(file, o.account!.uid, o.account!.gid);
  return [`note: ${Object.keys(secret).join(', ')} ${Object.keys(secret).length === 1 ? 'holds' : 'hold'} a password: written to ${file} (mode 0600${owned ? `, owned by ${o.user}` : ''}), not into the ${o.cron ? 'cron line' : 'unit'}`];
}

/** Whether a proxy URL carries a password (`http://user:pass@proxy`). */
function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/**
 * The AWS SDK's settings the agent takes from its environment when the configuration has no
 * `cloud.credentials` (docs/deploy.md: keys in ~ferry/.aws, `AWS_PROFILE=ferry`): carried from
 * the installer's environment into the unit and the cron line, which start with none of it.
 */
export const CARRIED_ENV = ['AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', ...NETWORK_ENV] as const;

/** The environment a unit or cron line gets: what is carried, and with a proxy, Node's own proxy support for the agent's webhook calls. */
export function carriedEnvironment(env: NodeJS.ProcessEnv, cwd = process.cwd()): Record<string, string> {
  const carried: Record<string, string> = Object.fromEntries(CARRIED_ENV.flatMap((k) => (env[k] ? [[k, env[k] as string]] : [])));
  // As the check read them: a proxy without a scheme is http://…, a path is from where install ran (cron and systemd start elsewhere).
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) {
    if (carried[k] === undefined) continue;
    const url = proxyUrl(carried[k]);
    if (url) carried[k] = url;
    else delete carried[k];
  }
  for (const k of ['AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'NODE_EXTRA_CA_CERTS']) if (carried[k]) carried[k] = resolve(cwd, carried[k]);
  if (['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((k) => carried[k])) {
    carried.NODE_USE_ENV_PROXY = '1';
    const options = env.NODE_OPTIONS ?? '';
    carried.NODE_OPTIONS = options.includes('--disable-warning=UNDICI-EHPA') ? options : [options, '--disable-warning=UNDICI-EHPA'].filter(Boolean).join(' ');
  }
  return carried;
}

/**
 * A path in a unit file: `%` doubled (systemd expands `%x` specifiers in paths and commands), and
 * quoted when it has a space, a quote or a backslash (systemd splits lists on spaces and unquotes
 * "…" with C escapes).
 */
function quote(path: string): string {
  const p = path.replace(/%/g, '%%');
  return /[\s"\\]/.test(p) ? `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : p;
}

/** An ExecStart argument: a path as above, and `$` doubled (systemd expands `$VAR` there). */
const execArg = (arg: string): string => quote(arg).replace(/\$/g, '$$$$');

/**
 * A word of a cron command line: single-quoted for the shell unless plainly safe (`'` written
 * as `'\''`), and every `%` escaped as `\%` (cron turns an unescaped `%` into a newline, quoted or not).
 */
function cronWord(word: string): string {
  const shell = /^[\w./:=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
  return shell.replace(/%/g, '\\%');
}

const UNDER_HOME = /^\/(home|root|run\/user)(\/|$)/;

export function unitName(site: string): string {
  return `ferry-agent@${site}.service`;
}

/**
 * Writes the unit; one edited by hand (a Node flag, a priority) is not lost to a re-run but kept
 * beside the new one, and said. Returns what to tell.
 */
function writeUnit(file: string, unit: string, site: string): string[] {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const kept = before !== undefined && before !== unit && !asWritten(before) ? `${file}.previous` : undefined;
  if (kept) writeFileSync(kept, before!);
  writeFileSync(file, unit);
  return [
    `wrote ${file}`,
    ...(kept ? [`it replaced a unit that differed from it, kept as ${kept}: carry over any line you had edited (diff -u ${quote(kept)} ${quote(file)}), or put such lines in a drop-in (systemctl edit ferry-agent@${site}), which a re-run never replaces`] : []),
  ];
}

/** The unit's last line: the SHA-256 of the lines above it as install wrote them, so a re-run tells a unit edited since from one an earlier install wrote for another configuration. */
const STAMP = /^# ferry agent install wrote the lines above: sha256 ([0-9a-f]{64})\n$/m;

const stamped = (unit: string): string => `${unit}# ferry agent install wrote the lines above: sha256 ${createHash('sha256').update(unit).digest('hex')}\n`;

/** Whether a unit is as an install wrote it (nobody edited it since): its stamp matches the lines above it. */
function asWritten(unit: string): boolean {
  const m = STAMP.exec(unit);
  return m !== null && m.index + m[0].length === unit.length && createHash('sha256').update(unit.slice(0, m.index)).digest('hex') === m[1];
}

export function systemdUnit(u: UnitInput): string {
  const paths = [...u.sourcePaths, u.stateDir];
  // ProtectHome=yes hides /home, /root and /run/user entirely; a source, the state or the AWS files kept there need read-only instead.
  const protectHome = [...paths, ...(u.readPaths ?? [])].some((p) => UNDER_HOME.test(p)) ? 'read-only' : 'yes';
  const environment = Object.entries(u.environment ?? {}).map(([k, v]) => `Environment=${quote(`${k}=${v}`)}\n`).join('') + (u.environmentFile ? `EnvironmentFile=${quote(u.environmentFile)}\n` : '');
  const execStart = [u.node, u.entry, 'agent', 'run', '--config', u.configFile, '--json-logs'].map(execArg).join(' ');
  return `# ${unitName(u.site)}: written by \`ferry agent install\`; re-run it after changing the config's paths.
[Unit]
Description=Ferry offsite backup agent (site ${u.site})
Wants=network-online.target
After=network-online.target remote-fs.target
# A recorder share mounted over NFS or SMB is mounted before the agent starts.
RequiresMountsFor=${paths.map(quote).join(' ')}

[Service]
Type=simple
User=${u.user}
${environment}ExecStart=${execStart}
Restart=on-failure
RestartSec=${u.restartSec}
# SIGTERM stops the agent; whatever a stop cuts short is shipped again on the next start.
TimeoutStopSec=120
StandardOutput=journal
StandardError=journal
SyslogIdentifier=ferry-agent-${u.site}
# The recorder comes first: the agent takes CPU and disk time after it (a backlog still drains
# whenever the recorder does not need them). Raise them if the agent falls behind.
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7

# The recorder's paths read-only, the state directory read-write, the rest of the system read-only.
ProtectSystem=strict
ProtectHome=${protectHome}
ReadOnlyPaths=${u.sourcePaths.map(quote).join(' ')}
ReadWritePaths=${quote(u.stateDir)}
PrivateTmp=yes
PrivateDevices=yes
UMask=0077

# No privileges to gain or keep.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictSUIDSGID=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
# Node's JIT needs writable+executable memory, so MemoryDenyWriteExecute stays off.
SystemCallArchitectures=native
SystemCallFilter=@system-service
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
`;
}

/** /etc/cron.d line: one pass every five minutes, never two at once. */
export function cronLine(u: Pick<UnitInput, 'site' | 'configFile' | 'user' | 'node' | 'entry' | 'environment' | 'environmentFile'>): string {
  // `env` runs the agent with them: flock executes its command itself (no shell), so a bare K=V there is a program name.
  const pairs = Object.entries(u.environment ?? {}).map(([k, v]) => `${k}=${cronWord(v)}`);
  const env = pairs.length ? `env ${pairs.join(' ')} ` : '';
  const cmd = env + [u.node, ...(u.environmentFile ? [`--env-file=${u.environmentFile}`] : []), u.entry, 'agent', 'run', '--config', u.configFile, '--once', '--json-logs'].map(cronWord).join(' ');
  // logger's default message size is 1 KiB: a longer log line (a loss naming its paths) would be split into broken JSON.
  // The recorder comes first: the agent runs at a lower CPU and disk priority (as the unit's Nice= and IOSchedulingPriority=).
  return `*/5 * * * * ${u.user} flock -n /run/lock/ferry-agent-${u.site}.lock nice -n 10 ionice -c 2 -n 7 ${cmd} 2>&1 | logger --size 65536 -t ferry-agent-${u.site}\n`;
}

/**
 * A service must not depend on its working directory: paths in the config file itself must be
 * absolute (the agent would resolve relative ones against the config's folder, which is easy
 * to move without noticing). Listed like the schema's own problems.
 */
export function relativePathProblems(configText: string, isAbs: (p: string) => boolean = isAbsolute): string[] {
  const raw = parseYaml(configText) as { state?: unknown; sources?: { path?: unknown }[] } | null;
  const problems: string[] = [];
  if (typeof raw?.state === 'string' && !isAbs(raw.state)) problems.push(`state: "${raw.state}" is a relative path; a service needs an absolute one`);
  (Array.isArray(raw?.sources) ? raw.sources : []).forEach((s, i) => {
    if (typeof s?.path === 'string' && !isAbs(s.path)) problems.push(`sources[${i}].path: "${s.path}" is a relative path; a service needs an absolute one`);
  });
  return problems;
}

/**
 * The entry the service or cron line runs: bin/ferry.mjs in a checkout (it runs the bundle
 * while the bundle is fresh, the sources after a `git pull`), whether this process runs the
 * sources or `dist/`; the single-file build itself when it runs alone (copied to a site host).
 */
export function defaultEntry(here = fileURLToPath(import.meta.url), exists: (path: string) => boolean = existsSync): string {
  const checkout = resolve(dirname(here), '..', 'bin', 'ferry.mjs');
  return !here.endsWith('.mjs') || exists(checkout) ? checkout : here;
}

interface InstallOptions {
  config: string;
  user: string;
  /** Tests: the host's users (getent), and the check of the paths as the service's user. */
  lookupUser?: (name: string) => Account | null | undefined;
  checkAsUser?: (account: Account, config: AgentConfig) => Promise<string[]>;
  unitDir: string;
  restartSec: string;
  node?: string;
  entry?: string;
  cron?: boolean;
  dryRun?: boolean;
}

/** A user of this host, as getent tells it. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The host's user `name` (getent passwd); null when there is none; undefined when it cannot tell (no getent). */
export function lookupUser(name: string): Account | null | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.error) return undefined;
  if (r.status !== 0) return null;
  const [, , uid, gid, , home] = r.stdout.trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '' };
}

/** A command run with `account`'s ids (setpriv). */
function asUser(account: Account, command: string[]): SpawnSyncReturns<string> {
  // From /: the installer's own directory (/root, a clone under a private directory) may be closed to that user, and find then fails before it looks.
  return spawnSync('setpriv', [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', ...command], { encoding: 'utf8', cwd: '/' });
}

/**
 * The state directory as the service's user finds it: the directory and everything in it
 * writable (a journal a pass run by hand as root left behind is not), as a ConfigError problem.
 * The check of the paths that ran before, as root, created it root's when it was missing.
 */
function stateProblem(account: Account, state: string): string | undefined {
  const r = asUser(account, ['find', state, '(', '!', '-writable', '-o', '-type', 'd', '!', '-executable', ')', '-print', '-quit']);
  if (r.status === 0 && r.stdout.trim() === '') return undefined;
  const first = r.stdout.trim() || state;
  const what = first === state ? state : `${first} in ${state}`;
  return `state: ${what} cannot be written by ${account.name}, the user the agent runs as: every pass would stop at once; give it the directory: chown -R ${account.name}: ${quote(state)}`;
}

/**
 * The source paths the service's user cannot read, and a state directory it cannot write, as
 * ConfigError problems: the install runs as root (to write the unit), so its own check of the
 * paths says nothing of what the service's user may do. Run with that user's ids (setpriv).
 * Notes when it cannot check.
 */
export async function checkAsUser(account: Account, config: AgentConfig): Promise<string[]> {
  const me = process.getuid?.();
  if (me === account.uid) return [];
  if (me !== 0) return [`note: the paths were checked as this user, not as ${account.name} (only root can check as another user)`];
  const problems: string[] = [];
  for (const [i, source] of config.sources.entries()) {
    const r = asUser(account, ['test', '-r', source.path, '-a', '-x', source.path]);
    if (r.error) return [`note: the paths were checked as root, not as ${account.name} (setpriv: ${r.error.message})`];
    if (r.status !== 0) problems.push(`sources[${i}].path: ${source.path} cannot be read by ${account.name}, the user the agent runs as: give it read access (for example setfacl -R -m u:${account.name}:rX ${source.path}), or install with --user of one who can`);
  }
  const state = stateProblem(account, config.state);
  if (state) problems.push(state);
  if (problems.length > 0) throw new ConfigError(problems);
  return [];
}

export function registerInstallCommands(program: Command): void {
  const agent = program.commands.find((c) => c.name() === 'agent') ?? program.command('agent').description('run the on-prem agent or look at its state');
  agent
    .command('install')
    .description('check the configuration, then write a hardened systemd unit for the agent (or print a cron line with --cron)')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('--user <name>', 'user the service runs as (needs read access to the sources and owns the state directory)', 'ferry')
    .option('--unit-dir <dir>', 'where the unit file goes', '/etc/systemd/system')
    .option('--restart-sec <s>', 'wait before a restart after a failure', '30')
    .option('--node <path>', 'Node.js 22 binary (default: the one running this command)')
    .option('--entry <path>', 'ferry entry script (default: the one running this command)')
    .option('--cron', 'print an /etc/cron.d line instead of writing a unit')
    .option('--dry-run', 'print the unit instead of writing it')
    .action(async (opts: InstallOptions) => {
      const out = await install(opts);
      process.stdout.write(out);
    });
}

export async function install(opts: InstallOptions): Promise<string> {
  const configFile = resolve(opts.config);
  const relative = existsSync(configFile) ? relativePathProblems(readFileSync(configFile, 'utf8')) : [];
  if (relative.length > 0) throw new ConfigError(relative);
  // Loaded here, not with the module: the agent's command line registers `agent install` beside
  // `agent run`, which must not load the SDK before it has asked the lock (busy-state.ts).
  const { checkSitePaths, inConfigFile, loadConfig, storeProblem } = await import('./build-agent.ts');
  const config = loadConfig(configFile);
  await inConfigFile(configFile, undefined, () => checkSitePaths(config));
  const restartSec = Number(opts.restartSec);
  if (!Number.isInteger(restartSec) || restartSec < 1) throw new ConfigError([`--restart-sec: "${opts.restartSec}" must be a whole number of seconds, at least 1`]);
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(opts.user)) throw new ConfigError([`--user: "${opts.user}" is not a valid user name`]);
  const account = (opts.lookupUser ?? lookupUser)(opts.user);
  if (account === null) throw new ConfigError([`--user: no user "${opts.user}" on this host (create it first: useradd --system ${opts.user})`]);
  const { environment, secret, environmentFile } = splitSecrets(carriedEnvironment(process.env), configFile, config.site);
  const notes: string[] = [];
  if (account) notes.push(...(await (opts.checkAsUser ?? checkAsUser)(account, config)));
  else notes.push(`note: the paths were checked as the user running this command, not as ${opts.user} (no getent/setpriv here)`);
  // The store, as \`agent check\` asks it, with the environment the agent will have.
  const store = await storeProblem(config);
  if (store !== undefined && store !== 'not checked') throw new ConfigError([`cloud: ${store}`]);
  if (!config.cloud?.credentials && !environment.AWS_PROFILE && account) notes.push(`note: no cloud.credentials in the configuration and no AWS_PROFILE here: the agent takes the AWS SDK's default credentials as ${opts.user} (~${opts.user}/.aws, an instance role)`);
  for (const [option, value] of [['--unit-dir', opts.unitDir], ['--node', opts.node], ['--entry', opts.entry]] as const) {
    if (value !== undefined && !isAbsolute(value)) throw new ConfigError([`${option}: "${value}" is a relative path; give an absolute one`]);
  }
  const input: UnitInput = {
    site: config.site,
    configFile,
    user: opts.user,
    node: opts.node ?? process.execPath,
    entry: opts.entry ?? defaultEntry(),
    sourcePaths: [...new Set(config.sources.map((s) => s.path))],
    stateDir: config.state,
    restartSec,
    environment,
    environmentFile,
    readPaths: [environment.AWS_CONFIG_FILE, environment.AWS_SHARED_CREDENTIALS_FILE, environment.NODE_EXTRA_CA_CERTS, ...(environment.AWS_PROFILE && account ? [join(account.home, '.aws')] : [])].filter((p): p is string => p !== undefined),
  };
  notes.push(...writeSecrets(environmentFile, secret, { dryRun: opts.dryRun, cron: opts.cron, account, user: opts.user }));
  const said = notes.map((n) => `# ${n}\n`).join('');
  if (opts.cron) return `${said}# /etc/cron.d/ferry-agent-${config.site}\n${cronLine(input)}`;
  const unit = stamped(systemdUnit(input));
  if (opts.dryRun) return `${said}${unit}`;
  const file = join(opts.unitDir, unitName(config.site));
  mkdirSync(opts.unitDir, { recursive: true });
  return [
    ...notes,
    ...writeUnit(file, unit, config.site),
    `the state directory ${config.state} must belong to ${opts.user}: chown -R ${opts.user}: ${quote(config.state)}`,
    // `enable --now` leaves a running agent as it is: after an upgrade or a config change it would go on with the old configuration (a source added shipping nothing).
    'enable it and start it, or restart it if it runs (an agent reads its configuration when it starts):',
    `  systemctl daemon-reload && systemctl enable ferry-agent@${config.site} && systemctl restart ferry-agent@${config.site}`,
    `logs: journalctl -u ferry-agent@${config.site} -f`,
    '',
  ].join('\n');
}
