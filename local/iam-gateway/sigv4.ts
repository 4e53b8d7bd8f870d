import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { CredentialTable, CredentialEntry, LocalCredentials } from './credentials.ts';

// SigV4 as AWS checks it: the Authorization header is parsed, the canonical request is rebuilt
// from what arrived (the signed headers only, the path as sent, the query decoded) and signed
// again with the secret of the key id it names, by the same @smithy/signature-v4 the SDK signs
// with; the two signatures must be equal, and the request time within 15 minutes of ours.
// The payload hash is the client's `x-amz-content-sha256` when it sent one (S3), else the
// SHA-256 of the body (DynamoDB, Step Functions).

export type Service = 's3' | 'dynamodb' | 'states';

export interface IncomingSigned {
  method: string;
  /** The raw path, as sent (still %-escaped). */
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  /** The body, when buffered; absent for a streamed S3 body (its hash is in a header). */
  body?: Buffer;
}

export type SignatureFailure = {
  code: 'MissingAuthentication' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed' | 'IncompleteSignature';
  message: string;
};

const MAX_SKEW_MS = 15 * 60_000;
const AUTH = new RegExp(
  '^AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([a-z0-9;.-]+), ?Signature=([0-9a-f]{64})$',
);

/** node:crypto behind the hash interface the signer takes. */
class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

function header(headers: IncomingSigned['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function signer(service: Service, region: string, credentials: LocalCredentials): SignatureV4 {
  return new SignatureV4({ service, region, credentials, sha256: NodeSha256, uriEscapePath: service !== 's3', applyChecksum: false });
}

function parseAmzDate(text: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text ?? '');
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

/** The principal whose secret produced the request's signature, or why there is none. */
export async function verifySignature(
  request: IncomingSigned,
  table: CredentialTable,
  now: Date,
): Promise<CredentialEntry | SignatureFailure> {
  const auth = header(request.headers, 'authorization');
  if (!auth && typeof request.query['X-Amz-Signature'] === 'string') return verifyPresigned(request, table, now);
  if (!auth) return { code: 'MissingAuthentication', message: 'Request is missing Authentication Token' };
  const m = AUTH.exec(auth);
  if (!m) return { code: 'IncompleteSignature', message: 'Authorization header is not a well-formed AWS4-HMAC-SHA256 signature' };
  const [, keyId, , region, service, signedList, signature] = m as unknown as string[];
  const entry = table.lookup(keyId!);
  if (!entry) return { code: 'InvalidAccessKeyId', message: `The AWS Access Key Id ${keyId} you provided does not exist in our records.` };
  const date = parseAmzDate(header(request.headers, 'x-amz-date'));
  if (!date) return { code: 'IncompleteSignature', message: 'X-Amz-Date is missing or malformed' };
  if (Math.abs(date.getTime() - now.getTime()) > MAX_SKEW_MS) {
    return { code: 'RequestTimeTooSkewed', message: 'The difference between the request time and the current time is too large.' };
  }
  const signed = signedList!.split(';');
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = header(request.headers, name);
    if (value === undefined) return { code: 'SignatureDoesNotMatch', message: `signed header ${name} is absent` };
    headers[name] = value;
  }
  const again = await signer(service as Service, region!, entry).sign(
    { method: request.method, protocol: 'http:', hostname: '', path: request.path, query: request.query, headers, body: request.body },
    { signingDate: date, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(again.headers.authorization))?.[1] ?? '';
  if (expected.length !== signature!.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
    const message = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    return { code: 'SignatureDoesNotMatch', message };
  }
  return entry;
}

const PRESIGN_CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/;

/**
 * A presigned (query) request, as S3 checks one: the X-Amz-* parameters parsed, the link not
 * expired, and the signature recomputed over the rest of the query and the signed headers,
 * with the payload UNSIGNED-PAYLOAD (the console's bundle download links).
 */
async function verifyPresigned(request: IncomingSigned, table: CredentialTable, now: Date): Promise<CredentialEntry | SignatureFailure> {
  const q = (name: string) => (typeof request.query[name] === 'string' ? (request.query[name] as string) : undefined);
  const credential = PRESIGN_CREDENTIAL.exec(q('X-Amz-Credential') ?? '');
  const date = parseAmzDate(q('X-Amz-Date'));
  const expires = Number(q('X-Amz-Expires'));
  const signedList = q('X-Amz-SignedHeaders');
  const signature = q('X-Amz-Signature') ?? '';
  if (q('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !credential || !date || !signedList || !Number.isInteger(expires) || expires < 1 || expires > 604_800) {
    return { code: 'IncompleteSignature', message: 'the presigned query is not a well-formed AWS4-HMAC-SHA256 signature' };
  }
  const [, keyId, , region, service] = credential as unknown as string[];
  const entry = table.lookup(keyId!);
  if (!entry) return { code: 'InvalidAccessKeyId', message: `The AWS Access Key Id ${keyId} you provided does not exist in our records.` };
  if (now.getTime() > date.getTime() + expires * 1000) return { code: 'RequestTimeTooSkewed', message: 'Request has expired' };
  const signed = signedList.split(';');
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = header(request.headers, name);
    if (value === undefined) return { code: 'SignatureDoesNotMatch', message: `signed header ${name} is absent` };
    headers[name] = value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.query)) {
    if (!/^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Content-Sha256)$/.test(name)) query[name] = value;
  }
  headers['x-amz-content-sha256'] = q('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
  const again = await signer(service as Service, region!, entry).presign(
    { method: request.method, protocol: 'http:', hostname: '', path: request.path, query, headers },
    { signingDate: date, expiresIn: expires, signableHeaders: new Set(signed) },
  );
  const expected = String(again.query?.['X-Amz-Signature'] ?? '');
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return { code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.' };
  }
  return entry;
}

/** The headers to send upstream: the request signed again with the stand-in's own key, for `host`. */
export async function resign(
  request: IncomingSigned,
  service: Service,
  region: string,
  host: string,
  credentials: LocalCredentials,
): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || ['authorization', 'x-amz-date', 'x-amz-security-token', 'host', 'connection'].includes(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  headers.host = host;
  // A streamed body is not hashed again: the client's hash header (UNSIGNED-PAYLOAD for Ferry's clients) goes on.
  const { method, path, query, body } = request;
  const signed = await signer(service, region, credentials).sign({ method, protocol: 'http:', hostname: host, path, query, headers, body });
  return signed.headers as Record<string, string>;
}
