import type { ZodError } from 'zod';

/**
 * A schema's complaints as `path: message` lines, the path dotted (`calls.3.rid`); an issue about
 * the value as a whole is named by `whole` (`(root)`, `(input)`, `(job)`…), never left blank.
 */
export function zodProblems(error: ZodError, whole = '(root)', prefix = ''): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? prefix + i.path.join('.') : whole}: ${i.message}`);
}
