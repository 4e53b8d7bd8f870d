import { z } from 'zod';

// The losses a heartbeat counts without naming them. A heartbeat names at most RECENT_LOSS_MAX
// losses (core/fleet.ts), a cap that keeps it one small object; a recorder that evicted more
// unshipped batches than that in RECENT_LOSS_HOURS (a first install on a full disk, an agent down
// for a day) would otherwise have the fleet row and the daily report count only the newest ones
// and say fewer calls were lost than were. The rest are counted here, one entry per source, kind,
// mark and UTC hour: bounded whatever the number of batches, and fine enough for the fleet row's
// 24 hours and the report's day. Old clouds drop the field (unknown fields are stripped).

/** Losses of one source, kind, mark and hour that the heartbeat counts but does not name. */
export const unnamedLossSchema = z.object({
  source: z.string().min(1),
  kind: z.enum(['recordings', 'artefact']),
  /** The newest of these losses (their hour is its hour). */
  at: z.string().datetime({ offset: true }),
  /** Loss records: batches (recordings) or file versions (artefacts). */
  records: z.number().int().positive(),
  /** Files lost (for `unseen`: batch directories, their recordings not known). */
  files: z.number().int().nonnegative(),
  unseen: z.literal(true).optional(),
  shippedBefore: z.literal(true).optional(),
});
export type UnnamedLoss = z.infer<typeof unnamedLossSchema>;

/** What a loss record gives the count. */
export interface CountedLoss {
  source: string;
  kind: UnnamedLoss['kind'];
  at: string;
  files: number;
  unseen?: boolean;
  shippedBefore?: boolean;
}

/** Losses counted by source, kind, mark and UTC hour, oldest hour first. */
export function countUnnamedLosses(losses: readonly CountedLoss[]): UnnamedLoss[] {
  const groups = new Map<string, UnnamedLoss>();
  for (const l of losses) {
    const key = JSON.stringify([l.source, l.kind, l.at.slice(0, 13), l.unseen === true, l.shippedBefore === true]);
    const group = groups.get(key);
    if (group) {
      group.records++;
      group.files += l.files;
      if (l.at > group.at) group.at = l.at;
      continue;
    }
    groups.set(key, { source: l.source, kind: l.kind, at: l.at, records: 1, files: l.files, ...(l.unseen ? { unseen: true as const } : {}), ...(l.shippedBefore ? { shippedBefore: true as const } : {}) });
  }
  return [...groups.values()].sort((a, b) => a.at.localeCompare(b.at));
}
