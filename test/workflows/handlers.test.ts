import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { createLockHandler } from '../../functions/lock/handler.ts';
import { createWindowHandler } from '../../functions/window/handler.ts';
import { loadWorkflowDeps } from '../../functions/shared/workflow-deps.ts';

// The workflow functions as Step Functions sees them: errors reach Retry/Catch by name.

const log = () => undefined;

describe('workflow task handlers', () => {
  it('throw LockHeldError by name, and InvalidInputError for malformed task input', async () => {
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock());
    const lock = createLockHandler({ locks, log });
    await lock({ action: 'acquire', site: 'site-a', operation: 'purge', holder: 'a', staleAfterSeconds: 43200 });
    await expect(lock({ action: 'acquire', site: 'site-a', operation: 'backup', holder: 'b', staleAfterSeconds: 43200 })).rejects.toMatchObject({ name: 'LockHeldError' });
    await expect(lock({ action: 'acquire', site: 'Site A', operation: 'backup', holder: 'b', staleAfterSeconds: 1 })).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringContaining('site: must be a site name') });
    await expect(lock({ action: 'steal', site: 'site-a' })).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(await lock({ action: 'describe', site: 'nowhere' })).toBeNull();
  });

  it('refuses a report from another site', async () => {
    const window = createWindowHandler({ blobs: new MemoryBlobStore(), runs: new MemoryRunStore(), clock: new ManualClock(), log });
    const report = { format: 'ferry.window-report/1', site: 'site-b', startedAt: '2026-03-01T02:00:00Z', finishedAt: '2026-03-01T03:00:00Z', packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, manifests: [] };
    await expect(window({ action: 'verify', site: 'site-a', report })).rejects.toMatchObject({ name: 'InvalidInputError' });
  });

  it('build their dependencies from the environment, listing every problem', () => {
    expect(() => loadWorkflowDeps({})).toThrow(/BUCKET[\s\S]*TABLE/);
    expect(loadWorkflowDeps({ BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', AWS_REGION: 'eu-west-1' }).locks).toBeDefined();
  });
});
