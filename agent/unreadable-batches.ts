import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sentence } from '../core/alert-text.ts';
import type { RecordingsSourceConfig } from '../core/config.ts';
import type { Alert } from '../core/ports.ts';
import type { RecordingsState } from './ship-recordings.ts';

// Batch directories of a recordings source that the agent cannot read (a recorder or an admin
// left them with the wrong owner or mode): alerted while they cannot be read, and recorded lost
// when they are gone (the recorder evicted them, or someone deleted them) before any pass could
// read them. The open alert, kept in the state directory, is the memory that a pass saw the
// directory and could not read it; it spans cron runs and restarts.

/** The key prefix of a source's unreadable-directory alerts (a directory's path relative to the root follows). */
export const unreadablePrefix = (source: RecordingsSourceConfig) => `unreadable-dir:${source.name}:`;

/** The alerts of the directories a complete walk could not read, each with why. */
export function unreadableAlerts(site: string, source: RecordingsSourceConfig, unreadable: ReadonlyMap<string, string>): [string, Omit<Alert, 'key'>][] {
  return [...unreadable].map(([path, reason]) => [
    path,
    {
      severity: 'critical',
      site,
      subject: `${source.name}: batch directory cannot be read: ${path}`,
      message: `${sentence(reason)} Its recordings are not shipped while it cannot be read, and any the recorder removes meanwhile cannot be saved: check the directory's owner and permissions (the agent runs as its own user). The other batches of the source ship as usual.`,
      details: { source: source.name, path },
    },
  ]);
}

/**
 * Why an unreadable batch directory's alert closes: it can be read again, or it is gone (the
 * recorder evicted it, or someone deleted it) without the agent ever reading it. Saying "can be
 * read again; its recordings ship as usual" of a directory that is gone told the administrator
 * all was well while nothing of it had shipped.
 */
export function unreadableResolved(source: RecordingsSourceConfig, path: string, shippedBefore = false): string {
  if (existsSync(join(source.path, path))) return `${path} can be read again; its recordings ship as usual.`;
  if (shippedBefore) return `${path} is gone from ${source.path} (evicted by the recorder, or deleted) while the agent could not read it. A pass read it before: its recordings shipped then, and any it saw and did not ship are recorded lost by name (ferry agent status --losses). Any written into it after it became unreadable cannot be named.`;
  return `${path} is gone from ${source.path} (evicted by the recorder, or deleted) while the agent could not read it: nothing of it shipped while it was unreadable. It is recorded lost (ferry agent status --losses): by name, the recordings a pass saw in it before; as a batch lost unseen when no pass saw any. Any written into it meanwhile cannot be named.`;
}

/**
 * Records lost, once, each batch directory whose alert says it could not be read and which is
 * gone now, before the alert closes (call it after a complete walk, before the alerts are
 * tended). The recordings a pass saw in it before it became unreadable were recorded lost by
 * name by the walk, and count the batch already; a batch no pass could read is recorded as a
 * batch lost unseen (how many recordings it held is not known), as one the recorder numbered and
 * evicted between two looks is. In a soak of a flaky cron site, a batch left mode 000 and then
 * evicted vanished from `agent status`, the heartbeat, the daily report and the fleet view: only
 * its alert's resolution spoke of it. Returns the batches newly recorded.
 */
export async function recordGoneUnreadable(s: RecordingsState, source: RecordingsSourceConfig, stillUnreadable: ReadonlyMap<string, string>): Promise<number> {
  const prefix = unreadablePrefix(source);
  let lost = 0;
  for (const alert of s.alerts.openAlerts()) {
    if (!alert.key.startsWith(prefix)) continue;
    const batch = alert.key.slice(prefix.length);
    if (stillUnreadable.has(batch) || existsSync(join(source.path, batch))) continue;
    // `batch` may be a directory above the batches (batchDepth 2 or more): what was seen or shipped below it counts.
    if (s.lossLog.all().some((l) => l.source === source.name && l.kind === 'recordings' && !l.unseen && (l.batch === batch || l.batch.startsWith(`${batch}/`)))) continue;
    // A batch a pass read and shipped from (then made unreadable, then evicted): what it saw
    // shipped, or was recorded lost by name; calling it lost unseen would be a false alarm.
    if (s.journal.shippedAny(source.name, batch)) continue;
    // Recorded under one key (the directory's name, size and time 0): a pass killed before the alert closed records nothing again.
    lost += await s.losses.report({
      source: source.name,
      batch,
      kind: 'recordings',
      files: [{ name: batch, size: 0, mtimeMs: 0, path: join(source.path, batch) }],
      reason: `gone from the recorder (evicted, or deleted) while the agent could not read it (since ${alert.raisedAt}), before any pass could read it`,
      at: s.deps.clock.now().toISOString(),
      unseen: true,
      advice: "Check the owner and permissions the recorder gives its batch directories (the agent runs as its own user): a directory the agent cannot read is not shipped, and is lost when the recorder evicts it. `ferry agent status --losses` lists it.",
    });
  }
  return lost;
}
