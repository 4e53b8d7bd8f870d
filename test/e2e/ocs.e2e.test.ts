import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { buildStore } from '../../cli/build-agent.ts';
import { picture, writeLargeFile } from '../agent/tree-support.ts';

// The OCS 2007 R2 front end of the seed, end to end on the local cloud with its IAM gateway: SQL
// full backups (.bak) and the LCSCmd XML export as rotated sources, the meeting-content and
// address-book share as a tree source (README, "Microsoft OCS 2007 R2"). The site changes over
// several days (uploads, deletions, a renamed conference folder, one large file); the agent
// signs as the site's agent role; the DR site's read-only role then restores every day's share
// byte-identical through `ferry restore tree`, and streams one file with --stdout.
// The large file is FERRY_OCS_LARGE_MB (default 200, as the issue asks) MB: it is written,
// compared and streamed out in 1 MiB pieces (nothing here holds it whole), and the time limits
// grow with it. FERRY_OCS_LARGE_MB=20 gives a quicker run while working on the test.
// Where its cost goes, traced (docs/benchmarks.md, "One large file: the OCS end-to-end test"):
// the agent and the local cloud share the test's process, and its growth with a 200 MB file
// (about 130 MB) is bounded, not a copy of the file: the agent's part pool (8 MiB × 4 packs ×
// 3, lent whole to a lone upload) fills to its 96 MiB cap, which a 20 MB file never reaches,
// plus socket buffers; a 400 MB file costs the same. test/local/large-body-memory.test.ts
// proves that bound for the uploader, the IAM gateway and the S3 stand-in. Measured on this
// shared 2-core machine, 2026-12-03, each pair run at the same time (same load):
//   before: 20 MB 171 s, largest process 932 MB   after: 200 MB 201 s, 953 MB  (load 22-27)
//   before: 200 MB 251 s, 950 MB                  after: 20 MB 233 s, 799 MB   (load 26-30)
//   after:  20 MB 124 s, 878 MB                   after: 200 MB 137 s, 1006 MB (load 17-24)
//   after:  20 MB 141 s, 885 MB                   after: 200 MB 157 s, 948 MB  (load 15-22)
// So 200 MB costs 13-29 s more than 20 MB did: it is the default. (The figures measured before,
// 20 MB 204 s and 200 MB 392 s, were not reproduced side by side; the per-MB work left is the
// hashing each hop does by design and the local cloud's copies on disk.)

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const LARGE_MB = Number(process.env.FERRY_OCS_LARGE_MB ?? 200);
/** Time limits grow with the large file (about 3 s a MB on a loaded machine). */
const SLACK_MS = LARGE_MB * 3_000;
const DAY = 86_400_000;
let cloud: LocalCloud;
let dir: string;
let share: string;
let sql: string;
let lcs: string;
let drConfig: string;
const days: { at: string; picture: Map<string, string>; sample: { path: string; sha256: string }; sql: Record<string, string> }[] = [];

/** Runs the CLI with its stdout hashed as it streams (a 200 MB file is never held here). */
function ferryHashed(args: string[]): Promise<{ code: number; sha256: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, FERRY_HOME: join(dir, 'home') }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 + SLACK_MS });
    const hash = createHash('sha256');
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => hash.update(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, sha256: hash.digest('hex'), stderr }));
  });
}

/** Writes `mb` MiB of content that differs in every MiB, dated `at`. */
function putLarge(path: string, mb: number, at: Date): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeLargeFile(path, mb);
  utimesSync(path, at, at);
}

/** SHA-256 of a file, read 1 MiB at a time. */
function shaOfFile(path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buffer)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function ferry(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, FERRY_HOME: join(dir, 'home') }, encoding: 'buffer', maxBuffer: 1 << 30, timeout: 120_000 + SLACK_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}

const put = (path: string, data: string | Buffer, at: Date) => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
  utimesSync(path, at, at);
};
const web = (...p: string[]) => join(share, 'Web Components', 'Data MCU Web', 'Web', ...p);
const meta = (...p: string[]) => join(share, 'Web Components', 'Data MCU Web', 'Non-Web', ...p);

/** One day of an OCS front end: the nightly SQL fulls and LCSCmd export, and what users did to the share. */
function day(n: number, at: Date): { path: string } {
  const stamp = at.toISOString().slice(0, 10);
  for (const db of ['rtc', 'rtcconfig']) put(join(sql, `${db}_full.bak`), randomBytes(200_000), new Date(at.getTime() - 3600_000));
  put(join(lcs, 'global-pool.xml'), `<lcscmd day="${stamp}"/>`, new Date(at.getTime() - 3600_000));
  if (n === 0) {
    for (let c = 0; c < 6; c++) {
      put(web(`conf-${c}`, 'deck.pptx'), randomBytes(30_000), at);
      put(web(`conf-${c}`, 'Q&A log.txt'), `questions of conference ${c}`, at);
      put(meta(`conf-${c}`, 'metadata.xml'), `<meeting id="${c}" uploaded="${stamp}"/>`, at);
    }
    put(join(share, 'Address Book Files', 'F-0001.lsabs'), randomBytes(50_000), at);
    put(join(share, 'Compliance', `uploads ${stamp}.xml`), '<uploads/>', at);
    return { path: 'Web Components/Data MCU Web/Web/conf-0/deck.pptx' };
  }
  if (n === 1) {
    put(web('conf-6', 'poll résultats.csv'), 'yes,no\n3,4\n', at);
    putLarge(web('conf-6', 'recording.wmv'), LARGE_MB, at);
    rmSync(web('conf-2'), { recursive: true });
    put(join(share, 'Compliance', `uploads ${stamp}.xml`), '<uploads n="2"/>', at);
    return { path: 'Web Components/Data MCU Web/Web/conf-6/recording.wmv' };
  }
  if (n === 2) {
    renameSync(web('conf-3'), web('conf-3 (archived)'));
    put(join(share, 'Address Book Files', 'F-0001.lsabs'), randomBytes(50_000), at);
    put(join(share, 'Address Book Files', 'D-0002.dabs'), randomBytes(8_000), at);
    return { path: 'Address Book Files/D-0002.dabs' };
  }
  rmSync(web('conf-6', 'recording.wmv'));
  put(web('conf-4', 'deck.pptx'), randomBytes(31_000), at);
  return { path: 'Web Components/Data MCU Web/Web/conf-4/deck.pptx' };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-ocs-'));
  cloud = await startLocalCloud({ directory: join(dir, 'cloud'), fresh: true, iam: { sites: ['ocs'], snapshot: await synthesizeDeployment(['ocs']) } });
  share = join(dir, 'ocs-share');
  sql = join(dir, 'sql-backups');
  lcs = join(dir, 'lcscmd');
  for (const d of [share, sql, lcs]) mkdirSync(d);
  const agentKey = cloud.iam!.credentialsOf('agent:ocs');
  const config = parseAgentConfig(`
site: ocs
state: ${join(dir, 'state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}, credentials: { accessKeyId: ${agentKey.accessKeyId}, secretAccessKey: "${agentKey.secretAccessKey}" } }
sources:
  - { name: sql, type: rotated, profile: generic, path: "${sql}", patterns: ["*.bak"], stableSeconds: 0 }
  - { name: lcscmd, type: rotated, profile: generic, path: "${lcs}", patterns: ["*.xml"], stableSeconds: 0 }
  - { name: meetings, type: tree, path: "${share}", exclude: ["*.tmp"], everySeconds: 43200 }
`);
  const drKey = cloud.iam!.credentialsOf('dr:ocs');
  drConfig = join(dir, 'dr.yaml');
  writeFileSync(
    drConfig,
    `
site: ocs-dr
state: ${join(dir, 'dr-state')}
cloud: { bucket: ${cloud.bucket}, endpoint: ${cloud.iam!.s3Endpoint}, api: ${cloud.apiUrl}, credentials: { accessKeyId: ${drKey.accessKeyId}, secretAccessKey: "${drKey.secretAccessKey}" } }
`,
  );
  const clock = new ManualClock(new Date('2026-03-02T02:00:00Z'));
  const agent = new Agent({ config, store: buildStore(config).store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
  try {
    for (let n = 0; n < 4; n++) {
      const { path } = day(n, clock.now());
      clock.advance(60_000);
      // Two passes a day: the second is inside everySeconds and takes no snapshot.
      const first = await agent.cycle();
      const second = await agent.cycle();
      expect(first.failed + second.failed).toBe(0);
      expect(first.manifests.filter((k) => k.includes('/trees/'))).toHaveLength(1);
      expect(second.manifests.filter((k) => k.includes('/trees/'))).toHaveLength(0);
      days.push({ at: clock.now().toISOString(), picture: picture(share), sample: { path, sha256: shaOfFile(join(share, path)) }, sql: Object.fromEntries(['rtc_full.bak', 'rtcconfig_full.bak'].map((f) => [f, shaOfFile(join(sql, f))])) });
      clock.advance(DAY - 60_000);
    }
  } finally {
    agent.close();
  }
}, 300_000 + SLACK_MS);

afterAll(async () => {
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('OCS 2007 R2 site end to end', () => {
  it('ships the SQL fulls and the LCSCmd export of every day as rotated artefacts', async () => {
    const keys: string[] = [];
    for await (const o of cloud.blobs.list('manifests/ocs/backups/')) keys.push(o.key);
    expect(keys.filter((k) => k.includes('/backups/sql/'))).toHaveLength(8);
    expect(keys.filter((k) => k.includes('/backups/lcscmd/'))).toHaveLength(4);
  });

  it('catalogues every snapshot manifest without an ingest error', async () => {
    await cloud.drain();
    expect(cloud.ingestErrors).toEqual([]);
  });

  it('lists one snapshot a day for the DR site', async () => {
    const r = await ferry(['snapshots', 'list', '--site', 'ocs', '--source', 'meetings', '--json', '--config', drConfig]);
    expect(r.stderr).toBe('');
    const rows = JSON.parse(r.stdout.toString()) as { files: number; bytesAdded: number }[];
    expect(rows).toHaveLength(4);
    expect(rows[1]!.bytesAdded).toBeGreaterThanOrEqual(LARGE_MB * 1024 * 1024);
    expect(rows[3]!.bytesAdded).toBe(31_000);
  });

  it('restores the share of every day byte-identical through the DR role', async () => {
    for (const [i, d] of days.entries()) {
      const to = join(dir, `restore-day-${i}`);
      const r = await ferry(['restore', 'tree', '--site', 'ocs', '--source', 'meetings', '--at', d.at, '--to', to, '--config', drConfig]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(picture(to)).toEqual(d.picture);
    }
  }, 240_000 + SLACK_MS);

  it('fetches both SQL databases of every day (RTC and RTCConfig, one source) for the DR site, each the version of that day', async () => {
    for (const [i, d] of days.entries()) {
      const to = join(dir, `sql-day-${i}`);
      const r = await ferry(['restore', 'fetch', '--site', 'ocs', '--source', 'sql', '--at', d.at, '--to', to, '--config', drConfig]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(Object.fromEntries(['rtc_full.bak', 'rtcconfig_full.bak'].map((f) => [f, shaOfFile(join(to, f))]))).toEqual(d.sql);
      expect(r.stdout.toString()).toMatch(/the source holds backups under 2 names/);
      const script = readFileSync(join(to, 'apply.sh'), 'utf8');
      expect(script).toContain('rtc_full.bak');
      expect(script).toContain('rtcconfig_full.bak');
    }
  }, 120_000);

  it('lists the paths of every day\'s snapshot through the DR role (snapshots files --json), the same paths, types, modes and link targets the restore wrote', async () => {
    for (const d of days) {
      const r = await ferry(['snapshots', 'files', '--site', 'ocs', '--source', 'meetings', '--at', d.at, '--json', '--config', drConfig]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const listed = r.stdout.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; mode: number; target?: string });
      // picture() names paths (and link targets) by their bytes read as Latin-1: "file MODE MTIME CONTENT", "dir MODE MTIME", "link TARGET".
      const latin1 = (text: string) => Buffer.from(text).toString('latin1');
      const asPicture = new Map(listed.map((e) => [latin1(e.path), e.type === 'symlink' ? `link ${latin1(e.target ?? '')}` : `${e.type} ${e.mode.toString(8)}`]));
      const expected = new Map([...d.picture].map(([path, what]) => [path, what.startsWith('link ') ? what : what.split(' ').slice(0, 2).join(' ')]));
      expect(asPicture).toEqual(expected);
    }
  }, 120_000 + SLACK_MS);

  it('says what changed from each day to the next through the DR role (snapshots diff --json): every path added, removed, rewritten or changed in mode, and nothing else', async () => {
    // picture(): "file MODE MTIME CONTENT…", "dir MODE MTIME", "link TARGET". An mtime alone is no change (a restore of either day gives the same bytes).
    const kind = (what: string) => what.split(' ')[0]!;
    const mode = (what: string) => (kind(what) === 'link' ? '' : what.split(' ')[1]!);
    const body = (what: string) => (kind(what) === 'file' ? what.split(' ').slice(3).join(' ') : kind(what) === 'link' ? what : '');
    for (let i = 1; i < days.length; i++) {
      const [before, after] = [days[i - 1]!.picture, days[i]!.picture];
      const expected = new Map<string, string>();
      for (const path of before.keys()) if (!after.has(path)) expected.set(path, 'removed');
      for (const [path, what] of after) {
        const was = before.get(path);
        if (was === undefined) expected.set(path, 'added');
        else if (kind(was) !== kind(what)) expected.set(path, 'type');
        else if (body(was) !== body(what)) expected.set(path, 'changed');
        else if (mode(was) !== mode(what)) expected.set(path, 'mode');
      }
      const r = await ferry(['snapshots', 'diff', '--site', 'ocs', '--source', 'meetings', '--since', days[i - 1]!.at, '--at', days[i]!.at, '--json', '--config', drConfig]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rows = r.stdout.toString().trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { change: string; path: string; after?: { pathBytes?: string }; before?: { pathBytes?: string } });
      const latin1 = (row: (typeof rows)[number]) => {
        const bytes = (row.after ?? row.before)?.pathBytes;
        return bytes === undefined ? Buffer.from(row.path).toString('latin1') : Buffer.from(bytes, 'base64').toString('latin1');
      };
      expect(new Map(rows.map((row) => [latin1(row), row.change]))).toEqual(expected);
      expect(expected.size).toBeGreaterThan(0);
    }
  }, 120_000 + SLACK_MS);

  it('streams one file of a day with --stdout, verified', async () => {
    for (const d of days) {
      const r = await ferryHashed(['restore', 'tree', '--site', 'ocs', '--source', 'meetings', '--at', d.at, '--stdout', d.sample.path, '--config', drConfig]);
      // Standard error names the snapshot the file came from; standard output is the file alone.
      expect(r.stderr).toMatch(/^ferry: .+ \(.+, SHA-256 verified\) from snapshot s[0-9a-f]+ taken \d{4}-\d\d-\d\dT[^\n]+\n$/);
      expect(r.code).toBe(0);
      expect(r.sha256).toBe(d.sample.sha256);
    }
  }, 120_000 + SLACK_MS);
});
