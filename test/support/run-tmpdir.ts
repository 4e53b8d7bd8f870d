// Global setup: every temporary file of a test run lives in one directory, removed when the run
// ends. Tests make their scratch directories with mkdtemp under os.tmpdir() (stores, state
// directories, synthesized CDK apps of 22 MB each); one run left about 2,000 of them, 3.6 GB, in
// /tmp, and a machine that runs the suite daily fills its disk. The directory is made when this
// file is loaded (vitest.config.ts imports it before the workers are started, so they inherit
// TMPDIR) and removed in the teardown, whether the run passed or not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RUN_TMP_PREFIX = 'ferry-test-run-';

export function makeRunTmpdir(): string {
  const dir = mkdtempSync(join(tmpdir(), RUN_TMP_PREFIX));
  process.env.TMPDIR = dir;
  process.env.FERRY_TEST_RUN_TMPDIR = dir;
  return dir;
}

export function teardown(): void {
  const dir = process.env.FERRY_TEST_RUN_TMPDIR;
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
