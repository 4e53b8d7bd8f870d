import type { Readable } from 'node:stream';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';

// The slice of API Gateway HTTP API (payload 2.0) events and results the functions use.
// Declared here rather than pulled from @types/aws-lambda: the local server builds the
// same shape from a node:http request, so it is the contract between the two.

export interface HttpEvent {
  version?: '2.0';
  routeKey?: string;
  rawPath: string;
  rawQueryString?: string;
  /** Lower-case names (API Gateway lower-cases them; the local server does too). */
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  pathParameters?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: {
    http: { method: string; path?: string; sourceIp?: string; userAgent?: string };
    requestId?: string;
    authorizer?: {
      jwt?: { claims?: Record<string, string | number | boolean | string[] | undefined> };
      iam?: { userArn?: string; accessKey?: string };
      lambda?: Record<string, unknown>;
    };
  };
}

/** A streaming-capable result: the local server pipes a Readable body; in AWS it is wrapped for response streaming. */
export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable | string;
}

export function json(statusCode: number, value: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(value),
  };
}

export function header(event: HttpEvent, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()];
}

/** Who is asking, as the authorizer saw them; undefined when the route is not authenticated (local). */
export function principalOf(event: HttpEvent): string | undefined {
  const auth = event.requestContext.authorizer;
  const claims = auth?.jwt?.claims;
  const claim = claims?.email ?? claims?.['cognito:username'] ?? claims?.sub;
  if (typeof claim === 'string') return claim;
  if (auth?.iam?.userArn) return auth.iam.userArn;
  const lambda = auth?.lambda?.principal;
  return typeof lambda === 'string' ? lambda : undefined;
}

/** The request's JSON body (`{}` when there is none); a body that is not JSON is the client's mistake (400 naming `body`). */
export function jsonBody(event: HttpEvent): unknown {
  if (!event.body) return {};
  const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new InvalidInputError('body: must be a JSON object');
  }
}

const emptyBody = z.object({}).strict('unknown field (this route takes no body fields)');

/** A POST route that takes no body: none, or `{}`; any field is refused (400 naming each), as an unknown query parameter is. */
export function noBodyFields(event: HttpEvent): void {
  emptyBody.parse(jsonBody(event));
}
