import { join } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import type { RestorePlan } from '../core/restore-plan.ts';
import { lstatOrUndefined } from './local-files.ts';

// `restore fetch --to DIR` where DIR is a database server's own directory (a 3 a.m. slip:
// `--to /var/lib/mysql` on the standby). The server writes its binlogs there under the names a
// plan holds (`mysql-bin.000002`): when it rotates to one, it overwrites the fetched file in place,
// and the replay reads the server's own log instead. Refused before anything is written.

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
