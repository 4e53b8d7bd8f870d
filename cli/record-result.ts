import { messageOf } from '../core/errors.ts';

// A scrub's or a drill's outcome is the operator's to read whether or not it can be kept under
// `reports/{site}/…`: a role that may read but not write there (a DR host's) still learns it.

/**
 * Records a result with `record`; the key it was kept under, or undefined with the refusal said
 * on stderr (`what` ran, its outcome printed all the same, but could not be recorded under `where`).
 */
export async function recordOrSay(record: () => Promise<string>, what: string, where: string): Promise<string | undefined> {
  try {
    return await record();
  } catch (error) {
    process.stderr.write(`ferry: ${what} ran (its outcome is printed) but could not be recorded under ${where}: ${messageOf(error)}\n`);
    return undefined;
  }
}
