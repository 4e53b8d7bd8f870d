import { afterAll, vi } from 'vitest';

// Test files share one module cache per worker (isolate: false in vitest.config.ts): what a file
// stubs with vi (spies, environment variables, globals, fake timers) is undone when it ends, so
// the next file in the same worker starts from the real thing.

const FRESH = Symbol.for('ferry.test.freshModules');
const marks = globalThis as { [FRESH]?: boolean };

/**
 * A fresh copy of the modules `load` imports (and of everything they import), for a test that
 * changes a module's own state (O_NOATIME turned off after a refusal): the module cache is
 * cleared first, and again when the file ends, so the next test files import fresh modules too.
 */
export async function freshImport<T>(load: () => Promise<T>): Promise<T> {
  vi.resetModules();
  marks[FRESH] = true;
  return load();
}

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.useRealTimers();
  if (marks[FRESH]) {
    vi.resetModules();
    delete marks[FRESH];
  }
});
