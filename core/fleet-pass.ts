import { z } from 'zod';

// A heartbeat written while a pass runs (agent/pass-heartbeat.ts): the agent writes one every
// HEARTBEAT_MIN_SECONDS (300 s) of a pass that lasts, so a site shipping a day's backlog under a
// bandwidth limit, or its first pass of a big recorder, is not SILENT while its agent works. It
// carries `passRunning`; the fleet row shows it ("a pass running since T (N pack(s) shipped so
// far)") instead of the last pass's picture. Optional: heartbeats of agents before it read as ever.

export const passRunningSchema = z.object({
  /** When the running pass started. */
  since: z.string().datetime({ offset: true }),
  /** Recordings packs the pass has published so far. */
  packs: z.number().int().nonnegative(),
  /** Artefacts (backups, binlog segments and partials, archives) it has published so far. */
  artefacts: z.number().int().nonnegative(),
  /** The bytes of both. */
  bytes: z.number().int().nonnegative(),
});
export type PassRunning = z.infer<typeof passRunningSchema>;

/** The fleet row's words for a pass under way, as its newest heartbeat said. */
export function passRunningText(p: PassRunning): string {
  const artefacts = p.artefacts > 0 ? ` and ${p.artefacts} artefact(s)` : '';
  return `a pass running since ${p.since} (${p.packs} pack(s)${artefacts} shipped so far)`;
}

/**
 * Why a site whose newest heartbeat is a mid-pass one fell silent: the pass that wrote it stopped
 * writing them (they come every few minutes while it runs).
 */
export function passStoppedText(p: PassRunning): string {
  return `its last heartbeat was written during a pass that started ${p.since}: the agent stopped in it (killed, its host down, or the store out of its reach)`;
}
