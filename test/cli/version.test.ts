import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FERRY_VERSION, headCommit } from '../../cli/version.ts';

// Which Ferry runs: the package's version and the commit, as `ferry --version` and every heartbeat say.

const SHA = 'a'.repeat(8) + 'b'.repeat(32);

function gitDir(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ferry-version-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, '.git', path, '..'), { recursive: true });
    writeFileSync(join(root, '.git', path), text);
  }
  return root;
}

describe('the version an agent reports', () => {
  it("reads the commit of a branch's loose ref, a packed ref and a detached HEAD; none outside a checkout", () => {
    expect(headCommit(gitDir({ HEAD: 'ref: refs/heads/main\n', 'refs/heads/main': `${SHA}\n` }))).toBe('aaaaaaa');
    expect(headCommit(gitDir({ HEAD: 'ref: refs/heads/main\n', 'packed-refs': `# pack-refs with: peeled\n${SHA} refs/heads/main\n` }))).toBe('aaaaaaa');
    expect(headCommit(gitDir({ HEAD: `${SHA}\n` }))).toBe('aaaaaaa');
    expect(headCommit(mkdtempSync(join(tmpdir(), 'ferry-version-')))).toBeUndefined();
  });

  it("is this checkout's package version and commit", () => {
    const commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: join(import.meta.dirname, '../..'), encoding: 'utf8' }).trim();
    expect(FERRY_VERSION).toBe(`0.1.0+${commit}`);
  });
});
