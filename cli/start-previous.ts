import { existsSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import { lockHolder } from '../agent/state/state-lock.ts';
import { formatBytes } from './progress.ts';

// What a `ferry start` without --keep removes of the run before, and says it removes: the local
// cloud's data, the demo's recorder and agent state, and the state directory of the second site's
// agent config that `ferry start --no-demo` prints (`$FERRY_HOME/site-b-state`). That directory's
// journal records what its agent shipped to the cloud being emptied: kept, the agent would take
// those recordings and backups for shipped, ship them never again, and exit 0 while the new local
// cloud finds none of them.

/** The state directory of the agent config `ferry start --no-demo` prints for a second site. */
export const secondSiteState = (home: string): string => join(home, 'site-b-state');

/** Files and bytes under `dir` (symbolic links counted as files, not followed); zero when it does not exist. */
export function dataIn(dir: string): { files: number; bytes: number } {
  const total = { files: 0, bytes: 0 };
  if (!existsSync(dir)) return total;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = dataIn(path);
      total.files += inner.files;
      total.bytes += inner.bytes;
    } else {
      total.files += 1;
      total.bytes += lstatSync(path).size;
    }
  }
  return total;
}

/**
 * Without --keep a start empties the local cloud of the run before (and the demo's recorder and
 * agent state, and the printed second site's agent state): said plainly, with how much went and
 * how to keep it next time, so that nobody learns it from a search that finds nothing.
 */
export function removedNotice(home: string, opts: { keep?: boolean; demo?: boolean }): string | undefined {
  if (opts.keep) return undefined;
  const none = { files: 0, bytes: 0 };
  const parts: [string, { files: number; bytes: number }, string][] = [
    [join(home, 'cloud'), dataIn(join(home, 'cloud')), 'its bucket, tables, audit trail and logs'],
    [join(home, 'demo'), opts.demo === false ? none : dataIn(join(home, 'demo')), 'the demo recorder and agent state'],
    [secondSiteState(home), dataIn(secondSiteState(home)), 'the state of the site-b agent config printed before, which took what it shipped there for shipped'],
  ];
  const where = parts.filter(([, data]) => data.files > 0).map(([dir, data, what]) => `${dir} (${data.files} files, ${formatBytes(data.bytes)}: ${what})`);
  if (where.length === 0) return undefined;
  return `Removing the previous run's data: ${where.join(' and ')}. This run starts empty; start with --keep (\`npm start -- --keep\`) to keep what a run shipped for the next one.`;
}

/**
 * Removes the printed second site's agent state with the cloud it shipped to (without --keep);
 * refused, before anything is removed, while an agent holds it (a service or a cron pass).
 */
export function refuseWhileSecondSiteRuns(home: string, keep: boolean | undefined, now: Date): void {
  if (keep) return;
  const holder = lockHolder(secondSiteState(home), now);
  if (holder === undefined || holder.running === false) return;
  throw new InvalidInputError(
    `an agent (pid ${holder.pid} on ${holder.host}) is using ${secondSiteState(home)}, the state directory of the site-b config printed before: a start without --keep removes it with the cloud it shipped to; stop that agent first, or start with --keep. Nothing was removed.`,
  );
}

export function removeSecondSiteState(home: string, keep: boolean | undefined): void {
  if (!keep) rmSync(secondSiteState(home), { recursive: true, force: true });
}
