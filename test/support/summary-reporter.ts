import type { Reporter } from 'vitest/reporters';
import type { RunnerTestFile, RunnerTask } from 'vitest';

// Prints one plain closing line, `tests: N passed, N failed, N skipped`, that any CI reader
// understands, after vitest's own summary.

function count(tasks: RunnerTask[], acc = { passed: 0, failed: 0, skipped: 0 }) {
  for (const t of tasks) {
    if (t.type === 'suite') count(t.tasks, acc);
    else if (t.mode === 'skip' || t.mode === 'todo') acc.skipped++;
    else if (t.result?.state === 'pass') acc.passed++;
    else if (t.result?.state === 'fail') acc.failed++;
  }
  return acc;
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const c = count(files);
    const failed = c.failed + files.filter((f) => f.result?.state === 'fail' && f.tasks.length === 0).length + errors.length;
    process.stdout.write(`\ntests: ${c.passed} passed, ${failed} failed, ${c.skipped} skipped\n`);
  }
}
