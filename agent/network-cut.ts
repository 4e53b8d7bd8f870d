// A failure of a request that a pause and the same request again may cure: its connection was cut
// on the way (reset, closed, the line down for a few seconds), as opposed to a store that does not
// answer in its time (the pass's stall rule, agent/ship-recordings.ts) or one that refuses.
import { setTimeout as delay } from 'node:timers/promises';
import { FerryError, IntegrityError, messageOf } from '../core/errors.ts';

// A part so cut is sent again by the uploader (after the SDK's own retries, which a line that
// drops for a few seconds outlasts): the parts already stored stay, where failing the part sent
// the whole object again from its first byte (hours of a full backup over a slow line).

/** The store's name did not resolve: DNS failing for a moment, as a flaky line's does, is cured as a cut is. */
const DNS_CODES = ['ENOTFOUND', 'EAI_AGAIN'];

/** The DNS error code under `error` (the store's name did not resolve), if that is what it is. */
export function dnsFailure(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && DNS_CODES.includes(e.code)) return e.code;
  }
  return /\b(ENOTFOUND|EAI_AGAIN)\b/.exec(messageOf(error))?.[1];
}

/** Times a part is sent when its connection was cut on the way, the pause doubling between (1, 2, 4, 8 s). */
const CUT_SENDS = 5;

/** Whether a part whose send number `send` failed with `error` is to be sent again: a cut, not too often; after the pause. */
export async function resendAfterCut(error: unknown, send: number, firstPauseMs = 1_000): Promise<boolean> {
  if (!cutOnTheWay(error) || send >= CUT_SENDS) return false;
  await delay(firstPauseMs * 2 ** (send - 1));
  return true;
}

const CUT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ECONNABORTED', 'ENETUNREACH', 'EHOSTUNREACH', ...DNS_CODES]);
/** A part's failure that a pause and another send may cure: the connection cut (or the store's name not resolving for a moment), not the store silent or refusing. */
export function cutOnTheWay(error: unknown): boolean {
  if (!(error instanceof FerryError) || !error.retryable || error instanceof IntegrityError) return false;
  // The SDK names a reset 'TimeoutError' too ('TimeoutError: socket hang up'): the store's silence is said by the time waited.
  const message = messageOf(error);
  if (/timed out after \d+ ms|did not establish a connection/.test(message)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' && CUT_CODES.has(code)) || /socket hang up|ECONNRESET|EPIPE|other side closed|ENOTFOUND|EAI_AGAIN/.test(message);
}
