import { createHash } from 'node:crypto';
import { describe, it, expect, onTestFinished, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { cronLine, defaultEntry, install, lookupUser, systemdUnit } from '../../cli/install-commands.ts';

// `ferry agent install` as an administrator runs it: the config checked first, a hardened unit
// that can read the recorder's paths and write only the state directory, and how to enable it.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

function ferry(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The service's user as the host would give it (getent), with this process's ids: the paths are then checked as this user.
const me = userInfo();
const hostUser = (name: string) => ({ name, uid: me.uid, gid: me.gid, home: me.homedir });
const defaults = { user: 'ferry', unitDir: '/nonexistent/units', restartSec: '30', lookupUser: hostUser };
const installing = (opts: Partial<Parameters<typeof install>[0]> & { config: string }) => install({ ...defaults, ...opts });

function site(base = tmpdir()) {
  const dir = mkdtempSync(join(base, 'ferry-install-'));
  const recordings = join(dir, 'contactstore');
  const archives = join(dir, 'Voice Archive');
  mkdirSync(recordings);
  mkdirSync(archives);
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    `site: london-cc\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${recordings} }\n  - { name: arch, type: archive, path: "${archives}" }\n`,
  );
  return { dir, config, recordings, archives, state: join(dir, 'state') };
}

const HARDENING = [
  'NoNewPrivileges=yes',
  'ProtectSystem=strict',
  'ProtectHome=yes',
  'PrivateTmp=yes',
  'PrivateDevices=yes',
  'CapabilityBoundingSet=',
  'AmbientCapabilities=',
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
  'RestrictSUIDSGID=yes',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectControlGroups=yes',
  'RestrictNamespaces=yes',
  'LockPersonality=yes',
  'SystemCallFilter=@system-service',
  'Restart=on-failure',
  'StandardOutput=journal',
  'StandardError=journal',
];

describe('ferry agent install', () => {
  it('writes a unit with every hardening directive, the sources read-only, only the state directory writable, and CPU and disk priority below the recorder\'s', () => {
    const s = site();
    const units = join(s.dir, 'units');
    const r = ferry(['agent', 'install', '--config', s.config, '--user', me.username, '--unit-dir', units, '--restart-sec', '15']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const unit = readFileSync(join(units, 'ferry-agent@london-cc.service'), 'utf8');
    const lines = unit.split('\n');
    for (const directive of HARDENING) expect(lines, directive).toContain(directive);
    expect(lines).toContain(`User=${me.username}`);
    expect(lines).toContain('RestartSec=15');
    for (const priority of ['Nice=10', 'IOSchedulingClass=best-effort', 'IOSchedulingPriority=7']) expect(lines).toContain(priority);
    expect(lines).toContain(`ReadOnlyPaths=${s.recordings} "${s.archives}"`);
    expect(lines).toContain(`ReadWritePaths=${s.state}`);
    expect(lines).toContain(`RequiresMountsFor=${s.recordings} "${s.archives}" ${s.state}`);
    expect(lines.filter((l) => l.startsWith('ReadWritePaths='))).toHaveLength(1);
    // From a checkout the entry is bin/ferry.mjs, whether the bundle or the sources ran the install: a `git pull` then never leaves the service on an old bundle.
    expect(lines).toContain(`ExecStart=${process.execPath} ${resolve(BIN)} agent run --config ${s.config} --json-logs`);
    // restart, not enable --now: a re-run after a source was added must not leave the running agent on the old configuration.
    expect(r.stdout).toContain('systemctl daemon-reload && systemctl enable ferry-agent@london-cc && systemctl restart ferry-agent@london-cc');
  });

  it('runs bin/ferry.mjs from a checkout, whichever of the bundle or the sources the install ran in, and the single-file build itself when it runs alone', () => {
    const checkout = (p: string) => p === '/src/ferry/bin/ferry.mjs';
    expect(defaultEntry('/src/ferry/dist/ferry-agent.mjs', checkout)).toBe('/src/ferry/bin/ferry.mjs');
    expect(defaultEntry('/src/ferry/cli/install-commands.ts', checkout)).toBe('/src/ferry/bin/ferry.mjs');
    expect(defaultEntry('/opt/ferry/ferry-agent.mjs', checkout)).toBe('/opt/ferry/ferry-agent.mjs');
  });

  it('refuses a --user the host does not have, naming it', async () => {
    const s = site();
    await expect(install({ ...defaults, lookupUser: lookupUser, user: 'no-such-ferry-user', config: s.config, dryRun: true })).rejects.toThrow('--user: no user "no-such-ferry-user" on this host');
  });

  it('checks the sources as the service\'s user, not as the root running the install: a source that user cannot read is refused, naming it and the fix', async () => {
    const s = site();
    const nobody = lookupUser('nobody');
    expect(nobody).toBeTruthy();
    chmodSync(s.recordings, 0o700);
    chmodSync(s.dir, 0o755);
    const attempt = install({ ...defaults, lookupUser: () => nobody!, user: 'nobody', config: s.config, dryRun: true });
    if (process.getuid?.() === 0) {
      await expect(attempt).rejects.toThrow(`sources[0].path: ${s.recordings} cannot be read by nobody, the user the agent runs as`);
    } else {
      // Only root can take another user's ids: the install then says what it checked.
      expect(await attempt).toContain('note: the paths were checked as this user, not as nobody');
    }
  });

  it.runIf(process.getuid?.() === 0)('checks the state directory as the service\'s user: one the check as root left root\'s, or a journal a pass by hand left root\'s, is refused (unit and cron line alike), naming the chown', async () => {
    // Under /tmp itself: the run's own scratch directory is its owner's alone, which nobody cannot enter.
    const s = site('/tmp');
    onTestFinished(() => rmSync(s.dir, { recursive: true, force: true }));
    const nobody = lookupUser('nobody')!;
    chmodSync(s.dir, 0o755);
    const as = { ...defaults, lookupUser: () => nobody, user: 'nobody', config: s.config };
    // The state directory does not exist yet: the check of the paths (as root) makes it, root's.
    await expect(installing({ ...as, dryRun: true })).rejects.toThrow(`state: ${s.state} cannot be written by nobody, the user the agent runs as: every pass would stop at once; give it the directory: chown -R nobody: ${s.state}`);
    chownSync(s.state, nobody.uid, nobody.gid);
    writeFileSync(join(s.state, 'journal.jsonl'), '', { mode: 0o600 });
    await expect(installing({ ...as, cron: true })).rejects.toThrow(`state: ${join(s.state, 'journal.jsonl')} in ${s.state} cannot be written by nobody`);
    chownSync(join(s.state, 'journal.jsonl'), nobody.uid, nobody.gid);
    expect(await installing({ ...as, cron: true })).toContain(' nobody flock -n ');
    // Run from a directory that user may not enter (the admin's /root, a checkout in a private directory): checked from /, the same answer.
    const closed = mkdtempSync(join('/tmp', 'ferry-closed-'));
    onTestFinished(() => rmSync(closed, { recursive: true, force: true }));
    chmodSync(closed, 0o700);
    const fromClosed = spawnSync(process.execPath, [BIN, 'agent', 'install', '--config', s.config, '--cron', '--user', 'nobody'], { cwd: closed, encoding: 'utf8', timeout: 60_000 });
    expect(fromClosed.stderr).not.toContain('cannot be written by nobody');
    expect(fromClosed.stdout).toContain(' nobody flock -n ');
  });

  it("carries AWS_PROFILE (and the AWS files named) into the unit and the cron line, and lets the service read the user's ~/.aws under /home", async () => {
    const s = site();
    vi.stubEnv('AWS_PROFILE', 'ferry');
    try {
      const withHome = (name: string) => ({ ...hostUser(name), home: '/home/ferry' });
      const unit = await installing({ config: s.config, dryRun: true, lookupUser: withHome });
      expect(unit.split('\n')).toContain('Environment=AWS_PROFILE=ferry');
      expect(unit.split('\n')).toContain('ProtectHome=read-only');
      expect(await installing({ config: s.config, cron: true, lookupUser: withHome })).toMatch(/ ferry flock -n \S+ nice -n 10 ionice -c 2 -n 7 env AWS_PROFILE=ferry (\S+=\S+ )*\S+ \S+ agent run/);
    } finally {
      vi.unstubAllEnvs();
    }
    expect((await installing({ config: s.config, dryRun: true })).split('\n')).not.toContain('Environment=AWS_PROFILE=ferry');
  });

  it('carries the proxy and the CA of a TLS-intercepting proxy the store check ran with, and a cron line with an environment runs under flock', async () => {
    const s = site();
    vi.stubEnv('HTTPS_PROXY', 'http://proxy.corp.example:3128');
    vi.stubEnv('NO_PROXY', '.corp.example');
    vi.stubEnv('NODE_EXTRA_CA_CERTS', '/etc/ssl/corp-intercept.pem');
    try {
      const unit = (await installing({ config: s.config, dryRun: true })).split('\n');
      for (const line of ['Environment=HTTPS_PROXY=http://proxy.corp.example:3128', 'Environment=NO_PROXY=.corp.example', 'Environment=NODE_EXTRA_CA_CERTS=/etc/ssl/corp-intercept.pem', 'Environment=NODE_USE_ENV_PROXY=1']) expect(unit).toContain(line);
      const line = await installing({ config: s.config, cron: true });
      // What cron's shell runs: flock, nice and ionice, then (through env) the agent with the variables: here `env` runs printenv instead of node.
      const cmd = line.slice(line.indexOf(' flock '), line.indexOf(' 2>&1')).replace(/ flock -n \S+ /, '').replace(/\\%/g, '%');
      const probe = cmd.replace(/^(nice -n 10 ionice -c 2 -n 7 env (?:\S+=\S+ )+)\S+ .*$/, '$1printenv HTTPS_PROXY NODE_EXTRA_CA_CERTS NODE_USE_ENV_PROXY');
      const lock = join(s.dir, 'probe.lock');
      const ran = spawnSync('sh', ['-c', `flock -n ${lock} ${probe}`], { encoding: 'utf8' });
      expect([ran.status, ran.stdout]).toEqual([0, 'http://proxy.corp.example:3128\n/etc/ssl/corp-intercept.pem\n1\n']);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("keeps a proxy's password out of the unit and the cron line (a 0600 file beside the config), shows it nowhere, and carries paths absolute", async () => {
    const s = site();
    vi.stubEnv('HTTPS_PROXY', 'alice:s3cret@proxy.corp.example:3128'); // as curl takes it: no scheme
    vi.stubEnv('NODE_EXTRA_CA_CERTS', 'certs/corp.pem'); // relative to where install runs
    try {
      const units = join(s.dir, 'units');
      const said = await installing({ config: s.config, unitDir: units });
      const envFile = join(s.dir, 'ferry-agent-london-cc.env');
      const unit = readFileSync(join(units, 'ferry-agent@london-cc.service'), 'utf8');
      expect(unit).toContain(`EnvironmentFile=${envFile}`);
      expect(unit).toContain(`Environment=NODE_EXTRA_CA_CERTS=${join(process.cwd(), 'certs/corp.pem')}`);
      expect(unit + said).not.toContain('s3cret');
      expect(readFileSync(envFile, 'utf8')).toBe('HTTPS_PROXY=http://alice:s3cret@proxy.corp.example:3128\n');
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      const line = await installing({ config: s.config, cron: true });
      expect(line).not.toContain('s3cret');
      expect(line).toContain(` --env-file=${envFile} `);
      // What the agent started so would see: the variables of the file.
      const seen = spawnSync(process.execPath, [`--env-file=${envFile}`, '-e', 'process.stdout.write(process.env.HTTPS_PROXY ?? "")'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      expect(seen.stdout).toBe('http://alice:s3cret@proxy.corp.example:3128');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('keeps a unit edited by hand as .previous when a re-run replaces it, and says so; an unchanged unit is rewritten without a word', async () => {
    const s = site();
    const units = join(s.dir, 'units');
    await installing({ config: s.config, unitDir: units });
    const file = join(units, 'ferry-agent@london-cc.service');
    const again = await installing({ config: s.config, unitDir: units });
    expect(again).not.toContain('.previous');
    expect(existsSync(`${file}.previous`)).toBe(false);
    const edited = readFileSync(file, 'utf8').replace(/^ExecStart=(\S+) /m, 'ExecStart=$1 --max-semi-space-size=4 ');
    writeFileSync(file, edited);
    const out = await installing({ config: s.config, unitDir: units });
    expect(out).toContain(`it replaced a unit that differed from it, kept as ${file}.previous`);
    expect(readFileSync(`${file}.previous`, 'utf8')).toBe(edited);
    expect(readFileSync(file, 'utf8')).not.toContain('--max-semi-space-size');
  });

  it('replaces, without a .previous or a word about edits, a unit an earlier install wrote for a configuration changed since (a source added)', async () => {
    const s = site();
    const units = join(s.dir, 'units');
    await installing({ config: s.config, unitDir: units });
    const file = join(units, 'ferry-agent@london-cc.service');
    const first = readFileSync(file, 'utf8');
    const backups = join(s.dir, 'backups');
    mkdirSync(backups);
    writeFileSync(s.config, `${readFileSync(s.config, 'utf8')}  - { name: db, type: rotated, path: ${backups}, patterns: ["*.bak"] }\n`);
    const out = await installing({ config: s.config, unitDir: units });
    const second = readFileSync(file, 'utf8');
    expect(second).not.toBe(first);
    expect(second).toContain(backups);
    expect(out).not.toContain('differed');
    expect(existsSync(`${file}.previous`)).toBe(false);
    // The unit ends with its stamp: the SHA-256 of the lines above it.
    const [body, stamp] = [second.slice(0, second.lastIndexOf('# ferry agent install')), /sha256 ([0-9a-f]{64})\n$/.exec(second)![1]];
    expect(createHash('sha256').update(body).digest('hex')).toBe(stamp);
  });

  it('prints the unit and writes nothing with --dry-run', async () => {
    const s = site();
    const units = join(s.dir, 'units');
    expect(await installing({ config: s.config, unitDir: units, dryRun: true })).toContain('ProtectSystem=strict');
    expect(existsSync(units)).toBe(false);
  });

  it('prints a cron.d line that runs one pass at a time as the service user', async () => {
    const s = site();
    const out = await installing({ config: s.config, user: 'rec', cron: true });
    expect(out).toMatch(new RegExp(`^\\*/5 \\* \\* \\* \\* rec flock -n /run/lock/ferry-agent-london-cc.lock .* agent run --config ${s.config} --once --json-logs`, 'm'));
  });

  it("writes a cron line the shell reads back word for word whatever the config's path holds (quote, parentheses, %, spaces), and a unit that escapes % and $", () => {
    const configFile = "/etc/ferry/O'Brien site(b) 100% $HOME.yaml";
    const line = cronLine({ site: 'lon', configFile, user: 'ferry', node: '/usr/bin/node', entry: '/opt/ferry/ferry-agent.mjs' });
    expect(line).toContain('| logger --size 65536 -t ferry-agent-lon');
    // What cron hands the shell (an escaped % is a %), then the words the shell makes of it.
    const cmd = line.slice(line.indexOf('.lock ') + 6, line.indexOf(' 2>&1')).replace(/\\%/g, '%');
    const words = spawnSync('sh', ['-c', `for a in ${cmd}; do printf '%s\\n' "$a"; done`], { encoding: 'utf8' });
    expect(words.stdout.split('\n').slice(0, -1)).toEqual(['nice', '-n', '10', 'ionice', '-c', '2', '-n', '7', '/usr/bin/node', '/opt/ferry/ferry-agent.mjs', 'agent', 'run', '--config', configFile, '--once', '--json-logs']);
    expect(line.replace(/\\%/g, '')).not.toContain('%');
    const unit = systemdUnit({ site: 'lon', configFile, user: 'ferry', node: '/usr/bin/node', entry: '/opt/ferry/ferry-agent.mjs', sourcePaths: ['/mnt/rec 50%'], stateDir: '/var/lib/ferry', restartSec: 30 });
    expect(unit).toContain(`ExecStart=/usr/bin/node /opt/ferry/ferry-agent.mjs agent run --config "/etc/ferry/O'Brien site(b) 100%% $$HOME.yaml" --json-logs`);
    expect(unit).toContain('ReadOnlyPaths="/mnt/rec 50%%"');
  });

  it('refuses an invalid config with exit 2, naming the setting, and writes no unit', () => {
    const s = site();
    writeFileSync(s.config, `site: London CC\nstate: ${s.state}\nsources:\n  - { name: cs, type: recordings, path: ${join(s.dir, 'missing')} }\n`);
    const units = join(s.dir, 'units');
    const r = ferry(['agent', 'install', '--config', s.config, '--unit-dir', units]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('site: site must be 1-63 lowercase letters, digits or dashes');
    expect(existsSync(units)).toBe(false);
  });

  it('refuses a source path that does not exist, as agent check does', async () => {
    const s = site();
    writeFileSync(s.config, `site: lon\nstate: ${s.state}\nsources:\n  - { name: cs, type: recordings, path: ${join(s.dir, 'recordngs')} }\n`);
    await expect(installing({ config: s.config, dryRun: true })).rejects.toThrow(`sources[0].path: ${join(s.dir, 'recordngs')} does not exist`);
  });

  it('refuses relative paths in the config and a relative --unit-dir, naming each', async () => {
    const s = site();
    writeFileSync(s.config, `site: lon\nstate: state\nsources:\n  - { name: cs, type: recordings, path: contactstore }\n`);
    const refused = installing({ config: s.config, dryRun: true });
    await expect(refused).rejects.toThrow('state: "state" is a relative path; a service needs an absolute one');
    await expect(refused).rejects.toThrow('sources[0].path: "contactstore" is a relative path; a service needs an absolute one');
    await expect(installing({ config: site().config, unitDir: 'units' })).rejects.toThrow('--unit-dir: "units" is a relative path');
  });

  it('keeps a state directory under /home reachable (ProtectHome=read-only, not yes)', () => {
    const unit = systemdUnit({ site: 's', configFile: '/etc/ferry/s.yaml', user: 'ferry', node: '/usr/bin/node', entry: '/opt/ferry/ferry-agent.mjs', sourcePaths: ['/mnt/rec'], stateDir: '/home/ferry/state', restartSec: 30 });
    expect(unit).toContain('ProtectHome=read-only\n');
    expect(unit).toContain('ReadWritePaths=/home/ferry/state\n');
  });
});

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noAnalyze = analyze.error ? `systemd-analyze is not installed (${(analyze.error as NodeJS.ErrnoException).code}); apt-get install systemd to run this check` : undefined;
if (noAnalyze) console.warn(`SKIPPED systemd-analyze verify: ${noAnalyze}`);

describe.skipIf(noAnalyze !== undefined)('the unit as systemd reads it', () => {
  it('passes systemd-analyze verify with no warning about any of its lines', async () => {
    const s = site();
    const units = join(s.dir, 'units');
    await installing({ config: s.config, unitDir: units });
    const file = join(units, 'ferry-agent@london-cc.service');
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // verify exits 0 on a directive it ignores (unknown key, bad value): those are warnings naming the file.
    const aboutUnit = r.stderr.split('\n').filter((l) => l.includes('ferry-agent@london-cc'));
    expect(aboutUnit).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('would catch a misspelt directive (the check above can fail)', () => {
    const s = site();
    const file = join(s.dir, 'ferry-agent@bad.service');
    writeFileSync(file, systemdUnit({ site: 'bad', configFile: s.config, user: 'ferry', node: process.execPath, entry: BIN, sourcePaths: [s.recordings], stateDir: s.state, restartSec: 30 }).replace('ProtectSystem=strict', 'ProtectSystem=strickt'));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/ferry-agent@bad\.service:\d+: Failed to parse protect system value/);
  });
});
