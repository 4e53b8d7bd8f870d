import type { MiddlewareObj } from '@middy/core';
import { z, ZodError } from 'zod';
import { InvalidInputError, messageOf } from '../../core/errors.ts';
import { NAME_PATTERN } from '../../core/layout.ts';
import { workflowConfigSchema } from '../../core/workflow-config.ts';
import { jsonLog, type Log } from './log.ts';
import { zodProblems } from '../../core/zod-problems.ts';

// Plumbing of the functions called as Step Functions tasks. A task's error reaches the
// workflow by its `name` (Retry and Catch match on it), so names must be stable: FerryErrors
// carry theirs (LockHeldError, LockLostError, …), a zod rejection becomes InvalidInputError.

export const siteName = z.string().regex(NAME_PATTERN, 'must be a site name');

/** The orchestration numbers a state passes along (data written into the definition by infra/workflows). */
export const taskConfigSchema = workflowConfigSchema.partial().default({});

/** Step Functions' `{ Error, Cause }` of a caught error. */
export const taskErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() }).passthrough();

export function taskErrors(options: { log?: Log; fn: string }): MiddlewareObj<unknown, unknown> {
  const log = options.log ?? jsonLog;
  return {
    name: 'taskErrors',
    onError: (request) => {
      const error = request.error;
      if (error instanceof ZodError) {
        const problems = zodProblems(error, '(input)').join('; ');
        request.error = new InvalidInputError(`${options.fn}: invalid task input: ${problems}`, { cause: error });
      }
      const e = request.error;
      log(e instanceof Error && e.name === 'LockHeldError' ? 'info' : 'error', `${options.fn} task failed`, { error: e instanceof Error ? e.name : 'Error', detail: messageOf(e) });
      // Rethrown by middy: Lambda reports it with errorType = error.name.
    },
  };
}
