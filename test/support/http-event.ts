import type { HttpEvent } from '../../functions/shared/http.ts';

export function httpEvent(
  method: string,
  path: string,
  opts: { pathParameters?: Record<string, string>; query?: Record<string, string>; headers?: Record<string, string>; principal?: string } = {},
): HttpEvent {
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    headers: opts.headers ?? {},
    queryStringParameters: opts.query,
    pathParameters: opts.pathParameters,
    requestContext: {
      http: { method },
      authorizer: opts.principal ? { jwt: { claims: { sub: opts.principal } } } : undefined,
    },
  };
}

/** Collects audit events and gives a fixed clock. */
export function auditTrail() {
  const events: import('../../functions/shared/audit.ts').AuditEvent[] = [];
  return { events, audit: (e: (typeof events)[number]) => void events.push(e), clock: { now: () => new Date('2026-04-01T12:00:00Z') } };
}
