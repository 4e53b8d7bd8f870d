import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_TMP_PREFIX } from './run-tmpdir.ts';

describe('the test run scratch directory', () => {
  it('os.tmpdir() in a test is the run directory the global teardown removes', () => {
    expect(basename(tmpdir()).startsWith(RUN_TMP_PREFIX)).toBe(true);
    expect(process.env.FERRY_TEST_RUN_TMPDIR).toBe(tmpdir());
    expect(basename(dirname(tmpdir())).startsWith(RUN_TMP_PREFIX)).toBe(false);
  });
});
