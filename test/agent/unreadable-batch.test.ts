import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, statSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { spawnAsync } from '../support/spawn-async.ts';

// A batch directory the agent cannot read (a recorder or an admin left it with the wrong owner
// or mode) while the agent runs from cron as its own user, as the unit `agent install` writes
// runs it: the other batches ship, the root's lost+found is no batch, the unreadable one is
// alerted and stays pending (never called lost), and ships once it can be read. Permission bits
// do not stop root: as root the agent runs without the capabilities that bypass them
// (`setpriv`, dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), as a service user would.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const asRoot = process.getuid?.() === 0;
/** The command line that runs the agent subject to permission bits. */
const agentCommand = (args: string[]): [string, string[]] => (asRoot ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]]);
let dir: string;
let s3: LocalS3;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-unreadable-'));
  chmodSync(dir, 0o755);
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  await s3.stop();
  for (const d of ['000002', 'lost+found']) if (existsSync(join(dir, 'rec', d))) chmodSync(join(dir, 'rec', d), 0o755);
  rmSync(dir, { recursive: true, force: true });
});

/** `agent run --once`, as cron runs it, without holding the test's event loop (up to six runs a test: test/support/spawn-async.ts). */
async function run(config: string) {
  const [command, args] = agentCommand(['agent', 'run', '--once', '--config', config, '--json-logs']);
  const r = await spawnAsync(command, args, { env: { ...process.env, FERRY_HOME: join(dir, 'home') } });
  if (r.error) throw r.error;
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; [k: string]: unknown });
  return { status: r.status, lines, stderr: r.stderr };
}

/** A site of its own (state directory, alert log, config) shipping to the local S3; `sources` are the config's source lines. */
function siteOf(site: string, sources: string[]) {
  const state = join(dir, `state-${site}`);
  mkdirSync(state);
  const alerts = join(dir, `alerts-${site}.jsonl`);
  writeFileSync(alerts, '');
  chmodSync(alerts, 0o666);
  const config = join(dir, `agent-${site}.yaml`);
  writeFileSync(
    config,
    `site: ${site}
state: ${state}
cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
alerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }
sources:
${sources.map((l) => `  - ${l}`).join('\n')}
`,
  );
  const raised = () => readFileSync(alerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { subject: string; severity: string; message: string });
  return { state, alerts, config, raised };
}

const shippedBatches = () => readdirSync(join(dir, 's3', 'ferry-data', 'manifests', 'site-a'), { recursive: true }).map(String).filter((k) => k.endsWith('.json._S3rver_object')).length;

describe('paths the agent cannot read, never looks in, or cannot write, under cron', () => {
  it('ships the others, alerts it and keeps it pending (never lost), then ships it once it can be read', async () => {
    const rec = join(dir, 'rec');
    mkdirSync(rec);
    writeTree(rec, 3, 2, { size: 500 });
    // As every file system's root has it: not the agent's to read (mode 000 here, so root without its capabilities cannot either).
    mkdirSync(join(rec, 'lost+found'), { mode: 0o000 });
    const state = join(dir, 'state');
    mkdirSync(state);
    mkdirSync(join(dir, 'home'));
    const alerts = join(dir, 'alerts.jsonl');
    writeFileSync(alerts, '');
    chmodSync(alerts, 0o666);
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      `site: site-a
state: ${state}
cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }
alerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 100, quietSeconds: 60, settleSeconds: 1 }
`,
    );
    // 000002 is still being written when the first run sees it (its files are new, and it is
    // closed by a quiet minute, not by a count): pending.
    const now = new Date();
    for (const f of readdirSync(join(rec, '000002'))) utimesSync(join(rec, '000002', f), now, now);
    const first = await run(config);
    expect(first.status, first.stderr).toBe(0);
    expect(shippedBatches()).toBe(2);

    // Then it cannot be read: the run ships nothing of it, says so (exit 1), loses nothing.
    chmodSync(join(rec, '000002'), 0o000);
    const second = await run(config);
    expect(second.status, second.stderr).toBe(1);
    expect(second.lines.find((l) => l.msg === 'batch directory cannot be read')).toMatchObject({ source: 'cs', path: '000002', problem: 'batch directory 000002 cannot be read (EACCES)' });
    expect(second.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ lost: 0, failed: 1 });
    const raised = readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { subject: string; severity: string });
    expect(raised).toEqual([expect.objectContaining({ severity: 'critical', subject: 'cs: batch directory cannot be read: 000002' })]);
    expect(existsSync(join(state, 'losses.jsonl')) ? readFileSync(join(state, 'losses.jsonl'), 'utf8') : '').toBe('');
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', config, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout).backlog).toMatchObject({ batches: 1, recordings: 2 });

    // Readable again and settled: it ships, and the alert is resolved.
    chmodSync(join(rec, '000002'), 0o755);
    const old = new Date(Date.now() - 3600_000);
    for (const f of readdirSync(join(rec, '000002'))) utimesSync(join(rec, '000002', f), old, old);
    const third = await run(config);
    expect(third.status, third.stderr).toBe(0);
    expect(shippedBatches()).toBe(3);
    const all = readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { subject: string });
    expect(all.map((a) => a.subject)).toEqual(['cs: batch directory cannot be read: 000002', 'resolved: cs: batch directory cannot be read: 000002']);
  }, 60_000);

  it('a batch directory evicted while it could not be read closes its alert saying it is gone, not that it can be read again', async () => {
    const rec = join(dir, 'rec-gone');
    mkdirSync(rec);
    writeTree(rec, 1, 2, { size: 500 });
    mkdirSync(join(rec, '000002'), { mode: 0o000 });
    const site = siteOf('site-gone', [`{ name: cs, type: recordings, path: ${rec}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }`]);
    expect((await run(site.config)).status).toBe(1);
    // The recorder evicts it, never read, and writes the next batch.
    rmSync(join(rec, '000002'), { recursive: true });
    writeTree(rec, 1, 2, { size: 500, firstBatch: 3 });
    expect((await run(site.config)).status).toBe(3);
    const resolved = site.raised().find((a) => a.subject === 'resolved: cs: batch directory cannot be read: 000002');
    expect(resolved?.message).toBe(`000002 is gone from ${rec} (evicted by the recorder, or deleted) while the agent could not read it: nothing of it shipped while it was unreadable. It is recorded lost (ferry agent status --losses): by name, the recordings a pass saw in it before; as a batch lost unseen when no pass saw any. Any written into it meanwhile cannot be named.`);
  }, 60_000);

  it('a batch directory no pass could read, then evicted, is recorded lost once as a batch lost unseen (losses.jsonl, agent status, its alert), whatever cron runs follow', async () => {
    const rec = join(dir, 'rec-unseen');
    mkdirSync(rec);
    writeTree(rec, 1, 2, { size: 500 });
    mkdirSync(join(rec, '000002'), { mode: 0o000 });
    const site = siteOf('site-unseen', [`{ name: cs, type: recordings, path: ${rec}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }`]);
    expect((await run(site.config)).status).toBe(1);
    rmSync(join(rec, '000002'), { recursive: true });
    writeTree(rec, 1, 2, { size: 500, firstBatch: 3 });
    const gone = await run(site.config);
    expect(gone.status, gone.stderr).toBe(3);
    expect(gone.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ lost: 1 });
    // Two more cron runs: nothing is recorded again.
    expect((await run(site.config)).status).toBe(0);
    expect((await run(site.config)).status).toBe(0);
    const losses = readFileSync(join(site.state, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { e: string; loss?: Record<string, unknown> }).filter((l) => l.e === 'lost');
    expect(losses).toEqual([{ e: 'lost', loss: expect.objectContaining({ source: 'cs', batch: '000002', kind: 'recordings', unseen: true, files: [{ name: '000002', size: 0, mtimeMs: 0, path: join(rec, '000002') }] }) }]);
    expect(losses[0]!.loss!.reason).toMatch(/^gone from the recorder \(evicted, or deleted\) while the agent could not read it \(since .+\), before any pass could read it$/);
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', site.config, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout).totals).toMatchObject({ lostBatches: 1, lostRecordings: 0 });
    const alerts = site.raised().filter((a) => a.subject.includes('lost unseen'));
    expect(alerts).toEqual([expect.objectContaining({ severity: 'critical', subject: 'cs: 1 batch(es) lost unseen (000002)' })]);
    expect(alerts[0]!.message).toContain('Check the owner and permissions the recorder gives its batch directories');
  }, 60_000);

  it('a batch a pass shipped whole, then could not read, then evicted, is recorded lost in no way: no loss, no lost-unseen alert, its alert closes saying it shipped', async () => {
    const rec = join(dir, 'rec-shipped');
    mkdirSync(rec);
    writeTree(rec, 2, 2, { size: 500 });
    const site = siteOf('site-shipped', [`{ name: cs, type: recordings, path: ${rec}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }`]);
    expect((await run(site.config)).status).toBe(0);
    chmodSync(join(rec, '000002'), 0o000);
    expect((await run(site.config)).status).toBe(1);
    chmodSync(join(rec, '000002'), 0o755);
    rmSync(join(rec, '000002'), { recursive: true });
    writeTree(rec, 1, 2, { size: 500, firstBatch: 3 });
    const gone = await run(site.config);
    expect(gone.status, gone.stderr).toBe(0);
    expect((await run(site.config)).status).toBe(0);
    const lossFile = join(site.state, 'losses.jsonl');
    expect(existsSync(lossFile) ? readFileSync(lossFile, 'utf8').split('\n').filter((l) => l.includes('"e":"lost"')) : []).toEqual([]);
    expect(site.raised().filter((a) => a.subject.includes('lost'))).toEqual([]);
    const resolved = site.raised().find((a) => a.subject === 'resolved: cs: batch directory cannot be read: 000002');
    expect(resolved?.message).toBe(`000002 is gone from ${rec} (evicted by the recorder, or deleted) while the agent could not read it. A pass read it before: its recordings shipped then, and any it saw and did not ship are recorded lost by name (ferry agent status --losses). Any written into it after it became unreadable cannot be named.`);
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', site.config, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout).totals).toMatchObject({ lostBatches: 0, lostRecordings: 0 });
  }, 60_000);

  it("a journal compacted while a day directory cannot be read keeps what shipped from the day's batches (so their eviction is not taken for batches lost unseen)", () => {
    const rec = join(dir, 'rec-compact');
    // Two days: one made unreadable, one that stays readable (a root with nothing readable is "suddenly empty", another path).
    for (const day of ['20240101', '20240102']) {
      mkdirSync(join(rec, day), { recursive: true });
      writeTree(join(rec, day), 2, 2, { size: 500 });
    }
    const state = join(dir, 'state-compact');
    const script = join(import.meta.dirname, '../support/compact-under-unreadable.ts');
    const compacted = (state: string) => {
      const [command, args] = asRoot ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, '--import', 'tsx', script, rec, state]] : [process.execPath, ['--import', 'tsx', script, rec, state]];
      const r = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as unknown;
    };
    expect(compacted(state)).toEqual({ shipped: 4, stillKnown: true });
  }, 60_000);

  it('a batch directory a pass saw, then could not read, then evicted, is recorded lost by its recordings alone: the batch counts once', async () => {
    const rec = join(dir, 'rec-seen');
    mkdirSync(rec);
    writeTree(rec, 2, 2, { size: 500 });
    // 000002 is still being written at the first look (closed by a quiet minute): pending.
    const now = new Date();
    for (const f of readdirSync(join(rec, '000002'))) utimesSync(join(rec, '000002', f), now, now);
    const site = siteOf('site-seen', [`{ name: cs, type: recordings, path: ${rec}, closeAfterFiles: 100, quietSeconds: 60, settleSeconds: 1 }`]);
    expect((await run(site.config)).status).toBe(0);
    chmodSync(join(rec, '000002'), 0o000);
    expect((await run(site.config)).status).toBe(1);
    chmodSync(join(rec, '000002'), 0o755);
    rmSync(join(rec, '000002'), { recursive: true });
    expect((await run(site.config)).status).toBe(3);
    expect((await run(site.config)).status).toBe(0);
    const losses = readFileSync(join(site.state, 'losses.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { e: string; loss?: { batch: string; unseen?: true; files: unknown[] } }).filter((l) => l.e === 'lost');
    expect(losses.map((l) => [l.loss!.batch, l.loss!.files.length, l.loss!.unseen ?? false])).toEqual([['000002', 2, false]]);
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', site.config, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout).totals).toMatchObject({ lostBatches: 1, lostRecordings: 2 });
  }, 60_000);

  it('a day directory (batchDepth 2) whose batches all shipped, then could not be listed, then evicted, is recorded lost in no way: no batch lost unseen named after the day', async () => {
    const rec = join(dir, 'rec-day');
    writeTree(join(rec, '20240101'), 2, 2, { size: 500 });
    writeTree(join(rec, '20240102'), 1, 2, { size: 500 });
    const site = siteOf('site-day', [`{ name: cs, type: recordings, path: ${rec}, batchDepth: 2, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }`]);
    expect((await run(site.config)).status).toBe(0);
    chmodSync(join(rec, '20240101'), 0o000);
    expect((await run(site.config)).status).toBe(1);
    expect(site.raised().map((a) => a.subject)).toContain('cs: batch directory cannot be read: 20240101');
    // The recorder evicts the whole day, every batch of which shipped, and writes the next.
    chmodSync(join(rec, '20240101'), 0o755);
    rmSync(join(rec, '20240101'), { recursive: true });
    writeTree(join(rec, '20240102'), 1, 2, { size: 500, firstBatch: 2 });
    const gone = await run(site.config);
    expect(gone.status, gone.stderr).toBe(0);
    const lossFile = join(site.state, 'losses.jsonl');
    expect(existsSync(lossFile) ? readFileSync(lossFile, 'utf8').split('\n').filter((l) => l.includes('"e":"lost"')) : []).toEqual([]);
    expect(site.raised().filter((a) => a.subject.includes('lost'))).toEqual([]);
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', site.config, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(status.stdout).totals).toMatchObject({ lostBatches: 0, lostRecordings: 0 });
    expect(site.raised().find((a) => a.subject === 'resolved: cs: batch directory cannot be read: 20240101')?.message).toContain('A pass read it before: its recordings shipped then');
  }, 60_000);

  it('a source whose path is gone (an unmounted share) under cron: the other sources ship, the run exits 1 and the gone one is alerted', async () => {
    const share = join(dir, 'share');
    mkdirSync(share);
    writeFileSync(join(share, 'minutes.txt'), 'kept');
    const { config, raised } = siteOf('site-b', [`{ name: cs, type: recordings, path: ${join(dir, 'mnt', 'cs', 'recordings')} }`, `{ name: share, type: tree, path: ${share} }`]);
    const r = await run(config);
    expect(r.status, r.stderr).toBe(1);
    expect(r.lines.find((l) => l.msg === 'tree snapshot published')).toMatchObject({ source: 'share', files: 1 });
    expect(raised()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'source cs cannot be read' })]);
  }, 60_000);

  it('agent status on a state directory it cannot read says so (exit 1), not an agent that never shipped', () => {
    const state = join(dir, 'state-3');
    mkdirSync(state);
    const config = join(dir, 'agent-3.yaml');
    writeFileSync(config, `site: site-c\nstate: ${state}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`);
    chmodSync(state, 0o000);
    try {
      const [command, args] = agentCommand(['agent', 'status', '--config', config]);
      const r = spawnSync(command, args, { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`ferry: state: ${state} cannot be read (permission denied): run status as the agent's user (e.g. \`sudo -u ferry ferry agent status --config …\`)`);
    } finally {
      chmodSync(state, 0o755);
    }
  });

  it('a share snapshot that leaves an unreadable file out is alerted and counts as not shipped (exit 1); a FIFO skipped by design is neither', async () => {
    const share = join(dir, 'share-4');
    mkdirSync(share);
    writeFileSync(join(share, 'minutes.txt'), 'kept');
    spawnSync('mkfifo', [join(share, 'pipe')]);
    const { config, alerts, raised } = siteOf('site-d', [`{ name: share, type: tree, path: ${share}, everySeconds: 0 }`]);
    const clean = await run(config);
    expect(clean.status, clean.stderr).toBe(0);
    expect(readFileSync(alerts, 'utf8')).toBe('');
    writeFileSync(join(share, 'secret.txt'), 'locked');
    chmodSync(join(share, 'secret.txt'), 0o000);
    try {
      const locked = await run(config);
      expect(locked.status, locked.stderr).toBe(1);
      expect(raised()).toEqual([expect.objectContaining({ severity: 'warning', subject: 'share: 1 path(s) left out of the snapshot' })]);
      expect(raised()[0]!.message).toMatch(/secret\.txt: cannot be read \(EACCES\)/);
    } finally {
      chmodSync(join(share, 'secret.txt'), 0o644);
    }
    const readable = await run(config);
    expect(readable.status, readable.stderr).toBe(0);
    expect(raised().map((a) => a.subject)).toEqual(['share: 1 path(s) left out of the snapshot', 'resolved: share: 1 path(s) left out of the snapshot']);
  }, 60_000);

  it('a tree restore run again over files and directories it gave mode 000 resumes (verifies them) instead of failing with EACCES', () => {
    const share = join(dir, 'share-5');
    mkdirSync(join(share, 'lockdir'), { recursive: true });
    writeFileSync(join(share, 'lockdir', 'z.txt'), 'inside a locked directory');
    writeFileSync(join(share, 'locked.txt'), 'a locked file');
    chmodSync(join(share, 'locked.txt'), 0o000);
    chmodSync(join(share, 'lockdir'), 0o000);
    const { config } = siteOf('site-e', [`{ name: share, type: tree, path: ${share}, everySeconds: 0 }`]);
    // The agent, with every capability (as root reads a share), takes the snapshot.
    const shipped = spawnSync(process.execPath, [BIN, 'agent', 'run', '--once', '--config', config], { encoding: 'utf8' });
    expect(shipped.status, shipped.stderr).toBe(0);
    const to = join(dir, 'restored-5');
    const restore = () => {
      const [command, args] = agentCommand(['restore', 'tree', '--site', 'site-e', '--source', 'share', '--to', to, '--config', config]);
      return spawnSync(command, args, { encoding: 'utf8' });
    };
    try {
      const first = restore();
      expect(first.status, first.stderr).toBe(0);
      const again = restore();
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/files +0 restored, 2 already there and verified/);
      expect([statSync(join(to, 'locked.txt')).mode & 0o777, statSync(join(to, 'lockdir')).mode & 0o777]).toEqual([0, 0]);
    } finally {
      for (const p of [join(share, 'lockdir'), join(to, 'lockdir')]) if (existsSync(p)) chmodSync(p, 0o755);
    }
  }, 60_000);

  it('a batchDepth that does not match the recorder (day/batch folders read as batches): agent check names the depth, a run ships nothing, exits 1 and alerts critically, and the right depth ships every recording and resolves it', async () => {
    const rec = join(dir, 'rec-6');
    writeTree(join(rec, '20240101'), 2, 2, { size: 300 });
    writeTree(join(rec, '20240102'), 1, 2, { size: 300, firstBatch: 3 });
    const line = (depth: number) => `{ name: cs, type: recordings, path: ${rec}, batchDepth: ${depth}, quietSeconds: 60, settleSeconds: 1 }`;
    const { config, raised, state } = siteOf('site-f', [line(1)]);
    const check = spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', config], { encoding: 'utf8' });
    expect(check.status).not.toBe(0);
    expect(check.stderr).toContain("sources[0].batchDepth: batchDepth 1 finds no recordings (the newest batch directories hold none), but 20240101/000001/c000001-0.wav is one: set batchDepth: 2 if the recorder's batch directories are 2 levels below the root");
    const wrong = await run(config);
    expect(wrong.status, wrong.stderr).toBe(1);
    expect(wrong.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ packs: 0, lost: 0, failed: 3 });
    expect(raised()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'cs: recordings outside the batch directories are not shipped' })]);
    expect(raised()[0]!.message).toContain('in 3 places: 20240101/000001 (20240101/000001/c000001-0.wav), 20240101/000002 (20240101/000002/c000002-0.wav), 20240102/000003 (20240102/000003/c000003-0.wav)');
    expect(raised()[0]!.message).toContain('set batchDepth: 2');
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', config], { encoding: 'utf8' });
    expect(status.stdout).toMatch(/ALERT critical +cs: recordings outside the batch directories are not shipped/);

    writeFileSync(config, readFileSync(config, 'utf8').replace(line(1), line(2)));
    const right = await run(config);
    expect(right.status, right.stderr).toBe(0);
    expect(right.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ packs: 3, recordings: 6, failed: 0 });
    expect(raised().map((a) => a.subject)).toEqual(['cs: recordings outside the batch directories are not shipped', 'resolved: cs: recordings outside the batch directories are not shipped']);
    expect(existsSync(join(state, 'losses.jsonl')) ? readFileSync(join(state, 'losses.jsonl'), 'utf8') : '').toBe('');
  }, 60_000);

  it('a tree restore onto a disk that fills (a 200 KB tmpfs) names the file and says to free space; grown, the same command resumes and verifies what was kept', async () => {
    const share = join(dir, 'share-7');
    mkdirSync(join(share, 'sub'), { recursive: true });
    for (let i = 0; i < 10; i++) writeFileSync(join(share, i % 2 ? 'sub' : '', `f${i}.bin`), Buffer.alloc(50_000, i + 1));
    const { config } = siteOf('site-g', [`{ name: share, type: tree, path: ${share} }`]);
    expect((await run(config)).status).toBe(0);
    const to = join(dir, 'restored-7');
    const copied = join(dir, 'copied-7');
    mkdirSync(to);
    mkdirSync(copied);
    const restore = [process.execPath, BIN, 'restore', 'tree', '--site', 'site-g', '--source', 'share', '--to', to, '--config', config].map((a) => `'${a}'`).join(' ');
    // A mount namespace of its own (root or not): a real file system that fills, then grows as an operator frees space.
    const script = `mount -t tmpfs -o size=200k tmpfs "$1" || exit 90
${restore}; echo "first exit $?"
mount -o remount,size=4m tmpfs "$1" || exit 91
${restore}; echo "second exit $?"
cp -a "$1"/. "$2"/`;
    // The free-space check is told there is room: the disk fills during the restore, as when something else writes to it.
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', to, copied], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: join(dir, 'home'), FERRY_TEST_FREE_BYTES: String(1024 ** 3) }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/first exit [1-9]/);
    expect(r.stderr).toMatch(new RegExp(`^ferry: the disk holding ${to} filled up \\(ENOSPC\\) while restoring (sub/)?f\\d\\.bin: free space there, then run the same command again to resume`, 'm'));
    expect(r.stdout).toContain('second exit 0');
    expect(r.stdout).toMatch(/files +\d+ restored, [1-9]\d* already there and verified/);
    for (let i = 0; i < 10; i++) expect(readFileSync(join(copied, i % 2 ? 'sub' : '', `f${i}.bin`)).equals(Buffer.alloc(50_000, i + 1))).toBe(true);
  }, 60_000);

  it("recordings dated ahead of the agent's clock (a recorder or file server whose clock runs ahead) are alerted while they wait, and ship once dated right, resolving it", async () => {
    const rec = join(dir, 'rec-8');
    writeTree(rec, 2, 2, { size: 300, ageMs: -2 * 3600_000 });
    const { config, raised } = siteOf('site-h', [`{ name: cs, type: recordings, path: ${rec}, quietSeconds: 60, settleSeconds: 5 }`]);
    const early = await run(config);
    expect(early.status, early.stderr).toBe(0);
    expect(early.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ packs: 0, lost: 0 });
    expect(raised()).toEqual([expect.objectContaining({ severity: 'warning', subject: "cs: recordings dated ahead of this machine's clock" })]);
    expect(raised()[0]!.message).toMatch(/^4 recording\(s\) are dated up to 120 min after this machine's time/);
    const past = new Date(Date.now() - 3600_000);
    for (const b of readdirSync(rec)) {
      for (const f of readdirSync(join(rec, b))) utimesSync(join(rec, b, f), past, past);
      utimesSync(join(rec, b), past, past);
    }
    const right = await run(config);
    expect(right.lines.find((l) => l.msg === 'pass complete')).toMatchObject({ packs: 2, recordings: 4 });
    expect(raised().map((a) => a.subject)).toEqual(["cs: recordings dated ahead of this machine's clock", "resolved: cs: recordings dated ahead of this machine's clock"]);
  }, 60_000);

  it('a store that cannot be reached, on a quiet site with nothing to ship, is not a clean run: exit 1 and a critical alert that the heartbeat cannot be written', async () => {
    const rec = join(dir, 'rec-9');
    mkdirSync(rec);
    const { config, raised } = siteOf('site-i', [`{ name: cs, type: recordings, path: ${rec} }`]);
    writeFileSync(config, readFileSync(config, 'utf8').replace(s3.endpoint, 'http://127.0.0.1:9'));
    const r = await run(config);
    expect(r.status, r.stderr).toBe(1);
    expect(raised()).toEqual([expect.objectContaining({ severity: 'critical', subject: 'the heartbeat cannot be written to the store' })]);
    expect(raised()[0]!.message).toMatch(/ECONNREFUSED|connect/);
  }, 60_000);

  it('agent status shows an open condition whose alert no hook took, as not delivered and why', async () => {
    const rec = join(dir, 'rec-10');
    mkdirSync(rec);
    const { config } = siteOf('site-j', [`{ name: cs, type: recordings, path: ${rec} }`]);
    writeFileSync(config, readFileSync(config, 'utf8').replace(s3.endpoint, 'http://127.0.0.1:9').replace(/alerts: \{ command: .*\}/, 'alerts: { command: "exit 3" }'));
    expect((await run(config)).status).toBe(1);
    const status = spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', config], { encoding: 'utf8' });
    expect(status.stdout).toMatch(/^ALERT critical +the heartbeat cannot be written to the store \(since [^)]+\) NOT DELIVERED: alert "the heartbeat cannot be written to the store" reached no hook: .*exit/m);
  }, 60_000);

  it('agent check asks the store too: it says so when the store answers, and names the setting to mend for an endpoint that does not answer and a bucket the store has not (exit 2)', () => {
    const rec = join(dir, 'rec-11');
    mkdirSync(rec);
    const { config } = siteOf('site-k', [`{ name: cs, type: recordings, path: ${rec} }`]);
    const check = () => spawnSync(process.execPath, [BIN, 'agent', 'check', '--config', config], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: join(dir, 'home') } });
    const good = check();
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toContain("store: it answers and takes this agent's credentials");
    const text = readFileSync(config, 'utf8');
    writeFileSync(config, text.replace(s3.endpoint, 'http://127.0.0.1:9'));
    const unreachable = check();
    expect(unreachable.status).toBe(2);
    expect(unreachable.stderr).toMatch(/cloud: nothing answers at http:\/\/127\.0\.0\.1:9: check cloud\.endpoint \(its host and port\), that the store is running, and the network between \(S3 get .*ECONNREFUSED/);
    writeFileSync(config, text.replace('bucket: ferry-data', 'bucket: ferry-data-lon'));
    const misspelt = check();
    expect(misspelt.status).toBe(2);
    expect(misspelt.stderr).toContain(`cloud: there is no bucket ferry-data-lon at ${s3.endpoint}: check cloud.bucket (the deployment's data bucket, as its outputs name it) (S3 get heartbeats/site-k/ferry-agent-check.json: NoSuchBucket`);
    // A key the store refuses: test/local/s3-missing-key.test.ts, through the IAM gateway (this stand-in checks no signature).
  }, 60_000);

  it("agent check judges batchDepth over the day folders it can read: one it cannot (mode 000) is left to the run's alert, not a crash of the check", () => {
    const rec = join(dir, 'rec-12');
    for (const day of ['2026-12-05', '2026-12-06']) {
      mkdirSync(join(rec, day, '0001'), { recursive: true });
      writeFileSync(join(rec, day, '0001', 'a.wav'), 'x');
    }
    const { config } = siteOf('site-l', [`{ name: cs, type: recordings, path: ${rec}, batchDepth: 2 }`]);
    chmodSync(join(rec, '2026-12-06'), 0o000);
    try {
      const [command, args] = agentCommand(['agent', 'check', '--config', config]);
      const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, FERRY_HOME: join(dir, 'home') } });
      expect(r.stderr).not.toContain('EACCES');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('is valid');
    } finally {
      chmodSync(join(rec, '2026-12-06'), 0o755);
    }
  }, 60_000);
});
