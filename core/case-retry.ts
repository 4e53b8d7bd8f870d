import { CaseChangedError, type HoldRecord } from './hold-items.ts';

// A request on a case reads the case, does its part (hold records, legal holds), then writes the
// case on the version it read (core/hold-items.ts). When another request wrote the case between,
// the write is refused and nothing of the case is lost; the part is then done again from a fresh
// read. That is safe because every part is idempotent: a member with an active record of the case
// is skipped, a released record is not released again, a legal hold set again is the same. What
// the earlier attempts did is kept in `CaseWork`, so the answer (and the audit trail) names it.

/** Attempts of one request on a case before it answers 409: each retry follows a write that did get through. */
export const CASE_WRITE_ATTEMPTS = 3;

/** What a request's attempts on a case did so far: the hold records they wrote and the objects whose legal hold they set. */
export interface CaseWork {
  holds: HoldRecord[];
  objects: Set<string>;
}

export function newCaseWork(): CaseWork {
  return { holds: [], objects: new Set() };
}

/** What a request on a case is doing and what of it stands, for the 409 it answers when it could not get through. */
export interface CaseAttempt {
  site: string;
  caseId: string;
  /** "adding calls", "placing its hold"… */
  doing: string;
  /** What this request did stands, or did not, and what to do. */
  stands: string;
}

/**
 * Runs `attempt` (one read-change-write of a case) again while its write is refused because the
 * case changed (CaseChangedError), CASE_WRITE_ATTEMPTS times at most; then a CaseChangedError
 * naming the case, what the request was doing and what of it stands, carrying the hold records
 * `work` wrote (for the audit trail).
 */
export async function retryOnCaseChange<T>(attempt: () => Promise<T>, what: CaseAttempt, work: CaseWork): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof CaseChangedError)) throw error;
      if (n >= CASE_WRITE_ATTEMPTS) throw new CaseChangedError(`case ${what.caseId} in site ${what.site} was changed by other requests ${n} times while this one was ${what.doing}: ${what.stands}`, { cause: error, holds: [...work.holds] });
    }
  }
}
