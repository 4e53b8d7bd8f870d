import type { BlobStore } from '../core/ports.ts';
import type { Logger } from './log.ts';
import type { AlertBook } from './state/alert-book.ts';

// This machine's clock against the store's, as S3's answers gave it (the Date header, to the
// second): requests are signed with the correction, but call times taken from files, stability
// windows, heartbeats and the daily report read this clock. The agent looks after every pass.

/** How far this machine's clock may be from the store's before the agent says so. */
const CLOCK_SKEW_ALERT_MS = 2 * 60_000;

/**
 * Off by more than CLOCK_SKEW_ALERT_MS: a warning (`clock-skew`) saying how far and which way,
 * resolved once the clock is right. A store that gives no offset (no answer yet, not S3) is not judged.
 */
export async function checkClock(deps: { site: string; store: Pick<BlobStore, 'clockOffsetMs'>; alerts: Pick<AlertBook, 'raise' | 'resolve'>; log: Logger }): Promise<void> {
  const { site, alerts, log } = deps;
  const offset = deps.store.clockOffsetMs?.();
  if (offset === undefined) return;
  if (Math.abs(offset) <= CLOCK_SKEW_ALERT_MS) return void (await alerts.resolve('clock-skew', site, "This machine's clock agrees with the store's again."));
  const minutes = Math.round(Math.abs(offset) / 60_000);
  const way = offset < 0 ? 'ahead of' : 'behind';
  log.warn(`this machine's clock is ${minutes} min ${way} the store's`, { offsetMs: offset });
  await alerts.raise('clock-skew', {
    severity: 'warning',
    site,
    subject: `the clock of site ${site}'s agent is ${minutes} min ${way} the store's`,
    message: `The store's answers say this machine's clock is ${minutes} minute(s) ${way} it. Uploads still work (each request is signed with the difference), but the times this agent reads from its clock are off by as much: heartbeats (the fleet view may call the site silent or late), call times taken from file times, stability windows and the daily report. Set the clock right (NTP: timedatectl, chronyc tracking).`,
    details: { offsetMs: offset },
  });
}
