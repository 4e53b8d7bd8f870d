import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { RecallRequest, RecallStarter } from '../core/recall.ts';
import { listenLocal, type Listening } from './listen.ts';

// The local Step Functions StartExecution of the recall state machine (AWS JSON 1.0): what the
// catalogue function calls to start a recall, handed to the site's local recall workflow. It
// refuses what Step Functions refuses before an execution starts (StartExecution's constraints):
// an input of more than 262,144 bytes of UTF-8 (ValidationException; the execution's state has the
// same limit, local/stepfunctions.ts), input that is not JSON (InvalidExecutionInput), a name not
// of 1-80 characters (ValidationException) or holding whitespace, brackets, wildcards, control
// characters or any of " # % \ ^ | ~ ` $ & , ; : / (InvalidName).

export const MAX_EXECUTION_INPUT_BYTES = 262_144;
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

interface Refusal {
  __type: string;
  message: string;
}

/** Step Functions' refusal of a StartExecution request, or undefined when it would start. */
export function startExecutionRefusal(body: { input?: string; name?: string }): Refusal | undefined {
  const bytes = Buffer.byteLength(body.input ?? '', 'utf8');
  if (bytes > MAX_EXECUTION_INPUT_BYTES) {
    return { __type: 'ValidationException', message: `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${MAX_EXECUTION_INPUT_BYTES} (it is ${bytes} bytes of UTF-8)` };
  }
  try {
    JSON.parse(body.input ?? '{}');
  } catch {
    return { __type: 'InvalidExecutionInput', message: 'Invalid State Machine Execution Input: the input is not JSON' };
  }
  const { name } = body;
  if (name !== undefined && (name.length < 1 || name.length > 80)) {
    return { __type: 'ValidationException', message: `1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length between 1 and 80 (it is ${name.length})` };
  }
  if (name !== undefined && NAME_FORBIDDEN.test(name)) return { __type: 'InvalidName', message: `Invalid Name: '${name}'` };
  return undefined;
}

export async function startRecallEndpoint(stateMachineArn: string, recallFor: (site: string) => RecallStarter | undefined): Promise<Listening> {
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify(body));
  };
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { stateMachineArn?: string; input?: string; name?: string };
    if (req.headers['x-amz-target'] !== 'AWSStepFunctions.StartExecution') {
      return send(res, 400, { __type: 'UnknownOperationException', message: `the local recall endpoint serves StartExecution only` });
    }
    const refused = startExecutionRefusal(body);
    if (refused) return send(res, 400, refused);
    const missing = (message: string) => send(res, 400, { __type: 'StateMachineDoesNotExist', message });
    if (body.stateMachineArn !== stateMachineArn) return missing(`no state machine ${body.stateMachineArn}`);
    const request = JSON.parse(body.input ?? '{}') as RecallRequest;
    const starter = recallFor(request.site);
    if (!starter) return missing(`no local recall workflow runs for site ${request.site}`);
    const { execution } = await starter.startRecall(request);
    send(res, 200, { executionArn: execution, startDate: Date.now() / 1000 });
  };
  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      send(res, 500, { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) });
    });
  });
  return listenLocal(server);
}
