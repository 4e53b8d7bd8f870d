// The earliest time a call can be said to have happened: before it, the recorder's clock was not set.

/**
 * A call time before this is a recorder (or file server) whose clock was not set: a real-time clock
 * reset to 1970, 1980 or 2000-01-01, or a copy that zeroed the file times. Retention counts from a
 * call's start, so such a call would otherwise be deleted by the first purge after it shipped.
 */
export const EARLIEST_CALL_TIME = '2001-01-01T00:00:00.000Z';
export const EARLIEST_CALL_MS = Date.parse(EARLIEST_CALL_TIME);
