import { GetActivityTaskCommand, SFNClient, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { TaskLostError, type ActivityClient, type ActivityTask } from '../core/activity.ts';
import { FerryError, TransientError, messageOf } from '../core/errors.ts';
import type { AwsClientOptions } from './aws-clients.ts';
import { requestHandler } from './http-handler.ts';

// ActivityClient on Step Functions: GetActivityTask (a long poll of up to 60 s, so the request
// and idle timeouts are longer), SendTaskHeartbeat/Success/Failure. The agent role may call exactly
// these on its own site's activity and nothing else.

const LOST = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);
const TRANSIENT = new Set(['ThrottlingException', 'ServiceUnavailable', 'InternalServerError', 'TimeoutError', 'RequestTimeout', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

function translate(error: unknown, operation: string): Error {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `Step Functions ${operation} failed: ${name}: ${messageOf(error)}`;
  if (LOST.has(name)) return new TaskLostError(message, { cause: error });
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500)) return new TransientError(message, { cause: error });
  return new FerryError('fatal', message, { cause: error });
}

/** An SFN client for the activity: sockets outlive the 60 s long poll. Region/endpoint as for the other clients. */
export function createSfnClient(opts: AwsClientOptions = {}): SFNClient {
  const region = opts.region ?? (opts.endpoint === undefined ? undefined : 'us-east-1');
  return new SFNClient({
    ...(region === undefined ? {} : { region }),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    ...(opts.maxAttempts === undefined ? {} : { maxAttempts: opts.maxAttempts }),
    // The long poll answers within 60 s: a request silent for longer than 70 s is a lost connection.
    requestHandler: requestHandler({ endpoint: opts.endpoint, maxSockets: 4, timeouts: { idleMs: 70_000 }, requestTimeoutMs: 70_000 }),
  });
}

export class SfnActivityClient implements ActivityClient {
  constructor(
    private readonly sfn: SFNClient,
    private readonly activityArn: string,
  ) {}

  async poll(workerName: string, signal?: AbortSignal): Promise<ActivityTask | undefined> {
    if (signal?.aborted) return undefined;
    try {
      const out = await this.sfn.send(new GetActivityTaskCommand({ activityArn: this.activityArn, workerName: workerName.slice(0, 80) }), { abortSignal: signal });
      return out.taskToken ? { taskToken: out.taskToken, input: out.input ?? '{}' } : undefined;
    } catch (error) {
      if (signal?.aborted) return undefined;
      throw translate(error, 'GetActivityTask');
    }
  }

  async heartbeat(taskToken: string): Promise<void> {
    await this.call('SendTaskHeartbeat', () => this.sfn.send(new SendTaskHeartbeatCommand({ taskToken })));
  }

  async succeed(taskToken: string, output: string): Promise<void> {
    await this.call('SendTaskSuccess', () => this.sfn.send(new SendTaskSuccessCommand({ taskToken, output })));
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    await this.call('SendTaskFailure', () => this.sfn.send(new SendTaskFailureCommand({ taskToken, error, cause })));
  }

  private async call(operation: string, send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      throw translate(error, operation);
    }
  }
}
