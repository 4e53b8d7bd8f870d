import middy from '@middy/core';
import { z } from 'zod';
import { LOCK_OPERATIONS, LockHeldError, type HeldLock, type LockGrant, type LockStore, type ReleaseResult } from '../../core/lock.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { emfCount, type Count } from '../shared/metrics.ts';
import { siteName, taskErrors } from '../shared/task.ts';
import { workflowDeps } from '../shared/workflow-deps.ts';

// The site lock as Step Functions tasks: acquire (LockHeldError is what the workflows retry),
// heartbeat and release (by token), describe (who holds it, for the give-up alert).

const token = z.number().int().positive();

export const lockEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('acquire'), site: siteName, operation: z.enum(LOCK_OPERATIONS), holder: z.string().min(1).max(2048), staleAfterSeconds: z.number().positive() }),
  z.object({ action: z.literal('heartbeat'), site: siteName, token }),
  z.object({ action: z.literal('release'), site: siteName, token }),
  z.object({ action: z.literal('describe'), site: siteName }),
]);
export type LockEvent = z.infer<typeof lockEventSchema>;
export type LockResult = LockGrant | HeldLock | ReleaseResult | null;

export interface LockHandlerDeps {
  locks: LockStore;
  log?: Log;
  count?: Count;
}

export function createHandler(deps: LockHandlerDeps): Handler<unknown, LockResult> {
  const log = deps.log ?? jsonLog;
  const count = deps.count ?? emfCount;
  const chain = middy(async (raw: unknown): Promise<LockResult> => {
    const event = lockEventSchema.parse(raw);
    switch (event.action) {
      case 'acquire': {
        let grant: LockGrant;
        try {
          grant = await deps.locks.acquire({ site: event.site, holder: event.holder, operation: event.operation, staleAfterMs: event.staleAfterSeconds * 1000 });
        } catch (error) {
          // The workflow waits and retries: each refusal is one lock wait.
          if (error instanceof LockHeldError) count('LockWaits', event.site);
          throw error;
        }
        count('LocksAcquired', event.site);
        if (grant.cleared) log('warn', 'stale lock cleared', { site: event.site, cleared: grant.cleared, by: event.holder });
        log('info', 'lock acquired', { site: event.site, operation: event.operation, holder: event.holder, token: grant.token, reentered: grant.reentered });
        return grant;
      }
      case 'heartbeat':
        return deps.locks.heartbeat(event.site, event.token);
      case 'release': {
        const result = await deps.locks.release(event.site, event.token);
        log(result.outcome === 'held-by-other' ? 'warn' : 'info', 'lock release', { ...result });
        return result;
      }
      case 'describe':
        return (await deps.locks.describe(event.site)) ?? null;
    }
  }).use(taskErrors({ log, fn: 'lock' }));
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler(workflowDeps()));
export const createLockHandler = createHandler;
