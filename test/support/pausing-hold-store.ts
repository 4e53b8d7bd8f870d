import type { CaseRecord, HoldRecord, HoldStore } from '../../core/hold-items.ts';

// A HoldStore that holds one request still between its read of a case and its write of it, so
// that a test can run another request on the same case in between: the interleavings two
// officers (or the console and the CLI) make, driven step by step, with no timing.

export interface CaseWritePause {
  /** Settles once the paused request waits at its write. */
  reached: Promise<void>;
  /** Lets the paused request write. */
  resume: () => void;
}

export class PausingHoldStore implements HoldStore {
  private gate: { reached: () => void; resume: Promise<void> } | undefined;

  constructor(private readonly inner: HoldStore) {}

  /** The next updateCase (whichever request makes it) waits before it writes, until `resume()`. */
  pauseNextCaseWrite(): CaseWritePause {
    let reached!: () => void;
    let resume!: () => void;
    const atWrite = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (resume = r));
    this.gate = { reached, resume: released };
    return { reached: atWrite, resume };
  }

  /** No case write is paused any more (the request armed for ended without one). */
  disarm(): void {
    this.gate = undefined;
  }

  async updateCase(record: CaseRecord): Promise<CaseRecord> {
    const gate = this.gate;
    this.gate = undefined;
    if (gate) {
      gate.reached();
      await gate.resume;
    }
    return this.inner.updateCase(record);
  }

  putHold(hold: HoldRecord): Promise<void> {
    return this.inner.putHold(hold);
  }

  listHolds(site: string): Promise<HoldRecord[]> {
    return this.inner.listHolds(site);
  }

  holdsOf(site: string, rid: string): Promise<HoldRecord[]> {
    return this.inner.holdsOf(site, rid);
  }

  createCase(record: CaseRecord): Promise<void> {
    return this.inner.createCase(record);
  }

  getCase(site: string, caseId: string): Promise<CaseRecord | undefined> {
    return this.inner.getCase(site, caseId);
  }

  listCases(site: string): Promise<CaseRecord[]> {
    return this.inner.listCases(site);
  }
}

/**
 * Starts `request` with the next case write paused and waits until it is there (or the request
 * ended without writing the case: then there is nothing to pause). Returns the request and the resume.
 */
export async function pausedAtCaseWrite<T>(store: PausingHoldStore, request: () => Promise<T>): Promise<{ request: Promise<T>; resume: () => void }> {
  const pause = store.pauseNextCaseWrite();
  const running = request();
  // The request's own failure is the test's to see: it is awaited there.
  await Promise.race([pause.reached, running.then(() => undefined, () => undefined)]);
  store.disarm();
  return { request: running, resume: pause.resume };
}
