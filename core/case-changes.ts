import type { CaseRecord } from './hold-items.ts';

// A case's changes are evidence (who put which call in a legal matter, and when), so each is
// recorded before it is made: the record is written once the change is checked and just before
// the case (or a held case's holds) is written. A record that cannot be written stops the
// change: nothing of it is made. A change whose writes then fail is told to the recorder, which
// records it as not made (functions/holds: unless a retry of the same change makes it), so the
// trail never names as made a change that was not.

/** A change to a case, as the trail records it. */
export type CaseChange = { kind: 'create'; case: CaseRecord } | { kind: 'add'; case: CaseRecord; added: string[] };

export interface CaseChangeRecorder {
  /** Records the change about to be made; a throw (the record not written) makes nothing of it. */
  before(change: CaseChange): Promise<void>;
  /** The change `before` recorded was not made: its writes failed with `error` (the request may try it again). */
  refused(change: CaseChange, error: unknown): Promise<void>;
}

/** Runs `effect` (the change's writes) after recording `change`, and records it refused if they fail. */
export async function recordedChange<T>(recorder: CaseChangeRecorder | undefined, change: CaseChange, effect: () => Promise<T>): Promise<T> {
  if (!recorder) return effect();
  await recorder.before(change);
  try {
    return await effect();
  } catch (error) {
    await recorder.refused(change, error);
    throw error;
  }
}
