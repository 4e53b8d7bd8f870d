import middy from '@middy/core';
import { z } from 'zod';
import { checkRecall, failRecall, failedRecallSchema, recallRequestSchema, recallStateSchema, requestRecall, type RecallDeps, type RecallFailure, type RecallState } from '../../core/recall.ts';
import { workflowConfig } from '../../core/workflow-config.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { taskConfigSchema, taskErrors } from '../shared/task.ts';
import { workflowDeps } from '../shared/workflow-deps.ts';

// The recall's steps: request (find the pack, ask S3 for a restore when it is archived) and
// check (each poll after the workflow's Wait). Both return the recall state, with the notice
// text once it is ready or given up. fail (the Catch of both) sets the pack's status record to
// gave-up and returns the requester's notice with the site and requester its publish carries.

export const recallEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('request'), request: recallRequestSchema, config: taskConfigSchema }),
  z.object({ action: z.literal('check'), recall: recallStateSchema, config: taskConfigSchema }),
  z.object({ action: z.literal('fail'), run: failedRecallSchema, execution: z.string().optional(), config: taskConfigSchema }),
]);

export interface RecallHandlerDeps extends RecallDeps {
  log?: Log;
}

export function createHandler(deps: RecallHandlerDeps): Handler<unknown, RecallState | RecallFailure> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (raw: unknown): Promise<RecallState | RecallFailure> => {
    const event = recallEventSchema.parse(raw);
    if (event.action === 'fail') {
      const failure = await failRecall(deps, event.run, event.execution);
      log('warn', 'recall failed', { site: failure.site, requester: failure.requester, recorded: failure.recorded, error: event.run.error?.Error });
      return failure;
    }
    const config = workflowConfig(event.config);
    const state = event.action === 'request' ? await requestRecall(deps, event.request, config) : await checkRecall(deps, event.recall, config);
    log('info', `recall ${event.action}`, { site: state.site, packKey: state.packKey, state: state.state, polls: state.polls, storageClass: state.storageClass });
    return state;
  }).use(taskErrors({ log, fn: 'recall' }));
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler(workflowDeps()));
export const createRecallHandler = createHandler;
