import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `./bin/ferry.mjs` started by an older system Node hands over to the Node 22 of the `node`
// package. Runs where the machine has a system Node older than 22 (Debian's, CI's).

const ROOT = join(import.meta.dirname, '..', '..');
const SYSTEM_NODE = '/usr/bin/node';
const majorOf = (node: string) => Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }));
const systemMajor = existsSync(SYSTEM_NODE) ? majorOf(SYSTEM_NODE) : 0;
const dir = mkdtempSync(join(tmpdir(), 'ferry-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(systemMajor > 0 && systemMajor < 22)('bin/ferry.mjs on an older system Node', () => {
  it('runs the command on Node 22 and passes its arguments and exit code through', () => {
    // Every Node process started prints its version: the system one, then the one it hands over to.
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, 'process.stderr.write(`node ${process.versions.node}\\n`);\n');
    const env = { ...process.env, NODE_OPTIONS: `--require ${probe}` };
    const r = spawnSync(SYSTEM_NODE, [join(ROOT, 'bin', 'ferry.mjs'), '--version'], { encoding: 'utf8', env });
    const versions = [...r.stderr.matchAll(/^node (\d+)\./gm)].map((m) => Number(m[1]));
    // The system Node first; every process after it (the CLI may re-exec itself) on Node 22.
    expect(versions[0]).toBe(systemMajor);
    expect(versions.length).toBeGreaterThan(1);
    expect(versions.slice(1).every((major) => major === 22)).toBe(true);
    expect(r.stdout.trim()).toBe('0.1.0');
    expect(r.status).toBe(0);
  });
});
