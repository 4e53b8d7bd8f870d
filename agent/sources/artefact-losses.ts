import type { ArtefactSourceConfig } from '../../core/config.ts';
import type { FileStamp } from '../journal.ts';
import type { Observations } from '../state/observations.ts';
import type { LossReporter } from '../state/loss-reporter.ts';
import { findLostVersions, vanishedUnjudged } from './stability.ts';
import { versionKey } from '../artefact-offsite.ts';

// Versions of a backup or archive source lost before they were shipped, found at the start of a
// pass from what the earlier passes saw (kept in the state directory): ready versions gone or
// overwritten (findLostVersions), and versions still waiting for their stability window that
// were removed although they looked finished (vanishedUnjudged). Binlog segments have their own
// checks (binlog-run.ts).

export interface ArtefactLossDeps {
  observations: Observations;
  losses: LossReporter;
  isShipped: (f: FileStamp) => boolean;
  now: () => Date;
  /** versionKey (agent/artefact-offsite.ts) of the versions among these that the store holds committed though the journal does not know them (a state directory put back to an older copy). */
  offsite?: (files: readonly FileStamp[]) => Promise<ReadonlySet<string>>;
}

/**
 * Records and alerts the versions lost since the last pass (once each: the loss log dedupes);
 * returns how many are new. Called before this scan is observed: the stability tracker still
 * holds what the last pass saw waiting.
 */
export async function reportArtefactLosses(deps: ArtefactLossDeps, source: ArtefactSourceConfig, files: readonly FileStamp[]): Promise<number> {
  const previous = deps.observations.readyUnshipped(source.name);
  const lastScan = deps.observations.lastScan(source.name);
  const at = deps.now().toISOString();
  const seen = lastScan ? { lastSeen: lastScan } : {};
  let count = 0;
  const lost = findLostVersions(previous, files, deps.isShipped);
  const unjudged = source.type === 'binlog' ? [] : vanishedUnjudged(deps.observations.stability(source.name).snapshot(), files, { stableMs: source.stableSeconds * 1000, reported: new Set(previous.keys()), isShipped: deps.isShipped });
  const offsite = lost.length + unjudged.length > 0 && deps.offsite ? await deps.offsite([...lost, ...unjudged]) : new Set<string>();
  const gone = (f: FileStamp) => !offsite.has(versionKey(f));
  for (const f of lost.filter(gone)) count += await deps.losses.reportArtefacts(source, [f], 'removed or overwritten on the site before it was shipped', at, seen);
  if (source.type === 'binlog') return count;
  for (const f of unjudged.filter(gone)) {
    const reason = `removed from the site before the agent could judge it complete: first seen ${new Date(f.sinceMs).toISOString()}, already unchanged since ${new Date(f.mtimeMs).toISOString()}, and gone at the next pass (a version ships once passes ${source.stableSeconds} s apart find it unchanged)`;
    const advice = "If it was a finished backup, it is not offsite. Keep each backup on the site for longer than the agent's pass interval plus the source's stableSeconds (the backup job's retention), or run the agent more often.";
    count += await deps.losses.reportArtefacts(source, [f], reason, at, { ...seen, advice });
  }
  return count;
}
