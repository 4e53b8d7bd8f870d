import type { MiddlewareObj } from '@middy/core';
import { InvalidInputError } from '../../core/errors.ts';
import type { HttpEvent, HttpResult } from './http.ts';

// A query string whose escapes are not %-encoded UTF-8 is refused, naming the parameter, as a
// malformed path segment is (decodePathSegment). What the front door makes of one is not
// documented for HTTP APIs (REST APIs answer 400 to a stray `%`; a lenient decoder reads `%` as
// itself and `%ff` as U+FFFD): the function reads the raw query string and decides itself, so
// `agent=%ff%fe` is not searched for, or audited, as "��".

const ESCAPE = /%(?![0-9A-Fa-f]{2})/;

function decodes(text: string): boolean {
  if (ESCAPE.test(text)) return false;
  try {
    decodeURIComponent(text.replace(/\+/g, ' '));
    return true;
  } catch {
    return false;
  }
}

/** Throws an InvalidInputError naming the first parameter whose name or value is not valid %-encoded UTF-8. */
export function checkQueryEncoding(rawQueryString: string | undefined): void {
  if (!rawQueryString) return;
  for (const part of rawQueryString.split('&')) {
    if (!part) continue;
    const at = part.indexOf('=');
    const name = at === -1 ? part : part.slice(0, at);
    const value = at === -1 ? '' : part.slice(at + 1);
    if (!decodes(name)) {
      throw new InvalidInputError(`query: parameter name "${name}" is not valid %-encoded UTF-8 (a % starts a %XX escape; escaped bytes must be UTF-8)`, { field: 'query' });
    }
    if (!decodes(value)) {
      const field = decodeURIComponent(name.replace(/\+/g, ' '));
      throw new InvalidInputError(`${field}: "${value}" is not valid %-encoded UTF-8 (a % starts a %XX escape; escaped bytes must be UTF-8)`, { field });
    }
  }
}

/** middy before: refuses (400, through httpErrors) a request whose query string is not valid %-encoded UTF-8. */
export function queryEncoding(): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    name: 'queryEncoding',
    before: (request) => {
      checkQueryEncoding(request.event.rawQueryString);
    },
  };
}
