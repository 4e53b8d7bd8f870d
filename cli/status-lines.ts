import type { ArtefactSourceStatus } from '../agent/artefact-runner.ts';
import type { StatusReport } from './agent-commands.ts';
import { formatBytes } from './progress.ts';

// `agent status`'s lines for the backup, binlog, archive and tree sources.

/** Why backups wait that are not shipped yet: still being judged complete, across passes (a cron agent's next run ships them). */
function settlingText(settling: ArtefactSourceStatus['settling']): string {
  if (!settling) return '';
  const age = settling.minAgeSeconds > 0 ? ` and at least ${settling.minAgeSeconds} s old (minAgeSeconds)` : '';
  return `; ${settling.files} not yet judged complete: a file ships once a later pass finds it unchanged for ${settling.stableSeconds} s (stableSeconds)${age}`;
}

/** One line per backup, binlog, archive and tree source. */
export function artefactAndTreeLines(s: Pick<StatusReport, 'artefactSources' | 'treeSources'>): string[] {
  const lines: string[] = [];
  for (const a of s.artefactSources) {
    const last = a.lastShipped ? `last shipped ${a.lastShipped.name}${a.lastShipped.partial ? ' (partial)' : ''} at ${a.lastShipped.at}` : 'nothing shipped yet';
    const gaps = a.gaps?.length ? `; GAP in segments ${a.gaps.map((g) => (g.from === g.to ? `${g.from}` : `${g.from}-${g.to}`)).join(', ')}: point-in-time restore cannot cross it` : '';
    // A source that cannot be read shows what its last readable pass left waiting, and says it cannot be read.
    const unreadable = a.problem ? `; CANNOT BE READ at the last pass (${a.problem}): what waits there is not counted` : '';
    lines.push(`${`${a.name} (${a.type})`.padEnd(17)} ${a.backlog.files} waiting (${formatBytes(a.backlog.bytes)}${settlingText(a.settling)}), ${last}${a.lost ? `, ${a.lost} lost` : ''}${gaps}${unreadable}`);
  }
  for (const t of s.treeSources) {
    const l = t.lastSnapshot;
    const last = l ? `last snapshot ${l.takenAt}: ${l.files} files, ${formatBytes(l.bytesTotal)} (${l.filesRead} read, ${formatBytes(l.bytesAdded)} added)${l.problems ? `, ${l.problems} problem(s)` : ''}` : 'no snapshot yet';
    lines.push(`${`${t.name} (tree)`.padEnd(17)} ${last}${t.problem ? `; last attempt failed: ${t.problem}` : ''}`);
  }
  return lines;
}
