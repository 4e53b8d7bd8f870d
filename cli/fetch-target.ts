import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import type { RestorePlan } from '../core/restore-plan.ts';
import { lstatOrUndefined } from './local-files.ts';
import { APPLY_SCRIPT, PLAN_FILE } from './received-plan.ts';
import { RECORD_SUFFIX } from './range-record.ts';

// `restore fetch --to DIR` where DIR is a database server's own directory (a 3 a.m. slip:
// `--to /var/lib/mysql` on the standby). The server writes its binlogs there under the names a
// plan holds (`mysql-bin.000002`): when it rotates to one, it overwrites the fetched file in place,
// and the replay reads the server's own log instead. Refused before anything is written. Any
// other file DIR holds is named in the fetch's notes.

/** Files only a MySQL/MariaDB data directory holds (InnoDB, Aria, MySQL 8's dictionary, its server id). */
const DATA_DIR_MARKERS = ['ibdata1', 'ib_logfile0', 'aria_log_control', 'mysql.ibd', 'auto.cnf'];

/** The binlog index files of the series the plan replays (`mysql-bin.000002` → `mysql-bin.index`). */
const seriesIndexes = (plan: RestorePlan) => [...new Set(plan.segments.map((s) => s.name.match(/^(.+)\.\d+$/)?.[1]).filter((b): b is string => b !== undefined))].map((b) => `${b}.index`);

/** Refuses a DIR that holds a MySQL/MariaDB data directory's files or the index of a binlog series the plan replays. */
export async function refuseServerDirectory(dir: string, plan: RestorePlan): Promise<void> {
  for (const marker of [...DATA_DIR_MARKERS, ...seriesIndexes(plan)]) {
    if (!(await lstatOrUndefined(join(dir, marker)))) continue;
    const names = plan.segments.map((s) => s.name);
    const collide = names.length > 0 ? ` under the names this plan replays (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''})` : '';
    throw new InvalidInputError(
      `refusing ${dir}: a MySQL/MariaDB server's directory (it holds ${marker}). The server writes its binlogs there${collide} and overwrites a fetched one in place when it rotates to that name; nothing was written: fetch into an empty directory of its own (e.g. --to ${dir.replace(/\/+$/, '')}-restore)`,
    );
  }
}

/**
 * The note naming what DIR held besides the plan's own files (another fetch's, at another time):
 * apply.sh uses only the plan's, but a DBA who restores from `ls` would load two fulls. Read before
 * anything is written; undefined for a DIR that held nothing else.
 */
export async function otherFilesNote(dir: string | undefined, shown: string, plan: RestorePlan): Promise<string | undefined> {
  if (!dir) return undefined;
  const own = new Set([APPLY_SCRIPT, PLAN_FILE, `${APPLY_SCRIPT}.part`, `${PLAN_FILE}.part`]);
  for (const f of plan.files) for (const name of [f.name, `${f.name}.part`, `${f.name}.part${RECORD_SUFFIX}`]) own.add(name);
  const others = (await readdir(dir)).filter((name) => !own.has(name)).sort();
  if (others.length === 0) return undefined;
  const named = `${others.slice(0, 10).join(', ')}${others.length > 10 ? ', …' : ''}`;
  return `${shown} also holds ${others.length} file(s) that are not part of this plan (${named}): apply.sh does not use them; apply the plan with apply.sh, not with a listing of the directory (an empty directory holds the plan alone)`;
}

/** Refuses a server's directory as DIR (refuseServerDirectory); else the note naming DIR's other files, if any. */
export async function checkTarget(dir: string | undefined, shown: string, plan: RestorePlan): Promise<string | undefined> {
  if (!dir) return undefined;
  await refuseServerDirectory(dir, plan);
  return otherFilesNote(dir, shown, plan);
}
