import { InvalidInputError } from '../core/errors.ts';
import { planRestore, type RestorePlan } from '../core/restore-plan.ts';
import { RECORD_SUFFIX } from './range-record.ts';

// A restore plan as `ferry restore fetch` receives it from the API: rebuilt here from its
// entries (commands are never taken as text from the network), and every name checked before
// one is used on this machine's disk.

export const PLAN_FILE = 'restore-plan.json';
export const APPLY_SCRIPT = 'apply.sh';

const RESERVED = new Set([PLAN_FILE, APPLY_SCRIPT]);

/** A plan file name must be one plain entry of DIR. */
export function checkLocalName(name: unknown): string {
  const bad = (why: string) => new InvalidInputError(`refusing file name ${JSON.stringify(name)}: ${why}`);
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 255) throw bad('not a file name of 1-255 bytes');
  if (name === '.' || name === '..' || name.split(/[\\/]/).includes('..')) throw bad('it would escape the target directory');
  if (/[\\/]/.test(name) || /^[A-Za-z]:/.test(name)) throw bad('a path, not a plain file name');
  if (/[\x00-\x1f\x7f]/.test(name)) throw bad('it holds control characters');
  if (name.startsWith('-')) throw bad('it would read as a command option');
  if (name.endsWith('.part') || name.endsWith(`.part${RECORD_SUFFIX}`) || RESERVED.has(name)) throw bad('reserved for the fetch itself');
  return name;
}

/** An artefact name is a path relative to its source root: never absolute, never climbing out. */
export function checkArtefactName(name: string): void {
  if (/^([\\/]|[A-Za-z]:)/.test(name) || name.split(/[\\/]/).includes('..')) {
    throw new InvalidInputError(`refusing artefact name ${JSON.stringify(name)}: it would escape the target directory`);
  }
}

/**
 * Re-plans from the entries the API returned: commands are rebuilt here, never taken as text from
 * the network. `logsLeftOut`: this command asked for the fulls alone (`--log-source none`); the
 * entries cannot tell that from a source without logs, and the plan's note says which it was.
 */
export function localPlan(plan: RestorePlan, { logsLeftOut = false } = {}): RestorePlan {
  const now = new Date(Math.max(Date.now(), Date.parse(plan.at)));
  const fullOnly = plan.segments.length === 0;
  const again = planRestore([plan.full, ...plan.segments, ...(plan.others ?? [])], { at: plan.at, now, site: plan.site, source: plan.source, logSource: plan.logSource, fullOnly, logsLeftOut: fullOnly && logsLeftOut });
  if (!again.ok) throw new InvalidInputError(`the plan received is inconsistent: ${again.reason}`);
  const ids = (list: { artefactId: string }[] | undefined) => (list ?? []).map((a) => a.artefactId).join(' ');
  if (ids(again.others) !== ids(plan.others)) throw new InvalidInputError('the plan received is inconsistent: its other backups are not one a name, the newest at or before T');
  for (const a of [again.full, ...again.segments, ...(again.others ?? [])]) checkArtefactName(a.name);
  const names = new Set<string>();
  for (const f of again.files) {
    checkLocalName(f.name);
    if (names.has(f.name)) throw new InvalidInputError(`the plan names ${f.name} twice`);
    names.add(f.name);
    if (!/^[0-9a-f]{64}$/.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) throw new InvalidInputError(`the plan's entry for ${f.name} has no valid size and SHA-256`);
  }
  return again;
}
