import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';

// Passes that find the state directory's disk full (a real tmpfs in a mount namespace of its
// own), shipping to a local S3 that takes every write: a tree (file share) source whose snapshot
// index does not fit, recordings whose walk and packs write more than is left.

const REPO = fileURLToPath(new URL('../../', import.meta.url));

let dir: string;
let s3: LocalS3;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-state-pass-full-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  await s3.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a tree snapshot on a state disk that is still full', () => {
  it('stops the pass (exit 1) and keeps the full-disk alert open, instead of resolving it with "room again" after the snapshot failed for want of room', () => {
    const share = join(dir, 'share');
    mkdirSync(share);
    for (let i = 0; i < 3000; i++) writeFileSync(join(share, `a-rather-long-file-name-for-the-index-${i}.txt`), `file ${i}\n`);
    mkdirSync(join(dir, 'disk'));
    const alerts = join(dir, 'alerts.jsonl');
    const config = join(dir, 'agent.yaml');
    const cloud = `cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }`;
    writeFileSync(config, `site: site-a\nstate: ${join(dir, 'disk', 'state')}\nstateMinFreeMiB: 0\n${cloud}\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: share, type: tree, path: ${share}, everySeconds: 0 }\n`);
    // A run with room (its alert book keeps room), one on the disk full to the last byte (alerted), then one with 32 KiB free: room for the
    // pass's small writes, not for the snapshot's index of 3,000 files.
    const script = `mount -t tmpfs -o size=1m tmpfs "$1" || exit 90
mkdir "$1/state"
run() { "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > "$1/../run-$3.log" 2>&1; echo "run $3 rc=$?"; }
run "$1" "$2" 0
head -c 2000000 /dev/zero > "$1/filler" 2>/dev/null
run "$1" "$2" 1
rm "$1/filler"
free=$(df -B1 --output=avail "$1" | tail -1)
head -c $((free - 32768)) /dev/zero > "$1/filler"
run "$1" "$2" 2
tail -1 "$1/../run-2.log"`;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(dir, 'disk'), config], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toMatch(/run 1 rc=1\nrun 2 rc=1/);
    expect(r.stdout).toContain(`"error":"the state directory's disk is full: ${join(dir, 'disk', 'state')}: a write to the state directory failed (ENOSPC`);
    const sent = readFileSync(alerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; details: { alertState?: string } });
    expect(sent.filter((a) => a.key === 'state-disk-low').map((a) => a.details.alertState)).toEqual(['raised']);
  }, 120_000);
});

describe('recordings shipped side by side on a state disk that fills', () => {
  it('ends the run on the sentence naming the full disk: the packs in flight finish first, none logs "pack failed … ENOSPC" after it', () => {
    const work = join(dir, 'recordings');
    const rec = join(work, 'rec');
    const old = new Date(Date.now() - 7200_000);
    for (let b = 1; b <= 4; b++) {
      mkdirSync(join(rec, `00000${b}`), { recursive: true });
      for (let i = 0; i < 40; i++) {
        const file = join(rec, `00000${b}`, `call-with-a-long-name-${i}.wav`);
        writeFileSync(file, randomBytes(3000));
        utimesSync(file, old, old);
      }
    }
    mkdirSync(join(work, 'disk'));
    const config = join(work, 'agent.yaml');
    const cloud = `cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }`;
    writeFileSync(config, `site: site-e\nstate: ${join(work, 'disk', 'state')}\nstateMinFreeMiB: 0\n${cloud}\nalerts: { command: "cat > /dev/null" }\nsources:\n  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 40 }\n`);
    // A fresh state directory each run, with 16 then 20 KiB left: the walk's view and the packs' journal lines outgrow it while packs are in flight.
    const script = `mount -t tmpfs -o size=1m tmpfs "$1" || exit 90
for k in 16 20; do
  rm -rf "$1/state" "$1/filler"; mkdir "$1/state"
  free=$(df -B1 --output=avail "$1" | tail -1)
  head -c $((free - k * 1024)) /dev/zero > "$1/filler"
  "${process.execPath}" bin/ferry.mjs agent run --once --json-logs --config "$2" > "$1/../run-$k.log" 2>&1
  echo "k=$k rc=$? last: $(tail -1 "$1/../run-$k.log")"
done`;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), config], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    const runs = r.stdout.trim().split('\n');
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run).toMatch(/^k=\d+ rc=1 last: \{"time":"[^"]+","level":"error","msg":"ferry stopped","error":"the state directory's disk is full: /);
  }, 120_000);
});
