import { z } from 'zod';
import { messageOf } from '../../core/errors.ts';
import { DEFAULT_RECONCILE_DAYS, reconcileSite, type ReconcileDeps } from '../../core/reconcile.ts';
import { parseEnv } from '../shared/deps.ts';
import type { Log } from '../shared/log.ts';
import { emfCount, type Count } from '../shared/metrics.ts';

// The reconciler's run inside the daily report run (core/reconcile.ts), before the reports: the
// last few days of each site's manifests the catalogue lacks are catalogued again, so the reports
// that follow judge a repaired catalogue and name only what could not be repaired. It costs no
// function or schedule of its own, and a run it breaks (a listing refused) breaks the report run,
// whose alarm is already there. Counted in ManifestsReconciled (repaired) and
// ManifestsNotReconciled (ingest failed again), by site, and logged.

export interface ReconcileSettings {
  /** Days of manifests read per site (today and the days before); 0 turns the reconciler off. */
  days: number;
  count?: Count;
}

export function reconcileSettings(env: Record<string, string | undefined>): ReconcileSettings {
  return { days: parseEnv(z.object({ RECONCILE_DAYS: z.coerce.number().int().min(0).max(31).default(DEFAULT_RECONCILE_DAYS) }), env).RECONCILE_DAYS };
}

export async function reconcileSites(deps: ReconcileDeps & { clock: { now(): Date }; reconcile?: ReconcileSettings }, sites: readonly string[], log: Log): Promise<void> {
  const days = deps.reconcile?.days ?? DEFAULT_RECONCILE_DAYS;
  if (days === 0) return;
  const count = deps.reconcile?.count ?? emfCount;
  for (const site of sites) {
    try {
      const r = await reconcileSite(deps, site, { now: deps.clock.now(), days });
      const repaired = r.repaired.packs + r.repaired.artefacts + r.repaired.snapshots;
      if (repaired > 0) count('ManifestsReconciled', site, repaired);
      if (r.failed.length > 0) count('ManifestsNotReconciled', site, r.failed.length);
      const level = r.failed.length > 0 ? 'error' : repaired > 0 ? 'warn' : 'info';
      log(level, 'catalogue reconciled', { site, from: r.days[0], to: r.days.at(-1), ...r.repaired, failed: r.failed.slice(0, 20) });
    } catch (error) {
      // The report of the site still runs and names what it finds uncatalogued.
      count('ManifestsNotReconciled', site, 1);
      log('error', 'catalogue reconcile failed', { site, error: messageOf(error) });
    }
  }
}
