import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ActivityApiError, type LocalActivityService } from './activity-service.ts';
import { listenLocal } from './listen.ts';

// The activity half of the Step Functions API on loopback (AWS JSON 1.0 protocol:
// `X-Amz-Target: AWSStepFunctions.GetActivityTask`, JSON bodies, errors as `__type`), so an
// agent in another process polls the local cloud through the real SDK and SfnActivityClient,
// exactly as it polls AWS. Only the four calls an activity worker makes are served.

export interface ActivityServer {
  endpoint: string;
  stop(): Promise<void>;
}

const JSON_TYPE = 'application/x-amz-json-1.0';

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function startActivityServer(service: LocalActivityService, options: { port?: number; pollWaitMs?: number } = {}): Promise<ActivityServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : '';
      try {
        const body = await readJson(req);
        switch (operation) {
          case 'GetActivityTask': {
            const aborted = new AbortController();
            res.on('close', () => aborted.abort());
            const task = await service.getActivityTask(String(body.activityArn), options.pollWaitMs ?? 60_000, aborted.signal);
            return send(res, 200, task ? { taskToken: task.taskToken, input: task.input } : {});
          }
          case 'SendTaskHeartbeat':
            service.sendTaskHeartbeat(String(body.taskToken));
            return send(res, 200, {});
          case 'SendTaskSuccess':
            service.sendTaskSuccess(String(body.taskToken), String(body.output));
            return send(res, 200, {});
          case 'SendTaskFailure':
            service.sendTaskFailure(String(body.taskToken), String(body.error ?? ''), String(body.cause ?? ''));
            return send(res, 200, {});
          default:
            return send(res, 400, { __type: 'UnknownOperationException', message: `the local activity server does not serve ${target || '(no target)'}` });
        }
      } catch (error) {
        if (error instanceof ActivityApiError) return send(res, 400, { __type: error.code, message: error.message });
        return send(res, 500, { __type: 'InternalFailure', message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  const { url, stop } = await listenLocal(server, { port: options.port });
  return { endpoint: url, stop };
}
