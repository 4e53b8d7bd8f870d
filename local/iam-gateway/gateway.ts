import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../../core/clock.ts';
import { Authorizer, type Denial } from './authorizer.ts';
import type { CredentialEntry, CredentialTable, LocalCredentials } from './credentials.ts';
import type { LocalDeployment } from './deployment.ts';
import { authoriseDynamo, authoriseStates, type JsonAuthorisation, type TableSchema } from './json-request.ts';
import { authoriseS3, deleteObjectsKeys, knowsS3Key, type AccessCheck } from './s3-request.ts';
import { resign, verifySignature, type IncomingSigned, type Service, type SignatureFailure } from './sigv4.ts';
import { listenLocal } from '../listen.ts';

// A loopback reverse proxy in front of one stand-in (s3rver, dynalite, the local activity
// server) that does what AWS does before a request reaches the service: verify its SigV4
// signature against the local credential table, map it to IAM action + resource + context
// (s3-request.ts, json-request.ts), evaluate the deployment's policies (authorizer.ts) and
// answer a denial as the service would (S3: 403 XML AccessDenied; DynamoDB and Step Functions:
// 400 JSON AccessDeniedException). An allowed request goes on unchanged, signed again with
// the stand-in's own key (s3rver only knows its built-in account).

export interface GatewayOptions {
  service: Service;
  /** The stand-in behind the gateway (`http://127.0.0.1:port`). */
  upstream: string;
  /** The key the stand-in accepts. */
  upstreamCredentials: LocalCredentials;
  deployment: LocalDeployment;
  credentials: CredentialTable;
  /** Local bucket name → deployed bucket name (S3). */
  buckets?: Record<string, string>;
  /** Local activity ARN → deployed activity ARN (Step Functions; otherwise mapped by name). */
  activities?: Record<string, string>;
  /** Local table name → deployed schema (DynamoDB). */
  tables?: Record<string, TableSchema>;
  clock?: Clock;
  /** Every decision, for tests and logs. */
  onDecision?: (decision: { principal: string; checks: AccessCheck[]; denial?: Denial }) => void;
}

export interface IamGateway {
  endpoint: string;
  stop(): Promise<void>;
}

type Refusal = { status: number; code: string; message: string };

function refuse(res: ServerResponse, service: Service, r: Refusal): void {
  const requestId = randomUUID();
  if (service === 's3') {
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${r.code}</Code>` +
      `<Message>${escapeXml(r.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
    res.writeHead(r.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml), 'x-amz-request-id': requestId });
    res.end(xml);
    return;
  }
  const prefix = service === 'dynamodb' ? 'com.amazon.coral.service#' : '';
  const body = JSON.stringify({ __type: `${prefix}${r.code}`, message: r.message });
  res.writeHead(r.status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': requestId,
  });
  res.end(body);
}

/** Text made safe inside an XML element or attribute (the S3 and SNS stand-ins' error bodies). */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** How each service names a signature failure (S3: 403 with its own codes; JSON services: 400). */
function signatureRefusal(service: Service, f: SignatureFailure): Refusal {
  const s3Codes: Record<SignatureFailure['code'], string> = {
    MissingAuthentication: 'AccessDenied',
    InvalidAccessKeyId: 'InvalidAccessKeyId',
    SignatureDoesNotMatch: 'SignatureDoesNotMatch',
    RequestTimeTooSkewed: 'RequestTimeTooSkewed',
    IncompleteSignature: 'AuthorizationHeaderMalformed',
  };
  const jsonCodes: Record<SignatureFailure['code'], string> = {
    MissingAuthentication: 'MissingAuthenticationTokenException',
    InvalidAccessKeyId: 'UnrecognizedClientException',
    SignatureDoesNotMatch: 'InvalidSignatureException',
    RequestTimeTooSkewed: 'InvalidSignatureException',
    IncompleteSignature: 'IncompleteSignatureException',
  };
  const code = (service === 's3' ? s3Codes : jsonCodes)[f.code];
  return { status: service === 's3' ? 403 : 400, code, message: f.message };
}

/** A request's (or an upstream answer's) whole body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The query parameters of a presigned request's signature, which never go upstream. */
const PRESIGN_PARAMS = /^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token|Content-Sha256)$/;

function parseUrl(url: string): { path: string; query: Record<string, string | string[]> } {
  const q = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
      const had = query[k];
      query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
  }
  return { path: q >= 0 ? url.slice(0, q) : url, query };
}

/** What every S3 request through the gateway carries for IAM conditions: TLS 1.3, a SigV4 header. */
const S3_REQUEST_CONTEXT = { 's3:TlsVersion': 1.3, 's3:signatureversion': 'AWS4-HMAC-SHA256', 's3:authType': 'REST-HEADER' };

/**
 * S3 tells a caller that an object does not exist (404) only when it may also list the bucket
 * (`s3:ListBucket` on it); to any other it answers 403 AccessDenied, as for an object it may
 * not read. Asked with no `s3:prefix`, as a GET carries none: a grant of ListBucket limited to
 * prefixes is not counted (the stricter reading of what AWS documents). A read of a key that
 * may be missing must therefore come from a role that may list, or take 403 as absent.
 */
function mayLearnAbsence(authorizer: Authorizer, deployment: GatewayOptions['deployment'], caller: CredentialEntry, checks: AccessCheck[]): boolean {
  const read = checks.length === 1 && (checks[0]!.action === 's3:GetObject' || checks[0]!.action === 's3:GetObjectVersion') ? checks[0]!.resource : undefined;
  if (read === undefined) return true;
  const bucket = read.slice(0, read.indexOf('/', read.indexOf(':::') + 3));
  const identity = deployment.principals.get(caller.principal)?.policies ?? [];
  return authorizer.check(caller.arn, identity, { action: 's3:ListBucket', resource: bucket, context: S3_REQUEST_CONTEXT }, deployment.bucketPolicy, knowsS3Key) === undefined;
}

export async function startIamGateway(options: GatewayOptions): Promise<IamGateway> {
  const { service, deployment } = options;
  const clock = options.clock ?? systemClock;
  const authorizer = new Authorizer(deployment);
  const upstream = new URL(options.upstream);
  /** Step Functions: which activity each task token belongs to (learnt from GetActivityTask answers). */
  const activityOfToken = new Map<string, string>();
  const bucketArn = (name: string) => `arn:${deployment.env.partition}:s3:::${options.buckets?.[name] ?? name}`;
  const { partition, region, account } = deployment.env;
  const tableArn = (name: string) => `arn:${partition}:dynamodb:${region}:${account}:table/${name}`;
  const tableSchema = (name: string): TableSchema => options.tables?.[name] ?? { arn: tableArn(name), partitionKey: '', indexes: {} };
  const mapStatesArn = (arn: string) => {
    if (options.activities?.[arn]) return options.activities[arn];
    const m = /^arn:[\w-]+:states:[^:]*:[^:]*:activity:(.+)$/.exec(arn);
    return m ? deployment.activityArn(m[1]!) : arn;
  };

  function authorise(caller: CredentialEntry, incoming: IncomingSigned): { checks: AccessCheck[]; denial?: Denial; unknown?: string } {
    const identity = deployment.principals.get(caller.principal)?.policies ?? [];
    if (service !== 's3') {
      const body = incoming.body && incoming.body.length > 0 ? (JSON.parse(incoming.body.toString('utf8')) as Record<string, unknown>) : {};
      const target = String(incoming.headers['x-amz-target'] ?? '');
      const mapped: JsonAuthorisation =
        service === 'dynamodb'
          ? authoriseDynamo(target, body, tableSchema, tableArn('*'))
          : authoriseStates(target, body, mapStatesArn, (t) => activityOfToken.get(t));
      for (const check of mapped.checks) {
        const denial = authorizer.check(caller.arn, identity, check);
        if (denial) return { checks: mapped.checks, denial };
      }
      return { checks: mapped.checks, unknown: mapped.unknown };
    }
    const mapped = authoriseS3({ ...incoming, body: incoming.body?.toString('utf8') }, bucketArn, clock.now());
    const checks = mapped.deleteObjectsIn
      ? deleteObjectsKeys(incoming.body?.toString('utf8') ?? '').flatMap((k) => {
          const resource = `${mapped.deleteObjectsIn}/${k.key}`;
          const deletion = { action: k.versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource, context: {} };
          return mapped.bypassesGovernance ? [deletion, { action: 's3:BypassGovernanceRetention', resource, context: {} }] : [deletion];
        })
      : mapped.checks;
    for (const check of checks) {
      const denial = authorizer.check(caller.arn, identity, { ...check, context: { ...S3_REQUEST_CONTEXT, ...check.context } }, deployment.bucketPolicy, knowsS3Key);
      if (denial) return { checks, denial };
    }
    const kmsDenial = mapped.kms ? authorizer.checkDataKey(caller.arn, identity, mapped.kms) : undefined;
    return { checks, denial: kmsDenial, unknown: mapped.unknown };
  }

  async function forward(req: IncomingMessage, res: ServerResponse, incoming: IncomingSigned, mayKnowAbsent: () => boolean = () => true): Promise<void> {
    const headers = await resign(incoming, service, deployment.env.region, upstream.host, options.upstreamCredentials);
    if (incoming.body) headers['content-length'] = String(incoming.body.length);
    const learn = service === 'states' && String(incoming.headers['x-amz-target']).endsWith('.GetActivityTask');
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      if (answer.statusCode === 404 && !mayKnowAbsent()) {
        answer.resume();
        refuse(res, service, { status: 403, code: 'AccessDenied', message: 'Access Denied (the object does not exist, and this principal may not list the bucket: s3:ListBucket)' });
        return;
      }
      if (!learn) {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, date: String(res.getHeader('Date')) });
        answer.pipe(res);
        return;
      }
      void readBody(answer).then((text) => {
        const token = (JSON.parse(text.toString('utf8') || '{}') as { taskToken?: string }).taskToken;
        const arn = (JSON.parse(incoming.body?.toString('utf8') || '{}') as { activityArn?: string }).activityArn;
        if (token && arn) activityOfToken.set(token, mapStatesArn(arn));
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(text);
      });
    });
    up.on('error', (e) => {
      if (res.headersSent) res.destroy(e);
      else refuse(res, service, { status: 502, code: 'ServiceUnavailable', message: `stand-in unreachable: ${e.message}` });
    });
    res.on('close', () => up.destroy());
    if (incoming.body) up.end(incoming.body);
    else req.pipe(up);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = parseUrl(req.url ?? '/');
    // JSON bodies are small and part of the decision; S3 bodies stream through (their hash is a header).
    // PutObjectRetention's body (a few hundred bytes) holds the retention IAM conditions on.
    const buffer = service !== 's3' || (req.method === 'POST' && 'delete' in query) || (req.method === 'PUT' && 'retention' in query);
    const body = buffer ? await readBody(req) : undefined;
    const incoming: IncomingSigned = { method: req.method ?? 'GET', path, query, headers: req.headers, body };
    // Every answer dated by the gateway's clock, as AWS dates its own: the SDK corrects a client's skew from it.
    res.setHeader('Date', clock.now().toUTCString());
    // A refused streamed body is drained, as S3 does, so the connection stays usable.
    if (!buffer) res.on('finish', () => req.resume());
    const caller = await verifySignature(incoming, options.credentials, clock.now());
    if ('code' in caller) return refuse(res, service, signatureRefusal(service, caller));
    let decision: ReturnType<typeof authorise>;
    try {
      decision = authorise(caller, incoming);
    } catch (error) {
      const code = service === 's3' ? 'InvalidRequest' : 'ValidationException';
      return refuse(res, service, { status: 400, code, message: `cannot read the request: ${(error as Error).message}` });
    }
    options.onDecision?.({ principal: caller.principal, checks: decision.checks, denial: decision.denial });
    // S3 answers a denial 403 AccessDenied; the JSON services 400 AccessDeniedException.
    const denied = (message: string) =>
      refuse(res, service, service === 's3' ? { status: 403, code: 'AccessDenied', message } : { status: 400, code: 'AccessDeniedException', message });
    if (decision.unknown) return denied(`the local IAM gateway does not know how to authorise ${decision.unknown}`);
    if (decision.denial) return denied(decision.denial.message);
    // A presigned request goes upstream signed by the gateway alone (one auth mechanism, as S3 demands).
    if (!incoming.headers.authorization && 'X-Amz-Signature' in incoming.query) {
      const query = Object.fromEntries(Object.entries(incoming.query).filter(([name]) => !PRESIGN_PARAMS.test(name)));
      const search = new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]))).toString();
      req.url = search ? `${incoming.path}?${search}` : incoming.path;
      return forward(req, res, { ...incoming, query }, () => mayLearnAbsence(authorizer, deployment, caller, decision.checks));
    }
    await forward(req, res, incoming, () => service !== 's3' || mayLearnAbsence(authorizer, deployment, caller, decision.checks));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!res.headersSent) refuse(res, service, { status: 500, code: 'InternalError', message });
      else res.destroy();
    });
  });
  const { url, stop } = await listenLocal(server, {});
  return { endpoint: url, stop };
}
