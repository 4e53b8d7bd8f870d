import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// bin/ferry.mjs runs `agent` and `restore` from the bundle only when it is newer than every
// source file (checked while the bundle loads); otherwise from the sources. A copy of the
// script in a scratch tree, with a bundle and a source entry that each say which one ran.

const ROOT = join(import.meta.dirname, '../..');
const NODE = realpathSync(join(ROOT, 'node_modules/.bin/node'));
const SOURCE_DIRS = ['core', 'adapters', 'agent', 'cli', 'functions', 'local'];
let dir: string;

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000);

function writeBundle(body = "export async function main() { process.stdout.write('bundle\\n'); return 0; }\n"): void {
  writeFileSync(join(dir, 'dist', 'ferry-agent.mjs'), body);
  utimesSync(join(dir, 'dist', 'ferry-agent.mjs'), at(100), at(100));
}

function ferry(): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(NODE, [join(dir, 'bin', 'ferry.mjs'), 'agent', 'status'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, NODE_DISABLE_COMPILE_CACHE: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-fresh-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  copyFileSync(join(ROOT, 'bin', 'ferry.mjs'), join(dir, 'bin', 'ferry.mjs'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const d of SOURCE_DIRS) {
    mkdirSync(join(dir, d, 'nested'), { recursive: true });
    const file = join(dir, d, 'nested', 'part.ts');
    writeFileSync(file, 'export {};\n');
    utimesSync(file, at(50), at(50));
  }
  writeFileSync(join(dir, 'cli', 'main.ts'), "export async function main(): Promise<number> { process.stdout.write('source\\n'); return 0; }\n");
  utimesSync(join(dir, 'cli', 'main.ts'), at(50), at(50));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/ferry.mjs: the bundle or the sources', () => {
  it('runs the bundle when it is newer than every source file', () => {
    writeBundle();
    const r = ferry();
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('bundle\n');
    expect(r.code).toBe(0);
  });

  it.each(SOURCE_DIRS)('runs the sources when a nested .ts file under %s/ is newer than the bundle', (d) => {
    writeBundle();
    utimesSync(join(dir, d, 'nested', 'part.ts'), at(200), at(200));
    expect(ferry().stdout).toBe('source\n');
  });

  it('runs the sources, not an error, when a stale bundle fails to load', () => {
    writeBundle("throw new Error('stale bundle');\n");
    utimesSync(join(dir, 'agent', 'nested', 'part.ts'), at(200), at(200));
    const r = ferry();
    expect(r.stdout).toBe('source\n');
    expect(r.code).toBe(0);
  });

  it('fails with the bundle\'s own error when a fresh bundle fails to load', () => {
    writeBundle("throw new Error('broken bundle');\n");
    const r = ferry();
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('broken bundle');
    expect(r.code).not.toBe(0);
  });

  it('runs the sources when there is no bundle', () => {
    expect(ferry().stdout).toBe('source\n');
  });
});
