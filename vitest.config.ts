import { defineConfig } from 'vitest/config';
import { makeRunTmpdir } from './test/support/run-tmpdir.ts';

// One scratch directory for the whole run, removed at its end (test/support/run-tmpdir.ts).
const runTmp = makeRunTmpdir();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/support/run-tmpdir.ts'],
    setupFiles: ['./test/support/byte-equality.ts', './test/support/file-isolation.ts'],
    testTimeout: 30_000,
    // A poll waits for state that comes eventually (a page, a workflow): on two loaded cores, 1 s is too little.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 60_000,
    pool: 'forks',
    // Each worker imports the modules once for all its files, not once per file: importing
    // (the SDK, the CDK, the local cloud) took a quarter of the suite's CPU. A file undoes what
    // it stubs (test/support/file-isolation.ts; aws-sdk-client-mock's class mocks are restored
    // in the files that make them), and a test that needs a module's fresh state imports a
    // fresh copy (freshImport).
    isolate: false,
    // Two cores: integration suites start their own stand-ins; keep parallelism modest.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default', './test/support/summary-reporter.ts'],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', TMPDIR: runTmp, FERRY_TEST_RUN_TMPDIR: runTmp },
  },
});
