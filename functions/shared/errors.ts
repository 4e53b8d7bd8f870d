import type { MiddlewareObj } from '@middy/core';
import { ZodError } from 'zod';
import { FerryError, InvalidInputError, httpStatusOf, messageOf } from '../../core/errors.ts';
import { json, type HttpEvent, type HttpResult } from './http.ts';
import { jsonLog, type Log } from './log.ts';

// The one place domain errors become HTTP: FerryError kinds via httpStatusOf, zod issues
// as 400 naming every bad field, anything else a 500 whose detail goes to the log only.

export function errorResponse(error: unknown, log: Log = jsonLog): HttpResult {
  if (error instanceof ZodError) {
    const issues = error.issues.map((i) => ({ field: fieldOf(i), message: i.message }));
    const message = `invalid request: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`;
    return json(400, { error: 'InvalidInputError', message, issues });
  }
  const status = httpStatusOf(error);
  if (error instanceof InvalidInputError && error.field !== undefined) {
    return json(400, { error: error.name, message: error.message, issues: [{ field: error.field, message: error.message }] });
  }
  if (error instanceof FerryError && status < 500) return json(status, { error: error.name, message: error.message });
  // 5xx: the caller learns the class of failure, the log gets the detail (keys, SDK errors).
  log('error', 'request failed', { error: error instanceof Error ? error.name : 'Error', detail: messageOf(error), stack: error instanceof Error ? error.stack : undefined });
  if (error instanceof FerryError && error.kind === 'transient') {
    return json(503, { error: error.name, message: 'temporarily unavailable, please retry' }, { 'Retry-After': '1' });
  }
  return json(500, { error: error instanceof FerryError ? error.name : 'InternalError', message: 'internal error' });
}

function fieldOf(issue: ZodError['issues'][number]): string {
  if (issue.code === 'unrecognized_keys') return issue.keys.join(', ');
  return issue.path.join('.') || '(request)';
}

/** middy onError: turns every error into an HTTP result, so API Gateway never sees a raw throw. */
export function httpErrors(options: { log?: Log } = {}): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    name: 'httpErrors',
    onError: (request) => {
      request.response = errorResponse(request.error, options.log);
    },
  };
}
