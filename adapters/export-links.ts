import { TransientError } from '../core/errors.ts';
import type { ExportJob, ExportStarter } from '../core/exports.ts';
import { sigV4Signer, signedFetch, type SigningCredentials } from './sigv4.ts';

// The console's two AWS calls for case exports, signed with its own role: an asynchronous
// Lambda Invoke of the export function (InvocationType Event: Lambda answers 202 and runs it,
// retrying on failure), and a presigned S3 GET of a finished bundle (a link a browser follows
// for five minutes, that downloads under the bundle's name).

export interface ExportInvokerOptions {
  functionName: string;
  region: string;
  /** The Lambda endpoint (AWS_ENDPOINT_URL_LAMBDA locally); default the region's. */
  endpoint?: string;
  credentials?: SigningCredentials;
}

/** Starts the export function asynchronously; TransientError when Lambda does not accept it. */
export function lambdaExportStarter(o: ExportInvokerOptions): ExportStarter {
  const base = (o.endpoint ?? `https://lambda.${o.region}.amazonaws.com`).replace(/\/$/, '');
  return {
    async start(job: ExportJob): Promise<void> {
      const url = `${base}/2015-03-31/functions/${encodeURIComponent(o.functionName)}/invocations`;
      const res = await signedFetch(url, {
        service: 'lambda',
        region: o.region,
        credentials: o.credentials,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
        body: JSON.stringify(job),
      });
      if (res.status !== 202) throw new TransientError(`Lambda Invoke of ${o.functionName} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    },
  };
}

export interface BundleLinkOptions {
  bucket: string;
  region: string;
  /** The S3 endpoint (AWS_ENDPOINT_URL_S3 locally: path style); default the region's virtual host. */
  endpoint?: string;
  credentials?: SigningCredentials;
}

/** RFC 6266 attachment with an ASCII fallback and the UTF-8 name. */
function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\;]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** Presigns a GET of `key` that downloads as `filename`, valid `expiresIn` seconds. */
export function s3BundleLinks(o: BundleLinkOptions): (key: string, filename: string, expiresIn: number) => Promise<string> {
  return async (key, filename, expiresIn) => {
    const base = new URL(o.endpoint ?? `https://${o.bucket}.s3.${o.region}.amazonaws.com`);
    const pathStyle = o.endpoint !== undefined;
    const escapedKey = key.split('/').map(encodeURIComponent).join('/');
    const path = `${base.pathname.replace(/\/$/, '')}${pathStyle ? `/${o.bucket}` : ''}/${escapedKey}`;
    const query = { 'response-content-disposition': attachment(filename), 'x-id': 'GetObject' };
    const signed = await sigV4Signer('s3', o.region, o.credentials).presign(
      { method: 'GET', protocol: base.protocol, hostname: base.hostname, ...(base.port ? { port: Number(base.port) } : {}), path, query, headers: { host: base.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { expiresIn },
    );
    // RFC 3986 escaping, as SigV4 canonicalizes the query (URLSearchParams would write spaces as `+`).
    const rfc3986 = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const search = Object.entries(signed.query ?? {}).map(([k, v]) => `${rfc3986(k)}=${rfc3986(Array.isArray(v) ? v.join(',') : String(v))}`);
    return `${base.protocol}//${base.host}${path}?${search.join('&')}`;
  };
}
