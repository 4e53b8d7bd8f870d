import { afterAll, beforeAll, vi } from 'vitest';
import { restoreEnv } from './env.ts';

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

// The environment as the file found it: a variable a file sets without vi.stubEnv (FERRY_BUCKET
// pointing at its own stand-in, long stopped) changes what the next file's commands talk to.
let envAtStart: Record<string, string | undefined> = {};
// process.env itself, as Node made it: assigning process.env.TZ on it changes the process's time
// zone; a plain object put in its place (`process.env = { ...saved }`) takes the variables but
// not that, so a later file in the same worker that sets TZ (test/cli/at-time.test.ts) still
// ran in the old zone. Kept on globalThis: this module is evaluated again for every file.
const realEnv = ((globalThis as { __ferryRealEnv?: NodeJS.ProcessEnv }).__ferryRealEnv ??= process.env);

beforeAll(() => {
  envAtStart = { ...process.env };
});

/** The variables `now` has that differ from `before` (set, changed or removed). */
export function envChanges(before: Record<string, string | undefined>, now: Record<string, string | undefined>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(now)])].filter((k) => before[k] !== now[k]).sort();
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
  if (process.env !== realEnv) {
    const replaced = { ...process.env };
    process.env = realEnv;
    restoreEnv(replaced);
    throw new Error('this file replaced process.env with another object (process.env = …): restore variables in place (restoreEnv in test/support/env.ts), or a later file setting TZ keeps the old time zone');
  }
  const changed = envChanges(envAtStart, process.env);
  if (changed.length > 0) {
    for (const k of changed) {
      if (envAtStart[k] === undefined) delete process.env[k];
      else process.env[k] = envAtStart[k];
    }
    throw new Error(`this file left the environment changed (${changed.join(', ')}): set variables with vi.stubEnv, which is undone when the file ends`);
  }
});
