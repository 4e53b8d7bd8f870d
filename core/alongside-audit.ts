// A request's audit record written while its work runs, instead of after it (a record is one
// conditional write to the audit ledger: a round trip a search page or a listen would otherwise
// wait for on top of its own read).

/**
 * Runs `work` while `audited` (the request's audit record, as an Audit returns it) is being
 * written, and waits for both: the record is in the trail before any answer goes out, and an
 * audit that fails fails the request (nothing is served unaudited; `discard` releases what the
 * work opened). A request whose work fails after its audit was started stays recorded: the trail
 * holds the attempt (a search whose Query then failed, a listen whose pack could then not be
 * read). The work's error is thrown first, then the audit's.
 */
export async function alongsideAudit<T>(audited: void | Promise<void>, work: Promise<T>, discard?: (result: T) => void): Promise<T> {
  const [record, result] = await Promise.allSettled([audited, work]);
  if (result.status === 'rejected') throw result.reason;
  if (record.status === 'rejected') {
    discard?.(result.value);
    throw record.reason;
  }
  return result.value;
}
