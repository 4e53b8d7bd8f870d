// The one place AWS SDK clients are built. Callers (composition roots) pass every option;
// nothing here reads process.env, so the same code targets AWS, the local stand-ins or MinIO.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { requestHandler, type RequestTimeouts } from './http-handler.ts';

export { REQUEST_TIMEOUTS, useProxyEnvironment } from './http-handler.ts';
import type { Logger } from '@smithy/types';
import { DirectGetHandler } from './direct-get.ts';

export interface AwsClientOptions {
  region?: string;
  /** A custom endpoint (local stand-in, MinIO, Ceph RGW); absent means AWS itself. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Sockets per host; default 64 (pack uploads run many parts in parallel). */
  maxSockets?: number;
  /** SDK attempts per call, including the first; SDK default when absent. */
  maxAttempts?: number;
  /** How long a connection may take to open, and a request stay silent (no byte either way); see REQUEST_TIMEOUTS. */
  timeouts?: RequestTimeouts;
}

export interface S3ClientOptions extends AwsClientOptions {
  /** Defaults to true when an endpoint is given (stand-ins have no virtual-host DNS). */
  forcePathStyle?: boolean;
  /**
   * GET bodies read straight into the caller's buffer (`direct-get.ts`: `readInto` on the body),
   * for a client that downloads many large ranges; every other request as usual.
   */
  directGets?: boolean;
}

/** The SDK needs a region even for stand-ins, which ignore it. Against AWS, an absent region is
 * left to the SDK's own resolution (AWS_REGION, shared config) on purpose. */
const STAND_IN_REGION = 'us-east-1';

/**
 * The SDK logs every call by evaluating `logger?.info?.({ input: filter(input), output:
 * filter(output) })`: with its default logger (whose `info` does nothing) each call still walks
 * its whole input and output through the sensitive-data filter (a Query of 50 entries, every
 * attribute) to build a record nobody reads. A logger without `info` skips that: the optional
 * call is not made, so its arguments are not evaluated. Warnings and errors still reach the
 * SDK's default behaviour (nothing), as before.
 */
export const SDK_LOGGER = { trace() {}, debug() {}, warn() {}, error() {} } as unknown as Logger;

function commonConfig(opts: AwsClientOptions, wrap: (h: NodeHttpHandler) => NodeHttpHandler | DirectGetHandler = (h) => h) {
  const region = opts.region ?? (opts.endpoint === undefined ? undefined : STAND_IN_REGION);
  return {
    ...(region === undefined ? {} : { region }),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    ...(opts.maxAttempts === undefined ? {} : { maxAttempts: opts.maxAttempts }),
    requestHandler: wrap(requestHandler(opts)),
    logger: SDK_LOGGER,
  };
}

/**
 * Over plain HTTP the SDK signs every body, hashing each byte once more with SHA-256 (a
 * second of CPU per GB). Ferry does not rely on that signature for integrity: it verifies
 * every object it publishes. So requests to an endpoint carry `UNSIGNED-PAYLOAD` (which AWS
 * S3 itself uses over HTTPS), and the signer, seeing the header set, hashes nothing.
 */
function signWithoutPayloadHash(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers && !Object.keys(request.headers).some((h) => h.toLowerCase() === 'x-amz-content-sha256')) {
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'ferryUnsignedPayload' },
  );
}

export function createS3Client(opts: S3ClientOptions = {}): S3Client {
  const config: S3ClientConfig = {
    ...commonConfig(opts, opts.directGets ? (h) => new DirectGetHandler(h) : undefined),
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
  };
  if (opts.endpoint !== undefined) {
    // Stand-ins store an unsolicited aws-chunked body (checksum trailer) verbatim, and do not
    // return checksums: only compute or validate them when an operation requires it.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  const client = new S3Client(config);
  if (opts.endpoint !== undefined) signWithoutPayloadHash(client);
  return client;
}

export function createDynamoClients(opts: AwsClientOptions = {}): { client: DynamoDBClient; doc: DynamoDBDocumentClient } {
  const client = new DynamoDBClient(commonConfig(opts));
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { client, doc };
}
