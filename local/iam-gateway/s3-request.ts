import type { ContextValue } from '../../infra/policy-eval.ts';

// S3 REST request → what IAM authorises: the action, the resource ARN and the condition keys
// S3 puts in the request context. One table for every S3 call the stand-in serves; a call it
// does not know is refused (an unmapped call would otherwise slip through unchecked).
// Path-style only (the local clients use forcePathStyle).

export interface AccessCheck {
  action: string;
  resource: string;
  context: Record<string, ContextValue | undefined>;
}

export interface S3Authorisation {
  /** Every check must allow (CopyObject also reads its source). */
  checks: AccessCheck[];
  /** The data key use S3 makes on the caller's behalf, if any (SSE-KMS). */
  kms?: 'kms:GenerateDataKey' | 'kms:Decrypt';
  /** The unmapped call, when there is no check to make. */
  unknown?: string;
  /** DeleteObjects on this bucket ARN: s3:DeleteObject is checked per key of the body. */
  deleteObjectsIn?: string;
  /** DeleteObjects with `x-amz-bypass-governance-retention: true`: s3:BypassGovernanceRetention is checked per key too. */
  bypassesGovernance?: boolean;
}

export interface S3Request {
  method: string;
  /** Raw path, %-escaped. */
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  /** The body, where a check depends on it (PutObjectRetention's retention). */
  body?: string;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** Object sub-resources whose action is not the verb's default. */
const OBJECT_SUBRESOURCES: Record<string, Partial<Record<string, string>>> = {
  tagging: { GET: 's3:GetObjectTagging', PUT: 's3:PutObjectTagging', DELETE: 's3:DeleteObjectTagging' },
  retention: { GET: 's3:GetObjectRetention', PUT: 's3:PutObjectRetention' },
  'legal-hold': { GET: 's3:GetObjectLegalHold', PUT: 's3:PutObjectLegalHold' },
  acl: { GET: 's3:GetObjectAcl', PUT: 's3:PutObjectAcl' },
  attributes: { GET: 's3:GetObjectAttributes' },
  restore: { POST: 's3:RestoreObject' },
};

const BUCKET_SUBRESOURCES: Record<string, Partial<Record<string, string>>> = {
  uploads: { GET: 's3:ListBucketMultipartUploads' },
  versions: { GET: 's3:ListBucketVersions' },
  location: { GET: 's3:GetBucketLocation' },
  versioning: { GET: 's3:GetBucketVersioning', PUT: 's3:PutBucketVersioning' },
  'object-lock': { GET: 's3:GetBucketObjectLockConfiguration', PUT: 's3:PutBucketObjectLockConfiguration' },
  lifecycle: { GET: 's3:GetLifecycleConfiguration', PUT: 's3:PutLifecycleConfiguration', DELETE: 's3:PutLifecycleConfiguration' },
  policy: { GET: 's3:GetBucketPolicy', PUT: 's3:PutBucketPolicy', DELETE: 's3:DeleteBucketPolicy' },
  cors: { GET: 's3:GetBucketCORS', PUT: 's3:PutBucketCORS', DELETE: 's3:PutBucketCORS' },
  encryption: { GET: 's3:GetEncryptionConfiguration', PUT: 's3:PutEncryptionConfiguration' },
  notification: { GET: 's3:GetBucketNotification', PUT: 's3:PutBucketNotification' },
};

/**
 * Every S3 condition key the gateway supplies when a request carries it. A policy statement that
 * applies to an S3 request and conditions on another `s3:` key is an error (infra/policy-eval.ts
 * `knows`), not a silent pass: a Deny on a key never supplied would never deny.
 */
export const S3_CONDITION_KEYS: ReadonlySet<string> = new Set(
  [
    's3:TlsVersion', 's3:signatureversion', 's3:authType', 's3:prefix', 's3:delimiter', 's3:max-keys',
    's3:ObjectCreationOperation', 's3:if-none-match', 's3:if-match', 's3:x-amz-server-side-encryption', 's3:x-amz-server-side-encryption-aws-kms-key-id', 's3:x-amz-storage-class',
    's3:object-lock-mode', 's3:object-lock-legal-hold', 's3:object-lock-retain-until-date', 's3:object-lock-remaining-retention-days',
  ].map((k) => k.toLowerCase()),
);

/** Whether the gateway supplies `key` for S3 requests (non-S3 keys are left to IAM's absent-key rules). */
export function knowsS3Key(key: string): boolean {
  return !key.toLowerCase().startsWith('s3:') || S3_CONDITION_KEYS.has(key.toLowerCase());
}

const DAY_MS = 86_400_000;

/**
 * The retention keys S3 puts in the context of a write or PutObjectRetention that sets one. The
 * remaining days are rounded up (a part day counts whole): of the roundings S3 might apply, the
 * one that lets the least through a "NumericLessThanEquals" limit.
 */
function retentionContext(mode: string | undefined, until: string | undefined, now: Date): AccessCheck['context'] {
  const at = until === undefined ? Number.NaN : Date.parse(until);
  return {
    's3:object-lock-mode': mode,
    's3:object-lock-retain-until-date': until,
    's3:object-lock-remaining-retention-days': Number.isFinite(at) ? Math.max(0, Math.ceil((at - now.getTime()) / DAY_MS)) : undefined,
  };
}

/** Condition keys S3 sets on object writes, from the request headers. */
function writeContext(headers: S3Request['headers'], creating: boolean, now: Date): AccessCheck['context'] {
  const h = (name: string) => first(headers[name]);
  return {
    's3:ObjectCreationOperation': creating,
    's3:if-none-match': h('if-none-match'),
    's3:if-match': h('if-match'),
    's3:x-amz-server-side-encryption': h('x-amz-server-side-encryption'),
    's3:x-amz-server-side-encryption-aws-kms-key-id': h('x-amz-server-side-encryption-aws-kms-key-id'),
    's3:x-amz-storage-class': h('x-amz-storage-class'),
    ...retentionContext(h('x-amz-object-lock-mode'), h('x-amz-object-lock-retain-until-date'), now),
    's3:object-lock-legal-hold': h('x-amz-object-lock-legal-hold'),
  };
}

/** A write that sets its own Object Lock retention needs s3:PutObjectRetention as well, as on S3 (with the same retention keys). */
function retentionCheck(headers: S3Request['headers'], object: string, now: Date): AccessCheck[] {
  const mode = first(headers['x-amz-object-lock-mode']);
  const until = first(headers['x-amz-object-lock-retain-until-date']);
  return mode !== undefined || until !== undefined ? [{ action: 's3:PutObjectRetention', resource: object, context: retentionContext(mode, until, now) }] : [];
}

/** A write that places a legal hold (the header on PutObject, CopyObject or CreateMultipartUpload) needs s3:PutObjectLegalHold as well, as on S3. */
function legalHoldCheck(headers: S3Request['headers'], object: string): AccessCheck[] {
  const status = first(headers['x-amz-object-lock-legal-hold']);
  return status === undefined ? [] : [{ action: 's3:PutObjectLegalHold', resource: object, context: { 's3:object-lock-legal-hold': status } }];
}

/**
 * A write that tags the object (`x-amz-tagging`) needs s3:PutObjectTagging as well, and one that
 * sets an ACL (`x-amz-acl`, `x-amz-grant-*`) s3:PutObjectAcl, as on S3; no Ferry writer sends either.
 */
function tagAndAclChecks(headers: S3Request['headers'], object: string): AccessCheck[] {
  const names = Object.keys(headers).map((h) => h.toLowerCase());
  const tagging = names.includes('x-amz-tagging') ? [{ action: 's3:PutObjectTagging', resource: object, context: {} }] : [];
  const acl = names.some((h) => h === 'x-amz-acl' || h.startsWith('x-amz-grant-')) ? [{ action: 's3:PutObjectAcl', resource: object, context: {} }] : [];
  return [...tagging, ...acl];
}

/** PutObjectRetention's keys, from its body (`<Retention><Mode>…</Mode><RetainUntilDate>…</RetainUntilDate>`). */
function retentionBodyContext(body: string | undefined, now: Date): AccessCheck['context'] {
  const field = (name: string) => (body === undefined ? undefined : new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(body)?.[1]);
  return retentionContext(field('Mode'), field('RetainUntilDate'), now);
}

/**
 * Whether the request asks S3 to override governance-mode retention. S3 then also requires
 * s3:BypassGovernanceRetention on the object: without that check the stand-in, which honours
 * the header, would let the purge's role (explicitly denied the bypass) or anyone else delete a
 * locked version, or shorten its lock, that AWS keeps (the bucket policy denies the bypass to all).
 */
export function bypassesGovernance(headers: S3Request['headers']): boolean {
  return String(first(headers['x-amz-bypass-governance-retention']) ?? '').trim().toLowerCase() === 'true';
}

function bypassCheck(headers: S3Request['headers'], object: string): AccessCheck[] {
  return bypassesGovernance(headers) ? [{ action: 's3:BypassGovernanceRetention', resource: object, context: {} }] : [];
}

function bucketCall(method: string, bucket: string, query: S3Request['query'], headers: S3Request['headers']): S3Authorisation {
  if (method === 'POST' && 'delete' in query) return { checks: [], deleteObjectsIn: bucket, ...(bypassesGovernance(headers) ? { bypassesGovernance: true } : {}) };
  const sub = Object.keys(query).find((k) => k in BUCKET_SUBRESOURCES);
  if (sub) {
    const action = BUCKET_SUBRESOURCES[sub]![method];
    if (!action) return { checks: [], unknown: `${method} /${bucket}?${sub}` };
    return { checks: [{ action, resource: bucket, context: sub === 'versions' || sub === 'uploads' ? listContext(query) : {} }] };
  }
  if (method === 'GET' || method === 'HEAD') {
    return { checks: [{ action: 's3:ListBucket', resource: bucket, context: method === 'GET' ? listContext(query) : {} }] };
  }
  if (method === 'PUT') return { checks: [{ action: 's3:CreateBucket', resource: bucket, context: {} }] };
  if (method === 'DELETE') return { checks: [{ action: 's3:DeleteBucket', resource: bucket, context: {} }] };
  return { checks: [], unknown: `${method} /${bucket}` };
}

function listContext(query: S3Request['query']): AccessCheck['context'] {
  const q = (name: string) => first(query[name]);
  const maxKeys = q('max-keys');
  return { 's3:prefix': q('prefix'), 's3:delimiter': q('delimiter'), 's3:max-keys': maxKeys === undefined ? undefined : Number(maxKeys) };
}

function objectCall(req: S3Request, object: string, mapBucketArn: (name: string) => string, now: Date): S3Authorisation {
  const { method, query, headers } = req;
  const sub = Object.keys(query).find((k) => k in OBJECT_SUBRESOURCES);
  if (sub) {
    const action = OBJECT_SUBRESOURCES[sub]![method];
    const context = action === 's3:PutObjectRetention' ? retentionBodyContext(req.body, now) : {};
    const bypass = action === 's3:PutObjectRetention' ? bypassCheck(headers, object) : [];
    return action ? { checks: [{ action, resource: object, context }, ...bypass] } : { checks: [], unknown: `${method} ?${sub}` };
  }
  const uploadId = 'uploadId' in query;
  const versioned = 'versionId' in query;
  switch (method) {
    case 'GET':
      if (uploadId) return { checks: [{ action: 's3:ListMultipartUploadParts', resource: object, context: {} }] };
      return { checks: [{ action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: object, context: {} }], kms: 'kms:Decrypt' };
    case 'HEAD': // HEAD is authorised as GetObject, and decrypts nothing
      return { checks: [{ action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: object, context: {} }] };
    case 'PUT': {
      // UploadPart creates nothing visible; PutObject and CopyObject create the object.
      const creating = !('partNumber' in query && uploadId);
      const checks: AccessCheck[] = [{ action: 's3:PutObject', resource: object, context: writeContext(headers, creating, now) }, ...retentionCheck(headers, object, now), ...legalHoldCheck(headers, object), ...tagAndAclChecks(headers, object)];
      const source = first(headers['x-amz-copy-source']);
      if (source) checks.push({ action: 's3:GetObject', resource: copySourceArn(source, mapBucketArn), context: {} });
      return { checks, kms: 'kms:GenerateDataKey' };
    }
    case 'POST':
      // CreateMultipartUpload creates nothing visible yet; CompleteMultipartUpload creates the object.
      if ('uploads' in query || uploadId) {
        const checks: AccessCheck[] = [{ action: 's3:PutObject', resource: object, context: writeContext(headers, !('uploads' in query), now) }];
        const settings = 'uploads' in query ? tagAndAclChecks(headers, object) : [];
        return { checks: [...checks, ...retentionCheck(headers, object, now), ...legalHoldCheck(headers, object), ...settings], kms: 'kms:GenerateDataKey' };
      }
      return { checks: [], unknown: `POST ${req.path}` };
    case 'DELETE':
      if (uploadId) return { checks: [{ action: 's3:AbortMultipartUpload', resource: object, context: {} }] };
      return { checks: [{ action: versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: object, context: {} }, ...bypassCheck(headers, object)] };
    default:
      return { checks: [], unknown: `${method} ${req.path}` };
  }
}

function copySourceArn(source: string, mapBucketArn: (name: string) => string): string {
  const path = decodeURIComponent(source.split('?')[0]!.replace(/^\//, ''));
  const slash = path.indexOf('/');
  return `${mapBucketArn(path.slice(0, slash))}/${path.slice(slash + 1)}`;
}

/**
 * What IAM must allow for this request. `mapBucketArn` turns a local bucket name into the ARN
 * of the deployed bucket it stands for; `now` counts a retention's remaining days. DeleteObjects
 * (POST ?delete) is checked per key by the caller, which has the body.
 */
export function authoriseS3(req: S3Request, mapBucketArn: (name: string) => string, now: Date): S3Authorisation {
  const [bucketPart = '', ...rest] = req.path.replace(/^\//, '').split('/');
  if (!bucketPart) return { checks: [{ action: 's3:ListAllMyBuckets', resource: '*', context: {} }] };
  const bucket = mapBucketArn(decodeURIComponent(bucketPart));
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return bucketCall(req.method, bucket, req.query, req.headers);
  const key = rest.map((s) => decodeURIComponent(s)).join('/');
  return objectCall(req, `${bucket}/${key}`, mapBucketArn, now);
}

/** The keys of a DeleteObjects body (`<Delete><Object><Key>…</Key>…`). */
export function deleteObjectsKeys(body: string): { key: string; versioned: boolean }[] {
  const out: { key: string; versioned: boolean }[] = [];
  for (const m of body.matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1]!)?.[1];
    if (key !== undefined) out.push({ key: unescapeXml(key), versioned: /<VersionId>/.test(m[1]!) });
  }
  return out;
}

function unescapeXml(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
