import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { checkSitePaths, loadConfig } from './build-agent.ts';

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

export function systemdUnit(u: UnitInput): string {
  const paths = [...u.sourcePaths, u.stateDir];
  // ProtectHome=yes hides /home, /root and /run/user entirely; a source or the state kept there needs read-only instead.
  const protectHome = paths.some((p) => UNDER_HOME.test(p)) ? 'read-only' : 'yes';
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
ExecStart=${execStart}
Restart=on-failure
RestartSec=${u.restartSec}
# SIGTERM stops the agent; whatever a stop cuts short is shipped again on the next start.
TimeoutStopSec=120
StandardOutput=journal
StandardError=journal
SyslogIdentifier=ferry-agent-${u.site}

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
export function cronLine(u: Pick<UnitInput, 'site' | 'configFile' | 'user' | 'node' | 'entry'>): string {
  const cmd = [u.node, u.entry, 'agent', 'run', '--config', u.configFile, '--once', '--json-logs'].map(cronWord).join(' ');
  // logger's default message size is 1 KiB: a longer log line (a loss naming its paths) would be split into broken JSON.
  return `*/5 * * * * ${u.user} flock -n /run/lock/ferry-agent-${u.site}.lock ${cmd} 2>&1 | logger --size 65536 -t ferry-agent-${u.site}\n`;
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
  unitDir: string;
  restartSec: string;
  node?: string;
  entry?: string;
  cron?: boolean;
  dryRun?: boolean;
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
  const config = loadConfig(configFile);
  await checkSitePaths(config);
  const restartSec = Number(opts.restartSec);
  if (!Number.isInteger(restartSec) || restartSec < 1) throw new ConfigError([`--restart-sec: "${opts.restartSec}" must be a whole number of seconds, at least 1`]);
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(opts.user)) throw new ConfigError([`--user: "${opts.user}" is not a valid user name`]);
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
  };
  if (opts.cron) return `# /etc/cron.d/ferry-agent-${config.site}\n${cronLine(input)}`;
  const unit = systemdUnit(input);
  if (opts.dryRun) return unit;
  const file = join(opts.unitDir, unitName(config.site));
  mkdirSync(opts.unitDir, { recursive: true });
  writeFileSync(file, unit);
  return [
    `wrote ${file}`,
    `the state directory ${config.state} must belong to ${opts.user}: chown -R ${opts.user}: ${quote(config.state)}`,
    'enable and start it:',
    `  systemctl daemon-reload && systemctl enable --now ferry-agent@${config.site}`,
    `logs: journalctl -u ferry-agent@${config.site} -f`,
    '',
  ].join('\n');
}
