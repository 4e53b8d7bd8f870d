// S3's answers as Ferry errors: one SDK (or network) error becomes the error callers act on, named
// as an operator reads it; an answer that did not come from S3 (a proxy's, a firewall's) is said to be one.
import {
  AlreadyExistsError,
  ArchivedError,
  FerryError,
  IntegrityError,
  InvalidInputError,
  NotFoundError,
  RangeNotSatisfiableError,
  TransientError,
  messageOf,
} from '../core/errors.ts';

/** What a 403 to a read is named: AccessDenied (GET's XML), or, for a HEAD (no body), whatever the SDK makes of a bare status. */
const DENIED = new Set(['AccessDenied', 'Forbidden', 'Unknown', 'UnknownError', '']);

/** S3's own refusal of these credentials, as translateS3Error wrapped it: 403 AccessDenied (a HEAD's bare 403), no KMS reason, not a signature error, not a proxy's answer. */
export function deniedByS3(error: unknown): boolean {
  const cause = (error as { cause?: SdkErrorShape & { message?: string } }).cause;
  const name = cause?.name ?? cause?.Code ?? '';
  return cause?.$metadata?.httpStatusCode === 403 && DENIED.has(name) && !/kms/i.test(cause.message ?? '') && notFromS3(cause) === undefined;
}

/** A read refused as S3 refuses a missing key to a principal that may not list: S3's answer says no more than deniedByS3. */
export const deniedAsMissing = deniedByS3;

/** What an answer said, when the SDK kept its body (a block page names the policy that refused): `: "…"`, or nothing. */
function bodyWords(e: SdkErrorShape): string {
  const text = (e as { $responseBodyText?: string }).$responseBodyText?.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text ? `: "${text.length > 160 ? `${text.slice(0, 160)}…` : text}"` : '';
}

/** What the SDK names an error answer it could not read a code from: its status, not S3's word. */
const STATUS_NAMES = new Set(['Error', 'Unknown', 'UnknownError', 'NotFound', 'Forbidden', 'BadRequest', 'MovedPermanently', 'Found', 'TemporaryRedirect', 'ServiceUnavailable', 'InternalServerError', 'BadGateway', 'GatewayTimeout', 'ProxyAuthenticationRequired']);

/**
 * An HTTP error answer that S3 did not give: every answer of S3 (and of S3-compatible stores)
 * names its request (x-amz-request-id); a proxy's block page or a firewall's refusal does not.
 * Said with what the answer was (its type, its server or proxy), so that the site's network is
 * asked, not the credentials. Undefined for S3's own answers and for errors with no answer.
 */
function notFromS3(e: SdkErrorShape): string | undefined {
  // A body the SDK could not parse at all (a proxy's plain-text 502) leaves the answer only in $response.
  const unparsed = e.$metadata?.httpStatusCode === undefined && e.$response?.statusCode !== undefined;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const headers = e.$response?.headers;
  // An answer whose body was an S3 error document (a named code) is S3's, whatever its headers;
  // the names the SDK makes of a bare status (NotFound, Forbidden…) say nothing of who answered.
  const name = e.name ?? e.Code ?? '';
  const named = !unparsed && name !== '' && !STATUS_NAMES.has(name);
  if (status === undefined || headers === undefined || status < 300 || named) return undefined;
  const header = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  if (e.$metadata?.requestId || header('x-amz-request-id') || header('x-amz-id-2')) return undefined;
  const said = [header('content-type'), header('server') && `server ${header('server')}`, header('via') && `via ${header('via')}`].filter(Boolean).join(', ');
  return `HTTP ${status}${said ? ` (${said})` : ''}${bodyWords(e)} that did not come from S3 (no x-amz-request-id): a proxy or firewall between this machine and the store answered; ask the site's network team (HTTPS_PROXY, the proxy's policy for the store's host)`;
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
const CONFLICT = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);
const INTEGRITY = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);
const INVALID = new Set(['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'InvalidArgument', 'InvalidStorageClass', 'KeyTooLongError']);
const TRANSIENT = new Set([
  // Ferry's XML bodies are written by the SDK: one the store cannot parse was torn on the way.
  'MalformedXML',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
/** Not 501 NotImplemented: asking again will not implement it. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
/** No answer, asked again (as the SDK does): a DNS failure (ENOTFOUND, EAI_AGAIN) too, which a flaky branch line gives for a moment as often as a reset. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  ActualObjectSize?: string | number;
  /** InvalidObjectState: the class the object is in. */
  StorageClass?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** What a store check's failure says of the configuration: the bucket, the endpoint or the key, when S3's answer (or its absence) tells. */
export type StoreFault = 'no-bucket' | 'unreachable' | 'unknown-key' | 'wrong-secret';

/** No answer at all: nothing listens there, the name does not resolve, the network drops it. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

/** The fault of an error translateS3Error made (its cause the SDK's or the network's error); undefined when S3's answer names none of these. */
export function storeFault(error: unknown): StoreFault | undefined {
  const e = ((error as { cause?: unknown }).cause ?? error) as SdkErrorShape;
  const name = e.name ?? e.Code ?? '';
  if (name === 'NoSuchBucket') return 'no-bucket';
  if (name === 'InvalidAccessKeyId') return 'unknown-key';
  if (name === 'SignatureDoesNotMatch') return 'wrong-secret';
  return UNREACHABLE_CODES.has(e.code ?? '') ? 'unreachable' : undefined;
}

/** What the SDK or STS names credentials that expired or a session token the store does not take. */
const EXPIRED_CREDENTIALS = new Set(['ExpiredToken', 'ExpiredTokenException', 'InvalidToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'CredentialsProviderError']);

/**
 * The store (or the credential provider before it) refused the credentials themselves: a key
 * unknown (deleted, deactivated), a secret not the key's, a session expired, no credentials
 * found. Nothing signed with them gets through, an abort neither; what fixes it is other
 * credentials, not the request. A refusal by policy (AccessDenied) is not one: the key still signs.
 */
export function credentialsUnusable(error: unknown): boolean {
  const fault = storeFault(error);
  if (fault === 'unknown-key' || fault === 'wrong-secret') return true;
  for (let e = error as { name?: string; Code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 3; e = e.cause as typeof e, depth++) {
    if (EXPIRED_CREDENTIALS.has(e.name ?? e.Code ?? '')) return true;
  }
  return false;
}

/** Where the credentials a refused request was signed with are set (the configuration's keys, a profile), as the store that sent it knows. */
const SOURCES = new WeakMap<object, string>();

/** `error`, saying where the credentials it was signed with are set (credentialsSourceOf reads it back). */
export function withCredentialsSource<E extends Error>(error: E, source: string): E {
  SOURCES.set(error, source);
  return error;
}

/** Where the credentials of a refused request are set; undefined when the store did not say (the configuration's `cloud.credentials`). */
export function credentialsSourceOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? SOURCES.get(error) : undefined;
}

export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = /\/(\d+)\s*$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function rangeSize(e: SdkErrorShape): number {
  const actual = Number(e.ActualObjectSize);
  if (e.ActualObjectSize !== undefined && Number.isFinite(actual)) return actual;
  return totalFromContentRange(e.$response?.headers?.['content-range']) ?? -1;
}

/**
 * An S3 error as an operator reads it: its name and message. An answer without a body (a HEAD)
 * leaves the SDK nothing but the status: named by it, so that a refused key reads as one, not
 * as "Unknown: UnknownError".
 */
function describeS3Error(name: string, status: number | undefined, message: string): string {
  const unnamed = name === '' || name === 'Unknown' || name === 'UnknownError';
  if (!unnamed) return `${name}: ${message}`;
  const label = status === 403 ? 'HTTP 403 Forbidden (the store refused these credentials or this request: check cloud.credentials and what the role may do)' : status ? `HTTP ${status}` : '';
  if (!label) return message;
  return message === 'UnknownError' || message === 'Unknown' ? label : `${label}: ${message}`;
}

/** An answer a proxy or firewall gave (notFromS3) as the error callers act on: its 502/503/504 (its upstream timed out) is asked again, as S3's own. */
function foreignAnswer(e: SdkErrorShape, what: string, error: unknown): Error | undefined {
  const foreign = notFromS3(e);
  if (foreign === undefined) return undefined;
  return (e.$metadata?.httpStatusCode ?? e.$response?.statusCode ?? 0) >= 500 ? new TransientError(`${what}: ${foreign}`, { cause: error }) : new FerryError('fatal', `${what}: ${foreign}`, { cause: error });
}

/** A TLS certificate this machine does not trust: Node's words for it. */
function untrustedCertificate(error: unknown): boolean {
  return /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/i.test(messageOf(error) + String((error as { code?: string }).code ?? ''));
}

const UNTRUSTED_CERTIFICATE_HINT =
  " (the store's certificate is not one this machine trusts: behind a TLS-intercepting proxy, give the proxy's CA as NODE_EXTRA_CA_CERTS=/path/to/ca.pem; Ferry, like the AWS SDK for JavaScript, does not read AWS_CA_BUNDLE)";

/** Maps one SDK (or network) error to the Ferry error callers act on. Ferry errors pass through. */
export function translateS3Error(error: unknown, operation: string, key: string): Error {
  if (error instanceof FerryError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const foreign = foreignAnswer(e, `S3 ${operation} ${key}`, error);
  if (foreign) return foreign;
  const what = `S3 ${operation} ${key}: ${describeS3Error(name, status, messageOf(error))}${untrustedCertificate(error) ? UNTRUSTED_CERTIFICATE_HINT : ''}`;
  if (name === 'NoSuchBucket') return new FerryError('fatal', what, { cause: error });
  if (NOT_FOUND.has(name) || status === 404) return new NotFoundError(what, { cause: error });
  if (name === 'InvalidRange' || status === 416) {
    const rangeError = new RangeNotSatisfiableError(what, rangeSize(e));
    rangeError.cause = error;
    return rangeError;
  }
  if (CONFLICT.has(name) || status === 412) return new AlreadyExistsError(what, { cause: error });
  if (name === 'InvalidObjectState') {
    const storageClass = e.StorageClass ?? 'an archive class';
    const message =
      `${key} is in the archive tier (${storageClass}); request a recall and play it once it is restored ` +
      `(S3 ${operation}: ${messageOf(error)})`;
    return new ArchivedError(message, storageClass, { cause: error });
  }
  if (INTEGRITY.has(name)) return new IntegrityError(what, { cause: error });
  if (INVALID.has(name)) return new InvalidInputError(what, { cause: error });
  if (TRANSIENT.has(name) || NETWORK_CODES.has(e.code ?? '') || (status !== undefined && TRANSIENT_STATUS.has(status))) {
    return new TransientError(what, { cause: error });
  }
  return new FerryError('fatal', what, { cause: error });
}
