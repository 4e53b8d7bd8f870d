// Items dated in the future: a full backup, a log segment or a tree snapshot whose `takenAt` is
// after now. The purge ranks them by `takenAt` and keeps the newest, so one dated 2099 would stay
// "the newest" for ever and push every genuine one out of what it keeps. The site's agent key may
// add objects (never delete), so whoever holds it could write such manifests; a site clock a year
// ahead writes them too. The purge therefore sets them aside (kept, never counted toward the
// newest it keeps, never deleted by the time rules) and names them; ingest catalogues them and
// says so.

/** How far ahead of the cloud's clock an item may be dated and still count: site clocks drift, and a full's takenAt may be written by a host a few hours off. */
export const CLOCK_MARGIN_MS = 86_400_000;

/** Whether `takenAt` lies after `now` plus CLOCK_MARGIN_MS. An unreadable time is not "future" (its callers keep it on their own terms). */
export function isFutureDated(takenAt: string, now: Date): boolean {
  const t = Date.parse(takenAt);
  return Number.isFinite(t) && t > now.getTime() + CLOCK_MARGIN_MS;
}

/** What a plan's summary says of the items it set aside: how many, and the first few by key (the plan lives in Step Functions' state, so not all of them). */
export interface FutureDatedSummary {
  count: number;
  /** `{key} (taken {takenAt})`, at most FUTURE_DATED_NAMED of them. */
  named: string[];
}

export const FUTURE_DATED_NAMED = 5;

export function futureDatedSummary(items: { key: string; takenAt: string }[]): FutureDatedSummary {
  const named = [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, FUTURE_DATED_NAMED);
  return { count: items.length, named: named.map((i) => `${i.key} (taken ${i.takenAt})`) };
}

/** The sentence ingest says of a manifest dated in the future. */
export function futureDatedNote(manifestKey: string, takenAt: string, now: Date): string {
  return `manifest ${manifestKey} says it was taken at ${takenAt}, after now (${now.toISOString()}) plus ${CLOCK_MARGIN_MS / 3_600_000} h: catalogued, but the purge neither counts it toward the newest it keeps nor deletes it; the site's clock is ahead, or someone holding the site's agent key wrote it`;
}
