import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocal } from './listen.ts';
import { FunctionError } from './local-lambda.ts';

// The local Lambda Invoke endpoint (`POST /2015-03-31/functions/{name}/invocations`) for the
// functions other functions invoke. RequestResponse answers the function's result. Event answers
// 202 and runs afterwards, as Lambda's asynchronous invocation does, with no retry (the only
// function invoked this way, the export, is deployed with none); when that invocation fails (its
// handler throws, it times out, its runtime exits or runs out of memory) the invocation record
// Lambda builds goes to the function's on-failure destination, read from the deployment
// (local/async-destinations.ts), unless its role may not invoke it. Unknown names 404.

/** Lambda's invocation record (version 1.0) of an asynchronous invocation that failed. */
export interface FailedInvocationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: 'RetriesExhausted'; approximateInvokeCount: 1 };
  requestPayload: unknown;
  responseContext: { statusCode: 200; executedVersion: '$LATEST'; functionError: 'Unhandled' };
  responsePayload: { errorType: string; errorMessage: string };
}

/** A function the endpoint serves. */
export interface InvokableFunction {
  /** Its deployed ARN (the record's functionArn). */
  arn: string;
  invoke(payload: unknown): Promise<unknown>;
  /** Where the record of a failed Event invocation goes; `allowed` false: the role may not invoke it, the record is dropped (logged). */
  onFailure?: { name: string; allowed: boolean; deliver(record: FailedInvocationRecord): Promise<unknown> };
}

/** The record Lambda sends on failure, from the invocation's error (a function error carries Lambda's errorType). */
export function failedInvocationRecord(arn: string, requestId: string, payload: unknown, error: unknown, now = new Date()): FailedInvocationRecord {
  const errorType = error instanceof FunctionError ? error.errorType : 'Runtime.ExitError';
  const errorMessage = error instanceof FunctionError ? error.errorMessage : `RequestId: ${requestId} Error: ${error instanceof Error ? error.message : String(error)}`;
  return {
    version: '1.0',
    timestamp: now.toISOString(),
    requestContext: { requestId, functionArn: `${arn}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 1 },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType, errorMessage },
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function startInvokeEndpoint(functions: Record<string, InvokableFunction>, onLog?: (line: string) => void) {
  const log = (fn: string, level: string, message: string) => onLog?.(JSON.stringify({ function: fn, level, message }));
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(status === 202 ? '' : JSON.stringify(body));
  };
  const inFlight = new Set<Promise<unknown>>();
  /** What Lambda does with a failed asynchronous invocation: no retry, the record to the on-failure destination. */
  const failed = async (name: string, fn: InvokableFunction, requestId: string, payload: unknown, error: unknown) => {
    log(name, 'error', `asynchronous invocation failed: ${messageOf(error)}`);
    const destination = fn.onFailure;
    if (!destination) return;
    if (!destination.allowed) return log(name, 'error', `DestinationDeliveryFailures: the role of ${name} may not invoke ${destination.name} (lambda:InvokeFunction); the record is dropped`);
    await destination.deliver(failedInvocationRecord(fn.arn, requestId, payload, error)).catch((e: unknown) => log(destination.name, 'error', `on-failure destination failed: ${messageOf(e)}`));
  };
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url?.split('?')[0] ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !match) return send(res, 404, { Type: 'User', message: `no local Lambda route ${req.method} ${req.url}` });
    const name = decodeURIComponent(match[1]!);
    const fn = functions[name];
    if (!fn) return send(res, 404, { Type: 'User', __type: 'ResourceNotFoundException', message: `Function not found: ${name}` });
    const payload = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (req.headers['x-amz-invocation-type'] === 'Event') {
      const requestId = randomUUID();
      const run = fn
        .invoke(payload)
        .catch((error: unknown) => failed(name, fn, requestId, payload, error))
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
      return send(res, 202, undefined);
    }
    send(res, 200, await fn.invoke(payload));
  };
  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => send(res, 500, { Type: 'Service', message: messageOf(error) }));
  });
  const listening = await listenLocal(server);
  return { url: listening.url, stop: async () => (await Promise.allSettled([...inFlight]), listening.stop()) };
}
