import type { ArtefactSourceConfig } from '../../core/config.ts';
import { cvpFirstBackupOnly } from '../../core/artefact-sources.ts';
import type { Clock } from '../../core/clock.ts';
import { formatDuration } from '../../core/alert-text.ts';
import type { FileStamp, Journal } from '../journal.ts';
import type { Logger } from '../log.ts';
import type { AlertBook } from '../state/alert-book.ts';
import { filesAndFolders, onlyFoldersProblem } from './files.ts';
import { badNameAlert } from './names.ts';
import { AHEAD_SLACK_MS } from './stability.ts';

// What an artefact source (rotated, binlog, archive) is warned of about the files its scan
// selects, before any of them is shipped: a selection that takes nothing in its directory, names
// that are not UTF-8, files dated ahead of this machine's clock. Each alert is held while its
// cause lasts and resolved when it is gone (agent/artefact-runner.ts calls them every pass).

export interface SelectionAlertDeps {
  site: string;
  alerts: AlertBook;
  log: Logger;
  clock: Clock;
  journal: Pick<Journal, 'artefacts'>;
}

/**
 * A source that has never shipped anything and whose selection takes none of the files in its
 * directory (a `basename` the server does not write, `profile: cvp` on the wrong folder,
 * patterns that miss): a warning naming the selection and what is there, resolved once it
 * selects something. Without it such a source backed up nothing, every pass exiting 0. A
 * directory of folders and no files is told so (a source takes only the files directly in its
 * path). An empty directory waits for its first backup, unalerted.
 */
export async function alertSelectsNothing(deps: SelectionAlertDeps, s: ArtefactSourceConfig, selected: number): Promise<void> {
  const { alerts, site, journal } = deps;
  const key = `selects-nothing:${s.name}`;
  const judged = selected === 0 && journal.artefacts.records(s.name).length === 0;
  const none = { files: [], folders: [] };
  const { files: names, folders } = judged ? await filesAndFolders(s.path).catch(() => none) : none;
  if (names.length === 0 && folders.length === 0) {
    await alerts.resolve(key, site, `Source ${s.name} selects files in ${s.path} again.`);
    return;
  }
  if (names.length === 0) {
    deps.log.warn('source holds only folders', { source: s.name, path: s.path, folders: folders.length });
    await alerts.raise(key, {
      severity: 'warning',
      site,
      subject: `source ${s.name} holds only folders, no files, in ${s.path}`,
      message: `Source ${s.name} has never shipped anything: ${onlyFoldersProblem(s, folders)}. Nothing of it is backed up (\`ferry agent check\` says the same).`,
      details: { source: s.name, path: s.path, folders: folders.length },
    });
    return;
  }
  // A new CVP install: its first backup has no .old copy yet, and the live file is never taken. Nothing is wrong.
  if (cvpFirstBackupOnly(s, names)) {
    deps.log.info('CVP has written its first backup only: its copy cvp_backup_data.old appears after the next backup, and is shipped then', { source: s.name, path: s.path });
    await alerts.resolve(key, site, `Source ${s.name} selects files in ${s.path} again.`);
    return;
  }
  const selection = s.type === 'binlog' ? `basename ${s.basename ?? '(detected)'} (files named ${s.basename ?? 'BASENAME'}.NNNNNN)` : `${s.type === 'rotated' ? `profile ${s.profile}, ` : ''}patterns ${JSON.stringify(s.patterns)} (matched ignoring case)`;
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} in all)` : '');
  deps.log.warn('source selects nothing', { source: s.name, path: s.path, files: names.length });
  await alerts.raise(key, {
    severity: 'warning',
    site,
    subject: `source ${s.name} selects none of the files in ${s.path}`,
    message: `Source ${s.name} has never shipped anything: ${s.path} holds ${names.length} file(s) (${shown}) and its ${selection} takes none of them. Nothing of it is backed up: check the source's ${s.type === 'binlog' ? 'basename' : 'patterns and profile'} against the names the backup job writes (\`ferry agent check\` says the same).`,
    details: { source: s.name, path: s.path, files: names.length },
  });
}

/** Alerts each selected file whose name is not UTF-8 (never shipped: sources/names.ts), resolves those gone; how many there are. */
export async function alertBadNames(deps: SelectionAlertDeps, s: ArtefactSourceConfig, names: string[]): Promise<number> {
  for (const name of names) deps.log.error('name is not valid UTF-8: not shipped', { source: s.name, name });
  const alerts = names.map((name): [string, ReturnType<typeof badNameAlert>] => [name, badNameAlert(deps.site, s.name, name, s.path)]);
  await deps.alerts.raiseEach(`bad-name:${s.name}:`, alerts, deps.site, (name) => `${name} is gone or renamed.`);
  return names.length;
}

/**
 * Files dated more than a minute after this machine's time (a file server's clock ahead, or
 * this one's behind) cannot ship until the clock passes them, and the next backup may replace
 * them meanwhile: a warning while any waits, as for recordings.
 */
export async function alertDatedAhead(deps: SelectionAlertDeps, s: ArtefactSourceConfig, waiting: readonly FileStamp[]): Promise<void> {
  const { alerts, site, clock } = deps;
  const now = clock.now().getTime();
  const ahead = waiting.filter((f) => f.mtimeMs - now > AHEAD_SLACK_MS);
  const furthest = ahead.reduce<FileStamp | undefined>((a, f) => (!a || f.mtimeMs > a.mtimeMs ? f : a), undefined);
  const alert = furthest && {
    severity: 'warning' as const,
    site,
    subject: `${s.name}: backups dated ahead of this machine's clock`,
    message: `${ahead.length} file(s) of ${s.path} are dated up to ${formatDuration(furthest.mtimeMs - now)} after this machine's time (${furthest.name}, modified ${new Date(furthest.mtimeMs).toISOString()}): they are not shipped until its clock passes them, and the next backup may replace them meanwhile. Check the time of this machine and of the server that writes them (NTP).`,
    details: { source: s.name, files: ahead.length, name: furthest.name, aheadMs: furthest.mtimeMs - now },
  };
  await alerts.hold(`clock-ahead:${s.name}`, alert, site, `No file of ${s.name} is dated ahead of this machine's clock any more.`);
}
