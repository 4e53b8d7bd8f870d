import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { messageOf } from '../core/errors.ts';
import { Authorizer } from './iam-gateway/authorizer.ts';
import type { CredentialTable } from './iam-gateway/credentials.ts';
import type { LocalDeployment } from './iam-gateway/deployment.ts';
import { escapeXml, readBody } from './iam-gateway/gateway.ts';
import { verifySignature } from './iam-gateway/sigv4.ts';
import { listenLocal } from './listen.ts';

// The alert topic on the local cloud: SNS's Publish (query protocol) for the deployment's topic
// ARN, nothing else. With the local IAM, a Publish must be signed by a principal of the
// deployment whose synthesized policies allow sns:Publish on the topic (else 403
// AuthorizationError, as SNS answers); without, anything is taken. Each message is handed to
// `onPublish` (the local cloud appends it to alerts.jsonl and keeps it for tests).

export interface PublishedAlert {
  topicArn: string;
  subject?: string;
  message: string;
  /** The principal that published it (`function:deadman`), when IAM is on. */
  principal?: string;
  at: string;
}

export interface SnsStandInOptions {
  topicArn: string;
  iam?: { deployment: LocalDeployment; credentials: CredentialTable };
  onPublish(alert: PublishedAlert): void;
}

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function fail(res: ServerResponse, status: number, type: 'Sender' | 'Receiver', code: string, message: string): void {
  const requestId = randomUUID();
  answer(res, status, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
}

export async function startSnsStandIn(options: SnsStandInOptions): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const authorizer = options.iam && new Authorizer(options.iam.deployment);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const form = new URLSearchParams(body.toString('utf8'));
    let principal: string | undefined;
    if (options.iam && authorizer) {
      const [path, search = ''] = (req.url ?? '/').split('?');
      const query = Object.fromEntries(new URLSearchParams(search));
      const caller = await verifySignature({ method: req.method ?? 'POST', path: path!, query, headers: req.headers, body }, options.iam.credentials, new Date());
      if ('code' in caller) return fail(res, 403, 'Sender', caller.code === 'InvalidAccessKeyId' ? 'InvalidClientTokenId' : 'SignatureDoesNotMatch', caller.message);
      const identity = options.iam.deployment.principals.get(caller.principal)?.policies ?? [];
      const denial = authorizer.check(caller.arn, identity, { action: 'sns:Publish', resource: String(form.get('TopicArn')), context: {} });
      if (denial) return fail(res, 403, 'Sender', 'AuthorizationError', denial.message);
      principal = caller.principal;
    }
    if (form.get('Action') !== 'Publish') return fail(res, 400, 'Sender', 'InvalidAction', `the local SNS stand-in serves Publish only, not ${form.get('Action')}`);
    if (form.get('TopicArn') !== options.topicArn) return fail(res, 404, 'Sender', 'NotFound', `Topic does not exist: ${form.get('TopicArn')}`);
    const message = form.get('Message');
    if (!message) return fail(res, 400, 'Sender', 'InvalidParameter', 'Invalid parameter: Message');
    const subject = form.get('Subject') ?? undefined;
    options.onPublish({ topicArn: options.topicArn, message, at: new Date().toISOString(), ...(subject ? { subject } : {}), ...(principal ? { principal } : {}) });
    const id = randomUUID();
    answer(res, 200, `<PublishResponse xmlns="${XMLNS}"><PublishResult><MessageId>${id}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => fail(res, 500, 'Receiver', 'InternalError', messageOf(error)));
  });
  const listening = await listenLocal(server);
  return { endpoint: listening.url, stop: listening.stop };
}
