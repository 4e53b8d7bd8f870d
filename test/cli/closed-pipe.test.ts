import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `ferry agent status --config F --losses | head`: the reader closes the pipe before the command
// has written. `bin/ferry.mjs` runs the agent's commands from the single-file bundle, whose entry
// is cli/agent-entry.ts, so that entry is run here as the bundle runs it (its own main), and
// `ferry` from its sources (cli/main.ts, FERRY_FROM_SOURCE) beside it.

const REPO = join(import.meta.dirname, '../..');

async function intoClosedPipe(entry: string[], args: string[]): Promise<{ code: number | null; stderr: string }> {
  const env = { ...process.env, FERRY_FROM_SOURCE: '1' };
  const child = spawn(process.execPath, [...entry, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}

describe('a command whose output pipe the reader closed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-closed-pipe-'));
  mkdirSync(join(dir, 'recordings'));
  mkdirSync(join(dir, 'state'), { mode: 0o700 });
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, `site: site-a\nstate: ${join(dir, 'state')}\ncloud: { bucket: ferry-data-site-a, region: eu-west-2 }\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'recordings')} }\n`);

  it.each([
    ['the agent bundle (cli/agent-entry.ts)', ['--import', 'tsx', join(REPO, 'cli/agent-entry.ts')]],
    ['ferry from its sources (cli/main.ts)', [join(REPO, 'bin/ferry.mjs')]],
  ])('ends quietly with exit 0 from %s: agent status and agent status --losses', async (_name, entry) => {
    for (const args of [['agent', 'status', '--config', config], ['agent', 'status', '--config', config, '--losses']]) {
      const result = await intoClosedPipe(entry, args);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
  }, 60_000);

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
