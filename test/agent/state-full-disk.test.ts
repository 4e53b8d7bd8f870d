import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LossLog } from '../../agent/state/loss-log.ts';

// A state directory on a disk that fills: a real tmpfs in a mount namespace of its own, filled
// but for a few KiB. One write() then stores part of what it was given without an error.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = [process.execPath, '--import', 'tsx', join(REPO, 'test/support/state-write-child.ts')].map((a) => `'${a}'`).join(' ');

/** Runs `which` on a 256 KiB tmpfs holding `before` (file name → text), filled to 8 KiB free; then copies the tmpfs out. */
function onFullDisk(which: 'atomic' | 'loss', before: Record<string, string>) {
  const work = mkdtempSync(join(tmpdir(), 'ferry-state-full-'));
  const seed = join(work, 'seed');
  const out = join(work, 'out');
  spawnSync('mkdir', ['-p', seed, out, join(work, 'disk')]);
  for (const [name, text] of Object.entries(before)) writeFileSync(join(seed, name), text);
  const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 90
cp -a "$2"/. "$1"/
free=$(df -B1 --output=avail "$1" | tail -1)
head -c $((free - 8192)) /dev/zero > "$1/filler" 2>/dev/null
${CHILD} "$1" ${which}
rm -f "$1/filler"
cp -a "$1"/. "$3"/`;
  const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', join(work, 'disk'), seed, out], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return { result: JSON.parse(r.stdout) as { ok: boolean; code?: string }, out };
}

describe('state files on a disk that fills', () => {
  it('writeFileAtomic fails with ENOSPC and leaves the old file whole, never renaming a short write over it', () => {
    const good = JSON.stringify({ seen: { 'db.bak': 1 } });
    const { result, out } = onFullDisk('atomic', { 'observations.json': good });
    expect(result).toEqual({ ok: false, code: 'ENOSPC' });
    expect(readFileSync(join(out, 'observations.json'), 'utf8')).toBe(good);
    expect(existsSync(join(out, 'observations.json.tmp'))).toBe(false);
  }, 60_000);

  it('a loss the full disk cut short is not written whole; the next loss recorded is listed, on a line of its own', () => {
    const { result, out } = onFullDisk('loss', {});
    expect(result).toEqual({ ok: false, code: 'ENOSPC' });
    const log = new LossLog(out);
    const entry = log.record({ source: 'rec', batch: '000003', kind: 'recordings', files: [{ name: 'c.wav', size: 1, mtimeMs: 1, path: '/rec/000003/c.wav' }], reason: 'deleted by the recorder before it was shipped', at: '2026-12-05T00:00:01.000Z' });
    log.close();
    expect(entry).toBeDefined();
    expect(new LossLog(out, { readOnly: true }).all().map((l) => l.batch)).toEqual(['000003']);
  }, 60_000);
});

describe('the loss log after a crash mid-append', () => {
  it('keeps the next loss recorded after a torn last line, on a line of its own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-loss-torn-'));
    const first = new LossLog(dir);
    first.record({ source: 'rec', batch: '000001', kind: 'recordings', files: [{ name: 'a.wav', size: 1, mtimeMs: 1, path: '/rec/000001/a.wav' }], reason: 'r', at: '2026-12-05T00:00:00.000Z' });
    first.close();
    const whole = readFileSync(join(dir, 'losses.jsonl'), 'utf8');
    // The same record cut by a crash after 60 bytes, then a later pass records another loss.
    writeFileSync(join(dir, 'losses.jsonl'), whole + whole.slice(0, 60));
    const next = new LossLog(dir);
    next.record({ source: 'rec', batch: '000002', kind: 'recordings', files: [{ name: 'b.wav', size: 1, mtimeMs: 1, path: '/rec/000002/b.wav' }], reason: 'r', at: '2026-12-05T00:01:00.000Z' });
    next.close();
    expect(new LossLog(dir, { readOnly: true }).all().map((l) => l.batch)).toEqual(['000001', '000002']);
  });
});
