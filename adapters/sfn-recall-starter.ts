import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { FerryError, TransientError, messageOf } from '../core/errors.ts';
import type { RecallRequest, RecallStarter } from '../core/recall.ts';

// RecallStarter on Step Functions: StartExecution of the recall state machine with the request
// as input (`{ site, rid, requester }`, what infra/workflows/recall.ts reads). The catalogue
// function's role may start exactly this state machine.

const TRANSIENT = new Set([
  'ThrottlingException',
  'ExecutionLimitExceeded',
  'ServiceUnavailable',
  'InternalServerError',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
]);

function translate(error: unknown): Error {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `Step Functions StartExecution (recall) failed: ${name}: ${messageOf(error)}`;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500)) return new TransientError(message, { cause: error });
  return new FerryError('fatal', message, { cause: error });
}

export class SfnRecallStarter implements RecallStarter {
  constructor(
    private readonly sfn: Pick<SFNClient, 'send'>,
    private readonly stateMachineArn: string,
  ) {}

  async startRecall(request: RecallRequest): Promise<{ execution: string }> {
    try {
      const out = await this.sfn.send(new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, input: JSON.stringify(request) }));
      if (!out.executionArn) throw new FerryError('fatal', 'Step Functions StartExecution (recall) returned no executionArn');
      return { execution: out.executionArn };
    } catch (error) {
      throw translate(error);
    }
  }
}
