import { sentence } from '../core/alert-text.ts';
import type { Alert } from '../core/ports.ts';
import type { AlertBook, RaiseOutcome } from './state/alert-book.ts';
import { STALLED_UPLOAD_HOURS, STORE_ANSWERED, lineFailure } from './upload-keep.ts';

// A shipping that failed because the store could not be reached (the line down, the store's name
// not resolving, the store unavailable or asking to slow down) is not alerted as it happens: a
// branch line that drops for minutes comes back by itself, and while the store stays out of
// reach the heartbeat's page (`the heartbeat cannot be written to the store`, after an hour) is
// the one alert for the cause, with what to do. Alerted at once, each backup, log and recordings
// source that had work in that pass paged on its own, with nothing to do but wait. A file or
// source still not shipped for that cause STALLED_UPLOAD_HOURS after the first pass that failed
// so (the line drops only long uploads, the heartbeat gets through) is alerted then, critical,
// as a stalled upload is; a failure the store answered (a refusal, a file that is not whole) is
// alerted at once, as before.

type HeldAlert = Omit<Alert, 'key'>;

const GRACE_MS = STALLED_UPLOAD_HOURS * 3_600_000;

/**
 * Raises `key` for a shipping that failed with `error`: at once (`now`) when the store answered,
 * else `unreached(since, reason)` once the failure has lasted the grace, and not while the
 * heartbeat's own alert is open (it pages the same cause).
 */
export function raiseShipFailure(alerts: AlertBook, key: string, error: unknown, now: HeldAlert, unreached: (since: string, reason: string) => HeldAlert): Promise<RaiseOutcome> {
  const reason = lineFailure(error);
  // An upload worth going on with may still have been answered by the store (RequestTimeTooSkewed, a torn body): not the line down.
  if (reason === undefined || reason.startsWith(STORE_ANSWERED)) return alerts.raise(key, now);
  return alerts.raiseAfter(key, GRACE_MS, (since) => unreached(since, reason), alerts.get('heartbeat') !== undefined);
}

const hoursSince = (since: string, now: Date) => Math.max(STALLED_UPLOAD_HOURS, Math.floor((now.getTime() - Date.parse(since)) / 3_600_000));

/** A backup, log or archive file no pass could get to the store since `since`. */
export function unreachedFileAlert(site: string, file: { source: string; name: string }, since: string, reason: string, error: string, now: Date): HeldAlert {
  return {
    severity: 'critical',
    site,
    subject: `${file.name} of ${file.source} is not offsite after ${hoursSince(since, now)} h: the store cannot be reached`,
    message:
      `Every pass since ${since} failed to ship ${file.name} of source ${file.source}: ${reason}. Last error: ${sentence(error)} ` +
      'The file stays on the site and each pass tries again, but should the site remove it first (a rotation, a clean-up) it is lost. ' +
      'Look at the line to the store (cloud.endpoint, a proxy, a firewall); `ferry agent status` shows the last error. ' +
      'This alert resolves by itself once the file is offsite or no longer on the site.',
    details: { source: file.source, name: file.name, since, reason },
  };
}

/** Batches of a recordings source no pass could get to the store since `since`. */
export function unreachedBatchesAlert(site: string, source: string, batches: readonly string[], since: string, reason: string, error: string, now: Date): HeldAlert {
  const named = `${batches.slice(0, 5).join(', ')}${batches.length > 5 ? ', …' : ''}`;
  return {
    severity: 'critical',
    site,
    subject: `${source}: ${batches.length} batch(es) not offsite after ${hoursSince(since, now)} h: the store cannot be reached`,
    message:
      `Every pass since ${since} failed to ship batches of source ${source} (this pass: ${named}): ${reason}. Last error: ${sentence(error)} ` +
      'They stay in the backlog and each pass tries again, but what the recorder evicts before then is lost. ' +
      'Look at the line to the store (cloud.endpoint, a proxy, a firewall); `ferry agent status` shows the backlog and the last error. ' +
      'This alert resolves by itself once a pass ships every batch it tries.',
    details: { source, batches: batches.length, first: batches[0], since, reason },
  };
}
