import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `ferry snapshots diff | head`: the reader closes the pipe after a few lines.

const REPO = join(import.meta.dirname, '../..');

describe('snapshots diff into a pipe closed early', () => {
  it('leaves none of the indexes it downloaded in the temporary directory', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ferry-diff-pipe-'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/support/diff-child.ts')], { cwd: REPO, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(first).toContain('changes to source share of site site-a');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(readdirSync(tmp).filter((n) => n.startsWith('ferry-tree-index-'))).toEqual([]);
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);
});
