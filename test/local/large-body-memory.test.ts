import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLargeFile } from '../agent/tree-support.ts';

// A large file's bytes stream through every hop of the local cloud with bounded memory: the
// agent's uploader (PackBuilder over its part pool) → the SDK → the IAM gateway (SigV4 and IAM
// checked, the body piped on, never collected) → the S3 stand-in (hashed on the way into a file)
// and back out as a ranged GET. Measured in a child process (large-body-child.ts), whose RSS
// and the stand-in's are sampled while a LARGE_MIB file goes up and comes back, after a first
// file has already lent out every pool buffer: whatever held the body whole (a Buffer.concat of
// a request, parts kept until the complete, a response read before it is forwarded) would show
// as growth of the file's size. The bound is half of it: socket and stream buffers and the
// garbage collector's slack, on a machine where other processes compete for memory too.

const LARGE_MIB = 160;
const BOUND_MIB = LARGE_MIB / 2;
const CHILD = join(import.meta.dirname, 'large-body-child.ts');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-large-body-'));
  writeLargeFile(join(dir, 'warm.bin'), 40);
  writeLargeFile(join(dir, 'large.bin'), LARGE_MIB);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a large body through the IAM gateway and the S3 stand-in', () => {
  it(`ships and reads back a ${LARGE_MIB} MiB file with less than ${BOUND_MIB} MiB of RSS growth in the uploader's process and in the stand-in, bytes intact`, async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, dir, join(dir, 'large.bin'), join(dir, 'warm.bin')], { timeout: 240_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { uploadGrowthMiB: number; downloadGrowthMiB: number; standInGrowthMiB: number; sha256Sent: string; sha256Read: string };
    expect(r.sha256Read).toBe(r.sha256Sent);
    expect(r.uploadGrowthMiB).toBeLessThan(BOUND_MIB);
    expect(r.downloadGrowthMiB).toBeLessThan(BOUND_MIB);
    expect(r.standInGrowthMiB).toBeLessThan(BOUND_MIB);
  }, 300_000);
});
