import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnAsync } from '../support/spawn-async.ts';

// The state directory on a disk full to the last byte (a real tmpfs in a mount namespace of its
// own): the agent cannot even write its lock, and says so through its alert hook, which needs no disk.

const REPO = fileURLToPath(new URL('../../', import.meta.url));

describe('agent run --once on a state disk with no byte free', () => {
  it('exits non-zero and alerts through alerts.command that the state disk is full (critical), before anything else', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-zero-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
mkdir "$1/state"
head -c 1000000 /dev/zero > "$1/filler" 2>/dev/null
"${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2"
echo "rc=$?"`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 90_000 });
    expect(r.stdout + r.stderr).toMatch(/ENOSPC/);
    expect(r.stdout).toMatch(/rc=[1-9]/);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; severity: string; message: string });
    expect(sent).toEqual([expect.objectContaining({ key: 'state-disk-low', severity: 'critical' })]);
    expect(sent[0]!.message).toContain('is on a disk with 0.0 MiB free');
    expect(sent[0]!.message).toContain('The disk is full: the agent cannot even start');
  }, 90_000);

  it('leaves no agent.lock.<pid>.new behind in the state directory when the disk is too full to write the lock', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-lockaside-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    mkdirSync(join(work, 'disk'));
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat > /dev/null" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    // Cron's runs on a disk full to the last byte: each writes its lock aside first, and the write fails.
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
mkdir "$1/state"
head -c 1000000 /dev/zero > "$1/filler" 2>/dev/null
for run in 1 2 3; do "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > /dev/null 2>&1; echo "rc=$?"; done
echo "state: $(ls -A "$1/state" | tr '\\n' ' ')"`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 120_000 });
    expect(r.stdout).toMatch(/rc=[1-9]\nrc=[1-9]\nrc=[1-9]/);
    const state = /state: (.*)/.exec(r.stdout)?.[1]?.trim().split(' ').filter(Boolean);
    expect(state).toBeDefined();
    expect(state!.filter((name) => /^agent\.lock\..+\.new$/.test(name))).toEqual([]);
  }, 120_000);

  it('alerts through alerts.command, once, when the disk fills during a pass (a floor of 0), instead of only logging why it stopped', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-fills-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    // The walk's pending view of 300 long names outgrows the 12 KiB left on the disk.
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 300; i++) {
      const file = join(rec, '000001', `call-with-a-rather-long-recording-name-${i}.wav`);
      writeFileSync(file, 'x');
      utimesSync(file, old, old);
    }
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\nstateMinFreeMiB: 0\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 1000 }\n`);
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
mkdir "$1/state"
free=$(df -B1 --output=avail "$1" | tail -1)
head -c $((free - 12288)) /dev/zero > "$1/filler" 2>/dev/null
"${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2"
echo "rc=$?"`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 90_000 });
    // The last line names the disk's trouble, the directory and what to do, not a bare "ENOSPC: no space left on device, write".
    expect(r.stdout + r.stderr).toContain(`"msg":"ferry stopped","error":"the state directory's disk is full: ${join(work, 'disk', 'state')}: a write to the state directory failed (ENOSPC`);
    expect(r.stdout).toMatch(/rc=1/);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; severity: string; subject: string; message: string });
    expect(sent).toEqual([expect.objectContaining({ key: 'state-disk-low', severity: 'critical', subject: "the state directory's disk is full: nothing ships" })]);
    expect(sent[0]!.message).toContain('a write to the state directory failed (ENOSPC: the disk is full;');
  }, 90_000);

  it('does not resolve the full-disk alert, and raise it again, at each run that finds a few bytes free (a floor of 0) and fills the disk again: resolved once a run writes all it had to', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-flap-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 300; i++) {
      const file = join(rec, '000001', `call-with-a-rather-long-recording-name-${i}.wav`);
      writeFileSync(file, 'x');
      utimesSync(file, old, old);
    }
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\nstateMinFreeMiB: 0\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 1000 }\n`);
    // A cron run with room (the alert book keeps its room), three with 12 KiB free before each (the walk's pending view outgrows it), then one with room.
    const script = `mount -t tmpfs -o size=512k tmpfs "$1" || exit 90
mkdir "$1/state"
fill() { rm -f "$1/filler"; free=$(df -B1 --output=avail "$1" | tail -1); head -c $((free - 12288)) /dev/zero > "$1/filler" 2>/dev/null; }
run() { "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > "$1/../run-$3.log" 2>&1; echo "run $3 rc=$?"; }
run "$1" "$2" 0
for n in 1 2 3; do fill "$1"; run "$1" "$2" $n; done
rm "$1/filler"
run "$1" "$2" 4`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 180_000 });
    expect(r.stdout).toMatch(/run 1 rc=1\nrun 2 rc=1\nrun 3 rc=1\nrun 4 rc=1/);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; severity: string; subject: string; details: { alertState?: string } });
    const disk = sent.filter((a) => a.key === 'state-disk-low');
    expect(disk.map((a) => [a.severity, a.details.alertState, a.subject])).toEqual([
      ['critical', 'raised', "the state directory's disk is full: nothing ships"],
      ['info', 'resolved', "resolved: the state directory's disk is full: nothing ships"],
    ]);
  }, 180_000);

  it('remembers the full-disk alert it sent: quiet in the next run while the disk stays full, then resolved by the first run with space', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-resolve-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\nstateMinFreeMiB: 0\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    // Cron's runs: one with space (nothing to ship), two on the disk filled to the last byte, one after the filler is removed.
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
mkdir "$1/state"
run() { "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > "$1/../run-$3.log" 2>&1; echo "run $3 rc=$?"; }
run "$1" "$2" 1
head -c 1000000 /dev/zero > "$1/filler" 2>/dev/null
run "$1" "$2" 2
run "$1" "$2" 3
rm "$1/filler"
run "$1" "$2" 4`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 120_000 });
    expect(r.stdout).toMatch(/run 2 rc=[1-9]/);
    expect(r.stdout).toMatch(/run 3 rc=[1-9]/);
    // Run 4 has space: it starts and takes its pass (its store is unreachable: exit 1 for that).
    expect(r.stdout).toMatch(/run 4 rc=1/);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; severity: string; subject: string; details: { alertState?: string } });
    const disk = sent.filter((a) => a.key === 'state-disk-low');
    expect(disk.map((a) => [a.key, a.severity, a.details.alertState])).toEqual([
      ['state-disk-low', 'critical', 'raised'],
      ['state-disk-low', 'info', 'resolved'],
    ]);
    expect(disk[1]!.subject).toBe("resolved: the state directory's disk is full: nothing ships");
  }, 120_000);


  it('sends the full-disk alert once, not at every run, when the state directory is new on a full disk (no alert book yet), and resolves it at the first run with space', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-new-full-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    const state = join(work, 'disk', 'state');
    writeFileSync(config, `site: site-a\nstate: ${state}\nstateMinFreeMiB: 0\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    // Cron's runs: three on a disk full to the last byte before the state directory was ever written, then one after the filler is removed.
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
head -c 1000000 /dev/zero > "$1/filler" 2>/dev/null
run() { "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > "$1/../run-$3.log" 2>&1; echo "run $3 rc=$?"; }
for n in 1 2 3; do run "$1" "$2" $n; done
tail -1 "$1/../run-3.log"
rm "$1/filler"
run "$1" "$2" 4`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 120_000 });
    expect(r.stdout).toMatch(/run 1 rc=1\nrun 2 rc=1\nrun 3 rc=1/);
    // Each run still ends on a sentence naming the directory and what to do.
    expect(r.stdout).toContain(`"msg":"ferry stopped","error":"the state directory's disk is full: ${state} is on a disk with 0.0 MiB free (ENOSPC). The disk is full: the agent cannot even start`);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; severity: string; details: { alertState?: string } });
    expect(sent.filter((a) => a.key === 'state-disk-low').map((a) => [a.severity, a.details.alertState])).toEqual([
      ['critical', 'raised'],
      ['info', 'resolved'],
    ]);
  }, 120_000);
});

describe('agent run as a service on a state disk that fills', () => {
  it('alerts through alerts.command, once, when a pass finds the disk full, instead of only logging "cycle failed" each poll', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-service-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    // The walk's pending view of 300 long names is rewritten each pass through a copy of its size.
    const old = new Date(Date.now() - 3600_000);
    for (let i = 0; i < 300; i++) {
      const file = join(rec, '000001', `call-with-a-rather-long-recording-name-${i}.wav`);
      writeFileSync(file, 'x');
      utimesSync(file, old, old);
    }
    mkdirSync(join(work, 'disk'));
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\nstateMinFreeMiB: 0\nshipping: { pollSeconds: 1 }\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 1000 }\n`);
    const script = `mount -t tmpfs -o size=512k tmpfs "$1" || exit 90
mkdir "$1/state"
"${process.execPath}" bin/ferry.mjs agent run --json-logs --config "$2" > "$1/../service.log" 2>&1 &
agent=$!
for i in $(seq 1 100); do [ -f "$1/state/status.json" ] && break; sleep 0.2; done
free=$(df -B1 --output=avail "$1" | tail -1)
head -c $((free - 12288)) /dev/zero > "$1/filler" 2>/dev/null
sleep 5
kill $agent; wait $agent
grep -c '"msg":"cycle failed"' "$1/../service.log"
grep '"msg":"cycle failed"' "$1/../service.log" | tail -1`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 90_000 });
    // Passes failed on the full disk, each poll, and said why in a sentence naming the directory.
    expect(Number(r.stdout.split('\n')[0])).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toContain(`"error":"the state directory's disk is full: ${join(work, 'disk', 'state')}: a write to the state directory failed (ENOSPC`);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; severity: string; details: { alertState?: string } });
    expect(sent.filter((a) => a.key === 'state-disk-low').map((a) => [a.severity, a.details.alertState])).toEqual([['critical', 'raised']]);
  }, 90_000);
});

describe('agent run --once on a state disk remounted read-only', () => {
  it('on a state disk remounted read-only, refuses (exit 2) saying the file system is read-only, not that the agent\'s user must own the directory, and alerts through alerts.command', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-ro-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    mkdirSync(join(work, 'disk'));
    const config = join(work, 'agent.yaml');
    const alerts = join(work, 'alerts.jsonl');
    writeFileSync(config, `site: site-a\nstate: ${join(work, 'disk', 'state')}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
mkdir "$1/state"
mount -o remount,ro "$1" || exit 91
"${process.execPath}" bin/ferry.mjs agent run --once --config "$2"
echo "rc=$?"`;
    const r = await spawnAsync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, timeout: 90_000 });
    expect(r.stdout).toMatch(/rc=2/);
    expect(r.stderr).toContain(`state: ${join(work, 'disk', 'state')} cannot be written: its file system is mounted read-only`);
    expect(r.stderr).not.toContain('must own it');
    // The operator's pager is told, not only the run's stderr.
    const sent = JSON.parse(readFileSync(alerts, 'utf8')) as { key: string; severity: string; subject: string; message: string };
    expect(sent).toMatchObject({ key: 'state-disk-read-only', severity: 'critical', subject: "the state directory's disk is read-only: nothing ships" });
    expect(sent.message).toContain(`${join(work, 'disk', 'state')} is on a file system mounted read-only (EROFS): the agent cannot start.`);
  }, 90_000);
});

describe('agent run --once on a state directory its user may not write', () => {
  it('refuses (exit 2) and alerts through alerts.command (critical, naming the directory and the user), not only on stderr', () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-eacces-'));
    const rec = join(work, 'rec');
    mkdirSync(join(rec, '000001'), { recursive: true });
    const state = join(work, 'state');
    mkdirSync(state, { mode: 0o500 });
    chmodSync(state, 0o500);
    const alerts = join(work, 'alerts.jsonl');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, `site: site-a\nstate: ${state}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
    // As root, without the capabilities that bypass permission bits (as a service user runs it).
    const args = [join(REPO, 'bin/ferry.mjs'), 'agent', 'run', '--once', '--config', config];
    const r = process.getuid?.() === 0 ? spawnSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, ...args], { encoding: 'utf8', timeout: 60_000 }) : spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('cannot be created or written (permission denied)');
    const sent = JSON.parse(readFileSync(alerts, 'utf8')) as { key: string; severity: string; message: string };
    expect(sent).toMatchObject({ key: 'state-unwritable', severity: 'critical' });
    expect(sent.message).toContain(`${state} cannot be created or written by ${userInfo().username}, the user the agent runs as (EACCES: permission denied)`);
  }, 60_000);
});

