import { z } from 'zod';
import { MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, RECORDING_DIRECTIONS, RECORDING_SORTS } from '../../core/catalogue-table.ts';
import { NAME_PATTERN } from '../../core/layout.ts';
import { SEALED_CURSOR_PATTERN } from '../../core/paging.ts';

// Request parameter schemas shared by the HTTP functions. Messages name the parameter's
// rule; the error middleware prefixes each with the parameter's name.

export const siteSchema = z
  .string({ required_error: 'is required' })
  .regex(NAME_PATTERN, 'must be a site name: 1-63 lowercase letters, digits or dashes');

/** An ISO 8601 date-time with a zone, in the years the catalogue keeps (1 to 9999): refused here, naming the parameter, before any read or audit record. */
export const isoTime = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a zone, e.g. 2026-03-01T08:00:00Z' })
  .refine((v) => {
    const at = new Date(v);
    // Not a time at all: the format's message says so, alone.
    if (Number.isNaN(at.getTime())) return true;
    return at.getUTCFullYear() >= 1 && at.getUTCFullYear() <= 9999;
  }, 'must be a time between the years 1 and 9999 (UTC)');

/** Page size from a query string: 1..MAX_PAGE_SIZE, default DEFAULT_PAGE_SIZE. */
export const limitSchema = z
  .string()
  .regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_PAGE_SIZE}`)
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, `must be an integer from 1 to ${MAX_PAGE_SIZE}`)
  .default(String(DEFAULT_PAGE_SIZE));

/** An opaque cursor handed back unchanged (sealed: see core/paging.ts). */
export const cursorSchema = z.string().regex(SEALED_CURSOR_PATTERN, 'is malformed: pass back the cursor of the previous page unchanged');
/** Whole seconds of a call's duration (0 to 9,999,999). */
const seconds = z.string().regex(/^\d{1,7}$/, 'must be a whole number of seconds (0 to 9999999)').transform(Number);
const text = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');

export const searchParamsSchema = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    agent: text.optional(),
    number: text.optional(),
    callId: text.optional(),
    direction: z.enum(RECORDING_DIRECTIONS, { errorMap: () => ({ message: `must be one of ${RECORDING_DIRECTIONS.join(', ')}` }) }).optional(),
    minDuration: seconds.optional(),
    maxDuration: seconds.optional(),
    sort: z.enum(RECORDING_SORTS, { errorMap: () => ({ message: `must be one of ${RECORDING_SORTS.join(', ')}` }) }).optional(),
    limit: limitSchema,
    cursor: cursorSchema.optional(),
  })
  .strict('unknown parameter (allowed: from, to, agent, number, callId, direction, minDuration, maxDuration, sort, limit, cursor)')
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) <= Date.parse(q.to), {
    message: 'must not be after to',
    path: ['from'],
  })
  .refine((q) => q.minDuration === undefined || q.maxDuration === undefined || q.minDuration <= q.maxDuration, {
    message: 'must not be more than maxDuration',
    path: ['minDuration'],
  });

export type SearchParams = z.infer<typeof searchParamsSchema>;
