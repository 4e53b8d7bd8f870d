import { afterAll, vi } from 'vitest';

// Test files share one module cache per worker (isolate: false in vitest.config.ts): what a file
// stubs with vi (spies, environment variables, globals, fake timers) is undone when it ends, so
// the next file in the same worker starts from the real thing.
afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});
