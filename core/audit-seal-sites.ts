import { sealAudit, type AuditChainDeps } from './audit-trail.ts';
import { AuditSealFailedError } from './errors.ts';

// The scheduled sealer's pass: every site of the deployment sealed in turn (sealAudit: the
// records past the site's sealed mark copied write-once to the bucket, the mark raised). It
// bounds how long a record can stay only in the (mutable) ledger when its writer stopped before
// its background seal: at most one schedule period, whether or not the site is ever audited
// again. A site whose seal fails is reported and the next site is sealed all the same; the pass
// then fails, naming every site left unsealed, so the failure is counted and alarmed.

export type SiteSealOutcome = { site: string; sealedBefore: number; sealedTo: number } | { site: string; sealedBefore: number; error: string };

export type SealSitesDeps = Pick<AuditChainDeps, 'ledger' | 'blobs'>;

/** Seals each site, one after the other; never rejects (a site's failure is its outcome). */
export async function sealSites(deps: SealSitesDeps, sites: readonly string[]): Promise<SiteSealOutcome[]> {
  const outcomes: SiteSealOutcome[] = [];
  for (const site of sites) {
    let sealedBefore = 0;
    try {
      sealedBefore = await deps.ledger.sealed(site);
      outcomes.push({ site, sealedBefore, sealedTo: await sealAudit(deps, site, { from: sealedBefore + 1 }) });
    } catch (error) {
      outcomes.push({ site, sealedBefore, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  }
  return outcomes;
}

/** The outcomes of a pass, or AuditSealFailedError naming every site whose seal failed. */
export function assertSitesSealed(outcomes: readonly SiteSealOutcome[]): void {
  const failed = outcomes.filter((o) => 'error' in o);
  if (failed.length === 0) return;
  const detail = failed.map((o) => `${o.site} (${(o as { error: string }).error})`).join('; ');
  throw new AuditSealFailedError(`audit seal failed for ${failed.length} of ${outcomes.length} site(s): ${detail}`);
}
