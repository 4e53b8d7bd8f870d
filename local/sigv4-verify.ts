import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sigV4Signer } from '../adapters/sigv4.ts';

// Verifies AWS SigV4 on the local stand-ins of the catalogue API (API Gateway, IAM auth,
// service `execute-api`) and the replay Function URL (AWS_IAM, service `lambda`): the signature
// is recomputed with @smithy/signature-v4 from what arrived and the secret of the access key
// it names. Header and presigned (query) forms; refusals are 403 with AWS's own wording.

export interface SigV4Refusal {
  ok: false;
  errorType: 'MissingAuthenticationTokenException' | 'UnrecognizedClientException' | 'InvalidSignatureException';
  message: string;
}
export type SigV4Result = { ok: true; accessKeyId: string } | SigV4Refusal;

export interface SigV4Request {
  method: string;
  /** The path as it arrived (still %-encoded). */
  rawPath: string;
  searchParams: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface SigV4Policy {
  service: 'execute-api' | 'lambda';
  region: string;
  /** Secret access key by access key id. */
  secrets: ReadonlyMap<string, string>;
  now: () => Date;
  /** Presigned links whose signature was already recomputed (a player fetches one link in many ranges). */
  verified?: VerifiedLinks;
}

/**
 * The presigned requests whose signature matched, by everything the signature was computed
 * from: method, raw path, the whole query (X-Amz-Signature, -Date, -Expires and -Credential
 * included), the signed headers' values, and the secret it matched with. A request equal in all
 * of them has the same signature, so recomputing it again (a canonical request, its hash and an
 * HMAC) is skipped; every other check (the key still known with that secret, scope, expiry)
 * still runs on every request, and a different signature, link or secret is a miss. At most
 * `max` links are kept, the oldest dropped first.
 */
export class VerifiedLinks {
  private readonly links = new Map<string, string>();
  constructor(private readonly max = 2000) {}

  has(material: string, secret: string): boolean {
    return this.links.get(material) === secret;
  }

  add(material: string, secret: string): void {
    if (this.links.size >= this.max) this.links.delete(this.links.keys().next().value!);
    this.links.set(material, secret);
  }
}

const MAX_SKEW_MS = 5 * 60_000;
const CREDENTIAL = /^([A-Za-z0-9]{3,128})\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request$/;
const AUTH_HEADER = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

const refuse = (errorType: SigV4Refusal['errorType'], message: string): SigV4Refusal => ({ ok: false, errorType, message });
const invalid = (message: string) => refuse('InvalidSignatureException', message);
const mismatch = () =>
  refuse(
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
  );

function parseAmzDate(value: string | undefined): Date | undefined {
  const m = value === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

interface Parsed {
  credential: string;
  signedHeaders: string[];
  signature: string;
  date: string | undefined;
  expires?: number;
}

function parse(req: SigV4Request): Parsed | SigV4Refusal {
  const q = req.searchParams;
  if (q.has('X-Amz-Signature')) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return invalid('X-Amz-Algorithm must be AWS4-HMAC-SHA256');
    const expires = Number(q.get('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 1 || expires > 604_800) return invalid('X-Amz-Expires must be 1-604800 seconds');
    const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
    const credential = q.get('X-Amz-Credential') ?? '';
    return { credential, signedHeaders, signature: q.get('X-Amz-Signature') ?? '', date: q.get('X-Amz-Date') ?? undefined, expires };
  }
  const header = req.headers.authorization;
  if (header === undefined) return refuse('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_HEADER.exec(header);
  if (!m) return refuse('InvalidSignatureException', 'Authorization header is not a valid AWS4-HMAC-SHA256 signature');
  return { credential: m[1]!, signedHeaders: m[2]!.split(';'), signature: m[3]!, date: headerValue(req.headers, 'x-amz-date') };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Checks one request; the access key id is the caller's identity. */
export async function verifySigV4(req: SigV4Request, policy: SigV4Policy): Promise<SigV4Result> {
  const parsed = parse(req);
  if ('ok' in parsed) return parsed;
  const cred = CREDENTIAL.exec(parsed.credential);
  if (!cred) return refuse('InvalidSignatureException', 'Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request');
  const [, accessKeyId, day, region, service] = cred as unknown as [string, string, string, string, string];
  const secret = policy.secrets.get(accessKeyId);
  if (secret === undefined) return refuse('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (service !== policy.service || region !== policy.region) {
    return invalid(`Credential should be scoped to a valid region (${policy.region}) and service (${policy.service})`);
  }
  const signingDate = parseAmzDate(parsed.date);
  if (!signingDate || parsed.date?.slice(0, 8) !== day) return invalid('X-Amz-Date is missing or does not match the credential date');
  const now = policy.now().getTime();
  if (parsed.expires !== undefined) {
    if (now > signingDate.getTime() + parsed.expires * 1000) return invalid('Signature expired: the link is no longer valid');
  } else if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    return refuse('InvalidSignatureException', 'Signature expired: the request time is too far from the server time');
  }
  if (!parsed.signedHeaders.includes('host')) return refuse('InvalidSignatureException', "SignedHeaders must include 'host'");
  const material = parsed.expires === undefined || !policy.verified ? undefined : linkMaterial(req, parsed, policy.service, region);
  if (material !== undefined && policy.verified!.has(material, secret)) return { ok: true, accessKeyId };
  const expected = await recompute(req, parsed, { accessKeyId, secret, region, signingDate, service: policy.service });
  if (expected === undefined || !sameHex(expected, parsed.signature)) return mismatch();
  if (material !== undefined) policy.verified!.add(material, secret);
  return { ok: true, accessKeyId };
}

/** What a presigned request's signature is computed from (undefined when a signed header is absent). */
function linkMaterial(req: SigV4Request, parsed: Parsed, service: string, region: string): string | undefined {
  const values: string[] = [];
  for (const name of parsed.signedHeaders) {
    const value = headerValue(req.headers, name);
    if (value === undefined) return undefined;
    values.push(`${name}:${value}`);
  }
  return [service, region, req.method, req.rawPath, req.searchParams.toString(), ...values].join('\n');
}

async function recompute(
  req: SigV4Request,
  parsed: Parsed,
  k: { accessKeyId: string; secret: string; region: string; signingDate: Date; service: 'execute-api' | 'lambda' },
): Promise<string | undefined> {
  const presigned = parsed.expires !== undefined;
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of req.searchParams) {
    // presign() adds the X-Amz-* parameters itself; a header signature covers all of them.
    if (presigned && /^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature)$/.test(name)) continue;
    const prior = query[name];
    query[name] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  const headers: Record<string, string> = {};
  for (const name of parsed.signedHeaders) {
    const value = headerValue(req.headers, name);
    if (value === undefined) return undefined;
    headers[name] = value;
  }
  const signer = sigV4Signer(k.service, k.region, { accessKeyId: k.accessKeyId, secretAccessKey: k.secret }, { applyChecksum: false });
  const signableHeaders = new Set(parsed.signedHeaders);
  const request = { method: req.method, protocol: 'http:', hostname: 'localhost', path: req.rawPath, query, headers };
  if (presigned) {
    const signed = await signer.presign(request, { signingDate: k.signingDate, expiresIn: parsed.expires, signableHeaders });
    const sig = signed.query?.['X-Amz-Signature'];
    return typeof sig === 'string' ? sig : undefined;
  }
  const signed = await signer.sign(request, { signingDate: k.signingDate, signableHeaders });
  return /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
}
