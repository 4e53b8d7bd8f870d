import { z } from 'zod';

// What an agent has shipped since its state directory began, as each heartbeat carries it
// (agent/heartbeat.ts): the daily report tells what shipped in a day, whatever the recordings'
// dates, from two of an agent's heartbeats (core/report-shipped.ts). Packs are dated by their
// oldest recording, so the day's manifests alone say nothing of a first install's backlog of
// last month's calls draining.

const count = z.number().int().nonnegative();

export const shippedTotalsSchema = z.object({
  /** Recordings packs published. */
  packs: count,
  recordings: count,
  /** The packs' bytes. */
  bytes: count,
  /** Backups, binlog segments (partials too) and archives published, and their bytes. */
  artefacts: count,
  artefactBytes: count,
});
export type ShippedTotals = z.infer<typeof shippedTotalsSchema>;

/** The shipped totals of a journal's totals (which count losses too). */
export function shippedTotalsOf(t: ShippedTotals): ShippedTotals {
  return { packs: t.packs, recordings: t.recordings, bytes: t.bytes, artefacts: t.artefacts, artefactBytes: t.artefactBytes };
}
