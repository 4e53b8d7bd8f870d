import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// `ferry agent check` says every problem and every warning of a configuration in one run, so an
// installer fixes them in one round: the warnings (stdout) are said even when the paths or the
// store fail (stderr, exit 2).

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const CLOUD_ENV = /^(FERRY_|AWS_ENDPOINT_URL)/;

function ferry(args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CLOUD_ENV.test(k)));
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A site with a recordings root holding a settled .opus the source does not list, and a binlog directory of mysql-bin segments. */
function site(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-check-all-'));
  const old = new Date(Date.now() - 3600_000);
  mkdirSync(join(dir, 'rec', '000001'), { recursive: true });
  for (const name of ['c1.wav', 'c2.opus']) {
    writeFileSync(join(dir, 'rec', '000001', name), 'x');
    utimesSync(join(dir, 'rec', '000001', name), old, old);
  }
  mkdirSync(join(dir, 'binlog'));
  for (const name of ['mysql-bin.000001', 'mysql-bin.000002']) writeFileSync(join(dir, 'binlog', name), 'x');
  return dir;
}

function config(dir: string, extra = ''): string {
  const file = join(dir, 'agent.yaml');
  writeFileSync(
    file,
    `site: s\nstate: ${join(dir, 'state')}\n${extra}alerts:\n  command: ${join(dir, 'page-oncall')}\nsources:\n` +
      `  - { name: rec, type: recordings, path: ${join(dir, 'rec')}, extensions: [.wav] }\n` +
      `  - { name: db, type: binlog, path: ${join(dir, 'binlog')}, basename: mariadb-bin }\n` +
      `  - { name: dumps, type: rotated, profile: generic, patterns: ["*.sql.gz"], path: ${join(dir, 'dumps')} }\n`,
  );
  return file;
}

const WARNINGS = (dir: string) => [
  `warning: source db: ${join(dir, 'binlog')} holds 2 file(s) (mysql-bin.000001, mysql-bin.000002) and its basename mariadb-bin takes none of them`,
  'warning: source rec: recordings of a type not in extensions are not shipped (.opus)',
  `warning: alerts.command: ${join(dir, 'page-oncall')} is not found`,
];

describe('agent check with problems and warnings at once', () => {
  it('says the warnings (alerts.command not found, a basename that takes no file, unlisted audio) beside a source path that does not exist, and exits 2', () => {
    const dir = site();
    const file = config(dir);
    const r = ferry(['agent', 'check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid configuration in ${file}:\n  sources[2].path: ${join(dir, 'dumps')} does not exist (line 8)`);
    for (const warning of WARNINGS(dir)) expect(r.stdout).toContain(warning);
    expect(r.stdout).not.toContain('is valid');
    // Fixed: the same warnings, exit 0.
    mkdirSync(join(dir, 'dumps'));
    const fixed = ferry(['agent', 'check', '--config', file]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain(`configuration ${file} is valid: site s, 3 source(s)`);
    for (const warning of WARNINGS(dir)) expect(fixed.stdout).toContain(warning);
  });

  it('says a store that cannot be reached together with a path problem, and the warnings with them', () => {
    const dir = site();
    // Port 1 of this machine: nothing listens, every request is refused at once.
    const file = config(dir, 'cloud: { bucket: ferry-data, region: us-east-1, endpoint: "http://127.0.0.1:1", credentials: { accessKeyId: K, secretAccessKey: S } }\n');
    const r = ferry(['agent', 'check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`sources[2].path: ${join(dir, 'dumps')} does not exist`);
    expect(r.stderr).toMatch(/\n {2}cloud: .*127\.0\.0\.1:1/);
    for (const warning of WARNINGS(dir)) expect(r.stdout).toContain(warning);
    expect(r.stdout).not.toContain('store: it answers');
  });
});
