import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LossLog } from '../../agent/state/loss-log.ts';
import { Observations } from '../../agent/state/observations.ts';

// What an administrator sees for a wrong path: the setting and the path named, exit 2, no errno soup.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

// No cloud from the environment either: these configurations name none, so the store is not checked.
const CLOUD_ENV = /^(FERRY_|AWS_ENDPOINT_URL)/;
function ferry(args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CLOUD_ENV.test(k)));
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function siteDir() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
  mkdirSync(join(dir, 'rec'));
  return dir;
}

describe('agent configuration paths', () => {
  it('names --config when it is a directory, not EISDIR', () => {
    const dir = siteDir();
    const r = ferry(['agent', 'run', '--once', '--config', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--config ${dir}: is a directory, not a configuration file`);
    expect(r.stderr).not.toMatch(/EISDIR/);
  });

  it('names --config when it does not exist', () => {
    const r = ferry(['agent', 'check', '--config', '/nonexistent/agent.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--config /nonexistent/agent.yaml: does not exist');
  });

  it('names the state setting when it points at a file, not EEXIST', () => {
    const dir = siteDir();
    writeFileSync(join(dir, 'state'), 'not a directory');
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const r = ferry(['agent', 'run', '--once', '--config', join(dir, 'agent.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`state: ${join(dir, 'state')} exists and is not a directory`);
    expect(r.stderr).not.toMatch(/EEXIST|mkdir/);
  });

  it('names the file and the line of each problem, for the schema and for the paths agent check and agent run find', () => {
    const dir = siteDir();
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `site: s\nstate: ${join(dir, 'state')}\nshipping:\n  packConcurency: 4\nsources:\n  - name: rec\n    type: recordings\n    path: ${join(dir, 'rec')}\n    quietSeconds: 10m\n`);
    for (const cmd of [['agent', 'check'], ['agent', 'run', '--once']]) {
      const r = ferry([...cmd, '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`invalid configuration in ${file}:`);
      expect(r.stderr).toContain('shipping: unknown key(s) "packConcurency" (did you mean "packConcurrency"?) (line 4)');
      expect(r.stderr).toContain('sources[0].quietSeconds: Expected number, received string: "10m" is written as a plain number of seconds (quietSeconds: 600) (line 9)');
    }
    writeFileSync(file, `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - name: rec\n    type: recordings\n    path: ${join(dir, 'rec')}\n  - name: second\n    type: recordings\n    path: ${join(dir, 'rec-typo')}\n`);
    const r = ferry(['agent', 'check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid configuration in ${file}:\n  sources[1].path: ${join(dir, 'rec-typo')} does not exist (line 9)`);
  });

  it('agent check refuses a source path that does not exist or is not a directory, naming each', () => {
    const dir = siteDir();
    writeFileSync(join(dir, 'file.txt'), 'x');
    writeFileSync(
      join(dir, 'agent.yaml'),
      `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'mnt', 'recordngs')} }\n  - { name: db, type: rotated, profile: generic, patterns: ["*.bak"], path: ${join(dir, 'file.txt')} }\n`,
    );
    for (const cmd of [['agent', 'check']]) {
      const r = ferry([...cmd, '--config', join(dir, 'agent.yaml')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`sources[0].path: ${join(dir, 'mnt', 'recordngs')} does not exist`);
      expect(r.stderr).toContain(`sources[1].path: ${join(dir, 'file.txt')} is not a directory`);
    }
  });

  it('a configuration without sources (a standby site) is refused by agent run, naming why, and passed by agent check as a standby\'s', () => {
    const dir = siteDir();
    writeFileSync(join(dir, 'agent.yaml'), `site: standby\nstate: ${join(dir, 'state')}\n`);
    const run = ferry(['agent', 'run', '--once', '--config', join(dir, 'agent.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('sources: the agent needs at least one source to ship (a configuration without sources serves the restore, snapshots and backups commands, as at a standby site)');
    const check = ferry(['agent', 'check', '--config', join(dir, 'agent.yaml')]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`configuration ${join(dir, 'agent.yaml')} is valid for the restore, snapshots and backups commands of site standby (no sources: a standby site; the agent itself does not run it)`);
  });

  it('accepts a good configuration with agent check', () => {
    const dir = siteDir();
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const r = ferry(['agent', 'check', '--config', join(dir, 'agent.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('is valid: site s, 1 source(s)');
    expect(r.stdout).toContain('store: not checked (no cloud configured and no local cloud running)');
  });

  it('warns of recordings of a type the source\'s extensions leave out, in the words of the pass\'s alert with the extensions to set, and says nothing once they are listed', () => {
    const dir = siteDir();
    const old = new Date(Date.now() - 3600_000);
    for (const [batch, ext] of [['000001', '.wav'], ['000002', '.opus']] as const) {
      mkdirSync(join(dir, 'rec', batch));
      for (const name of [`c${batch}-0${ext}`, `c${batch}-0.json`]) {
        writeFileSync(join(dir, 'rec', batch, name), 'x');
        utimesSync(join(dir, 'rec', batch, name), old, old);
      }
    }
    const check = (extensions: string) => {
      writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${join(dir, 'state')}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')}, extensions: ${extensions} }\n`);
      return ferry(['agent', 'check', '--config', join(dir, 'agent.yaml')]);
    };
    const r = check('[.wav]');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `warning: source rec: recordings of a type not in extensions are not shipped (.opus): 1 file(s) in 1 batch directory (000002) of ${join(dir, 'rec')} look like recordings but have an extension this source does not ship (extensions: [.wav]): .opus: 1 (e.g. 000002/c000002-0.opus). They are not shipped, and are lost when the recorder removes them. If the recorder now writes its calls in this format (an upgrade), add it: extensions: [.wav, .opus]; the next pass ships them.\n`,
    );
    expect(check('[.wav, .opus]').stdout).not.toContain('not in extensions');
  });
});

describe('agent check on a source directory that is empty where the state remembers it full', () => {
  it('warns of a recordings root that holds no batch directory (empty, or a marker file alone) where the last pass saw batches, and of a tree root that is another, empty directory than the last snapshot\'s; says nothing of a root the state never saw full', () => {
    const dir = siteDir();
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'share'));
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n  - { name: share, type: tree, path: ${join(dir, 'share')} }\n`);
    const check = () => ferry(['agent', 'check', '--config', join(dir, 'agent.yaml')]);
    // A new state directory: empty roots are a new site's, not judged.
    expect(check().stdout).not.toContain('warning: source');
    // What a pass of each left: the recorder's 3 batch directories, a snapshot of 40 files taken of another directory.
    mkdirSync(state, { recursive: true });
    const observations = new Observations(state);
    const writer = observations.pendingWriter('rec');
    writer.commit();
    writer.close();
    observations.pendingCommitted('rec', 3, new Date('2026-12-06T02:10:00Z'), join(dir, 'rec'));
    const tree = join(state, 'trees', 'share');
    mkdirSync(tree, { recursive: true });
    const other = statSync(dir, { bigint: true });
    writeFileSync(join(tree, 'last.json'), JSON.stringify({ snapshotId: 'x', takenAt: '2026-12-06T02:00:00Z', manifestKey: 'k', files: 40, dirs: 5, symlinks: 0, problems: 0, bytesTotal: 1, bytesAdded: 1, filesRead: 40, root: { dev: String(other.dev), ino: String(other.ino) } }));
    const r = check();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`warning: source rec: ${join(dir, 'rec')} is empty, and the last pass (2026-12-06T02:10:00.000Z) saw 3 batch directories there: is the recorder's share mounted? A run fails this source (exit 1) until it holds batches again`);
    expect(r.stdout).toContain(`warning: source share: ${join(dir, 'share')} is empty, and the last snapshot (2026-12-06T02:00:00Z) held 40 file(s) in 5 folder(s): is the share mounted?`);
    // A mount point's own directory often holds a marker: no batch directory, which is what a run fails.
    writeFileSync(join(dir, 'rec', 'NOT-MOUNTED'), '');
    expect(check().stdout).toContain(`warning: source rec: ${join(dir, 'rec')} holds no batch directory, and the last pass (2026-12-06T02:10:00.000Z) saw 3 batch directories there: is the recorder's share mounted?`);
    // Back: batches in the recorder's root, the share the directory its snapshot was taken of.
    mkdirSync(join(dir, 'rec', '000001'));
    const same = statSync(join(dir, 'share'), { bigint: true });
    writeFileSync(join(tree, 'last.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(tree, 'last.json'), 'utf8')), root: { dev: String(same.dev), ino: String(same.ino) } }));
    expect(check().stdout).not.toContain('warning: source');
  });
});

describe('agent status --losses', () => {
  it('lists every loss ever recorded with its recordings\' paths, not only the last ten', () => {
    const dir = siteDir();
    const state = join(dir, 'state');
    const log = new LossLog(state);
    for (let b = 1; b <= 12; b++) {
      const batch = String(b).padStart(6, '0');
      log.record({ source: 'rec', batch, kind: 'recordings', files: [0, 1].map((i) => ({ name: `c${b}-${i}.wav`, size: 100, mtimeMs: 1000 + i, path: join(dir, 'rec', batch, `c${b}-${i}.wav`) })), reason: 'deleted by the recorder before it was shipped', at: '2026-01-01T00:00:00.000Z' });
    }
    log.close();
    writeFileSync(join(dir, 'agent.yaml'), `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const json = ferry(['agent', 'status', '--config', join(dir, 'agent.yaml'), '--json']);
    const status = JSON.parse(json.stdout) as { totals: { lostBatches: number; lostRecordings: number }; recentLosses: unknown[]; lossRecords: number };
    expect(status.totals).toMatchObject({ lostBatches: 12, lostRecordings: 24 });
    expect(status.recentLosses).toHaveLength(10);
    expect(status.lossRecords).toBe(12);
    const all = ferry(['agent', 'status', '--config', join(dir, 'agent.yaml'), '--losses']);
    expect(all.code).toBe(0);
    const { losses } = JSON.parse(all.stdout) as { losses: { batch: string; files: { path: string }[] }[] };
    expect(losses).toHaveLength(12);
    expect(losses.flatMap((l) => l.files.map((f) => f.path))).toContain(join(dir, 'rec', '000001', 'c1-0.wav'));
    const text = ferry(['agent', 'status', '--config', join(dir, 'agent.yaml')]);
    expect(text.stdout).toMatch(/12 loss records in all: `ferry agent status --losses` lists every one/);
  });
});
