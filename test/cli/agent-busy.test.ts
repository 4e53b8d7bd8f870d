import { describe, it, expect } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

// Cron starts `agent run --once` while the last run is still shipping a backlog: the second run
// is told so and does nothing, with an exit status of its own, not the 1 of "could not ship".

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

describe('agent run while another agent holds the state directory', () => {
  it('exits 4 naming the agent that holds it, leaves its lock alone and ships nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-busy-'));
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'rec', '000001'), { recursive: true });
    writeFileSync(join(dir, 'rec', '000001', 'call.wav'), 'RIFF');
    mkdirSync(state);
    // This test's own process is the live holder.
    const lock = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
    writeFileSync(join(state, 'agent.lock'), lock);
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home'), FERRY_BUCKET: 'unused', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    const r = spawnSync(process.execPath, [BIN, 'agent', 'run', '--once', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status).toBe(4);
    // Not a terminal: the logger writes JSON lines, this one among them.
    const line = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { level: string; msg: string; exitCode: number };
    expect(line).toMatchObject({ level: 'warn', exitCode: 4 });
    expect(line.msg).toContain(`another agent (pid ${process.pid} on ${hostname()}`);
    expect(line.msg).toContain(`remove ${join(state, 'agent.lock')}; this run did nothing and exits 4: the agent holding the state directory goes on shipping`);
    expect(readFileSync(join(state, 'agent.lock'), 'utf8')).toBe(lock);
    expect(existsSync(join(state, 'status.json'))).toBe(false);
  });
});

describe('agent runs started together on a state directory a killed agent left locked', () => {
  // Cron and a person (or a service's restart) start runs in the same instant after a kill -9:
  // each finds the dead agent's lock and takes it over. Only one may run; two would append to one
  // journal and ship the same batches. The run that holds the directory is kept in its pass (its
  // alert hook waits) until every other run has either exited or reached its own pass.
  it('lets one of them run; every other exits 4, and no lock is left behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-takeover-'));
    const state = join(dir, 'state');
    const inPass = join(dir, 'in-pass');
    mkdirSync(join(dir, 'rec'));
    mkdirSync(state);
    mkdirSync(inPass);
    writeFileSync(join(state, 'agent.lock'), JSON.stringify({ pid: 2 ** 22 + 4321, host: hostname(), since: new Date().toISOString(), started: '1' }));
    // The store cannot be reached, so each pass raises the heartbeat alert: the hook marks the run as in its pass and holds it there.
    const hook = join(dir, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\ncat >/dev/null\ntouch ${inPass}/$PPID\nwhile [ ! -e ${join(dir, 'go')} ]; do sleep 0.05; done\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${state}\nalerts: { command: ${hook} }\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home'), FERRY_BUCKET: 'unused', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    let exited = 0;
    const run = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'agent', 'run', '--once', '--config', join(dir, 'agent.yaml')], { env, stdio: 'ignore' });
        child.on('exit', (code) => {
          exited++;
          resolve(code);
        });
      });
    const runs = Array.from({ length: 4 }, run);
    while (exited + readdirSync(inPass).length < runs.length) await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(dir, 'go'), '');
    const codes = await Promise.all(runs);
    expect(readdirSync(inPass)).toHaveLength(1);
    expect(codes.filter((c) => c !== 4)).toHaveLength(1);
    expect(readdirSync(state).filter((f) => f.startsWith('agent.lock'))).toEqual([]);
  }, 120_000);
});

describe('agent run with a configuration that has a mistyped key or a value of the wrong type', () => {
  // A site host may hold several configurations (a site and its standby, one per recorder): cron's
  // mail must say which file is wrong, not only which setting.
  it('exits 2 naming the file in the first line and each setting under it with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-typo-'));
    const config = join(dir, 'london.yaml');
    writeFileSync(config, `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${dir}, closeAfterFile: 100, quietSeconds: ten }\n`);
    const r = spawnSync(process.execPath, [BIN, 'agent', 'run', '--once', '--config', config], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: join(dir, 'home') }, timeout: 30_000 });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`ferry: invalid configuration in ${config}:`);
    expect(lines).toContain('  sources[0].quietSeconds: Expected number, received string ("ten": write a plain number of seconds) (line 4)');
    expect(lines).toContain('  sources[0]: unknown key(s) "closeAfterFile" (did you mean "closeAfterFiles"?) (line 4)');
  });
});

describe('why the agent stopped, under --json-logs', () => {
  it('is a JSON log line with a time, the error and the exit status, so a pipeline parsing the log keeps it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fatal-'));
    writeFileSync(join(dir, 'state'), 'not a directory');
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${dir} }\n`);
    const r = spawnSync(process.execPath, [BIN, 'agent', 'run', '--once', '--json-logs', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: join(dir, 'home') }, timeout: 30_000 });
    expect(r.status).toBe(2);
    const line = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { time: string; level: string; msg: string; error: string; exitCode: number };
    expect(line).toMatchObject({ level: 'error', msg: 'ferry stopped', exitCode: 2 });
    expect(line.error).toContain(`state: ${join(dir, 'state')} exists and is not a directory`);
    expect(Date.parse(line.time)).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('agent check after a source was renamed', () => {
  it('notes the source the state directory holds records of that the configuration no longer names, until when they are kept, and what a rename costs: nothing for a recordings source reading the same directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-renamed-'));
    const state = join(dir, 'state');
    mkdirSync(join(state, 'pending'), { recursive: true });
    mkdirSync(join(dir, 'rec'));
    writeFileSync(join(state, 'pending', 'contactstore.jsonl'), '');
    writeFileSync(join(state, 'observations.json'), JSON.stringify({ format: 1, sources: { contactstore: { batchesSeen: 3, removedAt: '2026-12-01T10:00:00.000Z' } } }));
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${state}\nsources:\n  - { name: cstore, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
    const r = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('note: the state directory holds records of source contactstore, which is not in this configuration: they are kept until 2026-12-08 10:00 UTC (7 days from the first pass without it; put back before then, it goes on where it was), then forgotten. If it was renamed, the new name is a new source (a recordings source is taken for it renamed only when it reads the same directory): everything still on its recorder is shipped again');
    expect(r.stdout).not.toContain('source cstore,');
    // The same source renamed, reading the directory contactstore read: its records carry over.
    writeFileSync(join(state, 'observations.json'), JSON.stringify({ format: 1, sources: { contactstore: { batchesSeen: 3, root: join(dir, 'rec') } } }));
    const again = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
    expect(again.stdout).toContain(`note: source cstore reads the directory source contactstore read, which is not in this configuration: the next pass takes cstore for contactstore renamed, and what contactstore shipped and had pending carries over to cstore (nothing is shipped again).`);
  });

  it('notes that a recordings source without metadata.timezone reads zone-less call times as UTC, naming the host zone; not when the zone is set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-zone-'));
    mkdirSync(join(dir, 'rec'));
    const config = (meta: string) => {
      writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')}${meta} }\n`);
      return join(dir, 'agent.yaml');
    };
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home'), TZ: 'Asia/Kolkata' };
    const check = (path: string) => spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', path], { encoding: 'utf8', env, timeout: 30_000 });
    const unset = check(config(''));
    expect(unset.status).toBe(0);
    expect(unset.stdout).toContain("note: source cs: call times written without an offset are read as UTC (metadata.timezone is not set; this host's zone is Asia/Kolkata): if the recorder writes local times, set metadata.timezone to its zone");
    const set = check(config(', metadata: { timezone: UTC }'));
    expect(set.status).toBe(0);
    expect(set.stdout).not.toContain('read as UTC');
  });

  it('starts with a proxy written without a scheme (as curl takes it), and leaves out one that is no http(s) proxy, saying so: never a Node trace at start', () => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HTTPS?_PROXY|NO_PROXY|NODE_USE_ENV_PROXY)$/i.test(k)));
    const run = (proxy: string) => spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env: { ...base, https_proxy: proxy }, timeout: 30_000 });
    const bare = run('127.0.0.1:9');
    expect([bare.status, bare.stderr]).toEqual([0, '']);
    const socks = run('socks5://127.0.0.1:1080');
    expect(socks.status).toBe(0);
    expect(socks.stderr).toBe('ferry: https_proxy "socks5://127.0.0.1:1080" is not an http(s) proxy URL (http://host:port): left out, requests go direct\n');
  });

  it("names the proxy AWS requests take, and says that AWS_CA_BUNDLE is not read and NODE_EXTRA_CA_CERTS is", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-net-'));
    mkdirSync(join(dir, 'rec'));
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')}, metadata: { timezone: UTC } }\n`);
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL|NODE_EXTRA_CA_CERTS$|HTTPS?_PROXY$|NO_PROXY$)/i.test(k)));
    const env = { ...base, FERRY_HOME: join(dir, 'home'), HTTPS_PROXY: 'alice:s3cret@proxy.corp.example:3128', NO_PROXY: '.corp.example', AWS_CA_BUNDLE: '/etc/ssl/corp.pem' };
    const r = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status).toBe(0);
    // Written without a scheme (as curl takes it), with a password: read as http://, shown masked.
    expect(r.stdout).toContain('network: https requests (AWS, the API, replay, the webhook) go through the proxy http://alice:***@proxy.corp.example:3128 (not for .corp.example,localhost,127.0.0.1,::1)');
    expect(r.stdout + r.stderr).not.toContain('s3cret');
    expect(r.stderr).not.toContain('Warning');
    expect(r.stdout).toContain('warning: AWS_CA_BUNDLE (/etc/ssl/corp.pem) is not read by Ferry (nor by the AWS SDK for JavaScript): a TLS-intercepting proxy\'s CA is given as NODE_EXTRA_CA_CERTS=/etc/ssl/corp.pem');
  });

  it('warns of a binlog basename and backup patterns that take none of the files in their directories, of an archive source over a share of folders, and not of an empty one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-selects-'));
    for (const d of ['mysql', 'sql', 'empty', 'meetings/Web Components/Data MCU Web']) mkdirSync(join(dir, d), { recursive: true });
    for (const f of ['mysql-bin.000001', 'mysql-bin.000002', 'mysql-bin.index']) writeFileSync(join(dir, 'mysql', f), '');
    writeFileSync(join(dir, 'sql', 'rtc_full.bak'), '');
    writeFileSync(
      join(dir, 'agent.yaml'),
      `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: binlogs, type: binlog, path: ${join(dir, 'mysql')}, basename: mariadb-bin, timezone: Europe/London }\n  - { name: sql, type: rotated, profile: generic, patterns: ["*.xml"], path: ${join(dir, 'sql')} }\n  - { name: later, type: rotated, profile: generic, patterns: ["*.bak"], path: ${join(dir, 'empty')} }\n  - { name: meetings, type: archive, path: ${join(dir, 'meetings')} }\n`,
    );
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
    const r = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`warning: source binlogs: ${join(dir, 'mysql')} holds 3 file(s) (mysql-bin.000001, mysql-bin.000002, mysql-bin.index) and its basename mariadb-bin takes none of them`);
    expect(r.stdout).toContain(`warning: source sql: ${join(dir, 'sql')} holds 1 file(s) (rtc_full.bak) and its patterns ["*.xml"] takes none of them`);
    expect(r.stdout).toContain(`warning: source meetings: ${join(dir, 'meetings')} holds 1 folder(s) (Web Components) and no files: an archive source takes only the files directly in its path, not those in sub-folders. Point path at the folder the job writes its files into, or make a share of folders a tree source: nothing of it would be backed up`);
    expect(r.stdout).toContain('note: source binlogs: timezone (Europe/London) does nothing for a binlog source: its event times are UTC, and the restore runs mariadb-binlog under TZ=UTC; it can be removed');
    expect(r.stdout).not.toContain('source later');
  });

  it('warns of an alert hook whose program is not there, and not of one that is (or of a pipeline the shell judges)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hook-'));
    mkdirSync(join(dir, 'rec'));
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL)/.test(k))), FERRY_HOME: join(dir, 'home') };
    const check = (command: string) => {
      writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nalerts: { command: ${JSON.stringify(command)} }\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`);
      const r = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', join(dir, 'agent.yaml')], { encoding: 'utf8', env, timeout: 30_000 });
      expect(r.status).toBe(0);
      return r.stdout;
    };
    expect(check('/usr/local/bin/page-oncall --team voice')).toContain('warning: alerts.command: /usr/local/bin/page-oncall is not found (the agent runs it, as its own user, for every alert): alerts would not be delivered');
    expect(check('no-such-pager-command')).toContain('warning: alerts.command: no-such-pager-command is not found on the PATH');
    expect(check(`cat >> ${join(dir, 'alerts.jsonl')}`)).not.toContain('alerts.command');
  });
});

describe('a command line the CLI refuses', () => {
  it('exits 2 (nothing was done), as a wrong configuration does, not 1 (cron\'s "something could not be shipped"); --help exits 0', () => {
    const env = { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-usage-')) };
    for (const args of [['agent', 'run', '--onse'], ['agent', 'run', '--once'], ['agent', 'frobnicate']]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 30_000 });
      expect(r.status, args.join(' ')).toBe(2);
    }
    expect(spawnSync(process.execPath, [BIN, 'agent', 'run', '--help'], { encoding: 'utf8', env, timeout: 30_000 }).status).toBe(0);
  });
});

describe('agent run from cron beside an agent that holds the state directory, before it loads the agent', () => {
  // Cron starts a run every few minutes through a day-long first upload; each is refused, and
  // must not load the SDK clients, the journal and the checks first to say so (seconds and over
  // 100 MB each on a small recorder host). What a run loaded is read at its exit: the built-in
  // modules Node loaded (process.moduleLoadList: the SDK's HTTP handler loads node:https, node:tls,
  // node:http2 when its module is evaluated, in the sources and in the bundle alike) and, from the
  // sources, every module resolved (module.registerHooks). No timings.
  const ROOT = join(import.meta.dirname, '../..');
  const PROBE = `import { appendFileSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
const out = process.env.LOAD_PROBE;
writeFileSync(out + '.urls', '');
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); appendFileSync(out + '.urls', r.url + '\\n'); return r; } });
process.on('exit', () => writeFileSync(out + '.builtins', process.moduleLoadList.join('\\n')));
`;

  function lockedSite() {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-busy-early-'));
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'rec', '000001'), { recursive: true });
    writeFileSync(join(dir, 'rec', '000001', 'call.wav'), 'RIFF');
    mkdirSync(state);
    // This test's own process is the live holder.
    const lock = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
    writeFileSync(join(state, 'agent.lock'), lock);
    // A relative state directory, as loadConfig reads it: relative to the configuration file.
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ./state\ncloud: { bucket: ferry-data, region: eu-west-1, endpoint: "http://127.0.0.1:9" }\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    writeFileSync(join(dir, 'probe.mjs'), PROBE);
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(FERRY_|AWS_ENDPOINT_URL|NODE_OPTIONS$)/.test(k))), FERRY_HOME: join(dir, 'home'), LOAD_PROBE: join(dir, 'loaded') };
    return { dir, state, lock, env };
  }

  function expectRefusedUnchanged(r: { status: number | null; stderr: string }, site: { dir: string; state: string; lock: string }) {
    expect(r.status).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(line).sort()).toEqual(['exitCode', 'level', 'msg', 'time']);
    expect(line).toMatchObject({ level: 'warn', exitCode: 4 });
    const lockFile = join(site.state, 'agent.lock');
    expect(line.msg).toBe(
      `another agent (pid ${process.pid} on ${hostname()}, since ${JSON.parse(site.lock).since}) is using the state directory ${site.state}; ` +
        `run one agent per state directory (a service or a cron job, not both). If no agent is running, remove ${lockFile}; this run did nothing and exits 4: the agent holding the state directory goes on shipping`,
    );
    expect(readFileSync(lockFile, 'utf8')).toBe(site.lock);
    expect(readdirSync(site.state)).toEqual(['agent.lock']);
  }

  const sdkBuiltins = (dir: string) => readFileSync(join(dir, 'loaded.builtins'), 'utf8').split('\n').filter((m) => /^NativeModule (https|tls|http2)$/.test(m));

  it('from the sources: exits 4 with the same message, having loaded neither the agent commands nor the S3 client module nor any AWS SDK package', () => {
    const site = lockedSite();
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(site.dir, 'probe.mjs')).href, BIN, 'agent', 'run', '--once', '--json-logs', '--config', join(site.dir, 'agent.yaml')], {
      encoding: 'utf8',
      env: { ...site.env, FERRY_FROM_SOURCE: '1' },
      timeout: 60_000,
    });
    expectRefusedUnchanged(r, site);
    const urls = readFileSync(join(site.dir, 'loaded.urls'), 'utf8').split('\n');
    // The probe saw the modules that did load (it works).
    expect(urls.some((u) => u.endsWith('/cli/main.ts'))).toBe(true);
    expect(urls.filter((u) => /\/cli\/agent-commands\.ts$|\/cli\/build-agent\.ts$|\/adapters\/aws-clients\.ts$|\/node_modules\/@(aws-sdk|smithy)\//.test(u))).toEqual([]);
    expect(sdkBuiltins(site.dir)).toEqual([]);
  });

  it('from the single-file bundle: exits 4 with the same message, having loaded none of the built-in modules the AWS SDK loads (https, tls, http2)', () => {
    const site = lockedSite();
    const bundle = join(site.dir, 'ferry-agent.mjs');
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-agent.mjs'), `--outfile=${bundle}`], { cwd: ROOT, stdio: 'pipe' });
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(site.dir, 'probe.mjs')).href, bundle, 'agent', 'run', '--once', '--json-logs', '--config', join(site.dir, 'agent.yaml')], { encoding: 'utf8', env: site.env, timeout: 60_000 });
    expectRefusedUnchanged(r, site);
    expect(readFileSync(join(site.dir, 'loaded.builtins'), 'utf8')).toContain('NativeModule fs');
    expect(sdkBuiltins(site.dir)).toEqual([]);
  }, 60_000);
});
